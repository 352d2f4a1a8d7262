"""The training loop shared by the neural estimators.

The data stay on the device as tensors for the whole training (no per-sample ``DataLoader``, no worker
processes). The loop is generic: an estimator passes a ``forward(model, batch, need_score, create_graph) ->
outputs`` function and a :class:`~motherlode.ml.losses.Loss`, and where its network allows, a ``manual``
function that returns the outputs with a hand-written backward pass (see :mod:`motherlode.ml.networks`).

On the CPU, a step of these small networks costs what its operations cost to dispatch, so the loop keeps
their number low: the data are shuffled once per epoch and the batches are contiguous slices; networks
with a manual backward pass are differentiated through it, from the loss's closed-form gradient with
respect to the network outputs (:meth:`~motherlode.ml.losses.Loss.gradients`); the parameters live
in one flat buffer that :class:`~motherlode.ml.optim.FlatOptimizer` updates in a few operations; and
small networks run on one thread. On CUDA the training step (forward pass, loss, backward pass, gradient
clipping and optimiser step) is captured once as a CUDA graph and replayed for every full batch, which
removes the kernel-launch overhead that dominates small networks; the last, shorter batch of an epoch runs
eagerly.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from motherlode.errors import InputError, MotherlodeError
from motherlode.ml.losses import Loss
from motherlode.ml.optim import FlatOptimizer
from motherlode.progress import progress_bar

__all__ = [
    "CPU_VALIDATION_BATCH",
    "EVALUATION_BATCH",
    "Backward",
    "Forward",
    "ManualForward",
    "Trainer",
    "TrainingError",
    "learning_rate",
    "make_optimizer",
    "manual_gradients_enabled",
    "release_optimizer",
    "resolve_device",
    "set_learning_rate",
    "uses_cuda_graphs",
]

logger = logging.getLogger(__name__)

Forward = Callable[[nn.Module, dict[str, torch.Tensor], bool, bool], dict[str, torch.Tensor]]
"""``forward(model, batch, need_score, create_graph) -> outputs``: the loss's inputs, by autograd."""
Backward = Callable[[dict[str, torch.Tensor], Sequence[torch.Tensor] | None], list[torch.Tensor]]
ManualForward = Callable[[nn.Module, dict[str, torch.Tensor], bool], tuple[dict[str, torch.Tensor], Backward]]
"""``manual(model, batch, need_score) -> (outputs, backward)``: the outputs, computed without an autograd
graph, and ``backward(grad_outputs, into)``, the loss gradient with respect to each of ``model.parameters()``
from the loss gradients with respect to the outputs, written into the tensors ``into`` when not None."""

_VERBOSE_FRACTIONS = {"all": None, "many": 50, "some": 20, "few": 5}
EVALUATION_BATCH = 100_000
"""Samples per batch when evaluating networks (no gradient steps): bounds the memory of evaluation."""
CPU_VALIDATION_BATCH = 8192
"""Samples per batch of the validation loss on the CPU: the layers' activations (and tangents) of a batch
this size stay in the cache (ALICES on 50 000 W h validation samples: 124 ms in one batch, 42 ms in these)."""
_GRAPH_WARMUP_STEPS = 3


class TrainingError(MotherlodeError, RuntimeError):
    """Training failed, for instance because the loss became NaN or infinite."""


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (or None): CUDA when available, else CPU; anything else goes to :class:`torch.device`."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def learning_rate(epoch: int, n_epochs: int, initial_lr: float, final_lr: float) -> float:
    """MadMiner's per-epoch exponential schedule ``lr0 * (lr_f / lr0) ** (epoch / (n_epochs - 1))``."""
    if n_epochs <= 1:
        return initial_lr
    return initial_lr * (final_lr / initial_lr) ** (epoch / (n_epochs - 1))


def _verbose_every(verbose: str, n_epochs: int) -> int | None:
    if verbose not in (*_VERBOSE_FRACTIONS, "none"):
        raise InputError(f"Unknown verbose={verbose!r}; expected all, many, some, few or none")
    if verbose == "none":
        return None
    parts = _VERBOSE_FRACTIONS[verbose]
    return 1 if parts is None else max(round(n_epochs / parts), 1)


