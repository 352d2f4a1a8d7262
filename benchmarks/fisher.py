"""Fisher information speed and memory: motherlode's FisherInformation against MadMiner 0.9.6.

The events files (written into a temporary folder, in batches of 10^5 events) have four
observables: ``x1, x2 ~ U(-1, 1)`` and their smeared copies ``x3 = x1 + 0.3 n1``, ``x4 = x2 + 0.3 n2``
(``n ~ N(0, 1)``), and weights ``c (1 + theta1 x1 + theta2 x2)^2 / N`` (``c`` = 1 pb) at the 6 benchmarks
of a quadratic two-parameter morphing basis (``sm`` plus 5 optimised points), so morphing is exact.
Both packages read the same file. The score model is a ``ScoreEstimator(n_hidden=(30,))`` with fixed
random weights (``torch.manual_seed(0)``), saved by motherlode and loaded by both.

Every mode runs at theta = (0, 0), L = 300 fb^-1 (the last: a 100-point scan of
``histo_information`` with fixed bins, one call per point and one call with the ``(100, 2)`` array).
MadMiner runs each mode in a fresh process with a time limit (``--madminer-timeout``); at the larger
sizes a mode is skipped when the time at the previous size, scaled linearly, would exceed it. For the
scan MadMiner runs ``--madminer-scan-points`` points; its time is scaled to 100 points. The largest
relative difference of the information (``max |ours - theirs| / max |theirs|`` over the compared
arrays) is printed; covariances are not compared (MadMiner's Jacobian has a sign error,
docs/differences.md).

The memory section runs truth_information and histo_information (fixed and automatic bins) at 10^5,
10^6 and 3 x 10^6 events (``--memory-events``) in a fresh process and reports its peak resident memory
(``VmHWM``; ``ru_maxrss`` is no use here: on Linux a child's starts at the size of the parent that
started it, which has imported torch).

Usage::

    python benchmarks/fisher.py [--n-events 100000 1000000] [--madminer-python PATH]
        [--madminer-timeout 300] [--sections compare memory] [--memory-events 100000 1000000 3000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from _common import madminer_python  # the script's folder is on sys.path

MADMINER_HELPER = Path(__file__).resolve().parent / "_madminer_fisher.py"
THETA = [0.0, 0.0]
LUMINOSITY = 300_000.0  # pb^-1
OBSERVABLES = ["x1", "x2", "x3", "x4"]
BATCH = 100_000
SCAN = np.stack(np.meshgrid(np.linspace(-0.9, 0.9, 10), np.linspace(-0.9, 0.9, 10)), -1).reshape(-1, 2)


# ---------------------------------------------------------------------- inputs


def write_events_file(folder: Path, n_events: int, seed: int = 1) -> Path:
    """A file of ``n_events`` events, written in batches of 10^5 events (bounded memory)."""
    from motherlode import MadMiner, fileformat

    path = folder / f"fisher_{n_events}ev.h5"
    setup_path = folder / "fisher_setup.h5"
    if not setup_path.exists():
        miner = MadMiner()
        for i in (1, 2):
            miner.add_parameter(
                "BLOCK", i, parameter_name=f"theta{i}", morphing_max_power=2, parameter_range=(-1.0, 1.0)
            )
        miner.add_benchmark({"theta1": 0.0, "theta2": 0.0}, "sm")
        miner.set_morphing(include_existing_benchmarks=True, max_overall_power=2, random_state=1)
        miner.save(setup_path)
    setup = fileformat.read_setup(setup_path)
    setup.benchmarks["sm"].is_reference = True
    values = np.array([[b.values["theta1"], b.values["theta2"]] for b in setup.benchmarks.values()])
    rng = np.random.default_rng(seed)
    with fileformat.atomic_h5(path, copy_from=setup_path) as handle:
        fileformat.write_setup(handle, setup)
        fileformat.write_observables(handle, OBSERVABLES, OBSERVABLES)
        fileformat.create_sample_datasets(handle, len(OBSERVABLES), len(values))
        for start in range(0, n_events, BATCH):
            n = min(BATCH, n_events - start)
            truth = rng.uniform(-1.0, 1.0, size=(n, 2))
            x = np.concatenate([truth, truth + 0.3 * rng.standard_normal((n, 2))], axis=1)
            weights = (1.0 + truth @ values.T) ** 2 / n_events
            fileformat.append_samples(handle, x, weights, np.zeros(n, dtype=np.int64))
        fileformat.write_sample_summary(handle, [n_events] + [0] * (len(values) - 1), 0)
    return path


def write_events_files(folder: Path, sizes) -> dict[int, Path]:
    """One events file per size (number of events), each reported as it is written."""
    files = {}
    for n_events in sorted(sizes):
        start = time.perf_counter()
        files[n_events] = write_events_file(folder, n_events)
        size = files[n_events].stat().st_size / 1e6
        print(f"wrote {n_events} events ({size:.0f} MB) in {time.perf_counter() - start:.1f} s", flush=True)
    return files


def write_score_model(folder: Path) -> Path:
    """A ``ScoreEstimator(n_hidden=(30,))`` with fixed random weights, saved as ``folder/sally``."""
    import torch

    from motherlode.ml import ScoreEstimator

    torch.manual_seed(0)
    estimator = ScoreEstimator(n_hidden=(30,))
    estimator._set_dimensions(len(OBSERVABLES), 2)
    sample = np.random.default_rng(0).uniform(-1.0, 1.0, size=(10_000, len(OBSERVABLES)))
    estimator.initialize_input_transform(sample)
    estimator._create_model()
    estimator.save(folder / "sally")
    return folder / "sally"


# ---------------------------------------------------------------------- the modes


@dataclass
class Mode:
    name: str
    method: str
    kwargs: dict
    compare: tuple[int, ...] = (0,)  # which returned arrays are compared (not the covariances)


def modes(model: Path) -> list[Mode]:
    cut = {"cuts": ["x4 > -0.8"], "efficiency_functions": ["0.9 if abs(x3) < 1.0 else 0.7"]}
    fixed = {"observable": "x3", "bins": 20, "histrange": [-1.5, 1.5]}
    return [
        Mode("truth_information", "truth_information", {"luminosity": LUMINOSITY}),
        Mode("truth_information, cut + efficiency", "truth_information", {"luminosity": LUMINOSITY, **cut}),
        Mode("rate_information", "rate_information", {"luminosity": LUMINOSITY}),
        Mode(
            "histo_information, 20 automatic bins",
            "histo_information",
            {"luminosity": LUMINOSITY, "observable": "x3", "bins": 20},
        ),
        Mode("histo_information, 20 fixed bins", "histo_information", {"luminosity": LUMINOSITY, **fixed}),
        Mode(
            "histo_information_2d, 20 x 20 fixed bins",
            "histo_information_2d",
            {
                "luminosity": LUMINOSITY,
                "observable1": "x3",
                "bins1": 20,
                "histrange1": [-1.5, 1.5],
                "observable2": "x4",
                "bins2": 20,
                "histrange2": [-1.5, 1.5],
            },
        ),
        Mode(
            "histogram_of_information, truth, 20 slices",
            "histogram_of_information",
            {"luminosity": LUMINOSITY, "observable": "x3", "nbins": 20, "histrange": [-1.5, 1.5]},
            (1, 2, 3),
        ),
        Mode(
            "histogram_of_information, score model",
            "histogram_of_information",
            {
                "luminosity": LUMINOSITY,
                "observable": "x3",
                "nbins": 20,
                "histrange": [-1.5, 1.5],
                "model_file": str(model),
                "test_split": None,
            },
            (1, 2, 3),
        ),
        Mode(
            "histogram_of_sigma_dsigma, 20 fixed bins",
            "histogram_of_sigma_dsigma",
            {"observable": "x3", "nbins": 20, "histrange": [-1.5, 1.5]},
            (0, 1, 2),
        ),
        Mode(
            "full_information, score model",
            "full_information",
            {"luminosity": LUMINOSITY, "model_file": str(model), "test_split": None},
        ),
    ]


def scan_mode() -> Mode:
    fixed = {"observable": "x3", "bins": 20, "histrange": [-1.5, 1.5]}
    return Mode("100-point scan", "histo_information", {"luminosity": LUMINOSITY, **fixed})


# ---------------------------------------------------------------------- running


def _call(fisher, mode: Mode, theta) -> list[np.ndarray]:
    kwargs = dict(mode.kwargs)
    for key in ("histrange", "histrange1", "histrange2"):
        if kwargs.get(key) is not None:
            kwargs[key] = tuple(kwargs[key])
    return [np.asarray(part, dtype=np.float64) for part in getattr(fisher, mode.method)(theta, **kwargs)]


def time_motherlode(path: Path, mode: Mode, repeats: int) -> tuple[float, list[np.ndarray]]:
    """Best of ``repeats`` for one call at theta; the call's results."""
    from motherlode.fisherinformation import FisherInformation

    fisher = FisherInformation(path)
    best, result = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        result = _call(fisher, mode, np.asarray(THETA))
        best = min(best, time.perf_counter() - start)
    return best, result


