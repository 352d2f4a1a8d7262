"""``madminer.plotting.distributions``: not built yet (:mod:`motherlode.pending`)."""

from ..pending import PLOTTING, pending_function

__all__ = ["plot_distributions", "plot_histograms"]

plot_distributions = pending_function("plot_distributions", __name__, PLOTTING)
plot_histograms = pending_function("plot_histograms", __name__, PLOTTING)
