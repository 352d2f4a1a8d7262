"""Unweighted training samples with joint likelihood ratios and scores (:class:`SampleAugmenter`),
the parameter-point helpers, and :func:`combine_and_shuffle`."""

from .combine import combine_and_shuffle
from .parameters import (
    benchmark,
    benchmarks,
    iid_nuisance_parameters,
    morphing_point,
    morphing_points,
    nominal_nuisance_parameters,
    random_morphing_points,
)
from .sampleaugmenter import SampleAugmenter

__all__ = [
    "SampleAugmenter",
    "benchmark",
    "benchmarks",
    "combine_and_shuffle",
    "iid_nuisance_parameters",
    "morphing_point",
    "morphing_points",
    "nominal_nuisance_parameters",
    "random_morphing_points",
]
