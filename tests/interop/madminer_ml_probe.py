#!/usr/bin/env python
"""Load, evaluate or train MadMiner 0.9.6 estimators for the interoperability tests.

Meant to be run BY the interpreter that has madminer==0.9.6 installed::

    python madminer_ml_probe.py evaluate KIND PREFIX INPUTS.npz OUTPUT.npz
    python madminer_ml_probe.py train KIND PREFIX DATA.npz

``KIND`` is ``ratio`` (ParameterizedRatioEstimator), ``score`` (ScoreEstimator) or ``double``
(DoubleParameterizedRatioEstimator). ``evaluate`` loads the estimator saved at ``PREFIX`` and writes
its outputs on the inputs of ``INPUTS.npz`` (``x`` and, for ratios, ``theta`` or ``theta0``/``theta1``)
to ``OUTPUT.npz``. ``train`` trains a small estimator for 3 epochs on the arrays of ``DATA.npz`` and
saves it at ``PREFIX``. Exit status 0 on success; errors go to stderr.
"""

import logging
import sys

# madminer and numpy are imported inside main(): pytest collects this file with --doctest-modules in an
# environment without madminer.


def estimator_class(kind):
    from madminer.ml import DoubleParameterizedRatioEstimator, ParameterizedRatioEstimator, ScoreEstimator

    return {
        "ratio": ParameterizedRatioEstimator,
        "score": ScoreEstimator,
        "double": DoubleParameterizedRatioEstimator,
    }[kind]


def evaluate(kind, prefix, inputs, output):
    import numpy as np

    estimator = estimator_class(kind)()
    estimator.load(prefix)
    arrays = dict(np.load(inputs))
    if kind == "score":
        np.savez(output, t_hat=estimator.evaluate_score(x=arrays["x"], nuisance_mode="keep"))
    elif kind == "ratio":
        log_r, t_hat = estimator.evaluate_log_likelihood_ratio(
            x=arrays["x"], theta=arrays["theta"], test_all_combinations=True, evaluate_score=True
        )
        np.savez(output, log_r=log_r, t_hat=t_hat)
    else:
        log_r, _, _ = estimator.evaluate_log_likelihood_ratio(
            x=arrays["x"], theta0=arrays["theta0"], theta1=arrays["theta1"], test_all_combinations=True
        )
        np.savez(output, log_r=log_r)


def train(kind, prefix, data_file):
    import numpy as np
    import torch

    torch.manual_seed(0)
    data = dict(np.load(data_file))
    estimator = estimator_class(kind)(n_hidden=(16, 16))
    options = {"n_epochs": 3, "n_workers": 0, "verbose": "none"}
    if kind == "score":
        estimator.train(method="sally", x=data["x"], t_xz=data["t_xz"], **options)
    elif kind == "ratio":
        estimator.train(
            method="alices", x=data["x"], y=data["y"], theta=data["theta"], r_xz=data["r_xz"],
            t_xz=data["t_xz"], **options,
        )  # fmt: skip
    else:
        raise SystemExit(f"train does not support {kind!r}")
    estimator.save(prefix)


def main(argv):
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    command, args = argv[1], argv[2:]
    if command == "evaluate":
        evaluate(*args)
    elif command == "train":
        train(*args)
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv)
