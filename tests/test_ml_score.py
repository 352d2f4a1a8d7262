"""Tests of the local score estimator (SALLY / SALLINO).

Toy at the reference theta = 0: z ~ N(0, 2), x ~ N(z, 1), joint score t(x,z|0) = z / 4 (Var 0.25).
The true score is E[t|x] = x / 5 and the Fisher information per event is E[x^2] / 25 = 1 / 5.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from motherlode.errors import FileFormatError, InputError
from motherlode.ml import (
    NUISANCE_MODES,
    DenseNetwork,
    ParameterizedRatioEstimator,
    SallyLoss,
    ScoreEstimator,
    TheresAGoodReasonThisDoesntWork,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

GRID = np.linspace(-4.0, 4.0, 41)[:, None]


def simulate(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    z = rng.normal(0.0, 2.0, n)
    x = rng.normal(z, 1.0)
    return x[:, None], (z / 4.0)[:, None]


def train_toy(method: str = "sally", shuffle_labels: bool = False, seed: int = 0) -> ScoreEstimator:
    torch.manual_seed(seed)
    x, t_xz = simulate(20_000, np.random.default_rng(seed))
    est = ScoreEstimator(n_hidden=(50,))
    est.train(method, x, t_xz, n_epochs=20, batch_size=128, shuffle_labels=shuffle_labels, verbose="none")
    return est


@pytest.fixture(scope="module")
def sally() -> ScoreEstimator:
    return train_toy()


def _mse_to_truth(est: ScoreEstimator) -> float:
    return float(np.mean((est.evaluate_score(GRID)[:, 0] - GRID[:, 0] / 5.0) ** 2))


def test_sally_learns_true_score(sally):
    t_hat = sally.evaluate_score(GRID)
    assert t_hat.shape == (len(GRID), 1)
    assert _mse_to_truth(sally) < 0.005  # Var(t_xz) = 0.25
    np.testing.assert_array_equal(sally.evaluate(GRID), t_hat)
    # theta is ignored and keep == auto without nuisance setup
    np.testing.assert_array_equal(sally.evaluate_score(GRID, theta=np.ones(1), nuisance_mode="keep"), t_hat)


def test_fisher_information(sally):
    x, _ = simulate(200_000, np.random.default_rng(123))
    info = sally.calculate_fisher_information(x)
    assert info.shape == (1, 1)
    assert info[0, 0] == pytest.approx(0.2, rel=0.05)
    np.testing.assert_allclose(sally.calculate_fisher_information(x, n_events=10.0), 10.0 * info, rtol=1e-12)
    per_event = sally.calculate_fisher_information(x[:100], sum_events=False)
    assert per_event.shape == (100, 1, 1)
    t_hat = sally.evaluate_score(x[:100])[:, 0].astype(np.float64)
    np.testing.assert_allclose(per_event[:, 0, 0], t_hat**2 / 100, rtol=1e-6)


def test_sallino_trains_like_sally(sally):
    sallino = train_toy("sallino")
    np.testing.assert_array_equal(sallino.evaluate_score(GRID), sally.evaluate_score(GRID))


def test_shuffle_labels_learns_nothing(sally):
    shuffled = train_toy(shuffle_labels=True)
    t_hat = shuffled.evaluate_score(GRID)[:, 0]
    assert np.max(np.abs(t_hat)) < 0.1  # the true score reaches 0.8 on the grid
    assert _mse_to_truth(shuffled) > 20 * _mse_to_truth(sally)


def test_log_likelihood_raises(sally):
    with pytest.raises(TheresAGoodReasonThisDoesntWork):
        sally.evaluate_log_likelihood(GRID)
    with pytest.raises(TheresAGoodReasonThisDoesntWork):
        sally.evaluate_log_likelihood_ratio(GRID, np.zeros((1, 1)))


def test_save_load_round_trip(sally, tmp_path, monkeypatch):
    prefix = tmp_path / "sally"
    sally.save(prefix)
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {"sally_settings.json", "sally_state_dict.pt", "sally_x_means.npy", "sally_x_stds.npy"}
    settings = json.loads((tmp_path / "sally_settings.json").read_text())
    assert settings["estimator_type"] == "score"
    assert settings["nuisance_mode_default"] == "keep"
    assert (settings["n_observables"], settings["n_parameters"], settings["n_hidden"]) == (1, 1, [50])

    calls = []
    original = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return original(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    loaded = ScoreEstimator()
    loaded.load(prefix)
    assert calls == [True]
    np.testing.assert_array_equal(loaded.evaluate_score(GRID), sally.evaluate_score(GRID))
    assert loaded.nuisance_profile_matrix is None and loaded.nuisance_mode_default == "keep"
    # a ratio estimator refuses the file
    with pytest.raises(FileFormatError):
        ParameterizedRatioEstimator().load(prefix)


def test_file_paths_and_features(tmp_path):
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    x, t_xz = simulate(2000, rng)
    x3 = np.concatenate([rng.normal(size=(2000, 1)), x, rng.normal(size=(2000, 1))], axis=1)
    np.save(tmp_path / "x.npy", x3)
    np.save(tmp_path / "t.npy", t_xz)
    est = ScoreEstimator(features=[1], n_hidden=(10,))
    losses, val = est.train(
        "sally", str(tmp_path / "x.npy"), str(tmp_path / "t.npy"), n_epochs=2, limit_samplesize=1000
    )
    assert len(losses) == 2 and len(val) == 2
    assert est.n_observables == 1
    assert est.evaluate_score(str(tmp_path / "x.npy")).shape == (2000, 1)


def test_invalid_inputs(sally):
    x, t_xz = simulate(100, np.random.default_rng(2))
    with pytest.raises(InputError):
        ScoreEstimator().train("carl", x, t_xz)
    with pytest.raises(InputError):
        ScoreEstimator().train("sally", x, t_xz[:50])
    bad = t_xz.copy()
    bad[3] = np.nan
    with pytest.raises(InputError):
        ScoreEstimator().train("sally", x, bad)
    with pytest.raises(InputError):
        sally.evaluate_score(GRID, nuisance_mode="marginalize")
    for mode in ("profile", "project"):
        with pytest.raises(InputError):
            sally.evaluate_score(GRID, nuisance_mode=mode)
    with pytest.raises(InputError):
        ScoreEstimator().evaluate_score(GRID)


def test_sally_loss():
    t_hat, t_xz = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]])
    loss = SallyLoss()
    parts = loss({"t_hat": t_hat}, {"t_xz": t_xz})
    assert float(loss.total(parts)) == pytest.approx(2.5)


# ------------------------------------------------------------------ nuisance parameters


def stub_estimator(n_parameters: int) -> ScoreEstimator:
    """A ScoreEstimator whose network is the identity map x -> t (so x *is* the score)."""
    est = ScoreEstimator(n_hidden=(1,))
    est.n_observables = est.n_parameters = n_parameters
    model = DenseNetwork(n_parameters, (n_parameters,), n_parameters, activation="tanh")
    with torch.no_grad():
        # tiny first layer -> tanh is linear; rescale in the last layer: identity to ~1e-12
        eps = 1e-4
        model.layers[0].weight.copy_(eps * torch.eye(n_parameters))
        model.layers[0].bias.zero_()
        model.layers[1].weight.copy_(torch.eye(n_parameters) / eps)
        model.layers[1].bias.zero_()
    est.model = model
    est.n_hidden = (n_parameters,)
    return est


@pytest.fixture
def two_component():
    """Synthetic (theta, nu) scores with covariance = the known Fisher matrix."""
    info = np.array([[2.0, 0.6], [0.6, 0.5]])
    rng = np.random.default_rng(5)
    t = rng.multivariate_normal(np.zeros(2), info, size=50_000)
    return info, t


def test_profile_project_linear_algebra(two_component):
    info, t = two_component
    est = stub_estimator(2)
    raw = est._evaluate_raw(t).astype(np.float64)
    est.set_nuisance(info, [0])
    assert est.nuisance_mode_default == "profile"
    np.testing.assert_array_equal(est.nuisance_project_matrix, [[1.0, 0.0]])
    np.testing.assert_allclose(est.nuisance_profile_matrix, [[1.0, -0.6 / 0.5]], rtol=1e-14)
    profiled = est.evaluate_score(t, nuisance_mode="profile")
    np.testing.assert_allclose(profiled[:, 0], raw[:, 0] - 0.6 / 0.5 * raw[:, 1], rtol=1e-12, atol=1e-14)
    projected = est.evaluate_score(t, nuisance_mode="project")
    np.testing.assert_array_equal(projected[:, 0], raw[:, 0])
    np.testing.assert_array_equal(est.evaluate_score(t, nuisance_mode="auto"), profiled)
    np.testing.assert_array_equal(est.evaluate_score(t), profiled)
    assert est.evaluate_score(t, nuisance_mode="keep").shape == (len(t), 2)
    # the profiled score has the profiled Fisher information I_tt - I_tn^2 / I_nn (here: score = x exactly)
    np.testing.assert_allclose(raw, t, rtol=1e-4, atol=1e-4)
    profiled_info = np.mean(profiled[:, 0] ** 2)
    assert profiled_info == pytest.approx(2.0 - 0.6**2 / 0.5, rel=0.03)
    # ... and is uncorrelated with the nuisance score
    assert abs(np.mean(profiled[:, 0] * t[:, 1])) < 0.02
    # the Fisher information always uses the full score
    assert est.calculate_fisher_information(t).shape == (2, 2)


def test_profile_reorders_and_multiple_nuisances():
    rng = np.random.default_rng(7)
    a = rng.normal(size=(4, 4))
    info = a @ a.T + 4 * np.eye(4)
    est = stub_estimator(4)
    t = rng.normal(size=(20, 4))
    poi, nuis = [2, 0], [1, 3]
    est.set_nuisance(info, poi)
    expected = t[:, poi] - t[:, nuis] @ np.linalg.solve(info[np.ix_(nuis, nuis)], info[np.ix_(nuis, poi)])
    np.testing.assert_allclose(est.evaluate_score(t), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        est.evaluate_score(t, nuisance_mode="project"), t[:, poi], rtol=1e-4, atol=1e-4
    )
    # no nuisance parameters: profile == project
    est.set_nuisance(info, [3, 1, 0, 2])
    np.testing.assert_array_equal(est.nuisance_profile_matrix, est.nuisance_project_matrix)


def test_set_nuisance_validation():
    est = stub_estimator(2)
    with pytest.raises(InputError):
        est.set_nuisance(np.eye(3), [0])
    for poi in ([], [0, 0], [2], [-1]):
        with pytest.raises(InputError):
            est.set_nuisance(np.eye(2), poi)
    with pytest.raises(InputError):
        est.set_nuisance(np.array([[1.0, 0.0], [0.0, 0.0]]), [0])
    with pytest.raises(InputError):
        ScoreEstimator().set_nuisance(np.eye(2), [0])


def test_nuisance_save_load(tmp_path, two_component):
    info, t = two_component
    est = stub_estimator(2)
    est.set_nuisance(info, [0])
    prefix = tmp_path / "sally"
    est.save(prefix)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"sally_nuisance_profile_matrix.npy", "sally_nuisance_project_matrix.npy"} <= names
    settings = json.loads((tmp_path / "sally_settings.json").read_text())
    assert settings["nuisance_mode_default"] == "profile"
    np.testing.assert_array_equal(np.load(tmp_path / "sally_nuisance_profile_matrix.npy"), [[1.0, -1.2]])
    loaded = ScoreEstimator()
    loaded.load(prefix)
    assert loaded.nuisance_mode_default == "profile"
    for mode in NUISANCE_MODES:
        np.testing.assert_allclose(
            loaded.evaluate_score(t[:100], nuisance_mode=mode),
            est.evaluate_score(t[:100], nuisance_mode=mode),
            rtol=0,
        )
    # MadMiner-style files: default 'keep' with matrices present; auto then keeps
    settings["nuisance_mode_default"] = "keep"
    (tmp_path / "sally_settings.json").write_text(json.dumps(settings))
    loaded.load(prefix)
    assert loaded.evaluate_score(t[:5]).shape == (5, 2)
    assert loaded.evaluate_score(t[:5], nuisance_mode="profile").shape == (5, 1)
