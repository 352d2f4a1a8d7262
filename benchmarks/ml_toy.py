"""Ratio estimators on the toy of MadMiner's tutorial: motherlode against MadMiner 0.9.6, speed and accuracy.

Both packages train ``ParameterizedRatioEstimator(n_hidden=(50, 50))`` with batch size 128 and their other
defaults on the same samples of the toy in ``_ml_toy_common.py`` (the correct joint score (z - theta)/4),
alpha = 1 for cascal, rascal and alices. Every training runs in a fresh process (``_ml_run.py``).

``--mode speed`` (default: 20k samples, 10 epochs, one seed): the wall and CPU seconds of the whole first
``train`` call of a process (fixed costs included), and the CPU seconds per epoch of a second, warm run;
MadMiner with ``n_workers=0`` (its fastest setting here) and with its default ``n_workers=8``.

``--mode accuracy`` (default: 10k samples, 50 epochs, seeds 0-4): mean and standard deviation over the
training seeds of the MSE of log r on MadMiner's test grid (20 theta0 in [-4, 4], 50 x drawn at theta = 1)
and, for SALLY (``ScoreEstimator(n_hidden=(50, 50))`` on samples at theta = 0), of the score against the
exact x/5 at 1000 x drawn at theta = 0. The same data for both packages; MadMiner with ``n_workers=0`` (the
worker count does not change what it computes). MadMiner's published MSEs (anatomy 5.1): carl 0.114,
rolr 0.065, alice 0.152, cascal 0.052, rascal 0.051, alices 0.074.

Usage::

    python benchmarks/ml_toy.py [--mode speed|accuracy] [--methods carl rolr ...] [--samples N]
                                [--epochs N] [--seeds 0 1 ...] [--repeats N] [--skip-madminer] [--compiled]
                                [--madminer-python PATH]
                                [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _common import madminer_python  # the script's folder is on sys.path

HELPER = Path(__file__).resolve().parent / "_ml_run.py"
METHODS = ("carl", "rolr", "alice", "cascal", "rascal", "alices", "sally")
PUBLISHED = {"carl": 0.114, "rolr": 0.065, "alice": 0.152, "cascal": 0.052, "rascal": 0.051, "alices": 0.074}


def _case(method: str, n_samples: int) -> dict:
    """The helper's spec for ``method`` on the toy: a ratio method, or SALLY on samples at theta = 0."""
    if method == "sally":
        return {"estimator": "score", "method": "sally", "toy_local": n_samples}
    return {"estimator": "ratio", "method": method, "toy": n_samples, "alpha": _alpha(method)}


