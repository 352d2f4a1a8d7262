"""The columnar event model: detector smearing, physics objects and observables on whole arrays.

The LHE reader hands this module the particles of a *chunk* of events as flat NumPy arrays
(:class:`ParticleArrays`); :class:`DetectorModel` applies MadMiner's smearing functions and MET
noise and builds the physics objects of the chunk (:class:`EventObjects`). The Delphes reader
builds them from reconstructed collections (:meth:`EventObjects.from_collections`).
Observables, cuts and efficiencies are expressions such as ``"(l[0] + l[1]).m"`` or
``"abs(j[0].phi() - j[1].phi())"``, compiled once with :func:`compile_definition` (the safe
:class:`~motherlode.expressions.Expression` engine, never ``eval``) and evaluated for all events
of a chunk at once with :func:`evaluate`.

The objects an expression can use (:data:`OBJECT_NAMES`):

* ``p``: the detector-level (smeared) particles in LHE file order;
* ``p_truth``: all final-state particles, unsmeared, in LHE file order;
* ``e``, ``mu``, ``tau``, ``a`` (photons), ``j`` (jets: \\|pdgid\\| 1-6, 9 and 21), ``l`` (electrons
  and muons) and ``v`` (neutrinos): smeared, each sorted by descending pT;
* ``met``: the missing transverse momentum; ``visible``: the sum of the visible particles'
  four-momenta; ``all``: ``visible + met``;
* per-event global data supplied by the reader (``n_particles``, ``scale``, ``alpha_qed``,
  ``alpha_qcd`` ...) and, for cuts, the values of the observables by name.

``j[0]`` is the leading jet of every event at once (a :class:`ParticleColumn`); its attributes
(:data:`OBJECT_ATTRIBUTES`: the names of scikit-hep ``vector`` such as ``pt``, ``eta``, ``phi``,
``m``, ``rapidity``, ``mt``, plus ``charge`` and ``pdg_id``) are masked arrays, masked in events
without a second jet. Attributes may also be called, as with MadMiner's old LorentzVector
(``j[0].phi()`` is ``j[0].phi``). The casts ``float``, ``int`` and ``bool`` of MadMiner's tutorials
work elementwise (``float(j[0].eta > j[1].eta)``, ``int(len(j) > 2)``: 1.0 or 0.0; see
:mod:`motherlode.expressions`). An observable is *not parsed* in an event where it uses a missing
object or where its value is not finite (``1/0``, ``sqrt(-1)``, the eta of a particle with zero
pT); :func:`evaluate` returns the values (NaN where not parsed) and the ``parsed`` flags.

Examples
--------
>>> import numpy as np
>>> from motherlode.events import DetectorModel, ParticleArrays, compile_definition, evaluate
>>> truth = ParticleArrays(  # two events: Z -> e+ e- and a single jet
...     counts=np.array([2, 1]),
...     pdgid=np.array([11, -11, 21]),
...     px=np.array([30.0, -30.0, 50.0]),
...     py=np.array([40.0, -40.0, 0.0]),
...     pz=np.array([0.0, 0.0, 0.0]),
...     energy=np.array([50.0, 50.0, 50.0]),
... )
>>> objects = DetectorModel().reconstruct(truth, np.random.default_rng(1))
>>> values, parsed = evaluate(compile_definition("(l[0] + l[1]).m"), objects)
>>> values, parsed
(array([100.,  nan]), array([ True, False]))
>>> evaluate(compile_definition("len(j) + e[0].charge"), objects)[0]
array([-1., nan])

Notes
-----
Everything is vectorised over the events of a chunk; only the legacy per-event callables of
:func:`evaluate_function` loop in Python. Building objects is separate from smearing:
:meth:`EventObjects.from_particles` classifies particles by PDG id (LHE),
:meth:`EventObjects.from_collections` takes reconstructed electrons, muons, photons, jets and MET
directly (Delphes).
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast, overload

import awkward as ak
import numpy as np
import numpy.typing as npt
import vector

from motherlode.errors import ExpressionError, InputError
from motherlode.expressions import MATH_FUNCTIONS, Expression

__all__ = [
    "ELEMENTARY_PDG_IDS",
    "FUNCTION_ARGUMENTS",
    "NEUTRINO_PDG_IDS",
    "OBJECT_ATTRIBUTES",
    "OBJECT_NAMES",
    "CallableMaskedArray",
    "DetectorModel",
    "EventObjects",
    "EventParticle",
    "ParticleArrays",
    "ParticleCollection",
    "ParticleColumn",
    "Resolution",
    "charge_of",
    "compile_definition",
    "evaluate",
    "evaluate_function",
]

logger = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------------------
# PDG ids, charges and vocabulary
# ----------------------------------------------------------------------------------------------

ELEMENTARY_PDG_IDS: frozenset[int] = frozenset(
    {sign * pdgid for pdgid in (1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16, 24) for sign in (1, -1)}
    | {21, 22, 23, 25}
)
"""Signed PDG ids of the Standard Model's elementary particles: quarks, leptons, gauge bosons and
the Higgs (the 30 ids MadMiner took from the ``particle`` package). Only these are kept for the
detector-level objects by default."""

NEUTRINO_PDG_IDS: frozenset[int] = frozenset({12, -12, 14, -14, 16, -16})
"""Signed PDG ids of the neutrinos, which are invisible (they enter ``v`` but not MET)."""

_VISIBLE_PDG_IDS = np.array(sorted(ELEMENTARY_PDG_IDS - NEUTRINO_PDG_IDS), dtype=np.int64)

# |pdgid| of each named collection built from a list of particles (as in MadMiner's LHE reader)
_COLLECTION_IDS: dict[str, tuple[int, ...]] = {
    "e": (11,),
    "mu": (13,),
    "tau": (15,),
    "a": (22,),
    "j": (1, 2, 3, 4, 5, 6, 9, 21),
    "l": (11, 13),
    "v": (12, 14, 16),
}

_COLLECTION_NAMES = ("p", "p_truth", "e", "mu", "tau", "a", "j", "l", "v")

OBJECT_NAMES: frozenset[str] = frozenset((*_COLLECTION_NAMES, "met", "visible", "all"))
"""The names of the physics objects in an expression's namespace."""

FUNCTION_ARGUMENTS: tuple[str, ...] = ("p_truth", "l", "a", "j", "met")
"""The objects passed to an observable function, in order: MadMiner's LHE signature
``fn(particles, leptons, photons, jets, met)``."""

# charge of the particle with PDG id +|pdgid|, in units of e (the antiparticle has the opposite sign)
_CHARGE_TABLE = np.zeros(26)
_CHARGE_TABLE[[1, 3, 5]] = -1.0 / 3.0
_CHARGE_TABLE[[2, 4, 6]] = 2.0 / 3.0
_CHARGE_TABLE[[11, 13, 15]] = -1.0
_CHARGE_TABLE[24] = 1.0

# scalar (per-particle float) attributes of scikit-hep vector's momentum four-vectors
_VECTOR_ATTRIBUTES = (
    "px", "py", "pz", "x", "y", "z", "t", "e", "E", "energy", "e2", "E2", "energy2", "t2",
    "pt", "rho", "pt2", "rho2", "eta", "pseudorapidity", "phi", "theta", "costheta", "cottheta",
    "p", "mag", "p2", "mag2", "m", "mass", "M", "m2", "mass2", "M2", "tau", "tau2", "rapidity",
    "mt", "Mt", "mT", "mt2", "Mt2", "transverse_mass", "transverse_mass2", "et", "Et", "et2",
    "Et2", "transverse_energy", "transverse_energy2", "beta", "gamma",
)  # fmt: skip
# methods taking another particle and returning one number per event
_VECTOR_SCALAR_METHODS = (
    "deltaR", "deltaR2", "deltaphi", "deltaeta", "deltaRapidityPhi", "deltaRapidityPhi2",
    "deltaangle", "dot",
)  # fmt: skip
# methods taking another particle and returning a four-vector
_VECTOR_VECTOR_METHODS = ("boost_p4", "boostCM_of_p4", "add", "subtract")
_TAG_IDS = {"b_tag": 5, "t_tag": 6, "tau_tag": 15}
_PARTICLE_ATTRIBUTES = ("charge", "pdg_id", "pdgid", *_TAG_IDS)

OBJECT_ATTRIBUTES: frozenset[str] = frozenset(
    (*_VECTOR_ATTRIBUTES, *_VECTOR_SCALAR_METHODS, *_VECTOR_VECTOR_METHODS, *_PARTICLE_ATTRIBUTES)
)
"""The attribute and method names allowed in expressions: scikit-hep ``vector``'s momentum
quantities (``pt``, ``eta``, ``phi``, ``m``, ``mass``, ``e``, ``rapidity``, ``mt`` ...), the
methods ``deltaR``, ``deltaR2``, ``deltaphi``, ``deltaeta``, ``deltaRapidityPhi(2)``,
``deltaangle``, ``dot`` (one number per event) and ``boost_p4``, ``boostCM_of_p4``, ``add``,
``subtract`` (a four-vector), plus ``charge``, ``pdg_id``/``pdgid`` and ``b_tag``, ``t_tag``,
``tau_tag`` (from the PDG id, as in MadMiner)."""

_MAX_REDRAWS = 100


def charge_of(pdgid: npt.ArrayLike) -> np.ndarray:
    """Electric charges, in units of e, of particles given by their PDG ids.

    Parameters
    ----------
    pdgid
        Signed PDG ids (any integer array or scalar).

    Returns
    -------
    numpy.ndarray
        float64 charges of the same shape: quarks +2/3 (u, c, t) or -1/3 (d, s, b), charged
        leptons -1, W+ (24) +1, the antiparticles (negative ids) the opposite; neutral particles
        and ids that are not Standard Model elementary particles 0 (MadMiner's fallback).

    Examples
    --------
    >>> charge_of(np.array([11, -11, 2, -1, 24, 22, 9000005]))
    array([-1.        ,  1.        ,  0.66666667,  0.33333333,  1.        ,  0.        ,  0.        ])
    """
    ids = np.asarray(pdgid).astype(np.int64)
    magnitude = np.abs(ids)
    charge = np.where(magnitude < len(_CHARGE_TABLE), _CHARGE_TABLE[np.minimum(magnitude, 25)], 0.0)
    return charge * np.sign(ids)


