r"""Plots of a morphing basis: where in parameter space its benchmarks morph well.

A morphing writes the weight of every event at a parameter point :math:`\theta` as
:math:`w(\theta) = \sum_b w_b(\theta)\, w(\theta_b)` over the basis benchmarks :math:`\theta_b`.
Statistical fluctuations of the benchmark samples are amplified by
:math:`\sqrt{\sum_b w_b(\theta)^2}`: it is 1 at a basis point (of a square basis), grows away from
the basis and is the figure of merit MadMiner plots. All four functions show this quantity, with the
basis points as markers, on a logarithmic colour scale ``crange`` for the two-dimensional ones:

* :func:`plot_1d_morphing_basis`: one parameter, the quantity against :math:`\theta`;
* :func:`plot_2d_morphing_basis`: two parameters, a map on a grid;
* :func:`plot_nd_morphing_basis_slices`: any number, one map per pair of parameters with the others
  at 0, in a corner layout;
* :func:`plot_nd_morphing_basis_scatter`: any number, random points of the parameter ranges
  projected onto each pair of parameters.

The weights come from the morpher (:meth:`~motherlode.morphing.PhysicsMorpher.calculate_morphing_weights`
and :meth:`~motherlode.morphing.PhysicsMorpher.evaluate_morphing`, for all points at once); nothing is
recomputed here.

Examples
--------
>>> from motherlode import MadMiner
>>> from motherlode.plotting import plot_2d_morphing_basis
>>> miner = MadMiner()
>>> miner.add_parameter("SMEFT", 7, parameter_name="cHW", parameter_range=(-1.0, 1.0))
>>> miner.add_parameter("SMEFT", 25, parameter_name="cHq3", parameter_range=(-1.0, 1.0))
>>> miner.add_benchmark({"cHW": 0.0, "cHq3": 0.0}, "sm")
>>> miner.set_morphing(max_overall_power=2, n_trials=100, random_state=1)
>>> fig = plot_2d_morphing_basis(miner.morpher, xlabel="$c_{HW}$", ylabel="$c_{Hq}^{(3)}$", resolution=20)
>>> [ax.get_xlabel() for ax in fig.axes]
['$c_{HW}$', '']
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

from ..errors import InputError
from ._arguments import check_count, check_range
from ._style import font_scale, line_colors, new_figure, plot_style

if TYPE_CHECKING:
    from ..morphing import PhysicsMorpher

__all__ = [
    "plot_1d_morphing_basis",
    "plot_2d_morphing_basis",
    "plot_nd_morphing_basis_scatter",
    "plot_nd_morphing_basis_slices",
]

logger = logging.getLogger(__name__)

#: The label of the plotted quantity (colour bar or y axis).
WEIGHT_LABEL = r"$\sqrt{\sum_b w_b(\theta)^2}$"

_MARKER = {"s": 64.0, "marker": "o", "facecolors": "white", "edgecolors": "black", "linewidths": 1.3}
_PROJECTED_MARKER = {"s": 25.0, "marker": "o", "facecolors": "none", "edgecolors": "0.2", "linewidths": 0.9}


# ---------------------------------------------------------------------------- checks


def _basis(morpher: Any, function: str, n_parameters: int | None = None) -> np.ndarray:
    """The basis points of ``morpher`` as an array ``(n_benchmarks, n_parameters)``, checked."""
    if not hasattr(morpher, "calculate_morphing_weights") or not hasattr(morpher, "basis"):
        hint = " (for a MadMiner setup pass its .morpher)" if hasattr(morpher, "morpher") else ""
        raise InputError(
            f"{function}: morpher must be a PhysicsMorpher with a basis{hint}, got {type(morpher).__name__}"
        )
    if morpher.basis is None or getattr(morpher, "morphing_matrix", None) is None:
        raise InputError(
            f"{function}: morpher has no morphing basis; call its set_basis() or optimize_basis() "
            "(MadMiner.set_morphing) first"
        )
    basis = np.asarray(morpher.basis, dtype=float)
    if basis.ndim != 2:
        raise InputError(
            f"{function}: morpher.basis must have shape (n_benchmarks, n_parameters), got {basis.shape}"
        )
    if n_parameters is not None and basis.shape[1] != n_parameters:
        others = {
            1: "plot_1d_morphing_basis",
            2: "plot_2d_morphing_basis",
        }.get(basis.shape[1], "plot_nd_morphing_basis_slices or plot_nd_morphing_basis_scatter")
        raise InputError(
            f"{function}: morpher has {basis.shape[1]} parameters, this plot needs exactly {n_parameters}; "
            f"use {others}"
        )
    if n_parameters is None and basis.shape[1] < 2:
        raise InputError(
            f"{function}: morpher has {basis.shape[1]} parameter, this plot needs at least 2; "
            "use plot_1d_morphing_basis"
        )
    return basis


def _labels(morpher: Any, labels: Sequence[str] | None, n_parameters: int) -> list[str]:
    """Axis labels: the given ones, the parameter names of the morpher, or theta_i."""
    if labels is not None:
        labels = [str(label) for label in labels]
        if len(labels) != n_parameters:
            raise InputError(f"labels has {len(labels)} entries for {n_parameters} parameters")
        return labels
    names = getattr(morpher, "parameter_names", None)
    if names is not None and len(names) == n_parameters:
        return [str(name) for name in names]
    return [rf"$\theta_{{{i}}}$" for i in range(n_parameters)]


def _parameter_ranges(morpher: Any, basis: np.ndarray) -> np.ndarray:
    """Ranges ``(n_parameters, 2)``: the morpher's parameter ranges, or (when it has none per column,
    as in a coupling basis) the span of the basis points, as the morpher's own test points use."""
    ranges = np.asarray(getattr(morpher, "parameter_range", np.empty((0, 2))), dtype=float).reshape(-1, 2)
    if len(ranges) != basis.shape[1]:
        ranges = np.stack([basis.min(axis=0), basis.max(axis=0)], axis=1)
    flat = ranges[:, 1] <= ranges[:, 0]
    ranges[flat] += np.array([-1.0, 1.0])  # a parameter with no extent: show +-1 around it
    return ranges


