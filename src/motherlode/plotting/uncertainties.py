"""``madminer.plotting.uncertainties``: the effect of systematic uncertainties on a distribution.

Both plots histogram one observable of an events file at one parameter point ``theta`` and at
``n_toys`` random nuisance-parameter points (toys: independent standard normals, the nuisance model
of :class:`motherlode.morphing.NuisanceMorpher`), and show the spread of the toys bin by bin as
bands: :func:`plot_uncertainty` the 68 % and 95 % central intervals of the toys of all (or some)
systematics, :func:`plot_systematics` the 68 % interval of each systematic on its own and of all
together. Each figure has four panels: the cross section per bin (left) and the distribution
normalised to unit area (right, shape only), each above the ratio to the nominal prediction.

The weights at ``theta`` and at every toy come from the weights engine in one matrix product per
batch (:class:`motherlode.weights.ParameterPoints`), the bin sums from
:class:`motherlode.histograms.BinnedWeights`; the file is streamed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..analysis import DataAnalyzer
from ..errors import InputError, SetupError
from ._arguments import check_count, check_range
from ._common import (
    band,
    binned_sums,
    densities,
    event_range,
    filled_band,
    legend_layout,
    nuisance_toys,
    observable_index,
    point_labels,
    stairs,
    toy_points,
)
from ._style import line_colors, new_figure, plot_style

__all__ = ["plot_systematics", "plot_uncertainty"]

logger = logging.getLogger(__name__)


def plot_uncertainty(
    filename: str | os.PathLike[str],
    theta: Any,
    observable: str,
    obs_label: str,
    obs_range: tuple[float, float],
    n_bins: int = 50,
    systematics: Sequence[str] | None = None,
    n_events: int | None = None,
    n_toys: int = 100,
    linecolor: Any = "black",
    bandcolor1: Any = "#CC002E",
    bandcolor2: Any = "orange",
    ratio_range: tuple[float, float] = (0.8, 1.2),
    *,
    random_state: int | np.random.Generator | None = None,
    batch_size: int = 100_000,
) -> Figure:
    """Plots absolute and relative uncertainty bands in a histogram of one observable in a MadMiner file.

    The bands are the 68 % (16th to 84th percentile) and 95 % (2.5th to 97.5th) central intervals,
    bin by bin, of ``n_toys`` histograms at random nuisance parameters.

    Parameters
    ----------
    filename : str or path-like
        Filename of a MadMiner HDF5 file.
    theta : ndarray or str
        The parameter point: an ndarray (morphing), or a benchmark name.
    observable : str
        Which observable to plot, given by its name in the MadMiner file.
    obs_label : str
        x-axis label naming the observable.
    obs_range : tuple of two float
        Range to be plotted for the observable.
    n_bins : int, optional
        Number of bins. Default value: 50.
    systematics : None or list of str, optional
        This can restrict which nuisance parameters are used to draw the uncertainty bands. Each
        entry of this list is the name of a systematic uncertainty (see
        `MadMiner.add_systematics()`). Default value: None (all).
    n_events : None or int, optional
        If not None, only the first ``n_events`` events of the file are analysed (events files are
        shuffled), their weights scaled by ``n_file / n_events``. Default value: None.
    n_toys : int, optional
        Number of toy nuisance parameter vectors used to estimate the systematic uncertainties.
        Default value: 100.
    linecolor : str, optional
        Line color for central prediction. Default value: "black".
    bandcolor1 : str, optional
        Error band color for 1 sigma uncertainty. Default value: "#CC002E".
    bandcolor2 : str, optional
        Error band color for 2 sigma uncertainty. Default value: "orange".
    ratio_range : tuple of two float, optional
        y-axis range for the plots of the ratio to the central prediction. Default value: (0.8, 1.2).
    random_state : int or numpy.random.Generator or None, optional
        Seed of the nuisance toys (addition). Default value: None.
    batch_size : int, optional
        Events in memory at once, at most (addition). Default value: 100000.

    Returns
    -------
    figure : Figure
        Plot as Matplotlib Figure instance.

    Raises
    ------
    InputError
        For an unknown observable or systematic, a bad ``theta``, range or number.
    SetupError
        If the file has no nuisance parameters (of the chosen systematics).
    """
    analyzer, column, point, edges, end, scale = _prepare(
        filename, theta, observable, obs_range, n_bins, n_events, ratio_range
    )
    n_toys = check_count(n_toys, "n_toys")
    if systematics is None:
        active = np.ones(analyzer.n_nuisance_parameters, dtype=bool)
    else:
        if isinstance(systematics, str):
            systematics = [systematics]
        for name in systematics:
            if name not in analyzer.systematics:
                raise InputError(
                    f"systematics: unknown systematic {name!r} in {analyzer.madminer_filename}; "
                    f"systematics: {', '.join(analyzer.systematics) or 'none'}"
                )
        active = _nuisance_mask(analyzer, set(systematics))
        if not active.any():
            raise SetupError(
                f"systematics {list(systematics)} have no nuisance parameters in "
                f"{analyzer.madminer_filename} (no varied weights were read for them)"
            )
    toys = nuisance_toys(analyzer, n_toys, [active], np.random.default_rng(random_state))[0]
    sums = binned_sums(
        analyzer, toy_points(point, toys), [column], [edges], end=end, scale=scale, batch_size=batch_size
    )[0]  # (n_bins, 1 + n_toys)
    with plot_style():
        fig, axes = _four_panels(obs_label, ratio_range)
        panels_shown: list[list[np.ndarray]] = []
        handles = []
        for ax_top, ax_ratio, histograms in zip(
            axes[:2], axes[2:], (sums, densities(sums, edges)), strict=True
        ):
            central, toy_histograms = histograms[:, 0], histograms[:, 1:].T
            shown = [central, *band(toy_histograms, 2.5, 97.5)]
            for relative, ax in ((False, ax_top), (True, ax_ratio)):
                denominator = central if relative else None
                low95, high95 = (_ratio(b, denominator) for b in band(toy_histograms, 2.5, 97.5))
                low68, high68 = (_ratio(b, denominator) for b in band(toy_histograms, 16.0, 84.0))
                patch2 = filled_band(ax, low95, high95, edges, color=bandcolor2)
                patch1 = filled_band(ax, low68, high68, edges, color=bandcolor1)
                line = stairs(ax, _ratio(central, denominator), edges, color=linecolor, linewidth=1.5)
                handles = [line, patch1, patch2]
            panels_shown.append(shown)
        location, headroom = legend_layout(panels_shown[0], 4)
        for ax, shown in zip(axes[:2], panels_shown, strict=True):
            _top_limits(ax, shown, edges, headroom)
        axes[0].legend(
            handles,
            ["Nominal", "68% of the toys", "95% of the toys"],
            loc=location,
            title=point_labels(analyzer, point)[0],
        )
    return fig


def plot_systematics(
    filename: str | os.PathLike[str],
    theta: Any,
    observable: str,
    obs_label: str,
    obs_range: tuple[float, float],
    n_bins: int = 50,
    n_events: int | None = None,
    n_toys: int = 100,
    linecolor: Any = "black",
    bandcolors: Any = None,
    band_alpha: float = 0.2,
    ratio_range: tuple[float, float] = (0.8, 1.2),
    *,
    random_state: int | np.random.Generator | None = None,
    batch_size: int = 100_000,
) -> Figure:
    """Plots absolute and relative uncertainty bands for all systematic uncertainties in a histogram of
    one observable in a MadMiner file.

    For each systematic (its nuisance parameters varied, the others at 0) and for all of them
    together ("combined"), the band is the 68 % central interval (16th to 84th percentile), bin by
    bin, of ``n_toys`` histograms at random nuisance parameters. Systematics without nuisance
    parameters in the file (no varied weights were read for them) have no band and are left out.

    Parameters
    ----------
    filename : str or path-like
        Filename of a MadMiner HDF5 file.
    theta : ndarray or str
        The parameter point: an ndarray (morphing), or a benchmark name.
    observable : str
        Which observable to plot, given by its name in the MadMiner file.
    obs_label : str
        x-axis label naming the observable.
    obs_range : tuple of two float
        Range to be plotted for the observable.
    n_bins : int, optional
        Number of bins. Default value: 50.
    n_events : None or int, optional
        If not None, only the first ``n_events`` events of the file are analysed (events files are
        shuffled), their weights scaled by ``n_file / n_events``. Default value: None.
    n_toys : int, optional
        Number of toy nuisance parameter vectors per systematic. Default value: 100.
    linecolor : str, optional
        Line color for central prediction. Default value: "black".
    bandcolors : None or str or list of str, optional
        Error band colors, one per systematic and then "combined" (cycled if fewer). Default
        value: None (the default palette).
    band_alpha : float, optional
        Opacity of the bands (their edges are drawn opaque). Default value: 0.2.
    ratio_range : tuple of two float, optional
        y-axis range for the plots of the ratio to the central prediction. Default value: (0.8, 1.2).
    random_state : int or numpy.random.Generator or None, optional
        Seed of the nuisance toys (addition). Default value: None.
    batch_size : int, optional
        Events in memory at once, at most (addition). Default value: 100000.

    Returns
    -------
    figure : Figure
        Plot as Matplotlib Figure instance.

    Raises
    ------
    InputError
        For an unknown observable, a bad ``theta``, range, number or ``bandcolors``.
    SetupError
        If the file has no nuisance parameters.
    """
    analyzer, column, point, edges, end, scale = _prepare(
        filename, theta, observable, obs_range, n_bins, n_events, ratio_range
    )
    n_toys = check_count(n_toys, "n_toys")
    groups = []
    for name in analyzer.systematics:
        mask = _nuisance_mask(analyzer, {name})
        if mask.any():
            groups.append((name, mask))
        else:
            logger.warning(
                "Systematic %s has no nuisance parameters in %s (no varied weights): no band", name, filename
            )
    groups.append(("combined", np.ones(analyzer.n_nuisance_parameters, dtype=bool)))
    names = [name for name, _ in groups]
    if bandcolors is None:
        colors = line_colors(len(groups))
    else:
        if isinstance(bandcolors, str) or (isinstance(bandcolors, tuple) and len(bandcolors) in (3, 4)):
            bandcolors = [bandcolors]
        colors = list(bandcolors)
        if not colors:
            raise InputError("bandcolors is empty; give None or at least one colour")
        colors = line_colors(len(groups), colors)
    toys = nuisance_toys(analyzer, n_toys, [m for _, m in groups], np.random.default_rng(random_state))
    n_groups, k = len(groups), analyzer.n_nuisance_parameters
    points = toy_points(point, toys.reshape(n_groups * n_toys, k))
    sums = binned_sums(analyzer, points, [column], [edges], end=end, scale=scale, batch_size=batch_size)[0]
    # sums: (n_bins, 1 + n_groups n_toys)
    with plot_style():
        fig, axes = _four_panels(obs_label, ratio_range)
        panels_shown: list[list[np.ndarray]] = []
        for ax_top, ax_ratio, histograms in zip(
            axes[:2], axes[2:], (sums, densities(sums, edges)), strict=True
        ):
            central = histograms[:, 0]
            toy_histograms = histograms[:, 1:].T.reshape(n_groups, n_toys, -1)
            shown = [central] + [b for group_toys in toy_histograms for b in band(group_toys, 16.0, 84.0)]
            for relative, ax in ((False, ax_top), (True, ax_ratio)):
                denominator = central if relative else None
                for name, color, group_toys in zip(names, colors, toy_histograms, strict=True):
                    low, high = (_ratio(b, denominator) for b in band(group_toys, 16.0, 84.0))
                    filled_band(ax, low, high, edges, color=color, alpha=band_alpha, label=name)
                    stairs(ax, low, edges, color=color, linewidth=1.0)
                    stairs(ax, high, edges, color=color, linewidth=1.0)
                stairs(
                    ax, _ratio(central, denominator), edges, color=linecolor, linewidth=1.5, label="Nominal"
                )
            panels_shown.append(shown)
        location, headroom = legend_layout(panels_shown[0], n_groups + 2)
        for ax, shown in zip(axes[:2], panels_shown, strict=True):
            _top_limits(ax, shown, edges, headroom)
        axes[0].legend(loc=location, title=point_labels(analyzer, point)[0])
    return fig


# ---------------------------------------------------------------------- helpers


def _prepare(
    filename: Any,
    theta: Any,
    observable: Any,
    obs_range: Any,
    n_bins: Any,
    n_events: Any,
    ratio_range: Any,
) -> tuple[DataAnalyzer, int, Any, np.ndarray, int, float]:
    """The analyzer, the observable's column, the point, the bin edges and the events used."""
    analyzer = DataAnalyzer(filename)
    column = observable_index(analyzer, observable)
    lo, hi = check_range(obs_range, "obs_range")
    check_range(ratio_range, "ratio_range")
    edges = np.linspace(lo, hi, check_count(n_bins, "n_bins") + 1)
    if analyzer.n_nuisance_parameters == 0:
        raise SetupError(
            f"cannot draw systematic uncertainties: {analyzer.madminer_filename} has no nuisance parameters"
        )
    if theta is None:
        raise InputError("theta is None; give a parameter point (ndarray) or a benchmark name")
    if isinstance(theta, (list, tuple)):
        theta = np.asarray(theta, dtype=np.float64)
    point = analyzer.parameter_points([theta])
    end, scale = event_range(analyzer, n_events)
    return analyzer, column, point, edges, end, scale


