"""HistoLikelihood, NeuralLikelihood and fix/project/profile against closed forms.

The toy (as in test_fisher_information.py): one parameter, dsigma/dx = c (1 + theta x)^2 on
x in [-1, 1] with c = 1/2 (sigma(0) = 1 pb), morphing basis theta in {0, -1, 1}. The "events" are
Gauss-Legendre nodes (3 per segment of 64 equal segments) with their quadrature weights, so that
sums over events and over bins made of whole segments are the exact integrals. Optional nuisance
benchmark: the "sm" weights times ``exp(kappa x)`` (a shape systematic) or times ``1 + s`` (a
normalisation systematic).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import gammaln, lambertw
from scipy.stats import poisson

from conftest import write_events_file
from motherlode import MadMiner
from motherlode.errors import InputError
from motherlode.likelihood import (
    HistoLikelihood,
    NeuralLikelihood,
    fix_params,
    profile_log_likelihood,
    project_log_likelihood,
)
from motherlode.ml import ParameterizedRatioEstimator, ScoreEstimator
from motherlode.sampling import combine_and_shuffle

C = 0.5
KAPPA = 0.3
NORM = 0.05
N_SEGMENTS = 64
BASIS = {"sm": 0.0, "m": -1.0, "p": 1.0}
EDGES = np.linspace(-1.0, 1.0, 9)  # whole segments: bin sums are exact


def _nodes() -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.legendre.leggauss(3)
    edges = np.linspace(-1.0, 1.0, N_SEGMENTS + 1)
    half = np.diff(edges) / 2
    centres = (edges[1:] + edges[:-1]) / 2
    return (centres[:, None] + half[:, None] * nodes).reshape(-1), (half[:, None] * weights).reshape(-1)


def _toy_file(tmp_path, nuisance: str | None = None):
    miner = MadMiner()
    miner.add_parameter("BLOCK", 1, parameter_name="theta", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    for name, value in BASIS.items():
        miner.add_benchmark({"theta": value}, name)
    miner.set_morphing(include_existing_benchmarks=True, max_overall_power=2)
    miner.save(tmp_path / "setup.h5")
    x, q = _nodes()
    weights = np.stack([C * q * (1 + value * x) ** 2 for value in BASIS.values()], axis=1)
    names = None
    if nuisance is not None:
        factor = np.exp(KAPPA * x) if nuisance == "shape" else np.full_like(x, 1.0 + NORM)
        weights = np.concatenate([weights, (weights[:, 0] * factor)[:, None]], axis=1)
        names = ("nu_up", None)
    return write_events_file(
        tmp_path / f"events_{nuisance}.h5", tmp_path / "setup.h5", x, weights,
        np.zeros(len(x), dtype=int), [len(x), 0, 0], nuisance=names,
    )  # fmt: skip


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return _toy_file(tmp_path_factory.mktemp("toy"))


def _sigma(theta, lo=-1.0, hi=1.0):
    theta = np.asarray(theta, dtype=np.float64)[..., None] if np.ndim(lo) else np.asarray(theta)
    return C * ((hi - lo) + theta * (hi**2 - lo**2) + theta**2 * (hi**3 - lo**3) / 3)


# ---------------------------------------------------------------------------- rate term


def test_rate_term_is_the_poisson_closed_form(toy):
    likelihood = HistoLikelihood(toy)
    thetas = np.linspace(-1.0, 1.0, 11)
    n_observed, luminosity = 1234, 1000.0
    exact = -poisson.logpmf(n_observed, luminosity * _sigma(thetas))
    for mode in ("histo", "weighted", "sampled"):
        nll = likelihood.create_negative_log_likelihood(
            x_observed=np.zeros((5, 1)),
            n_observed=n_observed,
            luminosity=luminosity,
            mode=mode,
            n_histo_toys=None,
        )
        assert nll(None) == 1
        np.testing.assert_allclose(nll(thetas[:, None]), exact, rtol=1e-12)
        assert nll(thetas[6:7]) == pytest.approx(exact[6], rel=1e-12)


def _profile_exact(theta, n_observed, luminosity, b):
    """min over nu of -log Pois(k | m e^{b nu}) + nu^2/2 + log(2 pi)/2 (Lambert W)."""
    m = luminosity * _sigma(theta)
    s = np.real(lambertw(b**2 * m * np.exp(b**2 * n_observed)))
    nu = (b**2 * n_observed - s) / b
    mu = m * np.exp(b * nu)
    return -(n_observed * np.log(mu) - mu - gammaln(n_observed + 1)) + 0.5 * nu**2 + 0.5 * np.log(2 * np.pi)


@pytest.mark.parametrize("method", ["TNC", "L-BFGS-B"])
def test_profiled_normalisation_nuisance_equals_the_closed_form(tmp_path, method):
    likelihood = HistoLikelihood(_toy_file(tmp_path, "norm"))
    luminosity = 10000.0  # n = 10000 expected at theta = 0
    nll = likelihood.create_expected_negative_log_likelihood(
        theta_true=[0.0], nu_true=[0.0], luminosity=luminosity, mode="histo", n_histo_toys=None
    )
    assert nll(None) == 2
    b = np.log1p(NORM)
    # the NLL itself: Poisson with sigma(theta) (1 + s)^nu, and the Gaussian constraint
    for theta, nu in [(0.0, 0.0), (0.4, -1.3), (-0.7, 0.8)]:
        mu = luminosity * _sigma(theta) * np.exp(b * nu)
        expected = -poisson.logpmf(10000, mu) + 0.5 * nu**2 + 0.5 * np.log(2 * np.pi)
        assert nll(np.array([theta, nu])) == pytest.approx(expected, rel=1e-12)
    grid, p_values, best, log_r = profile_log_likelihood(
        nll, remaining_components=[0], grid_ranges=[(0.0, 1.0)], grid_resolutions=101, method=method
    )
    assert grid.shape == (101, 1) and p_values.shape == log_r.shape == (101,) and best == 0
    exact = _profile_exact(grid[:, 0], 10000, luminosity, b)
    np.testing.assert_allclose(log_r, -(exact - exact[0]), atol=2e-6)
    # the 68 % interval against the Gaussian closed form: log sigma(theta)/sigma(0) = sqrt(1/N + b^2)
    edge = np.interp(1.0, -2.0 * log_r, grid[:, 0])
    closed_form = np.sqrt(3.0 * (np.exp(np.sqrt(1.0 / 10000 + b**2)) - 1.0))
    assert edge == pytest.approx(closed_form, rel=0.02)
    # profiling can only raise the likelihood compared with the projection (nu = 0)
    _, _, _, log_r_projected = project_log_likelihood(nll, [0], [(0.0, 1.0)], 101)
    assert np.all(log_r >= log_r_projected - 1e-9)


# ---------------------------------------------------------------------------- kinematic term


def _binned_poisson_nll(thetas, theta_true, luminosity):
    """Exact -log prod_b Pois(n_b | L sigma_b(theta)) of Asimov counts n_b = L sigma_b(theta_true)."""
    lo, hi = EDGES[:-1], EDGES[1:]
    n_b = luminosity * _sigma(theta_true, lo, hi)
    mu = luminosity * _sigma(np.asarray(thetas), lo, hi)
    return np.sum(mu - n_b * np.log(mu), axis=-1)


@pytest.mark.parametrize("mode", ["histo", "weighted"])
def test_expected_histogram_likelihood_is_the_binned_poisson_likelihood(toy, mode):
    likelihood = HistoLikelihood(toy)
    thetas = np.linspace(-1.0, 1.0, 21)[:, None]
    luminosity = 1000.0  # 1000 events at theta = 0 (n_observed is rounded, as MadMiner)
    nll = likelihood.create_expected_negative_log_likelihood(
        theta_true=[0.0], nu_true=None, observables=["x"], hist_bins=[EDGES], luminosity=luminosity,
        mode=mode, n_histo_toys=None,
    )  # fmt: skip
    values = nll(thetas)
    exact = _binned_poisson_nll(thetas[:, 0], 0.0, luminosity)
    np.testing.assert_allclose(values - values[10], exact - exact[10], atol=1e-7)
    assert np.argmin(values) == 10
    # one point at a time gives the same
    assert nll(thetas[3]) == pytest.approx(values[3], rel=1e-13)
    # kinematics only: the multinomial part
    shape_only = likelihood.create_expected_negative_log_likelihood(
        theta_true=[0.0], nu_true=None, observables=["x"], hist_bins=[EDGES], luminosity=luminosity,
        mode=mode, n_histo_toys=None, include_xsec=False,
    )  # fmt: skip
    rate = -poisson.logpmf(1000, luminosity * _sigma(thetas[:, 0]))
    np.testing.assert_allclose(shape_only(thetas) + rate, values, rtol=1e-12)


def test_observed_data_and_expressions(toy):
    """A histogram of the expression 2*x with doubled edges is the histogram of x (up to the bin
    volume constant), for observed events with weights."""
    likelihood = HistoLikelihood(toy)
    rng = np.random.default_rng(0)
    x_observed = rng.uniform(-1, 1, size=(50, 1))
    weights = rng.uniform(0.5, 1.5, size=50)
    kwargs = {
        "x_observed": x_observed,
        "x_observed_weights": weights,
        "mode": "weighted",
        "n_histo_toys": None,
    }
    nll_x = likelihood.create_negative_log_likelihood(observables=["x"], hist_bins=[EDGES], **kwargs)
    nll_2x = likelihood.create_negative_log_likelihood(observables=["2 * x"], hist_bins=[2 * EDGES], **kwargs)
    thetas = np.linspace(-1, 1, 7)[:, None]
    np.testing.assert_allclose(nll_2x(thetas) - nll_x(thetas), 50 * np.log(2.0), rtol=1e-10)
    # the kinematic term by hand: sum_i w_i log(p_b(i) / width), w normalised to n_observed = 50
    lo, hi = EDGES[:-1], EDGES[1:]
    fractions = _sigma(thetas[:, 0], lo, hi) / _sigma(thetas[:, 0])[:, None]
    cells = np.clip(np.searchsorted(EDGES, x_observed[:, 0], side="right") - 1, 0, 7)
    kinematic = np.log(fractions[:, cells] / 0.25) @ (weights * 50 / weights.sum())
    rate = poisson.logpmf(50, 300000.0 * _sigma(thetas[:, 0]))
    np.testing.assert_allclose(nll_x(thetas), -(kinematic + rate), rtol=1e-9)


def test_adaptive_binning_needs_thetas_binning_and_matches_histo(toy):
    from motherlode.utils.histo import Histo

    likelihood = HistoLikelihood(toy)
    with pytest.raises(InputError, match="thetas_binning"):
        likelihood.create_negative_log_likelihood(np.zeros((3, 1)), observables=["x"], mode="histo")
    nll = likelihood.create_expected_negative_log_likelihood(
        theta_true=[0.5], nu_true=None, observables=["x"], hist_bins=5, mode="histo", n_histo_toys=None
    )
    assert np.isfinite(nll(np.array([0.2])))
    x, weights = likelihood.weighted_events(theta=np.array([0.5]))
    edges = Histo(x, weights, [5], epsilon=1e-12).edges[0]
    assert "x" in nll.description
    thetas = np.linspace(-1, 1, 41)[:, None]
    assert abs(thetas[np.argmin(nll(thetas)), 0] - 0.5) < 0.06
    assert len(edges) == 6


def test_score_components_as_summary_statistics(toy):
    """The exact score at theta = 0 is t(x) = 2x: histograms of it equal histograms of x."""

    class ExactScore(ScoreEstimator):
        def evaluate_score(self, x, theta=None, nuisance_mode="auto"):
            return 2.0 * np.asarray(x)[:, :1]

    likelihood = HistoLikelihood(toy)
    common = {
        "theta_true": [0.3],
        "nu_true": None,
        "mode": "histo",
        "n_histo_toys": None,
        "luminosity": 100.0,
    }
    nll_x = likelihood.create_expected_negative_log_likelihood(observables=["x"], hist_bins=[EDGES], **common)
    nll_t = likelihood.create_expected_negative_log_likelihood(
        score_components=[0], model_file=ExactScore(), hist_bins=[2 * EDGES], **common
    )
    thetas = np.linspace(-1, 1, 9)[:, None]
    difference = nll_t(thetas) - nll_x(thetas)
    np.testing.assert_allclose(difference, difference[0], atol=1e-8)
    with pytest.raises(InputError, match="model_file"):
        likelihood.create_negative_log_likelihood(np.zeros((2, 1)), score_components=[0], hist_bins=[EDGES])


def test_nuisance_shape_systematic_in_weighted_and_histo_modes(tmp_path):
    likelihood = HistoLikelihood(_toy_file(tmp_path, "shape"))
    luminosity = 1000.0
    common = {"observables": ["x"], "hist_bins": [EDGES], "luminosity": luminosity, "n_histo_toys": None}
    weighted = likelihood.create_expected_negative_log_likelihood([0.0], [0.0], mode="weighted", **common)
    histo = likelihood.create_expected_negative_log_likelihood([0.0], [0.0], mode="histo", **common)
    params = np.array([[0.0, 0.0], [0.3, 0.5], [-0.5, -1.0]])
    # weighted mode: bins of c (1 + theta x)^2 exp(kappa nu x), integrated exactly
    for (theta, nu), value in zip(params, weighted(params), strict=True):

        def density(t, theta=theta, nu=nu):
            return C * (1 + theta * t) ** 2 * np.exp(KAPPA * nu * t)

        mu = luminosity * np.array([quad(density, lo, hi)[0] for lo, hi in itertools.pairwise(EDGES)])
        n_b = luminosity * _sigma(0.0, EDGES[:-1], EDGES[1:])
        # rate term: round(n) and the full Poisson; shape: multinomial with the exact fractions
        log_l = poisson.logpmf(1000, mu.sum()) + n_b @ np.log(mu / mu.sum() / 0.25)
        log_l += -0.5 * nu**2 - 0.5 * np.log(2 * np.pi)
        assert value == pytest.approx(-log_l, rel=1e-9)
    # histo mode interpolates the nuisance factor per bin (and for the total rate, as MadMiner's
    # "interpol"): equal at nu = 0, an approximation elsewhere
    np.testing.assert_allclose(histo(params[:1]), weighted(params[:1]), rtol=1e-12)
    np.testing.assert_allclose(histo(params), weighted(params), rtol=0.02)


def test_sampled_mode_is_deterministic(toy):
    likelihood = HistoLikelihood(toy)
    nll = likelihood.create_expected_negative_log_likelihood(
        [0.0], None, observables=["x"], hist_bins=[EDGES], mode="sampled", n_histo_toys=2000, n_asimov=None
    )
    thetas = np.array([[0.0], [0.5]])
    first = nll(thetas)
    np.testing.assert_array_equal(first, nll(thetas))
    assert np.all(np.isfinite(first)) and first[0] < first[1]


def test_clear_errors(toy):
    likelihood = HistoLikelihood(toy)
    with pytest.raises(InputError, match="mode"):
        likelihood.create_negative_log_likelihood(np.zeros((2, 1)), mode="bogus")
    nll = likelihood.create_negative_log_likelihood(np.zeros((2, 1)), mode="histo", n_histo_toys=None)
    with pytest.raises(InputError, match="params"):
        nll(np.zeros(3))
    with pytest.raises(InputError, match="x_observed"):
        likelihood.create_negative_log_likelihood(np.zeros((2, 3)), mode="histo")


# ---------------------------------------------------------------------------- neural likelihood


class ExactRatio(ParameterizedRatioEstimator):
    """log r(x | theta) = log p(x|theta) - log p(x|0) of the toy, exactly."""

    def evaluate_log_likelihood_ratio(self, x, theta, test_all_combinations=True, evaluate_score=False):
        x = np.asarray(x)[:, 0]
        theta = np.atleast_2d(theta)[:, :1]
        log_r = 2 * np.log(np.abs(1 + theta * x[None, :])) - np.log(_sigma(theta) / _sigma(0.0))
        return log_r, None


def test_neural_likelihood_with_an_exact_model_is_the_exact_likelihood(toy):
    likelihood = NeuralLikelihood(toy)
    x, q = _nodes()
    theta_true, luminosity = 0.4, 500.0
    weights = C * q * (1 + theta_true * x) ** 2
    n_observed = luminosity * _sigma(theta_true)
    nll = likelihood.create_negative_log_likelihood(
        ExactRatio(), x[:, None], n_observed=n_observed, x_observed_weights=weights, include_xsec=False
    )
    thetas = np.linspace(-0.9, 0.9, 7)[:, None]  # log r is singular at the boundary for |theta| = 1

    def expected_log_r(theta):
        def integrand(t):
            p = C * (1 + theta_true * t) ** 2 / _sigma(theta_true)
            return p * (2 * np.log(abs(1 + theta * t)) - np.log(_sigma(theta) / _sigma(0.0)))

        return n_observed * quad(integrand, -1, 1)[0]

    exact = np.array([expected_log_r(t) for t in thetas[:, 0]])
    np.testing.assert_allclose(-nll(thetas), exact, rtol=1e-7, atol=1e-7)
    # with the rate term (interpolated benchmark cross sections)
    with_rate = likelihood.create_negative_log_likelihood(
        ExactRatio(), x[:, None], n_observed=n_observed, x_observed_weights=weights, luminosity=luminosity
    )
    rate = poisson.logpmf(np.round(n_observed), luminosity * _sigma(thetas[:, 0]))
    np.testing.assert_allclose(-with_rate(thetas), exact + rate, rtol=1e-7, atol=1e-7)
    # expected likelihood: Asimov events = the test partition (the last 20 %) of the shuffled file,
    # weighted at theta_true; n_observed from the same rate model
    shuffled = toy.parent / "shuffled.h5"
    combine_and_shuffle([toy], shuffled, random_state=1)
    neural = NeuralLikelihood(shuffled)
    expected = neural.create_expected_negative_log_likelihood(
        ExactRatio(), [theta_true], None, luminosity=luminosity, mode="weighted", n_weighted=None
    )
    x_all, w_all = neural.weighted_events(theta=np.array([theta_true]))
    n_test = len(x_all) - round(0.8 * len(x_all))
    x_test, w_test = x_all[-n_test:], w_all[-n_test:]
    log_r, _ = ExactRatio().evaluate_log_likelihood_ratio(x_test, thetas)
    by_hand = n_observed * log_r @ (w_test / w_test.sum()) + rate
    np.testing.assert_allclose(-expected(thetas), by_hand, rtol=1e-10)
    rate_only = neural.create_expected_negative_log_likelihood(
        ExactRatio(), [theta_true], None, luminosity=luminosity, mode="weighted", n_weighted=None, n_asimov=10
    )
    assert rate_only(np.array([0.0])) > rate_only(np.array([theta_true]))


# ---------------------------------------------------------------------------- manipulate


MEAN = np.array([0.3, -0.2, 0.5])
COVARIANCE = np.array([[1.0, 0.6, 0.2], [0.6, 2.0, -0.3], [0.2, -0.3, 0.5]])


def _gaussian_nll(vectorized: bool):
    inverse = np.linalg.inv(COVARIANCE)

    def nll(params):
        if params is None:
            return 3
        d = np.atleast_2d(params) - MEAN
        value = 0.5 * np.einsum("ni,ij,nj->n", d, inverse, d)
        return value if np.ndim(params) == 2 else float(value[0])

    if vectorized:
        nll.vectorized = True
    return nll


@pytest.mark.parametrize("vectorized", [True, False])
@pytest.mark.parametrize("method", ["TNC", "L-BFGS-B"])
def test_profile_is_the_schur_complement_and_project_the_slice(vectorized, method):
    nll = _gaussian_nll(vectorized)
    inverse = np.linalg.inv(COVARIANCE)
    # 1-D profile: the marginal variance
    grid, p_values, best, log_r = profile_log_likelihood(
        nll, [0], [(-2.0, 2.0)], 21, theta_start=np.zeros(3), method=method
    )
    d = grid[:, 0] - MEAN[0]
    expected = -0.5 * d**2 / COVARIANCE[0, 0]
    np.testing.assert_allclose(log_r, expected - expected.max(), atol=1e-6)
    assert abs(grid[best, 0] - MEAN[0]) <= 0.1 + 1e-12
    # 2-D profile of components (2, 0), in that order: the marginal covariance block
    grid, _, _, log_r = profile_log_likelihood(nll, [2, 0], [(-1.0, 1.0), (-1.0, 1.0)], [5, 4], method=method)
    assert grid.shape == (20, 2)
    block = COVARIANCE[np.ix_([2, 0], [2, 0])]
    d = grid - MEAN[[2, 0]]
    expected = -0.5 * np.einsum("ni,ij,nj->n", d, np.linalg.inv(block), d)
    np.testing.assert_allclose(log_r, expected - expected.max(), atol=1e-6)
    # projection: the others at zero
    grid, p_values, best, log_r = project_log_likelihood(nll, [1], [(-2.0, 2.0)], 21)
    full = np.zeros((21, 3))
    full[:, 1] = grid[:, 0]
    d = full - MEAN
    expected = -0.5 * np.einsum("ni,ij,nj->n", d, inverse, d)
    np.testing.assert_allclose(log_r, expected - expected.max(), atol=1e-12)
    np.testing.assert_allclose(p_values, __import__("scipy").stats.chi2.sf(-2 * log_r, 1), rtol=1e-12)
    # explicit points (grid_resolutions left at its default)
    grid, _, _, _ = project_log_likelihood(nll, [1], thetas_eval=np.array([[0.0], [1.0]]))
    assert grid.shape == (2, 1)


def test_fix_params():
    nll = _gaussian_nll(True)
    fixed = fix_params(nll, [1.0, 2.0], [2, 0])
    assert fixed(None) == 1
    assert fixed(np.array([0.5])) == pytest.approx(nll(np.array([2.0, 0.5, 1.0])))
    np.testing.assert_allclose(
        fixed(np.array([[0.5], [1.5]])), nll(np.array([[2.0, 0.5, 1.0], [2.0, 1.5, 1.0]]))
    )
    assert fix_params(nll, [1.0])(np.array([0.0, 0.0])) == pytest.approx(nll(np.array([1.0, 0.0, 0.0])))
    with pytest.raises(InputError, match="same length"):
        fix_params(nll, [1.0, 2.0], [0])
    with pytest.raises(InputError, match="method"):
        profile_log_likelihood(nll, [0], [(-1, 1)], 3, method="BFGS")


# ---------------------------------------------------------------------------- side by side with MadMiner


def test_histo_likelihood_side_by_side_with_madminer(toy, madminer_python, tmp_path):
    """MadMiner 0.9.6's HistoLikelihood (histo and weighted modes, all toy events) on the same file:
    the rate term and the histogram term of observed weighted events agree."""
    import json
    import subprocess
    from pathlib import Path

    n_events = len(_nodes()[0])
    # shuffled, so that the first half (the templates) has events in every bin: MadMiner adds its
    # epsilon to the benchmark histograms before morphing, which differs from ours in empty bins only
    shuffled = tmp_path / "shuffled.h5"
    combine_and_shuffle([toy], shuffled, random_state=2)
    rng = np.random.default_rng(3)
    x_observed = rng.uniform(-1, 1, size=(40, 1))
    x_weights = rng.uniform(0.5, 1.5, size=40)
    thetas = [[-0.8], [-0.3], [0.0], [0.45], [0.9]]
    common = {
        "x_observed": x_observed.tolist(),
        "n_observed": 321,
        "luminosity": 400.0,
        "n_histo_toys": n_events // 2,
        "test_split": 0.5,  # the first half (MadMiner: None raises TypeError, 0.0 ValueError)
    }
    requests = [
        {"name": "rate_histo", "kwargs": {**common, "mode": "histo"}},
        {"name": "rate_weighted", "kwargs": {**common, "mode": "weighted"}},
        {
            "name": "histo_x",
            "kwargs": {
                **common, "mode": "histo", "observables": ["x"], "hist_bins": [EDGES.tolist()],
                "x_observed_weights": x_weights.tolist(),
            },
        },
        {
            "name": "weighted_x_no_rate",
            "kwargs": {
                **common, "mode": "weighted", "observables": ["x"], "hist_bins": [EDGES.tolist()],
                "include_xsec": False,
            },
        },
    ]  # fmt: skip
    for request in requests:
        request["thetas"] = thetas
    (tmp_path / "requests.json").write_text(json.dumps(requests))
    probe = Path(__file__).parent / "interop" / "madminer_likelihood_probe.py"
    command = [
        madminer_python,
        str(probe),
        str(shuffled),
        str(tmp_path / "requests.json"),
        str(tmp_path / "out.json"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = json.loads((tmp_path / "out.json").read_text())
    likelihood = HistoLikelihood(shuffled)
    for request in requests:
        kwargs = dict(request["kwargs"])
        kwargs["x_observed"] = np.asarray(kwargs["x_observed"])
        if "hist_bins" in kwargs:
            kwargs["hist_bins"] = [np.asarray(kwargs["hist_bins"][0])]
        nll = likelihood.create_negative_log_likelihood(**kwargs)
        np.testing.assert_allclose(
            nll(np.array(thetas)), expected[request["name"]], rtol=1e-9, err_msg=request["name"]
        )


def test_neural_likelihood_evaluates_a_real_network_in_double_precision(toy):
    """A (randomly initialised) ParameterizedRatioEstimator: the NLL is evaluated with a float64 copy of
    the network (smooth for minimisers), equal to the estimator's own float32 output to float32
    precision, and the estimator passed in is left unchanged."""
    import torch

    torch.manual_seed(0)
    estimator = ParameterizedRatioEstimator(n_hidden=(8,))
    estimator._set_dimensions(1, 1)
    estimator.model = estimator._create_model()
    x, q = _nodes()
    nll = NeuralLikelihood(toy).create_negative_log_likelihood(
        estimator, x[:, None], n_observed=10.0, x_observed_weights=q, include_xsec=False
    )
    thetas = np.linspace(-1, 1, 5)[:, None]
    log_r, _ = estimator.evaluate_log_likelihood_ratio(x[:, None], thetas)
    np.testing.assert_allclose(-nll(thetas), log_r @ (10.0 * q / q.sum()), rtol=1e-5, atol=1e-5)
    assert next(estimator.model.parameters()).dtype == torch.float32
    # smooth in theta at the 1e-9 level: a central second difference is tiny and consistent
    h = 1e-6
    values = nll(np.array([[0.3 - h], [0.3], [0.3 + h]]))
    assert abs(values[0] - 2 * values[1] + values[2]) < 1e-9
