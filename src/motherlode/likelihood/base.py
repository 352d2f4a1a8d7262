"""``madminer.likelihood.base``: not built yet (:mod:`motherlode.pending`)."""

from ..pending import LIKELIHOOD, pending_class

__all__ = ["BaseLikelihood"]

BaseLikelihood = pending_class("BaseLikelihood", __name__, LIKELIHOOD)
