r"""Morphing: event weights at any parameter point from weights at a few benchmarks.

Physics morphing
----------------
If the squared matrix element is a polynomial in the parameters theta with known
monomials (the *components*) :math:`c_k(\theta) = \prod_p \theta_p^{n_{kp}}`, then
:math:`d\sigma(x|\theta) = \sum_k c_k(\theta)\,\alpha_k(x)`. Knowing the weights at
benchmarks :math:`\theta_b` fixes the :math:`\alpha_k`, and

.. math:: d\sigma(x|\theta) = \sum_b w_b(\theta)\, d\sigma(x|\theta_b),
          \qquad w(\theta) = M^T c(\theta),

with the morphing matrix :math:`M` (shape ``(n_components, n_benchmarks)``). With as many
benchmarks as components, :math:`M = A^{-1}` where :math:`A_{bk} = c_k(\theta_b)`. With more
benchmarks than components, :math:`M = A^+` (the pseudo-inverse): of all weight vectors
that reproduce every polynomial of the declared structure exactly, it picks the one with
the smallest :math:`\sum_b w_b^2`, which minimises the statistical variance of morphed
weights when the benchmark samples are equally precise.

Nuisance morphing
-----------------
Systematic uncertainties enter as :math:`d\sigma(x|\theta,\nu)/d\sigma(x|\theta,0) =
\exp(\sum_i a_i(x)\nu_i + b_i(x)\nu_i^2)`, with :math:`a, b` from the weights at the
:math:`\nu_i = \pm 1` benchmarks (:class:`NuisanceMorpher`).

Everything is vectorised: pass one theta of shape ``(n_parameters,)`` or many of shape
``(n_thetas, n_parameters)``.

Examples
--------
One parameter, components 1, theta and theta^2, basis {0, 1, -1}:

>>> import numpy as np
>>> morpher = PhysicsMorpher(parameter_max_power=[2], parameter_range=[(-1.0, 1.0)])
>>> morpher.find_components(max_overall_power=2)
array([[0],
       [1],
       [2]])
>>> morpher.set_basis(basis_numpy=np.array([[0.0], [1.0], [-1.0]]))
>>> morpher.calculate_morphing_weights(np.array([0.5]))
array([ 0.75 ,  0.375, -0.125])
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from .errors import InputError, MorphingError
from .models import AnalysisParameter, Benchmark, NuisanceParameter

__all__ = ["MAX_CONDITION_NUMBER", "NuisanceMorpher", "PhysicsMorpher", "component_weights"]

logger = logging.getLogger(__name__)

#: Bases whose (column-equilibrated) basis matrix has a larger condition number are refused:
#: morphed weights would lose more than about 4 of float64's 16 significant digits.
MAX_CONDITION_NUMBER = 1e12

#: Above this condition number a basis is accepted with a warning.
WARN_CONDITION_NUMBER = 1e8

RandomState = int | np.random.Generator | None


def _rng(random_state: RandomState) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)


def _power_table(theta: np.ndarray, max_power: int) -> np.ndarray:
    """``table[..., p, k] = theta[..., p] ** k`` for k = 0..max_power, by repeated multiplication."""
    table = np.empty((*theta.shape, max_power + 1))
    table[..., 0] = 1.0
    for k in range(1, max_power + 1):
        table[..., k] = table[..., k - 1] * theta
    return table


def component_weights(theta: np.ndarray, components: np.ndarray) -> np.ndarray:
    r"""The monomials :math:`c_k(\theta) = \prod_p \theta_p^{n_{kp}}`.

    Parameters
    ----------
    theta : ndarray
        Shape ``(..., n_parameters)``.
    components : ndarray of int
        Shape ``(n_components, n_parameters)``.

    Returns
    -------
    ndarray
        Shape ``(..., n_components)``.

    Examples
    --------
    >>> component_weights(np.array([2.0, 3.0]), np.array([[0, 0], [1, 0], [1, 2]]))
    array([ 1.,  2., 18.])
    """
    theta = np.asarray(theta, dtype=float)
    components = np.asarray(components, dtype=int)
    table = _power_table(theta, int(components.max(initial=0)))
    parameter_index = np.arange(components.shape[1])
    # factors[..., k, p] = theta_p ** n_kp
    factors = table[..., parameter_index, components]
    return np.prod(factors, axis=-1)


def component_weight_gradients(theta: np.ndarray, components: np.ndarray) -> np.ndarray:
    r"""Gradients :math:`\partial c_k / \partial \theta_i`, shape ``(..., n_parameters, n_components)``."""
    theta = np.asarray(theta, dtype=float)
    components = np.asarray(components, dtype=int)
    n_parameters = components.shape[1]
    table = _power_table(theta, int(components.max(initial=0)))
    parameter_index = np.arange(n_parameters)
    factors = table[..., parameter_index, components]  # (..., C, P)
    derivative_factors = components * table[..., parameter_index, np.maximum(components - 1, 0)]
    gradients = np.empty((*theta.shape[:-1], n_parameters, components.shape[0]))
    for i in range(n_parameters):  # a loop over parameters, never over thetas
        others = np.delete(factors, i, axis=-1)
        gradients[..., i, :] = derivative_factors[..., i] * np.prod(others, axis=-1)
    return gradients


def _solve_basis(basis_matrix: np.ndarray, max_condition_number: float) -> tuple[np.ndarray, np.ndarray]:
    """Morphing matrices and condition numbers for one or a stack of basis matrices ``A[..., b, k]``.

    Columns are equilibrated first (components can differ by orders of magnitude), so the
    condition number measures real ill-conditioning; :math:`(A D)^+ = D^{-1} A^+` for the
    full-column-rank matrices that are accepted.
    """
    column_norms = np.linalg.norm(basis_matrix, axis=-2, keepdims=True)
    column_norms = np.where(column_norms > 0.0, column_norms, 1.0)
    scaled = basis_matrix / column_norms
    singular_values = np.linalg.svd(scaled, compute_uv=False)
    with np.errstate(divide="ignore"):
        condition = singular_values[..., 0] / singular_values[..., -1]
    condition = np.where(np.isfinite(condition), condition, np.inf)
    usable = condition <= max_condition_number
    safe = np.where(usable[..., None, None], scaled, np.eye(*scaled.shape[-2:]))
    morphing_matrix = np.linalg.pinv(safe) / np.swapaxes(column_norms, -1, -2)
    return morphing_matrix, condition


class PhysicsMorpher:
    """Morphing of event weights in the physics parameters.

    Set it up with the parameters (from a :class:`~motherlode.core.MadMiner` setup, or as
    plain lists), find or set the components, then set or optimise the basis.

    Parameters
    ----------
    parameters_from_madminer : mapping of str to AnalysisParameter, optional
        The ``MadMiner.parameters`` dict.
    parameter_max_power : sequence of int or of tuple of int, optional
        Used when ``parameters_from_madminer`` is None: the maximal power of each parameter
        (one per operator configuration if tuples).
    parameter_range : sequence of (float, float), optional
        Used when ``parameters_from_madminer`` is None: the range of each parameter.
    """

    def __init__(
        self,
        parameters_from_madminer: Mapping[str, AnalysisParameter] | None = None,
        parameter_max_power: Sequence[int | Sequence[int]] | None = None,
        parameter_range: Sequence[tuple[float, float]] | None = None,
    ) -> None:
        if parameters_from_madminer is not None:
            parameters = list(parameters_from_madminer.values())
            self.parameter_names: list[str] | None = [p.name for p in parameters]
            max_powers: Sequence[int | Sequence[int]] = [p.max_power for p in parameters]
            ranges: Sequence[tuple[float, float]] | None = [tuple(p.val_range) for p in parameters]
        else:
            if parameter_max_power is None:
                raise InputError("PhysicsMorpher needs parameters_from_madminer or parameter_max_power")
            self.parameter_names = None
            max_powers = parameter_max_power
            ranges = parameter_range
        self.n_parameters = len(max_powers)
        self.parameter_max_power = self._max_power_array(max_powers)
        if ranges is None:
            ranges = [(0.0, 1.0)] * self.n_parameters
        self.parameter_range = np.asarray(ranges, dtype=float).reshape(-1, 2)
        if len(self.parameter_range) != self.n_parameters:
            raise InputError(
                f"parameter_range has {len(self.parameter_range)} entries for {self.n_parameters} parameters"
            )
        self.components: np.ndarray | None = None
        self.n_components: int | None = None
        self.basis: np.ndarray | None = None
        self.n_benchmarks: int | None = None
        self.morphing_matrix: np.ndarray | None = None
        self.condition_number: float | None = None

    @staticmethod
    def _max_power_array(max_powers: Sequence[int | Sequence[int]]) -> np.ndarray:
        """Shape ``(n_parameters, n_configurations)``."""
        as_tuples = [tuple(p) if isinstance(p, Iterable) else (p,) for p in max_powers]
        n_configurations = max((len(t) for t in as_tuples), default=1)
        rows = []
        for i, powers in enumerate(as_tuples):
            if len(powers) not in (1, n_configurations):
                raise InputError(
                    f"max power of parameter {i} has {len(powers)} configurations, others {n_configurations}"
                )
            if any(int(p) != p or p < 0 for p in powers):
                raise InputError(f"max power of parameter {i} must be non-negative integers, got {powers}")
            rows.append([int(p) for p in powers] * (n_configurations // len(powers)))
        return np.array(rows, dtype=int).reshape(len(as_tuples), n_configurations)

    # ------------------------------------------------------------------ components

    def find_components(self, max_overall_power: int | Sequence[int] = 4) -> np.ndarray:
        """Find the monomials that can appear in the squared matrix element.

        A component is an exponent vector with each parameter's exponent at most its maximal
        power and the sum of exponents at most ``max_overall_power``. With several operator
        configurations (tuples of powers), the components are the union over configurations.
        The order is lexicographic in the exponents, first parameter slowest, as in MadMiner.

        Parameters
        ----------
        max_overall_power : int or sequence of int
            Maximal total power (per operator configuration). Typically 2 per vertex that the
            parameters enter.

        Returns
        -------
        ndarray of int
            Shape ``(n_components, n_parameters)``.

        Examples
        --------
        >>> PhysicsMorpher(parameter_max_power=[2, 2]).find_components(2).tolist()
        [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [2, 0]]
        """
        n_configurations = self.parameter_max_power.shape[1]
        overall = np.atleast_1d(np.asarray(max_overall_power, dtype=int))
        if overall.ndim != 1 or len(overall) not in (1, n_configurations) or np.any(overall < 0):
            raise InputError(
                f"max_overall_power must be a non-negative int or {n_configurations} of them, "
                f"got {max_overall_power!r}"
            )
        overall = np.broadcast_to(overall, (n_configurations,))
        found: dict[tuple[int, ...], None] = {}
        for j in range(n_configurations):
            ranges = [range(int(p) + 1) for p in self.parameter_max_power[:, j]]
            for exponents in itertools.product(*ranges):
                if sum(exponents) <= overall[j]:
                    found.setdefault(exponents, None)
        components = sorted(found)
        self.set_components(np.array(components, dtype=int).reshape(len(components), self.n_parameters))
        return self.components

    def set_components(self, components: np.ndarray) -> None:
        """Set the components by hand, shape ``(n_components, n_parameters)`` of non-negative ints."""
        components = np.asarray(components)
        if components.ndim != 2 or components.shape[1] != self.n_parameters:
            raise InputError(
                f"components must have shape (n_components, {self.n_parameters}), got {components.shape}"
            )
        if not np.all(np.equal(np.mod(components, 1), 0)) or np.any(components < 0):
            raise InputError("components must be non-negative integers")
        components = components.astype(int)
        if len(np.unique(components, axis=0)) != len(components):
            raise InputError("components contain duplicate rows")
        self.components = components
        self.n_components = len(components)

    def _require_components(self) -> np.ndarray:
        if self.components is None:
            raise InputError("No components defined: call find_components() or set_components() first")
        return self.components

    # ------------------------------------------------------------------ basis

    def set_basis(
        self,
        basis_from_madminer: Mapping[str, Benchmark] | None = None,
        basis_numpy: np.ndarray | None = None,
        morphing_matrix: np.ndarray | None = None,
    ) -> None:
        """Set the basis benchmarks and compute (or take) the morphing matrix.

        Parameters
        ----------
        basis_from_madminer : mapping of str to Benchmark, optional
            Benchmarks in the ``MadMiner.benchmarks`` convention. When ``morphing_matrix`` is
            given, the first ``morphing_matrix.shape[1]`` of them form the basis (the layout of
            MadMiner files); otherwise all of them do.
        basis_numpy : ndarray, optional
            The basis as an array of shape ``(n_basis_benchmarks, n_parameters)``, used when
            ``basis_from_madminer`` is None.
        morphing_matrix : ndarray, optional
            A stored morphing matrix of shape ``(n_components, n_basis_benchmarks)``. Computed
            from the basis when None.

        Raises
        ------
        MorphingError
            If the basis has fewer points than components, or is singular or ill-conditioned.
        """
        components = self._require_components()
        if basis_from_madminer is not None:
            basis = self._benchmarks_to_array(basis_from_madminer)
        elif basis_numpy is not None:
            basis = np.asarray(basis_numpy, dtype=float)
        else:
            raise InputError("set_basis needs basis_from_madminer or basis_numpy")
        if basis.ndim != 2 or basis.shape[1] != self.n_parameters:
            raise InputError(f"basis must have shape (n_benchmarks, {self.n_parameters}), got {basis.shape}")
        if morphing_matrix is None:
            self.morphing_matrix = self.calculate_morphing_matrix(basis)
        else:
            morphing_matrix = np.asarray(morphing_matrix, dtype=float)
            if morphing_matrix.ndim != 2 or morphing_matrix.shape[0] != len(components):
                raise InputError(
                    f"morphing_matrix must have shape ({len(components)}, n_basis_benchmarks), "
                    f"got {morphing_matrix.shape}"
                )
            if morphing_matrix.shape[1] > len(basis):
                raise InputError(
                    f"morphing_matrix has {morphing_matrix.shape[1]} columns but only {len(basis)} benchmarks"
                )
            basis = basis[: morphing_matrix.shape[1]]
            self.morphing_matrix = morphing_matrix
        self.basis = basis
        self.n_benchmarks = len(basis)

    def _benchmarks_to_array(self, benchmarks: Mapping[str, Benchmark]) -> np.ndarray:
        names = self.parameter_names
        rows = []
        for benchmark in benchmarks.values():
            if names is None:
                rows.append(list(benchmark.values.values()))
            else:
                missing = [n for n in names if n not in benchmark.values]
                if missing:
                    raise InputError(f"benchmark {benchmark.name!r} has no value for parameters {missing}")
                rows.append([benchmark.values[n] for n in names])
        return np.array(rows, dtype=float).reshape(len(rows), self.n_parameters)

    def calculate_morphing_matrix(
        self, basis: np.ndarray | None = None, max_condition_number: float = MAX_CONDITION_NUMBER
    ) -> np.ndarray:
        """The morphing matrix of a basis, shape ``(n_components, n_basis_benchmarks)``.

        Square bases give the inverse of the basis matrix; larger bases the pseudo-inverse
        (minimum-norm morphing weights).

        Raises
        ------
        MorphingError
            With the condition number, if the basis has fewer points than components or is
            singular or ill-conditioned.
        """
        components = self._require_components()
        basis = self.basis if basis is None else np.asarray(basis, dtype=float)
        if basis is None:
            raise InputError("No basis defined: call set_basis() or optimize_basis(), or pass basis=")
        if len(basis) < len(components):
            raise MorphingError(
                f"The morphing basis has {len(basis)} benchmarks but there are {len(components)} components: "
                f"at least {len(components)} basis points are needed"
            )
        matrix, condition = _solve_basis(component_weights(basis, components), max_condition_number)
        condition = float(condition)
        self.condition_number = condition
        if condition > max_condition_number:
            raise MorphingError(
                f"The morphing basis is singular or ill-conditioned: condition number {condition:.3g} "
                f"(limit {max_condition_number:.3g}). Choose basis points that are further apart or "
                f"not on a common lower-dimensional curve. Basis:\n{basis}",
                condition_number=condition,
            )
        if condition > WARN_CONDITION_NUMBER:
            logger.warning("Morphing basis is poorly conditioned: condition number %.3g", condition)
        return matrix

    def _require_matrix(self, morphing_matrix: np.ndarray | None, basis: np.ndarray | None) -> np.ndarray:
        if morphing_matrix is not None:
            return np.asarray(morphing_matrix, dtype=float)
        if basis is not None:
            return self.calculate_morphing_matrix(basis)
        if self.morphing_matrix is None:
            raise InputError("No morphing basis defined: call set_basis() or optimize_basis() first")
        return self.morphing_matrix

    def _check_theta(self, theta: np.ndarray) -> np.ndarray:
        theta = np.asarray(theta, dtype=float)
        if theta.ndim == 0 or theta.shape[-1] != self.n_parameters:
            raise InputError(
                f"theta must have shape (n_parameters,) or (n_thetas, n_parameters) with n_parameters = "
                f"{self.n_parameters}, got shape {theta.shape}"
            )
        return theta

    # ------------------------------------------------------------------ weights

    def calculate_morphing_weights(
        self, theta: np.ndarray, basis: np.ndarray | None = None, morphing_matrix: np.ndarray | None = None
    ) -> np.ndarray:
        r"""Morphing weights :math:`w_b(\theta)`, with :math:`d\sigma(\theta) = \sum_b w_b d\sigma(\theta_b)`.

        Parameters
        ----------
        theta : ndarray
            Shape ``(n_parameters,)`` or ``(n_thetas, n_parameters)``.
        basis, morphing_matrix : ndarray, optional
            Override the stored basis or morphing matrix.

        Returns
        -------
        ndarray
            Shape ``(n_basis_benchmarks,)`` or ``(n_thetas, n_basis_benchmarks)``.
        """
        matrix = self._require_matrix(morphing_matrix, basis)
        theta = self._check_theta(theta)
        return component_weights(theta, self._require_components()) @ matrix

    def calculate_morphing_weight_gradient(
        self, theta: np.ndarray, basis: np.ndarray | None = None, morphing_matrix: np.ndarray | None = None
    ) -> np.ndarray:
        r"""Gradients :math:`\partial w_b / \partial \theta_i`.

        Returns
        -------
        ndarray
            Shape ``(n_parameters, n_basis_benchmarks)`` for one theta, or
            ``(n_thetas, n_parameters, n_basis_benchmarks)``.
        """
        matrix = self._require_matrix(morphing_matrix, basis)
        theta = self._check_theta(theta)
        return component_weight_gradients(theta, self._require_components()) @ matrix

    # ------------------------------------------------------------------ basis optimisation

    def draw_random_thetas(self, n_thetas: int, random_state: RandomState = None) -> np.ndarray:
        """Parameter points drawn uniformly in the parameter ranges, shape ``(n_thetas, n_parameters)``."""
        low, high = self.parameter_range[:, 0], self.parameter_range[:, 1]
        return low + _rng(random_state).random((n_thetas, self.n_parameters)) * (high - low)

    def _second_moments(self, test_thetas: np.ndarray) -> np.ndarray:
        """Mean of :math:`c(\\theta) c(\\theta)^T` over test points, shape ``(C, C)``."""
        c = component_weights(test_thetas, self._require_components())
        return c.T @ c / len(c)

    def evaluate_morphing(
        self,
        basis: np.ndarray | None = None,
        morphing_matrix: np.ndarray | None = None,
        n_test_thetas: int = 100,
        return_weights_and_thetas: bool = False,
        test_thetas: np.ndarray | None = None,
        random_state: RandomState = None,
    ) -> float | tuple[float, np.ndarray, np.ndarray]:
        r"""Minus the expected sum of squared morphing weights, :math:`-E_\theta[\sum_b w_b(\theta)^2]`.

        The sign follows MadMiner: larger is better. The expectation is over ``test_thetas``
        or, if None, over ``n_test_thetas`` points drawn uniformly in the parameter ranges.

        Returns
        -------
        float, or (float, ndarray, ndarray)
            The score, and with ``return_weights_and_thetas`` also the test points and their
            weights, shapes ``(n_test_thetas, n_parameters)`` and ``(n_test_thetas, n_basis)``.
        """
        if test_thetas is None:
            test_thetas = self.draw_random_thetas(n_test_thetas, random_state)
        weights = self.calculate_morphing_weights(test_thetas, basis=basis, morphing_matrix=morphing_matrix)
        score = -float(np.mean(np.sum(weights**2, axis=-1)))
        if return_weights_and_thetas:
            return score, test_thetas, weights
        return score

    def optimize_basis(
        self,
        n_bases: int = 1,
        benchmarks_from_madminer: Mapping[str, Benchmark] | None = None,
        benchmarks_numpy: np.ndarray | None = None,
        n_trials: int = 100,
        n_test_thetas: int = 100,
        random_state: RandomState = None,
    ) -> dict[str, Benchmark] | np.ndarray:
        """Choose the basis that minimises the expected sum of squared morphing weights.

        Fixed benchmarks (if given) stay in the basis; the remaining points are drawn
        uniformly in the parameter ranges, ``n_trials`` times, and every trial is scored on the
        *same* ``n_test_thetas`` test points, so trials are compared fairly. The basis has
        ``n_bases * n_components`` points (or all fixed benchmarks if there are more); with more
        points than components the morphing matrix is the pseudo-inverse.

        Parameters
        ----------
        n_bases : int
            Basis size in units of the number of components. Values above 1 give an
            over-complete basis with smaller morphing weights.
        benchmarks_from_madminer : mapping of str to Benchmark, optional
            Fixed benchmarks in the ``MadMiner.benchmarks`` convention.
        benchmarks_numpy : ndarray, optional
            Fixed benchmarks as an array ``(n_fixed, n_parameters)``.
        n_trials, n_test_thetas : int
            Number of random candidate bases, and of test points to score them.
        random_state : int or numpy Generator, optional
            Seed for reproducible optimisation.

        Returns
        -------
        dict of str to Benchmark, or ndarray
            The basis: fixed benchmarks first (with their names), then new points named
            ``morphing_basis_vector_<i>``. An array if the fixed benchmarks came as an array
            or were not given and the morpher has no parameter names.
        """
        components = self._require_components()
        if int(n_bases) != n_bases or n_bases < 1:
            raise InputError(f"n_bases must be a positive integer, got {n_bases!r}")
        if n_trials < 1 or n_test_thetas < 1:
            raise InputError("n_trials and n_test_thetas must be at least 1")
        fixed_names: list[str] = []
        if benchmarks_from_madminer is not None:
            fixed = self._benchmarks_to_array(benchmarks_from_madminer)
            fixed_names = list(benchmarks_from_madminer)
        elif benchmarks_numpy is not None:
            fixed = np.asarray(benchmarks_numpy, dtype=float).reshape(-1, self.n_parameters)
        else:
            fixed = np.zeros((0, self.n_parameters))
        n_basis = max(int(n_bases) * len(components), len(fixed))
        n_missing = n_basis - len(fixed)
        rng = _rng(random_state)
        moments = self._second_moments(self.draw_random_thetas(n_test_thetas, rng))

        if n_missing == 0:
            candidates = fixed[None]
        else:
            new_points = self.draw_random_thetas(n_trials * n_missing, rng).reshape(n_trials, n_missing, -1)
            candidates = np.concatenate(
                [np.broadcast_to(fixed, (n_trials, *fixed.shape)), new_points], axis=1
            )
        matrices, conditions = _solve_basis(component_weights(candidates, components), MAX_CONDITION_NUMBER)
        # E[sum_b w_b^2] = tr(M^T E[c c^T] M)
        scores = np.einsum("cd,tdb,tcb->t", moments, matrices, matrices)
        scores = np.where(conditions <= MAX_CONDITION_NUMBER, scores, np.inf)
        best = int(np.argmin(scores))
        if not np.isfinite(scores[best]):
            raise MorphingError(
                "No usable morphing basis found: every candidate was singular or ill-conditioned "
                f"(best condition number {np.min(conditions):.3g}). The fixed benchmarks may be degenerate.",
                condition_number=float(np.min(conditions)),
            )
        basis = candidates[best]
        logger.debug(
            "Basis optimisation: best of %d trials has expected sum of squared weights %.4g",
            len(candidates),
            scores[best],
        )
        self.set_basis(basis_numpy=basis)
        if benchmarks_from_madminer is None and (
            benchmarks_numpy is not None or self.parameter_names is None
        ):
            return basis
        return self._basis_as_benchmarks(basis, fixed_names)

    def _basis_as_benchmarks(self, basis: np.ndarray, fixed_names: list[str]) -> dict[str, Benchmark]:
        names = self.parameter_names or [f"parameter_{i}" for i in range(self.n_parameters)]
        result: dict[str, Benchmark] = {}
        for i, point in enumerate(basis):
            name = fixed_names[i] if i < len(fixed_names) else f"morphing_basis_vector_{i}"
            result[name] = Benchmark.from_params(name, names, point)
        return result


def _sanitize(values: np.ndarray, limit: float = 10.0) -> np.ndarray:
    """NaN and infinities to 0, then clip to [-limit, limit] (MadMiner's nuisance convention)."""
    values = np.where(np.isfinite(values), values, 0.0)
    return np.clip(values, -limit, limit)


class NuisanceMorpher:
    r"""Morphing in nuisance parameters with the model :math:`\exp(\sum_i a_i\nu_i + b_i\nu_i^2)`.

    One-sided nuisance parameters (only a ``+1`` benchmark) have :math:`a = \log(w_+/w_{ref})`,
    :math:`b = 0`; two-sided ones :math:`a = \frac12\log(w_+/w_-)` and
    :math:`b = \frac12\log(w_+ w_- / w_{ref}^2)`. Both are set to 0 where undefined and
    clipped to [-10, 10].

    Parameters
    ----------
    nuisance_parameters_from_madminer : mapping of str to NuisanceParameter
        The nuisance parameters, in order.
    benchmark_names : iterable of str
        Names of the columns of the weight arrays passed to the methods.
    reference_benchmark : str
        The benchmark at which the nuisance benchmarks were evaluated (nu = 0).

    Examples
    --------
    >>> params = {"norm": NuisanceParameter("norm", "norm", "norm_up", None)}
    >>> morpher = NuisanceMorpher(params, ["sm", "norm_up"], "sm")
    >>> weights = np.array([[1.0, 1.1], [2.0, 2.2]])
    >>> morpher.calculate_nuisance_factors(np.array([1.0]), weights)
    array([1.1, 1.1])
    """

    def __init__(
        self,
        nuisance_parameters_from_madminer: Mapping[str, NuisanceParameter],
        benchmark_names: Iterable[str],
        reference_benchmark: str,
    ) -> None:
        self.benchmark_names = list(benchmark_names)
        self.nuisance_parameters = dict(nuisance_parameters_from_madminer)
        self.n_nuisance_parameters = len(self.nuisance_parameters)
        self.i_benchmark_ref = self._index(reference_benchmark, "reference benchmark")
        self.i_benchmarks_pos: list[int] = []
        self.i_benchmarks_neg: list[int | None] = []
        self.degrees: list[int] = []
        for parameter in self.nuisance_parameters.values():
            if parameter.benchmark_pos is None:
                raise InputError(f"nuisance parameter {parameter.name!r} has no positive benchmark")
            self.i_benchmarks_pos.append(self._index(parameter.benchmark_pos, f"{parameter.name!r} +1"))
            if parameter.benchmark_neg is None:
                self.i_benchmarks_neg.append(None)
                self.degrees.append(1)
            else:
                self.i_benchmarks_neg.append(self._index(parameter.benchmark_neg, f"{parameter.name!r} -1"))
                self.degrees.append(2)

    def _index(self, name: str, role: str) -> int:
        try:
            return self.benchmark_names.index(name)
        except ValueError:
            raise InputError(
                f"{role} benchmark {name!r} is not among the benchmarks {self.benchmark_names}"
            ) from None

    def calculate_a(self, benchmark_weights: np.ndarray) -> np.ndarray:
        """First-order coefficients :math:`a_i(x)`, shape ``(n_nuisance_parameters, n_events)``."""
        return self.calculate_coefficients(benchmark_weights)[0]

    def calculate_b(self, benchmark_weights: np.ndarray) -> np.ndarray:
        """Second-order coefficients :math:`b_i(x)`, shape ``(n_nuisance_parameters, n_events)``."""
        return self.calculate_coefficients(benchmark_weights)[1]

    def calculate_coefficients(self, benchmark_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both coefficient arrays ``(a, b)`` at once, each ``(n_nuisance_parameters, n_events)``."""
        weights = np.asarray(benchmark_weights, dtype=float)
        if weights.ndim != 2 or weights.shape[1] != len(self.benchmark_names):
            raise InputError(
                f"benchmark_weights must have shape (n_events, {len(self.benchmark_names)}), "
                f"got {weights.shape}"
            )
        n_events = len(weights)
        a = np.zeros((self.n_nuisance_parameters, n_events))
        b = np.zeros((self.n_nuisance_parameters, n_events))
        with np.errstate(divide="ignore", invalid="ignore"):
            log_ref = np.log(weights[:, self.i_benchmark_ref])
            for i, (i_pos, i_neg) in enumerate(
                zip(self.i_benchmarks_pos, self.i_benchmarks_neg, strict=True)
            ):
                log_pos = np.log(weights[:, i_pos])
                if i_neg is None:
                    a[i] = log_pos - log_ref
                else:
                    log_neg = np.log(weights[:, i_neg])
                    a[i] = 0.5 * (log_pos - log_neg)
                    b[i] = 0.5 * (log_pos + log_neg) - log_ref
        return _sanitize(a), _sanitize(b)

    def _exponent_and_log_gradient(
        self, nuisance_parameters: np.ndarray | None, benchmark_weights: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.calculate_coefficients(benchmark_weights)
        if nuisance_parameters is None:
            nu = np.zeros(self.n_nuisance_parameters)
        else:
            nu = np.asarray(nuisance_parameters, dtype=float)
        if nu.shape[-1:] != (self.n_nuisance_parameters,):
            raise InputError(
                f"nuisance_parameters must have shape ({self.n_nuisance_parameters},) or "
                f"(n_points, {self.n_nuisance_parameters}), got {nu.shape}"
            )
        nu = nu[..., :, None]  # (..., K, 1)
        exponent = np.sum(a * nu + b * nu**2, axis=-2)
        return exponent, a + 2.0 * b * nu

    def calculate_nuisance_factors(
        self, nuisance_parameters: np.ndarray | None, benchmark_weights: np.ndarray
    ) -> np.ndarray:
        r"""The factors :math:`d\sigma(x|\theta,\nu)/d\sigma(x|\theta,0)`.

        ``nuisance_parameters`` of shape ``(K,)`` gives shape ``(n_events,)``; shape ``(n, K)``
        gives ``(n, n_events)``. None means nu = 0.
        """
        exponent, _ = self._exponent_and_log_gradient(nuisance_parameters, benchmark_weights)
        return np.exp(exponent)

    def calculate_log_nuisance_factor_gradients(
        self, nuisance_parameters: np.ndarray | None, benchmark_weights: np.ndarray
    ) -> np.ndarray:
        r""":math:`\nabla_\nu \log` of the nuisance factors: ``(K, n_events)`` or ``(n, K, n_events)``."""
        return self._exponent_and_log_gradient(nuisance_parameters, benchmark_weights)[1]

    def calculate_nuisance_factor_gradients(
        self, nuisance_parameters: np.ndarray | None, benchmark_weights: np.ndarray
    ) -> np.ndarray:
        r""":math:`\nabla_\nu` of the nuisance factors, shape ``(K, n_events)`` (or ``(n, K, n_events)``)."""
        exponent, log_gradient = self._exponent_and_log_gradient(nuisance_parameters, benchmark_weights)
        return log_gradient * np.exp(exponent)[..., None, :]