# ---------------------------------------------------------------------------- drawing


def _root_sum_squared_weights(morpher: PhysicsMorpher, thetas: np.ndarray) -> np.ndarray:
    r""":math:`\sqrt{\sum_b w_b(\theta)^2}` for each row of ``thetas`` (one vectorised morpher call)."""
    weights = morpher.calculate_morphing_weights(thetas)
    return np.sqrt(np.einsum("nb,nb->n", weights, weights))


def _sized(style: dict[str, Any]) -> dict[str, Any]:
    """A marker style with its area scaled to the font size of the current style."""
    return {**style, "s": style["s"] * font_scale() ** 2}


def _tidy_ticks(ax: Axes) -> None:
    """At most about five labelled ticks per axis, so that labels like -0.75 never collide."""
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))


def _cells(low: float, high: float, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Edges ``(resolution + 1,)`` and centres ``(resolution,)`` of equal cells covering [low, high]."""
    edges = np.linspace(low, high, resolution + 1)
    return edges, 0.5 * (edges[1:] + edges[:-1])


def _cmap() -> Colormap:
    """The style's colour map, reversed as in MadMiner: small weights (good morphing) are bright.
    Zero weights (all couplings of a slice at 0), which a log scale cannot place, take the colour
    of the values below the range instead of none."""
    cmap = plt.get_cmap(plt.rcParams["image.cmap"]).reversed()
    red, green, blue, alpha = cmap.get_under()  # an RGBA array
    return cmap.with_extremes(bad=(red, green, blue, alpha))


def _slice_map(
    ax: Axes,
    morpher: PhysicsMorpher,
    n_parameters: int,
    ix: int,
    iy: int,
    xrange: tuple[float, float],
    yrange: tuple[float, float],
    resolution: int,
    norm: LogNorm,
) -> Any:
    """Colour ``ax`` with the quantity on a grid in parameters ``ix``, ``iy``, the others at 0."""
    x_edges, x_centres = _cells(*xrange, resolution)
    y_edges, y_centres = _cells(*yrange, resolution)
    xx, yy = np.meshgrid(x_centres, y_centres)
    thetas = np.zeros((xx.size, n_parameters))
    thetas[:, ix] = xx.ravel()
    thetas[:, iy] = yy.ravel()
    values = _root_sum_squared_weights(morpher, thetas).reshape(resolution, resolution)
    mesh = ax.pcolormesh(x_edges, y_edges, values, norm=norm, cmap=_cmap(), rasterized=True)
    ax.set_xlim(*xrange)
    ax.set_ylim(*yrange)
    _tidy_ticks(ax)
    return mesh


def _log_outside(basis: np.ndarray, ranges: Sequence[tuple[float, float]], function: str) -> None:
    lows = np.array([r[0] for r in ranges])
    highs = np.array([r[1] for r in ranges])
    outside = np.any((basis < lows) | (basis > highs), axis=1)
    if outside.any():
        logger.info(
            "%s: %d of %d basis points lie outside the plotted range and are not shown",
            function,
            int(outside.sum()),
            len(basis),
        )


def _corner_figure(n_parameters: int) -> tuple[Figure, dict[tuple[int, int], Axes], Axes | None]:
    """A corner layout: panel (ix, iy) for ix < iy in the lower triangle of an ``(n - 1) x (n - 1)``
    grid, x axes shared per column and y axes per row, and the top-right cell (empty, for n > 2)
    kept blank as the key (legend and colour bar); the other cells of the upper triangle removed."""
    n_grid = n_parameters - 1
    panel_size = (3.6, 3.4) if n_grid > 1 else (6.0, 4.8)
    fig, axes = new_figure(n_grid * n_grid, n_cols=n_grid, panel_size=panel_size)
    panels: dict[tuple[int, int], Axes] = {}
    key = None
    for row in range(n_grid):
        for col in range(n_grid):
            ax = axes[row * n_grid + col]
            if col <= row:
                panels[(col, row + 1)] = ax
            elif row == 0 and col == n_grid - 1:
                key = ax
                ax.set_axis_off()
            else:
                fig.delaxes(ax)
    for (ix, iy), ax in panels.items():
        if iy != n_parameters - 1:
            ax.sharex(panels[(ix, n_parameters - 1)])
            ax.tick_params(labelbottom=False)
        if ix != 0:
            ax.sharey(panels[(0, iy)])
            ax.tick_params(labelleft=False)
    return fig, panels, key


def _finish_corner(
    fig: Figure,
    panels: dict[tuple[int, int], Axes],
    key: Axes | None,
    labels: list[str],
    n_parameters: int,
    mappable: Any,
    handles: list[Any],
    title: str | None = None,
) -> None:
    """Axis labels on the outer panels; the colour bar and the marker legend in the key cell, or
    (one panel) the colour bar on the right and the legend above the panel."""
    for (ix, iy), ax in panels.items():
        if iy == n_parameters - 1:
            ax.set_xlabel(labels[ix])
        if ix == 0:
            ax.set_ylabel(labels[iy])
    if key is None:
        (ax,) = panels.values()
        _colorbar(fig, mappable, ax=ax)
        ax.legend(
            handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=len(handles), title=title
        )
        return
    cax = key.inset_axes((0.08, 0.3, 0.84, 0.09))
    _colorbar(fig, mappable, cax=cax, orientation="horizontal")
    key.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, 1.0), title=title, alignment="left")


def _colorbar(fig: Figure, mappable: Any, **kwargs: Any) -> Any:
    """The colour bar of the plotted quantity, ticks as plain numbers."""
    cbar = fig.colorbar(mappable, extend="both", label=WEIGHT_LABEL, **kwargs)
    cbar.formatter = FuncFormatter(lambda value, _: f"{value:g}")
    cbar.update_ticks()
    return cbar


def _marker_handle(style: dict[str, Any], label: str) -> Line2D:
    return Line2D(
        [],
        [],
        linestyle="none",
        marker=style["marker"],
        markersize=np.sqrt(style["s"]),
        markerfacecolor=style["facecolors"],
        markeredgecolor=style["edgecolors"],
        markeredgewidth=style["linewidths"],
        label=label,
    )


# ---------------------------------------------------------------------------- public


def plot_1d_morphing_basis(
    morpher: PhysicsMorpher,
    xlabel: str = r"$\theta$",
    xrange: tuple[float, float] = (-1.0, 1.0),
    resolution: int = 100,
    ax: Axes | None = None,
) -> Figure:
    r"""Plot a morphing basis of one parameter and how well it morphs.

    The curve is :math:`\sqrt{\sum_b w_b(\theta)^2}` against :math:`\theta`; the basis points are
    marked on it (where a square basis has the value 1).

    Parameters
    ----------
    morpher : PhysicsMorpher
        A morpher with a basis (e.g. ``MadMiner.morpher`` after ``set_morphing``), one parameter.
    xlabel : str, optional
        Label of the x axis (mathtext, no LaTeX). Default: r"$\theta$".
    xrange : tuple of float, optional
        ``(min, max)`` of the x axis. Default: (-1, 1).
    resolution : int, optional
        Number of points on the curve. Default: 100.
    ax : matplotlib.axes.Axes, optional
        Draw into this panel instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (that of ``ax`` when given).

    Raises
    ------
    InputError
        If ``morpher`` has no basis or not exactly one parameter, or an argument is out of range.
    """
    function = "plot_1d_morphing_basis"
    basis = _basis(morpher, function, n_parameters=1)
    xrange = check_range(xrange, "xrange")
    resolution = check_count(resolution, "resolution", 2)
    thetas = np.linspace(*xrange, resolution).reshape(-1, 1)
    values = _root_sum_squared_weights(morpher, thetas)
    at_basis = _root_sum_squared_weights(morpher, basis)
    _log_outside(basis, [xrange], function)
    with plot_style():
        fig, (ax,) = new_figure(1, panel_size=(5.2, 4.0), ax=ax)
        ax.plot(thetas[:, 0], values, color=line_colors(1)[0])
        ax.scatter(basis[:, 0], at_basis, zorder=3, label="basis points", **_sized(_MARKER))
        ax.set_xlim(*xrange)
        ax.set_ylim(0.0, 1.08 * max(float(values.max()), float(at_basis.max())))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(WEIGHT_LABEL)
        ax.legend(loc="upper center")
    return fig


def plot_2d_morphing_basis(
    morpher: PhysicsMorpher,
    xlabel: str = r"$\theta_0$",
    ylabel: str = r"$\theta_1$",
    xrange: tuple[float, float] = (-1.0, 1.0),
    yrange: tuple[float, float] = (-1.0, 1.0),
    crange: tuple[float, float] = (1.0, 100.0),
    resolution: int = 100,
    ax: Axes | None = None,
) -> Figure:
    r"""Plot a morphing basis of two parameters and how well it morphs.

    The colour is :math:`\sqrt{\sum_b w_b(\theta)^2}` on a ``resolution x resolution`` grid of cells
    (each coloured by its value at its centre), on a logarithmic scale; the basis points are white
    markers.

    Parameters
    ----------
    morpher : PhysicsMorpher
        A morpher with a basis (e.g. ``MadMiner.morpher`` after ``set_morphing``), two parameters.
    xlabel, ylabel : str, optional
        Axis labels (mathtext, no LaTeX). Default: r"$\theta_0$", r"$\theta_1$".
    xrange, yrange : tuple of float, optional
        ``(min, max)`` of the axes. Default: (-1, 1) each.
    crange : tuple of float, optional
        ``(min, max)`` of the logarithmic colour scale; values beyond take its end colours.
        Default: (1, 100).
    resolution : int, optional
        Number of cells per axis. Default: 100.
    ax : matplotlib.axes.Axes, optional
        Draw into this panel instead of a new figure (the colour bar is added next to it).

    Returns
    -------
    matplotlib.figure.Figure
        The figure (that of ``ax`` when given).

    Raises
    ------
    InputError
        If ``morpher`` has no basis or not exactly two parameters, or an argument is out of range.
    """
    function = "plot_2d_morphing_basis"
    basis = _basis(morpher, function, n_parameters=2)
    xrange = check_range(xrange, "xrange")
    yrange = check_range(yrange, "yrange")
    crange = check_range(crange, "crange", positive=True)
    resolution = check_count(resolution, "resolution", 1)
    _log_outside(basis, [xrange, yrange], function)
    with plot_style():
        fig, (ax,) = new_figure(1, panel_size=(6.0, 4.8), ax=ax)
        norm = LogNorm(vmin=crange[0], vmax=crange[1])
        mesh = _slice_map(ax, morpher, 2, 0, 1, xrange, yrange, resolution, norm)
        ax.scatter(basis[:, 0], basis[:, 1], zorder=3, **_sized(_MARKER))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        _colorbar(fig, mesh, ax=ax)
        ax.legend(
            handles=[_marker_handle(_sized(_MARKER), "basis points")],
            loc="lower left",
            bbox_to_anchor=(0.0, 1.0),
        )
    return fig


def plot_nd_morphing_basis_scatter(
    morpher: PhysicsMorpher,
    crange: tuple[float, float] = (1.0, 100.0),
    n_test_thetas: int = 1000,
    labels: Sequence[str] | None = None,
    random_state: int | np.random.Generator | None = None,
) -> Figure:
    r"""Plot a morphing basis of any number of parameters with random points, pair by pair.

    ``n_test_thetas`` points are drawn uniformly in the parameter ranges of the morpher (in a
    coupling basis without one range per coupling, in the span of the basis), as its
    :meth:`~motherlode.morphing.PhysicsMorpher.evaluate_morphing` does. Each panel shows them
    projected onto one pair of parameters, coloured by :math:`\sqrt{\sum_b w_b(\theta)^2}` at
    the full point (logarithmic scale), with the basis points projected as white markers. The
    panels of the pairs ``(i, j)``, ``i < j``, form the lower triangle of a grid (``i`` along the
    columns, ``j`` down the rows) with one colour bar.

    Parameters
    ----------
    morpher : PhysicsMorpher
        A morpher with a basis (e.g. ``MadMiner.morpher``), at least two parameters.
    crange : tuple of float, optional
        ``(min, max)`` of the logarithmic colour scale; values beyond take its end colours.
        Default: (1, 100).
    n_test_thetas : int, optional
        Number of random points. Default: 1000.
    labels : sequence of str, optional
        Axis label of each parameter. Default: the parameter names of the morpher if it has
        them, otherwise r"$\theta_i$".
    random_state : int or numpy.random.Generator, optional
        Seed of the random points.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InputError
        If ``morpher`` has no basis or fewer than two parameters, or an argument is out of range.
    """
    function = "plot_nd_morphing_basis_scatter"
    basis = _basis(morpher, function)
    n_parameters = basis.shape[1]
    crange = check_range(crange, "crange", positive=True)
    n_test_thetas = check_count(n_test_thetas, "n_test_thetas", 1)
    labels = _labels(morpher, labels, n_parameters)
    # with return_weights_and_thetas, evaluate_morphing returns (thetas, squared weights)
    thetas, squared = cast(
        tuple[np.ndarray, np.ndarray],
        morpher.evaluate_morphing(
            n_test_thetas=n_test_thetas, return_weights_and_thetas=True, random_state=random_state
        ),
    )
    values = np.sqrt(squared)
    with plot_style():
        fig, panels, key = _corner_figure(n_parameters)
        norm = LogNorm(vmin=crange[0], vmax=crange[1])
        cmap = _cmap()
        points = None
        for (ix, iy), ax in panels.items():
            points = ax.scatter(
                thetas[:, ix],
                thetas[:, iy],
                c=values,
                norm=norm,
                cmap=cmap,
                s=14.0 * font_scale() ** 2,
                linewidths=0.0,
            )
            ax.scatter(basis[:, ix], basis[:, iy], zorder=3, **_sized(_MARKER))
            _tidy_ticks(ax)
        dot = {"s": 14.0, "marker": "o", "facecolors": cmap(0.5), "edgecolors": cmap(0.5), "linewidths": 0.0}
        handles = [
            _marker_handle(_sized(dot), f"{n_test_thetas} random points"),
            _marker_handle(_sized(_MARKER), "basis points"),
        ]
        title = "projected onto each pair" if n_parameters > 2 else None
        _finish_corner(fig, panels, key, labels, n_parameters, points, handles, title)
    return fig


def plot_nd_morphing_basis_slices(
    morpher: PhysicsMorpher,
    crange: tuple[float, float] = (1.0, 100.0),
    resolution: int = 50,
    labels: Sequence[str] | None = None,
) -> Figure:
    r"""Plot a morphing basis of any number of parameters in two-dimensional slices.

    One panel per pair of parameters ``(i, j)``, ``i < j``: :math:`\sqrt{\sum_b w_b(\theta)^2}`
    on a ``resolution x resolution`` grid over the parameter ranges of ``i`` and ``j`` (in a
    coupling basis without one range per coupling, the span of the basis), all other parameters
    at 0; logarithmic colour scale. Basis points in the slice (their other parameters 0) are
    white markers, the others are drawn projected as open circles. The panels form the lower
    triangle of a grid (``i`` along the columns, ``j`` down the rows) with one colour bar.

    Parameters
    ----------
    morpher : PhysicsMorpher
        A morpher with a basis (e.g. ``MadMiner.morpher``), at least two parameters.
    crange : tuple of float, optional
        ``(min, max)`` of the logarithmic colour scale; values beyond take its end colours.
    resolution : int, optional
        Number of cells per panel and axis. Default: 50.
    labels : sequence of str, optional
        Axis label of each parameter. Default: the parameter names of the morpher if it has
        them, otherwise r"$\theta_i$".

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InputError
        If ``morpher`` has no basis or fewer than two parameters, or an argument is out of range.
    """
    function = "plot_nd_morphing_basis_slices"
    basis = _basis(morpher, function)
    n_parameters = basis.shape[1]
    crange = check_range(crange, "crange", positive=True)
    resolution = check_count(resolution, "resolution", 1)
    labels = _labels(morpher, labels, n_parameters)
    ranges = _parameter_ranges(morpher, basis)
    with plot_style():
        fig, panels, key = _corner_figure(n_parameters)
        norm = LogNorm(vmin=crange[0], vmax=crange[1])
        mesh = None
        any_projected = any_in_slice = False
        for (ix, iy), ax in panels.items():
            xrange, yrange = tuple(ranges[ix]), tuple(ranges[iy])
            mesh = _slice_map(ax, morpher, n_parameters, ix, iy, xrange, yrange, resolution, norm)
            others = np.delete(basis, [ix, iy], axis=1)
            in_slice = np.all(np.isclose(others, 0.0, rtol=0.0, atol=1e-12), axis=1)
            any_projected |= not in_slice.all()
            any_in_slice |= bool(in_slice.any())
            ax.scatter(basis[~in_slice, ix], basis[~in_slice, iy], zorder=3, **_sized(_PROJECTED_MARKER))
            ax.scatter(basis[in_slice, ix], basis[in_slice, iy], zorder=4, **_sized(_MARKER))
        in_slice_label = "basis points in the slice" if n_parameters > 2 else "basis points"
        handles = [_marker_handle(_sized(_MARKER), in_slice_label)] if any_in_slice else []
        if any_projected:
            handles.append(_marker_handle(_sized(_PROJECTED_MARKER), "other basis points, projected"))
        title = "slices, other parameters at 0" if n_parameters > 2 else None
        _finish_corner(fig, panels, key, labels, n_parameters, mesh, handles, title)
    return fig
