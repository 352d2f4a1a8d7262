"""Time one FisherInformation call of MadMiner 0.9.6 (run under MadMiner's interpreter by ``fisher.py``).

Usage: python _madminer_fisher.py EVENTS.h5 REQUEST.json

``REQUEST.json`` holds ``{"method": ..., "kwargs": {...}, "thetas": [[...], ...]}``: the method is
called once per theta (in one process, on one ``FisherInformation``), and only the calls are timed.
Prints one JSON line: seconds (all calls), peak resident memory (MB) and, per theta, every array
the method returned.
"""

from __future__ import annotations

import json
import logging
import sys
import time

logging.disable(logging.CRITICAL)


def main() -> None:
    events, request_file = sys.argv[1], sys.argv[2]
    import numpy as np
    from madminer.fisherinformation import FisherInformation

    with open(request_file, encoding="utf-8") as handle:
        request = json.load(handle)
    kwargs = dict(request["kwargs"])
    for key in ("histrange", "histrange1", "histrange2"):
        if kwargs.get(key) is not None:
            kwargs[key] = tuple(kwargs[key])
    fisher = FisherInformation(events)
    method = getattr(fisher, request["method"])
    thetas = [np.asarray(theta, dtype=np.float64) for theta in request["thetas"]]
    start = time.perf_counter()
    results = [method(theta, **kwargs) for theta in thetas]
    seconds = time.perf_counter() - start
    arrays = [[np.asarray(part, dtype=np.float64).tolist() for part in result] for result in results]
    with open("/proc/self/status", encoding="ascii") as status:  # VmHWM: ru_maxrss counts the parent
        peak_mb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "results": arrays}))


if __name__ == "__main__":
    main()
