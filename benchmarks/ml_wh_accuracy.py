"""SALLY on the W h sample: motherlode against MadMiner 0.9.6 on the same training and validation samples.

Both packages train ``ScoreEstimator(n_hidden=(50, 50))`` with their defaults (MadMiner with ``n_workers=0``)
on the first 75 000 of the built-in example's 100 000 local samples at the SM (``ml_wh.py`` makes them in
``--workdir``), with the other 25 000 as explicit validation data (``x_val``, ``t_xz_val``), each training in
a fresh process; printed is the mean squared error of the estimated score against the joint score on those
25 000 samples, mean and standard deviation over the training seeds. (The validation losses of ``ml_wh.py``
come from each package's own random split and are not comparable.)

Usage::

    python benchmarks/ml_wh_accuracy.py --workdir DIR [--epochs 50] [--seeds 0 1 2] [--madminer-python PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from _common import madminer_python  # the script's folder is on sys.path
from ml_wh import samples

TRAIN = r"""
import json, logging, sys
import numpy as np, torch
logging.disable(logging.CRITICAL)
package, seed, epochs, folder = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
if package == "madminer":
    from madminer.ml import ScoreEstimator
    options = {"n_workers": 0}
else:
    from motherlode.ml import ScoreEstimator
    options = {}
torch.manual_seed(seed)
estimator = ScoreEstimator(n_hidden=(50, 50))
files = {name: f"{folder}/{name}.npy" for name in ("x", "t_xz", "x_val", "t_xz_val")}
estimator.train("sally", **files, n_epochs=epochs, verbose="none", **options)
x_val, t_val = np.load(files["x_val"]), np.load(files["t_xz_val"])
print(json.dumps(float(np.mean((estimator.evaluate_score(x_val) - t_val) ** 2))))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="where ml_wh.py makes (or made) the samples")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--madminer-python", default=None)
    args = parser.parse_args()
    folder = samples(Path(args.workdir))
    x, t_xz = np.load(folder / "x_score.npy"), np.load(folder / "t_xz_score.npy")
    pythons = {"motherlode": sys.executable}
    madminer = madminer_python(args.madminer_python)
    if madminer:
        pythons["madminer"] = madminer
    print(
        f"SALLY, W h, 75 000 training and 25 000 validation samples, {args.epochs} epochs, seeds {args.seeds}"
    )
    with tempfile.TemporaryDirectory() as split:
        arrays = {"x": x[:75_000], "t_xz": t_xz[:75_000], "x_val": x[75_000:], "t_xz_val": t_xz[75_000:]}
        for name, array in arrays.items():
            np.save(f"{split}/{name}.npy", array)
        for package, python in pythons.items():
            errors = []
            for seed in args.seeds:
                command = [python, "-c", TRAIN, package, str(seed), str(args.epochs), split]
                result = subprocess.run(command, capture_output=True, text=True, check=True)
                errors.append(json.loads(result.stdout.strip().splitlines()[-1]))
            spread = statistics.stdev(errors) if len(errors) > 1 else 0.0
            print(f"{package:12s} MSE of the score {statistics.mean(errors):.4f} ({spread:.4f})", flush=True)


if __name__ == "__main__":
    main()
