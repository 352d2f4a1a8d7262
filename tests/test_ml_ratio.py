"""Tests of the parameterized likelihood-ratio estimator on MadMiner's toy simulator, correct joint score.

Toy: z ~ N(theta, 2), x ~ N(z, 1), so p(x|theta) = N(x; theta, sqrt 5). Reference theta1 = 0.
Joint ratio r(x,z|theta0,theta1) = N(z;theta0,2)/N(z;theta1,2), joint score t(x,z|theta0) = (z - theta0)/4.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from motherlode.errors import FileFormatError, InputError
from motherlode.ml import (
    ACTIVATIONS,
    ParameterizedRatioEstimator,
    TheresAGoodReasonThisDoesntWork,
    Trainer,
    TrainingError,
    get_loss,
)
from motherlode.ml.networks import DenseNetwork, ParameterizedRatioModel

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DATA = Path(__file__).parent / "data" / "ml"
METHODS = ("carl", "rolr", "alice", "cascal", "rascal", "alices")

# MSE of log r_hat on MadMiner's test grid reported for MadMiner 0.9.6 (anatomy report, section 5.1; one
# unseeded run, 50 epochs). carl and rolr do not reach these figures on this data set, and neither does
# MadMiner 0.9.6 itself: on the identical data (seed 0, correct joint score, n_workers=0) it gives
# carl 0.223 and rolr 0.081 (seeds 1, 2: carl 0.223/0.355, rolr 0.192/0.289). For those two methods the test
# asserts that figure instead; see the report to the lead.
PUBLISHED_MSE = {
    "carl": 0.114,
    "rolr": 0.065,
    "alice": 0.152,
    "cascal": 0.052,
    "rascal": 0.051,
    "alices": 0.074,
}
MADMINER_SAME_DATA_MSE = {"carl": 0.223, "rolr": 0.081}
N_EPOCHS = 100


def simulate_toy(n_thetas: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Training data as SampleAugmenter gives them: y=0 from theta0 ~ U(-4, 4), y=1 from theta1 = 0."""
    theta0 = rng.uniform(-4.0, 4.0, n_thetas)
    z0 = rng.normal(theta0, 2.0)
    x0 = rng.normal(z0, 1.0)
    z1 = rng.normal(0.0, 2.0, n_thetas)
    x1 = rng.normal(z1, 1.0)
    z, theta, x = np.concatenate([z0, z1]), np.concatenate([theta0, theta0]), np.concatenate([x0, x1])
    log_r_xz = (z**2 - (z - theta) ** 2) / 8.0
    y = np.concatenate([np.zeros(n_thetas), np.ones(n_thetas)])
    return {
        "x": x[:, None],
        "theta": theta[:, None],
        "y": y[:, None],
        "r_xz": np.exp(log_r_xz)[:, None],
        "t_xz": ((z - theta) / 4.0)[:, None],
    }


