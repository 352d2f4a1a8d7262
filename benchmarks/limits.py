"""Asymptotic limits speed and memory: motherlode's AsymptoticLimits against MadMiner 0.9.6.

The events files are those of ``fisher.py`` (four observables ``x1, x2 ~ U(-1, 1)``, ``x3 = x1 + 0.3 n1``,
``x4 = x2 + 0.3 n2``; weights ``c (1 + theta1 x1 + theta2 x2)^2 / N`` at the 6 benchmarks of a quadratic
two-parameter morphing, ``c`` = 1 pb; written in batches of 10^5 events), read by both packages. The
score model of the SALLY modes is ``fisher.py``'s ``ScoreEstimator(n_hidden=(30,))`` with fixed random
weights; mode "ml" uses a ``ParameterizedRatioEstimator(n_hidden=(30,))`` with fixed random weights
(``torch.manual_seed(0)``), saved by motherlode and loaded by both.

Every mode is one ``expected_limits`` call at ``theta_true = (0, 0)`` on a 25 x 25 grid in
``[-1, 1]^2`` (``grid_resolutions=[25, 25]``: MadMiner crashes on an int), ``luminosity`` 100 pb^-1
(``--luminosity``; about 100 expected events, so that the 95 % region spans several grid points),
and otherwise both packages' defaults: ``n_histo_toys=100000``, ``n_binning_toys=100000``,
``test_split=0.2``, ``n_asimov=None``, ``fix_adaptive_binning="auto-grid"``, ``include_xsec=True``,
``hist_bins`` the default of each mode (25 adaptive bins for one statistic, 8 x 8 for two, 15 x 5 for
adaptive SALLY). ``thetaref`` is (0, 0).

Each motherlode mode runs in a fresh process that makes the call ``--repeats`` times (best time
reported) and reports its peak resident memory (``VmHWM``; ``ru_maxrss`` of a child starts at the
size of the parent). MadMiner runs each mode once in a fresh process with a time limit
(``--madminer-timeout``); at the larger size a mode is skipped when its time at the smaller size,
scaled linearly, would exceed the limit. Only the calls are timed, not the constructors. With
``--madminer-results FILE`` MadMiner's reports are kept in ``FILE`` and reused by later runs (the
events files and models are the same every time), so that motherlode can be rerun alone.

The p-values are compared as ``max |p_ours - p_MadMiner|`` over the grid, with whether the best-fit
grid point agrees. They differ by design (docs/differences.md and the docstring of
``motherlode.limits.asymptotic_limits``): MadMiner's expected histogram limits bin the test partition
into templates of (a random draw of) the training partition, so its best fit is off ``theta_true``,
while motherlode uses the templates' own binned Asimov data; MadMiner's rate term uses cross sections
of the test partition and a rounded ``n``. The differences are statistical, not errors.

Where the packages are comparable, the observed section compares them: ``observed_limits`` of 100
events drawn at theta = (0, 0), in the file of the smallest size, with ``n_histo_toys=None`` (both fill
every event of the training partition, and at 10^5 events place the adaptive bins on the same events)
and ``include_xsec=False`` (mode "rate" keeps the rate term: the cross sections still differ); mode
"histo" also runs with fixed bins in [-3, 3] that hold every event. There mode "ml" and the fixed bins
should agree to rounding. Adaptive bins differ by the events outside the 0.1 % to 99.9 % quantiles
(motherlode puts them into the outer bins, MadMiner drops them from its templates); "sallino" and
"adaptive-sally" differ by design (motherlode's likelihood ratio to ``thetaref`` against MadMiner's
densities of a different statistic at every grid point).

The memory section runs the histogram modes with ``n_histo_toys=None`` (every training event) at
``--memory-events`` in a fresh process and reports its peak resident memory.

Usage::

    python benchmarks/limits.py [--n-events 100000 1000000] [--madminer-python PATH]
        [--madminer-timeout 600] [--repeats 2] [--sections compare observed memory]
        [--memory-events 100000 1000000 3000000] [--luminosity 100] [--madminer-results FILE.json]
        [--modes histo sally ...] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from _common import ROOT, madminer_python  # the script's folder is on sys.path
from fisher import OBSERVABLES, write_events_files, write_score_model

MADMINER_HELPER = Path(__file__).resolve().parent / "_madminer_limits.py"
THETA_TRUE = [0.0, 0.0]
OBSERVED_EVENTS = 100
GRID = {"grid_ranges": [[-1.0, 1.0], [-1.0, 1.0]], "grid_resolutions": [25, 25]}


# ---------------------------------------------------------------------- inputs


def write_ratio_model(folder: Path) -> Path:
    """A ``ParameterizedRatioEstimator(n_hidden=(30,))`` with fixed random weights, as ``folder/ratio``."""
    import torch

    from motherlode.ml import ParameterizedRatioEstimator

    torch.manual_seed(0)
    estimator = ParameterizedRatioEstimator(n_hidden=(30,))
    estimator._set_dimensions(len(OBSERVABLES), 2)
    rng = np.random.default_rng(0)
    estimator.initialize_input_transform(rng.uniform(-1.0, 1.0, size=(10_000, len(OBSERVABLES))))
    estimator.initialize_parameter_transform(rng.uniform(-1.0, 1.0, size=(10_000, 2)))
    estimator._create_model()
    estimator.save(folder / "ratio")
    return folder / "ratio"


@dataclass
class Mode:
    name: str
    kwargs: dict
    method: str = "expected"  # or "observed"


def modes(score_model: Path, ratio_model: Path, luminosity: float) -> list[Mode]:
    common = {"theta_true": THETA_TRUE, **GRID, "luminosity": luminosity}
    sally = {"model_file": str(score_model), "thetaref": [0.0, 0.0]}
    return [
        Mode("rate", {"mode": "rate", **common}),
        Mode("histo, x3 (25 bins)", {"mode": "histo", "hist_vars": ["x3"], **common}),
        Mode("histo, x3 x4 (8 x 8 bins)", {"mode": "histo", "hist_vars": ["x3", "x4"], **common}),
        Mode("sally (8 x 8 bins)", {"mode": "sally", **sally, **common}),
        Mode("sallino (25 bins)", {"mode": "sallino", **sally, **common}),
        Mode("adaptive-sally (15 x 5 bins)", {"mode": "adaptive-sally", **sally, **common}),
        Mode("ml", {"mode": "ml", "model_file": str(ratio_model), **common}),
    ]


# ---------------------------------------------------------------------- running

_OURS_SCRIPT = """
import json, sys, time
import numpy as np
import torch  # imported before the baseline, as MadMiner always imports it
from motherlode.limits import AsymptoticLimits

