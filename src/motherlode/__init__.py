"""motherlode: machine-learning-based inference for particle physics.

A fast, correct and MadMiner-compatible successor of MadMiner: the same public names and
the same HDF5 files, so a MadMiner script ports by changing ``madminer`` to ``motherlode``
in its imports.

The data path: :class:`MadMiner` (setup file) -> readers (events file) -> sampling
(training arrays) -> estimators -> inference -> plots. See ``docs/architecture.md``.

Every name that ``madminer`` exports at its top level is exported here too. They load on first
use, so ``import motherlode`` stays quick and does not import torch until an estimator is needed:

>>> import motherlode
>>> from motherlode import LHEReader, SampleAugmenter, ScoreEstimator, sampling
>>> ScoreEstimator.__module__
'motherlode.ml.score'
>>> motherlode.sampling.benchmark("sm")
('benchmark', 'sm')
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .core import MadMiner
from .errors import (
    ExpressionError,
    FileFormatError,
    InputError,
    MorphingError,
    MotherlodeError,
    NotYetAvailableError,
    SetupError,
)
from .morphing import NuisanceMorpher, PhysicsMorpher

#: MadMiner 0.9.6's top-level names (besides MadMiner itself) and the module each comes from.
_LAZY: dict[str, str] = {
    "DataAnalyzer": "analysis",
    "DelphesReader": "delphes",
    "FisherInformation": "fisherinformation",
    "InformationGeometry": "fisherinformation",
    "profile_information": "fisherinformation",
    "project_information": "fisherinformation",
    "LHEReader": "lhe",
    "HistoLikelihood": "likelihood",
    "NeuralLikelihood": "likelihood",
    "fix_params": "likelihood",
    "project_log_likelihood": "likelihood",
    "profile_log_likelihood": "likelihood",
    "AsymptoticLimits": "limits",
    "ParameterizedRatioEstimator": "ml",
    "DoubleParameterizedRatioEstimator": "ml",
    "LikelihoodEstimator": "ml",
    "ScoreEstimator": "ml",
    "MorphingAwareRatioEstimator": "ml",
    "Ensemble": "ml",
    "load_estimator": "ml",
    "plot_uncertainty": "plotting",
    "plot_systematics": "plotting",
    "plot_pvalue_limits": "plotting",
    "plot_distribution_of_information": "plotting",
    "plot_fisher_information_contours_2d": "plotting",
    "plot_fisherinfo_barplot": "plotting",
    "plot_nd_morphing_basis_slices": "plotting",
    "plot_nd_morphing_basis_scatter": "plotting",
    "plot_2d_morphing_basis": "plotting",
    "plot_histograms": "plotting",
    "plot_distributions": "plotting",
    "SampleAugmenter": "sampling",
    "combine_and_shuffle": "sampling",
    "benchmark": "sampling",
    "benchmarks": "sampling",
    "morphing_point": "sampling",
    "morphing_points": "sampling",
    "random_morphing_points": "sampling",
    "iid_nuisance_parameters": "sampling",
    "nominal_nuisance_parameters": "sampling",
}

__all__ = [
    "AsymptoticLimits",
    "DataAnalyzer",
    "DelphesReader",
    "DoubleParameterizedRatioEstimator",
    "Ensemble",
    "ExpressionError",
    "FileFormatError",
    "FisherInformation",
    "HistoLikelihood",
    "InformationGeometry",
    "InputError",
    "LHEReader",
    "LikelihoodEstimator",
    "MadMiner",
    "MorphingAwareRatioEstimator",
    "MorphingError",
    "MotherlodeError",
    "NeuralLikelihood",
    "NotYetAvailableError",
    "NuisanceMorpher",
    "ParameterizedRatioEstimator",
    "PhysicsMorpher",
    "SampleAugmenter",
    "ScoreEstimator",
    "SetupError",
    "__version__",
    "benchmark",
    "benchmarks",
    "combine_and_shuffle",
    "fix_params",
    "iid_nuisance_parameters",
    "load_estimator",
    "morphing_point",
    "morphing_points",
    "nominal_nuisance_parameters",
    "plot_2d_morphing_basis",
    "plot_distribution_of_information",
    "plot_distributions",
    "plot_fisher_information_contours_2d",
    "plot_fisherinfo_barplot",
    "plot_histograms",
    "plot_nd_morphing_basis_scatter",
    "plot_nd_morphing_basis_slices",
    "plot_pvalue_limits",
    "plot_systematics",
    "plot_uncertainty",
    "profile_information",
    "profile_log_likelihood",
    "project_information",
    "project_log_likelihood",
    "random_morphing_points",
]


#: Subpackages that ``import madminer`` makes available as attributes (``madminer.sampling.benchmark``).
_SUBPACKAGES = frozenset(
    {"analysis", "core", "delphes", "fisherinformation", "lhe", "likelihood", "limits", "ml", "models"}
    | {"plotting", "sampling", "utils"}
)


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'motherlode' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | _SUBPACKAGES)


if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .analysis import DataAnalyzer
    from .delphes import DelphesReader
    from .fisherinformation import (
        FisherInformation,
        InformationGeometry,
        profile_information,
        project_information,
    )
    from .lhe import LHEReader
    from .likelihood import (
        HistoLikelihood,
        NeuralLikelihood,
        fix_params,
        profile_log_likelihood,
        project_log_likelihood,
    )
    from .limits import AsymptoticLimits
    from .ml import (
        DoubleParameterizedRatioEstimator,
        Ensemble,
        LikelihoodEstimator,
        MorphingAwareRatioEstimator,
        ParameterizedRatioEstimator,
        ScoreEstimator,
        load_estimator,
    )
    from .plotting import (
        plot_2d_morphing_basis,
        plot_distribution_of_information,
        plot_distributions,
        plot_fisher_information_contours_2d,
        plot_fisherinfo_barplot,
        plot_histograms,
        plot_nd_morphing_basis_scatter,
        plot_nd_morphing_basis_slices,
        plot_pvalue_limits,
        plot_systematics,
        plot_uncertainty,
    )
    from .sampling import (
        SampleAugmenter,
        benchmark,
        benchmarks,
        combine_and_shuffle,
        iid_nuisance_parameters,
        morphing_point,
        morphing_points,
        nominal_nuisance_parameters,
        random_morphing_points,
    )
