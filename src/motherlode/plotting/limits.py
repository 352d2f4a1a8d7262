r"""Plots of p-values on a parameter grid: confidence regions and best fits of several methods.

:func:`plot_pvalue_limits` takes what :class:`~motherlode.limits.AsymptoticLimits` (or
:func:`~motherlode.likelihood.project_log_likelihood`, :func:`~motherlode.likelihood.profile_log_likelihood`)
return, the p-values on the grid and the index of the best-fit grid point, for one or several
methods, and draws the contours at the chosen p-values with the best fits. On a 2-D grid the
p-value map of a method can be shown underneath; a 1-D grid gives p-value curves.

Examples
--------
>>> import numpy as np
>>> from scipy.stats import chi2
>>> from motherlode.plotting import plot_pvalue_limits
>>> theta = np.stack(np.meshgrid(np.linspace(-1, 1, 21), np.linspace(-1, 1, 21), indexing="ij"), -1)
>>> p_values = chi2.sf((theta**2).sum(axis=-1).ravel() / 0.1, df=2)
>>> fig = plot_pvalue_limits([p_values], [220], ["rate"], [(-1, 1), (-1, 1)], 21, show_index=0)
>>> len(fig.axes)  # the panel and its colour bar
2
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm, is_color_like
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from ..errors import InputError
from ._style import line_colors, new_figure, plot_style

__all__ = ["plot_pvalue_limits"]

logger = logging.getLogger(__name__)

_LEVEL_STYLES = ("solid", "dashed", "dotted", "dashdot")
_DEFAULT_YLABEL = r"$\theta_1$"
_CMAP = "Greys_r"


def plot_pvalue_limits(
    p_values: Any,
    best_fits: Any,
    labels: Sequence[str] | None,
    grid_ranges: Sequence[tuple[float, float]],
    grid_resolutions: int | Sequence[int],
    levels: Sequence[float] = [0.32],
    single_plot: bool = True,
    show_index: int | None = None,
    xlabel: str = r"$\theta_0$",
    ylabel: str = r"$\theta_1$",
    p_val_min: float = 0.001,
    p_val_max: float = 1,
    colors: Sequence[Any] | None = None,
    ax: Axes | None = None,
) -> Figure:
    r"""Confidence regions (contours of constant p-value) and best fits of several methods.

    On a 2-D grid each method's contours at the p-values ``levels`` are drawn in its colour (one
    line style per level) with a star at its best-fit grid point; optionally the p-value map of
    one method underneath (``show_index``) and one extra panel per method with its own map
    (``single_plot=False``). On a 1-D grid (an addition: MadMiner supports 2-D only) each method is
    a curve of the p-value against :math:`\theta` on a logarithmic axis, the levels are horizontal
    lines and the confidence intervals are where a curve lies above them.

    Parameters
    ----------
    p_values : list of ndarray or dict or ndarray
        p-values of each method on the grid, shape (n_gridpoints,) each (the grid flattened as
        :class:`~motherlode.limits.AsymptoticLimits` does, first parameter slowest), or an array of
        shape (n_methods, n_gridpoints), or a dict from label to p-values.
    best_fits : list of int or dict
        Index of the best-fit grid point of each method, or a dict from label to index.
    labels : list of str or None
        One label per method. If None, ``p_values`` and ``best_fits`` must be dicts and all their
        entries are drawn, in the order of ``p_values``.
    grid_ranges : list of (tuple of float)
        ``[(min, max), ...]`` of the grid, for one or two parameters.
    grid_resolutions : int or list of int
        Number of grid points along each parameter (one int: the same for all).
    levels : list of float, optional
        p-values at which the contours are drawn. Default: [0.32].
    single_plot : bool, optional
        True: one summary panel. False: the summary panel and one panel per method with its
        p-value map, contours and best fit. Default: True.
    show_index : int or None, optional
        The method whose p-value map is shown under the summary panel (1-D: whose curve is
        filled). None: none. Default: None.
    xlabel, ylabel : str, optional
        Axis labels. Default: r'$\theta_0$' and r'$\theta_1$' (on a 1-D grid the y axis is the
        p-value, and its default label says so).
    p_val_min, p_val_max : float, optional
        Range of the p-value colour scale (1-D: of the p-value axis). Default: 0.001 and 1.
    colors : None or list of str, optional
        One colour per method. Default: the palette of :mod:`motherlode.plotting`.
    ax : matplotlib Axes or None, optional
        With ``single_plot=True``: draw into these axes instead of a new figure. Default: None.

    Returns
    -------
    figure : Figure
    """
    labels, p_values, best_fits = _methods(p_values, best_fits, labels)
    n_methods = len(labels)
    ranges, resolutions = _grid(grid_ranges, grid_resolutions)
    n_points = int(np.prod(resolutions))
    p_values = [
        _p_value_array(p, n_points, resolutions, f"p_values[{label!r}]")
        for p, label in zip(p_values, labels, strict=True)
    ]
    best_fits = [
        _best_fit(b, n_points, f"best_fits[{label!r}]") for b, label in zip(best_fits, labels, strict=True)
    ]
    levels = _levels(levels)
    if show_index is not None:
        try:
            show_index = operator.index(show_index)
        except TypeError:
            raise InputError(f"show_index must be None or an int, got {show_index!r}") from None
        if not -n_methods <= show_index < n_methods:
            raise InputError(f"show_index {show_index} out of range for {n_methods} methods")
        show_index %= n_methods
    try:
        p_val_min, p_val_max = float(p_val_min), float(p_val_max)
    except (TypeError, ValueError):
        raise InputError(
            f"p_val_min and p_val_max must be numbers, got {p_val_min!r}, {p_val_max!r}"
        ) from None
    if not 0.0 < p_val_min < p_val_max:
        raise InputError(f"need 0 < p_val_min < p_val_max, got p_val_min={p_val_min}, p_val_max={p_val_max}")
    if colors is not None and (isinstance(colors, str) or is_color_like(colors)):
        colors = [colors]
    colors = line_colors(n_methods, colors)
    # the largest p-value (smallest region) gets the solid line
    styles = {
        level: _LEVEL_STYLES[i % len(_LEVEL_STYLES)] for i, level in enumerate(sorted(levels, reverse=True))
    }
    thetas = [np.linspace(low, high, n) for (low, high), n in zip(ranges, resolutions, strict=True)]
    n_panels = 1 if single_plot else 1 + n_methods

    draw: _Panel1D | _Panel2D
    with plot_style():
        if len(ranges) == 2:
            fig, axes = new_figure(n_panels, n_cols=3, panel_size=(6.0, 5.0), ax=ax)
            draw = _Panel2D(thetas, resolutions, levels, styles, p_val_min, p_val_max, xlabel, ylabel)
        else:
            fig, axes = new_figure(n_panels, n_cols=3, panel_size=(6.0, 4.5), ax=ax)
            draw = _Panel1D(thetas[0], levels, styles, p_val_min, p_val_max, xlabel, ylabel)
        draw(axes[0], p_values, best_fits, labels, colors, show_index, summary=True)
        for i in range(n_methods if not single_plot else 0):
            draw(axes[i + 1], [p_values[i]], [best_fits[i]], [labels[i]], [colors[i]], 0, summary=False)
    return fig


# ---------------------------------------------------------------------------- input checks


def _methods(p_values: Any, best_fits: Any, labels: Any) -> tuple[list[str], list[Any], list[Any]]:
    """Labels, p-value arrays and best fits of the methods, in one order."""
    if labels is None:
        if not isinstance(p_values, Mapping) or not isinstance(best_fits, Mapping):
            raise InputError("with labels=None, p_values and best_fits must be dicts from label to values")
        labels = list(p_values)
    if isinstance(labels, str) or not isinstance(labels, Sequence):
        raise InputError(f"labels must be a list of strings (or None), got {labels!r}")
    labels = list(labels)
    if not labels:
        raise InputError("labels is empty: nothing to plot")

    def pick(values: Any, name: str) -> list[Any]:
        if isinstance(values, Mapping):
            missing = [label for label in labels if label not in values]
            if missing:
                raise InputError(f"{name} has no entry for the label(s) {missing}")
            return [values[label] for label in labels]
        return values

    p_values = pick(p_values, "p_values")
    best_fits = pick(best_fits, "best_fits")
    if isinstance(p_values, np.ndarray) and p_values.ndim == 1:
        p_values = [p_values]  # one method
    if np.ndim(best_fits) == 0:
        best_fits = [best_fits]
    try:
        p_values, best_fits = list(p_values), list(best_fits)
    except TypeError:
        raise InputError("p_values and best_fits must be lists (or dicts), one entry per method") from None
    if len(p_values) != len(labels):
        raise InputError(f"p_values has {len(p_values)} methods, labels {len(labels)}")
    if len(best_fits) != len(labels):
        raise InputError(f"best_fits has {len(best_fits)} methods, labels {len(labels)}")
    return [str(label) for label in labels], p_values, best_fits


def _grid(grid_ranges: Any, grid_resolutions: Any) -> tuple[list[tuple[float, float]], list[int]]:
    if grid_ranges is None:
        raise InputError("grid_ranges must be given: [(min, max)] or [(min, max), (min, max)]")
    try:
        ranges = np.asarray(grid_ranges, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"grid_ranges must be a list of (min, max), got {grid_ranges!r}") from None
    if ranges.ndim != 2 or ranges.shape[1] != 2 or ranges.shape[0] not in (1, 2):
        raise InputError(
            "grid_ranges must be [(min, max)] or [(min, max), (min, max)] (1-D or 2-D grids), "
            f"got {grid_ranges!r}"
        )
    if not np.all(np.isfinite(ranges)) or np.any(ranges[:, 0] >= ranges[:, 1]):
        raise InputError(f"grid_ranges needs finite (min, max) pairs with min < max, got {grid_ranges!r}")
    n_dims = len(ranges)
    resolutions = [grid_resolutions] * n_dims if np.ndim(grid_resolutions) == 0 else list(grid_resolutions)
    if len(resolutions) != n_dims:
        raise InputError(f"grid_resolutions has {len(resolutions)} entries for a {n_dims}-D grid")
    try:
        resolutions = [operator.index(n) for n in resolutions]
    except TypeError:
        raise InputError(f"grid_resolutions must be ints, got {grid_resolutions!r}") from None
    if min(resolutions) < 2:
        raise InputError(
            f"grid_resolutions must be at least 2 along every parameter, got {grid_resolutions!r}"
        )
    return [(float(low), float(high)) for low, high in ranges], resolutions


def _p_value_array(value: Any, n_points: int, resolutions: list[int], name: str) -> np.ndarray:
    try:
        p = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be an array of p-values") from None
    if p.shape not in ((n_points,), tuple(resolutions)):
        raise InputError(f"{name} has shape {p.shape}; the grid {resolutions} has {n_points} points")
    p = p.reshape(-1)
    finite = p[np.isfinite(p)]
    if finite.size == 0:
        raise InputError(f"{name} has no finite p-value")
    if finite.size < p.size:
        logger.warning("%s: %d non-finite p-values are left blank", name, p.size - finite.size)
    if np.any(finite < 0.0) or np.any(finite > 1.0 + 1.0e-9):
        raise InputError(f"{name} has values outside [0, 1]: min {finite.min():g}, max {finite.max():g}")
    return p


def _best_fit(value: Any, n_points: int, name: str) -> int:
    try:
        index = operator.index(value)
    except TypeError:
        raise InputError(f"{name} must be the int index of a grid point, got {value!r}") from None
    if not 0 <= index < n_points:
        raise InputError(f"{name} = {index} is not a grid point index (0 to {n_points - 1})")
    return index


def _levels(levels: Any) -> list[float]:
    try:
        values = [float(level) for level in np.atleast_1d(levels)]
    except (TypeError, ValueError):
        raise InputError(f"levels must be a list of p-values, got {levels!r}") from None
    if not values or any(not 0.0 < level < 1.0 for level in values):
        raise InputError(f"levels must be p-values between 0 and 1, got {levels!r}")
    if len(set(values)) != len(values):
        raise InputError(f"levels has repeated values: {levels!r}")
    return sorted(values)


def _level_label(level: float) -> str:
    return f"p = {level:g}"


# ---------------------------------------------------------------------------- drawing


class _Panel2D:
    """Draws contours, best fits and optionally a p-value map of one or more methods into a panel."""

    def __init__(self, thetas, resolutions, levels, styles, p_min, p_max, xlabel, ylabel) -> None:
        self.x, self.y = thetas
        self.shape = tuple(resolutions)
        self.levels, self.styles = levels, styles
        self.norm = (p_min, p_max)
        self.xlabel, self.ylabel = xlabel, ylabel
        self.x_edges = _edges(self.x)
        self.y_edges = _edges(self.y)

    def __call__(self, axes, p_values, best_fits, labels, colors, show_index, summary) -> None:
        if show_index is not None:
            p_map = p_values[show_index].reshape(self.shape).T  # (y, x)
            mesh = axes.pcolormesh(
                self.x_edges,
                self.y_edges,
                np.clip(p_map, 1.0e-300, None),
                norm=LogNorm(*self.norm),
                cmap=_CMAP,
                shading="flat",
                rasterized=True,
            )
            colorbar = axes.figure.colorbar(mesh, ax=axes, extend="both")
            colorbar.set_label(f"p-value ({labels[show_index]})" if summary else "p-value")
        for p, best_fit, color in zip(p_values, best_fits, colors, strict=True):
            p_grid = p.reshape(self.shape).T
            if np.nanmin(p_grid) < self.levels[-1]:
                axes.contour(
                    self.x,
                    self.y,
                    p_grid,
                    levels=self.levels,
                    colors=[color] * len(self.levels),
                    linestyles=[self.styles[level] for level in self.levels],
                    linewidths=1.8,
                )
            else:
                logger.info("the p-values are above every level on the whole grid: no contour")
            i, j = np.unravel_index(best_fit, self.shape)
            axes.plot(
                self.x[i],
                self.y[j],
                marker="*",
                markersize=13,
                color=color,
                markeredgecolor="white" if show_index is not None else color,
                markeredgewidth=0.6,
                linestyle="none",
                zorder=4,
            )
        first_style = self.styles[self.levels[-1]]
        handles = [
            Line2D([], [], color=color, marker="*", markersize=11, linestyle=first_style) for color in colors
        ]
        texts = list(labels) if summary else [f"{labels[0]}: best fit"]
        for level in sorted(self.levels, reverse=True):
            handles.append(Line2D([], [], color="0.35", linestyle=self.styles[level]))
            texts.append(_level_label(level))
        legend = axes.legend(handles, texts, frameon=show_index is not None, framealpha=0.85)
        if show_index is not None:
            legend.get_frame().set_linewidth(0.0)
        axes.set_xlim(self.x_edges[0], self.x_edges[-1])
        axes.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
        axes.set_ylim(self.y_edges[0], self.y_edges[-1])
        axes.set_xlabel(self.xlabel)
        axes.set_ylabel(self.ylabel)
        if not summary:
            axes.set_title(labels[0])


class _Panel1D:
    """Draws p-value curves, best fits and levels of one or more methods into a panel."""

    def __init__(self, theta, levels, styles, p_min, p_max, xlabel, ylabel) -> None:
        self.theta = theta
        self.levels, self.styles = levels, styles
        self.p_min, self.p_max = p_min, p_max
        self.xlabel = xlabel
        self.ylabel = "p-value" if ylabel == _DEFAULT_YLABEL else ylabel

    def __call__(self, axes, p_values, best_fits, labels, colors, show_index, summary) -> None:
        handles, texts = [], []
        for k, (p, best_fit, color, label) in enumerate(
            zip(p_values, best_fits, colors, labels, strict=True)
        ):
            curve = np.clip(p, 1.0e-300, None)
            if show_index == k:
                axes.fill_between(
                    self.theta, self.p_min * 1.0e-3, curve, color=color, alpha=0.15, linewidth=0
                )
            axes.plot(self.theta, curve, color=color, linewidth=1.8)
            axes.plot(
                self.theta[best_fit], curve[best_fit], marker="*", markersize=13, color=color,
                linestyle="none", zorder=4, clip_on=False,
            )  # fmt: skip
            handles.append(Line2D([], [], color=color, marker="*", markersize=11, linewidth=1.8))
            texts.append(label)
        for level in sorted(self.levels, reverse=True):
            axes.axhline(level, color="0.35", linestyle=self.styles[level], linewidth=1.0, zorder=1)
            handles.append(Line2D([], [], color="0.35", linestyle=self.styles[level], linewidth=1.0))
            texts.append(_level_label(level))
        axes.set_yscale("log")
        # a little room above p_val_max, for the best-fit stars at p = 1
        axes.set_ylim(self.p_min, self.p_max * (self.p_max / self.p_min) ** 0.06)
        axes.set_xlim(self.theta[0], self.theta[-1])
        axes.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
        axes.set_xlabel(self.xlabel)
        axes.set_ylabel(self.ylabel)
        axes.legend(handles, texts, loc="lower right")
        if not summary:
            axes.set_title(labels[0])


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges around equally spaced grid points."""
    step = centres[1] - centres[0]
    return np.concatenate([centres - step / 2, centres[-1:] + step / 2])