def peak():  # VmHWM: ru_maxrss of a child started by a large parent starts at the parent's size
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024

torch.set_num_threads(int(sys.argv[4]))
with open(sys.argv[2]) as handle:
    request = json.load(handle)
kwargs = dict(request["kwargs"])
if kwargs.get("x_observed") is not None:
    kwargs["x_observed"] = np.asarray(kwargs["x_observed"])
if kwargs.get("hist_bins") is not None:
    kwargs["hist_bins"] = [b if isinstance(b, int) else np.asarray(b) for b in kwargs["hist_bins"]]
limits = AsymptoticLimits(sys.argv[1])
method = limits.expected_limits if request["method"] == "expected" else limits.observed_limits
imports = peak()
times = []
for _ in range(int(sys.argv[3])):
    start = time.perf_counter()
    _, p_values, i_ml, _, _, _ = method(return_histos=False, **kwargs)
    times.append(time.perf_counter() - start)
report = {"times": times, "peak_mb": peak(), "imports_mb": imports, "p_values": p_values.tolist()}
print(json.dumps({**report, "i_ml": int(i_ml)}))
"""


def run_motherlode(path: Path, mode: Mode, repeats: int, threads: int) -> dict:
    """``repeats`` calls in a fresh process: times, peak memory and the last call's p-values."""
    with tempfile.TemporaryDirectory() as folder:
        request = Path(folder) / "kwargs.json"
        request.write_text(json.dumps({"method": mode.method, "kwargs": mode.kwargs}))
        result = subprocess.run(
            [sys.executable, "-c", _OURS_SCRIPT, str(path), str(request), str(repeats), str(threads)],
            capture_output=True, text=True, timeout=7200, check=False,
        )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"motherlode failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    report["seconds"] = min(report["times"])
    report["p_values"] = np.asarray(report["p_values"])
    return report


