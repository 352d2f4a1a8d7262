"""LHE reading: motherlode's streaming reader against pylhe and MadMiner 0.9.6.

Section "parse" (the throughput of the LHE parser alone):

* builds once, under ``benchmarks/.cache/``, a large LHE file (default 200 000 events, about
  220 MB) by repeating the events of ``tests/data/lhe/mg5_3.5.7_smeftsim_pp_ee_rwgt_cHl3_1000ev.lhe.gz``
  (MadGraph 3.5.7 Drell-Yan, two reweighting weights per event), plain and gzip-compressed;
* reads all of it with ``motherlode.lhe.lhefile.iter_lhe_events`` (plain and gzip), and measures
  the peak resident memory of processes that read it and a small file, with two chunk sizes;
* reads a prefix of it with pylhe (``LHEFile.fromfile``, all events with their weights; pylhe is
  too slow for the whole file, so the figure is measured on the prefix);
* reads a shorter prefix with MadMiner 0.9.6's ``parse_lhe_file`` (no observables), when its
  interpreter is given with ``--madminer-python`` or ``MOTHERLODE_MADMINER_PYTHON``, or found at
  ``.venv-madminer/bin/python`` (``scripts/run-tests`` creates it) or ``/tmp/mmvenv/bin/python``.

Section "analysis" (the whole ``LHEReader`` job, construction to ``save``):

* the analysis of ``tests/data/madminer096/events_cHl3.h5`` (observables ``pt_e1 = l[0].pt`` and
  ``m_ee = (l[0] + l[1]).m``, both required, cut ``m_ee > 60``, 3 benchmarks with morphing) with
  motherlode on the large file and with MadMiner 0.9.6 on a prefix (``_madminer_lhe_analysis.py``);
* the scaling run: 20 observables and 2 cuts on gzipped files of ``--scaling-events`` (default
  250 000 and 1 000 000) events, each in a fresh process, reporting events/s and the peak resident
  memory, which must not grow with the number of events.

Usage::

    python benchmarks/lhe.py [--events 200000] [--pylhe-events 20000] [--madminer-events 3000]
                             [--scaling-events 250000 1000000] [--sections parse analysis]
                             [--skip-madminer] [--skip-memory] [--madminer-python PATH]

Prints a table of events/s and MB/s (of uncompressed LHE text) per reader.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from _common import madminer_python  # the script's folder is on sys.path
from motherlode.lhe.lhefile import iter_lhe_events, read_lhe_header

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tests" / "data" / "lhe" / "mg5_3.5.7_smeftsim_pp_ee_rwgt_cHl3_1000ev.lhe.gz"
CACHE = Path(__file__).resolve().parent / ".cache"
MADMINER_HELPER = Path(__file__).resolve().parent / "_madminer_lhe.py"


# ----------------------------------------------------------------------------------------------
# Input files
# ----------------------------------------------------------------------------------------------


def _split_source() -> tuple[bytes, list[bytes]]:
    """The source file's text before its first event, and its events (each with its newline)."""
    text = gzip.decompress(SOURCE.read_bytes())
    start = text.index(b"<event>")
    end = text.rindex(b"</event>") + len(b"</event>\n")
    events = [part + b"</event>\n" for part in text[start:end].split(b"</event>\n")[:-1]]
    return text[:start], events


def _write_atomically(path: Path, chunks, compress: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".part")
    with open(temporary, "wb") as raw:
        target = (
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) if compress else raw
        )
        for chunk in chunks:
            target.write(chunk)
        if compress:
            target.close()
    os.replace(temporary, path)


def lhe_file(n_events: int, compress: bool = False) -> Path:
    """An LHE file of the source's header and its events repeated to ``n_events`` (cached)."""
    path = CACHE / f"cHl3_{n_events}ev.lhe{'.gz' if compress else ''}"
    if not path.exists():
        header, events = _split_source()

        def chunks():
            yield header
            for start in range(0, n_events, len(events)):
                yield b"".join(events[: min(len(events), n_events - start)])
            yield b"</LesHouchesEvents>\n"

        print(f"  writing {path.relative_to(ROOT)} ...", flush=True)
        _write_atomically(path, chunks(), compress)
    return path


