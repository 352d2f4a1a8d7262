#!/usr/bin/env python
"""Negative log likelihoods computed by MadMiner 0.9.6, for the side-by-side tests.

Meant to be run BY the interpreter that has madminer==0.9.6 installed::

    python madminer_likelihood_probe.py EVENTS.h5 REQUESTS.json OUTPUT.json

``REQUESTS.json`` is a list of ``{"name": ..., "kwargs": {...}, "thetas": [[...], ...]}``; every
request calls ``HistoLikelihood(EVENTS.h5).create_negative_log_likelihood(**kwargs)`` (``x_observed``,
``x_observed_weights`` and the bin edges in ``hist_bins`` become arrays) and evaluates the function
at each of ``thetas``; the values go to ``OUTPUT.json`` under ``name``. MadMiner's histograms call
``numpy.histogramdd(normed=...)``, which current NumPy lacks: the argument is dropped here. Exit
status 0 on success; errors go to stderr.
"""

import json
import logging
import sys

# madminer and numpy are imported inside main(): pytest collects this file with --doctest-modules in an
# environment without madminer.


def main(events, requests_file, output):
    import numpy as np

    histogramdd = np.histogramdd

    def histogramdd_without_normed(*args, **kwargs):
        kwargs.pop("normed", None)
        return histogramdd(*args, **kwargs)

    np.histogramdd = histogramdd_without_normed
    from madminer.likelihood import HistoLikelihood

    logging.basicConfig(level=logging.WARNING)
    results = {}
    with open(requests_file, encoding="utf-8") as handle:
        requests = json.load(handle)
    for request in requests:
        np.random.seed(0)  # noqa: NPY002 (MadMiner draws from the global generator)
        kwargs = dict(request["kwargs"])
        kwargs["x_observed"] = np.asarray(kwargs["x_observed"], dtype=float)
        if kwargs.get("x_observed_weights") is not None:
            kwargs["x_observed_weights"] = np.asarray(kwargs["x_observed_weights"], dtype=float)
        if kwargs.get("hist_bins") is not None:
            kwargs["hist_bins"] = [np.asarray(edges, dtype=float) for edges in kwargs["hist_bins"]]
        nll = HistoLikelihood(events).create_negative_log_likelihood(**kwargs)
        results[request["name"]] = [float(nll(np.asarray(theta, dtype=float))) for theta in request["thetas"]]
    with open(output, "w", encoding="utf-8") as handle:
        json.dump(results, handle)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