# ----------------------------------------------------------------------------------------------
# Flat particle arrays
# ----------------------------------------------------------------------------------------------


def _momentum_array(components: Mapping[str, Any]) -> vector.MomentumNumpy4D:
    """``vector.array(components)`` for momentum coordinates (``px``, ``pt``, ``E``, ``mass`` ...):
    a ``MomentumNumpy4D``, which ``vector``'s annotations widen to ``VectorNumpy``."""
    return cast(vector.MomentumNumpy4D, vector.array(components))


def _float_array(value: Any, name: str) -> np.ndarray:
    """``value`` as a finite 1-d float64 array, or :class:`InputError`."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(f"ParticleArrays.{name} must be a numeric array ({error})") from None
    if array.ndim != 1:
        raise InputError(f"ParticleArrays.{name} must be one-dimensional, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise InputError(f"ParticleArrays.{name} contains non-finite values")
    return array


def _integer_array(value: Any, name: str) -> np.ndarray:
    """``value`` as a 1-d int64 array (integral values only), or :class:`InputError`."""
    array = np.asarray(value)
    if array.ndim != 1:
        raise InputError(f"ParticleArrays.{name} must be one-dimensional, got shape {array.shape}")
    if array.dtype.kind not in "iu":
        if array.size == 0:
            return np.zeros(0, dtype=np.int64)
        if array.dtype.kind != "f" or not np.array_equal(array, np.round(array)):
            raise InputError(f"ParticleArrays.{name} must contain integers, got dtype {array.dtype}")
    return array.astype(np.int64)


_PARTICLE_FIELDS = ("counts", "pdgid", "px", "py", "pz", "energy", "charge")


@dataclass(frozen=True, eq=False)
class ParticleArrays:
    """Particles of a chunk of ``n`` events, flattened: event 0's particles, then event 1's ...

    Parameters
    ----------
    counts
        Number of particles in each event, shape ``(n,)``.
    pdgid
        Signed PDG ids, shape ``(m,)`` with ``m = counts.sum()``.
    px, py, pz, energy
        Four-momentum components in GeV, shape ``(m,)``.
    charge
        Charges in units of e, shape ``(m,)``; None (default) derives them from ``pdgid`` with
        :func:`charge_of` (for reconstructed objects, e.g. Delphes electrons, pass them).

    Raises
    ------
    InputError
        If the shapes do not match, counts are negative or values are not finite.

    Examples
    --------
    >>> momentum = [1.0, 2.0, 3.0]
    >>> arrays = ParticleArrays([1, 0, 2], [11, 21, -2], momentum, [0.0] * 3, [0.0] * 3, momentum)
    >>> arrays.n_events, arrays.n_particles, arrays.charge.tolist()
    (3, 3, [-1.0, 0.0, -0.6666666666666666])
    """

    counts: np.ndarray
    pdgid: np.ndarray
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    energy: np.ndarray
    charge: np.ndarray | None = None

    def __post_init__(self) -> None:
        counts = _integer_array(self.counts, "counts")
        if (counts < 0).any():
            raise InputError("ParticleArrays.counts must not be negative")
        pdgid = _integer_array(self.pdgid, "pdgid")
        n_particles = int(counts.sum())
        values = {"counts": counts, "pdgid": pdgid}
        for name in ("px", "py", "pz", "energy"):
            values[name] = _float_array(getattr(self, name), name)
        values["charge"] = charge_of(pdgid) if self.charge is None else _float_array(self.charge, "charge")
        for name, array in values.items():
            if name != "counts" and len(array) != n_particles:
                raise InputError(
                    f"ParticleArrays.{name} has {len(array)} entries, but counts sum to {n_particles}"
                )
            object.__setattr__(self, name, array)

    @classmethod
    def from_ptetaphim(
        cls,
        counts: np.ndarray,
        pdgid: np.ndarray,
        pt: np.ndarray,
        eta: np.ndarray,
        phi: np.ndarray,
        mass: np.ndarray,
        charge: np.ndarray | None = None,
    ) -> ParticleArrays:
        """Particles from transverse momentum, pseudorapidity, azimuth and mass (e.g. Delphes).

        Examples
        --------
        >>> arrays = ParticleArrays.from_ptetaphim([1], [13], [10.0], [0.0], [np.pi / 2], [0.0])
        >>> print(round(float(arrays.py[0]), 12), round(float(arrays.energy[0]), 12))
        10.0 10.0
        """
        momenta = _momentum_array({"pt": pt, "eta": eta, "phi": phi, "mass": mass})
        return cls(counts, pdgid, momenta.px, momenta.py, momenta.pz, momenta.E, charge)

    @property
    def n_events(self) -> int:
        """The number of events."""
        return len(self.counts)

    @property
    def n_particles(self) -> int:
        """The total number of particles."""
        return len(self.pdgid)

    @functools.cached_property
    def offsets(self) -> np.ndarray:
        """Start of each event's particles in the flat arrays, then the end: shape ``(n+1,)``."""
        offsets = np.zeros(self.n_events + 1, dtype=np.int64)
        np.cumsum(self.counts, out=offsets[1:])
        return offsets

    @functools.cached_property
    def event_index(self) -> np.ndarray:
        """The event each particle belongs to, shape ``(m,)``."""
        return np.repeat(np.arange(self.n_events), self.counts)

    @functools.cached_property
    def pt(self) -> np.ndarray:
        """Transverse momenta, shape ``(m,)``."""
        return np.hypot(self.px, self.py)

    @classmethod
    def _trusted(cls, *values: np.ndarray) -> ParticleArrays:
        """Arrays from already validated, correctly typed columns (no checks, no copies)."""
        arrays = object.__new__(cls)
        for name, value in zip(_PARTICLE_FIELDS, values, strict=True):
            object.__setattr__(arrays, name, value)
        return arrays

    def take(self, index: np.ndarray) -> ParticleArrays:
        """The particles at the flat positions ``index``, which must be grouped by event in
        increasing event order (e.g. a sorted or boolean selection); counts are recomputed."""
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        counts = np.bincount(self.event_index[index], minlength=self.n_events)
        assert self.charge is not None  # always an array after __post_init__ (or _trusted)
        return ParticleArrays._trusted(
            counts,
            self.pdgid[index],
            self.px[index],
            self.py[index],
            self.pz[index],
            self.energy[index],
            self.charge[index],
        )

    def __repr__(self) -> str:
        return f"ParticleArrays(n_events={self.n_events}, n_particles={self.n_particles})"


def _concatenate(parts: Sequence[ParticleArrays]) -> ParticleArrays:
    """The particles of several arrays of the same events, event by event (within an event in
    the order of ``parts``)."""
    event = np.concatenate([part.event_index for part in parts])
    order = np.argsort(event, kind="stable")
    counts = cast(np.ndarray, sum(part.counts for part in parts))  # parts is never empty

    def join(name: str) -> np.ndarray:
        return np.concatenate([getattr(part, name) for part in parts])[order]

    return ParticleArrays._trusted(
        counts, join("pdgid"), join("px"), join("py"), join("pz"), join("energy"), join("charge")
    )


def _sorted_by_pt(arrays: ParticleArrays) -> ParticleArrays:
    """The particles of each event sorted by descending pT (stable: ties keep their order)."""
    if arrays.n_particles == 0:
        return arrays
    local = ak.argsort(ak.unflatten(arrays.pt, arrays.counts), axis=1, ascending=False, stable=True)
    order = np.asarray(ak.flatten(local), dtype=np.int64) + arrays.offsets[arrays.event_index]
    return arrays.take(order)


# ----------------------------------------------------------------------------------------------
# Masked per-event values
# ----------------------------------------------------------------------------------------------


class CallableMaskedArray(np.ma.MaskedArray):
    """A :class:`numpy.ma.MaskedArray` that returns itself when called.

    The attributes of a :class:`ParticleColumn` are of this type, so that both the ``vector``
    spelling ``j[0].phi`` and MadMiner's older LorentzVector spelling ``j[0].phi()`` work.

    Examples
    --------
    >>> values = CallableMaskedArray([1.0, 2.0], mask=[False, True])
    >>> values() is values
    True
    """

    def __call__(self) -> CallableMaskedArray:
        return self


def _masked(values: Any, missing: np.ndarray) -> CallableMaskedArray:
    """``values`` masked where ``missing`` or (for floats) not finite."""
    values = np.asarray(values)
    mask = missing | ~np.isfinite(values) if values.dtype.kind in "fc" else missing.copy()
    return CallableMaskedArray(values, mask=mask)


def _mask_invalid(result: Any) -> Any:
    """``result`` with its non-finite floating-point entries masked (other values unchanged)."""
    if isinstance(result, np.ndarray) and result.ndim > 0:
        data = np.ma.getdata(result)
        if data.dtype.kind == "f":
            bad = ~np.isfinite(data)
            if bad.any():
                return np.ma.MaskedArray(data, mask=np.ma.getmaskarray(result) | bad)
    return result


# ----------------------------------------------------------------------------------------------
# Per-event particle objects (legacy callables)
# ----------------------------------------------------------------------------------------------