def time_motherlode_scan(path: Path, mode: Mode, repeats: int) -> dict:
    """The scan one call per point and one call with all points (best of ``repeats``)."""
    from motherlode.fisherinformation import FisherInformation

    fisher = FisherInformation(path)
    start = time.perf_counter()
    per_point = np.array([_call(fisher, mode, theta)[0] for theta in SCAN])
    loop = time.perf_counter() - start
    vectorised, together = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        together = _call(fisher, mode, SCAN)[0]
        vectorised = min(vectorised, time.perf_counter() - start)
    return {"loop": loop, "vectorised": vectorised, "per_point": per_point, "together": together}


def time_madminer(python: str, path: Path, mode: Mode, thetas, timeout: float) -> dict | None:
    """MadMiner's calls in a fresh process; None if it runs past ``timeout`` seconds."""
    with tempfile.TemporaryDirectory() as folder:
        request = Path(folder) / "request.json"
        thetas = [list(map(float, theta)) for theta in thetas]
        request.write_text(json.dumps({"method": mode.method, "kwargs": mode.kwargs, "thetas": thetas}))
        try:
            result = subprocess.run(
                [python, str(MADMINER_HELPER), str(path), str(request)],
                capture_output=True, text=True, timeout=timeout, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return None
    if result.returncode != 0:
        raise RuntimeError(f"MadMiner failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    report["results"] = [[np.asarray(part) for part in r] for r in report["results"]]
    return report


def relative_difference(ours: list[np.ndarray], theirs: list[np.ndarray], compare) -> float:
    return max(
        float(np.max(np.abs(ours[i] - theirs[i])) / max(np.max(np.abs(theirs[i])), 1e-300)) for i in compare
    )


def _seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


# ---------------------------------------------------------------------- memory


_MEMORY_SCRIPT = """
import json, sys, time
import numpy as np
from motherlode.fisherinformation import FisherInformation

def peak():  # VmHWM: ru_maxrss of a child started by a large parent starts at the parent's size
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024

fisher = FisherInformation(sys.argv[1])
imports = peak()
start = time.perf_counter()
theta = np.zeros(2)
if sys.argv[2] == "truth":
    fisher.truth_information(theta, 300000.0)
elif sys.argv[2] == "histo_fixed":
    fisher.histo_information(theta, 300000.0, "x3", 20, histrange=(-1.5, 1.5))
else:
    fisher.histo_information(theta, 300000.0, "x3", 20)
print(json.dumps({"seconds": time.perf_counter() - start, "peak_mb": peak(), "imports_mb": imports}))
"""

MEMORY_CASES = {
    "truth": "truth_information",
    "histo_fixed": "histo_information, 20 fixed bins",
    "histo_auto": "histo_information, 20 automatic bins",
}


def memory_run(path: Path, case: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, str(path), case],
        capture_output=True, text=True, timeout=3600, check=True,
    )  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-events", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--sections", nargs="+", choices=["compare", "memory"], default=["compare", "memory"])
    parser.add_argument("--memory-events", type=int, nargs="+", default=[100_000, 1_000_000, 3_000_000])
    parser.add_argument("--madminer-python", default=None)
    parser.add_argument("--madminer-timeout", type=float, default=300.0, help="seconds per MadMiner run")
    parser.add_argument("--madminer-scan-points", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="motherlode: best of this many calls")
    args = parser.parse_args()
    sizes = sorted(args.n_events) if "compare" in args.sections else []
    memory_sizes = sorted(args.memory_events) if "memory" in args.sections else []
    python = madminer_python(args.madminer_python) if "compare" in args.sections else None
    if "compare" in args.sections and python is None:
        print("MadMiner 0.9.6 not found (--madminer-python or MOTHERLODE_MADMINER_PYTHON): motherlode only")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = write_events_files(folder, set(sizes) | set(memory_sizes))
        model = write_score_model(folder)
        if "compare" in args.sections:
            compare({n: files[n] for n in sizes}, model, python, args)
        if "memory" in args.sections:
            print("\n== peak resident memory of a fresh process (VmHWM, MB) ==")
            print("| call | " + " | ".join(f"{n:,} events" for n in memory_sizes) + " |")
            print("|---|" + "---:|" * len(memory_sizes))
            for case, label in MEMORY_CASES.items():
                cells = []
                for n_events in memory_sizes:
                    report = memory_run(files[n_events], case)
                    cells.append(
                        f"{report['peak_mb']:.0f} ({report['peak_mb'] - report['imports_mb']:+.0f} over the "
                        f"{report['imports_mb']:.0f} of the imports; {report['seconds']:.2f} s)"
                    )
                print(f"| {label} | " + " | ".join(cells) + " |", flush=True)


