"""Nuisance parameters from the weight groups of an LHE file.

A systematic declared in the setup (``MadMiner.add_systematics``) becomes one or more nuisance
parameters, each with one or two *nuisance benchmarks*: per-event weights at the varied
nuisance value, taken from the LHE file.

* ``norm`` (value: the factor ``f`` of the "+1 sigma" variation): one nuisance parameter
  ``<name>_nuisance_param_0`` whose benchmark ``..._benchmark_0`` is ``f`` times the nominal
  weight. No LHE weight is needed.
* ``scale`` (value: scale factors such as ``"0.5,1.0,2.0"``; scale ``mu``, ``mur`` or ``muf``):
  one nuisance parameter. ``..._benchmark_0`` is the weight at the *last* factor (2.0), and
  ``..._benchmark_1`` the one at the *first* factor (0.5). ``mu`` varies both scales together,
  ``mur`` / ``muf`` only one. The weights are found by their ``MUR`` and ``MUF`` attributes in
  ``<initrwgt>``, in any weight group except MadGraph's own reweighting group. Weights with a
  varied dynamical-scale choice (``DYN_SCALE``) or a PDF other than the central one are skipped.
* ``pdf`` (value: the PDF set, given as the LHAPDF name, a substring of the weight group's
  name, the LHAPDF id of any member, or ``"errorset"`` / ``"central"`` for the run's PDF group):
  one nuisance parameter per member of the set other than the central member,
  ``<name>_nuisance_param_<i>`` (``i`` is the member's position in its weight group) with one
  benchmark each.

MadMiner 0.9.6 finds no PDF weights at all (its filter requires "mwst", "pdf", "ct" and a
case-mismatched set name in the group name) and silently drops a scale systematic it cannot
match; here an unmatched systematic is an error that lists what the file offers.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import SetupError
from ..models import Systematic, SystematicScale, SystematicType

__all__ = ["NuisanceDefinition", "NuisanceWeight", "nuisance_definitions"]

logger = logging.getLogger(__name__)

_DYNAMICAL_SCALE_KEYS = ("dynscale", "dyn_scale")
_CENTRAL_PDF_KEYWORDS = ("errorset", "central")


@dataclass(frozen=True)
class NuisanceWeight:
    """Where the weights of one nuisance benchmark come from.

    Attributes
    ----------
    benchmark : str
        Name of the nuisance benchmark.
    weight_id : str or None
        The LHE weight id, or None for the event's nominal weight.
    factor : float
        Factor applied to that weight (the norm variation; 1 otherwise).
    """

    benchmark: str
    weight_id: str | None
    factor: float = 1.0


@dataclass(frozen=True)
class NuisanceDefinition:
    """A nuisance parameter and the weights of its benchmarks."""

    parameter: str
    systematic: str
    positive: NuisanceWeight
    negative: NuisanceWeight | None = None

    @property
    def weights(self) -> tuple[NuisanceWeight, ...]:
        """The one or two nuisance benchmarks."""
        return (self.positive,) if self.negative is None else (self.positive, self.negative)


def _attribute(attributes: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive attribute lookup."""
    for key, value in attributes.items():
        if key.lower() == name:
            return value
    return None


def _float_attribute(attributes: Mapping[str, str], name: str) -> float | None:
    value = _attribute(attributes, name)
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


def _int_attribute(attributes: Mapping[str, str], name: str) -> int | None:
    value = _float_attribute(attributes, name)
    return None if value is None or not math.isfinite(value) else int(value)


def _is_reweighting_group(group: Any) -> bool:
    return group.name is not None and "mg_reweighting" in group.name.lower()


def _has_dynamical_scale(attributes: Mapping[str, str]) -> bool:
    return any(_attribute(attributes, key) is not None for key in _DYNAMICAL_SCALE_KEYS)


def _central_pdf(header: Any) -> int | None:
    """The PDF id of the nominal weight: the ``PDF`` attribute of a MUR = MUF = 1 weight."""
    for group in header.weight_groups:
        for weight in group.weights:
            mur = _float_attribute(weight.attributes, "mur")
            muf = _float_attribute(weight.attributes, "muf")
            pdf = _int_attribute(weight.attributes, "pdf")
            if pdf is not None and mur == 1.0 and muf == 1.0 and not _has_dynamical_scale(weight.attributes):
                return pdf
    return None


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)


def _scale_weight_id(header: Any, mur: float, muf: float, central_pdf: int | None) -> str | None:
    for group in header.weight_groups:
        if _is_reweighting_group(group):
            continue
        for weight in group.weights:
            attributes = weight.attributes
            weight_mur = _float_attribute(attributes, "mur")
            weight_muf = _float_attribute(attributes, "muf")
            if weight_mur is None or weight_muf is None or _has_dynamical_scale(attributes):
                continue
            pdf = _int_attribute(attributes, "pdf")
            if central_pdf is not None and pdf is not None and pdf != central_pdf:
                continue
            if _close(weight_mur, mur) and _close(weight_muf, muf):
                return weight.id
    return None


