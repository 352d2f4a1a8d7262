"""``madminer.plotting.distributions``: histograms of observables at parameter points, and of limits.

:func:`plot_distributions` draws one panel per observable of an events file with the distribution
at each parameter point (benchmarks by name, or any point of a morphing setup) and, optionally, the
spread of nuisance-parameter toys as a band (and some toys as thin lines). :func:`plot_histograms`
draws the likelihood histograms that :meth:`motherlode.limits.AsymptoticLimits.expected_limits`
returns (``return_histos=True``), one- or two-dimensional, with observed events on top.

Nothing physical is computed here: the weights at every parameter point and nuisance toy come from
the weights engine (:class:`motherlode.weights.ParameterPoints`, all points and toys in one matrix
product per batch), the bin sums from :class:`motherlode.histograms.BinnedWeights`, and the file is
streamed in batches. See docs/differences.md for where this differs from MadMiner.
"""

from __future__ import annotations

import logging
import numbers
import os
from collections.abc import Sequence
from typing import Any

import matplotlib.colors
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..analysis import DataAnalyzer
from ..errors import InputError, SetupError
from ..histograms import bin_volumes, cell_indices
from ..utils.various import weighted_quantile
from ..weights import ParameterPoints
from ._arguments import check_count, check_range
from ._common import (
    LegendCorner,
    band,
    binned_sums,
    closest_sample,
    densities,
    event_range,
    filled_band,
    legend_layout,
    nuisance_toys,
    observable_index,
    per_item,
    point_labels,
    stairs,
    toy_points,
)
from ._style import line_colors, new_figure, plot_style

__all__ = ["plot_distributions", "plot_histograms"]

logger = logging.getLogger(__name__)

_DEFAULT_LINESTYLES = ("solid", "dashed", "dotted", "dashdot")
_N_EVENTS_FOR_RANGE = 10_000  # events from which the plotted range is found (MadMiner's number)
_BAND_PERCENTILES = (16.0, 84.0)  # the 68 % central interval of the toys, as MadMiner
_BAND_TITLE = "Bands: 68% of the nuisance toys"


