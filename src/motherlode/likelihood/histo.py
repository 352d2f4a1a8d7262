r"""``madminer.likelihood.histo``: likelihoods from histograms of observables or SALLY scores.

The kinematic term is the log of a histogram density (MadMiner's :class:`~motherlode.utils.histo.Histo`:
bin contents normalised to one, ``epsilon = 1e-12`` added to every bin, divided by the bin volume
with the outer bins capped at twice their neighbour's width), evaluated at the summary statistics
of the observed events: ``sum_i w_i log p_hat(s(x_i) | theta, nu)``. The summary statistics are
expressions over the observables (:class:`motherlode.expressions.Expression`) and/or components of
the score of a SALLY model, evaluated on whole arrays.

Modes
-----
``"histo"``
    The benchmark weights of the template events are binned once (``(n_bins, n_benchmarks)``); the
    histogram at ``(theta, nu)`` is the weights engine applied to these bin sums (morphing, and the
    nuisance factor of each bin's benchmark sums, as MadMiner does for the total rate). Works with
    nuisance parameters (MadMiner raises).
``"weighted"``
    The template events are reweighted to ``(theta, nu)`` (per-event nuisance factors) and binned.
    Without nuisance parameters this equals ``"histo"`` exactly.
``"sampled"``
    An unweighted sample of ``n_histo_toys`` events at ``(theta, nu)`` is drawn with
    :class:`~motherlode.sampling.SampleAugmenter` for each parameter point, with a fixed seed (so
    the function is deterministic; MadMiner's is not). The slowest mode (a loop over points).

Template events are ``n_histo_toys`` events drawn with a fixed seed from the training partition
(all events with ``test_split=None``). The Asimov data of
:meth:`HistoLikelihood.create_expected_negative_log_likelihood` are these template events weighted
at ``(theta_true, nu_true)``, so that the expected likelihood is exactly the binned Poisson
likelihood of the templates with its maximum at the true point (MadMiner takes them from the test
partition while the templates use the training events).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import sparse

from ..errors import InputError
from ..expressions import Expression
from ..histograms import bin_indices, bin_volumes, cell_indices
from ..ml import Ensemble, ScoreEstimator, load_estimator
from ..utils.histo import Histo
from .base import DEFAULT_SEED, BaseLikelihood, NegativeLogLikelihood

__all__ = ["HistoLikelihood"]

logger = logging.getLogger(__name__)

_MODES = ("sampled", "weighted", "histo")
_EPSILON = 1.0e-12


class _Binning:
    """Cells of an n-dimensional binning (inside cells only) and their volumes."""

    def __init__(self, edges: Sequence[np.ndarray]) -> None:
        self.edges = [np.asarray(e, dtype=np.float64) for e in edges]
        self.n_bins = [len(e) - 1 for e in self.edges]
        self.n_cells = int(np.prod(self.n_bins))
        self.log_volumes = np.log(bin_volumes(self.edges).reshape(-1))

    def fill_cells(self, stats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cell of each value for filling (``[e_i, e_i+1)``, last edge inside) and the inside mask."""
        index, inside = [], np.ones(len(stats), dtype=bool)
        for i, e in enumerate(self.edges):
            upper = np.append(e[:-1], np.nextafter(e[-1], np.inf))
            idx = bin_indices(stats[:, i], upper, closed="left") - 1
            inside &= (idx >= 0) & (idx < self.n_bins[i])
            index.append(np.clip(idx, 0, self.n_bins[i] - 1))
        return np.ravel_multi_index(tuple(index), tuple(self.n_bins)), inside

    def eval_cells(self, stats: np.ndarray) -> np.ndarray:
        """Cell of each value for evaluation (values outside take the nearest bin, as Histo)."""
        return cell_indices(stats, self.edges)

    def matrix(self, stats: np.ndarray) -> sparse.csr_matrix:
        """Sparse ``(n_events, n_cells)`` indicator of the fill cells."""
        cells, inside = self.fill_cells(stats)
        rows = np.flatnonzero(inside)
        data = np.ones(len(rows))
        return sparse.csr_matrix((data, (rows, cells[inside])), shape=(len(stats), self.n_cells))

    def log_density(self, sums: np.ndarray) -> np.ndarray:
        """Log of the histogram density ``(J, n_cells)`` from bin sums ``(J, n_cells)``.

        Negative bin contents (possible with morphing) count as empty.
        """
        sums = np.maximum(np.asarray(sums, dtype=np.float64), 0.0)
        total = np.sum(sums, axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            fractions = np.where(total > 0.0, sums / np.where(total > 0.0, total, 1.0), 1.0 / self.n_cells)
            fractions = fractions + _EPSILON
            fractions = fractions / np.sum(fractions, axis=1, keepdims=True)
            return np.log(fractions) - self.log_volumes[None, :]


class HistoLikelihood(BaseLikelihood):
    """Likelihood functions from histograms of observables and/or SALLY score components.

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
        x_observed: Any,
        observables: Sequence[str] | None = None,
        score_components: Sequence[int] | None = None,
        n_observed: float | None = None,
        x_observed_weights: Any = None,
        include_xsec: bool = True,
        luminosity: float = 300000.0,
        mode: str = "sampled",
        n_histo_toys: int | None = 100000,
        model_file: Any = None,
        hist_bins: Any = None,
        thetas_binning: Any = None,
        test_split: float | None = None,
    ) -> NegativeLogLikelihood:
        """The negative log likelihood of observed events.

        Parameters
        ----------
        x_observed : ndarray
            Observed events, shape ``(n_events, n_observables)``.
        observables : list of str or None, optional
            Summary statistics: observable names or expressions over them.
        score_components : list of int or None, optional
            Components of the score of the SALLY model ``model_file`` used as summary statistics
            (after the observables).
        n_observed : float or None, optional
            Number of observed events (rounded for the Poisson term). Default: ``len(x_observed)``.
        x_observed_weights : ndarray or None, optional
            Event weights (normalised to ``n_observed``). Default: equal.
        include_xsec : bool, optional
            Include the Poisson rate term. Forced on when there are no summary statistics.
        luminosity : float, optional
            Integrated luminosity in pb^-1. Default: 300000.
        mode : {"sampled", "weighted", "histo"}, optional
            How the histograms at ``(theta, nu)`` are made (see the module documentation).
        n_histo_toys : int or None, optional
            Number of template events (None: all), or the sample size per point in ``"sampled"``
            mode. Default: 100000.
        model_file : str, estimator or None, optional
            A saved :class:`~motherlode.ml.ScoreEstimator` (or ensemble of them), or the object
            (an addition); needed for ``score_components``.
        hist_bins : int, list of (int or ndarray) or None, optional
            Per summary statistic a number of bins (adaptive binning, needs ``thetas_binning``) or
            the bin edges. Default: 25 bins for one statistic, 8 each for two, 5 each for more.
        thetas_binning : list of ndarray or None, optional
            Parameter points whose mean weights define adaptive bins.
        test_split : float or None, optional
            If given, the templates use only the training partition (``1 - test_split``).

        Returns
        -------
        NegativeLogLikelihood
            ``nll(params)`` with ``params = [theta, nu]``; also takes ``(n_points, n_params)``.

        Raises
        ------
        InputError
            For an unknown mode, missing ``model_file`` or ``thetas_binning``, or inputs of the wrong
            shape.
        """
        return self._create(
            x_observed, observables, score_components, n_observed, x_observed_weights, include_xsec,
            luminosity, mode, n_histo_toys, model_file, hist_bins, thetas_binning, test_split,
        )  # fmt: skip

    def create_expected_negative_log_likelihood(
        self,
        theta_true: Any,
        nu_true: Any,
        observables: Sequence[str] | None = None,
        score_components: Sequence[int] | None = None,
        include_xsec: bool = True,
        luminosity: float = 300000.0,
        n_asimov: int | None = None,
        mode: str = "sampled",
        n_histo_toys: int | None = 100000,
        model_file: Any = None,
        hist_bins: Any = None,
        thetas_binning: Any = None,
        test_split: float | None = None,
    ) -> NegativeLogLikelihood:
        """The negative log likelihood of Asimov data at ``(theta_true, nu_true)``.

        The Asimov data are the template events weighted at the true point (see the module
        documentation); ``n_observed = luminosity * sigma(theta_true, nu_true)`` from the same
        rate model as the likelihood. Arguments as :meth:`create_negative_log_likelihood`;
        ``thetas_binning`` defaults to ``[theta_true]``.

        Parameters
        ----------
        theta_true : ndarray
            The true physics parameters.
        nu_true : ndarray or None
            The true nuisance parameters (None: nominal).
        n_asimov : int or None, optional
            Number of Asimov events in ``"sampled"`` mode (the first ones of the template pool;
            None: all). In the other modes the Asimov data are all template events.

        Returns
        -------
        NegativeLogLikelihood
        """
        theta, nu = self._true_point(theta_true, nu_true)
        if thetas_binning is None:
            thetas_binning = [theta[0]]
        toys = self._toy_events(n_histo_toys if mode != "sampled" else None, test_split)
        x_asimov, weights = toys
        if mode == "sampled" and n_asimov is not None:
            x_asimov, weights = x_asimov[: int(n_asimov)], weights[: int(n_asimov)]
        x_weights = self.parameter_points(theta, nu).weights(weights)[0]
        return self._create(
            x_asimov, observables, score_components, None, x_weights, include_xsec, luminosity, mode,
            n_histo_toys, model_file, hist_bins, thetas_binning, test_split, toys=toys, asimov=(theta, nu),
        )  # fmt: skip

    # ------------------------------------------------------------------ construction

    def _create(
        self,
        x_observed: Any,
        observables: Sequence[str] | None,
        score_components: Sequence[int] | None,
        n_observed: float | None,
        x_observed_weights: Any,
        include_xsec: bool,
        luminosity: float,
        mode: str,
        n_histo_toys: int | None,
        model_file: Any,
        hist_bins: Any,
        thetas_binning: Any,
        test_split: float | None,
        toys: tuple[np.ndarray, np.ndarray] | None = None,
        asimov: tuple[np.ndarray, np.ndarray | None] | None = None,
    ) -> NegativeLogLikelihood:
        if mode not in _MODES:
            raise InputError(f"mode must be one of {', '.join(_MODES)}, got {mode!r}")
        observables = [] if observables is None else list(observables)
        score_components = [] if score_components is None else list(score_components)
        if not observables and not score_components and not include_xsec:
            logger.info("No observables and no score components: using the rate term (include_xsec=True)")
            include_xsec = True
        x_observed = np.asarray(x_observed, dtype=np.float64)
        if x_observed.ndim != 2 or x_observed.shape[1] != self.n_observables:
            raise InputError(
                f"x_observed must have shape (n_events, {self.n_observables}), got {x_observed.shape}"
            )
        summary = self._summary_function(observables, score_components, model_file)
        if toys is None and (mode != "sampled" or (summary is not None and not _explicit(hist_bins))):
            toys = self._toy_events(n_histo_toys if mode != "sampled" else None, test_split)
        if toys is None or mode == "sampled":
            rate_mode = "sampled"
        else:
            rate_mode = "interpol" if mode == "histo" else "weighted"
        rate = self._rate_function(rate_mode, None if toys is None else toys[1]) if include_xsec else None

        if n_observed is None:
            if asimov is not None:
                assert toys is not None  # create_expected_negative_log_likelihood passes both
                n_observed = luminosity * float(
                    (rate or self._rate_function("interpol", toys[1]))(*asimov)[0]
                )
            else:
                n_observed = len(x_observed)

        kinematic = None
        if summary is not None:
            x_weights = self._observed_weights(n_observed, len(x_observed), x_observed_weights)
            binning = self._binning(
                summary, hist_bins, thetas_binning, toys, len(observables) + len(score_components)
            )
            logger.info("Histogram binning: %s", [e.tolist() for e in binning.edges])
            observed = np.bincount(
                binning.eval_cells(summary(x_observed)), weights=x_weights, minlength=binning.n_cells
            )
            kinematic = self._kinematic_function(mode, binning, summary, toys, observed, n_histo_toys)

        def log_likelihood(theta: np.ndarray, nus: np.ndarray | None) -> np.ndarray:
            result = np.zeros(len(theta))
            if rate is not None:
                result = result + self._log_likelihood_poisson(n_observed, rate(theta, nus), luminosity)
            if kinematic is not None:
                result = result + kinematic(theta, nus)
            return result

        what = f"histo, mode={mode}, statistics={observables + score_components}, rate={include_xsec}"
        return self._nll(log_likelihood, what)

    def _summary_function(self, observables: list, score_components: list, model_file: Any) -> Any:
        if not observables and not score_components:
            return None
        expressions = []
        for observable in observables:
            if not isinstance(observable, str):
                raise InputError(f"observables must be strings (names or expressions), got {observable!r}")
            expressions.append(
                Expression(observable, names=set(self.observables), context=f"observable {observable!r}")
            )
        model = None
        if score_components:
            if not all(isinstance(c, int | np.integer) for c in score_components):
                raise InputError(f"score_components must be ints, got {score_components}")
            if model_file is None:
                raise InputError("score_components need a model_file (a SALLY ScoreEstimator)")
            model = load_estimator(model_file) if not hasattr(model_file, "evaluate_score") else model_file
            is_score = isinstance(model, ScoreEstimator) or (
                isinstance(model, Ensemble) and model.estimator_type == "score"
            )
            if not is_score:
                raise InputError(
                    f"model_file must hold a ScoreEstimator or an Ensemble of them, got {model!r}"
                )
        names = list(self.observables)

        def summary(x: np.ndarray) -> np.ndarray:
            columns = {name: x[:, i] for i, name in enumerate(names)}
            parts = [
                np.broadcast_to(np.asarray(e(columns), dtype=np.float64), (len(x),)) for e in expressions
            ]
            if model is not None:
                if isinstance(model, Ensemble):
                    score, _ = model.evaluate_score(x=x, calculate_covariance=False)
                else:
                    score = model.evaluate_score(x=x)
                score = np.asarray(score, dtype=np.float64)
                parts.extend(score[:, c] for c in score_components)
            return np.stack(parts, axis=1)

        return summary

    def _binning(
        self, summary: Any, hist_bins: Any, thetas_binning: Any, toys: Any, n_statistics: int
    ) -> _Binning:
        if hist_bins is None:
            hist_bins = [25] if n_statistics == 1 else [8, 8] if n_statistics == 2 else [5] * n_statistics
        elif isinstance(hist_bins, int | np.integer):
            hist_bins = [int(hist_bins)] * n_statistics
        hist_bins = list(hist_bins)
        if len(hist_bins) != n_statistics:
            raise InputError(f"hist_bins has {len(hist_bins)} entries for {n_statistics} summary statistics")
        if _explicit(hist_bins):
            return _Binning([np.asarray(b, dtype=np.float64) for b in hist_bins])
        if thetas_binning is None:
            raise InputError("hist_bins asks for adaptive binning: thetas_binning can not be None")
        x, benchmark_weights = toys
        weights = np.mean(
            self.parameter_points(np.atleast_2d(thetas_binning)).weights(benchmark_weights), axis=0
        )
        return _Binning(Histo(summary(x), weights, hist_bins, epsilon=_EPSILON).edges)

    def _kinematic_function(
        self, mode: str, binning: _Binning, summary: Any, toys: Any, observed: np.ndarray, n_histo_toys: Any
    ) -> Any:
        if mode in ("histo", "weighted"):
            x, benchmark_weights = toys
            indicator = binning.matrix(summary(x))
            binned = np.asarray(indicator.T @ benchmark_weights)  # (n_cells, B)

            def templates(theta: np.ndarray, nus: np.ndarray | None) -> np.ndarray:
                points = self.parameter_points(theta, nus)
                if mode == "histo" or points.nus is None:
                    return points.weights(binned)
                return np.asarray((indicator.T @ points.weights(benchmark_weights).T).T)

        else:
            from ..sampling import SampleAugmenter, morphing_point
            from ..utils.various import less_logging

            sampler = SampleAugmenter(
                self.madminer_filename, include_nuisance_parameters=self.include_nuisance_parameters
            )
            n_toys = 100000 if n_histo_toys is None else int(n_histo_toys)

            def templates(theta: np.ndarray, nus: np.ndarray | None) -> np.ndarray:
                rows = []
                for j in range(len(theta)):  # one sample per parameter point
                    with less_logging():
                        x, _, _ = sampler.sample_train_plain(
                            theta=morphing_point(theta[j]),
                            nu=None if nus is None else morphing_point(nus[j]),
                            n_samples=n_toys,
                            test_split=0.0,
                            validation_split=0.0,
                            random_state=DEFAULT_SEED,
                        )
                    cells, inside = binning.fill_cells(summary(x))
                    rows.append(np.bincount(cells[inside], minlength=binning.n_cells).astype(np.float64))
                return np.stack(rows)

        def kinematic(theta: np.ndarray, nus: np.ndarray | None) -> np.ndarray:
            return binning.log_density(templates(theta, nus)) @ observed

        return kinematic


def _explicit(hist_bins: Any) -> bool:
    return (
        hist_bins is not None
        and not isinstance(hist_bins, int | np.integer)
        and all(hasattr(b, "__len__") for b in hist_bins)
    )
