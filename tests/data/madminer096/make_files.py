#!/usr/bin/env python
"""Regenerate the MadMiner 0.9.6 interoperability fixtures in this folder.

Run from the repository root with the interpreter that has madminer==0.9.6:

    /tmp/mmvenv/bin/python tests/data/madminer096/make_files.py

Writes, next to this script:
    setup_morphing_2d.h5, setup_manual_1d.h5, setup_systematics.h5,
    setup_finite_differences.h5, events_cHl3.h5, expected.json,
    and the dataset listing section of README.md (between the LISTING markers).

Only madminer's public API is used, except where 0.9.6 is broken:
  * MadMiner.finite_differences() crashes -> the finite-difference group is
    written with madminer.utils.interfaces.hdf5.save_madminer_settings() and
    madminer.models.FiniteDiffBenchmark objects.
The LHE input is copied (gunzipped by madminer) into a temporary directory, so
nothing is ever written next to the read-only original.
"""

import enum
import json
import logging
import os
import shutil
import sys
import tempfile
from collections import OrderedDict
from pathlib import Path

import h5py
import numpy as np

# NOTE: madminer is imported inside the functions, never at module level: pytest runs with
# --doctest-modules over tests/, so this file must stay importable without madminer.

HERE = Path(__file__).resolve().parent
LHE_SOURCE = Path(
    os.environ.get(
        "MADMINER096_LHE",
        "/work/shared/data/fixtures/mg5_3.5.7_smeftsim_pp_ee_rwgt_cHl3_1000ev.lhe.gz",
    )
)
SEED = 1234
FD_EPSILON = 0.01
MATRIX_LAYOUT = "(n_components, n_benchmarks): weights(theta) = matrix.T @ component_weights(theta)"

# theta points at which expected.json records morphing weights / xsecs
PROBE_THETAS = {
    "setup_morphing_2d.h5": [[0.5, -0.3], [10.0, -5.0]],
    "setup_systematics.h5": [[0.5], [-0.3]],
    "events_cHl3.h5": [[0.5], [-0.3]],
}

log = logging.getLogger("make_files")


def _remove(path):
    if path.exists():
        path.unlink()


# --------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------


def _add_tutorial_parameters(miner):
    """The two parameters of MadMiner's particle-physics tutorial."""
    for name, lha_id in (("CWL2", 2), ("CPWL2", 5)):
        miner.add_parameter(
            lha_block="dim6",
            lha_id=lha_id,
            parameter_name=name,
            morphing_max_power=2,
            param_card_transform="16.52*theta",
            parameter_range=(-20.0, 20.0),
        )


def make_setup_morphing_2d(path):
    """Tutorial-like 2-parameter setup, 5 manual benchmarks + 1 optimised basis point."""
    from madminer.core import MadMiner

    _remove(path)
    miner = MadMiner()
    _add_tutorial_parameters(miner)
    miner.add_benchmark({"CWL2": 0.0, "CPWL2": 0.0}, "sm")
    miner.add_benchmark({"CWL2": 15.2, "CPWL2": 0.1}, "w")
    miner.add_benchmark({"CWL2": -15.4, "CPWL2": 0.2}, "neg_w")
    miner.add_benchmark({"CWL2": 0.3, "CPWL2": 15.1}, "ww")
    miner.add_benchmark({"CWL2": 0.12, "CPWL2": -15.3}, "neg_ww")
    np.random.seed(SEED)  # noqa: NPY002 - madminer draws from the global numpy RNG
    miner.set_morphing(include_existing_benchmarks=True, max_overall_power=2)
    miner.save(str(path))


def _add_manual_1d(miner):
    # parameter_name and param_card_transform left at their defaults on purpose:
    # name -> "parameter_0", transform None -> "_" (0.9.6 behaviour).
    # Integer range on purpose: parameters/val_ranges becomes int64.
    miner.add_parameter(lha_block="dim6", lha_id=7, morphing_max_power=2, parameter_range=(-1, 1))
    miner.add_benchmark({"parameter_0": 0.0}, "sm")
    miner.add_benchmark({"parameter_0": 0.5}, "plus")
    # default benchmark name -> "benchmark_2"
    miner.add_benchmark({"parameter_0": -0.5})


def make_setup_manual_1d(path):
    from madminer.core import MadMiner

    _remove(path)
    miner = MadMiner()
    _add_manual_1d(miner)
    miner.save(str(path))