def plot_distributions(
    filename: str | os.PathLike[str],
    observables: Sequence[str] | str | None = None,
    parameter_points: Sequence[Any] | None = None,
    uncertainties: str = "nuisance",
    nuisance_parameters: Sequence[int] | None = None,
    draw_nuisance_toys: int | None = None,
    normalize: bool = False,
    log: bool = False,
    observable_labels: Sequence[str | None] | None = None,
    n_bins: int = 50,
    line_labels: Sequence[str | None] | None = None,
    colors: Any = None,
    linestyles: Any = None,
    linewidths: float | Sequence[float] = 1.5,
    toy_linewidths: float | Sequence[float] | None = 0.5,
    alpha: float = 0.15,
    toy_alpha: float = 0.75,
    n_events: int | None = None,
    n_toys: int = 100,
    n_cols: int = 3,
    quantiles_for_range: tuple[float, float] = (0.025, 0.975),
    sample_only_from_closest_benchmark: bool = True,
    *,
    random_state: int | np.random.Generator | None = None,
    batch_size: int = 100_000,
) -> Figure:
    """Plots one-dimensional histograms of observables in a MadMiner file for a given set of benchmarks.

    One panel per observable, one line per parameter point: the cross section per bin (or the
    normalised distribution). With ``uncertainties="nuisance"``, a band per point shows the 68 %
    central interval (16th to 84th percentile, bin by bin) of ``n_toys`` histograms at nuisance
    parameters drawn from independent standard normals (the nuisance model of
    :class:`motherlode.morphing.NuisanceMorpher`), and ``draw_nuisance_toys`` of them are drawn
    as thin lines.

    Parameters
    ----------
    filename : str or path-like
        Filename of a MadMiner HDF5 file.
    observables : list of str or None, optional
        Which observables to plot, given by a list of their names. If None, all observables in the
        file are plotted. Default value: None.
    parameter_points : list of (str or ndarray) or None, optional
        Which parameter points to use for histogramming the data. Given by a list, each element can
        either be the name of a benchmark in the MadMiner file, or an ndarray specifying any
        parameter point in a morphing setup. If None, all physics (non-nuisance) benchmarks defined
        in the MadMiner file are plotted. Default value: None.
    uncertainties : {"nuisance", "none"}, optional
        Defines how uncertainty bands are drawn. With "nuisance", the band is the spread of
        histograms at random nuisance parameters (toys). With "none", no error bands are drawn.
        Default value: "nuisance".
    nuisance_parameters : None or list of int, optional
        If uncertainties is "nuisance", this can restrict which nuisance parameters are used to
        draw the uncertainty bands. Each entry of this list is the index of one nuisance parameter
        (same order as in the MadMiner file). Default value: None (all).
    draw_nuisance_toys : None or int, optional
        If not None and uncertainties is "nuisance", sets the number of nuisance toy distributions
        that are drawn (in addition to the error bands); at most ``n_toys``.
    normalize : bool, optional
        Whether the distributions are normalised to unit area over the plotted range (each toy
        too). Default value: False (cross section per bin, in pb).
    log : bool, optional
        Whether to draw the y axes on a logarithmic scale. Default value: False.
    observable_labels : None or list of (str or None), optional
        x-axis labels naming the observables. If None (or for None entries), the observable names
        from the MadMiner file are used. Default value: None.
    n_bins : int, optional
        Number of histogram bins. Default value: 50.
    line_labels : None or list of (str or None), optional
        Labels for the different parameter points (None: no legend entry). If None, benchmark
        names, or ``parameter = value`` for other points. Default value: None.
    colors : None or str or list of str, optional
        Matplotlib line (and error band) colors for the distributions. If None, uses the default
        palette. Default value: None.
    linestyles : None or str or list of str, optional
        Matplotlib line styles for the distributions. If None, cycles through solid, dashed,
        dotted and dash-dotted lines. Default value: None.
    linewidths : float or list of float, optional
        Line widths of the distributions. Default value: 1.5.
    toy_linewidths : float or list of float or None, optional
        Line widths for the toy replicas, if uncertainties is "nuisance" and draw_nuisance_toys is
        not None. If None, linewidths is used. Default value: 0.5.
    alpha : float, optional
        alpha value for the uncertainty bands. Default value: 0.15.
    toy_alpha : float, optional
        alpha value for the toy replicas. Default value: 0.75.
    n_events : None or int, optional
        If not None, only the first ``n_events`` events of the file are analysed (events files are
        shuffled), and their weights are scaled by ``n_file / n_events`` so that the histograms
        still estimate the cross sections. Default value: None.
    n_toys : int, optional
        Number of toy nuisance parameter vectors used to estimate the systematic uncertainties.
        Default value: 100.
    n_cols : int, optional
        Number of columns of subfigures in the plot. Default value: 3.
    quantiles_for_range : tuple of two float, optional
        Tuple ``(min_quantile, max_quantile)`` that defines the observable range of each panel:
        the union over the parameter points of these weighted quantiles (of the first 10000
        events), widened by 10 % of their distance on each side and kept within the values of
        those events. Default: (0.025, 0.975).
    sample_only_from_closest_benchmark : bool, optional
        If True, the histograms of each parameter point (and its toys) use only the events
        generated at the benchmark closest to it, and background events. Default value: True.
    random_state : int or numpy.random.Generator or None, optional
        Seed of the nuisance toys (addition). Default value: None.
    batch_size : int, optional
        Events in memory at once, at most (addition; fewer with many points and toys). Default
        value: 100000.

    Returns
    -------
    figure : Figure
        Plot as Matplotlib Figure instance.

    Raises
    ------
    InputError
        For unknown observables or benchmarks, parameter points of the wrong dimension, options
        with fewer entries than points or observables, or out-of-range values.
    SetupError
        For ``uncertainties="nuisance"`` on a file without nuisance parameters.
    """
    analyzer = DataAnalyzer(filename)

    # ---- arguments
    if uncertainties not in ("nuisance", "none"):
        raise InputError(f"uncertainties must be 'nuisance' or 'none', got {uncertainties!r}")
    with_toys = uncertainties == "nuisance"
    if with_toys and analyzer.n_nuisance_parameters == 0:
        raise SetupError(
            f"cannot draw systematic uncertainties: {analyzer.madminer_filename} has no nuisance "
            "parameters; use uncertainties='none'"
        )
    if parameter_points is None:
        parameter_points = [
            name
            for name, is_nuisance in zip(analyzer.benchmarks, analyzer.benchmark_nuisance_flags, strict=True)
            if not is_nuisance
        ]
    elif isinstance(parameter_points, str):
        parameter_points = [parameter_points]
    points = analyzer.parameter_points(parameter_points)
    n_points = len(points)

    if observables is None:
        columns = list(range(analyzer.n_observables))
    else:
        if isinstance(observables, str):
            observables = [observables]
        columns = [observable_index(analyzer, o, "observables") for o in observables]
    if not columns:
        raise InputError("observables is empty: nothing to plot")
    names = list(analyzer.observables)
    xlabels = [names[c] for c in columns]
    if observable_labels is not None:
        given = per_item(observable_labels, len(columns), "observable_labels", "label", "observable")
        xlabels = [default if label is None else label for label, default in zip(given, xlabels, strict=True)]

    labels = point_labels(analyzer, points)
    if line_labels is not None:
        labels = per_item(line_labels, n_points, "line_labels", "label", "parameter point")
    colors = (
        line_colors(n_points)
        if colors is None
        else per_item(colors, n_points, "colors", "color", "parameter point")
    )
    if linestyles is None:
        linestyles = [_DEFAULT_LINESTYLES[i % len(_DEFAULT_LINESTYLES)] for i in range(n_points)]
    else:
        linestyles = per_item(linestyles, n_points, "linestyles", "linestyle", "parameter point")
    linewidths = per_item(linewidths, n_points, "linewidths", "number", "parameter point")
    toy_linewidths = (
        linewidths
        if toy_linewidths is None
        else per_item(toy_linewidths, n_points, "toy_linewidths", "number", "parameter point")
    )
    n_bins = check_count(n_bins, "n_bins")
    q_low, q_high = check_range(quantiles_for_range, "quantiles_for_range")
    if not 0.0 <= q_low < q_high <= 1.0:
        raise InputError(f"quantiles_for_range must be within [0, 1], got {quantiles_for_range!r}")
    end, scale = event_range(analyzer, n_events)

    n_toys = check_count(n_toys, "n_toys") if with_toys else 0
    n_drawn = 0
    if with_toys and draw_nuisance_toys is not None:
        if (
            not isinstance(draw_nuisance_toys, numbers.Integral)
            or isinstance(draw_nuisance_toys, bool)
            or draw_nuisance_toys < 0
        ):
            raise InputError(f"draw_nuisance_toys must be None or an int >= 0, got {draw_nuisance_toys!r}")
        if draw_nuisance_toys > n_toys:
            raise InputError(f"draw_nuisance_toys = {draw_nuisance_toys} exceeds n_toys = {n_toys}")
        n_drawn = int(draw_nuisance_toys)
    toys = None
    if with_toys:
        active = _active_nuisance_parameters(nuisance_parameters, analyzer.n_nuisance_parameters)
        toys = nuisance_toys(analyzer, n_toys, [active], np.random.default_rng(random_state))[0]

    # ---- ranges, then the histograms of every point and toy
    edges = _ranges(analyzer, points, columns, end, (q_low, q_high), n_bins)
    central, toy_sums = _histograms(
        analyzer, points, columns, edges, toys, end, scale, sample_only_from_closest_benchmark, batch_size
    )
    if normalize:
        central = [densities(c, e) for c, e in zip(central, edges, strict=True)]
        toy_sums = [densities(t, e) for t, e in zip(toy_sums, edges, strict=True)]

    # ---- drawing
    with plot_style():
        fig, axes = new_figure(len(columns), n_cols=check_count(n_cols, "n_cols"))
        handles: list[Any] = []
        panels_shown: list[list[np.ndarray]] = []
        for i, (ax, e, xlabel) in enumerate(zip(axes, edges, xlabels, strict=True)):
            panel_handles = []
            shown = [central[i]]
            for j in range(n_points):
                style = {"color": colors[j], "linestyle": linestyles[j]}
                patch = None
                if with_toys:
                    low, high = band(np.moveaxis(toy_sums[i][:, j, :], -1, 0), *_BAND_PERCENTILES)
                    patch = filled_band(ax, low, high, e, color=colors[j], alpha=alpha)
                    shown += [low, high, toy_sums[i][:, j, :n_drawn]]
                    for k in range(n_drawn):
                        stairs(
                            ax, toy_sums[i][:, j, k], e, linewidth=toy_linewidths[j], alpha=toy_alpha, **style
                        )
                line = stairs(ax, central[i][:, j], e, linewidth=linewidths[j], label=labels[j], **style)
                panel_handles.append(line if patch is None else (patch, line))
            if i == 0:
                handles = panel_handles
            ax.set_xlim(e[0], e[-1])
            ax.set_xlabel(xlabel)
            ax.set_ylabel(
                r"Normalized distribution $(1/\sigma)\,d\sigma/dx$"
                if normalize
                else "Cross section per bin [pb]"
            )
            panels_shown.append(shown)
        entries = [(h, label) for h, label in zip(handles, labels, strict=True) if label is not None]
        single = len(axes) == 1
        location, headroom = legend_layout(panels_shown[0], len(entries) + with_toys)
        for ax, shown in zip(axes, panels_shown, strict=True):
            _y_scale(ax, log, shown, headroom if single and entries else 1.1)
        if entries:
            _legend(fig, axes, entries, with_toys, location)
    return fig


