r"""``madminer.likelihood.neural``: likelihood functions from neural likelihood (ratio) estimators.

The kinematic term is ``sum_i w_i log r_hat(x_i | theta, nu)`` of a
:class:`~motherlode.ml.ParameterizedRatioEstimator` (or ``log p_hat`` of a
:class:`~motherlode.ml.LikelihoodEstimator`, or an :class:`~motherlode.ml.Ensemble` of either),
evaluated at ``[theta, nu]`` (so an estimator for a file with nuisance parameters must have been
trained with them as extra parameters). All parameter points of a vectorised call are evaluated
in one call of the estimator.

The rate term uses ``xsec_mode="interpol"`` (the benchmark cross sections of the file, morphed,
with the nuisance factor of the totals), or, for other ``xsec_mode`` values, ``mode``:
``"weighted"`` (``n_weighted`` events drawn with a fixed seed and reweighted) or ``"sampled"``
(a streamed pass over the file at every call).

The Asimov data of :meth:`NeuralLikelihood.create_expected_negative_log_likelihood` are the first
``n_asimov`` events of the test partition (``test_split = 0.2``) generated at the benchmark closest
to ``theta_true``, weighted at ``(theta_true, nu_true)`` (MadMiner ignores ``nu_true`` there), and
``n_observed`` comes from the same rate model as the likelihood.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..ml import Ensemble, LikelihoodEstimator, ParameterizedRatioEstimator, load_estimator
from ..utils.various import less_logging
from .base import BaseLikelihood, NegativeLogLikelihood

__all__ = ["NeuralLikelihood", "log_r_evaluator"]

logger = logging.getLogger(__name__)

_MODES = ("weighted", "sampled")
_ASIMOV_TEST_SPLIT = 0.2


class NeuralLikelihood(BaseLikelihood):
    """Likelihood functions from neural estimators of the likelihood (ratio).

    Parameters
    ----------
    filename : str or path-like
        The events file.
    disable_morphing : bool, optional
        If True, the morphing setup is not loaded. Default: False.
    include_nuisance_parameters : bool, optional
        If True, the nuisance parameters of the file are parameters of the likelihood. Default: True.
    """

    def create_negative_log_likelihood(
        self,
        model_file: Any,
        x_observed: Any,
        n_observed: float | None = None,
        x_observed_weights: Any = None,
        include_xsec: bool = True,
        luminosity: float = 300000.0,
        mode: str = "weighted",
        n_weighted: int | None = 10000,
        xsec_mode: str = "interpol",
    ) -> NegativeLogLikelihood:
        """The negative log likelihood of observed events.

        Parameters
        ----------
        model_file : str or estimator
            A saved estimator or ensemble (see :func:`motherlode.ml.load_estimator`), or the object
            itself (an addition).
        x_observed : ndarray
            Observed events, shape ``(n_events, n_observables)``.
        n_observed : float or None, optional
            Number of observed events (rounded for the Poisson term). Default: ``len(x_observed)``.
        x_observed_weights : ndarray or None, optional
            Event weights (normalised to ``n_observed``). Default: equal.
        include_xsec : bool, optional
            Include the Poisson rate term. Default: True.
        luminosity : float, optional
            Integrated luminosity in pb^-1. Default: 300000.
        mode : {"weighted", "sampled"}, optional
            The rate model when ``xsec_mode`` is not ``"interpol"``.
        n_weighted : int or None, optional
            Number of events for ``mode="weighted"`` (None: all). Default: 10000.
        xsec_mode : {"interpol", "weighted", "sampled"}, optional
            ``"interpol"`` (default) morphs the benchmark cross sections; otherwise the rate follows
            ``mode`` (``"weighted"``/``"sampled"`` select it directly).

        Returns
        -------
        NegativeLogLikelihood
            ``nll(params)`` with ``params = [theta, nu]``; also takes ``(n_points, n_params)``.
        """
        return self._create(
            model_file, x_observed, n_observed, x_observed_weights, include_xsec, luminosity, mode,
            n_weighted, xsec_mode,
        )  # fmt: skip

    def create_expected_negative_log_likelihood(
        self,
        model_file: Any,
        theta_true: Any,
        nu_true: Any,
        include_xsec: bool = True,
        luminosity: float = 300000.0,
        n_asimov: int | None = None,
        mode: str = "sampled",
        n_weighted: int | None = 10000,
        xsec_mode: str = "interpol",
    ) -> NegativeLogLikelihood:
        """The negative log likelihood of Asimov data at ``(theta_true, nu_true)``.

        Parameters
        ----------
        model_file : str or estimator
            As in :meth:`create_negative_log_likelihood`.
        theta_true : ndarray
            The true physics parameters.
        nu_true : ndarray or None
            The true nuisance parameters (None: nominal).
        n_asimov : int or None, optional
            Number of Asimov events (None: the whole test partition).

        Other parameters are as in :meth:`create_negative_log_likelihood`.

        Returns
        -------
        NegativeLogLikelihood
        """
        theta, nu = self._true_point(theta_true, nu_true)
        start, end, _ = self._partition_bounds("test", _ASIMOV_TEST_SPLIT, 0.0)
        batches = self.event_loader(
            start=start,
            end=end,
            batch_size=None if n_asimov is None else int(n_asimov),
            generated_close_to=theta[0],
        )
        x_asimov, benchmark_weights = next(batches, (None, None))
        if x_asimov is None or benchmark_weights is None or len(x_asimov) == 0:
            raise InputError(f"no test events in {self.madminer_filename} for the Asimov data")
        x_weights = self.parameter_points(theta, nu).weights(benchmark_weights)[0]
        x_weights = x_weights / np.sum(x_weights)
        return self._create(
            model_file, x_asimov, None, x_weights, include_xsec, luminosity, mode, n_weighted, xsec_mode,
            asimov=(theta, nu),
        )  # fmt: skip

    # ------------------------------------------------------------------ construction

    def _create(
        self,
        model_file: Any,
        x_observed: Any,
        n_observed: float | None,
        x_observed_weights: Any,
        include_xsec: bool,
        luminosity: float,
        mode: str,
        n_weighted: int | None,
        xsec_mode: str,
        asimov: tuple[np.ndarray, np.ndarray | None] | None = None,
    ) -> NegativeLogLikelihood:
        if mode not in _MODES:
            raise InputError(f"mode must be one of {', '.join(_MODES)}, got {mode!r}")
        estimator = (
            load_estimator(model_file)
            if isinstance(model_file, str | bytes) or hasattr(model_file, "__fspath__")
            else model_file
        )
        evaluate = log_r_evaluator(estimator)
        x_observed = np.asarray(x_observed, dtype=np.float64)
        if x_observed.ndim != 2:
            raise InputError(f"x_observed must have shape (n_events, n_observables), got {x_observed.shape}")

        rate = None
        if include_xsec or (asimov is not None and n_observed is None):
            rate_mode = (
                xsec_mode if xsec_mode != "interpol" and xsec_mode in ("weighted", "sampled") else None
            )
            rate_mode = rate_mode or ("interpol" if xsec_mode == "interpol" else mode)
            weights = None
            if rate_mode == "weighted":
                _, weights = self._toy_events(n_weighted, None)
            rate = self._rate_function(rate_mode, weights)
        if n_observed is None:
            if asimov is None:
                n_observed = len(x_observed)
            else:
                assert rate is not None  # computed above for Asimov data
                n_observed = luminosity * float(rate(*asimov)[0])
        if not include_xsec:
            rate = None
        x_weights = self._observed_weights(n_observed, len(x_observed), x_observed_weights)

        def log_likelihood(theta: np.ndarray, nus: np.ndarray | None) -> np.ndarray:
            params = theta if nus is None else np.concatenate([theta, nus], axis=1)
            log_r = evaluate(x_observed, params)
            result = log_r @ x_weights
            if rate is not None:
                result = result + self._log_likelihood_poisson(n_observed, rate(theta, nus), luminosity)
            return result

        return self._nll(log_likelihood, f"neural, {type(estimator).__name__}, rate={include_xsec}")


def _has_torch_model(estimator: Any) -> bool:
    model = getattr(estimator, "model", None)
    return (
        isinstance(model, torch.nn.Module)
        and type(estimator).evaluate_log_likelihood_ratio
        is ParameterizedRatioEstimator.evaluate_log_likelihood_ratio
    )


def log_r_evaluator(estimator: Any) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``evaluate(x (n, d), params (J, P)) -> log r (J, n)`` for a likelihood (ratio) estimator.

    Used by the neural likelihoods and by mode "ml" of the asymptotic limits with nuisance
    parameters. A :class:`~motherlode.ml.ParameterizedRatioEstimator` with a torch network is
    evaluated in float64 (a copy of the network), so that finite differences and minimisers see a
    smooth function; non-finite values are set to 0 with a warning.

    Parameters
    ----------
    estimator : ParameterizedRatioEstimator, LikelihoodEstimator or Ensemble of them

    Returns
    -------
    callable
        ``evaluate(x, params)``: the log likelihood ratio (or log likelihood) of every event at
        every parameter point, shape ``(len(params), len(x))``.
    """
    if isinstance(estimator, ParameterizedRatioEstimator) and _has_torch_model(estimator):
        # evaluated in float64 (a copy of the network): float32 outputs make the NLL too noisy for
        # minimisers with finite-difference gradients
        double = copy.deepcopy(estimator)
        assert double.model is not None  # checked by _has_torch_model
        double.model = double.model.double()

        def call(x: np.ndarray, params: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                log_r = double.evaluate_log_likelihood_ratio_torch(
                    torch.as_tensor(x, dtype=torch.float64),
                    torch.as_tensor(params, dtype=torch.float64),
                    test_all_combinations=True,
                )
            return log_r.cpu().numpy()

    elif isinstance(estimator, ParameterizedRatioEstimator):

        def call(x: np.ndarray, params: np.ndarray) -> np.ndarray:
            return estimator.evaluate_log_likelihood_ratio(x=x, theta=params, test_all_combinations=True)[0]

    elif isinstance(estimator, LikelihoodEstimator):

        def call(x: np.ndarray, params: np.ndarray) -> np.ndarray:
            return estimator.evaluate_log_likelihood(x=x, theta=params, test_all_combinations=True)[0]

    elif isinstance(estimator, Ensemble) and estimator.estimator_type in (
        "parameterized_ratio",
        "likelihood",
    ):
        method = (
            estimator.evaluate_log_likelihood_ratio
            if estimator.estimator_type == "parameterized_ratio"
            else estimator.evaluate_log_likelihood
        )

        def call(x: np.ndarray, params: np.ndarray) -> np.ndarray:
            return method(x=x, theta=params, test_all_combinations=True, calculate_covariance=False)[0]

    else:
        raise InputError(
            "NeuralLikelihood needs a ParameterizedRatioEstimator, a LikelihoodEstimator or an Ensemble "
            f"of them as model_file, got {type(estimator).__name__}"
        )

    def evaluate(x: np.ndarray, params: np.ndarray) -> np.ndarray:
        with less_logging():
            log_r = np.asarray(call(x, params), dtype=np.float64).reshape(len(params), len(x))
        bad = ~np.isfinite(log_r)
        if np.any(bad):
            logger.warning("Setting %d non-finite log likelihood (ratio) values to 0", int(bad.sum()))
            log_r = np.where(bad, 0.0, log_r)
        return log_r

    return evaluate
