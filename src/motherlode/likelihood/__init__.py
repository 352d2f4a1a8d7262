"""Likelihood functions from histograms and neural estimators, with fixing, projecting and profiling.

:class:`HistoLikelihood` (histograms of observables or SALLY score components) and
:class:`NeuralLikelihood` (neural likelihood ratio or likelihood estimators) return negative log
likelihoods ``nll(params)`` with ``params = [theta, nu]``, vectorised over parameter points;
:func:`fix_params`, :func:`project_log_likelihood` and :func:`profile_log_likelihood` work on them.
"""

from .base import BaseLikelihood, NegativeLogLikelihood
from .histo import HistoLikelihood
from .manipulate import fix_params, profile_log_likelihood, project_log_likelihood
from .neural import NeuralLikelihood

__all__ = [
    "BaseLikelihood",
    "HistoLikelihood",
    "NegativeLogLikelihood",
    "NeuralLikelihood",
    "fix_params",
    "profile_log_likelihood",
    "project_log_likelihood",
]
