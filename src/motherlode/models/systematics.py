"""Sources of systematic uncertainty (``madminer.models.systematics``)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from ..errors import InputError

__all__ = ["Systematic", "SystematicScale", "SystematicType", "SystematicValue", "parse_scale_factors"]

#: The value of a systematic: the norm variation factor, the comma-joined scale factors,
#: or the PDF set name.
SystematicValue = str | float


_E = TypeVar("_E", bound="_ChoiceEnum")


class _ChoiceEnum(str, Enum):
    """A string enum parsed from user input with an error listing the choices."""

    @classmethod
    def from_str(cls: type[_E], value: str) -> _E:
        """Parse a member from its string value; raise :class:`InputError` listing the choices otherwise."""
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(repr(m.value) for m in cls)
            raise InputError(f"Invalid {cls._description()} {value!r}: expected one of {choices}") from None

    @classmethod
    def _description(cls) -> str:
        return cls.__name__


class SystematicType(_ChoiceEnum):
    """What a systematic uncertainty varies: the PDF, the normalisation, or the scales."""

    PDF = "pdf"
    NORM = "norm"
    SCALE = "scale"

    @classmethod
    def _description(cls) -> str:
        return "systematic type"


class SystematicScale(_ChoiceEnum):
    """Which scales a scale systematic varies: both (``mu``), factorisation or renormalisation only."""

    MU = "mu"
    MUF = "muf"
    MUR = "mur"

    @classmethod
    def _description(cls) -> str:
        return "systematic scale"


@dataclass
class Systematic:
    """A source of systematic uncertainty.

    ``value`` is the norm variation factor (float) for ``norm``, the comma-joined scale factors
    (e.g. ``"0.5,1.0,2.0"``) for ``scale``, and the LHAPDF set name for ``pdf``. ``scale`` is set
    exactly for scale systematics.
    """

    name: str
    type: SystematicType
    value: SystematicValue
    scale: SystematicScale | None = None

    def __post_init__(self) -> None:
        self.type = SystematicType.from_str(self.type)
        if self.scale is not None:
            self.scale = SystematicScale.from_str(self.scale)
        if self.type is SystematicType.SCALE and self.scale is None:
            raise InputError(f"Scale systematic {self.name!r} needs a scale ('mu', 'mur' or 'muf')")
        if self.type is not SystematicType.SCALE and self.scale is not None:
            raise InputError(f"Systematic {self.name!r} of type {self.type.value!r} cannot have a scale")

    def __str__(self) -> str:
        scale = f", scale: {self.scale.value}" if self.scale is not None else ""
        return f"{self.name} (type: {self.type.value}, value: {self.value}{scale})"

    @property
    def scale_factors(self) -> tuple[float, ...]:
        """The scale factors of a scale systematic, parsed from ``value``."""
        if self.type is not SystematicType.SCALE:
            raise InputError(f"Systematic {self.name!r} is not a scale systematic")
        return parse_scale_factors(self.value, context=f"systematic {self.name!r}")


def parse_scale_factors(
    value: str | float | Iterable[float], context: str = "scale_variations"
) -> tuple[float, ...]:
    """Parse scale factors from ``"0.5,1.0,2.0"``, bytes, or a sequence of numbers.

    Examples
    --------
    >>> parse_scale_factors("0.5, 1, 2")
    (0.5, 1.0, 2.0)
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, str):
        items: Iterable[object] = [item for item in value.split(",") if item.strip()]
    elif isinstance(value, int | float):
        items = [value]
    elif isinstance(value, Mapping):
        raise InputError(f"{context}: expected a sequence of scale factors, got a mapping")
    else:
        items = value
    factors = []
    for item in items:
        try:
            factor = float(item)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InputError(f"{context}: scale factor {item!r} is not a number") from None
        if not math.isfinite(factor) or factor <= 0.0:
            raise InputError(f"{context}: scale factor {factor} must be finite and positive")
        factors.append(factor)
    if not factors:
        raise InputError(f"{context}: no scale factors given")
    return tuple(factors)
