r"""``madminer.likelihood.manipulate``: fixing, projecting and profiling negative log likelihoods.

The functions take any ``nll(params)`` with MadMiner's conventions (``nll(None)`` returns the number
of parameters). Functions that are vectorised (``nll.vectorized`` true, as the likelihoods of this
package and the results of :func:`fix_params`) are evaluated on whole grids at once; others point by
point.

:func:`profile_log_likelihood` minimises the free parameters at all grid points together: the
objective is the sum of the independent per-point NLLs, with a gradient from central finite
differences computed in one vectorised call, so ``scipy.optimize.minimize`` (``"TNC"`` or
``"L-BFGS-B"``) solves all points in one run.

Examples
--------
>>> import numpy as np
>>> from motherlode.likelihood import fix_params, profile_log_likelihood
>>> def nll(params):
...     if params is None:
...         return 2
...     p = np.atleast_2d(params)
...     value = 0.5 * (p[:, 0] ** 2 + (p[:, 1] - p[:, 0]) ** 2)
...     return value if np.ndim(params) == 2 else float(value[0])
>>> fix_params(nll, [1.0])(np.array([3.0]))
2.5
>>> grid, p_values, best, log_r = profile_log_likelihood(nll, [0], [(-1.0, 1.0)], 3)
>>> np.round(log_r, 6)  # the second parameter follows the first: log r = -theta^2 / 2
array([-0.5,  0. , -0.5])
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.stats import chi2

from ..errors import InputError

__all__ = ["fix_params", "profile_log_likelihood", "project_log_likelihood"]

logger = logging.getLogger(__name__)

_METHODS = ("TNC", "L-BFGS-B")
_STEP = 1.0e-5


class _FixedNLL:
    """``nll`` with some components fixed (see :func:`fix_params`)."""

    vectorized = True

    def __init__(self, nll: Callable, values: np.ndarray, fixed: np.ndarray, n_dimension: int) -> None:
        self.nll = nll
        self.values = values
        self.fixed = fixed
        self.free = np.setdiff1d(np.arange(n_dimension), fixed)
        self.n_dimension = n_dimension

    def __call__(self, params: Any) -> Any:
        if params is None:
            return len(self.free)
        values = np.asarray(params, dtype=np.float64)
        single = values.ndim <= 1
        values = values.reshape(1, -1) if single else values
        if values.ndim != 2 or values.shape[1] != len(self.free):
            raise InputError(
                f"params must have {len(self.free)} entries per point, got shape {np.shape(params)}"
            )
        full = np.empty((len(values), self.n_dimension))
        full[:, self.fixed] = self.values
        full[:, self.free] = values
        result = _evaluate(self.nll, full)
        return float(result[0]) if single else result


def _evaluate(nll: Callable, points: np.ndarray) -> np.ndarray:
    """``nll`` at ``(n, N)`` points, vectorised when it can be."""
    if getattr(nll, "vectorized", False):
        return np.asarray(nll(points), dtype=np.float64).reshape(len(points))
    return np.array([float(nll(point)) for point in points])


def fix_params(
    negative_log_likelihood: Callable, theta: Any, fixed_components: Sequence[int] | None = None
) -> Callable:
    """Fix some components of a negative log likelihood.

    Parameters
    ----------
    negative_log_likelihood : callable
        ``nll(params)`` of ``N`` parameters (``nll(None)`` returns ``N``).
    theta : list of float
        The ``m`` fixed values.
    fixed_components : list of int or None, optional
        Which components ``theta`` fixes. Default: ``[0, ..., m-1]``.

    Returns
    -------
    callable
        ``nll(params)`` of the ``N - m`` remaining parameters (in their order); ``nll(None)`` returns
        ``N - m``. Vectorised: ``params`` may be ``(n_points, N - m)``.

    Raises
    ------
    InputError
        If ``theta`` and ``fixed_components`` differ in length or name components out of range.
    """
    values = np.asarray(theta, dtype=np.float64).reshape(-1)
    fixed = (
        np.arange(len(values)) if fixed_components is None else np.asarray(fixed_components, dtype=np.int64)
    )
    if len(fixed) != len(values):
        raise InputError(
            f"theta has {len(values)} entries and fixed_components {len(fixed)}: they must be the same length"
        )
    n_dimension = int(negative_log_likelihood(None))
    if len(np.unique(fixed)) != len(fixed) or np.any((fixed < 0) | (fixed >= n_dimension)):
        raise InputError(
            f"fixed_components must be distinct indices in 0 .. {n_dimension - 1}, got {fixed.tolist()}"
        )
    return _FixedNLL(negative_log_likelihood, values, fixed, n_dimension)


def _grid(grid_ranges: Any, grid_resolutions: Any, thetas_eval: Any, m_parameters: int) -> np.ndarray:
    if thetas_eval is not None:
        grid = np.asarray(thetas_eval, dtype=np.float64)
        grid = grid.reshape(-1, 1) if grid.ndim == 1 and m_parameters == 1 else np.atleast_2d(grid)
        if grid.shape[1] != m_parameters:
            raise InputError(f"thetas_eval must have shape (n, {m_parameters}), got {np.shape(thetas_eval)}")
        return grid
    if grid_ranges is None or grid_resolutions is None:
        raise InputError("give thetas_eval, or grid_ranges and grid_resolutions")
    if len(grid_ranges) != m_parameters:
        raise InputError(
            f"grid_ranges has {len(grid_ranges)} entries for {m_parameters} remaining components"
        )
    if isinstance(grid_resolutions, int | np.integer):
        grid_resolutions = [int(grid_resolutions)] * m_parameters
    if len(grid_resolutions) != m_parameters:
        raise InputError(
            f"grid_resolutions has {len(grid_resolutions)} entries for {m_parameters} remaining components"
        )
    axes = [np.linspace(lo, hi, int(n)) for n, (lo, hi) in zip(grid_resolutions, grid_ranges, strict=True)]
    return np.stack([a.reshape(-1) for a in np.meshgrid(*axes, indexing="ij")], axis=1)


def _components(n_parameters: int, remaining_components: Any) -> np.ndarray:
    if remaining_components is None:
        return np.arange(n_parameters)
    components = np.asarray(remaining_components, dtype=np.int64).reshape(-1)
    if len(np.unique(components)) != len(components) or np.any(
        (components < 0) | (components >= n_parameters)
    ):
        raise InputError(
            f"remaining_components must be distinct indices in 0 .. {n_parameters - 1}, "
            f"got {components.tolist()}"
        )
    return components


def _result(grid: np.ndarray, log_r: np.ndarray, dof: int) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    i_ml = int(np.argmax(log_r))
    log_r = log_r - log_r[i_ml]
    p_values = chi2.sf(x=-2.0 * log_r, df=dof)
    return grid, p_values, i_ml, log_r


def project_log_likelihood(
    negative_log_likelihood: Callable,
    remaining_components: Sequence[int] | None = None,
    grid_ranges: Sequence[tuple[float, float]] | None = None,
    grid_resolutions: int | Sequence[int] | None = 25,
    dof: int | None = None,
    thetas_eval: Any = None,
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Evaluate a negative log likelihood on a grid of some components, the others set to zero.

    Parameters
    ----------
    negative_log_likelihood : callable
        ``nll(params)`` of ``N`` parameters.
    remaining_components : list of int or None, optional
        The ``M`` components kept, in the order of the grid. Default: all.
    grid_ranges : list of (float, float) or None, optional
        ``(min, max)`` of each remaining component.
    grid_resolutions : int or list of int, optional
        Points along each component (an int: the same for all). Default: 25.
    dof : int or None, optional
        Degrees of freedom of the p-values. Default: ``M``.
    thetas_eval : ndarray or None, optional
        Explicit points ``(n, M)``; when given, the grid arguments are ignored.

    Returns
    -------
    parameter_grid : ndarray, shape (n_points, M)
    p_values : ndarray, shape (n_points,)
        ``chi2.sf(-2 log r, dof)``.
    mle : int
        Index of the best point.
    log_likelihood_ratio : ndarray, shape (n_points,)
        ``log L - log L(best point)``.
    """
    n_parameters = int(negative_log_likelihood(None))
    components = _components(n_parameters, remaining_components)
    dof = len(components) if dof is None else int(dof)
    grid = _grid(grid_ranges, grid_resolutions, thetas_eval, len(components))
    full = np.zeros((len(grid), n_parameters))
    full[:, components] = grid
    log_r = -_evaluate(negative_log_likelihood, full)
    return _result(grid, log_r, dof)


