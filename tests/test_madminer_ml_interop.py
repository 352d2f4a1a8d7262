"""Estimator files move both ways between MadMiner 0.9.6 and motherlode.

MadMiner 0.9.6 runs in its own environment (``MOTHERLODE_MADMINER_PYTHON``, set up by
``scripts/run-tests``) through ``tests/interop/madminer_ml_probe.py``; the tests skip without it
(and fail on CI, which requires it).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from motherlode.ml import DoubleParameterizedRatioEstimator, ParameterizedRatioEstimator, ScoreEstimator

PROBE = Path(__file__).parent / "interop" / "madminer_ml_probe.py"

pytestmark = [pytest.mark.madminer, pytest.mark.usefixtures("one_torch_thread")]


def toy(n: int = 600, seed: int = 0) -> dict[str, np.ndarray]:
    """The tutorial toy with two observables (the second is noise) and the correct joint score."""
    rng = np.random.default_rng(seed)
    theta = rng.uniform(-2.0, 2.0, (n, 1))
    y = (np.arange(n) >= n // 2).astype(float)[:, None]
    z = rng.normal(np.where(y == 0, theta, 0.0), 2.0)
    x = np.hstack([rng.normal(z, 1.0), rng.normal(0.0, 1.0, (n, 1))])
    return {
        "x": x,
        "y": y,
        "theta": theta,
        "r_xz": np.exp((z**2 - (z - theta) ** 2) / 8.0),
        "t_xz": (z - theta) / 4.0,
    }


def run_probe(python: str, *args: object) -> None:
    command = [python, str(PROBE), *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, f"MadMiner probe failed:\n{result.stderr[-3000:]}"


def evaluation_inputs(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    inputs = {
        "x": rng.normal(0.0, 2.0, (40, 2)),
        "theta": np.array([[-1.0], [0.0], [1.5]]),
        "theta0": np.array([[-1.0], [1.5]]),
        "theta1": np.array([[0.5], [0.0]]),
    }
    path = tmp_path / "inputs.npz"
    np.savez(path, **inputs)
    return path, inputs


def train_ours(kind: str) -> object:
    data = toy()
    torch.manual_seed(0)
    options = {"n_epochs": 3, "verbose": "none", "device": "cpu"}
    if kind == "score":
        estimator = ScoreEstimator(n_hidden=(16, 16))
        estimator.train("sally", x=data["x"], t_xz=data["t_xz"], **options)
    elif kind == "ratio":
        estimator = ParameterizedRatioEstimator(n_hidden=(16, 16))
        estimator.train("alices", **data, **options)
    else:
        # MadMiner evaluates doubly parameterised estimators at unscaled theta (its bug), so the
        # file is made without parameter scaling for a like-for-like comparison
        estimator = DoubleParameterizedRatioEstimator(n_hidden=(16, 16))
        estimator.train(
            "alices", x=data["x"], y=data["y"], theta0=data["theta"], theta1=np.zeros_like(data["theta"]),
            r_xz=data["r_xz"], t_xz0=data["t_xz"], t_xz1=data["t_xz"] + data["theta"] / 4.0,
            scale_parameters=False, **options,
        )  # fmt: skip
    return estimator


def our_outputs(kind: str, estimator, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if kind == "score":
        return {"t_hat": estimator.evaluate_score(inputs["x"])}
    if kind == "ratio":
        log_r, t_hat = estimator.evaluate_log_likelihood_ratio(
            inputs["x"], inputs["theta"], evaluate_score=True
        )
        return {"log_r": log_r, "t_hat": t_hat}
    log_r, _, _ = estimator.evaluate_log_likelihood_ratio(inputs["x"], inputs["theta0"], inputs["theta1"])
    return {"log_r": log_r}


@pytest.mark.parametrize("kind", ["ratio", "score", "double"])
def test_madminer_loads_our_estimators(kind, tmp_path, madminer_python):
    estimator = train_ours(kind)
    estimator.save(tmp_path / "ours")
    inputs_file, inputs = evaluation_inputs(tmp_path)
    run_probe(madminer_python, "evaluate", kind, tmp_path / "ours", inputs_file, tmp_path / "theirs.npz")
    theirs = dict(np.load(tmp_path / "theirs.npz"))
    ours = our_outputs(kind, estimator, inputs)
    assert theirs.keys() == ours.keys()
    for key, value in ours.items():
        assert theirs[key].shape == value.shape, key
        np.testing.assert_allclose(theirs[key], value, rtol=1e-5, atol=1e-5, err_msg=key)
    assert np.std(ours[next(iter(ours))]) > 1e-3  # a trained network, not a constant


@pytest.mark.parametrize("kind", ["ratio", "score"])
def test_we_load_madminer_estimators(kind, tmp_path, madminer_python):
    np.savez(tmp_path / "data.npz", **toy())
    run_probe(madminer_python, "train", kind, tmp_path / "mm", tmp_path / "data.npz")
    inputs_file, inputs = evaluation_inputs(tmp_path)
    run_probe(madminer_python, "evaluate", kind, tmp_path / "mm", inputs_file, tmp_path / "theirs.npz")
    theirs = dict(np.load(tmp_path / "theirs.npz"))
    estimator = ScoreEstimator() if kind == "score" else ParameterizedRatioEstimator()
    estimator.load(tmp_path / "mm")
    ours = our_outputs(kind, estimator, inputs)
    for key, value in ours.items():
        np.testing.assert_allclose(value, theirs[key], rtol=1e-5, atol=1e-5, err_msg=key)
