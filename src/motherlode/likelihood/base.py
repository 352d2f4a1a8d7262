r"""``madminer.likelihood.base``: the common parts of the histogram and neural likelihoods.

A likelihood object (:class:`~motherlode.likelihood.HistoLikelihood`,
:class:`~motherlode.likelihood.NeuralLikelihood`) turns an events file and observed (or Asimov)
data into a function ``nll(params)`` with ``params = [theta, nu]``:

.. math::

    -\log L(\theta, \nu) = -\log \mathrm{Pois}(n_\mathrm{obs} | L\,\sigma(\theta, \nu))
        - \sum_i w_i \log \hat p(x_i | \theta, \nu) - \sum_k \log \mathcal{N}(\nu_k; 0, 1),

the rate term (optional), the kinematic term (a histogram density or a neural estimate) and the
Gaussian constraints of the nuisance parameters. Every weight and cross section at ``(theta, nu)``
comes from the weights engine (:mod:`motherlode.weights`).

The returned :class:`NegativeLogLikelihood` behaves like MadMiner's function (``nll(None)`` is the
number of parameters, ``nll(params)`` a float) and is also vectorised (an addition): ``params`` of
shape ``(n_points, n_params)`` give ``(n_points,)`` in one pass.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import gammaln

from ..analysis import DataAnalyzer
from ..errors import InputError

__all__ = ["BaseLikelihood", "NegativeLogLikelihood"]

logger = logging.getLogger(__name__)

_XSEC_MODES = ("interpol", "weighted", "sampled")
_LOG_2PI = float(np.log(2.0 * np.pi))
#: Weighted toy events are drawn with this seed (MadMiner draws them unseeded).
DEFAULT_SEED = 1234


class NegativeLogLikelihood:
    """A negative log likelihood ``nll(params)`` with ``params = [theta, nu]``.

    Parameters
    ----------
    log_likelihood : callable
        ``log_likelihood(params)`` with ``params`` of shape ``(n_points, n_params)``, returning the
        log likelihood ``(n_points,)``.
    n_parameters : int
        The number of parameters (physics parameters, then nuisance parameters).
    description : str, optional
        Shown in ``repr``.

    Notes
    -----
    ``nll(None)`` returns ``n_parameters`` (MadMiner's convention); ``nll(params)`` with ``params``
    of shape ``(n_params,)`` returns a float; with shape ``(n_points, n_params)`` (an addition) it
    returns ``(n_points,)``, computed in one vectorised pass.
    """

    vectorized = True

    def __init__(
        self, log_likelihood: Callable[[np.ndarray], np.ndarray], n_parameters: int, description: str = ""
    ) -> None:
        self._log_likelihood = log_likelihood
        self.n_parameters = int(n_parameters)
        self.description = description

    def __call__(self, params: Any) -> Any:
        if params is None:
            return self.n_parameters
        values = np.asarray(params, dtype=np.float64)
        single = values.ndim <= 1
        values = values.reshape(1, -1) if single else values
        if values.ndim != 2 or values.shape[1] != self.n_parameters:
            raise InputError(
                f"params must have shape ({self.n_parameters},) or (n_points, {self.n_parameters}) "
                f"(physics parameters, then nuisance parameters), got shape {np.shape(params)}"
            )
        result = -np.asarray(self._log_likelihood(values), dtype=np.float64).reshape(len(values))
        return float(result[0]) if single else result

    def __repr__(self) -> str:
        return f"NegativeLogLikelihood({self.description or 'nll'}, n_parameters={self.n_parameters})"


class BaseLikelihood(DataAnalyzer, abc.ABC):
    """Base class of the likelihood functions: rate term, constraints and Asimov data.

    Parameters
    ----------
    filename : str or path-like
        The events file.
    disable_morphing : bool, optional
        If True, the morphing setup is not loaded. Default: False.
    include_nuisance_parameters : bool, optional
        If True, the nuisance parameters of the file are parameters of the likelihood. Default: True.
    """

    @abc.abstractmethod
    def create_negative_log_likelihood(self, *args: Any, **kwargs: Any) -> NegativeLogLikelihood:
        """The negative log likelihood of observed data (implemented by the subclasses)."""

    @abc.abstractmethod
    def create_expected_negative_log_likelihood(self, *args: Any, **kwargs: Any) -> NegativeLogLikelihood:
        """The negative log likelihood of Asimov data (implemented by the subclasses)."""

    # ------------------------------------------------------------------ parameters

    @property
    def _n_all_parameters(self) -> int:
        return self.n_parameters + self.n_nuisance_parameters

    def _split(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """``(n_points, P + K)`` -> theta ``(n_points, P)`` and nu ``(n_points, K)`` (None without nu)."""
        theta = params[:, : self.n_parameters]
        nus = params[:, self.n_parameters :] if self.n_nuisance_parameters > 0 else None
        return theta, nus

    def _nll(
        self, log_likelihood: Callable[[np.ndarray, np.ndarray | None], np.ndarray], what: str
    ) -> NegativeLogLikelihood:
        def total(params: np.ndarray) -> np.ndarray:
            theta, nus = self._split(params)
            result = log_likelihood(theta, nus)
            if nus is not None:
                result = result + self._log_likelihood_constraint(nus)
            return result

        return NegativeLogLikelihood(total, self._n_all_parameters, what)

    # ------------------------------------------------------------------ terms

    @staticmethod
    def _log_likelihood_poisson(n_observed: float, xsecs: np.ndarray, luminosity: float) -> np.ndarray:
        """Poisson log probability of ``round(n_observed)`` events for the cross sections ``(J,)``.

        A negative cross section predicts 1e-5 events (as MadMiner).
        """
        n_predicted = np.asarray(xsecs, dtype=np.float64) * luminosity
        negative = n_predicted < 0.0
        if np.any(negative):
            logger.warning(
                "Total cross section is negative at %d of %d parameter points; predicting 1e-5 events there",
                int(negative.sum()),
                len(n_predicted),
            )
            n_predicted = np.where(negative, 1.0e-5, n_predicted)
        k = float(np.round(n_observed))
        if k <= 0.0:
            return -n_predicted
        # k log mu - mu - log k! as k (log1p(r) - r) + (k log k - k - log k!) with r = mu / k - 1:
        # precise near mu = k, where minimisers and profiles need it
        r = n_predicted / k - 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            return k * (np.log1p(r) - r) + (k * np.log(k) - k - gammaln(k + 1.0))

    @staticmethod
    def _log_likelihood_constraint(nus: np.ndarray) -> np.ndarray:
        """Sum of the standard normal log densities of the nuisance parameters, ``(J,)``."""
        return -0.5 * np.sum(nus**2, axis=1) - 0.5 * nus.shape[1] * _LOG_2PI

    # ------------------------------------------------------------------ rate models

    def _rate_function(
        self,
        xsec_mode: str,
        benchmark_weights: np.ndarray | None = None,
    ) -> Callable[[np.ndarray, np.ndarray | None], np.ndarray]:
        """``xsecs(theta (J, P), nu (J, K) or None) -> (J,)`` in pb.

        ``"interpol"``: the benchmark cross sections (of ``benchmark_weights`` summed, or of the
        whole file) morphed, with the nuisance factor of the totals. ``"weighted"``: the events
        ``benchmark_weights`` reweighted (per-event nuisance factors). ``"sampled"``: a streamed
        pass over the file at every call.
        """
        if xsec_mode not in _XSEC_MODES:
            raise InputError(f"xsec_mode must be one of {', '.join(_XSEC_MODES)}, got {xsec_mode!r}")
        if xsec_mode == "interpol":
            if benchmark_weights is not None:
                totals = np.sum(benchmark_weights, axis=0)
            else:
                totals, _ = self.xsecs()
            totals = np.asarray(totals, dtype=np.float64).reshape(1, -1)

            def interpol(theta: np.ndarray, nus: np.ndarray | None) -> np.ndarray:
                return self.parameter_points(theta, nus).weights(totals)[:, 0]

            return interpol
        if xsec_mode == "weighted":
            if benchmark_weights is None:
                raise InputError("xsec_mode='weighted' needs weighted events")

            def weighted(theta: np.ndarray, nus: np.ndarray | None) -> np.ndarray:
                points = self.parameter_points(theta, nus)
                return points.cross_sections([benchmark_weights]).xsecs

            return weighted

        def sampled(theta: np.ndarray, nus: np.ndarray | None) -> np.ndarray:
            return self.xsecs(thetas=list(theta), nus=None if nus is None else list(nus))[0]

        return sampled

    # ------------------------------------------------------------------ events

    def _toy_events(
        self, n_toys: int | None, test_split: float | None, seed: int = DEFAULT_SEED
    ) -> tuple[np.ndarray, np.ndarray]:
        """Weighted events for templates: ``n_toys`` drawn (seeded, without replacement) from the
        training partition (all events if ``test_split`` is None), weights scaled to the whole file.
        """
        if test_split is None:
            start, end, factor = 0, self.n_samples, 1.0
        else:
            start, end, factor = self._partition_bounds("train", float(test_split), 0.0)
        x, weights = self.weighted_events(start_event=start, end_event=end)
        if n_toys is not None and int(n_toys) < len(x):
            index = np.sort(np.random.default_rng(seed).choice(len(x), int(n_toys), replace=False))
            factor *= len(x) / len(index)
            x, weights = x[index], weights[index]
        if len(x) == 0:
            raise InputError(f"no events in {self.madminer_filename} for the templates")
        return x, weights * factor

    @staticmethod
    def _observed_weights(n_observed: float, n_events: int, x_weights: Any) -> np.ndarray:
        """Event weights summing to ``n_observed`` (equal weights if ``x_weights`` is None)."""
        if x_weights is None:
            return np.full(n_events, float(n_observed) / max(n_events, 1))
        weights = np.asarray(x_weights, dtype=np.float64).reshape(-1)
        if len(weights) != n_events:
            raise InputError(
                f"x_observed_weights has {len(weights)} entries, expected one per event of x_observed "
                f"({n_events})"
            )
        return weights * float(n_observed) / np.sum(weights)

    def _parameter_row(self, values: Any, n: int, what: str) -> np.ndarray:
        if values is None:
            return np.zeros(n)
        row = np.asarray(values, dtype=np.float64).reshape(-1)
        if row.shape != (n,):
            raise InputError(f"{what} must have {n} entries, got shape {np.shape(values)}")
        return row

    def _true_point(self, theta_true: Any, nu_true: Any) -> tuple[np.ndarray, np.ndarray | None]:
        theta = self._parameter_row(theta_true, self.n_parameters, "theta_true").reshape(1, -1)
        if self.n_nuisance_parameters == 0:
            if nu_true is not None and np.any(np.asarray(nu_true, dtype=np.float64) != 0):
                raise InputError(f"nu_true = {nu_true} given, but the likelihood has no nuisance parameters")
            return theta, None
        nu = self._parameter_row(nu_true, self.n_nuisance_parameters, "nu_true").reshape(1, -1)
        return theta, nu
