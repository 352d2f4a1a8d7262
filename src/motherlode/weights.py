r"""One engine for event weights, weight gradients and cross sections at many parameter points.

Every stage after the event readers needs the weight of an event at a parameter point
``(theta, nu)``. It is linear in the stored benchmark weights ``w_b(x)`` up to the nuisance factor:

.. math::

    w(x|\theta,\nu) = \Big(\sum_b W_b(\theta)\, w_b(x)\Big)\,
        \exp\Big(\sum_k a_k(x)\,\nu_k + b_k(x)\,\nu_k^2\Big),

with the morphing weights ``W_b(theta)`` (a unit vector for a benchmark given by name or index)
and the nuisance coefficients ``a_k(x)``, ``b_k(x)`` of :class:`motherlode.morphing.NuisanceMorpher`.
The gradient rows ``dW_b/dtheta_i`` come from the morphing (or, without morphing, from
finite-difference benchmarks). A :class:`ParameterPoints` holds, for ``J`` points at once, the
rows ``W (J, B)``, the gradient rows ``dW (J, P, B)`` (computed when first needed) and ``nu``;
its methods give weights ``(J, n)``, gradients ``(J, G, n)`` and streamed cross sections.
:class:`WeightModel` turns any parameter specification (benchmark names or indices, arrays of
points, the ``motherlode.sampling`` helpers' tuples) into points. DataAnalyzer, SampleAugmenter,
Fisher information, likelihoods and limits all go through this module: the weight algebra is
written once.

At nominal nuisance parameters, cross sections are linear (and their variances quadratic) in the
per-event benchmark weights, so one pass accumulates ``sum_x w_b(x)`` and ``sum_x w_b w_c`` and
any number of points costs a matrix product at the end.

Examples
--------
>>> import numpy as np
>>> from motherlode.weights import ParameterPoints
>>> points = ParameterPoints(values=np.zeros((2, 1)), matrices=np.array([[1.0, 0.0], [0.5, 0.5]]))
>>> benchmark_weights = np.array([[1.0, 3.0], [2.0, 2.0]])  # 2 events, 2 benchmarks
>>> points.weights(benchmark_weights)
array([[1., 2.],
       [2., 2.]])
>>> totals = points.cross_sections([benchmark_weights])
>>> totals.xsecs, totals.uncertainties**2
(array([3., 4.]), array([5., 8.]))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from .errors import InputError, SetupError
from .morphing import NuisanceMorpher, PhysicsMorpher, nuisance_exponent, nuisance_log_gradient

__all__ = ["CrossSectionSums", "CrossSections", "ParameterPoints", "WeightModel", "split_evenly"]

GRADIENT_KINDS = ("all", "theta", "nu")
_ELEMENTS_PER_CHUNK = 4_000_000  # (points x events x width) entries computed at once

Batch = np.ndarray | tuple[np.ndarray, np.ndarray | None]


@dataclass
class CrossSections:
    """Streamed totals of ``J`` parameter points.

    Attributes
    ----------
    xsecs : ndarray, shape (J,)
        Sums of the weights (pb).
    uncertainties : ndarray, shape (J,)
        ``sqrt(sum_x w(x)^2)``, the statistical uncertainties of ``xsecs``.
    gradients : ndarray or None, shape (J, G)
        Gradients of ``xsecs`` (theta first, then nu), when asked for.
    n_events : int
        Number of events summed over.
    """

    xsecs: np.ndarray
    uncertainties: np.ndarray
    gradients: np.ndarray | None
    n_events: int


@dataclass(eq=False)
class ParameterPoints:
    """``J`` parameter points ``(theta, nu)`` as rows acting on benchmark weights.

    Parameters
    ----------
    values : ndarray, shape (J, P)
        The parameter values (those of the benchmark for named benchmarks).
    matrices : ndarray, shape (J, B)
        Morphing rows: ``w(x|theta, 0) = matrices @ w_b(x)``.
    names : sequence of (str or None), optional
        Benchmark names of points given as benchmarks (None for other points).
    nus : ndarray or None, shape (J, K)
        Nuisance parameters; None means nominal (all zero).
    nuisance_morpher : NuisanceMorpher or None
        Supplies the per-event coefficients ``a_k(x)``, ``b_k(x)``; needed for non-nominal ``nus``
        and nuisance gradients.
    gradient_rows : callable or None
        Returns the gradient rows ``(J, P, B)`` of a subset of the points (called with their
        indices); None if theta gradients are unavailable. ``gradient_problem`` then says why.
    gradient_problem : str, optional
        The reason shown when theta gradients are asked for but unavailable.
    """

    values: np.ndarray
    matrices: np.ndarray
    names: Sequence[str | None] | None = None
    nus: np.ndarray | None = None
    nuisance_morpher: NuisanceMorpher | None = None
    gradient_rows: Callable[[np.ndarray], np.ndarray] | None = None
    gradient_problem: str = "this setup has neither morphing nor finite-difference benchmarks"
    _gradient_cache: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.values = np.atleast_2d(np.asarray(self.values, dtype=np.float64))
        self.matrices = np.atleast_2d(np.asarray(self.matrices, dtype=np.float64))
        if self.names is None:
            self.names = [None] * len(self.matrices)
        self.names = list(self.names)
        if self.nus is not None:
            self.nus = np.atleast_2d(np.asarray(self.nus, dtype=np.float64))
            if not np.any(self.nus):
                self.nus = None
        if self.nus is not None and self.nuisance_morpher is None:
            raise SetupError("non-nominal nuisance parameters need nuisance benchmarks; the setup has none")
        n = len(self.matrices)
        if len(self.values) != n or len(self.names) != n or (self.nus is not None and len(self.nus) != n):
            raise InputError(
                f"inconsistent parameter points: {len(self.values)} values, {n} morphing rows, "
                f"{len(self.names)} names, {None if self.nus is None else len(self.nus)} nus"
            )

    # ------------------------------------------------------------------ containers

    def __len__(self) -> int:
        return len(self.matrices)

    @property
    def _name_list(self) -> Sequence[str | None]:
        assert self.names is not None  # __post_init__ fills it in
        return self.names

    @property
    def n_parameters(self) -> int:
        return self.values.shape[1]

    @property
    def n_nuisance_parameters(self) -> int:
        return 0 if self.nuisance_morpher is None else self.nuisance_morpher.n_nuisance_parameters

    def take(self, index: np.ndarray | Sequence[int] | slice) -> ParameterPoints:
        """The points at ``index`` (an index array or a slice)."""
        index = np.arange(len(self))[index] if isinstance(index, slice) else np.asarray(index, dtype=np.int64)
        taken = ParameterPoints(
            self.values[index],
            self.matrices[index],
            [self._name_list[i] for i in index],
            None if self.nus is None else self.nus[index],
            self.nuisance_morpher,
            None if self.gradient_rows is None else _subset_rows(self.gradient_rows, index),
            self.gradient_problem,
        )
        if self._gradient_cache is not None:
            taken._gradient_cache = self._gradient_cache[index]
        return taken

    def with_nus(self, nus: np.ndarray | None) -> ParameterPoints:
        """The same theta points with other nuisance parameters (None: nominal)."""
        points = ParameterPoints(
            self.values, self.matrices, self.names, nus, self.nuisance_morpher, self.gradient_rows,
            self.gradient_problem,
        )  # fmt: skip
        points._gradient_cache = self._gradient_cache
        return points

    @classmethod
    def concatenate(cls, parts: Sequence[ParameterPoints]) -> ParameterPoints:
        """All points of ``parts`` in order (they must come from the same setup)."""
        if not parts:
            raise InputError("no parameter points to concatenate")
        first = parts[0]
        nus = None
        if any(p.nus is not None for p in parts):
            k = first.n_nuisance_parameters
            nus = np.concatenate([p.nus if p.nus is not None else np.zeros((len(p), k)) for p in parts])
        offsets = np.cumsum([0] + [len(p) for p in parts])

        def rows(index: np.ndarray) -> np.ndarray:
            out = np.zeros((len(index), first.n_parameters, first.matrices.shape[1]))
            part_of = np.searchsorted(offsets, index, side="right") - 1
            for p in np.unique(part_of):
                mine = part_of == p
                out[mine] = parts[p].theta_gradient_matrices(index[mine] - offsets[p])
            return out

        available = all(p.gradient_rows is not None for p in parts)
        return cls(
            np.concatenate([p.values for p in parts]),
            np.concatenate([p.matrices for p in parts]),
            [name for p in parts for name in p._name_list],
            nus,
            first.nuisance_morpher,
            rows if available else None,
            next((p.gradient_problem for p in parts if p.gradient_rows is None), first.gradient_problem),
        )

    # ------------------------------------------------------------------ rows

    def theta_gradient_matrices(self, index: np.ndarray | None = None) -> np.ndarray:
        """Gradient rows ``(J, P, B)``: ``grad_theta w(x|theta, 0) = rows @ w_b(x)``."""
        if self.gradient_rows is None:
            raise SetupError(f"gradients with respect to theta are not available: {self.gradient_problem}")
        if self._gradient_cache is None:
            self._gradient_cache = np.asarray(self.gradient_rows(np.arange(len(self))), dtype=np.float64)
        return self._gradient_cache if index is None else self._gradient_cache[index]

    def _gradient_width(self, gradients: str) -> tuple[bool, bool]:
        if gradients not in GRADIENT_KINDS:
            raise InputError(f"gradients must be one of {', '.join(GRADIENT_KINDS)}, got {gradients!r}")
        with_nu = gradients in ("all", "nu") and self.nuisance_morpher is not None
        if gradients == "nu" and self.nuisance_morpher is None:
            raise SetupError("gradients with respect to nu need nuisance parameters; the setup has none")
        return gradients in ("all", "theta"), with_nu

    def n_gradients(self, gradients: str = "all") -> int:
        """Number of gradient components for ``gradients`` ("all", "theta" or "nu")."""
        with_theta, with_nu = self._gradient_width(gradients)
        return with_theta * self.n_parameters + with_nu * self.n_nuisance_parameters

    # ------------------------------------------------------------------ per event

    def _coefficients(self, benchmark_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        if self.nuisance_morpher is None:
            return None
        return self.nuisance_morpher.calculate_coefficients(benchmark_weights)

    def weights(
        self,
        benchmark_weights: np.ndarray,
        coefficients: tuple[np.ndarray, np.ndarray] | None = None,
        *,
        aligned: bool = False,
    ) -> np.ndarray:
        """Weights ``w(x|theta_j, nu_j)``.

        Parameters
        ----------
        benchmark_weights : ndarray, shape (n, B)
            Benchmark weights of ``n`` events.
        coefficients : tuple of ndarray, optional
            Precomputed nuisance coefficients ``(a, b)``, each ``(K, n)``.
        aligned : bool, optional
            If True, point ``i`` belongs to event ``i`` (``J == n``) and the result is ``(n,)``;
            otherwise every point with every event, ``(J, n)``.
        """
        nominal = _apply(self.matrices, benchmark_weights, aligned)
        if self.nus is None:
            return nominal
        if coefficients is None:
            coefficients = self._coefficients(benchmark_weights)
        assert coefficients is not None  # non-nominal nus come with a nuisance morpher
        return nominal * np.exp(_exponent(self.nus, coefficients, aligned))

    def weight_gradients(
        self,
        benchmark_weights: np.ndarray,
        gradients: str = "all",
        coefficients: tuple[np.ndarray, np.ndarray] | None = None,
        *,
        aligned: bool = False,
    ) -> np.ndarray:
        """Gradients of the weights: ``(J, G, n)`` (or ``(n, G)`` when ``aligned``).

        ``gradients`` selects theta (``P``), nu (``K``) or both (theta first); "all" without
        nuisance parameters is theta only.
        """
        with_theta, with_nu = self._gradient_width(gradients)
        if coefficients is None and (with_nu or self.nus is not None):
            coefficients = self._coefficients(benchmark_weights)
        factor: float | np.ndarray = 1.0
        if self.nus is not None:
            assert coefficients is not None  # non-nominal nus come with a nuisance morpher
            factor = np.exp(_exponent(self.nus, coefficients, aligned))
        parts = []
        if with_theta:
            rows = self.theta_gradient_matrices()
            if aligned:
                theta_part = np.einsum("npb,nb->np", rows, benchmark_weights)
                parts.append(theta_part * (factor[:, None] if isinstance(factor, np.ndarray) else factor))
            else:
                j, p, b = rows.shape
                theta_part = (rows.reshape(j * p, b) @ benchmark_weights.T).reshape(j, p, -1)
                parts.append(theta_part * (factor[:, None, :] if isinstance(factor, np.ndarray) else factor))
        if with_nu:
            weights = _apply(self.matrices, benchmark_weights, aligned) * factor
            assert coefficients is not None  # with_nu implies a nuisance morpher
            log_gradient = _log_gradient(self.nus, coefficients, len(self), aligned)
            parts.append(log_gradient * (weights[:, None] if aligned else weights[:, None, :]))
        return np.concatenate(parts, axis=1)

    def log_weight_gradients(
        self, benchmark_weights: np.ndarray, gradients: str = "all", *, aligned: bool = True
    ) -> np.ndarray:
        """``grad log w(x|theta, nu)`` of aligned points and events, ``(n, G)`` (the joint score
        before the cross-section term). Events with zero weight give inf or nan."""
        with_theta, with_nu = self._gradient_width(gradients)
        if not aligned:
            raise InputError("log_weight_gradients is defined for aligned points and events only")
        parts = []
        if with_theta:
            nominal = _apply(self.matrices, benchmark_weights, True)
            rows = self.theta_gradient_matrices()
            with np.errstate(divide="ignore", invalid="ignore"):
                parts.append(np.einsum("npb,nb->np", rows, benchmark_weights) / nominal[:, None])
        if with_nu:
            coefficients = self._coefficients(benchmark_weights)
            assert coefficients is not None  # with_nu implies a nuisance morpher
            parts.append(_log_gradient(self.nus, coefficients, len(self), True))
        return np.concatenate(parts, axis=1)

    # ------------------------------------------------------------------ streamed totals

    def cross_sections(
        self,
        batches: Iterable[Batch],
        gradients: str | None = None,
        groups: np.ndarray | None = None,
    ) -> CrossSections:
        """Sum weights (and their squares and gradients) over streamed events.

        Parameters
        ----------
        batches : iterable
            Each item is ``benchmark_weights (n, B)`` or ``(benchmark_weights, event_factors)``,
            where ``event_factors`` multiply the weights: None, shape ``(n,)`` for all points, or
            ``(n_groups, n)`` with one row per group of points (see ``groups``).
        gradients : {"all", "theta", "nu"} or None, optional
            Also sum the weight gradients.
        groups : ndarray of int, shape (J,), optional
            The row of ``event_factors`` each point uses (for per-point event subsets).
        """
        return self.cross_section_sums(batches, gradients, groups).result()

    def cross_section_sums(
        self,
        batches: Iterable[Batch],
        gradients: str | None = None,
        groups: np.ndarray | None = None,
    ) -> CrossSectionSums:
        """The running sums behind :meth:`cross_sections`, over some of the events.

        Sums over separate parts of the events (e.g. one per Dask task) combine with
        :meth:`CrossSectionSums.merge`; merged in the order of the parts, they equal the sums over
        all events streamed in that order, bit for bit.
        """
        group_of = np.zeros(len(self), dtype=np.int64) if groups is None else np.asarray(groups, np.int64)
        n_groups = int(group_of.max(initial=0)) + 1
        # per-benchmark sums cost ~ n_groups B^2 per event, direct sums ~ J B: use the cheaper one
        n_benchmarks = self.matrices.shape[1]
        by_benchmark = self.nus is None and n_groups * n_benchmarks < len(self)
        accumulate = _NominalSums(self, gradients, n_groups) if by_benchmark else _PointSums(self, gradients)
        sums = CrossSectionSums(accumulate, group_of)
        for batch in batches:
            benchmark_weights, factors = batch if isinstance(batch, tuple) else (batch, None)
            benchmark_weights = np.asarray(benchmark_weights, dtype=np.float64)
            sums.n_events += len(benchmark_weights)
            factors = _group_factors(factors, n_groups, len(benchmark_weights))
            accumulate.add(benchmark_weights, factors, group_of)
        return sums


@dataclass
class CrossSectionSums:
    """Running sums of weights over events, from :meth:`ParameterPoints.cross_section_sums`."""

    accumulator: _NominalSums | _PointSums
    group_of: np.ndarray
    n_events: int = 0

    def merge(self, other: CrossSectionSums) -> None:
        """Add the sums over further events (of the same points, gradients and groups)."""
        mine, theirs = self.accumulator, other.accumulator
        # sums of the same points, gradients and groups have the same kind of accumulator
        if isinstance(mine, _NominalSums):
            mine.merge(cast(_NominalSums, theirs))
        else:
            mine.merge(cast(_PointSums, theirs))
        self.n_events += other.n_events

    def result(self) -> CrossSections:
        """The cross sections, uncertainties and gradients from the sums."""
        return self.accumulator.result(self.group_of, self.n_events)

    def arrays(self) -> dict[str, np.ndarray]:
        """The sums as named arrays (a checkpoint records them; :meth:`load_arrays` restores them)."""
        sums = {name: getattr(self.accumulator, name) for name in self.accumulator.SUMS}
        return {"n_events": np.array(self.n_events)} | {k: v for k, v in sums.items() if v is not None}

    def load_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Take the sums of :meth:`arrays` (into sums over no events of the same points).

        Raises
        ------
        InputError
            If the arrays are not sums of these points.
        """
        for name in self.accumulator.SUMS:
            mine = getattr(self.accumulator, name)
            if mine is None:
                continue
            if name not in arrays or arrays[name].shape != mine.shape:
                raise InputError(f"recorded sums do not fit these points ({name})")
            mine[...] = arrays[name]
        self.n_events = int(arrays["n_events"])


