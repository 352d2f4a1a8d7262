"""Tests of the morphing-aware likelihood-ratio estimators on a toy that morphs exactly.

Toy (one parameter theta, components 1, theta, theta^2): the differential cross section is the mixture
``dsigma(x|theta) = g0(x) + (1 + theta)^2 g1(x) + theta^2 g2(x)`` of unit Gaussians ``g_i = N(mu_i, 1)``,
so ``sigma(theta) = 1 + (1 + theta)^2 + theta^2`` and ``log r(x|theta) = log p(x|theta) - log p(x|0)`` are
known in closed form, and so is the score. The joint quantities are taken as the exact ones (z = x). The
quadratic estimator is also exact here: ``A = g1 / (g0 + g1)``, ``B^2 = (g1 + g2) / (g0 + g1) - A^2``,
``a = 1/2``, ``b^2 = 3/4``.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from scipy.stats import norm

from motherlode.core.madminer import MadMiner
from motherlode.errors import FileFormatError, InputError
from motherlode.fileformat import read_setup
from motherlode.ml.morphing_aware import (
    MorphingAwareRatioEstimator,
    MorphingAwareRatioModel,
    QuadraticMorphingAwareRatioEstimator,
    torch_morphing_weights,
)
from motherlode.ml.parameterized_ratio import ParameterizedRatioEstimator
from motherlode.morphing import PhysicsMorpher, component_weights

MEANS = np.array([-1.0, 0.5, 1.5])
N_PER_CLASS = 10_000
TRAIN = {"n_epochs": 30, "batch_size": 256, "initial_lr": 3e-3, "verbose": "none", "device": "cpu"}
THETA_GRID = np.array([[-1.0], [-0.5], [0.5], [1.0]])
X_GRID = np.linspace(-2.5, 3.5, 61)[:, None]
# Thresholds on the MSE of log r_hat on the grid. Measured (data and torch seeds 0-4): morphing-aware
# (alices, alpha 0.1, 30 epochs) 0.0064-0.0157, quadratic (alice, 60 epochs) 0.0047-0.0154. A model that
# ignores theta cannot do better than 0.107, an untrained one does worse (both asserted below).
MSE_MORPHING_AWARE = 0.03
MSE_QUADRATIC = 0.04


# ---------------------------------------------------------------------------- toy


def dsigma(x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    g = norm.pdf(x[..., None], MEANS, 1.0)
    return g[..., 0] + (1.0 + theta) ** 2 * g[..., 1] + theta**2 * g[..., 2]


def sigma(theta: np.ndarray) -> np.ndarray:
    return 1.0 + (1.0 + theta) ** 2 + theta**2


def true_log_r(x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    return np.log(dsigma(x, theta) / sigma(theta)) - np.log(dsigma(x, 0.0 * theta) / sigma(0.0))


def true_score(x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    g = norm.pdf(x[..., None], MEANS, 1.0)
    d_dsigma = 2.0 * (1.0 + theta) * g[..., 1] + 2.0 * theta * g[..., 2]
    return d_dsigma / dsigma(x, theta) - (4.0 * theta + 2.0) / sigma(theta)


def sample_x(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    probs = np.stack([np.ones_like(theta), (1.0 + theta) ** 2, theta**2], axis=1)
    probs /= probs.sum(axis=1, keepdims=True)
    k = (rng.random(len(theta))[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
    return rng.normal(MEANS[k], 1.0)


def grid_truth() -> np.ndarray:
    return true_log_r(X_GRID[:, 0][None, :], THETA_GRID)


def grid_mse(estimator: ParameterizedRatioEstimator) -> float:
    log_r_hat, _ = estimator.evaluate_log_likelihood_ratio(X_GRID, THETA_GRID)
    return float(np.mean((log_r_hat - grid_truth()) ** 2))


def make_setup(path, n_parameters: int = 1, n_bases: int = 1, morphing: bool = True) -> str:
    miner = MadMiner()
    for i in range(n_parameters):
        miner.add_parameter("block", i + 1, f"theta{i}", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    miner.add_benchmark({f"theta{i}": 0.0 for i in range(n_parameters)}, "sm")
    if morphing:
        miner.set_morphing(max_overall_power=2, n_bases=n_bases, random_state=0)
    miner.save(path)
    return str(path)


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    """One torch thread for the module (see conftest)."""


@pytest.fixture(scope="module")
def setup_file(tmp_path_factory) -> str:
    return make_setup(tmp_path_factory.mktemp("morphing_aware") / "setup.h5")


@pytest.fixture(scope="module")
def toy_data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    theta0 = rng.uniform(-1.0, 1.0, N_PER_CLASS)
    x = np.concatenate([sample_x(theta0, rng), sample_x(np.zeros(N_PER_CLASS), rng)])
    theta = np.concatenate([theta0, theta0])
    return {
        "x": x[:, None],
        "theta": theta[:, None],
        "y": np.concatenate([np.zeros(N_PER_CLASS), np.ones(N_PER_CLASS)])[:, None],
        "r_xz": np.exp(true_log_r(x, theta))[:, None],
        "t_xz": true_score(x, theta)[:, None],
    }


@pytest.fixture(scope="module")
def trained(setup_file, toy_data) -> MorphingAwareRatioEstimator:
    torch.manual_seed(0)
    estimator = MorphingAwareRatioEstimator(setup_file, n_hidden=(32,))
    estimator.train("alices", alpha=0.1, **toy_data, **TRAIN)
    return estimator


@pytest.fixture(scope="module")
def trained_quadratic(toy_data) -> QuadraticMorphingAwareRatioEstimator:
    torch.manual_seed(0)
    estimator = QuadraticMorphingAwareRatioEstimator(n_hidden=(32,))
    estimator.train("alice", **toy_data, **{**TRAIN, "n_epochs": 60})
    return estimator


def untrained(setup_file: str, n_parameters: int = 1) -> MorphingAwareRatioEstimator:
    estimator = MorphingAwareRatioEstimator(setup_file, n_hidden=(16,))
    estimator._set_dimensions(1, n_parameters)
    estimator._create_model()
    return estimator


# ---------------------------------------------------------------------------- the toy itself


def test_toy_is_consistent():
    """The closed-form ratio integrates to one and the closed-form score is its derivative."""
    x = np.linspace(-12.0, 14.0, 20001)
    for theta in (-0.7, 0.3, 1.0):
        p_ref = dsigma(x, np.float64(0.0)) / sigma(0.0)
        integral = np.trapezoid(np.exp(true_log_r(x, np.float64(theta))) * p_ref, x)
        assert integral == pytest.approx(1.0, abs=1e-6)
        fd = (true_log_r(x, np.float64(theta + 1e-6)) - true_log_r(x, np.float64(theta - 1e-6))) / 2e-6
        np.testing.assert_allclose(true_score(x, np.float64(theta)), fd, atol=1e-6)


def test_thresholds_reject_models_that_ignore_theta(setup_file):
    truth = grid_truth()
    best_theta_independent = float(np.mean((truth - truth.mean(axis=0)) ** 2))
    assert best_theta_independent > 2.5 * MSE_QUADRATIC
    assert grid_mse(untrained(setup_file)) > 2.5 * MSE_QUADRATIC


# ---------------------------------------------------------------------------- morphing in torch


@pytest.mark.parametrize(("n_parameters", "n_bases"), [(1, 1), (2, 1), (1, 2)])
def test_morphing_weights_match_physics_morpher(tmp_path, n_parameters, n_bases):
    setup = read_setup(make_setup(tmp_path / "s.h5", n_parameters, n_bases))
    morpher = PhysicsMorpher(parameters_from_madminer=setup.parameters)
    morpher.set_components(setup.morphing_components)
    morpher.set_basis(setup.benchmarks, morphing_matrix=setup.morphing_matrix)
    model = MorphingAwareRatioModel(setup.morphing_components, setup.morphing_matrix, 1, (8,))
    thetas = np.random.default_rng(1).uniform(-1.5, 1.5, (50, n_parameters))
    weights = model.morphing_weights(torch.as_tensor(thetas)).numpy()
    expected = morpher.calculate_morphing_weights(thetas)
    np.testing.assert_allclose(weights, expected, atol=1e-6, rtol=1e-6)
    assert weights.shape == (50, setup.morphing_matrix.shape[1])
    # float32 inputs (as in training) are computed in float64 as well
    thetas32 = thetas.astype(np.float32)
    weights32 = model.morphing_weights(torch.as_tensor(thetas32)).numpy()
    np.testing.assert_allclose(weights32, morpher.calculate_morphing_weights(thetas32), atol=1e-10)


def test_morphing_weight_gradients_match_physics_morpher(tmp_path):
    setup = read_setup(make_setup(tmp_path / "s.h5", 2))
    morpher = PhysicsMorpher(parameters_from_madminer=setup.parameters)
    morpher.set_components(setup.morphing_components)
    morpher.set_basis(setup.benchmarks, morphing_matrix=setup.morphing_matrix)
    comps = torch.as_tensor(setup.morphing_components)
    matrix = torch.as_tensor(setup.morphing_matrix)
    for theta in ([0.3, -0.4], [0.0, 0.0], [1.0, 0.0]):
        jac = torch.autograd.functional.jacobian(
            lambda t: torch_morphing_weights(t[None], comps, matrix)[0],
            torch.tensor(theta, dtype=torch.float64),
        )
        np.testing.assert_allclose(
            jac.numpy().T, morpher.calculate_morphing_weight_gradient(np.array(theta)), atol=1e-9
        )


def test_autograd_score_equals_finite_difference(tmp_path):
    estimator = untrained(make_setup(tmp_path / "s.h5", 2), n_parameters=2)
    model = estimator.model.double()
    x = torch.randn(20, 1, dtype=torch.float64)
    theta = torch.as_tensor(np.random.default_rng(2).uniform(-1.0, 1.0, (20, 2)))
    _, t_hat = model(theta, x, track_score=True, create_graph=False)
    eps = 1e-6
    for p in range(2):
        shift = torch.zeros(2, dtype=torch.float64)
        shift[p] = eps
        up = model(theta + shift, x, track_score=False)[0][:, 0]
        down = model(theta - shift, x, track_score=False)[0][:, 0]
        np.testing.assert_allclose(t_hat[:, p].numpy(), ((up - down) / (2 * eps)).detach().numpy(), atol=1e-7)
    assert torch.abs(t_hat).max() > 1e-3  # not trivially zero


# ---------------------------------------------------------------------------- training on the toy


def test_morphing_aware_learns_the_true_ratio(trained, toy_data):
    mse = grid_mse(trained)
    logging.getLogger(__name__).info("morphing-aware MSE %.4f", mse)
    assert mse < MSE_MORPHING_AWARE
    x, theta = toy_data["x"][:2000], toy_data["theta"][:2000]
    t_hat = trained.evaluate_score(x, theta)  # relative score MSE measured 0.003-0.010
    assert np.mean((t_hat - toy_data["t_xz"][:2000]) ** 2) < 0.1 * np.mean(toy_data["t_xz"][:2000] ** 2)
    # cross-section ratios sigma_b / sigma_ref of the basis benchmarks (the reference is basis point 0);
    # measured deviations up to 10% for seeds 0-4
    sigma_hat = np.exp(trained.model.log_sigma_ratio_components.detach().numpy()[:, 0])
    sigma_true = sigma(trained.morphing_basis[:, 0]) / sigma(0.0)
    np.testing.assert_allclose(sigma_hat / sigma_hat[0], sigma_true, rtol=0.2)


def test_quadratic_learns_the_true_ratio(trained_quadratic):
    mse = grid_mse(trained_quadratic)
    logging.getLogger(__name__).info("quadratic MSE %.4f", mse)
    assert mse < MSE_QUADRATIC
    # sigma(1) / sigma(0) = (1 + a)^2 + b^2 is 3 (initially 5; measured 3.3-3.8 for seeds 0-4: a and b
    # converge more slowly than the ratio)
    a = float(trained_quadratic.model.sigma_a.detach())
    b = float(trained_quadratic.model.sigma_b.detach())
    assert 2.4 < (1.0 + a) ** 2 + b**2 < 4.2


def test_scale_parameters_is_forced_off(trained, trained_quadratic, caplog, toy_data):
    for estimator in (trained, trained_quadratic):
        np.testing.assert_array_equal(estimator.theta_scaling_means, [0.0])
        np.testing.assert_array_equal(estimator.theta_scaling_stds, [1.0])
    estimator = QuadraticMorphingAwareRatioEstimator(n_hidden=(4,))
    with caplog.at_level(logging.DEBUG, logger="motherlode.ml.morphing_aware"):
        estimator.train(
            "carl",
            toy_data["x"][:200],
            toy_data["y"][:200],
            toy_data["theta"][:200] + 5.0,
            n_epochs=1,
            verbose="none",
            device="cpu",
            scale_parameters=True,
        )
    assert "not scaled" in caplog.text
    np.testing.assert_array_equal(estimator.theta_scaling_means, [0.0])


def test_torch_evaluation_and_fisher_information(trained):
    x = X_GRID[::5]
    log_r, t_hat = trained.evaluate_log_likelihood_ratio(x, THETA_GRID, evaluate_score=True)
    log_r_torch = trained.evaluate_log_likelihood_ratio_torch(torch.as_tensor(x), torch.as_tensor(THETA_GRID))
    np.testing.assert_allclose(log_r_torch.detach().numpy(), log_r, atol=1e-5)
    assert t_hat.shape == (len(THETA_GRID), len(x), 1)
    fisher = trained.calculate_fisher_information(x, theta=np.array([0.5]))
    score = trained.evaluate_score(x, np.array([0.5]))
    np.testing.assert_allclose(fisher, np.mean(score[:, :, None] * score[:, None, :], axis=0), rtol=1e-5)


# ---------------------------------------------------------------------------- saving and loading


def test_save_load_round_trip(trained, tmp_path):
    trained.save(tmp_path / "ma")
    settings = json.loads((tmp_path / "ma_settings.json").read_text())
    assert settings["estimator_type"] == "morphing_aware_ratio"
    np.testing.assert_array_equal(settings["components"], trained.components)
    np.testing.assert_array_equal(settings["morphing_matrix"], trained.morphing_matrix)
    loaded = MorphingAwareRatioEstimator()  # no setup file needed
    loaded.load(tmp_path / "ma")
    np.testing.assert_array_equal(loaded.morphing_matrix, trained.morphing_matrix)
    np.testing.assert_array_equal(loaded.morphing_basis, trained.morphing_basis)
    for estimator_a, estimator_b in ((trained, loaded),):
        a = estimator_a.evaluate_log_likelihood_ratio(X_GRID, THETA_GRID, evaluate_score=True)
        b = estimator_b.evaluate_log_likelihood_ratio(X_GRID, THETA_GRID, evaluate_score=True)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    with pytest.raises(FileFormatError, match="morphing_aware_ratio"):
        ParameterizedRatioEstimator().load(tmp_path / "ma")
    with pytest.raises(FileFormatError):
        QuadraticMorphingAwareRatioEstimator().load(tmp_path / "ma")


def test_loads_madminer_morphing_aware_files(trained, tmp_path):
    """MadMiner 0.9 writes morphing-aware estimators with estimator_type "parameterized_ratio"."""
    trained.save(tmp_path / "mm")
    settings_file = tmp_path / "mm_settings.json"
    settings = json.loads(settings_file.read_text())
    settings["estimator_type"] = "parameterized_ratio"
    del settings["morphing_basis"]  # not written by MadMiner
    settings_file.write_text(json.dumps(settings))
    loaded = MorphingAwareRatioEstimator()
    loaded.load(tmp_path / "mm")
    assert loaded.morphing_basis is None
    np.testing.assert_array_equal(
        loaded.evaluate_log_likelihood_ratio(X_GRID, THETA_GRID)[0],
        trained.evaluate_log_likelihood_ratio(X_GRID, THETA_GRID)[0],
    )
    with pytest.raises(FileFormatError, match="load_estimator"):
        ParameterizedRatioEstimator().load(tmp_path / "mm")


def test_quadratic_save_load_round_trip(trained_quadratic, tmp_path):
    trained_quadratic.save(tmp_path / "quad")
    settings = json.loads((tmp_path / "quad_settings.json").read_text())
    assert settings["estimator_type"] == "quadratic_morphing_aware_ratio"
    loaded = QuadraticMorphingAwareRatioEstimator()
    loaded.load(tmp_path / "quad")
    a = trained_quadratic.evaluate_log_likelihood_ratio(X_GRID, THETA_GRID)[0]
    np.testing.assert_array_equal(a, loaded.evaluate_log_likelihood_ratio(X_GRID, THETA_GRID)[0])
    with pytest.raises(FileFormatError):
        MorphingAwareRatioEstimator().load(tmp_path / "quad")


# ---------------------------------------------------------------------------- basis optimisation


def test_optimized_basis_is_valid_and_trains(setup_file, toy_data):
    file_matrix = read_setup(setup_file).morphing_matrix
    estimator = MorphingAwareRatioEstimator(
        setup_file, optimize_morphing_basis=True, n_hidden=(8,), random_state=3
    )
    basis, matrix = estimator.morphing_basis, estimator.morphing_matrix
    assert basis.shape == (3, 1)
    assert not np.allclose(matrix, file_matrix)
    assert np.all(np.abs(basis) <= 1.0)  # drawn in the parameter range
    # the morphing reproduces itself: w(theta_b) = e_b, and any quadratic polynomial is morphed exactly
    np.testing.assert_allclose(component_weights(basis, estimator.components) @ matrix, np.eye(3), atol=1e-9)
    coefficients = np.array([0.3, -1.2, 2.0])
    thetas = np.linspace(-1.0, 1.0, 7)[:, None]
    at_basis = component_weights(basis, estimator.components) @ coefficients
    morphed = (component_weights(thetas, estimator.components) @ matrix) @ at_basis
    np.testing.assert_allclose(morphed, component_weights(thetas, estimator.components) @ coefficients)
    torch.manual_seed(0)
    losses, _ = estimator.train("alices", **toy_data, **{**TRAIN, "n_epochs": 2})
    assert np.all(np.isfinite(losses))
    assert np.all(np.isfinite(estimator.evaluate_log_likelihood_ratio(X_GRID, THETA_GRID)[0]))


def test_overcomplete_basis_trains(tmp_path, toy_data):
    estimator = MorphingAwareRatioEstimator(make_setup(tmp_path / "s.h5", n_bases=2), n_hidden=(8,))
    assert estimator.morphing_matrix.shape == (3, 6)
    torch.manual_seed(0)
    estimator.train("alice", **toy_data, **{**TRAIN, "n_epochs": 1})
    assert len(estimator.model.dsigma_component_estimators) == 6
    assert np.all(np.isfinite(estimator.evaluate_log_likelihood_ratio(X_GRID, THETA_GRID)[0]))


# ---------------------------------------------------------------------------- errors


def test_missing_setup_file_names_the_file(tmp_path):
    missing = tmp_path / "no_such_setup.h5"
    with pytest.raises(FileFormatError, match=r"no_such_setup\.h5"):
        MorphingAwareRatioEstimator(missing)


def test_setup_without_morphing(tmp_path):
    path = make_setup(tmp_path / "plain.h5", morphing=False)
    with pytest.raises(InputError, match="no morphing setup"):
        MorphingAwareRatioEstimator(path)


def test_training_without_morphing_setup_or_with_wrong_dimension(setup_file, toy_data):
    data = {k: v[:100] for k, v in toy_data.items() if k in ("x", "y", "theta")}
    with pytest.raises(InputError, match="No morphing setup"):
        MorphingAwareRatioEstimator().train("carl", **data, n_epochs=1, verbose="none")
    data["theta"] = np.hstack([data["theta"], data["theta"]])
    with pytest.raises(InputError, match="parameters"):
        MorphingAwareRatioEstimator(setup_file).train("carl", **data, n_epochs=1, verbose="none")


def test_quadratic_needs_one_parameter(toy_data):
    data = {k: v[:100] for k, v in toy_data.items() if k in ("x", "y")}
    theta = np.hstack([toy_data["theta"][:100]] * 2)
    with pytest.raises(InputError, match="exactly one parameter"):
        QuadraticMorphingAwareRatioEstimator().train("carl", theta=theta, **data, n_epochs=1, verbose="none")
