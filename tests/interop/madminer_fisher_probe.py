#!/usr/bin/env python
"""Fisher information computed by MadMiner 0.9.6, for the side-by-side tests.

Meant to be run BY the interpreter that has madminer==0.9.6 installed::

    python madminer_fisher_probe.py EVENTS.h5 REQUESTS.json OUTPUT.npz

``REQUESTS.json`` is a list of ``{"name": ..., "method": ..., "kwargs": {...}}``; every request
calls ``FisherInformation(EVENTS.h5).<method>(**kwargs)`` (lists become arrays where MadMiner wants
them) and stores the returned information and covariance as ``<name>_information`` and
``<name>_covariance`` in ``OUTPUT.npz``. Exit status 0 on success; errors go to stderr.
"""

import json
import logging
import sys

# madminer and numpy are imported inside main(): pytest collects this file with --doctest-modules in an
# environment without madminer.


def main(events, requests_file, output):
    import numpy as np
    from madminer.fisherinformation import FisherInformation

    logging.basicConfig(level=logging.WARNING)
    fisher = FisherInformation(events)
    results = {}
    with open(requests_file, encoding="utf-8") as handle:
        requests = json.load(handle)
    for request in requests:
        kwargs = dict(request["kwargs"])
        kwargs["theta"] = np.asarray(kwargs["theta"], dtype=float)
        information, covariance = getattr(fisher, request["method"])(**kwargs)
        results[request["name"] + "_information"] = np.asarray(information)
        results[request["name"] + "_covariance"] = np.asarray(covariance)
    np.savez(output, **results)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