class _NominalSums:
    """Per group: ``S = sum f w_b``, ``Q = sum f^2 w_b w_c`` and ``A = sum f a_k w_b``."""

    #: The running sums (arrays; ``nuisance`` is None without nuisance gradients).
    SUMS = ("linear", "quadratic", "nuisance")

    def __init__(self, points: ParameterPoints, gradients: str | None, n_groups: int) -> None:
        self.points = points
        self.gradients = gradients
        b = points.matrices.shape[1]
        self.with_theta, self.with_nu = (
            (False, False) if gradients is None else points._gradient_width(gradients)
        )
        self.linear = np.zeros((n_groups, b))
        self.quadratic = np.zeros((n_groups, b, b))
        self.nuisance = np.zeros((n_groups, points.n_nuisance_parameters, b)) if self.with_nu else None

    def add(self, benchmark_weights: np.ndarray, factors: np.ndarray | None, group_of: np.ndarray) -> None:
        f = np.ones((1, len(benchmark_weights))) if factors is None else factors
        self.linear += f @ benchmark_weights
        self.quadratic += np.einsum("gn,nb,nc->gbc", f**2, benchmark_weights, benchmark_weights)
        if self.with_nu:
            coefficients = self.points._coefficients(benchmark_weights)
            assert coefficients is not None and self.nuisance is not None  # with_nu: nuisance morpher
            a, _ = coefficients
            self.nuisance += np.einsum("gn,kn,nb->gkb", f, a, benchmark_weights)

    def merge(self, other: _NominalSums) -> None:
        self.linear += other.linear
        self.quadratic += other.quadratic
        if self.nuisance is not None:
            assert other.nuisance is not None  # same points and gradients
            self.nuisance += other.nuisance

    def result(self, group_of: np.ndarray, n_events: int) -> CrossSections:
        m = self.points.matrices
        xsecs = np.einsum("jb,jb->j", m, self.linear[group_of])
        variances = np.einsum("jb,jbc,jc->j", m, self.quadratic[group_of], m)
        gradient = None
        if self.gradients is not None:
            parts = []
            if self.with_theta:
                parts.append(
                    np.einsum("jpb,jb->jp", self.points.theta_gradient_matrices(), self.linear[group_of])
                )
            if self.with_nu:
                assert self.nuisance is not None  # allocated when with_nu
                parts.append(np.einsum("jkb,jb->jk", self.nuisance[group_of], m))
            gradient = np.concatenate(parts, axis=1)
        return CrossSections(xsecs, np.sqrt(np.maximum(variances, 0.0)), gradient, n_events)