class EventParticle(vector.MomentumObject4D):
    """One particle of one event: a scikit-hep ``vector`` four-momentum with charge, PDG id, spin and tags.

    This one class is also MadMiner's ``MadMinerParticle`` (:mod:`motherlode.utils.particle`
    exports it under that name). It is what the per-event observable functions of
    :func:`evaluate_function` (``vectorized=False``) receive, and scripts may build their own:
    like any ``vector`` momentum (``EventParticle(px=..., py=..., pz=..., E=...)``,
    ``EventParticle.from_xyzt(...)``, ``from_rhophietatau(...)`` ...) or with
    :meth:`from_components`, then :meth:`set_pdgid`, :meth:`set_spin` and :meth:`set_tags`.

    Attributes
    ----------
    charge : float or None
        Electric charge in units of e; None if unknown. :meth:`set_pdgid` sets it from the PDG
        id (:func:`charge_of`).
    pdgid : int or None
        Signed PDG id (also ``pdg_id``); None for sums of particles and for MET.
    spin : float or None
        The spin (helicity) column of the LHE file, if known.
    b_tag, t_tag, tau_tag : bool
        Whether the particle is tagged as a b quark (jet), top quark or tau. By default what the
        PDG id says (\\|pdgid\\| 5, 6, 15). They can be set (``jet.b_tag = True``,
        :meth:`set_tags`), e.g. from a detector's b tagging, which then takes precedence;
        setting one to None returns it to the PDG id's default.

    Notes
    -----
    ``a + b`` and ``a - b`` give a new particle with the four-momenta added (subtracted), the
    charges added (subtracted; None if either is unknown), no PDG id or spin, and each tag the
    "or" of the two tags, as in MadMiner; ``a += b`` and ``a -= b`` do the same in place, and
    ``sum(leptons)`` works. The boosts (``boost``, ``boost_p4``, ``boost_beta3``,
    ``boostCM_of``, ``boostCM_of_p4``, ``boostCM_of_beta3``, ``boostX``, ``boostY``,
    ``boostZ``) return a particle with the same charge, PDG id, spin and tags. Charges are
    floats (MadMiner's came from the ``particle`` package as fractions).

    Examples
    --------
    >>> a = EventParticle.from_components(30.0, 40.0, 0.0, 50.0, charge=-1.0, pdgid=11)
    >>> b = EventParticle.from_components(-30.0, -40.0, 0.0, 50.0, charge=1.0, pdgid=-11)
    >>> z = a + b
    >>> float(z.m), z.charge, z.pdg_id, a.pdg_id, float(a.pt)
    (100.0, 0.0, None, 11, 50.0)
    >>> jet = EventParticle(px=10.0, py=0.0, pz=5.0, E=12.0)
    >>> jet.set_pdgid(-5)
    >>> jet.charge, jet.b_tag, jet.tau_tag
    (0.3333333333333333, True, False)
    >>> (jet + a).b_tag, (jet + a).charge
    (True, -0.6666666666666667)
    """

    charge: float | None = None
    pdgid: int | None = None
    spin: float | None = None
    # explicitly set tags (None: follow the PDG id)
    _tau_tag: bool | None = None
    _b_tag: bool | None = None
    _t_tag: bool | None = None

    @classmethod
    def from_components(
        cls,
        px: float,
        py: float,
        pz: float,
        energy: float,
        charge: float | None = None,
        pdgid: int | None = None,
        *,
        spin: float | None = None,
    ) -> EventParticle:
        """A particle from its momentum components, charge, PDG id and spin (the tags follow the
        PDG id; the charge is taken as given, not derived from the PDG id)."""
        # vector annotates from_xyzt as returning VectorObject4D, but it returns cls(...)
        particle = cast(EventParticle, cls.from_xyzt(px, py, pz, energy))
        particle.charge = charge
        particle.pdgid = pdgid
        if spin is not None:
            particle.spin = spin
        return particle

    @property
    def pdg_id(self) -> int | None:
        """The PDG id (alias of ``pdgid``); None for sums of particles."""
        return self.pdgid

    def _default_tag(self, name: str) -> bool:
        return self.pdgid is not None and abs(self.pdgid) == _TAG_IDS[name]

    @property
    def b_tag(self) -> bool:
        """Whether this is tagged as a b: as set, else whether it is a b quark (\\|pdgid\\| = 5)."""
        return self._default_tag("b_tag") if self._b_tag is None else self._b_tag

    @b_tag.setter
    def b_tag(self, value: bool | None) -> None:
        self._b_tag = None if value is None else bool(value)

    @property
    def t_tag(self) -> bool:
        """Whether this is tagged as a top: as set, else whether it is a top quark (\\|pdgid\\| = 6)."""
        return self._default_tag("t_tag") if self._t_tag is None else self._t_tag

    @t_tag.setter
    def t_tag(self, value: bool | None) -> None:
        self._t_tag = None if value is None else bool(value)

    @property
    def tau_tag(self) -> bool:
        """Whether this is tagged as a tau: as set, else whether it is a tau lepton (\\|pdgid\\| = 15)."""
        return self._default_tag("tau_tag") if self._tau_tag is None else self._tau_tag

    @tau_tag.setter
    def tau_tag(self, value: bool | None) -> None:
        self._tau_tag = None if value is None else bool(value)

    def set_tags(self, tau_tag: bool = False, b_tag: bool = False, t_tag: bool = False) -> None:
        """Set the three tags (MadMiner's method; all three are set, the defaults are False)."""
        self.tau_tag, self.b_tag, self.t_tag = bool(tau_tag), bool(b_tag), bool(t_tag)

    def set_pdgid(self, pdgid: int) -> None:
        """Set the PDG id, the charge it implies (:func:`charge_of`: 0 for ids that are not Standard
        Model elementary particles) and, for a b, top or tau, its tag (as MadMiner: a tag is set,
        never cleared).

        Raises
        ------
        InputError
            If ``pdgid`` is not an integer (``11``, ``np.int64(11)``, ``11.0`` or ``"11"``).
        """
        try:
            value = int(pdgid)
        except (TypeError, ValueError, OverflowError):
            value = None
        integral = not isinstance(pdgid, (float, np.floating)) or value == pdgid
        if value is None or isinstance(pdgid, (bool, np.bool_)) or not integral:
            raise InputError(f"set_pdgid: pdgid must be an integer PDG id, got {pdgid!r}")
        self.pdgid = value
        self.charge = float(charge_of(value)) + 0.0  # + 0.0: no negative zero for neutral antiparticles
        for name, magnitude in _TAG_IDS.items():
            if abs(value) == magnitude:
                setattr(self, name, True)

    def set_spin(self, spin: float | None) -> None:
        """Set the spin (the LHE file's spin/helicity column)."""
        self.spin = spin

    def _tags_combined_with(self, other: Any) -> tuple[bool, bool, bool]:
        return (
            bool(self.tau_tag or getattr(other, "tau_tag", False)),
            bool(self.b_tag or getattr(other, "b_tag", False)),
            bool(self.t_tag or getattr(other, "t_tag", False)),
        )

    def _charge_combined_with(self, other: Any, sign: float) -> float | None:
        other_charge = getattr(other, "charge", None)
        return None if self.charge is None or other_charge is None else self.charge + sign * other_charge

    def _combine(self, other: Any, sign: float) -> Any:
        result: Any = super().__add__(other) if sign > 0 else super().__sub__(other)
        if result is NotImplemented:
            return result
        charge = self._charge_combined_with(other, sign)
        particle = type(self).from_components(result.px, result.py, result.pz, result.E, charge, None)
        particle._tau_tag, particle._b_tag, particle._t_tag = self._tags_combined_with(other)
        return particle

    def _combine_in_place(self, other: Any, sign: float) -> Any:
        charge = self._charge_combined_with(other, sign)
        tags = self._tags_combined_with(other)
        result = super().__iadd__(other) if sign > 0 else super().__isub__(other)
        if result is NotImplemented:
            return result
        self.charge, self.pdgid, self.spin = charge, None, None
        self._tau_tag, self._b_tag, self._t_tag = tags
        return self

    def __add__(self, other: Any) -> Any:
        return self._combine(other, 1.0)

    def __radd__(self, other: Any) -> Any:
        if isinstance(other, int) and other == 0:  # the start value of sum()
            return self
        return NotImplemented

    def __sub__(self, other: Any) -> Any:
        return self._combine(other, -1.0)

    def __iadd__(self, other: Any) -> Any:
        return self._combine_in_place(other, 1.0)

    def __isub__(self, other: Any) -> Any:
        return self._combine_in_place(other, -1.0)

    def _with_identity(self, momentum: Any) -> EventParticle:
        """``momentum`` (a transformed copy of this particle) with this particle's charge, PDG id,
        spin and tags."""
        particle = type(self).from_components(
            momentum.px, momentum.py, momentum.pz, momentum.E, self.charge, self.pdgid, spin=self.spin
        )
        particle._tau_tag, particle._b_tag, particle._t_tag = self._tau_tag, self._b_tag, self._t_tag
        return particle

    def boost(self, *args: Any) -> EventParticle:
        """Boost by a velocity (3D vector) or into the frame of a four-momentum; keeps charge, PDG
        id, spin and tags."""
        return self._with_identity(super().boost(*args))

    def boost_p4(self, p4: Any) -> EventParticle:
        """``vector``'s ``boost_p4``, keeping charge, PDG id, spin and tags."""
        return self._with_identity(super().boost_p4(p4))

    def boost_beta3(self, beta3: Any) -> EventParticle:
        """``vector``'s ``boost_beta3``, keeping charge, PDG id, spin and tags."""
        return self._with_identity(super().boost_beta3(beta3))

    def boostCM_of(self, booster: Any) -> EventParticle:
        """``vector``'s ``boostCM_of``, keeping charge, PDG id, spin and tags."""
        return self._with_identity(super().boostCM_of(booster))

    def boostCM_of_p4(self, p4: Any) -> EventParticle:
        """``vector``'s ``boostCM_of_p4``, keeping charge, PDG id, spin and tags."""
        return self._with_identity(super().boostCM_of_p4(p4))

    def boostCM_of_beta3(self, beta3: Any) -> EventParticle:
        """``vector``'s ``boostCM_of_beta3``, keeping charge, PDG id, spin and tags."""
        return self._with_identity(super().boostCM_of_beta3(beta3))

    def boostX(self, beta: Any = None, gamma: Any = None) -> EventParticle:
        """``vector``'s ``boostX``, keeping charge, PDG id, spin and tags."""
        return self._with_identity(super().boostX(beta, gamma))

    def boostY(self, beta: Any = None, gamma: Any = None) -> EventParticle:
        """``vector``'s ``boostY``, keeping charge, PDG id, spin and tags."""
        return self._with_identity(super().boostY(beta, gamma))

    def boostZ(self, beta: Any = None, gamma: Any = None) -> EventParticle:
        """``vector``'s ``boostZ``, keeping charge, PDG id, spin and tags."""
        return self._with_identity(super().boostZ(beta, gamma))

    def __repr__(self) -> str:
        spin = "" if self.spin is None else f", spin={self.spin!r}"
        return (
            f"{type(self).__name__}(px={self.px!r}, py={self.py!r}, pz={self.pz!r}, E={self.E!r}, "
            f"charge={self.charge!r}, pdgid={self.pdgid!r}{spin})"
        )


