"""Specifications of parameter points for :class:`~motherlode.sampling.SampleAugmenter`.

Each function returns a ``(kind, value)`` tuple, as in MadMiner, that the ``sample_*`` methods
and ``cross_sections`` turn into parameter points.

>>> benchmark("sm")
('benchmark', 'sm')
>>> random_morphing_points(100, [("gaussian", 0.0, 1.0), ("flat", -1.0, 1.0)])[0]
'random_morphing_points'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError

__all__ = [
    "benchmark",
    "benchmarks",
    "iid_nuisance_parameters",
    "morphing_point",
    "morphing_points",
    "nominal_nuisance_parameters",
    "random_morphing_points",
]

_PRIOR_SHAPES = ("flat", "gaussian")


def benchmark(benchmark_name: str) -> tuple[str, str]:
    """A single benchmark, by name."""
    return "benchmark", benchmark_name


def benchmarks(benchmark_names: Sequence[str]) -> tuple[str, list[str]]:
    """Several benchmarks, by name; the samples are shared equally among them."""
    return "benchmarks", list(benchmark_names)


def morphing_point(theta: Sequence[float] | np.ndarray) -> tuple[str, np.ndarray]:
    """A single parameter point (needs a morphing setup)."""
    return "morphing_point", np.asarray(theta, dtype=np.float64)


def morphing_points(thetas: Sequence[Sequence[float]] | np.ndarray) -> tuple[str, np.ndarray]:
    """Several parameter points, shape ``(n_thetas, n_parameters)``; samples are shared equally."""
    return "morphing_points", np.atleast_2d(np.asarray(thetas, dtype=np.float64))


def _check_prior(prior: Any, what: str) -> tuple[str, float, float]:
    try:
        shape, first, second = prior
    except (TypeError, ValueError):
        raise InputError(f"{what}: expected a tuple (shape, param0, param1), got {prior!r}") from None
    if shape not in _PRIOR_SHAPES:
        raise InputError(f"{what}: unknown prior shape {shape!r}; expected 'flat' or 'gaussian'")
    return shape, float(first), float(second)


def random_morphing_points(
    n_thetas: int | None, priors: Sequence[Any]
) -> tuple[str, tuple[int | None, list]]:
    """``n_thetas`` parameter points drawn from ``priors`` (one ``(shape, param0, param1)`` per parameter:
    ``("flat", low, high)`` or ``("gaussian", mean, std)``). ``n_thetas=None`` (or more than the
    number of samples) gives one point per sample."""
    checked = [_check_prior(prior, f"prior of parameter {i}") for i, prior in enumerate(priors)]
    return "random_morphing_points", (None if n_thetas is None else int(n_thetas), checked)


def iid_nuisance_parameters(
    shape: str = "gaussian", param0: float = 0.0, param1: float = 1.0
) -> tuple[str, tuple]:
    """Nuisance parameters drawn independently for each parameter point from one prior."""
    return "iid", _check_prior((shape, param0, param1), "iid_nuisance_parameters")


def nominal_nuisance_parameters() -> tuple[str, None]:
    """Nuisance parameters at their nominal values (0)."""
    return "nominal", None


def draw_from_priors(
    priors: Sequence[tuple[str, float, float]], n: int, rng: np.random.Generator
) -> np.ndarray:
    """Draw ``n`` points from independent per-parameter priors, shape ``(n, len(priors))``."""
    columns = []
    for shape, first, second in priors:
        if shape == "flat":
            columns.append(rng.uniform(first, second, size=n))
        else:
            columns.append(rng.normal(first, second, size=n))
    return np.stack(columns, axis=1) if columns else np.zeros((n, 0))
