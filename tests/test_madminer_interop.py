"""Files move both ways between MadMiner 0.9.6 and motherlode.

The first half reads files that MadMiner 0.9.6 wrote (``tests/data/madminer096``, made by
``make_files.py`` there) and compares with what MadMiner itself computed from them. The second
half writes files with motherlode and has MadMiner 0.9.6 read them (in its own environment, via
``tests/interop/madminer_probe.py``); those tests skip when MadMiner is not installed.
"""

import numpy as np
import pytest

from conftest import MADMINER_FILES
from motherlode import MadMiner, fileformat
from motherlode.morphing import PhysicsMorpher

SETUP_FILES = [
    "setup_morphing_2d.h5",
    "setup_manual_1d.h5",
    "setup_systematics.h5",
    "setup_finite_differences.h5",
    "events_cHl3.h5",
]


# ---------------------------------------------------------------------------- MadMiner -> motherlode


@pytest.mark.parametrize("name", SETUP_FILES)
def test_reads_madminer_setup(name, madminer_expected):
    expected = madminer_expected[name]
    setup = fileformat.read_setup(MADMINER_FILES / name)
    assert [p.name for p in setup.parameters.values()] == [p["name"] for p in expected["parameters"]]
    for parameter, reference in zip(setup.parameters.values(), expected["parameters"], strict=True):
        assert parameter.lha_block == reference["lha_block"]
        assert parameter.lha_id == reference["lha_id"]
        assert parameter.max_power == reference["max_power"]
        assert parameter.val_range == tuple(reference["val_range"])
        # MadMiner stores "_" for "no transform"
        assert parameter.transform == (None if reference["transform"] == "_" else reference["transform"])
    assert list(setup.benchmarks) == [b["name"] for b in expected["benchmarks"]]
    for benchmark, reference in zip(setup.benchmarks.values(), expected["benchmarks"], strict=True):
        assert list(benchmark.values.values()) == reference["values"]
        assert benchmark.is_nuisance == reference["is_nuisance"]
        assert benchmark.is_reference == reference["is_reference"]
    if expected["morphing"] is None:
        assert not setup.has_morphing
    else:
        np.testing.assert_array_equal(setup.morphing_components, expected["morphing"]["components"])
        np.testing.assert_array_equal(setup.morphing_matrix, expected["morphing"]["morphing_matrix"])
    assert [(s.name, s.type.value, str(s.value), s.scale.value) for s in setup.systematics.values()] == [
        (s["name"], s["type"], s["value"], s["scale"]) for s in expected["systematics"]
    ]
    assert {b: fd.shift_names for b, fd in setup.finite_differences.items()} == expected["finite_differences"]
    assert setup.finite_difference_epsilon == expected["finite_differences_epsilon"]


@pytest.mark.parametrize("name", ["setup_morphing_2d.h5", "setup_systematics.h5", "events_cHl3.h5"])
def test_morphing_of_madminer_files_matches_madminer(name, madminer_expected):
    expected = madminer_expected[name]
    miner = MadMiner()
    miner.load(MADMINER_FILES / name)
    thetas = np.array(expected["probe_thetas"], dtype=float)
    np.testing.assert_allclose(
        miner.morpher.calculate_morphing_weights(thetas), expected["morphing_weights"], rtol=1e-12, atol=1e-14
    )
    np.testing.assert_allclose(
        miner.morpher.calculate_morphing_weight_gradient(thetas),
        expected["morphing_weight_gradients"],
        rtol=1e-12,
        atol=1e-14,
    )
    # our own morphing matrix from the same basis agrees with the one MadMiner stored
    fresh = PhysicsMorpher(parameters_from_madminer=miner.parameters)
    fresh.set_components(miner.morpher.components)
    fresh.set_basis(basis_numpy=miner.morpher.basis)
    np.testing.assert_allclose(fresh.morphing_matrix, miner.morpher.morphing_matrix, rtol=1e-9, atol=1e-12)