def true_log_r(x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """log N(x; theta, sqrt5) - log N(x; 0, sqrt5), shape (n_theta, n_x)."""
    return (x.reshape(1, -1) ** 2 - (x.reshape(1, -1) - theta.reshape(-1, 1)) ** 2) / 10.0


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    data = simulate_toy(5000, rng)
    x_test = rng.normal(rng.normal(1.0, 2.0, 50), 1.0)[:, None]
    grid = np.linspace(-4.0, 4.0, 20)[:, None]
    return data, x_test, grid


@pytest.fixture(scope="module")
def trained(toy):
    """Estimators trained per method on 10k samples, n_hidden=(50, 50), cached for the module."""
    data, _, _ = toy
    cache: dict[str, ParameterizedRatioEstimator] = {}

    def get(method: str) -> ParameterizedRatioEstimator:
        if method not in cache:
            torch.manual_seed(0)
            est = ParameterizedRatioEstimator(n_hidden=(50, 50))
            est.train(method, **_kw(data), n_epochs=N_EPOCHS, verbose="none", device="cpu")
            cache[method] = est
        return cache[method]

    return get


def _kw(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: data[k] for k in ("x", "y", "theta", "r_xz", "t_xz")}


def _head(data: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """n samples drawn from both classes (the toy arrays hold all y=0 samples first)."""
    idx = np.random.default_rng(99).permutation(len(data["x"]))[:n]
    return {k: data[k][idx] for k in ("x", "y", "theta", "r_xz", "t_xz")}


def _mse(est: ParameterizedRatioEstimator, x_test: np.ndarray, grid: np.ndarray) -> float:
    log_r_hat, _ = est.evaluate_log_likelihood_ratio(x_test, grid)
    return float(np.mean((log_r_hat - true_log_r(x_test, grid)) ** 2))


@pytest.mark.parametrize("method", METHODS)
def test_accuracy_vs_madminer(method, toy, trained):
    _, x_test, grid = toy
    mse = _mse(trained(method), x_test, grid)
    threshold = MADMINER_SAME_DATA_MSE.get(method, PUBLISHED_MSE[method])
    assert mse < threshold, f"{method}: MSE {mse:.4f} >= {threshold}"


@pytest.mark.parametrize("method", ["alices", "rascal"])
def test_score_matches_true_score(method, trained):
    """Scaling consistency: with scale_parameters=True the score comes back in physical units."""
    est = trained(method)
    assert est.theta_scaling_stds[0] > 2.0  # theta ~ U(-4, 4): std ~ 2.3, so a missing factor would show
    x = np.linspace(-3.0, 4.0, 40)[:, None]
    t_hat = est.evaluate_score(x, np.array([1.0]))
    t_true = (x - 1.0) / 5.0
    slope = np.polyfit(x[:, 0], t_hat[:, 0], 1)[0]
    assert slope == pytest.approx(0.2, rel=0.25)
    assert np.mean(np.abs(t_hat - t_true)) < 0.1


def test_shuffle_labels_learns_nothing(toy, trained):
    data, x_test, grid = toy
    torch.manual_seed(0)
    est = ParameterizedRatioEstimator(n_hidden=(50, 50))
    est.train("alices", **_kw(data), n_epochs=10, shuffle_labels=True, verbose="none", device="cpu")
    variance = float(np.mean(true_log_r(x_test, grid) ** 2))  # MSE of the prediction log r = 0
    shuffled = _mse(est, x_test, grid)
    good = _mse(trained("alices"), x_test, grid)
    assert shuffled > 0.5 * variance
    assert good < 0.1 * shuffled


def test_shuffle_labels_keeps_triples_together():
    est = ParameterizedRatioEstimator(n_hidden=(5,))
    n = 200
    y = (np.arange(n) % 2).astype(float)
    r = np.arange(n, dtype=float) + 1.0
    t = 10.0 * r
    captured = {}

    class Spy(Trainer):
        def train(self, data, data_val=None, **kwargs):
            captured.update(data)
            return np.zeros(1), np.zeros(0)

    import motherlode.ml.base as pr  # the estimators train through Estimator._fit

    original = pr.Trainer
    pr.Trainer = Spy
    try:
        est.train(
            "rascal", np.zeros((n, 1)), y, np.zeros(n), r, t, shuffle_labels=True, scale_parameters=False
        )
    finally:
        pr.Trainer = original
    r_s, t_s, y_s = captured["r_xz"][:, 0], captured["t_xz"][:, 0], captured["y"][:, 0]
    assert not np.array_equal(r_s, r)
    np.testing.assert_allclose(t_s, 10.0 * r_s)
    np.testing.assert_allclose(y_s, (r_s - 1.0) % 2)


@pytest.mark.parametrize("method", ["cascal", "rascal", "alices"])
def test_score_term_alone_reaches_every_weight(method):
    torch.manual_seed(1)
    model = ParameterizedRatioModel(2, 2, (8, 8))
    n = 64
    batch = {
        "x": torch.randn(n, 2),
        "theta": torch.randn(n, 2),
        "y": (torch.arange(n) % 2).float()[:, None],
        "r_xz": torch.rand(n, 1) + 0.5,
        "t_xz": torch.randn(n, 2),
    }
    loss = get_loss(method)
    log_r_hat, t_hat = model(batch["theta"], batch["x"], track_score=True, create_graph=True)
    components = loss({"log_r_hat": log_r_hat, "t_hat": t_hat}, batch)
    assert set(components) >= {"mse_score"}
    components["mse_score"].backward()
    for name, param in model.named_parameters():
        if name == "layers.2.bias":  # the output bias cannot change d log r / d theta
            assert param.grad is None or torch.all(param.grad == 0)
        else:
            assert param.grad is not None and torch.count_nonzero(param.grad) > 0, name


def test_score_term_uses_only_numerator_samples():
    loss = get_loss("cascal", alpha=1.0)
    y = torch.tensor([[0.0], [1.0], [1.0], [1.0]])
    t_hat = torch.tensor([[1.0], [5.0], [5.0], [5.0]])
    t_xz = torch.zeros(4, 1)
    components = loss({"log_r_hat": torch.zeros(4, 1), "t_hat": t_hat}, {"y": y, "t_xz": t_xz})
    assert float(components["mse_score"]) == pytest.approx(1.0)  # mean over the single y=0 sample


def test_carl_loss_is_madminer_bce():
    log_r = torch.tensor([[-2.0], [0.3], [1.5]])
    y = torch.tensor([[0.0], [1.0], [0.0]])
    s_hat = 1.0 / (1.0 + torch.exp(log_r))
    expected = torch.nn.functional.binary_cross_entropy(s_hat, y)
    got = get_loss("carl")({"log_r_hat": log_r}, {"y": y})["xe"]
    assert float(got) == pytest.approx(float(expected), rel=1e-6)


def test_save_load_round_trip(tmp_path, trained, toy):
    _, x_test, grid = toy
    est = trained("alices")
    prefix = tmp_path / "sub" / "model"
    est.save(prefix)
    settings = json.loads((tmp_path / "sub" / "model_settings.json").read_text())
    assert settings["estimator_type"] == "parameterized_ratio"
    assert (
        settings["n_hidden"] == [50, 50] and settings["n_observables"] == 1 and settings["n_parameters"] == 1
    )
    for suffix in ("state_dict.pt", "x_means.npy", "x_stds.npy", "theta_means.npy", "theta_stds.npy"):
        assert (tmp_path / "sub" / f"model_{suffix}").is_file()
    assert not list((tmp_path / "sub").glob("*.tmp"))
    torch.load(str(prefix) + "_state_dict.pt", weights_only=True)
    loaded = ParameterizedRatioEstimator()
    loaded.load(prefix)
    a, ta = est.evaluate_log_likelihood_ratio(x_test, grid, evaluate_score=True)
    b, tb = loaded.evaluate_log_likelihood_ratio(x_test, grid, evaluate_score=True)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ta, tb)


def test_load_reports_a_broken_state_dict(tmp_path, trained):
    est = trained("alices")
    est.save(tmp_path / "model")
    (tmp_path / "model_state_dict.pt").write_bytes(b"not a torch file")
    with pytest.raises(FileFormatError, match=r"model_state_dict\.pt"):
        ParameterizedRatioEstimator().load(tmp_path / "model")
    est.save(tmp_path / "small")
    settings = json.loads((tmp_path / "small_settings.json").read_text())
    settings["n_hidden"] = [7]
    (tmp_path / "small_settings.json").write_text(json.dumps(settings))
    with pytest.raises(FileFormatError, match=r"small_state_dict\.pt"):
        ParameterizedRatioEstimator().load(tmp_path / "small")


def test_model_trained_on_gpu_loads_on_cpu():
    """An ALICES model trained on an H100 (benchmarks/ml_gpu.py --save) gives its recorded outputs on CPU."""
    prefix = DATA / "alices_gpu"
    reference = np.load(DATA / "alices_gpu_reference.npz")
    loaded = ParameterizedRatioEstimator()
    loaded.load(prefix)
    log_r, _ = loaded.evaluate_log_likelihood_ratio(reference["x"], reference["theta"])
    np.testing.assert_allclose(log_r, reference["log_r_hat"], atol=1e-5)
    # and it learnt the toy (4 epochs at batch size 8192: MSE 0.10 against a variance of log r of 1.67)
    true = (reference["x"][None, :, 0] ** 2 - (reference["x"][None, :, 0] - reference["theta"]) ** 2) / 10.0
    assert np.mean((log_r - true) ** 2) < 0.15


def test_early_stopping_restores_best_epoch(toy):
    data, _, _ = toy
    rng = np.random.default_rng(5)
    val = simulate_toy(1000, rng)
    small = _head(data, 2000)
    torch.manual_seed(0)
    est = ParameterizedRatioEstimator(n_hidden=(20, 20))
    # SGD with a learning rate growing from 0.01 to 100: good early epochs, then divergence
    _, val_losses = est.train(
        "carl", small["x"], small["y"], small["theta"],
        x_val=val["x"], y_val=val["y"], theta_val=val["theta"],
        optimizer="sgd", initial_lr=0.01, final_lr=100.0, n_epochs=8, verbose="none", device="cpu",
    )  # fmt: skip
    best = int(np.argmin(val_losses))
    assert best < len(val_losses) - 1 and val_losses[-1] > 1.5 * val_losses[best]
    log_r_hat, _ = est.evaluate_log_likelihood_ratio(val["x"], val["theta"], test_all_combinations=False)
    logits = torch.tensor(-log_r_hat, dtype=torch.float64)
    restored_loss = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.tensor(val["y"][:, 0], dtype=torch.float64)
    )
    assert float(restored_loss) == pytest.approx(val_losses[best], rel=1e-4)


