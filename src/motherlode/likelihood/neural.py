"""``madminer.likelihood.neural``: not built yet (:mod:`motherlode.pending`)."""

from ..pending import LIKELIHOOD, pending_class

__all__ = ["NeuralLikelihood"]

NeuralLikelihood = pending_class("NeuralLikelihood", __name__, LIKELIHOOD)
