"""The CPU training step of the dense estimators as one compiled call.

On the CPU a training step of the small networks of this package costs what its tensor operations cost to
dispatch (a few microseconds each, some sixty of them per step), not what they compute.
:func:`compiled_step` gives the step of a :class:`~motherlode.ml.networks.ParameterizedRatioModel` (CARL,
ROLR, ALICE, CASCAL, RASCAL, ALICES) or of the :class:`~motherlode.ml.networks.DenseNetwork` of a
:class:`~motherlode.ml.ScoreEstimator` (SALLY, SALLINO) as one call of a function compiled by numba: the
forward pass with the derivatives with respect to theta carried as tangent rows (as
:meth:`~motherlode.ml.networks.DenseNetwork.forward_pass`), the loss with its gradient in closed form (as
:meth:`~motherlode.ml.losses.Loss.value_and_gradients`), the backward pass (as
:meth:`~motherlode.ml.networks.DenseNetwork.backward_pass`) writing into the optimiser's flat gradient
buffer, and the update of :class:`~motherlode.ml.optim.FlatOptimizer` (Adam, AMSGrad, SGD with Nesterov
momentum, gradient clipping) on its buffers; the trainer runs a whole epoch of such steps as one call, and
the validation loss as another. The matrix products go to BLAS, everything else runs in fused loops.
The activations compute their exponentials in float64 from a polynomial that the compiler vectorises
(float32 tanh and sigmoid come out correctly rounded, ``torch.tanh`` is not always); the step equals the
torch step to float rounding (tested in float64) and takes about 40 % of its time.

It applies to networks without dropout with a ``tanh``, ``sigmoid``, ``relu`` or ``lrelu`` activation, at
least one hidden layer, float32 or float64, on the CPU, for trainings of at least :data:`MIN_STEPS` steps
(a process pays about a second for its first compiled call); elsewhere the estimators train with the torch
step. ``MOTHERLODE_COMPILED_STEP=1`` uses it for every training where it applies, ``0`` never. The
functions are compiled on their first use in a Python environment (about 15 s) and cached on disk by numba.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar, cast

import numba
import numpy as np
import torch
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from motherlode.ml.losses import (
    LOG_R_CLAMP,
    AliceLoss,
    AlicesLoss,
    CarlLoss,
    CascalLoss,
    Loss,
    RascalLoss,
    RolrLoss,
    SallyLoss,
)
from motherlode.ml.networks import DenseNetwork, ParameterizedRatioModel
from motherlode.ml.optim import ADAM_EPS, BETA1, BETA2, CLIP_EPS, FlatOptimizer

__all__ = ["MIN_STEPS", "CompiledStep", "compiled_step", "compiled_step_mode", "takes_compiled_step"]

logger = logging.getLogger(__name__)

# the loss codes of the ratio kernel; 3 and above have a score term
_RATIO_METHODS: dict[type[Loss], int] = {
    CarlLoss: 0,
    RolrLoss: 1,
    AliceLoss: 2,
    CascalLoss: 3,
    RascalLoss: 4,
    AlicesLoss: 5,
}
_TANH, _SIGMOID, _PIECEWISE_LINEAR = 0, 1, 2
_ACTIVATIONS = {"tanh": (_TANH, 0.0), "sigmoid": (_SIGMOID, 0.0), "relu": (_PIECEWISE_LINEAR, 0.0)}
_ACTIVATIONS["lrelu"] = (_PIECEWISE_LINEAR, 0.01)  # as torch.nn.LeakyReLU()

_Function = TypeVar("_Function", bound=Callable[..., Any])


def _kernel(
    cache: bool = False, inline: Literal["never", "always"] = "never"
) -> Callable[[_Function], _Function]:
    """``numba.njit`` with this module's options: reassociation (the compiler may vectorise reductions) but
    no assumption about NaN or infinities; ``error_model="numpy"`` (a division by zero gives inf or NaN,
    instead of a check that stops vectorisation); ``cache`` for the entry points."""
    fastmath = {"nsz", "arcp", "contract", "reassoc"}
    return cast(
        Callable[[_Function], _Function],
        numba.njit(cache=cache, inline=inline, nogil=True, fastmath=fastmath, error_model="numpy"),
    )


MIN_STEPS = 5000
"""The number of training steps from which :func:`compiled_step` applies by default. A process pays about 1 s
when it first calls a compiled function (numba's set-up and its extensions: awkward's, vector's); a step
saves 0.1-0.3 ms (``benchmarks/ml_step.py``, docs/benchmarks.md)."""


def compiled_step_mode() -> str:
    """``"auto"`` (default: for trainings of at least :data:`MIN_STEPS` steps), ``"always"`` or ``"never"``,
    as the environment variable ``MOTHERLODE_COMPILED_STEP`` says (unset or ``auto``, ``1``, ``0``)."""
    value = os.environ.get("MOTHERLODE_COMPILED_STEP", "auto").strip().lower()
    return {"1": "always", "0": "never"}.get(value, "auto")


# ---------------------------------------------------------------------- elementwise functions


@intrinsic
def _float64_from_bits(typingctx, bits):
    """The float64 whose IEEE bits are the int64 ``bits`` (a bit cast the compiler can vectorise)."""
    signature = types.float64(types.int64)

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return signature, codegen


@_kernel(inline="always")
def _exp_parts(y: float) -> tuple[float, float]:
    """``(2^k, 2^k (exp(r) - 1))`` with ``exp(y) = 2^k exp(r)`` for ``-708 <= y <= 0``, by arithmetic alone.

    ``y = k ln 2 + r`` with ``|r| <= ln 2 / 2``; ``exp(r) - 1 = r q(r)`` by Taylor's series to degree 12
    (truncated at below 1e-15 relative); ``2^k`` from its bits. ``exp(y)`` is the sum of the parts,
    ``exp(y) - 1`` is ``(2^k - 1)`` plus the second part, accurate also near ``y = 0``.
    """
    k = np.floor(y * 1.4426950408889634 + 0.5)
    r = (y - k * 0.6931471803691238) - k * 1.9082149292705877e-10  # ln 2 in two parts
    q = 1.0 / 479001600.0
    q = q * r + 1.0 / 39916800.0
    q = q * r + 1.0 / 3628800.0
    q = q * r + 1.0 / 362880.0
    q = q * r + 1.0 / 40320.0
    q = q * r + 1.0 / 5040.0
    q = q * r + 1.0 / 720.0
    q = q * r + 1.0 / 120.0
    q = q * r + 1.0 / 24.0
    q = q * r + 1.0 / 6.0
    q = q * r + 0.5
    q = q * r + 1.0
    scale: float = _float64_from_bits((np.int64(k) + 1023) << 52)  # type: ignore[call-arg]
    return scale, scale * (r * q)


@_kernel(inline="always")
def _tanh(v: float) -> float:
    """``tanh(v)`` in float64 arithmetic (``-expm1(-2|v|) / (2 + expm1(-2|v|))``, the sign of ``v``)."""
    size = abs(np.float64(v))
    scale, rest = _exp_parts(-2.0 * (19.5 if size > 19.5 else size))  # tanh(19.5) = 1 in float64; NaN stays
    em1 = (scale - 1.0) + rest  # exp(-2|v|) - 1
    return math.copysign(-em1 / (2.0 + em1), v)


@_kernel(inline="always")
def _sigmoid(v: float) -> float:
    """``1 / (1 + exp(-v))`` in float64 arithmetic, from ``exp(-|v|)`` (no overflow, no cancellation)."""
    size = abs(np.float64(v))
    scale, rest = _exp_parts(-(708.0 if size > 708.0 else size))  # NaN stays NaN
    e = 0.0 if size > 708.0 else scale + rest  # exp(-|v|), 0 where it underflows
    return 1.0 / (1.0 + e) if v >= 0 else e / (1.0 + e)


# ---------------------------------------------------------------------- passes


@_kernel()
def _activate(z, bias, values, slopes, curvatures, activation, negative_slope):
    """``values = f(z + bias)`` with ``slopes = f'`` and ``curvatures = f''`` at ``z + bias``."""
    n, width = z.shape
    one = z.dtype.type(1.0)
    for i in range(n):
        for j in range(width):
            pre = z[i, j] + bias[j]
            if activation == _TANH:
                a = z.dtype.type(_tanh(pre))
                slope = one - a * a
                curvature = z.dtype.type(-2.0) * a * slope
            elif activation == _SIGMOID:
                a = z.dtype.type(_sigmoid(pre))
                slope = a * (one - a)
                curvature = slope * (one - z.dtype.type(2.0) * a)
            else:
                slope = one if pre > 0 else z.dtype.type(negative_slope)
                a = slope * pre
                curvature = z.dtype.type(0.0)
            values[i, j] = a
            slopes[i, j] = slope
            curvatures[i, j] = curvature


@_kernel()
def _offsets(sizes):
    """Start of each layer's weight in the flat parameters (then its bias), and the end of the last."""
    n_layers = len(sizes) - 1
    offsets = np.empty(n_layers + 1, np.int64)
    offset = 0
    for layer in range(n_layers):
        offsets[layer] = offset
        offset += sizes[layer + 1] * (sizes[layer] + 1)
    offsets[n_layers] = offset
    return offsets


@_kernel()
def _weight(params, offsets, sizes, layer):
    width_in, width_out = sizes[layer], sizes[layer + 1]
    return params[offsets[layer] : offsets[layer] + width_out * width_in].reshape((width_out, width_in))


@_kernel()
def _bias(params, offsets, sizes, layer):
    start = offsets[layer] + sizes[layer + 1] * sizes[layer]
    return params[start : offsets[layer + 1]]


@_kernel()
def _forward(params, sizes, activation, negative_slope, inputs, n_tangent):
    """The outputs and the pass: as :meth:`DenseNetwork.forward_pass`, with the tangents as rows.

    Returns ``(outputs, stacked, slopes, curvatures, pushed)``: ``outputs`` ``((1 + T) n, n_out)`` (values,
    then the derivatives with respect to input column ``t`` as block ``t``), per hidden layer its
    activations with their tangents ``((1 + T) n, width)``, slopes and curvatures ``(n, width)`` and the
    tangents before the slope ``(T n, width)``.
    """
    offsets = _offsets(sizes)
    n = inputs.shape[0]
    rows = (1 + n_tangent) * n
    dtype = inputs.dtype
    stacked = []  # separate lists: numba types each from its appends
    slopes = []
    curvatures = []
    pushed = []
    below = inputs
    for layer in range(len(sizes) - 2):
        weight = _weight(params, offsets, sizes, layer)
        width = sizes[layer + 1]
        product = np.dot(below, weight.T)  # the first layer: values only; then values and tangents
        values = np.empty((rows, width), dtype)
        slope = np.empty((n, width), dtype)
        curvature = np.empty((n, width), dtype)
        bias = _bias(params, offsets, sizes, layer)
        _activate(product[:n], bias, values, slope, curvature, activation, negative_slope)
        if layer == 0:  # the inputs' tangents are unit vectors: the first layer pushes weight columns
            into = np.empty((n_tangent * n, width), dtype)
            for t in range(n_tangent):
                for i in range(n):
                    for j in range(width):
                        into[t * n + i, j] = weight[j, t]
        else:
            into = product[n:]
        for t in range(n_tangent):
            for i in range(n):
                for j in range(width):
                    values[n + t * n + i, j] = into[t * n + i, j] * slope[i, j]
        stacked.append(values)
        slopes.append(slope)
        curvatures.append(curvature)
        pushed.append(into)
        below = values
    last = len(sizes) - 2
    outputs = np.dot(below, _weight(params, offsets, sizes, last).T)
    bias = _bias(params, offsets, sizes, last)
    for i in range(n):
        for k in range(outputs.shape[1]):
            outputs[i, k] += bias[k]
    return outputs, stacked, slopes, curvatures, pushed


@_kernel()
def _backward(params, grad, sizes, inputs, n_tangent, gradient, stacked, slopes, curvatures, pushed):
    """Write the parameter gradients into the flat ``grad``, from ``gradient``: the loss's derivatives
    with respect to :func:`_forward`'s outputs, stacked like them. As :meth:`DenseNetwork.backward_pass`."""
    offsets = _offsets(sizes)
    n = inputs.shape[0]
    last = len(sizes) - 2
    np.dot(gradient.T, stacked[last - 1], _weight(grad, offsets, sizes, last))
    _sum_rows(gradient, n, _bias(grad, offsets, sizes, last))
    upstream = np.dot(gradient, _weight(params, offsets, sizes, last))
    for layer in range(last - 1, -1, -1):
        slope, curvature, into = slopes[layer], curvatures[layer], pushed[layer]
        width = sizes[layer + 1]
        for i in range(n):  # values' rows: through the slope, and through the tangents' curvature
            for j in range(width):
                through = upstream.dtype.type(0.0)
                for t in range(n_tangent):
                    through += upstream[n + t * n + i, j] * into[t * n + i, j]
                upstream[i, j] = upstream[i, j] * slope[i, j] + through * curvature[i, j]
        for t in range(n_tangent):  # tangents' rows: through the slope
            for i in range(n):
                for j in range(width):
                    upstream[n + t * n + i, j] *= slope[i, j]
        _sum_rows(upstream, n, _bias(grad, offsets, sizes, layer))
        weight_grad = _weight(grad, offsets, sizes, layer)
        if layer:
            np.dot(upstream.T, stacked[layer - 1], weight_grad)
            upstream = np.dot(upstream, _weight(params, offsets, sizes, layer))
        else:  # the inputs' tangent rows are unit vectors
            np.dot(upstream[:n].T, inputs, weight_grad)
            for t in range(n_tangent):
                for j in range(width):
                    total = upstream.dtype.type(0.0)
                    for i in range(n):
                        total += upstream[n + t * n + i, j]
                    weight_grad[j, t] += total


@_kernel()
def _sum_rows(matrix, n, into):
    """``into = matrix[:n].sum(0)``."""
    into[:] = 0.0
    for i in range(n):
        for j in range(matrix.shape[1]):
            into[j] += matrix[i, j]


# ---------------------------------------------------------------------- losses


@_kernel()
def _ratio_loss(outputs, n, method, alpha, y, r_xz, t_xz, gradient):
    """The components of the loss of ``method`` (the codes of ``_RATIO_METHODS``): the ratio term and the
    score term (0 without one; the loss is the first plus ``alpha`` times the second), the loss's gradient
    written into ``gradient`` (shaped like ``outputs``). As the ``value_and_gradients`` of
    :mod:`motherlode.ml.losses`."""
    value = 0.0
    low, high = math.exp(-LOG_R_CLAMP), math.exp(LOG_R_CLAMP)
    for i in range(n):
        log_r = np.float64(outputs[i, 0])
        if method == 1 or method == 4:  # ROLR: squared errors of 1/r_hat (y = 0) and r_hat (y = 1)
            label = np.float64(y[i, 0])
            clamped = min(max(log_r, -LOG_R_CLAMP), LOG_R_CLAMP)
            r = min(max(np.float64(r_xz[i, 0]), low), high)
            ratio = math.exp(clamped)
            numerator = (1.0 / ratio - 1.0 / r) * (1.0 - label)
            denominator = (ratio - r) * label
            value += numerator * numerator + denominator * denominator
            slope = denominator * label * ratio - numerator * (1.0 - label) / ratio
            gradient[i, 0] = 2.0 * slope / n if abs(log_r) <= LOG_R_CLAMP else 0.0
        else:  # cross-entropy on logits against y (CARL) or 1/(1 + r_xz) (ALICE)
            target = np.float64(y[i, 0]) if method == 0 or method == 3 else 1.0 / (1.0 + r_xz[i, 0])
            log_sigmoid = min(log_r, 0.0) - math.log1p(math.exp(-abs(log_r)))
            value += log_r * target - log_sigmoid
            gradient[i, 0] = (math.exp(log_sigmoid) + target - 1.0) / n
    value /= n
    squares = 0.0
    norm = 1.0
    n_tangent = (outputs.shape[0] - n) // n
    if n_tangent:  # alpha times the squared score error averaged over the numerator (y = 0) samples
        n_numerator = 0.0
        for i in range(n):
            n_numerator += 1.0 - y[i, 0]
        norm = max(n_numerator, 1.0) * n_tangent
        for t in range(n_tangent):
            for i in range(n):
                mask = 1.0 - y[i, 0]
                difference = np.float64(outputs[n + t * n + i, 0]) - t_xz[i, t]
                squares += mask * difference * difference
                gradient[n + t * n + i, 0] = 2.0 * alpha * mask * difference / norm
    return value, squares / norm


@_kernel()
def _sally_loss(outputs, t_xz, gradient):
    """Mean squared error of the outputs against ``t_xz``, its gradient written into ``gradient``."""
    size = outputs.size
    value = 0.0
    for i in range(outputs.shape[0]):
        for k in range(outputs.shape[1]):
            difference = np.float64(outputs[i, k]) - t_xz[i, k]
            value += difference * difference
            gradient[i, k] = 2.0 * difference / size
    return value / size


# ---------------------------------------------------------------------- steps


@_kernel()
def _ratio_inputs(theta, x):
    """The ratio network's inputs: theta, then x."""
    n, n_parameters = theta.shape
    inputs = np.empty((n, n_parameters + x.shape[1]), x.dtype)
    inputs[:, :n_parameters] = theta
    inputs[:, n_parameters:] = x
    return inputs


@_kernel(cache=True)
def _ratio_gradient(params, grad, sizes, activation, negative_slope, theta, x, y, r_xz, t_xz, method, alpha):
    """The ratio loss of a batch, its gradient written into ``grad``."""
    return _ratio_batch(
        params, grad, sizes, activation, negative_slope, theta, x, y, r_xz, t_xz, method, alpha
    )


@_kernel()
def _ratio_batch(params, grad, sizes, activation, negative_slope, theta, x, y, r_xz, t_xz, method, alpha):
    """:func:`_ratio_gradient`, for the compiled callers."""
    inputs = _ratio_inputs(theta, x)
    n_tangent = theta.shape[1] if method >= 3 else 0
    outputs, stacked, slopes, curvatures, pushed = _forward(
        params, sizes, activation, negative_slope, inputs, n_tangent
    )
    gradient = np.empty_like(outputs)
    ratio_term, score_term = _ratio_loss(outputs, len(x), method, alpha, y, r_xz, t_xz, gradient)
    _backward(params, grad, sizes, inputs, n_tangent, gradient, stacked, slopes, curvatures, pushed)
    return ratio_term + alpha * score_term


@_kernel()
def _rows(array, start, stop):
    """Rows ``start:stop`` of ``array``, or ``array`` itself when it is a placeholder (fewer rows)."""
    return array[start:stop] if array.shape[0] >= stop else array


@_kernel(cache=True)
def _ratio_validation(
    params, sizes, activation, negative_slope, theta, x, y, r_xz, t_xz, method, block, sums
):
    """Add the ratio and score terms of the loss of blocks of ``block`` samples, each times the block's
    size, to ``sums[0]`` and ``sums[1]`` (the forward pass and the loss only)."""
    n_tangent = theta.shape[1] if method >= 3 else 0
    for start in range(0, len(x), block):
        stop = min(start + block, len(x))
        inputs = _ratio_inputs(theta[start:stop], x[start:stop])
        outputs = _forward(params, sizes, activation, negative_slope, inputs, n_tangent)[0]
        ratios, scores = _rows(r_xz, start, stop), _rows(t_xz, start, stop)  # data, or the placeholders
        gradient = np.empty_like(outputs)
        ratio_term, score_term = _ratio_loss(
            outputs, stop - start, method, 1.0, y[start:stop], ratios, scores, gradient
        )
        sums[0] += ratio_term * (stop - start)
        sums[1] += score_term * (stop - start)


@_kernel(cache=True)
def _score_gradient(params, grad, sizes, activation, negative_slope, x, t_xz):
    """SALLY's loss of a batch, its gradient written into ``grad``."""
    return _score_batch(params, grad, sizes, activation, negative_slope, x, t_xz)


@_kernel()
def _score_batch(params, grad, sizes, activation, negative_slope, x, t_xz):
    """:func:`_score_gradient`, for the compiled callers."""
    outputs, stacked, slopes, curvatures, pushed = _forward(params, sizes, activation, negative_slope, x, 0)
    gradient = np.empty_like(outputs)
    value = _sally_loss(outputs, t_xz, gradient)
    _backward(params, grad, sizes, x, 0, gradient, stacked, slopes, curvatures, pushed)
    return value


@_kernel(cache=True)
def _score_validation(params, sizes, activation, negative_slope, x, t_xz, block, sums):
    """Add SALLY's loss of blocks of ``block`` samples, each times the block's size, to ``sums[0]``."""
    for start in range(0, len(x), block):
        stop = min(start + block, len(x))
        outputs = _forward(params, sizes, activation, negative_slope, x[start:stop], 0)[0]
        gradient = np.empty_like(outputs)
        sums[0] += _sally_loss(outputs, t_xz[start:stop], gradient) * (stop - start)


# ---------------------------------------------------------------------- optimiser and epochs

_ADAM, _AMSGRAD, _SGD = 0, 1, 2
_UPDATES = {"adam": _ADAM, "amsgrad": _AMSGRAD, "sgd": _SGD}


@_kernel()
def _update(params, grad, rule, lr, momentum, first, second, largest, step, clip):
    """One update of :class:`~motherlode.ml.optim.FlatOptimizer` (its step number ``step``, counted from
    1) with the gradient ``grad``, first scaled to at most the norm ``clip`` (if positive): Adam, AMSGrad
    (``largest``: the maximum second moment) or SGD with Nesterov momentum (if ``momentum``)."""
    if clip > 0.0:
        norm = 0.0
        for i in range(len(grad)):
            norm += np.float64(grad[i]) * grad[i]
        scale = min(clip / (math.sqrt(norm) + CLIP_EPS), 1.0)
        if scale < 1.0:
            for i in range(len(grad)):
                grad[i] *= scale
    if rule == _SGD:
        for i in range(len(grad)):
            g = grad[i]
            if momentum != 0.0:  # Nesterov: buf = mu buf + g (g on the first step); g += mu buf
                first[i] = g if step == 1 else momentum * first[i] + g
                g = g + momentum * first[i]
            params[i] -= lr * g
        return
    step_size = lr / (1.0 - BETA1**step)
    correction = math.sqrt(1.0 - BETA2**step)
    for i in range(len(grad)):
        g = grad[i]
        first[i] += (1.0 - BETA1) * (g - first[i])
        second[i] = BETA2 * second[i] + (1.0 - BETA2) * g * g
        moment = second[i]
        if rule == _AMSGRAD:
            largest[i] = max(largest[i], moment)
            moment = largest[i]
        params[i] -= step_size * first[i] / (math.sqrt(moment) / correction + ADAM_EPS)


@_kernel(cache=True)
def _ratio_epoch(
    params, grad, sizes, activation, negative_slope, theta, x, y, r_xz, t_xz, method, alpha, batch_size,
    rule, lr, momentum, first, second, largest, step, clip, losses,
):  # fmt: skip
    """Train on consecutive batches of ``batch_size`` rows: each batch's loss into ``losses``, each
    gradient into ``grad`` and then into the optimiser's update (``step``: the number of the first)."""
    for batch, start in enumerate(range(0, len(x), batch_size)):
        stop = min(start + batch_size, len(x))
        losses[batch] = _ratio_batch(
            params, grad, sizes, activation, negative_slope, theta[start:stop], x[start:stop],
            y[start:stop], _rows(r_xz, start, stop), _rows(t_xz, start, stop), method, alpha,
        )  # fmt: skip
        _update(params, grad, rule, lr, momentum, first, second, largest, step + batch, clip)


@_kernel(cache=True)
def _score_epoch(
    params, grad, sizes, activation, negative_slope, x, t_xz, batch_size,
    rule, lr, momentum, first, second, largest, step, clip, losses,
):  # fmt: skip
    """:func:`_ratio_epoch` for SALLY."""
    for batch, start in enumerate(range(0, len(x), batch_size)):
        stop = min(start + batch_size, len(x))
        losses[batch] = _score_batch(
            params, grad, sizes, activation, negative_slope, x[start:stop], t_xz[start:stop]
        )
        _update(params, grad, rule, lr, momentum, first, second, largest, step + batch, clip)


class CompiledStep:
    """A training step as one compiled call: loss, gradient into ``opt.gradient``, then ``opt``'s update.

    Made by :func:`compiled_step`. Calling it with a batch (a mapping of the training tensors) returns the
    batch's loss as a 0-d float64 tensor; :meth:`train_epoch` runs the steps of a whole epoch.
    """

    def __init__(self, network: DenseNetwork, loss: Loss, opt: FlatOptimizer) -> None:
        activation, negative_slope = _ACTIVATIONS[network.activation_name]
        self._method = None if isinstance(loss, SallyLoss) else _RATIO_METHODS[type(loss)]  # None: SALLY
        self._alpha = float(loss.alpha)
        self._weights = loss.weights  # the loss's components by name: the ratio term, then the score term
        self._opt = opt
        self._params = opt.flat.detach().numpy()
        self._grad = opt.gradient.detach().numpy()
        self._sizes = np.array(network.layer_sizes, dtype=np.int64)
        self._activation = activation
        self._negative_slope = negative_slope
        self._absent = np.zeros((1, 1), dtype=self._params.dtype)  # for data a loss does not read
        # the BLAS of numba's matrix products, loaded now so that a thread limit can apply to it
        importlib.import_module("scipy.linalg.cython_blas")

    def _arrays(self, batch: Mapping[str, torch.Tensor]) -> tuple[np.ndarray, ...]:
        """The kernel's data arguments: C-contiguous 2-D arrays (a placeholder for data the loss skips)."""
        keys = ("x", "t_xz") if self._method is None else ("theta", "x", "y", "r_xz", "t_xz")
        return tuple(_array(batch[key]) if key in batch else self._absent for key in keys)

    def _gradient(self, arrays: tuple[np.ndarray, ...], start: int, stop: int) -> float:
        """The loss of rows ``start:stop`` of ``arrays``, its gradient written into the optimiser's buffer."""
        common = (self._params, self._grad, self._sizes, self._activation, self._negative_slope)
        rows = [array if array is self._absent else array[start:stop] for array in arrays]
        if self._method is None:
            x, t_xz = rows
            return _score_gradient(*common, x, t_xz)
        theta, x, y, r_xz, t_xz = rows
        return _ratio_gradient(*common, theta, x, y, r_xz, t_xz, self._method, self._alpha)

    def gradient(self, batch: Mapping[str, torch.Tensor]) -> float:
        """The loss of ``batch``, its gradient written into the optimiser's gradient buffer."""
        return self._gradient(self._arrays(batch), 0, len(batch["x"]))

    def __call__(self, batch: Mapping[str, torch.Tensor], clip_gradient: float | None = None) -> torch.Tensor:
        value = self.gradient(batch)
        self._opt.step_written(clip_gradient)
        return torch.tensor(value, dtype=torch.float64)

    def train_epoch(
        self,
        data: Mapping[str, torch.Tensor],
        order: torch.Tensor,
        batch_size: int,
        clip_gradient: float | None = None,
        bar: Any = None,
    ) -> float:
        """Train on batches of ``batch_size`` samples of ``data`` in the ``order`` of a permutation, the
        optimiser's updates included, as one compiled call: the sample-weighted mean loss.

        The data are gathered once, each batch is a slice of them; the progress ``bar`` advances after the
        epoch.
        """
        arrays = self._arrays({key: value[order] for key, value in data.items() if key in _KEYS})
        n = len(order)
        losses = np.empty(-(-n // batch_size))
        opt = self._opt
        first, second, largest = (
            self._absent.reshape(-1) if moment is None else moment.detach().numpy()
            for moment in (opt.first_moment, opt.second_moment, opt.max_second_moment)
        )
        rule, step, clip = _UPDATES[opt.kind], opt.steps + 1, clip_gradient or -1.0
        update = (rule, opt.lr, opt.momentum, first, second, largest, step, clip)
        common = (self._params, self._grad, self._sizes, self._activation, self._negative_slope)
        if self._method is None:
            x, t_xz = arrays
            _score_epoch(*common, x, t_xz, batch_size, *update, losses)
        else:
            theta, x, y, r_xz, t_xz = arrays
            _ratio_epoch(
                *common, theta, x, y, r_xz, t_xz, self._method, self._alpha, batch_size, *update, losses
            )
        opt.steps += len(losses)
        if bar is not None:
            bar.update(n)
        sizes = np.full(len(losses), batch_size, dtype=np.float64)
        sizes[-1] = n - batch_size * (len(losses) - 1)
        return float(losses @ sizes) / n

    def evaluate(self, data: Mapping[str, torch.Tensor], block: int) -> tuple[float, dict[str, float]]:
        """The sample-weighted mean loss of the network on ``data``, and of its components, in blocks of
        ``block`` samples (as :meth:`motherlode.ml.trainer.Trainer.evaluate_loss`)."""
        arrays = self._arrays(data)
        common = (self._params, self._sizes, self._activation, self._negative_slope)
        sums = np.zeros(2)
        if self._method is None:
            x, t_xz = arrays
            _score_validation(*common, x, t_xz, block, sums)
        else:
            theta, x, y, r_xz, t_xz = arrays
            _ratio_validation(*common, theta, x, y, r_xz, t_xz, self._method, block, sums)
        means = sums / len(arrays[0])
        components = dict(zip(self._weights, means.tolist(), strict=False))
        total = sum(weight * components[name] for name, weight in self._weights.items())
        return total, components


_KEYS = frozenset(("theta", "x", "y", "r_xz", "t_xz"))  # what the kernels read


def _array(tensor: torch.Tensor) -> np.ndarray:
    """A CPU tensor's values as a C-contiguous 2-D array (no copy when it is one)."""
    array = tensor.detach().numpy()
    return np.ascontiguousarray(array.reshape(len(array), -1))


def compiled_step(
    model: torch.nn.Module, loss: Loss, opt: object, n_steps: int | None = None
) -> CompiledStep | None:
    """The compiled training step of ``model`` with ``loss`` and ``opt``, or None where it does not apply.

    It applies to a :class:`ParameterizedRatioModel` with one of the six ratio losses and to a plain
    :class:`DenseNetwork` with :class:`~motherlode.ml.losses.SallyLoss`, with an activation of ``tanh``,
    ``sigmoid``, ``relu``, ``lrelu``, no dropout, at least one hidden layer, its parameters trained by a
    :class:`FlatOptimizer` in their own order, in float32 or float64 on the CPU; in :func:`compiled_step_mode`
    ``"auto"`` only to trainings of at least :data:`MIN_STEPS` steps (``n_steps``; None: any), which decides
    by the training alone, never by what the process ran before, so that a training's result is reproducible.
    """
    reason = _network_reason(model, loss, n_steps) or _optimiser_reason(model, opt)
    if reason:
        logger.debug("Training with the torch step: %s", reason)
        return None
    assert isinstance(model, DenseNetwork) and isinstance(opt, FlatOptimizer)
    return CompiledStep(model, loss, opt)


def takes_compiled_step(model: torch.nn.Module, loss: Loss, device: torch.device, n_steps: int) -> bool:
    """Whether a training of ``model`` with ``loss`` on ``device``, ``n_steps`` steps long, takes the compiled
    step (with the :class:`FlatOptimizer` that the trainer makes), judged before the training."""
    return device.type == "cpu" and not _network_reason(model, loss, n_steps, on_device=False)


def _network_reason(model: torch.nn.Module, loss: Loss, n_steps: int | None, on_device: bool = True) -> str:
    """Why the compiled step does not apply to ``model`` and ``loss`` ('' where it may); ``on_device``:
    also check that the parameters are on the CPU."""
    mode = compiled_step_mode()
    if mode == "never":
        return "MOTHERLODE_COMPILED_STEP=0"
    if type(model) is ParameterizedRatioModel:
        if type(loss) not in _RATIO_METHODS:
            return f"no compiled loss for {type(loss).__name__}"
    elif type(model) is DenseNetwork:
        if type(loss) is not SallyLoss:
            return f"no compiled loss for {type(loss).__name__} on a DenseNetwork"
    else:
        return f"no compiled step for {type(model).__name__}"
    if not model.supports_manual_gradients or model.activation_name not in _ACTIVATIONS:
        return "dropout or an activation without a compiled form"
    if len(model.layer_sizes) < 3:
        return "no hidden layer"
    parameter = next(model.parameters())
    if parameter.dtype not in (torch.float32, torch.float64) or (
        on_device and parameter.device.type != "cpu"
    ):
        return "not float32 or float64 on the CPU"
    if mode == "auto" and n_steps is not None and n_steps < MIN_STEPS:
        return f"{n_steps} steps (fewer than {MIN_STEPS}; MOTHERLODE_COMPILED_STEP=1 forces it)"
    return ""


def _optimiser_reason(model: torch.nn.Module, opt: object) -> str:
    """Why ``opt`` does not suit the compiled step ('' where it does): it must be a :class:`FlatOptimizer`
    holding the network's parameters, in their order, in its buffer."""
    if not isinstance(opt, FlatOptimizer):
        return "not a FlatOptimizer"
    flat_start = opt.flat.data_ptr()
    layout = [p.data_ptr() - flat_start for p in model.parameters()]
    expected = list(np.cumsum([0] + [p.numel() * p.element_size() for p in model.parameters()])[:-1])
    if len(opt.params) != len(layout) or layout != expected:
        return "the optimiser's flat buffer does not hold the network's parameters in order"
    return ""
