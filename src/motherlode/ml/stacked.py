"""Training several estimators of identical architecture together, as one stacked ("batched") network.

The members' fully connected networks are stacked into one module whose layers hold ``(K, in, out)`` weights
and are evaluated with batched matrix products (:func:`torch.baddbmm`), so one training step of ``K``
members costs the kernel launches of one. Members stay independent:

* each member has its own random validation split and its own random batch order (a ``(K, batch)`` index
  into the shared training data);
* the loss is evaluated per member (:func:`torch.func.vmap` over the member axis) and the sum of the
  members' losses is back-propagated, so each member gets exactly its own gradient; the score of a
  parameterized network is the autograd derivative of the summed output, which is per member and per
  sample because members and samples do not interact;
* Adam, AMSGrad and SGD update elementwise, so one optimiser over the stacked parameters equals one
  optimiser per member; gradient clipping uses each member's own gradient norm;
* early stopping is per member: each member's best epoch (lowest validation loss) is restored, and a member
  whose patience has run out keeps its best weights while the others go on.

After training the weights are copied back into each member's own network, so everything else (evaluation,
saving) is unchanged. Supported: :class:`~motherlode.ml.score.ScoreEstimator`,
:class:`~motherlode.ml.parameterized_ratio.ParameterizedRatioEstimator` and
:class:`~motherlode.ml.double_parameterized_ratio.DoubleParameterizedRatioEstimator` (exactly these classes,
all of one class) with the same architecture and training arguments, and activations without parameters.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from motherlode.errors import InputError
from motherlode.ml.base import Estimator, TrainingSetup
from motherlode.ml.double_parameterized_ratio import DoubleParameterizedRatioEstimator
from motherlode.ml.losses import Loss
from motherlode.ml.networks.dense import (
    StackedDenseNetwork,
    differentiable,
    parameter_gradients,
    stacking_reason,
)
from motherlode.ml.parameterized_ratio import ParameterizedRatioEstimator
from motherlode.ml.score import ScoreEstimator
from motherlode.ml.trainer import (
    EVALUATION_BATCH,
    TrainingError,
    learning_rate,
    make_optimizer,
    resolve_device,
    set_learning_rate,
)

__all__ = [
    "FitCall",
    "StackedDenseNetwork",
    "calls_reason",
    "capture_fit",
    "same_value",
    "stackable_reason",
    "train_stacked",
]

logger = logging.getLogger(__name__)

_KINDS: dict[type, str] = {
    ScoreEstimator: "score",
    ParameterizedRatioEstimator: "ratio",
    DoubleParameterizedRatioEstimator: "double",
}
Tensors = dict[str, torch.Tensor]


FitCall = TrainingSetup  # what one member's ``train`` hands to the loop


def capture_fit(estimator: Estimator, kwargs: dict[str, Any]) -> FitCall:
    """Run ``estimator.train(**kwargs)`` up to the training loop (:meth:`Estimator.prepare_training`)."""
    return estimator.prepare_training(**kwargs)


def stackable_reason(estimators: Sequence[Estimator]) -> str:
    """Why these estimators cannot be trained stacked, judged before any data is seen ('' if they might)."""
    if len(estimators) < 2:
        return "fewer than two estimators"
    cls = type(estimators[0])
    if cls not in _KINDS:
        return f"{cls.__name__} is not supported"
    if any(type(e) is not cls for e in estimators):
        return "the estimators are of different classes"
    settings = {
        (e.features and tuple(e.features), e.n_hidden, e.activation, e.dropout_prob) for e in estimators
    }
    if len(settings) != 1:
        return "the estimators have different features, n_hidden, activation or dropout"
    if estimators[0].activation == "prelu":
        return "the prelu activation has parameters"
    return ""


def same_value(a: Any, b: Any) -> bool:
    """Whether two training arguments are equal (arrays by value)."""
    if a is b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.array_equal(a, b)
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def calls_reason(calls: Sequence[FitCall]) -> str:
    """Why the captured training setups cannot be trained stacked ('' if they can)."""
    first = calls[0]
    for call in calls[1:]:
        if type(call.loss) is not type(first.loss) or call.loss.alpha != first.loss.alpha:
            return "the members use different methods or alpha"
        if call.options != first.options or str(call.device) != str(first.device):
            return "the members use different training options"
        for a, b in ((call.data, first.data), (call.data_val or {}, first.data_val or {})):
            if a.keys() != b.keys() or not all(same_value(a[k], b[k]) for k in a):
                return "the members train on different data"
    reason = stacking_reason([c.estimator.model for c in calls])  # type: ignore[misc]
    if reason:
        return reason
    if first.options.get("optimizer", "amsgrad") not in ("amsgrad", "adam", "sgd"):
        return f"unknown optimizer {first.options.get('optimizer')!r}"
    return ""


# ---------------------------------------------------------------------------- forward passes


def _forward_score(net: StackedDenseNetwork, batch: Tensors, need_score: bool, create_graph: bool) -> Tensors:
    del need_score, create_graph
    return {"t_hat": net(batch["x"])}


def _forward_ratio(net: StackedDenseNetwork, batch: Tensors, need_score: bool, create_graph: bool) -> Tensors:
    theta = batch["theta"]
    if need_score:
        theta = differentiable(theta)
    log_r_hat = net(torch.cat((theta, batch["x"]), dim=-1))
    out = {"log_r_hat": log_r_hat}
    if need_score:
        (out["t_hat"],) = parameter_gradients(log_r_hat, (theta,), create_graph)
    return out


def _forward_double(
    net: StackedDenseNetwork, batch: Tensors, need_score: bool, create_graph: bool
) -> Tensors:
    theta0, theta1, x = batch["theta0"], batch["theta1"], batch["x"]
    if need_score:
        theta0, theta1 = differentiable(theta0), differentiable(theta1)
    log_r_hat = net(torch.cat((theta0, theta1, x), dim=-1)) - net(torch.cat((theta1, theta0, x), dim=-1))
    out = {"log_r_hat": log_r_hat}
    if need_score:
        out["t_hat0"], out["t_hat1"] = parameter_gradients(log_r_hat, (theta0, theta1), create_graph)
    return out


_FORWARDS: dict[str, Callable[[StackedDenseNetwork, Tensors, bool, bool], Tensors]] = {
    "score": _forward_score,
    "ratio": _forward_ratio,
    "double": _forward_double,
}


# ---------------------------------------------------------------------------- training loop


def _tensors(data: dict[str, np.ndarray], device: torch.device) -> Tensors:
    out = {}
    for key, value in data.items():
        arr = np.array(value, dtype=np.float32, copy=True)
        bad = np.isnan(arr) if key == "r_xz" else ~np.isfinite(arr)
        if bad.any():
            raise InputError(f"{key} contains {int(bad.sum())} NaN or infinite value(s)")
        out[key] = torch.from_numpy(arr).to(device)
    if len({len(v) for v in out.values()}) != 1:
        raise InputError("Training arrays have different numbers of samples")
    return out


def _clip_per_member(params: list[nn.Parameter], max_norm: float) -> None:
    """``clip_grad_norm_`` applied to each member's own gradient (first axis of every parameter)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    sq = torch.stack([g.reshape(g.shape[0], -1).pow(2).sum(dim=1) for g in grads]).sum(dim=0)
    coef = (max_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.reshape(-1, *([1] * (g.dim() - 1))))