def run(python: str, spec: dict) -> dict:
    """Train in a fresh ``python`` process (with the environment variables of ``spec["env"]``, if any); the
    helper's JSON result."""
    env = {**os.environ, **spec.get("env", {})}
    result = subprocess.run(
        [python, str(HELPER), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=7200,
        check=False,
        env=env,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{spec['package']} failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _alpha(method: str) -> float:
    return 1.0 if method in ("cascal", "rascal", "alices") else 0.0


def _median_run(runs: list[dict]) -> dict:
    """Per key, the median over repeated runs (timings on these shared cores vary by up to 2x)."""
    return {key: statistics.median(run[key] for run in runs) for key in runs[0] if runs[0][key] is not None}


SPEED_HEADER = (
    f"{'package':24s} {'run s':>7s} {'run CPU s':>10s} {'epoch CPU s':>12s} {'val. loss':>10s} "
    f"{'x run':>6s} {'x epoch CPU':>12s}"
)


def compare_speed(label: str, base: dict, madminer: str | None, repeats: int, compiled: bool = False) -> dict:
    """Train ``base`` with motherlode and MadMiner (``n_workers`` 0 and 8), ``repeats`` times interleaved;
    print one row per package (medians; speed-ups against motherlode) and return the medians and runs.

    ``compiled``: also motherlode with ``MOTHERLODE_COMPILED_STEP=1`` (the compiled step whatever the
    training's length) and ``0`` (the torch step), besides its default."""
    packages = {"motherlode": (sys.executable, {"package": "motherlode"})}
    if compiled:
        for flag, name in (("1", "compiled step"), ("0", "torch step")):
            packages[f"motherlode, {name}"] = (
                sys.executable,
                {"package": "motherlode", "env": {"MOTHERLODE_COMPILED_STEP": flag}},
            )
    if madminer:
        for workers in (0, 8):
            packages[f"madminer n_workers={workers}"] = (
                madminer,
                {"package": "madminer", "n_workers": workers},
            )
    runs: dict[str, list[dict]] = {name: [] for name in packages}
    for _ in range(repeats):
        for name, (python, extra) in packages.items():
            runs[name].append(run(python, {**base, **extra}))
    rows = {name: _median_run(values) for name, values in runs.items()}
    ours = rows["motherlode"]
    for name, row in rows.items():
        ratio_run = row["seconds"] / ours["seconds"]
        ratio_epoch = row["epoch_cpu_seconds"] / ours["epoch_cpu_seconds"]
        print(
            f"{label} {name:24s} {row['seconds']:7.2f} {row['cpu_seconds']:10.2f} "
            f"{row['epoch_cpu_seconds']:12.3f} {row.get('val_loss', float('nan')):10.4f} "
            f"{ratio_run:6.1f} {ratio_epoch:12.1f}",
            flush=True,
        )
    return {"median": rows, "runs": runs}


def speed(args: argparse.Namespace, madminer: str | None) -> dict:
    print(
        f"toy, {args.samples} samples, {args.epochs} epochs, n_hidden=(50, 50), batch 128, CPU, "
        f"seed {args.seeds[0]}, median of {args.repeats} interleaved run(s)"
    )
    print(f"{'method':8s} {SPEED_HEADER}")
    results: dict = {}
    for method in args.methods:
        base = {**_case(method, args.samples), "n_epochs": args.epochs, "seed": args.seeds[0], "warm": True}
        results[method] = compare_speed(f"{method:8s}", base, madminer, args.repeats, args.compiled)
    return results


def accuracy(args: argparse.Namespace, madminer: str | None) -> dict:
    print(
        f"toy, {args.samples} samples, {args.epochs} epochs, n_hidden=(50, 50), batch 128, "
        f"seeds {' '.join(map(str, args.seeds))}: MSE of log r, mean (std) over the seeds"
    )
    print(f"{'method':8s} {'motherlode':>20s} {'MadMiner 0.9.6':>20s} {'ratio':>6s} {'published':>10s}")
    results: dict = {}
    for method in args.methods:
        base = {**_case(method, args.samples), "n_epochs": args.epochs, "n_workers": 0}
        packages = {"motherlode": sys.executable, **({"madminer": madminer} if madminer else {})}
        mses = {
            name: [run(python, {**base, "package": name, "seed": seed})["mse"] for seed in args.seeds]
            for name, python in packages.items()
        }
        digits = ".2e" if method == "sally" else ".4f"
        cells = {
            name: f"{statistics.mean(v):{digits}} ({statistics.stdev(v) if len(v) > 1 else 0.0:{digits}})"
            for name, v in mses.items()
        }
        ratio = (
            f"{statistics.mean(mses['motherlode']) / statistics.mean(mses['madminer']):6.2f}"
            if "madminer" in mses
            else f"{'-':>6s}"
        )
        published = f"{PUBLISHED[method]:10.3f}" if method in PUBLISHED else f"{'-':>10s}"
        print(f"{method:8s} {cells['motherlode']:>20s} {cells.get('madminer', '-'):>20s} {ratio} {published}")
        results[method] = mses
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("speed", "accuracy"), default="speed")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--samples", type=int, help="default 20000 (speed), 10000 (accuracy)")
    parser.add_argument("--epochs", type=int, help="default 10 (speed), 50 (accuracy)")
    parser.add_argument("--seeds", type=int, nargs="+", help="default 1 (speed), 0-4 (accuracy)")
    parser.add_argument("--repeats", type=int, default=1, help="speed: interleaved runs per package")
    parser.add_argument(
        "--compiled",
        action="store_true",
        help="also motherlode with MOTHERLODE_COMPILED_STEP=1 and =0 (compiled step always, never)",
    )
    parser.add_argument("--skip-madminer", action="store_true")
    parser.add_argument("--madminer-python", default=None)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()
    is_speed = args.mode == "speed"
    args.samples = args.samples or (20_000 if is_speed else 10_000)
    args.epochs = args.epochs or (10 if is_speed else 50)
    args.seeds = args.seeds or ([1] if is_speed else [0, 1, 2, 3, 4])
    madminer = None if args.skip_madminer else madminer_python(args.madminer_python)
    results = speed(args, madminer) if is_speed else accuracy(args, madminer)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=1))


if __name__ == "__main__":
    main()