# ----------------------------------------------------------------------------------------------
# One particle per event
# ----------------------------------------------------------------------------------------------


class ParticleColumn:
    """One particle in each of ``n`` events, e.g. the leading jet ``j[0]`` or ``met``.

    Every attribute in :data:`OBJECT_ATTRIBUTES` is available: the momentum quantities of
    scikit-hep ``vector`` (``pt``, ``eta``, ``phi``, ``m`` ...) and ``charge``, ``pdg_id``,
    ``pdgid``, ``b_tag``, ``t_tag``, ``tau_tag``. They return a :class:`CallableMaskedArray` of
    shape ``(n,)``, masked in the events where the particle is missing (``j[1]`` in a one-jet
    event) or where the value is not finite. ``a + b`` and ``a - b`` give a new column (charges
    added or subtracted, no PDG id), missing where either is missing; the methods ``deltaR``,
    ``deltaphi`` ... take another column.

    Parameters
    ----------
    momenta
        A ``vector`` four-momentum array of shape ``(n,)`` (zeros where missing).
    missing
        Boolean ``(n,)``: events without this particle.
    charge
        Charges ``(n,)``, in units of e.
    pdgid
        PDG ids ``(n,)`` as floats; NaN where undefined (sums of particles, MET).

    Notes
    -----
    Conventions are ``vector``'s: phi in (-pi, pi]; the mass of a space-like four-vector is
    negative, ``-sqrt(-m2)``.
    """

    __slots__ = ("_cache", "_charge", "_missing", "_momenta", "_pdgid")

    def __init__(self, momenta: Any, missing: np.ndarray, charge: np.ndarray, pdgid: np.ndarray) -> None:
        self._momenta = momenta
        self._missing = np.asarray(missing, dtype=bool)
        self._charge = np.asarray(charge, dtype=np.float64)
        self._pdgid = np.asarray(pdgid, dtype=np.float64)
        self._cache: dict[str, CallableMaskedArray] = {}

    @classmethod
    def from_components(
        cls,
        px: np.ndarray,
        py: np.ndarray,
        pz: np.ndarray,
        energy: np.ndarray,
        *,
        missing: np.ndarray | None = None,
        charge: np.ndarray | None = None,
        pdgid: np.ndarray | None = None,
    ) -> ParticleColumn:
        """A column from momentum components ``(n,)``; by default present in every event, with
        charge 0 and no PDG id.

        Examples
        --------
        >>> met = ParticleColumn.from_components(np.array([3.0]), np.array([4.0]), np.zeros(1), [5.0])
        >>> met.pt
        masked_array(data=[5.],
                     mask=[False],
               fill_value=1e+20)
        """
        px = np.asarray(px, dtype=np.float64)
        n = len(px)
        momenta = vector.array({"px": px, "py": py, "pz": pz, "E": energy})
        return cls(
            momenta,
            np.zeros(n, dtype=bool) if missing is None else missing,
            np.zeros(n) if charge is None else charge,
            np.full(n, np.nan) if pdgid is None else pdgid,
        )

    @property
    def n_events(self) -> int:
        """The number of events."""
        return len(self._missing)

    @property
    def missing(self) -> np.ndarray:
        """Boolean ``(n,)``: the events without this particle."""
        return self._missing

    @property
    def momenta(self) -> Any:
        """The four-momenta, a ``vector`` NumPy array (zeros where missing)."""
        return self._momenta

    def _get(self, name: str, compute: Callable[[], Any]) -> CallableMaskedArray:
        try:
            return self._cache[name]
        except KeyError:
            with np.errstate(all="ignore"):
                value = self._cache[name] = _masked(compute(), self._missing)
            return value

    @property
    def charge(self) -> CallableMaskedArray:
        """Charges in units of e (an electron has -1), masked where missing."""
        return self._get("charge", lambda: self._charge)

    @property
    def pdgid(self) -> CallableMaskedArray:
        """PDG ids (as floats), masked where missing or undefined (sums, MET)."""
        return self._get("pdgid", lambda: self._pdgid)

    pdg_id = pdgid

    def _tag(self, name: str) -> CallableMaskedArray:
        return self._get(name, lambda: np.abs(self._pdgid) == _TAG_IDS[name])

    @property
    def b_tag(self) -> CallableMaskedArray:
        """Whether the particle is a b quark (\\|pdgid\\| = 5; False for sums)."""
        return self._tag("b_tag")

    @property
    def t_tag(self) -> CallableMaskedArray:
        """Whether the particle is a top quark (\\|pdgid\\| = 6; False for sums)."""
        return self._tag("t_tag")

    @property
    def tau_tag(self) -> CallableMaskedArray:
        """Whether the particle is a tau lepton (\\|pdgid\\| = 15; False for sums)."""
        return self._tag("tau_tag")

    def _other(self, other: Any, method: str) -> ParticleColumn:
        if not isinstance(other, ParticleColumn):
            raise TypeError(f".{method}() takes a particle such as j[1], got {type(other).__name__}")
        if other.n_events != self.n_events:
            raise InputError(f".{method}(): {self.n_events} events here, {other.n_events} in the argument")
        return other

    def _scalar_method(self, name: str, other: Any) -> CallableMaskedArray:
        other = self._other(other, name)
        with np.errstate(all="ignore"):
            values = getattr(self._momenta, name)(other._momenta)
        return _masked(values, self._missing | other._missing)

    def _vector_method(self, name: str, other: Any, charge: np.ndarray, pdgid: np.ndarray) -> ParticleColumn:
        other = self._other(other, name)
        with np.errstate(all="ignore"):
            momenta = getattr(self._momenta, name)(other._momenta)
        return ParticleColumn(momenta, self._missing | other._missing, charge, pdgid)

    def add(self, other: ParticleColumn) -> ParticleColumn:
        """The sum of the four-momenta (charges added, no PDG id); the same as ``self + other``."""
        charge = self._charge + self._other(other, "add")._charge
        return self._vector_method("add", other, charge, np.full(self.n_events, np.nan))

    def subtract(self, other: ParticleColumn) -> ParticleColumn:
        """The difference of the four-momenta; the same as ``self - other``."""
        charge = self._charge - self._other(other, "subtract")._charge
        return self._vector_method("subtract", other, charge, np.full(self.n_events, np.nan))

    def boost_p4(self, other: ParticleColumn) -> ParticleColumn:
        """This particle boosted by the velocity of the four-momentum ``other`` (``vector``)."""
        return self._vector_method("boost_p4", other, self._charge, self._pdgid)

    def boostCM_of_p4(self, other: ParticleColumn) -> ParticleColumn:
        """This particle in the rest frame of the four-momentum ``other`` (``vector``)."""
        return self._vector_method("boostCM_of_p4", other, self._charge, self._pdgid)

    def __add__(self, other: Any) -> ParticleColumn:
        if not isinstance(other, ParticleColumn):
            return NotImplemented
        return self.add(other)

    def __sub__(self, other: Any) -> ParticleColumn:
        if not isinstance(other, ParticleColumn):
            return NotImplemented
        return self.subtract(other)

    def to_objects(self) -> list[EventParticle | None]:
        """One :class:`EventParticle` per event (None where missing), for per-event functions."""
        columns = [
            np.asarray(self._momenta.px).tolist(),
            np.asarray(self._momenta.py).tolist(),
            np.asarray(self._momenta.pz).tolist(),
            np.asarray(self._momenta.E).tolist(),
            self._charge.tolist(),
            [None if math.isnan(value) else int(value) for value in self._pdgid.tolist()],
        ]
        make = EventParticle.from_components
        return [
            None if missing else make(*values)
            for missing, values in zip(self._missing.tolist(), zip(*columns, strict=True), strict=True)
        ]

    def __repr__(self) -> str:
        return f"ParticleColumn(n_events={self.n_events}, missing in {int(self._missing.sum())})"


def _scalar_attribute(name: str) -> property:
    def getter(self: ParticleColumn) -> CallableMaskedArray:
        return self._get(name, lambda: getattr(self._momenta, name))

    getter.__name__ = name
    getter.__doc__ = f"``{name}`` of the four-momenta (as in ``vector``), masked where missing or not finite."
    return property(getter)


def _scalar_method(name: str) -> Callable[[ParticleColumn, ParticleColumn], CallableMaskedArray]:
    def method(self: ParticleColumn, other: ParticleColumn) -> CallableMaskedArray:
        return self._scalar_method(name, other)

    method.__name__ = name
    method.__doc__ = f"``{name}`` with another particle (as in ``vector``), masked where either is missing."
    return method


for _name in _VECTOR_ATTRIBUTES:
    setattr(ParticleColumn, _name, _scalar_attribute(_name))
for _name in _VECTOR_SCALAR_METHODS:
    setattr(ParticleColumn, _name, _scalar_method(_name))
del _name


