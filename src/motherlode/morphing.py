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

The components come from maximal powers per parameter (MadMiner's classic path) or from a
*coupling structure*: couplings ``gp`` of a production vertex, ``gd`` of a decay vertex and
``gs`` of both, with components the monomials of
:math:`(\sum g_p + \sum g_s)^2 (\sum g_d + \sum g_s)^2` (:func:`coupling_components`). There
the basis is given per coupling group, and a parameter point is the vector of all couplings
(see :class:`PhysicsMorpher`). Both paths share the linear algebra above.

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

Two shared couplings (a coupling structure), five benchmarks given as coupling arrays of
shape ``(n_couplings, n_benchmarks)``:

>>> morpher = PhysicsMorpher(parameter_max_power=[4, 4])
>>> morpher.find_components(Ns=2).tolist()
[[4, 0], [3, 1], [2, 2], [1, 3], [0, 4]]
>>> morpher.set_basis(basis_s=[[1, 1, 1, 1, 1], [-5, -4, -3, -2, -1]])
>>> morpher.calculate_morphing_weights(theta_s=[1.0, 1.0]).round(9)
array([  5., -24.,  45., -40.,  15.])
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from .errors import InputError, MorphingError
from .models import AnalysisParameter, Benchmark, NuisanceParameter
from .utils.various import sanitize_array

__all__ = [
    "MAX_CONDITION_NUMBER",
    "NuisanceMorpher",
    "PhysicsMorpher",
    "component_weights",
    "coupling_components",
    "nuisance_exponent",
    "nuisance_log_gradient",
]

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


def _draw_uniform(ranges: np.ndarray, n_thetas: int, random_state: RandomState) -> np.ndarray:
    """Points drawn uniformly in ``ranges`` (shape ``(n_columns, 2)``), shape ``(n_thetas, n_columns)``."""
    low, high = ranges[:, 0], ranges[:, 1]
    return low + _rng(random_state).random((n_thetas, len(ranges))) * (high - low)


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


#: The coupling groups of the coupling-structure path in column order: decay (``gd``),
#: production (``gp``) and shared (``gs``, in both vertices).
_GROUP_LABELS = ("decay", "production", "shared")


def _squared_sum_monomials(columns: np.ndarray, n_columns: int) -> np.ndarray:
    """Exponent vectors of the monomials of :math:`(\\sum_{c \\in columns} g_c)^2`.

    Shape ``(n_monomials, n_columns)``: :math:`e_i + e_j` for every pair ``i <= j`` of the
    columns; the constant 1 (one zero row) when ``columns`` is empty.
    """
    if len(columns) == 0:
        return np.zeros((1, n_columns), dtype=int)
    first, second = np.triu_indices(len(columns))
    rows = np.arange(len(first))
    monomials = np.zeros((len(first), n_columns), dtype=int)
    np.add.at(monomials, (rows, columns[first]), 1)
    np.add.at(monomials, (rows, columns[second]), 1)
    return monomials


def coupling_components(n_d: int, n_p: int, n_s: int, bsm_max_power: float = float("inf")) -> np.ndarray:
    r"""Components of a squared matrix element with production, decay and shared couplings.

    The amplitude is linear in the couplings of the production vertex (``gp`` and the shared
    ``gs``) times linear in those of the decay vertex (``gd`` and ``gs``), so the squared
    matrix element is a combination of the monomials of

    .. math:: \Big(\sum_i g_{p,i} + \sum_k g_{s,k}\Big)^2 \Big(\sum_j g_{d,j} + \sum_k g_{s,k}\Big)^2,

    where a factor is 1 when its vertex has no couplings. All coefficients of the expansion are
    positive, so every exponent vector that the product reaches is a component.

    Parameters
    ----------
    n_d, n_p, n_s : int
        Numbers of decay, production and shared couplings.
    bsm_max_power : float
        Components in which any single BSM coupling (every coupling except the first of each
        group, ``gd_0``, ``gp_0``, ``gs_0``) has an exponent above this are dropped. Each BSM
        coupling is checked on its own, as in MadMiner; their total power is not limited.

    Returns
    -------
    ndarray of int
        Shape ``(n_components, n_d + n_p + n_s)``, columns ``gd_0.., gp_0.., gs_0..``, rows in
        descending lexicographic order of the exponents (the order of sympy's
        ``Poly(f).terms()`` that MadMiner 0.9.6 uses).

    Examples
    --------
    >>> coupling_components(2, 1, 0).tolist()
    [[2, 0, 2], [1, 1, 2], [0, 2, 2]]
    >>> coupling_components(2, 1, 0, bsm_max_power=0).tolist()
    [[2, 0, 2]]
    """
    if min(n_d, n_p, n_s) < 0 or n_d + n_p + n_s == 0:
        raise InputError(
            f"coupling_components needs non-negative numbers of couplings, not all zero; got "
            f"n_d={n_d}, n_p={n_p}, n_s={n_s}"
        )
    n_columns = n_d + n_p + n_s
    shared = np.arange(n_d + n_p, n_columns)
    production = _squared_sum_monomials(np.arange(n_d, n_columns), n_columns)  # gp and gs
    decay = _squared_sum_monomials(np.concatenate([np.arange(n_d), shared]), n_columns)  # gd and gs
    products = (production[:, None, :] + decay[None, :, :]).reshape(-1, n_columns)
    unique = np.unique(products, axis=0)
    # descending lexicographic order, first column most significant
    components = unique[np.lexsort(unique.T[::-1])[::-1]]
    is_bsm = np.ones(n_columns, dtype=bool)
    group_starts = np.array([0, n_d, n_d + n_p])[np.array([n_d, n_p, n_s]) > 0]
    is_bsm[group_starts] = False
    keep = np.all(components[:, is_bsm] <= bsm_max_power, axis=1)
    return components[keep]


class PhysicsMorpher:
    r"""Morphing of event weights in the physics parameters.

    Set it up with the parameters (from a :class:`~motherlode.core.MadMiner` setup, or as
    plain lists), find or set the components, then set or optimise the basis. The squared
    matrix element can be described in two ways:

    * **Parameter powers** (MadMiner's classic path): each parameter enters with at most its
      maximal power, and the components are all monomials within those powers and
      ``max_overall_power`` (:meth:`find_components` without ``Np``, ``Nd``, ``Ns``). The
      basis is a set of parameter points, ``set_basis(basis_numpy=...)`` or
      ``set_basis(basis_from_madminer=...)``, and a parameter point ``theta`` has one entry
      per parameter.
    * **Coupling structure**: the amplitude is linear in the couplings ``gp`` of a production
      vertex, ``gd`` of a decay vertex and ``gs`` of both, so the components are the monomials
      of :math:`(\sum g_p + \sum g_s)^2 (\sum g_d + \sum g_s)^2`
      (``find_components(Np=..., Nd=..., Ns=...)``, see :func:`coupling_components`). The
      basis is given per group as coupling arrays of shape ``(n_couplings_in_group,
      n_benchmarks)``: ``set_basis(basis_d=..., basis_p=..., basis_s=...)``. A parameter point
      is the vector of all couplings in the column order ``gd_0.., gp_0.., gs_0..``, given as
      one ``theta`` or split as ``theta_d``, ``theta_p``, ``theta_s``. Its length comes from
      the components, not from ``parameter_max_power`` (which may describe something else).

    Both paths share the linear algebra: :attr:`basis` holds the basis points as rows (in the
    coupling path the stacked, transposed coupling arrays), the morphing matrix has shape
    ``(n_components, n_benchmarks)``, and a basis with more points than components gives the
    minimum-norm (pseudo-inverse) weights. Bases whose equilibrated basis matrix has a
    condition number above :data:`MAX_CONDITION_NUMBER` are refused with a
    :class:`~motherlode.errors.MorphingError`, and above 1e8 accepted with a logged warning.

    Parameters
    ----------
    parameters_from_madminer : mapping of str to AnalysisParameter, optional
        The ``MadMiner.parameters`` dict.
    parameter_max_power : sequence of int or of tuple of int, optional
        Used when ``parameters_from_madminer`` is None: the maximal power of each parameter
        (one per operator configuration if tuples).
    parameter_range : sequence of (float, float), optional
        Used when ``parameters_from_madminer`` is None: the range of each parameter (default
        (0, 1) each). :meth:`evaluate_morphing` draws its test points in these ranges; in the
        coupling path, when their number differs from the number of couplings, it draws each
        coupling in the range its basis values span instead.

    Attributes
    ----------
    components : ndarray of int or None
        Shape ``(n_components, n_columns)``.
    basis : ndarray or None
        The basis points, shape ``(n_benchmarks, n_columns)``.
    morphing_matrix : ndarray or None
        Shape ``(n_components, n_benchmarks)``.
    gd, gp, gs : ndarray or None
        The coupling bases of the coupling path, shapes ``(Nd, n_benchmarks)``,
        ``(Np, n_benchmarks)``, ``(Ns, n_benchmarks)``; None for absent groups and in the
        classic path.
    coupling_structure : tuple of int or None
        ``(Nd, Np, Ns)`` of the last :meth:`find_components` call with a coupling structure.
    condition_number : float or None
        Condition number of the last basis solved.

    Examples
    --------
    A coupling structure with one production coupling and one shared coupling: the components
    are :math:`g_p^2 g_s^2, g_p g_s^3, g_s^4` (columns ``gp_0, gs_0``).

    >>> morpher = PhysicsMorpher(parameter_max_power=[4, 4])
    >>> morpher.find_components(Np=1, Ns=1).tolist()
    [[2, 2], [1, 3], [0, 4]]
    >>> morpher.get_min_basis(Np=1, Ns=1)
    3
    >>> morpher.set_basis(basis_p=[[0.0, 1.0, -1.0]], basis_s=[[1.0, 1.0, 1.0]])
    >>> morpher.calculate_morphing_weights(theta_p=[0.5], theta_s=[1.0])
    array([ 0.75 ,  0.375, -0.125])
    >>> weights = morpher.calculate_morphing_weights(np.array([[0.5, 1.0], [0.0, 2.0]]))
    >>> np.round(weights, 12) + 0.0
    array([[ 0.75 ,  0.375, -0.125],
           [16.   ,  0.   ,  0.   ]])
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
            ranges: Sequence[Sequence[float]] | None = [tuple(p.val_range) for p in parameters]
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
        self.gd: np.ndarray | None = None
        self.gp: np.ndarray | None = None
        self.gs: np.ndarray | None = None
        self.coupling_structure: tuple[int, int, int] | None = None

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

    # ------------------------------------------------------------------ helpers

    def _in_coupling_path(self) -> bool:
        return self.coupling_structure is not None or any(g is not None for g in (self.gd, self.gp, self.gs))

    def _n_columns(self) -> int:
        """Entries of a parameter point: the components' columns (n_parameters before any are set)."""
        return self.n_parameters if self.components is None else int(self.components.shape[1])

    @staticmethod
    def _coupling_numbers(Nd: int, Np: int, Ns: int) -> tuple[int, int, int]:
        numbers = []
        for name, value in (("Nd", Nd), ("Np", Np), ("Ns", Ns)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise InputError(
                    f"{name} must be a non-negative integer (number of couplings), got {value!r}"
                )
            numbers.append(int(value))
        return numbers[0], numbers[1], numbers[2]

    # ------------------------------------------------------------------ components

    def find_components(
        self,
        max_overall_power: int | Sequence[int] = 4,
        BSM_max_power: float = float("inf"),
        Np: int = 0,
        Nd: int = 0,
        Ns: int = 0,
    ) -> np.ndarray:
        """Find the monomials that can appear in the squared matrix element.

        **Classic path** (``Np = Nd = Ns = 0``): a component is an exponent vector with each
        parameter's exponent at most its maximal power and the sum of exponents at most
        ``max_overall_power``. With several operator configurations (tuples of powers), the
        components are the union over configurations. The order is lexicographic in the
        exponents, first parameter slowest, as in MadMiner.

        **Coupling path** (any of ``Np``, ``Nd``, ``Ns`` non-zero): the components are the
        exponent vectors of the monomials of :math:`(\\sum g_p + \\sum g_s)^2 (\\sum g_d +
        \\sum g_s)^2` in the columns ``gd_0..gd_{Nd-1}, gp_0..gp_{Np-1}, gs_0..gs_{Ns-1}``, in
        MadMiner's (sympy's) order: descending lexicographic. Components in which any single
        BSM coupling (all but ``gd_0``, ``gp_0``, ``gs_0``) has an exponent above
        ``BSM_max_power`` are dropped; as in MadMiner each BSM coupling is checked on its own.
        ``max_overall_power`` is not used (the structure fixes the degree), nor is
        ``parameter_max_power``; the number of columns is ``Nd + Np + Ns``. See
        :func:`coupling_components`.

        Parameters
        ----------
        max_overall_power : int or sequence of int
            Classic path: maximal total power (per operator configuration). Typically 2 per
            vertex that the parameters enter.
        BSM_max_power : float
            Coupling path: maximal exponent of each BSM coupling. Default: no limit.
        Np, Nd, Ns : int
            Coupling path: numbers of production, decay and shared couplings.

        Returns
        -------
        ndarray of int
            Shape ``(n_components, n_parameters)``, or ``(n_components, Nd + Np + Ns)`` in the
            coupling path.

        Examples
        --------
        >>> PhysicsMorpher(parameter_max_power=[2, 2]).find_components(2).tolist()
        [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [2, 0]]
        >>> PhysicsMorpher(parameter_max_power=[4, 4]).find_components(Ns=2).tolist()
        [[4, 0], [3, 1], [2, 2], [1, 3], [0, 4]]
        """
        n_d, n_p, n_s = self._coupling_numbers(Nd, Np, Ns)
        if n_d or n_p or n_s:
            if not BSM_max_power >= 0:  # also refuses NaN
                raise InputError(f"BSM_max_power must be a non-negative number, got {BSM_max_power!r}")
            components = coupling_components(n_d, n_p, n_s, BSM_max_power)
            logger.debug(
                "Coupling structure Nd=%d, Np=%d, Ns=%d: %d components", n_d, n_p, n_s, len(components)
            )
            self.components = components
            self.n_components = len(components)
            self.coupling_structure = (n_d, n_p, n_s)
            return self.components
        if BSM_max_power != float("inf"):
            logger.warning("BSM_max_power only applies to a coupling structure (Np, Nd, Ns); ignored")
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
        exponent_vectors = sorted(found)
        self.set_components(
            np.array(exponent_vectors, dtype=int).reshape(len(exponent_vectors), self.n_parameters)
        )
        return self._require_components()

    def set_components(self, components: np.ndarray) -> None:
        """Set the components by hand, shape ``(n_components, n_parameters)`` of non-negative ints.

        This forgets the coupling structure of an earlier ``find_components(Np=, Nd=, Ns=)``;
        a coupling basis (``set_basis(basis_d=...)``) still works if its couplings add up to
        ``n_parameters`` columns.
        """
        components = np.asarray(components)
        if components.ndim != 2 or components.shape[1] != self.n_parameters:
            raise InputError(
                f"components must have shape (n_components, {self.n_parameters}), got {components.shape}"
                "; for a coupling structure with another number of couplings use "
                "find_components(Np=..., Nd=..., Ns=...)"
            )
        if not np.all(np.equal(np.mod(components, 1), 0)) or np.any(components < 0):
            raise InputError("components must be non-negative integers")
        components = components.astype(int)
        if len(np.unique(components, axis=0)) != len(components):
            raise InputError("components contain duplicate rows")
        self.components = components
        self.n_components = len(components)
        self.coupling_structure = None

    def _require_components(self) -> np.ndarray:
        if self.components is None:
            raise InputError("No components defined: call find_components() or set_components() first")
        return self.components

    def get_min_basis(self, Ns: int = 0, Np: int = 0, Nd: int = 0) -> int:
        r"""The minimum number of basis points for a coupling structure: its number of components.

        MadMiner's closed formula

        .. math:: \tfrac{1}{24} N_s(N_s+1)(N_s+2)(N_s+3+4(N_p+N_d))
                  + \tfrac14 [N_s(N_s+1)N_p(N_p+1) + N_s(N_s+1)N_d(N_d+1) + N_p(N_p+1)N_d(N_d+1)]
                  + \tfrac12 N_s N_p N_d (N_s+N_p+N_d+3),

        as an exact integer (MadMiner returns a float). The formula assumes both vertices have
        couplings; with only one (``Ns = 0`` and ``Np = 0`` or ``Nd = 0``) the squared matrix
        element is :math:`(\sum g)^2` with :math:`N(N+1)/2` monomials, which is returned
        instead of MadMiner's 0. Without ``BSM_max_power`` it equals the number of components
        that ``find_components(Np=Np, Nd=Nd, Ns=Ns)`` finds.

        Examples
        --------
        >>> morpher = PhysicsMorpher(parameter_max_power=[4, 4])
        >>> morpher.get_min_basis(Nd=2, Np=1), morpher.get_min_basis(Ns=2), morpher.get_min_basis(Np=3)
        (3, 5, 6)
        """
        n_d, n_p, n_s = self._coupling_numbers(Nd, Np, Ns)
        if n_s == 0 and (n_p == 0 or n_d == 0):
            n = n_p + n_d
            return n * (n + 1) // 2
        times_24 = (
            n_s * (n_s + 1) * (n_s + 2) * (n_s + 3 + 4 * (n_p + n_d))
            + 6 * (n_s * (n_s + 1) * n_p * (n_p + 1) + n_s * (n_s + 1) * n_d * (n_d + 1))
            + 6 * n_p * (n_p + 1) * n_d * (n_d + 1)
            + 12 * n_s * n_p * n_d * (n_s + n_p + n_d + 3)
        )
        return times_24 // 24

    # ------------------------------------------------------------------ basis

    def _coupling_basis(
        self,
        gd: ArrayLike | None,
        gp: ArrayLike | None,
        gs: ArrayLike | None,
        names: tuple[str, str, str],
    ) -> tuple[np.ndarray, tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]]:
        """Validate coupling arrays; return the basis points ``(n_benchmarks, n_columns)`` and the groups."""
        n_columns = int(self._require_components().shape[1])
        groups: list[np.ndarray | None] = []
        n_benchmarks: dict[str, int] = {}
        for name, label, value in zip(names, _GROUP_LABELS, (gd, gp, gs), strict=True):
            if value is None:
                groups.append(None)
                continue
            array = np.asarray(value, dtype=float)
            if array.ndim == 1:
                array = array[None, :]
            if array.ndim != 2:
                raise InputError(
                    f"{name} must have shape (n_{label}_couplings, n_benchmarks), got {array.shape}"
                )
            groups.append(array)
            n_benchmarks[name] = array.shape[1]
        if not n_benchmarks:
            raise InputError(f"No coupling basis given: pass at least one of {', '.join(names)}")
        if len(set(n_benchmarks.values())) > 1:
            counts = ", ".join(f"{name} has {n}" for name, n in n_benchmarks.items())
            raise InputError(
                f"The coupling bases have different numbers of benchmarks (columns): {counts}; "
                "every group needs one column per benchmark"
            )
        sizes = [0 if g is None else len(g) for g in groups]
        if self.coupling_structure is not None:
            for name, size, declared, symbol in zip(
                names, sizes, self.coupling_structure, ("Nd", "Np", "Ns"), strict=True
            ):
                if size != declared:
                    got = "is missing" if size == 0 else f"has {size} couplings (rows)"
                    raise InputError(f"{name} {got}, but find_components was called with {symbol}={declared}")
        if sum(sizes) != n_columns:
            raise InputError(
                f"The coupling bases {'/'.join(names)} have {sizes[0]}+{sizes[1]}+{sizes[2]} = {sum(sizes)} "
                f"couplings (rows), but the components have {n_columns} columns: Nd+Np+Ns must equal the "
                "number of component columns"
            )
        basis = np.concatenate([g for g in groups if g is not None], axis=0).T
        return basis, (groups[0], groups[1], groups[2])

    def _explicit_couplings(
        self, gp: ArrayLike | None, gd: ArrayLike | None, gs: ArrayLike | None
    ) -> tuple[ArrayLike | None, ArrayLike | None, ArrayLike | None] | None:
        """(gd, gp, gs) with stored groups filling the ones not given; None if none is given."""
        if gp is None and gd is None and gs is None:
            return None
        return (
            self.gd if gd is None else gd,
            self.gp if gp is None else gp,
            self.gs if gs is None else gs,
        )

    def _check_basis(self, basis: ArrayLike, name: str = "basis") -> np.ndarray:
        basis = np.asarray(basis, dtype=float)
        n_columns = self._n_columns()
        if basis.ndim != 2 or basis.shape[1] != n_columns:
            raise InputError(f"{name} must have shape (n_benchmarks, {n_columns}), got {basis.shape}")
        return basis

    def _resolve_basis(
        self,
        basis: ArrayLike | None,
        gp: ArrayLike | None,
        gd: ArrayLike | None,
        gs: ArrayLike | None,
    ) -> np.ndarray | None:
        """Basis points from explicit couplings (stored groups fill the rest), explicit basis, or stored."""
        couplings = self._explicit_couplings(gp, gd, gs)
        if couplings is not None:
            if basis is not None:
                raise InputError(
                    "Give a basis of parameter points (basis) or coupling bases (gp/gd/gs), not both"
                )
            return self._coupling_basis(*couplings, names=("gd", "gp", "gs"))[0]
        if basis is not None:
            return self._check_basis(basis)
        return self.basis

    def set_basis(
        self,
        basis_from_madminer: Mapping[str, Benchmark] | None = None,
        basis_numpy: ArrayLike | None = None,
        morphing_matrix: ArrayLike | None = None,
        basis_p: ArrayLike | None = None,
        basis_d: ArrayLike | None = None,
        basis_s: ArrayLike | None = None,
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
        basis_p, basis_d, basis_s : ndarray, optional
            Coupling path: the production, decay and shared couplings of the benchmarks, shapes
            ``(Np, n_benchmarks)``, ``(Nd, n_benchmarks)``, ``(Ns, n_benchmarks)`` (a 1-d array
            is one coupling). Groups without couplings stay None. All groups need the same
            number of benchmarks, and ``Nd + Np + Ns`` must be the number of component columns
            (each group its number from ``find_components``). More benchmarks than components
            give an over-determined basis with minimum-norm weights.

        Raises
        ------
        InputError
            If the arrays have the wrong shapes, or coupling bases and parameter points are
            mixed.
        MorphingError
            If the basis has fewer points than components, or is singular or ill-conditioned.
        """
        components = self._require_components()
        groups: tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None] = (None, None, None)
        if basis_p is not None or basis_d is not None or basis_s is not None:
            if basis_from_madminer is not None or basis_numpy is not None:
                raise InputError(
                    "set_basis takes coupling bases (basis_d, basis_p, basis_s) or parameter points "
                    "(basis_from_madminer, basis_numpy), not both"
                )
            basis, groups = self._coupling_basis(basis_d, basis_p, basis_s, ("basis_d", "basis_p", "basis_s"))
        elif basis_from_madminer is not None:
            basis = self._benchmarks_to_array(basis_from_madminer)
        elif basis_numpy is not None:
            basis = self._check_basis(basis_numpy, "basis_numpy")
        else:
            raise InputError("set_basis needs basis_from_madminer, basis_numpy or basis_d/basis_p/basis_s")
        if morphing_matrix is None:
            matrix = self.calculate_morphing_matrix(basis)
        else:
            matrix = np.asarray(morphing_matrix, dtype=float)
            if matrix.ndim != 2 or matrix.shape[0] != len(components):
                raise InputError(
                    f"morphing_matrix must have shape ({len(components)}, n_basis_benchmarks), "
                    f"got {matrix.shape}"
                )
            if matrix.shape[1] > len(basis):
                raise InputError(
                    f"morphing_matrix has {matrix.shape[1]} columns but only {len(basis)} benchmarks"
                )
            basis = basis[: matrix.shape[1]]
            groups = (
                None if groups[0] is None else groups[0][:, : matrix.shape[1]],
                None if groups[1] is None else groups[1][:, : matrix.shape[1]],
                None if groups[2] is None else groups[2][:, : matrix.shape[1]],
            )
        self.morphing_matrix = matrix
        self.basis = basis
        self.n_benchmarks = len(basis)
        self.gd, self.gp, self.gs = groups

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
        self,
        basis: ArrayLike | None = None,
        gp: ArrayLike | None = None,
        gd: ArrayLike | None = None,
        gs: ArrayLike | None = None,
        max_condition_number: float = MAX_CONDITION_NUMBER,
    ) -> np.ndarray:
        """The morphing matrix of a basis, shape ``(n_components, n_basis_benchmarks)``.

        Square bases give the inverse of the basis matrix; larger bases the pseudo-inverse
        (minimum-norm morphing weights).

        Parameters
        ----------
        basis : ndarray, optional
            Basis points ``(n_benchmarks, n_columns)``. Default: the basis of :meth:`set_basis`.
        gp, gd, gs : ndarray, optional
            Coupling path: coupling bases ``(n_couplings_in_group, n_benchmarks)``; groups not
            given are taken from :meth:`set_basis`.
        max_condition_number : float
            Refuse bases whose column-equilibrated basis matrix is worse conditioned.

        Raises
        ------
        MorphingError
            With the condition number, if the basis has fewer points than components or is
            singular or ill-conditioned.
        """
        components = self._require_components()
        basis = self._resolve_basis(basis, gp, gd, gs)
        if basis is None:
            raise InputError(
                "No basis defined: call set_basis() or optimize_basis(), or pass basis= (or gp=, gd=, gs=)"
            )
        if len(basis) < len(components):
            raise MorphingError(
                f"The morphing basis has {len(basis)} benchmarks but there are {len(components)} components: "
                f"at least {len(components)} basis points are needed"
            )
        matrix, conditions = _solve_basis(component_weights(basis, components), max_condition_number)
        condition = float(conditions)
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

    def _require_matrix(
        self,
        morphing_matrix: ArrayLike | None,
        basis: ArrayLike | None,
        gp: ArrayLike | None = None,
        gd: ArrayLike | None = None,
        gs: ArrayLike | None = None,
    ) -> np.ndarray:
        components = self._require_components()
        if morphing_matrix is not None:
            matrix = np.asarray(morphing_matrix, dtype=float)
            if matrix.ndim != 2 or matrix.shape[0] != len(components):
                raise InputError(
                    f"morphing_matrix must have shape ({len(components)}, n_basis_benchmarks), "
                    f"got {matrix.shape}"
                )
            return matrix
        if basis is not None or gp is not None or gd is not None or gs is not None:
            return self.calculate_morphing_matrix(basis, gp=gp, gd=gd, gs=gs)
        if self.morphing_matrix is None:
            raise InputError("No morphing basis defined: call set_basis() or optimize_basis() first")
        return self.morphing_matrix

    def _check_theta(self, theta: ArrayLike) -> np.ndarray:
        theta = np.asarray(theta, dtype=float)
        n_columns = self._n_columns()
        if theta.ndim == 0 or theta.shape[-1] != n_columns:
            if self._in_coupling_path():
                raise InputError(
                    f"theta must have one entry per coupling (columns gd_0.., gp_0.., gs_0..): shape "
                    f"({n_columns},) or (n_thetas, {n_columns}), got shape {theta.shape}"
                )
            raise InputError(
                f"theta must have shape (n_parameters,) or (n_thetas, n_parameters) with n_parameters = "
                f"{n_columns}, got shape {theta.shape}"
            )
        return theta

    def _group_sizes(
        self, gp: ArrayLike | None, gd: ArrayLike | None, gs: ArrayLike | None
    ) -> tuple[int, int, int] | None:
        """Numbers of (decay, production, shared) couplings in use, if known."""
        couplings = self._explicit_couplings(gp, gd, gs)
        if couplings is None and any(g is not None for g in (self.gd, self.gp, self.gs)):
            couplings = (self.gd, self.gp, self.gs)
        if couplings is not None:
            sizes = [0 if g is None else len(np.atleast_2d(np.asarray(g))) for g in couplings]
            return sizes[0], sizes[1], sizes[2]
        return self.coupling_structure

    def _assemble_theta(
        self,
        theta: ArrayLike | None,
        theta_d: ArrayLike | None,
        theta_p: ArrayLike | None,
        theta_s: ArrayLike | None,
        sizes: tuple[int, int, int] | None,
    ) -> np.ndarray:
        """One theta array ``(..., n_columns)`` from ``theta`` or from its coupling groups (order d, p, s)."""
        pieces = (theta_d, theta_p, theta_s)
        if all(piece is None for piece in pieces):
            if theta is None:
                raise InputError("No parameter point given: pass theta, or theta_d/theta_p/theta_s")
            return self._check_theta(theta)
        if theta is not None:
            raise InputError("Give theta or theta_d/theta_p/theta_s, not both")
        arrays = [None if piece is None else np.asarray(piece, dtype=float) for piece in pieces]
        if sizes is None:  # structure unknown: each group is as long as its piece
            group_sizes = [0 if a is None or a.ndim == 0 else a.shape[-1] for a in arrays]
        else:
            group_sizes = list(sizes)
        given = []
        for name, label, array, size in zip(
            ("theta_d", "theta_p", "theta_s"), _GROUP_LABELS, arrays, group_sizes, strict=True
        ):
            if array is None:
                if size:
                    raise InputError(f"{name} is missing: the coupling basis has {size} {label} couplings")
                continue
            if array.ndim == 0 or array.shape[-1] != size:
                raise InputError(
                    f"{name} must have shape ({size},) or (n_thetas, {size}) for the {size} {label} "
                    f"couplings, got shape {array.shape}"
                )
            given.append(array)
        try:
            leading = np.broadcast_shapes(*(a.shape[:-1] for a in given))
        except ValueError:
            shapes = ", ".join(str(a.shape) for a in given)
            raise InputError(
                f"theta_d/theta_p/theta_s have incompatible numbers of points: {shapes}"
            ) from None
        theta = np.concatenate([np.broadcast_to(a, (*leading, a.shape[-1])) for a in given], axis=-1)
        return self._check_theta(theta)

    # ------------------------------------------------------------------ weights

    def calculate_morphing_weights(
        self,
        theta: ArrayLike | None = None,
        basis: ArrayLike | None = None,
        morphing_matrix: ArrayLike | None = None,
        gp: ArrayLike | None = None,
        gd: ArrayLike | None = None,
        gs: ArrayLike | None = None,
        theta_p: ArrayLike | None = None,
        theta_d: ArrayLike | None = None,
        theta_s: ArrayLike | None = None,
    ) -> np.ndarray:
        r"""Morphing weights :math:`w_b(\theta)`, with :math:`d\sigma(\theta) = \sum_b w_b d\sigma(\theta_b)`.

        Parameters
        ----------
        theta : ndarray, optional
            Shape ``(n_columns,)`` or ``(n_thetas, n_columns)``: one entry per parameter, or in
            the coupling path per coupling (``gd_0.., gp_0.., gs_0..``).
        basis, morphing_matrix : ndarray, optional
            Override the stored basis or morphing matrix (the matrix wins).
        gp, gd, gs : ndarray, optional
            Coupling path: override coupling bases ``(n_couplings_in_group, n_benchmarks)``;
            groups not given are taken from :meth:`set_basis`.
        theta_p, theta_d, theta_s : ndarray, optional
            Coupling path, instead of ``theta``: the production, decay and shared couplings,
            each of shape ``(n,)`` or ``(n_thetas, n)`` (one-point groups broadcast); joined in
            the column order d, p, s. Every group with couplings must be given.

        Returns
        -------
        ndarray
            Shape ``(n_basis_benchmarks,)`` or ``(n_thetas, n_basis_benchmarks)``.
        """
        matrix = self._require_matrix(morphing_matrix, basis, gp, gd, gs)
        theta = self._assemble_theta(theta, theta_d, theta_p, theta_s, self._group_sizes(gp, gd, gs))
        return component_weights(theta, self._require_components()) @ matrix

    def calculate_morphing_weight_gradient(
        self,
        theta: ArrayLike,
        basis: ArrayLike | None = None,
        morphing_matrix: ArrayLike | None = None,
        gp: ArrayLike | None = None,
        gd: ArrayLike | None = None,
        gs: ArrayLike | None = None,
    ) -> np.ndarray:
        r"""Gradients :math:`\partial w_b / \partial \theta_i`.

        Arguments as for :meth:`calculate_morphing_weights`; in the coupling path the gradient
        is with respect to every coupling column ``gd_0.., gp_0.., gs_0..``.

        Returns
        -------
        ndarray
            Shape ``(n_columns, n_basis_benchmarks)`` for one theta, or
            ``(n_thetas, n_columns, n_basis_benchmarks)``.
        """
        matrix = self._require_matrix(morphing_matrix, basis, gp, gd, gs)
        theta = self._check_theta(theta)
        return component_weight_gradients(theta, self._require_components()) @ matrix

    # ------------------------------------------------------------------ basis optimisation

    def draw_random_thetas(self, n_thetas: int, random_state: RandomState = None) -> np.ndarray:
        """Parameter points drawn uniformly in the parameter ranges, shape ``(n_thetas, n_parameters)``."""
        return _draw_uniform(self.parameter_range, n_thetas, random_state)

    def _test_theta_ranges(self, basis: np.ndarray | None) -> np.ndarray:
        """Ranges of the test points: parameter_range, or in a coupling path whose number of
        couplings differs from it, the span of each coupling over the basis."""
        n_columns = self._n_columns()
        if len(self.parameter_range) == n_columns:
            return self.parameter_range
        if basis is None:
            raise InputError(
                f"parameter_range has {len(self.parameter_range)} ranges for {n_columns} couplings and no "
                "basis is known to take the coupling ranges from: pass test_thetas"
            )
        logger.debug(
            "parameter_range has %d ranges for %d couplings: drawing test points in the ranges of the basis",
            len(self.parameter_range),
            n_columns,
        )
        return np.stack([basis.min(axis=0), basis.max(axis=0)], axis=1)

    def _second_moments(self, test_thetas: np.ndarray) -> np.ndarray:
        """Mean of :math:`c(\\theta) c(\\theta)^T` over test points, shape ``(C, C)``."""
        c = component_weights(test_thetas, self._require_components())
        return c.T @ c / len(c)

    def evaluate_morphing(
        self,
        basis: ArrayLike | None = None,
        morphing_matrix: ArrayLike | None = None,
        n_test_thetas: int = 100,
        return_weights_and_thetas: bool = False,
        gp: ArrayLike | None = None,
        gd: ArrayLike | None = None,
        gs: ArrayLike | None = None,
        test_thetas: ArrayLike | None = None,
        random_state: RandomState = None,
    ) -> float | tuple[np.ndarray, np.ndarray]:
        r"""Minus the expected sum of squared morphing weights, :math:`-E_\theta[\sum_b w_b(\theta)^2]`.

        The sign follows MadMiner: larger is better. The expectation is over ``test_thetas``
        or, if None, over ``n_test_thetas`` points drawn uniformly in the parameter ranges. In
        the coupling path they are drawn per coupling column: in ``parameter_range`` when it
        has one range per coupling, otherwise in the range each coupling spans over the basis
        (MadMiner draws ``n_parameters`` values whatever the number of couplings).

        Parameters
        ----------
        basis, morphing_matrix, gp, gd, gs : ndarray, optional
            As for :meth:`calculate_morphing_weights`.
        n_test_thetas : int
            Number of random test points (when ``test_thetas`` is None).
        return_weights_and_thetas : bool
            Return the test points and the sum of squared weights at each, as MadMiner does.
        test_thetas : ndarray, optional
            Test points ``(n_test_thetas, n_columns)``.
        random_state : int or numpy Generator, optional
            Seed for the test points.

        Returns
        -------
        float, or (ndarray, ndarray)
            The score; with ``return_weights_and_thetas`` instead ``(thetas_test,
            squared_weights)`` of shapes ``(n_test_thetas, n_columns)`` and ``(n_test_thetas,)``,
            ``squared_weights`` being :math:`\sum_b w_b(\theta)^2` at each test point.
        """
        matrix = self._require_matrix(morphing_matrix, basis, gp, gd, gs)
        if test_thetas is None:
            if int(n_test_thetas) != n_test_thetas or n_test_thetas < 1:
                raise InputError(f"n_test_thetas must be a positive integer, got {n_test_thetas!r}")
            ranges = self._test_theta_ranges(self._resolve_basis(basis, gp, gd, gs))
            test_thetas = _draw_uniform(ranges, int(n_test_thetas), random_state)
        else:
            test_thetas = self._check_theta(test_thetas).reshape(-1, self._n_columns())
        weights = component_weights(test_thetas, self._require_components()) @ matrix
        squared_weights = np.sum(weights**2, axis=-1)
        if return_weights_and_thetas:
            return test_thetas, squared_weights
        return -float(np.mean(squared_weights))

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
        if self._n_columns() != self.n_parameters:
            raise InputError(
                f"optimize_basis draws points of the {self.n_parameters} parameters, but the components have "
                f"{self._n_columns()} columns (a coupling structure): set a coupling basis with "
                "set_basis(basis_d=..., basis_p=..., basis_s=...)"
            )
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


#: MadMiner's nuisance convention: coefficients that are not finite are 0, the others are clipped to this.
_NUISANCE_COEFFICIENT_LIMIT = 10.0


def nuisance_exponent(nu: np.ndarray, a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    r"""The exponent :math:`\sum_k a_k\nu_k + b_k\nu_k^2` of the nuisance factor, summed over ``axis``
    (the nuisance-parameter axis of the broadcast arrays).

    >>> float(nuisance_exponent(np.array([2.0]), np.array([0.5]), np.array([0.25])))
    2.0
    """
    return np.sum(a * nu + b * nu**2, axis=axis)


def nuisance_log_gradient(nu: np.ndarray | float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    r""":math:`\partial_{\nu_k}` of the exponent, :math:`a_k + 2 b_k \nu_k` (broadcast)."""
    return a + 2.0 * b * nu


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
        limit = _NUISANCE_COEFFICIENT_LIMIT
        return (
            sanitize_array(a, min_value=-limit, max_value=limit),
            sanitize_array(b, min_value=-limit, max_value=limit),
        )

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
        return nuisance_exponent(nu, a, b, axis=-2), nuisance_log_gradient(nu, a, b)

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
