"""Benchmarks: parameter points with known event weights (``madminer.models.benchmarks``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Benchmark", "FiniteDiffBenchmark"]


def _format_value(value: float, precision: int = 2) -> str:
    if 2.0 * 10.0**-precision < abs(value) < 10.0**precision or value == 0.0:
        return f"{value:.{precision}f}"
    return f"{value:.{precision}e}"


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
