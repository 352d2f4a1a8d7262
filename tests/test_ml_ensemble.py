"""Tests of :class:`motherlode.ml.ensemble.Ensemble` and :func:`motherlode.ml.lookup.load_estimator`.

Toy: z ~ N(theta, 2), x ~ N(z, 1), so p(x|theta) = N(x; theta, sqrt 5), the joint score is (z - theta) / 4 and
the true score (x - theta) / 5, Fisher information 1/5 per event. The SALLY ensemble uses two independent
copies of the toy (two parameters, reference theta = (0, 0)), so the Fisher information is diag(1/5, 1/5).
"""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import torch

from motherlode.core.madminer import MadMiner
from motherlode.errors import FileFormatError, InputError
from motherlode.ml import ensemble as ensemble_module
from motherlode.ml.base import TheresAGoodReasonThisDoesntWork
from motherlode.ml.double_parameterized_ratio import DoubleParameterizedRatioEstimator
from motherlode.ml.ensemble import Ensemble, EnsembleError, estimator_category, weighted_covariance
from motherlode.ml.likelihood import LikelihoodEstimator
from motherlode.ml.lookup import load_estimator
from motherlode.ml.morphing_aware import MorphingAwareRatioEstimator, QuadraticMorphingAwareRatioEstimator
from motherlode.ml.parameterized_ratio import ParameterizedRatioEstimator
from motherlode.ml.score import ScoreEstimator

N_MEMBERS = 4
FAST = {"n_epochs": 8, "batch_size": 128, "initial_lr": 3e-3, "verbose": "none", "device": "cpu"}
TINY = {"n_epochs": 1, "batch_size": 256, "verbose": "none", "device": "cpu"}
THETA_GRID = np.linspace(-2.0, 2.0, 5)[:, None]


# ---------------------------------------------------------------------------- toy data


def sally_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x (n, 2) at the reference theta = (0, 0) and the joint score (n, 2)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, (n, 2))
    return rng.normal(z, 1.0), z / 4.0


def ratio_data(n: int, seed: int) -> dict[str, np.ndarray]:
    """n samples from theta0 ~ U(-3, 3) (y=0) and n from the reference theta = 0 (y=1)."""
    rng = np.random.default_rng(seed)
    theta0 = rng.uniform(-3.0, 3.0, n)
    z = np.concatenate([rng.normal(theta0, 2.0), rng.normal(0.0, 2.0, n)])
    theta = np.concatenate([theta0, theta0])
    return {
        "x": rng.normal(z, 1.0)[:, None],
        "y": np.concatenate([np.zeros(n), np.ones(n)])[:, None],
        "theta": theta[:, None],
        "r_xz": np.exp((z**2 - (z - theta) ** 2) / 8.0)[:, None],
        "t_xz": ((z - theta) / 4.0)[:, None],
    }