def test_early_stopping_patience_stops(toy):
    data, _, _ = toy
    torch.manual_seed(0)
    est = ParameterizedRatioEstimator(n_hidden=(10,))
    small = _head(data, 1000)
    train_losses, val_losses = est.train(
        "carl", small["x"], small["y"], small["theta"], optimizer="sgd",
        initial_lr=0.01, final_lr=1000.0, n_epochs=30, early_stopping_patience=2, verbose="none",
    )  # fmt: skip
    assert len(train_losses) == len(val_losses) < 30
    assert len(val_losses) - 1 - int(np.argmin(val_losses)) == 3


@pytest.mark.parametrize("scale_parameters", [True, False])
def test_score_equals_finite_difference_of_log_r(toy, scale_parameters):
    data, _, _ = toy
    torch.manual_seed(0)
    est = ParameterizedRatioEstimator(n_hidden=(20, 20))
    est.train("alices", **_kw(data), n_epochs=2, verbose="none", scale_parameters=scale_parameters)
    x = np.linspace(-4, 5, 30)[:, None]
    theta = np.array([[0.7]])
    h = 1e-2
    _, t_hat = est.evaluate_log_likelihood_ratio(x, theta, evaluate_score=True)
    up, _ = est.evaluate_log_likelihood_ratio(x, theta + h)
    down, _ = est.evaluate_log_likelihood_ratio(x, theta - h)
    np.testing.assert_allclose(t_hat[0, :, 0], (up[0] - down[0]) / (2 * h), atol=2e-3, rtol=1e-2)
    assert t_hat.shape == (1, 30, 1)


