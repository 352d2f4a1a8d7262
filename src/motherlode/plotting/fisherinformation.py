"""``madminer.plotting.fisherinformation``: not built yet (:mod:`motherlode.pending`)."""

from ..pending import PLOTTING, pending_function

__all__ = [
    "plot_distribution_of_information",
    "plot_fisher_information_contours_2d",
    "plot_fisherinfo_barplot",
]

plot_distribution_of_information = pending_function("plot_distribution_of_information", __name__, PLOTTING)
plot_fisher_information_contours_2d = pending_function(
    "plot_fisher_information_contours_2d", __name__, PLOTTING
)
plot_fisherinfo_barplot = pending_function("plot_fisherinfo_barplot", __name__, PLOTTING)
