"""combine_and_shuffle on synthetic events files.

Events have observables ``x ~ U(0, 1)`` and ``y``; signal weights are ``c (1 + theta x)^2`` at the
benchmarks sm (theta = 0), plus (1) and minus (-1), so morphing is exact; background weights do not
depend on theta. Every file has a two-sided nuisance parameter (benchmarks nu_plus, nu_minus).
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from motherlode import MadMiner, eventstore, fileformat
from motherlode.analysis import DataAnalyzer
from motherlode.errors import InputError, SetupError
from motherlode.models import Benchmark, NuisanceParameter
from motherlode.sampling.combine import combine_and_shuffle

BENCHMARKS = {"sm": 0.0, "plus": 1.0, "minus": -1.0}
NUISANCE = ("nu_plus", "nu_minus")
SCALE = 0.01


def _make_setup(path, plus=1.0):
    miner = MadMiner()
    miner.add_parameter("BLOCK", 1, parameter_name="theta", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    for name, value in BENCHMARKS.items():
        miner.add_benchmark({"theta": plus if name == "plus" else value}, name)
    miner.set_morphing(include_existing_benchmarks=True, max_overall_power=2)
    miner.save(path)
    return path


@pytest.fixture
def setup_file(tmp_path):
    return _make_setup(tmp_path / "setup.h5")


def _write_events(
    path,
    setup_path,
    observations,
    weights,
    sampling,
    signal_events,
    background_events=0,
    observables=("x", "y"),
    nuisance=NUISANCE,
):
    setup = fileformat.read_setup(setup_path)
    benchmarks = dict(setup.benchmarks)
    parameters = {}
    if nuisance is not None:
        reference = next(iter(benchmarks.values()))
        for name in nuisance:
            benchmarks[name] = Benchmark(name, dict(reference.values), is_nuisance=True)
        parameters = {"syst_nuisance_param_0": NuisanceParameter("syst_nuisance_param_0", "syst", *nuisance)}
    benchmarks[next(iter(benchmarks))].is_reference = True
    with fileformat.atomic_h5(path, copy_from=setup_path) as handle:
        fileformat.write_nuisance_setup(handle, benchmarks, parameters, list(setup.parameters))
        fileformat.write_observables(handle, list(observables), list(observables))
        fileformat.create_sample_datasets(handle, observations.shape[1], weights.shape[1])
        fileformat.append_samples(handle, observations, weights, sampling)
        fileformat.write_sample_summary(handle, signal_events, background_events)
    return path


def _sample(path, setup_path, samples, seed, nuisance=NUISANCE, observables=("x", "y")):
    """An events file holding ``samples``: list of (sampling benchmark name or None, n_events)."""
    rng = np.random.default_rng(seed)
    blocks, ids = [], []
    signal_events = [0] * len(BENCHMARKS)
    background_events = 0
    for benchmark, n in samples:
        x = rng.random(n)
        if benchmark is None:
            columns = [np.full(n, 0.2) * (1.0 + 0.5 * x) for _ in BENCHMARKS]
            ids.append(np.full(n, -1))
            background_events += n
        else:
            columns = [SCALE * (1.0 + theta * x) ** 2 for theta in BENCHMARKS.values()]
            index = list(BENCHMARKS).index(benchmark)
            ids.append(np.full(n, index))
            signal_events[index] += n
        if nuisance is not None:
            columns += [columns[0] * np.exp(0.3 * x), columns[0] * np.exp(-0.2 * x)]
        blocks.append((np.stack([x, rng.normal(size=n)], 1), np.stack(columns, 1)))
    observations = np.concatenate([b[0] for b in blocks])
    weights = np.concatenate([b[1] for b in blocks])
    order = rng.permutation(len(observations))
    return _write_events(
        path,
        setup_path,
        observations[order],
        weights[order],
        np.concatenate(ids)[order],
        signal_events,
        background_events,
        observables=observables,
        nuisance=nuisance,
    )


def _rows(path):
    parts = list(fileformat.iter_samples(path))
    observations, weights, sampling = (np.concatenate(p) for p in zip(*parts, strict=True))
    return np.concatenate([observations, weights, sampling[:, None].astype(float)], 1)


def _sorted(rows):
    return rows[np.lexsort(rows.T[::-1])]


def _expected_rows(paths, k_factors):
    rows = []
    for path, k in zip(paths, k_factors, strict=True):
        r = _rows(path)
        r[:, 2:-1] *= k
        rows.append(r)
    return np.concatenate(rows)


@pytest.fixture
def same_mix(tmp_path, setup_file):
    """Three files sampled at sm: MadMiner's plain concatenation applies."""
    return [_sample(tmp_path / f"sm_{i}.h5", setup_file, [("sm", 100 + 50 * i)], seed=i) for i in range(3)]


