"""The Delphes reader against MadMiner 0.9.6's, side by side on the same Delphes file.

Reads a real Delphes (CMS card) file ``--copies`` times, as that many samples (default: the
shared W h subset, 1000 events, if ``../shared/data`` is present, else the 100 Drell-Yan events of
``tests/data/delphes``), with weights from the LHE file (MadMiner's default, and the route that
works in 0.9.6: its ``weights="delphes"`` fails to reshape uproot3's jagged weights), 12
observables (jets, leptons, MET, visible sum; all with a default) and one cut, and saves the
events file:
``analyse_delphes_samples`` plus ``save``, wall time and events/s. motherlode reads in chunks of
``--chunk-size`` events; MadMiner 0.9.6 (``_madminer_delphes.py``, uproot3) runs in its own
interpreter (``--madminer-python``, ``MOTHERLODE_MADMINER_PYTHON`` or ``.venv-madminer``) on
``--madminer-copies`` copies, since it builds every event's objects in Python once per observable.

Usage::

    python benchmarks/delphes.py [--copies 100] [--madminer-copies 2] [--chunk-size 100000]
                                 [--skip-madminer] [--madminer-python PATH]
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import madminer_python  # the script's folder is on sys.path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "wh_smeft"
#: label -> (Delphes file, HepMC file, LHE file and its number of showered events, benchmarks)
FILES = {
    "W h (shared)": (
        SHARED / "wh_smeft_sig_sm_first1000_delphes_CMS.root",
        SHARED / "wh_smeft_sig_sm_first1000_py8.hepmc3.gz",
        (SHARED / "wh_smeft_sig_sm_20k.lhe.gz", 1000),
        {"sm": 0.0},
    ),
    "Drell-Yan (tests/data/delphes)": (
        ROOT / "tests" / "data" / "delphes" / "dy_rwgt_100ev_delphes_CMS.root",
        ROOT / "tests" / "data" / "delphes" / "dy_rwgt_first3ev.hepmc3.gz",
        (ROOT / "tests" / "data" / "delphes" / "mg5_3.5.7_pp_ee_rwgt_mz_first100ev.lhe.gz", 100),
        {"Weight": 0.0, "mz95": 1.0},
    ),
}
OBSERVABLES = {
    "pt_j1": "j[0].pt", "eta_j1": "j[0].eta", "pt_j2": "j[1].pt", "m_jj": "(j[0] + j[1]).m",
    "delta_phi_jj": "j[0].deltaphi(j[1])", "pt_l1": "l[0].pt", "eta_l1": "l[0].eta", "et_miss": "met.pt",
    "m_t": "(l[0] + met).mt", "n_j": "len(j)", "n_l": "len(l)", "e_visible": "visible.e",
}  # fmt: skip
CUT = "met.pt > 0.0"


def _lhe_head(source: Path, n_events: int, target: Path) -> Path:
    """The first ``n_events`` events of an LHE file, uncompressed (MadMiner 0.9.6's DelphesReader
    reads the LHE file's header even with weights from Delphes, and unpacks .gz next to it)."""
    lines, count = [], 0
    with gzip.open(source, "rt") as stream:
        for line in stream:
            count += line.startswith("<event")
            if count > n_events:
                break
            lines.append(line)
    target.write_text("".join(lines) + "</LesHouchesEvents>\n")
    return target


def _open_seconds(path: Path, repeats: int = 3) -> float:
    """Seconds to open a file's Delphes tree (the metadata of all its branches), the best of ``repeats``."""
    import uproot

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        uproot.open(path)["Delphes"]
        times.append(time.perf_counter() - start)
    return min(times)


def _setup(path: Path, benchmarks: dict[str, float]) -> None:
    from motherlode import MadMiner

    miner = MadMiner()
    miner.add_parameter("SMEFT", 7, "theta", parameter_range=(-1.0, 1.0))
    for name, value in benchmarks.items():
        miner.add_benchmark({"theta": value}, name)
    miner.save(path)


def run_motherlode(
    setup: Path, delphes: Path, lhe: Path, benchmark: str, copies: int, chunk_size: int, out: Path
) -> dict:
    from motherlode.delphes import DelphesReader

    reader = DelphesReader(setup, chunk_size=chunk_size, progress=False)
    for _ in range(copies):
        reader.add_sample(None, benchmark, delphes_filename=delphes, lhe_filename=lhe, weights="lhe")
    for name, definition in OBSERVABLES.items():
        reader.add_observable(name, definition, default=0.0)
    reader.add_cut(CUT)
    start = time.perf_counter()
    reader.analyse_delphes_samples()
    reader.save(out, shuffle=False)
    seconds = time.perf_counter() - start
    import h5py

    with h5py.File(out, "r") as handle:
        return {"seconds": seconds, "n_events": len(handle["samples/observations"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=100)
    parser.add_argument("--madminer-copies", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=100_000)
    parser.add_argument("--skip-madminer", action="store_true")
    parser.add_argument("--madminer-python")
    args = parser.parse_args()
    label = next(name for name, (root, *_) in FILES.items() if root.exists())
    delphes, hepmc, (lhe, n_showered), benchmarks = FILES[label]
    benchmark = next(iter(benchmarks))
    python = None if args.skip_madminer else madminer_python(args.madminer_python)
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        _setup(work / "setup.h5", benchmarks)
        head = _lhe_head(lhe, n_showered, work / "events.lhe")
        ours = run_motherlode(
            work / "setup.h5", delphes, head, benchmark, args.copies, args.chunk_size, work / "ours.h5"
        )
        print(
            f"{label}: {len(OBSERVABLES)} observables, 1 cut, weights from the LHE file (MadMiner's default)"
        )
        opening = _open_seconds(delphes)
        print(
            f"opening the file's tree (uproot reads the metadata of every branch): {opening:.2f} s per file"
        )
        print(f"{'reader':28s} {'events':>9s} {'seconds':>9s} {'events/s':>10s}")
        rate = ours["n_events"] / ours["seconds"]
        print(f"{'motherlode':28s} {ours['n_events']:9d} {ours['seconds']:9.2f} {rate:10.0f}", flush=True)
        steady = ours["n_events"] / (ours["seconds"] - args.copies * opening)
        print(f"{'motherlode, without opening':28s} {'':9s} {'':9s} {steady:10.0f}", flush=True)
        if python:
            spec = {
                "setup": str(work / "setup.h5"), "delphes": str(delphes), "hepmc": str(hepmc),
                "benchmark": benchmark, "copies": args.madminer_copies, "observables": OBSERVABLES,
                "cut": CUT, "output": str(work / "madminer.h5"),
                "lhe": str(head),
            }  # fmt: skip
            (work / "spec.json").write_text(json.dumps(spec))
            result = subprocess.run(
                [python, str(Path(__file__).parent / "_madminer_delphes.py"), str(work / "spec.json")],
                capture_output=True, text=True, check=False, cwd=work,
            )  # fmt: skip
            if result.returncode != 0:
                print(f"MadMiner 0.9.6 failed:\n{result.stderr[-2000:]}", file=sys.stderr)
                return
            theirs = json.loads(result.stdout.strip().splitlines()[-1])
            their_rate = theirs["n_events"] / theirs["seconds"]
            print(
                f"{'MadMiner 0.9.6':28s} {theirs['n_events']:9d} {theirs['seconds']:9.2f} {their_rate:10.0f}"
            )
            print(f"speed-up (events/s): {rate / their_rate:.0f}x")


if __name__ == "__main__":
    main()