def test_evaluation_shapes_and_torch_path(trained, toy):
    _, x_test, grid = toy
    est = trained("carl")
    log_r, t = est.evaluate_log_likelihood_ratio(x_test, grid)
    assert log_r.shape == (20, 50) and t is None
    paired, t_paired = est.evaluate_log_likelihood_ratio(
        x_test, np.full((50, 1), 0.5), False, evaluate_score=True
    )
    assert paired.shape == (50,) and t_paired.shape == (50, 1)
    torch_all = est.evaluate_log_likelihood_ratio_torch(torch.tensor(x_test), torch.tensor(grid))
    np.testing.assert_allclose(torch_all.detach().numpy(), log_r, rtol=1e-5, atol=1e-5)
    theta = torch.tensor(grid[:3], requires_grad=True)
    est.evaluate_log_likelihood_ratio_torch(torch.tensor(x_test), theta).sum().backward()
    assert theta.grad is not None and torch.all(torch.isfinite(theta.grad))
    np.testing.assert_allclose(est.evaluate(x_test, grid)[0], log_r)


def test_evaluate_log_likelihood_raises(trained):
    with pytest.raises(TheresAGoodReasonThisDoesntWork):
        trained("carl").evaluate_log_likelihood(np.zeros((2, 1)), np.zeros((1, 1)))
    assert issubclass(TheresAGoodReasonThisDoesntWork, InputError)