class _StackedTrainer:
    def __init__(self, net: StackedDenseNetwork, loss: Loss, kind: str, device: torch.device) -> None:
        self.net, self.loss, self.device = net, loss, device
        self.forward = _FORWARDS[kind]
        self.member_loss = torch.func.vmap(lambda outputs, batch: loss.total(loss(outputs, batch)))

    def losses(self, data: Tensors, idx: torch.Tensor, create_graph: bool) -> torch.Tensor:
        """Per-member total loss ``(K,)`` on the samples ``idx`` ``(K, b)``."""
        batch = {k: v[idx] for k, v in data.items()}
        outputs = self.forward(self.net, batch, self.loss.needs_score, create_graph)
        return self.member_loss(outputs, batch)

    def evaluate(self, data: Tensors, idx: torch.Tensor) -> torch.Tensor:
        """Sample-weighted mean loss per member (eval mode), ``(K,)`` float64."""
        self.net.eval()
        total = torch.zeros(idx.shape[0], dtype=torch.float64, device=self.device)
        with torch.set_grad_enabled(self.loss.needs_score):
            for start in range(0, idx.shape[1], EVALUATION_BATCH):
                part = idx[:, start : start + EVALUATION_BATCH]
                total += self.losses(data, part, create_graph=False).detach().double() * part.shape[1]
        self.net.train()
        return total / idx.shape[1]


