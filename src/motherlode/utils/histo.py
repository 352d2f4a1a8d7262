"""``madminer.utils.histo``: an n-dimensional weighted histogram used as a density.

:class:`Histo` is MadMiner's histogram of summary statistics for the histogram likelihoods and
asymptotic limits: adaptive (weighted-quantile) bins, contents normalised to a probability
density, and :meth:`Histo.log_likelihood` to evaluate it. It has MadMiner 0.9.6's arguments,
attributes and numbers, built on the shared binning and filling of :mod:`motherlode.histograms`,
except where MadMiner is broken:

* MadMiner fills with ``numpy.histogramdd(normed=False)``, an argument NumPy 1.24 removed, so its
  ``Histo`` (and with it every histogram likelihood and limit) raises ``TypeError`` on current
  NumPy. Here it works on any NumPy.
* The bin volumes cap the first and the last bin of each axis at twice the width of their
  neighbour (so that the outermost quantile bins, stretched by the tails, do not dilute the
  density). MadMiner's cap of the last bin is a no-op (``min(e[-1], e[-1] + 2 (e[-1] - e[-2]))``);
  here it caps the last bin as the first one.
* Bad input raises :class:`~motherlode.errors.InputError` naming the argument, where MadMiner
  asserts, silently drops extra ``bins`` entries, or returns an all-zero histogram when no weight
  falls inside the bins.

Examples
--------
>>> import numpy as np
>>> from motherlode.utils.histo import Histo
>>> x = np.array([0.1, 0.2, 0.3, 1.5])
>>> histo = Histo(x, bins=[np.array([0.0, 1.0, 2.0])])
>>> histo.histo  # a density: 3/4 of the events in [0, 1), 1/4 in [1, 2]
array([0.75, 0.25])
>>> np.exp(histo.log_likelihood(np.array([0.5, 1.0, 7.0])))
array([0.75, 0.25, 0.25])
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..histograms import BinnedWeights, bin_volumes, cell_indices, quantile_edges

__all__ = ["Histo"]

logger = logging.getLogger(__name__)


class Histo:
    """An n-dimensional weighted histogram, normalised to a probability density.

    Parameters
    ----------
    x : ndarray
        Data with shape ``(n_samples, n_observables)``, or ``(n_samples,)`` for one observable.
    weights : ndarray or None, optional
        Weights with ``n_samples`` entries. Default None: every sample counts once.
    bins : int or list of (int or ndarray), optional
        Per observable, a number of bins (adaptive binning: bins of equal weight between the
        0.1 % and 99.9 % weighted quantiles, bins narrower than 1e-9 merged, see
        :func:`motherlode.histograms.quantile_edges`) or the bin edges. An int applies to every
        observable. Default 20.
    epsilon : float, optional
        Small number added to every bin of the normalised histogram (and to its uncertainty)
        before it is normalised again, so that no bin is empty. Default 0.

    Attributes
    ----------
    n_samples, n_observables : int
        The shape of ``x``.
    n_bins : list of int
        The number of bins of each observable.
    edges : list of ndarray
        The bin edges of each observable. Samples outside them are left out of the histogram
        (the last edge belongs to the last bin, as in :func:`numpy.histogramdd`).
    histo : ndarray
        The density in each bin, shape ``n_bins``: the normalised weight of the bin divided by
        its volume, where the first and last bin of each axis count as at most twice as wide as
        their neighbour.
    histo_uncertainties : ndarray
        The statistical uncertainty of ``histo`` (square root of the summed squared weights,
        normalised the same way).

    Raises
    ------
    InputError
        For data, weights or bins of a wrong shape or value, or when the weights inside the bins
        sum to zero.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> histo = Histo(rng.normal(size=(10000, 2)), bins=(10, 5), epsilon=1.0e-12)
    >>> histo.n_bins, histo.histo.shape
    ([10, 5], (10, 5))
    >>> histo.log_likelihood(np.zeros((1, 2))).round(2)  # log density of a 2-D standard normal at 0: -1.84
    array([-1.86])
    """

    def __init__(self, x: Any, weights: Any = None, bins: Any = 20, epsilon: float = 0.0) -> None:
        data = np.asarray(x, dtype=np.float64)
        if data.ndim == 1:
            data = data.reshape((-1, 1))
        if data.ndim != 2 or data.shape[0] == 0 or data.shape[1] == 0:
            raise InputError(f"x must have shape (n_samples, n_observables) with n > 0, got {np.shape(x)}")
        self.n_samples, self.n_observables = data.shape

        if weights is not None:
            weights = np.asarray(weights, dtype=np.float64).flatten()
            if weights.shape != (self.n_samples,):
                raise InputError(
                    f"weights has {weights.size} entries, expected one per sample of x ({self.n_samples})"
                )

        logger.debug("Creating histogram:")
        logger.debug("  Samples:       %s", self.n_samples)
        logger.debug("  Observables:   %s with means %s", self.n_observables, np.mean(data, axis=0))
        logger.debug("  Weights:       %s", weights is not None)

        self.n_bins, self.edges = self._calculate_binning(data, bins, weights=weights)
        self._report_binning()

        self.histo, self.histo_uncertainties = self._fit(data, weights, epsilon)
        self._report_uncertainties()

    def log_likelihood(self, x: Any) -> np.ndarray:
        """Log of the histogram density at each point.

        A point outside the edges takes the density of the nearest bin along each axis.

        Parameters
        ----------
        x : ndarray
            Points with shape ``(n_eval, n_observables)``, or ``(n_eval,)`` for one observable.

        Returns
        -------
        ndarray
            The log density at each point, shape ``(n_eval,)`` (``-inf`` in an empty bin when
            ``epsilon`` is 0).

        Raises
        ------
        InputError
            If ``x`` does not have ``n_observables`` columns.
        """
        points = np.asarray(x, dtype=np.float64)
        if points.ndim == 1:
            points = points.reshape((-1, 1))
        if points.ndim != 2 or points.shape[1] != self.n_observables:
            raise InputError(
                f"x has shape {np.shape(x)}, expected (n_eval, {self.n_observables}): "
                "one column per observable"
            )
        # bins closed on the left; outside points take the edge bins
        with np.errstate(divide="ignore"):
            return np.log(self.histo.reshape(-1)[cell_indices(points, self.edges)])

    def _calculate_binning(
        self, x: np.ndarray, bins_in: Any, weights: np.ndarray | None = None
    ) -> tuple[list[int], list[np.ndarray]]:
        if isinstance(bins_in, (int, np.integer)) and not isinstance(bins_in, bool):
            bins_in = [bins_in] * self.n_observables
        if not isinstance(bins_in, (Sequence, np.ndarray)) or isinstance(bins_in, (str, bytes)):
            raise InputError(f"bins must be an int or a list with one entry per observable, got {bins_in!r}")
        if len(bins_in) != self.n_observables:
            raise InputError(
                f"bins has {len(bins_in)} entries, expected one per observable ({self.n_observables})"
            )

        n_bins, bin_edges = [], []
        for i, (this_bins, this_x) in enumerate(zip(bins_in, x.T, strict=True)):
            edges: np.ndarray | None
            if isinstance(this_bins, (int, np.integer)) and not isinstance(this_bins, bool):
                try:
                    edges = quantile_edges(this_x, this_bins, weights=weights)
                except InputError as error:
                    raise InputError(f"bins[{i}] (adaptive binning of observable {i}): {error}") from None
            else:
                edges = np.asarray(this_bins, dtype=np.float64) if np.ndim(this_bins) == 1 else None
                if edges is None or len(edges) < 2 or np.isnan(edges).any() or (np.diff(edges) < 0).any():
                    raise InputError(
                        f"bins[{i}] must be a number of bins or at least two sorted bin edges, "
                        f"got {this_bins!r}"
                    )
            n_bins.append(len(edges) - 1)
            bin_edges.append(edges)
        return n_bins, bin_edges

    def _fit(
        self, x: np.ndarray, weights: np.ndarray | None = None, epsilon: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray]:
        # numpy.histogramdd's bins: [e_i, e_i+1), the last one also holding its upper edge
        boundaries = [np.append(edges[:-1], np.nextafter(edges[-1], np.inf)) for edges in self.edges]
        filled = BinnedWeights(boundaries, closed="left").fill(x, weights)
        inside = (slice(1, -1),) * self.n_observables
        histo = np.ascontiguousarray(filled.sums[inside])
        histo_w2 = filled.sums_squared[inside]

        total = np.sum(histo)
        if not (np.isfinite(total) and total != 0.0):
            raise InputError(
                f"the weights of the {self.n_samples} samples inside the bins sum to {total}: "
                "the histogram cannot be normalised (check the bins and weights)"
            )
        histo_uncertainties = histo_w2**0.5
        histo_uncertainties /= total
        histo /= total

        # avoid empty bins, and normalise again
        histo += epsilon
        histo_uncertainties += epsilon
        total = np.sum(histo)
        histo_uncertainties /= total
        histo /= total

        volumes = self._bin_volumes()
        with np.errstate(divide="ignore", invalid="ignore"):
            histo_uncertainties /= volumes
            histo /= volumes

        # zero-width bins
        histo_uncertainties[~np.isfinite(histo)] = 1.0e9
        histo_uncertainties[~np.isfinite(histo_uncertainties)] = 0.0
        histo[~np.isfinite(histo)] = 0.0
        return histo, histo_uncertainties

    def _bin_volumes(self) -> np.ndarray:
        """Cell volumes, with the outer bins of each axis at most twice as wide as their neighbours."""
        return bin_volumes(self.edges)

    def _report_binning(self) -> None:
        logger.debug("Binning:")
        for i, (n_bins, edges) in enumerate(zip(self.n_bins, self.edges, strict=True), start=1):
            logger.debug("  Observable %s: %s bins with edges %s", i, n_bins, edges)

    def _report_uncertainties(self) -> None:
        if not logger.isEnabledFor(logging.DEBUG):
            return
        values = self.histo.flatten()
        uncertainties = self.histo_uncertainties.flatten()
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.where(values > 0.0, uncertainties / values, np.nan)
        if np.isfinite(relative).any() and np.nanmax(relative) > 0.5:
            logger.debug(
                "Large statistical uncertainties in histogram! Relative uncertainties range from %.0f%% "
                "to %.0f%% with median %.0f%%.",
                100.0 * np.nanmin(relative),
                100.0 * np.nanmax(relative),
                100.0 * np.nanmedian(relative),
            )
        logger.debug("Statistical uncertainties in histogram:")
        for i, (value, uncertainty, rel) in enumerate(
            zip(values, uncertainties, relative, strict=True), start=1
        ):
            logger.debug("  Bin %s: %.5f +/- %.5f (%.0f%%)", i, value, uncertainty, 100.0 * rel)
