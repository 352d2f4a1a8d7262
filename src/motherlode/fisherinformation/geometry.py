r"""Information geometry: distances, geodesics and p-values from a Fisher information :math:`I(\theta)`.

The Fisher information is a Riemannian metric on parameter space. The distance along a path
:math:`\theta(t)` is :math:`\int \sqrt{\dot\theta^T I(\theta)\,\dot\theta}\,dt`; the shortest paths
(geodesics) solve :math:`\ddot\theta^a = -\Gamma^a_{bc}\dot\theta^b\dot\theta^c` with the
Christoffel symbols :math:`\Gamma^a_{bc} = \tfrac12 I^{ad}(\partial_c I_{db} + \partial_b I_{dc} -
\partial_d I_{bc})`. Asymptotically the geodesic distance :math:`d` from the true point gives the
p-value :math:`\chi^2_{\mathrm{sf}}(d^2; n)` for :math:`n` parameters.

:class:`InformationGeometry` has MadMiner 0.9.6's API and works in any number of dimensions.
The information comes from

* a formula (:meth:`~InformationGeometry.information_from_formula`): a string such as
  ``"np.array([[1 + theta[0], 1], [1, 2*theta[1]**2]])"``, parsed by the safe expression engine
  (:mod:`motherlode.expressions`, never Python's ``eval``) and evaluated for many points at once,
  or a Python callable ``theta -> (n, n) array``;
* a grid (:meth:`~InformationGeometry.information_from_grid`), interpolated piecewise linearly
  (:class:`scipy.interpolate.LinearNDInterpolator`) or smoothly
  (:class:`~scipy.interpolate.CloughTocher2DInterpolator` in two dimensions, as MadMiner; a
  thin-plate-spline :class:`~scipy.interpolate.RBFInterpolator` in any other dimension).

Geodesics are integrated for many initial directions at once (a vectorised fourth-order
Runge-Kutta scheme), and geodesics between two given points solve the boundary-value problem with
:func:`scipy.integrate.solve_bvp`.

Formula vocabulary
------------------
A formula reads the parameter point as ``theta`` (``theta[0]``, ``theta[1]``, ...; ``theta``
itself is the vector). It may use numbers, ``+ - * / ** //``, comparisons, ``a if c else b``, the
functions and constants of :data:`motherlode.expressions.MATH_FUNCTIONS` and
:data:`~motherlode.expressions.CONSTANTS`, optionally spelled with a ``np.`` (or ``numpy.``)
prefix, NumPy's names ``arcsin``, ``arccos``, ``arctan``, ``arctan2``, ``arcsinh``, ``arccosh``,
``arctanh``, ``absolute``, ``power``, ``square``, ``cbrt``, ``exp2``, ``minimum``, ``maximum``,
and to build matrices nested lists ``[[a, b], [c, d]]``, ``array(...)`` / ``asarray(...)``,
``diag(vector)`` and ``eye(n)`` / ``identity(n)``. Everything else (attribute access,
keyword arguments, names other than ``theta``, ...) is rejected with an
:class:`~motherlode.errors.ExpressionError` when the formula is set.

Internally every value of a formula carries a trailing axis over the points being evaluated
(a list display stacks its elements along a new first axis and broadcasts that trailing axis), so
that one evaluation serves a whole batch of points with the meaning of the formula at one point.

Examples
--------
>>> import numpy as np
>>> geometry = InformationGeometry()
>>> geometry.information_from_formula("np.array([[1.0, 0.0], [0.0, 4.0]])", dimension=2)
>>> thetas, distances = geometry.find_geodesic_straight([0.0, 0.0], [3.0, 1.0])
>>> round(float(distances[-1]), 6)  # sqrt(3**2 * 1 + 1**2 * 4)
3.605551

On the hyperbolic half-plane :math:`I = \mathrm{diag}(1, 1) / \theta_1^2` the geodesic between
two points at the same height is an arc, shorter than the straight line:

>>> geometry.information_from_formula("eye(2) / theta[1]**2", dimension=2)
>>> float(geometry.find_geodesic_straight([-1.0, 1.0], [1.0, 1.0])[1][-1])
2.0
>>> round(float(geometry.find_geodesic_numerically([-1.0, 1.0], [1.0, 1.0])[1][-1]), 5)
1.76275
>>> round(float(np.arccosh(3.0)), 5)
1.76275
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.integrate import solve_bvp
from scipy.interpolate import CloughTocher2DInterpolator, LinearNDInterpolator, RBFInterpolator
from scipy.spatial import Delaunay
from scipy.stats import chi2, norm, qmc

from ..errors import ExpressionError, InputError, MotherlodeError, SetupError
from ..expressions import Expression
from ..utils.various import load_and_check

__all__ = ["InformationGeometry"]

logger = logging.getLogger(__name__)

RandomState = int | np.random.Generator | None

#: Relative step of the central finite differences for the derivative of the information.
DERIVATIVE_STEP = 1.0e-5

#: Largest change of direction (in radians, roughly) of a geodesic in one integration step.
MAX_TURNING_PER_STEP = 0.05

#: Grids with more points than this use a local RBF of this many nearest neighbours ("smooth").
RBF_NEIGHBORS = 64
_RBF_GLOBAL_MAX_POINTS = 1000

_MAX_EYE_SIZE = 1000


# ----------------------------------------------------------------------------------------------
# Formulas: the expression vocabulary on batches of points
# ----------------------------------------------------------------------------------------------


def _stack_display(elements: list[Any]) -> np.ndarray:
    """A list display ``[a, b, ...]``: stack the elements along a new first axis.

    Every element carries a trailing axis over the points (scalars count as length one); the
    elements must have the same shape apart from it, and that axis is broadcast.
    """
    if not elements:
        raise ExpressionError("an empty list cannot be part of a Fisher information")
    arrays = [np.asarray(element, dtype=float) for element in elements]
    arrays = [array.reshape(1) if array.ndim == 0 else array for array in arrays]
    if len({array.shape[:-1] for array in arrays}) > 1:
        shapes = sorted({str(array.shape[:-1]) for array in arrays})
        raise ExpressionError(f"the elements of a list have different shapes {', '.join(shapes)}")
    try:
        points = np.broadcast_shapes(*(array.shape[-1:] for array in arrays))
    except ValueError as error:
        raise ExpressionError(f"the elements of a list do not broadcast: {error}") from None
    return np.stack([np.broadcast_to(array, array.shape[:-1] + points) for array in arrays])


def _array(value: Any) -> np.ndarray:
    """``array(x)``: the value as a float array (lists are arrays already)."""
    return np.asarray(value, dtype=float)


def _diag(vector: Any) -> np.ndarray:
    """``diag(v)``: the diagonal matrix with the vector ``v`` (e.g. ``[a, b]`` or ``theta``)."""
    vector = np.asarray(vector, dtype=float)
    if vector.ndim != 2:
        raise ExpressionError("diag() takes a vector such as [a, b] or theta")
    size, points = vector.shape
    matrix = np.zeros((size, size, points))
    matrix[np.arange(size), np.arange(size)] = vector
    return matrix


def _eye(size: Any) -> np.ndarray:
    """``eye(n)`` / ``identity(n)``: the ``n x n`` unit matrix."""
    size = np.asarray(size)
    if size.ndim != 0 or not float(size).is_integer() or not 1 <= float(size) <= _MAX_EYE_SIZE:
        raise ExpressionError(f"eye() takes a whole number from 1 to {_MAX_EYE_SIZE}, such as eye(2)")
    return np.eye(int(size))[..., np.newaxis]


FORMULA_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "array": _array,
    "asarray": _array,
    "diag": _diag,
    "eye": _eye,
    "identity": _eye,
    "arcsin": np.arcsin,
    "arccos": np.arccos,
    "arctan": np.arctan,
    "arctan2": np.arctan2,
    "arcsinh": np.arcsinh,
    "arccosh": np.arccosh,
    "arctanh": np.arctanh,
    "absolute": np.absolute,
    "power": np.power,
    "square": np.square,
    "cbrt": np.cbrt,
    "exp2": np.exp2,
    "minimum": np.minimum,
    "maximum": np.maximum,
}
"""Functions a formula may use on top of :data:`motherlode.expressions.MATH_FUNCTIONS`."""


def _formula_expression(formula: str) -> Expression:
    """Parse an information formula (an :class:`ExpressionError` if it is not allowed)."""
    return Expression(
        formula,
        names={"theta"},
        functions=FORMULA_FUNCTIONS,
        allow_subscripts=True,
        modules={"np", "numpy"},
        list_display=_stack_display,
        context="information formula",
    )


def _matrices_from_formula_value(value: Any, n_points: int, dimension: int) -> np.ndarray:
    """The value of a formula on ``n_points`` points (trailing point axis) as ``(n_points, n, n)``."""
    value = np.asarray(value, dtype=float)
    if dimension == 1 and value.ndim <= 1:
        value = value.reshape(1, 1, -1)  # one parameter: a number per point is a 1 x 1 matrix
    if value.ndim == 3 and value.shape[:2] == (dimension, dimension) and value.shape[2] in (1, n_points):
        return np.moveaxis(np.broadcast_to(value, (dimension, dimension, n_points)), -1, 0)
    per_point = value.shape[:-1] if value.ndim else ()
    raise InputError(
        f"the information formula gives an array of shape {per_point} at each point, "
        f"expected ({dimension}, {dimension})"
    )


# ----------------------------------------------------------------------------------------------
# Grids: interpolation in any dimension
# ----------------------------------------------------------------------------------------------


class _HullMaskedRBF:
    """A thin-plate-spline RBF interpolation that is NaN outside the convex hull of the grid,
    like SciPy's piecewise interpolators. Coordinates are scaled to the unit box first."""

    def __init__(self, points: np.ndarray, values: np.ndarray) -> None:
        self.low = points.min(axis=0)
        self.scale = np.where(np.ptp(points, axis=0) > 0, np.ptp(points, axis=0), 1.0)
        scaled = (points - self.low) / self.scale
        neighbors = RBF_NEIGHBORS if len(points) > _RBF_GLOBAL_MAX_POINTS else None
        self.rbf = RBFInterpolator(scaled, values, kernel="thin_plate_spline", neighbors=neighbors)
        self.shape = values.shape[1:]
        self.hull = Delaunay(scaled) if points.shape[1] > 1 else None

    def __call__(self, points: np.ndarray) -> np.ndarray:
        scaled = (points - self.low) / self.scale
        if self.hull is not None:
            inside = self.hull.find_simplex(scaled) >= 0
        else:
            inside = (scaled[:, 0] >= -1e-12) & (scaled[:, 0] <= 1.0 + 1e-12)
        values = np.full((len(points), *self.shape), np.nan)
        if inside.any():
            values[inside] = self.rbf(scaled[inside])
        return values


