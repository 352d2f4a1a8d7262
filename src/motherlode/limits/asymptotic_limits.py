r"""``AsymptoticLimits``: p-values on a parameter grid from the asymptotic distribution of the
likelihood-ratio test statistic (MadMiner's ``madminer.limits.asymptotic_limits``).

For every point ``theta_j`` of a grid the log likelihood of the (observed or Asimov) data is

.. math::

    \log L(\theta) = \underbrace{n \sum_i w_i \log p(x_i|\theta)}_{\text{kinematics}}
        + \underbrace{n \log \mu(\theta) - \mu(\theta) - \log \Gamma(n + 1)}_{\text{rate}},
    \qquad \mu(\theta) = L\,\sigma(\theta),

with the kinematic density from a histogram (modes ``"histo"``, ``"sally"``, ``"sallino"``,
``"adaptive-sally"``) or a neural estimator (``"ml"``); ``q(\theta) = -2 (\log L(\theta) -
\max_{\text{grid}} \log L)`` and ``p = \chi^2_{\rm dof}(q)`` upper tail (arXiv:1007.1727).

How it is computed
------------------
* The cross sections of all grid points come from one streamed pass (the benchmark totals, then
  one matrix product with the morphing rows of :mod:`motherlode.weights`).
* Histogram templates: the events of the training partition are filled **once** into a
  :class:`~motherlode.histograms.BinnedWeights` with one column per benchmark; the template at
  every grid point is a matrix product with its morphing row. Only the summary statistics that
  depend on theta (``"sallino"``, ``"adaptive-sally"``) and per-point adaptive binning need one
  binning per direction of ``theta - thetaref`` (or per point): the statistic of each direction is
  sorted once (:class:`~motherlode.histograms.SortedEvents`; the opposite direction reuses the
  sort reversed), and each point's weighted-quantile edges and bin sums are then read off the
  sorted events.
* The kinematic term of the histogram modes is the log likelihood *ratio* ``n sum_b p_b
  log(f_b(theta) / f_b(thetaref))`` of the bin fractions ``f`` with the same statistic and bins
  in numerator and denominator (SALLINO's definition, arXiv:1805.00020). For one fixed binning
  of a theta-independent statistic this differs from MadMiner's ``log p`` by a constant (same
  p-values); for SALLINO, adaptive SALLY and per-point adaptive binning, where MadMiner compares
  densities of different statistics or bins between grid points, it makes them comparable.
* Expected limits in the histogram modes use the *binned Asimov data of the templates*: the bin
  fractions at ``theta_true`` of the same filled events, and ``n = L sigma(theta_true)`` (not
  rounded). The best fit of the Asimov data is then exactly ``theta_true`` (when it is on the
  grid). In mode ``"ml"`` the Asimov data are the weighted test-partition events, and the
  estimated density is normalised under them (``sum_i w_i log r_ij - log sum_i w_i r_ij /
  r_i,true``): a trained estimator's normalisation is off by 0.1 to 1 %, which times thousands of
  expected events would move the best fit; normalised, the Asimov best fit is ``theta_true`` here
  too. Observed limits use ``sum_i log r_ij`` as MadMiner does.
* With ``include_nuisance_parameters=True``, the nuisance parameters are profiled (maximised at
  each grid point, Gaussian constraints ``-nu^2/2``) in every histogram mode and in the rate
  term: each bin (and the total rate) scales as ``exp(a nu + b nu^2)`` with ``a``, ``b`` computed
  from the bin sums of the nuisance benchmarks (HistFactory-style per-bin interpolation; exact for
  normalisation systematics), and the total rate is the sum of the bins (an extended binned
  likelihood). The profile is a vectorised Newton iteration over all grid points at once. In mode
  ``"ml"`` the kinematic term depends on the nuisance parameters when the estimator takes them as
  inputs (trained on ``[theta, nu]``, as :mod:`motherlode.sampling` writes them): it is evaluated
  at ``[theta_j, nu_j]`` and differentiated by central finite differences in ``nu`` (float64).
  An estimator without nuisance inputs leaves only the rate term to profile.
* The histogram events are streamed in batches: only the events that find the adaptive binning
  (the first ``n_binning_toys``) are held, as summary statistics and benchmark weights.
* :meth:`AsymptoticLimits.coverage` draws pseudo-experiments from the same model (binned Poisson
  toys, or events drawn from the weighted test events in mode ``"ml"``), with random auxiliary
  measurements of the nuisance parameters when they are profiled.
* With a ``checkpoint`` folder (:class:`AsymptoticLimits`), the loops of mode ``"ml"`` over event
  chunks (the estimator at all grid points) record their progress (:mod:`motherlode.checkpoint`):
  a call rerun with the same arguments after the job was killed continues after the last recorded
  chunk, and returns the same numbers, bit for bit, as an uninterrupted call.

Differences from MadMiner 0.9.6
-------------------------------
* ``grid_resolutions`` may be an int (MadMiner crashes); ``thetas_eval`` overrides it.
* The Asimov data of the histogram modes are the templates' own events (MadMiner bins the test
  partition into histograms of the training partition, so its best fit is off ``theta_true``).
* The rate term uses the continuous Poisson likelihood with ``n`` not rounded, and cross sections
  from the whole file (MadMiner: the test partition, ``n`` rounded).
* Events outside the adaptive (0.1 % to 99.9 % quantile) bin range go into the outer bins;
  MadMiner drops them from the templates but evaluates outside data in the outer bins.
* ``weighted_histo=False`` (histograms from unweighted samples) also uses the weighted events:
  resampling only adds noise. ``n_histo_toys`` takes the first events of the (shuffled) training
  partition, not a random draw.
* The histogram modes' kinematic term is a ratio to ``thetaref`` (see above).
* Expected limits in mode ``"ml"`` normalise the estimated density under the Asimov data (above);
  MadMiner sums ``log r`` as it is.
* Nuisance parameters are supported (MadMiner raises ``NotImplementedError``).
* Estimators are checked against the file (parameters, observables) with clear errors; a grid
  outside the morphing range logs a warning.
* :meth:`AsymptoticLimits.coverage` validates the asymptotic intervals with toys.
* With ``AsymptoticLimits(..., checkpoint=folder)``, interrupted calls of mode ``"ml"`` resume.
"""

from __future__ import annotations

import glob
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from scipy.special import gammaln
from scipy.stats import chi2

from .._version import __version__
from ..analysis.dataanalyzer import DataAnalyzer
from ..checkpoint import Checkpoint, CheckpointLike, describe, fingerprint
from ..errors import InputError, SetupError
from ..expressions import Expression
from ..histograms import SortedEvents, bin_volumes, cell_indices
from ..progress import progress_bar
from ..utils.histo import Histo

__all__ = ["AsymptoticLimits", "TemplateHisto"]

logger = logging.getLogger(__name__)

MODES = ("rate", "histo", "ml", "sally", "sallino", "adaptive-sally")
_HISTOGRAM_MODES = ("histo", "sally", "sallino", "adaptive-sally")
_COVERAGE_MODES = ("rate", "histo", "sally", "ml")
_FIX_BINNING = (False, "center", "grid", "auto-grid", "auto-center")
_EPSILON = 1.0e-12  # added to normalised templates (MadMiner's Histo epsilon)
_DIRECTION_EPSILON = 1.0e-6
_MIN_EVENTS = 1.0e-5  # smallest expected number of events in the rate term
_ELEMENTS = 10_000_000  # grid points x events evaluated at once in mode "ml"
_NU_STEP = 1.0e-3  # finite-difference step in nu (mode "ml" with nuisance inputs)
_BATCH_SIZE = 100_000  # events per batch when the histogram events are streamed
#: With a checkpoint, the progress of a loop over event chunks is recorded after a chunk that ends at
#: least this many seconds after the last record (and after the last chunk). A chunk evaluates the
#: estimator ``_ELEMENTS`` times (measured on 2 CPU cores: 0.6 s for a network with 8 hidden units,
#: 2.4 s with 100); recording running sums takes 1 to 3 ms, a block of ``_ELEMENTS`` values (mode
#: "ml" toys, 80 MB) 0.3 s: in practice every chunk is recorded.
_RECORD_SECONDS = 1.0


class TemplateHisto(Histo):
    """A :class:`~motherlode.utils.histo.Histo` made from given edges and densities (no refit).

    The histograms returned by :meth:`AsymptoticLimits.expected_limits` with ``return_histos``:
    one per grid point, with ``edges``, ``n_bins``, ``histo`` (the density) and
    :meth:`log_likelihood` as MadMiner's ``Histo``.
    """

    def __init__(self, edges: Sequence[np.ndarray], density: np.ndarray, uncertainties: np.ndarray) -> None:
        self.edges = [np.asarray(e, dtype=np.float64) for e in edges]
        self.n_bins = [len(e) - 1 for e in self.edges]
        self.n_observables = len(self.edges)
        self.n_samples = 0
        self.histo = np.asarray(density, dtype=np.float64).reshape(self.n_bins)
        self.histo_uncertainties = np.asarray(uncertainties, dtype=np.float64).reshape(self.n_bins)


class _Binned:
    """Templates of one group of grid points: bin sums per benchmark and the binning."""

    def __init__(self, edges: list[np.ndarray], sums: np.ndarray, squares: np.ndarray) -> None:
        self.edges = edges
        self.sums = sums.reshape(-1, sums.shape[-1])  # (n_bins, B)
        self.squares = squares.reshape(-1, squares.shape[-1])
        volumes = bin_volumes(edges)
        self.log_volumes = np.log(np.where(volumes > 0, volumes, 1.0)).reshape(-1)

    def bins_of(self, values: np.ndarray) -> np.ndarray:
        """Flat bin index of each row of ``values`` (outside values in the outer bins)."""
        return cell_indices(values, self.edges)


