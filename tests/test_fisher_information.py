"""FisherInformation against closed forms.

The toy: one parameter, dsigma/dx = c (1 + theta x)^2 on x in [-1, 1], c = 1/2 (sigma(0) = 1 pb),
with an optional one-sided nuisance parameter whose +1 benchmark multiplies the weights by
exp(kappa x). The "events" are Gauss-Legendre nodes (3 per segment of 64 equal segments) with their
quadrature weights, so that every sum over events (or over bins made of whole segments) of a
polynomial of degree <= 5 is the exact integral: the tests compare to closed forms at 1e-10.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import write_events_file
from motherlode import MadMiner
from motherlode.errors import ExpressionError, InputError, SetupError
from motherlode.fisherinformation import FisherInformation
from motherlode.fisherinformation.information import information_covariance

C = 0.5
KAPPA = 0.3
LUMINOSITY = 1.0
N_SEGMENTS = 64
BASIS = {"sm": 0.0, "m": -1.0, "p": 1.0}


def _nodes() -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.legendre.leggauss(3)
    edges = np.linspace(-1.0, 1.0, N_SEGMENTS + 1)
    half = np.diff(edges) / 2
    centres = (edges[1:] + edges[:-1]) / 2
    x = (centres[:, None] + half[:, None] * nodes[None, :]).reshape(-1)
    q = (half[:, None] * weights[None, :]).reshape(-1)
    return x, q


def _toy_file(tmp_path, nuisance: bool = False):
    miner = MadMiner()
    miner.add_parameter("BLOCK", 1, parameter_name="theta", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    for name, value in BASIS.items():
        miner.add_benchmark({"theta": value}, name)
    miner.set_morphing(include_existing_benchmarks=True, max_overall_power=2)
    miner.save(tmp_path / "setup.h5")
    x, q = _nodes()
    weights = np.stack([C * q * (1 + value * x) ** 2 for value in BASIS.values()], axis=1)
    names = None
    if nuisance:
        weights = np.concatenate([weights, (weights[:, 0] * np.exp(KAPPA * x))[:, None]], axis=1)
        names = ("nu_up", None)
    return write_events_file(
        tmp_path / ("events_nu.h5" if nuisance else "events.h5"), tmp_path / "setup.h5", x, weights,
        np.zeros(len(x), dtype=int), [len(x), 0, 0], nuisance=names,
    )  # fmt: skip


@pytest.fixture
def toy(tmp_path):
    return FisherInformation(_toy_file(tmp_path))


def _sigma(theta, lo=-1.0, hi=1.0):
    """c int (1 + theta x)^2 dx and its theta derivative c int 2 x (1 + theta x) dx."""
    sigma = C * ((hi - lo) + theta * (hi**2 - lo**2) + theta**2 * (hi**3 - lo**3) / 3)
    dsigma = C * ((hi**2 - lo**2) + 2 * theta * (hi**3 - lo**3) / 3)
    return sigma, dsigma


def _histogram_information(theta, edges):
    sigma, dsigma = _sigma(theta, edges[:-1], edges[1:])
    return LUMINOSITY * np.sum(dsigma**2 / sigma)


@pytest.mark.parametrize("theta", [0.0, 0.5, -0.8])
def test_truth_and_rate_information_equal_the_integrals(toy, theta):
    # truth: L int (2 c x (1 + theta x))^2 / (c (1 + theta x)^2) dx = 8 c L / 3 at every theta
    truth, covariance = toy.truth_information(np.array([theta]), luminosity=LUMINOSITY)
    np.testing.assert_allclose(truth, [[8 * C * LUMINOSITY / 3]], rtol=1e-12)
    assert covariance.shape == (1, 1, 1, 1)
    rate, _ = toy.rate_information(np.array([theta]), luminosity=LUMINOSITY)
    sigma, dsigma = _sigma(theta)
    np.testing.assert_allclose(rate, [[LUMINOSITY * dsigma**2 / sigma]], rtol=1e-12, atol=1e-15)


def test_histogram_information_equals_integrals_and_rises_to_the_truth(toy):
    truth = 8 * C * LUMINOSITY / 3
    previous = 0.0
    for n_bins in (1, 2, 4, 8, 16, 32, 64):
        info, _ = toy.histo_information(np.array([0.5]), LUMINOSITY, "x", n_bins, histrange=(-1.0, 1.0))
        expected = _histogram_information(0.5, np.linspace(-1, 1, n_bins + 1))
        np.testing.assert_allclose(info[0, 0], expected, rtol=1e-11)
        assert previous < info[0, 0] < truth
        previous = info[0, 0]
    # the binning error falls like 1/n_bins^2
    assert truth - previous < 2e-3 * truth


def test_explicit_boundaries_and_overflow_bins(toy):
    # boundaries inside the range: the outer parts are the under- and overflow bins
    info, _ = toy.histo_information(np.array([0.3]), LUMINOSITY, "x", np.array([-0.5, 0.0, 0.5]))
    expected = _histogram_information(0.3, np.array([-1.0, -0.5, 0.0, 0.5, 1.0]))
    np.testing.assert_allclose(info[0, 0], expected, rtol=1e-11)
    # an expression of the observable: |x| in (0, 0.5], (0.5, 1]
    info_abs, _ = toy.histo_information(np.array([0.3]), LUMINOSITY, "abs(x)", np.array([0.5]))
    inner = _sigma(0.3, -0.5, 0.5)
    outer = [a + b for a, b in zip(_sigma(0.3, -1.0, -0.5), _sigma(0.3, 0.5, 1.0), strict=True)]
    expected_abs = LUMINOSITY * (inner[1] ** 2 / inner[0] + outer[1] ** 2 / outer[0])
    np.testing.assert_allclose(info_abs[0, 0], expected_abs, rtol=1e-11)


def test_automatic_binning_has_equal_cross_sections(toy):
    boundaries, sigma_bins, dsigma_bins = toy.histogram_of_sigma_dsigma(np.array([0.5]), "x", 8, None)
    assert len(boundaries) == 7 and len(sigma_bins) == 8
    # equal cross sections up to the granularity of the nodes (192 events)
    np.testing.assert_allclose(sigma_bins, sigma_bins.sum() / 8, rtol=0.05)
    np.testing.assert_allclose(sigma_bins.sum(), _sigma(0.5)[0], rtol=1e-12)
    np.testing.assert_allclose(dsigma_bins.sum(), _sigma(0.5)[1], rtol=1e-12)


def test_2d_histogram_of_one_observable_twice(toy):
    info_1d, _ = toy.histo_information(np.array([0.5]), LUMINOSITY, "x", 4, histrange=(-1.0, 1.0))
    info_2d, covariance = toy.histo_information_2d(
        np.array([0.5]), LUMINOSITY, "x", 4, "x", 2, histrange1=(-1.0, 1.0), histrange2=(-1.0, 1.0)
    )
    np.testing.assert_allclose(info_2d, info_1d, rtol=1e-11)
    assert covariance.shape == (1, 1, 1, 1)


def test_histogram_of_information_slices_add_up(toy):
    boundaries, sigma_bins, rate_bins, full_bins = toy.histogram_of_information(
        np.array([0.5]), "x", 4, (-1.0, 1.0), luminosity=LUMINOSITY
    )
    assert len(sigma_bins) == rate_bins.shape[0] == full_bins.shape[0] == 6
    np.testing.assert_allclose(sigma_bins.sum(), _sigma(0.5)[0], rtol=1e-12)
    np.testing.assert_allclose(full_bins.sum(axis=0), [[8 * C * LUMINOSITY / 3]], rtol=1e-12)
    np.testing.assert_allclose(
        rate_bins[1:-1, 0, 0].sum(), _histogram_information(0.5, boundaries), rtol=1e-11
    )


def test_truth_covariance_by_error_propagation(toy):
    """With sigma_b = w_b for every event, each event's information is homogeneous of degree 1 in
    its weights, so its Jacobian along its weights is the event's information: cov = sum I_n I_n."""
    theta = np.array([0.5])
    _, covariance = toy.truth_information(theta, luminosity=LUMINOSITY)
    x, q = _nodes()
    per_event = LUMINOSITY * (2 * C * q * x * (1 + 0.5 * x)) ** 2 / (C * q * (1 + 0.5 * x) ** 2)
    np.testing.assert_allclose(covariance[0, 0, 0, 0], np.sum(per_event**2), rtol=1e-10)
    # MadMiner 0.9.6 adds the last Jacobian term instead of subtracting it: 9 I_n^2 here
    point = toy.parameter_points(theta)
    _, weights = toy.weighted_events()
    madminer = information_covariance(
        point.matrices[0], point.theta_gradient_matrices()[0], weights, weights, LUMINOSITY,
        madminer_jacobian=True,
    )  # fmt: skip
    np.testing.assert_allclose(madminer[0, 0, 0, 0], 9 * np.sum(per_event**2), rtol=1e-10)