def test_fisher_information(trained):
    est = trained("alices")
    x = np.linspace(-3, 3, 11)[:, None]
    weights = np.arange(1.0, 12.0)
    before = weights.copy()
    info = est.calculate_fisher_information(x, np.array([0.5]), weights=weights, n_events=7)
    np.testing.assert_array_equal(weights, before)
    t = est.evaluate_score(x, np.array([0.5]))
    expected = 7 * np.einsum("n,ni,nj->ij", weights / weights.sum(), t, t)
    np.testing.assert_allclose(info, expected, rtol=1e-10)
    per_event = est.calculate_fisher_information(x, np.array([0.5]), sum_events=False)
    assert per_event.shape == (11, 1, 1)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_all_activations_train(activation, toy):
    data, x_test, grid = toy
    torch.manual_seed(0)
    est = ParameterizedRatioEstimator(n_hidden=(8, 8), activation=activation, dropout_prob=0.1)
    est.train("alices", **_head(data, 500), n_epochs=1, verbose="none")
    log_r, _ = est.evaluate_log_likelihood_ratio(x_test, grid)
    assert np.all(np.isfinite(log_r))


def test_sigmoid_is_a_real_sigmoid():
    net = DenseNetwork(2, (3,), 1, activation="sigmoid")
    assert isinstance(net.activations[0], torch.nn.Sigmoid)


def test_npy_paths_memmap_and_limit_samplesize(tmp_path, toy):
    data, x_test, grid = toy
    paths = {}
    for key, arr in _head(data, 4000).items():
        paths[key] = str(tmp_path / f"{key}.npy")
        np.save(paths[key], arr)
    torch.manual_seed(0)
    est = ParameterizedRatioEstimator(n_hidden=(8,))
    train_losses, val_losses = est.train(
        "rascal",
        **paths,
        memmap=True,
        limit_samplesize=1000,
        n_epochs=2,
        validation_split=None,
        verbose="none",
    )
    assert train_losses.shape == (2,) and val_losses.shape == (0,)
    np.testing.assert_allclose(est.x_scaling_means, _head(data, 4000)["x"][:1000].mean(axis=0))
    np.save(tmp_path / "grid.npy", grid)
    np.save(tmp_path / "xt.npy", x_test)
    a, _ = est.evaluate(str(tmp_path / "xt.npy"), str(tmp_path / "grid.npy"))
    b, _ = est.evaluate(x_test, grid)
    np.testing.assert_array_equal(a, b)