def double_data(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    theta0, theta1 = rng.uniform(-3.0, 3.0, 2 * n), rng.uniform(-3.0, 3.0, 2 * n)
    y = np.concatenate([np.zeros(n), np.ones(n)])
    z = rng.normal(np.where(y == 0, theta0, theta1), 2.0)
    return {
        "x": rng.normal(z, 1.0)[:, None],
        "y": y[:, None],
        "theta0": theta0[:, None],
        "theta1": theta1[:, None],
        "r_xz": np.exp(((z - theta1) ** 2 - (z - theta0) ** 2) / 8.0)[:, None],
        "t_xz0": ((z - theta0) / 4.0)[:, None],
        "t_xz1": ((z - theta1) / 4.0)[:, None],
    }


def make_setup(path) -> str:
    """A one-parameter MadMiner setup file with a morphing setup (for the morphing-aware estimator)."""
    miner = MadMiner()
    miner.add_parameter("block", 1, "theta0", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    miner.add_benchmark({"theta0": 0.0}, "sm")
    miner.set_morphing(max_overall_power=2, n_bases=1, random_state=0)
    miner.save(path)
    return str(path)


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    """One torch thread for the module (see conftest)."""


@pytest.fixture(scope="module")
def x_ref() -> np.ndarray:
    return sally_data(4000, seed=99)[0]


@pytest.fixture(scope="module")
def sally() -> Ensemble:
    torch.manual_seed(0)
    x, t_xz = sally_data(5000, seed=0)
    ensemble = Ensemble([ScoreEstimator(n_hidden=(16,)) for _ in range(N_MEMBERS)])
    ensemble.train_all(method="sally", x=x, t_xz=t_xz, **FAST)
    return ensemble


@pytest.fixture(scope="module")
def ratio() -> Ensemble:
    torch.manual_seed(1)
    ensemble = Ensemble([ParameterizedRatioEstimator(n_hidden=(32,)) for _ in range(3)])
    # per-member arguments (MadMiner's convention: a list has one entry per member)
    ensemble.train_all(
        method=["carl", "alice", "alices"], **ratio_data(4000, seed=1), **{**FAST, "n_epochs": 10}
    )
    return ensemble


@pytest.fixture(scope="module")
def likelihood() -> Ensemble:
    torch.manual_seed(2)
    data = ratio_data(1000, seed=2)
    ensemble = Ensemble([LikelihoodEstimator(n_mades=1, n_hidden=(8,)) for _ in range(2)])
    ensemble.train_all(method="nde", x=data["x"], theta=data["theta"], **TINY)
    return ensemble


def member_scores(ensemble: Ensemble, x: np.ndarray, theta=None) -> np.ndarray:
    return np.stack([e.evaluate_score(x, theta) for e in ensemble.estimators]).astype(np.float64)


# ---------------------------------------------------------------------------- mean and covariance


def test_weighted_covariance_equals_numpy_cov():
    rng = np.random.default_rng(0)
    predictions = rng.normal(size=(5, 3, 2))
    w = rng.uniform(0.1, 1.0, 5)
    w /= w.sum()
    expected = np.cov(predictions.reshape(5, -1).T, aweights=w).reshape(3, 2, 3, 2)
    np.testing.assert_allclose(weighted_covariance(predictions, w), expected, rtol=1e-12)
    np.testing.assert_allclose(
        weighted_covariance(predictions, w, diagonal=True),
        np.diagonal(expected.reshape(6, 6)).reshape(3, 2),
        rtol=1e-12,
    )


def test_score_mean_and_covariance_over_members(sally, x_ref):
    x = x_ref[:30]
    scores = member_scores(sally, x)  # (K, 30, 2)
    # the members differ (different initialisation), otherwise the covariance test is void
    assert np.std(scores, axis=0).mean() > 1e-3
    mean, cov = sally.evaluate_score(x=x, calculate_covariance=True)
    np.testing.assert_allclose(mean, scores.mean(axis=0), rtol=1e-12, atol=1e-15)
    assert cov.shape == (30, 2, 30, 2)
    np.testing.assert_allclose(
        cov, np.cov(scores.reshape(N_MEMBERS, -1).T).reshape(30, 2, 30, 2), rtol=1e-10, atol=1e-15
    )
    # weights are respected, normalised, and the caller's array is left alone
    weights = np.array([4.0, 1.0, 2.0, 1.0])
    mean_w, cov_w = sally.evaluate_score(weights, True, x=x)
    np.testing.assert_array_equal(weights, [4.0, 1.0, 2.0, 1.0])
    np.testing.assert_allclose(mean_w, np.average(scores, axis=0, weights=weights), rtol=1e-12)
    expected_w = np.cov(scores.reshape(N_MEMBERS, -1).T, aweights=weights).reshape(30, 2, 30, 2)
    np.testing.assert_allclose(cov_w, expected_w, rtol=1e-10, atol=1e-15)
    assert not np.allclose(mean_w, mean)
    # diagonal mode: the variance of each entry
    _, var = sally.evaluate_score(x=x, calculate_covariance="diagonal")
    np.testing.assert_allclose(var, np.var(scores, axis=0, ddof=1), rtol=1e-10)
    # no covariance by default
    assert sally.evaluate_score(x=x)[1] is None
    # all weight on one member: exactly its prediction, and an undefined covariance
    mean_1, cov_1 = sally.evaluate_score([0, 0, 1, 0], True, x=x)
    np.testing.assert_array_equal(mean_1, scores[2])
    assert np.isnan(cov_1).all()


def test_invalid_weights_and_covariance_arguments(sally, x_ref, monkeypatch):
    with pytest.raises(InputError, match="estimator_weights has 2 entries"):
        sally.evaluate_score([1.0, 1.0], x=x_ref[:5])
    with pytest.raises(InputError, match="non-negative"):
        sally.evaluate_score([1.0, -1.0, 1.0, 1.0], x=x_ref[:5])
    with pytest.raises(InputError, match="calculate_covariance"):
        sally.evaluate_score(calculate_covariance="blocks", x=x_ref[:5])
    monkeypatch.setattr(ensemble_module, "_MAX_FULL_COVARIANCE", 100)
    with pytest.raises(InputError, match="diagonal"):
        sally.evaluate_score(calculate_covariance=True, x=x_ref[:10])
    assert sally.evaluate_score(calculate_covariance="diagonal", x=x_ref[:10])[1].shape == (10, 2)


def test_score_ensemble_cannot_give_likelihoods(sally, x_ref):
    with pytest.raises(TheresAGoodReasonThisDoesntWork):
        sally.evaluate_log_likelihood_ratio(x=x_ref[:5], theta=THETA_GRID)
    with pytest.raises(TheresAGoodReasonThisDoesntWork):
        sally.evaluate_log_likelihood(x=x_ref[:5], theta=THETA_GRID)


def test_ratio_covariance_for_several_estimators(ratio):
    """MadMiner raises here for more than one estimator (it reshapes with the estimator axis)."""
    x = np.linspace(-3.0, 3.0, 7)[:, None]
    members = np.stack([e.evaluate_log_likelihood_ratio(x, THETA_GRID)[0] for e in ratio.estimators]).astype(
        np.float64
    )
    mean, cov = ratio.evaluate_log_likelihood_ratio(x=x, theta=THETA_GRID, calculate_covariance=True)
    assert mean.shape == (5, 7)
    assert cov.shape == (5, 7, 5, 7)
    np.testing.assert_allclose(mean, members.mean(axis=0), rtol=1e-12, atol=1e-15)
    variance = np.einsum("ijij->ij", cov)
    np.testing.assert_allclose(variance, np.var(members, axis=0, ddof=1), rtol=1e-10)
    assert variance.max() > 1e-4  # the members (carl, alice, alices) really differ
    # symmetric and positive semi-definite
    flat = cov.reshape(35, 35)
    np.testing.assert_allclose(flat, flat.T, rtol=1e-12)
    assert np.linalg.eigvalsh(flat).min() > -1e-10
    # the ensemble is not worse than ~ the truth on the grid (sanity: it learned something)
    truth = (x.reshape(1, -1) ** 2 - (x.reshape(1, -1) - THETA_GRID) ** 2) / 10.0
    assert np.mean((mean - truth) ** 2) < 0.15  # members alone: 0.03-0.21; untrained ~0.35
    # paired evaluation and the score go through the same way
    mean_p, var_p = ratio.evaluate_log_likelihood_ratio(
        x=x, theta=np.zeros((7, 1)), test_all_combinations=False, calculate_covariance="diagonal"
    )
    assert mean_p.shape == var_p.shape == (7,)
    score, _ = ratio.evaluate_score(x=x, theta=np.array([0.5]))
    assert score.shape == (7, 1)


def test_likelihood_ensemble_mean_and_covariance(likelihood):
    x = np.linspace(-3.0, 3.0, 4)[:, None]
    members = np.stack([e.evaluate_log_likelihood(x, THETA_GRID)[0] for e in likelihood.estimators])
    mean, cov = likelihood.evaluate_log_likelihood(x=x, theta=THETA_GRID, calculate_covariance=True)
    np.testing.assert_allclose(mean, members.astype(np.float64).mean(axis=0), rtol=1e-12)
    assert cov.shape == (5, 4, 5, 4)
    np.testing.assert_allclose(np.einsum("ijij->ij", cov), np.var(members, axis=0, ddof=1), rtol=1e-5)
    ratio_mean, _ = likelihood.evaluate_log_likelihood_ratio(x=x, theta0=THETA_GRID, theta1=THETA_GRID[::-1])
    assert ratio_mean.shape == (5, 4)


# ---------------------------------------------------------------------------- Fisher information


def test_fisher_information_mode(sally, x_ref):
    n_events = 100.0
    w = np.array([1.0, 2.0, 1.0, 3.0])
    infos = np.stack(
        [e.calculate_fisher_information(x_ref, n_events=n_events) for e in sally.estimators]
    )  # (K, 2, 2)
    info, cov = sally.calculate_fisher_information(
        x_ref, estimator_weights=w, n_events=n_events, mode="information"
    )
    np.testing.assert_allclose(info, np.average(infos, axis=0, weights=w), rtol=1e-12)
    assert cov.shape == (2, 2, 2, 2)
    expected = np.cov(infos.reshape(N_MEMBERS, 4).T, aweights=w).reshape(2, 2, 2, 2)
    np.testing.assert_allclose(cov, expected, rtol=1e-10, atol=1e-14)
    # the members learned the toy: I = n_events * diag(1/5, 1/5)
    np.testing.assert_allclose(info / n_events, np.diag([0.2, 0.2]), atol=0.03)


def test_fisher_score_mode(sally, x_ref):
    n_events, eps = 10.0, 1e-3
    scores = member_scores(sally, x_ref)  # (K, n, 2)
    t_mean = scores.mean(axis=0)
    obs = np.ones(len(x_ref)) / len(x_ref)
    info, cov = sally.calculate_fisher_information(x_ref, n_events=n_events)
    np.testing.assert_allclose(info, n_events * np.einsum("n,ni,nj->ij", obs, t_mean, t_mean), rtol=1e-12)
    # close to the mean of the members' informations (the mean of squares is >= the square of means)
    info_members, _ = sally.calculate_fisher_information(x_ref, n_events=n_events, mode="information")
    np.testing.assert_allclose(info, info_members, rtol=0.05, atol=0.05)
    # covariance: the linearised propagation of the members' spread, cov_a[dI_a] with
    # dI_a = n_events sum_x w_x (t d_a^T + d_a t^T)
    d = scores - t_mean
    d_info = n_events * (
        np.einsum("n,ni,anj->aij", obs, t_mean, d) + np.einsum("n,ani,nj->aij", obs, d, t_mean)
    )
    expected = np.cov(d_info.reshape(N_MEMBERS, 4).T).reshape(2, 2, 2, 2)
    assert cov.shape == (2, 2, 2, 2)
    np.testing.assert_allclose(cov, expected, rtol=2e-2, atol=1e-3 * np.abs(expected).max())
    # per-event information sums to the total; the caller's observation weights are not modified
    obs_weights = np.ones(len(x_ref))
    per_event, cov_pe = sally.calculate_fisher_information(
        x_ref, obs_weights=obs_weights, n_events=n_events, sum_events=False, epsilon_shift=eps
    )
    np.testing.assert_array_equal(obs_weights, 1.0)
    assert per_event.shape == (len(x_ref), 2, 2)
    np.testing.assert_allclose(per_event.sum(axis=0), info, rtol=1e-10)
    np.testing.assert_allclose(cov_pe, cov, rtol=1e-10)
    # modified_score: shift 1/sqrt(K), no division; same mean
    info_m, cov_m = sally.calculate_fisher_information(x_ref, n_events=n_events, mode="modified_score")
    np.testing.assert_allclose(info_m, info, rtol=1e-12)
    shifted = t_mean + d / np.sqrt(N_MEMBERS)
    infos_m = n_events * np.einsum("n,ani,anj->aij", obs, shifted, shifted)
    expected_m = np.cov(infos_m.reshape(N_MEMBERS, 4).T).reshape(2, 2, 2, 2)
    np.testing.assert_allclose(cov_m, expected_m, rtol=1e-8, atol=1e-15)
    # estimator weights are used in the score mode too (MadMiner ignores them there)
    info_0, _ = sally.calculate_fisher_information(x_ref, estimator_weights=[1, 0, 0, 0], n_events=n_events)
    np.testing.assert_allclose(info_0, sally.estimators[0].calculate_fisher_information(x_ref, n_events=10))
    assert sally.calculate_fisher_information(x_ref, calculate_covariance=False)[1] is None
    with pytest.raises(InputError, match="Unknown mode"):
        sally.calculate_fisher_information(x_ref, mode="scores")


def test_ratio_ensemble_fisher_information(ratio):
    rng = np.random.default_rng(5)
    theta = 1.0
    x = rng.normal(rng.normal(theta, 2.0, 3000), 1.0)[:, None]
    info, cov = ratio.calculate_fisher_information(x, theta=np.array([theta]))
    assert info.shape == (1, 1)
    assert cov.shape == (1, 1, 1, 1)
    scores = member_scores(ratio, x, np.array([theta]))
    t_mean = scores.mean(axis=0)[:, 0]
    np.testing.assert_allclose(info[0, 0], np.mean(t_mean**2), rtol=1e-10)
    info_members, _ = ratio.calculate_fisher_information(x, theta=np.array([theta]), mode="information")
    np.testing.assert_allclose(info_members[0, 0], np.mean(scores[..., 0] ** 2), rtol=1e-10)
    assert 0.02 < info[0, 0] < 0.3  # truth 0.2; the short training gives 0.09 (members: 0.02-0.15)
    with pytest.raises(InputError, match="theta"):
        ratio.calculate_fisher_information(x)


def test_calculate_expectation(sally, x_ref):
    expectations = sally.calculate_expectation(x_ref)
    assert expectations.shape == (N_MEMBERS, 2)
    np.testing.assert_allclose(expectations, member_scores(sally, x_ref).mean(axis=1), rtol=1e-10)
    assert np.abs(expectations).max() < 0.05  # true expected score: 0 (stat. error ~0.007)
    # away from the reference point the expected score is not zero: the check can fail
    shifted = sally.calculate_expectation(x_ref + 2.0)
    assert np.abs(shifted).min() > 0.2  # true: 2/5


# ---------------------------------------------------------------------------- consistency


def test_mixing_categories_raises(sally, ratio):
    with pytest.raises(EnsembleError, match="inconsistent") as info:
        Ensemble([ScoreEstimator(), ParameterizedRatioEstimator()])
    assert isinstance(info.value, RuntimeError)
    assert isinstance(info.value, ValueError)
    with pytest.raises(EnsembleError):
        Ensemble([DoubleParameterizedRatioEstimator(), LikelihoodEstimator()])
    # morphing-aware estimators are single-parameterized ratio estimators
    mixed = Ensemble([ParameterizedRatioEstimator(), QuadraticMorphingAwareRatioEstimator()])
    assert mixed.estimator_type == "parameterized_ratio"
    ensemble = Ensemble(list(sally.estimators))
    with pytest.raises(EnsembleError):
        ensemble.add_estimator(ratio.estimators[0])
    assert ensemble.n_estimators == N_MEMBERS
    assert ensemble.estimator_type == "score"
    assert (ensemble.n_parameters, ensemble.n_observables) == (2, 2)
    with pytest.raises(EnsembleError, match="n_parameters"):
        Ensemble([*sally.estimators, *_one_parameter_score()])
    with pytest.raises(EnsembleError):
        Ensemble([object()])
    with pytest.raises(EnsembleError, match="no estimators"):
        Ensemble().evaluate_score(x=np.zeros((2, 2)))
    assert estimator_category(MorphingAwareRatioEstimator()) == "parameterized_ratio"


def _one_parameter_score() -> list[ScoreEstimator]:
    estimator = ScoreEstimator(n_hidden=(4,))
    x, t = sally_data(200, seed=3)
    estimator.train("sally", x, t[:, :1], **TINY)
    return [estimator]


def test_train_all_per_member_arguments():
    ensemble = Ensemble([ScoreEstimator(n_hidden=(4,)) for _ in range(3)])
    x, t = sally_data(300, seed=4)
    with pytest.raises(InputError, match="length 2"):
        ensemble.train_all(method="sally", x=x, t_xz=t, n_epochs=[1, 2], verbose="none")
    results = ensemble.train_all(
        method="sally", x=x, t_xz=t, n_epochs=[1, 2, 3], batch_size=64, verbose="none", device="cpu"
    )
    assert [len(train) for train, _ in results] == [1, 2, 3]
    train, _ = ensemble.train_one(0, method="sally", x=x, t_xz=t, n_epochs=2, verbose="none", device="cpu")
    assert len(train) == 2
    with pytest.raises(InputError, match="out of range"):
        ensemble.train_one(3, method="sally", x=x, t_xz=t)


# ---------------------------------------------------------------------------- saving and loading


def _assert_same_outputs(a: Ensemble, b: Ensemble, evaluate: str, **kwargs) -> None:
    mean_a, cov_a = getattr(a, evaluate)(calculate_covariance=True, **kwargs)
    mean_b, cov_b = getattr(b, evaluate)(calculate_covariance=True, **kwargs)
    np.testing.assert_array_equal(mean_a, mean_b)
    np.testing.assert_array_equal(cov_a, cov_b)


def test_save_load_round_trip(sally, ratio, likelihood, tmp_path, x_ref):
    x1 = np.linspace(-3.0, 3.0, 6)[:, None]
    cases = (
        (sally, "evaluate_score", {"x": x_ref[:20]}),
        (ratio, "evaluate_log_likelihood_ratio", {"x": x1, "theta": THETA_GRID}),
        (likelihood, "evaluate_log_likelihood", {"x": x1, "theta": THETA_GRID}),
    )
    for ensemble, evaluate, kwargs in cases:
        folder = tmp_path / ensemble.estimator_type
        ensemble.save(folder)
        settings = json.loads((folder / "ensemble.json").read_text())
        assert settings == {"estimator_type": ensemble.estimator_type, "n_estimators": len(ensemble)}
        for i in range(len(ensemble)):
            assert (folder / f"estimator_{i}_settings.json").is_file()
            assert (folder / f"estimator_{i}_state_dict.pt").is_file()
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
        loaded = Ensemble()
        loaded.load(folder)
        assert loaded.estimator_type == ensemble.estimator_type
        assert [type(e) for e in loaded.estimators] == [type(e) for e in ensemble.estimators]
        _assert_same_outputs(ensemble, loaded, evaluate, **kwargs)
        via_lookup = load_estimator(folder)
        assert isinstance(via_lookup, Ensemble)
        _assert_same_outputs(ensemble, via_lookup, evaluate, **kwargs)
    info_a = sally.calculate_fisher_information(x_ref)
    info_b = load_estimator(tmp_path / "score").calculate_fisher_information(x_ref)
    np.testing.assert_array_equal(info_a[0], info_b[0])
    np.testing.assert_array_equal(info_a[1], info_b[1])


def test_save_into_existing_folder(sally, tmp_path, x_ref):
    folder = tmp_path / "ens"
    sally.save(folder)
    (folder / "notes.txt").write_text("mine")
    smaller = Ensemble(sally.estimators[:2])
    smaller.save(folder)
    assert (folder / "notes.txt").read_text() == "mine"
    assert not list(folder.glob("estimator_2_*"))
    assert not list(folder.glob("estimator_3_*"))
    loaded = load_estimator(folder)
    assert len(loaded) == 2
    _assert_same_outputs(smaller, loaded, "evaluate_score", x=x_ref[:5])
    assert [p.name for p in tmp_path.iterdir()] == ["ens"]
    (tmp_path / "file").write_text("")
    with pytest.raises(FileFormatError, match="no folder"):
        sally.save(tmp_path / "file")


def test_load_errors(tmp_path, sally):
    with pytest.raises(FileFormatError, match=r"ensemble\.json"):
        Ensemble().load(tmp_path)
    sally.save(tmp_path / "ens")
    (tmp_path / "ens" / "ensemble.json").write_text(json.dumps({"n_estimators": 4}))
    with pytest.raises(FileFormatError, match="estimator_type"):
        Ensemble().load(tmp_path / "ens")
    (tmp_path / "ens" / "ensemble.json").write_text(
        json.dumps({"n_estimators": 4, "estimator_type": "parameterized_ratio"})
    )
    with pytest.raises(FileFormatError, match=r"ensemble\.json says"):
        Ensemble().load(tmp_path / "ens")
    (tmp_path / "ens" / "ensemble.json").write_text(
        json.dumps({"n_estimators": 5, "estimator_type": "score"})
    )
    with pytest.raises(FileFormatError, match="estimator_4"):
        Ensemble().load(tmp_path / "ens")


@pytest.fixture(scope="module")
def saved_estimators(tmp_path_factory) -> dict[str, tuple[str, object]]:
    """One tiny estimator of every type, trained for one epoch and saved: {type: (prefix, estimator)}."""
    folder = tmp_path_factory.mktemp("lookup")
    torch.manual_seed(3)
    ratio = ratio_data(300, seed=5)
    x, t = sally_data(300, seed=5)
    estimators = {
        "score": (ScoreEstimator(n_hidden=(4,)), {"method": "sally", "x": x, "t_xz": t}),
        "parameterized_ratio": (ParameterizedRatioEstimator(n_hidden=(4,)), {"method": "alices", **ratio}),
        "double_parameterized_ratio": (
            DoubleParameterizedRatioEstimator(n_hidden=(4,)),
            {"method": "carl", **double_data(300, seed=5)},
        ),
        "likelihood": (
            LikelihoodEstimator(n_mades=1, n_hidden=(4,)),
            {"method": "nde", "x": ratio["x"], "theta": ratio["theta"]},
        ),
        "morphing_aware_ratio": (
            MorphingAwareRatioEstimator(make_setup(folder / "setup.h5"), n_hidden=(4,)),
            {"method": "carl", **ratio},
        ),
        "quadratic_morphing_aware_ratio": (
            QuadraticMorphingAwareRatioEstimator(n_hidden=(4,)),
            {"method": "alice", **ratio},
        ),
    }
    out = {}
    for name, (estimator, data) in estimators.items():
        estimator.train(**data, **TINY)
        estimator.save(folder / name)
        out[name] = (str(folder / name), estimator)
    return out


def _outputs(estimator) -> list[np.ndarray]:
    x = np.linspace(-2.0, 2.0, 5)[:, None]
    if isinstance(estimator, ScoreEstimator):
        return [estimator.evaluate_score(np.hstack([x, -x]))]
    if isinstance(estimator, LikelihoodEstimator):
        return list(estimator.evaluate_log_likelihood(x, THETA_GRID, evaluate_score=True))
    if isinstance(estimator, DoubleParameterizedRatioEstimator):
        return list(
            estimator.evaluate_log_likelihood_ratio(x, THETA_GRID, THETA_GRID[::-1], evaluate_score=True)
        )
    return list(estimator.evaluate_log_likelihood_ratio(x, THETA_GRID, evaluate_score=True))


def test_load_estimator_dispatches_every_type(saved_estimators):
    assert len(saved_estimators) == 6
    for name, (prefix, original) in saved_estimators.items():
        loaded = load_estimator(prefix)
        assert type(loaded) is type(original), name
        assert loaded.estimator_type == name
        for a, b in zip(_outputs(original), _outputs(loaded), strict=True):
            np.testing.assert_array_equal(a, b)


def test_load_estimator_reads_madminer_morphing_aware_files(saved_estimators, tmp_path):
    """MadMiner 0.9 saves morphing-aware estimators with estimator_type "parameterized_ratio"."""
    prefix, original = saved_estimators["morphing_aware_ratio"]
    with open(prefix + "_settings.json", encoding="utf-8") as handle:
        settings = json.load(handle)
    settings["estimator_type"] = "parameterized_ratio"
    settings.pop("morphing_basis", None)
    legacy = tmp_path / "legacy"
    (tmp_path / "legacy_settings.json").write_text(json.dumps(settings))
    for suffix in ("_state_dict.pt", "_x_means.npy", "_x_stds.npy"):
        shutil.copyfile(prefix + suffix, tmp_path / f"legacy{suffix}")
    loaded = load_estimator(legacy)
    assert type(loaded) is MorphingAwareRatioEstimator
    for a, b in zip(_outputs(original), _outputs(loaded), strict=True):
        np.testing.assert_array_equal(a, b)
    # and a plain parameterized ratio file stays a ParameterizedRatioEstimator
    assert type(load_estimator(saved_estimators["parameterized_ratio"][0])) is ParameterizedRatioEstimator


def test_load_estimator_errors(tmp_path):
    with pytest.raises(FileFormatError, match=r"missing_settings\.json"):
        load_estimator(tmp_path / "missing")
    (tmp_path / "odd_settings.json").write_text(json.dumps({"estimator_type": "forest"}))
    with pytest.raises(FileFormatError, match=r"odd_settings\.json.*forest"):
        load_estimator(tmp_path / "odd")
    (tmp_path / "bad_settings.json").write_text("{")
    with pytest.raises(FileFormatError, match=r"bad_settings\.json"):
        load_estimator(tmp_path / "bad")
    (tmp_path / "none_settings.json").write_text("{}")
    with pytest.raises(FileFormatError, match="no estimator_type"):
        load_estimator(tmp_path / "none")


def test_estimator_classes_register_by_type(monkeypatch):
    from motherlode.ml.base import ESTIMATOR_CLASSES, estimator_class

    assert set(ESTIMATOR_CLASSES) == {
        "parameterized_ratio",
        "double_parameterized_ratio",
        "score",
        "likelihood",
        "morphing_aware_ratio",
        "quadratic_morphing_aware_ratio",
    }
    monkeypatch.setattr("motherlode.ml.base.ESTIMATOR_CLASSES", dict(ESTIMATOR_CLASSES))
    from motherlode.ml import base

    class ForestEstimator(ScoreEstimator):
        estimator_type = "forest"

    class Unregistered(ScoreEstimator):  # inherits its parent's type, registers nothing
        pass

    assert base.ESTIMATOR_CLASSES["forest"] is ForestEstimator
    assert estimator_class({"estimator_type": "forest"}) is ForestEstimator
    assert estimator_class({"estimator_type": "score"}) is ScoreEstimator
    assert Unregistered not in base.ESTIMATOR_CLASSES.values()


def test_ensemble_from_file_names(saved_estimators, caplog):
    prefix, original = saved_estimators["score"]
    with caplog.at_level(logging.DEBUG, logger="motherlode.ml"):
        ensemble = Ensemble([prefix, original])
    assert ensemble.n_estimators == 2
    assert isinstance(ensemble.estimators[0], ScoreEstimator)
    x = np.ones((3, 2))
    mean, var = ensemble.evaluate_score(x=x, calculate_covariance="diagonal")
    np.testing.assert_array_equal(mean, original.evaluate_score(x))
    np.testing.assert_array_equal(var, 0.0)
    ensemble.add_estimator(prefix)
    assert ensemble.n_estimators == 3
    with pytest.raises(FileFormatError):
        Ensemble([prefix + "_nothing"])


# ---------------------------------------------------------------------------- vectorised training


def _sally_mse(ensemble: Ensemble, x_test: np.ndarray) -> list[float]:
    return [float(np.mean((e.evaluate_score(x_test) - x_test / 5.0) ** 2)) for e in ensemble.estimators]


def test_stacked_network_forward_gradients_and_clipping():
    """One stacked step gives each member exactly its own outputs, scores and (clipped) gradients."""
    from motherlode.ml.losses import get_loss
    from motherlode.ml.networks import ParameterizedRatioModel
    from motherlode.ml.stacked import StackedDenseNetwork, _clip_per_member, _forward_ratio

    torch.manual_seed(0)
    models = [ParameterizedRatioModel(1, 2, (8, 8)) for _ in range(3)]
    stacked = StackedDenseNetwork(models)
    data = ratio_data(40, seed=0)
    data["theta"] = np.hstack([data["theta"], -data["theta"]])
    data["t_xz"] = np.hstack([data["t_xz"], data["t_xz"]])
    batch = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in data.items()}
    loss = get_loss("alices", alpha=0.7)
    stacked_batch = {k: v.expand(3, *v.shape) for k, v in batch.items()}
    outputs = _forward_ratio(stacked, stacked_batch, True, True)
    member_losses = torch.func.vmap(lambda o, b: loss.total(loss(o, b)))(outputs, stacked_batch)
    member_losses.sum().backward()
    _clip_per_member(list(stacked.parameters()), 0.05)
    for k, model in enumerate(models):
        log_r, t_hat = model(batch["theta"], batch["x"])
        torch.testing.assert_close(outputs["log_r_hat"][k], log_r)
        torch.testing.assert_close(outputs["t_hat"][k], t_hat)
        total = loss.total(loss({"log_r_hat": log_r, "t_hat": t_hat}, batch))
        torch.testing.assert_close(member_losses[k], total)
        total.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 0.05)
        assert norm > 0.05  # the clipping is active
        for i, layer in enumerate(model.layers):
            torch.testing.assert_close(stacked.weights[i].grad[k], layer.weight.grad.T)
            torch.testing.assert_close(stacked.biases[i].grad[k, 0], layer.bias.grad)