def test_rate_covariance_matches_a_finite_difference_jacobian(toy):
    theta = np.array([0.7])
    _, covariance = toy.rate_information(theta, luminosity=LUMINOSITY)
    _, weights = toy.weighted_events()
    totals, errors = weights.sum(axis=0), np.sqrt((weights**2).sum(axis=0))
    point = toy.parameter_points(theta)
    matrix, rows = point.matrices[0], point.theta_gradient_matrices()[0]

    def information(w):
        return LUMINOSITY * (rows @ w) ** 2 / (matrix @ w)

    step = 1e-6
    derivative = (information(totals + step * errors) - information(totals - step * errors)) / (2 * step)
    np.testing.assert_allclose(covariance[0, 0, 0, 0], derivative[0] ** 2, rtol=1e-6)


def test_nuisance_blocks_and_constraint(tmp_path):
    fisher = FisherInformation(_toy_file(tmp_path, nuisance=True))
    info, covariance = fisher.truth_information(np.array([0.0]), luminosity=LUMINOSITY)
    # a(x) = kappa x: I_theta nu = L int 2 c x kappa x = 4 c kappa L / 3; I_nu nu = L int c kappa^2 x^2
    expected = LUMINOSITY * np.array(
        [[8 * C / 3, 4 * C * KAPPA / 3], [4 * C * KAPPA / 3, 2 * C * KAPPA**2 / 3]]
    )
    np.testing.assert_allclose(info, expected, rtol=1e-10)
    assert covariance.shape == (2, 2, 2, 2) and np.all(covariance[1] == 0.0)
    np.testing.assert_array_equal(fisher.nuisance_constraint_information(), np.diag([0.0, 1.0]))
    physics_only, _ = fisher.truth_information(np.array([0.0]), LUMINOSITY, include_nuisance_parameters=False)
    np.testing.assert_allclose(physics_only, expected[:1, :1], rtol=1e-10)


