"""motherlode.histograms (binning and streamed filling) and motherlode.utils.histo.Histo.

The sums are checked exactly against NumPy's histograms (``np.histogramdd`` with infinite outer
edges, mirrored for MadMiner's right-closed bins); the binning and ``Histo`` against MadMiner 0.9.6
itself, run in its own environment (``MOTHERLODE_MADMINER_PYTHON``; its ``Histo`` calls
``np.histogramdd(normed=...)``, which NumPy >= 1.24 refuses, so the script there drops that argument);
and ``Histo``'s density and log-likelihood against a computation by hand.
"""

from __future__ import annotations

import json
import subprocess
import textwrap

import numpy as np
import pytest

from conftest import MADMINER_FILES
from motherlode.errors import InputError
from motherlode.histograms import (
    BinnedWeights,
    SortedEvents,
    bin_indices,
    boundaries_from_bins,
    equal_cross_section_boundaries,
    quantile_edges,
)
from motherlode.utils.histo import Histo
from motherlode.utils.various import weighted_quantile

# ---------------------------------------------------------------------------------------------- helpers


def _on_boundary_values(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values in [-0.5, 1.5] on a grid of step 1/8, so that many sit exactly on the boundaries
    ``linspace(0, 1, 9)`` (multiples of 1/8, exact in binary), plus some off the grid."""
    values = np.round(rng.uniform(-0.5, 1.5, size=shape) * 8.0) / 8.0
    off_grid = rng.uniform(size=shape) < 0.3
    values[off_grid] = rng.uniform(-0.5, 1.5, size=shape)[off_grid]
    return values


def _numpy_sums(values: np.ndarray, weights: np.ndarray, boundaries: list[np.ndarray], closed: str):
    """Sums per bin with flow bins, from ``np.histogramdd``, one weight column at a time.

    ``np.histogramdd`` with edges ``[-inf, *b, inf]`` has the bins ``[b[i-1], b[i])`` with
    underflow and overflow: ``closed="left"``. For ``closed="right"`` (``b[i-1] < v <= b[i]``) it
    histograms ``-v`` with the negated, reversed boundaries and flips the result back.
    """
    sign = 1.0 if closed == "left" else -1.0
    edges = [np.concatenate([[-np.inf], np.sort(sign * axis), [np.inf]]) for axis in boundaries]
    columns = [
        np.histogramdd(sign * values, bins=edges, weights=weights[:, j])[0] for j in range(weights.shape[1])
    ]
    sums = np.stack(columns, axis=-1)
    if closed == "right":
        sums = np.flip(sums, axis=tuple(range(len(boundaries))))
    return sums


# ---------------------------------------------------------------------------------------- boundaries


def test_boundaries_from_bins_follows_madminer_conventions():
    np.testing.assert_array_equal(boundaries_from_bins(5, (-1.0, 4.0)), np.linspace(-1.0, 4.0, 6))
    np.testing.assert_array_equal(boundaries_from_bins(np.int64(3), [0, 3]), [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(boundaries_from_bins([1.0, 2.0, 2.0, 7.0]), [1.0, 2.0, 2.0, 7.0])
    # MadMiner ignores histrange when the boundaries are given
    np.testing.assert_array_equal(boundaries_from_bins(np.array([0.0, 1.0]), (5.0, 6.0)), [0.0, 1.0])
    assert boundaries_from_bins([]).shape == (0,)


@pytest.mark.parametrize(
    ("bins", "histrange", "match"),
    [
        (10, None, "histrange is None"),
        (0, (0.0, 1.0), "bins must be a positive int"),
        (True, (0.0, 1.0), "bins must be an int or an array"),
        (2.5, (0.0, 1.0), "bins must be an int or an array"),
        (5, (1.0, 1.0), "histrange must be finite with lo < hi"),
        (5, (0.0, np.inf), "histrange must be finite"),
        (5, (0.0,), "histrange must be a pair"),
        ([3.0, 1.0, 2.0], None, "bins must be sorted"),
        ([0.0, np.nan], None, "bins contains NaN"),
        ([[0.0, 1.0]], None, "bins must be one-dimensional"),
        (["a", "b"], None, "bins must be a one-dimensional array of numbers"),
    ],
)
def test_boundaries_from_bins_rejects_bad_input(bins, histrange, match):
    with pytest.raises(InputError, match=match):
        boundaries_from_bins(bins, histrange)


def test_equal_cross_section_boundaries_are_inner_weighted_quantiles():
    rng = np.random.default_rng(3)
    values = rng.exponential(size=5000)
    weights = rng.uniform(0.5, 2.0, size=5000)
    boundaries = equal_cross_section_boundaries(values, weights, 8)
    assert boundaries.shape == (7,)
    expected = weighted_quantile(values, np.linspace(0.0, 1.0, 9), weights)[1:-1]
    np.testing.assert_array_equal(boundaries, expected)
    # each of the 8 bins (outer ones open) holds about 1/8 of the weight
    histogram = BinnedWeights(boundaries).fill(values, weights)
    np.testing.assert_allclose(histogram.sums / weights.sum(), 1.0 / 8.0, atol=2e-3)
    assert equal_cross_section_boundaries(values, None, 1).shape == (0,)


@pytest.mark.parametrize(
    ("values", "weights", "n_bins", "match"),
    [
        ([1.0, 2.0], [1.0, 1.0], 0, "n_bins must be a positive int"),
        ([1.0, 2.0], [1.0, 1.0], 2.0, "n_bins must be a positive int"),
        ([], None, 2, "values must be a non-empty one-dimensional array"),
        ([[1.0, 2.0]], None, 2, "values must be a non-empty one-dimensional array"),
        ([1.0, np.nan], None, 2, "values contains 1 NaN or infinite"),
        ([1.0, 2.0], [1.0], 2, r"weights has shape \(1,\), expected \(2,\)"),
        ([1.0, 2.0], [0.0, 0.0], 2, "sample_weight sums to 0"),
    ],
)
def test_equal_cross_section_boundaries_rejects_bad_input(values, weights, n_bins, match):
    with pytest.raises(InputError, match=match):
        equal_cross_section_boundaries(values, weights, n_bins)


def test_quantile_edges_between_percentiles_and_zero_width_bins_merged():
    values = np.arange(1001.0)
    np.testing.assert_allclose(quantile_edges(values, 4), np.percentile(values, np.linspace(0.1, 99.9, 5)))
    # a spike at 0 holding half of the samples: the bins inside it have zero width and go away
    spiky = np.concatenate([np.zeros(500), np.linspace(1.0, 2.0, 500)])
    edges = quantile_edges(spiky, 10, lower_quantile=0.0, upper_quantile=1.0)
    raw = np.percentile(spiky, np.linspace(0.0, 100.0, 11))
    np.testing.assert_allclose(edges, raw[4:], rtol=1e-12)  # raw[:5] are all 0: the edge at 0 stays once
    with pytest.raises(InputError, match="no spread"):
        quantile_edges(np.ones(10), 5)
    with pytest.raises(InputError, match="lower_quantile and upper_quantile"):
        quantile_edges(values, 5, lower_quantile=0.5, upper_quantile=0.5)
    with pytest.raises(InputError, match="weights has 3 entries"):
        quantile_edges(values, 5, weights=np.ones(3))


def test_bin_indices_conventions():
    boundaries = [0.0, 1.0, 1.0, 2.0]  # a zero-width bin between the two 1.0
    values = np.array([-np.inf, -1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, np.inf, np.nan])
    np.testing.assert_array_equal(bin_indices(values, boundaries), np.searchsorted(boundaries, values))
    np.testing.assert_array_equal(bin_indices(values, boundaries), [0, 0, 0, 1, 1, 3, 3, 4, 4, 4])
    np.testing.assert_array_equal(
        bin_indices(values, boundaries, closed="left"), [0, 0, 1, 1, 3, 3, 4, 4, 4, 4]
    )
    with pytest.raises(InputError, match='closed must be "right" or "left"'):
        bin_indices(values, boundaries, closed="both")


# -------------------------------------------------------------------------------------- BinnedWeights


@pytest.mark.parametrize("closed", ["right", "left"])
@pytest.mark.parametrize("n_axes", [1, 2, 3])
def test_sums_equal_numpy_histograms_with_flow_bins_and_values_on_boundaries(closed, n_axes):
    rng = np.random.default_rng(n_axes)
    n, k = 4000, 5
    boundaries = [np.linspace(0.0, 1.0, 9), np.array([0.0, 0.25, 0.5, 1.0]), np.array([-0.25, 1.0, 1.25])]
    boundaries = boundaries[:n_axes]
    values = _on_boundary_values(rng, (n, n_axes))
    weights = rng.normal(size=(n, k))  # negative weights too
    histogram = BinnedWeights(boundaries, n_weights=k, closed=closed).fill(values, weights)

    assert histogram.shape == tuple(len(b) + 1 for b in boundaries)
    assert histogram.sums.shape == (*histogram.shape, k)
    np.testing.assert_array_equal(histogram.sums, _numpy_sums(values, weights, boundaries, closed))
    np.testing.assert_array_equal(histogram.sums_squared, _numpy_sums(values, weights**2, boundaries, closed))
    np.testing.assert_allclose(histogram.sums.sum(axis=tuple(range(n_axes))), weights.sum(axis=0), rtol=1e-12)


def test_one_axis_sums_are_madminer_histo_information_bins():
    """The bins of ``histo_information``: searchsorted(boundaries, v), a boolean mask per bin."""
    rng = np.random.default_rng(7)
    boundaries = boundaries_from_bins(8, (0.0, 1.0))
    values = _on_boundary_values(rng, (3000,))
    values[:10] = np.nan  # NaN sorts last: the overflow bin, as in MadMiner
    weights = rng.exponential(size=(3000, 4))
    histogram = BinnedWeights(boundaries, n_weights=4).fill(values, weights)
    index = np.searchsorted(boundaries, values)
    for i in range(len(boundaries) + 1):
        np.testing.assert_allclose(histogram.sums[i], weights[index == i].sum(axis=0), rtol=1e-13)
        np.testing.assert_allclose(
            histogram.sums_squared[i], (weights[index == i] ** 2).sum(axis=0), rtol=1e-13
        )
    # one value exactly on each inner boundary goes to the bin below it
    on_edge = BinnedWeights(boundaries).fill(boundaries)
    np.testing.assert_array_equal(on_edge.sums, [1.0] * 9 + [0.0])


def test_streamed_fills_equal_one_fill():
    rng = np.random.default_rng(11)
    values = rng.normal(size=(10_000, 2))
    weights = rng.exponential(size=(10_000, 6))
    boundaries = [np.linspace(-2.0, 2.0, 11), np.linspace(-1.0, 1.0, 5)]
    whole = BinnedWeights(boundaries, n_weights=6).fill(values, weights)
    streamed = BinnedWeights(boundaries, n_weights=6)
    for start, stop in [(0, 1), (1, 1), (1, 2500), (2500, 7000), (7000, 10_000)]:
        streamed.fill(values[start:stop], weights[start:stop])
    assert streamed.n_events == whole.n_events == 10_000
    np.testing.assert_array_equal(streamed.sums, whole.sums)
    np.testing.assert_array_equal(streamed.sums_squared, whole.sums_squared)


def test_one_weight_per_event_and_counts():
    values = np.array([0.1, 0.6, 0.6, 2.0, -3.0])
    histogram = BinnedWeights(np.array([0.0, 0.5, 1.0])).fill(values, np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    np.testing.assert_array_equal(histogram.sums, [5.0, 1.0, 5.0, 4.0])
    np.testing.assert_array_equal(histogram.sums_squared, [25.0, 1.0, 13.0, 16.0])
    counts = BinnedWeights([0.0, 0.5, 1.0]).fill(values.reshape(-1, 1))
    np.testing.assert_array_equal(counts.sums, [1.0, 1.0, 2.0, 1.0])
    np.testing.assert_array_equal(counts.sums_squared, counts.sums)
    two_d = BinnedWeights(np.array([[0.0, 1.0], [0.0, 1.0]])).fill([[0.5, 0.5], [2.0, -1.0]])
    np.testing.assert_array_equal(two_d.sums, [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert BinnedWeights([]).fill([1.0, 2.0]).sums.tolist() == [2.0]  # no boundary: one bin


def test_sums_are_copies():
    histogram = BinnedWeights([0.0], n_weights=2).fill([1.0], [[1.0, 2.0]])
    histogram.sums[...] = 0.0
    np.testing.assert_array_equal(histogram.sums, [[0.0, 0.0], [1.0, 2.0]])


@pytest.mark.parametrize(
    ("boundaries", "n_weights", "match"),
    [
        ([1.0, 0.0], None, "boundaries must be sorted"),
        ([[0.0, 1.0], [1.0, 0.0]], None, r"boundaries\[1\] must be sorted"),
        ([[0.0, np.nan]], None, r"boundaries\[0\] contains NaN"),
        (np.zeros((2, 2, 2)), None, "one array per axis"),
        ("abc", None, "one array per axis"),
        ([0.0, 1.0], 0, "n_weights must be a positive int"),
    ],
)
def test_binned_weights_rejects_bad_setup(boundaries, n_weights, match):
    with pytest.raises(InputError, match=match):
        BinnedWeights(boundaries, n_weights=n_weights)


def test_binned_weights_rejects_bad_fills():
    one_axis = BinnedWeights([0.0, 1.0], n_weights=3)
    with pytest.raises(InputError, match=r"values has shape \(4, 2\), expected \(n,\) or \(n, 1\)"):
        one_axis.fill(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(InputError, match=r"weights has shape \(4, 2\), expected \(4, 3\)"):
        one_axis.fill(np.zeros(4), np.zeros((4, 2)))
    with pytest.raises(InputError, match=r"weights is None, expected an array of shape \(4, 3\)"):
        one_axis.fill(np.zeros(4))
    two_axes = BinnedWeights([[0.0], [0.0]])
    with pytest.raises(InputError, match=r"values has shape \(4,\), expected \(n, 2\)"):
        two_axes.fill(np.zeros(4))
    with pytest.raises(InputError, match="make the BinnedWeights with n_weights=k"):
        two_axes.fill(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(InputError, match='closed must be "right" or "left"'):
        BinnedWeights([0.0], closed="right-open")
    assert one_axis.n_events == 0


# ------------------------------------------------------------------------------------------- SortedEvents


def _reference_binning(values, weights, bins, row):
    """Edges and sums the plain way: quantile_edges (sorting every time) and a BinnedWeights fill."""
    edges = [
        quantile_edges(values[:, i], b, weights @ row) if isinstance(b, int) else np.asarray(b)
        for i, b in enumerate(bins)
    ]
    fill = BinnedWeights([e[1:-1] for e in edges], weights.shape[1], closed="left")
    fill.fill(values if values.shape[1] > 1 else values[:, 0], weights)
    k = weights.shape[1]
    return edges, fill.sums.reshape(-1, k), fill.sums_squared.reshape(-1, k)


@pytest.mark.parametrize("kind", ["continuous", "ties", "two axes", "one fixed axis", "negative weights"])
def test_sorted_events_bin_like_a_fill_and_reuse_the_opposite_sort(kind):
    """Each binning (weighted-quantile edges at a weight row, bin sums and squares) equals the plain
    computation, for the values and for their negatives reusing the reversed sort, ties included."""
    rng = np.random.default_rng(11)
    n = 5000
    values = rng.normal(size=(n, 2 if kind in ("two axes", "one fixed axis") else 1))
    if kind == "ties":
        values = np.round(values, 1)  # many ties: their order moves the weighted quantiles
    weights = rng.uniform(0.2, 2.0, size=(n, 3))
    if kind == "negative weights":
        weights[:, 2] -= 0.5  # some events negative in column 2
    bins = {"two axes": [6, 4], "one fixed axis": [5, np.array([-9.0, -0.5, 0.0, 0.7, 9.0])]}.get(kind, [12])
    rows = [np.array([1.0, 0.0, 0.0]), np.array([0.2, 0.5, 0.3]), np.array([0.0, 0.4, 0.6])]
    forward = SortedEvents(values, weights)
    backward = SortedEvents(-values, weights, opposite=forward)
    for events, sign in ((forward, 1.0), (backward, -1.0), (forward, 1.0)):
        for row in rows:
            expected_edges, expected_sums, expected_squares = _reference_binning(
                sign * values, weights, bins, row
            )
            edges = [
                events.quantile_edges(i, b, row) if isinstance(b, int) else np.asarray(b)
                for i, b in enumerate(bins)
            ]
            for got, expected in zip(edges, expected_edges, strict=True):
                np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
            sums, squares = events.bin_sums(edges, squares=True)
            np.testing.assert_allclose(sums, expected_sums, rtol=1e-12, atol=1e-9)
            np.testing.assert_allclose(squares, expected_squares, rtol=1e-12, atol=1e-9)
            assert events.bin_sums(edges)[1] is None
    # the opposite's sort was reused, not redone: the same order, reversed (ties back in order)
    np.testing.assert_array_equal(backward._axis(0)[1], np.argsort(-values[:, 0], kind="stable"))


def test_sorted_events_empty_bins_and_bad_shapes():
    values = np.array([[0.0], [0.1], [0.2], [5.0]])
    events = SortedEvents(values, np.ones((4, 2)))
    events.quantile_edges(0, 2, np.array([1.0, 0.0]))  # sorts the axis
    sums, _ = events.bin_sums([np.array([-1.0, 1.0, 2.0, 3.0, 10.0])])
    np.testing.assert_array_equal(sums[:, 0], [3.0, 0.0, 0.0, 1.0])
    with pytest.raises(InputError, match=r"shapes \(n, d\) and \(n, k\)"):
        SortedEvents(np.zeros(4), np.ones((4, 2)))
    with pytest.raises(InputError, match="edges has 2 axes, the values 1"):
        events.bin_sums([np.array([0.0, 1.0])] * 2)


# ------------------------------------------------------------------------------------------------ Histo


def _capped_widths(edges: np.ndarray, cap_last: bool = True) -> np.ndarray:
    """Bin widths with the first (and last) bin at most twice its neighbour's width."""
    widths = np.diff(edges)
    if len(widths) > 1:
        widths[0] = min(widths[0], 2.0 * widths[1])
        if cap_last:
            widths[-1] = min(widths[-1], 2.0 * widths[-2])
    return widths


def test_histo_density_and_log_likelihood_by_hand():
    x = np.array([0.5, 0.5, 1.5, 2.0, 4.0, 5.0, 7.0, -1.0])
    weights = np.array([1.0, 1.0, 2.0, 1.0, 3.0, 2.0, 5.0, 9.0])
    edges = np.array([0.0, 1.0, 2.0, 5.0])  # the last bin, 3 wide, counts as 2 wide; 5.0 is inside
    histo = Histo(x, weights=weights, bins=[edges], epsilon=0.1)
    # inside: bin 0: 1 + 1, bin 1: 2, bin 2: 1 + 3 + 2 (7 and -1 are outside); total 10
    mass = np.array([2.0, 2.0, 6.0]) / 10.0 + 0.1
    mass_uncertainty = np.sqrt([2.0, 4.0, 14.0]) / 10.0 + 0.1
    density = mass / mass.sum() / np.array([1.0, 1.0, 2.0])
    uncertainty = mass_uncertainty / mass.sum() / np.array([1.0, 1.0, 2.0])
    assert histo.n_samples == 8 and histo.n_observables == 1 and histo.n_bins == [3]
    np.testing.assert_array_equal(histo.edges[0], edges)
    np.testing.assert_allclose(histo.histo, density, rtol=1e-14)
    np.testing.assert_allclose(histo.histo_uncertainties, uncertainty, rtol=1e-14)
    points = np.array([-3.0, 0.0, 0.999, 1.0, 4.9, 5.0, 100.0])  # outside points use the edge bins
    expected = np.log(density[[0, 0, 0, 1, 2, 2, 2]])
    np.testing.assert_allclose(histo.log_likelihood(points), expected, rtol=1e-14)
    np.testing.assert_allclose(histo.log_likelihood(points.reshape(-1, 1)), expected, rtol=1e-14)


def test_histo_matches_numpy_histogramdd_in_two_dimensions():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(20_000, 2)) * [1.0, 3.0]
    weights = rng.exponential(size=20_000)
    histo = Histo(x, weights=weights, bins=[6, np.array([-4.0, -1.0, 0.0, 2.0, 9.0])], epsilon=1e-12)
    np.testing.assert_allclose(
        histo.edges[0], weighted_quantile(x[:, 0], np.linspace(0.001, 0.999, 7), weights, old_style=True)
    )
    counts, _ = np.histogramdd(x, bins=histo.edges, weights=weights)
    mass = counts / counts.sum() + 1e-12
    volumes = np.outer(_capped_widths(histo.edges[0]), _capped_widths(histo.edges[1]))
    np.testing.assert_allclose(histo.histo, mass / mass.sum() / volumes, rtol=1e-12)
    # a density: it integrates to one over the (capped) cells
    np.testing.assert_allclose((histo.histo * volumes).sum(), 1.0, rtol=1e-12)
    # log_likelihood reads the cell of each point
    points = np.array([[0.0, 0.5], [-10.0, 100.0]])
    i = np.clip(np.searchsorted(histo.edges[0], points[:, 0], side="right") - 1, 0, 5)
    j = np.clip(np.searchsorted(histo.edges[1], points[:, 1], side="right") - 1, 0, 3)
    np.testing.assert_allclose(histo.log_likelihood(points), np.log(histo.histo[i, j]), rtol=1e-14)


