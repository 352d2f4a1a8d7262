"""Sampling speed and memory: motherlode's SampleAugmenter against MadMiner 0.9.6.

The events files (built once under ``benchmarks/.cache/``) have two observables ``x1, x2 ~ U(-1, 1)``
and weights ``c (1 + theta1 x1 + theta2 x2)^2`` at the 6 benchmarks of a quadratic two-parameter
morphing basis (``sm`` plus 5 optimised points), so morphing is exact.

Sections:

* ``compare``: ``sample_train_ratio`` with theta0 = ``random_morphing_points(n, flat priors)``,
  theta1 = ``benchmark("sm")``, on the same file with both packages (default: MadMiner's own
  reference size, 200 000 samples over 100 theta0 from 50 000 events); MadMiner reads our file.
* ``large``: motherlode alone, 10^6 samples over 1000 theta0 from a 10^6-event file.
* ``memory``: peak resident memory of a fresh process that samples 10^5 events over 100 theta0
  from files of 10^6 and 5 x 10^6 events (it must not grow with the file).

Usage::

    python benchmarks/sampling.py [--sections compare large memory] [--madminer-python PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import madminer_python  # the script's folder is on sys.path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(__file__).resolve().parent / ".cache"
MADMINER_HELPER = Path(__file__).resolve().parent / "_madminer_sampling.py"
PRIORS = [("flat", -1.0, 1.0), ("flat", -1.0, 1.0)]


def events_file(n_events: int) -> Path:
    """The cached events file with ``n_events`` events (written in blocks: bounded memory)."""
    from motherlode import MadMiner, fileformat

    path = CACHE / f"sampling_{n_events}ev.h5"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    setup_path = CACHE / "sampling_setup.h5"
    miner = MadMiner()
    miner.add_parameter(
        "BLOCK", 1, parameter_name="theta1", morphing_max_power=2, parameter_range=(-1.0, 1.0)
    )
    miner.add_parameter(
        "BLOCK", 2, parameter_name="theta2", morphing_max_power=2, parameter_range=(-1.0, 1.0)
    )
    miner.add_benchmark({"theta1": 0.0, "theta2": 0.0}, "sm")
    miner.set_morphing(include_existing_benchmarks=True, max_overall_power=2, random_state=1)
    miner.save(setup_path)
    setup = fileformat.read_setup(setup_path)
    setup.benchmarks["sm"].is_reference = True
    values = np.array([[b.values["theta1"], b.values["theta2"]] for b in setup.benchmarks.values()])
    rng = np.random.default_rng(1)
    print(f"  writing {path.relative_to(ROOT)} ...", flush=True)
    with fileformat.atomic_h5(path, copy_from=setup_path) as handle:
        fileformat.write_setup(handle, setup)
        fileformat.write_observables(handle, ["x1", "x2"], ["x1", "x2"])
        fileformat.create_sample_datasets(handle, 2, len(values))
        for start in range(0, n_events, 1_000_000):
            n = min(1_000_000, n_events - start)
            x = rng.uniform(-1.0, 1.0, size=(n, 2))
            weights = (1.0 + x @ values.T) ** 2 * (1.0 / n_events)
            fileformat.append_samples(handle, x, weights, np.zeros(n, dtype=np.int64))
        fileformat.write_sample_summary(handle, [n_events] + [0] * (len(values) - 1), 0)
    return path


def time_motherlode(path: Path, n_samples: int, n_thetas: int) -> dict:
    from motherlode.sampling import SampleAugmenter, benchmark, random_morphing_points

    start = time.perf_counter()
    augmenter = SampleAugmenter(path)
    with tempfile.TemporaryDirectory() as folder:
        x, _, _, y, r_xz, _, n_effective = augmenter.sample_train_ratio(
            random_morphing_points(n_thetas, PRIORS), benchmark("sm"), n_samples,
            folder=folder, filename="train", random_state=1,
        )  # fmt: skip
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "n": len(x),
        "mean_r_theta1": float(r_xz[y[:, 0] == 1].mean()),
        "n_effective": n_effective,
    }


def time_madminer(python: str, path: Path, n_samples: int, n_thetas: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        result = subprocess.run(
            [python, str(MADMINER_HELPER), str(path), str(n_samples), str(n_thetas), folder],
            capture_output=True, text=True, timeout=7200, check=False,
        )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"MadMiner failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


_MEMORY_SCRIPT = """
import json, sys, time
from motherlode.sampling import SampleAugmenter, benchmark, random_morphing_points

def peak():
    with open('/proc/self/status') as status:
        return next(int(l.split()[1]) for l in status if l.startswith('VmHWM:')) / 1024

imports = peak()
start = time.perf_counter()
augmenter = SampleAugmenter(sys.argv[1])
augmenter.sample_train_ratio(random_morphing_points(100, [("flat", -1.0, 1.0)] * 2), benchmark("sm"), 100_000,
                             random_state=1)
print(json.dumps({"seconds": time.perf_counter() - start, "peak_mb": peak(), "imports_mb": imports}))
"""


def memory_run(path: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        timeout=7200,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sections",
        nargs="+",
        choices=["compare", "large", "memory"],
        default=["compare", "large", "memory"],
    )
    parser.add_argument("--compare-events", type=int, default=50_000)
    parser.add_argument("--compare-samples", type=int, default=200_000)
    parser.add_argument("--compare-thetas", type=int, default=100)
    parser.add_argument("--madminer-python", default=None)
    args = parser.parse_args()

    if "compare" in args.sections:
        path = events_file(args.compare_events)
        print(
            f"== sample_train_ratio: {args.compare_samples} samples, {args.compare_thetas} theta0, "
            f"{args.compare_events} events =="
        )
        ours = time_motherlode(path, args.compare_samples, args.compare_thetas)
        label = "mean r_xz of the theta1 half"
        print(f"motherlode:     {ours['seconds']:7.2f} s  ({label}: {ours['mean_r_theta1']:.4f})")
        python = madminer_python(args.madminer_python)
        if python is None:
            print("MadMiner 0.9.6 not found: give --madminer-python or set MOTHERLODE_MADMINER_PYTHON")
        else:
            theirs = time_madminer(python, path, args.compare_samples, args.compare_thetas)
            print(f"MadMiner 0.9.6: {theirs['seconds']:7.2f} s  ({label}: {theirs['mean_r_theta1']:.4f})")
            print(f"speed-up: {theirs['seconds'] / ours['seconds']:.0f}x")
    if "large" in args.sections:
        path = events_file(1_000_000)
        print("== sample_train_ratio: 10^6 samples, 1000 theta0, 10^6 events (motherlode) ==")
        ours = time_motherlode(path, 1_000_000, 1000)
        print(
            f"motherlode: {ours['seconds']:.1f} s, {ours['n'] / ours['seconds']:,.0f} samples/s, "
            f"mean r_xz of the theta1 half {ours['mean_r_theta1']:.4f}"
        )
    if "memory" in args.sections:
        print("== peak memory: 10^5 samples over 100 theta0 (fresh process, VmHWM) ==")
        for n_events in (1_000_000, 5_000_000):
            path = events_file(n_events)
            report = memory_run(path)
            size = path.stat().st_size / 1e6
            print(
                f"{n_events:>9d} events ({size:5.0f} MB on disk): {report['seconds']:6.1f} s, "
                f"peak {report['peak_mb']:5.0f} MB ({report['imports_mb']:.0f} MB after the imports)"
            )


if __name__ == "__main__":
    main()
