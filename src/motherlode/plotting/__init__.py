"""Plots of distributions, morphing bases, Fisher information, limits and uncertainties.

MadMiner's plotting functions with its arguments. Each returns a :class:`matplotlib.figure.Figure`
(single-panel plots also draw into a given ``ax``), needs no LaTeX and works headless. All share one
look (:func:`set_style`: the built-in style, an mplhep style, or matplotlib's own rcParams). The
physics (weights, histograms, information, p-values) comes from the rest of the package; nothing is
recomputed here.
"""

from ._style import set_style
from .distributions import plot_distributions, plot_histograms
from .fisherinformation import (
    plot_distribution_of_information,
    plot_fisher_information_contours_2d,
    plot_fisherinfo_barplot,
)
from .limits import plot_pvalue_limits
from .morphing import (
    plot_1d_morphing_basis,
    plot_2d_morphing_basis,
    plot_nd_morphing_basis_scatter,
    plot_nd_morphing_basis_slices,
)
from .uncertainties import plot_systematics, plot_uncertainty

__all__ = [
    "plot_1d_morphing_basis",
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
    "set_style",
]