def test_nesterov_and_optimizers(toy):
    data, _, _ = toy
    model = ParameterizedRatioModel(1, 1, (4,))
    trainer = Trainer(model, get_loss("carl"), lambda *a: {}, device="cpu")
    sgd = trainer._optimizer("sgd", 0.1, 0.9)
    assert (sgd.kind, sgd.momentum) == ("sgd", 0.9)
    sgd.release()
    amsgrad = trainer._optimizer("amsgrad", 0.1, None)
    assert amsgrad.kind == "amsgrad" and amsgrad.max_second_moment is not None
    amsgrad.release()
    torch.manual_seed(0)
    est = ParameterizedRatioEstimator(n_hidden=(8,))
    small = _head(data, 1000)
    losses, _ = est.train(
        "carl", small["x"], small["y"], small["theta"], optimizer="sgd",
        nesterov_momentum=0.9, n_epochs=2, initial_lr=0.01, final_lr=0.01, verbose="none",
    )  # fmt: skip
    assert np.all(np.isfinite(losses))


def test_reproducible_given_seed(toy):
    data, x_test, grid = toy
    outs = []
    for _ in range(2):
        torch.manual_seed(3)
        est = ParameterizedRatioEstimator(n_hidden=(8,))
        est.train("alices", **_head(data, 1000), n_epochs=2, verbose="none")
        outs.append(est.evaluate(x_test, grid)[0])
    np.testing.assert_array_equal(outs[0], outs[1])


def test_bad_inputs(toy):
    data, _, _ = toy
    est = ParameterizedRatioEstimator(n_hidden=(8,))
    with pytest.raises(InputError, match="r_xz"):
        est.train("alices", data["x"], data["y"], data["theta"], t_xz=data["t_xz"], verbose="none")
    with pytest.raises(InputError, match="method"):
        est.train("sally", data["x"], data["y"], data["theta"], verbose="none")
    bad_x = data["x"][:300].copy()
    bad_x[5, 0] = np.nan
    with pytest.raises(InputError, match="x contains 1 NaN"):
        est.train("carl", bad_x, data["y"][:300], data["theta"][:300], n_epochs=1, verbose="none")


def test_non_finite_loss_raises(toy):
    data, _, _ = toy

    class NanLoss(type(get_loss("carl"))):
        def __call__(self, outputs, batch):
            return {"xe": outputs["log_r_hat"].sum() * float("nan")}

    def forward(model, batch, need_score, create_graph):
        return {"log_r_hat": model(batch["theta"], batch["x"], track_score=False)[0]}

    trainer = Trainer(ParameterizedRatioModel(1, 1, (4,)), NanLoss(), forward, device="cpu")
    small = _head(data, 200)
    with pytest.raises(TrainingError, match="nan in epoch 1"):
        trainer.train({k: small[k] for k in ("x", "y", "theta")}, n_epochs=2, verbose="none")
    with pytest.raises(InputError, match="No model"):
        ParameterizedRatioEstimator().evaluate(np.zeros((2, 1)), np.zeros((1, 1)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("method", ["alices", "carl"])
@pytest.mark.parametrize("clip_gradient", [None, 1.0])
def test_cuda_graph_training_equals_eager_training(toy, monkeypatch, method, clip_gradient):
    """The graph-replayed step is the eager step: same seed, same losses and the same model.

    1000 samples with batch size 96 leave a shorter last batch (eager) in every epoch.
    """
    data, x_test, grid = toy
    small = _head(data, 1000)
    results = {}
    for graphs in ("1", "0"):
        monkeypatch.setenv("MOTHERLODE_CUDA_GRAPHS", graphs)
        torch.manual_seed(3)
        est = ParameterizedRatioEstimator(n_hidden=(20, 20))
        losses = est.train(
            method, **_kw(small), n_epochs=4, batch_size=96, clip_gradient=clip_gradient, verbose="none",
            device="cuda",
        )  # fmt: skip
        results[graphs] = (losses, est.evaluate_log_likelihood_ratio(x_test, grid)[0])
    (train_g, val_g), log_r_g = results["1"]
    (train_e, val_e), log_r_e = results["0"]
    np.testing.assert_allclose(train_g, train_e, rtol=1e-4)
    np.testing.assert_allclose(val_g, val_e, rtol=1e-4)
    np.testing.assert_allclose(log_r_g, log_r_e, atol=1e-4)
    assert train_g[-1] < train_g[0]