def test_histo_without_weights_zero_width_bins_and_empty_bins():
    x = np.array([0.5, 1.5, 1.5, 2.5, 3.5])
    histo = Histo(x, bins=[np.array([0.0, 1.0, 2.0, 2.0, 3.0, 4.0])])  # a zero-width bin
    assert histo.n_bins == [5]
    np.testing.assert_allclose(histo.histo, [0.2, 0.4, 0.0, 0.2, 0.2], rtol=1e-14)
    assert histo.histo_uncertainties[2] == 1.0e9  # MadMiner's marker for a zero-volume bin
    empty = Histo(np.array([0.5, 0.6, 2.5]), bins=[np.array([0.0, 1.0, 2.0, 3.0])])
    assert empty.histo[1] == 0.0
    assert empty.log_likelihood(np.array([1.5]))[0] == -np.inf


@pytest.mark.parametrize(
    ("x", "weights", "bins", "match"),
    [
        (np.zeros((0, 2)), None, 5, "x must have shape"),
        (np.zeros((3, 2, 2)), None, 5, "x must have shape"),
        (np.arange(4.0), np.ones(3), 5, "weights has 3 entries, expected one per sample of x"),
        (np.zeros((4, 2)), None, [5], "bins has 1 entries, expected one per observable"),
        (np.zeros((4, 2)), None, "abc", "bins must be an int or a list"),
        (np.arange(4.0), None, [np.array([1.0, 0.0])], r"bins\[0\] must be a number of bins or"),
        (np.arange(4.0), None, [np.array([1.0])], r"bins\[0\] must be a number of bins or"),
        (np.ones(4), None, 5, r"bins\[0\] \(adaptive binning of observable 0\).*no spread"),
        (np.array([1.0, np.nan]), None, 5, r"bins\[0\].*NaN or infinite"),
        (np.arange(4.0), None, [0], r"bins\[0\].*n_bins must be a positive int"),
        (
            np.arange(4.0),
            None,
            [np.array([10.0, 11.0])],
            "the weights of the 4 samples inside the bins sum to 0",
        ),
    ],
)
def test_histo_rejects_bad_input(x, weights, bins, match):
    with pytest.raises(InputError, match=match):
        Histo(x, weights=weights, bins=bins)


