"""Morphing weights and gradients for many parameter points: vectorised against a per-point loop.

Sets up a two-parameter morphing with max_overall_power 4 (15 components, the WBF Higgs
example of MadMiner's tutorial), then computes morphing weights and their gradients at
10^5 random parameter points

* with motherlode, all points in one call;
* with motherlode, one call per point (the way MadMiner's API is used);
* with MadMiner 0.9.6, one call per point, when its interpreter is given with
  ``--madminer-python`` or ``MOTHERLODE_MADMINER_PYTHON`` (``scripts/run-tests`` creates one).

Usage::

    python benchmarks/morphing.py [--n-thetas 100000] [--madminer-python PATH]

Prints the times, the speed-ups and the largest relative difference between the packages.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from motherlode import MadMiner


def build_setup() -> MadMiner:
    miner = MadMiner()
    for name, lha_id in (("CWL2", 2), ("CPWL2", 5)):
        miner.add_parameter(
            "dim6", lha_id, name, "16.52*theta", morphing_max_power=4, parameter_range=(-20.0, 20.0)
        )
    miner.add_benchmark({"CWL2": 0.0, "CPWL2": 0.0}, "sm")
    miner.set_morphing(max_overall_power=4, n_trials=100, random_state=2026)
    return miner


def best_of(repeats: int, function) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-thetas", type=int, default=100_000)
    parser.add_argument("--madminer-python", default=os.environ.get("MOTHERLODE_MADMINER_PYTHON"))
    args = parser.parse_args()

    miner = build_setup()
    morpher = miner.morpher
    thetas = morpher.draw_random_thetas(args.n_thetas, random_state=0)
    print(
        f"morphing: {morpher.n_parameters} parameters, {morpher.n_components} components, "
        f"{args.n_thetas} parameter points"
    )

    vector_w, weights = best_of(5, lambda: morpher.calculate_morphing_weights(thetas))
    vector_g, gradients = best_of(5, lambda: morpher.calculate_morphing_weight_gradient(thetas))
    loop_w, loop_weights = best_of(
        1, lambda: np.array([morpher.calculate_morphing_weights(t) for t in thetas])
    )
    loop_g, loop_gradients = best_of(
        1, lambda: np.array([morpher.calculate_morphing_weight_gradient(t) for t in thetas])
    )
    scale = np.abs(weights).max(axis=1, keepdims=True)
    assert np.max(np.abs(loop_weights - weights) / scale) < 1e-10
    assert np.max(np.abs(loop_gradients - gradients) / scale[:, :, None]) < 1e-10

    rows = [
        ("motherlode, vectorised", vector_w, vector_g),
        ("motherlode, per-point loop", loop_w, loop_g),
    ]
    difference = None
    if args.madminer_python:
        with tempfile.TemporaryDirectory() as scratch:
            setup, theta_file, out = (Path(scratch) / n for n in ("setup.h5", "thetas.npy", "out.npz"))
            miner.save(setup)
            np.save(theta_file, thetas)
            helper = Path(__file__).with_name("_madminer_morphing.py")
            result = subprocess.run(
                [args.madminer_python, str(helper), str(setup), str(theta_file), str(out)],
                capture_output=True,
                text=True,
                check=True,
            )
            timing = json.loads(result.stdout.strip().splitlines()[-1])
            reference = np.load(out)
            difference = max(
                float(np.max(np.abs(reference["weights"] - weights) / scale)),
                float(np.max(np.abs(reference["gradients"] - gradients) / scale[:, :, None])),
            )
        rows.append(
            ("MadMiner 0.9.6, per-point loop", timing["weights_seconds"], timing["gradients_seconds"])
        )

    print(f"{'':34s} {'weights':>10s} {'gradients':>10s} {'slower than vectorised (w, grad)':>34s}")
    for label, seconds_w, seconds_g in rows:
        print(
            f"{label:34s} {seconds_w:9.3f}s {seconds_g:9.3f}s "
            f"{seconds_w / vector_w:16.0f}x {seconds_g / vector_g:16.0f}x"
        )
    print(
        f"throughput, vectorised: {args.n_thetas / vector_w:.3g} points/s (weights), "
        f"{args.n_thetas / vector_g:.3g} points/s (gradients)"
    )
    if difference is not None:
        print(
            f"largest difference to MadMiner 0.9.6 (weights, gradients; relative to max|w|): {difference:.2e}"
        )
    else:
        print("MadMiner 0.9.6 not given (--madminer-python): skipped", file=sys.stderr)


if __name__ == "__main__":
    main()
