"""Ensembles trained one after the other against trained together (``Ensemble.train_all(vectorize=...)``).

Trains ensembles of 5 SALLY (``ScoreEstimator``) and 5 ALICES (``ParameterizedRatioEstimator``) members with
``n_hidden=(50, 50)`` on 10k samples of the toy in ``_ml_toy_common.py`` for 20 epochs, sequentially
(``vectorize=False``, MadMiner's way) and vectorised (``vectorize=True``), and prints the wall times and the
accuracy of the ensemble mean (MSE of the SALLY score against the true score x/5 at 1000 test points; MSE of
log r on MadMiner's test grid for ALICES).

Usage::

    python benchmarks/ml_ensemble.py [--threads 1 2] [--members 5] [--epochs 20] [--samples 10000]
                                     [--batch-size 128] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from _ml_toy_common import evaluation_grid, training_data, true_log_r  # the script's folder is on sys.path
from motherlode.ml.ensemble import Ensemble
from motherlode.ml.parameterized_ratio import ParameterizedRatioEstimator
from motherlode.ml.score import ScoreEstimator


def sally_data(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, (n, 1))
    return rng.normal(z, 1.0), z / 4.0


def run(kind: str, vectorize: bool, args: argparse.Namespace) -> tuple[float, float]:
    torch.manual_seed(0)
    options = {
        "n_epochs": args.epochs,
        "batch_size": args.batch_size,
        "verbose": "none",
        "device": args.device,
    }
    if kind == "sally":
        x, t_xz = sally_data(args.samples)
        ensemble = Ensemble([ScoreEstimator(n_hidden=(50, 50)) for _ in range(args.members)])
        start = time.perf_counter()
        ensemble.train_all(vectorize=vectorize, method="sally", x=x, t_xz=t_xz, **options)
        elapsed = time.perf_counter() - start
        x_test = sally_data(1000, seed=7)[0]
        mean, _ = ensemble.evaluate_score(x=x_test)
        return elapsed, float(np.mean((mean - x_test / 5.0) ** 2))
    data = training_data(args.samples)
    ensemble = Ensemble([ParameterizedRatioEstimator(n_hidden=(50, 50)) for _ in range(args.members)])
    start = time.perf_counter()
    ensemble.train_all(vectorize=vectorize, method="alices", **data, **options)
    elapsed = time.perf_counter() - start
    thetas, x = evaluation_grid()
    mean, _ = ensemble.evaluate_log_likelihood_ratio(x=x, theta=thetas)
    return elapsed, float(np.mean((mean - true_log_r(thetas, x)) ** 2))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--kinds", nargs="+", default=["sally", "alices"], choices=["sally", "alices"])
    args = parser.parse_args()
    print(
        f"{args.members} members, n_hidden=(50, 50), {args.samples} samples, {args.epochs} epochs, "
        f"batch size {args.batch_size}, device {args.device}, torch {torch.__version__}"
    )
    print(
        f"{'kind':8s} {'threads':>7s} {'sequential':>12s} {'vectorised':>12s} {'speed-up':>9s}",
        "  MSE seq / vec",
    )
    warm_up = argparse.Namespace(**{**vars(args), "epochs": 1, "samples": 1000})
    for threads in args.threads:
        torch.set_num_threads(threads)
        for kind in args.kinds:  # first calls pay one-off costs (imports, allocator, kernels)
            run(kind, False, warm_up)
            run(kind, True, warm_up)
        for kind in args.kinds:
            t_seq, mse_seq = run(kind, False, args)
            t_vec, mse_vec = run(kind, True, args)
            print(
                f"{kind:8s} {threads:7d} {t_seq:11.2f}s {t_vec:11.2f}s {t_seq / t_vec:8.2f}x   "
                f"{mse_seq:.4f} / {mse_vec:.4f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