class _PointSums:
    """Direct sums over points and events, in chunks of points."""

    #: The running sums (arrays; ``gradient`` is None without gradients).
    SUMS = ("xsecs", "squares", "gradient")

    def __init__(self, points: ParameterPoints, gradients: str | None) -> None:
        self.points = points
        self.gradients = gradients
        j = len(points)
        self.xsecs = np.zeros(j)
        self.squares = np.zeros(j)
        self.width = 0 if gradients is None else points.n_gradients(gradients)
        self.gradient = None if gradients is None else np.zeros((j, self.width))

    def add(self, benchmark_weights: np.ndarray, factors: np.ndarray | None, group_of: np.ndarray) -> None:
        coefficients = self.points._coefficients(benchmark_weights)
        for chunk in chunk_slices(len(self.points), len(benchmark_weights), self.width + 1):
            part = self.points.take(chunk)
            f: float | np.ndarray = 1.0 if factors is None else factors[group_of[chunk]]
            weights = part.weights(benchmark_weights, coefficients) * f
            self.xsecs[chunk] += weights.sum(axis=1)
            self.squares[chunk] += (weights**2).sum(axis=1)
            if self.gradient is not None:
                assert self.gradients is not None  # gradient is allocated only with gradients
                grads = part.weight_gradients(benchmark_weights, self.gradients, coefficients)
                self.gradient[chunk] += np.sum(
                    grads * (f[:, None, :] if isinstance(f, np.ndarray) else f), axis=2
                )

    def merge(self, other: _PointSums) -> None:
        self.xsecs += other.xsecs
        self.squares += other.squares
        if self.gradient is not None:
            assert other.gradient is not None  # same points and gradients
            self.gradient += other.gradient

    def result(self, group_of: np.ndarray, n_events: int) -> CrossSections:
        return CrossSections(self.xsecs, np.sqrt(self.squares), self.gradient, n_events)


