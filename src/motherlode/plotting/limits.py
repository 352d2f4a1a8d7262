"""``madminer.plotting.limits``: not built yet (:mod:`motherlode.pending`)."""

from ..pending import PLOTTING, pending_function

__all__ = ["plot_pvalue_limits"]

plot_pvalue_limits = pending_function("plot_pvalue_limits", __name__, PLOTTING)
