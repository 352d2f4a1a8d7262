"""Fully connected networks used by the neural estimators.

The layer layout follows MadMiner: the ``Linear`` layers live in a ``ModuleList`` called ``layers``, so a
state dict of a MadMiner network without dropout has the same keys (``layers.0.weight``, ...).
Unlike MadMiner,

* ``activation="sigmoid"`` is a real sigmoid (MadMiner maps it to ReLU);
* ``prelu`` is a learnable :class:`torch.nn.PReLU` per hidden layer (MadMiner's functional call cannot run);
* dropout is applied once, after each hidden activation (MadMiner applies the activation again after dropout).

Training without autograd's per-operation bookkeeping
-----------------------------------------------------
A training step of a small network on the CPU costs what its operations cost to dispatch, not what they
compute. For the methods with a score term, autograd differentiates the network twice: once for the score
``d log r / d theta`` (with ``create_graph``) and once more for the loss. :meth:`DenseNetwork.forward_pass`
instead carries the derivative with respect to the leading input columns (theta) forward through the layers
as a tangent, stacked below the activations as further rows of the batch (one matrix product per layer
carries both), and :meth:`DenseNetwork.backward_pass` back-propagates a loss gradient through both by hand,
with the activations' first and second derivatives, writing the parameter gradients where the optimiser
reads them; each loss of :mod:`motherlode.ml.losses` gives its value and its gradient with respect to the
outputs in closed form, from shared intermediate results. Gradients equal autograd's to float rounding
(tested in float64); a step takes a third to a half of the time. Networks with dropout or with a learnable
or random activation (``prelu``, ``rrelu``) train by autograd.
"""

from __future__ import annotations

import copy
import functools
import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

from motherlode.errors import InputError

