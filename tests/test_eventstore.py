"""The event spool: column alignment, normalisation, exact and uniform shuffling, clean-up."""

from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest
from scipy import stats

from motherlode import eventstore
from motherlode.errors import InputError
from motherlode.eventstore import EventStore


def _filled_store(tmp_path, n_per_sample=(5, 3)):
    store = EventStore(n_observables=2, directory=tmp_path)
    start = 0
    for k, n in enumerate(n_per_sample):
        names = ["sm", "bsm"] if k == 0 else ["sm", "bsm", "nu_up"]
        store.start_sample(names, sampling_index=k)
        ids = np.arange(start, start + n, dtype=float)
        weights = np.stack([ids + 0.5, 2 * ids + 0.5] + ([3 * ids] if k == 1 else []), axis=1)
        store.append(np.stack([ids, -ids], axis=1), weights)
        store.finish_sample(weight_factor=10.0**k)
        start += n
    return store


def _collect(blocks):
    parts = list(blocks)
    return [np.concatenate(column) for column in zip(*parts, strict=True)]


def test_rows_are_aligned_normalised_and_filled_from_the_reference(tmp_path):
    store = _filled_store(tmp_path)
    assert store.n_events == 8
    assert store.weight_names == ["sm", "bsm", "nu_up"]
    observations, weights, sampling = _collect(store.iter_rows(["sm", "bsm", "nu_up"], reference="sm"))
    ids = np.arange(8.0)
    np.testing.assert_array_equal(observations, np.stack([ids, -ids], axis=1))
    factor = np.where(ids < 5, 1.0, 10.0)
    np.testing.assert_array_equal(weights[:, 0], (ids + 0.5) * factor)
    np.testing.assert_array_equal(weights[:, 1], (2 * ids + 0.5) * factor)
    # the first sample has no nu_up column: it takes its reference (sm) weight, i.e. no effect
    np.testing.assert_array_equal(weights[:5, 2], ids[:5] + 0.5)
    np.testing.assert_array_equal(weights[5:, 2], 3 * ids[5:] * 10.0)
    np.testing.assert_array_equal(sampling, [0] * 5 + [1] * 3)
    store.close()


@pytest.mark.parametrize("bucket_rows", [None, 3, 1])
def test_shuffle_is_a_permutation_of_the_rows(tmp_path, bucket_rows):
    store = _filled_store(tmp_path)
    plain = _collect(store.iter_rows(["sm", "bsm", "nu_up"], reference="sm"))
    shuffled = _collect(
        store.iter_shuffled(["sm", "bsm", "nu_up"], "sm", np.random.default_rng(1), bucket_rows=bucket_rows)
    )
    order = np.argsort(shuffled[0][:, 0])
    for a, b in zip(plain, shuffled, strict=True):
        np.testing.assert_array_equal(a, b[order])
    assert not np.array_equal(shuffled[0][:, 0], plain[0][:, 0])
    store.close()


def test_shuffle_is_reproducible(tmp_path):
    store = _filled_store(tmp_path)
    runs = [
        _collect(store.iter_shuffled(["sm", "bsm"], "sm", np.random.default_rng(seed), bucket_rows=2))[0]
        for seed in (7, 7, 8)
    ]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
    store.close()


def test_external_shuffle_is_uniform_over_permutations(tmp_path):
    """All 4! orders of 4 rows appear equally often with several buckets (chi-square test)."""
    store = EventStore(n_observables=1, directory=tmp_path)
    store.start_sample(["sm"], 0)
    store.append(np.arange(4.0)[:, None], np.ones((4, 1)))
    store.finish_sample()
    rng = np.random.default_rng(3)
    index = {p: i for i, p in enumerate(itertools.permutations(range(4)))}
    counts = np.zeros(len(index))
    n_trials = 4800
    for _ in range(n_trials):
        (observations,) = _collect(store.iter_shuffled(["sm"], "sm", rng, bucket_rows=2))[:1]
        counts[index[tuple(observations[:, 0].astype(int))]] += 1
    assert stats.chisquare(counts).pvalue > 1e-3
    store.close()


def test_shuffled_writing_memory_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(eventstore, "BLOCK_BYTES", 2**20)
    store = EventStore(n_observables=4, directory=tmp_path)
    store.start_sample(["a", "b"], 0)
    for _ in range(10):
        store.append(np.random.default_rng(0).random((50_000, 4)), np.ones((50_000, 2)))
    store.finish_sample()
    tracemalloc.start()
    n_rows = 0
    for observations, _, _ in store.iter_shuffled(
        ["a", "b"], "a", np.random.default_rng(0), bucket_rows=20_000
    ):
        n_rows += len(observations)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert n_rows == 500_000
    assert peak < 12 * 2**20  # the whole table is 28 MB; blocks are 1 MB and buckets of 20k rows 1.1 MB
    store.close()


def test_errors_and_clean_up(tmp_path):
    store = EventStore(n_observables=1, directory=tmp_path)
    with pytest.raises(InputError, match="no sample"):
        store.append(np.zeros((1, 1)), np.zeros((1, 1)))
    store.start_sample(["sm"], 0)
    with pytest.raises(InputError, match="expected"):
        store.append(np.zeros((2, 1)), np.zeros((2, 3)))
    with pytest.raises(InputError, match="not finished"):
        store.start_sample(["sm"], 0)
    with pytest.raises(InputError, match="finite"):
        store.finish_sample(np.inf)
    store.finish_sample()
    with pytest.raises(InputError, match="duplicate"):
        store.start_sample(["sm", "sm"], 0)
    assert any(tmp_path.iterdir())
    store.close()
    assert not any(tmp_path.iterdir())
