"""``madminer.utils.histo``: not built yet (:mod:`motherlode.pending`)."""

from ..pending import HISTOGRAMS, pending_class

__all__ = ["Histo"]

Histo = pending_class("Histo", __name__, HISTOGRAMS)
