"""Conditional normalising flows for the density estimators: a masked autoregressive flow on zuko.

:class:`ConditionalMAF` wraps a :class:`zuko.flows.MAF` conditioned on the (scaled) parameters, with an
optional :class:`BatchNormTransform` after each MADE and a Gaussian-mixture base; see
:mod:`motherlode.ml.likelihood` for the design and the differences from MadMiner.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
import zuko
from torch import nn
from torch.distributions import Transform, constraints

from motherlode.ml.networks.dense import differentiable, make_activation, parameter_gradients

__all__ = ["BatchNormTransform", "ConditionalMAF"]

_BN_EPS = 1.0e-5


class _BatchNormBijection(Transform):
    """``u = (x - mean) / sqrt(var)`` with statistics from ``norm`` (batch or running, see its mode)."""

    domain = constraints.independent(constraints.real, 1)
    codomain = constraints.independent(constraints.real, 1)
    bijective = True
    sign = +1

    def __init__(self, norm: BatchNormTransform) -> None:
        super().__init__()
        self.norm = norm

    def call_and_ladj(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._apply(x, update=True)

    def _apply(self, x: torch.Tensor, update: bool) -> tuple[torch.Tensor, torch.Tensor]:
        mean, var = self.norm.statistics(x, update)
        ladj = -0.5 * torch.log(var).sum(dim=-1)
        return (x - mean) * torch.rsqrt(var), ladj.expand(x.shape[:-1])

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return self._apply(x, update=True)[0]

    def _inverse(self, u: torch.Tensor) -> torch.Tensor:
        return u * torch.sqrt(self.norm.running_var) + self.norm.running_mean

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self._apply(x, update=False)[1]


class BatchNormTransform(zuko.lazy.LazyTransform):
    """Batch-normalisation bijection placed after each MADE (MadMiner's ``BatchNorm``, without its bugs).

    Training mode normalises with the batch mean and variance (+1e-5) and updates the running averages
    ``running = (1 - alpha) * running + alpha * batch`` (the first batch initialises them); eval mode uses
    the running averages. The running statistics are buffers, saved with the state dict. (MadMiner keeps
    them as plain attributes, which are not saved, and never sets its "initialised" flag, so its running
    statistics are those of the last training batch.)

    Parameters
    ----------
    features : int
        Number of observables.
    alpha : float
        Weight of the current batch in the running averages.
    """

    def __init__(self, features: int, alpha: float) -> None:
        super().__init__()
        self.alpha = float(alpha)
        self.register_buffer("running_mean", torch.zeros(features))
        self.register_buffer("running_var", torch.ones(features))
        self.register_buffer("n_updates", torch.zeros((), dtype=torch.long))

    def statistics(self, x: torch.Tensor, update: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance used to normalise ``x`` (batch statistics in training mode)."""
        if not self.training:
            return self.running_mean, self.running_var
        flat = x.reshape(-1, x.shape[-1])
        mean = flat.mean(dim=0)
        var = ((flat - mean) ** 2).mean(dim=0) + _BN_EPS
        if update:
            with torch.no_grad():
                weight = torch.where(self.n_updates == 0, 1.0, self.alpha).to(mean.dtype)
                self.running_mean.lerp_(mean.detach(), weight)
                self.running_var.lerp_(var.detach(), weight)
                self.n_updates += 1
        return mean, var

    def forward(self, c: torch.Tensor | None = None) -> Transform:
        del c
        return _BatchNormBijection(self)

    def extra_repr(self) -> str:
        return f"features={len(self.running_mean)}, alpha={self.alpha}"


class ConditionalMAF(nn.Module):
    """A zuko MAF for ``p(x|theta)``, with optional batch norm and Gaussian-mixture base (module docstring).

    Parameters
    ----------
    n_observables, n_parameters : int
        Dimensions of ``x`` (the flow's features) and ``theta`` (its context).
    n_mades : int
        Number of autoregressive transforms.
    n_hidden : sequence of int
        Hidden layers of each MADE (and of the mixture's MLP).
    activation : str
        Activation name, see :data:`motherlode.ml.networks.ACTIVATIONS`.
    n_components : int
        Number of Gaussian components of the base density (1: standard normal).
    batch_norm : float or None
        ``alpha`` of the batch-norm transforms after each MADE; None: no batch norm.
    """

    def __init__(
        self,
        n_observables: int,
        n_parameters: int,
        n_mades: int,
        n_hidden: Sequence[int],
        activation: str,
        n_components: int = 1,
        batch_norm: float | None = None,
    ) -> None:
        super().__init__()
        make_activation(activation)  # raises InputError for unknown names
        mlp = {
            "hidden_features": tuple(n_hidden),
            "activation": functools.partial(make_activation, activation),
        }
        self.flow = zuko.flows.MAF(n_observables, n_parameters, transforms=n_mades, randperm=False, **mlp)
        if batch_norm is not None:
            layers: list[nn.Module] = []
            for made in self.flow.transform.transforms:
                layers += [made, BatchNormTransform(n_observables, batch_norm)]
            self.flow.transform = zuko.lazy.LazyComposedTransform(*layers)
        if n_components > 1:
            self.flow.base = zuko.mixtures.GMM(
                n_observables, n_parameters, components=n_components, covariance_type="diagonal", **mlp
            )

    def forward(
        self, theta: torch.Tensor, x: torch.Tensor, track_score: bool = False, create_graph: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``log p(x|theta)`` of shape ``(n,)`` and, if ``track_score``, ``d log p / d theta`` ``(n, P)``."""
        if not track_score:
            return self.flow(theta).log_prob(x), None
        with torch.enable_grad():
            theta = differentiable(theta)
            log_p = self.flow(theta).log_prob(x)
            (t_hat,) = parameter_gradients(log_p, (theta,), create_graph)
        return log_p, t_hat