def uncompressed_megabytes(path: Path) -> float:
    if path.suffix != ".gz":
        return path.stat().st_size / 1e6
    size = 0
    with gzip.open(path, "rb") as stream:
        while block := stream.read(2**24):
            size += len(block)
    return size / 1e6


# ----------------------------------------------------------------------------------------------
# Readers
# ----------------------------------------------------------------------------------------------


def time_motherlode(path: Path, repeats: int = 3) -> tuple[float, int]:
    """Best time over ``repeats`` full reads, and the number of events."""
    best, n_events = float("inf"), 0
    for _ in range(repeats):
        start = time.perf_counter()
        n_events = sum(chunk.n_events for chunk in iter_lhe_events(path))
        best = min(best, time.perf_counter() - start)
    return best, n_events


def peak_memory_motherlode(path: Path, chunk_size: int = 100_000) -> tuple[float, float]:
    """Peak resident memory (MB) of a fresh process after its imports, and after reading ``path``.

    Read from ``VmHWM`` in ``/proc/self/status`` (Linux), which starts afresh with the new
    program; ``ru_maxrss`` elsewhere (it may carry over this process's peak).
    """
    script = (
        "import resource, sys\n"
        "from motherlode.lhe.lhefile import iter_lhe_events\n"
        "def peak():\n"
        "    try:\n"
        "        with open('/proc/self/status') as status:\n"
        "            return next(int(l.split()[1]) for l in status if l.startswith('VmHWM:')) / 1024\n"
        "    except OSError:\n"
        "        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "before = peak()\n"
        f"n = sum(chunk.n_events for chunk in iter_lhe_events(sys.argv[1], chunk_size={chunk_size}))\n"
        "print(before, peak())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True, timeout=3600
    )
    before, after = map(float, result.stdout.split())
    return before, after


def time_pylhe(path: Path, repeats: int = 2) -> tuple[float, int]:
    """Best time over ``repeats`` full reads (all events with their weights), and the number of events."""
    import pylhe

    best, n_events = float("inf"), 0
    for _ in range(repeats):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lhe = pylhe.LHEFile.fromfile(str(path))
            n_events = 0
            for event in lhe.events:
                n_events += 1
                assert event.weights  # the reweighting weights are parsed
        best = min(best, time.perf_counter() - start)
    return best, n_events