def test_cuts_and_efficiencies(toy):
    info, _ = toy.truth_information(np.array([0.0]), LUMINOSITY, cuts=["x > 0"], efficiency_functions=["0.5"])
    np.testing.assert_allclose(info, [[0.5 * 4 * C * LUMINOSITY / 3]], rtol=1e-12)


def test_full_information_of_an_exact_score_model_is_the_truth(toy, tmp_path):
    """A linear 'network' t(x) = 2 x is the exact score at theta = 0: the detector-level information
    on the weighted events then equals the truth-level information."""
    import torch

    from motherlode.ml import ScoreEstimator

    estimator = ScoreEstimator(n_hidden=())
    estimator._set_dimensions(1, 1)
    estimator.initialize_input_transform(np.zeros((2, 1)), transform=False)
    model = estimator._create_model()
    with torch.no_grad():
        model.layers[0].weight.fill_(2.0)
        model.layers[0].bias.fill_(0.0)
    estimator.save(tmp_path / "sally")
    info, _ = toy.full_information(
        np.array([0.0]), tmp_path / "sally", luminosity=LUMINOSITY, test_split=None
    )
    np.testing.assert_allclose(info, [[8 * C * LUMINOSITY / 3]], rtol=1e-6)
    same, _ = toy.full_information(np.array([0.0]), estimator, luminosity=LUMINOSITY, test_split=None)
    np.testing.assert_allclose(same, info, rtol=1e-12)
    info_no_rate, _ = toy.full_information(
        np.array([0.5]), tmp_path / "sally", luminosity=LUMINOSITY, include_xsec_info=False, test_split=None
    )
    # t_hat = 2x against the true p(x|0.5): L sigma(0.5) E_0.5[4 x^2] = L c int 4 x^2 (1 + x/2)^2 dx
    expected = LUMINOSITY * C * (8 / 3 + 4 / 5 * 0.25 * 2)
    np.testing.assert_allclose(info_no_rate, [[expected]], rtol=1e-6)
    binned = toy.histogram_of_information(
        np.array([0.0]),
        "x",
        4,
        (-1.0, 1.0),
        model_file=tmp_path / "sally",
        luminosity=LUMINOSITY,
        test_split=None,
    )
    # on an unweighted sample: L sigma(theta) mean(t_hat^2), plus the rate information
    x_sample = np.random.default_rng(3).uniform(-1.0, 1.0, (500, 1))
    np.save(tmp_path / "x_unweighted.npy", x_sample)
    info_unweighted, _ = toy.full_information(
        np.array([0.5]),
        tmp_path / "sally",
        unweighted_x_sample_file=tmp_path / "x_unweighted.npy",
        luminosity=2.0,
    )
    sigma, dsigma = _sigma(0.5)
    expected = 2.0 * sigma * np.mean(4 * x_sample**2) + 2.0 * dsigma**2 / sigma
    np.testing.assert_allclose(info_unweighted, [[expected]], rtol=1e-6)
    # as in MadMiner, each slice's estimator information gets the slice's rate information added
    slice_rates = _histogram_information(0.0, np.linspace(-1, 1, 5))
    np.testing.assert_allclose(binned[3].sum(axis=0), [[8 * C * LUMINOSITY / 3 + slice_rates]], rtol=1e-6)


