"""Ratio estimators on the toy of MadMiner's tutorial: motherlode against MadMiner 0.9.6.

Both packages train ``ParameterizedRatioEstimator(n_hidden=(50, 50))`` on the same 10k samples of
the toy in ``_ml_toy_common.py`` (the correct joint score (z - theta)/4), with each method's
defaults otherwise (alpha = 1 for cascal, rascal, alices; 0 for carl, rolr, alice), and report
the training time (after one untimed warm-up epoch on 1000 samples, for both packages), the
throughput (samples x epochs / s) and the MSE of log r on MadMiner's test grid (20 theta0 in
[-4, 4], 50 x drawn at theta = 1). MadMiner's published MSEs (anatomy 5.1):
carl 0.114, rolr 0.065, alice 0.152, cascal 0.052, rascal 0.051, alices 0.074.

Usage::

    python benchmarks/ml_toy.py [--methods carl rolr ...] [--epochs 50] [--samples 10000]
                                [--repeats 1] [--skip-madminer] [--madminer-python PATH]

With ``--repeats N`` each package trains N times per method and the median time is reported (the
machine's timing noise is large on shared virtual cores).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import numpy as np

from _common import madminer_python  # the script's folder is on sys.path
from _ml_toy_common import evaluation_grid, training_data, true_log_r

ROOT = Path(__file__).resolve().parent.parent
HELPER = Path(__file__).resolve().parent / "_madminer_ml_toy.py"
METHODS = ("carl", "rolr", "alice", "cascal", "rascal", "alices")
PUBLISHED = {"carl": 0.114, "rolr": 0.065, "alice": 0.152, "cascal": 0.052, "rascal": 0.051, "alices": 0.074}


def train_motherlode(method: str, n_samples: int, n_epochs: int) -> dict:
    import torch

    from motherlode.ml import ParameterizedRatioEstimator

    data = training_data(n_samples)
    alpha = 0.0 if method in ("carl", "rolr", "alice") else 1.0
    warm_up = {k: v[:1000] for k, v in data.items()}  # one untimed epoch first: lazy initialisation
    ParameterizedRatioEstimator(n_hidden=(50, 50)).train(method=method, **warm_up, alpha=alpha, n_epochs=1)
    torch.manual_seed(1)
    estimator = ParameterizedRatioEstimator(n_hidden=(50, 50))
    start = time.perf_counter()
    estimator.train(
        method=method, x=data["x"], y=data["y"], theta=data["theta"], r_xz=data["r_xz"], t_xz=data["t_xz"],
        alpha=alpha, n_epochs=n_epochs, verbose="none",
    )  # fmt: skip
    seconds = time.perf_counter() - start
    thetas, x = evaluation_grid()
    log_r, _ = estimator.evaluate_log_likelihood_ratio(x=x, theta=thetas, test_all_combinations=True)
    mse = float(np.mean((log_r - true_log_r(thetas, x)) ** 2))
    return {"seconds": seconds, "samples_per_second": n_samples * n_epochs / seconds, "mse": mse}


def train_madminer(python: str, method: str, n_samples: int, n_epochs: int) -> dict:
    result = subprocess.run(
        [python, str(HELPER), method, str(n_samples), str(n_epochs)],
        capture_output=True, text=True, timeout=7200, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"MadMiner failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def median_run(repeats: int, run, *args) -> dict:
    """The result of ``run(*args)`` with the median training time of ``repeats`` runs."""
    results = sorted((run(*args) for _ in range(max(repeats, 1))), key=lambda r: r["seconds"])
    return results[len(results) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--skip-madminer", action="store_true")
    parser.add_argument("--madminer-python", default=None)
    args = parser.parse_args()
    python = None if args.skip_madminer else madminer_python(args.madminer_python)
    print(f"toy, {args.samples} samples, {args.epochs} epochs, n_hidden=(50, 50), CPU")
    header = f"{'method':8s} {'MSE ours':>9s} {'MSE MadMiner':>13s} {'published':>10s} {'s ours':>8s}"
    header += f" {'s MadMiner':>11s}"
    print(header + f" {'samples/s ours':>15s} {'samples/s MadMiner':>19s}")
    for method in args.methods:
        ours = median_run(args.repeats, train_motherlode, method, args.samples, args.epochs)
        theirs = None
        if python:
            theirs = median_run(args.repeats, train_madminer, python, method, args.samples, args.epochs)
        their_mse = f"{theirs['mse']:13.3f}" if theirs else f"{'-':>13s}"
        their_seconds = f"{theirs['seconds']:11.1f}" if theirs else f"{'-':>11s}"
        their_rate = f"{theirs['samples_per_second']:19,.0f}" if theirs else f"{'-':>19s}"
        print(
            f"{method:8s} {ours['mse']:9.3f} {their_mse} {PUBLISHED[method]:10.3f} {ours['seconds']:8.1f} "
            f"{their_seconds} {ours['samples_per_second']:15,.0f} {their_rate}"
        )


if __name__ == "__main__":
    main()