def test_vectorised_training_matches_sequential_accuracy(x_ref):
    x, t_xz = sally_data(5000, seed=0)
    x_test = x_ref[:1000]
    mse = {}
    for vectorize in (False, True):
        torch.manual_seed(0)
        ensemble = Ensemble([ScoreEstimator(n_hidden=(16,)) for _ in range(3)])
        results = ensemble.train_all(vectorize=vectorize, method="sally", x=x, t_xz=t_xz, **FAST)
        assert [len(train) for train, _ in results] == [FAST["n_epochs"]] * 3
        mse[vectorize] = _sally_mse(ensemble, x_test)
    # measured (torch seeds 0-2): sequential 0.0020-0.0065, vectorised 0.0021-0.0056 per member; a zero
    # score gives 0.2
    assert max(mse[True]) < 0.012
    assert max(mse[False]) < 0.012
    assert np.mean(mse[True]) < 1.5 * np.mean(mse[False])
    # members are independent: different initialisations and batch orders give different networks
    ensemble = Ensemble([ScoreEstimator(n_hidden=(16,)) for _ in range(2)])
    ensemble.train_all(vectorize=True, method="sally", x=x[:500], t_xz=t_xz[:500], **TINY)
    a, b = (e.evaluate_score(x_test[:10]) for e in ensemble.estimators)
    assert not np.allclose(a, b)