__all__ = [
    "ACTIVATIONS",
    "DenseNetwork",
    "DensePass",
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


Derivative = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Curvature = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class _Calculus:
    """An activation ``f`` as a function, with ``f'(z)`` from ``(z, f(z))`` and ``f''(z)`` as
    ``curvature_scale`` times ``curvature(z, f, f')`` (a constant factor costs nothing where it is used)."""

    function: Callable[[torch.Tensor], torch.Tensor]
    slope: Derivative
    curvature: Curvature
    curvature_scale: float = 1.0
    has_out: bool = False  # ``function(z, out=...)`` writes into a given tensor

    def into(self, z: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``f(z)`` written into ``out``."""
        return self.function(z, out=out) if self.has_out else out.copy_(self.function(z))  # type: ignore[call-arg]


_UNITS: dict[tuple[torch.dtype, torch.device], torch.Tensor] = {}


def _unit(like: torch.Tensor) -> torch.Tensor:
    """A 0-d tensor 1 of ``like``'s dtype and device (kept: a Python scalar costs a conversion per use)."""
    key = (like.dtype, like.device)
    if key not in _UNITS:
        with torch.inference_mode(False):
            _UNITS[key] = torch.ones((), dtype=like.dtype, device=like.device)
    return _UNITS[key]


def _tanh_slope(z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return torch.addcmul(_unit(a), a, a, value=-1.0)  # 1 - a^2


def _tanh_curvature(z: torch.Tensor, a: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    return torch.mul(a, d)  # times -2


def _sigmoid_slope(z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return a * (1.0 - a)


def _sigmoid_curvature(z: torch.Tensor, a: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    return d * (1.0 - 2.0 * a)


def _piecewise_linear_slope(negative_slope: float) -> Derivative:
    def slope(z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return (z > 0).to(z.dtype).mul_(1.0 - negative_slope).add_(negative_slope)

    return slope


def _zero_curvature(z: torch.Tensor, a: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(z)


def _elu_slope(scale: float, alpha: float) -> Derivative:
    def slope(z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:  # z <= 0: a + scale * alpha
        return torch.where(z > 0, scale, a + scale * alpha)

    return slope


def _elu_curvature(scale: float, alpha: float) -> Curvature:
    def curvature(z: torch.Tensor, a: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        return torch.where(z > 0, 0.0, a + scale * alpha)

    return curvature


def _logistic_curvature(z: torch.Tensor, a: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    return d * (1.0 - d)  # softplus: f' = sigmoid(z)


def _log_sigmoid_curvature(z: torch.Tensor, a: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    return d * (d - 1.0)  # f' = sigmoid(-z)


def _leaky_relu(z: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(z, 0.01)


_SELU_SCALE, _SELU_ALPHA = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717

# the activations with closed-form derivatives, as the modules of ``_STATELESS`` compute them
_CALCULUS: dict[str, _Calculus] = {
    "tanh": _Calculus(torch.tanh, _tanh_slope, _tanh_curvature, curvature_scale=-2.0, has_out=True),
    "sigmoid": _Calculus(torch.sigmoid, _sigmoid_slope, _sigmoid_curvature, has_out=True),
    "relu": _Calculus(torch.relu, _piecewise_linear_slope(0.0), _zero_curvature),
    "lrelu": _Calculus(_leaky_relu, _piecewise_linear_slope(0.01), _zero_curvature),
    "elu": _Calculus(F.elu, _elu_slope(1.0, 1.0), _elu_curvature(1.0, 1.0)),
    "selu": _Calculus(
        torch.selu, _elu_slope(_SELU_SCALE, _SELU_ALPHA), _elu_curvature(_SELU_SCALE, _SELU_ALPHA)
    ),
    "softplus": _Calculus(F.softplus, lambda z, a: torch.sigmoid(z), _logistic_curvature),
    "log_sigmoid": _Calculus(F.logsigmoid, lambda z, a: torch.sigmoid(-z), _log_sigmoid_curvature),
}


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


@functools.lru_cache(maxsize=8)
def _tangent_seeds(
    n: int, n_tangent: int, width: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """``n_tangent`` blocks of ``n`` rows, block ``p`` the unit vector of input column ``p``: the
    derivatives of the inputs with respect to their first ``n_tangent`` columns, ``(n_tangent n, width)``."""
    with torch.inference_mode(False):  # kept: an ordinary tensor, usable in and out of inference mode
        seeds = torch.zeros(n_tangent, n, width, dtype=dtype, device=device)
        seeds[torch.arange(n_tangent), :, torch.arange(n_tangent)] = 1.0
    return seeds.view(-1, width)


@dataclass
class DensePass:
    """What :meth:`DenseNetwork.forward_pass` keeps for :meth:`DenseNetwork.backward_pass`.

    The pass carries a batch of ``n`` rows and, with ``n_tangent`` tangents, the derivatives of everything
    with respect to the first ``n_tangent`` input columns as further blocks of ``n`` rows below them
    (``(1 + n_tangent) n`` rows in all): one matrix product then carries the values and the tangents
    through a layer, and one gives the weight gradient of both. ``inputs`` are the inputs so stacked (the
    tangent blocks are unit vectors), ``layers`` the ``(weight, bias)`` of each linear layer, and
    ``stacked[l]`` the activations of hidden layer ``l`` and their tangents. ``slopes[l]`` and
    ``curvatures[l]`` are the activation's first and (up to the factor ``curvature_scale``) second
    derivatives with respect to the pre-activations (curvatures only with tangents), ``pushed[l]`` the
    tangents entering layer ``l`` before the slope multiplies them, ``(n_tangent, n, units)``.
    """

    inputs: torch.Tensor
    n: int
    n_tangent: int
    curvature_scale: float
    layers: list[tuple[torch.Tensor, torch.Tensor]]
    stacked: list[torch.Tensor]
    slopes: list[torch.Tensor]
    curvatures: list[torch.Tensor]
    pushed: list[torch.Tensor]


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
        self.layer_sizes: tuple[int, ...] = sizes
        """The widths of the inputs, the hidden layers and the outputs."""
        self.activation_name = activation
        """The activation's name (one of :data:`ACTIVATIONS`)."""
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.activations = nn.ModuleList(make_activation(activation) for _ in hidden)
        self.dropout = nn.Dropout(dropout_prob) if dropout_prob > 0.0 else nn.Identity()
        # the activation whose closed-form derivatives the hand-written passes use (None: autograd only)
        self._manual_activation = activation if activation in _CALCULUS and dropout_prob == 0.0 else None

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Evaluate the network on a batch ``(n, n_inputs)``; returns ``(n, n_outputs)``."""
        h = inputs
        for layer, act in zip(self.layers[:-1], self.activations, strict=True):
            h = self.dropout(act(layer(h)))
        return self.layers[-1](h)

    @property
    def supports_manual_gradients(self) -> bool:
        """Whether :meth:`forward_pass` and :meth:`backward_pass` apply: no dropout, an activation with
        closed-form derivatives (every activation except ``prelu`` and ``rrelu``)."""
        return self._manual_activation is not None

    def forward_pass(
        self, inputs: torch.Tensor, n_tangent: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor | None, DensePass]:
        """The outputs, their derivatives with respect to the first ``n_tangent`` inputs, and the pass.

        Runs without recording an autograd graph. Needs :attr:`supports_manual_gradients`.

        Parameters
        ----------
        inputs : torch.Tensor
            Batch ``(n, n_inputs)``.
        n_tangent : int, optional
            How many leading input columns to differentiate with respect to (0: none).

        Returns
        -------
        outputs : torch.Tensor
            ``(n, n_outputs)``, as :meth:`forward`.
        tangent : torch.Tensor or None
            ``d outputs / d inputs[:, :n_tangent]`` as ``(n, n_tangent, n_outputs)``; None without tangent.
        dense_pass : DensePass
            What :meth:`backward_pass` needs.
        """
        calculus = self._calculus()
        layers = self._layer_tensors()
        n = len(inputs)
        blocks = (n, n_tangent * n)  # the rows of the values and of the tangents
        with torch.no_grad():
            below = inputs
            if n_tangent:
                seeds = _tangent_seeds(n, n_tangent, inputs.shape[1], inputs.dtype, inputs.device)
                below = torch.cat((inputs, seeds))
            run = DensePass(below, n, n_tangent, calculus.curvature_scale, layers, [], [], [], [])
            for weight, bias in layers[:-1]:
                if n_tangent:  # values and tangents through the layer in one product
                    z, pushed = F.linear(below, weight).split(blocks)
                    z.add_(bias)
                    below = z.new_empty(n + n_tangent * n, z.shape[1])
                    a, tangent = below.split(blocks)
                    calculus.into(z, a)
                else:
                    z = F.linear(below, weight, bias)
                    below = a = calculus.function(z)
                slope = calculus.slope(z, a)
                run.stacked.append(below)
                run.slopes.append(slope)
                if n_tangent:
                    pushed = pushed.view(n_tangent, n, -1)
                    torch.mul(pushed, slope, out=tangent.view(n_tangent, n, -1))
                    run.curvatures.append(calculus.curvature(z, a, slope))
                    run.pushed.append(pushed)
            last_weight, last_bias = layers[-1]
            if not n_tangent:
                return F.linear(below, last_weight, last_bias), None, run
            outputs, tangent = F.linear(below, last_weight).split(blocks)
            outputs.add_(last_bias)
        return outputs, tangent.view(n_tangent, n, -1).transpose(0, 1), run

    def backward_pass(
        self,
        run: DensePass,
        grad_outputs: torch.Tensor,
        grad_tangent: torch.Tensor | None = None,
        out: Sequence[torch.Tensor] | None = None,
    ) -> list[torch.Tensor]:
        """Gradients of a loss with respect to the parameters, from its gradients with respect to the outputs.

        Parameters
        ----------
        run : DensePass
            From :meth:`forward_pass` with the current parameters.
        grad_outputs : torch.Tensor
            ``d loss / d outputs`` ``(n, n_outputs)``.
        grad_tangent : torch.Tensor, optional
            ``d loss / d tangent`` ``(n, n_tangent, n_outputs)`` (None: the loss does not use the tangent).
        out : sequence of torch.Tensor, optional
            Contiguous tensors shaped like ``self.parameters()`` to write the gradients into (for example
            the views of :attr:`motherlode.ml.optim.FlatOptimizer.gradient_views`).

        Returns
        -------
        list of torch.Tensor
            One gradient per tensor of ``self.parameters()``, in that order (``out`` when given).
        """
        targets: list[torch.Tensor | None] = list(out) if out is not None else [None] * (2 * len(self.layers))
        with torch.no_grad():
            return self._backward(run, grad_outputs, grad_tangent if run.n_tangent else None, targets)

    def _backward(
        self,
        run: DensePass,
        grad_out: torch.Tensor,
        grad_tangent: torch.Tensor | None,
        targets: list[torch.Tensor | None],
    ) -> list[torch.Tensor]:
        n, n_tangent, n_hidden = run.n, run.n_tangent, len(run.slopes)
        grads: list[torch.Tensor] = [grad_out] * (2 * n_hidden + 2)
        grads[-1] = torch.sum(grad_out, 0, out=targets[-1])
        # the gradients of the values (rows [:n]) and of the tangents (the blocks below), stacked as in run
        grad = grad_out
        if grad_tangent is not None:
            grad = torch.cat((grad_out, grad_tangent.transpose(0, 1).reshape(-1, grad_out.shape[1])))
        rows = len(grad)

        def below(index: int) -> torch.Tensor:  # the input of layer ``index``, the rows the gradient has
            tensor = run.stacked[index - 1] if index else run.inputs
            return tensor if len(tensor) == rows else tensor[:rows]

        grads[-2] = torch.mm(grad.t(), below(n_hidden), out=targets[-2])
        grad_h = torch.mm(grad, run.layers[-1][0]) if n_hidden else grad
        for index in range(n_hidden - 1, -1, -1):
            slope = run.slopes[index]
            if grad_tangent is None:
                grad_z = grad_h.mul_(slope)
            else:  # d loss / d tangent into d loss / d pushed, in place
                grad_z, grad_t = grad_h.split((n, rows - n))
                grad_z.mul_(slope)
                grad_t = grad_t.view(n_tangent, n, -1)
                through_slope = grad_t * run.pushed[index]
                through_slope = through_slope[0] if n_tangent == 1 else through_slope.sum(0)
                grad_z.addcmul_(through_slope, run.curvatures[index], value=run.curvature_scale)
                grad_t.mul_(slope)
            grads[2 * index] = torch.mm(grad_h.t(), below(index), out=targets[2 * index])
            grads[2 * index + 1] = torch.sum(grad_z, 0, out=targets[2 * index + 1])
            if index:
                grad_h = torch.mm(grad_h, run.layers[index][0])
        return grads

    def _layer_tensors(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``(weight, bias)`` of each linear layer, input layer first."""
        return [(layer.weight, layer.bias) for layer in self._linear_layers()]

    def _linear_layers(self) -> list[nn.Linear]:
        """The linear layers (the items of :attr:`layers`), input layer first."""
        return [cast(nn.Linear, layer) for layer in self.layers]

    def _calculus(self) -> _Calculus:
        if self._manual_activation is None:
            raise InputError(
                "Manual gradients need a network without dropout and with one of the activations "
                f"{', '.join(_CALCULUS)}"
            )
        return _CALCULUS[self._manual_activation]


class _ParameterInputNetwork(DenseNetwork):
    """A dense network with one scalar output whose inputs are ``theta_blocks`` parameter points, then x."""

    theta_blocks = 1

    def __init__(
        self,
        n_observables: int,
        n_parameters: int,
        n_hidden: Sequence[int],
        activation: str = "tanh",
        dropout_prob: float = 0.0,
    ) -> None:
        n_inputs = int(n_observables) + self.theta_blocks * int(n_parameters)
        super().__init__(n_inputs, n_hidden, 1, activation, dropout_prob)
        self.n_observables = int(n_observables)
        self.n_parameters = int(n_parameters)


class ParameterizedRatioModel(_ParameterInputNetwork):
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

    def forward_manual(
        self, theta: torch.Tensor, x: torch.Tensor, track_score: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None, Callable[..., list[torch.Tensor]]]:
        """As :meth:`forward`, without autograd, with ``backward(grad_log_r_hat, grad_t_hat, out=None)``.

        ``backward`` returns the loss gradient with respect to each of ``self.parameters()`` (written into
        ``out`` when given; see :meth:`DenseNetwork.backward_pass`). Needs :attr:`supports_manual_gradients`.
        """
        n_tangent = self.n_parameters if track_score else 0
        log_r_hat, tangent, run = self.forward_pass(torch.cat((theta, x), dim=1), n_tangent)

        def backward(
            grad_log_r_hat: torch.Tensor,
            grad_t_hat: torch.Tensor | None,
            out: Sequence[torch.Tensor] | None = None,
        ) -> list[torch.Tensor]:
            grad_tangent = None if grad_t_hat is None else grad_t_hat.unsqueeze(-1)
            return self.backward_pass(run, grad_log_r_hat, grad_tangent, out)

        return log_r_hat, None if tangent is None else tangent[:, :, 0], backward


class DoubleParameterizedRatioModel(_ParameterInputNetwork):
    """``(theta0, theta1, x) -> log r_hat = f(theta0, theta1, x) - f(theta1, theta0, x)`` (antisymmetric).

    The scores ``t_hat0 = d log r_hat / d theta0`` and ``t_hat1 = d log r_hat / d theta1`` come from autograd.

    Parameters
    ----------
    n_observables, n_parameters : int
        Dimensions of x and of each theta.
    n_hidden : sequence of int
        Hidden layer sizes of f.
    activation : str, optional
        Activation name. Default ``"tanh"``.
    dropout_prob : float, optional
        Dropout probability. Default 0.
    """

    theta_blocks = 2

    def forward(  # type: ignore[override]
        self,
        theta0: torch.Tensor,
        theta1: torch.Tensor,
        x: torch.Tensor,
        track_score: bool = True,
        create_graph: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """``log r_hat`` ``(n, 1)`` and, if ``track_score``, the scores ``(n, P)`` at theta0 and theta1.

        All inputs are already scaled; ``create_graph`` keeps the score graph for training.
        """
        if track_score:
            theta0, theta1 = differentiable(theta0), differentiable(theta1)
        f01 = super().forward(torch.cat((theta0, theta1, x), dim=1))
        f10 = super().forward(torch.cat((theta1, theta0, x), dim=1))
        log_r_hat = f01 - f10
        if not track_score:
            return log_r_hat, None, None
        t_hat0, t_hat1 = parameter_gradients(log_r_hat, (theta0, theta1), create_graph)
        return log_r_hat, t_hat0, t_hat1

    def forward_manual(
        self, theta0: torch.Tensor, theta1: torch.Tensor, x: torch.Tensor, track_score: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, Callable[..., list[torch.Tensor]]]:
        """As :meth:`forward`, without autograd, with ``backward(grad_log_r_hat, grad_t_hat0, grad_t_hat1,
        out=None)``.

        Both orders of the hypotheses run as one batch of ``2n`` rows. ``backward`` returns the loss gradient
        with respect to each of ``self.parameters()``. Needs :attr:`supports_manual_gradients`.
        """
        n, p = len(x), self.n_parameters
        inputs = torch.cat((torch.cat((theta0, theta1, x), dim=1), torch.cat((theta1, theta0, x), dim=1)))
        outputs, tangent, run = self.forward_pass(inputs, 2 * p if track_score else 0)
        with torch.no_grad():
            log_r_hat = outputs[:n] - outputs[n:]
            if tangent is not None:  # f01 - f10, differentiated by theta0 and by theta1
                t_hat0 = tangent[:n, :p, 0] - tangent[n:, p:, 0]
                t_hat1 = tangent[:n, p:, 0] - tangent[n:, :p, 0]

        def backward(
            grad_log_r_hat: torch.Tensor,
            grad_t_hat0: torch.Tensor | None,
            grad_t_hat1: torch.Tensor | None,
            out: Sequence[torch.Tensor] | None = None,
        ) -> list[torch.Tensor]:
            grad_outputs = torch.cat((grad_log_r_hat, -grad_log_r_hat))
            grad_tangent = None
            if tangent is not None:
                zero = torch.zeros_like(grad_log_r_hat.expand(-1, p))
                g0 = zero if grad_t_hat0 is None else grad_t_hat0
                g1 = zero if grad_t_hat1 is None else grad_t_hat1
                grad_tangent = torch.cat((torch.cat((g0, g1), dim=1), -torch.cat((g1, g0), dim=1)))[
                    :, :, None
                ]
            return self.backward_pass(run, grad_outputs, grad_tangent, out)

        if tangent is None:
            return log_r_hat, None, None, backward
        return log_r_hat, t_hat0, t_hat1, backward


class StackedDenseNetwork(nn.Module):
    """``K`` :class:`~motherlode.ml.networks.DenseNetwork` s of one architecture as one module.

    Maps ``(K, n, n_inputs)`` to ``(K, n, n_outputs)``; member ``k`` uses the weights of ``networks[k]``.

    Parameters
    ----------
    networks : sequence of DenseNetwork
        The members (their weights are copied).

    Raises
    ------
    InputError
        If the architectures differ or an activation has parameters (PReLU).
    """

    def __init__(self, networks: Sequence[DenseNetwork]) -> None:
        super().__init__()
        reason = stacking_reason(networks)
        if reason:
            raise InputError(reason)
        first = networks[0]
        n_layers = len(first.layers)
        linears = [n._linear_layers() for n in networks]
        with torch.no_grad():
            self.weights = nn.ParameterList(
                nn.Parameter(torch.stack([ls[i].weight.detach().T for ls in linears]).contiguous())
                for i in range(n_layers)
            )
            self.biases = nn.ParameterList(
                nn.Parameter(torch.stack([ls[i].bias.detach()[None, :] for ls in linears]).contiguous())
                for i in range(n_layers)
            )
        self.activations = copy.deepcopy(first.activations)
        self.dropout = copy.deepcopy(first.dropout)

    @property
    def n_members(self) -> int:
        return self.weights[0].shape[0]

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        h = inputs
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b, h, w)
            if i < last:
                h = self.dropout(self.activations[i](h))
        return h

    def copy_to(self, networks: Sequence[DenseNetwork]) -> None:
        """Write member ``k``'s weights into ``networks[k]`` (moved to this module's device)."""
        with torch.no_grad():
            for k, net in enumerate(networks):
                net.to(self.weights[0].device)
                for i, layer in enumerate(net._linear_layers()):
                    layer.weight.copy_(self.weights[i][k].T)
                    layer.bias.copy_(self.biases[i][k, 0])


def stacking_reason(networks: Sequence[nn.Module]) -> str:
    """Why the networks cannot be stacked ('' if they can)."""
    if not networks:
        return "no networks"
    if any(type(n) is not type(networks[0]) for n in networks) or not isinstance(networks[0], DenseNetwork):
        return "the networks are not all DenseNetworks of one class"
    shapes = {tuple(tuple(p.shape) for p in n.parameters()) for n in networks}
    if len(shapes) != 1:
        return "the networks have different architectures"
    dense = cast(Sequence[DenseNetwork], networks)  # all of the class of networks[0], checked above
    if any(len(list(a.parameters())) for a in dense[0].activations):
        return "an activation function has parameters"
    kinds = {
        (tuple(type(a) for a in n.activations), type(n.dropout), getattr(n.dropout, "p", 0.0)) for n in dense
    }
    if len(kinds) != 1:
        return "the networks have different activations or dropout"
    return ""
