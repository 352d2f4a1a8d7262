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

import functools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from motherlode.checkpoint import CheckpointLike, open_checkpoint
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
    EpochCheckpoint,
    TrainingError,
    describe_model,
    learning_rate,
    load_optimizer_state,
    make_optimizer,
    resolve_device,
    rng_state,
    set_learning_rate,
    set_rng_state,
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


@dataclass
class _StackProgress:
    """How far a stacked training has come, per member (what its checkpoint records after every epoch)."""

    epochs: int
    train_losses: list[list[float]]
    val_losses: list[list[float]]
    best_loss: torch.Tensor
    best_epoch: torch.Tensor
    best_params: list[torch.Tensor]
    active: torch.Tensor
    finished: bool = False

    @classmethod
    def start(cls, params: list[nn.Parameter], use_best: bool, device: torch.device) -> _StackProgress:
        """Nothing trained yet: no best epoch, every member active."""
        k = params[0].shape[0]
        return cls(
            epochs=0,
            train_losses=[[] for _ in range(k)],
            val_losses=[[] for _ in range(k)],
            best_loss=torch.full((k,), math.inf, dtype=torch.float64, device=device),
            best_epoch=torch.full((k,), -1, dtype=torch.long, device=device),
            best_params=[p.detach().clone() for p in params] if use_best else [],
            active=torch.ones(k, dtype=torch.bool, device=device),
        )

    def record(self) -> dict[str, Any]:
        """The progress as plain values and tensors (for :class:`~motherlode.ml.trainer.EpochCheckpoint`)."""
        return {
            "epochs": self.epochs,
            "train_losses": [torch.tensor(t, dtype=torch.float64) for t in self.train_losses],
            "val_losses": [torch.tensor(v, dtype=torch.float64) for v in self.val_losses],
            "best_loss": self.best_loss,
            "best_epoch": self.best_epoch,
            "best_params": self.best_params,
            "active": self.active,
            "finished": self.finished,
        }

    @classmethod
    def from_record(cls, state: dict[str, Any], device: torch.device) -> _StackProgress:
        """The progress of a :meth:`record`, with its tensors on ``device``."""
        return cls(
            epochs=int(state["epochs"]),
            train_losses=[t.tolist() for t in state["train_losses"]],
            val_losses=[v.tolist() for v in state["val_losses"]],
            best_loss=state["best_loss"].to(device),
            best_epoch=state["best_epoch"].to(device),
            best_params=[b.to(device) for b in state["best_params"]],
            active=state["active"].to(device),
            finished=bool(state["finished"]),
        )

    def losses(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per member, the train and validation losses per epoch it trained."""
        return [
            (np.asarray(t), np.asarray(v)) for t, v in zip(self.train_losses, self.val_losses, strict=True)
        ]


@dataclass
class _StackSplit:
    """The training data and each member's training and validation samples ``(K, n)``."""

    data: Tensors
    train_idx: torch.Tensor
    val_data: Tensors | None
    val_idx: torch.Tensor | None


def _stack_split(first: FitCall, k: int, device: torch.device) -> _StackSplit:
    """Each member's random validation split (or the explicit validation data, or none)."""
    data = _tensors(first.data, device)
    n = len(next(iter(data.values())))
    split = first.options["validation_split"]
    if first.data_val is not None:
        val_data = _tensors(first.data_val, device)
        n_val_ext = len(next(iter(val_data.values())))
        val_idx = torch.arange(n_val_ext, device=device).expand(k, n_val_ext)
        return _StackSplit(data, torch.arange(n, device=device).expand(k, n), val_data, val_idx)
    if not split:
        return _StackSplit(data, torch.arange(n, device=device).expand(k, n), None, None)
    if not 0.0 < split < 1.0:
        raise InputError(f"validation_split must be in (0, 1) or None, got {split}")
    n_val = round(split * n)
    if n_val < 1 or n_val >= n:
        raise InputError(f"validation_split={split} leaves no training or validation samples")
    perms = torch.argsort(torch.rand(k, n), dim=1).to(device)
    return _StackSplit(data, perms[:, n_val:], data, perms[:, :n_val])


class _StackedRun:
    """The epochs of one stacked training: the network, its optimiser, the data and the options."""

    def __init__(self, trainer: _StackedTrainer, split: _StackSplit, opt: Any, opts: dict[str, Any]) -> None:
        self.trainer, self.split, self.opt, self.opts = trainer, split, opt, opts
        self.params = list(trainer.net.parameters())
        self.use_best = bool(opts["early_stopping"]) and split.val_data is not None

    def epoch(self, epoch: int, progress: _StackProgress) -> bool:
        """Train and validate all members for epoch ``epoch``; whether every member has stopped early."""
        n_epochs = int(self.opts["n_epochs"])
        epoch_train = self._train_epoch(epoch)
        active, k = progress.active, len(epoch_train)
        bad = [i for i in range(k) if active[i] and not math.isfinite(epoch_train[i])]
        if bad:
            raise TrainingError(
                f"Training loss of member(s) {bad} is not finite in epoch {epoch + 1}; lower the learning "
                "rate, set clip_gradient, or check the inputs for NaN/inf values"
            )
        split = self.split
        epoch_val = None
        if split.val_idx is not None and split.val_data is not None:
            epoch_val = self.trainer.evaluate(split.val_data, split.val_idx)
        for i in range(k):
            if active[i]:
                progress.train_losses[i].append(float(epoch_train[i]))
                if epoch_val is not None:
                    progress.val_losses[i].append(float(epoch_val[i]))
        progress.epochs = epoch + 1
        logger.debug(
            "Epoch %3d/%d: train losses %s, val. losses %s",
            epoch + 1,
            n_epochs,
            np.array2string(epoch_train, precision=5),
            None if epoch_val is None else np.array2string(epoch_val.cpu().numpy(), precision=5),
        )
        if self.use_best and epoch_val is not None:
            return self._keep_best(epoch, epoch_val, progress)
        return False

    def _train_epoch(self, epoch: int) -> np.ndarray:
        """One epoch of steps over each member's own batch order; the members' mean training losses."""
        opts, split = self.opts, self.split
        n_epochs, batch_size, clip = int(opts["n_epochs"]), int(opts["batch_size"]), opts["clip_gradient"]
        set_learning_rate(self.opt, learning_rate(epoch, n_epochs, opts["initial_lr"], opts["final_lr"]))
        k, n_train = split.train_idx.shape
        device = split.train_idx.device
        order = torch.gather(split.train_idx, 1, torch.argsort(torch.rand(k, n_train), dim=1).to(device))
        running = torch.zeros(k, dtype=torch.float64, device=device)
        for start in range(0, n_train, batch_size):
            idx = order[:, start : start + batch_size]
            self.opt.zero_grad(set_to_none=True)
            member_losses = self.trainer.losses(split.data, idx, create_graph=True)
            member_losses.sum().backward()
            if clip is not None:
                _clip_per_member(self.params, float(clip))
            self.opt.step()
            running += member_losses.detach().double() * idx.shape[1]
        return (running / n_train).cpu().numpy()

    def _keep_best(self, epoch: int, epoch_val: torch.Tensor, progress: _StackProgress) -> bool:
        """Keep each member's best weights; stop members out of patience; whether all have stopped."""
        improved = progress.active & torch.isfinite(epoch_val) & (epoch_val < progress.best_loss)
        progress.best_loss = torch.where(improved, epoch_val, progress.best_loss)
        progress.best_epoch = torch.where(improved, epoch, progress.best_epoch)
        with torch.no_grad():
            for p, b in zip(self.params, progress.best_params, strict=True):
                b[improved] = p.detach()[improved]
        patience = self.opts["early_stopping_patience"]
        if patience is None:
            return False
        stop = progress.active & (progress.best_epoch >= 0) & (epoch - progress.best_epoch > patience)
        if stop.any():
            logger.info(
                "Members %s: no improvement for %s epochs, stopping them",
                stop.nonzero()[:, 0].tolist(),
                patience,
            )
        progress.active &= ~stop
        return not bool(progress.active.any())

    def restore_best(self, progress: _StackProgress) -> None:
        """Give each member that had a best epoch the weights of that epoch."""
        if not self.use_best:
            return
        with torch.no_grad():
            have = progress.best_epoch >= 0
            for p, b in zip(self.params, progress.best_params, strict=True):
                p[have] = b[have]
        logger.info("Restored the weights of the best epochs %s", (progress.best_epoch + 1).tolist())


def _stack_job(calls: Sequence[FitCall], net: StackedDenseNetwork, kind: str, device: torch.device) -> Any:
    """What the result of a stacked training depends on (the fingerprint of its checkpoint folder)."""
    first = calls[0]
    return {
        "task": "motherlode.ml.stacked.train_stacked",
        "data": first.data,
        "data_val": first.data_val,
        "options": {k: v for k, v in first.options.items() if k not in ("verbose", "checkpoint")},
        "network": describe_model(net),
        "estimators": [c.estimator._settings() for c in calls],
        "kind": kind,
        "loss": first.loss,
        "device": str(device),
        "torch": torch.__version__,
    }


def train_stacked(
    calls: Sequence[FitCall], checkpoint: CheckpointLike = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train the captured members together (see the module docstring); returns per-member losses.

    Parameters
    ----------
    calls : sequence of FitCall
        From :func:`capture_fit`, checked with :func:`calls_reason`.
    checkpoint : path-like, optional
        A folder where the stacked training records the state of the whole stack after every completed
        epoch (the stacked weights, the optimiser state, each member's losses, best epoch, best weights
        and whether it is still active, torch's random states), as
        :meth:`motherlode.ml.trainer.Trainer.train` does for one network: rerun with the same folder
        after an interruption, it continues with the next epoch and gives the same members, bit for bit,
        on the CPU. The folder is removed when the training has finished.

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
    networks = [c.estimator.model for c in calls]
    net = StackedDenseNetwork(networks).to(device)  # type: ignore[arg-type]
    kind = _KINDS[type(first.estimator)]
    store = open_checkpoint(checkpoint, _stack_job(calls, net, kind, device))
    records = None if store is None else EpochCheckpoint(store)
    saved = None if records is None else records.latest()
    if saved is not None and saved["finished"]:
        progress = _restore_recorded(net, saved, device)
    else:
        if saved is not None:
            set_rng_state(saved["start_rng"], device)
        start_rng = rng_state(device)
        run = _start(net, first, kind, device, saved)
        progress = _StackProgress.start(run.params, run.use_best, device)
        if saved is not None:
            progress = _StackProgress.from_record(saved, device)
            set_rng_state(saved["rng"], device)
            logger.info("Resuming the stacked training after epoch %d (%s)", progress.epochs, checkpoint)
        record = None if records is None else functools.partial(_record, records, run, start_rng)
        _run_epochs(run, progress, n_epochs, record)
    net.copy_to(networks)  # type: ignore[arg-type]
    if store is not None:
        store.clear()
    return progress.losses()


def _start(
    net: StackedDenseNetwork, first: FitCall, kind: str, device: torch.device, saved: dict[str, Any] | None
) -> _StackedRun:
    """The split, the network's (recorded) weights and the optimiser (with its recorded state)."""
    opts = first.options
    split = _stack_split(first, net.n_members, device)
    if saved is not None:
        net.load_state_dict(saved["net"])
    params = list(net.parameters())
    opt = make_optimizer(params, opts["optimizer"], opts["initial_lr"], opts["nesterov_momentum"])
    if saved is not None:
        load_optimizer_state(opt, saved["optimizer"])
    logger.info(
        "Training %s %s estimators together on %s samples on %s",
        net.n_members,
        kind,
        split.train_idx.shape[1],
        device,
    )
    return _StackedRun(_StackedTrainer(net, first.loss, kind, device), split, opt, opts)


def _run_epochs(
    run: _StackedRun,
    progress: _StackProgress,
    n_epochs: int,
    record: Callable[[_StackProgress], None] | None,
) -> None:
    """The epochs from ``progress`` on, each recorded; the best weights restored and recorded at the end."""
    run.trainer.net.train()
    for epoch in range(progress.epochs, n_epochs):
        if run.epoch(epoch, progress):
            break
        if record is not None:
            record(progress)
    run.restore_best(progress)
    progress.finished = True
    if record is not None:
        record(progress)


def _record(
    records: EpochCheckpoint,
    run: _StackedRun,
    start_rng: dict[str, torch.Tensor | None],
    progress: _StackProgress,
) -> None:
    """Record the state of the stack after an epoch (or the final one)."""
    net = run.trainer.net
    records.record(
        {
            **progress.record(),
            "net": {k: v.detach().clone() for k, v in net.state_dict().items()},
            "optimizer": run.opt.state_dict(),
            "start_rng": start_rng,
            "rng": rng_state(run.split.train_idx.device),
        }
    )


def _restore_recorded(
    net: StackedDenseNetwork, saved: dict[str, Any], device: torch.device
) -> _StackProgress:
    """A finished stacked training's recorded weights and losses."""
    net.load_state_dict(saved["net"])
    set_rng_state(saved["rng"], device)
    progress = _StackProgress.from_record(saved, device)
    logger.info("The stacked training had finished after %d epochs: restoring its result", progress.epochs)
    return progress