def test_vectorised_ratio_training():
    data = ratio_data(4000, seed=1)
    x = np.linspace(-3.0, 3.0, 7)[:, None]
    truth = (x.reshape(1, -1) ** 2 - (x.reshape(1, -1) - THETA_GRID) ** 2) / 10.0
    torch.manual_seed(1)
    ensemble = Ensemble([ParameterizedRatioEstimator(n_hidden=(32,)) for _ in range(3)])
    ensemble.train_all(vectorize=True, method="alices", **data, **{**FAST, "n_epochs": 10})
    mse = [
        float(np.mean((e.evaluate_log_likelihood_ratio(x, THETA_GRID)[0] - truth) ** 2))
        for e in ensemble.estimators
    ]
    assert max(mse) < 0.1  # sequential alices with these settings: 0.03
    # doubly parameterized members train together too
    double = Ensemble([DoubleParameterizedRatioEstimator(n_hidden=(8,)) for _ in range(2)])
    results = double.train_all(vectorize=True, method="alices", **double_data(500, seed=2), **TINY)
    assert len(results) == 2
    assert np.isfinite(
        double.evaluate_log_likelihood_ratio(x=x, theta0=THETA_GRID, theta1=THETA_GRID)[0]
    ).all()


def test_vectorised_early_stopping_restores_each_members_best_epoch():
    x, t_xz = sally_data(2000, seed=8)
    x_val, t_val = sally_data(500, seed=9)
    torch.manual_seed(5)
    ensemble = Ensemble([ScoreEstimator(n_hidden=(16,)) for _ in range(4)])
    noisy = {"n_epochs": 12, "batch_size": 64, "initial_lr": 0.05, "final_lr": 0.05, "verbose": "none"}
    results = ensemble.train_all(
        vectorize=True, method="sally", x=x, t_xz=t_xz, x_val=x_val, t_xz_val=t_val, device="cpu", **noisy
    )
    best_epochs = []
    for estimator, (train, val) in zip(ensemble.estimators, results, strict=True):
        assert len(train) == len(val) == 12
        val_loss = float(np.mean((estimator.evaluate_score(x_val) - t_val) ** 2))
        np.testing.assert_allclose(val_loss, val.min(), rtol=1e-4)
        best_epochs.append(int(np.argmin(val)))
    # with this noisy training the best epochs differ and are not all the last one, so restoring matters
    assert len(set(best_epochs)) > 1
    assert min(best_epochs) < 11
    # with patience, each member stops on its own: one epoch after `patience` epochs without improvement
    torch.manual_seed(5)
    ensemble = Ensemble([ScoreEstimator(n_hidden=(16,)) for _ in range(4)])
    results = ensemble.train_all(
        vectorize=True,
        method="sally",
        x=x,
        t_xz=t_xz,
        x_val=x_val,
        t_xz_val=t_val,
        early_stopping_patience=1,
        device="cpu",
        **noisy,
    )
    for estimator, (train, val) in zip(ensemble.estimators, results, strict=True):
        best = int(np.argmin(val))
        assert len(train) == len(val) == min(best + 3, 12)
        val_loss = float(np.mean((estimator.evaluate_score(x_val) - t_val) ** 2))
        np.testing.assert_allclose(val_loss, val.min(), rtol=1e-4)