# ----------------------------------------------------------------------------------------------
# A list of particles per event
# ----------------------------------------------------------------------------------------------


class ParticleCollection:
    """A list of particles in each of ``n`` events (jagged), e.g. the jets ``j``.

    ``collection[i]`` is the ``i``-th particle of every event (negative ``i`` counts from the
    end) as a :class:`ParticleColumn`, missing in events with too few particles. In expressions,
    ``len(j)`` is :attr:`counts`. In vectorised observable functions, the attributes of
    :data:`OBJECT_ATTRIBUTES` (``jets.pt`` ...) are jagged awkward arrays, and :attr:`awkward`
    is the whole collection as an awkward array of ``vector`` ``Momentum4D`` records with the
    extra fields ``charge`` and ``pdgid``.

    Parameters
    ----------
    arrays
        The particles, in the order the collection presents them.

    Examples
    --------
    >>> arrays = ParticleArrays([2, 0], [21, 1], [50.0, 20.0], [0.0, 0.0], [0.0, 0.0], [50.0, 20.0])
    >>> jets = ParticleCollection(arrays)
    >>> jets.counts.tolist(), jets[1].pt.tolist(), jets.pt.tolist()
    ([2, 0], [20.0, None], [[50.0, 20.0], []])
    """

    __slots__ = ("_arrays", "_awkward", "_columns")

    def __init__(self, arrays: ParticleArrays) -> None:
        if not isinstance(arrays, ParticleArrays):
            raise InputError(
                f"a ParticleCollection is built from ParticleArrays, got {type(arrays).__name__}"
            )
        self._arrays = arrays
        self._columns: dict[int, ParticleColumn] = {}
        self._awkward: Any = None

    @property
    def arrays(self) -> ParticleArrays:
        """The flat particle arrays, in the collection's order."""
        return self._arrays

    @property
    def n_events(self) -> int:
        """The number of events."""
        return self._arrays.n_events

    @property
    def counts(self) -> np.ndarray:
        """The number of particles in each event, shape ``(n,)``."""
        return self._arrays.counts

    def __len__(self) -> int:
        raise TypeError(
            "len() of a ParticleCollection is ambiguous: use .counts (particles per event) or .n_events"
        )

    def __getitem__(self, index: int) -> ParticleColumn:
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"particles are selected with an integer index, got {index!r}")
        index = int(index)
        try:
            return self._columns[index]
        except KeyError:
            pass
        arrays = self._arrays
        if index >= 0:
            present = arrays.counts > index
            position = arrays.offsets[:-1] + index
        else:
            present = arrays.counts >= -index
            position = arrays.offsets[1:] + index
        position = np.where(present, position, 0)
        assert arrays.charge is not None  # always an array after ParticleArrays.__post_init__

        def gather(values: np.ndarray, fill: float = 0.0) -> np.ndarray:
            if len(values) == 0:
                return np.full(len(present), fill)
            return np.where(present, values[position], fill)

        column = ParticleColumn.from_components(
            gather(arrays.px),
            gather(arrays.py),
            gather(arrays.pz),
            gather(arrays.energy),
            missing=~present,
            charge=gather(arrays.charge),
            pdgid=gather(arrays.pdgid.astype(np.float64), np.nan),
        )
        self._columns[index] = column
        return column

    @property
    def awkward(self) -> Any:
        """The collection as a jagged awkward array of ``vector`` ``Momentum4D`` records with the
        fields ``px``, ``py``, ``pz``, ``E``, ``charge`` and ``pdgid``."""
        if self._awkward is None:
            vector.register_awkward()
            arrays = self._arrays
            fields = {
                "px": arrays.px,
                "py": arrays.py,
                "pz": arrays.pz,
                "E": arrays.energy,
                "charge": arrays.charge,
                "pdgid": arrays.pdgid,
            }
            self._awkward = vector.zip(
                {name: ak.unflatten(values, arrays.counts) for name, values in fields.items()}
            )
        return self._awkward

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in OBJECT_ATTRIBUTES:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        records = self.awkward
        if name == "pdg_id":
            return records.pdgid
        if name in _TAG_IDS:
            return abs(records.pdgid) == _TAG_IDS[name]
        return getattr(records, name)

    def to_lists(self) -> list[list[EventParticle]]:
        """The particles as one Python list of :class:`EventParticle` per event."""
        arrays = self._arrays
        make = EventParticle.from_components
        assert arrays.charge is not None  # always an array after ParticleArrays.__post_init__
        flat = [
            make(*values)
            for values in zip(
                arrays.px.tolist(),
                arrays.py.tolist(),
                arrays.pz.tolist(),
                arrays.energy.tolist(),
                arrays.charge.tolist(),
                arrays.pdgid.tolist(),
                strict=True,
            )
        ]
        offsets = arrays.offsets.tolist()
        return [flat[start:stop] for start, stop in itertools.pairwise(offsets)]

    def __repr__(self) -> str:
        return f"ParticleCollection(n_events={self.n_events}, n_particles={self._arrays.n_particles})"


# ----------------------------------------------------------------------------------------------
# The objects of a chunk of events
# ----------------------------------------------------------------------------------------------


def _check_event_array(value: Any, n_events: int, what: str) -> np.ndarray:
    """``value`` as an array of shape ``(n_events,)`` (masked arrays stay masked)."""
    array = value if isinstance(value, np.ma.MaskedArray) else np.asarray(value)
    if array.ndim == 0:
        array = np.broadcast_to(array, (n_events,))
    if array.shape != (n_events,):
        raise InputError(
            f"{what} must have one value per event (shape ({n_events},)), got shape {array.shape}"
        )
    return array


def _visible_sums(particles: ParticleArrays) -> dict[str, np.ndarray]:
    """Per-event sums over the visible particles: four-momentum, charge and HT (scalar pT sum)."""
    visible = np.isin(particles.pdgid, _VISIBLE_PDG_IDS)
    event = particles.event_index[visible]
    sums = {
        name: np.bincount(event, weights=getattr(particles, name)[visible], minlength=particles.n_events)
        for name in ("px", "py", "pz", "energy", "charge")
    }
    sums["ht"] = np.bincount(event, weights=particles.pt[visible], minlength=particles.n_events)
    return sums


