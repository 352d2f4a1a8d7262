"""Likelihood functions from histograms and neural estimators, with profiling.

This stage is planned and not built yet: its MadMiner names import, and using them raises
:class:`~motherlode.errors.NotYetAvailableError` (see :mod:`motherlode.pending`).
"""

from .histo import HistoLikelihood
from .manipulate import fix_params, profile_log_likelihood, project_log_likelihood
from .neural import NeuralLikelihood

__all__ = [
    "HistoLikelihood",
    "NeuralLikelihood",
    "fix_params",
    "profile_log_likelihood",
    "project_log_likelihood",
]