def time_madminer(python: str, path: Path, weight_ids: list[str]) -> tuple[float, int]:
    result = subprocess.run(
        [python, str(MADMINER_HELPER), str(path), ",".join(weight_ids)],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"MadMiner run failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return report["seconds"], report["n_events"]


# ----------------------------------------------------------------------------------------------
# Section: parse throughput
# ----------------------------------------------------------------------------------------------


def parse_section(args: argparse.Namespace) -> None:
    print("== LHE parsing throughput ==")
    print(f"source: {SOURCE.relative_to(ROOT)} (events repeated)")
    large = lhe_file(args.events)
    large_gz = lhe_file(args.events, compress=True)
    pylhe_file = lhe_file(args.pylhe_events)
    madminer_file = lhe_file(args.madminer_events)
    weight_ids = list(read_lhe_header(SOURCE).weight_ids)

    rows = []  # reader, input, events, seconds, MB of LHE text, note

    def add(reader: str, path: Path, seconds: float, n_events: int, note: str = "") -> None:
        size = uncompressed_megabytes(path)
        name = path.name + (f" ({path.stat().st_size / 1e6:.0f} MB gz)" if path.suffix == ".gz" else "")
        rows.append((reader, name, n_events, seconds, size, note))

    seconds, n_events = time_motherlode(large)
    add("motherlode iter_lhe_events", large, seconds, n_events, "best of 3")
    seconds, n_events = time_motherlode(large_gz)
    add("motherlode iter_lhe_events", large_gz, seconds, n_events, "best of 3")
    seconds, n_events = time_pylhe(pylhe_file)
    add("pylhe LHEFile.fromfile", pylhe_file, seconds, n_events, "best of 2; prefix of the large file")
    python = None if args.skip_madminer else madminer_python(args.madminer_python)
    if python is not None:
        seconds, n_events = time_madminer(python, madminer_file, weight_ids)
        add("MadMiner 0.9.6 parse_lhe_file", madminer_file, seconds, n_events, "once; prefix; XML (default)")
    elif not args.skip_madminer:
        print("MadMiner 0.9.6 not found: give --madminer-python or set MOTHERLODE_MADMINER_PYTHON")

    print()
    print(f"{'reader':32s} {'input':34s} {'events':>8s} {'seconds':>8s} {'events/s':>10s} {'MB/s':>7s}  note")
    for reader, name, n_events, seconds, size, note in rows:
        print(
            f"{reader:32s} {name:34s} {n_events:8d} {seconds:8.2f} {n_events / seconds:10.0f} "
            f"{size / seconds:7.1f}  {note}"
        )
    rate = {(reader, name.endswith("gz)")): n / s for reader, name, n, s, _, _ in rows}
    ours, ours_gz = rate[("motherlode iter_lhe_events", False)], rate[("motherlode iter_lhe_events", True)]
    for reader in ("pylhe LHEFile.fromfile", "MadMiner 0.9.6 parse_lhe_file"):
        if (reader, False) in rate:
            print(
                f"speed-up over {reader}: {ours / rate[(reader, False)]:.0f}x (plain), "
                f"{ours_gz / rate[(reader, False)]:.0f}x (motherlode on gzip)"
            )
    if not args.skip_memory:
        print()
        print("peak resident memory of a process reading a file with iter_lhe_events (VmHWM):")
        for path in (madminer_file, large):
            for chunk_size in (10_000, 100_000):
                before, after = peak_memory_motherlode(path, chunk_size)
                size = uncompressed_megabytes(path)
                print(
                    f"  {path.name:22s} ({size:6.1f} MB), chunk_size={chunk_size:6d}: "
                    f"{after:4.0f} MB ({before:.0f} MB after the imports)"
                )


# ----------------------------------------------------------------------------------------------
# Section: the whole LHEReader analysis
# ----------------------------------------------------------------------------------------------

ANALYSIS_SETUP = ROOT / "tests" / "data" / "madminer096" / "events_cHl3.h5"
MADMINER_ANALYSIS_HELPER = Path(__file__).resolve().parent / "_madminer_lhe_analysis.py"

#: 20 observables of the scaling run
SCALING_OBSERVABLES = {
    "pt_l1": "l[0].pt",
    "pt_l2": "l[1].pt",
    "eta_l1": "l[0].eta",
    "eta_l2": "l[1].eta",
    "phi_l1": "l[0].phi",
    "phi_l2": "l[1].phi",
    "e_l1": "l[0].e",
    "e_l2": "l[1].e",
    "charge_l1": "l[0].charge",
    "m_ll": "(l[0] + l[1]).m",
    "pt_ll": "(l[0] + l[1]).pt",
    "y_ll": "(l[0] + l[1]).rapidity",
    "delta_phi": "abs(l[0].deltaphi(l[1]))",
    "delta_eta": "abs(l[0].eta - l[1].eta)",
    "delta_r": "l[0].deltaR(l[1])",
    "ht": "l[0].pt + l[1].pt",
    "met": "met.pt",
    "e_visible": "visible.e",
    "n_leptons": "len(l)",
    "cos_theta": "tanh((l[0].eta - l[1].eta) / 2)",
}
SCALING_CUTS = ("m_ll > 60", "l[0].pt > 20")


def configure_scaling_reader(reader, paths: list[Path]) -> None:
    """The samples, smearing, observables and cuts of the scaling benchmarks (scale.py, resume.py)."""
    for path in paths:
        reader.add_sample(path, sampled_from_benchmark="orig")
    reader.set_smearing(
        pdgids=[11, -11], pt_resolution_abs=1.0, pt_resolution_rel=0.02, energy_resolution_abs=None
    )
    for name, definition in SCALING_OBSERVABLES.items():
        reader.add_observable(name, definition, required=name in ("m_ll", "pt_l1"))
    for cut in SCALING_CUTS:
        reader.add_cut(cut)


_SCALING_SCRIPT = """
import json, sys, tempfile, time
from pathlib import Path
start = time.perf_counter()
from motherlode.lhe import LHEReader

def peak():
    with open('/proc/self/status') as status:
        return next(int(l.split()[1]) for l in status if l.startswith('VmHWM:')) / 1024

setup, events, observables, cuts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
imports = peak()
start = time.perf_counter()
reader = LHEReader(setup, random_state=1, progress=False)
reader.add_sample(events, sampled_from_benchmark="orig")
reader.set_smearing(pdgids=[11, -11], energy_resolution_abs=None, pt_resolution_rel=0.02)
for name, definition in observables.items():
    reader.add_observable(name, definition, required=name in ("m_ll", "pt_l1"))
for cut in cuts:
    reader.add_cut(cut)
reader.analyse_samples()
with tempfile.TemporaryDirectory() as directory:
    reader.save(Path(directory) / "events.h5", shuffle=True)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_mb": peak(), "imports_mb": imports}))
"""


def _run_json(command: list[str]) -> dict:
    result = subprocess.run(command, capture_output=True, text=True, timeout=7200, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def time_motherlode_analysis(path: Path, observables: dict[str, str], cuts: tuple[str, ...]) -> dict:
    """Run one LHEReader job in a fresh process; seconds (construction to save) and peak memory."""
    command = [sys.executable, "-c", _SCALING_SCRIPT, str(ANALYSIS_SETUP), str(path)]
    return _run_json([*command, json.dumps(observables), json.dumps(list(cuts))])


def time_madminer_analysis(python: str, path: Path) -> dict:
    with tempfile.TemporaryDirectory() as directory:
        return _run_json(
            [python, str(MADMINER_ANALYSIS_HELPER), str(ANALYSIS_SETUP), str(path), f"{directory}/out.h5"]
        )


def analysis_section(args: argparse.Namespace) -> None:
    print("== whole LHEReader analysis (construction to save) ==")
    two = {"pt_e1": "l[0].pt", "m_ee": "(l[0] + l[1]).m"}
    large = lhe_file(args.events)
    ours = time_motherlode_analysis(large, two, ("m_ee > 60.",))
    rate = args.events / ours["seconds"]
    print(
        f"motherlode, 2 observables, 1 cut, {args.events} events: "
        f"{ours['seconds']:.2f} s, {rate:,.0f} events/s"
    )
    python = None if args.skip_madminer else madminer_python(args.madminer_python)
    if python is not None:
        prefix = lhe_file(args.madminer_events)
        theirs = time_madminer_analysis(python, prefix)
        their_rate = args.madminer_events / theirs["seconds"]
        print(
            f"MadMiner 0.9.6, same analysis, {args.madminer_events} events: {theirs['seconds']:.2f} s, "
            f"{their_rate:,.0f} events/s"
        )
        print(f"speed-up: {rate / their_rate:,.0f}x")
    print()
    print(
        f"scaling: {len(SCALING_OBSERVABLES)} observables, {len(SCALING_CUTS)} cuts, smearing, shuffled save"
    )
    print(f"{'events':>9s} {'seconds':>8s} {'events/s':>9s} {'peak MB':>8s} {'after imports':>14s}")
    for n_events in args.scaling_events:
        path = lhe_file(n_events, compress=True)
        report = time_motherlode_analysis(path, SCALING_OBSERVABLES, SCALING_CUTS)
        print(
            f"{n_events:9d} {report['seconds']:8.1f} {n_events / report['seconds']:9.0f} "
            f"{report['peak_mb']:8.0f} {report['imports_mb']:14.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events of the large file")
    parser.add_argument("--pylhe-events", type=int, default=20_000, help="events pylhe reads")
    parser.add_argument("--madminer-events", type=int, default=3_000, help="events MadMiner reads")
    parser.add_argument("--skip-madminer", action="store_true")
    parser.add_argument("--skip-memory", action="store_true", help="do not measure the peak memory")
    parser.add_argument("--madminer-python", default=None, help="MadMiner 0.9.6's interpreter")
    parser.add_argument("--scaling-events", type=int, nargs="+", default=[250_000, 1_000_000])
    parser.add_argument("--sections", nargs="+", choices=["parse", "analysis"], default=["parse", "analysis"])
    args = parser.parse_args()
    if "parse" in args.sections:
        parse_section(args)
    if "analysis" in args.sections:
        analysis_section(args)


if __name__ == "__main__":
    main()
