"""Train MadMiner 0.9.6's ParameterizedRatioEstimator on the toy (run under MadMiner's interpreter).

Usage: python _madminer_ml_toy.py METHOD N_SAMPLES N_EPOCHS

Prints one JSON line: training seconds, samples/s and the MSE of log r on the test grid.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
logging.disable(logging.CRITICAL)

from _ml_toy_common import evaluation_grid, training_data, true_log_r  # noqa: E402


def main() -> None:
    method, n_samples, n_epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    import numpy as np
    import torch
    from madminer.ml import ParameterizedRatioEstimator

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
    print(json.dumps({"seconds": seconds, "samples_per_second": n_samples * n_epochs / seconds, "mse": mse}))


if __name__ == "__main__":
    main()
