"""Time one AsymptoticLimits call of MadMiner 0.9.6 (run under MadMiner's interpreter by ``limits.py``).

Usage: python _madminer_limits.py EVENTS.h5 REQUEST.json

``REQUEST.json`` holds ``{"method": "expected" | "observed", "kwargs": {...}}``: one call of
``AsymptoticLimits(EVENTS.h5).expected_limits(**kwargs)`` (or ``observed_limits``) with
``return_histos=False``; ``theta_true``, ``x_observed`` and the bin edges of ``hist_bins`` become
arrays. Only the call is timed (the constructor, which reads the file's setup, is not). MadMiner's
histograms call ``numpy.histogramdd(normed=...)``, which NumPy 1.26 rejects: the argument is dropped.
Prints one JSON line: seconds, peak resident memory (MB, ``VmHWM``), the p-values and the index of
the best fit.
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

    histogramdd = np.histogramdd

    def histogramdd_without_normed(*args, **kwargs):
        kwargs.pop("normed", None)
        return histogramdd(*args, **kwargs)

    np.histogramdd = histogramdd_without_normed
    from madminer.limits import AsymptoticLimits

    with open(request_file, encoding="utf-8") as handle:
        request = json.load(handle)
    kwargs = dict(request["kwargs"])
    for key in ("theta_true", "x_observed"):
        if kwargs.get(key) is not None:
            kwargs[key] = np.asarray(kwargs[key], dtype=np.float64)
    if kwargs.get("hist_bins") is not None and not isinstance(kwargs["hist_bins"], int):
        kwargs["hist_bins"] = [
            b if isinstance(b, int) else np.asarray(b, dtype=np.float64) for b in kwargs["hist_bins"]
        ]
    np.random.seed(0)  # noqa: NPY002 (MadMiner draws its histogram events from the global generator)
    limits = AsymptoticLimits(events)
    method = limits.expected_limits if request["method"] == "expected" else limits.observed_limits
    start = time.perf_counter()
    _, p_values, i_ml, _, _, _ = method(return_histos=False, **kwargs)
    seconds = time.perf_counter() - start
    with open("/proc/self/status", encoding="ascii") as status:  # VmHWM: ru_maxrss counts the parent
        peak_mb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    report = {"seconds": seconds, "peak_mb": peak_mb, "p_values": np.asarray(p_values).tolist()}
    print(json.dumps({**report, "i_ml": int(i_ml)}))


if __name__ == "__main__":
    main()
