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

Given a checkpoint folder (``Trainer.train(..., checkpoint=folder)``), the training records its state after
every completed epoch (:class:`EpochCheckpoint`): the weights, the optimiser state, the loss histories, the
early-stopping best and torch's random states. Run again with the same folder after an interruption, it
continues with the next epoch, and on the CPU its result is the same, bit for bit, as that of an
uninterrupted training. The folder is removed when the training has finished.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import math
import os
import pickle
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import threadpoolctl
import torch
from torch import nn

from motherlode.checkpoint import Checkpoint, CheckpointLike, open_checkpoint
from motherlode.errors import FileFormatError, InputError, MotherlodeError
from motherlode.fileformat import atomic_path
from motherlode.ml.kernels import CompiledStep, compiled_step
from motherlode.ml.losses import Loss
from motherlode.ml.optim import FlatOptimizer
from motherlode.progress import progress_bar

__all__ = [
    "CPU_VALIDATION_BATCH",
    "EVALUATION_BATCH",
    "Backward",
    "EpochCheckpoint",
    "Forward",
    "ManualForward",
    "Trainer",
    "TrainingError",
    "describe_model",
    "learning_rate",
    "load_optimizer_state",
    "make_optimizer",
    "manual_gradients_enabled",
    "release_optimizer",
    "resolve_device",
    "rng_state",
    "set_learning_rate",
    "set_rng_state",
    "training_steps",
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


def training_steps(
    n_samples: int, n_epochs: int, batch_size: int, validation_split: float | None = None
) -> int:
    """The optimiser steps of a training on ``n_samples`` samples, of which the ``validation_split``
    fraction (None: none) is held out for validation, as :meth:`Trainer.train` splits them."""
    n_train = n_samples - _n_validation(n_samples, validation_split)
    return n_epochs * -(-n_train // batch_size)


def _n_validation(n_samples: int, validation_split: float | None) -> int:
    """How many of ``n_samples`` samples :meth:`Trainer.train` holds out for validation."""
    return round(validation_split * n_samples) if validation_split else 0


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


def rng_state(device: torch.device) -> dict[str, torch.Tensor | None]:
    """Torch's random states that a training on ``device`` draws from: the CPU generator (shuffling,
    validation splits) and, on CUDA, the device's generator (dropout)."""
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return {"cpu": torch.get_rng_state(), "cuda": cuda}


def set_rng_state(state: Mapping[str, torch.Tensor | None], device: torch.device) -> None:
    """Restore the random states of :func:`rng_state`."""
    cpu, cuda = state["cpu"], state.get("cuda")
    assert cpu is not None
    torch.set_rng_state(cpu.cpu())
    if cuda is not None and device.type == "cuda" and torch.cuda.is_available():
        torch.cuda.set_rng_state(cuda.cpu(), device)


def describe_model(model: nn.Module) -> dict[str, Any]:
    """The architecture of ``model`` for a checkpoint's fingerprint: its class, its modules (``repr``), the
    names, shapes and dtypes of its state and which parameters are trained; not the values."""
    return {
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "modules": repr(model),
        "state": {name: [list(value.shape), str(value.dtype)] for name, value in model.state_dict().items()},
        "trained": [name for name, parameter in model.named_parameters() if parameter.requires_grad],
    }


def load_optimizer_state(opt: Optimizer, state: dict[str, Any]) -> None:
    """``opt.load_state_dict(state)``, keeping the learning-rate tensors of a capturable optimiser (their
    values are loaded in place: a CUDA graph reads these tensors)."""
    rates = [group["lr"] for group in opt.param_groups]
    opt.load_state_dict(state)
    for group, rate in zip(opt.param_groups, rates, strict=True):
        if isinstance(rate, torch.Tensor):
            rate.fill_(float(group["lr"]))
            group["lr"] = rate


class EpochCheckpoint:
    """The per-epoch records of one training in a :class:`~motherlode.checkpoint.Checkpoint` folder.

    After every completed epoch the training records one piece ``epoch-<n>`` (``n`` epochs done): a
    ``torch.save`` file of plain values and tensors, written atomically and read back only with
    ``torch.load(..., weights_only=True)``, then its marker; the record of the epoch before is then
    discarded. A record is a dict (see :meth:`Trainer.train` and :mod:`motherlode.ml.stacked` for what the
    trainings put in it) with at least ``epochs`` and ``finished``.

    Parameters
    ----------
    checkpoint : Checkpoint
        The training's folder.
    """

    prefix = "epoch-"

    def __init__(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint

    def _recorded(self) -> list[tuple[int, str]]:
        pieces = self.checkpoint.keys()  # a list of the finished pieces (a Checkpoint is no mapping)
        found = []
        for key in pieces:
            number = key.removeprefix(self.prefix)
            if key.startswith(self.prefix) and number.isdigit():
                found.append((int(number), key))
        return sorted(found)

    def latest(self) -> dict[str, Any] | None:
        """The record of the last completed epoch (None if there is none).

        Raises
        ------
        FileFormatError
            If the record cannot be read.
        """
        recorded = self._recorded()
        if not recorded:
            return None
        path = self.checkpoint.path(recorded[-1][1], ".pt")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as error:
            raise FileFormatError(
                f"{path}: damaged training checkpoint ({error}); remove the folder"
            ) from error
        if not isinstance(state, dict) or "epochs" not in state or "finished" not in state:
            raise FileFormatError(f"{path}: not a training checkpoint; remove the folder")
        return state

    def record(self, state: dict[str, Any]) -> None:
        """Record ``state`` (with ``epochs`` and ``finished``) as the latest epoch; forget earlier ones."""
        epochs, finished = int(state["epochs"]), bool(state["finished"])
        key = f"{self.prefix}{epochs}"
        with atomic_path(self.checkpoint.path(key, ".pt")) as temporary:
            torch.save(state, temporary)
        self.checkpoint.save(key, {"epochs": epochs, "finished": finished})
        for _, older in self._recorded():
            if older != key:
                self.checkpoint.discard(older)


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
def _threads_for(
    model: nn.Module, device: torch.device, batch_size: int, compiled: bool = False
) -> Iterator[None]:
    """Train small networks on one CPU thread, and restore the thread counts afterwards.

    A step of a small network on a small batch (parameters x batch size below 2^22, e.g. two hidden layers
    of 100 units at batch size 128) is a chain of tiny operations: splitting each of them over several
    threads costs more than it saves (ALICES on the tutorial toy: 25 % faster on one thread of two).
    With the ``compiled`` step the same holds for the BLAS that numba calls (scipy's OpenBLAS: two threads
    take as long as one on the W h sample's ALICES, and spin 50 % more CPU time).
    """
    n_parameters = sum(p.numel() for p in model.parameters())
    if device.type != "cpu" or n_parameters * batch_size >= _SMALL_STEP:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if compiled:
            with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
                yield
        else:
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


Best = tuple[float, int, dict[str, torch.Tensor]]
"""The early-stopping best: validation loss, epoch (from 0) and a copy of the weights."""


@dataclass
class _Progress:
    """How far a training has come: the completed epochs, the loss histories and the early-stopping best."""

    epochs: int = 0
    train_losses: list[float] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)
    best: Best | None = None
    finished: bool = False

    def record(self) -> dict[str, Any]:
        """The progress as plain values and tensors (for :class:`EpochCheckpoint`)."""
        best = None
        if self.best is not None:
            best = {"loss": self.best[0], "epoch": self.best[1], "weights": self.best[2]}
        return {
            "epochs": self.epochs,
            "train_losses": torch.tensor(self.train_losses, dtype=torch.float64),
            "val_losses": torch.tensor(self.val_losses, dtype=torch.float64),
            "best": best,
            "finished": self.finished,
        }

    @classmethod
    def from_record(cls, state: dict[str, Any]) -> _Progress:
        """The progress of a :meth:`record`."""
        best = state["best"]
        return cls(
            epochs=int(state["epochs"]),
            train_losses=state["train_losses"].tolist(),
            val_losses=state["val_losses"].tolist(),
            best=None if best is None else (float(best["loss"]), int(best["epoch"]), best["weights"]),
            finished=bool(state["finished"]),
        )

    def losses(self) -> tuple[np.ndarray, np.ndarray]:
        """The train and validation losses per epoch as arrays (what :meth:`Trainer.train` returns)."""
        return np.asarray(self.train_losses), np.asarray(self.val_losses)


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
        self._compiled: CompiledStep | None = None  # the CPU step as one compiled call, while training

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
        n_val = _n_validation(n, validation_split)
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
        if self._compiled is not None:
            return self._compiled.train_epoch(data, perm, batch_size, clip_gradient, bar)
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
        if self._compiled is not None:
            return self._compiled.evaluate(data, batch_size)
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
        *,
        checkpoint: CheckpointLike = None,
        checkpoint_job: Any = None,
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
        checkpoint : path-like, optional
            A folder where the training records its state after every completed epoch (see
            :class:`EpochCheckpoint`): the weights, the optimiser state, the loss histories, the
            early-stopping best, and torch's random states at the start (for the validation split) and
            after the epoch (for the batch order and dropout). Rerun with the same folder after an
            interruption and the same training (see ``checkpoint_job``) continues with the next epoch; on
            the CPU its result equals an uninterrupted training's bit for bit (on CUDA the step graph is
            captured anew). A finished training found there is restored without training. The folder is
            removed when the training has finished and its final weights are in the model. A folder of
            another training is emptied first.
        checkpoint_job : object, optional
            What else the result depends on, for the fingerprint that decides whether the folder's records
            belong to this training (see :func:`motherlode.checkpoint.describe`; the estimators pass their
            settings). The fingerprint always covers the data, the training options (all but
            ``verbose``), the architecture (:func:`describe_model`, not the initial weights: seed torch,
            or use a new folder, to train another initialisation), the loss, the forward functions, dtype,
            device and the torch version.

        Returns
        -------
        train_losses, val_losses : ndarray
            Mean loss per epoch (``val_losses`` is empty without validation data).

        Raises
        ------
        TrainingError
            If the training loss becomes NaN or infinite.
        FileFormatError
            If the checkpoint folder cannot be used or holds a damaged record.
        """
        if n_epochs < 1 or batch_size < 1:
            raise InputError(f"n_epochs and batch_size must be positive, got {n_epochs} and {batch_size}")
        every = _verbose_every(verbose, n_epochs)
        options = {
            "optimizer": optimizer,
            "n_epochs": n_epochs,
            "batch_size": batch_size,
            "initial_lr": initial_lr,
            "final_lr": final_lr,
            "nesterov_momentum": nesterov_momentum,
            "validation_split": validation_split,
            "early_stopping": early_stopping,
            "early_stopping_patience": early_stopping_patience,
            "clip_gradient": clip_gradient,
        }
        store = open_checkpoint(checkpoint, self._job(data, data_val, options, checkpoint_job))
        records = None if store is None else EpochCheckpoint(store)
        saved = None if records is None else records.latest()
        if saved is not None and saved["finished"]:
            return self._recorded_result(saved, store)
        if saved is not None:
            set_rng_state(saved["start_rng"], self.device)
        start_rng = rng_state(self.device)
        split = self._split(data, data_val, validation_split)
        if saved is not None:
            self.model.load_state_dict(saved["model"])
        opt = self._optimizer(optimizer, initial_lr, nesterov_momentum)
        if self.manual is not None:  # the steps of the whole training, resumed or not: one choice for all
            n_steps = training_steps(len(next(iter(split.train.values()))), n_epochs, batch_size)
            self._compiled = compiled_step(self.model, self.loss, opt, n_steps)
        progress = _Progress()
        if saved is not None:
            progress = self._resume(saved, opt, store)
        record = None if records is None else functools.partial(self._record, records, opt, start_rng)
        logger.info(
            "Training on %s samples (%s validation) on %s",
            len(next(iter(split.train.values()))),
            0 if split.val is None else len(next(iter(split.val.values()))),
            self.device,
        )
        schedule = _Schedule(n_epochs, batch_size, initial_lr, final_lr, clip_gradient, every)
        stopping = (early_stopping, early_stopping_patience)
        with _threads_for(self.model, self.device, batch_size, self._compiled is not None):
            try:
                self._run_epochs(split, opt, schedule, stopping, verbose != "none", progress, record)
            finally:
                self._graph, self._eager_full_steps = None, 0  # frees the graph's memory pool
                self._compiled = None
                release_optimizer(opt)
        if store is not None:
            store.clear()
        return progress.losses()

    # ---------------------------------------------------------------- checkpoints

    def _job(
        self,
        data: Mapping[str, np.ndarray],
        data_val: Mapping[str, np.ndarray] | None,
        options: dict[str, Any],
        extra: Any,
    ) -> dict[str, Any]:
        """What the result of :meth:`train` depends on (the fingerprint of its checkpoint folder)."""
        return {
            "task": "motherlode.ml.trainer.Trainer.train",
            "data": dict(data),
            "data_val": None if data_val is None else dict(data_val),
            "options": options,
            "model": describe_model(self.model),
            "loss": self.loss,
            "forward": self.forward,
            "manual": self.manual,
            "dtype": str(self.dtype),
            "device": str(self.device),
            "cuda_graphs": self.cuda_graphs,
            "torch": torch.__version__,
            "job": extra,
        }

    def _record(
        self,
        records: EpochCheckpoint,
        opt: Optimizer,
        start_rng: dict[str, torch.Tensor | None],
        progress: _Progress,
    ) -> None:
        """Record the state after an epoch (or the final one) in the checkpoint folder."""
        records.record(
            {
                **progress.record(),
                "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
                "optimizer": opt.state_dict(),
                "start_rng": start_rng,
                "rng": rng_state(self.device),
            }
        )

    def _resume(self, saved: dict[str, Any], opt: Optimizer, store: Checkpoint | None) -> _Progress:
        """Continue from a record: the optimiser state, the progress and the random state after its epoch."""
        load_optimizer_state(opt, saved["optimizer"])
        set_rng_state(saved["rng"], self.device)
        progress = _Progress.from_record(saved)
        logger.info(
            "Resuming the training after epoch %d (checkpoint %s)",
            progress.epochs,
            None if store is None else store.directory,
        )
        return progress

    def _recorded_result(
        self, saved: dict[str, Any], store: Checkpoint | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The result of a finished training found in the checkpoint folder (which is then removed)."""
        self.model.load_state_dict(saved["model"])
        set_rng_state(saved["rng"], self.device)
        progress = _Progress.from_record(saved)
        logger.info("The training had finished after %d epochs: restoring its result", progress.epochs)
        if store is not None:
            store.clear()
        return progress.losses()

    # ---------------------------------------------------------------- epochs

    def _run_epochs(
        self,
        split: _Split,
        opt: Optimizer,
        schedule: _Schedule,
        stopping: tuple[bool, int | None],
        bar_enabled: bool,
        progress: _Progress,
        record: Callable[[_Progress], None] | None = None,
    ) -> None:
        """The epoch loop from ``progress`` on: train, validate, log, keep the best weights, ``record`` the
        state after each epoch; restore the best weights at the end and record the final state."""
        n_train = len(next(iter(split.train.values())))
        with progress_bar(
            total=schedule.n_epochs * n_train,
            desc="Training",
            unit="samples",
            enabled=None if bar_enabled else False,
        ) as bar:
            bar.update(progress.epochs * n_train)
            for epoch in range(progress.epochs, schedule.n_epochs):
                if self._epoch(epoch, split, opt, schedule, stopping, progress, bar):
                    break
                if record is not None:
                    record(progress)
        progress.finished = True
        self._restore(progress.best, len(progress.train_losses))
        if record is not None:
            record(progress)

    def _epoch(
        self,
        epoch: int,
        split: _Split,
        opt: Optimizer,
        schedule: _Schedule,
        stopping: tuple[bool, int | None],
        progress: _Progress,
        bar: Any,
    ) -> bool:
        """Train and validate epoch ``epoch`` and update ``progress``; whether the patience has run out."""
        early_stopping, patience = stopping
        set_learning_rate(opt, schedule.learning_rate(epoch))
        train_loss = self._train_epoch(split.train, opt, schedule.batch_size, schedule.clip_gradient, bar)
        if not math.isfinite(train_loss):
            raise TrainingError(
                f"Training loss is {train_loss} in epoch {epoch + 1}; lower the learning rate, "
                "set clip_gradient, or check the inputs for NaN/inf values"
            )
        progress.train_losses.append(train_loss)
        val_loss, parts = (math.nan, {}) if split.val is None else self.evaluate_loss(split.val)
        if split.val is not None:
            progress.val_losses.append(val_loss)
        progress.epochs = epoch + 1
        self._log_epoch(epoch, schedule.n_epochs, train_loss, val_loss, parts, schedule.log_every)
        if early_stopping and split.val is not None and math.isfinite(val_loss):
            best = progress.best
            if best is None or val_loss < best[0]:
                progress.best = (val_loss, epoch, copy.deepcopy(self.model.state_dict()))
            elif patience is not None and epoch - best[1] > patience:
                logger.info("No improvement for %s epochs, stopping", patience)
                return True
        return False

    def _restore(self, best: Best | None, n_done: int) -> None:
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