class _Linear1D:
    """Piecewise-linear interpolation in one dimension, NaN outside the grid."""

    def __init__(self, points: np.ndarray, values: np.ndarray) -> None:
        order = np.argsort(points[:, 0], kind="stable")
        self.x = points[order, 0]
        self.values = values[order].reshape(len(points), -1)
        self.shape = values.shape[1:]

    def __call__(self, points: np.ndarray) -> np.ndarray:
        x = points[:, 0]
        columns = [np.interp(x, self.x, column, left=np.nan, right=np.nan) for column in self.values.T]
        return np.stack(columns, axis=-1).reshape(len(x), *self.shape)


def _interpolator(points: np.ndarray, values: np.ndarray, option: str) -> Callable[[np.ndarray], np.ndarray]:
    """An interpolation of ``values`` (shape ``(n_points, ...)``) on ``points`` (``(n_points, n)``),
    called with points of shape ``(m, n)``."""
    dimension = points.shape[1]
    try:
        if option == "linear":
            return _Linear1D(points, values) if dimension == 1 else LinearNDInterpolator(points, values)
        if dimension == 2:
            return CloughTocher2DInterpolator(points, values)
        return _HullMaskedRBF(points, values)
    except (ValueError, np.linalg.LinAlgError) as error:  # QhullError is a RuntimeError subclass
        raise InputError(f"information_from_grid: cannot interpolate on this grid ({error})") from error
    except RuntimeError as error:
        raise InputError(f"information_from_grid: cannot triangulate the grid ({error})") from error