def _minimize_blocks(nll: Callable, starts: np.ndarray, method: str) -> np.ndarray:
    """Minimise ``n`` independent problems ``nll`` (vectorised over points) from ``starts (n, k)``."""
    n, k = starts.shape
    offsets = _evaluate(nll, starts)
    steps = np.eye(k) * _STEP

    def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
        y = flat.reshape(n, k)
        points = np.concatenate(
            [y[:, None, :], y[:, None, :] + steps[None], y[:, None, :] - steps[None]], axis=1
        )
        values = _evaluate(nll, points.reshape(-1, k)).reshape(n, 2 * k + 1)
        gradient = (values[:, 1 : k + 1] - values[:, k + 1 :]) / (2.0 * _STEP)
        return float(np.sum(values[:, 0] - offsets)), gradient.reshape(-1)

    options: dict[str, float] = {"maxiter": 10000} if method == "L-BFGS-B" else {"maxfun": 100000}
    options.update({"ftol": 1e-14, "gtol": 1e-9})
    result = minimize(objective, starts.reshape(-1), jac=True, method=method, options=options)
    if not result.success:
        # TNC reports a failed line search once it cannot improve at machine precision
        gradient = np.max(np.abs(objective(result.x)[1]), initial=0.0)
        log = logger.warning if gradient > 1.0e-3 else logger.debug
        log("Minimisation ended with %r (largest gradient component %.2g)", result.message, gradient)
    return _newton_polish(nll, result.x.reshape(n, k))