def test_reads_madminer_events(madminer_expected):
    expected = madminer_expected["events_cHl3.h5"]
    path = MADMINER_FILES / "events_cHl3.h5"
    assert fileformat.read_observables(path) == dict(
        zip(expected["observables"]["names"], expected["observables"]["definitions"], strict=True)
    )
    assert fileformat.n_samples(path) == expected["n_samples"] == 798
    weights = np.concatenate([w for _, w, _ in fileformat.iter_samples(path, batch_size=100)])
    np.testing.assert_allclose(weights.sum(axis=0), expected["weights_sum_raw"], rtol=1e-12)
    # cross sections at theta from our morphing, against MadMiner's DataAnalyzer.xsecs
    miner = MadMiner()
    miner.load(path)
    xsecs = miner.morpher.calculate_morphing_weights(np.array(expected["probe_thetas"])) @ weights.sum(axis=0)
    np.testing.assert_allclose(xsecs, expected["xsecs"], rtol=1e-12)
    summary = fileformat.read_sample_summary(path)
    assert summary.signal_events.tolist() == expected["sample_summary"]["signal_events"]
    assert summary.background_events == expected["sample_summary"]["background_events"]


def test_madminer_files_load_into_madminer_class(madminer_expected):
    miner = MadMiner()
    miner.load(MADMINER_FILES / "setup_morphing_2d.h5")
    assert list(miner.benchmarks) == madminer_expected["setup_morphing_2d.h5"]["madminer_load"]["benchmarks"]
    assert float(miner.param_card_value("CWL2", 2.0)) == pytest.approx(33.04)
    miner.load(MADMINER_FILES / "setup_manual_1d.h5")
    assert miner.morpher is None
    assert miner.param_card_value("parameter_0", 0.25) == 0.25  # MadMiner's "_" is the identity


# ---------------------------------------------------------------------------- motherlode -> MadMiner


def two_parameter_miner(**morphing) -> MadMiner:
    miner = MadMiner()
    miner.add_parameter("dim6", 2, "CWL2", param_card_transform="16.52*theta", parameter_range=(-20.0, 20.0))
    miner.add_parameter("dim6", 5, "CPWL2", param_card_transform="16.52*theta", parameter_range=(-20.0, 20.0))
    miner.add_benchmark({"CWL2": 0.0, "CPWL2": 0.0}, "sm")
    miner.add_benchmark({"CPWL2": 0.1, "CWL2": 15.2}, "w")  # dict order differs from parameter order
    miner.set_morphing(max_overall_power=2, random_state=3, **morphing)
    return miner


def assert_madminer_sees(report: dict, miner: MadMiner) -> None:
    assert "error" not in report, report.get("error")
    assert [p["name"] for p in report["parameters"]] == list(miner.parameters)
    for reported, parameter in zip(report["parameters"], miner.parameters.values(), strict=True):
        assert (reported["lha_block"], reported["lha_id"]) == (parameter.lha_block, parameter.lha_id)
        assert reported["val_range"] == list(parameter.val_range)
        assert reported["transform"] == (parameter.transform or "theta")
    assert [b["name"] for b in report["benchmarks"]] == list(miner.benchmarks)
    for reported, benchmark in zip(report["benchmarks"], miner.benchmarks.values(), strict=True):
        assert reported["values"] == [benchmark.values[p] for p in miner.parameters]
    assert report["madminer_load"]["morpher_built"] == (miner.morpher is not None)