def test_histo_log_likelihood_rejects_wrong_shape():
    histo = Histo(np.random.default_rng(0).normal(size=(100, 2)), bins=3)
    with pytest.raises(InputError, match=r"x has shape \(5,\), expected \(n_eval, 2\)"):
        histo.log_likelihood(np.zeros(5))


# ------------------------------------------------------------------------------- against MadMiner 0.9.6

_MADMINER_SCRIPT = textwrap.dedent(
    """
    import json, logging, sys
    import numpy as np
    logging.disable(logging.CRITICAL)

    # MadMiner's Histo passes normed=False, which NumPy >= 1.24 refuses: drop it (it was the default)
    _histogramdd = np.histogramdd
    def histogramdd_without_normed(*args, normed=None, **kwargs):
        return _histogramdd(*args, **kwargs)
    np.histogramdd = histogramdd_without_normed

    from madminer.fisherinformation import FisherInformation
    from madminer.utils.histo import Histo
    from madminer.utils.various import mdot

    events_file, data_file = sys.argv[1:3]
    report = {}

    # FisherInformation's automatic binning (histo_information with an int bins and no histrange)
    fisher = FisherInformation(events_file)
    observables = list(fisher.observables)
    report["dynamic"] = []
    for observable, theta, n_bins in [("m_ee", [0.7], 7), ("pt_e1", [-0.3], 12), ("m_ee", [0.0], 3)]:
        boundaries = fisher._calculate_dynamic_binning(observable, np.array(theta), n_bins)
        x, weights = next(fisher.event_loader(batch_size=None))
        weights_theta = mdot(fisher._get_theta_benchmark_matrix(np.array(theta)), weights)
        report["dynamic"].append({
            "boundaries": boundaries.tolist(),
            "values": x[:, observables.index(observable)].tolist(),
            "weights": weights_theta.tolist(),
            "n_bins": n_bins,
        })

    # Histo, and its log likelihood with the histogram as is
    data = np.load(data_file)
    report["histo"] = []
    for case in json.loads(str(data["cases"])):
        x = data[case["x"]]
        weights = data[case["weights"]] if case["weights"] else None
        bins = [data[b] if isinstance(b, str) else b for b in case["bins"]]
        histo = Histo(x, weights=weights, bins=bins, epsilon=case["epsilon"])
        report["histo"].append({
            "n_bins": [int(n) for n in histo.n_bins],
            "edges": [np.asarray(e).tolist() for e in histo.edges],
            "histo": histo.histo.tolist(),
            "histo_uncertainties": histo.histo_uncertainties.tolist(),
            "log_likelihood": histo.log_likelihood(data[f"points_{histo.n_observables}"]).tolist(),
        })
    print(json.dumps(report))
    """
)