def _newton_polish(nll: Callable, y: np.ndarray, n_steps: int = 3, step: float = 1.0e-4) -> np.ndarray:
    """A few Newton steps per block with finite-difference gradients and Hessians (all blocks in one
    vectorised call each), kept only where they lower ``nll``: minima precise to the NLL's rounding."""
    n, k = y.shape
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    shift_list = [np.zeros(k)]
    for i in range(k):
        shift_list += [step * np.eye(k)[i], -step * np.eye(k)[i]]
    signs = ((1, 1), (1, -1), (-1, 1), (-1, -1))
    for i, j in pairs:
        shift_list += [step * (a * np.eye(k)[i] + b * np.eye(k)[j]) for a, b in signs]
    shifts = np.array(shift_list)
    for _ in range(n_steps):
        values = _evaluate(nll, (y[:, None, :] + shifts[None]).reshape(-1, k)).reshape(n, len(shifts))
        centre = values[:, 0]
        plus, minus = values[:, 1 : 2 * k + 1 : 2], values[:, 2 : 2 * k + 1 : 2]
        gradient = (plus - minus) / (2.0 * step)
        hessian = np.zeros((n, k, k))
        hessian[:, np.arange(k), np.arange(k)] = (plus - 2.0 * centre[:, None] + minus) / step**2
        for m, (i, j) in enumerate(pairs):
            pp, pm, mp, mm = values[:, 2 * k + 1 + 4 * m : 2 * k + 5 + 4 * m].T
            hessian[:, i, j] = hessian[:, j, i] = (pp - pm - mp + mm) / (4.0 * step**2)
        convex = np.all(np.linalg.eigvalsh(hessian) > 0.0, axis=1)
        if not np.any(convex):
            break
        proposal = y.copy()
        proposal[convex] -= np.linalg.solve(hessian[convex], gradient[convex][..., None])[..., 0]
        better = _evaluate(nll, proposal) < centre
        if not np.any(better):
            break
        y = np.where(better[:, None], proposal, y)
    return y


def profile_log_likelihood(
    negative_log_likelihood: Callable,
    remaining_components: Sequence[int] | None = None,
    grid_ranges: Sequence[tuple[float, float]] | None = None,
    grid_resolutions: int | Sequence[int] | None = 25,
    thetas_eval: Any = None,
    theta_start: Any = None,
    dof: int | None = None,
    method: str = "TNC",
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Evaluate a negative log likelihood on a grid of some components, the others profiled.

    Parameters
    ----------
    negative_log_likelihood : callable
        ``nll(params)`` of ``N`` parameters.
    remaining_components : list of int or None, optional
        The ``M`` components on the grid, in its order. Default: all.
    grid_ranges : list of (float, float) or None, optional
        ``(min, max)`` of each remaining component.
    grid_resolutions : int or list of int, optional
        Points along each component (an int: the same for all). Default: 25.
    thetas_eval : ndarray or None, optional
        Explicit points ``(n, M)``; when given, the grid arguments are ignored.
    theta_start : ndarray or None, optional
        Starting point ``(N,)`` of the minimisations. Default: zeros.
    dof : int or None, optional
        Degrees of freedom of the p-values. Default: ``M``.
    method : {"TNC", "L-BFGS-B"}, optional
        The ``scipy.optimize.minimize`` method. Default: "TNC".

    Returns
    -------
    parameter_grid : ndarray, shape (n_points, M)
    p_values : ndarray, shape (n_points,)
    mle : int
        Index of the best grid point.
    log_likelihood_ratio : ndarray, shape (n_points,)
        Profiled ``log L`` relative to the best grid point.
    """
    if method not in _METHODS:
        raise InputError(f"method must be one of {', '.join(_METHODS)}, got {method!r}")
    n_parameters = int(negative_log_likelihood(None))
    components = _components(n_parameters, remaining_components)
    dof = len(components) if dof is None else int(dof)
    start = (
        np.zeros(n_parameters)
        if theta_start is None
        else np.asarray(theta_start, dtype=np.float64).reshape(-1)
    )
    if start.shape != (n_parameters,):
        raise InputError(f"theta_start must have {n_parameters} entries, got shape {np.shape(theta_start)}")
    grid = _grid(grid_ranges, grid_resolutions, thetas_eval, len(components))

    best_global = _minimize_blocks(negative_log_likelihood, start.reshape(1, -1), method)
    nll_global = _evaluate(negative_log_likelihood, best_global)[0]
    free = np.setdiff1d(np.arange(n_parameters), components)
    full = np.zeros((len(grid), n_parameters))
    full[:, components] = grid
    if len(free) > 0:

        def constrained(y: np.ndarray) -> np.ndarray:
            # y holds the free parameters of all grid points, stacked per point: (n_grid * (2k+1), k)
            repeats = len(y) // len(grid)
            points = np.repeat(full, repeats, axis=0)
            points[:, free] = y
            return _evaluate(negative_log_likelihood, points)

        constrained.vectorized = True  # type: ignore[attr-defined]
        starts = np.repeat(start[free].reshape(1, -1), len(grid), axis=0)
        full[:, free] = _minimize_blocks(constrained, starts, method)
    log_r = -(_evaluate(negative_log_likelihood, full) - nll_global)
    return _result(grid, log_r, dof)
