"""Epoch time of ALICES on 10^6 samples of the tutorial toy, on whatever device ``device="auto"`` picks.

Trains ``ParameterizedRatioEstimator`` with ``method="alices"`` on ``--samples`` samples of the toy in
``_ml_toy_common.py`` (no validation split, so one epoch is exactly ``--samples`` samples) for a few
epochs at several batch sizes, with the training step replayed as a CUDA graph (the default on CUDA) and
eagerly (``MOTHERLODE_CUDA_GRAPHS=0``), and prints the mean time per epoch after a warm-up epoch, the
throughput and the MSE of log r on MadMiner's test grid. With ``--save DIR`` the last estimator is
saved there (to check that a model trained on a GPU loads on a CPU).

Usage::

    python benchmarks/ml_gpu.py [--samples 1000000] [--epochs 3] [--batch-sizes 128 1024 8192]
                                [--hidden 100] [--device auto] [--graphs on off] [--save DIR]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from _ml_toy_common import evaluation_grid, training_data, true_log_r
from motherlode.ml import ParameterizedRatioEstimator


def epoch_seconds(data: dict, batch_size: int, n_epochs: int, hidden: tuple, device: str):
    """Train for ``1 + n_epochs`` epochs; return (seconds per epoch after the first, estimator)."""
    torch.manual_seed(1)
    estimator = ParameterizedRatioEstimator(n_hidden=hidden)
    common = {"x": data["x"], "y": data["y"], "theta": data["theta"], "r_xz": data["r_xz"]}
    common |= {"t_xz": data["t_xz"], "validation_split": None, "verbose": "none", "device": device}
    estimator.train("alices", **common, n_epochs=1, batch_size=batch_size)  # warm-up (CUDA context, kernels)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    estimator.train("alices", **common, n_epochs=n_epochs, batch_size=batch_size)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / n_epochs, estimator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 1024, 8192])
    parser.add_argument("--hidden", type=int, nargs="+", default=[100])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--graphs", nargs="+", choices=["on", "off"], default=["on", "off"])
    parser.add_argument("--save", type=Path, default=None)
    args = parser.parse_args()
    name = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    hidden = tuple(args.hidden)
    print(f"ALICES, {args.samples:,} samples per epoch, n_hidden={hidden}, {name}, torch {torch.__version__}")
    print(f"{'graphs':>6s} {'batch':>7s} {'s/epoch':>9s} {'samples/s':>12s} {'MSE':>7s}")
    data = training_data(args.samples)
    thetas, x = evaluation_grid()
    estimator = None
    for graphs in args.graphs:
        os.environ["MOTHERLODE_CUDA_GRAPHS"] = "1" if graphs == "on" else "0"
        for batch_size in args.batch_sizes:
            seconds, estimator = epoch_seconds(data, batch_size, args.epochs, hidden, args.device)
            log_r, _ = estimator.evaluate_log_likelihood_ratio(x=x, theta=thetas)
            mse = float(np.mean((log_r - true_log_r(thetas, x)) ** 2))
            print(f"{graphs:>6s} {batch_size:7d} {seconds:9.2f} {args.samples / seconds:12,.0f} {mse:7.3f}")
    if args.save is not None and estimator is not None:
        args.save.mkdir(parents=True, exist_ok=True)
        estimator.save(args.save / "alices_gpu")
        log_r, _ = estimator.evaluate_log_likelihood_ratio(x=x, theta=thetas)
        np.save(args.save / "alices_gpu_log_r.npy", log_r)
        print(f"saved to {args.save}/alices_gpu_*")


if __name__ == "__main__":
    main()
