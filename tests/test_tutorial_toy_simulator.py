"""MadMiner 0.9.6's tutorial ``examples/tutorial_toy_simulator/tutorial_toy_simulator.ipynb``, cell by cell.

The notebook draws latent z ~ N(theta, 2) and observables x ~ N(z, 1) with their joint likelihood ratio
and joint score, trains ``ParameterizedRatioEstimator(n_hidden=(20, 20))`` with CARL, ALICES (alpha = 0.1)
and a "mix" schedule (CARL for 10 epochs, then ALICES continuing on the same estimator), saves and loads
the models, and compares the expected log likelihood ratio -2 E_x[log r(x | theta, 0)] over a theta grid
for 1000 x drawn at theta = 1 with the truth (p(x | theta) = N(x; theta, sqrt 5)).

Written anew for motherlode (``from motherlode.ml import ParameterizedRatioEstimator``), with these
changes:

* the joint score is the correct one, t(x, z | theta) = (z - theta) / 4; the notebook's (x - theta) / 4
  makes the score methods learn 5/4 of the true score (``test_training_data`` shows the difference);
* 20k parameter points (40k training samples) instead of 50k, to keep the file fast;
* the two plotting cells are skipped (they use matplotlib's ``hist(normed=True)``, removed in
  matplotlib 3.1); their numbers are checked instead;
* files go to ``tmp_path`` (the notebook's ``data/`` and ``models/``); training runs on the CPU, seeded.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motherlode.ml import ParameterizedRatioEstimator

Z_STD = 2.0
X_STD = 1.0
N_PARAM_POINTS = 20_000  # the notebook: 50_000
N_PARAM_POINTS_TEST = 1000
THETA_GRID = np.linspace(-5.0, 5.0, 100).reshape(-1, 1)
GRID_STEP = 10.0 / 99.0

# MSE of log r over the grid x 1000 test x (the notebook's "MSE:" cells). Measured with 20k parameter
# points over 2 data sets x 2 torch seeds: carl 0.46-0.50, alices 0.12-0.14, mix 0.24-0.25 (its CARL
# stage alone 0.52-0.57); the constant prediction log r = 0 gives 3.4. Bounds about 2x the worst.
MSE_BOUNDS = {"carl": 1.0, "alices": 0.3, "mix": 0.5}


def simulate(rng, theta, theta0=None, theta1=None, theta_score=None, npoints=None):
    """The notebook's simulator, with the correct joint score.

    The joint likelihood is p(x, z | theta) = N(z; theta, 2) N(x; z, 1), so the joint ratio is
    p(z | theta0) / p(z | theta1) and the joint score d log p(x, z | theta) / d theta = (z - theta) / 4
    depends on z only. (The notebook writes (x - theta_score) / 4.)
    """
    z = rng.normal(loc=theta, scale=Z_STD, size=npoints)
    x = rng.normal(loc=z, scale=X_STD)
    r_xz = None
    if theta0 is not None and theta1 is not None:
        r_xz = np.exp(((z - theta1) ** 2 - (z - theta0) ** 2) / (2.0 * Z_STD**2))
    t_xz = None if theta_score is None else (z - theta_score) / Z_STD**2
    return x, r_xz, t_xz


def calculate_likelihood_ratio(x, theta0, theta1=0.0):
    """The notebook's true ratio p(x | theta0) / p(x | theta1), x ~ N(theta, sqrt(Z_STD^2 + X_STD^2))."""
    variance = Z_STD**2 + X_STD**2
    return np.exp(((x - theta1) ** 2 - (x - theta0) ** 2) / (2.0 * variance))


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory):
    """The notebook's data cells: training data (saved as ``data/*.npy``), test x at theta = 1, the theta
    grid and the true log r and -2 E[log r] on it."""
    folder = tmp_path_factory.mktemp("tutorial_toy_simulator")
    data = folder / "data"
    data.mkdir()
    rng = np.random.default_rng(20190404)

    theta0 = rng.uniform(low=-4.0, high=4.0, size=N_PARAM_POINTS)  # numerator, uniform prior
    theta1 = np.zeros(shape=N_PARAM_POINTS)  # denominator: fixed at 0
    x_from_theta0, r_xz_from_theta0, t_xz_from_theta0 = simulate(rng, theta0, theta0, theta1, theta0)
    x_from_theta1, r_xz_from_theta1, t_xz_from_theta1 = simulate(rng, theta1, theta0, theta1, theta0)
    arrays = {
        "x_train": np.hstack((x_from_theta0, x_from_theta1)).reshape(-1, 1),
        "r_xz_train": np.hstack((r_xz_from_theta0, r_xz_from_theta1)).reshape(-1, 1),
        "t_xz_train": np.hstack((t_xz_from_theta0, t_xz_from_theta1)).reshape(-1, 1),
        "y_train": np.hstack((np.zeros_like(x_from_theta0), np.ones_like(x_from_theta1))).reshape(-1, 1),
        "theta0_train": np.hstack((theta0, theta0)).reshape(-1, 1),
    }
    for name, values in arrays.items():
        np.save(data / f"{name}.npy", values)

    theta_test = 1.0 * np.ones(shape=N_PARAM_POINTS_TEST).reshape(-1, 1)
    x_test, _, _ = simulate(rng, theta_test)
    np.save(data / "x_test.npy", x_test)
    np.save(data / "theta_grid.npy", THETA_GRID)

    all_log_r_test_true = np.asarray(
        [np.log(calculate_likelihood_ratio(x_test, theta)) for theta in THETA_GRID]
    )
    all_log_r_test_true = all_log_r_test_true.reshape((len(THETA_GRID), N_PARAM_POINTS_TEST))
    nllr_test_true = -2.0 * np.mean(all_log_r_test_true, axis=1)
    return {
        "folder": folder,
        "data": data,
        "arrays": arrays,
        "x_test": x_test,
        "log_r_true": all_log_r_test_true,
        "nllr_true": nllr_test_true,
    }