def test_vectorise_falls_back_or_raises(likelihood, caplog):
    x, t_xz = sally_data(300, seed=4)
    ensemble = Ensemble([ScoreEstimator(n_hidden=(4,)), ScoreEstimator(n_hidden=(5,))])
    with pytest.raises(EnsembleError, match="n_hidden"):
        ensemble.train_all(vectorize=True, method="sally", x=x, t_xz=t_xz, **TINY)
    with caplog.at_level(logging.INFO, logger="motherlode.ml.ensemble"):
        ensemble.train_all(method="sally", x=x, t_xz=t_xz, **TINY)
    assert "one after the other" in caplog.text
    same = Ensemble([ScoreEstimator(n_hidden=(4,)) for _ in range(2)])
    with pytest.raises(EnsembleError, match="training arguments"):
        same.train_all(vectorize=True, method="sally", x=x, t_xz=t_xz, n_epochs=[1, 2], verbose="none")
    with pytest.raises(EnsembleError, match="not supported"):
        likelihood.train_all(vectorize=True, method="nde", x=x[:, :1], theta=x[:, 1:], **TINY)
    with pytest.raises(InputError, match="vectorize"):
        same.train_all(vectorize="yes", method="sally", x=x, t_xz=t_xz)
    prelu = Ensemble([ScoreEstimator(n_hidden=(4,), activation="prelu") for _ in range(2)])
    assert len(prelu.train_all(method="sally", x=x, t_xz=t_xz, **TINY)) == 2


def test_auto_trains_one_after_the_other_where_cuda_graphs_run(monkeypatch, caplog):
    """On CUDA each member's step is a replayed CUDA graph, faster than the stacked step (H100: 3x)."""
    import motherlode.ml.ensemble as ensemble_module

    devices = []

    def graphs_on(device):
        devices.append(device)
        return True

    monkeypatch.setattr(ensemble_module, "uses_cuda_graphs", graphs_on)
    x, t_xz = sally_data(300, seed=5)
    ensemble = Ensemble([ScoreEstimator(n_hidden=(4,)) for _ in range(2)])
    with caplog.at_level(logging.INFO, logger="motherlode.ml.ensemble"):
        ensemble.train_all(method="sally", x=x, t_xz=t_xz, **TINY)
    assert devices == ["cpu"]
    assert "CUDA graphs are faster" in caplog.text and "together" not in caplog.text