def test_rows_are_a_permutation_with_k_factors(tmp_path, same_mix):
    out = tmp_path / "combined.h5"
    k_factors = [2.0, 0.5, 1.5]
    combine_and_shuffle(same_mix, out, k_factors=k_factors, random_state=3)
    rows, expected = _rows(out), _expected_rows(same_mix, k_factors)
    np.testing.assert_array_equal(_sorted(rows), _sorted(expected))  # exactly MadMiner's k * w
    assert not np.array_equal(rows, expected)  # shuffled
    summary = fileformat.read_sample_summary(out)
    assert summary.signal_events.tolist() == [450, 0, 0] and summary.background_events == 0
    combine_and_shuffle(same_mix, out, k_factors=0.5, random_state=3)
    np.testing.assert_array_equal(_sorted(_rows(out)), _sorted(_expected_rows(same_mix, [0.5] * 3)))
    setup, first = fileformat.read_setup(out), fileformat.read_setup(same_mix[0])
    assert setup.benchmarks == first.benchmarks and setup.nuisance_parameters == first.nuisance_parameters
    np.testing.assert_array_equal(setup.morphing_matrix, first.morphing_matrix)
    assert fileformat.read_observables(out) == {"x": "x", "y": "y"}


@pytest.fixture
def mixed(tmp_path, setup_file):
    """Files with different mixes of sampling benchmarks, and a background."""
    return [
        _sample(tmp_path / "sm.h5", setup_file, [("sm", 300)], seed=1),
        _sample(tmp_path / "plus.h5", setup_file, [("plus", 200)], seed=2),
        _sample(tmp_path / "background.h5", setup_file, [(None, 100)], seed=3),
        _sample(tmp_path / "two.h5", setup_file, [("sm", 150), ("minus", 50)], seed=4),
    ]


def _xsecs(path):
    analyzer = DataAnalyzer(path)
    thetas = [np.array([0.37]), np.array([-2.5]), "plus", np.array([0.8])]
    nus = [None, None, np.array([0.7]), np.array([-1.2])]
    return np.concatenate([analyzer.xsecs()[0], analyzer.xsecs(thetas, nus=nus)[0]])


def test_cross_sections_are_the_k_weighted_sums(tmp_path, mixed):
    out = tmp_path / "combined.h5"
    k_factors = [1.0, 0.5, 2.0, 0.7]
    combine_and_shuffle(mixed, out, k_factors=k_factors, random_state=0)
    expected = sum(k * _xsecs(path) for k, path in zip(k_factors, mixed, strict=True))
    np.testing.assert_allclose(_xsecs(out), expected, rtol=1e-12)
    summary = fileformat.read_sample_summary(out)
    assert summary.signal_events.tolist() == [450, 200, 50] and summary.background_events == 100
    # background weights are k * w; the row multiset is kept up to the signal rescaling
    rows, inputs = _rows(out), _expected_rows(mixed, k_factors)
    np.testing.assert_array_equal(_sorted(rows[rows[:, -1] < 0]), _sorted(inputs[inputs[:, -1] < 0]))
    np.testing.assert_array_equal(_sorted(rows[:, [0, 1, 7]]), _sorted(inputs[:, [0, 1, 7]]))