class WeightModel:
    """Builds :class:`ParameterPoints` from parameter specifications for one setup.

    Parameters
    ----------
    parameter_names : sequence of str
        The physics parameters, in order.
    benchmarks : mapping of str to ndarray
        Every weight column's name and parameter values, in the order of the stored weights
        (nuisance benchmarks included where the weights include them).
    morpher : PhysicsMorpher or None
        The morphing setup (its basis is the first benchmarks), if any.
    nuisance_morpher : NuisanceMorpher or None
        The nuisance morphing, if any.
    finite_differences : mapping, optional
        Finite-difference base benchmarks: name -> object with ``shift_names`` (parameter ->
        shifted benchmark name), used for gradients without morphing.
    finite_difference_epsilon : float, optional
        The shift of the finite-difference benchmarks.
    source : str, optional
        Where the setup comes from (a file name), for error messages.
    """

    def __init__(
        self,
        parameter_names: Sequence[str],
        benchmarks: Mapping[str, np.ndarray | Sequence[float]],
        morpher: PhysicsMorpher | None = None,
        nuisance_morpher: NuisanceMorpher | None = None,
        finite_differences: Mapping[str, Any] | None = None,
        finite_difference_epsilon: float = 0.0,
        source: str = "the setup",
    ) -> None:
        self.parameter_names = list(parameter_names)
        self.benchmark_names = list(benchmarks)
        self.benchmark_values = np.array(
            [np.asarray(v, dtype=np.float64).reshape(-1) for v in benchmarks.values()], dtype=np.float64
        ).reshape(len(self.benchmark_names), len(self.parameter_names))
        self.morpher = morpher
        self.nuisance_morpher = nuisance_morpher
        self.finite_differences = dict(finite_differences or {})
        self.finite_difference_epsilon = float(finite_difference_epsilon)
        self.source = source

    @property
    def n_parameters(self) -> int:
        return len(self.parameter_names)

    @property
    def n_benchmarks(self) -> int:
        return len(self.benchmark_names)

    @property
    def n_nuisance_parameters(self) -> int:
        return 0 if self.nuisance_morpher is None else self.nuisance_morpher.n_nuisance_parameters

    # ------------------------------------------------------------------ single items

    def benchmark_index(self, benchmark: str | int | np.integer) -> int:
        """Column of a benchmark given by name or index, with a clear error."""
        if isinstance(benchmark, str):
            if benchmark not in self.benchmark_names:
                raise InputError(
                    f"unknown benchmark {benchmark!r} in {self.source}; benchmarks: "
                    f"{', '.join(self.benchmark_names)}"
                )
            return self.benchmark_names.index(benchmark)
        if not 0 <= int(benchmark) < self.n_benchmarks:
            raise InputError(f"benchmark index {benchmark} out of range (0 .. {self.n_benchmarks - 1})")
        return int(benchmark)

    def theta_array(self, thetas: Any) -> np.ndarray:
        """Parameter points as ``(J, P)``, with a clear error for the wrong dimension."""
        values = np.asarray(thetas, dtype=np.float64)
        if values.ndim <= 1:
            values = values.reshape(1, -1)
        if values.ndim != 2 or values.shape[1] != self.n_parameters:
            raise InputError(
                f"a parameter point must have {self.n_parameters} entries "
                f"({', '.join(self.parameter_names)}), got shape {np.shape(thetas)}"
            )
        return values

    def nu_array(self, nus: Any, n_points: int) -> np.ndarray | None:
        """Nuisance parameters as ``(J, K)`` (one row broadcast to all points), or None if nominal."""
        if nus is None:
            return None
        if isinstance(nus, list | tuple) and any(nu is None for nu in nus):
            if all(nu is None for nu in nus):
                return None
            nus = [np.zeros(self.n_nuisance_parameters) if nu is None else nu for nu in nus]
        values = np.asarray(nus, dtype=np.float64)
        if self.nuisance_morpher is None:
            if np.any(values != 0.0):
                raise SetupError(
                    f"{self.source} has no nuisance parameters (or they are switched off); got nu = {values}"
                )
            return None
        k = self.n_nuisance_parameters
        values = values.reshape(1, -1) if values.ndim <= 1 else values
        if values.shape[1] != k or len(values) not in (1, n_points):
            raise InputError(
                f"nuisance parameters must have {k} entries (one row, or one per point for {n_points} "
                f"points), got shape {np.shape(nus)}"
            )
        return np.broadcast_to(values, (n_points, k)).copy() if np.any(values) else None

    # ------------------------------------------------------------------ points

    def benchmark_points(
        self, benchmarks: Sequence[str | int | np.integer], nus: Any = None
    ) -> ParameterPoints:
        """Points at benchmarks given by name or index."""
        index = np.array([self.benchmark_index(b) for b in benchmarks], dtype=np.int64)
        matrices = np.zeros((len(index), self.n_benchmarks))
        matrices[np.arange(len(index)), index] = 1.0
        return self._points(
            self.benchmark_values[index], matrices, [self.benchmark_names[i] for i in index], nus
        )

    def morphing_points(self, thetas: Any, nus: Any = None) -> ParameterPoints:
        """Points at arbitrary parameter values (needs morphing)."""
        values = self.theta_array(thetas)
        if self.morpher is None:
            hint = "give a benchmark name instead"
            if self.finite_differences:
                hint += (
                    "; gradients are known at the finite-difference base benchmarks "
                    f"({', '.join(self.finite_differences)})"
                )
            raise SetupError(
                f"weights at an arbitrary parameter point need a morphing setup, and {self.source} has "
                f"none (or disable_morphing=True); {hint}"
            )
        matrices = np.zeros((len(values), self.n_benchmarks))
        weights = self.morpher.calculate_morphing_weights(values)
        matrices[:, : weights.shape[-1]] = weights
        return self._points(values, matrices, [None] * len(values), nus)

    def points(self, thetas: Any, nus: Any = None) -> ParameterPoints:
        """Points from a list of benchmark names / indices / parameter vectors, one of those, or a
        ``(J, P)`` array. ``nus``: None, one nu for all points, or one (or None) per point."""
        if isinstance(thetas, ParameterPoints):
            return thetas if nus is None else thetas.with_nus(self.nu_array(nus, len(thetas)))
        if isinstance(thetas, str | int | np.integer):
            return self.benchmark_points([thetas], nus)
        if isinstance(thetas, np.ndarray) and thetas.dtype.kind in "fiu":
            return self.morphing_points(thetas, nus)
        items = list(thetas)
        if not items:
            raise InputError("no parameter points given")
        if all(isinstance(t, str | int | np.integer) for t in items):
            return self.benchmark_points(items, nus)
        if not any(isinstance(t, str) for t in items) and all(np.ndim(t) == 1 for t in items):
            return self.morphing_points(np.asarray(items, dtype=np.float64), nus)
        parts = [self.points(t) for t in items]
        points = ParameterPoints.concatenate(parts)
        return points.with_nus(self.nu_array(nus, len(points)))

    def _points(self, values: np.ndarray, matrices: np.ndarray, names: list[str | None], nus: Any):
        rows, problem = self._gradient_rows(values, names)
        return ParameterPoints(
            values, matrices, names, self.nu_array(nus, len(values)), self.nuisance_morpher, rows, problem
        )

    def _gradient_rows(
        self, values: np.ndarray, names: list[str | None]
    ) -> tuple[Callable[[np.ndarray], np.ndarray] | None, str]:
        if self.morpher is not None:
            morpher, n_benchmarks = self.morpher, self.n_benchmarks

            def morphing_rows(index: np.ndarray) -> np.ndarray:
                gradient = morpher.calculate_morphing_weight_gradient(values[index])
                rows = np.zeros((len(index), values.shape[1], n_benchmarks))
                rows[..., : gradient.shape[-1]] = gradient
                return rows

            return morphing_rows, ""
        if not self.finite_differences:
            return None, f"{self.source} has neither a morphing setup nor finite-difference benchmarks"
        missing = [name for name in names if name not in self.finite_differences]
        if missing:
            return None, (
                "without morphing, gradients are known only at the finite-difference base benchmarks "
                f"({', '.join(self.finite_differences)}); got {missing[0] or 'a parameter point'}"
            )
        # every name is a finite-difference base benchmark (checked above), so none is None
        rows = np.stack([self._finite_difference_rows(cast(str, name)) for name in names])
        return (lambda index: rows[index]), ""

    def _finite_difference_rows(self, name: str) -> np.ndarray:
        rows = np.zeros((self.n_parameters, self.n_benchmarks))
        base = self.benchmark_index(name)
        step = 1.0 / self.finite_difference_epsilon
        for i, parameter in enumerate(self.parameter_names):
            shifted = self.benchmark_index(self.finite_differences[name].shift_names[parameter])
            rows[i, shifted] += step
            rows[i, base] -= step
        return rows

    # ------------------------------------------------------------------ sampling specifications

    def points_from_spec(
        self, spec: Any, n_samples: int, rng: np.random.Generator
    ) -> tuple[ParameterPoints, np.ndarray]:
        """Points of a ``motherlode.sampling`` specification, and the samples per point.

        ``spec`` is ``benchmark(name)``, ``benchmarks(names)``, ``morphing_point(theta)``,
        ``morphing_points(thetas)`` or ``random_morphing_points(n, priors)``; ``n_samples`` are
        shared out as evenly as possible.
        """
        from .sampling.parameters import draw_from_priors

        if not isinstance(spec, tuple) or len(spec) != 2:
            raise InputError(
                f"a theta specification is a (kind, value) tuple such as benchmark('sm'), got {spec!r}"
            )
        kind, value = spec
        if kind == "benchmark":
            points = self.benchmark_points([value])
        elif kind == "benchmarks":
            points = self.benchmark_points(list(value))
        elif kind in ("morphing_point", "morphing_points"):
            if self.morpher is None:
                raise SetupError(f"{kind} needs a morphing setup; use benchmark() or benchmarks()")
            points = self.morphing_points(value)
        elif kind == "random_morphing_points":
            if self.morpher is None:
                raise SetupError(f"{kind} needs a morphing setup; use benchmark() or benchmarks()")
            n_thetas, priors = value
            if len(priors) != self.n_parameters:
                raise InputError(f"{len(priors)} priors given for {self.n_parameters} parameters")
            if n_thetas is None or n_thetas > n_samples:
                n_thetas = n_samples
            points = self.morphing_points(draw_from_priors(priors, n_thetas, rng))
        else:
            raise InputError(f"unknown theta specification {kind!r}")
        return points, split_evenly(n_samples, len(points))

    def nus_from_spec(self, spec: Any, n_points: int, rng: np.random.Generator) -> np.ndarray | None:
        """Nuisance parameters ``(n_points, K)`` of a specification (``iid_nuisance_parameters``,
        ``nominal_nuisance_parameters``, ``morphing_point``, ``morphing_points``), or None."""
        from .sampling.parameters import draw_from_priors

        if spec is None or (isinstance(spec, tuple) and spec[0] == "nominal"):
            return None
        if self.nuisance_morpher is None:
            raise SetupError(f"{self.source} has no nuisance parameters; nu = {spec!r} cannot be used")
        kind, value = spec
        k = self.n_nuisance_parameters
        if kind == "iid":
            return draw_from_priors([value] * k, n_points, rng)
        if kind == "morphing_point":
            nus = np.repeat(np.asarray(value, dtype=np.float64).reshape(1, -1), n_points, axis=0)
        elif kind == "morphing_points":
            nus = np.atleast_2d(np.asarray(value, dtype=np.float64))
            if len(nus) != n_points:
                raise InputError(f"{len(nus)} nuisance points given for {n_points} parameter points")
        else:
            raise InputError(f"unknown nu specification {kind!r}")
        if nus.shape[1] != k:
            raise InputError(f"nuisance points must have {k} entries, got shape {nus.shape}")
        return nus


