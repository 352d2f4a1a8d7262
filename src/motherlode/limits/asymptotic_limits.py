"""``madminer.limits.asymptotic_limits``: not built yet (:mod:`motherlode.pending`)."""

from ..pending import LIMITS, pending_class

__all__ = ["AsymptoticLimits"]

AsymptoticLimits = pending_class("AsymptoticLimits", __name__, LIMITS)