def test_averaging_runs_of_one_process(tmp_path, setup_file):
    """Two runs of one process, sampled at different benchmarks: k = 1/2 each gives the average."""
    paths = [
        _sample(tmp_path / "a.h5", setup_file, [("sm", 400)], seed=5),
        _sample(tmp_path / "b.h5", setup_file, [("plus", 400)], seed=6),
    ]
    out = tmp_path / "combined.h5"
    combine_and_shuffle(paths, out, k_factors=[0.5, 0.5], random_state=1)
    np.testing.assert_allclose(_xsecs(out), 0.5 * (_xsecs(paths[0]) + _xsecs(paths[1])), rtol=1e-12)
    # events generated close to sm are the sm run's, with its cross section
    sm_only = DataAnalyzer(out).xsecs(generated_close_to=np.array([0.0]))[0]
    np.testing.assert_allclose(sm_only, DataAnalyzer(paths[0]).xsecs()[0], rtol=1e-12)


def test_header_is_recalculated_or_summed(tmp_path, setup_file, same_mix):
    stale = tmp_path / "stale.h5"
    rows = _rows(same_mix[0])
    _write_events(stale, setup_file, rows[:, :2], rows[:, 2:-1], rows[:, -1].astype(int), [999, 1, 0], 5)
    out = tmp_path / "combined.h5"
    combine_and_shuffle([stale, same_mix[1]], out, recalculate_header=True, random_state=0)
    summary = fileformat.read_sample_summary(out)
    assert summary.signal_events.tolist() == [250, 0, 0] and summary.background_events == 0
    combine_and_shuffle([stale, same_mix[1]], out, recalculate_header=False, random_state=0)
    summary = fileformat.read_sample_summary(out)
    assert summary.signal_events.tolist() == [1149, 1, 0] and summary.background_events == 5


@pytest.mark.parametrize("difference", ["benchmark", "observables", "nuisance"])
def test_refuses_different_setups(tmp_path, setup_file, difference):
    first = _sample(tmp_path / "first.h5", setup_file, [("sm", 10)], seed=0)
    if difference == "benchmark":
        other_setup = _make_setup(tmp_path / "other_setup.h5", plus=2.0)
        other = _sample(tmp_path / "other.h5", other_setup, [("sm", 10)], seed=1)
        field = "values of benchmark 'plus'"
    elif difference == "observables":
        other = _sample(tmp_path / "other.h5", setup_file, [("sm", 10)], seed=1, observables=("x", "z"))
        field = "observables"
    else:
        other = _sample(tmp_path / "other.h5", setup_file, [("sm", 10)], seed=1, nuisance=("a", "b"))
        field = "nuisance benchmarks names"
    out = tmp_path / "out.h5"
    with pytest.raises(SetupError, match=field) as info:
        combine_and_shuffle([first, other], out)
    assert str(first) in str(info.value) and str(other) in str(info.value)
    assert not out.exists()


def test_bad_arguments(tmp_path, same_mix):
    out = tmp_path / "out.h5"
    with pytest.raises(InputError, match="2 k_factors given for 3 input files"):
        combine_and_shuffle(same_mix, out, k_factors=[1.0, 2.0])
    with pytest.raises(InputError, match="empty"):
        combine_and_shuffle([], out)
    with pytest.raises(InputError, match="finite"):
        combine_and_shuffle(same_mix, out, k_factors=float("nan"))
    assert not out.exists()


def test_overwrite_flag(tmp_path, same_mix):
    out = tmp_path / "out.h5"
    out.write_bytes(b"keep me")
    with pytest.raises(InputError, match=str(out)):
        combine_and_shuffle(same_mix, out, overwrite_existing_file=False)
    assert out.read_bytes() == b"keep me"
    combine_and_shuffle(same_mix, out, overwrite_existing_file=True)
    assert fileformat.n_samples(out) == 450