# ---------------------------------------------------------------------- helpers


def split_evenly(n_samples: int, n_points: int) -> np.ndarray:
    """``n_samples`` split as evenly as possible over ``n_points`` (the first ones get the remainder).

    >>> split_evenly(7, 3)
    array([3, 2, 2])
    """
    if n_points < 1:
        raise InputError("no parameter points given")
    counts = np.full(n_points, n_samples // n_points, dtype=np.int64)
    counts[: n_samples % n_points] += 1
    return counts


def chunk_slices(n_points: int, n_events: int, width: int = 1) -> list[slice]:
    """Slices of points such that ``points x events x width`` stays below a fixed budget."""
    size = max(1, _ELEMENTS_PER_CHUNK // max(1, n_events * width))
    return [slice(start, min(start + size, n_points)) for start in range(0, n_points, size)]


def _subset_rows(
    rows: Callable[[np.ndarray], np.ndarray], index: np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    return lambda sub: rows(index[sub])


def _apply(matrices: np.ndarray, benchmark_weights: np.ndarray, aligned: bool) -> np.ndarray:
    if aligned:
        return np.einsum("nb,nb->n", matrices, benchmark_weights)
    return matrices @ benchmark_weights.T


def _exponent(nus: np.ndarray, coefficients: tuple[np.ndarray, np.ndarray], aligned: bool) -> np.ndarray:
    """The nuisance exponent: ``(J, n)``, or ``(n,)`` when aligned."""
    a, b = coefficients
    if aligned:
        return nuisance_exponent(nus, a.T, b.T, axis=1)
    return nuisance_exponent(nus[:, :, None], a[None], b[None], axis=1)


def _log_gradient(
    nus: np.ndarray | None, coefficients: tuple[np.ndarray, np.ndarray], n_points: int, aligned: bool
) -> np.ndarray:
    """Gradient of the nuisance exponent: ``(J, K, n)``, or ``(n, K)`` when aligned."""
    a, b = coefficients
    if aligned:
        return nuisance_log_gradient(0.0 if nus is None else nus, a.T, b.T)
    if nus is None:
        return np.broadcast_to(a[None], (n_points, *a.shape))
    return nuisance_log_gradient(nus[:, :, None], a[None], b[None])


def _group_factors(factors: np.ndarray | None, n_groups: int, n_events: int) -> np.ndarray | None:
    if factors is None:
        return None
    factors = np.asarray(factors, dtype=np.float64)
    if factors.ndim == 1:
        factors = factors[None, :]
    if factors.shape[1] != n_events or len(factors) not in (1, n_groups):
        raise InputError(
            f"event factors of shape {factors.shape} do not fit {n_groups} groups of {n_events} events"
        )
    return np.broadcast_to(factors, (n_groups, n_events))
