"""Weighted histograms with many weight columns: MadMiner's binning rules and streamed filling.

The Fisher information of a histogram, the histogram likelihoods and the asymptotic limits all
fill the same kind of histogram: one or two observables, many events streamed in batches, and
for every bin the sum of the weights of each of ``k`` columns (one per benchmark, say) and the
sum of their squares (the statistical variance of that sum). This module does that once, for
the whole package.

Binning conventions (MadMiner's, so that the bins and their contents agree with it):

* **Boundaries** (:func:`boundaries_from_bins`, :func:`equal_cross_section_boundaries`) are the
  inner bin edges of ``FisherInformation.histo_information``: a histogram with boundaries
  ``b`` has ``len(b) + 1`` bins, the first and last open-ended (underflow and overflow), and a
  value ``v`` falls into bin ``numpy.searchsorted(b, v)``, that is bin ``i`` holds
  ``b[i-1] < v <= b[i]`` (``closed="right"``). NaN values go to the overflow bin.
* ``closed="left"`` gives NumPy's convention instead: bin ``i`` holds ``b[i-1] <= v < b[i]``.
* **Edges** (:func:`quantile_edges`) are the outer-closed edges of ``madminer.utils.histo.Histo``,
  whose adaptive binning spans the 0.1 % to 99.9 % weighted quantiles.

:class:`BinnedWeights` accumulates the sums bin by bin; its memory is that of the histogram,
whatever the number of events. It finds each value's bin with :func:`numpy.searchsorted` (so
values on a boundary go exactly where MadMiner puts them) and accumulates in a
:mod:`boost_histogram` histogram with one integer axis per observable and a
``MultiCell`` storage, which adds all ``k`` weight columns of an event in one pass
(``benchmarks/histograms.py`` compares this with the alternatives; see docs/benchmarks.md).

Examples
--------
>>> import numpy as np
>>> from motherlode.histograms import BinnedWeights, boundaries_from_bins
>>> boundaries = boundaries_from_bins(2, histrange=(0.0, 1.0))
>>> boundaries
array([0. , 0.5, 1. ])
>>> histogram = BinnedWeights(boundaries, n_weights=2)
>>> values = np.array([-1.0, 0.5, 0.7, 2.0])
>>> weights = np.array([[1.0, 2.0], [1.0, 1.0], [3.0, 1.0], [0.5, 0.5]])
>>> histogram.fill(values, weights).sums
array([[1. , 2. ],
       [1. , 1. ],
       [3. , 1. ],
       [0.5, 0.5]])
>>> histogram.sums_squared[:, 0]
array([1.  , 1.  , 9.  , 0.25])
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, Literal

import boost_histogram as bh
import numpy as np

from .errors import InputError
from .utils.various import sorted_stably, weighted_quantile

__all__ = [
    "BinnedWeights",
    "SortedEvents",
    "bin_indices",
    "bin_volumes",
    "boundaries_from_bins",
    "cell_indices",
    "equal_cross_section_boundaries",
    "quantile_edges",
]

Closed = Literal["right", "left"]

#: Bins narrower than this are merged away by :func:`quantile_edges` (MadMiner's threshold).
MIN_BIN_WIDTH = 1.0e-9


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_n_bins(n_bins: Any, name: str) -> int:
    if not _is_int(n_bins) or n_bins < 1:
        raise InputError(f"{name} must be a positive int (a number of bins), got {n_bins!r}")
    return int(n_bins)


def _check_boundaries(boundaries: Any, name: str, min_length: int = 0) -> np.ndarray:
    """``boundaries`` as a new float64 array, checked: one-dimensional, no NaN, non-decreasing."""
    try:
        array = np.array(boundaries, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a one-dimensional array of numbers, got {boundaries!r}") from None
    if array.ndim != 1:
        raise InputError(f"{name} must be one-dimensional, got shape {array.shape}")
    if len(array) < min_length:
        raise InputError(f"{name} needs at least {min_length} entries, got {len(array)}")
    if np.isnan(array).any():
        raise InputError(f"{name} contains NaN: {array}")
    if (np.diff(array) < 0.0).any():
        raise InputError(f"{name} must be sorted in increasing order, got {array}")
    return array


def _check_closed(closed: Any) -> Closed:
    if closed not in ("right", "left"):
        raise InputError(f'closed must be "right" or "left", got {closed!r}')
    return closed


def _finite_values(values: Any) -> np.ndarray:
    """``values`` as a non-empty, finite, one-dimensional float64 array (binning from data needs it)."""
    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1 or data.size == 0:
        raise InputError(f"values must be a non-empty one-dimensional array, got shape {data.shape}")
    if not np.isfinite(data).all():
        raise InputError(f"values contains {np.count_nonzero(~np.isfinite(data))} NaN or infinite entries")
    return data


def boundaries_from_bins(bins: int | Any, histrange: tuple[float, float] | None = None) -> np.ndarray:
    """The bin boundaries for MadMiner's ``bins`` and ``histrange`` arguments.

    An int ``bins`` with ``histrange=(lo, hi)`` gives ``bins`` equal bins between ``lo`` and
    ``hi``: the boundaries ``numpy.linspace(lo, hi, bins + 1)``. An array ``bins`` are the
    boundaries themselves (``histrange`` is then ignored, as in MadMiner). Either way the
    histogram has ``len(boundaries) + 1`` bins: those inside plus an underflow and an overflow
    bin (see the module docstring for which bin a value goes to).

    An int ``bins`` without ``histrange`` asks for bins of equal cross section, which need the
    events: use :func:`equal_cross_section_boundaries`.

    Parameters
    ----------
    bins : int or array_like
        The number of bins between ``histrange[0]`` and ``histrange[1]``, or the boundaries
        (one-dimensional, sorted, no NaN).
    histrange : tuple of float or None, optional
        ``(lo, hi)`` with ``lo < hi``, both finite; needed when ``bins`` is an int. Default None.

    Returns
    -------
    numpy.ndarray
        The boundaries, float64, sorted.

    Raises
    ------
    InputError
        For an int ``bins`` below 1 or without ``histrange``, a bad ``histrange``, or boundaries
        that are not a sorted one-dimensional array of numbers.

    Examples
    --------
    >>> boundaries_from_bins(4, histrange=(0.0, 2.0))
    array([0. , 0.5, 1. , 1.5, 2. ])
    >>> boundaries_from_bins([10.0, 20.0, 50.0])
    array([10., 20., 50.])
    """
    if _is_int(bins):
        n_bins = _check_n_bins(bins, "bins")
        if histrange is None:
            raise InputError(
                "histrange is None: an int bins needs histrange=(lo, hi); for bins of equal cross "
                "section use equal_cross_section_boundaries(values, weights, n_bins)"
            )
        try:
            lo, hi = (float(limit) for limit in histrange)
        except (TypeError, ValueError):
            raise InputError(f"histrange must be a pair (lo, hi) of numbers, got {histrange!r}") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise InputError(f"histrange must be finite with lo < hi, got {histrange!r}")
        return np.linspace(lo, hi, n_bins + 1)
    if isinstance(bins, (numbers.Number, str, bytes)):
        raise InputError(f"bins must be an int or an array of bin boundaries, got {bins!r}")
    return _check_boundaries(bins, "bins")


def equal_cross_section_boundaries(values: Any, weights: Any, n_bins: int) -> np.ndarray:
    """Boundaries of ``n_bins`` bins holding equal weight: MadMiner's automatic binning.

    This is what ``FisherInformation.histo_information`` does for an int ``bins`` without
    ``histrange``: the weighted quantiles at ``0, 1/n_bins, ..., 1`` of a pilot sample (with
    :func:`~motherlode.utils.various.weighted_quantile`, MadMiner's definition), of which only
    the inner ``n_bins - 1`` are kept, so the first and last bins are open-ended and the
    histogram has exactly ``n_bins`` bins.

    Parameters
    ----------
    values : array_like
        The observable of the pilot events, shape ``(n,)``, finite.
    weights : array_like or None
        Their weights at the parameter point (MadMiner: the weights at ``theta``), shape
        ``(n,)``, with a positive sum; None for equal weights. Negative weights are allowed:
        a boundary is then where the cumulative weight first reaches its level (with negative
        weights MadMiner interpolates a non-monotonic cumulative sum, which is ill-defined).
    n_bins : int
        The number of bins, at least 1.

    Returns
    -------
    numpy.ndarray
        ``n_bins - 1`` boundaries, sorted.

    Raises
    ------
    InputError
        For ``n_bins`` below 1, empty, non-finite or wrongly shaped ``values``, weights of
        another shape or whose sum is not positive.

    Examples
    --------
    >>> values = np.array([0.5, 3.5, 1.5, 2.5])
    >>> equal_cross_section_boundaries(values, np.ones(4), n_bins=2)
    array([2.])
    >>> equal_cross_section_boundaries(values, [1.0, 1.0, 1.0, 3.0], n_bins=2)
    array([2.25])
    """
    n_bins = _check_n_bins(n_bins, "n_bins")
    data = _finite_values(values)
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != data.shape:
            raise InputError(f"weights has shape {weights.shape}, expected {data.shape} like values")
    quantiles = weighted_quantile(data, np.linspace(0.0, 1.0, n_bins + 1), weights)
    return np.asarray(quantiles)[1:-1]


def quantile_edges(
    values: Any,
    n_bins: int | np.integer,
    weights: Any = None,
    lower_quantile: float = 0.001,
    upper_quantile: float = 0.999,
    values_sorted: bool = False,
) -> np.ndarray:
    """Edges of ``n_bins`` bins of equal weight between two quantiles: ``Histo``'s adaptive binning.

    The ``n_bins + 1`` edges are the weighted quantiles (``old_style=True``, which for equal
    weights is :func:`numpy.percentile`) at equal steps from ``lower_quantile`` to
    ``upper_quantile``; bins narrower than 1e-9 are then merged into their right neighbour, so
    the result can have fewer bins. Unlike :func:`equal_cross_section_boundaries`, these are
    closed edges: values outside them are outside the histogram.

    Parameters
    ----------
    values : array_like
        The observable, shape ``(n,)``, finite.
    n_bins : int
        The number of bins, at least 1.
    weights : array_like or None, optional
        Weights of shape ``(n,)`` with a positive sum; None (default) for equal weights.
    lower_quantile, upper_quantile : float, optional
        The range, as quantiles in [0, 1]. Defaults 0.001 and 0.999 (MadMiner's 0.1 and 99.9
        percentiles).
    values_sorted : bool, optional
        Whether ``values`` is sorted already (in the stable order of :func:`numpy.argsort`, with
        ``weights`` in the same order); it is then not sorted again. Default False.

    Returns
    -------
    numpy.ndarray
        The edges, sorted, at least two.

    Raises
    ------
    InputError
        For bad arguments, or values without spread between the quantiles (no bin left).

    Examples
    --------
    >>> quantile_edges(np.arange(11.0), 2, lower_quantile=0.0, upper_quantile=1.0)
    array([ 0.,  5., 10.])
    >>> quantile_edges([1.0, 1.0, 1.0, 2.0, 3.0], 4, lower_quantile=0.0, upper_quantile=1.0)
    array([1., 2., 3.])
    """
    n_bins = _check_n_bins(n_bins, "n_bins")
    data = _finite_values(values)
    if not 0.0 <= lower_quantile < upper_quantile <= 1.0:
        raise InputError(
            "lower_quantile and upper_quantile must satisfy 0 <= lower_quantile < upper_quantile <= 1, "
            f"got {lower_quantile!r} and {upper_quantile!r}"
        )
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64).ravel()
        if weights.shape != data.shape:
            raise InputError(f"weights has {weights.size} entries, expected {data.size} like values")
    edges = np.asarray(
        weighted_quantile(
            data,
            np.linspace(lower_quantile, upper_quantile, n_bins + 1),
            weights,
            values_sorted=values_sorted,
            old_style=True,
        )
    )
    # an edge survives if the bin it opens is wide enough; the last edge always does
    keep = np.append(np.diff(edges) > MIN_BIN_WIDTH, True)
    edges = edges[keep]
    if len(edges) < 2:
        raise InputError(
            f"values have no spread between the {lower_quantile} and {upper_quantile} quantiles "
            f"(all near {edges[0]}): no bin of width above {MIN_BIN_WIDTH} is left"
        )
    return edges


def bin_indices(values: Any, boundaries: Any, closed: Closed = "right") -> np.ndarray:
    """The bin of each value: 0 is the underflow bin, ``len(boundaries)`` the overflow bin.

    Parameters
    ----------
    values : array_like
        Any shape.
    boundaries : array_like
        Sorted boundaries, one-dimensional.
    closed : {"right", "left"}, optional
        ``"right"`` (default, MadMiner's ``histo_information``): bin ``i`` holds
        ``boundaries[i-1] < v <= boundaries[i]``, i.e. ``numpy.searchsorted(boundaries, v)``.
        ``"left"`` (NumPy's histograms): ``boundaries[i-1] <= v < boundaries[i]``. NaN goes to the
        overflow bin either way.

    Returns
    -------
    numpy.ndarray
        The bin indices (``numpy.intp``), of the shape of ``values``.

    Examples
    --------
    >>> bin_indices([-1.0, 0.0, 0.5, 1.0, 2.0, np.nan], [0.0, 1.0])
    array([0, 0, 1, 1, 2, 2])
    >>> bin_indices([-1.0, 0.0, 0.5, 1.0, 2.0, np.nan], [0.0, 1.0], closed="left")
    array([0, 1, 1, 2, 2, 2])
    """
    side: Closed = "left" if _check_closed(closed) == "right" else "right"
    return np.searchsorted(_check_boundaries(boundaries, "boundaries"), values, side=side)


def _axes_boundaries(boundaries: Any) -> list[np.ndarray]:
    """One boundary array per axis, from one array (one axis) or a sequence of arrays (or a 2-D array)."""
    if isinstance(boundaries, np.ndarray):
        if boundaries.ndim == 1:
            return [_check_boundaries(boundaries, "boundaries")]
        if boundaries.ndim == 2:
            return [_check_boundaries(row, f"boundaries[{i}]") for i, row in enumerate(boundaries)]
        raise InputError(f"boundaries must be an array (one axis) or one array per axis, got {boundaries!r}")
    if not isinstance(boundaries, Sequence) or isinstance(boundaries, (str, bytes)):
        raise InputError(f"boundaries must be an array (one axis) or one array per axis, got {boundaries!r}")
    if all(np.ndim(item) == 0 for item in boundaries):  # also the empty list: one bin
        return [_check_boundaries(boundaries, "boundaries")]
    return [_check_boundaries(item, f"boundaries[{i}]") for i, item in enumerate(boundaries)]


class BinnedWeights:
    """Sums of weights and of squared weights per bin, for ``k`` weight columns, filled in batches.

    A histogram of one or more observables (axes) with an underflow and an overflow bin on each
    axis (MadMiner's convention for ``histo_information``). Each :meth:`fill` adds a batch of
    events; the sums and sums of squares accumulate in float64 and the memory used is that of
    the histogram, whatever the number of events.

    Parameters
    ----------
    boundaries : array_like or sequence of array_like
        The bin boundaries of one axis (a one-dimensional array), or one such array per axis
        (a list of arrays, or a two-dimensional array with one row per axis). An axis with
        ``m`` boundaries has ``m + 1`` bins. Make them with :func:`boundaries_from_bins` or
        :func:`equal_cross_section_boundaries`.
    n_weights : int or None, optional
        The number ``k`` of weight columns: :meth:`fill` then takes weights of shape ``(n, k)``
        and :attr:`sums` has shape ``(*shape, k)``. None (default): one weight per event,
        weights of shape ``(n,)`` (or none, for counts) and :attr:`sums` of shape ``shape``.
    closed : {"right", "left"}, optional
        Which side of a bin is closed: ``"right"`` (default, MadMiner's ``histo_information``,
        a value on a boundary goes to the bin below it) or ``"left"`` (NumPy's, to the bin
        above). See :func:`bin_indices`.

    Attributes
    ----------
    boundaries : tuple of numpy.ndarray
        The boundaries of each axis.
    shape : tuple of int
        The number of bins along each axis, underflow and overflow included.
    n_weights : int or None
        As given.
    closed : str
        As given.
    n_events : int
        The number of events filled so far (all of them, also those in the flow bins).

    Examples
    --------
    Two observables, a 2 x 3 grid of bins inside the boundaries, so 4 x 5 bins in all, and
    three weight columns:

    >>> histogram = BinnedWeights([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0, 3.0]], n_weights=3)
    >>> histogram.shape
    (4, 5)
    >>> rng = np.random.default_rng(0)
    >>> for _ in range(3):  # three batches of 1000 events
    ...     values = rng.uniform(-1.0, 4.0, size=(1000, 2))
    ...     histogram.fill(values, rng.uniform(size=(1000, 3)))  # doctest: +ELLIPSIS
    <motherlode.histograms.BinnedWeights object at ...>
    >>> histogram.sums.shape, histogram.n_events
    ((4, 5, 3), 3000)
    """

    def __init__(self, boundaries: Any, n_weights: int | None = None, closed: Closed = "right") -> None:
        self.boundaries: tuple[np.ndarray, ...] = tuple(_axes_boundaries(boundaries))
        if n_weights is not None:
            n_weights = _check_n_bins(n_weights, "n_weights")
        self.n_weights = n_weights
        self.closed: Closed = _check_closed(closed)
        self._side: Closed = "left" if closed == "right" else "right"
        self.shape: tuple[int, ...] = tuple(len(axis) + 1 for axis in self.boundaries)
        self.n_events = 0
        axes = [bh.axis.Integer(0, n, underflow=False, overflow=False) for n in self.shape]
        cells = 1 if n_weights is None else n_weights
        self._sums = bh.Histogram(*axes, storage=bh.storage.MultiCell(cells))
        self._sums_squared = bh.Histogram(*axes, storage=bh.storage.MultiCell(cells))

    @property
    def ndim(self) -> int:
        """The number of axes (observables)."""
        return len(self.boundaries)

    def fill(self, values: Any, weights: Any = None) -> BinnedWeights:
        """Add a batch of events.

        Parameters
        ----------
        values : array_like
            The observables: shape ``(n,)`` or ``(n, 1)`` for one axis, ``(n, d)`` for ``d`` axes.
        weights : array_like or None, optional
            Shape ``(n, k)`` with ``k = n_weights``, or ``(n,)`` when ``n_weights`` is None.
            None (default, only when ``n_weights`` is None) counts each event once. Non-finite
            weights are not checked for and propagate into the sums.

        Returns
        -------
        BinnedWeights
            ``self``.

        Raises
        ------
        InputError
            If ``values`` or ``weights`` has the wrong shape.
        """
        data = np.asarray(values, dtype=np.float64)
        if data.ndim == 1 and self.ndim == 1:
            data = data[:, np.newaxis]
        if data.ndim != 2 or data.shape[1] != self.ndim:
            expected = "(n,) or (n, 1)" if self.ndim == 1 else f"(n, {self.ndim})"
            raise InputError(f"values has shape {np.shape(values)}, expected {expected}")
        n = len(data)
        columns = self._weight_columns(weights, n)
        indices = [
            np.searchsorted(axis, data[:, i], side=self._side) for i, axis in enumerate(self.boundaries)
        ]
        if n:
            self._sums.fill(*indices, weight=columns)
            self._sums_squared.fill(*indices, weight=np.square(columns))
        self.n_events += n
        return self

    def _weight_columns(self, weights: Any, n: int) -> np.ndarray:
        """``weights`` as a C-contiguous float64 array of shape (n, cells)."""
        if self.n_weights is None:
            if weights is None:
                return np.ones((n, 1))
            columns = np.asarray(weights, dtype=np.float64)
            if columns.shape != (n,):
                raise InputError(
                    f"weights has shape {columns.shape}, expected ({n},) for {n} events "
                    "(for several weight columns, make the BinnedWeights with n_weights=k)"
                )
            return columns.reshape(n, 1)
        if weights is None:
            raise InputError(f"weights is None, expected an array of shape ({n}, {self.n_weights})")
        columns = np.ascontiguousarray(weights, dtype=np.float64)
        if columns.shape != (n, self.n_weights):
            raise InputError(f"weights has shape {columns.shape}, expected ({n}, {self.n_weights})")
        return columns

    def _array(self, histogram: bh.Histogram) -> np.ndarray:
        # MultiCell's view puts the cells first: (cells, *shape)
        array = np.moveaxis(np.asarray(histogram.view()), 0, -1)
        return array[..., 0].copy() if self.n_weights is None else array.copy()

    @property
    def sums(self) -> np.ndarray:
        """Sum of the weights in each bin: shape ``(*shape, n_weights)``, or ``shape`` without columns."""
        return self._array(self._sums)

    @property
    def sums_squared(self) -> np.ndarray:
        """Sum of the squared weights in each bin (the variance of :attr:`sums`), same shape."""
        return self._array(self._sums_squared)


class SortedEvents:
    """Weighted events binned many times with different binnings: each axis is sorted once.

    One adaptive binning per grid point (SALLINO, adaptive SALLY) bins the same events hundreds
    of times with edges at weighted quantiles that change from point to point. Here each axis is
    sorted once (on first use); every binning after that is a weighted-quantile lookup on the
    sorted values and sums over contiguous runs of events (one axis) or one ``bincount`` per
    weight column (several axes). Sorting costs about as much as one ``searchsorted`` of the
    values into a few dozen edges, so it pays from the second binning on. The bins are those of a
    :class:`BinnedWeights` made with the inner edges and ``closed="left"``: values outside the
    edges go into the outer bins.

    Parameters
    ----------
    values : array_like, shape (n, d)
        The binned quantities, finite.
    weights : array_like, shape (n, k)
        ``k`` weight columns (benchmark weights, say).
    opposite : SortedEvents or None, optional
        Events with the same weights whose values are, axis by axis, equal to or the negatives
        of these (the statistic of the opposite direction): their sorted axes are reused instead
        of sorting again (unless tied values make the reversed order differ from the stable one).

    Examples
    --------
    >>> events = SortedEvents(np.array([[3.0], [1.0], [2.0], [0.0]]), np.ones((4, 1)))
    >>> edges = [np.array([0.0, 1.5, 3.0])]
    >>> events.bin_sums(edges)[0].ravel()
    array([2., 2.])
    >>> BinnedWeights([e[1:-1] for e in edges], 1).fill([3.0, 1.0, 2.0, 0.0], np.ones((4, 1))).sums.ravel()
    array([2., 2.])
    """

    def __init__(self, values: Any, weights: Any, opposite: SortedEvents | None = None) -> None:
        self.values = np.asarray(values, dtype=np.float64)
        weights = np.asarray(weights, dtype=np.float64)
        if self.values.ndim != 2 or weights.ndim != 2 or len(self.values) != len(weights):
            raise InputError(
                f"values and weights must have shapes (n, d) and (n, k), got {self.values.shape} "
                f"and {weights.shape}"
            )
        # one contiguous row per weight column (no copy for Fortran-ordered weights)
        self._columns = np.ascontiguousarray(weights.T)
        self._sorted: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = [None] * self.values.shape[1]
        self._opposite = opposite

    def quantile_edges(
        self,
        axis: int,
        n_bins: int,
        weight_row: Any,
        lower_quantile: float = 0.001,
        upper_quantile: float = 0.999,
    ) -> np.ndarray:
        """:func:`quantile_edges` of one axis with binning weights ``weights @ weight_row``."""
        ordered, _, columns = self._axis(axis)
        binning_weights = np.asarray(weight_row, dtype=np.float64) @ columns
        return quantile_edges(
            ordered, n_bins, binning_weights, lower_quantile, upper_quantile, values_sorted=True
        )

    def bin_sums(self, edges: Sequence[Any], squares: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Sums (and sums of squares) of the weight columns per cell: shapes ``(n_cells, k)``.

        ``edges`` are the bin edges of each axis; cells are in C order (:func:`cell_indices`).
        """
        inner = [np.asarray(e, dtype=np.float64)[1:-1] for e in edges]
        if len(inner) != self.values.shape[1]:
            raise InputError(f"edges has {len(inner)} axes, the values {self.values.shape[1]}")
        if len(inner) == 1:
            ordered, _, columns = self._axis(0)
            positions = np.searchsorted(ordered, inner[0], side="left")
            sums = _run_sums(columns, positions)
            return sums, (_run_sums(np.square(columns), positions) if squares else None)
        bins = [self._bins(axis, boundaries) for axis, boundaries in enumerate(inner)]
        shape = tuple(len(b) + 1 for b in inner)
        cells = np.ravel_multi_index(tuple(bins), shape) if len(bins) > 1 else bins[0]
        n_cells = int(np.prod(shape))
        sums = _column_bincounts(cells, self._columns, n_cells)
        return sums, (_column_bincounts(cells, np.square(self._columns), n_cells) if squares else None)

    def _bins(self, axis: int, boundaries: np.ndarray) -> np.ndarray:
        """Bin of each event on one axis (counting the inner edges at or below its value)."""
        ordered, order, _ = self._axis(axis)
        counts = np.diff(np.searchsorted(ordered, boundaries, side="left"), prepend=0, append=len(ordered))
        bins = np.empty(len(ordered), dtype=np.intp)
        bins[order] = np.repeat(np.arange(len(counts)), counts)
        return bins

    def _axis(self, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sorted values, their order and the weight columns in that order (sorted on first use)."""
        sorted_axis = self._sorted[axis]
        if sorted_axis is None:
            sorted_axis = self._sorted[axis] = self._reused(axis) or self._sort(axis)
        return sorted_axis

    def _sort(self, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ordered, order = sorted_stably(self.values[:, axis])
        return ordered, order, np.take(self._columns, order, axis=1)

    def _reused(self, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The opposite's sorted axis, as it is or reversed, when the values allow it exactly."""
        other = self._opposite
        if other is None or other._columns.shape != self._columns.shape:
            return None
        other_axis = other._sorted[axis]
        if other_axis is None:
            return None
        ordered, order, columns = other_axis
        column = self.values[:, axis]
        if np.array_equal(column, other.values[:, axis]):
            return ordered, order, columns
        if not np.array_equal(column, -other.values[:, axis]):
            return None
        reversed_order = order[::-1]
        ordered, order = sorted_stably(column, order=reversed_order)  # ties back in their order
        columns = np.ascontiguousarray(columns[:, ::-1])
        moved = np.flatnonzero(order != reversed_order)
        columns[:, moved] = self._columns[:, order[moved]]
        return ordered, order, columns


def _run_sums(sorted_columns: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Sums of the runs ``[0, p_0), [p_0, p_1), ..., [p_last, n)`` of each row of
    ``sorted_columns`` (k, n): shape ``(len(positions) + 1, k)``; empty runs give 0."""
    n = sorted_columns.shape[1]
    starts = np.concatenate([[0], positions])
    ends = np.append(positions, n)
    sums = np.zeros((len(starts), sorted_columns.shape[0]))
    filled = ends > starts
    if filled.any():
        sums[filled] = np.add.reduceat(sorted_columns, starts[filled], axis=1).T
    return sums


def _column_bincounts(cells: np.ndarray, columns: np.ndarray, n_cells: int) -> np.ndarray:
    """Sum of each weight column (a row of ``columns``, (k, n)) per cell: shape ``(n_cells, k)``."""
    return np.stack([np.bincount(cells, weights=column, minlength=n_cells) for column in columns], axis=1)


def bin_volumes(edges: Sequence[Any]) -> np.ndarray:
    """Volumes of the cells of a binning, the outer bins of each axis capped in width.

    MadMiner's ``Histo`` convention for densities: the first and last bin of an axis count as at
    most twice as wide as their neighbour (open-ended quantile bins would otherwise get almost no
    density).

    Parameters
    ----------
    edges : sequence of array_like
        The bin edges of each axis (inside bins only, no under- or overflow).

    Returns
    -------
    numpy.ndarray
        Shape ``(n_bins_0, n_bins_1, ...)``.

    Examples
    --------
    >>> bin_volumes([np.array([-10.0, 0.0, 1.0, 2.0])])
    array([2., 1., 1.])
    """
    axes = [np.asarray(e, dtype=np.float64) for e in edges]
    volumes = np.ones([len(e) - 1 for e in axes])
    for axis, e in enumerate(axes):
        capped = e.copy()
        if len(e) > 2:
            capped[0] = max(e[0], e[1] - 2.0 * (e[2] - e[1]))
            capped[-1] = min(e[-1], e[-2] + 2.0 * (e[-2] - e[-3]))
        shape = [1] * len(axes)
        shape[axis] = len(e) - 1
        volumes = volumes * np.diff(capped).reshape(shape)
    return volumes


def cell_indices(values: Any, edges: Sequence[Any]) -> np.ndarray:
    """Flat index of the cell of each point, for evaluating a density histogram.

    Bins are closed on the left (``[e_i, e_i+1)``); a value outside the edges of an axis takes
    the nearest bin of that axis (as MadMiner's ``Histo.log_likelihood``).

    Parameters
    ----------
    values : array_like, shape (n, d)
        Points, one column per axis.
    edges : sequence of array_like
        The bin edges of the ``d`` axes.

    Examples
    --------
    >>> cell_indices(np.array([[-5.0], [0.5], [1.0], [9.0]]), [np.array([0.0, 1.0, 2.0])])
    array([0, 0, 1, 1])
    """
    points = np.asarray(values, dtype=np.float64)
    axes = [np.asarray(e, dtype=np.float64) for e in edges]
    if points.ndim != 2 or points.shape[1] != len(axes):
        raise InputError(f"values has shape {points.shape}, expected (n, {len(axes)})")
    cells = [
        np.clip(bin_indices(points[:, i], e, closed="left") - 1, 0, len(e) - 2) for i, e in enumerate(axes)
    ]
    return np.ravel_multi_index(tuple(cells), tuple(len(e) - 1 for e in axes))
