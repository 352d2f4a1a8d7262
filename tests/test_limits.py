"""AsymptoticLimits against closed forms.

The toy of tests/test_fisher_information.py: one parameter, dsigma/dx = c (1 + theta x)^2 on
x in [-1, 1] (c = 1/2, sigma(0) = 1 pb), "events" at Gauss-Legendre nodes (3 per segment of 64)
with their quadrature weights, so that sums over events or over bins made of whole segments are
exact integrals. Optionally a normalisation nuisance parameter (+1 benchmark: weights x 1.1).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from scipy import integrate, optimize
from scipy.special import gammaln
from scipy.stats import chi2

from conftest import write_events_file
from motherlode import MadMiner
from motherlode.errors import InputError, SetupError
from motherlode.fisherinformation import FisherInformation
from motherlode.limits import AsymptoticLimits
from motherlode.ml import ParameterizedRatioEstimator, ScoreEstimator

C = 0.5
N_SEGMENTS = 64
BASIS = {"sm": 0.0, "m": -1.0, "p": 1.0}
NORM = 1.1  # the nuisance benchmark's weights are the SM weights times this


def _nodes(copies: int = 1) -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.legendre.leggauss(3)
    edges = np.linspace(-1.0, 1.0, N_SEGMENTS + 1)
    half = np.diff(edges) / 2
    centres = (edges[1:] + edges[:-1]) / 2
    x = (centres[:, None] + half[:, None] * nodes[None, :]).reshape(-1)
    q = (half[:, None] * weights[None, :]).reshape(-1)
    return np.tile(x, copies), np.tile(q, copies) / copies


def _toy_file(tmp_path, nuisance: bool = False, copies: int = 1, dummies: int = 0):
    """The toy events file; ``dummies`` zero-weight events go before the last copy of the nodes."""
    miner = MadMiner()
    miner.add_parameter("BLOCK", 1, parameter_name="theta", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    for name, value in BASIS.items():
        miner.add_benchmark({"theta": value}, name)
    miner.set_morphing(include_existing_benchmarks=True, max_overall_power=2)
    miner.save(tmp_path / "setup.h5")
    x, q = _nodes(copies)
    if dummies:
        cut = len(x) - len(x) // copies
        x, q = np.insert(x, cut, np.zeros(dummies)), np.insert(q, cut, np.zeros(dummies))
    weights = np.stack([C * q * (1 + value * x) ** 2 for value in BASIS.values()], axis=1)
    names = None
    if nuisance:
        weights = np.concatenate([weights, NORM * weights[:, :1]], axis=1)
        names = ("nu_up", None)
    return write_events_file(
        tmp_path / f"events_{nuisance}_{copies}.h5", tmp_path / "setup.h5", x, weights,
        np.zeros(len(x), dtype=int), [len(x), 0, 0], nuisance=names,
    )  # fmt: skip


def _sigma(theta, lo=-1.0, hi=1.0):
    theta = np.asarray(theta, dtype=np.float64)[..., None]
    return C * ((hi - lo) + theta * (hi**2 - lo**2) + theta**2 * (hi**3 - lo**3) / 3)


def _poisson(n, mu):
    return n * np.log(mu) - mu - gammaln(n + 1.0)


@pytest.fixture
def toy(tmp_path):
    return AsymptoticLimits(_toy_file(tmp_path))


# ---------------------------------------------------------------------------- rate


def test_rate_mode_equals_the_poisson_closed_form(toy):
    luminosity, theta_true = 100.0, 0.5
    grid, p_values, i_ml, log_kin, log_rate, histos = toy.expected_limits(
        "rate", [theta_true], grid_ranges=[(-1.0, 1.0)], grid_resolutions=21, luminosity=luminosity
    )
    assert grid.shape == (21, 1) and log_kin == 0.0 and histos is None
    n = luminosity * _sigma(theta_true)[0]
    log_l = _poisson(n, luminosity * _sigma(grid[:, 0])[:, 0])
    np.testing.assert_allclose(log_rate, log_l, rtol=1e-10)
    expected = chi2.sf(-2 * (log_l - log_l.max()), 1)
    np.testing.assert_allclose(p_values, expected, rtol=1e-9, atol=1e-6)  # sf is steep at q = 0
    assert abs(grid[i_ml, 0]) == pytest.approx(theta_true)  # sigma is even in theta
    # observed: n_observed events
    _, p_obs, _, _, log_rate_obs, _ = toy.observed_limits(
        "rate", np.zeros((80, 1)), thetas_eval=grid, luminosity=luminosity, dof=2
    )
    log_l = _poisson(80.0, luminosity * _sigma(grid[:, 0])[:, 0])
    np.testing.assert_allclose(log_rate_obs, log_l, rtol=1e-10)
    np.testing.assert_allclose(p_obs, chi2.sf(-2 * (log_l - log_l.max()), 2), rtol=1e-9, atol=1e-6)


# ---------------------------------------------------------------------------- histograms


def _binned_log_likelihood(thetas, theta_true, edges, luminosity, include_xsec=True):
    """Exact binned Poisson log likelihood (shape + rate) of the Asimov data of theta_true."""
    mu = luminosity * _sigma(thetas, edges[:-1], edges[1:])  # (J, n_bins)
    n_b = luminosity * _sigma(theta_true, edges[:-1], edges[1:])
    shape = np.sum(n_b * np.log(mu / mu.sum(axis=1, keepdims=True)), axis=1)
    rate = _poisson(n_b.sum(), mu.sum(axis=1))
    return shape + (rate if include_xsec else 0.0)


@pytest.mark.parametrize("include_xsec", [True, False])
def test_histo_mode_equals_the_exact_binned_likelihood(tmp_path, include_xsec):
    limits = AsymptoticLimits(_toy_file(tmp_path))
    edges = np.linspace(-1.0, 1.0, 17)
    luminosity, theta_true = 50.0, 0.3
    grid, p_values, i_ml, log_kin, _, histos = limits.expected_limits(
        "histo", [theta_true], grid_ranges=[(-0.9, 0.9)], grid_resolutions=19, hist_vars=["x"],
        hist_bins=[edges], luminosity=luminosity, include_xsec=include_xsec, test_split=0.0,
    )  # fmt: skip
    exact = _binned_log_likelihood(grid[:, 0], theta_true, edges, luminosity, include_xsec)
    np.testing.assert_allclose(p_values, chi2.sf(-2 * (exact - exact.max()), 1), rtol=1e-8, atol=1e-12)
    assert grid[i_ml, 0] == pytest.approx(theta_true)  # Asimov best fit at theta_true
    assert len(histos) == 19 and histos[0].n_bins == [16]
    # the histograms are densities of the morphed templates
    density = _sigma(grid[4, 0], edges[:-1], edges[1:]) / _sigma(grid[4, 0])[0] / np.diff(edges)
    np.testing.assert_allclose(histos[4].histo, density, rtol=1e-9)
    assert log_kin.shape == (19,)


def test_histo_observed_limits_count_the_events(tmp_path):
    limits = AsymptoticLimits(_toy_file(tmp_path))
    edges = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    x_observed = np.array([[-0.9], [-0.2], [0.1], [0.2], [0.7], [0.8], [1.5]])  # 1.5: in the last bin
    grid, _, _, log_kin, _, (histos, observed, weights) = limits.observed_limits(
        "histo", x_observed, thetas_eval=np.array([[-0.5], [0.0], [0.5]]), hist_vars=["x"],
        hist_bins=[edges], luminosity=10.0, include_xsec=False, test_split=0.0, return_observed=True,
    )  # fmt: skip
    counts = np.array([1, 1, 2, 3])
    sigma_b = _sigma(grid[:, 0], edges[:-1], edges[1:])
    reference = _sigma(0.0, edges[:-1], edges[1:])  # the kinematic term is a ratio to thetaref = 0
    exact = np.sum(
        counts * np.log(sigma_b / sigma_b.sum(axis=1, keepdims=True) / (reference / reference.sum())), axis=1
    )
    np.testing.assert_allclose(log_kin, exact, rtol=1e-9)
    assert observed.shape == (3, 7, 1) and weights.shape == (7,) and len(histos) == 3


def test_histo_and_rate_match_the_fisher_information_near_the_sm(tmp_path):
    path = _toy_file(tmp_path)
    limits = AsymptoticLimits(path)
    luminosity = 2000.0
    thetas = np.linspace(-0.03, 0.03, 7)[:, None]
    _, _, _, log_kin, log_rate, _ = limits.expected_limits(
        "histo", [0.0], thetas_eval=thetas, hist_vars=["x"], hist_bins=[np.linspace(-1, 1, 9)],
        luminosity=luminosity, test_split=0.0,
    )  # fmt: skip
    q = -2 * (log_kin + log_rate - (log_kin + log_rate)[3])
    info, _ = FisherInformation(path).histo_information(
        np.array([0.0]), luminosity, "x", 8, histrange=(-1, 1)
    )
    np.testing.assert_allclose(q, info[0, 0] * thetas[:, 0] ** 2, rtol=0.03, atol=1e-9)


class _ExactScore(ScoreEstimator):
    """The exact score at theta = 0 of the toy: t(x) = 2 x."""

    def __init__(self, n_parameters: int = 1) -> None:
        super().__init__()
        self.n_parameters, self.n_observables = n_parameters, 1

    def evaluate_score(self, x, theta=None, nuisance_mode="auto"):
        return np.repeat(2.0 * np.asarray(x)[:, :1], self.n_parameters, axis=1)


def test_sally_with_the_exact_score_equals_histo(tmp_path):
    limits = AsymptoticLimits(_toy_file(tmp_path))
    edges = np.linspace(-1.0, 1.0, 9)
    common = {"theta_true": [0.2], "grid_ranges": [(-1.0, 1.0)], "grid_resolutions": 11, "luminosity": 30.0}
    common["test_split"] = 0.0
    histo = limits.expected_limits("histo", hist_vars=["x"], hist_bins=[edges], **common)
    sally = limits.expected_limits("sally", model_file=_ExactScore(), hist_bins=[2 * edges], **common)
    sallino = limits.expected_limits("sallino", model_file=_ExactScore(), hist_bins=[2 * edges], **common)
    np.testing.assert_allclose(sally[1], histo[1], rtol=1e-10)
    # sallino in one dimension: h = t sign(theta), the same likelihood up to the mirrored bins
    np.testing.assert_allclose(sallino[1], histo[1], rtol=1e-8)
    # adaptive bins (25 equal-weight bins) also give a best fit at theta_true
    adaptive = limits.expected_limits("sally", model_file=_ExactScore(), **common)
    assert adaptive[0][adaptive[2], 0] == pytest.approx(0.2)


def _two_parameter_file(tmp_path, n_events: int = 3000):
    """Two parameters, quadratic morphing; x ~ U(-1, 1)^2 with weights (1 + theta . x)^2 / n."""
    from motherlode import fileformat

    miner = MadMiner()
    for i in (1, 2):
        miner.add_parameter(
            "BLOCK", i, parameter_name=f"theta{i}", morphing_max_power=2, parameter_range=(-1.0, 1.0)
        )
    miner.add_benchmark({"theta1": 0.0, "theta2": 0.0}, "sm")
    miner.set_morphing(include_existing_benchmarks=True, max_overall_power=2, random_state=1)
    miner.save(tmp_path / "setup2.h5")
    setup = fileformat.read_setup(tmp_path / "setup2.h5")
    setup.benchmarks["sm"].is_reference = True
    values = np.array([[b.values["theta1"], b.values["theta2"]] for b in setup.benchmarks.values()])
    x = np.random.default_rng(5).uniform(-1.0, 1.0, size=(n_events, 2))
    path = tmp_path / "events2.h5"
    with fileformat.atomic_h5(path, copy_from=tmp_path / "setup2.h5") as handle:
        fileformat.write_setup(handle, setup)
        fileformat.write_observables(handle, ["x1", "x2"], ["x1", "x2"])
        fileformat.create_sample_datasets(handle, 2, len(values))
        fileformat.append_samples(
            handle, x, (1.0 + x @ values.T) ** 2 / n_events, np.zeros(n_events, dtype=int)
        )
        fileformat.write_sample_summary(handle, [n_events] + [0] * (len(values) - 1), 0)
    return path


@pytest.mark.parametrize(
    ("mode", "n_binning_toys"), [("sallino", None), ("adaptive-sally", None), ("sallino", 1000)]
)
def test_per_point_adaptive_templates_equal_a_direct_computation(tmp_path, mode, n_binning_toys):
    """One adaptive binning per grid point (the default for these modes): every template equals
    the plain computation at that point (the statistic of its direction, weighted quantiles of the
    point's weights, a fill), though opposite directions share one sort of the statistic (ties:
    tests/test_histograms.py). With ``n_binning_toys``, the first events place the bins and the
    others are streamed in."""
    from motherlode.histograms import BinnedWeights as Fill
    from motherlode.histograms import quantile_edges

    path = _two_parameter_file(tmp_path)
    limits = AsymptoticLimits(path)
    model = _ExactScore(n_parameters=2)
    model.n_observables = 2
    model.evaluate_score = lambda x, theta=None, nuisance_mode="auto": 2.0 * np.asarray(x)[:, :2]
    thetaref = np.array([0.25, -0.25])  # opposite directions: (0, 0) and (0.5, -0.5), ...
    grid_kwargs = {"grid_ranges": [(-1.0, 1.0), (-1.0, 1.0)], "grid_resolutions": [5, 5]}
    thetas, _, _, _, _, histos = limits.expected_limits(
        mode, [0.0, 0.0], model_file=model, thetaref=thetaref, luminosity=100.0, test_split=0.0,
        return_histos=True, n_binning_toys=n_binning_toys, **grid_kwargs,
    )  # fmt: skip
    x, weights = next(limits.event_loader(batch_size=None))
    score = 2.0 * x
    bins = [25] if mode == "sallino" else [15, 5]
    for j, theta in enumerate(thetas):
        delta = theta - thetaref
        u = delta / np.linalg.norm(delta)
        if mode == "sallino":
            values = (score @ u)[:, None]
        else:
            values = score @ np.array([[u[0], -u[1]], [u[1], u[0]]])
        row = limits.parameter_points(theta[None, :]).matrices[0]
        pilot = slice(0, n_binning_toys)
        edges = [quantile_edges(values[pilot, i], b, weights[pilot] @ row) for i, b in enumerate(bins)]
        fill = Fill([e[1:-1] for e in edges], weights.shape[1], closed="left").fill(
            values if len(bins) > 1 else values[:, 0], weights
        )
        template = fill.sums.reshape(-1, weights.shape[1]) @ row
        volumes = np.prod(np.meshgrid(*[np.diff(e) for e in edges], indexing="ij"), axis=0).ravel()
        for got, expected in zip(histos[j].edges, edges, strict=True):
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
        inner = np.ones_like(volumes, dtype=bool).reshape([len(e) - 1 for e in edges])
        for axis in range(len(edges)):  # the outer bins' widths are capped: compare the inner ones
            index = [slice(None)] * len(edges)
            index[axis] = [0, -1]
            inner[tuple(index)] = False
        density = template / template.sum() / volumes
        np.testing.assert_allclose(
            histos[j].histo.ravel()[inner.ravel()], density[inner.ravel()], rtol=1e-9, atol=1e-10
        )  # (+ 1e-12 in empty bins)


# ---------------------------------------------------------------------------- ml


class _ExactRatio(ParameterizedRatioEstimator):
    """log r(x|theta) = log p(x|theta) - log p(x|0) of the toy, exactly."""

    def __init__(self, n_observables: int = 1) -> None:
        super().__init__()
        self.n_parameters, self.n_observables = 1, n_observables

    def evaluate_log_likelihood_ratio(self, x, theta, test_all_combinations=True, evaluate_score=False):
        x = np.asarray(x)[:, 0]
        theta = np.asarray(theta)[:, :1]
        log_p = np.log((1 + theta * x[None, :]) ** 2 / (2 * _sigma(theta[:, 0])))
        return log_p - np.log(1 / (2 * _sigma(0.0)[0])), None


def test_ml_mode_with_an_exact_ratio_reproduces_the_likelihood(tmp_path):
    # two copies of the nodes: the test partition (test_split=0.5) is one full copy
    limits = AsymptoticLimits(_toy_file(tmp_path, copies=2))
    luminosity, theta_true = 40.0, 0.4
    grid, _, i_ml, log_kin, _, _ = limits.expected_limits(
        "ml", [theta_true], grid_ranges=[(-0.8, 0.8)], grid_resolutions=9, model_file=_ExactRatio(),
        luminosity=luminosity, include_xsec=False, test_split=0.5,
    )  # fmt: skip
    n = luminosity * _sigma(theta_true)[0]

    def expected(theta):
        density = lambda x, t: (1 + t * x) ** 2 / (2 * _sigma(t)[0])  # noqa: E731
        value = integrate.quad(lambda x: density(x, theta_true) * np.log(density(x, theta)), -1, 1)[0]
        return n * value

    exact = np.array([expected(t) for t in grid[:, 0]])
    np.testing.assert_allclose(log_kin - log_kin[4], exact - exact[4], rtol=1e-6, atol=1e-8)
    assert grid[i_ml, 0] == pytest.approx(theta_true)


class _MisnormalisedRatio(_ExactRatio):
    """The exact log r plus a theta-dependent constant: a network whose normalisation is off."""

    def evaluate_log_likelihood_ratio(self, x, theta, test_all_combinations=True, evaluate_score=False):
        log_r, _ = super().evaluate_log_likelihood_ratio(x, theta, test_all_combinations, evaluate_score)
        return log_r + 0.3 * np.asarray(theta)[:, :1], None


def test_ml_expected_limits_normalise_the_estimated_density(tmp_path):
    """Expected limits normalise r under the Asimov model: a log r off by a theta-dependent
    constant (0.3 theta) gives the exact likelihood and the best fit at theta_true, while
    the raw sum (what observed limits use, as MadMiner) moves it by several grid points."""
    limits = AsymptoticLimits(_toy_file(tmp_path, copies=2))
    common = {"grid_ranges": [(-0.8, 0.8)], "grid_resolutions": 17, "luminosity": 2000.0, "test_split": 0.5}
    common["include_xsec"] = False
    exact = limits.expected_limits("ml", [0.4], model_file=_ExactRatio(), **common)
    biased = limits.expected_limits("ml", [0.4], model_file=_MisnormalisedRatio(), **common)
    np.testing.assert_allclose(biased[1], exact[1], rtol=1e-9, atol=1e-12)
    assert exact[0][biased[2], 0] == pytest.approx(0.4)
    # the raw sum: the same events as observed data (weights at theta_true), no normalisation
    x, weights = limits._asimov_events(np.array([0.4]), 0.5, True, None)
    raw = _MisnormalisedRatio().evaluate_log_likelihood_ratio(x, exact[0])[0] @ weights
    raw_exact = _ExactRatio().evaluate_log_likelihood_ratio(x, exact[0])[0] @ weights
    assert exact[0][np.argmax(raw_exact), 0] == pytest.approx(0.4)
    assert abs(exact[0][np.argmax(raw), 0] - 0.4) >= 0.2


def test_ml_mode_with_a_trained_alices_on_the_gaussian_toy(toy, one_torch_thread):
    """ALICES trained on MadMiner's toy simulator (p(x|theta) = N(x; theta, sqrt 5), as in
    test_ml_ratio.py); the observed 68 % interval agrees with the exact one within 5 % of its width
    (plus the grid step). The events file only supplies the parameter and observable names. (A smaller
    network on 5000 samples moves the best fit by up to 0.12 from one training seed to the next; this
    one by at most 0.02 over six seeds.)"""
    import torch

    from test_ml_ratio import simulate_toy

    rng = np.random.default_rng(0)
    data = simulate_toy(20000, rng)
    torch.manual_seed(0)
    estimator = ParameterizedRatioEstimator(n_hidden=(50, 50))
    estimator.train(
        "alices", **{k: data[k] for k in ("x", "y", "theta", "r_xz", "t_xz")}, n_epochs=30,
        verbose="none", device="cpu", n_workers=0,
    )  # fmt: skip
    x_observed = rng.normal(0.5, np.sqrt(5.0), 400)[:, None]
    grid, p_values, _, _, _, _ = toy.observed_limits(
        "ml", x_observed, grid_ranges=[(-1.0, 1.0)], grid_resolutions=201, model_file=estimator,
        include_xsec=False,
    )  # fmt: skip
    exact = -np.sum((x_observed[:, 0][None, :] - grid) ** 2, axis=1) / 10.0
    p_exact = chi2.sf(-2 * (exact - exact.max()), 1)
    ours, theirs = grid[p_values > 0.3173, 0], grid[p_exact > 0.3173, 0]
    width = theirs.max() - theirs.min()
    assert abs(ours.min() - theirs.min()) <= 0.05 * width + 0.01
    assert abs(ours.max() - theirs.max()) <= 0.05 * width + 0.01


def test_estimators_that_do_not_fit_are_refused(toy):
    common = {"theta_true": [0.0], "grid_ranges": [(-1.0, 1.0)], "grid_resolutions": 5}
    with pytest.raises(SetupError, match="2 input observables"):
        toy.expected_limits("ml", model_file=_ExactRatio(n_observables=2), **common)
    with pytest.raises(SetupError, match="parameterized_ratio or likelihood"):
        toy.expected_limits("ml", model_file=_ExactScore(), **common)
    with pytest.raises(SetupError, match="2 parameters"):
        toy.expected_limits("sally", model_file=_ExactScore(n_parameters=2), **common)
    with pytest.raises(InputError, match="needs model_file"):
        toy.expected_limits("sally", **common)
    with pytest.raises(InputError, match="hist_vars"):
        toy.expected_limits("histo", **common)
    with pytest.raises(InputError, match="unknown mode"):
        toy.expected_limits("magic", **common)
    with pytest.raises(InputError, match="grid_ranges"):
        toy.expected_limits("rate", theta_true=[0.0], grid_ranges=None)


def test_a_grid_outside_the_morphing_range_warns(toy, caplog):
    with caplog.at_level(logging.WARNING, logger="motherlode.limits.asymptotic_limits"):
        toy.expected_limits("rate", [0.0], grid_ranges=[(-3.0, 3.0)], grid_resolutions=7)
    assert "outside the morphing range" in caplog.text


# ---------------------------------------------------------------------------- nuisance parameters


def test_profiled_rate_interval_equals_the_closed_form(tmp_path):
    path = _toy_file(tmp_path, nuisance=True)
    limits = AsymptoticLimits(path, include_nuisance_parameters=True)
    luminosity, theta_true = 200.0, 0.5
    grid, p_values, _, _, log_rate, _ = limits.expected_limits(
        "rate", [theta_true], grid_ranges=[(0.0, 1.5)], grid_resolutions=31, luminosity=luminosity
    )
    a, n = np.log(NORM), luminosity * _sigma(theta_true)[0]
    expected = []
    for s in luminosity * _sigma(grid[:, 0])[:, 0]:
        nu = optimize.brentq(lambda v, s=s: n * a - a * s * np.exp(a * v) - v, -10, 10)
        expected.append(_poisson(n, s * np.exp(a * nu)) - 0.5 * nu**2)
    expected = np.array(expected)
    np.testing.assert_allclose(log_rate, expected, rtol=1e-8)
    np.testing.assert_allclose(p_values, chi2.sf(-2 * (expected - expected.max()), 1), rtol=1e-6, atol=1e-12)
    # profiling widens the interval: q is smaller than without the nuisance parameter
    _, p_fixed, _, _, _, _ = AsymptoticLimits(path).expected_limits(
        "rate", [theta_true], grid_ranges=[(0.0, 1.5)], grid_resolutions=31, luminosity=luminosity
    )
    assert np.all(p_values >= p_fixed - 1e-12) and np.any(p_values > p_fixed + 1e-3)
    assert limits.profiled_nuisance_parameters.shape == (31, 1)


def test_profiled_histo_with_a_norm_systematic_keeps_the_shape_information(tmp_path):
    path = _toy_file(tmp_path, nuisance=True)
    common = {
        "theta_true": [0.3], "grid_ranges": [(-0.9, 0.9)], "grid_resolutions": 19, "hist_vars": ["x"],
        "hist_bins": [np.linspace(-1, 1, 9)], "luminosity": 50.0, "test_split": 0.0,
    }  # fmt: skip
    profiled = AsymptoticLimits(path, include_nuisance_parameters=True).expected_limits("histo", **common)
    nominal = AsymptoticLimits(path).expected_limits("histo", **common)
    # a normalisation uncertainty leaves the shape term untouched
    shape_only = AsymptoticLimits(path, include_nuisance_parameters=True).expected_limits(
        "histo", include_xsec=False, **common
    )
    nominal_shape = AsymptoticLimits(path).expected_limits("histo", include_xsec=False, **common)
    np.testing.assert_allclose(shape_only[1], nominal_shape[1], rtol=1e-8)
    assert profiled[0][profiled[2], 0] == pytest.approx(0.3)
    assert np.all(profiled[1] >= nominal[1] - 1e-9)


SHAPE = 0.3  # the shape systematic's benchmark has the SM weights times exp(SHAPE x)


def _shape_file(tmp_path, copies: int = 1):
    """The toy with a one-sided shape systematic: every event's weight at (theta, nu) is its weight
    at theta times exp(SHAPE nu x)."""
    miner = MadMiner()
    miner.add_parameter("BLOCK", 1, parameter_name="theta", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    for name, value in BASIS.items():
        miner.add_benchmark({"theta": value}, name)
    miner.set_morphing(include_existing_benchmarks=True, max_overall_power=2)
    miner.save(tmp_path / "setup.h5")
    x, q = _nodes(copies)
    weights = np.stack([C * q * (1 + value * x) ** 2 for value in BASIS.values()], axis=1)
    weights = np.concatenate([weights, (weights[:, 0] * np.exp(SHAPE * x))[:, None]], axis=1)
    path = write_events_file(
        tmp_path / f"shape_{copies}.h5", tmp_path / "setup.h5", x, weights, np.zeros(len(x), dtype=int),
        [len(x), 0, 0], nuisance=("nu_up", None),
    )  # fmt: skip
    return path, x, weights


def test_profiled_histo_with_a_shape_systematic_maximises_the_binned_likelihood(tmp_path):
    """A one-sided shape systematic (+1 benchmark: weights x exp(0.3 x)): each bin scales as
    exp(a_b nu) with a_b from its bin sums; the profile is checked against scipy at every point."""
    path, x, weights = _shape_file(tmp_path)
    edges = np.linspace(-1.0, 1.0, 5)
    luminosity, theta_true = 40.0, 0.2
    grid, _, _, log_kin, log_rate, _ = AsymptoticLimits(path, True).expected_limits(
        "histo", [theta_true], grid_ranges=[(-0.8, 0.8)], grid_resolutions=9, hist_vars=["x"],
        hist_bins=[edges], luminosity=luminosity, test_split=0.0,
    )  # fmt: skip
    cell = np.searchsorted(edges[1:-1], x, side="right")
    sums = np.stack([np.bincount(cell, weights=w, minlength=4) for w in weights.T], axis=1)  # (4, 4)
    a = np.log(sums[:, 3] / sums[:, 0])
    morphing = AsymptoticLimits(path, True).parameter_points(grid).matrices[:, :3]
    n_b = luminosity * sums[:, :3] @ np.array([1 - theta_true**2, theta_true * (theta_true - 1) / 2,
                                              theta_true * (theta_true + 1) / 2])  # fmt: skip
    expected = []
    for row in morphing:
        mu = luminosity * sums[:, :3] @ row

        def minus_log_l(nu, mu=mu):
            mu_nu = mu * np.exp(a * nu)
            return -(np.sum(n_b * np.log(mu_nu) - mu_nu) - 0.5 * nu**2)

        expected.append(-optimize.minimize_scalar(minus_log_l, bounds=(-5, 5), method="bounded",
                                                  options={"xatol": 1e-10}).fun)  # fmt: skip
    expected = np.array(expected)
    ours = log_kin + log_rate
    np.testing.assert_allclose(ours - ours.max(), expected - expected.max(), atol=1e-6)


class _ExactRatioWithNuisance(ParameterizedRatioEstimator):
    """log r(x|theta, nu) = log p(x|theta, nu) - log p(x|0, 0) of the shape-systematic toy, exactly:
    p(x|theta, nu) = (1 + theta x)^2 exp(SHAPE nu x) / Z(theta, nu) on [-1, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.n_parameters, self.n_observables = 2, 1

    @staticmethod
    def log_density(x, theta, nu):
        nodes, quadrature = np.polynomial.legendre.leggauss(40)
        shape = lambda v: (1 + theta[:, None] * v) ** 2 * np.exp(SHAPE * nu[:, None] * v)  # noqa: E731
        norm = shape(nodes[None, :]) @ quadrature  # (J,)
        return np.log(shape(x[None, :])) - np.log(norm)[:, None]

    def evaluate_log_likelihood_ratio(self, x, theta, test_all_combinations=True, evaluate_score=False):
        x, theta = np.asarray(x)[:, 0], np.asarray(theta)
        reference = self.log_density(x, np.zeros(1), np.zeros(1))
        return self.log_density(x, theta[:, 0], theta[:, 1]) - reference, None


def test_ml_mode_profiles_an_estimator_with_nuisance_inputs(tmp_path):
    """Mode "ml" with include_nuisance_parameters and an estimator of log r(x|theta, nu): at every
    grid point, kinematic + rate + constraint maximised over nu equals scipy's maximum of the exact
    expected log likelihood (Asimov events: the test copy of the nodes, weighted at theta_true)."""
    path, x_all, weights_all = _shape_file(tmp_path, copies=2)
    luminosity, theta_true, common = 60.0, 0.3, {"grid_ranges": [(-0.8, 0.8)], "grid_resolutions": 17}
    limits = AsymptoticLimits(path, include_nuisance_parameters=True)
    grid, p_values, i_ml, log_kin, log_rate, _ = limits.expected_limits(
        "ml", [theta_true], model_file=_ExactRatioWithNuisance(), luminosity=luminosity, test_split=0.5,
        **common,
    )  # fmt: skip
    half = len(x_all) // 2
    morphing_row = [1 - theta_true**2, theta_true * (theta_true - 1) / 2, theta_true * (theta_true + 1) / 2]
    x, w = x_all[half:], weights_all[half:, :3] @ np.array(morphing_row)
    w = w / w.sum()
    n = luminosity * _sigma(theta_true)[0]
    a_total = np.log(weights_all[:, 3].sum() / weights_all[:, 0].sum())

    def log_likelihood(nu, theta):
        kin = n * w @ _ExactRatioWithNuisance.log_density(x, np.array([theta]), np.array([nu]))[0]
        mu = luminosity * _sigma(theta)[0] * np.exp(a_total * nu)
        return kin + _poisson(n, mu) - 0.5 * nu**2

    fits = [
        optimize.minimize_scalar(lambda v, t=t: -log_likelihood(v, t), bounds=(-10, 10), method="bounded",
                                 options={"xatol": 1e-10})
        for t in grid[:, 0]
    ]  # fmt: skip
    expected = -np.array([fit.fun for fit in fits])
    ours = log_kin + log_rate
    np.testing.assert_allclose(ours - ours.max(), expected - expected.max(), atol=1e-6)
    np.testing.assert_allclose(limits.profiled_nuisance_parameters[:, 0], [f.x for f in fits], atol=1e-5)
    assert np.ptp(limits.profiled_nuisance_parameters) > 0.1  # the profile does move nu
    assert grid[i_ml, 0] == pytest.approx(theta_true) and p_values[i_ml] == pytest.approx(1.0)
    # without profiling, the same estimator is evaluated at nominal nu
    _, _, _, log_kin_nominal, _, _ = AsymptoticLimits(path).expected_limits(
        "ml", [theta_true], model_file=_ExactRatioWithNuisance(), luminosity=luminosity, test_split=0.5,
        include_xsec=False, **common,
    )  # fmt: skip
    nominal = [
        n * w @ _ExactRatioWithNuisance.log_density(x, np.array([t]), np.zeros(1))[0] for t in grid[:, 0]
    ]
    reference = n * w @ _ExactRatioWithNuisance.log_density(x, np.zeros(1), np.zeros(1))[0]
    np.testing.assert_allclose(log_kin_nominal, np.array(nominal) - reference, rtol=1e-6, atol=1e-9)


def test_ml_mode_profiles_a_real_network_with_nuisance_inputs(tmp_path):
    """A randomly initialised ParameterizedRatioEstimator on [theta, nu]: the profiled kinematic term
    at every grid point is the maximum over nu of the network's own float32 sum (to float32 precision)."""
    import torch

    torch.manual_seed(0)
    estimator = ParameterizedRatioEstimator(n_hidden=(8,))
    estimator._set_dimensions(1, 2)
    estimator.model = estimator._create_model()
    path, _, _ = _shape_file(tmp_path, copies=2)
    limits = AsymptoticLimits(path, include_nuisance_parameters=True)
    grid, _, _, log_kin, _, _ = limits.expected_limits(
        "ml", [0.3], grid_ranges=[(-0.8, 0.8)], grid_resolutions=5, model_file=estimator, luminosity=60.0,
        test_split=0.5, include_xsec=False,
    )  # fmt: skip
    nus = limits.profiled_nuisance_parameters
    assert np.ptp(nus) > 1.0  # the network's log r does depend on nu
    x, w = limits._asimov_events(np.array([0.3]), 0.5, True, None)
    n = 60.0 * _sigma(0.3)[0]
    for theta, nu, value in zip(grid[:, 0], nus[:, 0], log_kin, strict=True):
        scan = np.linspace(nu - 0.05, nu + 0.05, 11)
        log_r, _ = estimator.evaluate_log_likelihood_ratio(x, np.stack([np.full(11, theta), scan], axis=1))
        profile = n * (log_r @ w) - 0.5 * scan**2
        assert value == pytest.approx(profile[5], rel=1e-4, abs=1e-4)  # float32 network, float64 copy
        assert profile[5] >= profile.max() - 1e-4  # nu is the maximum (constraint included)


# ---------------------------------------------------------------------------- toys


@pytest.mark.parametrize(
    ("mode", "kwargs"),
    [
        ("rate", {"theta_true": [0.5], "grid_ranges": [(0.0, 1.5)], "luminosity": 1000.0}),
        ("histo", {"theta_true": [0.3], "grid_ranges": [(-1.0, 1.0)], "luminosity": 200.0,
                   "hist_vars": ["x"], "hist_bins": [np.linspace(-1, 1, 9)], "test_split": 0.0}),
    ],
)  # fmt: skip
def test_toy_coverage_of_the_asymptotic_intervals(toy, mode, kwargs):
    result = toy.coverage(
        mode, grid_resolutions=301, n_toys=3000, random_state=7, q_observed=[1.0, 3.84], **kwargs
    )
    assert result["q"].shape == (3000,)
    deviation = np.abs(result["coverage"] - result["confidence_levels"])
    assert np.all(deviation < 2 * result["standard_error"]), (result["coverage"], result["standard_error"])
    # toy-based critical values and p-values: close to the chi^2 ones where the asymptotics hold
    np.testing.assert_allclose(result["asymptotic_critical_values"], chi2.ppf([0.6827, 0.9545], 1))
    np.testing.assert_allclose(result["critical_values"], result["asymptotic_critical_values"], rtol=0.15)
    np.testing.assert_allclose(result["toy_p_values"], chi2.sf([1.0, 3.84], 1), atol=0.03)
    assert result["toy_p_values"][0] == pytest.approx(np.mean(result["q"] >= 1.0))


def _coverage_case(tmp_path, case):
    """The limits object and the keyword arguments of one coverage case."""
    edges = np.linspace(-1.0, 1.0, 9)
    common = {"theta_true": [0.3], "thetas_eval": np.linspace(-0.3, 0.9, 121)[:, None], "luminosity": 200.0}
    if case == "sally":
        return AsymptoticLimits(_toy_file(tmp_path)), {
            "model_file": _ExactScore(), "hist_bins": [2 * edges], "test_split": 0.0, **common
        }  # fmt: skip
    if case == "ml":
        return AsymptoticLimits(_toy_file(tmp_path, copies=2)), {
            "model_file": _ExactRatio(), "test_split": 0.5, **common
        }  # fmt: skip
    if case == "rate, profiled":
        path = _toy_file(tmp_path, nuisance=True)
        # the rate constrains theta^2: far from 0, where it is close to linear (the 10 % systematic
        # dominates the 3 % statistical uncertainty)
        thetas = np.linspace(0.0, 2.0, 201)[:, None]
        return AsymptoticLimits(path, True), {
            **common,
            "luminosity": 1000.0,
            "theta_true": [1.0],
            "thetas_eval": thetas,
        }
    if case == "histo, profiled":
        path, _, _ = _shape_file(tmp_path)
        return AsymptoticLimits(path, True), {
            "hist_vars": ["x"], "hist_bins": [edges], "test_split": 0.0, **common
        }  # fmt: skip
    if case == "ml, profiled":
        path = _toy_file(tmp_path, nuisance=True, copies=2)
        return AsymptoticLimits(path, True), {"model_file": _ExactRatio(), "test_split": 0.5, **common}
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["sally", "ml", "rate, profiled", "histo, profiled", "ml, profiled"])
def test_toy_coverage_in_more_modes_and_with_nuisance_parameters(tmp_path, case):
    """sally (exact score), ml (exact ratio; toys of events drawn from the weighted test events), and
    with a profiled normalisation or shape systematic (toys with random auxiliary measurements)."""
    limits, kwargs = _coverage_case(tmp_path, case)
    mode = case.split(",")[0]
    result = limits.coverage(mode, n_toys=2000, random_state=11, **kwargs)
    deviation = np.abs(result["coverage"] - result["confidence_levels"])
    assert np.all(deviation < 2 * result["standard_error"]), (result["coverage"], result["standard_error"])
    if "profiled" in case:
        # the nuisance parameter matters: without it, the same toys give other q
        unprofiled = AsymptoticLimits(limits.madminer_filename).coverage(
            mode, n_toys=2000, random_state=11, **kwargs
        )
        assert np.mean(np.abs(unprofiled["q"] - result["q"])) > 0.05