class EventObjects:
    """The physics objects of a chunk of events, ready for :func:`evaluate`.

    Build it with :meth:`DetectorModel.reconstruct` (LHE: smearing, then
    :meth:`from_particles`) or :meth:`from_collections` (reconstructed objects, e.g. Delphes).

    Parameters
    ----------
    n_events
        The number of events.
    collections
        Named lists of particles per event (``p``, ``p_truth``, ``e``, ``mu``, ``tau``, ``a``,
        ``j``, ``l``, ``v``); absent names are simply not available to expressions.
    met
        The missing transverse momentum, or None.
    visible
        The sum of the visible particles, or None. ``all`` is ``visible + met`` when both exist.
    global_data
        Per-event arrays ``(n,)`` by name (``n_particles``, ``scale``, ``alpha_qed`` ...).
    """

    def __init__(
        self,
        n_events: int,
        collections: Mapping[str, ParticleCollection],
        met: ParticleColumn | None = None,
        visible: ParticleColumn | None = None,
        global_data: Mapping[str, Any] | None = None,
    ) -> None:
        self.n_events = int(n_events)
        self.collections: dict[str, ParticleCollection] = dict(collections)
        for name, collection in self.collections.items():
            if collection.n_events != self.n_events:
                raise InputError(
                    f"collection {name!r} has {collection.n_events} events, expected {self.n_events}"
                )
        for name, column in (("met", met), ("visible", visible)):
            if column is not None and column.n_events != self.n_events:
                raise InputError(f"{name} has {column.n_events} events, expected {self.n_events}")
        self.met = met
        self.visible = visible
        self.global_data = {
            name: _check_event_array(value, self.n_events, f"global data {name!r}")
            for name, value in (global_data or {}).items()
        }
        self._namespace: dict[str, Any] | None = None
        self._lists: dict[str, Any] = {}

    @functools.cached_property
    def all(self) -> ParticleColumn | None:
        """``visible + met`` (None without either), computed on first use."""
        if self.visible is None or self.met is None:
            return None
        return self.visible + self.met

    @classmethod
    def from_particles(
        cls,
        particles: ParticleArrays,
        truth: ParticleArrays | None = None,
        *,
        met_px: np.ndarray | None = None,
        met_py: np.ndarray | None = None,
        global_data: Mapping[str, Any] | None = None,
    ) -> EventObjects:
        """Objects from a list of (detector-level) particles per event, classified by PDG id as
        in MadMiner's LHE reader.

        Parameters
        ----------
        particles
            The detector-level particles in file order; they become ``p``, and ``e``, ``mu``,
            ``tau``, ``a``, ``j``, ``l``, ``v`` (sorted by descending pT).
        truth
            The truth-level particles (``p_truth``); None uses ``particles``.
        met_px, met_py
            The missing transverse momentum; None (default) is minus the sum of the visible
            particles (Standard Model elementary particles other than neutrinos).
        global_data
            Per-event arrays by name.
        """
        n = particles.n_events
        if truth is not None and truth.n_events != n:
            raise InputError(f"truth has {truth.n_events} events, particles {n}")
        sums = _visible_sums(particles)
        met_px = -sums["px"] if met_px is None else _check_event_array(met_px, n, "met_px")
        met_py = -sums["py"] if met_py is None else _check_event_array(met_py, n, "met_py")
        return cls._classify(particles, truth, sums, met_px, met_py, global_data)

    @classmethod
    def _classify(
        cls,
        particles: ParticleArrays,
        truth: ParticleArrays | None,
        sums: Mapping[str, np.ndarray],
        met_px: np.ndarray,
        met_py: np.ndarray,
        global_data: Mapping[str, Any] | None,
    ) -> EventObjects:
        ordered = _sorted_by_pt(particles)
        # |pdgid| clipped into a small lookup table (ids >= 26 are in no collection)
        magnitude = np.minimum(np.abs(ordered.pdgid), 26)
        collections = {"p": ParticleCollection(particles)}
        collections["p_truth"] = ParticleCollection(particles if truth is None else truth)
        for name, ids in _COLLECTION_IDS.items():
            member = np.zeros(27, dtype=bool)
            member[list(ids)] = True
            collections[name] = ParticleCollection(ordered.take(member[magnitude]))
        visible = ParticleColumn.from_components(
            sums["px"], sums["py"], sums["pz"], sums["energy"], charge=sums["charge"]
        )
        return cls(particles.n_events, collections, _met_column(met_px, met_py), visible, global_data)

    @classmethod
    def from_collections(
        cls,
        *,
        met_px: np.ndarray,
        met_py: np.ndarray,
        electrons: ParticleArrays | None = None,
        muons: ParticleArrays | None = None,
        photons: ParticleArrays | None = None,
        jets: ParticleArrays | None = None,
        taus: ParticleArrays | None = None,
        neutrinos: ParticleArrays | None = None,
        particles: ParticleArrays | None = None,
        truth: ParticleArrays | None = None,
        global_data: Mapping[str, Any] | None = None,
    ) -> EventObjects:
        """Objects from already reconstructed collections (e.g. a Delphes ROOT file).

        Each collection is sorted by descending pT; ``l`` is the electrons and muons together.
        ``visible`` is the sum of the electrons, muons, photons and jets (as MadMiner's Delphes
        reader). ``p``/``p_truth`` exist only when ``particles``/``truth`` are given (in file
        order); missing collections are empty. Charges come from the arrays (give them for
        reconstructed objects); ``met_px``/``met_py`` have shape ``(n,)``.

        Examples
        --------
        >>> electrons = ParticleArrays.from_ptetaphim([1, 0], [11], [40.0], [0.5], [0.1], [0.000511], [-1.0])
        >>> objects = EventObjects.from_collections(met_px=[10.0, 0], met_py=[0, 5.0], electrons=electrons)
        >>> evaluate(compile_definition("len(l) + met.pt"), objects)[0]
        array([11.,  5.])
        """
        met_px = np.asarray(met_px, dtype=np.float64)
        n = len(met_px)
        met_py = _check_event_array(np.asarray(met_py, dtype=np.float64), n, "met_py")
        no_values = np.zeros(0)
        empty = ParticleArrays(np.zeros(n, dtype=np.int64), *[no_values] * 5)
        given = {"e": electrons, "mu": muons, "a": photons, "j": jets, "tau": taus, "v": neutrinos}
        arrays = {name: empty if value is None else value for name, value in given.items()}
        for name, value in arrays.items():
            if value.n_events != n:
                raise InputError(f"collection {name!r} has {value.n_events} events, but MET has {n}")
        arrays["l"] = _concatenate([arrays["e"], arrays["mu"]])
        collections = {name: ParticleCollection(_sorted_by_pt(value)) for name, value in arrays.items()}
        if particles is not None:
            collections["p"] = ParticleCollection(particles)
        if truth is not None:
            collections["p_truth"] = ParticleCollection(truth)
        visible_parts = _concatenate([arrays[name] for name in ("e", "mu", "a", "j")])
        event = visible_parts.event_index
        assert visible_parts.charge is not None  # always an array after ParticleArrays.__post_init__

        def total(values: np.ndarray) -> np.ndarray:
            return np.bincount(event, weights=values, minlength=n)

        visible = ParticleColumn.from_components(
            total(visible_parts.px),
            total(visible_parts.py),
            total(visible_parts.pz),
            total(visible_parts.energy),
            charge=total(visible_parts.charge),
        )
        return cls(n, collections, _met_column(met_px, met_py), visible, global_data)

    def namespace(self) -> dict[str, Any]:
        """The names an expression can read: the objects and the global data (as masked arrays).

        Returns a new dict each time (the objects in it are shared and cached).
        """
        if self._namespace is None:
            namespace: dict[str, Any] = dict(self.collections)
            for name in ("met", "visible", "all"):
                if getattr(self, name) is not None:
                    namespace[name] = getattr(self, name)
            for name, value in self.global_data.items():
                namespace[name] = np.ma.asarray(value)
            self._namespace = namespace
        return dict(self._namespace)

    def __getitem__(self, name: str) -> Any:
        try:
            return self.namespace()[name]
        except KeyError:
            raise KeyError(f"no object {name!r}; available: {sorted(self.namespace())}") from None

    def __contains__(self, name: object) -> bool:
        return name in self.namespace()

    def function_arguments(
        self, names: Sequence[str] = FUNCTION_ARGUMENTS, *, vectorized: bool = True
    ) -> list[Any]:
        """The arguments of an observable function: the objects ``names``.

        With ``vectorized=True`` the collections (:class:`ParticleCollection`) and columns
        (:class:`ParticleColumn`) themselves; otherwise, per event, a list of
        :class:`EventParticle` for a collection and one :class:`EventParticle` for ``met``,
        ``visible`` or ``all`` (each a list over the events; built once and cached).
        """
        namespace = self.namespace()
        missing = [name for name in names if name not in namespace or name in self.global_data]
        if missing:
            raise InputError(
                f"observable functions need the objects {missing}, which this chunk does not have"
            )
        if vectorized:
            return [namespace[name] for name in names]
        arguments = []
        for name in names:
            if name not in self._lists:
                value = namespace[name]
                self._lists[name] = (
                    value.to_lists() if isinstance(value, ParticleCollection) else value.to_objects()
                )
            arguments.append(self._lists[name])
        return arguments

    def __repr__(self) -> str:
        names = sorted(self.namespace())
        return f"EventObjects(n_events={self.n_events}, names={names})"


def _met_column(met_px: np.ndarray, met_py: np.ndarray) -> ParticleColumn:
    """The MET four-vector: (px, py, 0, |pT|), charge 0, no PDG id."""
    met_px = np.asarray(met_px, dtype=np.float64)
    met_py = np.asarray(met_py, dtype=np.float64)
    return ParticleColumn.from_components(met_px, met_py, np.zeros_like(met_px), np.hypot(met_px, met_py))


# ----------------------------------------------------------------------------------------------
# Detector model: smearing and MET noise
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    """The smearing of one particle type: sigma_X = X_abs + X_rel * X for X in E, pT, eta, phi.

    ``None`` in ``energy_abs``/``energy_rel`` (or ``pt_abs``/``pt_rel``) means that this quantity
    is not smeared but derived from the on-shell condition; at most one of the two may be
    derived.
    """

    energy_abs: float | None = 0.0
    energy_rel: float | None = 0.0
    pt_abs: float | None = 0.0
    pt_rel: float | None = 0.0
    eta_abs: float = 0.0
    eta_rel: float = 0.0
    phi_abs: float = 0.0
    phi_rel: float = 0.0

    @property
    def energy_derived(self) -> bool:
        """Whether the energy is computed from pT, eta and the mass."""
        return self.energy_abs is None or self.energy_rel is None

    @property
    def pt_derived(self) -> bool:
        """Whether pT is computed from the energy, eta and the mass."""
        return self.pt_abs is None or self.pt_rel is None

    @property
    def is_trivial(self) -> bool:
        """Whether particles pass unchanged (nothing smeared or derived)."""
        return (
            not self.energy_derived
            and not self.pt_derived
            and all(value == 0.0 for value in self.__dict__.values())
        )


_NO_SMEARING = Resolution()


@overload
def _resolution_value(value: Any, name: str, allow_none: Literal[False]) -> float: ...
@overload
def _resolution_value(value: Any, name: str, allow_none: bool) -> float | None: ...


def _resolution_value(value: Any, name: str, allow_none: bool) -> float | None:
    if value is None:
        if allow_none:
            return None
        raise InputError(f"set_smearing: {name} must be a number, not None (only E or pT may be derived)")
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(
            f"set_smearing: {name} must be a number{' or None' if allow_none else ''}, got {value!r}"
        )
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"set_smearing: {name} must be finite, got {value}")
    return value