def _data_file(tutorial, name):
    return str(tutorial["data"] / f"{name}.npy")


def _ratio_inputs(tutorial, with_augmented_data):
    inputs = {
        "x": _data_file(tutorial, "x_train"),
        "y": _data_file(tutorial, "y_train"),
        "theta": _data_file(tutorial, "theta0_train"),
    }
    if with_augmented_data:
        inputs["r_xz"] = _data_file(tutorial, "r_xz_train")
        inputs["t_xz"] = _data_file(tutorial, "t_xz_train")
    return inputs


def _evaluate(tutorial, estimator):
    """The notebook's evaluation cell: log r on the grid x test x, -2 E[log r], its MSE and best fit."""
    log_r, score = estimator.evaluate(
        theta=_data_file(tutorial, "theta_grid"), x=_data_file(tutorial, "x_test"), evaluate_score=False
    )
    assert score is None and log_r.shape == (len(THETA_GRID), N_PARAM_POINTS_TEST)
    nllr = -2.0 * np.mean(log_r, axis=1)
    mse = float(np.mean((tutorial["log_r_true"] - log_r) ** 2))
    best_fit = float(THETA_GRID[np.argmin(nllr), 0])
    return log_r, mse, best_fit


def test_simulator_and_true_likelihood_ratio():
    """The cell drawing 10k x at theta = -2 and at theta = 2 and plotting their histograms with the true
    log r(x | -2, 2) (plot skipped: ``normed=True``). Checked: the samples' means and standard deviations
    (sqrt 5) within 5 standard errors, and the true log ratio, which is linear, -0.8 x."""
    rng = np.random.default_rng(7)
    x0, r0, t0 = simulate(rng, -2, npoints=10_000)
    x1, _, _ = simulate(rng, 2, npoints=10_000)
    assert r0 is None and t0 is None and x0.shape == x1.shape == (10_000,)
    sigma = np.sqrt(Z_STD**2 + X_STD**2)
    for sample, mean in ((x0, -2.0), (x1, 2.0)):
        assert abs(sample.mean() - mean) < 5 * sigma / np.sqrt(len(sample))
        assert abs(sample.std() - sigma) < 5 * sigma / np.sqrt(2 * len(sample))
    xr = np.linspace(-4.0, 4.0, 100)
    rx = np.log(calculate_likelihood_ratio(xr, -2, 2))
    np.testing.assert_allclose(rx, -0.8 * xr, rtol=1e-12, atol=1e-14)


