r"""``FisherInformation``: the information on theta in truth-level events, rates, histograms and
trained score estimators.

For an expected number of events ``L sigma(theta)`` with differential cross section
``dsigma(x|theta)``, the Fisher information is

.. math::

    I_{ij}(\theta) = L \int dx\, \frac{\partial_i\, d\sigma(x|\theta)\; \partial_j\, d\sigma(x|\theta)}
    {d\sigma(x|\theta)}

(arXiv:1612.05261). Summed over weighted events this is the *truth* information; applied to the
total cross section it is the *rate* information; applied to the bins of a histogram it is the
*histogram* information. Gradients with respect to nuisance parameters (at ``nu = 0``) come from
the same weights engine (:mod:`motherlode.weights`) as every other weight here:
``d dsigma / d nu_k = a_k(x) dsigma``.

Uncertainties are propagated linearly from the statistical uncertainties of the benchmark weights
(per event: ``sigma_b = w_b``; per bin or for the rate: ``sqrt(sum w_b^2)``), with the benchmarks
of one event (or bin) fully correlated, as in MadMiner. Only the physics block gets a covariance
(the nuisance blocks are zero), also as in MadMiner. The Jacobian here has the correct sign of the
``dsigma_i dsigma_j / sigma^2`` term (MadMiner 0.9.6 adds it; see docs/differences.md).

Everything is streamed over the events of the file, vectorised; cuts, efficiencies and
histogrammed observables are expressions of the project's safe expression engine over the
observable names of the file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis.dataanalyzer import DataAnalyzer
from ..errors import InputError, SetupError
from ..expressions import Expression
from ..histograms import BinnedWeights, boundaries_from_bins, equal_cross_section_boundaries
from ..utils.various import sanitize_array
from ..weights import ParameterPoints

__all__ = ["FisherInformation", "information_covariance", "information_from_weights"]

logger = logging.getLogger(__name__)

_MODES = ("score", "information", "modified_score")


# ---------------------------------------------------------------------- the formulas


def information_from_weights(
    weights: np.ndarray, gradients: np.ndarray, luminosity: float, sum_events: bool = True
) -> np.ndarray:
    r"""``L g_i g_j / w`` per event (or bin), summed over the last axis when ``sum_events``.

    Parameters
    ----------
    weights : ndarray, shape (..., n)
        Cross sections (pb) of the events or bins.
    gradients : ndarray, shape (..., G, n)
        Their gradients.
    luminosity : float
        In pb^-1.
    sum_events : bool, optional
        Sum over events (shape ``(..., G, G)``) or not (``(..., n, G, G)``).

    Examples
    --------
    >>> information_from_weights(np.array([2.0, 1.0]), np.array([[2.0, 1.0]]), luminosity=1.0)
    array([[3.]])
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = sanitize_array(1.0 / weights)
    if sum_events:
        return luminosity * np.einsum("...n,...in,...jn->...ij", inverse, gradients, gradients)
    return luminosity * np.einsum("...n,...in,...jn->...nij", inverse, gradients, gradients)


def information_covariance(
    matrix: np.ndarray,
    gradient_rows: np.ndarray,
    benchmark_weights: np.ndarray,
    benchmark_uncertainties: np.ndarray,
    luminosity: float,
    *,
    madminer_jacobian: bool = False,
) -> np.ndarray:
    r"""Covariance ``(P, P, P, P)`` of the physics information by linear error propagation.

    With ``sigma = W . w``, ``dsigma_i = G_i . w`` per event (or bin) and the information
    ``I_ij = L sum dsigma_i dsigma_j / sigma``, the derivative with respect to the weight ``w_b``
    of one event is ``L (G_ib dsigma_j / sigma + G_jb dsigma_i / sigma - W_b dsigma_i dsigma_j /
    sigma^2)``. The weights of one event have uncertainties ``u_b`` and are fully correlated, so
    each event contributes ``v v^T`` with ``v_ij = sum_b J_ijb u_b``.

    Parameters
    ----------
    matrix : ndarray, shape (B,)
        The morphing row ``W`` of the point.
    gradient_rows : ndarray, shape (P, B)
        Its gradient rows ``G``.
    benchmark_weights, benchmark_uncertainties : ndarray, shape (n, B)
        Weights and their uncertainties per event or bin.
    luminosity : float
        In pb^-1.
    madminer_jacobian : bool, optional
        Use MadMiner 0.9.6's sign (``+``) for the last term, only to compare with it.
    """
    sigma = benchmark_weights @ matrix
    dsigma = benchmark_weights @ gradient_rows.T  # (n, P)
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = sanitize_array(1.0 / sigma)
    gradient_u = benchmark_uncertainties @ gradient_rows.T  # (n, P): sum_b G_ib u_b
    sigma_u = benchmark_uncertainties @ matrix  # (n,): sum_b W_b u_b
    sign = 1.0 if madminer_jacobian else -1.0
    v = (
        np.einsum("ni,nj,n->nij", gradient_u, dsigma, inverse)
        + np.einsum("nj,ni,n->nij", gradient_u, dsigma, inverse)
        + sign * np.einsum("n,ni,nj,n->nij", sigma_u, dsigma, dsigma, inverse**2)
    )
    v = luminosity * sanitize_array(v)
    return np.einsum("nij,nkl->ijkl", v, v)


