"""Tests of the doubly parameterized likelihood-ratio estimator on MadMiner's toy simulator.

Toy: z ~ N(theta, 2), x ~ N(z, 1), so p(x|theta) = N(x; theta, sqrt 5).
Joint ratio r(x,z|theta0,theta1) = N(z;theta0,2)/N(z;theta1,2), joint scores t(x,z|theta) = (z - theta)/4.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from motherlode.errors import InputError
from motherlode.ml import (
    DOUBLE_LOSSES,
    DoubleParameterizedRatioEstimator,
    TheresAGoodReasonThisDoesntWork,
    get_double_loss,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def simulate(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """n samples from theta0 (y=0) and n from theta1 (y=1), theta0, theta1 ~ U(-3, 3)."""
    theta0 = rng.uniform(-3.0, 3.0, 2 * n)
    theta1 = rng.uniform(-3.0, 3.0, 2 * n)
    y = np.concatenate([np.zeros(n), np.ones(n)])
    z = rng.normal(np.where(y == 0, theta0, theta1), 2.0)
    x = rng.normal(z, 1.0)
    log_r_xz = ((z - theta1) ** 2 - (z - theta0) ** 2) / 8.0
    return {
        "x": x[:, None],
        "y": y[:, None],
        "theta0": theta0[:, None],
        "theta1": theta1[:, None],
        "r_xz": np.exp(log_r_xz)[:, None],
        "t_xz0": ((z - theta0) / 4.0)[:, None],
        "t_xz1": ((z - theta1) / 4.0)[:, None],
    }


def true_log_r(x: np.ndarray, theta0: np.ndarray, theta1: np.ndarray) -> np.ndarray:
    """Exact log p(x|theta0)/p(x|theta1), shape (n_thetas, n_x)."""
    x = x.reshape(1, -1)
    t0, t1 = theta0.reshape(-1, 1), theta1.reshape(-1, 1)
    return ((x - t1) ** 2 - (x - t0) ** 2) / 10.0


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    data = simulate(7500, rng)
    torch.manual_seed(0)
    est = DoubleParameterizedRatioEstimator(n_hidden=(50, 50))
    est.train(
        "alices",
        **data,
        n_epochs=20,
        batch_size=128,
        initial_lr=3e-3,
        final_lr=3e-4,
        verbose="none",
        device="cpu",
    )
    return est


@pytest.mark.parametrize("theta1_value", [1.5, -1.0])
def test_accuracy(trained, theta1_value):
    rng = np.random.default_rng(1)
    grid = np.linspace(-2.5, 2.5, 11)[:, None]
    theta1 = np.full_like(grid, theta1_value)
    x_test = rng.normal(0.0, np.sqrt(5.0), 1000)[:, None]
    log_r_hat, t0, t1 = trained.evaluate_log_likelihood_ratio(x_test, grid, theta1)
    assert log_r_hat.shape == (11, 1000) and t0 is None and t1 is None
    truth = true_log_r(x_test, grid, theta1)
    mse = np.mean((log_r_hat - truth) ** 2)
    assert mse < 0.02 and mse < 0.05 * np.var(truth), (mse, np.var(truth))


# MSE bounds of log r for 15k samples, 20 epochs (measured with seeds 0 and 1: carl 0.009-0.012, rolr
# 0.007-0.031, alice 0.002-0.003, cascal 0.002-0.003, rascal 0.007-0.028, alices 0.001-0.002; an untrained or
# theta-blind network gives about the variance of log r, 0.7-1.0)
DOUBLE_MSE_BOUNDS = {
    "carl": 0.03,
    "rolr": 0.06,
    "alice": 0.01,
    "cascal": 0.01,
    "rascal": 0.06,
    "alices": 0.01,
}


@pytest.mark.parametrize("method", list(DOUBLE_MSE_BOUNDS))
def test_accuracy_every_method(method):
    """Every method learns log r(x|theta0, theta1) on a grid and at random pairs of free thetas."""
    data = simulate(7500, np.random.default_rng(0))
    torch.manual_seed(0)
    est = DoubleParameterizedRatioEstimator(n_hidden=(50, 50))
    est.train(
        method, **data, n_epochs=20, initial_lr=3e-3, final_lr=3e-4, verbose="none", device="cpu"
    )  # fmt: skip
    rng = np.random.default_rng(1)
    grid = np.linspace(-2.5, 2.5, 11)[:, None]
    x_test = rng.normal(0.0, np.sqrt(5.0), (1000, 1))
    log_r, _, _ = est.evaluate_log_likelihood_ratio(x_test, grid, np.full_like(grid, 1.5))
    assert (
        np.mean((log_r - true_log_r(x_test, grid, np.full_like(grid, 1.5))) ** 2) < DOUBLE_MSE_BOUNDS[method]
    )
    theta0, theta1 = rng.uniform(-2.5, 2.5, (1000, 1)), rng.uniform(-2.5, 2.5, (1000, 1))
    paired, _, _ = est.evaluate_log_likelihood_ratio(x_test, theta0, theta1, test_all_combinations=False)
    truth = ((x_test[:, 0] - theta1[:, 0]) ** 2 - (x_test[:, 0] - theta0[:, 0]) ** 2) / 10.0
    assert np.mean((paired - truth) ** 2) < DOUBLE_MSE_BOUNDS[method] * 1.5


def test_scores_match_truth_and_shapes(trained):
    rng = np.random.default_rng(2)
    x = rng.normal(0.0, np.sqrt(5.0), 500)[:, None]
    th0, th1 = np.array([[0.5], [-1.0]]), np.array([[-0.5], [2.0]])
    log_r, t0, t1 = trained.evaluate_log_likelihood_ratio(x, th0, th1, evaluate_score=True)
    assert log_r.shape == (2, 500) and t0.shape == (2, 500, 1) and t1.shape == (2, 500, 1)
    true_t0 = (x[None, :, 0] - th0) / 5.0
    true_t1 = -(x[None, :, 0] - th1) / 5.0
    assert np.mean((t0[..., 0] - true_t0) ** 2) < 0.1 * np.var(true_t0)
    assert np.mean((t1[..., 0] - true_t1) ** 2) < 0.1 * np.var(true_t1)


def test_antisymmetry_exact(trained):
    rng = np.random.default_rng(3)
    x = rng.normal(0.0, 2.0, 200)[:, None]
    a, b = rng.uniform(-3, 3, (200, 1)), rng.uniform(-3, 3, (200, 1))
    r_ab, _, _ = trained.evaluate_log_likelihood_ratio(x, a, b, test_all_combinations=False)
    r_ba, _, _ = trained.evaluate_log_likelihood_ratio(x, b, a, test_all_combinations=False)
    assert r_ab.shape == (200,)
    np.testing.assert_array_equal(r_ab, -r_ba)
    r_aa, _, _ = trained.evaluate_log_likelihood_ratio(x, a, a, test_all_combinations=False)
    np.testing.assert_array_equal(r_aa, np.zeros(200))


def test_scores_equal_finite_differences(trained):
    assert trained.theta_scaling_stds is not None and not np.allclose(trained.theta_scaling_stds, 1.0)
    rng = np.random.default_rng(4)
    x = rng.normal(0.0, 2.0, 100)[:, None]
    a, b = rng.uniform(-2, 2, (100, 1)), rng.uniform(-2, 2, (100, 1))
    eps = 1e-2
    ev = trained.evaluate_log_likelihood_ratio
    _, t0, t1 = ev(x, a, b, test_all_combinations=False, evaluate_score=True)
    fd0 = (ev(x, a + eps, b, False)[0] - ev(x, a - eps, b, False)[0]) / (2 * eps)
    fd1 = (ev(x, a, b + eps, False)[0] - ev(x, a, b - eps, False)[0]) / (2 * eps)
    np.testing.assert_allclose(t0[:, 0], fd0, atol=3e-3)
    np.testing.assert_allclose(t1[:, 0], fd1, atol=3e-3)
    # evaluate_score: d/d theta0 at fixed theta1, single row broadcast
    np.testing.assert_allclose(trained.evaluate_score(x, a, b), t0, rtol=1e-6)
    single = trained.evaluate_score(x, np.array([0.3]), np.array([1.0]))
    _, t0_single, _ = ev(x, [[0.3]], [[1.0]], evaluate_score=True)
    np.testing.assert_allclose(single, t0_single[0], rtol=1e-6)
    fisher = trained.calculate_fisher_information(x, theta=np.array([0.0]))
    assert fisher.shape == (1, 1) and fisher[0, 0] > 0


def test_save_load_roundtrip(trained, tmp_path):
    prefix = str(tmp_path / "double")
    trained.save(prefix)
    with open(prefix + "_settings.json") as f:
        assert json.load(f)["estimator_type"] == "double_parameterized_ratio"
    loaded = DoubleParameterizedRatioEstimator()
    loaded.load(prefix)
    rng = np.random.default_rng(5)
    x = rng.normal(0.0, 2.0, 50)[:, None]
    th0, th1 = np.array([[0.0], [1.0]]), np.array([[2.0], [-1.0]])
    for a, b in zip(
        trained.evaluate_log_likelihood_ratio(x, th0, th1, evaluate_score=True),
        loaded.evaluate_log_likelihood_ratio(x, th0, th1, evaluate_score=True),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.theta_scaling_means, trained.theta_scaling_means)


def test_errors(trained):
    with pytest.raises(TheresAGoodReasonThisDoesntWork):
        trained.evaluate_log_likelihood(np.zeros((2, 1)), np.zeros((1, 1)))
    with pytest.raises(InputError):
        trained.evaluate_log_likelihood_ratio(np.zeros((3, 1)), np.zeros((2, 1)), np.zeros((1, 1)))
    with pytest.raises(InputError):
        get_double_loss("sally")
    data = simulate(20, np.random.default_rng(6))
    with pytest.raises(InputError, match="t_xz1"):
        DoubleParameterizedRatioEstimator().train("cascal", **{**data, "t_xz1": None}, n_epochs=1)


@pytest.mark.parametrize("method", list(DOUBLE_LOSSES))
def test_all_methods_run(method):
    data = simulate(200, np.random.default_rng(7))
    torch.manual_seed(0)
    est = DoubleParameterizedRatioEstimator(n_hidden=(10,))
    train_loss, val_loss = est.train(
        method, **data, n_epochs=2, verbose="none", device="cpu", shuffle_labels=True
    )
    assert len(train_loss) == 2 and np.all(np.isfinite(train_loss)) and np.all(np.isfinite(val_loss))
    assert get_double_loss(method).method == method + "2"


def test_score_loss_masks():
    loss = get_double_loss("cascal", alpha=2.0)
    y = torch.tensor([[0.0], [1.0]])
    outputs = {
        "log_r_hat": torch.zeros(2, 1),
        "t_hat0": torch.tensor([[1.0], [100.0]]),
        "t_hat1": torch.tensor([[100.0], [3.0]]),
    }
    batch = {"y": y, "t_xz0": torch.zeros(2, 1), "t_xz1": torch.zeros(2, 1)}
    comps = loss(outputs, batch)
    assert comps["mse_score0"].item() == pytest.approx(1.0)
    assert comps["mse_score1"].item() == pytest.approx(9.0)
    assert loss.total(comps).item() == pytest.approx(np.log(2.0) + 2.0 * 10.0, rel=1e-6)