def _smear(rng: np.random.Generator, values: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """``values + N(0, sigma)`` where ``sigma > 0``; unchanged elsewhere."""
    result = values.copy()
    active = np.flatnonzero(sigma > 0.0)
    if active.size:
        result[active] += rng.normal(0.0, sigma[active])
    return result


def _smear_above(
    rng: np.random.Generator, values: np.ndarray, sigma: np.ndarray, minimum: np.ndarray, what: str
) -> np.ndarray:
    """``values + N(0, sigma)`` where ``sigma > 0``, redrawn until above ``minimum``.

    Only the failing entries are redrawn; after :data:`_MAX_REDRAWS` rounds the remaining ones
    are set to the larger of the true value and the next float above the minimum (with a warning).
    """
    result = values.copy()
    todo = np.flatnonzero(sigma > 0.0)
    for _ in range(_MAX_REDRAWS):
        if todo.size == 0:
            return result
        result[todo] = values[todo] + rng.normal(0.0, sigma[todo])
        todo = todo[result[todo] <= minimum[todo]]
    if todo.size:
        logger.warning(
            "smearing: %d %s value(s) still not above their minimum after %d redraws; clipped",
            todo.size,
            what,
            _MAX_REDRAWS,
        )
        result[todo] = np.maximum(values[todo], np.nextafter(minimum[todo], np.inf))
    return result


def _wrap_phi(phi: np.ndarray) -> np.ndarray:
    """Angles wrapped into (-pi, pi]."""
    wrapped = np.pi - np.mod(np.pi - phi, 2.0 * np.pi)
    return np.where(wrapped <= -np.pi, wrapped + 2.0 * np.pi, wrapped)


def _smear_rows(
    rng: np.random.Generator,
    px: np.ndarray,
    py: np.ndarray,
    pz: np.ndarray,
    energy: np.ndarray,
    res: Resolution,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Smear the four-momenta of particles that share one :class:`Resolution`."""
    truth = _momentum_array({"px": px, "py": py, "pz": pz, "E": energy})
    pt, phi = np.asarray(truth.pt), np.asarray(truth.phi)
    with np.errstate(all="ignore"):
        eta = np.asarray(truth.eta)
    mass = np.sqrt(np.maximum(np.asarray(truth.mass2), 0.0))

    e_new = energy
    if not res.energy_derived:
        assert res.energy_abs is not None and res.energy_rel is not None  # not derived: both set
        minimum = mass if res.pt_derived else np.zeros_like(energy)
        e_new = _smear_above(rng, energy, res.energy_abs + res.energy_rel * energy, minimum, "energy")
    pt_new = pt
    if not res.pt_derived:
        assert res.pt_abs is not None and res.pt_rel is not None  # not derived: both set
        pt_new = _smear_above(rng, pt, res.pt_abs + res.pt_rel * pt, np.zeros_like(pt), "pT")
    eta_new = _smear(rng, eta, res.eta_abs + res.eta_rel * eta)
    phi_new = _wrap_phi(_smear(rng, phi, res.phi_abs + res.phi_rel * phi))

    if res.energy_derived:
        smeared = _momentum_array({"pt": pt_new, "eta": eta_new, "phi": phi_new, "mass": mass})
        return np.asarray(smeared.px), np.asarray(smeared.py), np.asarray(smeared.pz), np.asarray(smeared.E)
    if res.pt_derived:
        with np.errstate(invalid="ignore"):
            pt_new = np.where(
                e_new > mass, np.sqrt(np.maximum(e_new**2 - mass**2, 0.0)) / np.cosh(eta_new), 0.0
            )
    smeared = _momentum_array({"pt": pt_new, "eta": eta_new, "phi": phi_new, "E": e_new})
    return (
        np.asarray(smeared.px),
        np.asarray(smeared.py),
        np.asarray(smeared.pz),
        np.asarray(e_new, dtype=np.float64),
    )


class DetectorModel:
    """MadMiner's simple detector model: Gaussian smearing per particle type and MET noise.

    By default (before any :meth:`set_smearing`) every Standard Model elementary particle
    (:data:`ELEMENTARY_PDG_IDS`) is kept unsmeared and every other particle is dropped from the
    detector-level objects (it stays in ``p_truth``). The model holds only settings: it is
    cheap, picklable and comparable; randomness comes from the generator passed to
    :meth:`smear` and :meth:`reconstruct`.

    Examples
    --------
    >>> model = DetectorModel()
    >>> model.set_smearing([11, -11], energy_resolution_rel=0.05, pt_resolution_abs=None)
    >>> model.set_met_noise(abs_=5.0)
    >>> model.resolutions[11].pt_derived, model.met_noise
    (True, (5.0, 0.0))
    """

    def __init__(self) -> None:
        self._resolutions: dict[int, Resolution] = dict.fromkeys(sorted(ELEMENTARY_PDG_IDS), _NO_SMEARING)
        self._met_noise = (0.0, 0.0)

    @property
    def resolutions(self) -> Mapping[int, Resolution]:
        """The smearing of each kept PDG id (read-only)."""
        return types.MappingProxyType(self._resolutions)

    @property
    def met_noise(self) -> tuple[float, float]:
        """``(abs, rel)`` of the MET noise."""
        return self._met_noise

    def set_smearing(
        self,
        pdgids: Iterable[int] | int | None = None,
        energy_resolution_abs: float | None = 0.0,
        energy_resolution_rel: float | None = 0.0,
        pt_resolution_abs: float | None = 0.0,
        pt_resolution_rel: float | None = 0.0,
        eta_resolution_abs: float = 0.0,
        eta_resolution_rel: float = 0.0,
        phi_resolution_abs: float = 0.0,
        phi_resolution_rel: float = 0.0,
    ) -> None:
        """Set the smearing of the particles with the given PDG ids (MadMiner's semantics).

        For E, pT, eta and phi, the measured value is X + N(0, sigma) with
        sigma = X_resolution_abs + X_resolution_rel * X (X the true value; sigma <= 0 means no
        smearing, also e.g. for negative eta with only a relative resolution). Smeared E and pT
        are redrawn until positive (E above the mass when pT is derived). Either the energy or
        the pT resolution (not both) may be None (``abs`` or ``rel``): that quantity is then
        derived from the on-shell condition with the true mass m, pT = sqrt(E^2 - m^2)/cosh(eta)
        (0 if E <= m) or E = sqrt((pT cosh(eta))^2 + m^2). Smeared phi is wrapped into
        (-pi, pi] (``vector``'s convention; MadMiner used [0, 2 pi)).

        Parameters
        ----------
        pdgids
            Signed PDG ids, e.g. ``[11, -11]``; None (default) means all of
            :data:`ELEMENTARY_PDG_IDS`. A later call for the same id replaces the earlier one.
            An id outside :data:`ELEMENTARY_PDG_IDS` becomes kept (in ``p``; it is in no named
            collection and invisible for MET, as in MadMiner).
        energy_resolution_abs, energy_resolution_rel, pt_resolution_abs, pt_resolution_rel
            Resolutions of E and pT (GeV, relative), or None for "derived".
        eta_resolution_abs, eta_resolution_rel, phi_resolution_abs, phi_resolution_rel
            Resolutions of eta and phi.

        Raises
        ------
        InputError
            If both E and pT are derived, a resolution is not a finite number, or an id is not a
            nonzero integer.
        """
        resolution = Resolution(
            _resolution_value(energy_resolution_abs, "energy_resolution_abs", True),
            _resolution_value(energy_resolution_rel, "energy_resolution_rel", True),
            _resolution_value(pt_resolution_abs, "pt_resolution_abs", True),
            _resolution_value(pt_resolution_rel, "pt_resolution_rel", True),
            _resolution_value(eta_resolution_abs, "eta_resolution_abs", False),
            _resolution_value(eta_resolution_rel, "eta_resolution_rel", False),
            _resolution_value(phi_resolution_abs, "phi_resolution_abs", False),
            _resolution_value(phi_resolution_rel, "phi_resolution_rel", False),
        )
        if resolution.energy_derived and resolution.pt_derived:
            raise InputError(
                "set_smearing: the energy and the pT resolution cannot both be None (cannot derive both "
                "pT and energy from the on-shell condition)"
            )
        if pdgids is None:
            ids = sorted(ELEMENTARY_PDG_IDS)
        else:
            if isinstance(pdgids, (int, np.integer)):
                pdgids = [pdgids]
            ids = []
            for pdgid in pdgids:
                if isinstance(pdgid, bool) or not isinstance(pdgid, (int, np.integer)) or pdgid == 0:
                    raise InputError(f"set_smearing: PDG ids must be nonzero integers, got {pdgid!r}")
                ids.append(int(pdgid))
        unusual = sorted(set(ids) - ELEMENTARY_PDG_IDS)
        if unusual:
            logger.info(
                "set_smearing: keeping non-elementary PDG ids %s as invisible particles in p", unusual
            )
        for pdgid in ids:
            self._resolutions[pdgid] = resolution

    def set_met_noise(self, abs_: float = 0.0, rel: float = 0.0) -> None:
        """Add Gaussian noise N(0, abs_ + rel * HT) to the x and y components of MET (no noise
        where that is <= 0); HT is the scalar pT sum of the visible detector-level particles.

        Raises
        ------
        InputError
            If a value is not a finite number.
        """
        self._met_noise = (
            _resolution_value(abs_, "set_met_noise abs_", False),
            _resolution_value(rel, "set_met_noise rel", False),
        )

    def smear(self, truth: ParticleArrays, rng: np.random.Generator) -> ParticleArrays:
        """The detector-level particles: the kept particles of ``truth``, smeared, in file order.

        Particles whose PDG id has no resolution (not elementary, unless configured) are
        dropped, with one warning naming their ids.
        """
        if not isinstance(truth, ParticleArrays):
            raise InputError(f"truth must be ParticleArrays, got {type(truth).__name__}")
        if not isinstance(rng, np.random.Generator):
            raise InputError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        ids = np.array(sorted(self._resolutions), dtype=np.int64)
        kept = np.isin(truth.pdgid, ids)
        if not kept.all():
            dropped = np.unique(truth.pdgid[~kept]).tolist()
            logger.warning(
                "dropping %d final-state particle(s) with PDG id(s) %s from the detector-level objects "
                "(not Standard Model elementary particles; they stay in p_truth)",
                int((~kept).sum()),
                dropped,
            )
            particles = truth.take(kept)
        else:
            particles = truth
        groups: dict[Resolution, list[int]] = {}
        for pdgid in ids.tolist():
            groups.setdefault(self._resolutions[pdgid], []).append(pdgid)
        px, py, pz, energy = particles.px, particles.py, particles.pz, particles.energy
        copied = False
        for resolution, group_ids in groups.items():
            if resolution.is_trivial:
                continue
            rows = np.flatnonzero(np.isin(particles.pdgid, group_ids))
            if rows.size == 0:
                continue
            no_direction = particles.pt[rows] == 0.0
            if no_direction.any():
                logger.warning(
                    "smearing: %d particle(s) with zero pT (undefined eta) left unsmeared",
                    int(no_direction.sum()),
                )
                rows = rows[~no_direction]
            if not copied:
                px, py, pz, energy = px.copy(), py.copy(), pz.copy(), energy.copy()
                copied = True
            px[rows], py[rows], pz[rows], energy[rows] = _smear_rows(
                rng, px[rows], py[rows], pz[rows], energy[rows], resolution
            )
        if not copied:
            return particles
        return ParticleArrays(particles.counts, particles.pdgid, px, py, pz, energy, particles.charge)

    def reconstruct(
        self,
        truth: ParticleArrays,
        rng: np.random.Generator,
        global_data: Mapping[str, np.ndarray] | None = None,
    ) -> EventObjects:
        """Smear ``truth``, add MET noise and build the objects of the chunk.

        Parameters
        ----------
        truth
            The final-state particles of the events, in file order (they become ``p_truth``).
        rng
            The source of all randomness (same seed and inputs, same result).
        global_data
            Per-event arrays by name, available to expressions.

        Returns
        -------
        EventObjects
        """
        particles = self.smear(truth, rng)
        sums = _visible_sums(particles)
        met_px, met_py = -sums["px"], -sums["py"]
        sigma = self._met_noise[0] + self._met_noise[1] * sums["ht"]
        noisy = np.flatnonzero(sigma > 0.0)
        if noisy.size:
            met_px[noisy] += rng.normal(0.0, sigma[noisy])
            met_py[noisy] += rng.normal(0.0, sigma[noisy])
        return EventObjects._classify(particles, truth, sums, met_px, met_py, global_data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DetectorModel):
            return NotImplemented
        return self._resolutions == other._resolutions and self._met_noise == other._met_noise

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        groups: dict[Resolution, list[int]] = {}
        for pdgid, resolution in sorted(self._resolutions.items()):
            groups.setdefault(resolution, []).append(pdgid)
        parts = []
        for resolution, ids in groups.items():
            if resolution.is_trivial:
                label = "unsmeared"
            else:
                label = ", ".join(
                    f"{name}={value}" for name, value in resolution.__dict__.items() if value != 0.0
                )
            parts.append(f"{ids}: {label}")
        return f"DetectorModel({'; '.join(parts)}; met_noise={self._met_noise})"


# ----------------------------------------------------------------------------------------------
# Expressions and functions
# ----------------------------------------------------------------------------------------------


def _count(collection: Any) -> np.ndarray:
    """``len(j)``: the number of particles of a collection in each event."""
    if not isinstance(collection, ParticleCollection):
        raise ExpressionError(
            f"len() takes a list of particles such as j or e, got {type(collection).__name__}"
        )
    return collection.counts


def _masking(function: Callable[..., Any], arity: int | None) -> Callable[..., Any]:
    """``function`` with non-finite float results masked; ``arity`` None means "two or more"."""
    wrapped: Callable[..., Any]
    if arity == 1:

        def wrapped(x: Any) -> Any:
            return _mask_invalid(function(x))

    elif arity == 2:

        def wrapped(x: Any, y: Any) -> Any:
            return _mask_invalid(function(x, y))

    elif arity == 3:

        def wrapped(x: Any, y: Any, z: Any) -> Any:
            return _mask_invalid(function(x, y, z))

    else:

        def wrapped(x: Any, y: Any, *more: Any) -> Any:
            return _mask_invalid(function(x, y, *more))

    wrapped.__doc__ = function.__doc__
    return wrapped


def _event_functions() -> dict[str, Callable[..., Any]]:
    arities = {"round": 1, "where": 3, "clip": 3, "erf": 1, "erfc": 1, "gamma": 1, "lgamma": 1}
    arities.update(float=1, int=1, bool=1)
    functions: dict[str, Callable[..., Any]] = {}
    for name, function in MATH_FUNCTIONS.items():
        arity = function.nin if isinstance(function, np.ufunc) else arities.get(name)
        functions[name] = _masking(function, arity)
    functions["len"] = _count
    return functions


_EVENT_FUNCTIONS = types.MappingProxyType(_event_functions())


def compile_definition(
    definition: str, *, extra_names: Iterable[str] | None = (), context: str | None = None
) -> Expression:
    """Compile an observable, cut or efficiency definition on the event objects.

    The vocabulary: the object names (:data:`OBJECT_NAMES`; ``e`` and ``tau`` are the electrons
    and taus, not the constants), ``extra_names`` (global data, observable names), subscripts
    ``j[0]``/``j[-1]``, attributes and methods of :data:`OBJECT_ATTRIBUTES`, ``len(j)``, four-vector
    sums ``(l[0] + l[1]).m`` and the math functions of :mod:`motherlode.expressions` (whose
    non-finite results are masked, i.e. not parsed). ``extra_names=None`` accepts any further
    name (for a cut checked before all observables are known; compile it again with the final
    names before evaluating).

    Raises
    ------
    ExpressionError
        At compile time, for anything outside the vocabulary.

    Examples
    --------
    >>> compile_definition("abs(j[0].phi() - j[1].phi())").names_used
    frozenset({'j'})
    >>> compile_definition("j[0].__class__")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    motherlode.errors.ExpressionError: invalid expression 'j[0].__class__': attribute access ...
    """
    names = None if extra_names is None else OBJECT_NAMES | frozenset(extra_names)
    return Expression(
        definition,
        names,
        functions=_EVENT_FUNCTIONS,
        attributes=OBJECT_ATTRIBUTES,
        allow_subscripts=True,
        context=context,
    )


def _finalize(result: Any, n_events: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Turn an evaluation result into ``(values, parsed)``."""
    if isinstance(result, (ParticleColumn, ParticleCollection)):
        raise ExpressionError(
            f"{what} gives {'a particle' if isinstance(result, ParticleColumn) else 'a list of particles'}, "
            "not a number per event (use an attribute such as .pt)"
        )
    if isinstance(result, ak.Array):
        if result.ndim != 1:
            raise ExpressionError(f"{what} gives a jagged array, not one number per event")
        missing = np.asarray(ak.is_none(result, axis=0))
        result = np.ma.MaskedArray(ak.to_numpy(ak.fill_none(result, 0)), mask=missing)
    mask = np.ma.getmaskarray(result)
    data = np.asarray(np.ma.getdata(result))
    if data.dtype.kind not in "biuf":
        raise ExpressionError(f"{what} gives values of type {data.dtype}, not numbers")
    if data.ndim == 0:
        data, mask = np.broadcast_to(data, (n_events,)), np.broadcast_to(mask, (n_events,))
    if data.shape != (n_events,):
        raise ExpressionError(f"{what} gives shape {data.shape}, not one number per event ({n_events},)")
    values = data.astype(np.float64)
    parsed = ~mask
    if data.dtype.kind == "f":
        parsed &= np.isfinite(values)
    values[~parsed] = np.nan
    return values, parsed


def evaluate(
    expression: Expression, objects: EventObjects, extra: Mapping[str, Any] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate an expression (from :func:`compile_definition`) for all events of a chunk.

    Parameters
    ----------
    expression
        The compiled definition.
    objects
        The events' objects.
    extra
        More per-event values by name, e.g. the observables for a cut: arrays ``(n,)`` or
        masked arrays (masked entries propagate as "not parsed"; NaN in a plain array compares
        false, as the NaN default of a failed observable did in MadMiner).

    Returns
    -------
    values : numpy.ndarray
        float64 ``(n,)``, NaN where not parsed; booleans give 0.0/1.0.
    parsed : numpy.ndarray
        bool ``(n,)``: the expression's objects exist and its value is finite.

    Raises
    ------
    ExpressionError
        If a name is not available or the expression does not give one number per event
        (e.g. a particle, ``len(met)``, an operation on a particle that is not defined).
    """
    namespace = objects.namespace()
    for name, value in (extra or {}).items():
        namespace[name] = np.ma.asarray(_check_event_array(value, objects.n_events, f"value {name!r}"))
    what = f"expression {expression.source!r}"
    if expression.context:
        what = f"{expression.context}: {what}"
    try:
        with np.errstate(all="ignore"):
            result = expression(namespace)
    except ExpressionError:
        raise
    except (TypeError, AttributeError, ValueError) as error:
        raise ExpressionError(f"{what} cannot be evaluated on the events: {error}") from error
    return _finalize(result, objects.n_events, what)


_FUNCTION_ERRORS = (RuntimeError, IndexError, ZeroDivisionError, ValueError, TypeError, ArithmeticError)


def evaluate_function(
    fn: Callable[..., Any],
    objects: EventObjects,
    *,
    vectorized: bool,
    arguments: Sequence[str] = FUNCTION_ARGUMENTS,
) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate an observable function for all events of a chunk.

    Parameters
    ----------
    fn
        ``fn(particles, leptons, photons, jets, met)`` (MadMiner's signature; the objects named
        by ``arguments``): ``particles`` are the truth-level particles in file order, the others
        detector-level (smeared), sorted by descending pT.
    objects
        The events' objects.
    vectorized
        False: MadMiner's per-event function, called once per event with Python lists of
        :class:`EventParticle` (``met`` a single :class:`EventParticle`); it returns a float,
        and raising ``RuntimeError`` (or ``IndexError``, ``ZeroDivisionError``, ``ValueError``,
        ``TypeError``, ``ArithmeticError``) or returning a non-finite value means "not parsed".
        Slow (pure Python), for compatibility. True: called once for the whole chunk with the
        :class:`ParticleCollection` objects (``leptons[0].pt``, ``leptons.counts``,
        ``jets.awkward`` ...) and the :class:`ParticleColumn` ``met``; it returns an array of
        shape ``(n,)`` (NumPy, masked or awkward); NaN, masked or None entries are not parsed.
    arguments
        The object names passed to ``fn`` (default :data:`FUNCTION_ARGUMENTS`; a Delphes reader
        passes ``("l", "a", "j", "met")``).

    Returns
    -------
    values, parsed
        As for :func:`evaluate`.
    """
    what = f"observable function {getattr(fn, '__name__', repr(fn))}"
    if vectorized:
        with np.errstate(all="ignore"):
            result = fn(*objects.function_arguments(arguments, vectorized=True))
        return _finalize(result, objects.n_events, what)
    per_event = objects.function_arguments(arguments, vectorized=False)
    values = np.full(objects.n_events, np.nan)
    with np.errstate(all="ignore"):
        for event, event_arguments in enumerate(zip(*per_event, strict=True)):
            try:
                values[event] = float(fn(*event_arguments))
            except _FUNCTION_ERRORS:
                continue
    parsed = np.isfinite(values)
    values[~parsed] = np.nan
    return values, parsed
