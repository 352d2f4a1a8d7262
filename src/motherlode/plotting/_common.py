"""Helpers shared by the distribution and uncertainty plots: options, toys and streamed histograms.

The plots of :mod:`motherlode.plotting.distributions` and :mod:`motherlode.plotting.uncertainties`
histogram one or more observables of an events file at several parameter points, each with many
nuisance-parameter toys. Everything physical comes from the package: the events and their
benchmark weights from :meth:`motherlode.analysis.DataAnalyzer.event_loader`, the weights at every
``(theta, nu)`` from :class:`motherlode.weights.ParameterPoints` (one matrix product per batch for
all points and toys together), the bin sums from :class:`motherlode.histograms.BinnedWeights` (one
weight column per point and toy). Files are streamed in batches, so memory is bounded by the
histograms and one batch, whatever the number of events.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import is_color_like

from ..analysis import DataAnalyzer
from ..errors import InputError, SetupError
from ..histograms import BinnedWeights
from ..weights import ParameterPoints
from ._arguments import check_count

__all__ = [
    "band",
    "binned_sums",
    "closest_sample",
    "densities",
    "event_range",
    "filled_band",
    "legend_layout",
    "nuisance_toys",
    "observable_index",
    "per_item",
    "point_labels",
    "stairs",
    "toy_points",
]

logger = logging.getLogger(__name__)

#: Entries ``events x weight columns x (nuisance parameters + 1)`` computed at once per batch.
_ELEMENTS_PER_BATCH = 8_000_000
_MIN_BATCH = 256


# ---------------------------------------------------------------------- arguments


def _is_single(value: Any, kind: str) -> bool:
    if kind == "color":
        return isinstance(value, str) or (isinstance(value, tuple) and is_color_like(value))
    if kind == "linestyle":
        return isinstance(value, str) or (
            isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], numbers.Number)
        )
    if kind == "number":
        return isinstance(value, numbers.Number)
    return isinstance(value, str) or value is None


def per_item(value: Any, n: int, name: str, kind: str, what: str) -> list[Any]:
    """One entry per item: a single value repeated, or a sequence with at least ``n`` entries.

    ``kind`` ("color", "linestyle", "number" or "label") says what counts as a single value. A
    shorter sequence raises :class:`InputError` naming ``name``; extra entries are ignored (as in
    MadMiner, whose plots zip them away).
    """
    if _is_single(value, kind):
        return [value] * n
    try:
        items = list(value)
    except TypeError:
        raise InputError(f"{name} must be a single value or one per {what}, got {value!r}") from None
    if len(items) < n:
        raise InputError(f"{name} has {len(items)} entries, expected one per {what} ({n})")
    if len(items) > n:
        logger.debug("%s: using the first %d of %d entries", name, n, len(items))
    return items[:n]


def observable_index(analyzer: DataAnalyzer, observable: Any, name: str = "observable") -> int:
    """The column of an observable given by name, with an :class:`InputError` listing the names."""
    names = list(analyzer.observables)
    if not isinstance(observable, str) or observable not in names:
        raise InputError(
            f"{name}: unknown observable {observable!r} in {analyzer.madminer_filename}; "
            f"observables: {', '.join(names)}"
        )
    return names.index(observable)


def point_labels(analyzer: DataAnalyzer, points: ParameterPoints) -> list[str]:
    """Legend labels of parameter points: the benchmark name, or ``name = value`` of each parameter."""
    labels = []
    names = points.names
    assert names is not None  # ParameterPoints fills in the names
    for name, values in zip(names, points.values, strict=True):
        if name is not None:
            labels.append(str(name))
        else:
            labels.append(
                ", ".join(f"{p} = {v:.3g}" for p, v in zip(analyzer.parameters, values, strict=True))
            )
    return labels


# ---------------------------------------------------------------------- events


def event_range(analyzer: DataAnalyzer, n_events: Any) -> tuple[int, float]:
    """The events used for ``n_events``: the first ``n`` of the file, and the factor ``N / n`` that
    keeps the sums estimates of the cross sections of the whole file (events files are shuffled)."""
    total = analyzer.n_samples
    if total == 0:
        raise InputError(f"{analyzer.madminer_filename} has no events")
    if n_events is None:
        return total, 1.0
    n = check_count(n_events, "n_events")
    if n >= total:
        return total, 1.0
    return n, total / n


def closest_sample(analyzer: DataAnalyzer, theta: np.ndarray) -> int:
    """The benchmark whose sample ``event_loader(generated_close_to=theta)`` takes (for grouping
    points that use the same events; the selection itself is always the analyzer's)."""
    values = analyzer.weight_model.benchmark_values[: analyzer.n_benchmarks_phys]
    distances = np.linalg.norm(values - np.asarray(theta, dtype=np.float64).reshape(1, -1), axis=1)
    counts = analyzer.n_events_generated_per_benchmark
    if counts is not None and len(counts) == len(distances):
        distances = np.where(counts > 0, distances, np.inf)
    return int(np.argmin(distances))


def binned_sums(
    analyzer: DataAnalyzer,
    points: ParameterPoints,
    observables: Sequence[int],
    edges: Sequence[np.ndarray],
    *,
    end: int,
    scale: float = 1.0,
    generated_close_to: np.ndarray | None = None,
    batch_size: int = 100_000,
) -> list[np.ndarray]:
    """Sums of the weights at every point in the bins of each observable, streamed.

    Parameters
    ----------
    analyzer : DataAnalyzer
        The events file.
    points : ParameterPoints
        ``C`` parameter points (nuisance toys included as points with their ``nu``).
    observables : sequence of int
        Columns of the observables to histogram.
    edges : sequence of ndarray
        The bin edges of each observable (NumPy's convention: bins closed on the left, the last
        one also on the right; values outside, and NaN, are not counted).
    end : int
        Events ``0 .. end - 1`` of the file are used.
    scale : float, optional
        Factor applied to the sums (``N / end`` for a part of the file).
    generated_close_to : ndarray or None, optional
        Only events generated at the benchmark closest to this point, and backgrounds (unscaled).
    batch_size : int, optional
        At most this many events in memory at once (fewer with many points).

    Returns
    -------
    list of ndarray
        One array ``(n_bins, C)`` per observable.
    """
    n_columns = len(points)
    width = n_columns * (points.n_nuisance_parameters + 1)
    batch = max(_MIN_BATCH, min(int(batch_size), _ELEMENTS_PER_BATCH // max(1, width)))
    histograms = [
        BinnedWeights(np.asarray(e, dtype=np.float64), n_weights=n_columns, closed="left") for e in edges
    ]
    for x, benchmark_weights in analyzer.event_loader(0, end, batch, generated_close_to=generated_close_to):
        if len(x) == 0:
            continue
        # every point and toy at once: one matrix product, one exponent of the nuisance model
        weights = np.ascontiguousarray(points.weights(benchmark_weights).T)  # (n, C)
        for histogram, column, e in zip(histograms, observables, edges, strict=True):
            values = x[:, column]
            # NumPy's last bin is closed on the right: a value on the upper edge belongs to it
            values = np.where(values == e[-1], np.nextafter(e[-1], -np.inf), values)
            histogram.fill(values, weights)
    return [histogram.sums[1:-1] * scale for histogram in histograms]


# ---------------------------------------------------------------------- toys


def nuisance_toys(
    analyzer: DataAnalyzer, n_toys: int, active: Sequence[np.ndarray], rng: np.random.Generator
) -> np.ndarray:
    """Toy nuisance parameters, standard normal, shape ``(len(active), n_toys, K)``.

    ``active[g]`` is a boolean mask ``(K,)`` of the nuisance parameters varied in group ``g``;
    the others stay at 0 (MadMiner draws all and sets the others to 0, the same distribution).
    """
    k = analyzer.n_nuisance_parameters
    toys = rng.standard_normal((len(active), n_toys, k))
    return toys * np.asarray(active, dtype=np.float64)[:, None, :]


def toy_points(central: ParameterPoints, toys: np.ndarray) -> ParameterPoints:
    """The central points (nominal nu) followed by every point with every toy.

    ``toys`` ``(T, K)``: column ``J + j T + t`` is point ``j`` at toy ``t``, the same toys for
    every point (as MadMiner).
    """
    j, t = len(central), len(toys)
    if central.nuisance_morpher is None:
        raise SetupError("nuisance toys need nuisance parameters; the file has none")
    index = np.concatenate([np.arange(j), np.repeat(np.arange(j), t)])
    nus = np.concatenate([np.zeros((j, toys.shape[1])), np.tile(toys, (j, 1))])
    return central.take(index).with_nus(nus)


# ---------------------------------------------------------------------- presentation


def densities(sums: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Histograms ``(n_bins, ...)`` as densities over the plotted range (NumPy's ``density=True``):
    each column divided by its total and by the bin widths. Columns summing to 0 stay 0."""
    totals = sums.sum(axis=0, keepdims=True)
    widths = np.diff(edges).reshape((-1,) + (1,) * (sums.ndim - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(totals != 0.0, sums / (np.where(totals != 0.0, totals, 1.0) * widths), 0.0)


def band(toys: np.ndarray, lower: float, upper: float) -> tuple[np.ndarray, np.ndarray]:
    """The ``lower`` and ``upper`` percentiles of toy histograms ``(T, n_bins)`` bin by bin."""
    low, high = np.percentile(toys, [lower, upper], axis=0)
    return low, high


def stairs(ax: Axes, values: np.ndarray, edges: np.ndarray, **kwargs: Any) -> Any:
    """A histogram as a step line (a :class:`matplotlib.patches.StepPatch`)."""
    return ax.stairs(values, edges, **kwargs)


def filled_band(ax: Axes, low: np.ndarray, high: np.ndarray, edges: np.ndarray, **kwargs: Any) -> Any:
    """A band between two histograms, bin by bin (a filled :class:`~matplotlib.patches.StepPatch`)."""
    return ax.stairs(high, edges, baseline=low, fill=True, linewidth=0.0, **kwargs)


LegendCorner = Literal["upper left", "upper right"]
"""Where :func:`legend_layout` puts a legend."""


def legend_layout(shown: Sequence[np.ndarray], n_rows: int) -> tuple[LegendCorner, float]:
    """Where a legend of ``n_rows`` rows (title included) goes in a panel of histograms, and the
    factor by which the y axis must extend above the highest content to keep it off the data.

    ``shown`` are the drawn histograms, each ``(n_bins, ...)``. The legend goes to the upper corner
    above the lower side of the histograms (right unless the right is higher).
    """
    n_bins = len(shown[0])
    peaks = np.max([np.nanmax(np.reshape(h, (n_bins, -1)), axis=1) for h in shown if np.size(h)], axis=0)
    k = max(1, int(0.4 * n_bins))
    location: LegendCorner = "upper left" if peaks[-k:].max() > peaks[:k].max() else "upper right"
    return location, max(1.2, 1.15 + 0.1 * n_rows)
