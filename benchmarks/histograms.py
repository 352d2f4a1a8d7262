"""Filling weighted histograms with many weight columns: boost-histogram against hand-written NumPy.

The workload of ``FisherInformation.histo_information``: 10^6 events, 10 weight columns (one per
benchmark), MadMiner's bins (``searchsorted(boundaries, v)``: right-closed, with underflow and
overflow), summing the weights and the squared weights of every column in every bin; in one
dimension (20 bins inside the range) and in two (20 x 20). Each way of doing it:

* ``searchsorted + bh MultiCell`` (what :class:`motherlode.histograms.BinnedWeights` does):
  :func:`numpy.searchsorted` finds the bins, a boost-histogram with one ``Integer`` axis per
  observable and ``MultiCell(k)`` storage adds all ``k`` columns of an event in one pass;
* ``bh Variable axes + MultiCell``: boost-histogram finds the bins too (its bins are closed on
  the left, so the edges are moved up by one ulp, which puts every float where MadMiner does);
* ``bh Weight storage per column``: one boost-histogram with ``Weight`` storage (sum and
  variance) per column, each finding the bins again;
* ``numpy bincount per column``: :func:`numpy.bincount` of the flat bin index, column by column,
  in chunks of 16384 events transposed to contiguous columns (hand-written);
* ``scipy.sparse one-hot product``: a sparse bins x events one-hot matrix times the weights;
* ``boolean mask per bin``: MadMiner 0.9.6's accumulation loop, one mask per bin (one run).

Every way must give the sums of the first one (the largest relative difference is printed).

Usage::

    python benchmarks/histograms.py [--events 1000000] [--columns 10] [--bins 20] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import boost_histogram as bh
import numpy as np

from motherlode.histograms import BinnedWeights

Sums = tuple[np.ndarray, np.ndarray]


def best_of(repeats: int, function: Callable[[], Sums]) -> tuple[float, Sums]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def via_binned_weights(values: np.ndarray, weights: np.ndarray, boundaries: list[np.ndarray]) -> Sums:
    histogram = BinnedWeights(boundaries, n_weights=weights.shape[1]).fill(values, weights)
    return histogram.sums, histogram.sums_squared


def via_bh_variable(values: np.ndarray, weights: np.ndarray, boundaries: list[np.ndarray]) -> Sums:
    # [nextafter(b[i-1]), nextafter(b[i])) holds exactly the floats of (b[i-1], b[i]]
    axes = [bh.axis.Variable(np.nextafter(b, np.inf)) for b in boundaries]
    k = weights.shape[1]
    sums = bh.Histogram(*axes, storage=bh.storage.MultiCell(k))
    squares = bh.Histogram(*axes, storage=bh.storage.MultiCell(k))
    sums.fill(*values.T, weight=weights)
    squares.fill(*values.T, weight=weights**2)
    return tuple(np.moveaxis(np.asarray(h.view(flow=True)), 0, -1) for h in (sums, squares))


def via_bh_weight_per_column(values: np.ndarray, weights: np.ndarray, boundaries: list[np.ndarray]) -> Sums:
    axes = [bh.axis.Variable(np.nextafter(b, np.inf)) for b in boundaries]
    shape = tuple(len(b) + 1 for b in boundaries)
    sums, squares = np.empty((*shape, weights.shape[1])), np.empty((*shape, weights.shape[1]))
    for j in range(weights.shape[1]):
        histogram = bh.Histogram(*axes, storage=bh.storage.Weight())
        histogram.fill(*values.T, weight=weights[:, j])
        view = histogram.view(flow=True)
        sums[..., j], squares[..., j] = view.value, view.variance
    return sums, squares


def via_numpy_bincount(
    values: np.ndarray, weights: np.ndarray, boundaries: list[np.ndarray], chunk: int = 16384
) -> Sums:
    shape = tuple(len(b) + 1 for b in boundaries)
    n_cells, k = int(np.prod(shape)), weights.shape[1]
    sums, squares = np.zeros((k, n_cells)), np.zeros((k, n_cells))
    columns = np.empty((k, chunk))
    for start in range(0, len(values), chunk):
        block = values[start : start + chunk]
        flat = np.zeros(len(block), dtype=np.intp)
        for axis, b in enumerate(boundaries):
            flat = flat * shape[axis] + np.searchsorted(b, block[:, axis])
        column_block = columns[:, : len(block)]
        column_block[...] = weights[start : start + chunk].T
        for j in range(k):
            sums[j] += np.bincount(flat, column_block[j], n_cells)
            np.square(column_block[j], out=column_block[j])
            squares[j] += np.bincount(flat, column_block[j], n_cells)
    return sums.T.reshape(*shape, k), squares.T.reshape(*shape, k)


def via_scipy_sparse(values: np.ndarray, weights: np.ndarray, boundaries: list[np.ndarray]) -> Sums:
    import scipy.sparse

    shape = tuple(len(b) + 1 for b in boundaries)
    flat = np.zeros(len(values), dtype=np.intp)
    for axis, b in enumerate(boundaries):
        flat = flat * shape[axis] + np.searchsorted(b, values[:, axis])
    one_hot = scipy.sparse.csr_matrix(
        (np.ones(len(values)), (flat, np.arange(len(values)))), shape=(int(np.prod(shape)), len(values))
    )
    k = weights.shape[1]
    return (one_hot @ weights).reshape(*shape, k), (one_hot @ weights**2).reshape(*shape, k)


def via_masks(values: np.ndarray, weights: np.ndarray, boundaries: list[np.ndarray]) -> Sums:
    indices = [np.searchsorted(b, values[:, axis]) for axis, b in enumerate(boundaries)]
    shape = tuple(len(b) + 1 for b in boundaries)
    sums, squares = np.zeros((*shape, weights.shape[1])), np.zeros((*shape, weights.shape[1]))
    for cell in np.ndindex(shape):
        mask = indices[0] == cell[0]
        for index, i in zip(indices[1:], cell[1:], strict=True):
            mask &= index == i
        selected = weights[mask]
        sums[cell] += selected.sum(axis=0)
        squares[cell] += (selected**2).sum(axis=0)
    return sums, squares


METHODS: list[tuple[str, Callable[..., Sums], int]] = [  # name, function, largest dimension
    ("searchsorted + bh MultiCell (BinnedWeights)", via_binned_weights, 3),
    ("bh Variable axes + MultiCell", via_bh_variable, 3),
    ("bh Weight storage per column", via_bh_weight_per_column, 3),
    ("numpy bincount per column, chunked", via_numpy_bincount, 3),
    ("scipy.sparse one-hot product", via_scipy_sparse, 3),
    ("boolean mask per bin (MadMiner 0.9.6)", via_masks, 3),
]


def largest_relative_difference(result: Sums, reference: Sums) -> float:
    scale = max(np.abs(reference[0]).max(), 1e-300)
    scale_squared = max(np.abs(reference[1]).max(), 1e-300)
    return max(
        np.abs(result[0] - reference[0]).max() / scale, np.abs(result[1] - reference[1]).max() / scale_squared
    )


def run(n_dims: int, args: argparse.Namespace) -> None:
    rng = np.random.default_rng(2026)
    values = rng.normal(size=(args.events, n_dims))
    values[: args.events // 100] = 0.5  # some events exactly on a boundary
    weights = rng.exponential(size=(args.events, args.columns))
    boundaries = [np.linspace(-2.0, 2.0, args.bins + 1)] * n_dims
    print(
        f"\n{n_dims}-D: {args.events} events x {args.columns} columns, "
        f"{' x '.join([str(args.bins)] * n_dims)} bins (+ underflow and overflow), best of {args.repeats}"
    )
    print(f"{'method':46s} {'seconds':>9s} {'events/s':>12s} {'max rel. diff':>14s}")
    reference = None
    for name, function, max_dims in METHODS:
        if n_dims > max_dims:
            continue
        if function is via_scipy_sparse:
            try:
                import scipy.sparse  # noqa: F401
            except ImportError:
                print(f"{name:46s} {'(no scipy)':>9s}")
                continue
        repeats = 1 if function is via_masks else args.repeats
        seconds, result = best_of(repeats, lambda f=function: f(values, weights, boundaries))
        if reference is None:
            reference = result
        difference = largest_relative_difference(result, reference)
        print(f"{name:46s} {seconds:9.3f} {args.events / seconds:12.3g} {difference:14.1e}")
    # the same through BinnedWeights in batches, as the Fisher-information loop fills it
    batch = args.batch_size

    def streamed() -> Sums:
        histogram = BinnedWeights(boundaries, n_weights=args.columns)
        for start in range(0, args.events, batch):
            histogram.fill(values[start : start + batch], weights[start : start + batch])
        return histogram.sums, histogram.sums_squared

    seconds, result = best_of(args.repeats, streamed)
    difference = largest_relative_difference(result, reference)
    name = f"BinnedWeights.fill in batches of {batch}"
    print(f"{name:46s} {seconds:9.3f} {args.events / seconds:12.3g} {difference:14.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=10)
    parser.add_argument("--bins", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=100_000)
    args = parser.parse_args()
    print(f"NumPy {np.__version__}, boost-histogram {bh.__version__}")
    for n_dims in (1, 2):
        run(n_dims, args)


if __name__ == "__main__":
    main()