Optimizer = torch.optim.Optimizer | FlatOptimizer


def make_optimizer(
    params: Sequence[torch.Tensor],
    optimizer: str,
    lr: float,
    nesterov_momentum: float | None = None,
    capturable_on: torch.device | None = None,
) -> Optimizer:
    """The optimiser of the training loops: ``"amsgrad"``, ``"adam"`` or ``"sgd"`` (Nesterov with momentum).

    A :class:`~motherlode.ml.optim.FlatOptimizer` (call its ``release`` after training), except with
    ``capturable_on`` (a CUDA device): then a fused ``torch.optim.Adam`` that keeps its state and learning
    rate on that device, so that its step can be captured in a CUDA graph. Change the learning rate of
    either with :func:`set_learning_rate`.

    Raises
    ------
    InputError
        For an unknown optimiser name, or ``capturable_on`` with SGD.
    """
    if capturable_on is None:
        return FlatOptimizer(params, optimizer, lr, nesterov_momentum)
    if optimizer not in ("amsgrad", "adam"):
        raise InputError(f"Only Adam and AMSGrad steps can be captured in a CUDA graph, not {optimizer!r}")
    lr_tensor = torch.tensor(lr, dtype=torch.float32, device=capturable_on)
    return torch.optim.Adam(params, lr=lr_tensor, amsgrad=optimizer == "amsgrad", fused=True, capturable=True)


def release_optimizer(opt: Optimizer) -> None:
    """Give the parameters of a :class:`~motherlode.ml.optim.FlatOptimizer` their own storage back."""
    if isinstance(opt, FlatOptimizer):
        opt.release()


def uses_cuda_graphs(device: str | torch.device | None, cuda_graphs: bool | None = None) -> bool:
    """Whether a :class:`Trainer` on ``device`` replays its step as a CUDA graph.

    ``cuda_graphs=None`` means: on CUDA devices, unless the environment variable ``MOTHERLODE_CUDA_GRAPHS``
    is ``0``.
    """
    if cuda_graphs is None:
        cuda_graphs = os.environ.get("MOTHERLODE_CUDA_GRAPHS", "1") != "0"
    return bool(cuda_graphs) and resolve_device(device).type == "cuda"


def manual_gradients_enabled() -> bool:
    """Whether the estimators train through their hand-written backward passes where they have one.

    True unless the environment variable ``MOTHERLODE_MANUAL_GRADIENTS`` is ``0`` (then autograd
    differentiates every network, as a cross-check).
    """
    return os.environ.get("MOTHERLODE_MANUAL_GRADIENTS", "1") != "0"