def test_coverage_refuses_what_it_cannot_do(tmp_path):
    limits = AsymptoticLimits(_toy_file(tmp_path, copies=2))
    with pytest.raises(InputError, match="coverage supports"):
        limits.coverage("sallino", [0.3], thetas_eval=[[0.3]])
    with pytest.raises(InputError, match="include_xsec=False"):
        limits.coverage("rate", [0.3], thetas_eval=[[0.3]], include_xsec=False)
    with pytest.raises(InputError, match="model_file"):
        limits.coverage("ml", [0.3], thetas_eval=[[0.3]])
    path, _, _ = _shape_file(tmp_path, copies=2)
    with pytest.raises(InputError, match="nuisance inputs"):
        AsymptoticLimits(path, True).coverage(
            "ml", [0.3], thetas_eval=[[0.3]], model_file=_ExactRatioWithNuisance(), test_split=0.5
        )


def test_asymptotic_p_value(toy):
    np.testing.assert_allclose(toy.asymptotic_p_value(np.array([0.0, -0.5])), [1.0, chi2.sf(1.0, 1)])
    np.testing.assert_allclose(toy.asymptotic_p_value(-1.0, dof=2), np.exp(-1.0))


# ---------------------------------------------------------------------------- MadMiner 0.9.6


def test_side_by_side_with_madminer(tmp_path, madminer_python):
    """Five copies of the nodes and five empty events: MadMiner's test partition (it skips one event)
    is one copy and its training partition four, so its Asimov data have the distribution of its
    templates and its numbers equal ours."""
    import json
    import subprocess
    from pathlib import Path

    path = _toy_file(tmp_path, copies=5, dummies=5)
    edges = np.linspace(-1.0, 1.0, 9).tolist()
    x_observed = [[-0.7], [-0.1], [0.2], [0.4], [0.5], [0.9]]
    common = {"grid_ranges": [[-1.0, 1.0]], "grid_resolutions": [11], "luminosity": 100.0}
    requests = [
        {"name": "rate", "method": "expected", "kwargs": {"mode": "rate", "theta_true": [0.0], **common}},
        {"name": "histo", "method": "expected", "kwargs": {
            "mode": "histo", "theta_true": [0.3], "hist_vars": ["x"], "hist_bins": [edges],
            "include_xsec": False, **common}},
        {"name": "rate_observed", "method": "observed", "kwargs": {
            "mode": "rate", "x_observed": x_observed, **common}},
        {"name": "histo_observed", "method": "observed", "kwargs": {
            "mode": "histo", "x_observed": x_observed, "hist_vars": ["x"], "hist_bins": [edges], **common}},
    ]  # fmt: skip
    (tmp_path / "requests.json").write_text(json.dumps(requests))
    probe = Path(__file__).parent / "interop" / "madminer_limits_probe.py"
    command = [
        madminer_python,
        str(probe),
        str(path),
        str(tmp_path / "requests.json"),
        str(tmp_path / "out.json"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = json.loads((tmp_path / "out.json").read_text())
    limits = AsymptoticLimits(path)
    for request in requests:
        kwargs = dict(request["kwargs"])
        if "hist_bins" in kwargs:
            kwargs["hist_bins"] = [np.asarray(kwargs["hist_bins"][0])]
        if request["method"] == "expected":
            ours = limits.expected_limits(**kwargs)
        else:
            ours = limits.observed_limits(**{**kwargs, "x_observed": np.asarray(kwargs["x_observed"])})
        theirs = expected[request["name"]]
        np.testing.assert_allclose(ours[0], theirs["grid"], err_msg=request["name"])
        np.testing.assert_allclose(ours[1], theirs["p_values"], rtol=1e-7, atol=1e-9, err_msg=request["name"])
        assert ours[2] == theirs["i_ml"], request["name"]
