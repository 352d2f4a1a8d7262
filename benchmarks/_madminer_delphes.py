"""Run under MadMiner 0.9.6's interpreter by ``benchmarks/delphes.py``: time its DelphesReader.

Usage: python _madminer_delphes.py SPEC.json

The spec names the setup file, the Delphes, HepMC and LHE files, how many times the Delphes file is
added as a sample, the observables, the cut and the output file. MadMiner 0.9.6 reads Delphes
files with uproot3 (this environment has numpy < 2). Prints one JSON line: the seconds of
``analyse_delphes_samples`` plus ``save`` and the number of events saved.
"""

import json
import logging
import sys
import time
from pathlib import Path

logging.disable(logging.CRITICAL)


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    from madminer.delphes import DelphesReader

    reader = DelphesReader(spec["setup"])
    for _ in range(spec["copies"]):
        reader.add_sample(
            spec["hepmc"],
            spec["benchmark"],
            delphes_filename=spec["delphes"],
            lhe_filename=spec["lhe"],
            weights="lhe",  # weights="delphes" fails in 0.9.6: it cannot reshape the jagged weights
        )
    for name, definition in spec["observables"].items():
        reader.add_observable(name, definition, required=False, default=0.0)
    reader.add_cut(spec["cut"])
    start = time.perf_counter()
    reader.analyse_delphes_samples()
    reader.save(spec["output"], shuffle=False)
    seconds = time.perf_counter() - start
    import h5py

    with h5py.File(spec["output"], "r") as handle:
        n_events = len(handle["samples/observations"])
    print(json.dumps({"seconds": seconds, "n_events": n_events}))


if __name__ == "__main__":
    main()
