"""``madminer.likelihood.histo``: not built yet (:mod:`motherlode.pending`)."""

from ..pending import LIKELIHOOD, pending_class

__all__ = ["HistoLikelihood"]

HistoLikelihood = pending_class("HistoLikelihood", __name__, LIKELIHOOD)
