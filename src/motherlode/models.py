"""Plain records of an analysis setup: parameters, benchmarks, systematics, nuisance parameters.

These mirror ``madminer.models`` (same class and field names), so code that inspects
``MadMiner.parameters`` or ``MadMiner.benchmarks`` ports unchanged. They hold data and
check it; they never evaluate anything.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from .errors import InputError

__all__ = [
    "AnalysisParameter",
    "Benchmark",
    "FiniteDiffBenchmark",
    "MaxPower",
    "NuisanceParameter",
    "Systematic",
    "SystematicScale",
    "SystematicType",
    "SystematicValue",
]

#: A parameter's maximal power in the squared matrix element: one int, or one int per
#: operator configuration (see :meth:`motherlode.morphing.PhysicsMorpher.find_components`).
MaxPower = int | tuple[int, ...]

#: The value of a systematic: the norm variation factor, the comma-joined scale factors,
#: or the PDF set name.
SystematicValue = str | float


def _format_value(value: float, precision: int = 2) -> str:
    if 2.0 * 10.0**-precision < abs(value) < 10.0**precision or value == 0.0:
        return f"{value:.{precision}f}"
    return f"{value:.{precision}e}"


@dataclass
class AnalysisParameter:
    """A theory parameter of interest.

    Parameters
    ----------
    name : str
        Internal name; defines the order of the components of every theta vector.
    lha_block : str
        The param_card block, e.g. ``"SMEFT"``.
    lha_id : int
        The entry inside the block.
    max_power : int or tuple of int
        Maximal power of the parameter in the squared matrix element (per operator configuration).
    val_range : tuple of float
        The range of primary interest, used for the morphing-basis optimisation.
    transform : str or None
        Expression in ``theta`` giving the param_card value; ``None`` means the identity.

    Examples
    --------
    >>> print(AnalysisParameter("cHW", "SMEFT", 7, 2, (-1.0, 1.0), None))
    cHW (LHA: SMEFT 7, max power: 2, range: (-1.0, 1.0))
    """

    name: str
    lha_block: str
    lha_id: int
    max_power: MaxPower
    val_range: tuple[float, float]
    transform: str | None = None

    def __str__(self) -> str:
        text = f"{self.name} (LHA: {self.lha_block} {self.lha_id}, max power: {self.max_power}, "
        text += f"range: {tuple(self.val_range)}"
        if self.transform is not None:
            text += f", param_card value: {self.transform}"
        return text + ")"

    @property
    def max_powers(self) -> tuple[int, ...]:
        """The maximal power for each operator configuration, as a tuple."""
        return self.max_power if isinstance(self.max_power, tuple) else (self.max_power,)


@dataclass
class Benchmark:
    """A parameter point at which event weights are known.

    Examples
    --------
    >>> print(Benchmark("sm", {"cHW": 0.0, "cHq3": 0.0}))
    sm: cHW = 0.00, cHq3 = 0.00
    """

    name: str
    values: dict[str, float]
    is_nuisance: bool = False
    is_reference: bool = False

    @classmethod
    def from_params(cls, name: str, param_names: Iterable[str], param_values: Iterable[float]) -> Benchmark:
        """Build a benchmark from parallel sequences of parameter names and values."""
        return cls(name=name, values={p: float(v) for p, v in zip(param_names, param_values, strict=True)})

    def __str__(self) -> str:
        values = ", ".join(f"{p} = {_format_value(v)}" for p, v in self.values.items())
        return f"{self.name}: {values}" if values else self.name

    def copy(self) -> Benchmark:
        """A copy with its own ``values`` dict."""
        return Benchmark(self.name, dict(self.values), self.is_nuisance, self.is_reference)


@dataclass
class FiniteDiffBenchmark:
    """A base benchmark and, per parameter, the benchmark shifted by epsilon in that parameter."""

    base_name: str
    shift_names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_params(
        cls, base_name: str, param_names: Iterable[str], shift_names: Iterable[str]
    ) -> FiniteDiffBenchmark:
        """Build from parallel sequences of parameter names and shifted-benchmark names."""
        return cls(base_name, dict(zip(param_names, shift_names, strict=True)))


@dataclass
class NuisanceParameter:
    """A nuisance parameter and the benchmarks at nu = +1 and nu = -1 (the latter optional)."""

    name: str
    systematic: str
    benchmark_pos: str | None = None
    benchmark_neg: str | None = None

    def __str__(self) -> str:
        return (
            f"{self.name} (systematic: {self.systematic}, "
            f"benchmarks: {self.benchmark_pos} | {self.benchmark_neg})"
        )


class _ChoiceEnum(str, Enum):
    """A string enum parsed from user input with an error listing the choices."""

    @classmethod
    def from_str(cls, value: str) -> _ChoiceEnum:
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
