"""The study behind the training defaults: accuracy on the toy for learning-rate schedules and other options.

Every variant trains ``ParameterizedRatioEstimator(n_hidden=(50, 50))`` with each of the six ratio methods
(alpha = 1 for cascal, rascal, alices) on the same 10k samples of ``_ml_toy_common.py`` for 50 epochs at
batch size 128, once per training seed, and reports the mean and standard deviation over the seeds of the
MSE of log r on MadMiner's test grid; ``sally`` adds ``ScoreEstimator(n_hidden=(50, 50))`` on 10k samples at
theta = 0 (MSE of the score against x/5). A variant is a set of ``train`` arguments; ``madminer`` is
MadMiner's schedule (initial_lr = 0.001, final_lr = 0.0001), ``default`` motherlode's.

``--others`` compares MadMiner's and motherlode's default learning rate for the other estimators that share
the default: the doubly parameterised estimator (carl, alices) on the toy with theta0 and theta1 drawn in
[-4, 4], MSE of log r(x|theta0, theta1 = 0) on the same grid; and the morphing-aware estimators (alices,
alpha = 0.1; quadratic: alice) on the quadratic toy of ``tests/test_ml_morphing_aware.py`` (30 epochs,
n_hidden = (32,)), MSE of log r on that file's grid.

Usage::

    python benchmarks/ml_defaults.py [--variants madminer default ...] [--seeds 0 1 2 3 4] [--sally]
                                     [--others]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from _ml_toy_common import (  # the script's folder is on sys.path
    evaluation_grid,
    local_data,
    score_test_points,
    training_data,
    true_log_r,
    true_score,
)

VARIANTS: dict[str, dict] = {
    "madminer": {"initial_lr": 0.001},
    "lr 0.003": {"initial_lr": 0.003},
    "default": {},
    "lr 0.01": {"initial_lr": 0.01},
    "lr 0.005, final 0.0005": {"initial_lr": 0.005, "final_lr": 0.0005},
    "lr 0.005, final 0.00001": {"initial_lr": 0.005, "final_lr": 0.00001},
    "madminer, validation 0.1": {"initial_lr": 0.001, "validation_split": 0.1},
    "madminer, no early stopping": {"initial_lr": 0.001, "early_stopping": False},
}
METHODS = ("carl", "rolr", "alice", "cascal", "rascal", "alices")


def ratio_mse(method: str, seed: int, options: dict) -> float:
    from motherlode.ml import ParameterizedRatioEstimator

    data = training_data(10_000)
    thetas, x = evaluation_grid()
    torch.manual_seed(seed)
    estimator = ParameterizedRatioEstimator(n_hidden=(50, 50))
    alpha = 1.0 if method in ("cascal", "rascal", "alices") else 0.0
    estimator.train(method=method, **data, alpha=alpha, n_epochs=50, verbose="none", **options)
    log_r, _ = estimator.evaluate_log_likelihood_ratio(x=x, theta=thetas)
    return float(np.mean((log_r - true_log_r(thetas, x)) ** 2))


def sally_mse(seed: int, options: dict) -> float:
    from motherlode.ml import ScoreEstimator

    data = local_data(10_000)
    x = score_test_points()
    torch.manual_seed(seed)
    estimator = ScoreEstimator(n_hidden=(50, 50))
    estimator.train(method="sally", **data, n_epochs=50, verbose="none", **options)
    return float(np.mean((estimator.evaluate_score(x)[:, 0] - true_score(x)) ** 2))


def double_data(n_samples: int = 10_000, seed: int = 1) -> dict[str, np.ndarray]:
    """The toy for the doubly parameterised estimator: theta0 and theta1 in [-4, 4], half from each."""
    rng = np.random.default_rng(seed)
    theta0, theta1 = rng.uniform(-4, 4, n_samples), rng.uniform(-4, 4, n_samples)
    y = (np.arange(n_samples) >= n_samples // 2).astype(float)
    z = rng.normal(np.where(y == 0, theta0, theta1), 2.0)
    x = rng.normal(z, 1.0)
    column = {
        "x": x, "y": y, "theta0": theta0, "theta1": theta1,
        "r_xz": np.exp(((z - theta1) ** 2 - (z - theta0) ** 2) / 8),
        "t_xz0": (z - theta0) / 4, "t_xz1": (z - theta1) / 4,
    }  # fmt: skip
    return {key: value[:, None] for key, value in column.items()}


def double_mse(method: str, seed: int, options: dict) -> float:
    from motherlode.ml import DoubleParameterizedRatioEstimator

    thetas, x = evaluation_grid()
    torch.manual_seed(seed)
    estimator = DoubleParameterizedRatioEstimator(n_hidden=(50, 50))
    alpha = 1.0 if method == "alices" else 0.0
    estimator.train(method, **double_data(), alpha=alpha, n_epochs=50, verbose="none", **options)
    log_r = estimator.evaluate_log_likelihood_ratio(x=x, theta0=thetas, theta1=np.zeros_like(thetas))[0]
    return float(np.mean((log_r - true_log_r(thetas, x)) ** 2))


def morphing_aware_mse(quadratic: bool, seed: int, options: dict) -> float:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import test_ml_morphing_aware as toy
    from motherlode.ml import MorphingAwareRatioEstimator, QuadraticMorphingAwareRatioEstimator

    rng = np.random.default_rng(0)
    n = toy.N_PER_CLASS
    theta0 = rng.uniform(-1.0, 1.0, n)
    x = np.concatenate([toy.sample_x(theta0, rng), toy.sample_x(np.zeros(n), rng)])
    theta = np.concatenate([theta0, theta0])
    data = {
        "x": x[:, None], "theta": theta[:, None], "y": np.repeat([0.0, 1.0], n)[:, None],
        "r_xz": np.exp(toy.true_log_r(x, theta))[:, None], "t_xz": toy.true_score(x, theta)[:, None],
    }  # fmt: skip
    torch.manual_seed(seed)
    common = {"n_epochs": 30, "verbose": "none", "device": "cpu", **options}
    if quadratic:
        estimator = QuadraticMorphingAwareRatioEstimator(n_hidden=(32,))
        estimator.train("alice", **data, **common)
    else:
        with tempfile.TemporaryDirectory() as folder:
            estimator = MorphingAwareRatioEstimator(toy.make_setup(Path(folder) / "setup.h5"), n_hidden=(32,))
        estimator.train("alices", alpha=0.1, **data, **common)
    return float(toy.grid_mse(estimator))


def others(seeds: list[int]) -> None:
    cases = {
        "doubly parameterised carl": lambda seed, options: double_mse("carl", seed, options),
        "doubly parameterised alices": lambda seed, options: double_mse("alices", seed, options),
        "morphing-aware alices": lambda seed, options: morphing_aware_mse(False, seed, options),
        "quadratic morphing-aware alice": lambda seed, options: morphing_aware_mse(True, seed, options),
    }
    print(f"{'estimator':32s} {'madminer':>17s} {'default':>17s}")
    for name, mse in cases.items():
        cells = []
        for variant in ("madminer", "default"):
            values = [mse(seed, VARIANTS[variant]) for seed in seeds]
            cells.append(f"{np.mean(values):.4f} ({np.std(values, ddof=1):.4f})")
        print(f"{name:32s} {cells[0]:>17s} {cells[1]:>17s}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--sally", action="store_true", help="also SALLY")
    parser.add_argument("--others", action="store_true", help="only the other estimators (see above)")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    if args.others:
        others(args.seeds)
        return
    methods = [*METHODS, *(["sally"] if args.sally else [])]
    print(f"toy, 10k samples, 50 epochs, (50, 50), batch 128; MSE mean (std) over seeds {args.seeds}")
    print(f"{'variant':30s} " + " ".join(f"{m:>17s}" for m in methods) + "      s")
    for name in args.variants:
        start = time.perf_counter()
        cells = []
        for method in methods:
            if method == "sally":
                mses = [sally_mse(seed, VARIANTS[name]) for seed in args.seeds]
                cells.append(f"{np.mean(mses):.2e} ({np.std(mses, ddof=1):.0e})")
            else:
                mses = [ratio_mse(method, seed, VARIANTS[name]) for seed in args.seeds]
                cells.append(f"{np.mean(mses):.4f} ({np.std(mses, ddof=1):.4f})")
        seconds = time.perf_counter() - start
        print(f"{name:30s} " + " ".join(f"{c:>17s}" for c in cells) + f" {seconds:6.0f}", flush=True)


if __name__ == "__main__":
    main()
