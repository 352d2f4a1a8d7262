"""DataAnalyzer on synthetic events files whose weights are analytic.

Events have one observable x ~ U(0, 1) and weights ``c (1 + theta x)^2`` at every benchmark, so
morphing (quadratic in theta) reproduces the weight at any theta exactly, and cross sections and
gradients are closed-form sums. A two-sided nuisance parameter has benchmark weights
``w_ref exp(0.3 x)`` and ``w_ref exp(-0.2 x)``: the nuisance model gives the factor
``exp(0.25 x nu + 0.05 x nu^2)`` exactly.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import MADMINER_FILES
from conftest import write_events_file as _write_events
from motherlode import MadMiner, fileformat
from motherlode.analysis import DataAnalyzer
from motherlode.errors import InputError, SetupError

N_EVENTS = 2000
SCALE = 0.01  # pb per event at theta = 0
BENCHMARKS = {"sm": 0.0, "plus": 1.0, "minus": -1.0}


def _weights(x, theta):
    return SCALE * (1.0 + theta * x) ** 2


@pytest.fixture
def toy(tmp_path):
    """Morphing setup, one sample generated at sm, with a two-sided nuisance parameter."""
    miner = MadMiner()
    miner.add_parameter("BLOCK", 1, parameter_name="theta", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    for name, value in BENCHMARKS.items():
        miner.add_benchmark({"theta": value}, name)
    miner.set_morphing(include_existing_benchmarks=True, max_overall_power=2)
    miner.save(tmp_path / "setup.h5")
    x = np.random.default_rng(1).random(N_EVENTS)
    weights = np.stack([_weights(x, value) for value in BENCHMARKS.values()], axis=1)
    reference = weights[:, 0]
    weights = np.concatenate(
        [weights, (reference * np.exp(0.3 * x))[:, None], (reference * np.exp(-0.2 * x))[:, None]], 1
    )
    path = _write_events(
        tmp_path / "events.h5",
        tmp_path / "setup.h5",
        x,
        weights,
        np.zeros(N_EVENTS, dtype=int),
        [N_EVENTS, 0, 0],
        nuisance=("nu_plus", "nu_minus"),
    )
    return path, x


def test_cross_sections_at_benchmarks_and_morphed_points_are_exact(toy):
    path, x = toy
    analyzer = DataAnalyzer(path)
    assert (
        analyzer.n_benchmarks == 5 and analyzer.n_benchmarks_phys == 3 and analyzer.n_nuisance_parameters == 1
    )
    xsecs, errors = analyzer.xsecs()
    expected = [_weights(x, v).sum() for v in BENCHMARKS.values()]
    np.testing.assert_allclose(xsecs[:3], expected, rtol=1e-13)
    thetas = [np.array([0.37]), np.array([-2.5]), "plus", 2]
    xsecs, errors = analyzer.xsecs(thetas)
    weights = [_weights(x, 0.37), _weights(x, -2.5), _weights(x, 1.0), _weights(x, -1.0)]
    np.testing.assert_allclose(xsecs, [w.sum() for w in weights], rtol=1e-12)
    np.testing.assert_allclose(errors, [np.sqrt((w**2).sum()) for w in weights], rtol=1e-12)
    assert np.all(errors > 0)


def test_cross_section_gradients_are_exact(toy):
    path, x = toy
    analyzer = DataAnalyzer(path)
    nu = np.array([0.7])
    gradients = analyzer.xsec_gradients([np.array([0.37]), np.array([-1.3])], nus=[None, nu])
    assert gradients.shape == (2, 2)
    factor = np.exp(0.25 * x * 0.7 + 0.05 * x * 0.7**2)
    np.testing.assert_allclose(gradients[0, 0], np.sum(SCALE * 2 * x * (1 + 0.37 * x)), rtol=1e-12)
    np.testing.assert_allclose(gradients[1, 0], np.sum(SCALE * 2 * x * (1 - 1.3 * x) * factor), rtol=1e-12)
    np.testing.assert_allclose(gradients[0, 1], np.sum(_weights(x, 0.37) * 0.25 * x), rtol=1e-12)
    nu_gradient = np.sum(_weights(x, -1.3) * (0.25 * x + 0.1 * x * 0.7) * factor)
    np.testing.assert_allclose(gradients[1, 1], nu_gradient, rtol=1e-12)
    only_theta = analyzer.xsec_gradients([np.array([0.37])], gradients="theta")
    np.testing.assert_allclose(only_theta, gradients[:1, :1], rtol=1e-14)


def test_nuisance_parameters_shift_weights_by_the_exponential_model(toy):
    path, x = toy
    analyzer = DataAnalyzer(path)
    for nu in (-1.5, 0.0, 0.4, 2.0):
        observations, weights = analyzer.weighted_events(theta=np.array([0.6]), nu=np.array([nu]))
        np.testing.assert_array_equal(observations[:, 0], x)
        expected = _weights(x, 0.6) * np.exp(0.25 * x * nu + 0.05 * x * nu**2)
        np.testing.assert_allclose(weights, expected, rtol=1e-12)
    xsecs, _ = analyzer.xsecs([np.array([0.6])], nus=[np.array([1.0])])
    np.testing.assert_allclose(xsecs[0], np.sum(_weights(x, 0.6) * np.exp(0.3 * x)), rtol=1e-12)


def test_weighted_events_shapes_derivatives_and_draws(toy):
    path, x = toy
    analyzer = DataAnalyzer(path)
    observations, weights = analyzer.weighted_events()
    assert observations.shape == (N_EVENTS, 1) and weights.shape == (N_EVENTS, 5)
    _, weights = analyzer.weighted_events(theta="minus")
    np.testing.assert_allclose(weights, _weights(x, -1.0), rtol=1e-14)
    _, gradients = analyzer.weighted_events(theta=np.array([0.2]), derivative=True)
    assert gradients.shape == (N_EVENTS, 2)
    np.testing.assert_allclose(gradients[:, 0], SCALE * 2 * x * (1 + 0.2 * x), rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(gradients[:, 1], _weights(x, 0.2) * 0.25 * x, rtol=1e-12, atol=1e-18)
    drawn, _ = analyzer.weighted_events(n_draws=100, random_state=3)
    again, _ = analyzer.weighted_events(n_draws=100, random_state=3)
    np.testing.assert_array_equal(drawn, again)
    assert len(drawn) == 100 and len(np.unique(drawn)) == 100 and np.isin(drawn[:, 0], x).all()
    subset, _ = analyzer.weighted_events(start_event=10, end_event=20)
    np.testing.assert_array_equal(subset[:, 0], x[10:20])


def test_partitions_keep_every_event_and_scale_cross_sections(toy):
    path, x = toy
    analyzer = DataAnalyzer(path)
    total = _weights(x, 0.0)
    sizes = []
    for partition in ("train", "validation", "test"):
        start, end, _ = analyzer._partition_bounds(partition, test_split=0.25, validation_split=0.15)
        sizes.append(end - start)
        xsec, _ = analyzer.xsecs(["sm"], partition=partition, test_split=0.25, validation_split=0.15)
        np.testing.assert_allclose(xsec[0], total[start:end].sum() * N_EVENTS / (end - start), rtol=1e-12)
    assert sizes == [1200, 300, 500] and sum(sizes) == N_EVENTS
    with pytest.raises(InputError, match="exceeds 1"):
        analyzer.xsecs(partition="test", test_split=0.7, validation_split=0.5)
    with pytest.raises(InputError, match="empty"):
        analyzer.xsecs(partition="validation", validation_split=0.0)
    with pytest.raises(InputError, match="unknown partition"):
        analyzer.xsecs(partition="training")


def test_event_loader_streams_batches(toy):
    path, x = toy
    analyzer = DataAnalyzer(path)
    batches = list(analyzer.event_loader(batch_size=300, return_sampling_ids=True))
    assert [len(b[0]) for b in batches] == [300] * 6 + [200]
    np.testing.assert_array_equal(np.concatenate([b[0][:, 0] for b in batches]), x)
    assert all(b[1].shape[1] == 5 for b in batches)
    physics_only = next(analyzer.event_loader(include_nuisance_parameters=False))
    assert physics_only[1].shape == (N_EVENTS, 3)
    without = DataAnalyzer(path, include_nuisance_parameters=False)
    assert without.n_benchmarks == 3 and without.n_nuisance_parameters == 0
    np.testing.assert_allclose(without.xsecs()[0], analyzer.xsecs()[0][:3], rtol=1e-14)
    with pytest.raises(SetupError, match="no nuisance parameters"):
        without.xsecs([np.array([0.1])], nus=[np.array([1.0])])


def test_several_samples_are_combined_by_their_share_of_events(tmp_path):
    """Two signal samples (each normalised to the full cross section) and a background."""
    miner = MadMiner()
    miner.add_parameter("BLOCK", 1, parameter_name="theta", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    for name, value in BENCHMARKS.items():
        miner.add_benchmark({"theta": value}, name)
    miner.set_morphing(include_existing_benchmarks=True, max_overall_power=2)
    miner.save(tmp_path / "setup.h5")
    rng = np.random.default_rng(2)
    x = rng.random(600)
    sampling = np.repeat([0, 1, -1], [300, 200, 100])
    weights = np.stack([_weights(x, value) for value in BENCHMARKS.values()], axis=1)
    weights[:300] *= 600 / 300  # each signal sample's weights sum to the full cross section
    weights[300:500] *= 600 / 200
    weights[500:] = 0.5  # background, same at every benchmark
    path = _write_events(
        tmp_path / "events.h5", tmp_path / "setup.h5", x, weights, sampling, [300, 200, 0], 100
    )
    analyzer = DataAnalyzer(path)
    xsecs, _ = analyzer.xsecs(["plus"])
    signal = _weights(x[:500], 1.0).sum() * 600 / 500
    np.testing.assert_allclose(xsecs[0], signal + 50.0, rtol=1e-12)
    # generated_close_to theta = 0.8: the "plus" sample (index 1) and the background, unscaled
    close, _ = analyzer.xsecs(["plus"], generated_close_to=np.array([0.8]))
    np.testing.assert_allclose(close[0], _weights(x[300:500], 1.0).sum() * 3 + 50.0, rtol=1e-12)
    # the "minus" benchmark has no events: the closest benchmark with events is used
    _, _, ids = next(analyzer.event_loader(generated_close_to=np.array([-0.9]), return_sampling_ids=True))
    assert set(ids.tolist()) == {0, -1}


def test_finite_differences_without_morphing(tmp_path):
    miner = MadMiner()
    miner.add_parameter("BLOCK", 1, parameter_name="theta", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    miner.add_benchmark({"theta": 0.0}, "sm")
    miner.finite_differences(epsilon=0.01)
    miner.save(tmp_path / "setup.h5")
    setup = fileformat.read_setup(tmp_path / "setup.h5")
    assert list(setup.benchmarks) == ["sm", "sm_plus_theta"]
    x = np.random.default_rng(4).random(500)
    weights = np.stack([_weights(x, 0.0), _weights(x, 0.01)], axis=1)
    path = _write_events(
        tmp_path / "events.h5", tmp_path / "setup.h5", x, weights, np.zeros(500, int), [500, 0]
    )
    analyzer = DataAnalyzer(path)
    gradient = analyzer.xsec_gradients(["sm"])
    np.testing.assert_allclose(gradient[0, 0], np.sum(SCALE * (2 * x + 0.01 * x**2)), rtol=1e-9)
    with pytest.raises(SetupError, match="finite-difference base"):
        analyzer.xsec_gradients([np.array([0.3])])
    with pytest.raises(SetupError, match="morphing"):
        analyzer.xsecs([np.array([0.3])])


def test_agrees_with_madminer_on_its_own_events_file():
    expected = json.loads((MADMINER_FILES / "expected.json").read_text())["events_cHl3.h5"]
    analyzer = DataAnalyzer(MADMINER_FILES / "events_cHl3.h5")
    thetas = [np.array(theta) for theta in expected["probe_thetas"]]
    xsecs, _ = analyzer.xsecs(thetas)
    np.testing.assert_allclose(xsecs, expected["xsecs"], rtol=1e-12)
    np.testing.assert_allclose(analyzer.xsecs()[0], expected["weights_sum"], rtol=1e-12)
    assert list(analyzer.observables) == list(expected["observables"]["names"])
