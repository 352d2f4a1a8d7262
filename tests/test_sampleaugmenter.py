"""SampleAugmenter on an analytic toy: exact joint ratios and scores, correct distributions.

Events: x ~ U(0, 1), weight ``c (1 + theta x)^2`` at every benchmark (theta = 0, 1, -1, a quadratic
morphing basis), so ``p(x|theta)`` is proportional to ``(1 + theta x)^2`` and the weight at any
theta is exact. Optionally a nuisance parameter with benchmarks ``w_ref exp(+-0.2 x)``.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from motherlode import MadMiner, fileformat
from motherlode.errors import InputError, SetupError
from motherlode.models import Benchmark, NuisanceParameter
from motherlode.sampling import (
    SampleAugmenter,
    benchmark,
    benchmarks,
    iid_nuisance_parameters,
    morphing_point,
    morphing_points,
    nominal_nuisance_parameters,
    random_morphing_points,
)

BENCHMARKS = {"sm": 0.0, "plus": 1.0, "minus": -1.0}
SCALE = 1e-3


def _weights(x, theta):
    return SCALE * (1.0 + theta * x) ** 2


def _cdf(x, theta):
    return (x + theta * x**2 + theta**2 * x**3 / 3) / (1 + theta + theta**2 / 3)


def _make_file(
    path, n_events, seed=1, nuisance=False, sampling=None, summary=None, sort=False, morphing=True
):
    miner = MadMiner()
    miner.add_parameter("BLOCK", 1, parameter_name="theta", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    for name, value in BENCHMARKS.items():
        miner.add_benchmark({"theta": value}, name)
    if morphing:
        miner.set_morphing(include_existing_benchmarks=True, max_overall_power=2)
    setup_path = path.with_name(path.stem + "_setup.h5")
    miner.save(setup_path)
    x = np.random.default_rng(seed).random(n_events)
    if sort:
        x = np.sort(x)
    weights = np.stack([_weights(x, v) for v in BENCHMARKS.values()], axis=1)
    setup = fileformat.read_setup(setup_path)
    all_benchmarks = dict(setup.benchmarks)
    all_benchmarks["sm"].is_reference = True
    parameters = {}
    if nuisance:
        weights = np.concatenate(
            [weights, weights[:, :1] * np.exp(0.2 * x)[:, None], weights[:, :1] * np.exp(-0.2 * x)[:, None]],
            1,
        )
        for name in ("nu_up", "nu_down"):
            all_benchmarks[name] = Benchmark(name, {"theta": 0.0}, is_nuisance=True)
        parameters = {
            "sys_nuisance_param_0": NuisanceParameter("sys_nuisance_param_0", "sys", "nu_up", "nu_down")
        }
    sampling = np.zeros(n_events, dtype=int) if sampling is None else sampling
    with fileformat.atomic_h5(path, copy_from=setup_path) as handle:
        fileformat.write_nuisance_setup(handle, all_benchmarks, parameters, ["theta"])
        fileformat.write_observables(handle, ["x"], ["x"])
        fileformat.create_sample_datasets(handle, 1, weights.shape[1])
        fileformat.append_samples(handle, x[:, None], weights, sampling)
        fileformat.write_sample_summary(handle, summary or [n_events, 0, 0], 0)
    return path, x


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return _make_file(tmp_path_factory.mktemp("toy") / "events.h5", 100_000)


@pytest.fixture(scope="module")
def nuisance_toy(tmp_path_factory):
    return _make_file(tmp_path_factory.mktemp("nuisance") / "events.h5", 20_000, nuisance=True)


def _train_x(x, test_split=0.2, validation_split=0.2):
    return x[: round((1 - test_split - validation_split) * len(x))]


def test_plain_samples_follow_the_distribution(toy):
    path, _ = toy
    augmenter = SampleAugmenter(path)
    for theta in (0.8, -0.6):
        samples, thetas, n_effective = augmenter.sample_train_plain(
            morphing_point([theta]), 20_000, random_state=2
        )
        assert samples.shape == (20_000, 1) and samples.dtype == np.float32
        np.testing.assert_array_equal(thetas, np.float32(theta))
        assert stats.kstest(samples[:, 0], lambda v, t=theta: _cdf(v, t)).pvalue > 1e-3
        assert 60_000 * 0.4 < n_effective < 60_000  # 60k train events, weights within a factor ~3
    # the wrong theta is rejected by the same test
    samples, _, _ = augmenter.sample_train_plain(morphing_point([0.8]), 20_000, random_state=2)
    assert stats.kstest(samples[:, 0], lambda v: _cdf(v, -0.6)).pvalue < 1e-10


def test_ratio_samples_have_exact_joint_ratios_and_scores(toy):
    path, x = toy
    train = _train_x(x)
    augmenter = SampleAugmenter(path)
    out = augmenter.sample_train_ratio(
        random_morphing_points(50, [("flat", -1.0, 1.0)]),
        benchmark("sm"),
        40_000,
        random_state=5,
        double_precision=True,
    )
    samples, theta0, theta1, y, r_xz, t_xz, n_effective = out
    assert (
        samples.shape == (40_000, 1) and theta0.shape == theta1.shape == y.shape == r_xz.shape == t_xz.shape
    )
    assert len(np.unique(theta0)) == 50 and np.all(theta1 == 0.0) and y.sum() == 20_000
    sigma0 = np.array([_weights(train, t).sum() for t in theta0[:, 0]])
    sigma1 = _weights(train, 0.0).sum()
    expected_r = (_weights(samples[:, 0], theta0[:, 0]) / sigma0) / (_weights(samples[:, 0], 0.0) / sigma1)
    np.testing.assert_allclose(r_xz[:, 0], expected_r, rtol=1e-10)
    gradient_sigma = np.array([np.sum(SCALE * 2 * train * (1 + t * train)) for t in theta0[:, 0]])
    expected_t = 2 * samples[:, 0] / (1 + theta0[:, 0] * samples[:, 0]) - gradient_sigma / sigma0
    np.testing.assert_allclose(t_xz[:, 0], expected_t, rtol=1e-9, atol=1e-12)
    # E[r(x|theta0, theta1)] = 1 for x ~ theta1, E[t(x|theta0)] = 0 for x ~ theta0
    from_theta1 = y[:, 0] == 1
    mean_r, error_r = r_xz[from_theta1].mean(), r_xz[from_theta1].std() / np.sqrt(from_theta1.sum())
    assert abs(mean_r - 1.0) < 4 * error_r
    mean_t, error_t = t_xz[~from_theta1].mean(), t_xz[~from_theta1].std() / np.sqrt((~from_theta1).sum())
    assert abs(mean_t) < 4 * error_t
    assert n_effective > 1000


def test_local_scores_and_reproducibility(toy):
    path, x = toy
    train = _train_x(x)
    augmenter = SampleAugmenter(path)
    first = augmenter.sample_train_local(benchmark("plus"), 5000, random_state=11, double_precision=True)
    again = augmenter.sample_train_local(benchmark("plus"), 5000, random_state=11, double_precision=True)
    other = augmenter.sample_train_local(benchmark("plus"), 5000, random_state=12, double_precision=True)
    for a, b in zip(first[:3], again[:3], strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])
    samples, thetas, t_xz, _ = first
    np.testing.assert_array_equal(thetas, 1.0)
    gradient_sigma = np.sum(SCALE * 2 * train * (1 + train)) / _weights(train, 1.0).sum()
    expected = 2 * samples[:, 0] / (1 + samples[:, 0]) - gradient_sigma
    np.testing.assert_allclose(t_xz[:, 0], expected, rtol=1e-9, atol=1e-10)


def test_nuisance_parameters(nuisance_toy):
    path, x = nuisance_toy
    train = _train_x(x)
    augmenter = SampleAugmenter(path)
    samples, thetas, t_xz, _ = augmenter.sample_train_local(
        morphing_point([0.3]), 4000, nu=iid_nuisance_parameters("gaussian", 0.0, 1.0), random_state=3,
        double_precision=True,
    )  # fmt: skip
    assert thetas.shape == (4000, 2) and t_xz.shape == (4000, 2)
    nu = thetas[:, 1]
    a, b = 0.2 * samples[:, 0], 0.0 * samples[:, 0]  # two-sided: a = (0.2 + 0.2) x / 2, b = 0
    for value in np.unique(nu)[:5]:
        pick = nu == value
        weights = _weights(train, 0.3) * np.exp(0.2 * train * value)
        sigma = weights.sum()
        d_sigma_d_nu = np.sum(weights * 0.2 * train)
        expected = a[pick] + 2 * b[pick] * value - d_sigma_d_nu / sigma
        np.testing.assert_allclose(t_xz[pick, 1], expected, rtol=1e-9, atol=1e-12)
    thetas_out, xsecs, _ = augmenter.cross_sections(morphing_point([0.3]), nu=morphing_point([1.0]))
    np.testing.assert_allclose(xsecs[0], np.sum(_weights(x, 0.3) * np.exp(0.2 * x)), rtol=1e-12)
    np.testing.assert_array_equal(thetas_out, [[0.3, 1.0]])
    no_nuisance = SampleAugmenter(path, include_nuisance_parameters=False)
    with pytest.raises(SetupError, match="nuisance"):
        no_nuisance.sample_train_local(benchmark("sm"), 10, nuisance_score=True)


def test_more_ratios_and_files(toy, tmp_path):
    path, _ = toy
    augmenter = SampleAugmenter(path)
    out = augmenter.sample_train_more_ratios(
        morphing_points([[0.5], [-0.5]]), benchmark("sm"), 1000, additional_thetas=[morphing_point([0.9])],
        folder=tmp_path / "samples", filename="train", random_state=1, double_precision=True,
    )  # fmt: skip
    samples, theta0, theta1, y, _, t_xz0, t_xz1, _ = out
    assert samples.shape == (2000, 1) and t_xz0.shape == t_xz1.shape == (2000, 1)
    pairs = {
        (float(a), float(b), float(c)) for a, b, c in zip(theta0[:, 0], theta1[:, 0], y[:, 0], strict=True)
    }
    assert pairs == {(0.5, 0.0, 0.0), (-0.5, 0.0, 0.0), (0.5, 0.9, 0.0), (-0.5, 0.9, 0.0), (0.5, 0.0, 1.0),
                     (-0.5, 0.0, 1.0), (0.9, 0.0, 1.0)}  # fmt: skip
    for prefix, array in zip(("x", "theta0", "theta1", "y", "r_xz", "t_xz0", "t_xz1"), out[:7], strict=True):
        np.testing.assert_array_equal(np.load(tmp_path / "samples" / f"{prefix}_train.npy"), array)


def test_more_ratios_without_scores(tmp_path):
    """Without morphing or finite differences there are no joint scores: t_xz0 and t_xz1 are None and
    not saved (they made sample_train_more_ratios fail; found while type checking)."""
    path, _ = _make_file(tmp_path / "events.h5", 3000, morphing=False)
    out = SampleAugmenter(path).sample_train_more_ratios(
        benchmark("plus"), benchmark("sm"), 400, folder=tmp_path / "samples", filename="t", random_state=2
    )
    assert out[5] is None and out[6] is None and out[0].shape == (400, 1)
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == [
        f"{prefix}_t.npy" for prefix in ("r_xz", "theta0", "theta1", "x", "y")
    ]


def test_closest_benchmark_and_trimming(tmp_path):
    sampling = np.repeat([0, 1], 5000)
    path, x = _make_file(tmp_path / "two.h5", 10_000, sampling=sampling, summary=[5000, 5000, 0])
    augmenter = SampleAugmenter(path)
    samples, _, _ = augmenter.sample_train_plain(
        morphing_point([0.9]), 2000, partition="all", sample_only_from_closest_benchmark=True, random_state=1
    )
    assert np.isin(samples[:, 0], x[5000:].astype(np.float32)).all()  # only events generated at "plus"
    samples, _, _ = augmenter.sample_train_plain(
        morphing_point([0.9]), 2000, partition="all", sample_only_from_closest_benchmark=False, random_state=1
    )
    assert np.isin(samples[:, 0], x[:5000].astype(np.float32)).any()
    _, _, n_eff_plain = augmenter.sample_train_plain(benchmark("plus"), 100, partition="all", random_state=1)
    _, _, n_eff_trimmed = augmenter.sample_train_plain(
        benchmark("plus"), 100, partition="all", n_eff_forced=4000, random_state=1
    )
    assert n_eff_trimmed >= 4000 > n_eff_plain


def test_benchmarks_share_samples_and_errors(toy):
    path, _ = toy
    augmenter = SampleAugmenter(path)
    _, thetas, _ = augmenter.sample_train_plain(benchmarks(["sm", "plus", "minus"]), 1000, random_state=1)
    values, counts = np.unique(thetas, return_counts=True)
    assert dict(zip(values.tolist(), counts.tolist(), strict=True)) == {-1.0: 333, 0.0: 334, 1.0: 333}
    _, thetas, _ = augmenter.sample_test(benchmark("minus"), 100, random_state=1)
    np.testing.assert_array_equal(thetas, -1.0)
    with pytest.raises(InputError, match="unknown benchmark"):
        augmenter.sample_train_plain(benchmark("nope"), 10)
    with pytest.raises(InputError, match="specification"):
        augmenter.sample_train_plain("sm", 10)
    thetas, xsecs, errors = augmenter.cross_sections(benchmarks(["sm", "plus"]))
    np.testing.assert_allclose(xsecs, augmenter.xsecs(["sm", "plus"])[0], rtol=1e-14)
    assert thetas.shape == (2, 1) and np.all(errors > 0)


def test_nuisance_score_at_nominal_nuisance_parameters(nuisance_toy):
    path, x = nuisance_toy
    train = _train_x(x)
    augmenter = SampleAugmenter(path)
    samples, _, t_xz, _ = augmenter.sample_train_local(
        benchmark("plus"), 2000, random_state=4, double_precision=True
    )
    weights = _weights(train, 1.0)
    expected_nu = 0.2 * samples[:, 0] - np.sum(weights * 0.2 * train) / weights.sum()
    np.testing.assert_allclose(t_xz[:, 1], expected_nu, rtol=1e-9, atol=1e-12)
    _, _, t_plain, _ = augmenter.sample_train_local(
        benchmark("plus"), 10, nuisance_score=False, random_state=4
    )
    assert t_plain.shape == (10, 1)


def test_nuisance_columns_of_theta_as_madminer(nuisance_toy):
    """As in MadMiner 0.9.6: when some nu of a call is not nominal, every theta array of that call gets
    the nuisance columns (zeros where nominal); with only nominal nus, none does."""
    path, _ = nuisance_toy
    augmenter = SampleAugmenter(path)
    _, theta0, theta1, *_ = augmenter.sample_train_ratio(
        benchmark("plus"), benchmark("sm"), 200, nu0=iid_nuisance_parameters(), random_state=1
    )
    assert theta0.shape == theta1.shape == (200, 2)
    assert np.all(theta1[:, 1] == 0.0)
    assert theta0[0, 1] != 0.0 and np.all(theta0[:, 1] == theta0[0, 1])  # one nu drawn for the one point
    _, theta0, theta1, *_ = augmenter.sample_train_ratio(
        benchmark("plus"), benchmark("sm"), 200, nu0=nominal_nuisance_parameters(), random_state=1
    )
    assert theta0.shape == theta1.shape == (200, 1)
    _, theta, _ = augmenter.sample_train_plain(benchmark("sm"), 50, nu=nominal_nuisance_parameters())
    assert theta.shape == (50, 1)
    _, theta, _ = augmenter.sample_train_plain(benchmark("sm"), 50, nu=iid_nuisance_parameters())
    assert theta.shape == (50, 2)
    thetas, _, _ = augmenter.cross_sections(benchmark("sm"), nu=iid_nuisance_parameters())
    assert thetas.shape == (1, 2)


def test_scores_from_finite_differences(tmp_path):
    miner = MadMiner()
    miner.add_parameter("BLOCK", 1, parameter_name="theta", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    miner.add_benchmark({"theta": 0.0}, "sm")
    miner.finite_differences(epsilon=0.01)
    miner.save(tmp_path / "setup.h5")
    x = np.random.default_rng(3).random(5000)
    weights = np.stack([_weights(x, 0.0), _weights(x, 0.01)], axis=1)
    with fileformat.atomic_h5(tmp_path / "events.h5", copy_from=tmp_path / "setup.h5") as handle:
        fileformat.write_observables(handle, ["x"], ["x"])
        fileformat.create_sample_datasets(handle, 1, 2)
        fileformat.append_samples(handle, x[:, None], weights, np.zeros(5000, dtype=int))
        fileformat.write_sample_summary(handle, [5000, 0], 0)
    augmenter = SampleAugmenter(tmp_path / "events.h5")
    samples, _, t_xz, _ = augmenter.sample_train_local(benchmark("sm"), 1000, partition="all", random_state=1,
                                                       double_precision=True)  # fmt: skip
    finite_difference = (1 + 0.01 * samples[:, 0]) ** 2 - 1
    mean_difference = np.mean((1 + 0.01 * x) ** 2 - 1)
    np.testing.assert_allclose(
        t_xz[:, 0], (finite_difference - mean_difference) / 0.01, rtol=1e-9, atol=1e-12
    )
    with pytest.raises(SetupError, match="morphing"):
        augmenter.sample_train_local(morphing_point([0.3]), 10)


def test_priors_and_individual_effective_sizes(toy):
    path, _ = toy
    augmenter = SampleAugmenter(path)
    _, thetas, _ = augmenter.sample_train_plain(
        random_morphing_points(None, [("gaussian", 0.2, 0.3)]), 4000, random_state=9, double_precision=True
    )
    assert len(np.unique(thetas)) == 4000  # one point per sample
    assert abs(thetas.mean() - 0.2) < 4 * 0.3 / np.sqrt(4000) and abs(thetas.std() - 0.3) < 0.02
    out = augmenter.sample_train_ratio(
        morphing_points([[0.5], [-0.5], [0.1]]), benchmark("sm"), 600, return_individual_n_effective=True,
        random_state=1,
    )  # fmt: skip
    assert out[-1].shape == (600,) and np.all(out[-1] > 1000)  # one value per sample, as MadMiner


def test_memory_does_not_grow_with_the_file(tmp_path):
    import tracemalloc

    peaks = []
    for n_events in (300_000, 1_200_000):
        path, _ = _make_file(tmp_path / f"events_{n_events}.h5", n_events)
        augmenter = SampleAugmenter(path)
        tracemalloc.start()
        augmenter.sample_train_ratio(morphing_points([[0.3], [-0.2]]), benchmark("sm"), 2000, random_state=1)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.3 * peaks[0]  # 4x the events, the same peak (batches of 10^5 events)


def test_two_parameters_exact(tmp_path):
    """Weights c (1 + t1 x1 + t2 x2)^2 at 6 benchmarks of a quadratic morphing basis."""
    miner = MadMiner()
    miner.add_parameter("BLOCK", 1, parameter_name="t1", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    miner.add_parameter("BLOCK", 2, parameter_name="t2", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    miner.add_benchmark({"t1": 0.0, "t2": 0.0}, "sm")
    miner.set_morphing(include_existing_benchmarks=True, max_overall_power=2, random_state=3)
    miner.save(tmp_path / "setup.h5")
    setup = fileformat.read_setup(tmp_path / "setup.h5")
    values = np.array([[b.values["t1"], b.values["t2"]] for b in setup.benchmarks.values()])
    x = np.random.default_rng(8).uniform(-1, 1, size=(20_000, 2))
    weights = SCALE * (1 + x @ values.T) ** 2
    with fileformat.atomic_h5(tmp_path / "events.h5", copy_from=tmp_path / "setup.h5") as handle:
        fileformat.write_observables(handle, ["x1", "x2"], ["x1", "x2"])
        fileformat.create_sample_datasets(handle, 2, 6)
        fileformat.append_samples(handle, x, weights, np.zeros(len(x), dtype=int))
        fileformat.write_sample_summary(handle, [len(x)] + [0] * 5, 0)
    augmenter = SampleAugmenter(tmp_path / "events.h5")
    theta = np.array([0.4, -0.7])
    train = x[:12_000]
    w_train = SCALE * (1 + train @ theta) ** 2
    np.testing.assert_allclose(augmenter.xsecs([theta])[0], SCALE * np.sum((1 + x @ theta) ** 2), rtol=1e-11)
    samples, _, t_xz, _ = augmenter.sample_train_local(morphing_point(theta), 3000, random_state=2,
                                                       double_precision=True)  # fmt: skip
    gradient_sigma = np.sum(SCALE * 2 * train * (1 + train @ theta)[:, None], axis=0) / w_train.sum()
    expected = 2 * samples / (1 + samples @ theta)[:, None] - gradient_sigma
    np.testing.assert_allclose(t_xz, expected, rtol=1e-8, atol=1e-9)
    # the samples follow p(x|theta): their means agree with the weighted means of the events
    weighted_mean = (w_train[:, None] * train).sum(axis=0) / w_train.sum()
    error = samples.std(axis=0) / np.sqrt(len(samples))
    assert np.all(np.abs(samples.mean(axis=0) - weighted_mean) < 4 * error)
    assert np.all(np.abs(weighted_mean) > 10 * error)  # and differ clearly from the flat x


def _n_effective(train, theta):
    """Independent effective sample size of p(x|theta) on the train events: 1 / max_x p(x|theta)."""
    weights = _weights(train, np.asarray(theta, dtype=np.float64)[..., None])
    return weights.sum(axis=-1) / weights.max(axis=-1)


def test_individual_n_effective_one_value_per_sample_aligned_with_x(toy, tmp_path):
    """MadMiner 0.9.6: float64 (n_samples,), shuffled with x; each sample carries the n_eff of the
    distribution it was drawn from (theta0 for y = 0, theta1 for y = 1); not saved to disk."""
    path, x = toy
    train = _train_x(x)
    augmenter = SampleAugmenter(path)
    arguments = (morphing_points([[0.5], [-0.5], [0.1]]), benchmark("sm"), 601)
    out = augmenter.sample_train_ratio(
        *arguments, return_individual_n_effective=True, random_state=3, double_precision=True,
        folder=tmp_path, filename="train",
    )  # fmt: skip
    samples, theta0, theta1, y, _, _, n_effective = out
    assert isinstance(n_effective, np.ndarray) and n_effective.dtype == np.float64
    assert n_effective.shape == (601,) == samples.shape[:1] and y.shape == (601, 1)
    assert (y[:, 0] == 0).sum() == 300 and not np.all(np.diff(y[:, 0]) >= 0)  # both halves, shuffled
    # alignment: every sample has the n_eff of its own sampling point, recomputed from the weights
    sampling_theta = np.where(y[:, 0] == 0, theta0[:, 0], theta1[:, 0])
    np.testing.assert_allclose(n_effective, _n_effective(train, sampling_theta), rtol=1e-10)
    # MadMiner's tutorial: the numerator half, indexed with the flattened labels
    cut = y.flatten() == 0
    assert n_effective[cut].shape == (300,)
    per_theta = {
        float(t): set(n_effective[cut & (theta0[:, 0] == t)].tolist()) for t in np.unique(theta0[cut])
    }
    assert sorted(per_theta) == [-0.5, 0.1, 0.5]
    for theta, values in per_theta.items():
        assert len(values) == 1  # one value per parameter point
        assert values.pop() == pytest.approx(_n_effective(train, theta), rel=1e-10)
    np.testing.assert_allclose(n_effective[y[:, 0] == 1], _n_effective(train, 0.0), rtol=1e-10)
    # the default is the smallest of them, and the flag changes nothing else
    default = augmenter.sample_train_ratio(*arguments, random_state=3, double_precision=True)
    assert isinstance(default[-1], float) and default[-1] == pytest.approx(n_effective.min(), rel=1e-12)
    for a, b in zip(out[:6], default[:6], strict=True):
        np.testing.assert_array_equal(a, b)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"{prefix}_train.npy" for prefix in sorted(("r_xz", "t_xz", "theta0", "theta1", "x", "y"))
    ]


def test_individual_n_effective_with_random_points_and_nuisance_parameters(toy, nuisance_toy):
    path, x = toy
    train = _train_x(x)
    augmenter = SampleAugmenter(path)
    *_, theta0, theta1, y, _, _, n_effective = augmenter.sample_train_ratio(
        morphing_point([0.3]), random_morphing_points(40, [("flat", -1.0, 1.0)]), 2000,
        return_individual_n_effective=True, random_state=7, double_precision=True,
    )  # fmt: skip
    assert n_effective.shape == (2000,) and len(np.unique(theta1[y[:, 0] == 1])) == 40
    sampling_theta = np.where(y[:, 0] == 0, theta0[:, 0], theta1[:, 0])
    np.testing.assert_allclose(n_effective, _n_effective(train, sampling_theta), rtol=1e-10)
    # with nuisance parameters: one value per sampling point (theta, nu), still aligned with x
    augmenter = SampleAugmenter(nuisance_toy[0])
    *_, theta0, _, y, _, _, n_effective = augmenter.sample_train_ratio(
        morphing_point([0.3]), benchmark("sm"), 400, nu0=iid_nuisance_parameters("gaussian", 0.0, 1.0),
        return_individual_n_effective=True, random_state=2, double_precision=True,
    )  # fmt: skip
    assert n_effective.shape == (400,) and theta0.shape == (400, 2)
    numerator = y[:, 0] == 0
    nuisance_train = _train_x(nuisance_toy[1])
    for nu in np.unique(theta0[numerator, 1])[:5]:
        values = np.unique(n_effective[numerator & (theta0[:, 1] == nu)])
        weights = _weights(nuisance_train, 0.3) * np.exp(0.2 * nuisance_train * nu)
        np.testing.assert_allclose(values, weights.sum() / weights.max(), rtol=1e-9)
