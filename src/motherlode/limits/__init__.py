"""Asymptotic limits on the parameters (:class:`AsymptoticLimits`).

p-values on a parameter grid from the rate, histograms of observables or of an estimated score,
or a neural likelihood (ratio) estimator, with the asymptotic chi^2 distribution of the profile
likelihood ratio; nuisance parameters can be profiled, and :meth:`AsymptoticLimits.coverage`
checks the intervals with toys.
"""

from .asymptotic_limits import AsymptoticLimits

__all__ = ["AsymptoticLimits"]
