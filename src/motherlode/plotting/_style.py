"""The common look of every plot: one style, one palette, figures and panels made the same way.

Every plotting function draws inside :func:`plot_style`, creates its figure with :func:`new_figure`
(or draws into the ``ax`` it is given) and takes its default colours from :func:`line_colors`. The
default style is built in (no LaTeX, no extra dependency): ticks inside on all four sides with minor
ticks, as in the field's plots, frameless legends, and the colour-blind-safe six-colour palette of
M. Petroff (arXiv:2107.02270) that CMS adopted. :func:`set_style` switches every plot to an
`mplhep <https://mplhep.readthedocs.io>`_ style (``"CMS"``, ``"ATLAS"``, ``"LHCb2"``, ``"ALICE"``,
``"ROOT"``; mplhep is an optional dependency) or leaves matplotlib's rcParams alone (``None``).

Examples
--------
>>> from motherlode.plotting import set_style
>>> from motherlode.plotting._style import new_figure, plot_style
>>> with plot_style():
...     fig, axes = new_figure(3, n_cols=2)
>>> len(axes), fig.axes[0].xaxis.get_major_ticks()[0].get_tickdir()
(3, 'in')
>>> set_style("motherlode")
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, cast

import matplotlib
import matplotlib.pyplot as plt
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..errors import InputError

__all__ = ["PALETTE", "font_scale", "line_colors", "new_figure", "plot_style", "set_style"]

#: M. Petroff's colour-blind-safe sequence of six colours (arXiv:2107.02270), as used by CMS.
PALETTE = ("#5790fc", "#f89c20", "#e42536", "#964a8b", "#9c9ca1", "#7a21dd")
_EXTRA = ("#3f90da", "#ffa90e", "#bd1f01", "#94a4a2", "#832db6", "#a96b59", "#e76300", "#b9ac70", "#717581")

_RC: dict[str, Any] = {
    "font.size": 12.0,
    "axes.labelsize": 13.0,
    "axes.titlesize": 13.0,
    "legend.fontsize": 10.5,
    "xtick.labelsize": 11.0,
    "ytick.labelsize": 11.0,
    "axes.linewidth": 1.0,
    "axes.prop_cycle": cycler(color=PALETTE),
    "xtick.direction": "in",
    "ytick.direction": "in",
    "xtick.top": True,
    "ytick.right": True,
    "xtick.minor.visible": True,
    "ytick.minor.visible": True,
    "xtick.major.size": 6.0,
    "ytick.major.size": 6.0,
    "xtick.minor.size": 3.0,
    "ytick.minor.size": 3.0,
    "legend.frameon": False,
    "lines.linewidth": 1.5,
    "image.cmap": "viridis",
    "text.usetex": False,
    "mathtext.fontset": "dejavusans",
    "figure.dpi": 100.0,
    "savefig.dpi": 150.0,
    "savefig.bbox": "tight",
    "figure.constrained_layout.use": True,
}
_MPLHEP_STYLES = ("CMS", "ATLAS", "LHCb2", "ALICE", "ROOT")
_state: dict[str, str | None] = {"style": "motherlode"}


def set_style(style: str | None = "motherlode") -> None:
    """Choose the look of all motherlode plots.

    Parameters
    ----------
    style : {"motherlode", "CMS", "ATLAS", "LHCb2", "ALICE", "ROOT"} or None, optional
        ``"motherlode"``: the built-in style (default). An mplhep style name: that style (needs
        the optional dependency ``mplhep``). None: matplotlib's current rcParams, untouched.
    """
    if style is not None and style != "motherlode" and style not in _MPLHEP_STYLES:
        raise InputError(
            f"unknown plot style {style!r}; expected 'motherlode', None or one of {', '.join(_MPLHEP_STYLES)}"
        )
    if style in _MPLHEP_STYLES:
        _mplhep_style(style)  # fail now, not at the first plot
    _state["style"] = style


def _mplhep_style(name: str) -> Any:
    try:
        import mplhep
    except ImportError:
        raise InputError(f"plot style {name!r} needs mplhep (pip install mplhep)") from None
    return getattr(mplhep.style, name)


@contextlib.contextmanager
def plot_style() -> Iterator[None]:
    """A context in which the chosen style (:func:`set_style`) applies; rcParams are restored after."""
    style = _state["style"]
    if style is None:
        yield
        return
    rc = _RC if style == "motherlode" else _mplhep_style(style)
    with matplotlib.rc_context(), plt.style.context(rc):
        yield


def line_colors(n: int, colors: Sequence[Any] | None = None) -> list[Any]:
    """``n`` colours: the given ones (cycled), or the palette (then more distinct colours)."""
    if colors is not None:
        colors = list(colors)
        if not colors:
            raise InputError("colors is empty")
        return [colors[i % len(colors)] for i in range(n)]
    palette = PALETTE + _EXTRA
    return [palette[i % len(palette)] for i in range(n)]


def font_scale() -> float:
    """How much larger than the built-in style's font the current one is (at least 1): panel and
    marker sizes grow with it."""
    return max(1.0, float(plt.rcParams["font.size"]) / float(_RC["font.size"]))


def new_figure(
    n_panels: int = 1,
    n_cols: int = 3,
    panel_size: tuple[float, float] = (4.8, 4.0),
    figsize: tuple[float, float] | None = None,
    ax: Axes | None = None,
    **subplot_kw: Any,
) -> tuple[Figure, list[Axes]]:
    """A figure with ``n_panels`` panels on a grid of at most ``n_cols`` columns (constrained layout,
    panels scaled with :func:`font_scale`), or the figure of ``ax`` when one panel is asked for and
    ``ax`` is given."""
    if ax is not None:
        if n_panels != 1:
            raise InputError(f"ax is only accepted for a single panel, this plot has {n_panels}")
        # a Figure, or a SubFigure when ax lies in one (returned as it is, typed as the usual case)
        return cast(Figure, ax.figure), [ax]
    if n_panels < 1:
        raise InputError(f"nothing to plot ({n_panels} panels)")
    n_cols = max(1, min(int(n_cols), n_panels))
    n_rows = -(-n_panels // n_cols)
    if figsize is None:  # panels grow with the style's font (mplhep's CMS style: 26 pt)
        scale = font_scale()
        figsize = (panel_size[0] * n_cols * scale, panel_size[1] * n_rows * scale)
    fig = plt.figure(figsize=figsize, layout="constrained")  # colour bars and legends never overlap
    axes = [fig.add_subplot(n_rows, n_cols, i + 1, **subplot_kw) for i in range(n_panels)]
    return fig, axes