@pytest.mark.madminer
@pytest.mark.parametrize("n_bases", [1, 2])
def test_madminer_reads_our_morphing_setup(tmp_path, probe_with_madminer, n_bases):
    miner = two_parameter_miner(n_bases=n_bases)
    miner.add_systematics("scale", "scale_mu", scale="mu")
    miner.save(tmp_path / "setup.h5")
    thetas = [[0.5, -0.3], [10.0, -5.0], [-20.0, 20.0]]
    report = probe_with_madminer(tmp_path / "setup.h5", thetas)
    assert_madminer_sees(report, miner)
    assert len(report["madminer_load"]["benchmarks"]) == len(miner.benchmarks) == 6 * n_bases
    np.testing.assert_allclose(
        report["morphing_weights"], miner.morpher.calculate_morphing_weights(np.array(thetas))
    )
    np.testing.assert_allclose(
        report["morphing_weight_gradients"],
        miner.morpher.calculate_morphing_weight_gradient(np.array(thetas)),
    )
    assert report["systematics"] == [
        {"name": "scale_mu", "type": "scale", "value": "0.5,1.0,2.0", "scale": "mu"}
    ]


@pytest.mark.madminer
def test_madminer_reads_our_finite_differences(tmp_path, probe_with_madminer):
    miner = MadMiner()
    miner.add_parameter("dim6", 2, "a", parameter_range=(-1.0, 1.0))
    miner.add_parameter("dim6", 5, "b", parameter_range=(-1.0, 1.0))
    miner.add_benchmark({"a": 0.0, "b": 0.0}, "sm")
    miner.add_benchmark({"a": 1.5, "b": -2.0}, "bsm")
    miner.finite_differences(epsilon=0.02)
    miner.save(tmp_path / "setup.h5")
    report = probe_with_madminer(tmp_path / "setup.h5")
    assert_madminer_sees(report, miner)
    assert report["finite_differences"] == {
        "sm": {"a": "sm_plus_a", "b": "sm_plus_b"},
        "bsm": {"a": "bsm_plus_a", "b": "bsm_plus_b"},
    }
    assert report["finite_differences_epsilon"] == 0.02


@pytest.mark.madminer
def test_madminer_cannot_read_norm_or_pdf_systematics(tmp_path, probe_with_madminer):
    """MadMiner 0.9.6 can neither write nor read norm and pdf systematics (docs/differences.md)."""
    miner = two_parameter_miner()
    miner.add_systematics("norm", norm_variation=1.2)
    miner.save(tmp_path / "setup.h5")
    assert "Invalid systematic scale" in probe_with_madminer(tmp_path / "setup.h5")["error"]


@pytest.mark.madminer
def test_events_round_trip_madminer_to_motherlode_to_madminer(
    tmp_path, probe_with_madminer, madminer_expected
):
    """MadMiner's events file, rewritten by motherlode, gives MadMiner the same numbers."""
    source = MADMINER_FILES / "events_cHl3.h5"
    expected = madminer_expected["events_cHl3.h5"]
    setup = fileformat.read_setup(source)
    observables = fileformat.read_observables(source)
    summary = fileformat.read_sample_summary(source)
    with fileformat.atomic_h5(tmp_path / "events.h5") as handle:
        fileformat.write_setup(handle, setup)
        fileformat.write_observables(handle, list(observables), list(observables.values()))
        fileformat.create_sample_datasets(handle, len(observables), len(setup.benchmarks))
        for observations, weights, sampling in fileformat.iter_samples(source, batch_size=300):
            fileformat.append_samples(handle, observations, weights, sampling)
        fileformat.write_sample_summary(handle, summary.signal_events, summary.background_events)
    report = probe_with_madminer(tmp_path / "events.h5", expected["probe_thetas"])
    assert "error" not in report, report.get("error")
    assert report["n_samples"] == 798
    assert report["reference_benchmark"] == "orig"
    np.testing.assert_allclose(report["weights_sum"], expected["weights_sum"], rtol=1e-12)
    np.testing.assert_allclose(report["xsecs"], expected["xsecs"], rtol=1e-12)
    np.testing.assert_allclose(report["xsec_errors"], expected["xsec_errors"], rtol=1e-12)
    assert report["observables"] == expected["observables"]
