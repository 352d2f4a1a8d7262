"""Adam, AMSGrad and SGD over one flat buffer of a network's parameters.

The networks of this package are small: a training step on the CPU costs what its operations cost to
dispatch, not what they compute. ``torch.optim.Adam`` updates each parameter tensor in turn from Python
(about 0.2 ms per step for a network with two hidden layers) and, on its first construction in a process,
imports ``torch._dynamo`` and sympy (about 1 s). :class:`FlatOptimizer` instead points every parameter at a
slice of one contiguous buffer, so that an update is a handful of operations on that buffer, whatever the
number of layers. Adam and AMSGrad run as one call of the fused kernel behind ``torch.optim.Adam(fused=True)``
(``torch._fused_adam_``; a few buffer operations where this torch lacks it for the device). The updates
are those of ``torch.optim.Adam`` (with ``amsgrad``) and of ``torch.optim.SGD`` with Nesterov momentum, to
float rounding.

>>> import torch
>>> layer = torch.nn.Linear(3, 2)
>>> opt = FlatOptimizer(list(layer.parameters()), "amsgrad", lr=0.01)
>>> layer(torch.ones(4, 3)).sum().backward()
>>> opt.step()
>>> opt.release()  # the parameters own their storage again
>>> layer.weight.data_ptr() != layer.bias.data_ptr()
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from motherlode.errors import InputError

__all__ = ["ADAM_EPS", "BETA1", "BETA2", "CLIP_EPS", "OPTIMIZERS", "FlatOptimizer"]

OPTIMIZERS = ("amsgrad", "adam", "sgd")
"""The optimiser names accepted by the training loops (MadMiner's)."""

BETA1, BETA2, ADAM_EPS = 0.9, 0.999, 1e-8
"""Adam's and AMSGrad's betas and epsilon (torch's defaults)."""
CLIP_EPS = 1e-6
"""Added to the gradient norm when clipping, as ``torch.nn.utils.clip_grad_norm_``."""


class FlatOptimizer:
    """Adam, AMSGrad or SGD (Nesterov momentum when given) on a flat view of ``params``.

    On construction the parameters are copied into one contiguous buffer and each is re-pointed at its
    slice (their values and ``requires_grad`` stay); call :meth:`release` after training to give every
    parameter its own storage back.

    Parameters
    ----------
    params : sequence of torch.Tensor
        The parameters to train (all on one device, of one dtype).
    optimizer : {"amsgrad", "adam", "sgd"}
        The update rule: Adam with the default betas (0.9, 0.999) and eps 1e-8, its AMSGrad variant, or
        stochastic gradient descent.
    lr : float
        Learning rate (change it through ``param_groups[0]["lr"]``, as for a ``torch.optim`` optimiser).
    nesterov_momentum : float, optional
        Momentum of SGD with Nesterov's update (None or 0: plain SGD).

    Raises
    ------
    InputError
        For an unknown optimiser name.
    """

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        optimizer: str = "amsgrad",
        lr: float = 0.001,
        nesterov_momentum: float | None = None,
    ) -> None:
        if optimizer not in OPTIMIZERS:
            raise InputError(f"Unknown optimizer {optimizer!r}; expected {', '.join(OPTIMIZERS)}")
        self.params = list(params)
        self.kind = optimizer
        self.momentum = float(nesterov_momentum or 0.0)
        self.param_groups: list[dict[str, Any]] = [{"lr": float(lr), "params": self.params}]
        with torch.no_grad():
            self.flat = torch.cat([p.detach().reshape(-1) for p in self.params])
        self.gradient = torch.zeros_like(self.flat)
        self.gradient_views: list[torch.Tensor] = []
        offset = 0
        for p in self.params:
            p.data = self.flat[offset : offset + p.numel()].view_as(p)
            self.gradient_views.append(self.gradient[offset : offset + p.numel()].view_as(p))
            offset += p.numel()
        self.steps = 0
        zeros = torch.zeros_like
        self.first_moment = zeros(self.flat) if optimizer != "sgd" or self.momentum else None
        self.second_moment = zeros(self.flat) if optimizer != "sgd" else None
        self.max_second_moment = zeros(self.flat) if optimizer == "amsgrad" else None
        self._fused = hasattr(torch, "_fused_adam_") and optimizer != "sgd"
        self._step_count = torch.zeros((), dtype=torch.float32, device=self.flat.device)

    @property
    def lr(self) -> float:
        return float(self.param_groups[0]["lr"])

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the parameters' ``.grad`` (as ``torch.optim.Optimizer.zero_grad``)."""
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def flat_gradient(self, grads: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
        """``grads`` (default: the parameters' ``.grad``; None counts as zero) as one flat tensor."""
        grads = [p.grad for p in self.params] if grads is None else list(grads)
        return torch.cat(
            [
                torch.zeros_like(p).reshape(-1) if g is None else g.reshape(-1)
                for p, g in zip(self.params, grads, strict=True)
            ]
        )

    @torch.no_grad()
    def step(
        self, grads: Sequence[torch.Tensor | None] | None = None, clip_gradient: float | None = None
    ) -> None:
        """One update with ``grads`` (one per parameter; default their ``.grad``).

        ``clip_gradient`` first scales the gradient to at most this norm, as
        ``torch.nn.utils.clip_grad_norm_``.
        """
        self._update(self.flat_gradient(grads), clip_gradient)

    @torch.no_grad()
    def step_written(self, clip_gradient: float | None = None) -> None:
        """One update with the gradient written into :attr:`gradient_views` (one contiguous view of
        :attr:`gradient` per parameter; a hand-written backward pass writes there, which saves gathering the
        gradients). Clipping as in :meth:`step`."""
        self._update(self.gradient, clip_gradient)

    def _update(self, grad: torch.Tensor, clip_gradient: float | None) -> None:
        if clip_gradient is not None:
            scale = (clip_gradient / (torch.linalg.vector_norm(grad) + CLIP_EPS)).clamp_(max=1.0)
            grad.mul_(scale)
        self.steps += 1
        if self.kind == "sgd":
            self._sgd(grad)
        else:
            self._adam(grad)

    def _adam(self, grad: torch.Tensor) -> None:
        assert self.first_moment is not None and self.second_moment is not None
        if self._fused:
            self._step_count.fill_(self.steps)
            try:
                torch._fused_adam_(
                    [self.flat],
                    [grad],
                    [self.first_moment],
                    [self.second_moment],
                    [] if self.max_second_moment is None else [self.max_second_moment],
                    [self._step_count],
                    lr=self.lr,
                    beta1=BETA1,
                    beta2=BETA2,
                    weight_decay=0.0,
                    eps=ADAM_EPS,
                    amsgrad=self.max_second_moment is not None,
                    maximize=False,
                )
                return
            except (RuntimeError, NotImplementedError):  # no fused kernel for this device or dtype
                self._fused = False
        self.first_moment.lerp_(grad, 1.0 - BETA1)
        self.second_moment.mul_(BETA2).addcmul_(grad, grad, value=1.0 - BETA2)
        second = self.second_moment
        if self.max_second_moment is not None:
            second = torch.maximum(self.max_second_moment, second, out=self.max_second_moment)
        denominator = second.sqrt().div_(math.sqrt(1.0 - BETA2**self.steps)).add_(ADAM_EPS)
        step_size = self.lr / (1.0 - BETA1**self.steps)
        self.flat.addcdiv_(self.first_moment, denominator, value=-step_size)

    def _sgd(self, grad: torch.Tensor) -> None:
        if self.first_moment is not None:  # Nesterov: buf = mu buf + g; g += mu buf
            if self.steps == 1:
                self.first_moment.copy_(grad)
            else:
                self.first_moment.mul_(self.momentum).add_(grad)
            grad = grad.add(self.first_moment, alpha=self.momentum)
        self.flat.add_(grad, alpha=-self.lr)

    _MOMENTS = ("first_moment", "second_moment", "max_second_moment")

    def state_dict(self) -> dict[str, Any]:
        """The optimiser's state, to continue a training exactly (:meth:`load_state_dict`).

        A dict of plain values and tensors (copies), which ``torch.load(..., weights_only=True)`` reads:
        the update rule, the momentum, the learning rate, the step count and the moment buffers (Adam's
        first and second moments, AMSGrad's maximum second moment, SGD's momentum buffer) that this
        optimiser keeps (None for those it does not). The parameters themselves are the model's.
        """
        state: dict[str, Any] = {
            "kind": self.kind,
            "momentum": self.momentum,
            "lr": self.lr,
            "steps": self.steps,
            "n_parameters": self.flat.numel(),
        }
        for name in self._MOMENTS:
            moment = getattr(self, name)
            state[name] = None if moment is None else moment.detach().clone()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict` of an optimiser of the same kind over as many parameters.

        Raises
        ------
        InputError
            If ``state`` belongs to another update rule, momentum or number of parameters.
        """
        mine = (self.kind, self.momentum, self.flat.numel())
        theirs = (state.get("kind"), state.get("momentum"), state.get("n_parameters"))
        if mine != theirs:
            raise InputError(
                f"Optimiser state of {theirs} (kind, momentum, parameters) does not fit this optimiser {mine}"
            )
        with torch.no_grad():
            for name in self._MOMENTS:
                moment, saved = getattr(self, name), state.get(name)
                if (moment is None) != (saved is None):
                    raise InputError(f"Optimiser state: {name} is {'missing' if saved is None else 'extra'}")
                if moment is not None:
                    moment.copy_(saved)
        self.steps = int(state["steps"])
        self.param_groups[0]["lr"] = float(state["lr"])

    def release(self) -> None:
        """Give every parameter its own storage again (after training); the optimiser cannot step after."""
        for p in self.params:
            p.data = p.data.clone()
        self.params = []
