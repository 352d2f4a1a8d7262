"""Plain records of an analysis: parameters, benchmarks, systematics, nuisance parameters,
observables, cuts and efficiencies.

These mirror ``madminer.models`` (same modules, class and field names), so code that inspects
``MadMiner.parameters``, ``MadMiner.benchmarks`` or ``LHEReader.observables`` ports unchanged.
They hold data and check it; they never evaluate anything.
"""

from .benchmarks import Benchmark, FiniteDiffBenchmark
from .parameters import AnalysisParameter, MaxPower, NuisanceParameter
from .readers import Cut, Efficiency, Observable
from .systematics import (
    Systematic,
    SystematicScale,
    SystematicType,
    SystematicValue,
    parse_scale_factors,
)

__all__ = [
    "AnalysisParameter",
    "Benchmark",
    "Cut",
    "Efficiency",
    "FiniteDiffBenchmark",
    "MaxPower",
    "NuisanceParameter",
    "Observable",
    "Systematic",
    "SystematicScale",
    "SystematicType",
    "SystematicValue",
    "parse_scale_factors",
]