def test_clear_errors(toy, tmp_path):
    with pytest.raises(ExpressionError, match="pt_j1"):
        toy.histo_information(np.array([0.0]), LUMINOSITY, "pt_j1", 4, histrange=(0, 1))
    with pytest.raises(InputError, match="1 entries"):
        toy.truth_information(np.array([0.0, 1.0]))
    with pytest.raises(InputError, match="unknown benchmark 'nope'"):
        toy.truth_information("nope")
    from motherlode.ml import ScoreEstimator

    wrong = ScoreEstimator(n_hidden=(3,))
    wrong._set_dimensions(1, 2)
    wrong.initialize_input_transform(np.zeros((2, 1)), transform=False)
    wrong._create_model()
    wrong.save(tmp_path / "wrong")
    with pytest.raises(SetupError, match="2 parameters"):
        toy.full_information(np.array([0.0]), tmp_path / "wrong")
    too_many = ScoreEstimator(n_hidden=(3,))
    too_many._set_dimensions(3, 1)
    too_many.initialize_input_transform(np.zeros((2, 3)), transform=False)
    too_many._create_model()
    too_many.save(tmp_path / "three_features")
    with pytest.raises(SetupError, match=r"expects 3 input features.*has 1 observables"):
        toy.full_information(np.array([0.0]), tmp_path / "three_features")
    with pytest.raises(InputError, match="unknown mode"):
        toy.full_information(np.array([0.0]), tmp_path / "wrong", mode="median")


def test_needs_morphing_for_parameter_points(tmp_path):
    miner = MadMiner()
    miner.add_parameter("BLOCK", 1, parameter_name="theta", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    miner.add_benchmark({"theta": 0.0}, "sm")
    miner.save(tmp_path / "setup.h5")
    x, q = _nodes()
    path = write_events_file(
        tmp_path / "events.h5", tmp_path / "setup.h5", x, (C * q)[:, None], np.zeros(len(x), int), [len(x)]
    )
    fisher = FisherInformation(path)
    with pytest.raises(SetupError, match="morphing"):
        fisher.truth_information(np.array([0.2]))


def test_many_points_at_once_equal_one_at_a_time(toy):
    thetas = np.array([[-0.5], [0.0], [0.7]])
    for method, kwargs in (
        ("truth_information", {}),
        ("rate_information", {}),
        ("histo_information", {"observable": "x", "bins": 5, "histrange": (-1.0, 1.0)}),
        ("histo_information", {"observable": "x", "bins": 5}),
    ):
        information, covariance = getattr(toy, method)(thetas, luminosity=LUMINOSITY, **kwargs)
        assert information.shape == (3, 1, 1) and covariance.shape == (3, 1, 1, 1, 1)
        for j, theta in enumerate(thetas):
            single, single_covariance = getattr(toy, method)(theta, luminosity=LUMINOSITY, **kwargs)
            np.testing.assert_allclose(information[j], single, rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(covariance[j], single_covariance, rtol=1e-12, atol=1e-15)