def make_setup_systematics(path):
    from madminer.core import MadMiner

    _remove(path)
    miner = MadMiner()
    _add_manual_1d(miner)
    np.random.seed(SEED)  # noqa: NPY002 - madminer draws from the global numpy RNG
    miner.set_morphing(include_existing_benchmarks=True, max_overall_power=2)
    # No systematic_name: 0.9.6 builds the default name from the builtin `type`
    # (f"{type}_{i}") -> "<class_'type'>_0". Kept on purpose, it is what 0.9.6 writes.
    miner.add_systematics("scale", scale="mu", scale_variations=(0.5, 1.0, 2.0))
    miner.add_systematics("scale", systematic_name="mur_only", scale="mur")
    miner.save(str(path))


def make_setup_finite_differences(path):
    from madminer.core import MadMiner
    from madminer.models import FiniteDiffBenchmark
    from madminer.utils.interfaces.hdf5 import save_madminer_settings

    _remove(path)
    miner = MadMiner()
    _add_tutorial_parameters(miner)
    bases = OrderedDict([("sm", {"CWL2": 0.0, "CPWL2": 0.0}), ("bsm", {"CWL2": 1.5, "CPWL2": -2.0})])
    for name, values in bases.items():
        miner.add_benchmark(dict(values), name)
    fds = OrderedDict()
    for base_name, values in bases.items():
        shifts = OrderedDict()
        for param in miner.parameters:
            shifted = dict(values)
            shifted[param] = shifted[param] + FD_EPSILON
            shift_name = f"{base_name}_plus_{param}"
            miner.add_benchmark(shifted, shift_name)
            shifts[param] = shift_name
        fds[base_name] = FiniteDiffBenchmark(base_name=base_name, shift_names=shifts)
    # MadMiner.finite_differences() is broken in 0.9.6 -> use the hdf5 helper directly.
    save_madminer_settings(
        file_name=str(path),
        file_override=True,
        parameters=miner.parameters,
        benchmarks=miner.benchmarks,
        systematics=OrderedDict(),
        finite_differences=fds,
        finite_differences_epsilon=FD_EPSILON,
    )


def make_events_cHl3(path, workdir):
    from madminer.core import MadMiner
    from madminer.lhe import LHEReader

    _remove(path)
    setup_path = workdir / "setup_cHl3.h5"
    miner = MadMiner()
    miner.add_parameter(
        lha_block="SMEFT", lha_id=22, parameter_name="cHl3", morphing_max_power=2, parameter_range=(-1.0, 1.0)
    )
    miner.add_benchmark({"cHl3": 0.007}, "orig")
    miner.add_benchmark({"cHl3": 1.0}, "cHl3_p1")
    miner.add_benchmark({"cHl3": -1.0}, "cHl3_m1")
    np.random.seed(SEED)  # noqa: NPY002 - madminer draws from the global numpy RNG
    miner.set_morphing(max_overall_power=2, include_existing_benchmarks=True)
    miner.save(str(setup_path))

    # madminer gunzips next to its input: work on a private copy
    lhe_copy = workdir / LHE_SOURCE.name
    shutil.copyfile(LHE_SOURCE, lhe_copy)

    np.random.seed(SEED)  # noqa: NPY002 - madminer draws from the global numpy RNG
    reader = LHEReader(str(setup_path))
    reader.add_sample(str(lhe_copy), sampled_from_benchmark="orig")
    reader.add_observable("pt_e1", "l[0].pt", required=True)
    reader.add_observable("m_ee", "(l[0] + l[1]).m", required=True)
    reader.add_cut("m_ee > 60.")
    reader.analyse_samples()
    reader.save(str(path), shuffle=False)


# --------------------------------------------------------------------------------------
# Expected values
# --------------------------------------------------------------------------------------


