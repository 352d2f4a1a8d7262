"""``madminer.plotting.uncertainties``: not built yet (:mod:`motherlode.pending`)."""

from ..pending import PLOTTING, pending_function

__all__ = ["plot_systematics", "plot_uncertainty"]

plot_systematics = pending_function("plot_systematics", __name__, PLOTTING)
plot_uncertainty = pending_function("plot_uncertainty", __name__, PLOTTING)