class AsymptoticLimits(DataAnalyzer):
    """Statistical inference based on the asymptotic properties of the likelihood ratio.

    :meth:`observed_limits` computes p-values over a parameter grid for observed events,
    :meth:`expected_limits` for the Asimov data of a true parameter point. The likelihood comes
    from the total rate, histograms of observables (``"histo"``), histograms of the score of a
    :class:`~motherlode.ml.ScoreEstimator` (``"sally"``, ``"sallino"``, ``"adaptive-sally"``) or a
    likelihood / likelihood-ratio estimator (``"ml"``). See the module docstring for the method
    and the differences from MadMiner.

    Parameters
    ----------
    filename : str or path-like
        An events file with a morphing setup.
    include_nuisance_parameters : bool, optional
        If True, the nuisance parameters of the file are profiled (Gaussian constraints) in every
        mode; in mode ``"ml"`` also in the kinematic term when the estimator takes them as inputs.
        Default: False.
    checkpoint : path-like, optional
        A folder (of its own) where the long loops of mode ``"ml"`` record their progress:
        :meth:`observed_limits` and :meth:`expected_limits` the running sums over the event chunks
        (also those of every evaluation at profiled nuisance parameters), :meth:`coverage` the
        blocks of ``log r`` of the test events. A call rerun with the same arguments (the same
        script, run again after the job was killed) continues after the last recorded chunk and
        returns the same result, bit for bit. Each call keeps its pieces in a subfolder named by a
        hash of everything its result depends on (the call, its arguments, the events file's and
        the model files' sizes and modification times, an estimator's weights), so that calls
        with other arguments never read them; a call removes its subfolder when it returns (and
        the folder, if that left it empty). Subfolders of interrupted calls that are not rerun with
        the same arguments stay until removed. Given here and not to every call: one folder
        serves a whole analysis, and the methods keep MadMiner's signatures. Default None: no
        checkpoints.

    Attributes
    ----------
    profiled_nuisance_parameters : ndarray or None
        After a call with nuisance parameters: the profiled ``nu`` at every grid point,
        shape ``(n_grid_points, n_nuisance_parameters)``.
    """

    def __init__(
        self,
        filename: str | os.PathLike[str] | None = None,
        include_nuisance_parameters: bool = False,
        *,
        checkpoint: CheckpointLike = None,
    ) -> None:
        if filename is None:
            raise InputError("filename is None: AsymptoticLimits needs an events file")
        super().__init__(filename, False, include_nuisance_parameters)
        if self.morpher is None:
            raise SetupError(
                f"AsymptoticLimits needs a morphing setup, and {self.madminer_filename} has none"
            )
        if include_nuisance_parameters and self.nuisance_morpher is None:
            logger.warning("%s has no nuisance parameters: nothing to profile", self.madminer_filename)
        self.profiled_nuisance_parameters: np.ndarray | None = None
        self.checkpoint = None if checkpoint is None else Path(checkpoint)

    @property
    def _profiling(self) -> bool:
        return self.include_nuisance_parameters and self.nuisance_morpher is not None

    # ------------------------------------------------------------------ public API

    def observed_limits(
        self,
        mode: str,
        x_observed: Any,
        grid_ranges: Sequence[tuple[float, float]] | None = None,
        grid_resolutions: int | Sequence[int] | None = 25,
        include_xsec: bool = True,
        model_file: Any = None,
        hist_vars: Sequence[str] | None = None,
        score_components: Sequence[int] | None = None,
        hist_bins: Any = None,
        thetaref: Any = None,
        luminosity: float = 300000.0,
        weighted_histo: bool = True,
        n_histo_toys: int | None = 100000,
        histo_theta_batchsize: int | None = 1000,
        n_observed: float | None = None,
        dof: int | None = None,
        test_split: float = 0.2,
        return_histos: bool = True,
        return_observed: bool | int = False,
        fix_adaptive_binning: str | bool = "auto-grid",
        postprocessing: Callable[[np.ndarray], np.ndarray] | None = None,
        n_binning_toys: int | None = 100000,
        thetas_eval: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, int, Any, Any, Any]:
        """p-values over a parameter grid for observed events.

        Parameters
        ----------
        mode : {"rate", "histo", "ml", "sally", "sallino", "adaptive-sally"}
            How the likelihood is computed (see :meth:`expected_limits`).
        x_observed : ndarray, shape (n, n_observables)
            The observed events (all observables of the file, in its order).
        n_observed : float or None, optional
            The observed number of events of the rate term (default ``len(x_observed)``); the
            kinematic term is scaled to it.
        return_observed : bool or int, optional
            Return the summary statistics of the observed events (the first ``return_observed``
            if an int above 1) with the histograms.
        Other parameters
            As in :meth:`expected_limits`.

        Returns
        -------
        As :meth:`expected_limits`.
        """
        arguments = _call_arguments(locals())
        x = np.asarray(x_observed, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_observables:
            raise InputError(
                f"x_observed must have shape (n_events, {self.n_observables}) (the observables of "
                f"{self.madminer_filename}), got {x.shape}"
            )
        n_events = float(len(x) if n_observed is None else n_observed)
        weights = np.full(len(x), 1.0 / max(len(x), 1))
        with self._call_checkpoint("observed_limits", arguments) as checkpoint:
            return self._analyse(
                mode, n_events, x, weights, None, grid_ranges, grid_resolutions, thetas_eval, include_xsec,
                model_file, hist_vars, score_components, hist_bins, thetaref, luminosity, weighted_histo,
                n_histo_toys, histo_theta_batchsize, dof, test_split, return_histos, return_observed,
                fix_adaptive_binning, postprocessing, n_binning_toys, checkpoint=checkpoint,
            )  # fmt: skip

    def expected_limits(
        self,
        mode: str,
        theta_true: Any,
        grid_ranges: Sequence[tuple[float, float]] | None = None,
        grid_resolutions: int | Sequence[int] | None = 25,
        include_xsec: bool = True,
        model_file: Any = None,
        hist_vars: Sequence[str] | None = None,
        score_components: Sequence[int] | None = None,
        hist_bins: Any = None,
        thetaref: Any = None,
        luminosity: float = 300000.0,
        weighted_histo: bool = True,
        n_histo_toys: int | None = 100000,
        histo_theta_batchsize: int | None = 1000,
        dof: int | None = None,
        test_split: float = 0.2,
        return_histos: bool = True,
        return_asimov: bool | int = False,
        fix_adaptive_binning: str | bool = "auto-grid",
        sample_only_from_closest_benchmark: bool = True,
        postprocessing: Callable[[np.ndarray], np.ndarray] | None = None,
        n_asimov: int | None = None,
        n_binning_toys: int | None = 100000,
        thetas_eval: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, int, Any, Any, Any]:
        """Expected p-values over a parameter grid, from the Asimov data of ``theta_true``.

        Parameters
        ----------
        mode : {"rate", "histo", "ml", "sally", "sallino", "adaptive-sally"}
            ``"rate"``: the Poisson likelihood of the number of events only. ``"histo"``:
            histograms of ``hist_vars``. ``"ml"``: a saved ``ParameterizedRatioEstimator`` or
            ``LikelihoodEstimator`` (or ensemble) in ``model_file``. ``"sally"``: histograms of
            the score of a ``ScoreEstimator``; ``"sallino"``: 1-D histograms of
            ``h = t . (theta - thetaref) / |theta - thetaref|``; ``"adaptive-sally"``: the score
            rotated (two components) or with ``h`` prepended (more).
        theta_true : ndarray, shape (n_parameters,)
            The true parameter point of the Asimov data.
        grid_ranges : list of (float, float) or None, optional
            ``(min, max)`` per parameter of a regular grid (with ``grid_resolutions``).
        grid_resolutions : int or list of int, optional
            Points per parameter (an int: the same for all). Default 25.
        include_xsec : bool, optional
            Include the Poisson likelihood of the number of events. Default True.
        model_file : str, estimator or Ensemble, optional
            A saved estimator (the prefix given to ``save``, or an ensemble folder), or the
            estimator itself (an addition). Needed by every mode but "rate" and "histo".
        hist_vars : list of str, optional
            Observables of mode "histo" (names, or expressions over the observables: an addition).
        score_components : list of int, optional
            The score components used in the SALLY modes (default: all parameters).
        hist_bins : int or list of (int or ndarray), optional
            Bins per summary statistic: an int (adaptive bins of equal weight between the 0.1 %
            and 99.9 % quantiles) or bin edges. Default: 25 (one statistic), 8 x 8 (two), 5 each
            (more); adaptive-sally (15, 5) or (12, 5, ...).
        thetaref : ndarray, optional
            Reference point of "sallino" and "adaptive-sally", and the denominator of the
            kinematic likelihood ratio of every histogram mode (default: the origin).
        luminosity : float, optional
            In pb^-1. Default 300000.
        weighted_histo : bool, optional
            Accepted for compatibility; the histograms always use the weighted events.
        n_histo_toys : int or None, optional
            Events of the training partition filled into the histograms (the first ones; None:
            all). Default 100000.
        histo_theta_batchsize : int or None, optional
            Accepted for compatibility (the templates of all grid points come from one fill).
        dof : int or None, optional
            Degrees of freedom of the chi^2 (default: the number of parameters).
        test_split : float, optional
            Fraction of the file in the test partition (mode "ml" Asimov data); the histograms
            use the rest. Default 0.2.
        return_histos : bool, optional
            Return the histogram of every grid point (histogram modes).
        return_asimov : bool or int, optional
            Also return the summary statistics of the Asimov events and their weights.
        fix_adaptive_binning : {False, "center", "grid", "auto-grid", "auto-center"}, optional
            One adaptive binning for all grid points: from the weights averaged over the grid
            ("grid") or at its centre ("center"); "auto-*" does so for "histo" and "sally" only.
        sample_only_from_closest_benchmark : bool, optional
            Mode "ml": Asimov events only from the sample of the benchmark closest to theta_true.
        postprocessing : callable, optional
            Applied to the summary statistics ``(n, d) -> (n, d')`` before histogramming.
        n_asimov : int or None, optional
            Mode "ml": use the first ``n_asimov`` test events.
        n_binning_toys : int or None, optional
            Events used to find adaptive bins (None: all histogram events). Default 100000.
        thetas_eval : ndarray, shape (n_points, n_parameters), optional
            Evaluate at these points instead of a regular grid.

        Returns
        -------
        parameter_grid : ndarray, shape (n_grid_points, n_parameters)
        p_values : ndarray, shape (n_grid_points,)
        mle : int
            Index of the best-fit grid point.
        log_likelihood_ratio_kin : ndarray or float
            Kinematic log likelihood (ratio) per grid point: in the histogram modes relative to
            ``thetaref``, in mode "ml" as the estimator gives it (0.0 in mode "rate").
        log_likelihood_rate : ndarray or float
            Rate log likelihood per grid point (0.0 without ``include_xsec``). With profiled
            nuisance parameters both are at the profiled ``nu`` and the constraint term is in
            ``log_likelihood_rate`` (or in the kinematic term without ``include_xsec``).
        histos : None, list of Histo, or tuple
            The histogram per grid point (``return_histos``); with ``return_asimov``:
            ``(histos, summary_statistics, weights)`` of the Asimov events.
        """
        arguments = _call_arguments(locals())
        theta_true = self.weight_model.theta_array(theta_true)[0]
        totals = self._benchmark_totals()
        sigma_true = float(self.parameter_points(theta_true[None, :]).matrices[0] @ totals)
        n_events = luminosity * sigma_true
        logger.info("Expected events at theta_true = %s: %s", theta_true, n_events)
        x, weights = None, None
        if mode == "ml":
            x, weights = self._asimov_events(
                theta_true, test_split, sample_only_from_closest_benchmark, n_asimov
            )
        with self._call_checkpoint("expected_limits", arguments) as checkpoint:
            return self._analyse(
                mode, n_events, x, weights, theta_true, grid_ranges, grid_resolutions, thetas_eval,
                include_xsec, model_file, hist_vars, score_components, hist_bins, thetaref, luminosity,
                weighted_histo, n_histo_toys, histo_theta_batchsize, dof, test_split, return_histos,
                return_asimov, fix_adaptive_binning, postprocessing, n_binning_toys, totals=totals,
                checkpoint=checkpoint,
            )  # fmt: skip

    def asymptotic_p_value(self, log_likelihood_ratio: Any, dof: int | None = None) -> np.ndarray:
        """p-values ``chi2.sf(-2 log r, dof)`` of log likelihood ratios (without the factor -2).

        Parameters
        ----------
        log_likelihood_ratio : ndarray
            ``log L(theta) - log L(theta_hat)`` (non-positive).
        dof : int or None, optional
            Degrees of freedom (default: the number of parameters).

        Returns
        -------
        ndarray
            The p-values.
        """
        dof = self.n_parameters if dof is None else dof
        if int(dof) < 1:
            raise InputError(f"dof must be a positive int, got {dof!r}")
        return chi2.sf(-2.0 * np.asarray(log_likelihood_ratio, dtype=np.float64), df=int(dof))

    def coverage(
        self,
        mode: str,
        theta_true: Any,
        grid_ranges: Sequence[tuple[float, float]] | None = None,
        grid_resolutions: int | Sequence[int] | None = 25,
        thetas_eval: np.ndarray | None = None,
        hist_vars: Sequence[str] | None = None,
        hist_bins: Any = None,
        include_xsec: bool = True,
        luminosity: float = 300000.0,
        n_toys: int = 1000,
        confidence_levels: Sequence[float] = (0.6827, 0.9545),
        dof: int | None = None,
        test_split: float = 0.2,
        n_histo_toys: int | None = None,
        random_state: int | np.random.Generator | None = None,
        model_file: Any = None,
        score_components: Sequence[int] | None = None,
        n_asimov: int | None = None,
        sample_only_from_closest_benchmark: bool = True,
        q_observed: Any = None,
    ) -> dict[str, Any]:
        """Coverage of the asymptotic intervals, from pseudo-experiments (an addition).

        Toys are drawn at ``theta_true`` (nominal nuisance parameters) from the same model as the
        likelihood: Poisson counts ``n_b ~ Poisson(L sigma_b(theta_true))`` in the bins of the
        histogram (modes "histo" and "sally", one fixed binning) or of the total rate (mode
        "rate"); in mode "ml", ``N ~ Poisson(L sigma(theta_true))`` events drawn from the
        test-partition events with their weights at ``theta_true``, whose per-event ``log r`` at
        every grid point is computed once. For each toy the likelihood (extended with
        ``include_xsec``, else shape only) is maximised over the grid and ``q = -2 log(L(theta_true)
        / L_max)`` compared with the chi^2 quantiles.

        With ``include_nuisance_parameters=True`` the nuisance parameters are profiled at every grid
        point of every toy, and each toy also draws its auxiliary measurements ``nu_0 ~ N(0, 1)``
        (constraint ``-(nu - nu_0)^2 / 2``), as frequentist toys with constrained nuisance
        parameters do. In mode "ml" this needs an estimator without nuisance inputs (the rate term
        carries the nuisance dependence).

        Parameters
        ----------
        mode : {"rate", "histo", "sally", "ml"}
        theta_true : ndarray, shape (n_parameters,)
        grid_ranges, grid_resolutions, thetas_eval
            The grid over which the likelihood is maximised (as in :meth:`expected_limits`).
        hist_vars, hist_bins : optional
            Modes "histo" and "sally": observables and binning (adaptive bins from the weights
            averaged over the grid).
        include_xsec : bool, optional
            Extended (True) or shape-only likelihood.
        luminosity : float, optional
            In pb^-1.
        n_toys : int, optional
            Number of pseudo-experiments. Default 1000.
        confidence_levels : sequence of float, optional
            Default (0.6827, 0.9545).
        dof : int or None, optional
            Degrees of freedom of the chi^2 (default: the number of parameters).
        test_split : float, optional
            The histograms use the events outside the test partition, mode "ml" those in it.
        n_histo_toys : int or None, optional
            Events filled into the histograms (None: all).
        random_state : int or Generator, optional
            Seed.
        model_file : str, estimator or Ensemble, optional
            Modes "sally" (a score estimator) and "ml" (a likelihood (ratio) estimator).
        score_components : list of int, optional
            Mode "sally": the score components histogrammed.
        n_asimov : int or None, optional
            Mode "ml": the first ``n_asimov`` test events (None: all).
        sample_only_from_closest_benchmark : bool, optional
            Mode "ml": only test events generated at the benchmark closest to theta_true.
        q_observed : float or array-like, optional
            Values of ``q(theta_true) = -2 log r`` (e.g. ``-2 log r`` of observed data at
            theta_true) whose toy-based p-values are returned, for where the asymptotic one is
            doubtful.

        Returns
        -------
        dict
            ``confidence_levels``, ``coverage`` (fraction of toys whose interval contains
            theta_true), ``standard_error`` (binomial, of the nominal level), ``q`` (per toy),
            ``p_values`` (asymptotic, of theta_true, per toy), ``critical_values`` (the toys'
            quantiles of q at the confidence levels) next to ``asymptotic_critical_values`` (the
            chi^2 ones), and with ``q_observed`` its ``toy_p_values`` (fraction of toys with
            ``q >= q_observed``).
        """
        arguments = _call_arguments(locals())
        if mode not in _COVERAGE_MODES:
            raise InputError(f"coverage supports the modes {', '.join(_COVERAGE_MODES)}, got {mode!r}")
        if int(n_toys) < 1:
            raise InputError(f"n_toys must be a positive int, got {n_toys!r}")
        if mode == "rate" and not include_xsec:
            raise InputError("mode 'rate' with include_xsec=False has no likelihood to test")
        if luminosity <= 0:
            raise InputError(f"luminosity must be positive, got {luminosity!r}")
        theta_true = self.weight_model.theta_array(theta_true)[0]
        grid = np.concatenate([self._grid(grid_ranges, grid_resolutions, thetas_eval)[0], theta_true[None]])
        rng = np.random.default_rng(random_state)
        with self._call_checkpoint("coverage", arguments) as checkpoint:
            if mode == "ml":
                log_l = self._ml_toys(
                    grid, model_file, luminosity, include_xsec, int(n_toys), test_split, n_asimov,
                    sample_only_from_closest_benchmark, rng, checkpoint,
                )  # fmt: skip
            else:
                log_l = self._binned_toys(
                    mode, grid, hist_vars, hist_bins, model_file, score_components, luminosity,
                    include_xsec, int(n_toys), test_split, n_histo_toys, rng,
                )  # fmt: skip
        q = np.clip(2.0 * (np.max(log_l, axis=1) - log_l[:, -1]), 0.0, None)
        dof = self.n_parameters if dof is None else int(dof)
        levels = np.asarray(confidence_levels, dtype=np.float64)
        asymptotic = chi2.ppf(levels, dof)
        result = {
            "confidence_levels": levels,
            "coverage": np.mean(q[:, None] <= asymptotic[None, :], axis=0),
            "standard_error": np.sqrt(levels * (1.0 - levels) / len(q)),
            "q": q,
            "p_values": chi2.sf(q, dof),
            "critical_values": np.quantile(q, levels),
            "asymptotic_critical_values": asymptotic,
        }
        if q_observed is not None:
            observed = np.asarray(q_observed, dtype=np.float64)
            result["toy_p_values"] = np.mean(q[:, None] >= observed.reshape(-1)[None, :], axis=0).reshape(
                observed.shape
            )
        return result

    def _binned_toys(
        self,
        mode: str,
        grid: np.ndarray,
        hist_vars: Any,
        hist_bins: Any,
        model_file: Any,
        score_components: Any,
        luminosity: float,
        include_xsec: bool,
        n_toys: int,
        test_split: float,
        n_histo_toys: int | None,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Log likelihood ``(n_toys, n_grid)`` of Poisson toys in the bins (or the total rate)."""
        if mode == "rate":
            sums = self._benchmark_totals()[None, :]  # (1, B)
        else:
            statistic, _ = self._summary_statistic(mode, hist_vars, model_file, score_components)
            binned = self._fill_groups(
                statistic, [np.arange(len(grid))], grid, hist_bins, "grid", n_histo_toys, test_split, None,
                mode=mode,
            )[0]  # fmt: skip
            sums = binned.sums * self._template_scale()  # (n_bins, B) pb
        mu = luminosity * np.clip(
            self.parameter_points(grid).matrices @ sums.T, _MIN_EVENTS / luminosity, None
        )
        counts = rng.poisson(mu[-1], size=(n_toys, mu.shape[1])).astype(np.float64)
        n_observed = counts.sum(axis=1)
        coefficients = self._coefficients(sums)
        if coefficients is None:
            if include_xsec:
                return counts @ np.log(mu).T - mu.sum(axis=1)[None, :]
            return counts @ np.log(mu / mu.sum(axis=1, keepdims=True)).T
        # profiled: one row per (toy, grid point), auxiliary measurements drawn per toy
        n_grid, k = len(grid), self.n_nuisance_parameters
        centres = np.repeat(rng.standard_normal((n_toys, k)), n_grid, axis=0)
        rows = np.tile(mu, (n_toys, 1))
        a, b = (np.broadcast_to(c[None], (len(rows), *c.shape)) for c in coefficients)
        n_rows = np.repeat(n_observed, n_grid)
        observed = np.repeat(counts / np.maximum(n_observed, 1.0)[:, None], n_grid, axis=0)
        binned_rows = {
            "templates": rows,
            "observed": observed,
            "log_reference": np.zeros_like(rows),
            "a": a,
            "b": b,
        }
        kin, rate, _ = self._maximise(
            n_rows, binned_rows, None, rows, (a, b), include_xsec, mode != "rate", nu_centre=centres
        )
        return np.reshape(kin + rate if mode != "rate" else rate, (n_toys, n_grid))

    def _ml_toys(
        self,
        grid: np.ndarray,
        model_file: Any,
        luminosity: float,
        include_xsec: bool,
        n_toys: int,
        test_split: float,
        n_asimov: int | None,
        closest: bool,
        rng: np.random.Generator,
        checkpoint: Checkpoint | None = None,
    ) -> np.ndarray:
        """Log likelihood ``(n_toys, n_grid)`` of toys of events drawn from the weighted test events.

        ``log r`` of every test event at every grid point is computed once, chunk by chunk (with a
        ``checkpoint``: each block recorded, and the recorded blocks read instead of recomputed).
        """
        from ..likelihood.neural import log_r_evaluator

        model, n_nu_inputs = self._ratio_model(model_file)
        if n_nu_inputs and self._profiling:
            raise InputError(
                "coverage in mode 'ml' with profiled nuisance parameters needs an estimator without "
                f"nuisance inputs; {model_file} takes {n_nu_inputs}"
            )
        x, weights = self._asimov_events(grid[-1], test_split, closest, n_asimov)
        params = self._at_nominal_nu(grid, n_nu_inputs)
        evaluate = log_r_evaluator(model)
        chunks = _event_chunks(len(x), len(grid))
        record = _ChunkRecord(checkpoint, "toys", chunks, len(grid))
        first, blocks = record.resume_blocks()
        for i in range(first, len(chunks)):
            blocks.append(evaluate(x[chunks[i]], params))
            record.add_block(i + 1, blocks[-1])
        log_r = np.concatenate(blocks, axis=1)
        totals = self._benchmark_totals()
        mu = luminosity * np.clip(
            self.parameter_points(grid).matrices @ totals, _MIN_EVENTS / luminosity, None
        )
        n_observed = rng.poisson(mu[-1], size=n_toys)
        events = rng.choice(len(x), size=int(n_observed.sum()), p=weights)
        toy = np.repeat(np.arange(n_toys), n_observed)
        counts = sparse.csr_matrix((np.ones(len(events)), (toy, events)), shape=(n_toys, len(x)))
        kin = np.asarray(counts @ log_r.T)  # (n_toys, n_grid)
        n_grid = len(grid)
        if not include_xsec:
            return kin
        rates = np.tile(mu[:, None], (n_toys, 1))
        n_rows = np.repeat(n_observed.astype(np.float64), n_grid)
        coefficients: tuple[np.ndarray, ...] | None = self._coefficients(totals[None, :])
        centres = None
        if coefficients is not None:
            coefficients = tuple(np.broadcast_to(c[None], (len(rates), *c.shape)) for c in coefficients)
            centres = np.repeat(rng.standard_normal((n_toys, self.n_nuisance_parameters)), n_grid, axis=0)
        _, rate, _ = self._maximise(n_rows, None, None, rates, coefficients, True, False, nu_centre=centres)
        return kin + np.reshape(rate, (n_toys, n_grid))

    # ------------------------------------------------------------------ checkpoints

    @contextmanager
    def _call_checkpoint(self, call: str, arguments: dict[str, Any]) -> Iterator[Checkpoint | None]:
        """The checkpoint of one call of mode "ml" (None without a folder or in other modes).

        Its subfolder of :attr:`checkpoint` is named by the call's fingerprint; it is removed when
        the ``with`` block ends normally, and kept when it raises (an interrupted call) after
        something was recorded.
        """
        if self.checkpoint is None or arguments.get("mode") != "ml":
            yield None
            return
        job = describe(self._call_job(call, arguments))
        checkpoint = Checkpoint(self.checkpoint / f"{call}-{fingerprint(job)[:16]}", job)
        try:
            yield checkpoint
        except BaseException:
            if not checkpoint.keys():  # e.g. refused arguments: nothing to resume
                checkpoint.clear()
                _tidy_checkpoint_folder(self.checkpoint)
            raise
        checkpoint.clear()
        _tidy_checkpoint_folder(self.checkpoint)

    def _call_job(self, call: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """What the result of a call depends on: the call and its arguments, the events file, the
        estimator (its files, or its settings and weights) and the version of motherlode."""
        return {
            "call": call,
            "arguments": {name: value for name, value in arguments.items() if name != "model_file"},
            "model": _describe_model(arguments.get("model_file")),
            "events": Path(self.madminer_filename),
            "include_nuisance_parameters": self.include_nuisance_parameters,
            "motherlode": __version__,
        }

    # ------------------------------------------------------------------ the analysis

    def _analyse(
        self,
        mode: str,
        n_events: float,
        x: np.ndarray | None,
        obs_weights: np.ndarray | None,
        theta_true: np.ndarray | None,
        grid_ranges: Any,
        grid_resolutions: Any,
        thetas_eval: Any,
        include_xsec: bool,
        model_file: Any,
        hist_vars: Any,
        score_components: Any,
        hist_bins: Any,
        thetaref: Any,
        luminosity: float,
        weighted_histo: bool,
        n_histo_toys: int | None,
        histo_theta_batchsize: int | None,
        dof: int | None,
        test_split: float,
        return_histos: bool,
        return_observed: bool | int,
        fix_adaptive_binning: Any,
        postprocessing: Any,
        n_binning_toys: int | None,
        totals: np.ndarray | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> tuple[np.ndarray, np.ndarray, int, Any, Any, Any]:
        del histo_theta_batchsize  # one fill serves all grid points
        if mode not in MODES:
            raise InputError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        if luminosity <= 0:
            raise InputError(f"luminosity must be positive, got {luminosity!r}")
        if not weighted_histo:
            logger.info("weighted_histo=False: the histograms use the weighted events all the same")
        if mode == "histo" and hist_vars is None:
            if model_file is None:
                raise InputError("mode 'histo' needs hist_vars (the observables of the histograms)")
            logger.warning("mode='histo' without hist_vars but with a model_file: using mode 'sally'")
            mode = "sally"
        if mode in ("ml", "sally", "sallino", "adaptive-sally") and model_file is None:
            raise InputError(f"mode {mode!r} needs model_file (a saved estimator)")
        grid, middle = self._grid(grid_ranges, grid_resolutions, thetas_eval)
        n_grid = len(grid)
        logger.info(
            "Calculating p-values at %d points in mode %s for %s events, %s the rate",
            n_grid, mode, n_events, "including" if include_xsec else "without",
        )  # fmt: skip
        totals = self._benchmark_totals() if totals is None else totals
        matrices = self.parameter_points(grid).matrices  # (J, B)

        # rate: one "bin" with the total cross section
        rate_templates = (matrices @ totals)[:, None] * luminosity  # (J, 1) events
        rate_coefficients: tuple[np.ndarray, ...] | None = self._coefficients(totals[None, :])

        histo_data: Any = None
        kin_fixed = None
        binned = None
        kin_function = None
        if mode == "ml":
            assert x is not None and obs_weights is not None  # the observed or Asimov events
            kin_fixed, kin_function = self._ml_kinematics(
                model_file, x, obs_weights, grid, n_events, theta_true, checkpoint
            )
        elif mode in _HISTOGRAM_MODES:
            binned = self._histogram_terms(
                mode, n_events, x, theta_true, grid, middle, model_file, hist_vars, score_components,
                hist_bins, thetaref, n_histo_toys, test_split, fix_adaptive_binning, postprocessing,
                n_binning_toys, return_histos, return_observed,
            )  # fmt: skip
            histo_data = binned.pop("histo_data")

        if rate_coefficients is not None:
            if binned is not None:
                # one model for shape and rate: the total rate is the sum of the bins, each with its
                # own nuisance dependence (bin shares at nominal nu times the rate of the whole file)
                shares = np.clip(binned["templates"], 0.0, None)
                shares = shares / np.maximum(shares.sum(axis=1, keepdims=True), 1e-300)
                rate_templates = rate_templates * shares
                rate_coefficients = (binned["a"], binned["b"])
            else:
                rate_coefficients = tuple(
                    np.broadcast_to(c[None], (n_grid, *c.shape)) for c in rate_coefficients
                )
        log_kin, log_rate, nus = self._maximise(
            n_events, binned, kin_fixed, rate_templates, rate_coefficients, include_xsec, mode != "rate",
            kin_function,
        )  # fmt: skip
        self.profiled_nuisance_parameters = nus
        log_r = (log_kin if mode != "rate" else 0.0) + (log_rate if include_xsec else 0.0)
        log_r = np.broadcast_to(np.asarray(log_r, dtype=np.float64), (n_grid,)).copy()
        i_ml = int(np.argmax(log_r))
        log_r -= log_r[i_ml]
        p_values = self.asymptotic_p_value(log_r, dof=dof)
        return (
            grid,
            p_values,
            i_ml,
            log_kin if mode != "rate" else 0.0,
            log_rate if include_xsec else 0.0,
            histo_data,
        )

    # ------------------------------------------------------------------ inputs

    def _grid(self, ranges: Any, resolutions: Any, thetas_eval: Any) -> tuple[np.ndarray, np.ndarray]:
        """The grid ``(J, P)`` and its centre."""
        if thetas_eval is not None:
            grid = np.asarray(thetas_eval, dtype=np.float64)
            if grid.ndim != 2 or grid.shape[1] != self.n_parameters or len(grid) == 0:
                raise InputError(
                    f"thetas_eval must have shape (n_points, {self.n_parameters}), "
                    f"got {np.shape(thetas_eval)}"
                )
            middle = grid.mean(axis=0)
        else:
            if ranges is None or resolutions is None:
                raise InputError("give grid_ranges and grid_resolutions, or thetas_eval")
            ranges = np.asarray(ranges, dtype=np.float64)
            if ranges.shape != (self.n_parameters, 2):
                raise InputError(
                    f"grid_ranges must be {self.n_parameters} pairs (min, max), got {np.shape(ranges)}"
                )
            if isinstance(resolutions, int | np.integer):
                resolutions = [int(resolutions)] * self.n_parameters
            resolutions = [int(r) for r in resolutions]
            if len(resolutions) != self.n_parameters or min(resolutions) < 1:
                raise InputError(
                    f"grid_resolutions must be a positive int or {self.n_parameters} positive ints, "
                    f"got {resolutions}"
                )
            axes = [np.linspace(lo, hi, n) for (lo, hi), n in zip(ranges, resolutions, strict=True)]
            grid = np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")], axis=1)
            middle = ranges.mean(axis=1)
        self._check_morphing_range(grid)
        return grid, middle

    def _check_morphing_range(self, grid: np.ndarray) -> None:
        values = self.weight_model.benchmark_values[: self.n_benchmarks_phys]
        ranges = [p.val_range for p in self.parameters.values()]
        lo = np.minimum(values.min(axis=0), [r[0] for r in ranges])
        hi = np.maximum(values.max(axis=0), [r[1] for r in ranges])
        outside = np.any((grid < lo - 1e-12) | (grid > hi + 1e-12), axis=1)
        if outside.any():
            logger.warning(
                "%d of %d grid points lie outside the morphing range (parameter ranges and benchmarks: "
                "%s to %s): the morphing may be unreliable there",
                int(outside.sum()), len(grid), lo, hi,
            )  # fmt: skip

    def _benchmark_totals(self) -> np.ndarray:
        """Cross section of every benchmark column (pb), over the whole file (one pass)."""
        return self.xsecs(thetas=None, partition="all", include_nuisance_benchmarks=True)[0]

    def _coefficients(self, sums: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Per-bin nuisance coefficients ``(a, b)``, each ``(K, n_bins)``, or None."""
        if not self._profiling:
            return None
        assert self.nuisance_morpher is not None  # checked by _profiling
        return self.nuisance_morpher.calculate_coefficients(sums)

    def _asimov_events(
        self, theta: np.ndarray, test_split: float, closest: bool, n_asimov: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        start, end, _ = self._partition_bounds("test", test_split, 0.0)
        if n_asimov is not None:
            end = min(end, start + int(n_asimov))
        x, benchmark_weights = self._load_all(start, end, theta if closest else None)
        weights = self.parameter_points(theta[None, :]).weights(benchmark_weights)[0]
        if len(x) == 0 or not np.sum(weights) > 0:
            raise InputError(
                f"no Asimov events with positive weight in the test partition of {self.madminer_filename}"
            )
        return x, weights / np.sum(weights)

    # ------------------------------------------------------------------ mode "ml"

    def _load_model(self, model_file: Any) -> Any:
        from ..ml import Ensemble, Estimator
        from ..ml.lookup import load_estimator

        return model_file if isinstance(model_file, Estimator | Ensemble) else load_estimator(model_file)

    def _check_model(self, model: Any, model_file: Any, kinds: tuple[str, ...], mode: str) -> None:
        from ..ml import Ensemble, LikelihoodEstimator, ParameterizedRatioEstimator, ScoreEstimator

        classes = {
            "parameterized_ratio": ParameterizedRatioEstimator,
            "likelihood": LikelihoodEstimator,
            "score": ScoreEstimator,
        }
        members: list[Any] = model.estimators if isinstance(model, Ensemble) else [model]
        if not members or not all(isinstance(m, tuple(classes[k] for k in kinds)) for m in members):
            raise SetupError(
                f"mode {mode!r} needs a {' or '.join(kinds)} estimator (or an ensemble of them); "
                f"{model_file} is a {type(members[0]).__name__ if members else 'empty ensemble'}"
            )
        first = members[0]
        n_model = int(first.n_parameters)
        allowed = {self.n_parameters, self.n_parameters + self._n_nuisance_parameters_in_file}
        if n_model not in allowed:
            raise SetupError(
                f"{model_file} was trained with {n_model} parameters, but {self.madminer_filename} has "
                f"{self.n_parameters} ({', '.join(self.parameters)})"
            )
        features = getattr(first, "features", None)
        n_inputs = int(first.n_observables) if features is None else len(features)
        needed = n_inputs if features is None else (max(features) + 1 if len(features) else 0)
        if (features is None and n_inputs != self.n_observables) or needed > self.n_observables:
            raise SetupError(
                f"{model_file} expects {n_inputs} input observables, but {self.madminer_filename} has "
                f"{self.n_observables} ({', '.join(self.observables)})"
            )

    def _ratio_model(self, model_file: Any) -> tuple[Any, int]:
        """The likelihood (ratio) estimator of mode "ml", checked against the file, and how many
        nuisance parameters it takes as inputs (0, or all of the file's)."""
        from ..ml import Ensemble

        if model_file is None:
            raise InputError("mode 'ml' needs model_file (a saved estimator)")
        model = self._load_model(model_file)
        self._check_model(model, model_file, ("parameterized_ratio", "likelihood"), "ml")
        first: Any = model.estimators[0] if isinstance(model, Ensemble) else model
        return model, int(first.n_parameters) - self.n_parameters

    @staticmethod
    def _at_nominal_nu(grid: np.ndarray, n_nu_inputs: int) -> np.ndarray:
        """The grid points as the estimator's inputs: with nominal nuisance parameters appended."""
        return np.concatenate([grid, np.zeros((len(grid), n_nu_inputs))], axis=1) if n_nu_inputs else grid

    def _ml_kinematics(
        self,
        model_file: Any,
        x: np.ndarray,
        weights: np.ndarray,
        grid: np.ndarray,
        n_events: float,
        theta_true: np.ndarray | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> tuple[np.ndarray | None, Callable[[np.ndarray], np.ndarray] | None]:
        """The kinematic term ``n sum_i w_i log r(x_i | theta_j)``: fixed ``(J,)``, or, for an
        estimator with nuisance inputs when they are profiled, a function of ``nu (J, K)``.

        With ``theta_true`` (expected limits: ``w`` are the Asimov weights at ``theta_true``) the
        estimated density is normalised under the Asimov model: ``n (sum_i w_i log r_ij - log
        sum_i w_i r_ij / r_i,true)``, which is at most its value at ``theta_true`` (Jensen), so
        that the Asimov best fit is ``theta_true`` as in the histogram modes. (A trained
        estimator's normalisation is typically off by 0.1 to 1 %, which multiplied by thousands of
        events would otherwise move the best fit.)

        The events are summed chunk by chunk; with a ``checkpoint`` the running sums are recorded
        (see :class:`_ChunkRecord`) and a rerun continues after the last recorded chunk."""
        from ..likelihood.neural import log_r_evaluator

        model, n_nu_inputs = self._ratio_model(model_file)
        if n_nu_inputs and self._profiling:
            return None, _nu_kinematics(log_r_evaluator(model), x, weights, grid, n_events, checkpoint)
        if self._profiling:
            logger.info("%s has no nuisance inputs: only the rate term depends on nu", model_file)
        points = grid if theta_true is None else np.concatenate([grid, theta_true[None, :]])
        evaluate = _chunk_evaluator(model, self._at_nominal_nu(points, n_nu_inputs))
        chunks = _event_chunks(len(x), len(points))
        record = _ChunkRecord(checkpoint, "kinematics", chunks, len(points))
        first, sums = record.resume_sums(
            {
                "total": np.zeros(len(points)),
                "log_norm": np.full(len(grid), -np.inf),  # log sum_i w_i r_ij / r_i,true
                "bad": np.zeros(1, dtype=np.int64),  # events with inf / nan log r
            }
        )
        with progress_bar(total=len(x), desc="log r", unit="events") as bar:
            bar.update(chunks[first].start if first < len(chunks) else len(x))
            for i in range(first, len(chunks)):
                _add_chunk(sums, evaluate(x[chunks[i]]), weights[chunks[i]], theta_true is not None)
                bar.update(len(weights[chunks[i]]))
                record.save_sums(i + 1, sums)
        if sums["bad"][0]:
            logger.warning(
                "Removing %d events with inf / nan log likelihood (ratio) from the sums", int(sums["bad"][0])
            )
        if theta_true is None:
            return n_events * sums["total"], None
        return n_events * (sums["total"][:-1] - sums["log_norm"]), None

    # ------------------------------------------------------------------ histogram modes

    def _summary_statistic(
        self, mode: str, hist_vars: Any, model_file: Any, score_components: Any
    ) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
        """The theta-independent statistic ``x -> s (n, d)`` and ``d``."""
        if mode == "histo":
            if hist_vars is None or isinstance(hist_vars, str) or not len(hist_vars):
                raise InputError(f"hist_vars must be a list of observable names, got {hist_vars!r}")
            names = list(self.observables)
            parts: list[int | Expression] = []
            for var in hist_vars:
                if var in names:
                    parts.append(names.index(var))
                else:
                    parts.append(Expression(var, names=set(names), context=f"hist_vars entry {var!r}"))

            def observables(x: np.ndarray) -> np.ndarray:
                columns = {name: x[:, i] for i, name in enumerate(names)}
                out = [
                    x[:, p] if isinstance(p, int)
                    else np.broadcast_to(np.asarray(p(columns), dtype=np.float64), (len(x),))
                    for p in parts
                ]  # fmt: skip
                return np.stack(out, axis=1)

            function, d = observables, len(parts)
        else:
            from ..ml import Ensemble

            model = self._load_model(model_file)
            self._check_model(model, model_file, ("score",), mode)
            components = None if score_components is None else [int(c) for c in score_components]
            if components is not None and (not components or max(components) >= self.n_parameters):
                raise InputError(
                    f"score_components must index the {self.n_parameters} parameters, got {score_components}"
                )
            p = self.n_parameters

            def scores(x: np.ndarray) -> np.ndarray:
                if isinstance(model, Ensemble):
                    t = model.evaluate_score(x=x, calculate_covariance=False)[0]
                else:
                    t = model.evaluate_score(x)
                t = np.asarray(t, dtype=np.float64)[:, :p]
                return t if components is None else t[:, components]

            function, d = scores, (p if components is None else len(components))
        return function, d

    def _processor(
        self, mode: str, d: int, score_components: Any, thetaref: np.ndarray, postprocessing: Any
    ) -> Callable[[np.ndarray, np.ndarray | None], np.ndarray]:
        """``(statistic, direction) -> processed statistic``; ``direction`` is the unit vector of
        ``theta - thetaref`` (in the used components) or None when theta is at thetaref."""
        post = (lambda s: s) if postprocessing is None else postprocessing

        def apply(s: np.ndarray, direction: np.ndarray | None) -> np.ndarray:
            if mode in ("histo", "sally") or d == 1:
                out = s
            elif mode == "adaptive-sally" and d == 2:
                if direction is None:
                    out = s
                else:
                    rotation = np.array([[direction[0], -direction[1]], [direction[1], direction[0]]])
                    out = s @ rotation
            else:
                h = s[:, :1] if direction is None else (s @ direction)[:, None]
                out = h if mode == "sallino" else np.concatenate([h, s], axis=1)
            out = np.asarray(post(out), dtype=np.float64)
            return out[:, None] if out.ndim == 1 else out

        return apply

    def _directions(
        self, grid: np.ndarray, thetaref: np.ndarray, components: Any
    ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        """Groups of grid points sharing the direction of ``theta - thetaref``; opposite
        directions are exact negatives of each other (their statistics share one sort)."""
        delta = grid - thetaref[None, :]
        if components is not None:
            delta = delta[:, components]
        norm = np.linalg.norm(delta, axis=1)
        at_ref = norm <= _DIRECTION_EPSILON
        unit = np.where(at_ref[:, None], 0.0, delta / np.where(at_ref, 1.0, norm)[:, None])
        keys = np.round(unit, 9) + 0.0  # no -0.0
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        groups = [np.flatnonzero(inverse == g) for g in range(len(first))]
        directions: list[np.ndarray | None] = [None if at_ref[f] else unit[f] for f in first]
        index = {tuple(keys[f].tolist()): g for g, f in enumerate(first)}
        for g, f in enumerate(first):
            opposite = index.get(tuple((-keys[f] + 0.0).tolist()))
            if directions[g] is not None and opposite is not None and opposite < g:
                opposite_direction = directions[opposite]
                assert opposite_direction is not None  # only the zero key is its own opposite
                directions[g] = -opposite_direction
        return groups, directions

    def _histogram_terms(
        self,
        mode: str,
        n_events: float,
        x: np.ndarray | None,
        theta_true: np.ndarray | None,
        grid: np.ndarray,
        middle: np.ndarray,
        model_file: Any,
        hist_vars: Any,
        score_components: Any,
        hist_bins: Any,
        thetaref: Any,
        n_histo_toys: int | None,
        test_split: float,
        fix_adaptive_binning: Any,
        postprocessing: Any,
        n_binning_toys: int | None,
        return_histos: bool,
        return_observed: bool | int,
    ) -> dict[str, Any]:
        if fix_adaptive_binning not in _FIX_BINNING:
            raise InputError(
                f"fix_adaptive_binning must be one of {_FIX_BINNING}, got {fix_adaptive_binning!r}"
            )
        if fix_adaptive_binning in ("auto-grid", "auto-center"):
            fixed = fix_adaptive_binning[5:] if mode in ("histo", "sally") else False
        else:
            fixed = fix_adaptive_binning
        if thetaref is None:
            thetaref = np.zeros(self.n_parameters)
            if mode in ("sallino", "adaptive-sally"):
                logger.warning("%s needs thetaref; using the origin %s", mode, thetaref)
        thetaref = self.weight_model.theta_array(thetaref)[0]
        statistic, d = self._summary_statistic(mode, hist_vars, model_file, score_components)
        processor = self._processor(mode, d, score_components, thetaref, postprocessing)
        components = None if score_components is None else [int(c) for c in score_components]
        if mode in ("sallino", "adaptive-sally") and d > 1:
            groups, directions = self._directions(grid, thetaref, components)
        else:
            groups, directions = [np.arange(len(grid))], [None]
        adaptive = any(isinstance(b, int | np.integer) for b in self._bins_list(mode, hist_bins, d))
        if fixed is False and adaptive:
            # adaptive bins per point: one group per grid point
            split_groups, split_directions = [], []
            for group, direction in zip(groups, directions, strict=True):
                split_groups += [np.array([j]) for j in group]
                split_directions += [direction] * len(group)
            groups, directions = split_groups, split_directions

        def processed(x_values: np.ndarray, direction: np.ndarray | None) -> np.ndarray:
            return processor(x_values, direction)

        binned_groups = self._fill_groups(
            statistic, groups, grid, hist_bins, fixed, n_histo_toys, test_split, middle,
            processed=processed, directions=directions, mode=mode, d=d, n_binning_toys=n_binning_toys,
            squares=return_histos,
        )  # fmt: skip
        matrices = self.parameter_points(grid).matrices
        true_row = None if theta_true is None else self.parameter_points(theta_true[None, :]).matrices[0]
        x_stats = None if x is None else statistic(x)
        n_bins = max(b.sums.shape[0] for b in binned_groups)
        J = len(grid)
        templates = np.zeros((J, n_bins))
        observed = np.zeros((J, n_bins))
        log_reference = np.zeros((J, n_bins))
        reference_row = self.parameter_points(thetaref[None, :]).matrices[0]
        a = b = None
        if self._profiling:
            k = self.n_nuisance_parameters
            a, b = np.zeros((J, k, n_bins)), np.zeros((J, k, n_bins))
        histos: list[tuple[int, TemplateHisto]] | None = [] if return_histos else None
        asimov_stats = []
        for group, direction, binned in zip(groups, directions, binned_groups, strict=True):
            nb = binned.sums.shape[0]
            t = matrices[group] @ binned.sums.T  # (g, nb) pb
            templates[group, :nb] = t
            log_reference[group, :nb] = np.log(_normalise(binned.sums @ reference_row))[None, :]
            if x_stats is None:
                p_true = np.clip(binned.sums @ true_row, 0.0, None)
                observed[group, :nb] = p_true / p_true.sum()
            else:
                values = processor(x_stats, direction)
                counts = np.bincount(binned.bins_of(values), minlength=nb)
                observed[group, :nb] = counts / max(len(values), 1)
                if return_observed:
                    asimov_stats.append((group, values))
            if a is not None:
                coefficients = self._coefficients(binned.sums)
                assert coefficients is not None and b is not None  # profiling, as for a
                a[group, :, :nb] = coefficients[0][None]
                b[group, :, :nb] = coefficients[1][None]
            if histos is not None:
                density = _normalise(t) / np.exp(binned.log_volumes)[None, :]
                errors = np.sqrt(np.clip(binned.squares @ (matrices[group] ** 2).T, 0.0, None)).T
                errors = errors / np.maximum(np.abs(t.sum(axis=1, keepdims=True)), 1e-300)
                errors = errors / np.exp(binned.log_volumes)[None, :]
                histos += [
                    (j, TemplateHisto(binned.edges, density[i], errors[i])) for i, j in enumerate(group)
                ]
        histo_list = None
        if histos is not None:
            histo_list = [h for _, h in sorted(histos, key=lambda item: item[0])]
        histo_data: Any = histo_list
        if return_histos and return_observed:
            statistics, weights = self._observed_statistics(
                x_stats,
                asimov_stats,
                J,
                return_observed,
                groups,
                directions,
                processor,
                statistic,
                theta_true,
            )
            histo_data = (histo_list, statistics, weights)
        return {
            "templates": templates,
            "observed": observed,
            "log_reference": log_reference,
            "a": a,
            "b": b,
            "histo_data": histo_data,
        }

    def _bins_list(self, mode: str, hist_bins: Any, d: int) -> list[Any]:
        """Per-dimension bins of the processed statistic (MadMiner's defaults)."""
        n_stats = d + 1 if (mode == "adaptive-sally" and d > 2) else (1 if mode == "sallino" else d)
        if hist_bins is None:
            if mode == "adaptive-sally" and n_stats == 2:
                return [15, 5]
            if mode == "adaptive-sally" and n_stats > 2:
                return [12] + [5] * (n_stats - 1)
            return [25] if n_stats == 1 else ([8, 8] if n_stats == 2 else [5] * n_stats)
        if isinstance(hist_bins, int | np.integer):
            return [int(hist_bins)] * n_stats
        bins = list(hist_bins)
        if len(bins) != n_stats:
            raise InputError(f"hist_bins has {len(bins)} entries for {n_stats} summary statistics")
        return bins

    def _fill_groups(
        self,
        statistic: Callable[[np.ndarray], np.ndarray],
        groups: list[np.ndarray],
        grid: np.ndarray,
        hist_bins: Any,
        fixed: Any,
        n_histo_toys: int | None,
        test_split: float,
        middle: np.ndarray | None,
        processed: Callable[[np.ndarray, Any], np.ndarray] | None = None,
        directions: list[Any] | None = None,
        mode: str = "histo",
        d: int | None = None,
        n_binning_toys: int | None = None,
        squares: bool = True,
    ) -> list[_Binned]:
        """Stream the histogram events once; bin sums of every benchmark column, per group.

        The binning of each group comes from the first ``n_binning_toys`` events (the only ones
        held in memory, as summary statistics and benchmark weights, and binned with a
        :class:`~motherlode.histograms.SortedEvents`: each direction's statistic is sorted once,
        and the opposite direction reuses that sort); then the remaining events are read in
        batches, their summary statistic computed once and filled into each group's histogram.
        ``squares=False`` skips the sums of squared weights of the pilot events (zeros).
        """
        directions = [None] * len(groups) if directions is None else directions
        processed = (lambda s, _: s) if processed is None else processed
        start, end = self._histogram_bounds(n_histo_toys, test_split)
        n_binning = end - start if n_binning_toys is None else min(end - start, int(n_binning_toys))
        pilot_stats, pilot_weights = self._statistics_and_weights(statistic, start, start + n_binning)
        d = pilot_stats.shape[1] if d is None else d
        bins = self._bins_list(mode, hist_bins, d)
        matrices = self.parameter_points(grid).matrices
        binned: list[Any] = [None] * len(groups)
        for i, events in _events_by_direction(pilot_stats, pilot_weights, directions, processed, len(bins)):
            edges = self._edges(events, bins, fixed, middle, matrices[groups[i]])
            sums, sums_squared = events.bin_sums(edges, squares=squares)
            binned[i] = (edges, sums, np.zeros_like(sums) if sums_squared is None else sums_squared)
        del pilot_stats, pilot_weights
        self._histogram_range = (start, end)
        if start + n_binning < end:
            self._fill_rest(statistic, processed, binned, directions, start + n_binning, end, squares)
        return [_Binned(edges, sums, sums_squared) for edges, sums, sums_squared in binned]

    def _fill_rest(
        self,
        statistic: Callable[[np.ndarray], np.ndarray],
        processed: Callable[[np.ndarray, Any], np.ndarray],
        binned: list[tuple[list[np.ndarray], np.ndarray, np.ndarray]],
        directions: list[Any],
        start: int,
        end: int,
        squares: bool,
    ) -> None:
        """Add the events ``start:end`` (streamed in batches) to the bin sums of every group; the
        statistic of each direction is computed and sorted once per batch."""
        n_axes = len(binned[0][0])
        for x, weights in self.event_loader(start, end, _BATCH_SIZE):
            stats = statistic(x)
            for i, events in _events_by_direction(stats, weights, directions, processed, n_axes):
                edges, sums, sums_squared = binned[i]
                batch_sums, batch_squares = events.bin_sums(edges, squares=squares)
                sums += batch_sums
                if batch_squares is not None:
                    sums_squared += batch_squares

    def _histogram_bounds(self, n_histo_toys: int | None, test_split: float) -> tuple[int, int]:
        """First and last event of the histograms: the training partition, or its first events."""
        start, end, _ = self._partition_bounds("train", test_split, 0.0) if test_split > 0 else (0, None, 1.0)
        end = self.n_samples if end is None else end
        if n_histo_toys is not None:
            end = min(end, start + int(n_histo_toys))
        if end <= start:
            raise InputError(f"no events for the histograms in {self.madminer_filename}")
        return start, end

    def _statistics_and_weights(
        self, statistic: Callable[[np.ndarray], np.ndarray], start: int, end: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Summary statistics and benchmark weights of the events ``start:end`` (streamed)."""
        stats, weights = [], []
        for x, w in self.event_loader(start, end, _BATCH_SIZE):
            stats.append(np.asarray(statistic(x), dtype=np.float64))
            weights.append(w)
        if not stats:
            raise InputError(f"no events for the histograms in {self.madminer_filename}")
        return np.concatenate(stats), np.concatenate(weights)

    def _edges(
        self,
        events: SortedEvents,
        bins: list[Any],
        fixed: Any,
        middle: np.ndarray | None,
        group_matrices: np.ndarray,
    ) -> list[np.ndarray]:
        """Bin edges of one group of grid points (adaptive ones from the weighted quantiles of
        ``events``, weighted at ``middle`` for ``fixed="center"``, else averaged over the group)."""
        if fixed == "center" and middle is not None:
            row = self.parameter_points(middle[None, :]).matrices[0]
        else:
            row = group_matrices.mean(axis=0)
        edges = []
        for i, entry in enumerate(bins):
            if isinstance(entry, int | np.integer):
                try:
                    edges.append(events.quantile_edges(i, int(entry), row))
                except InputError as error:
                    raise InputError(f"hist_bins[{i}] (adaptive binning): {error}") from None
            else:
                e = np.asarray(entry, dtype=np.float64)
                if e.ndim != 1 or len(e) < 2 or np.any(np.diff(e) <= 0):
                    raise InputError(f"hist_bins[{i}] must be an int or increasing bin edges, got {entry!r}")
                edges.append(e)
        return edges

    def _template_scale(self) -> float:
        """Factor from the histogram events' cross sections to the whole file's."""
        start, end = self._histogram_range
        return self.n_samples / (end - start)

    def _observed_statistics(
        self,
        x_stats: np.ndarray | None,
        asimov_stats: list[tuple[np.ndarray, np.ndarray]],
        n_grid: int,
        return_observed: bool | int,
        groups: list[np.ndarray],
        directions: list[np.ndarray | None],
        processor: Callable[[np.ndarray, np.ndarray | None], np.ndarray],
        statistic: Callable[[np.ndarray], np.ndarray],
        theta_true: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Summary statistics of the observed (or Asimov) events per grid point, and their weights."""
        if x_stats is None:
            assert theta_true is not None  # expected limits: Asimov events at theta_true
            stats, weights = self._statistics_and_weights(statistic, *self._histogram_range)
            obs_weights = self.parameter_points(theta_true[None, :]).weights(weights)[0]
            obs_weights = obs_weights / obs_weights.sum()
            per_group = [(g, processor(stats, u)) for g, u in zip(groups, directions, strict=True)]
        else:
            per_group = asimov_stats
            obs_weights = np.full(len(x_stats), 1.0 / max(len(x_stats), 1))
        several = not isinstance(return_observed, bool) and return_observed > 1
        limit = int(return_observed) if several else None
        first = per_group[0][1][:limit]
        if len(per_group) == 1:
            out = np.broadcast_to(first[None], (n_grid, *first.shape))
        else:
            out = np.zeros((n_grid, *first.shape))
            for group, values in per_group:
                out[group] = values[:limit][None]
        return out, obs_weights[:limit]

    # ------------------------------------------------------------------ likelihood and profiling

    def _maximise(
        self,
        n_events: float | np.ndarray,
        binned: dict[str, Any] | None,
        kin_fixed: np.ndarray | None,
        rate_templates: np.ndarray,
        rate_coefficients: Any,
        include_xsec: bool,
        with_kinematics: bool,
        kin_function: Callable[[np.ndarray], np.ndarray] | None = None,
        nu_centre: np.ndarray | None = None,
    ) -> tuple[Any, Any, np.ndarray | None]:
        """Kinematic and rate log likelihoods per grid point, profiled over nu when asked.

        ``kin_function(nu)`` (mode "ml" with nuisance inputs) is differentiated by central finite
        differences (``1 + 2K + K(K-1)/2`` evaluations per Newton step; none in the line search).
        ``n_events`` may be one number per row; ``nu_centre`` (rows, K) moves the Gaussian
        constraints (the auxiliary measurements of toys; default 0).
        """
        J = len(rate_templates)
        shape_terms = binned is not None and with_kinematics
        k = self.n_nuisance_parameters if self._profiling else 0
        centre = np.zeros((J, k)) if nu_centre is None or k == 0 else nu_centre

        def terms(nu: np.ndarray, derivatives: bool = True) -> tuple[np.ndarray, ...]:
            """kin, rate, constraint and the gradient and Hessian of their sum (J, K), (J, K, K)."""
            grad = -(nu - centre)
            hess = -np.broadcast_to(np.eye(k), (J, k, k)).copy()
            kin = np.zeros(J) if kin_fixed is None else kin_fixed.copy()
            if kin_function is not None:
                value = kin_function(nu)
                kin = kin + value
                if derivatives and k:
                    g, h = _finite_differences(kin_function, nu, value)
                    grad += g
                    hess += h
            if shape_terms:
                assert binned is not None  # shape_terms needs the binned templates
                value, g, h = _shape_term(n_events, binned, nu)
                kin = kin + value
                grad += g
                hess += h
            rate = np.zeros(J)
            if include_xsec:
                value, g, h = _poisson_term(n_events, rate_templates, rate_coefficients, nu)
                rate = value
                grad += g
                hess += h
            constraint = -0.5 * np.sum((nu - centre) ** 2, axis=1)
            return kin, rate, constraint, grad, hess, kin + rate + constraint

        if k == 0:
            kin, rate, _, _, _, _ = terms(np.zeros((J, 0)))
            return kin, rate, None
        nu = np.zeros((J, k))
        _, _, _, grad, hess, total = terms(nu)
        for _ in range(100):
            try:
                step = -np.linalg.solve(hess - 1e-9 * np.eye(k)[None], grad[..., None])[..., 0]
            except np.linalg.LinAlgError:
                step = grad
            concave = np.all(np.linalg.eigvalsh(0.5 * (hess + np.swapaxes(hess, 1, 2))) < 0, axis=1)
            step = np.where(concave[:, None], step, grad)
            norm = np.linalg.norm(step, axis=1, keepdims=True)
            step = step * np.minimum(1.0, 1.0 / np.maximum(norm, 1e-300))
            scale = np.ones((J, 1))
            accepted = np.zeros(J, dtype=bool)
            tolerance = 1e-12 * (1.0 + np.abs(total))  # rounding of the log likelihood
            for _ in range(30):
                candidate = nu + scale * step
                *_, new_total = terms(candidate, derivatives=False)
                better = (new_total >= total - tolerance) & ~accepted
                nu = np.where(better[:, None], candidate, nu)
                accepted |= better
                # a row whose step has shrunk to nothing is at its maximum: it stays where it is
                accepted |= np.max(np.abs(scale * step), axis=1) < 1e-12
                if accepted.all():
                    break
                scale = np.where(accepted[:, None], scale, 0.5 * scale)
            _, _, _, grad, hess, total = terms(nu)
            if np.max(np.abs(scale * step)) < 1e-10:
                break
        kin, rate, constraint, _, _, _ = terms(nu, derivatives=False)
        if include_xsec:
            rate = rate + constraint
        else:
            kin = kin + constraint
        return kin, rate, nu


# ---------------------------------------------------------------------- helpers


def _events_by_direction(
    stats: np.ndarray,
    weights: np.ndarray,
    directions: list[np.ndarray | None],
    processed: Callable[[np.ndarray, Any], np.ndarray],
    n_axes: int,
) -> Iterator[tuple[int, SortedEvents]]:
    """``(group index, SortedEvents of the group's statistic)`` for every group: the groups of
    one direction in a row sharing one ``SortedEvents``, each direction next to its opposite,
    whose sorts it reuses."""
    weights = np.asfortranarray(weights)  # SortedEvents keeps the columns: no copy per direction
    previous: tuple[Any, SortedEvents] | None = None
    for i in sorted(range(len(directions)), key=lambda g: _direction_order(directions[g])):
        direction = directions[i]
        key = _direction_key(direction)
        if previous is None or previous[0] != key:
            opposite = None
            if previous is not None and direction is not None and previous[0] == _direction_key(-direction):
                opposite = previous[1]
            values = processed(stats, direction)
            if values.shape[1] != n_axes:
                raise InputError(
                    f"the summary statistics have {values.shape[1]} dimensions, but hist_bins gives {n_axes}"
                )
            previous = (key, SortedEvents(values, weights, opposite=opposite))
        yield i, previous[1]


def _log_weighted_sum(log_values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``log sum_i w_i exp(log_values[j, i])`` per row, stable for large values (``-inf`` for an
    empty or non-positive sum)."""
    if log_values.shape[1] == 0:
        return np.full(len(log_values), -np.inf)
    peak = log_values.max(axis=1)
    shifted = log_values - peak[:, None]
    total = np.exp(shifted, out=shifted) @ weights
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, peak + np.log(np.where(total > 0, total, 1.0)), -np.inf)


def _direction_key(direction: np.ndarray | None) -> Any:
    """A hashable key of a direction (None: at the reference point)."""
    return None if direction is None else tuple(np.asarray(direction, dtype=np.float64).tolist())


def _direction_order(direction: np.ndarray | None) -> tuple[Any, ...]:
    """Sort key that puts a direction next to its opposite (and equal directions together)."""
    if direction is None:
        return ((),)
    u = np.asarray(direction, dtype=np.float64)
    nonzero = np.flatnonzero(u)
    sign = 1.0 if len(nonzero) == 0 or u[nonzero[0]] > 0 else -1.0
    return (tuple((sign * u).tolist()), sign)


def _normalise(templates: np.ndarray) -> np.ndarray:
    """Rows normalised to 1, negative entries set to 0, plus epsilon, normalised again (as Histo)."""
    t = np.clip(templates, 0.0, None)
    total = t.sum(axis=-1, keepdims=True)
    t = t / np.where(total > 0, total, 1.0)
    t = t + _EPSILON
    return t / t.sum(axis=-1, keepdims=True)


def _call_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments of a method call (its ``locals()`` on entry), without ``self``."""
    return {name: value for name, value in arguments.items() if name != "self"}


def _describe_model(model: Any) -> Any:
    """A description of an estimator for a checkpoint's fingerprint: a saved one by its files
    (paths, sizes, modification times), one in memory by its class, settings and the weights of
    its network (not the network's train / eval state; an ensemble by its members), another
    object by its class and public attributes."""
    if model is None:
        return None
    if isinstance(model, str | os.PathLike):
        return {"model_path": str(model), "files": _model_files(Path(model))}
    members = getattr(model, "estimators", None)
    if isinstance(members, list):
        settings = _public(model, "estimators")
        return {"ensemble": describe(settings), "members": [_describe_model(m) for m in members]}
    network: Any = getattr(model, "model", None)
    if not callable(getattr(network, "state_dict", None)):
        return {"estimator": describe(model)}
    settings = _public(model, "model")
    weights = {name: _array(value) for name, value in network.state_dict().items()}
    return {"estimator": type(model).__qualname__, "settings": describe(settings), "weights": weights}


def _public(instance: Any, leave_out: str) -> dict[str, Any]:
    """The public attributes of ``instance`` but ``leave_out``."""
    return {k: v for k, v in vars(instance).items() if not k.startswith("_") and k != leave_out}


def _model_files(path: Path) -> list[Path]:
    """The files of a saved estimator: those in its folder (an ensemble), or ``<prefix>_*``."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    return sorted(p for p in path.parent.glob(glob.escape(path.name) + "_*") if p.is_file())


def _array(value: Any) -> np.ndarray:
    """A tensor of a network's state as a numpy array (float64 for dtypes numpy lacks)."""
    tensor = value.detach().cpu() if hasattr(value, "detach") else value
    try:
        return np.asarray(tensor.numpy() if hasattr(tensor, "numpy") else tensor)
    except (TypeError, RuntimeError):  # bfloat16 and the like
        return np.asarray(tensor.double().numpy())


def _tidy_checkpoint_folder(folder: Path) -> None:
    """Remove the checkpoint folder if it is empty; else say which calls left pieces there."""
    try:
        folder.rmdir()
    except OSError:
        others = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        if others:
            logger.info(
                "%s still holds the checkpoints of %d interrupted call(s) with other arguments (%s); "
                "remove them if they will not be rerun",
                folder, len(others), ", ".join(others),
            )  # fmt: skip


class _ChunkRecord:
    """The record of one loop over event chunks in a call's checkpoint (nothing without one).

    A piece ``<name>-<layout>-<start>-<stop>`` holds the loop's arrays after the chunks
    ``start:stop``: the running sums of all chunks so far (``start`` 0; each new record replaces
    the previous one) or the values computed in these chunks (blocks, one after the other).
    ``layout`` is a hash of the chunk boundaries and the number of grid points, so that pieces
    of another chunking are never read. Pieces are recorded after a chunk that ends at least
    ``_RECORD_SECONDS`` after the last record, and after the last chunk.
    """

    def __init__(self, checkpoint: Checkpoint | None, name: str, chunks: list[slice], n_points: int) -> None:
        self.checkpoint = checkpoint
        self.n_chunks = len(chunks)
        self.prefix = name
        if checkpoint is not None:
            self.prefix += "-" + fingerprint([n_points, [[c.start, c.stop] for c in chunks]])[:12]
        self._recorded = time.monotonic()
        self._previous: str | None = None  # the last record of running sums
        self._start = 0  # the first chunk of the blocks not yet recorded
        self._pending: list[np.ndarray] = []

    def resume_sums(self, sums: dict[str, np.ndarray]) -> tuple[int, dict[str, np.ndarray]]:
        """The first chunk still to sum, and the sums so far (``sums``, the initial ones, if none
        are recorded)."""
        pieces = [(stop, key) for start, stop, key in self._pieces() if start == 0]
        if not pieces or self.checkpoint is None:
            return 0, sums
        stop, key = max(pieces)
        for _, other in pieces:
            if other != key:  # left by a process killed between a record and the removal of the last
                self.checkpoint.discard(other)
        recorded = self.checkpoint.load_arrays(key) or {}
        if set(recorded) != set(sums) or any(
            recorded[n].shape != sums[n].shape or recorded[n].dtype != sums[n].dtype for n in sums
        ):
            logger.warning("%s: checkpoint %s does not fit; summing afresh", self.checkpoint.directory, key)
            return 0, sums
        log = logger.debug if stop == self.n_chunks else logger.info
        log("Resuming %s after %d of %d event chunks", self.prefix, stop, self.n_chunks)
        self._previous = key
        return stop, recorded

    def save_sums(self, done: int, sums: dict[str, np.ndarray]) -> None:
        """Record the running sums after the first ``done`` chunks (when due)."""
        if self.checkpoint is None or not self._due(done):
            return
        key = f"{self.prefix}-0-{done}"
        self.checkpoint.save(key, {"chunks": done, "of": self.n_chunks}, sums)
        if self._previous is not None:
            self.checkpoint.discard(self._previous)
        self._previous = key

    def resume_blocks(self) -> tuple[int, list[np.ndarray]]:
        """The first chunk still to compute, and the recorded blocks of the chunks before it."""
        blocks: list[np.ndarray] = []
        stop = 0
        for start, end, key in sorted(self._pieces()):
            if start == stop and self.checkpoint is not None:
                blocks.append((self.checkpoint.load_arrays(key) or {})["values"])
                stop = end
        if stop:
            logger.info("Resuming %s after %d of %d event chunks", self.prefix, stop, self.n_chunks)
        self._start = stop
        return stop, blocks

    def add_block(self, done: int, block: np.ndarray) -> None:
        """Add the values of chunk ``done - 1`` (axis 1: events); record the blocks not yet recorded
        (when due)."""
        if self.checkpoint is None:
            return
        self._pending.append(block)
        if self._due(done):
            values = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending, axis=1)
            key = f"{self.prefix}-{self._start}-{done}"
            self.checkpoint.save(key, {"of": self.n_chunks}, {"values": values})
            self._start, self._pending = done, []

    def _due(self, done: int) -> bool:
        now = time.monotonic()
        if done < self.n_chunks and now - self._recorded < _RECORD_SECONDS:
            return False
        self._recorded = now
        return True

    def _pieces(self) -> list[tuple[int, int, str]]:
        """``(start, stop, key)`` of the recorded pieces of this loop."""
        if self.checkpoint is None:
            return []
        found, finished = [], self.checkpoint.keys()  # (a Checkpoint is no mapping)
        for key in finished:
            if key.startswith(self.prefix + "-"):
                start, _, stop = key[len(self.prefix) + 1 :].partition("-")
                if start.isdigit() and stop.isdigit():
                    found.append((int(start), int(stop), key))
        return found


def _chunk_evaluator(model: Any, params: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """``x (n, d) -> log r (or log p) (len(params), n)`` of a likelihood (ratio) estimator or
    ensemble (float64)."""
    from ..ml import Ensemble, LikelihoodEstimator

    members = model.estimators if isinstance(model, Ensemble) else [model]
    likelihood = isinstance(members[0], LikelihoodEstimator)
    evaluate = model.evaluate_log_likelihood if likelihood else model.evaluate_log_likelihood_ratio
    options: dict[str, Any] = {"theta": params, "test_all_combinations": True, "evaluate_score": False}
    if isinstance(model, Ensemble):
        options["calculate_covariance"] = False

    def call(x: np.ndarray) -> np.ndarray:
        return np.asarray(evaluate(x=x, **options)[0], dtype=np.float64).reshape(len(params), -1)

    return call


def _add_chunk(sums: dict[str, np.ndarray], log_r: np.ndarray, weights: np.ndarray, normalise: bool) -> None:
    """Add one chunk of events (``log r`` ``(points, n)``, weights ``(n,)``) to the running sums
    of :meth:`AsymptoticLimits._ml_kinematics`, in place; events with a non-finite ``log r``
    are left out (and counted). With ``normalise`` the last point is ``theta_true``."""
    finite = np.all(np.isfinite(log_r), axis=0)
    if not finite.all():
        sums["bad"] += int(np.sum(~finite))
        log_r, weights = log_r[:, finite], weights[finite]
    sums["total"] += log_r @ weights
    if normalise:
        log_r[:-1] -= log_r[-1]  # log r_ij / r_i,true, in place
        sums["log_norm"] = np.logaddexp(sums["log_norm"], _log_weighted_sum(log_r[:-1], weights))


def _nu_kinematics(
    evaluate: Callable[[np.ndarray, np.ndarray], np.ndarray],
    x: np.ndarray,
    weights: np.ndarray,
    grid: np.ndarray,
    n_events: float,
    checkpoint: Checkpoint | None,
) -> Callable[[np.ndarray], np.ndarray]:
    """The kinematic term ``nu (J, K) -> n sum_i w_i log r(x_i | theta_j, nu_j)`` of an estimator
    with nuisance inputs. With a ``checkpoint`` every evaluation records its running sums under a
    hash of ``nu``: a rerun of the profile (the same ``nu``, one after the other) reads the
    finished evaluations and continues the interrupted one."""
    chunks = _event_chunks(len(x), len(grid))

    def kinematics(nu: np.ndarray) -> np.ndarray:
        params = np.concatenate([grid, nu], axis=1)
        name = "nu" if checkpoint is None else f"nu-{fingerprint(nu)[:24]}"
        record = _ChunkRecord(checkpoint, name, chunks, len(grid))
        first, sums = record.resume_sums({"total": np.zeros(len(grid))})
        for i in range(first, len(chunks)):
            sums["total"] += evaluate(x[chunks[i]], params) @ weights[chunks[i]]
            record.save_sums(i + 1, sums)
        return n_events * sums["total"]

    return kinematics


def _event_chunks(n_events: int, n_points: int) -> list[slice]:
    """Slices of events such that ``n_points x`` events stay below ``_ELEMENTS`` values at once."""
    batch = max(1, _ELEMENTS // max(n_points, 1))
    return [slice(start, start + batch) for start in range(0, n_events, batch)]


def _finite_differences(
    function: Callable[[np.ndarray], np.ndarray], nu: np.ndarray, value: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient ``(J, K)`` and Hessian ``(J, K, K)`` of ``function(nu (J, K)) -> (J,)`` at ``nu``
    by central differences (``value = function(nu)``)."""
    J, k = nu.shape
    shifts = np.eye(k) * _NU_STEP
    plus = np.stack([function(nu + shifts[i]) for i in range(k)], axis=1)
    minus = np.stack([function(nu - shifts[i]) for i in range(k)], axis=1)
    grad = (plus - minus) / (2.0 * _NU_STEP)
    hess = np.zeros((J, k, k))
    hess[:, np.arange(k), np.arange(k)] = (plus - 2.0 * value[:, None] + minus) / _NU_STEP**2
    for i in range(k):
        for j in range(i + 1, k):
            both = function(nu + shifts[i] + shifts[j])
            hess[:, i, j] = hess[:, j, i] = (both - plus[:, i] - plus[:, j] + value) / _NU_STEP**2
    return grad, hess


def _flat(values: np.ndarray) -> np.ndarray:
    """One-column statistics as a 1-D array (the fill of a 1-D histogram)."""
    return values[:, 0] if values.shape[1] == 1 else values


def _exponent(coefficients: tuple[np.ndarray, np.ndarray], nu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``phi (J, nb) = sum_k a nu + b nu^2`` and ``g (J, K, nb) = a + 2 b nu``."""
    a, b = coefficients
    phi = np.einsum("jkb,jk->jb", a, nu) + np.einsum("jkb,jk->jb", b, nu**2)
    return phi, a + 2.0 * b * nu[:, :, None]


def _shape_term(
    n_events: float | np.ndarray, binned: dict[str, Any], nu: np.ndarray
) -> tuple[np.ndarray, ...]:
    """``n sum_b p_b log(f_b / f_ref,b)`` with ``f`` the normalised templates at nu (``f_ref``: at thetaref
    and nominal nu, in the same bins), its gradient and Hessian."""
    templates, observed, log_reference = binned["templates"], binned["observed"], binned["log_reference"]
    k = nu.shape[1]
    n_events = np.asarray(n_events, dtype=np.float64)
    per_row = n_events if n_events.ndim == 0 else n_events[:, None]
    if binned["a"] is None or k == 0:
        f = _normalise(templates)
        value = n_events * np.sum(observed * (np.log(f) - log_reference), axis=1)
        return value, np.zeros_like(nu), np.zeros((len(nu), k, k))
    phi, g = _exponent((binned["a"], binned["b"]), nu)
    f = _normalise(templates * np.exp(phi))
    value = n_events * np.sum(observed * (np.log(f) - log_reference), axis=1)
    g_bar = np.einsum("jb,jkb->jk", f, g)
    grad = per_row * (np.einsum("jb,jkb->jk", observed, g) - g_bar)
    two_b = 2.0 * binned["b"]
    diag = np.einsum("jb,jkb->jk", observed, two_b) - np.einsum("jb,jkb->jk", f, two_b)
    second = np.einsum("jb,jkb,jlb->jkl", f, g, g) - np.einsum("jk,jl->jkl", g_bar, g_bar)
    hess = per_row[..., None] * (np.einsum("jk,kl->jkl", diag, np.eye(k)) - second)
    return value, grad, hess


def _poisson_term(
    n_events: float | np.ndarray, templates: np.ndarray, coefficients: Any, nu: np.ndarray
) -> tuple[np.ndarray, ...]:
    """``n log mu - mu - log n!`` with ``mu = sum_b templates e^phi`` (events), gradient and Hessian."""
    k = nu.shape[1]
    if coefficients is None or k == 0:
        mu = np.maximum(templates.sum(axis=1), _MIN_EVENTS)
        value = n_events * np.log(mu) - mu - gammaln(n_events + 1.0)
        return value, np.zeros_like(nu), np.zeros((len(nu), k, k))
    phi, g = _exponent(coefficients, nu)
    bins = templates * np.exp(phi)  # (J, nb)
    mu = np.maximum(bins.sum(axis=1), _MIN_EVENTS)
    value = n_events * np.log(mu) - mu - gammaln(n_events + 1.0)
    dmu = np.einsum("jb,jkb->jk", bins, g)
    d2mu = np.einsum("jb,jkb,jlb->jkl", bins, g, g) + np.einsum(
        "jb,jkb,kl->jkl", bins, 2.0 * coefficients[1], np.eye(k)
    )
    factor = (n_events / mu - 1.0)[:, None]
    grad = factor * dmu
    hess = factor[:, :, None] * d2mu - (n_events / mu**2)[:, None, None] * np.einsum("jk,jl->jkl", dmu, dmu)
    return value, grad, hess