def test_output_may_be_an_input(tmp_path, same_mix):
    expected = _expected_rows(same_mix, [1.0, 3.0, 1.0])
    combine_and_shuffle(same_mix, same_mix[1], k_factors=[1.0, 3.0, 1.0], random_state=2)
    np.testing.assert_array_equal(_sorted(_rows(same_mix[1])), _sorted(expected))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["setup.h5", "sm_0.h5", "sm_1.h5", "sm_2.h5"]


def test_reproducible(tmp_path, mixed):
    tmp_dir = tmp_path / "spool"
    tmp_dir.mkdir()
    outputs = []
    for seed, name in ((7, "a.h5"), (7, "b.h5"), (8, "c.h5")):
        combine_and_shuffle(mixed, tmp_path / name, random_state=seed, tmp_dir=tmp_dir)
        outputs.append(_rows(tmp_path / name))
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert not np.array_equal(outputs[0], outputs[2])
    np.testing.assert_array_equal(_sorted(outputs[0]), _sorted(outputs[2]))
    assert list(tmp_dir.iterdir()) == []  # spool files removed


def test_memory_is_bounded(tmp_path, setup_file, monkeypatch):
    """3 files x 200k events x (2 observables + 3 weights): the peak stays far below the data."""
    n, paths = 200_000, []
    for i in range(3):
        rng = np.random.default_rng(i)
        observations = rng.random((n, 2))
        weights = rng.random((n, 3))
        sampling = rng.integers(0, 3, size=n)
        counts = np.bincount(sampling, minlength=3)
        paths.append(
            _write_events(
                tmp_path / f"big_{i}.h5",
                setup_file,
                observations,
                weights,
                sampling,
                counts,
                0,
                nuisance=None,
            )
        )
    data_bytes = 3 * n * 6 * 8
    monkeypatch.setattr(eventstore, "BLOCK_BYTES", 1 << 20)
    out = tmp_path / "combined.h5"
    tracemalloc.start()
    try:
        combine_and_shuffle(paths, out, random_state=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert fileformat.n_samples(out) == 3 * n
    assert peak < data_bytes / 4, f"peak {peak / 2**20:.1f} MiB for {data_bytes / 2**20:.1f} MiB of events"
    summary = fileformat.read_sample_summary(out)
    total = sum(fileformat.read_sample_summary(p).signal_events for p in paths)
    np.testing.assert_array_equal(summary.signal_events, total)


@pytest.mark.madminer
def test_madminer_reads_the_combined_file(tmp_path, mixed, probe_with_madminer):
    out = tmp_path / "combined.h5"
    k_factors = [1.0, 0.5, 2.0, 0.7]
    combine_and_shuffle(mixed, out, k_factors=k_factors, random_state=4)
    report = probe_with_madminer(out, thetas=[[0.37], [-2.5]])
    assert "error" not in report, report.get("error")
    ours = DataAnalyzer(out)
    xsecs = ours.xsecs()[0]
    expected = sum(k * DataAnalyzer(p).xsecs()[0] for k, p in zip(k_factors, mixed, strict=True))
    np.testing.assert_allclose(report["weights_sum"], expected, rtol=1e-12)
    np.testing.assert_allclose(report["benchmark_xsecs"], xsecs, rtol=1e-12)
    morphed = ours.xsecs([np.array([0.37]), np.array([-2.5])])[0]
    np.testing.assert_allclose(report["xsecs"], morphed, rtol=1e-12)
    assert report["sample_summary"] == {"signal_events": [450, 200, 50], "background_events": 100}
    assert report["n_samples"] == 800
    assert [b["name"] for b in report["benchmarks"]] == ["sm", "plus", "minus", *NUISANCE]