def set_learning_rate(opt: Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group (in place where it is a tensor)."""
    for group in opt.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)  # in place: a captured graph reads this tensor
        else:
            group["lr"] = lr


class _GraphedStep:
    """The training step of a :class:`Trainer` for one batch size, captured once and replayed as a CUDA graph.

    The graph reads the batch from static tensors, filled by ``index_select`` before each replay; it writes
    the parameters, the gradients and the optimiser state in place, and the loss into a static tensor.
    """

    def __init__(
        self,
        trainer: Trainer,
        batch: dict[str, torch.Tensor],
        opt: Optimizer,
        clip_gradient: float | None,
    ) -> None:
        self.static = {k: v.clone() for k, v in batch.items()}
        self.graph = torch.cuda.CUDAGraph()
        opt.zero_grad(set_to_none=True)  # the captured backward pass allocates (and then owns) the gradients
        with torch.cuda.graph(self.graph):
            self.loss = trainer._step(self.static, opt, clip_gradient)

    def __call__(self, data: dict[str, torch.Tensor], idx: torch.Tensor) -> torch.Tensor:
        for key, static in self.static.items():
            torch.index_select(data[key], 0, idx, out=static)
        self.graph.replay()
        return self.loss


_SMALL_STEP = 1 << 22  # parameters x batch size below which one CPU thread is fastest


@contextlib.contextmanager
def _threads_for(model: nn.Module, device: torch.device, batch_size: int) -> Iterator[None]:
    """Train small networks on one CPU thread, and restore the thread count afterwards.

    A step of a small network on a small batch (parameters x batch size below 2^22, e.g. two hidden layers
    of 100 units at batch size 128) is a chain of tiny operations: splitting each of them over several
    threads costs more than it saves (ALICES on the tutorial toy: 25 % faster on one thread of two).
    """
    n_parameters = sum(p.numel() for p in model.parameters())
    if device.type != "cpu" or n_parameters * batch_size >= _SMALL_STEP or torch.get_num_threads() == 1:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass
class _Schedule:
    """Epochs, batch size, learning-rate schedule, clipping and logging cadence of one training run."""

    n_epochs: int
    batch_size: int
    initial_lr: float
    final_lr: float
    clip_gradient: float | None
    log_every: int | None

    def learning_rate(self, epoch: int) -> float:
        return learning_rate(epoch, self.n_epochs, self.initial_lr, self.final_lr)


@dataclass
class _Split:
    train: dict[str, torch.Tensor]
    val: dict[str, torch.Tensor] | None


class Trainer:
    """Fits ``model`` by minimising ``loss``.

    Parameters
    ----------
    model : torch.nn.Module
        The network; moved to ``device``.
    loss : Loss
        The loss object (declares the data it needs and whether it needs the score).
    forward : callable
        ``forward(model, batch, need_score, create_graph)`` returning the outputs dict the loss expects.
    manual : callable, optional
        ``manual(model, batch, need_score) -> (outputs, backward)`` (see :data:`ManualForward`): the same
        outputs with a hand-written backward pass, used for the CPU and eager steps and for validation.
        The estimators pass it where their network supports it.
    device : str or torch.device, optional
        ``"auto"`` (default): CUDA when available.
    dtype : torch.dtype, optional
        Floating point type of the data. Default float32.
    cuda_graphs : bool or None, optional
        Replay the training step as a CUDA graph (Adam and AMSGrad only). None (default): on CUDA devices, or
        as the environment variable ``MOTHERLODE_CUDA_GRAPHS`` (``0``/``1``) says. If the capture fails, the
        training goes on eagerly with a warning.
    """

    def __init__(
        self,
        model: nn.Module,
        loss: Loss,
        forward: Forward,
        device: str | torch.device | None = "auto",
        dtype: torch.dtype = torch.float32,
        cuda_graphs: bool | None = None,
        manual: ManualForward | None = None,
    ) -> None:
        self.device = resolve_device(device)
        self.dtype = dtype
        self.model = model.to(self.device)
        self.loss = loss
        self.forward = forward
        self.manual = manual
        self.cuda_graphs = uses_cuda_graphs(self.device, cuda_graphs)
        self._graph: _GraphedStep | None = None
        self._eager_full_steps = 0

    # ---------------------------------------------------------------- data

    def _to_tensors(self, data: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
        out = {}
        for key, value in data.items():
            arr = np.array(value, dtype=np.float32 if self.dtype == torch.float32 else np.float64, copy=True)
            bad = np.isnan(arr) if key == "r_xz" else ~np.isfinite(arr)
            if bad.any():
                raise InputError(f"{key} contains {int(bad.sum())} NaN or infinite value(s)")
            out[key] = torch.from_numpy(arr).to(self.device)
        lengths = {len(v) for v in out.values()}
        if len(lengths) != 1:
            raise InputError(f"Training arrays have different numbers of samples: {sorted(lengths)}")
        return out

    def _split(
        self,
        data: Mapping[str, np.ndarray],
        data_val: Mapping[str, np.ndarray] | None,
        validation_split: float | None,
    ) -> _Split:
        tensors = self._to_tensors(data)
        if data_val is not None:
            return _Split(tensors, self._to_tensors(data_val))
        if not validation_split:
            return _Split(tensors, None)
        if not 0.0 < validation_split < 1.0:
            raise InputError(f"validation_split must be in (0, 1) or None, got {validation_split}")
        n = len(next(iter(tensors.values())))
        n_val = round(validation_split * n)
        if n_val < 1 or n_val >= n:
            raise InputError(f"validation_split={validation_split} leaves no training or validation samples")
        perm = torch.randperm(n).to(self.device)
        val_idx, train_idx = perm[:n_val], perm[n_val:]
        return _Split(
            {k: v[train_idx] for k, v in tensors.items()}, {k: v[val_idx] for k, v in tensors.items()}
        )

    # ---------------------------------------------------------------- optimisation

    def _optimizer(self, optimizer: str, lr: float, nesterov_momentum: float | None) -> Optimizer:
        params = [p for p in self.model.parameters() if p.requires_grad]
        if optimizer not in ("amsgrad", "adam"):
            self.cuda_graphs = False  # only Adam's step is captured
        if self.cuda_graphs:
            try:
                return make_optimizer(params, optimizer, lr, nesterov_momentum, capturable_on=self.device)
            except (RuntimeError, TypeError, ValueError) as exc:  # older torch: no fused capturable Adam
                logger.warning("No capturable Adam in this torch (%s); training without CUDA graphs", exc)
                self.cuda_graphs = False
        return make_optimizer(params, optimizer, lr, nesterov_momentum)

    def _batch_loss(self, batch: dict[str, torch.Tensor], create_graph: bool) -> tuple[torch.Tensor, dict]:
        outputs = self.forward(self.model, batch, self.loss.needs_score, create_graph)
        components = self.loss(outputs, batch)
        return self.loss.total(components), components

    def _manual_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        """Loss and components of ``manual``'s outputs (no autograd graph)."""
        assert self.manual is not None
        outputs, _ = self.manual(self.model, batch, self.loss.needs_score)
        with torch.no_grad():
            components = self.loss(outputs, batch)
            return self.loss.total(components), components

    def _train_epoch(
        self,
        data: dict[str, torch.Tensor],
        opt: Optimizer,
        batch_size: int,
        clip_gradient: float | None,
        bar,
    ) -> float:
        self.model.train()
        n = len(next(iter(data.values())))
        perm = torch.randperm(n).to(self.device)
        if not self.cuda_graphs:  # one gather per epoch, then contiguous slices
            keys = list(data)
            columns = [torch.split(data[key][perm], batch_size) for key in keys]
            losses = []
            for parts in zip(*columns, strict=True):
                batch = dict(zip(keys, parts, strict=True))
                losses.append(self._eager_step(batch, opt, clip_gradient, full=len(parts[0]) == batch_size))
                bar.update(len(parts[0]))
            sizes = torch.tensor([len(part) for part in columns[0]], dtype=torch.float64)
            return float(torch.stack(losses).double().cpu() @ sizes) / n
        running = torch.zeros((), device=self.device, dtype=torch.float64)
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            if self._graph is not None and len(idx) == batch_size:
                loss = self._graph(data, idx)
            else:
                batch = {k: v[idx] for k, v in data.items()}
                loss = self._eager_step(batch, opt, clip_gradient, full=len(idx) == batch_size)
            running += loss.double() * len(idx)
            bar.update(len(idx))
        return float(running) / n

    def _step(
        self, batch: dict[str, torch.Tensor], opt: Optimizer, clip_gradient: float | None
    ) -> torch.Tensor:
        """Forward, loss, backward, clipping and optimiser step on ``batch`` (gradients must be zero/None)."""
        loss, _ = self._batch_loss(batch, create_graph=True)
        loss.backward()
        if isinstance(opt, FlatOptimizer):
            opt.step(clip_gradient=clip_gradient)
            return loss.detach()
        if clip_gradient is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), clip_gradient)
        opt.step()
        return loss.detach()

    def _manual_step(
        self, batch: dict[str, torch.Tensor], opt: FlatOptimizer, clip_gradient: float | None
    ) -> torch.Tensor:
        """:meth:`_step` by the hand-written backward pass: no autograd, the gradient written straight
        into the optimiser's flat buffer."""
        assert self.manual is not None
        with torch.inference_mode():
            outputs, backward = self.manual(self.model, batch, self.loss.needs_score)
            loss, grads = self.loss.value_and_gradients(outputs, batch)
            backward(grads, opt.gradient_views)
            opt.step_written(clip_gradient)
        return loss

    def _eager_step(
        self,
        batch: dict[str, torch.Tensor],
        opt: Optimizer,
        clip_gradient: float | None,
        full: bool,
    ) -> torch.Tensor:
        if self.manual is not None and isinstance(opt, FlatOptimizer):
            return self._manual_step(batch, opt, clip_gradient)
        # once a graph holds the gradient tensors they must be zeroed in place, never replaced
        opt.zero_grad(set_to_none=self._graph is None)
        if not (self.cuda_graphs and self._graph is None and full):
            return self._step(batch, opt, clip_gradient)
        # the first full batches warm up on a side stream (cuBLAS, allocator), then the step is captured
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            loss = self._step(batch, opt, clip_gradient)
        torch.cuda.current_stream(self.device).wait_stream(side)
        self._eager_full_steps += 1
        if self._eager_full_steps >= _GRAPH_WARMUP_STEPS:
            self._capture(batch, opt, clip_gradient)
        return loss

    def _capture(self, batch: dict[str, torch.Tensor], opt: Optimizer, clip_gradient: float | None) -> None:
        try:
            self._graph = _GraphedStep(self, batch, opt, clip_gradient)
        except RuntimeError as exc:  # an operation that cannot be captured, e.g. a host synchronisation
            logger.warning("CUDA graph capture failed, training eagerly: %s", exc)
            self.cuda_graphs, self._graph = False, None
            opt.zero_grad(set_to_none=True)

    def evaluate_loss(
        self, data: dict[str, torch.Tensor], batch_size: int | None = None
    ) -> tuple[float, dict]:
        """Sample-weighted mean loss (and components) of the model in eval mode on tensors ``data``, in
        batches of ``batch_size`` samples (default: :data:`CPU_VALIDATION_BATCH` on the CPU,
        :data:`EVALUATION_BATCH` elsewhere)."""
        if batch_size is None:
            batch_size = CPU_VALIDATION_BATCH if self.device.type == "cpu" else EVALUATION_BATCH
        self.model.eval()
        n = len(next(iter(data.values())))
        total = 0.0
        parts: dict[str, float] = {}
        with torch.set_grad_enabled(self.loss.needs_score and self.manual is None):
            for start in range(0, n, batch_size):
                batch = {k: v[start : start + batch_size] for k, v in data.items()}
                if self.manual is not None:
                    loss, components = self._manual_loss(batch)
                else:
                    loss, components = self._batch_loss(batch, create_graph=False)
                m = len(next(iter(batch.values())))
                total += float(loss.detach()) * m
                for k, v in components.items():
                    parts[k] = parts.get(k, 0.0) + float(v.detach()) * m
        return total / n, {k: v / n for k, v in parts.items()}

    # ---------------------------------------------------------------- main loop

    def train(
        self,
        data: Mapping[str, np.ndarray],
        data_val: Mapping[str, np.ndarray] | None = None,
        optimizer: str = "amsgrad",
        n_epochs: int = 50,
        batch_size: int = 128,
        initial_lr: float = 0.001,
        final_lr: float = 0.0001,
        nesterov_momentum: float | None = None,
        validation_split: float | None = 0.25,
        early_stopping: bool = True,
        early_stopping_patience: int | None = None,
        clip_gradient: float | None = None,
        verbose: str = "some",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Run the training loop.

        Parameters
        ----------
        data : mapping of str to ndarray
            Training arrays, all with the same first dimension.
        data_val : mapping of str to ndarray, optional
            Explicit validation data; otherwise a random ``validation_split`` fraction of ``data`` is used.
        optimizer : {"amsgrad", "adam", "sgd"}
            Optimiser; ``"sgd"`` uses Nesterov momentum when ``nesterov_momentum`` is given.
        n_epochs, batch_size, initial_lr, final_lr
            Epochs, batch size and the exponential per-epoch learning-rate schedule.
        validation_split : float or None
            Fraction held out for validation when ``data_val`` is None; None or 0 disables validation.
        early_stopping : bool
            Restore a copy of the weights of the epoch with the lowest validation loss at the end.
        early_stopping_patience : int or None
            Stop after this many epochs without improvement (None: never stop early).
        clip_gradient : float or None
            Clip the gradient norm to this value.
        verbose : {"all", "many", "some", "few", "none"}
            How often progress is logged at INFO level.

        Returns
        -------
        train_losses, val_losses : ndarray
            Mean loss per epoch (``val_losses`` is empty without validation data).

        Raises
        ------
        TrainingError
            If the training loss becomes NaN or infinite.
        """
        if n_epochs < 1 or batch_size < 1:
            raise InputError(f"n_epochs and batch_size must be positive, got {n_epochs} and {batch_size}")
        every = _verbose_every(verbose, n_epochs)
        split = self._split(data, data_val, validation_split)
        opt = self._optimizer(optimizer, initial_lr, nesterov_momentum)
        logger.info(
            "Training on %s samples (%s validation) on %s",
            len(next(iter(split.train.values()))),
            0 if split.val is None else len(next(iter(split.val.values()))),
            self.device,
        )
        schedule = _Schedule(n_epochs, batch_size, initial_lr, final_lr, clip_gradient, every)
        stopping = (early_stopping, early_stopping_patience)
        with _threads_for(self.model, self.device, batch_size):
            try:
                return self._run_epochs(split, opt, schedule, stopping, bar_enabled=verbose != "none")
            finally:
                self._graph, self._eager_full_steps = None, 0  # frees the graph's memory pool
                release_optimizer(opt)

    def _run_epochs(
        self,
        split: _Split,
        opt: Optimizer,
        schedule: _Schedule,
        stopping: tuple[bool, int | None],
        bar_enabled: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The epoch loop: train, validate, log, keep the best weights; restore them at the end."""
        early_stopping, patience = stopping
        n_train = len(next(iter(split.train.values())))
        train_losses: list[float] = []
        val_losses: list[float] = []
        best: tuple[float, int, dict] | None = None
        with progress_bar(
            total=schedule.n_epochs * n_train,
            desc="Training",
            unit="samples",
            enabled=None if bar_enabled else False,
        ) as bar:
            for epoch in range(schedule.n_epochs):
                set_learning_rate(opt, schedule.learning_rate(epoch))
                train_loss = self._train_epoch(
                    split.train, opt, schedule.batch_size, schedule.clip_gradient, bar
                )
                if not math.isfinite(train_loss):
                    raise TrainingError(
                        f"Training loss is {train_loss} in epoch {epoch + 1}; lower the learning rate, "
                        "set clip_gradient, or check the inputs for NaN/inf values"
                    )
                train_losses.append(train_loss)
                val_loss, parts = (math.nan, {}) if split.val is None else self.evaluate_loss(split.val)
                if split.val is not None:
                    val_losses.append(val_loss)
                self._log_epoch(epoch, schedule.n_epochs, train_loss, val_loss, parts, schedule.log_every)
                if early_stopping and split.val is not None and math.isfinite(val_loss):
                    if best is None or val_loss < best[0]:
                        best = (val_loss, epoch, copy.deepcopy(self.model.state_dict()))
                    elif patience is not None and epoch - best[1] > patience:
                        logger.info("No improvement for %s epochs, stopping", patience)
                        break
        self._restore(best, len(train_losses))
        return np.asarray(train_losses), np.asarray(val_losses)

    def _restore(self, best: tuple[float, int, dict] | None, n_done: int) -> None:
        if best is None:
            return
        if best[1] < n_done - 1:
            logger.info(
                "Early stopping: restoring the weights of epoch %s (val. loss %.6g)", best[1] + 1, best[0]
            )
        self.model.load_state_dict(best[2])

    @staticmethod
    def _log_epoch(
        epoch: int, n_epochs: int, train: float, val: float, parts: dict, every: int | None
    ) -> None:
        loud = every is not None and ((epoch + 1) % every == 0 or epoch == 0)
        fn = logger.info if loud else logger.debug
        detail = " ".join(f"{k}={v:.5g}" for k, v in parts.items())
        fn("Epoch %3d/%d: train loss %.6g, val. loss %.6g %s", epoch + 1, n_epochs, train, val, detail)
