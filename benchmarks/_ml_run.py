"""Train one estimator with motherlode or MadMiner 0.9.6 in a fresh process (runs under either interpreter).

Usage: python _ml_run.py '<json>'

The JSON object holds ``package`` ("motherlode" or "madminer"), ``estimator`` ("ratio" or "score"),
``method``, ``n_epochs``, ``seed`` (torch seed of the training), optionally ``n_workers`` (MadMiner's
DataLoader workers; motherlode ignores it), ``alpha``, ``warm`` (train a second time, same seed, to measure
the per-epoch cost without the first run's fixed costs) and the data: either ``"toy": n_samples`` (the toy of
``_ml_toy_common.py``, and the MSE of log r on its test grid is reported), ``"toy_local": n_samples``
(SALLY's samples at theta = 0 of the toy, and the MSE of the score against the exact x/5) or
``"files": {name: path.npy}``.

Prints one JSON line: ``seconds`` and ``cpu_seconds`` of the first ``train`` call of the process (wall and
CPU time, this process and its worker processes; the package is imported before), ``epoch_seconds`` and
``epoch_cpu_seconds`` of the warm run per epoch, the last validation loss, and ``mse`` for the toy.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
logging.disable(logging.CRITICAL)

from _ml_toy_common import (  # noqa: E402
    evaluation_grid,
    local_data,
    score_test_points,
    training_data,
    true_log_r,
    true_score,
)


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _data(spec: dict) -> dict:
    import numpy as np

    if "toy" in spec:
        return training_data(int(spec["toy"]))
    if "toy_local" in spec:
        return local_data(int(spec["toy_local"]))
    return {name: np.load(path) for name, path in spec["files"].items()}


def _estimator_classes(package: str) -> tuple[type, type]:
    """The package's ratio and score estimator classes (imported before any timing)."""
    if package == "madminer":
        from madminer.ml import ParameterizedRatioEstimator, ScoreEstimator
    else:
        from motherlode.ml import ParameterizedRatioEstimator, ScoreEstimator
    return ParameterizedRatioEstimator, ScoreEstimator


def _train(spec: dict, data: dict):
    import torch

    ParameterizedRatioEstimator, ScoreEstimator = _estimator_classes(spec["package"])
    torch.manual_seed(int(spec["seed"]))
    workers = int(spec.get("n_workers", 8))
    options = {"n_epochs": int(spec["n_epochs"]), "verbose": "none", "n_workers": workers}
    if spec["estimator"] == "score":
        estimator = ScoreEstimator(n_hidden=(50, 50))
        _, val = estimator.train(method=spec["method"], x=data["x"], t_xz=data["t_xz"], **options)
    else:
        estimator = ParameterizedRatioEstimator(n_hidden=(50, 50))
        arrays = {k: data[k] for k in ("x", "y", "theta", "r_xz", "t_xz") if k in data}
        alpha = float(spec.get("alpha", 1.0))
        _, val = estimator.train(method=spec["method"], **arrays, alpha=alpha, **options)
    return estimator, (float(val[-1]) if len(val) else None)


def main() -> None:
    spec = json.loads(sys.argv[1])
    data = _data(spec)
    _estimator_classes(spec["package"])  # the imports are not part of the timed training
    cpu, start = _cpu_seconds(), time.perf_counter()
    estimator, val_loss = _train(spec, data)
    seconds, cpu_seconds = time.perf_counter() - start, _cpu_seconds() - cpu
    result = {"seconds": seconds, "cpu_seconds": cpu_seconds, "val_loss": val_loss}
    if "toy" in spec:
        import numpy as np

        thetas, x = evaluation_grid()
        log_r, _ = estimator.evaluate_log_likelihood_ratio(x=x, theta=thetas, test_all_combinations=True)
        result["mse"] = float(np.mean((log_r - true_log_r(thetas, x)) ** 2))
    if "toy_local" in spec:
        import numpy as np

        x = score_test_points()
        result["mse"] = float(np.mean((estimator.evaluate_score(x)[:, 0] - true_score(x)) ** 2))
    if spec.get("warm"):
        cpu, start = _cpu_seconds(), time.perf_counter()
        _train(spec, data)
        n_epochs = int(spec["n_epochs"])
        result["epoch_seconds"] = (time.perf_counter() - start) / n_epochs
        result["epoch_cpu_seconds"] = (_cpu_seconds() - cpu) / n_epochs
    print(json.dumps(result))


if __name__ == "__main__":
    main()