#: Histo cases: data arrays by name, bins (ints or names of edge arrays), epsilon.
_HISTO_CASES = [
    {"x": "x1", "weights": "w", "bins": [25], "epsilon": 1e-12},  # AsymptoticLimits' 1-D default
    {"x": "x2", "weights": "w", "bins": [8, 8], "epsilon": 1e-12},  # its 2-D default
    {"x": "x3", "weights": None, "bins": [4, "edges_b", 5], "epsilon": 0.0},
    {"x": "x1", "weights": "w", "bins": ["edges_a"], "epsilon": 0.0},  # caps do not bind, on-edge values
    {"x": "x2", "weights": None, "bins": [2, "edges_c"], "epsilon": 0.01},  # two bins: both caps
]


def _histo_data(rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = 5000
    x1 = rng.normal(size=n)
    x1[:200] = np.round(x1[:200] * 2.0) / 2.0  # many samples on the edges of edges_a, and on its last edge
    return {
        "x1": x1,
        "x2": np.column_stack([rng.gamma(2.0, size=n), rng.normal(size=n)]),
        "x3": rng.normal(size=(n, 3)),
        "w": rng.exponential(size=n),
        "edges_a": np.array([-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]),
        "edges_b": np.array([-3.0, -0.5, 0.0, 0.5, 1.0]),
        "edges_c": np.array([-1.0, 0.0, 2.5]),
        "points_1": np.array([-9.0, -1.5, -1.0, -0.2, 0.0, 0.5, 1.0, 2.0, 9.0]),
        "points_2": np.array([[0.1, -9.0], [1.0, 0.0], [2.0, 0.5], [30.0, 3.0]]),
        "points_3": np.array([[0.0, 0.0, 0.0], [-5.0, 0.2, 5.0], [1.0, 0.75, -0.3]]),
    }


@pytest.fixture(scope="module")
def madminer_report(madminer_python, tmp_path_factory):
    data = _histo_data(np.random.default_rng(2024))
    data_file = tmp_path_factory.mktemp("histo") / "data.npz"
    np.savez(data_file, cases=json.dumps(_HISTO_CASES), **data)
    result = subprocess.run(
        [madminer_python, "-c", _MADMINER_SCRIPT, str(MADMINER_FILES / "events_cHl3.h5"), str(data_file)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return data, json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.madminer
def test_equal_cross_section_boundaries_equal_madminer_dynamic_binning(madminer_report):
    _, report = madminer_report
    for case in report["dynamic"]:
        weights = np.array(case["weights"])
        assert (weights > 0.0).all()  # MadMiner's quantiles are only defined for positive weights
        ours = equal_cross_section_boundaries(case["values"], weights, case["n_bins"])
        assert ours.shape == (case["n_bins"] - 1,)
        np.testing.assert_allclose(ours, case["boundaries"], rtol=1e-12, atol=0.0)


@pytest.mark.madminer
@pytest.mark.parametrize("index", range(len(_HISTO_CASES)))
def test_histo_equals_madminer(madminer_report, index):
    """Same edges, histogram and log likelihood as MadMiner's ``Histo``, except that the last bin of
    each axis is capped at twice its neighbour's width for the volume (MadMiner's cap there is a
    no-op): MadMiner's density in those bins is rescaled by the ratio of the volumes."""
    data, report = madminer_report
    case, theirs = _HISTO_CASES[index], report["histo"][index]
    x = data[case["x"]]
    weights = data[case["weights"]] if case["weights"] else None
    bins = [data[b] if isinstance(b, str) else b for b in case["bins"]]
    histo = Histo(x, weights=weights, bins=bins, epsilon=case["epsilon"])

    assert histo.n_bins == theirs["n_bins"]
    for ours, edges in zip(histo.edges, theirs["edges"], strict=True):
        np.testing.assert_allclose(ours, edges, rtol=1e-12, atol=1e-15)
    ratio = np.ones(tuple(histo.n_bins))
    for axis, edges in enumerate(histo.edges):
        shape = [1] * len(histo.n_bins)
        shape[axis] = -1
        ratio = ratio * (_capped_widths(edges, cap_last=False) / _capped_widths(edges)).reshape(shape)
    if index == 3:  # edges_a: no cap binds, so the numbers are MadMiner's as they are
        np.testing.assert_array_equal(ratio, 1.0)
    else:
        assert (ratio > 1.0).any()
    np.testing.assert_allclose(histo.histo, np.array(theirs["histo"]) * ratio, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(
        histo.histo_uncertainties, np.array(theirs["histo_uncertainties"]) * ratio, rtol=1e-12, atol=1e-300
    )
    points = data[f"points_{histo.n_observables}"]
    cells = tuple(
        np.clip(np.searchsorted(edges, points.reshape(len(points), -1)[:, i], side="right") - 1, 0, n - 1)
        for i, (edges, n) in enumerate(zip(histo.edges, histo.n_bins, strict=True))
    )
    np.testing.assert_allclose(
        histo.log_likelihood(points), np.array(theirs["log_likelihood"]) + np.log(ratio[cells]), rtol=1e-12
    )