# ----------------------------------------------------------------------------------------------
# Linear algebra and integration helpers
# ----------------------------------------------------------------------------------------------


def _solve(matrices: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``matrices^{-1} right`` for a batch; NaN for matrices that are not finite or singular."""
    result = np.full(right.shape, np.nan)
    good = np.isfinite(matrices).all(axis=(-2, -1)) & np.isfinite(right).all(axis=(-2, -1))
    if not good.any():
        return result
    try:
        result[good] = np.linalg.solve(matrices[good], right[good])
    except np.linalg.LinAlgError:
        for index in np.flatnonzero(good):
            with contextlib.suppress(np.linalg.LinAlgError):
                result[index] = np.linalg.solve(matrices[index], right[index])
    return result


def _interval_simpson(speeds: np.ndarray, midpoint_speeds: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Cumulative integral from Simpson's rule on every interval (values at both ends and the middle),
    starting at zero; integration along the last axis."""
    pieces = widths / 6.0 * (speeds[..., :-1] + 4.0 * midpoint_speeds + speeds[..., 1:])
    return np.concatenate([np.zeros((*pieces.shape[:-1], 1)), np.cumsum(pieces, axis=-1)], axis=-1)


def _check_limits(limits: ArrayLike, dimension: int, name: str) -> np.ndarray:
    """``limits`` as an array ``(n, 2)`` with ``min <= max``."""
    limits = np.asarray(limits, dtype=float)
    if limits.shape != (dimension, 2):
        raise InputError(
            f"{name} must be [[min, max], ...] with {dimension} entries, got shape {limits.shape}"
        )
    if np.any(limits[:, 0] > limits[:, 1]):
        raise InputError(f"{name} has an entry with min > max: {limits.tolist()}")
    return limits


def _rng(random_state: RandomState) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)


def _directions(dimension: int, n_directions: int, continuous: bool, random_state: RandomState) -> np.ndarray:
    """``n_directions`` unit vectors: evenly spread (``continuous``) or random, uniform on the sphere."""
    if dimension == 1:
        if continuous:
            return np.where(np.arange(n_directions) % 2 == 0, 1.0, -1.0)[:, None]
        return np.where(_rng(random_state).random(n_directions) < 0.5, 1.0, -1.0)[:, None]
    if continuous and dimension == 2:
        angles = 2.0 * np.pi * np.arange(n_directions) / n_directions
        return np.stack([np.cos(angles), np.sin(angles)], axis=1)
    if continuous:  # a low-discrepancy (Halton) sequence mapped onto the sphere
        uniform = qmc.Halton(d=dimension, scramble=False).random(n_directions + 1)[1:]
        vectors = norm.ppf(uniform)
    else:
        vectors = _rng(random_state).standard_normal((n_directions, dimension))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


# ----------------------------------------------------------------------------------------------
# The class
# ----------------------------------------------------------------------------------------------