def _py(obj):
    """numpy / bytes -> plain JSON types."""
    if isinstance(obj, enum.Enum):  # before str: SystematicType is a str Enum
        return obj.value
    if isinstance(obj, dict):
        return {str(k): _py(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_py(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _py(obj.tolist())
    if isinstance(obj, bytes):
        return obj.decode("ascii")
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    return obj


def dataset_listing(path):
    """[(path, shape, dtype-string)] for every dataset, in h5py visit order."""
    rows = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            rows.append((name, tuple(obj.shape), obj.dtype.str))

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return rows


def raw_strings(path, key):
    with h5py.File(path, "r") as f:
        if key not in f:
            return None
        return _py(f[key][()])


def expected_for(path):
    from madminer.analysis import DataAnalyzer
    from madminer.core import MadMiner
    from madminer.utils.interfaces.hdf5 import load_madminer_settings

    name = path.name
    (
        params,
        benchmarks,
        nuisance_flags,
        components,
        matrix,
        observables,
        n_samples,
        systematics,
        ref_benchmark,
        nuisance_params,
        n_signal,
        n_background,
        fds,
        fd_eps,
    ) = load_madminer_settings(str(path), include_nuisance_benchmarks=True)

    with h5py.File(path, "r") as f:
        is_reference = (
            [bool(x) for x in f["benchmarks/is_reference"][()]] if "benchmarks/is_reference" in f else None
        )
        weights = f["samples/weights"][()] if "samples/weights" in f else None
        sampling_ids = f["samples/sampling_benchmarks"][()] if "samples/sampling_benchmarks" in f else None

    exp = OrderedDict()
    exp["file"] = name
    exp["size_bytes"] = path.stat().st_size
    exp["datasets"] = {p: {"shape": list(s), "dtype": d} for p, s, d in dataset_listing(path)}
    exp["parameters"] = [
        OrderedDict(
            name=p.name,
            lha_block=p.lha_block,
            lha_id=p.lha_id,
            max_power=p.max_power,
            val_range=_py(list(p.val_range)),
            transform=p.transform,
        )
        for p in params.values()
    ]
    exp["benchmarks"] = [
        OrderedDict(
            name=b.name,
            values=[_py(b.values[k]) for k in params],
            is_nuisance=bool(flag),
            is_reference=bool(ref),
        )
        for b, flag, ref in zip(
            benchmarks.values(), nuisance_flags, is_reference or [False] * len(benchmarks), strict=True
        )
    ]
    exp["reference_benchmark"] = ref_benchmark
    exp["morphing"] = (
        None
        if components is None
        else OrderedDict(
            components=_py(components),
            morphing_matrix=_py(matrix),
            matrix_shape=list(matrix.shape),
            matrix_layout=MATRIX_LAYOUT,
        )
    )
    exp["systematics"] = [
        OrderedDict(
            name=s.name,
            type=_py(s.type),
            value=_py(s.value),
            scale=None if s.scale is None else _py(s.scale),
        )
        for s in systematics.values()
    ]
    exp["finite_differences"] = OrderedDict((k, OrderedDict(v.shift_names)) for k, v in fds.items())
    exp["finite_differences_epsilon"] = fd_eps
    exp["nuisance_parameters"] = [
        OrderedDict(
            name=n.name, systematic=n.systematic, benchmark_pos=n.benchmark_pos, benchmark_neg=n.benchmark_neg
        )
        for n in nuisance_params.values()
    ]
    exp["observables"] = OrderedDict(
        names=list(observables.keys()), definitions=[o.val_expression for o in observables.values()]
    )
    exp["n_samples"] = int(n_samples)
    exp["sample_summary"] = OrderedDict(signal_events=_py(n_signal), background_events=_py(n_background))

    if weights is not None:
        exp["weights_sum_raw"] = _py(weights.sum(axis=0))
        exp["weights_sq_sum_raw"] = _py((weights**2).sum(axis=0))
        exp["sampling_benchmark_ids_unique"] = _py(np.unique(sampling_ids))
    else:
        exp["weights_sum_raw"] = None

    # what MadMiner().load() sees (nuisance benchmarks filtered, morpher rebuilt)
    miner = MadMiner()
    miner.load(str(path))
    exp["madminer_load"] = OrderedDict(
        parameters=list(miner.parameters.keys()),
        benchmarks=list(miner.benchmarks.keys()),
        morpher_built=miner.morpher is not None,
        default_benchmark=miner.default_benchmark,
        systematics=list(miner.systematics.keys()),
    )

    thetas = PROBE_THETAS.get(name)
    exp["probe_thetas"] = thetas
    if thetas is not None or weights is not None:
        analyzer = DataAnalyzer(str(path))
        if thetas is not None and analyzer.morpher is not None:
            exp["morphing_weights"] = [
                _py(analyzer.morpher.calculate_morphing_weights(np.asarray(t))) for t in thetas
            ]
            exp["morphing_weight_gradients"] = [
                _py(analyzer.morpher.calculate_morphing_weight_gradient(np.asarray(t))) for t in thetas
            ]
        if weights is not None:
            total = None
            for _, w in analyzer.event_loader():
                total = w.sum(axis=0) if total is None else total + w.sum(axis=0)
            exp["weights_sum"] = _py(total)
            # cross sections of the benchmarks (thetas=None) and at the probe thetas
            xs, xs_err = analyzer.xsecs(thetas=None, partition="all")
            exp["benchmark_xsecs"] = _py(xs)
            exp["benchmark_xsec_errors"] = _py(xs_err)
            if thetas is not None:
                xs, xs_err = analyzer.xsecs(thetas=[np.asarray(t) for t in thetas], partition="all")
                exp["xsecs"] = _py(xs)
                exp["xsec_errors"] = _py(xs_err)
    return exp


# --------------------------------------------------------------------------------------
# README listing
# --------------------------------------------------------------------------------------

BEGIN = "<!-- LISTING BEGIN (generated by make_files.py) -->"
END = "<!-- LISTING END -->"


def listing_markdown(paths, expected):
    lines = [BEGIN, ""]
    lines.append(
        f"Generated with madminer {madminer_version()}, numpy {np.__version__}, h5py {h5py.__version__} "
        f"(HDF5 {h5py.version.hdf5_version}), Python {sys.version.split()[0]}."
    )
    lines.append("")
    for p in paths:
        lines.append(f"### `{p.name}` ({p.stat().st_size} bytes)")
        lines.append("")
        lines.append("```")
        rows = dataset_listing(p)
        width = max(len(r[0]) for r in rows)
        for ds, shape, dtype in rows:
            lines.append(f"/{ds:<{width}}  shape={shape!s:<12} dtype={dtype}")
        lines.append("```")
        lines.append("")
    ev = expected.get("events_cHl3.h5")
    if ev is not None:
        names = [b["name"] for b in ev["benchmarks"]]
        lines.append(
            "Cross sections of `events_cHl3.h5` (column sums of `samples/weights`, pb, after the cut):"
        )
        lines.append("")
        for n, s, e in zip(names, ev["weights_sum_raw"], ev["benchmark_xsec_errors"], strict=True):
            lines.append(f"- `{n}`: {s:.6f} pb (+- {e:.6f} pb statistical)")
        for t, s, e in zip(ev["probe_thetas"], ev["xsecs"], ev["xsec_errors"], strict=True):
            lines.append(f"- morphed cHl3 = {t[0]}: {s:.6f} pb (+- {e:.6f})")
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def madminer_version():
    try:
        from importlib.metadata import version

        return version("madminer")
    except Exception:  # pragma: no cover
        return "unknown"


def update_readme(text):
    readme = HERE / "README.md"
    if not readme.exists():
        log.warning("README.md missing, writing listing only")
        readme.write_text(text + "\n")
        return
    content = readme.read_text()
    if BEGIN in content and END in content:
        head = content.split(BEGIN)[0]
        tail = content.split(END, 1)[1]
        content = head + text + tail
    else:
        content = content.rstrip("\n") + "\n\n" + text + "\n"
    readme.write_text(content)


# --------------------------------------------------------------------------------------


def main():
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    log.setLevel(logging.INFO)
    files = [
        ("setup_morphing_2d.h5", make_setup_morphing_2d),
        ("setup_manual_1d.h5", make_setup_manual_1d),
        ("setup_systematics.h5", make_setup_systematics),
        ("setup_finite_differences.h5", make_setup_finite_differences),
    ]
    paths = []
    for fname, fn in files:
        log.info("writing %s", fname)
        fn(HERE / fname)
        paths.append(HERE / fname)

    with tempfile.TemporaryDirectory(prefix="mm096_") as tmp:
        log.info("writing events_cHl3.h5 (LHE copied to %s)", tmp)
        make_events_cHl3(HERE / "events_cHl3.h5", Path(tmp))
    paths.append(HERE / "events_cHl3.h5")

    expected = OrderedDict()
    expected["_meta"] = OrderedDict(
        generator="tests/data/madminer096/make_files.py",
        command="/tmp/mmvenv/bin/python tests/data/madminer096/make_files.py",
        madminer=madminer_version(),
        numpy=np.__version__,
        h5py=h5py.__version__,
        hdf5=h5py.version.hdf5_version,
        seed=SEED,
        lhe_source=LHE_SOURCE.name,
        tolerance_hint="floats computed by madminer 0.9.6; compare with rtol=1e-10 (xsecs: rtol=1e-9)",
    )
    for p in paths:
        log.info("expected values for %s", p.name)
        expected[p.name] = expected_for(p)
        size = p.stat().st_size
        assert size < 300_000, f"{p.name} is {size} bytes"

    with open(HERE / "expected.json", "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")

    update_readme(listing_markdown(paths, expected))
    for p in paths:
        print(f"{p.name}: {p.stat().st_size} bytes")


if __name__ == "__main__":
    main()
