"""``madminer.plotting.morphing``: not built yet (:mod:`motherlode.pending`)."""

from ..pending import PLOTTING, pending_function

__all__ = [
    "plot_1d_morphing_basis",
    "plot_2d_morphing_basis",
    "plot_nd_morphing_basis_scatter",
    "plot_nd_morphing_basis_slices",
]

plot_1d_morphing_basis = pending_function("plot_1d_morphing_basis", __name__, PLOTTING)
plot_2d_morphing_basis = pending_function("plot_2d_morphing_basis", __name__, PLOTTING)
plot_nd_morphing_basis_scatter = pending_function("plot_nd_morphing_basis_scatter", __name__, PLOTTING)
plot_nd_morphing_basis_slices = pending_function("plot_nd_morphing_basis_slices", __name__, PLOTTING)
