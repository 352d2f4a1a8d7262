"""The networks of the morphing-aware ratio estimators (:mod:`motherlode.ml.morphing_aware`).

:class:`MorphingAwareRatioModel` combines one :class:`~motherlode.ml.networks.dense.DenseNetwork` per basis
benchmark with the analytic morphing weights :func:`torch_morphing_weights`;
:class:`QuadraticMorphingAwareRatioModel` is the one-parameter quadratic special case.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from motherlode.errors import InputError
from motherlode.ml.networks.dense import DenseNetwork, differentiable, parameter_gradients

__all__ = [
    "CLAMP_LOG_RATIO",
    "MorphingAwareRatioModel",
    "QuadraticMorphingAwareRatioModel",
    "torch_morphing_weights",
]

#: Clamp of the log component ratios, of the numerator, denominator and ratio (MadMiner's value).
CLAMP_LOG_RATIO = 5.0


def _score(
    log_r_hat: torch.Tensor, theta: torch.Tensor, track_score: bool, create_graph: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Return ``(log_r_hat, d log_r_hat / d theta)`` (the score only if ``track_score``)."""
    if not track_score:
        return log_r_hat, None
    (t_hat,) = parameter_gradients(log_r_hat, (theta,), create_graph)
    return log_r_hat, t_hat


def torch_morphing_weights(
    theta: torch.Tensor,
    components: torch.Tensor,
    morphing_matrix: torch.Tensor,
    max_power: int | None = None,
) -> torch.Tensor:
    r"""Differentiable morphing weights :math:`w(\theta) = M^T c(\theta)`.

    They are computed in the dtype of ``morphing_matrix`` (float64 in the models).

    The monomials :math:`c_k(\theta) = \prod_p \theta_p^{n_{kp}}` are built from a table of powers by
    repeated multiplication (no ``pow`` with exponent 0, whose derivatives at theta = 0 are fragile).

    Parameters
    ----------
    theta : torch.Tensor
        Parameter points ``(n, n_parameters)``.
    components : torch.Tensor
        Integer exponents ``(n_components, n_parameters)``.
    morphing_matrix : torch.Tensor
        ``(n_components, n_benchmarks)``.
    max_power : int, optional
        The largest exponent in ``components``; pass it to avoid reading it from the device (a host
        synchronisation, which a CUDA graph cannot capture).

    Returns
    -------
    torch.Tensor
        ``(n, n_benchmarks)``.
    """
    theta = theta.to(morphing_matrix.dtype)
    if max_power is None:
        max_power = int(components.max()) if components.numel() else 0
    powers = [torch.ones_like(theta)]
    for _ in range(max_power):
        powers.append(powers[-1] * theta)
    table = torch.stack(powers, dim=-1)  # (n, P, K + 1)
    n_parameters = components.shape[1]
    factors = table[:, torch.arange(n_parameters, device=theta.device), components]  # (n, C, P)
    c = factors[..., 0]
    for p in range(1, n_parameters):
        c = c * factors[..., p]
    return torch.einsum("cn,bc->bn", morphing_matrix, c)