def test_training_data(tutorial):
    """The cells that simulate and save the training data: shapes, labels, the parameter points (each
    theta0 twice, once per class), and that the joint quantities carry the right information:
    E[t_xz | x] for samples drawn at theta0 is the true score (x - theta0) / 5 (regression slope 0.2; the
    notebook's joint score gives 0.25) and E[r_xz] over samples drawn at theta1 = 0 is 1."""
    arrays = {name: np.load(tutorial["data"] / f"{name}.npy") for name in tutorial["arrays"]}
    n = N_PARAM_POINTS
    for name, values in arrays.items():
        assert values.shape == (2 * n, 1), name
        np.testing.assert_array_equal(values, tutorial["arrays"][name])
    y, x, theta = arrays["y_train"][:, 0], arrays["x_train"][:, 0], arrays["theta0_train"][:, 0]
    np.testing.assert_array_equal(y, np.repeat([0.0, 1.0], n))
    np.testing.assert_array_equal(theta[:n], theta[n:])
    assert theta.min() >= -4.0 and theta.max() < 4.0
    numerator = y == 0
    residual = x[numerator] - theta[numerator]
    slope = np.sum(residual * arrays["t_xz_train"][numerator, 0]) / np.sum(residual**2)
    assert slope == pytest.approx(1.0 / (Z_STD**2 + X_STD**2), abs=0.01)
    assert abs(arrays["r_xz_train"][~numerator, 0].mean() - 1.0) < 0.1
    assert np.all(arrays["r_xz_train"] > 0.0)


def test_ground_truth_curve(tutorial):
    """The cells drawing 1000 test x at theta = 1 and computing the true log r on linspace(-5, 5, 100):
    -2 E[log r(x | theta, 0)] = (theta^2 - 2 theta mean(x)) / 5 is minimal at mean(x), whose standard
    deviation is sqrt(5 / 1000) = 0.071: the grid's argmin lies within 3 of them plus half a grid step
    of 1."""
    x_test = tutorial["x_test"]
    assert x_test.shape == (N_PARAM_POINTS_TEST, 1)
    expected = (THETA_GRID[:, 0] ** 2 - 2.0 * THETA_GRID[:, 0] * x_test.mean()) / 5.0
    np.testing.assert_allclose(tutorial["nllr_true"], expected, rtol=1e-10, atol=1e-12)
    best_fit_true = THETA_GRID[np.argmin(tutorial["nllr_true"]), 0]
    assert abs(best_fit_true - x_test.mean()) <= GRID_STEP / 2 + 1e-12
    assert abs(best_fit_true - 1.0) < 3 * np.sqrt(5.0 / N_PARAM_POINTS_TEST) + GRID_STEP / 2


def _check_model(tutorial, name, mse, best_fit):
    """The comparison cell (plot skipped): MSE below the measured bound, and the best fit near theta = 1.

    The estimated best fit must be within two grid steps (0.2) of the true curve's minimum (the measured
    runs are all within one step), and within 0.35 of theta = 1: 3 standard deviations of the maximum
    likelihood estimate from 1000 x (0.21), plus the 0.1 allowed for the estimator, plus rounding to
    the grid (0.05). A constant prediction log r = 0 gives -5, the first grid point.
    """
    best_fit_true = float(THETA_GRID[np.argmin(tutorial["nllr_true"]), 0])
    assert mse < MSE_BOUNDS[name], (name, mse)
    assert abs(best_fit - best_fit_true) <= 2 * GRID_STEP + 1e-9, (name, best_fit, best_fit_true)
    assert abs(best_fit - 1.0) < 0.35, (name, best_fit)


def _check_score(tutorial, name, estimator):
    """The estimated score at theta = 1 against the true one, (x - 1) / 5: a straight-line fit over the
    test x has slope 0.2 and intercept 0. Measured slopes: alices 0.201-0.203, mix 0.208-0.212; trained
    with the notebook's joint score (x - theta) / 4 instead: 0.230-0.232 and 0.238-0.241 (the log r MSE
    does not show that error at alpha = 0.1). Bound: 0.02 on the slope, 0.05 on the intercept."""
    x_test = tutorial["x_test"]
    score = estimator.evaluate_score(x=x_test, theta=np.array([[1.0]]))
    assert score.shape == (N_PARAM_POINTS_TEST, 1)
    slope, intercept = np.polyfit(x_test[:, 0] - 1.0, score[:, 0], 1)
    assert abs(slope - 1.0 / (Z_STD**2 + X_STD**2)) < 0.02, (name, slope)
    assert abs(intercept) < 0.05, (name, intercept)


def _load(tutorial, name):
    """The notebook's ``ParameterizedRatioEstimator(); load("models/<name>")``."""
    estimator = ParameterizedRatioEstimator()
    estimator.load(str(tutorial["folder"] / "models" / name))
    return estimator


