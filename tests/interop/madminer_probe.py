#!/usr/bin/env python
"""Report what MadMiner 0.9.6 reads from a MadMiner HDF5 file, as one JSON document.

Meant to be run BY the interpreter that has madminer==0.9.6 installed, e.g.::

    /tmp/mmvenv/bin/python tests/interop/madminer_probe.py FILE.h5 [--thetas '[[0.5],[-0.3]]']

stdout receives exactly one JSON document (everything madminer prints or logs goes to stderr).
On any failure the document is ``{"error": "<ExceptionType>: <message>"}`` and the exit status is 1.

Keys: file, madminer_version, parameters, benchmarks, reference_benchmark, madminer_load, morphing,
systematics, finite_differences, finite_differences_epsilon, nuisance_parameters, observables,
n_samples, sample_summary; with events: weights_sum, benchmark_xsecs, benchmark_xsec_errors;
with --thetas: thetas, morphing_weights, morphing_weight_gradients (if a morphing setup exists)
and xsecs, xsec_errors (if the file also has events).
"""

import argparse
import contextlib
import enum
import json
import logging
import math
import sys

# madminer / numpy are imported inside probe(): pytest collects this file with
# --doctest-modules in an environment that has no madminer.


class ProbeUsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # turn usage errors into the JSON error path
        raise ProbeUsageError(message)


def plain(obj):
    """Convert numpy scalars/arrays, bytes, enums, tuples and dicts to plain JSON types."""
    import numpy as np

    if isinstance(obj, enum.Enum):  # SystematicType / SystematicScale are str Enums
        return plain(obj.value)
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist())
    if isinstance(obj, (bytes, np.bytes_)):
        return obj.decode("ascii")
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)


def probe(filename, thetas=None):
    import numpy as np
    from madminer.analysis import DataAnalyzer
    from madminer.core import MadMiner
    from madminer.utils.interfaces.hdf5 import load_madminer_settings

    try:
        from importlib.metadata import version

        mm_version = version("madminer")
    except Exception:  # pragma: no cover
        mm_version = None

    (
        parameters,
        benchmarks,
        nuisance_flags,
        components,
        morphing_matrix,
        observables,
        n_samples,
        systematics,
        reference_benchmark,
        nuisance_parameters,
        n_signal_events,
        n_background_events,
        finite_differences,
        fd_epsilon,
    ) = load_madminer_settings(filename, include_nuisance_benchmarks=True)

    out = {"file": filename, "madminer_version": mm_version}
    out["parameters"] = [
        {
            "name": p.name,
            "lha_block": p.lha_block,
            "lha_id": p.lha_id,
            "max_power": p.max_power,
            "val_range": list(p.val_range),
            "transform": p.transform,
        }
        for p in parameters.values()
    ]
    out["benchmarks"] = [
        {
            "name": b.name,
            "values": [b.values[name] for name in parameters],
            "is_nuisance": bool(flag),
            "is_reference": b.name == reference_benchmark,
        }
        for b, flag in zip(benchmarks.values(), nuisance_flags, strict=True)
    ]
    out["reference_benchmark"] = reference_benchmark

    miner = MadMiner()
    miner.load(filename)
    out["madminer_load"] = {
        "parameters": list(miner.parameters.keys()),
        "benchmarks": list(miner.benchmarks.keys()),
        "morpher_built": miner.morpher is not None,
        "default_benchmark": miner.default_benchmark,
        "systematics": list(miner.systematics.keys()),
    }

    out["morphing"] = (
        None
        if components is None or morphing_matrix is None
        else {"components": components, "morphing_matrix": morphing_matrix}
    )
    out["systematics"] = [
        {
            "name": s.name,
            "type": s.type,
            # systematics/values is not decoded by madminer's loader: bytes -> str here
            "value": s.value.decode("ascii") if isinstance(s.value, (bytes, np.bytes_)) else str(s.value),
            "scale": s.scale,
        }
        for s in systematics.values()
    ]
    out["finite_differences"] = {base: dict(fd.shift_names) for base, fd in finite_differences.items()}
    out["finite_differences_epsilon"] = fd_epsilon
    out["nuisance_parameters"] = [
        {
            "name": n.name,
            "systematic": n.systematic,
            "benchmark_pos": n.benchmark_pos,
            "benchmark_neg": n.benchmark_neg,
        }
        for n in nuisance_parameters.values()
    ]
    out["observables"] = {
        "names": list(observables.keys()),
        "definitions": [o.val_expression for o in observables.values()],
    }
    out["n_samples"] = n_samples
    out["sample_summary"] = {"signal_events": n_signal_events, "background_events": n_background_events}

    has_morphing = out["morphing"] is not None
    has_events = n_samples > 0
    if not (has_events or (thetas is not None and has_morphing)):
        return out

    analyzer = DataAnalyzer(filename)

    def theta_value(theta):
        if isinstance(theta, str):  # benchmark name
            return np.asarray([benchmarks[theta].values[name] for name in parameters], dtype=float)
        return np.asarray(theta, dtype=float)

    if thetas is not None:
        out["thetas"] = thetas
        if analyzer.morpher is not None:
            out["morphing_weights"] = [
                analyzer.morpher.calculate_morphing_weights(theta_value(t)) for t in thetas
            ]
            out["morphing_weight_gradients"] = [
                analyzer.morpher.calculate_morphing_weight_gradient(theta_value(t)) for t in thetas
            ]

    if has_events:
        total = None
        for _, weights in analyzer.event_loader():
            batch = weights.sum(axis=0)
            total = batch if total is None else total + batch
        out["weights_sum"] = total
        xs, xs_err = analyzer.xsecs(thetas=None, partition="all")
        out["benchmark_xsecs"], out["benchmark_xsec_errors"] = xs, xs_err
        if thetas is not None:
            if analyzer.morpher is not None or all(isinstance(t, str) for t in thetas):
                args = [t if isinstance(t, str) else np.asarray(t, dtype=float) for t in thetas]
                xs, xs_err = analyzer.xsecs(thetas=args, partition="all")
                out["xsecs"], out["xsec_errors"] = xs, xs_err
            else:
                out["xsecs"], out["xsec_errors"] = None, None

    return out


def main(argv=None):
    stdout = sys.stdout
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        with contextlib.redirect_stdout(sys.stderr):
            parser = _Parser(description="Print what MadMiner 0.9.6 reads from FILE as JSON.")
            parser.add_argument("file")
            parser.add_argument(
                "--thetas", default=None, help="JSON list of parameter points, e.g. '[[0.5],[-0.3]]'"
            )
            parser.add_argument("-v", "--verbose", action="store_true", help="madminer INFO logs on stderr")
            args = parser.parse_args(argv)
            if args.verbose:
                logging.getLogger("madminer").setLevel(logging.INFO)
            thetas = None
            if args.thetas is not None:
                thetas = json.loads(args.thetas)
                if not isinstance(thetas, list):
                    raise ProbeUsageError("--thetas must be a JSON list of parameter points")
            result = plain(probe(args.file, thetas))
            text = json.dumps(result, allow_nan=False)
    except Exception as exc:  # every failure becomes a JSON error document
        stdout.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        stdout.flush()
        return 1
    stdout.write(text + "\n")
    stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