# ---------------------------------------------------------------------- the class


class FisherInformation(DataAnalyzer):
    """Fisher information in truth-level events, the total rate, histograms and trained estimators.

    Parameters
    ----------
    filename : str or path-like
        An events file (MadMiner's or motherlode's).
    include_nuisance_parameters : bool, optional
        If True (default), nuisance parameters of the file are included where asked for.

    Notes
    -----
    ``theta`` may be a parameter point ``(n_parameters,)`` (needs morphing), a point with the
    nuisance parameters appended ``(n_parameters + n_nuisance_parameters,)``, or a benchmark name
    (additions). Cuts and efficiencies are expressions over the observable names of the file
    (``"pt_j1 > 30"``, ``"0.9 if abs(eta_j1) < 2.5 else 0.7"``), evaluated safely and vectorised.
    """

    def __init__(self, filename: str | os.PathLike[str], include_nuisance_parameters: bool = True) -> None:
        super().__init__(filename, False, include_nuisance_parameters)

    # ------------------------------------------------------------------ inputs

    def _point(self, theta: Any) -> ParameterPoints:
        """One point; a vector of ``n_parameters + n_nuisance_parameters`` values is ``(theta, nu)``."""
        points, single = self._points(theta)
        if not single:
            raise InputError(f"expected one parameter point, got an array of shape {np.shape(theta)}")
        return points

    def _points(self, theta: Any) -> tuple[ParameterPoints, bool]:
        """Points from a benchmark name, one point ``(P,)`` or ``(P + K,)``, or an array of points
        ``(J, P)`` or ``(J, P + K)``; and whether a single point was given."""
        if isinstance(theta, str | int | np.integer):
            return self.parameter_points([theta]), True
        values = np.asarray(theta, dtype=np.float64)
        single = values.ndim <= 1
        values = values.reshape(1, -1) if single else values
        k, p = self.n_nuisance_parameters, self.n_parameters
        if values.ndim == 2 and k and values.shape[1] == p + k:
            return self.parameter_points(values[:, :p], values[:, p:]), single
        return self.parameter_points(self.weight_model.theta_array(values)), single

    @staticmethod
    def _result(information: np.ndarray, covariance: np.ndarray | None, single: bool) -> tuple[Any, Any]:
        if single:
            return information[0], None if covariance is None else covariance[0]
        return information, covariance

    def _expression(self, definition: str, what: str) -> Expression:
        if not isinstance(definition, str):
            raise InputError(f"{what} must be a string expression over the observables, got {definition!r}")
        expression = Expression(definition, names=set(self.observables), context=what)
        return expression

    def _selection(
        self, cuts: Sequence[str] | None, efficiency_functions: Sequence[str] | None
    ) -> tuple[list[Expression], list[Expression]]:
        cut_expressions = [self._expression(cut, f"cut {cut!r}") for cut in (cuts or [])]
        efficiencies = [self._expression(f, f"efficiency {f!r}") for f in (efficiency_functions or [])]
        return cut_expressions, efficiencies

    def _columns(self, observations: np.ndarray) -> dict[str, np.ndarray]:
        return {name: observations[:, i] for i, name in enumerate(self.observables)}

    def _evaluate(self, expression: Expression, observations: np.ndarray) -> np.ndarray:
        value = expression(self._columns(observations))
        return np.broadcast_to(np.asarray(value, dtype=np.float64), (len(observations),))

    def _events(
        self,
        cuts: Sequence[str] | None = None,
        efficiency_functions: Sequence[str] | None = None,
        start: int = 0,
        end: int | None = None,
        batch_size: int | None = 100_000,
        include_nuisance_parameters: bool = True,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(observations, benchmark_weights)`` after cuts, with efficiencies applied to the weights."""
        cut_expressions, efficiencies = self._selection(cuts, efficiency_functions)
        for observations, weights in self.event_loader(
            start, end, batch_size, include_nuisance_parameters=include_nuisance_parameters
        ):
            if cut_expressions:
                keep = np.ones(len(observations), dtype=bool)
                for cut in cut_expressions:
                    keep &= self._evaluate(cut, observations).astype(bool)
                observations, weights = observations[keep], weights[keep]
            if efficiencies:
                factor = np.ones(len(observations))
                for efficiency in efficiencies:
                    factor = factor * self._evaluate(efficiency, observations)
                weights = weights * factor[:, None]
            yield observations, weights

    def _with_nuisance(self, include_nuisance_parameters: bool) -> bool:
        return bool(include_nuisance_parameters) and self.nuisance_morpher is not None

    # ------------------------------------------------------------------ core

    def _information(
        self,
        point: ParameterPoints,
        benchmark_weights: np.ndarray,
        luminosity: float,
        include_nuisance: bool,
        uncertainties: np.ndarray | None = None,
        sum_events: bool = True,
        calculate_uncertainty: bool = True,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Information of events or bins with benchmark weights ``(n, B)`` at ``J`` points: ``(J, G, G)``
        (or per event ``(J, n, G, G)``) and the covariances ``(J, G, G, G, G)`` of the physics block
        (None if not asked for)."""
        weights = point.weights(benchmark_weights)
        gradients = point.weight_gradients(benchmark_weights, "all" if include_nuisance else "theta")
        information = information_from_weights(weights, gradients, luminosity, sum_events)
        if not calculate_uncertainty:
            return information, None
        p, g = self.n_parameters, gradients.shape[1]
        covariance = np.zeros((len(point), g, g, g, g))
        rows = point.theta_gradient_matrices()
        uncertainties = benchmark_weights if uncertainties is None else uncertainties
        for j in range(len(point)):
            covariance[j, :p, :p, :p, :p] = information_covariance(
                point.matrices[j], rows[j], benchmark_weights, uncertainties, luminosity
            )
        return information, covariance

    def _xsec(self, point: ParameterPoints, start: int = 0, end: int | None = None) -> float:
        batches = (w for _, w in self.event_loader(start, end, include_nuisance_parameters=True))
        return float(point.cross_sections(batches).xsecs[0])

    # ------------------------------------------------------------------ public API

    def truth_information(
        self,
        theta: Any,
        luminosity: float = 300000.0,
        cuts: Sequence[str] | None = None,
        efficiency_functions: Sequence[str] | None = None,
        include_nuisance_parameters: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Full Fisher information at truth (parton) level: every weighted event of the file.

        Parameters
        ----------
        theta : ndarray or str
            Parameter point (or benchmark name) where the information is evaluated. An array of
            ``J`` points ``(J, n_parameters)`` gives ``J`` results at once (an addition; also in
            :meth:`rate_information`, :meth:`histo_information` and :meth:`histo_information_2d`).
        luminosity : float, optional
            In pb^-1. Default: 300000.
        cuts : list of str or None, optional
            Expressions over the observables; an event passes if all are true.
        efficiency_functions : list of str or None, optional
            Expressions whose product multiplies each event's weights.
        include_nuisance_parameters : bool, optional
            Include the nuisance parameters (when the file has them).

        Returns
        -------
        fisher_information : ndarray, shape (n, n)
            ``n = n_parameters (+ n_nuisance_parameters)``; ``(J, n, n)`` for ``J`` points.
        fisher_information_uncertainty : ndarray, shape (n, n, n, n)
            Covariance from linear error propagation (physics block).
        """
        include = self._with_nuisance(include_nuisance_parameters)
        points, single = self._points(theta)
        width = self.n_parameters + (self.n_nuisance_parameters if include else 0)
        information, covariance = (
            np.zeros((len(points), width, width)),
            np.zeros((len(points),) + (width,) * 4),
        )
        for _, weights in self._events(cuts, efficiency_functions):
            batch_information, batch_covariance = self._information(points, weights, luminosity, include)
            information += batch_information
            covariance += batch_covariance
        return self._result(information, covariance, single)

    def rate_information(
        self,
        theta: Any,
        luminosity: float,
        cuts: Sequence[str] | None = None,
        efficiency_functions: Sequence[str] | None = None,
        include_nuisance_parameters: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fisher information in the total cross section alone.

        Arguments and returns as in :meth:`truth_information`; the uncertainty of each
        benchmark's cross section is ``sqrt(sum_events w_b^2)``.
        """
        include = self._with_nuisance(include_nuisance_parameters)
        points, single = self._points(theta)
        information, covariance = self._rate_information(
            points, luminosity, include, *self._benchmark_totals(cuts, efficiency_functions)
        )
        return self._result(information, covariance, single)

    def _benchmark_totals(
        self, cuts: Sequence[str] | None = None, efficiency_functions: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Cross section of every benchmark column and its statistical uncertainty, in one pass."""
        totals, squares = None, None
        for _, weights in self._events(cuts, efficiency_functions):
            totals = weights.sum(axis=0) if totals is None else totals + weights.sum(axis=0)
            squares = (weights**2).sum(axis=0) if squares is None else squares + (weights**2).sum(axis=0)
        if totals is None:
            raise InputError(f"no events of {self.madminer_filename} pass the cuts {list(cuts or [])}")
        assert squares is not None  # filled together with totals
        return totals, np.sqrt(squares)

    def _rate_information(
        self,
        points: ParameterPoints,
        luminosity: float,
        include: bool,
        totals: np.ndarray,
        errors: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        information, covariance = self._information(
            points, totals[None, :], luminosity, include, errors[None, :]
        )
        assert covariance is not None  # calculate_uncertainty is on
        return information, covariance

    def full_information(
        self,
        theta: Any,
        model_file: str | os.PathLike[str],
        unweighted_x_sample_file: str | os.PathLike[str] | None = None,
        luminosity: float = 300000.0,
        include_xsec_info: bool = True,
        mode: str = "score",
        calculate_covariance: bool = True,
        batch_size: int = 100000,
        test_split: float | None = 0.2,
    ) -> tuple[np.ndarray, np.ndarray | float]:
        """Full detector-level Fisher information, estimated with a trained score (SALLY) model.

        Parameters
        ----------
        theta : ndarray or str
            Parameter point where the information is evaluated (the model's reference point).
        model_file : str, path-like, estimator or Ensemble
            A saved :class:`~motherlode.ml.ScoreEstimator` or
            :class:`~motherlode.ml.ParameterizedRatioEstimator` (the prefix given to ``save``), or
            the folder of a saved :class:`~motherlode.ml.Ensemble` of them; or such an estimator or
            ensemble itself (an addition).
        unweighted_x_sample_file : str, path-like or None, optional
            ``.npy`` file of unweighted events drawn at theta (after cuts). If None, the weighted
            events of the test partition of the file are used.
        luminosity : float, optional
            In pb^-1. Default: 300000.
        include_xsec_info : bool, optional
            Add the rate information. Default: True.
        mode : {"score", "information", "modified_score"}, optional
            How an ensemble's covariance is estimated (see :meth:`Ensemble.calculate_fisher_information`).
        calculate_covariance : bool, optional
            Ensembles only: also return the ensemble covariance. Default: True.
        batch_size : int, optional
            Events evaluated at once.
        test_split : float or None, optional
            Fraction of events in the test partition; None, 0 or 1: all events (probably including
            training events).

        Returns
        -------
        fisher_information : ndarray, shape (n, n)
            ``n`` is the model's number of parameters: ``n_parameters``, or ``n_parameters +
            n_nuisance_parameters`` when it was trained with nuisance parameters.
        fisher_information_uncertainty : ndarray or float
            The rate information's covariance plus, for ensembles with ``calculate_covariance``,
            the ensemble covariance.
        """
        from ..ml import Ensemble, ParameterizedRatioEstimator, ScoreEstimator

        if mode not in _MODES:
            raise InputError(f"unknown mode {mode!r}; expected one of {', '.join(_MODES)}")
        model = _load_model(model_file)
        is_ensemble = isinstance(model, Ensemble)
        members = model.estimators if is_ensemble else [model]
        if not all(isinstance(m, ScoreEstimator | ParameterizedRatioEstimator) for m in members):
            raise InputError(
                f"{model_file}: full_information needs a score or parameterized-ratio estimator "
                f"(or an ensemble of them), got {type(members[0]).__name__}"
            )
        include = self._model_includes_nuisance(members[0], model_file)
        point = self._point(theta)
        theta_values = point.values[0]
        # one pass gives the total cross section and the rate information
        totals, errors = self._benchmark_totals()
        total_xsec = float(point.weights(totals[None, :])[0, 0])
        rate_information, rate_covariance = 0.0, 0.0
        if include_xsec_info:
            xsec_information, xsec_covariance = self._rate_information(
                point, luminosity, include, totals, errors
            )
            rate_information, rate_covariance = xsec_information[0], xsec_covariance[0]

        def evaluate(x: Any, weights: np.ndarray | None, n_events: float) -> tuple[np.ndarray, Any]:
            if is_ensemble:
                return model.calculate_fisher_information(
                    x=x, theta=theta_values, obs_weights=weights, n_events=n_events, mode=mode,
                    calculate_covariance=calculate_covariance,
                )  # fmt: skip
            return model.calculate_fisher_information(
                x=x, theta=theta_values, weights=weights, n_events=n_events
            ), None

        kinematic: Any  # the information matrix (0.0 before the first batch)
        covariance: Any  # the ensemble covariance, if any
        if unweighted_x_sample_file is not None:
            kinematic, covariance = evaluate(str(unweighted_x_sample_file), None, luminosity * total_xsec)
        else:
            start = 0 if test_split is None or not 0.0 < test_split < 1.0 else self._test_start(test_split)
            partition_xsec = self._xsec(point, start) if start > 0 else total_xsec
            kinematic, covariance = 0.0, None
            for observations, weights in self.event_loader(
                start, None, batch_size, include_nuisance_parameters=True
            ):
                self._check_model_features(members[0], observations, model_file)
                weights_theta = point.weights(weights)[0]
                n_events = luminosity * total_xsec * np.sum(weights_theta) / partition_xsec
                batch_information, batch_covariance = evaluate(observations, weights_theta, n_events)
                kinematic = kinematic + batch_information
                if batch_covariance is not None:
                    covariance = batch_covariance if covariance is None else covariance + batch_covariance
        if is_ensemble and calculate_covariance and covariance is not None:
            return rate_information + kinematic, rate_covariance + covariance
        return rate_information + kinematic, rate_covariance

    def _test_start(self, test_split: float) -> int:
        start, _, _ = self._partition_bounds("test", test_split, 0.0)
        return start

    def _model_includes_nuisance(self, model: Any, model_file: Any) -> bool:
        n_model = int(model.n_parameters)
        if n_model == self.n_parameters:
            return False
        if n_model == self.n_parameters + self.n_nuisance_parameters and self.n_nuisance_parameters > 0:
            return True
        raise SetupError(
            f"{model_file} has {n_model} parameters, but {self.madminer_filename} has {self.n_parameters} "
            f"physics parameters and {self.n_nuisance_parameters} nuisance parameters"
        )

    def _check_model_features(self, model: Any, observations: np.ndarray, model_file: Any) -> None:
        features = getattr(model, "features", None)
        n_inputs = len(features) if features is not None else int(model.n_observables)
        available = observations.shape[1]
        needed = (max(features) + 1) if features is not None and len(features) else n_inputs
        if (features is None and n_inputs != available) or needed > available:
            raise SetupError(
                f"{model_file} expects {n_inputs} input features"
                + (f" (observable indices {list(features)})" if features is not None else "")
                + f", but {self.madminer_filename} has {available} observables"
            )

    # ------------------------------------------------------------------ histograms

    def _boundaries(
        self,
        point: ParameterPoints,
        observable: Expression,
        bins: int | Sequence[float] | np.ndarray,
        histrange: tuple[float, float] | None,
        n_events_dynamic_binning: int | None,
        cuts: Sequence[str] | None,
        efficiency_functions: Sequence[str] | None,
    ) -> np.ndarray:
        """Bin boundaries: MadMiner's rules, equal cross sections at theta when no range is given.

        The automatic boundaries come from the first ``n_events_dynamic_binning`` events (None: all),
        streamed: only the observable and the weight at theta of each event are held.
        """
        if histrange is None and isinstance(bins, int | np.integer):
            values, weights = [], []
            for observations, benchmark_weights in self._events(
                cuts, efficiency_functions, end=n_events_dynamic_binning
            ):
                values.append(np.asarray(self._evaluate(observable, observations), dtype=np.float64))
                weights.append(point.weights(benchmark_weights)[0])
            values_all = np.concatenate(values) if values else np.zeros(0)
            weights_all = np.concatenate(weights) if weights else np.zeros(0)
            return equal_cross_section_boundaries(values_all, weights_all, int(bins))
        return boundaries_from_bins(bins, histrange)

    def _fill(
        self,
        expressions: Sequence[Expression],
        boundaries: Sequence[np.ndarray],
        cuts: Sequence[str] | None,
        efficiency_functions: Sequence[str] | None,
    ) -> BinnedWeights:
        histogram = BinnedWeights(boundaries, self.n_benchmarks)
        for observations, weights in self._events(cuts, efficiency_functions):
            values = np.stack([self._evaluate(e, observations) for e in expressions], axis=1)
            histogram.fill(values if len(expressions) > 1 else values[:, 0], weights)
        return histogram

    def _log_bins(self, point: ParameterPoints, sums: np.ndarray, uncertainties: np.ndarray, report: int = 5):
        sigma = sums.reshape(-1, sums.shape[-1]) @ point.matrices[0]
        errors = uncertainties.reshape(-1, sums.shape[-1]) @ np.abs(point.matrices[0])
        relative = errors / np.maximum(sigma, 1e-12)
        for index in np.argsort(relative)[::-1][:report]:
            bin_label = np.unravel_index(index, sums.shape[:-1])
            logger.info(
                "  bin %s: (%.5f +/- %.5f) fb (%.0f %%)",
                tuple(int(i) for i in bin_label),
                1000.0 * sigma[index],
                1000.0 * errors[index],
                100.0 * relative[index],
            )

    def _histogram_information(
        self,
        theta: Any,
        luminosity: float,
        observables: Sequence[str],
        bins: Sequence[Any],
        histranges: Sequence[tuple[float, float] | None],
        cuts: Sequence[str] | None,
        efficiency_functions: Sequence[str] | None,
        n_events_dynamic_binning: int | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        points, single = self._points(theta)
        expressions = [self._expression(o, f"observable {o!r}") for o in observables]
        automatic = any(
            r is None and isinstance(b, int | np.integer) for b, r in zip(bins, histranges, strict=True)
        )
        # fixed bins are filled once for all points; automatic bins depend on the point
        groups = [np.arange(j, j + 1) for j in range(len(points))] if automatic else [np.arange(len(points))]
        information: list[np.ndarray] = []
        covariance: list[np.ndarray] = []
        for group in groups:
            subset = points.take(group)
            boundaries = [
                self._boundaries(subset, e, b, r, n_events_dynamic_binning, cuts, efficiency_functions)
                for e, b, r in zip(expressions, bins, histranges, strict=True)
            ]
            histogram = self._fill(expressions, boundaries, cuts, efficiency_functions)
            sums, uncertainties = histogram.sums, np.sqrt(histogram.sums_squared)
            width = sums.shape[-1]
            if len(subset) == 1:
                logger.info("Bins with the largest statistical uncertainties of the rate:")
                self._log_bins(subset, sums, uncertainties)
            group_information, group_covariance = self._information(
                subset, sums.reshape(-1, width), luminosity, self.nuisance_morpher is not None,
                uncertainties.reshape(-1, width),
            )  # fmt: skip
            assert group_covariance is not None  # calculate_uncertainty is on
            information.append(group_information)
            covariance.append(group_covariance)
        return self._result(np.concatenate(information), np.concatenate(covariance), single)

    def histo_information(
        self,
        theta: Any,
        luminosity: float,
        observable: str,
        bins: int | Sequence[float] | np.ndarray,
        histrange: tuple[float, float] | None = None,
        cuts: Sequence[str] | None = None,
        efficiency_functions: Sequence[str] | None = None,
        n_events_dynamic_binning: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fisher information in the histogram of one observable.

        Parameters
        ----------
        theta : ndarray or str
            Parameter point where the information is evaluated.
        luminosity : float
            In pb^-1.
        observable : str
            Expression over the observables of the file, e.g. ``"pt_j1"`` or ``"abs(eta_l1)"``.
        bins : int or array
            An int with ``histrange``: that many equal bins plus an underflow and an overflow
            bin. An int without ``histrange``: that many bins with equal cross sections at theta,
            the outer ones open (MadMiner's automatic binning). An array: the bin boundaries
            (plus under- and overflow bins).
        histrange : tuple of float or None, optional
            ``(min, max)`` of the equal bins.
        cuts, efficiency_functions : list of str or None, optional
            As in :meth:`truth_information`.
        n_events_dynamic_binning : int or None, optional
            Events used to place automatic bin boundaries (None: all).

        Returns
        -------
        fisher_information : ndarray, shape (n, n)
            With nuisance parameters when the file has them (and they are included).
        fisher_information_uncertainty : ndarray, shape (n, n, n, n)
            Covariance from the bins' statistical uncertainties (physics block).
        """
        return self._histogram_information(
            theta, luminosity, [observable], [bins], [histrange], cuts, efficiency_functions,
            n_events_dynamic_binning,
        )  # fmt: skip

    def histo_information_2d(
        self,
        theta: Any,
        luminosity: float,
        observable1: str,
        bins1: int | Sequence[float] | np.ndarray,
        observable2: str,
        bins2: int | Sequence[float] | np.ndarray,
        histrange1: tuple[float, float] | None = None,
        histrange2: tuple[float, float] | None = None,
        cuts: Sequence[str] | None = None,
        efficiency_functions: Sequence[str] | None = None,
        n_events_dynamic_binning: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fisher information in a two-dimensional histogram; each axis binned as in
        :meth:`histo_information`. Returns the information and its covariance."""
        return self._histogram_information(
            theta, luminosity, [observable1, observable2], [bins1, bins2], [histrange1, histrange2], cuts,
            efficiency_functions, n_events_dynamic_binning,
        )  # fmt: skip

    def histogram_of_information(
        self,
        theta: Any,
        observable: str,
        nbins: int,
        histrange: tuple[float, float],
        model_file: str | os.PathLike[str] | None = None,
        luminosity: float = 300000.0,
        cuts: Sequence[str] | None = None,
        efficiency_functions: Sequence[str] | None = None,
        batch_size: int = 100000,
        test_split: float | None = 0.2,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The rate and full Fisher information in slices of one observable.

        Parameters
        ----------
        theta : ndarray or str
            Parameter point where the information is evaluated.
        observable : str
            Expression over the observables of the file.
        nbins : int
            Number of equal slices in ``histrange`` (plus an underflow and an overflow slice).
        histrange : tuple of float
            ``(min, max)`` of the slices.
        model_file : str, path-like or None, optional
            None: the full information is the truth-level information. Otherwise a saved score
            estimator (or ensemble folder) whose information (plus the rate information) is used.
        luminosity : float, optional
            In pb^-1.
        cuts, efficiency_functions : list of str or None, optional
            As in :meth:`truth_information`.
        batch_size : int, optional
            Events evaluated at once (with ``model_file``).
        test_split : float or None, optional
            With ``model_file``: the fraction of events (at the end of the file) evaluated.

        Returns
        -------
        bin_boundaries : ndarray, shape (nbins + 1,)
        sigma_bins : ndarray, shape (nbins + 2,)
            Cross section (pb) per slice.
        fisher_infos_rate : ndarray, shape (nbins + 2, n_parameters, n_parameters)
        fisher_infos_full : ndarray, shape (nbins + 2, n_parameters, n_parameters)
        """
        point = self._point(theta)
        expression = self._expression(observable, f"observable {observable!r}")
        boundaries = boundaries_from_bins(nbins, histrange)
        p = self.n_parameters
        rate_histogram = BinnedWeights(boundaries, self.n_benchmarks)
        full_histogram = BinnedWeights(boundaries, p * p)
        start = 0
        if model_file is None:
            batches = self._events(cuts, efficiency_functions)
            per_event = None
        else:
            per_event = self._score_model(model_file, point)
            start = 0 if test_split is None or not 0.0 < test_split < 1.0 else self._test_start(test_split)
            batches = self._events(cuts, efficiency_functions, start=start, batch_size=batch_size)
        for observations, weights in batches:
            if per_event is None:
                information = self._information(
                    point, weights, luminosity, False, sum_events=False, calculate_uncertainty=False
                )[0][0]
            else:
                # the slice's share of the whole file's events: weights scaled to the full cross section
                weights = weights * (self.n_samples / (self.n_samples - start))
                information = per_event(observations, point.weights(weights)[0], luminosity)
            values = self._evaluate(expression, observations)
            rate_histogram.fill(values, weights)
            full_histogram.fill(values, information.reshape(len(values), p * p))
        sums = rate_histogram.sums
        full = full_histogram.sums.reshape(-1, p, p)
        sigma_bins = sums @ point.matrices[0]
        rate = self._information(
            point, sums, luminosity, False, sum_events=False, calculate_uncertainty=False
        )[0][0]
        if model_file is not None:
            full = full + rate
        return boundaries, sigma_bins, rate, full

    def _score_model(self, model_file: Any, point: ParameterPoints):
        """Per-event information of a saved score model (or ensemble) in the physics parameters."""
        from ..ml import Ensemble

        model = _load_model(model_file)
        members = model.estimators if isinstance(model, Ensemble) else [model]
        self._model_includes_nuisance(members[0], model_file)
        theta_values = point.values[0]
        p = self.n_parameters

        def per_event(observations: np.ndarray, weights_theta: np.ndarray, luminosity: float) -> np.ndarray:
            self._check_model_features(members[0], observations, model_file)
            n_events = luminosity * np.sum(weights_theta)
            if isinstance(model, Ensemble):
                information, _ = model.calculate_fisher_information(
                    x=observations, theta=theta_values, obs_weights=weights_theta, n_events=n_events,
                    mode="score", calculate_covariance=False, sum_events=False,
                )  # fmt: skip
            else:
                information = model.calculate_fisher_information(
                    x=observations,
                    theta=theta_values,
                    weights=weights_theta,
                    n_events=n_events,
                    sum_events=False,
                )
            return information[:, :p, :p]

        return per_event

    def histogram_of_sigma_dsigma(
        self,
        theta: Any,
        observable: str,
        nbins: int,
        histrange: tuple[float, float] | None,
        cuts: Sequence[str] | None = None,
        efficiency_functions: Sequence[str] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cross section and its theta gradient in the bins of one observable.

        Binning as in :meth:`histo_information` (``histrange=None``: equal cross sections at theta).

        Returns
        -------
        bin_boundaries : ndarray
        sigma_bins : ndarray, shape (n_bins,)
            Cross section (pb) per bin, including under- and overflow bins.
        dsigma_bins : ndarray, shape (n_parameters, n_bins)
            Its gradient.
        """
        point = self._point(theta)
        expression = self._expression(observable, f"observable {observable!r}")
        boundaries = self._boundaries(point, expression, nbins, histrange, None, cuts, efficiency_functions)
        histogram = self._fill([expression], [boundaries], cuts, efficiency_functions)
        sums = histogram.sums
        return boundaries, sums @ point.matrices[0], point.theta_gradient_matrices()[0] @ sums.T

    def nuisance_constraint_information(self) -> np.ndarray:
        """The information of the unit-Gaussian constraints of the nuisance parameters:
        ``diag(0, ..., 0, 1, ..., 1)`` with ``n_parameters`` zeros."""
        return np.diag([0.0] * self.n_parameters + [1.0] * self.n_nuisance_parameters)

    # MadMiner's older names
    calculate_fisher_information_full_truth = truth_information
    calculate_fisher_information_full_detector = full_information
    calculate_fisher_information_rate = rate_information
    calculate_fisher_information_hist1d = histo_information
    calculate_fisher_information_hist2d = histo_information_2d
    histogram_of_fisher_information = histogram_of_information
    calculate_fisher_information_nuisance_constraints = nuisance_constraint_information

    def __repr__(self) -> str:
        return f"FisherInformation({Path(self.madminer_filename).name!r}, {self.n_samples} events)"


def _load_model(model_file: Any) -> Any:
    """An estimator or ensemble given as itself, or loaded from its file prefix or folder."""
    from ..ml import Ensemble, Estimator
    from ..ml.lookup import load_estimator

    if isinstance(model_file, Estimator | Ensemble):
        return model_file
    return load_estimator(model_file)