class MorphingAwareRatioModel(nn.Module):
    r"""``(theta, x) -> log r_hat(x|theta)`` with the exact morphing structure in theta.

    One dense network per basis benchmark ``b`` gives :math:`r_b(x) = \exp(\mathrm{clamp}(NN_b(x), \pm 5))`;
    learnable :math:`\log\sigma_b` (initialised to 0) give the cross-section ratios. Numerator, denominator
    and ratio are clamped to :math:`[e^{-5}, e^5]` as in MadMiner: the numerator and denominator can be
    negative during training (morphing weights are), and the clamp keeps the logarithm defined.

    The networks are separate (not one network with ``n_benchmarks`` outputs, whose shared hidden layers
    would be a different model). They are kept as a ``ModuleList`` ``dsigma_component_estimators`` of
    :class:`~motherlode.ml.networks.DenseNetwork`, so the state dict has MadMiner's keys (for activations
    without parameters). A batched evaluation (weights stacked per layer, one ``bmm``) was measured on CPU
    and was not faster than the loop with the score's double backward, so the networks are evaluated one
    after the other.

    Parameters
    ----------
    components : ndarray of int
        Morphing components ``(n_components, n_parameters)``.
    morphing_matrix : ndarray
        ``(n_components, n_benchmarks)``.
    n_observables : int
        Dimension of x.
    n_hidden : sequence of int
        Hidden layer sizes of each network.
    activation : str, optional
        Activation name. Default ``"tanh"``.
    dropout_prob : float, optional
        Dropout probability. Default 0.
    clamp : float, optional
        The clamp of the log ratios. Default 5 (MadMiner).
    """

    components: torch.Tensor  # buffers, registered in __init__
    morphing_matrix: torch.Tensor

    def __init__(
        self,
        components: np.ndarray,
        morphing_matrix: np.ndarray,
        n_observables: int,
        n_hidden: Sequence[int],
        activation: str = "tanh",
        dropout_prob: float = 0.0,
        clamp: float = CLAMP_LOG_RATIO,
    ) -> None:
        super().__init__()
        components = np.asarray(components, dtype=np.int64)
        morphing_matrix = np.asarray(morphing_matrix, dtype=np.float64)
        check_morphing(components, morphing_matrix)
        self.n_parameters = components.shape[1]
        self.n_benchmarks = morphing_matrix.shape[1]
        self.clamp = float(clamp)
        self.max_power = int(components.max()) if components.size else 0
        self.register_buffer("components", torch.as_tensor(components))
        self.register_buffer("morphing_matrix", torch.as_tensor(morphing_matrix))
        self.dsigma_component_estimators = nn.ModuleList(
            DenseNetwork(n_observables, n_hidden, 1, activation, dropout_prob)
            for _ in range(self.n_benchmarks)
        )
        self.log_sigma_ratio_components = nn.Parameter(torch.zeros((self.n_benchmarks, 1)))

    def morphing_weights(self, theta: torch.Tensor) -> torch.Tensor:
        """Morphing weights ``(n, n_benchmarks)`` in float64, differentiable in ``theta``."""
        return torch_morphing_weights(theta, self.components, self.morphing_matrix, self.max_power)

    def log_component_ratios(self, x: torch.Tensor) -> torch.Tensor:
        """Unclamped network outputs ``log r_b(x)``, shape ``(n, n_benchmarks)``."""
        return torch.cat([net(x) for net in self.dsigma_component_estimators], dim=1)

    def forward(
        self,
        theta: torch.Tensor,
        x: torch.Tensor,
        track_score: bool = True,
        create_graph: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Compute ``log r_hat`` ``(n, 1)`` and, if ``track_score``, the score ``(n, n_parameters)``.

        Parameters
        ----------
        theta : torch.Tensor
            Parameter points ``(n, n_parameters)`` in physical units.
        x : torch.Tensor
            Observations ``(n, n_observables)`` (already scaled).
        track_score : bool, optional
            Compute the score by autograd (needs gradients enabled).
        create_graph : bool, optional
            Keep the graph of the score (training with a score loss).
        """
        theta = differentiable(theta) if track_score else theta
        low, high = math.exp(-self.clamp), math.exp(self.clamp)
        r_b = torch.exp(self.log_component_ratios(x).clamp(-self.clamp, self.clamp)).double()
        sigma_b = torch.exp(self.log_sigma_ratio_components.clamp(-self.clamp, self.clamp)).double()
        weights = self.morphing_weights(theta)
        numerator = (weights * r_b).sum(dim=1, keepdim=True).clamp(low, high)
        denominator = (weights @ sigma_b).clamp(low, high)
        log_r_hat = (torch.log(numerator) - torch.log(denominator)).clamp(-self.clamp, self.clamp)
        return _score(log_r_hat.to(x.dtype), theta, track_score, create_graph)


class QuadraticMorphingAwareRatioModel(nn.Module):
    r"""Quadratic morphing-aware model, one parameter, reference theta = 0.

    :math:`\hat r = ((1+\theta A)^2 + (\theta B)^2) / ((1+\theta a)^2 + (\theta b)^2)`.

    ``A(x)`` and ``B(x)`` are two separate dense networks (``dsigma_a``, ``dsigma_b``, MadMiner's names);
    ``a`` and ``b`` (``sigma_a``, ``sigma_b``) are learnable scalars initialised to 1 as in MadMiner (not
    to 0: ``b`` enters squared, so ``b = 0`` is a stationary point that gradient descent never leaves).
    ``log r_hat = log(numerator + 1e-9) - log(denominator + 1e-9)``: both are sums of squares, the small
    offset only guards against an exact zero.

    Parameters
    ----------
    n_observables : int
        Dimension of x.
    n_hidden : sequence of int
        Hidden layer sizes.
    activation : str, optional
        Activation name. Default ``"tanh"``.
    dropout_prob : float, optional
        Dropout probability. Default 0.
    """

    _EPS = 1.0e-9

    def __init__(
        self, n_observables: int, n_hidden: Sequence[int], activation: str = "tanh", dropout_prob: float = 0.0
    ) -> None:
        super().__init__()
        self.n_parameters = 1
        self.dsigma_a = DenseNetwork(n_observables, n_hidden, 1, activation, dropout_prob)
        self.dsigma_b = DenseNetwork(n_observables, n_hidden, 1, activation, dropout_prob)
        self.sigma_a = nn.Parameter(torch.ones((1,)))
        self.sigma_b = nn.Parameter(torch.ones((1,)))

    def forward(
        self,
        theta: torch.Tensor,
        x: torch.Tensor,
        track_score: bool = True,
        create_graph: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Compute ``log r_hat`` ``(n, 1)`` and, if ``track_score``, the score ``(n, 1)``.

        ``theta`` has shape ``(n, 1)`` in physical units; ``x`` is already scaled.
        """
        theta = differentiable(theta) if track_score else theta
        numerator = (1.0 + theta * self.dsigma_a(x)) ** 2 + (theta * self.dsigma_b(x)) ** 2
        denominator = (1.0 + theta * self.sigma_a) ** 2 + (theta * self.sigma_b) ** 2
        log_r_hat = torch.log(numerator + self._EPS) - torch.log(denominator + self._EPS)
        return _score(log_r_hat, theta, track_score, create_graph)


def check_morphing(components: np.ndarray, morphing_matrix: np.ndarray) -> None:
    if components.ndim != 2 or morphing_matrix.ndim != 2 or len(components) != len(morphing_matrix):
        raise InputError(
            f"Morphing components {components.shape} and matrix {morphing_matrix.shape} do not match: "
            "expected (n_components, n_parameters) and (n_components, n_benchmarks)"
        )
    if np.any(components < 0):
        raise InputError("Morphing components must be non-negative integers")