def run_madminer(python: str, path: Path, mode: Mode, timeout: float, cache: dict) -> dict | None:
    """MadMiner's call in a fresh process; None if it runs past ``timeout`` seconds. Reports already in
    ``cache`` (same mode, arguments and number of events; the files are written the same every time)
    are reused, new ones added."""
    settings = {k: v for k, v in mode.kwargs.items() if k != "model_file"}  # in a temporary folder
    key = {"name": mode.name, "method": mode.method, "n_events": _n_events(path), **settings}
    key = json.dumps(key, sort_keys=True)
    if key in cache:
        if cache[key].get("timed_out"):
            return None
        report = {**cache[key], "stored": True}
        report["p_values"] = np.asarray(report["p_values"])
        return report
    with tempfile.TemporaryDirectory() as folder:
        request = Path(folder) / "request.json"
        request.write_text(json.dumps({"method": mode.method, "kwargs": mode.kwargs}))
        try:
            result = subprocess.run(
                [python, str(MADMINER_HELPER), str(path), str(request)],
                capture_output=True, text=True, timeout=timeout, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            cache[key] = {"timed_out": True}
            return None
    if result.returncode != 0:
        raise RuntimeError(f"MadMiner failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    cache[key] = dict(report)
    report["p_values"] = np.asarray(report["p_values"])
    return report


def revision() -> str:
    """The measured motherlode: git revision, and whether src/motherlode/limits differs from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain", "src/motherlode/limits"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    return f"{head}, src/motherlode/limits " + (
        "modified: " + changes.replace("\n", "; ") if changes else "clean"
    )


def _n_events(path: Path) -> int:
    return int(path.stem.split("_")[-1].removesuffix("ev"))


def _ratio(value: float) -> str:
    return f"{value:.2g}x" if value < 10 else f"{value:.0f}x"


def _seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


# ---------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-events", type=int, nargs="+", default=[100_000, 1_000_000])
    sections = ["compare", "observed", "memory"]
    parser.add_argument("--sections", nargs="+", choices=sections, default=sections)
    parser.add_argument("--memory-events", type=int, nargs="+", default=[100_000, 1_000_000, 3_000_000])
    parser.add_argument("--modes", nargs="+", default=None, help="only modes whose name starts so")
    parser.add_argument("--luminosity", type=float, default=100.0, help="pb^-1")
    parser.add_argument("--madminer-python", default=None)
    parser.add_argument("--madminer-timeout", type=float, default=600.0, help="seconds per MadMiner run")
    parser.add_argument("--repeats", type=int, default=2, help="motherlode: best of this many calls")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of motherlode's processes")
    parser.add_argument(
        "--madminer-results",
        default=None,
        help="JSON file of MadMiner's reports: those in it are reused (not rerun), new ones are added",
    )
    args = parser.parse_args()
    sizes = sorted(args.n_events) if "compare" in args.sections else []
    memory_sizes = sorted(args.memory_events) if "memory" in args.sections else []
    if "observed" in args.sections and not sizes:
        sizes = [min(args.n_events)]
    with_madminer = {"compare", "observed"} & set(args.sections)
    python = madminer_python(args.madminer_python) if with_madminer else None
    if with_madminer and python is None:
        print("MadMiner 0.9.6 not found (--madminer-python or MOTHERLODE_MADMINER_PYTHON): motherlode only")

    print(f"motherlode revision {revision()}")
    print(
        f"expected_limits at theta_true = {THETA_TRUE}, grid {GRID}, luminosity {args.luminosity} pb^-1, "
        "other arguments the defaults (n_histo_toys=100000, n_binning_toys=100000, test_split=0.2, "
        "n_asimov=None)",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = write_events_files(folder, set(sizes) | set(memory_sizes))
        all_modes = modes(write_score_model(folder), write_ratio_model(folder), args.luminosity)
        if args.modes:
            all_modes = [m for m in all_modes if any(m.name.startswith(s) for s in args.modes)]
        if "compare" in args.sections:
            compare({n: files[n] for n in sizes}, all_modes, python, args)
        if "observed" in args.sections:
            observed(files[min(sizes)], all_modes, python, args)
        if "memory" in args.sections:
            memory({n: files[n] for n in memory_sizes}, all_modes, args)


def compare(files: dict[int, Path], all_modes: list[Mode], python: str | None, args) -> None:
    sizes = sorted(files)
    table: dict[str, dict[int, tuple]] = {}
    previous: dict[str, tuple[int, float]] = {}  # MadMiner's last measured (size, seconds) per mode
    stored = Path(args.madminer_results) if args.madminer_results else None
    cache = json.loads(stored.read_text()) if stored is not None and stored.exists() else {}
    scaled: dict[tuple[str, int], float] = {}  # MadMiner's estimated seconds where it was not run

    def madminer(mode: Mode, n_events: int) -> tuple[dict | None, str]:
        if python is None:
            return None, "n/a"
        if mode.name in previous:
            last_n, last_seconds = previous[mode.name]
            estimate = last_seconds * n_events / last_n
            if not np.isfinite(estimate):
                return None, f"not run (stopped at {last_n:,} events)"
            if estimate > args.madminer_timeout:
                scaled[mode.name, n_events] = estimate
                return None, f"not run (~{estimate:.0f} s scaled from {last_n:,} events)"
        report = run_madminer(python, files[n_events], mode, args.madminer_timeout, cache)
        if stored is not None:
            stored.write_text(json.dumps(cache))
        if report is None:
            previous[mode.name] = (n_events, np.inf)
            return None, f"> {args.madminer_timeout:.0f} s (stopped)"
        previous[mode.name] = (n_events, report["seconds"])
        return report, ""

    for n_events in sizes:
        print(f"\n== {n_events:,} events ==", flush=True)
        for mode in all_modes:
            ours = run_motherlode(files[n_events], mode, args.repeats, args.threads)
            theirs, note = madminer(mode, n_events)
            table.setdefault(mode.name, {})[n_events] = (ours, theirs, note)
            line = (
                f"{mode.name:30s} motherlode {_seconds(ours['seconds']):>6s} s "
                f"(of {', '.join(_seconds(t) for t in ours['times'])}) {ours['peak_mb']:5.0f} MB   MadMiner "
            )
            if theirs is None:
                line += note
            else:
                difference = float(np.max(np.abs(ours["p_values"] - theirs["p_values"])))
                speed_up = _ratio(theirs["seconds"] / ours["seconds"])
                line += (
                    f"{_seconds(theirs['seconds']):>6s} s {theirs['peak_mb']:5.0f} MB"
                    + (" (stored)" if theirs.get("stored") else "")
                    + f"   {speed_up:>6s}   max |dp| {difference:.2g}   best fit "
                    + ("same" if ours["i_ml"] == theirs["i_ml"] else f"{ours['i_ml']} vs {theirs['i_ml']}")
                )
            print(line, flush=True)

    print("\n== table (seconds, peak MB) ==")
    header = " | ".join(f"{n:,} ev.: motherlode | MadMiner | speed-up" for n in sizes)
    print(f"| mode | {header} | max abs. p-value diff. | best fit |")
    print("|---|" + "---:|---:|---:|" * len(sizes) + "---:|---|")
    for name, row in table.items():
        cells, differences, fits = [], [], []
        for n_events in sizes:
            ours, theirs, note = row[n_events]
            cells.append(f"{_seconds(ours['seconds'])} s, {ours['peak_mb']:.0f} MB")
            if theirs is None:
                estimate = scaled.get((name, n_events))
                cells += [note, f"~{_ratio(estimate / ours['seconds'])} (scaled)" if estimate else ""]
                continue
            cells += [
                f"{_seconds(theirs['seconds'])} s, {theirs['peak_mb']:.0f} MB",
                _ratio(theirs["seconds"] / ours["seconds"]),
            ]
            differences.append(float(np.max(np.abs(ours["p_values"] - theirs["p_values"]))))
            fits.append("same" if ours["i_ml"] == theirs["i_ml"] else "differs")
        worst = f"{max(differences):.2g}" if differences else ""
        print(f"| {name} | " + " | ".join(cells) + f" | {worst} | {', '.join(fits)} |")


def observed_modes(all_modes: list[Mode]) -> list[Mode]:
    """The modes as ``observed_limits`` of 100 events drawn at theta = (0, 0), with ``n_histo_toys=None``
    (both packages fill every training event) and without the rate term (whose cross sections differ
    by design); mode "rate" keeps it."""
    rng = np.random.default_rng(7)
    truth = rng.uniform(-1.0, 1.0, size=(OBSERVED_EVENTS, 2))
    x_observed = np.concatenate([truth, truth + 0.3 * rng.standard_normal(truth.shape)], axis=1).tolist()
    result = []
    for mode in all_modes:
        kwargs = {k: v for k, v in mode.kwargs.items() if k != "theta_true"}
        kwargs.update(x_observed=x_observed, n_histo_toys=None, include_xsec=mode.kwargs["mode"] == "rate")
        result.append(Mode(mode.name, kwargs, "observed"))
        if mode.kwargs["mode"] == "histo":  # and with fixed bins that hold every event
            n_dims = len(kwargs["hist_vars"])
            fixed = {
                **kwargs,
                "hist_bins": [np.linspace(-3.0, 3.0, 26 if n_dims == 1 else 9).tolist()] * n_dims,
            }
            bins = "25 fixed bins" if n_dims == 1 else "8 x 8 fixed bins"
            result.append(Mode(mode.name.split("(")[0] + f"({bins} in [-3, 3])", fixed, "observed"))
    return result


def observed(path: Path, all_modes: list[Mode], python: str | None, args) -> None:
    stored = Path(args.madminer_results) if args.madminer_results else None
    cache = json.loads(stored.read_text()) if stored is not None and stored.exists() else {}
    n_events = _n_events(path)
    print(f"\n== observed limits of {OBSERVED_EVENTS} events, {n_events:,} events in the file ==")
    print("| mode | motherlode | MadMiner | speed-up | max abs. p-value diff. | best fit |")
    print("|---|---:|---:|---:|---:|---|")
    for mode in observed_modes(all_modes):
        ours = run_motherlode(path, mode, args.repeats, args.threads)
        theirs = None
        if python is not None:
            theirs = run_madminer(python, path, mode, args.madminer_timeout, cache)
            if stored is not None:
                stored.write_text(json.dumps(cache))
        cells = [f"{_seconds(ours['seconds'])} s"]
        if theirs is None:
            cells += ["n/a" if python is None else f"> {args.madminer_timeout:.0f} s", "", "", ""]
        else:
            same = ours["i_ml"] == theirs["i_ml"]
            cells += [
                f"{_seconds(theirs['seconds'])} s" + (" (stored)" if theirs.get("stored") else ""),
                _ratio(theirs["seconds"] / ours["seconds"]),
                f"{float(np.max(np.abs(ours['p_values'] - theirs['p_values']))):.2g}",
                "same" if same else f"{ours['i_ml']} vs {theirs['i_ml']}",
            ]
        print(f"| {mode.name} | " + " | ".join(cells) + " |", flush=True)


def memory(files: dict[int, Path], all_modes: list[Mode], args) -> None:
    sizes = sorted(files)
    print("\n== motherlode with n_histo_toys=None: peak resident memory of a fresh process (VmHWM) ==")
    print("| mode | " + " | ".join(f"{n:,} events" for n in sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    for mode in all_modes:
        if mode.kwargs["mode"] in ("rate", "ml"):
            continue
        everything = Mode(mode.name, {**mode.kwargs, "n_histo_toys": None})
        cells = []
        for n_events in sizes:
            report = run_motherlode(files[n_events], everything, 1, args.threads)
            cells.append(
                f"{report['peak_mb']:.0f} MB ({report['peak_mb'] - report['imports_mb']:+.0f} over the "
                f"{report['imports_mb']:.0f} after the imports; {_seconds(report['seconds'])} s)"
            )
        print(f"| {mode.name}, n_histo_toys=None | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