def train_stacked(calls: Sequence[FitCall]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train the captured members together (see the module docstring); returns per-member losses.

    Parameters
    ----------
    calls : sequence of FitCall
        From :func:`capture_fit`, checked with :func:`calls_reason`.

    Returns
    -------
    list of (train_losses, val_losses)
        Per member, the mean loss per epoch it trained (up to its own early stop).

    Raises
    ------
    TrainingError
        If a member's training loss becomes NaN or infinite.
    """
    first = calls[0]
    opts = first.options  # every trainer option, with the estimator's defaults (prepare_training)
    n_epochs, batch_size = int(opts["n_epochs"]), int(opts["batch_size"])
    if n_epochs < 1 or batch_size < 1:
        raise InputError(f"n_epochs and batch_size must be positive, got {n_epochs} and {batch_size}")
    device = resolve_device(first.device)
    k = len(calls)
    networks = [c.estimator.model for c in calls]
    net = StackedDenseNetwork(networks).to(device)  # type: ignore[arg-type]
    kind = _KINDS[type(first.estimator)]
    trainer = _StackedTrainer(net, first.loss, kind, device)

    data = _tensors(first.data, device)
    n = len(next(iter(data.values())))
    val_data: Tensors | None = None
    split = opts["validation_split"]
    if first.data_val is not None:
        val_data = _tensors(first.data_val, device)
        n_val_ext = len(next(iter(val_data.values())))
        train_idx = torch.arange(n, device=device).expand(k, n)
        val_idx = torch.arange(n_val_ext, device=device).expand(k, n_val_ext)
    elif split:
        if not 0.0 < split < 1.0:
            raise InputError(f"validation_split must be in (0, 1) or None, got {split}")
        n_val = round(split * n)
        if n_val < 1 or n_val >= n:
            raise InputError(f"validation_split={split} leaves no training or validation samples")
        perms = torch.argsort(torch.rand(k, n), dim=1).to(device)
        val_idx, train_idx = perms[:, :n_val], perms[:, n_val:]
        val_data = data
    else:
        train_idx = torch.arange(n, device=device).expand(k, n)
        val_idx = None
    n_train = train_idx.shape[1]

    params = list(net.parameters())
    opt = make_optimizer(params, opts["optimizer"], opts["initial_lr"], opts["nesterov_momentum"])
    clip = opts["clip_gradient"]
    patience = opts["early_stopping_patience"]
    use_best = bool(opts["early_stopping"]) and val_data is not None
    best_loss = torch.full((k,), math.inf, dtype=torch.float64, device=device)
    best_epoch = torch.full((k,), -1, dtype=torch.long, device=device)
    best_params = [p.detach().clone() for p in params] if use_best else []
    active = torch.ones(k, dtype=torch.bool, device=device)
    train_losses: list[list[float]] = [[] for _ in range(k)]
    val_losses: list[list[float]] = [[] for _ in range(k)]
    logger.info("Training %s %s estimators together on %s samples on %s", k, kind, n_train, device)

    net.train()
    for epoch in range(n_epochs):
        set_learning_rate(opt, learning_rate(epoch, n_epochs, opts["initial_lr"], opts["final_lr"]))
        order = torch.gather(train_idx, 1, torch.argsort(torch.rand(k, n_train), dim=1).to(device))
        running = torch.zeros(k, dtype=torch.float64, device=device)
        for start in range(0, n_train, batch_size):
            idx = order[:, start : start + batch_size]
            opt.zero_grad(set_to_none=True)
            member_losses = trainer.losses(data, idx, create_graph=True)
            member_losses.sum().backward()
            if clip is not None:
                _clip_per_member(params, float(clip))
            opt.step()
            running += member_losses.detach().double() * idx.shape[1]
        epoch_train = (running / n_train).cpu().numpy()
        bad = [i for i in range(k) if active[i] and not math.isfinite(epoch_train[i])]
        if bad:
            raise TrainingError(
                f"Training loss of member(s) {bad} is not finite in epoch {epoch + 1}; lower the learning "
                "rate, set clip_gradient, or check the inputs for NaN/inf values"
            )
        epoch_val = None if val_idx is None else trainer.evaluate(val_data, val_idx)  # type: ignore[arg-type]
        for i in range(k):
            if active[i]:
                train_losses[i].append(float(epoch_train[i]))
                if epoch_val is not None:
                    val_losses[i].append(float(epoch_val[i]))
        logger.debug(
            "Epoch %3d/%d: train losses %s, val. losses %s",
            epoch + 1,
            n_epochs,
            np.array2string(epoch_train, precision=5),
            None if epoch_val is None else np.array2string(epoch_val.cpu().numpy(), precision=5),
        )
        if use_best and epoch_val is not None:
            improved = active & torch.isfinite(epoch_val) & (epoch_val < best_loss)
            best_loss = torch.where(improved, epoch_val, best_loss)
            best_epoch = torch.where(improved, epoch, best_epoch)
            with torch.no_grad():
                for p, b in zip(params, best_params, strict=True):
                    b[improved] = p.detach()[improved]
            if patience is not None:
                stop = active & (best_epoch >= 0) & (epoch - best_epoch > patience)
                if stop.any():
                    logger.info(
                        "Members %s: no improvement for %s epochs, stopping them",
                        stop.nonzero()[:, 0].tolist(),
                        patience,
                    )
                active &= ~stop
                if not active.any():
                    break
    if use_best:
        with torch.no_grad():
            have = best_epoch >= 0
            for p, b in zip(params, best_params, strict=True):
                p[have] = b[have]
        logger.info("Restored the weights of the best epochs %s", (best_epoch + 1).tolist())
    net.copy_to(networks)  # type: ignore[arg-type]
    return [(np.asarray(t), np.asarray(v)) for t, v in zip(train_losses, val_losses, strict=True)]