def _histograms(
    analyzer: DataAnalyzer,
    points: ParameterPoints,
    columns: list[int],
    edges: list[np.ndarray],
    toys: np.ndarray | None,
    end: int,
    scale: float,
    sample_only_from_closest_benchmark: bool,
    batch_size: int,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Cross sections per bin of every point ``(n_bins, J)`` and of every nuisance toy ``(n_bins, J, T)``,
    per observable: one streamed pass per group of points sharing the closest sample (or one pass)."""
    n_points, n_bins = len(points), len(edges[0]) - 1
    n_toys = 0 if toys is None else len(toys)
    if sample_only_from_closest_benchmark:
        groups: dict[int, list[int]] = {}
        for j, theta in enumerate(points.values):
            groups.setdefault(closest_sample(analyzer, theta), []).append(j)
        selections = [(np.asarray(group), points.values[group[0]]) for group in groups.values()]
    else:
        selections = [(np.arange(n_points), None)]
    central = [np.zeros((n_bins, n_points)) for _ in columns]
    toy_sums = [np.zeros((n_bins, n_points, n_toys)) for _ in columns]
    for group, close_to in selections:
        group_points = points.take(group)
        if toys is not None:
            group_points = toy_points(group_points, toys)
        sums = binned_sums(
            analyzer, group_points, columns, edges, end=end, scale=scale, generated_close_to=close_to,
            batch_size=batch_size,
        )  # fmt: skip
        for i, s in enumerate(sums):
            central[i][:, group] = s[:, : len(group)]
            if toys is not None:
                toy_sums[i][:, group, :] = s[:, len(group) :].reshape(n_bins, len(group), n_toys)
    return central, toy_sums


def _active_nuisance_parameters(nuisance_parameters: Any, n_nuisance: int) -> np.ndarray:
    """Mask of the nuisance parameters varied in the toys."""
    if nuisance_parameters is None:
        return np.ones(n_nuisance, dtype=bool)
    active = np.zeros(n_nuisance, dtype=bool)
    try:
        indices = list(nuisance_parameters)
    except TypeError:
        raise InputError(
            f"nuisance_parameters must be None or a list of indices, got {nuisance_parameters!r}"
        ) from None
    for index in indices:
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or not 0 <= index < n_nuisance:
            raise InputError(
                f"nuisance_parameters: {index!r} is not the index of a nuisance parameter "
                f"(0 .. {n_nuisance - 1})"
            )
        active[index] = True
    return active


def _ranges(
    analyzer: DataAnalyzer,
    points: Any,
    columns: list[int],
    end: int,
    quantiles: tuple[float, float],
    n_bins: int,
) -> list[np.ndarray]:
    """Bin edges per observable from the weighted quantiles of the first events (MadMiner's rule)."""
    pilot = next(iter(analyzer.event_loader(0, min(end, _N_EVENTS_FOR_RANGE), batch_size=None)), None)
    if pilot is None or len(pilot[0]) == 0:
        raise InputError(f"{analyzer.madminer_filename} has no events to plot")
    x, benchmark_weights = pilot
    weights = np.maximum(points.weights(benchmark_weights), 0.0)  # (J, n): ranges from positive weights
    names = list(analyzer.observables)
    edges = []
    for column in columns:
        values = x[:, column]
        finite = np.isfinite(values)
        if not finite.any():
            raise InputError(
                f"observable {names[column]!r} has no finite values in {analyzer.madminer_filename}"
            )
        lows, highs = [], []
        for w in weights:
            w = w[finite]
            if w.sum() <= 0.0:
                continue
            lo, hi = np.asarray(weighted_quantile(values[finite], list(quantiles), w))
            lows.append(lo - 0.1 * (hi - lo))
            highs.append(hi + 0.1 * (hi - lo))
        data_lo, data_hi = float(values[finite].min()), float(values[finite].max())
        lo = max(min(lows, default=data_lo), data_lo)
        hi = min(max(highs, default=data_hi), data_hi)
        if not hi > lo:  # one value only
            lo, hi = lo - 0.5, hi + 0.5
        edges.append(np.linspace(lo, hi, n_bins + 1))
    return edges


def _y_scale(ax: Axes, log: bool, histograms: list[np.ndarray], headroom: float) -> None:
    """Linear axes start at 0 (below only for negative contents) and end ``headroom`` times above the
    highest content; log axes span the positive contents, with as much room in decades."""
    values = np.concatenate([h.ravel() for h in histograms])
    values = values[np.isfinite(values)]
    if log:
        ax.set_yscale("log")
        positive = values[values > 0.0]
        if positive.size:
            top = positive.max()
            bottom = max(positive.min(), top * 1.0e-6)
            decades = np.log10(top / bottom) + 0.3
            ax.set_ylim(bottom / 2.0, top * 10.0 ** ((headroom - 1.0) * decades))
        return
    top = values.max(initial=0.0)
    bottom = min(0.0, values.min(initial=0.0))
    ax.set_ylim(bottom, top * headroom if top > 0 else 1.0)


def _legend(
    fig: Figure, axes: list[Axes], entries: list[tuple[Any, str]], with_bands: bool, location: LegendCorner
) -> None:
    """In the panel of a single-panel figure, else above the panels (never on the data)."""
    handles, labels = zip(*entries, strict=True)
    if len(axes) == 1:
        axes[0].legend(handles, labels, loc=location, title=_BAND_TITLE if with_bands else None)
        return
    if fig.get_layout_engine() is None:
        fig.set_layout_engine("constrained")
    fig.legend(
        handles,
        labels,
        loc="outside upper center",
        ncols=min(len(handles), 6),
        title=_BAND_TITLE if with_bands else None,
    )


# ---------------------------------------------------------------------- histograms of limits


def plot_histograms(
    histos: Sequence[Any],
    observed: Any = None,
    observed_weights: Any = None,
    xrange: tuple[float, float] | None = None,
    yrange: tuple[float, float] | None = None,
    zrange: tuple[float, float] | None = None,
    log: bool = False,
    histo_labels: Sequence[str | None] | None = None,
    observed_label: str = "Data",
    xlabel: str | None = None,
    ylabel: str | None = None,
    zlabel: str | None = None,
    colors: Any = None,
    linestyles: Any = None,
    linewidths: float | Sequence[float] = 1.5,
    markercolor: Any = "black",
    markersize: float = 20.0,
    cmap: Any = "viridis",
    n_cols: int = 2,
    *,
    ax: Axes | None = None,
) -> Figure:
    """Plots the likelihood histograms of limits (one- or two-dimensional), with observed events.

    The histograms are those of
    :meth:`motherlode.limits.AsymptoticLimits.expected_limits` with ``return_histos=True`` (or any
    :class:`motherlode.utils.histo.Histo`): probability densities over bins (``edges``,
    ``histo``). One-dimensional histograms are drawn as step lines in one panel; the observed
    events as points with statistical error bars, histogrammed in the same bins and normalised the
    same way (events outside the edges count in the outer bins, as the likelihood counts them).
    Two-dimensional histograms get one colour-map panel each, on a common colour scale, with the
    observed events as a scatter (marker areas proportional to their weights).

    Parameters
    ----------
    histos : list of Histo
        The histograms, all one- or all two-dimensional.
    observed : ndarray or list of ndarray or None, optional
        Observed events: for 1-D histograms their values ``(n,)`` (or ``(n, 1)``); for 2-D ones
        ``(n, 2)``, the same for every panel, or a list with one such array (or None) per
        histogram. Default value: None.
    observed_weights : ndarray or None, optional
        Weights of the observed events, ``(n,)``. Default value: None (each event counts once).
    xrange, yrange : tuple of two float or None, optional
        Axis ranges. For 1-D histograms ``yrange`` is the range of the density axis (default from
        0). Default value: None.
    zrange : tuple of two float or None, optional
        Colour range of 2-D histograms. Default value: None (the range of all histograms; with
        ``log``, from their smallest positive value).
    log : bool, optional
        Logarithmic density axis (1-D) or colour scale (2-D). Default value: False.
    histo_labels : None or list of (str or None), optional
        Legend labels (1-D) or panel titles (2-D). Default value: None ("Histogram 1", ...).
    observed_label : str, optional
        Legend label of the observed events. Default value: "Data".
    xlabel, ylabel, zlabel : str or None, optional
        Axis labels; ``ylabel`` (1-D) and ``zlabel`` (2-D, the colour bar) default to
        "Likelihood" (a probability density).
    colors : None or str or list of str, optional
        Line colours of 1-D histograms. Default value: None (the default palette).
    linestyles : None or str or list of str, optional
        Line styles of 1-D histograms. Default value: None (solid).
    linewidths : float or list of float, optional
        Line widths of 1-D histograms. Default value: 1.5.
    markercolor : str, optional
        Colour of the observed events. Default value: "black".
    markersize : float, optional
        Marker area of the observed events in points^2 (as ``matplotlib.pyplot.scatter``).
        Default value: 20.0.
    cmap : str or Colormap, optional
        Colour map of 2-D histograms. Default value: "viridis".
    n_cols : int, optional
        Number of columns of panels (2-D). Default value: 2.
    ax : matplotlib.axes.Axes or None, optional
        Axes to draw into (addition): 1-D histograms, or a single 2-D histogram. Default value: None.

    Returns
    -------
    figure : Figure
        Plot as Matplotlib Figure instance.

    Raises
    ------
    InputError
        For no histograms, histograms that are not 1-D or 2-D (or of mixed dimensions), observed
        events or weights of the wrong shape, options with fewer entries than histograms, or bad
        ranges.

    Examples
    --------
    >>> import numpy as np
    >>> from motherlode.utils.histo import Histo
    >>> rng = np.random.default_rng(0)
    >>> histos = [Histo(rng.normal(mu, 1.0, size=1000), bins=[np.linspace(-3.0, 4.0, 15)]) for mu in (0, 1)]
    >>> fig = plot_histograms(histos, observed=rng.normal(0.5, 1.0, size=50), xlabel="x")
    >>> ax = fig.axes[0]
    >>> [text.get_text() for text in ax.get_legend().get_texts()], ax.get_ylabel()
    (['Histogram 1', 'Histogram 2', 'Data'], 'Likelihood')
    """
    histos = list(histos) if histos is not None else []
    if not histos:
        raise InputError("histos is empty: nothing to plot")
    for i, histo in enumerate(histos):
        if not hasattr(histo, "edges") or not hasattr(histo, "histo"):
            raise InputError(
                f"histos[{i}] is not a histogram (needs edges and histo), got {type(histo).__name__}"
            )
    dims = {len(h.edges) for h in histos}
    if len(dims) != 1 or not dims <= {1, 2}:
        raise InputError(
            f"histos must all be one- or all two-dimensional, got dimensions {[len(h.edges) for h in histos]}"
        )
    dim = dims.pop()
    n_histos = len(histos)
    labels = (
        [f"Histogram {i + 1}" for i in range(n_histos)]
        if histo_labels is None
        else per_item(histo_labels, n_histos, "histo_labels", "label", "histogram")
    )
    ranges = {
        name: None if value is None else check_range(value, name)
        for name, value in (("xrange", xrange), ("yrange", yrange), ("zrange", zrange))
    }
    with plot_style():
        if dim == 1:
            fig = _plot_histograms_1d(
                histos, labels, observed, observed_weights, ranges, log, observed_label, xlabel, ylabel,
                colors, linestyles, linewidths, markercolor, markersize, ax,
            )  # fmt: skip
        else:
            fig = _plot_histograms_2d(
                histos, labels, observed, observed_weights, ranges, log, observed_label, xlabel, ylabel,
                zlabel, markercolor, markersize, cmap, check_count(n_cols, "n_cols"), ax,
            )  # fmt: skip
    return fig


def _check_weights(weights: np.ndarray | None, n: int) -> None:
    if weights is not None and weights.shape != (n,):
        raise InputError(
            f"observed_weights has {weights.size} entries, expected one per observed event ({n})"
        )


def _plot_histograms_1d(
    histos: list[Any],
    labels: list[str | None],
    observed: Any,
    observed_weights: np.ndarray | None,
    ranges: dict[str, tuple[float, float] | None],
    log: bool,
    observed_label: str,
    xlabel: str | None,
    ylabel: str | None,
    colors: Any,
    linestyles: Any,
    linewidths: Any,
    markercolor: Any,
    markersize: float,
    ax: Axes | None,
) -> Figure:
    n = len(histos)
    colors = line_colors(n) if colors is None else per_item(colors, n, "colors", "color", "histogram")
    linestyles = (
        ["solid"] * n
        if linestyles is None
        else per_item(linestyles, n, "linestyles", "linestyle", "histogram")
    )
    linewidths = per_item(linewidths, n, "linewidths", "number", "histogram")
    fig, (axis,) = new_figure(1, panel_size=(5.5, 4.5), ax=ax)
    contents = []
    for histo, label, color, ls, lw in zip(histos, labels, colors, linestyles, linewidths, strict=True):
        values = np.asarray(histo.histo, dtype=np.float64).reshape(-1)
        axis.stairs(values, histo.edges[0], color=color, linestyle=ls, linewidth=lw, label=label)
        contents.append(values)
    if observed is not None:
        values, observed_weights = _observed_1d(observed, observed_weights, n)
        edges = np.asarray(histos[0].edges[0], dtype=np.float64)
        cells = cell_indices(values[:, None], [edges])  # outside values in the outer bins, as the likelihood
        weights = np.ones(len(values)) if observed_weights is None else observed_weights
        counts = np.bincount(cells, weights=weights, minlength=len(edges) - 1)
        errors = np.sqrt(np.bincount(cells, weights=weights**2, minlength=len(edges) - 1))
        norm = counts.sum() * bin_volumes([edges])  # the density convention of the histograms
        if counts.sum() <= 0.0:
            raise InputError("observed_weights sum to zero: the observed events cannot be normalised")
        axis.errorbar(
            0.5 * (edges[1:] + edges[:-1]), counts / norm, yerr=errors / norm, linestyle="none", marker="o",
            markersize=np.sqrt(markersize), color=markercolor, label=observed_label,
        )  # fmt: skip
        contents.append(counts / norm)
    axis.legend(loc="best")
    if ranges["xrange"] is not None:
        axis.set_xlim(*ranges["xrange"])
    else:
        axis.set_xlim(histos[0].edges[0][0], histos[0].edges[0][-1])
    if log:
        axis.set_yscale("log")
    if ranges["yrange"] is not None:
        axis.set_ylim(*ranges["yrange"])
    elif not log:
        top = max(float(np.max(c, initial=0.0)) for c in contents)
        axis.set_ylim(0.0, 1.3 * top if top > 0 else 1.0)
    if xlabel is not None:
        axis.set_xlabel(xlabel)
    axis.set_ylabel("Likelihood" if ylabel is None else ylabel)
    return fig


def _observed_1d(observed: Any, weights: Any, n_histos: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The observed values ``(n,)`` and weights of a 1-D plot.

    ``observed`` holds one value per event (``(n,)`` or ``(n, 1)``), or one such set per histogram
    (``(n_histos, n[, 1])`` or a list, as the Asimov data of ``expected_limits(return_asimov=True)``):
    then, as in MadMiner, the first set is drawn (and the first row of per-histogram weights).
    """
    sets = None
    if (
        isinstance(observed, (list, tuple))
        and len(observed) == n_histos > 1
        and all(np.ndim(o) >= 1 and np.size(o) > 1 for o in observed)
    ):
        sets = [np.asarray(o, dtype=np.float64).reshape(-1) for o in observed]
    if sets is None:
        array = np.asarray(observed, dtype=np.float64)
        squeezed = array.squeeze() if array.ndim > 1 else array.reshape(-1)
        if squeezed.ndim == 1:
            sets = [squeezed]
        elif squeezed.ndim == 2 and len(squeezed) == n_histos:
            sets = list(squeezed)
        else:
            raise InputError(
                "observed must hold one value per event for one-dimensional histograms, shape (n,) or "
                f"(n, 1), or one such array per histogram; got shape {array.shape}"
            )
    values = sets[0]
    if len(sets) > 1 and not all(np.array_equal(values, other) for other in sets[1:]):
        logger.warning("observed differs between the histograms: drawing the first set (as MadMiner)")
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim == 2 and len(weights) == n_histos and weights.shape[1] != 1:
            weights = weights[0]
        weights = weights.reshape(-1)
        _check_weights(weights, len(values))
    return values, weights


def _plot_histograms_2d(
    histos: list[Any],
    labels: list[str | None],
    observed: Any,
    observed_weights: np.ndarray | None,
    ranges: dict[str, tuple[float, float] | None],
    log: bool,
    observed_label: str,
    xlabel: str | None,
    ylabel: str | None,
    zlabel: str | None,
    markercolor: Any,
    markersize: float,
    cmap: Any,
    n_cols: int,
    ax: Axes | None,
) -> Figure:
    n = len(histos)
    if observed is None:
        observed = [None] * n
    elif (isinstance(observed, np.ndarray) and observed.ndim <= 2) or (
        not isinstance(observed, np.ndarray) and not all(o is None or np.ndim(o) == 2 for o in observed)
    ):
        observed = [observed] * n  # one array of events (n, 2) for every panel
    else:
        observed = list(observed)  # one array (or None) per histogram
        if len(observed) != n:
            raise InputError(
                f"observed has {len(observed)} entries; give one array (n, 2) for all panels or one per "
                f"histogram ({n})"
            )
    observed = [_observed_2d(o, i) for i, o in enumerate(observed)]
    if observed_weights is not None:
        observed_weights = np.asarray(observed_weights, dtype=np.float64).reshape(-1)
    z = [
        np.asarray(h.histo, dtype=np.float64).reshape(len(h.edges[0]) - 1, len(h.edges[1]) - 1)
        for h in histos
    ]
    zrange = ranges["zrange"]
    if zrange is None:
        every = np.concatenate([v.ravel() for v in z])
        every = every[np.isfinite(every)]
        if log:
            every = every[every > 0.0]
        if every.size == 0:
            raise InputError("the histograms have no finite (positive, with log) content to colour")
        zrange = (float(every.min()), float(every.max()))
        if not zrange[1] > zrange[0]:
            zrange = (
                zrange[0] * 0.5 if log else zrange[0] - 0.5,
                zrange[1] * 2.0 if log else zrange[1] + 0.5,
            )
    elif log and zrange[0] <= 0.0:
        raise InputError(f"zrange must be positive for log=True, got {zrange!r}")
    norm_type = matplotlib.colors.LogNorm if log else matplotlib.colors.Normalize
    fig, axes = new_figure(n, n_cols=n_cols, panel_size=(5.4, 4.2), ax=ax)
    for axis, histo, values, obs, label in zip(axes, histos, z, observed, labels, strict=True):
        # empty bins of a log scale are drawn in the lowest colour, as MadMiner's clipping does
        shown = np.clip(values, zrange[0], None) if log else values
        mesh = axis.pcolormesh(
            histo.edges[0], histo.edges[1], shown.T, cmap=cmap, norm=norm_type(vmin=zrange[0], vmax=zrange[1])
        )
        bar = fig.colorbar(mesh, ax=axis, extend="both")
        bar.set_label("Likelihood" if zlabel is None else zlabel)
        if obs is not None:
            _check_weights(observed_weights, len(obs))
            sizes = (
                markersize
                if observed_weights is None
                else markersize * observed_weights / np.mean(observed_weights)
            )
            axis.scatter(obs[:, 0], obs[:, 1], s=sizes, color=markercolor, marker="o", label=observed_label)
        if label is not None:
            axis.set_title(label)
        axis.set_xlim(*(ranges["xrange"] or (histo.edges[0][0], histo.edges[0][-1])))
        axis.set_ylim(*(ranges["yrange"] or (histo.edges[1][0], histo.edges[1][-1])))
        if xlabel is not None:
            axis.set_xlabel(xlabel)
        if ylabel is not None:
            axis.set_ylabel(ylabel)
    return fig


def _observed_2d(observed: Any, i: int) -> np.ndarray | None:
    if observed is None:
        return None
    values = np.asarray(observed, dtype=np.float64)
    if values.ndim == 1 and values.shape == (2,):
        values = values.reshape(1, 2)
    if values.ndim != 2 or values.shape[1] != 2:
        raise InputError(
            f"observed[{i}] must have shape (n, 2) for two-dimensional histograms, got {values.shape}"
        )
    return values