def _scale_weights_summary(header: Any) -> str:
    found = [
        f"{weight.id} (MUR={_attribute(weight.attributes, 'mur')}, "
        f"MUF={_attribute(weight.attributes, 'muf')})"
        for group in header.weight_groups
        for weight in group.weights
        if _attribute(weight.attributes, "mur") is not None and not _has_dynamical_scale(weight.attributes)
    ]
    return ", ".join(found[:20]) if found else "none"


def _scale_definition(header: Any, systematic: Systematic) -> NuisanceDefinition:
    factors = systematic.scale_factors
    chosen = (factors[-1],) if len(factors) == 1 else (factors[-1], factors[0])
    central_pdf = _central_pdf(header)
    parameter = f"{systematic.name}_nuisance_param_0"
    weights = []
    for k, factor in enumerate(chosen):
        mur = factor if systematic.scale in (SystematicScale.MU, SystematicScale.MUR) else 1.0
        muf = factor if systematic.scale in (SystematicScale.MU, SystematicScale.MUF) else 1.0
        weight_id = _scale_weight_id(header, mur, muf, central_pdf)
        if weight_id is None:
            raise SetupError(
                f"{header.path}: no weight for the scale systematic {systematic.name!r} at MUR={mur}, "
                f"MUF={muf}. Scale weights in the file: {_scale_weights_summary(header)}. "
                "Run MadGraph with use_syst = True (systematics_program = systematics), or remove the "
                "systematic from this sample."
            )
        weights.append(NuisanceWeight(f"{parameter}_benchmark_{k}", weight_id))
    return NuisanceDefinition(parameter, systematic.name, *weights)


def _pdf_groups(header: Any) -> list[Any]:
    """Weight groups whose weights carry at least two different ``PDF`` ids."""
    groups = []
    for group in header.weight_groups:
        if _is_reweighting_group(group):
            continue
        ids = {_int_attribute(weight.attributes, "pdf") for weight in group.weights} - {None}
        if len(ids) >= 2:
            groups.append(group)
    return groups


def _matches_pdf_set(group: Any, value: str) -> bool:
    wanted = value.strip().lower()
    if wanted in _CENTRAL_PDF_KEYWORDS:
        return True
    if group.name is not None and wanted and wanted in group.name.lower():
        return True
    ids = {_int_attribute(weight.attributes, "pdf") for weight in group.weights}
    return wanted.lstrip("+-").isdigit() and int(wanted) in ids


def _pdf_definitions(header: Any, systematic: Systematic) -> list[NuisanceDefinition]:
    value = str(systematic.value)
    candidates = _pdf_groups(header)
    matching = [group for group in candidates if _matches_pdf_set(group, value)]
    if not matching:
        offered = ", ".join(repr(group.name) for group in candidates) or "none"
        raise SetupError(
            f"{header.path}: no PDF weight group matches the pdf systematic {systematic.name!r} "
            f"(PDF set {value!r}). PDF weight groups in the file: {offered}. Give the set's LHAPDF name "
            "or id, or 'errorset' for the run's PDF group."
        )
    group = matching[0]
    pdf_ids = [_int_attribute(weight.attributes, "pdf") for weight in group.weights]
    central = min(pdf for pdf in pdf_ids if pdf is not None)
    definitions = []
    for i, (weight, pdf) in enumerate(zip(group.weights, pdf_ids, strict=True)):
        mur = _float_attribute(weight.attributes, "mur")
        muf = _float_attribute(weight.attributes, "muf")
        if pdf is None or pdf == central or mur not in (None, 1.0) or muf not in (None, 1.0):
            continue
        parameter = f"{systematic.name}_nuisance_param_{i}"
        definitions.append(
            NuisanceDefinition(
                parameter, systematic.name, NuisanceWeight(f"{parameter}_benchmark_0", weight.id)
            )
        )
    logger.info(
        "PDF systematic %s: %d members of weight group %r (central PDF %d)",
        systematic.name,
        len(definitions),
        group.name,
        central,
    )
    return definitions


def nuisance_definitions(
    header: Any, systematics: Mapping[str, Systematic], names: Sequence[str]
) -> list[NuisanceDefinition]:
    """The nuisance parameters of the systematics ``names`` for one LHE file.

    Parameters
    ----------
    header : motherlode.lhe.lhefile.LHEHeader
        The file's header (its ``path`` and ``weight_groups`` are used).
    systematics : mapping
        All systematics of the setup, by name.
    names : sequence of str
        The systematics that apply to this sample.

    Returns
    -------
    list of NuisanceDefinition

    Raises
    ------
    SetupError
        If a name is not a systematic of the setup, or the file lacks the weights it needs.
    """
    definitions = []
    for name in names:
        if name not in systematics:
            raise SetupError(
                f"systematic {name!r} is not defined in the setup; "
                f"defined: {', '.join(systematics) or 'none'}"
            )
        systematic = systematics[name]
        if systematic.type is SystematicType.NORM:
            parameter = f"{name}_nuisance_param_0"
            factor = float(systematic.value)
            definitions.append(
                NuisanceDefinition(parameter, name, NuisanceWeight(f"{parameter}_benchmark_0", None, factor))
            )
        elif systematic.type is SystematicType.SCALE:
            definitions.append(_scale_definition(header, systematic))
        else:
            definitions.extend(_pdf_definitions(header, systematic))
    return definitions
