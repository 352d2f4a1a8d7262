"""Time MadMiner 0.9.6's whole LHEReader analysis (run under MadMiner's interpreter).

Usage: python _madminer_lhe_analysis.py SETUP.h5 EVENTS.lhe OUTPUT.h5

SETUP.h5 is a setup file written by motherlode (MadMiner reads it); the analysis is the one of
``benchmarks/lhe.py``: observables ``pt_e1 = l[0].pt`` and ``m_ee = (l[0] + l[1]).m`` (required),
cut ``m_ee > 60``, sample from benchmark ``orig``. Prints one JSON line with the timings.
"""

from __future__ import annotations

import json
import logging
import sys
import time

logging.disable(logging.CRITICAL)


def main() -> None:
    setup, events, output = sys.argv[1:4]
    start = time.perf_counter()
    from madminer.lhe import LHEReader

    import_seconds = time.perf_counter() - start
    start = time.perf_counter()
    reader = LHEReader(setup)
    reader.add_sample(events, sampled_from_benchmark="orig")
    reader.add_observable("pt_e1", "l[0].pt", required=True)
    reader.add_observable("m_ee", "(l[0] + l[1]).m", required=True)
    reader.add_cut("m_ee > 60.")
    reader.analyse_samples()
    reader.save(output, shuffle=False)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "import_seconds": import_seconds}))


if __name__ == "__main__":
    main()
