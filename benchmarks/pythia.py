"""Showering with Pythia 8: ``shower_lhe`` (whole batches from Pythia's ``nextBatch``) against the
usual event loop (``pythia.next()`` and a Python loop over each event's particles), same events.

Both shower the same LHE file with the same seed and settings and write the same flat HepMC3
record with pyhepmc; the loop reads every particle through ``pythia.event[i]`` accessors, as
scripts using Pythia's Python interface usually do. Prints events/s and the time Pythia itself
needs (the loop without reading the particles), so the cost of getting the events out of Pythia
shows.

Usage::

    python benchmarks/pythia.py [--lhe FILE] [--events 1000] [--mpi]
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LHE = ROOT / "tests" / "data" / "lhe" / "mg5_3.5.7_pp_ee_rwgt_mz_1000ev.lhe.gz"


def _pythia(lhe: Path, mpi: bool):
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for setting in (
        "Beams:frameType = 4",
        f"Beams:LHEF = {lhe}",
        "Next:numberCount = 0",
        "Random:setSeed = on",
        "Random:seed = 1",
        f"PartonLevel:MPI = {'on' if mpi else 'off'}",
        "Print:quiet = on",
    ):
        pythia.readString(setting)
    pythia.init()
    return pythia


def event_loop(lhe: Path, output: Path, n_events: int, mpi: bool, read_particles: bool) -> float:
    """Seconds for the per-event, per-particle loop (writing the flat record when reading)."""
    import pyhepmc

    from motherlode.simulators.pythia import _hepmc_status, _kept

    pythia = _pythia(lhe, mpi)
    start = time.perf_counter()
    with pyhepmc.open(output, "w") as writer:
        for number in range(1, n_events + 1):
            if not pythia.next():
                continue
            if not read_particles:
                continue
            event = pythia.event
            rows = [
                (p.id(), p.status(), p.px(), p.py(), p.pz(), p.e(), p.m())
                for p in (event[i] for i in range(event.size()))
            ]
            pid, status = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
            values = np.array([r[2:] for r in rows])
            keep = _kept(status, pid)
            beams = keep & (np.abs(status) == 12)
            order = np.concatenate([np.flatnonzero(beams), np.flatnonzero(keep & ~beams)])
            parents = np.full((len(order), 2), -1, dtype=np.int32)
            parents[2:] = (0, 1)
            genevent = pyhepmc.GenEvent(pyhepmc.Units.GEV, pyhepmc.Units.MM)
            genevent.from_hepevt(
                number, *values[order, :4].T.copy(), values[order, 4].copy(), pid[order].astype(np.int32),
                _hepmc_status(status[order], pid[order]), parents=parents, fortran=False,
            )  # fmt: skip
            genevent.weights = list(pythia.infoPython().weightValueVector())
            writer.write(genevent)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lhe", type=Path, default=DEFAULT_LHE)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--mpi", action="store_true", help="multiparton interactions on (default off)")
    args = parser.parse_args()
    from motherlode.simulators.pythia import shower_lhe

    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        lhe = work / "events.lhe"
        opener = gzip.open if args.lhe.suffix == ".gz" else open
        with opener(args.lhe, "rb") as source, open(lhe, "wb") as target:
            shutil.copyfileobj(source, target)
        start = time.perf_counter()
        summary = shower_lhe(
            lhe, work / "batched.hepmc3", n_events=args.events,
            settings=[f"PartonLevel:MPI = {'on' if args.mpi else 'off'}", "Print:quiet = on"], random_state=1,
        )  # fmt: skip
        batched = time.perf_counter() - start
        pythia_only = event_loop(lhe, work / "none.hepmc3", summary.n_events, args.mpi, read_particles=False)
        looped = event_loop(lhe, work / "loop.hepmc3", summary.n_events, args.mpi, read_particles=True)
    n = summary.n_events
    print(f"{args.lhe.name}: {n} events, MPI {'on' if args.mpi else 'off'}")
    print(f"{'':44s} {'seconds':>8s} {'events/s':>9s}")
    print(f"{'Pythia alone (next(), nothing read)':44s} {pythia_only:8.2f} {n / pythia_only:9.0f}")
    print(f"{'shower_lhe (nextBatch, flat HepMC3 record)':44s} {batched:8.2f} {n / batched:9.0f}")
    print(f"{'event loop, particles read one by one':44s} {looped:8.2f} {n / looped:9.0f}")
    extra_batched, extra_loop = batched - pythia_only, looped - pythia_only
    print(
        f"getting the events out and written, beyond Pythia: {extra_batched:.2f} s batched, "
        f"{extra_loop:.2f} s looped"
    )


if __name__ == "__main__":
    main()