@pytest.mark.usefixtures("one_torch_thread")
def test_carl(tutorial):
    """The CARL cells: train (20 epochs) and save, load, evaluate; MSE and best fit."""
    torch.manual_seed(11)
    carl = ParameterizedRatioEstimator(n_hidden=(20, 20))
    train_losses, val_losses = carl.train(
        method="carl", **_ratio_inputs(tutorial, False), n_epochs=20, verbose="none", device="cpu"
    )
    assert 0 < len(train_losses) <= 20 and len(val_losses) == len(train_losses)
    carl.save(str(tutorial["folder"] / "models" / "carl"))
    loaded = _load(tutorial, "carl")
    log_r, mse, best_fit = _evaluate(tutorial, loaded)
    np.testing.assert_array_equal(log_r, _evaluate(tutorial, carl)[0])
    _check_model(tutorial, "carl", mse, best_fit)


@pytest.mark.usefixtures("one_torch_thread")
def test_alices(tutorial):
    """The ALICES cells (alpha = 0.1, 20 epochs): train, save, load, evaluate; MSE, best fit, and the
    estimated score (added)."""
    torch.manual_seed(12)
    alices = ParameterizedRatioEstimator(n_hidden=(20, 20))
    alices.train(
        method="alices", **_ratio_inputs(tutorial, True), alpha=0.1, n_epochs=20, verbose="none", device="cpu"
    )
    alices.save(str(tutorial["folder"] / "models" / "alices"))
    loaded = _load(tutorial, "alices")
    _, mse, best_fit = _evaluate(tutorial, loaded)
    _check_model(tutorial, "alices", mse, best_fit)
    _check_score(tutorial, "alices", loaded)


@pytest.mark.usefixtures("one_torch_thread")
def test_mix(tutorial):
    """The "mix" cells: CARL for 10 epochs (lr 1e-3 -> 3e-4), then a second ``train`` call with ALICES
    (alpha = 0.1, 10 epochs, lr 3e-4 -> 1e-4) on the same estimator, which continues from the CARL
    weights: the network and the input scaling are the same objects and values, and the ALICES stage
    improves the CARL stage's MSE (measured: 0.52-0.57 -> 0.24-0.25; asserted: by a factor 1.5).
    Then save, load, evaluate; MSE, best fit, and the estimated score (added)."""
    torch.manual_seed(13)
    mix = ParameterizedRatioEstimator(n_hidden=(20, 20))
    mix.train(
        method="carl",
        **_ratio_inputs(tutorial, False),
        n_epochs=10,
        initial_lr=0.001,
        final_lr=0.0003,
        verbose="none",
        device="cpu",
    )
    model = mix.model
    scaling = (mix.x_scaling_means.copy(), mix.x_scaling_stds.copy(), mix.theta_scaling_means.copy())
    _, mse_carl_stage, _ = _evaluate(tutorial, mix)
    mix.train(
        method="alices",
        **_ratio_inputs(tutorial, True),
        alpha=0.1,
        n_epochs=10,
        initial_lr=0.0003,
        final_lr=0.0001,
        verbose="none",
        device="cpu",
    )
    assert mix.model is model
    for before, after in zip(
        scaling, (mix.x_scaling_means, mix.x_scaling_stds, mix.theta_scaling_means), strict=True
    ):
        np.testing.assert_array_equal(before, after)
    mix.save(str(tutorial["folder"] / "models" / "mix"))
    loaded = _load(tutorial, "mix")
    _, mse, best_fit = _evaluate(tutorial, loaded)
    assert mse < mse_carl_stage / 1.5, (mse, mse_carl_stage)
    _check_model(tutorial, "mix", mse, best_fit)
    _check_score(tutorial, "mix", loaded)


@pytest.mark.usefixtures("one_torch_thread")
def test_second_train_call_starts_from_the_trained_weights(tutorial):
    """What the "mix" schedule relies on, directly: a second ``train`` call with a vanishing learning rate
    (1e-12, one epoch) leaves the predictions of the first one unchanged (a re-initialised network would
    predict something else entirely), whatever the method of the second call."""
    torch.manual_seed(14)
    estimator = ParameterizedRatioEstimator(n_hidden=(20, 20))
    inputs = _ratio_inputs(tutorial, True)
    estimator.train(method="carl", **inputs, n_epochs=1, verbose="none", device="cpu")
    before, _, _ = _evaluate(tutorial, estimator)
    estimator.train(
        method="alices",
        **inputs,
        alpha=0.1,
        n_epochs=1,
        initial_lr=1e-12,
        final_lr=1e-12,
        verbose="none",
        device="cpu",
    )
    after, _, _ = _evaluate(tutorial, estimator)
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)
    assert np.std(before) > 0.1  # the first call trained something non-trivial
