"""Every estimator trained on a GPU, with the step replayed as a CUDA graph and eagerly, side by side.

For each estimator (ALICES ratio, morphing-aware and quadratic ratio, doubly parameterised ALICES, SALLY,
NDE, SCANDAL, SCANDAL with batch norm and a mixture base) on ``--samples`` samples of the tutorial toy:
the seconds per epoch with and without CUDA graphs (after one warm-up epoch), the largest relative
difference of the per-epoch training losses between the two (same seed), and a check that the model,
saved and loaded on the CPU, gives the GPU's outputs.

Usage::

    python benchmarks/ml_gpu_estimators.py [--samples 100000] [--epochs 3] [--batch-size 128]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from _ml_toy_common import training_data
from motherlode.core.madminer import MadMiner
from motherlode.ml import (
    DoubleParameterizedRatioEstimator,
    LikelihoodEstimator,
    MorphingAwareRatioEstimator,
    ParameterizedRatioEstimator,
    QuadraticMorphingAwareRatioEstimator,
    ScoreEstimator,
)


def morphing_setup(folder: Path) -> str:
    miner = MadMiner()
    miner.add_parameter("block", 1, "theta", morphing_max_power=2, parameter_range=(-4.0, 4.0))
    miner.add_benchmark({"theta": 0.0}, "sm")
    miner.set_morphing(max_overall_power=2, random_state=0)
    miner.save(folder / "setup.h5")
    return str(folder / "setup.h5")


def cases(data: dict, setup: str) -> dict[str, tuple[Callable, str, dict]]:
    ratio = {k: data[k] for k in ("x", "y", "theta", "r_xz", "t_xz")}
    double = {k: data[k] for k in ("x", "y", "r_xz")} | {"theta0": data["theta"], "t_xz0": data["t_xz"]}
    # joint score at theta1 = 0: t(x,z|theta) = (z - theta)/4, so t1 = t0 + theta0/4
    double |= {"theta1": np.zeros_like(data["theta"]), "t_xz1": data["t_xz"] + data["theta"] / 4.0}
    density = {"x": data["x"], "theta": data["theta"], "t_xz": data["t_xz"]}
    sally = {"x": data["x"], "t_xz": data["t_xz"]}

    def morphing_aware() -> MorphingAwareRatioEstimator:
        return MorphingAwareRatioEstimator(setup, n_hidden=(50,))

    return {
        "ratio alices": (lambda: ParameterizedRatioEstimator(n_hidden=(100,)), "alices", ratio),
        "morphing-aware alices": (
            lambda: MorphingAwareRatioEstimator(setup, n_hidden=(50,)),
            "alices",
            ratio,
        ),
        "quadratic alice": (lambda: QuadraticMorphingAwareRatioEstimator(n_hidden=(50,)), "alice", ratio),
        "double alices": (lambda: DoubleParameterizedRatioEstimator(n_hidden=(100,)), "alices", double),
        "sally": (lambda: ScoreEstimator(n_hidden=(100,)), "sally", sally),
        "nde": (lambda: LikelihoodEstimator(n_mades=3, n_hidden=(50,)), "nde", density),
        "scandal": (lambda: LikelihoodEstimator(n_mades=3, n_hidden=(50,)), "scandal", density),
        "scandal bn+gmm": (
            lambda: LikelihoodEstimator(n_mades=3, n_hidden=(50,), n_components=3, batch_norm=0.1),
            "scandal",
            density,
        ),
    }


def train(make: Callable, method: str, arrays: dict, epochs: int, batch_size: int, graphs: bool, device: str):
    os.environ["MOTHERLODE_CUDA_GRAPHS"] = "1" if graphs else "0"
    torch.manual_seed(1)
    estimator = make()
    options = {"batch_size": batch_size, "verbose": "none", "device": device, "validation_split": None}
    estimator.train(method, **arrays, n_epochs=1, **options)  # warm-up
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    torch.manual_seed(2)
    estimator = make()
    start = time.perf_counter()
    losses, _ = estimator.train(method, **arrays, n_epochs=1 + epochs, **options)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / (1 + epochs), losses, estimator


def outputs(estimator, x: np.ndarray) -> np.ndarray:
    if isinstance(estimator, ScoreEstimator):
        return estimator.evaluate_score(x)
    if isinstance(estimator, LikelihoodEstimator):
        return estimator.evaluate_log_likelihood(x, np.array([[0.5]]))[0]
    if isinstance(estimator, DoubleParameterizedRatioEstimator):
        return estimator.evaluate_log_likelihood_ratio(x, np.array([[0.5]]), np.array([[0.0]]))[0]
    return estimator.evaluate_log_likelihood_ratio(x, np.array([[0.5]]))[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device
    print(f"{name}, torch {torch.__version__}, {args.samples:,} samples, "
          f"batch size {args.batch_size}")  # fmt: skip
    print(f"{'estimator':22s} {'s/epoch graph':>13s} {'s/epoch eager':>13s} {'speed-up':>8s} "
          f"{'max rel. loss diff':>18s} {'CPU reload':>10s}")  # fmt: skip
    data = training_data(args.samples)
    x_check = data["x"][:1000]
    with tempfile.TemporaryDirectory() as folder:
        setup = morphing_setup(Path(folder))
        for name, (make, method, arrays) in cases(data, setup).items():
            t_graph, l_graph, est = train(
                make, method, arrays, args.epochs, args.batch_size, True, args.device
            )
            t_eager, l_eager, _ = train(
                make, method, arrays, args.epochs, args.batch_size, False, args.device
            )
            diff = float(np.max(np.abs(l_graph - l_eager) / np.maximum(np.abs(l_eager), 1e-12)))
            est.save(Path(folder) / "model")
            reloaded = type(est)()
            reloaded.load(Path(folder) / "model")
            same = np.allclose(outputs(reloaded, x_check), outputs(est, x_check), atol=1e-4, rtol=1e-4)
            print(f"{name:22s} {t_graph:13.2f} {t_eager:13.2f} {t_eager / t_graph:8.1f} {diff:18.2e} "
                  f"{'ok' if same else 'DIFFERS':>10s}")  # fmt: skip


if __name__ == "__main__":
    main()