class InformationGeometry:
    r"""Distances, geodesics and p-values from the Fisher information as a metric.

    After creating the object, define the Fisher information :math:`I(\theta)` with
    :meth:`information_from_formula` (a formula or a function of :math:`\theta`) or
    :meth:`information_from_grid` (matrices on a grid of points, interpolated). Then
    :meth:`distance_contours` gives the distance from a point and the p-values on a grid,
    :meth:`find_trajectory` follows one geodesic from a point and a direction, and
    :meth:`find_geodesic_straight` / :meth:`find_geodesic_numerically` measure the distance
    between two points along the straight line / the geodesic.

    Unlike MadMiner 0.9.6 (two parameters only), any number of parameters works.

    Attributes
    ----------
    infotype : {"formula", "grid"} or None
        How the information was defined (None: not yet).
    dimension : int
        The number of parameters.
    information_formula : str or callable or None
        The formula given to :meth:`information_from_formula`.
    inverse : {"exact", "interpolate"}
        How the inverse information is obtained (see :meth:`information_from_grid`).

    Examples
    --------
    >>> geometry = InformationGeometry()
    >>> geometry.information_from_formula("np.array([[2.0, 0.0], [0.0, 8.0]])", dimension=2)
    >>> thetas, distances = geometry.find_trajectory([0.0, 0.0], [0.0, 1.0], [[-1, 1], [-1, 1]], 0.5)
    >>> thetas
    array([[0. , 0. ],
           [0. , 0.5],
           [0. , 1. ],
           [0. , 1.5]])
    >>> distances  # 4 * |delta theta|
    array([0.   , 1.414, 2.828, 4.243])
    """

    def __init__(self) -> None:
        self.infotype: str | None = None
        self.dimension = 0
        self.information_formula: str | Callable[[np.ndarray], ArrayLike] | None = None
        self.inverse = "exact"
        self.infofunction: Callable[[np.ndarray], np.ndarray] | None = None
        self.infofunction_inv: Callable[[np.ndarray], np.ndarray] | None = None
        self._expression: Expression | None = None

    # -- defining the information ---------------------------------------------------------------

    def information_from_formula(
        self, formula: str | Callable[[np.ndarray], ArrayLike], dimension: int
    ) -> None:
        """Define the Fisher information by a formula in the parameter point ``theta``.

        Parameters
        ----------
        formula : str or callable
            A string such as ``"np.array([[1 + theta[0], 1], [1, 2*theta[1]**2]])"`` in the
            vocabulary described in :mod:`motherlode.fisherinformation.geometry` (parsed safely,
            never evaluated by Python), or a function that takes ``theta`` (an array of shape
            ``(dimension,)``) and returns the ``(dimension, dimension)`` information. A string is
            evaluated for many points at once; a function is called point by point.
        dimension : int
            The number of parameters.

        Raises
        ------
        ExpressionError
            If the string is not valid or uses something outside the vocabulary.
        InputError
            If ``dimension`` is not a positive integer, or the formula does not give a
            ``(dimension, dimension)`` matrix (checked at ``theta = (1, ..., 1)`` for a string,
            at every evaluation for a function).

        Examples
        --------
        >>> geometry = InformationGeometry()
        >>> geometry.information_from_formula("np.exp(-theta[0]**2) * np.array([[1, 1], [1, 2]])", 2)
        >>> geometry._information(np.array([0.0, 5.0]))
        array([[1., 1.],
               [1., 2.]])
        >>> geometry.information_from_formula("__import__('os')", 2)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        motherlode.errors.ExpressionError: information formula: invalid expression ...
        """
        if isinstance(dimension, bool) or not isinstance(dimension, (int, np.integer)) or dimension < 1:
            raise InputError(
                f"information_from_formula: dimension must be a positive integer, got {dimension!r}"
            )
        if isinstance(formula, str):
            expression = _formula_expression(formula)
        elif callable(formula):
            expression = None
        else:
            raise InputError(
                "information_from_formula: formula must be a string or a callable theta -> (n, n) "
                f"array, got {type(formula).__name__}"
            )
        self.infotype = "formula"
        self.dimension = int(dimension)
        self.information_formula = formula
        self.inverse = "exact"
        self.infofunction = self.infofunction_inv = None
        self._expression = expression
        if expression is not None:
            self._information(np.ones(self.dimension))  # shape and index errors now, not later

    def information_from_grid(
        self,
        theta_grid: ArrayLike | str,
        fisherinformation_grid: ArrayLike | str,
        option: str = "smooth",
        inverse: str = "exact",
    ) -> None:
        """Define the Fisher information by matrices on a grid of points, interpolated in between.

        Parameters
        ----------
        theta_grid : array_like or str
            The points (or a ``.npy`` file with them), shape ``(n_gridpoints, n_dimension)``; a
            regular grid or scattered points.
        fisherinformation_grid : array_like or str
            The information at every point (or a ``.npy`` file), shape
            ``(n_gridpoints, n_dimension, n_dimension)``.
        option : {"smooth", "linear"}, optional
            "linear": piecewise linear on a Delaunay triangulation
            (:class:`~scipy.interpolate.LinearNDInterpolator`; in one dimension between
            neighbouring points). "smooth": :class:`~scipy.interpolate.CloughTocher2DInterpolator`
            for two parameters (as MadMiner), a thin-plate-spline
            :class:`~scipy.interpolate.RBFInterpolator` on coordinates scaled to the unit box for
            any other number (with the nearest 64 points only for grids of more than 1000
            points). Outside the convex hull of the grid the information is NaN in all cases, so
            geodesics stop there. Default "smooth".
        inverse : {"exact", "interpolate"}, optional
            "exact": invert the interpolated information where needed. "interpolate": invert the
            matrices of the grid and interpolate the inverses. Default "exact".

        Raises
        ------
        InputError
            If an option is unknown, the shapes do not fit, or the points cannot be
            triangulated (e.g. all on a line).
        """
        if option not in ("smooth", "linear"):
            raise InputError(f"information_from_grid: option must be 'smooth' or 'linear', got {option!r}")
        if inverse not in ("exact", "interpolate"):
            raise InputError(
                f"information_from_grid: inverse must be 'exact' or 'interpolate', got {inverse!r}"
            )
        points = np.asarray(load_and_check(theta_grid), dtype=float)
        matrices = np.asarray(load_and_check(fisherinformation_grid), dtype=float)
        if matrices.ndim == 2 and matrices.shape[1] == 1:  # one parameter: a number per point
            matrices = matrices.reshape(-1, 1, 1)
        if matrices.ndim != 3 or matrices.shape[1] != matrices.shape[2]:
            raise InputError(
                "information_from_grid: fisherinformation_grid must have shape (n_gridpoints, n, n), "
                f"got {matrices.shape}"
            )
        dimension = matrices.shape[1]
        if points.shape != (len(matrices), dimension):
            raise InputError(
                f"information_from_grid: theta_grid must have shape ({len(matrices)}, {dimension}) to "
                f"match fisherinformation_grid {matrices.shape}, got {points.shape}"
            )
        infofunction = _interpolator(points, matrices, option)
        infofunction_inv = None
        if inverse == "interpolate":
            infofunction_inv = _interpolator(points, np.linalg.inv(matrices), option)
        self.infotype = "grid"
        self.dimension = dimension
        self.information_formula = None
        self.inverse = inverse
        self.infofunction, self.infofunction_inv = infofunction, infofunction_inv
        self._expression = None
        logger.debug("Interpolating the Fisher information on %d points (%s)", len(points), option)

    # -- the information and its derivatives ----------------------------------------------------

    def _points(self, theta: ArrayLike, name: str = "theta") -> tuple[np.ndarray, bool]:
        """``theta`` as a batch ``(m, n)``, and whether it was a single point."""
        if self.infotype is None:
            raise SetupError(
                "InformationGeometry: no Fisher information defined yet; call information_from_formula() "
                "or information_from_grid() first"
            )
        points = np.asarray(theta, dtype=float)
        single = points.ndim == 1
        points = np.atleast_2d(points)
        if points.ndim != 2 or points.shape[1] != self.dimension:
            raise InputError(
                f"{name} should have length {self.dimension} (or shape (m, {self.dimension})), "
                f"got shape {np.shape(theta)}"
            )
        return points, single

    def _point(self, theta: ArrayLike, name: str) -> np.ndarray:
        """``theta`` as one point of shape ``(n,)``."""
        points, single = self._points(theta, name)
        if not single:
            raise InputError(
                f"{name} must be one point of length {self.dimension}, got shape {np.shape(theta)}"
            )
        return points[0]

    def _evaluate(self, points: np.ndarray) -> np.ndarray:
        """The information at ``points`` ``(m, n)``, shape ``(m, n, n)``."""
        if self.infotype == "grid":
            assert self.infofunction is not None  # set with infotype "grid"
            return np.asarray(self.infofunction(points), dtype=float).reshape(len(points), self.dimension, -1)
        if self._expression is not None:
            try:
                value = self._expression(theta=points.T)
            except (IndexError, ValueError, TypeError) as error:
                if isinstance(error, ExpressionError):
                    raise
                raise InputError(
                    f"the information formula {self.information_formula!r} cannot be evaluated for "
                    f"{self.dimension} parameters: {error}"
                ) from error
            return _matrices_from_formula_value(value, len(points), self.dimension)
        formula = self.information_formula
        assert callable(formula)  # a string formula has an expression
        matrices = [np.asarray(formula(point), dtype=float) for point in points]
        expected = (self.dimension, self.dimension)
        for matrix in matrices:
            if matrix.shape != expected:
                raise InputError(
                    f"the information function returned shape {matrix.shape}, expected {expected}"
                )
        return np.stack(matrices) if matrices else np.empty((0, *expected))

    def _information(self, theta: ArrayLike) -> np.ndarray:
        """The Fisher information at ``theta``.

        Parameters
        ----------
        theta : array_like
            One point, shape ``(n_dimension,)``, or many, shape ``(m, n_dimension)``.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_dimension, n_dimension)``, or ``(m, n_dimension, n_dimension)``.
        """
        points, single = self._points(theta)
        information = self._evaluate(points)
        return information[0] if single else information

    def _information_inv(self, theta: ArrayLike) -> np.ndarray:
        """The inverse Fisher information at ``theta`` (shapes as :meth:`_information`)."""
        points, single = self._points(theta)
        if self.inverse == "interpolate":
            assert self.infofunction_inv is not None  # set with inverse "interpolate"
            inverse = np.asarray(self.infofunction_inv(points)).reshape(len(points), self.dimension, -1)
        else:
            information = self._evaluate(points)
            inverse = _solve(information, np.broadcast_to(np.eye(self.dimension), information.shape))
        return inverse[0] if single else inverse

    def _shifted_points(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The points ``(m, n)`` with every coordinate shifted up and down (``(m, 2, n, n)``), and
        the steps ``(m, n)``."""
        steps = DERIVATIVE_STEP * np.maximum(1.0, np.abs(points))
        offsets = np.eye(self.dimension) * steps[:, :, np.newaxis]  # (m, k, n)
        shifted = points[:, np.newaxis, np.newaxis, :] + np.stack([offsets, -offsets], axis=1)
        return shifted, steps

    def _derivative_from_values(self, values: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """Central differences: ``values`` ``(m, 2, n, n, n)`` at the shifted points -> ``(m, n, n, n)``."""
        return (values[:, 0] - values[:, 1]) / (2.0 * steps[:, :, np.newaxis, np.newaxis])

    def _information_derivative(self, theta: ArrayLike) -> np.ndarray:
        r"""The derivative :math:`\partial_k I_{ij}` at ``theta`` by central finite differences.

        Returns
        -------
        numpy.ndarray
            ``[k, i, j]``: shape ``(n, n, n)``, or ``(m, n, n, n)`` for many points.
        """
        points, single = self._points(theta)
        shifted, steps = self._shifted_points(points)
        n = self.dimension
        values = self._evaluate(shifted.reshape(-1, n)).reshape(len(points), 2, n, n, n)
        derivative = self._derivative_from_values(values, steps)
        return derivative[0] if single else derivative

    def _metric_and_christoffel(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The information ``(m, n, n)`` and the Christoffel symbols ``(m, n, n, n)`` at ``points``,
        from one batched evaluation of ``m (2n + 1)`` points."""
        n, m = self.dimension, len(points)
        shifted, steps = self._shifted_points(points)
        values = self._evaluate(np.concatenate([points, shifted.reshape(-1, n)]))
        information = values[:m]
        derivative = self._derivative_from_values(values[m:].reshape(m, 2, n, n, n), steps)
        # lowered symbols Gamma_{d,b,c} = d_c I_db + d_b I_dc - d_d I_bc (times 1/2)
        lowered = np.einsum("mcdb->mdbc", derivative) + np.einsum("mbdc->mdbc", derivative) - derivative
        if self.inverse == "interpolate":
            assert self.infofunction_inv is not None  # set with inverse "interpolate"
            inverse = np.asarray(self.infofunction_inv(points)).reshape(m, n, n)
            christoffel = 0.5 * np.einsum("mad,mdbc->mabc", inverse, lowered)
        else:
            christoffel = 0.5 * _solve(information, lowered.reshape(m, n, n * n)).reshape(m, n, n, n)
        return information, christoffel

    def _christoffel(self, theta: ArrayLike) -> np.ndarray:
        r"""The Christoffel symbols of the second kind :math:`\Gamma^a_{bc}` at ``theta``,
        :math:`\tfrac12 I^{ad}(\partial_c I_{db} + \partial_b I_{dc} - \partial_d I_{bc})`.

        Returns
        -------
        numpy.ndarray
            ``[a, b, c]``: shape ``(n, n, n)``, or ``(m, n, n, n)`` for many points.
        """
        points, single = self._points(theta)
        christoffel = self._metric_and_christoffel(points)[1]
        return christoffel[0] if single else christoffel

    # -- geodesics from a point and a direction ------------------------------------------------

    def _geodesic_rates(self, states: np.ndarray) -> np.ndarray:
        """Rates of ``(theta, velocity, distance)`` (``(m, 2n + 1)``) along geodesics."""
        n = self.dimension
        theta, velocity = states[:, :n], states[:, n : 2 * n]
        information, christoffel = self._metric_and_christoffel(theta)
        acceleration = -np.einsum("mabc,mb,mc->ma", christoffel, velocity, velocity)
        with np.errstate(invalid="ignore"):
            speed = np.sqrt(np.einsum("mab,ma,mb->m", information, velocity, velocity))
        return np.concatenate([velocity, acceleration, speed[:, np.newaxis]], axis=1)

    def _step_sizes(self, rates: np.ndarray, stepsize: float) -> np.ndarray:
        """Affine step per geodesic: at most ``stepsize`` in parameter space and at most about
        :data:`MAX_TURNING_PER_STEP` radians of turning."""
        n = self.dimension
        speed = np.linalg.norm(rates[:, :n], axis=1)
        acceleration = np.linalg.norm(rates[:, n : 2 * n], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            by_length = stepsize / speed
            by_turning = np.where(acceleration > 0, MAX_TURNING_PER_STEP * speed / acceleration, np.inf)
        return np.minimum(by_length, by_turning)

    def _shoot(
        self, theta0: np.ndarray, directions: np.ndarray, limits: np.ndarray, stepsize: float, max_steps: int
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Follow geodesics from ``theta0`` in ``directions`` (``(k, n)``), all at once, with a
        fourth-order Runge-Kutta scheme, until each leaves ``limits`` (the first point outside is
        kept), stops being finite, or ``max_steps`` steps are done."""
        n, k = self.dimension, len(directions)
        velocity = directions / np.linalg.norm(directions, axis=1, keepdims=True)
        states = np.concatenate(
            [np.repeat(theta0[np.newaxis], k, axis=0), velocity, np.zeros((k, 1))], axis=1
        )
        history = [[state[:n].copy()] for state in states]
        distances = [[0.0] for _ in range(k)]
        active = np.flatnonzero(np.isfinite(states).all(axis=1))
        for _ in range(max_steps):
            if active.size == 0:
                break
            current = states[active]
            rates1 = self._geodesic_rates(current)
            step = self._step_sizes(rates1, stepsize)[:, np.newaxis]
            rates2 = self._geodesic_rates(current + 0.5 * step * rates1)
            rates3 = self._geodesic_rates(current + 0.5 * step * rates2)
            rates4 = self._geodesic_rates(current + step * rates3)
            updated = current + step / 6.0 * (rates1 + 2.0 * rates2 + 2.0 * rates3 + rates4)
            finite = np.isfinite(updated).all(axis=1)
            outside = np.any((updated[:, :n] < limits[:, 0]) | (updated[:, :n] > limits[:, 1]), axis=1)
            for index, state in zip(active[finite], updated[finite], strict=True):
                history[index].append(state[:n])
                distances[index].append(state[-1])
            states[active] = updated
            active = active[finite & ~outside]
        if active.size:
            logger.debug("%d geodesics still inside the limits after %d steps", active.size, max_steps)
        return [(np.array(points), np.array(dist)) for points, dist in zip(history, distances, strict=True)]

    def find_trajectory(
        self,
        theta0: ArrayLike,
        dtheta0: ArrayLike,
        limits: ArrayLike,
        stepsize: float = 1,
        *,
        max_steps: int = 1000,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Follow the geodesic that starts at ``theta0`` in the direction ``dtheta0``.

        The geodesic equation is integrated with a fourth-order Runge-Kutta scheme; each step
        moves at most ``stepsize`` in parameter space and turns by at most about 0.05 radians.

        Parameters
        ----------
        theta0 : array_like
            The starting point, shape ``(n_dimension,)``.
        dtheta0 : array_like
            The initial direction, shape ``(n_dimension,)`` (its length does not matter).
        limits : array_like
            ``[[min, max], ...]`` for every parameter: the geodesic ends at its first point
            outside (which is included).
        stepsize : float, optional
            Largest step ``|delta theta|`` in parameter space. Default 1.
        max_steps : int, optional
            Largest number of steps (keyword only; MadMiner stopped after 200). Default 1000.

        Returns
        -------
        list_of_theta : numpy.ndarray
            The points of the geodesic, shape ``(n_points, n_dimension)``, starting at ``theta0``.
        list_of_distance : numpy.ndarray
            The distance of every point from ``theta0`` along the geodesic, shape ``(n_points,)``.
            A geodesic ends early where the information is not finite (e.g. outside the grid).
        """
        theta0 = self._point(theta0, "theta0")
        direction = np.asarray(dtheta0, dtype=float).reshape(-1)
        if direction.shape != (self.dimension,) or not np.linalg.norm(direction) > 0:
            raise InputError(f"dtheta0 must be a nonzero vector of length {self.dimension}, got {dtheta0!r}")
        limits = _check_limits(limits, self.dimension, "limits")
        if not stepsize > 0:
            raise InputError(f"stepsize must be positive, got {stepsize!r}")
        return self._shoot(theta0, direction[np.newaxis], limits, float(stepsize), int(max_steps))[0]

    # -- geodesics between two points ----------------------------------------------------------

    def _endpoints(self, theta_start: ArrayLike, theta_end: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        return self._point(theta_start, "theta_start"), self._point(theta_end, "theta_end")

    def _path_speeds(self, thetas: np.ndarray, velocities: np.ndarray) -> np.ndarray:
        r"""Metric speeds :math:`\sqrt{v^T I(\theta) v}` along a path (``(m, n)`` each)."""
        information = self._evaluate(thetas)
        with np.errstate(invalid="ignore"):
            return np.sqrt(np.einsum("mab,ma,mb->m", information, velocities, velocities))

    def find_geodesic_straight(
        self, theta_start: ArrayLike, theta_end: ArrayLike, n_points: int = 101
    ) -> tuple[np.ndarray, np.ndarray]:
        r"""The distance along the straight line from ``theta_start`` to ``theta_end``.

        The integral :math:`\int_0^1 \sqrt{\Delta^T I(\theta_s + t\Delta)\,\Delta}\,dt` with
        :math:`\Delta = \theta_e - \theta_s` uses Simpson's rule on each of the ``n_points - 1``
        intervals. It is an upper bound on the geodesic distance and equals it where the
        information is constant. (A motherlode addition; MadMiner has no such method.)

        Parameters
        ----------
        theta_start, theta_end : array_like
            The end points, shape ``(n_dimension,)``.
        n_points : int, optional
            Number of points along the line (at least 2). Default 101.

        Returns
        -------
        list_of_theta : numpy.ndarray
            Points on the line, shape ``(n_points, n_dimension)``.
        list_of_distance : numpy.ndarray
            Distance of every point from ``theta_start`` along the line, shape ``(n_points,)``;
            the last entry is the length of the line (NaN where the information is not defined).
        """
        start, end = self._endpoints(theta_start, theta_end)
        if int(n_points) < 2:
            raise InputError(f"n_points must be at least 2, got {n_points!r}")
        t = np.linspace(0.0, 1.0, int(n_points))
        midpoints = 0.5 * (t[:-1] + t[1:])
        delta = end - start
        samples = start + np.concatenate([t, midpoints])[:, np.newaxis] * delta
        speeds = self._path_speeds(samples, np.broadcast_to(delta, samples.shape))
        distances = _interval_simpson(speeds[: len(t)], speeds[len(t) :], np.diff(t))
        return samples[: len(t)], distances

    def find_geodesic_numerically(
        self,
        theta_start: ArrayLike,
        theta_end: ArrayLike,
        n_points: int = 101,
        tolerance: float = 1.0e-6,
        max_nodes: int = 10000,
    ) -> tuple[np.ndarray, np.ndarray]:
        r"""The geodesic from ``theta_start`` to ``theta_end`` and the distance along it.

        Solves the boundary-value problem :math:`\ddot\theta^a = -\Gamma^a_{bc}\dot\theta^b
        \dot\theta^c`, :math:`\theta(0) = \theta_s`, :math:`\theta(1) = \theta_e` with
        :func:`scipy.integrate.solve_bvp`, starting from the straight line, then integrates the
        metric speed along the solution with Simpson's rule. The geodesic found is the one
        connected to the straight line; on spaces with several geodesics between the points it
        is a local, not necessarily the global, shortest path. (A motherlode addition.)

        Parameters
        ----------
        theta_start, theta_end : array_like
            The end points, shape ``(n_dimension,)``.
        n_points : int, optional
            Number of points returned along the geodesic (at least 2). Default 101.
        tolerance : float, optional
            Tolerance of the boundary-value solver (``tol`` of :func:`~scipy.integrate.solve_bvp`).
            Default 1e-6.
        max_nodes : int, optional
            Largest number of mesh nodes of the solver. Default 10000.

        Returns
        -------
        list_of_theta : numpy.ndarray
            Points on the geodesic, shape ``(n_points, n_dimension)``, at equal steps of its
            affine parameter (so at equal distances).
        list_of_distance : numpy.ndarray
            Distance of every point from ``theta_start`` along the geodesic, shape
            ``(n_points,)``; the last entry is the geodesic distance.

        Raises
        ------
        MotherlodeError
            If the solver does not converge (for instance where the information is not defined
            along the way).
        """
        start, end = self._endpoints(theta_start, theta_end)
        if int(n_points) < 2:
            raise InputError(f"n_points must be at least 2, got {n_points!r}")
        n = self.dimension
        delta = end - start
        if not np.any(delta):
            return start[np.newaxis].repeat(int(n_points), axis=0), np.zeros(int(n_points))

        def rates(_: np.ndarray, states: np.ndarray) -> np.ndarray:
            theta, velocity = states[:n].T, states[n:].T
            christoffel = self._metric_and_christoffel(theta)[1]
            acceleration = -np.einsum("mabc,mb,mc->ma", christoffel, velocity, velocity)
            return np.concatenate([velocity.T, acceleration.T])

        def boundary(at_start: np.ndarray, at_end: np.ndarray) -> np.ndarray:
            return np.concatenate([at_start[:n] - start, at_end[:n] - end])

        mesh = np.linspace(0.0, 1.0, 11)
        guess = np.concatenate(
            [start[:, np.newaxis] + delta[:, np.newaxis] * mesh, np.repeat(delta[:, None], 11, 1)]
        )
        with np.errstate(all="ignore"):
            solution = solve_bvp(rates, boundary, mesh, guess, tol=float(tolerance), max_nodes=int(max_nodes))
        if not solution.success:
            raise MotherlodeError(
                f"find_geodesic_numerically: no geodesic from {start.tolist()} to {end.tolist()} found "
                f"({solution.message}); find_geodesic_straight gives an upper bound on the distance"
            )
        t = np.linspace(0.0, 1.0, int(n_points))
        midpoints = 0.5 * (t[:-1] + t[1:])
        states = solution.sol(np.concatenate([t, midpoints])).T
        speeds = self._path_speeds(states[:, :n], states[:, n:])
        distances = _interval_simpson(speeds[: len(t)], speeds[len(t) :], np.diff(t))
        return states[: len(t), :n], distances

    # -- distance contours ---------------------------------------------------------------------

    def distance_contours(
        self,
        theta0: ArrayLike,
        grid_ranges: Sequence[Sequence[float]],
        grid_resolutions: Sequence[int] | int,
        stepsize: float | None = None,
        ntrajectories: int | None = None,
        continous_sampling: bool = False,
        return_trajectories: bool = False,
        *,
        random_state: RandomState = None,
        max_steps: int = 1000,
    ) -> tuple[Any, ...]:
        """Distances from ``theta0`` and their p-values on a grid of points.

        Geodesics leave ``theta0`` in ``ntrajectories`` directions (:meth:`find_trajectory`);
        their points and distances are interpolated linearly (Delaunay) onto the grid, and the
        p-values are ``chi2.sf(distance**2, n_dimension)``.

        Parameters
        ----------
        theta0 : array_like
            The point the distances are measured from, shape ``(n_dimension,)``.
        grid_ranges : list of (float, float)
            ``[[min, max], ...]`` for every parameter.
        grid_resolutions : list of int or int
            Number of grid points along every parameter (one int: the same for all).
        stepsize : float or None, optional
            Largest integration step ``|delta theta|``; None: the smallest range / 20.
        ntrajectories : int or None, optional
            Number of geodesics; None: 20 per parameter.
        continous_sampling : bool, optional
            True: evenly spread directions (equal angles in two dimensions, a Halton sequence
            mapped onto the sphere in more, alternating signs in one). False: random directions,
            uniform on the sphere. Default False.
        return_trajectories : bool, optional
            Also return the points of the geodesics and their distances. Default False.
        random_state : int, numpy.random.Generator or None, optional
            Seed or generator of the random directions (keyword only). Default None.
        max_steps : int, optional
            Largest number of steps per geodesic (keyword only). Default 1000.

        Returns
        -------
        theta_grid : numpy.ndarray
            The grid points, shape ``(n_grid_points, n_dimension)`` (the first parameter varies
            slowest).
        p_values : numpy.ndarray
            The p-value at every grid point, shape ``(n_grid_points,)``.
        distance_grid : numpy.ndarray
            The distance from ``theta0`` at every grid point, shape ``(n_grid_points,)``; NaN at
            points outside the region the geodesics reached.
        (list_of_theta, list_of_distance) : tuple of numpy.ndarray
            Only if ``return_trajectories``: all points of all geodesics, shape
            ``(n_points, n_dimension)``, and their distances from ``theta0``, shape ``(n_points,)``.
        """
        theta0 = self._point(theta0, "theta0")
        n = self.dimension
        ranges = _check_limits(grid_ranges, n, "grid_ranges")
        resolutions = np.asarray(grid_resolutions).reshape(-1)
        if resolutions.size == 1:
            resolutions = np.repeat(resolutions, n)
        if resolutions.shape != (n,) or resolutions.dtype.kind not in "iu" or np.any(resolutions < 1):
            raise InputError(
                f"grid_resolutions must be {n} positive integers (or one for all), got {grid_resolutions!r}"
            )
        if stepsize is None:
            stepsize = float(np.min(ranges[:, 1] - ranges[:, 0])) / 20.0
        if not stepsize > 0:
            raise InputError(f"stepsize must be positive, got {stepsize!r}")
        ntrajectories = 20 * n if ntrajectories is None else int(ntrajectories)
        if ntrajectories < 1:
            raise InputError(f"ntrajectories must be positive, got {ntrajectories}")
        directions = _directions(n, ntrajectories, bool(continous_sampling), random_state)
        limits = ranges + np.array([-2.0, 2.0]) * stepsize
        trajectories = self._shoot(theta0, directions, limits, float(stepsize), int(max_steps))
        thetas = np.concatenate([points for points, _ in trajectories])
        distances = np.concatenate([dist for _, dist in trajectories])
        theta_grid = self._make_theta_grid(ranges, resolutions)
        distance_grid = self._interpolate_distances(thetas, distances, theta_grid)
        p_value_grid = self._asymptotic_p_value(distance_grid)
        if return_trajectories:
            return theta_grid, p_value_grid, distance_grid, (thetas, distances)
        return theta_grid, p_value_grid, distance_grid

    @staticmethod
    def _interpolate_distances(
        thetas: np.ndarray, distances: np.ndarray, theta_grid: np.ndarray
    ) -> np.ndarray:
        """Linear interpolation of the distances of scattered points onto the grid (NaN outside)."""
        if thetas.shape[1] == 1:
            return _Linear1D(thetas, distances)(theta_grid)
        try:
            return LinearNDInterpolator(thetas, distances)(theta_grid)
        except (ValueError, RuntimeError) as error:
            raise InputError(
                f"distance_contours: the geodesics do not span the parameter space ({error}); "
                "use more trajectories or a smaller stepsize"
            ) from error

    @staticmethod
    def _make_theta_grid_each(grid_ranges: ArrayLike, grid_resolutions: ArrayLike) -> Sequence[np.ndarray]:
        axes = [
            np.linspace(low, high, int(resolution))
            for (low, high), resolution in zip(
                np.asarray(grid_ranges, dtype=float), np.asarray(grid_resolutions), strict=True
            )
        ]
        return np.meshgrid(*axes, indexing="ij")

    def _make_theta_grid(self, grid_ranges: ArrayLike, grid_resolutions: ArrayLike) -> np.ndarray:
        each = self._make_theta_grid_each(grid_ranges, grid_resolutions)
        return np.stack([theta.ravel() for theta in each], axis=1)

    def _asymptotic_p_value(self, dist: ArrayLike) -> np.ndarray:
        """p-values of distances: ``chi2.sf(dist**2, n_dimension)``."""
        dist = np.asarray(dist, dtype=float)
        return chi2.sf(x=dist * dist, df=self.dimension)
