"""Fully connected networks used by the neural estimators.

The layer layout follows MadMiner: the ``Linear`` layers live in a ``ModuleList`` called ``layers``, so a
state dict of a MadMiner network without dropout has the same keys (``layers.0.weight``, ...).
Unlike MadMiner,

* ``activation="sigmoid"`` is a real sigmoid (MadMiner maps it to ReLU);
* ``prelu`` is a learnable :class:`torch.nn.PReLU` per hidden layer (MadMiner's functional call cannot run);
* dropout is applied once, after each hidden activation (MadMiner applies the activation again after dropout).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence

import torch
from torch import nn

from motherlode.errors import InputError

__all__ = [
    "ACTIVATIONS",
    "DenseNetwork",
    "ParameterizedRatioModel",
    "differentiable",
    "make_activation",
    "parameter_gradients",
]

logger = logging.getLogger(__name__)

_STATELESS: dict[str, Callable[[], nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "lrelu": nn.LeakyReLU,
    "rrelu": nn.RReLU,
    "prelu": nn.PReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "log_sigmoid": nn.LogSigmoid,
    "softplus": nn.Softplus,
}

ACTIVATIONS: tuple[str, ...] = tuple(_STATELESS)
"""The activation names accepted by the networks (MadMiner's list)."""


def make_activation(name: str) -> nn.Module:
    """Return a fresh activation module for ``name`` (one of :data:`ACTIVATIONS`).

    Raises
    ------
    InputError
        If the name is unknown.
    """
    try:
        return _STATELESS[name]()
    except KeyError:
        raise InputError(f"Unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}") from None


def differentiable(theta: torch.Tensor) -> torch.Tensor:
    """``theta`` as a tensor that autograd differentiates with respect to (a fresh leaf if it is not one)."""
    return theta if theta.requires_grad else theta.detach().requires_grad_(True)


def parameter_gradients(
    output: torch.Tensor, thetas: tuple[torch.Tensor, ...], create_graph: bool
) -> tuple[torch.Tensor, ...]:
    """The scores: per-sample derivatives of ``output`` (one value per sample, samples independent)
    with respect to each of ``thetas`` (made with :func:`differentiable`).

    ``create_graph`` keeps their graph, so that a loss on them can be back-propagated (training).
    """
    return torch.autograd.grad(
        output, thetas, grad_outputs=torch.ones_like(output), create_graph=create_graph
    )


def _check_hidden(n_hidden: Sequence[int]) -> tuple[int, ...]:
    hidden = tuple(int(h) for h in n_hidden)
    if any(h < 1 for h in hidden):
        raise InputError(f"n_hidden must contain positive layer sizes, got {n_hidden!r}")
    return hidden


class DenseNetwork(nn.Module):
    """A multilayer perceptron with linear output: ``Linear -> act -> dropout -> ... -> Linear``.

    Parameters
    ----------
    n_inputs : int
        Input dimension.
    n_hidden : sequence of int
        Units of the hidden layers.
    n_outputs : int
        Output dimension.
    activation : str, optional
        One of :data:`ACTIVATIONS`. Default ``"tanh"``.
    dropout_prob : float, optional
        Dropout probability applied after each hidden activation. Default 0.
    """

    def __init__(
        self,
        n_inputs: int,
        n_hidden: Sequence[int],
        n_outputs: int,
        activation: str = "tanh",
        dropout_prob: float = 0.0,
    ) -> None:
        super().__init__()
        hidden = _check_hidden(n_hidden)
        if not 0.0 <= dropout_prob < 1.0:
            raise InputError(f"dropout_prob must be in [0, 1), got {dropout_prob}")
        sizes = (int(n_inputs), *hidden, int(n_outputs))
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.activations = nn.ModuleList(make_activation(activation) for _ in hidden)
        self.dropout = nn.Dropout(dropout_prob) if dropout_prob > 0.0 else nn.Identity()

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Evaluate the network on a batch ``(n, n_inputs)``; returns ``(n, n_outputs)``."""
        h = inputs
        for layer, act in zip(self.layers[:-1], self.activations, strict=True):
            h = self.dropout(act(layer(h)))
        return self.layers[-1](h)


class ParameterizedRatioModel(DenseNetwork):
    """The network of the parameterized ratio estimator: ``(theta, x) -> log r_hat(x|theta)``.

    The score ``t_hat = d log r_hat / d theta`` is obtained by autograd.

    Parameters
    ----------
    n_observables, n_parameters : int
        Dimensions of x and theta.
    n_hidden : sequence of int
        Hidden layer sizes.
    activation : str, optional
        Activation name. Default ``"tanh"``.
    dropout_prob : float, optional
        Dropout probability. Default 0.
    """

    def __init__(
        self,
        n_observables: int,
        n_parameters: int,
        n_hidden: Sequence[int],
        activation: str = "tanh",
        dropout_prob: float = 0.0,
    ) -> None:
        super().__init__(int(n_observables) + int(n_parameters), n_hidden, 1, activation, dropout_prob)
        self.n_observables = int(n_observables)
        self.n_parameters = int(n_parameters)

    def forward(  # type: ignore[override]
        self,
        theta: torch.Tensor,
        x: torch.Tensor,
        track_score: bool = True,
        create_graph: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Compute ``log r_hat`` of shape ``(n, 1)`` and, if ``track_score``, the score ``(n, n_parameters)``.

        Parameters
        ----------
        theta : torch.Tensor
            Parameter points ``(n, n_parameters)`` (already scaled).
        x : torch.Tensor
            Observations ``(n, n_observables)`` (already scaled).
        track_score : bool, optional
            Whether to compute the score by autograd. Needs gradients enabled.
        create_graph : bool, optional
            Keep the graph of the score so that a loss on it can be back-propagated (training).
        """
        theta = differentiable(theta) if track_score else theta
        log_r_hat = super().forward(torch.cat((theta, x), dim=1))
        if not track_score:
            return log_r_hat, None
        (t_hat,) = parameter_gradients(log_r_hat, (theta,), create_graph)
        return log_r_hat, t_hat
