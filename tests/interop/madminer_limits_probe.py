#!/usr/bin/env python
"""Limits computed by MadMiner 0.9.6's ``AsymptoticLimits``, for the side-by-side tests.

Meant to be run BY the interpreter that has madminer==0.9.6 installed::

    python madminer_limits_probe.py EVENTS.h5 REQUESTS.json OUTPUT.json

``REQUESTS.json`` is a list of ``{"name": ..., "method": "expected" | "observed", "kwargs": {...}}``;
each request calls ``AsymptoticLimits(EVENTS.h5).expected_limits(**kwargs)`` (or
``observed_limits``); ``theta_true``, ``x_observed``, ``thetas_eval`` and the bin edges of
``hist_bins`` become arrays. The grid, p-values, best-fit index and the kinematic and rate log
likelihoods go to ``OUTPUT.json`` under ``name``. MadMiner's histograms call
``numpy.histogramdd(normed=...)``, which current NumPy lacks: the argument is dropped here. Exit
status 0 on success; errors go to stderr.
"""

import json
import logging
import sys

# madminer and numpy are imported inside main(): pytest collects this file with --doctest-modules in an
# environment without madminer.


def _plain(value):
    import numpy as np

    if isinstance(value, np.ndarray | list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer | int):
        return int(value)
    return float(value)


def main(events, requests_file, output):
    import numpy as np

    histogramdd = np.histogramdd

    def histogramdd_without_normed(*args, **kwargs):
        kwargs.pop("normed", None)
        return histogramdd(*args, **kwargs)

    np.histogramdd = histogramdd_without_normed
    from madminer.limits import AsymptoticLimits

    logging.basicConfig(level=logging.WARNING)
    results = {}
    with open(requests_file, encoding="utf-8") as handle:
        requests = json.load(handle)
    for request in requests:
        np.random.seed(0)  # noqa: NPY002 (MadMiner draws from the global generator)
        kwargs = dict(request["kwargs"])
        for key in ("theta_true", "x_observed", "thetas_eval"):
            if kwargs.get(key) is not None:
                kwargs[key] = np.asarray(kwargs[key], dtype=float)
        if kwargs.get("hist_bins") is not None and not isinstance(kwargs["hist_bins"], int):
            kwargs["hist_bins"] = [
                b if isinstance(b, int) else np.asarray(b, dtype=float) for b in kwargs["hist_bins"]
            ]
        limits = AsymptoticLimits(events)
        method = limits.expected_limits if request["method"] == "expected" else limits.observed_limits
        grid, p_values, i_ml, log_kin, log_rate, _ = method(return_histos=False, **kwargs)
        results[request["name"]] = {
            "grid": _plain(grid),
            "p_values": _plain(p_values),
            "i_ml": int(i_ml),
            "log_r_kin": _plain(np.broadcast_to(log_kin, p_values.shape)),
            "log_p_xsec": _plain(np.broadcast_to(log_rate, p_values.shape)),
        }
    with open(output, "w", encoding="utf-8") as handle:
        json.dump(results, handle)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