def _nuisance_mask(analyzer: DataAnalyzer, systematics: set[str]) -> np.ndarray:
    """Which nuisance parameters belong to the given systematics."""
    return np.array(
        [parameter.systematic in systematics for parameter in analyzer.nuisance_parameters.values()],
        dtype=bool,
    )


def _ratio(values: np.ndarray, central: np.ndarray | None) -> np.ndarray:
    """``values / central`` (None: ``values``); bins where the nominal is empty give 1 (no NaN)."""
    if central is None:
        return values
    nonzero = central != 0.0
    return np.where(nonzero, values / np.where(nonzero, central, 1.0), 1.0)


def _four_panels(obs_label: str, ratio_range: tuple[float, float]) -> tuple[Figure, list[Axes]]:
    """Cross section (left) and normalised distribution (right), each above its ratio panel."""
    fig, axes = new_figure(4, n_cols=2, figsize=(10.0, 7.0))
    gridspec = axes[0].get_gridspec()
    assert gridspec is not None  # the panels of new_figure are subplots
    gridspec.set_height_ratios([2.2, 1.0])
    for top, ratio in zip(axes[:2], axes[2:], strict=True):
        top.sharex(ratio)
        top.tick_params(labelbottom=False)
        ratio.set_xlabel(obs_label)
        ratio.set_ylabel("Ratio to nominal")
        ratio.set_ylim(*ratio_range)
        ratio.axhline(1.0, color="grey", linewidth=0.8, linestyle=":", zorder=0)
    axes[0].set_ylabel("Cross section per bin [pb]")
    axes[1].set_ylabel(r"Normalized distribution $(1/\sigma)\,d\sigma/dx$")
    return fig, axes


def _top_limits(ax: Axes, shown: list[np.ndarray], edges: np.ndarray, headroom: float) -> None:
    """x range of the bins; y from 0 to ``headroom`` times the drawn histograms and bands (legend)."""
    ax.set_xlim(edges[0], edges[-1])
    values = np.concatenate([np.ravel(v) for v in shown])
    finite = values[np.isfinite(values)]
    top = float(finite.max(initial=0.0))
    ax.set_ylim(min(0.0, float(finite.min(initial=0.0))), headroom * top if top > 0 else 1.0)