def compare(files: dict[int, Path], model: Path, python: str | None, args) -> None:
    sizes = sorted(files)
    table: dict[str, dict[int, tuple]] = {}
    previous: dict[str, tuple[int, float]] = {}  # MadMiner's last measured (size, seconds) per mode

    def madminer(mode: Mode, n_events: int, thetas) -> tuple[dict | None, str]:
        if python is None:
            return None, "n/a"
        if mode.name in previous:
            last_n, last_seconds = previous[mode.name]
            estimate = last_seconds * n_events / last_n
            if not np.isfinite(estimate):
                return None, f"not run (stopped at {last_n:,} events)"
            if estimate > args.madminer_timeout:
                return None, f"not run (~{estimate:.0f} s scaled from {last_n:,} events)"
        report = time_madminer(python, files[n_events], mode, thetas, args.madminer_timeout)
        if report is None:
            previous[mode.name] = (n_events, np.inf)
            return None, f"> {args.madminer_timeout:.0f} s (stopped)"
        previous[mode.name] = (n_events, report["seconds"])
        return report, ""

    for n_events in sizes:
        path = files[n_events]
        print(f"\n== {n_events:,} events ==", flush=True)
        for mode in modes(model):
            ours_seconds, ours = time_motherlode(path, mode, args.repeats)
            theirs, note = madminer(mode, n_events, [THETA])
            if theirs is None:
                row = (ours_seconds, None, note, None)
            else:
                difference = relative_difference(ours, theirs["results"][0], mode.compare)
                row = (ours_seconds, theirs["seconds"], "", difference)
            table.setdefault(mode.name, {})[n_events] = row
            print(
                f"{mode.name:44s} motherlode {_seconds(ours_seconds):>7s} s   MadMiner "
                f"{_seconds(row[1]) + ' s' if row[1] is not None else note:>8s}"
                + (f"   {row[1] / ours_seconds:6.0f}x   rel. diff {row[3]:.1e}" if row[1] else "")
                + (f"   (MadMiner peak {theirs['peak_mb']:.0f} MB)" if theirs else ""),
                flush=True,
            )
        # the scan
        mode = scan_mode()
        ours = time_motherlode_scan(path, mode, args.repeats)
        consistency = relative_difference([ours["together"]], [ours["per_point"]], (0,))
        k = args.madminer_scan_points
        theirs, note = madminer(mode, n_events, SCAN[:k])
        if theirs is not None:
            extrapolated = theirs["seconds"] * len(SCAN) / k
            difference = relative_difference(
                [ours["together"][:k]], [np.array([r[0] for r in theirs["results"]])], (0,)
            )
        else:
            extrapolated, difference = None, None
        for label, seconds in (
            ("one call per point", ours["loop"]),
            ("one (100, 2) call", ours["vectorised"]),
        ):
            name = f"scan of histo_information, 100 points, {label}"
            table.setdefault(name, {})[n_events] = (seconds, extrapolated, note, difference)
            print(
                f"{name:44s} motherlode {_seconds(seconds):>7s} s   MadMiner "
                + (
                    f"{_seconds(extrapolated)} s ({k} points, scaled to {len(SCAN)})"
                    if extrapolated
                    else note
                )
                + (f"   {extrapolated / seconds:6.0f}x   rel. diff {difference:.1e}" if extrapolated else ""),
                flush=True,
            )
        print(f"  (scan: per-point calls and the array call agree to {consistency:.1e})")

    print("\n== table (seconds; MadMiner's scan scaled from its first points) ==")
    header = " | ".join(f"{n:,} ev.: motherlode | MadMiner | speed-up" for n in sizes)
    print(f"| mode | {header} | rel. diff. |")
    print("|---|" + "---:|---:|---:|" * len(sizes) + "---:|")
    for name, row in table.items():
        cells, differences = [], []
        for n_events in sizes:
            ours_seconds, theirs_seconds, note, difference = row[n_events]
            cells += [
                _seconds(ours_seconds),
                _seconds(theirs_seconds) if theirs_seconds is not None else note,
                f"{theirs_seconds / ours_seconds:.0f}x" if theirs_seconds is not None else "",
            ]
            if difference is not None:
                differences.append(difference)
        worst = f"{max(differences):.1e}" if differences else ""
        print(f"| {name} | " + " | ".join(cells) + f" | {worst} |")


if __name__ == "__main__":
    main()
