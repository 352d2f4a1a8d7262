"""Run under MadMiner 0.9.6's interpreter by ``benchmarks/lhe.py``: time its LHE parser on one file.

Usage: python _madminer_lhe.py EVENTS.lhe WEIGHT_ID[,WEIGHT_ID...]

Times ``madminer.utils.interfaces.lhe.parse_lhe_file`` (its default XML event parsing) with no
observables, cuts or smearing, keeping the nominal weight (as benchmark ``orig``) and the named
reweighting weights. EVENTS.lhe must be uncompressed: MadMiner unpacks a .gz file next to it.
Prints one JSON line with the time and the number of events read.
"""

import json
import logging
import sys
import time
from collections import OrderedDict

logging.disable(logging.CRITICAL)


def main() -> None:
    path, weight_ids = sys.argv[1], sys.argv[2].split(",")
    from madminer.utils.interfaces.lhe import parse_lhe_file

    start = time.perf_counter()
    _, weights = parse_lhe_file(
        path,
        sampling_benchmark="orig",
        observables=OrderedDict(),
        benchmark_names=["orig", *weight_ids],
        systematics_dict={},
    )
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "n_events": len(weights["orig"])}))


if __name__ == "__main__":
    main()
