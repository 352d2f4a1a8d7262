"""DelphesReader on real Delphes output (``tests/data/delphes``, see its README).

The fixture: 100 MadGraph Drell-Yan events (``p p > e+ e-``, reweighted to mz95, mz100, aew130),
showered with Pythia 8, written as HepMC3 and run through Delphes 3.5 with the CMS card. The
Delphes events are the first 100 events of the LHE file, numbered 1 to 100.
"""

import gzip
import os
import shutil

import awkward as ak
import h5py
import numpy as np
import pytest
import uproot

from conftest import DATA, SHARED_DATA, stand_in_delphes, wh_miner
from motherlode.core import MadMiner
from motherlode.delphes import DelphesReader
from motherlode.delphes.delphes_reader import _lhe_positions, _LHEWeights
from motherlode.delphes.hepmc import hepmc_version, read_weight_names, weight_names_from_lines
from motherlode.errors import ExternalCommandError, InputError, SetupError
from motherlode.lhe import LHEReader
from motherlode.lhe.lhefile import iter_lhe_events

DELPHES = DATA / "delphes"
ROOT_FILE = DELPHES / "dy_rwgt_100ev_delphes_CMS.root"
HEPMC_FILE = DELPHES / "dy_rwgt_first3ev.hepmc3.gz"
LHE_100 = DELPHES / "mg5_3.5.7_pp_ee_rwgt_mz_first100ev.lhe.gz"
LHE_1000 = DATA / "lhe" / "mg5_3.5.7_pp_ee_rwgt_mz_1000ev.lhe.gz"
BENCHMARKS = {"sm": 91.1876, "mz95": 95.0, "mz100": 100.0}  # the setup of conftest.setup_file_dy


@pytest.fixture(scope="module")
def tree():
    """The fixture's tree, read independently of motherlode."""
    return uproot.open(ROOT_FILE)["Delphes"]


def _events(path):
    with h5py.File(path, "r") as handle:
        return handle["samples/observations"][()], handle["samples/weights"][()]


def _reader(setup_file_dy, weights="delphes", lhe=None, **kwargs):
    reader = DelphesReader(setup_file_dy, progress=False, **kwargs)
    reader.add_sample(
        HEPMC_FILE if weights == "delphes" else None,
        "sm",
        delphes_filename=ROOT_FILE,
        lhe_filename=lhe,
        weights=weights,
    )
    return reader


def _analyse(reader, path, **kwargs):
    reader.analyse_delphes_samples(**kwargs)
    reader.save(path, shuffle=False)
    return _events(path)


# ---------------------------------------------------------------------------- HepMC weight names


def test_weight_names_from_hepmc3_and_hepmc2():
    assert read_weight_names(HEPMC_FILE) == ["Weight", "mz95", "mz100", "aew130"]
    assert hepmc_version(HEPMC_FILE) == 3
    hepmc2 = ["HepMC::Version 2.06.09", "E 0 -1 0", 'N 3 "0" "id=sm_MERGING=0.000" "id=b1"', "E 1 -1 0"]
    assert weight_names_from_lines(hepmc2, "f.hepmc") == ["0", "sm", "b1"]
    # no names: None; a broken N line: an error with the line number
    assert weight_names_from_lines(["HepMC::Version 3.02.05", "E 1 1 3", "W 1.0"], "f") is None
    with pytest.raises(InputError, match=r"f.hepmc, line 3: .*announces 3 weight names and holds 2"):
        weight_names_from_lines(["HepMC::Version 2.06.09", "E 0", 'N 3 "a" "b"'], "f.hepmc")


def test_hepmc_version_errors(tmp_path):
    path = tmp_path / "x.hepmc"
    path.write_text("not hepmc\n")
    with pytest.raises(InputError, match="not a HepMC ASCII file"):
        hepmc_version(path)
    path.write_text("HepMC::Version 7.0\n")
    with pytest.raises(InputError, match="line 1: unknown HepMC version"):
        hepmc_version(path)


# ---------------------------------------------------------------------------- cross sections


def test_cross_sections_equal_the_lhe_reader_on_the_same_events(setup_file_dy, tmp_path):
    """No cuts: the three routes give the LHE reader's cross sections of the 100 events."""
    lhe_reader = LHEReader(setup_file_dy, progress=False)
    lhe_reader.add_sample(LHE_100, "sm")
    lhe_reader.add_observable("n_leptons", "len(l)")
    lhe_reader.analyse_samples()
    lhe_reader.save(tmp_path / "lhe.h5", shuffle=False)
    _, lhe_weights = _events(tmp_path / "lhe.h5")
    expected = lhe_weights.sum(axis=0)
    # independently: mean of the LHE weights (event_norm = average)
    chunks = list(iter_lhe_events(LHE_100))
    mean = [np.mean(np.concatenate([c.weight for c in chunks]))] + [
        np.mean(np.concatenate([c.weights[name] for c in chunks])) for name in ("mz95", "mz100")
    ]
    np.testing.assert_allclose(expected, mean, rtol=1e-12)
    for weights, lhe, rtol in (("lhe", LHE_100, 1e-12), ("delphes", None, 1e-6)):
        reader = _reader(setup_file_dy, weights, lhe)
        reader.add_observable("n_leptons", "len(l)")
        _, delphes_weights = _analyse(reader, tmp_path / f"{weights}.h5")
        assert len(delphes_weights) == 100
        np.testing.assert_allclose(delphes_weights.sum(axis=0), expected, rtol=rtol)
        np.testing.assert_allclose(delphes_weights, lhe_weights, rtol=rtol)  # event by event


def test_a_delphes_file_read_in_parts_gives_the_same_events(setup_file_dy, tmp_path):
    """Weights from Delphes: each chunk is a part of its own (one Dask task each); the events do not
    depend on how the file is cut. Weights from the LHE file: one part (both files stream together)."""
    outputs = {}
    for chunk_size in (100_000, 16):
        reader = _reader(setup_file_dy, chunk_size=chunk_size)
        reader.add_default_observables(n_jets_max=1)
        reader.add_cut("n_ls >= 1")
        assert reader._open_sample(reader.samples[0]).n_parts == (1 if chunk_size > 100 else 7)
        outputs[chunk_size] = _analyse(reader, tmp_path / f"events_{chunk_size}.h5")
    (x_whole, w_whole), (x_parts, w_parts) = outputs.values()
    assert 50 < len(x_whole) < 100
    np.testing.assert_array_equal(x_parts, x_whole)
    np.testing.assert_allclose(w_parts, w_whole, rtol=1e-12)  # sums of 7 partial sums: rounding only
    lhe_reader = _reader(setup_file_dy, "lhe", LHE_100, chunk_size=16)
    assert lhe_reader._open_sample(lhe_reader.samples[0]).n_parts == 1


def test_selection_keeps_the_lhe_weights_of_the_selected_events(setup_file_dy, tmp_path, tree):
    """A detector-level cut keeps exactly the LHE weights of the events (by number) that pass it."""
    reader = _reader(setup_file_dy, "lhe", LHE_1000, chunk_size=7)  # chunks straddle both files' blocks
    reader.add_observable("m_ll", "(l[0] + l[1]).m", required=True)
    reader.add_cut("m_ll > 60")
    observations, weights = _analyse(reader, tmp_path / "events.h5")
    electrons = tree.arrays(["Electron.PT", "Electron.Eta", "Electron.Phi"], library="ak")
    muons = tree.arrays(["Muon.PT"], library="ak")
    two = (ak.num(electrons["Electron.PT"]) == 2) & (ak.num(muons["Muon.PT"]) == 0)
    pt, eta, phi = (np.asarray(electrons[f"Electron.{q}"][two]) for q in ("PT", "Eta", "Phi"))
    m2 = 2 * pt[:, 0] * pt[:, 1] * (np.cosh(eta[:, 0] - eta[:, 1]) - np.cos(phi[:, 0] - phi[:, 1]))
    numbers = np.asarray(ak.flatten(tree["Event.Number"].array()))[np.asarray(two)][np.sqrt(m2) > 60]
    lhe = list(iter_lhe_events(LHE_1000))
    nominal = np.concatenate([c.weight for c in lhe])
    mz95 = np.concatenate([c.weights["mz95"] for c in lhe])
    assert 0 < len(numbers) == len(weights) < 100
    # normalised over all 1000 LHE events (event_norm = average)
    np.testing.assert_allclose(weights[:, 0], nominal[numbers - 1] / 1000, rtol=1e-12)
    np.testing.assert_allclose(weights[:, 1], mz95[numbers - 1] / 1000, rtol=1e-12)
    np.testing.assert_allclose(observations[:, 0], np.sqrt(m2)[np.sqrt(m2) > 60], rtol=1e-5)


# ---------------------------------------------------------------------------- objects


def _sorted_by_pt(arrays, prefix, fields):
    order = ak.argsort(arrays[f"{prefix}.PT"], ascending=False)
    return {name: arrays[f"{prefix}.{name}"][order] for name in fields}


def _leading(values, i, default=0.0):
    padded = ak.fill_none(ak.pad_none(values, i + 1, axis=1), default)
    return np.asarray(padded[:, i], dtype=float)


def test_objects_equal_an_independent_uproot_read(setup_file_dy, tmp_path, tree):
    reader = _reader(setup_file_dy)
    definitions = {
        "n_e": "len(e)", "n_mu": "len(mu)", "n_a": "len(a)", "n_j": "len(j)",
        "pt_j1": "j[0].pt", "eta_j1": "j[0].eta", "m_j1": "j[0].m", "pt_j2": "j[1].pt",
        "b_j1": "float(j[0].b_tag)", "tau_j1": "float(j[0].tau_tag)",
        "pt_e1": "e[0].pt", "charge_e1": "e[0].charge", "pdgid_e1": "e[0].pdg_id", "pt_e2": "e[1].pt",
        "pt_a1": "a[0].pt", "met": "met.pt", "met_phi": "met.phi", "pt_l1": "l[0].pt",
    }  # fmt: skip
    for name, definition in definitions.items():
        reader.add_observable(name, definition, default=0.0)
    observations, _ = _analyse(reader, tmp_path / "events.h5")
    column = dict(zip(definitions, observations.T, strict=True))
    arrays = tree.arrays(filter_name=["Jet.*", "Electron.*", "Muon.*", "Photon.*", "MissingET.*"])
    jets = _sorted_by_pt(arrays, "Jet", ("PT", "Eta", "Mass", "BTag", "TauTag"))
    electrons = _sorted_by_pt(arrays, "Electron", ("PT", "Charge"))
    photons = _sorted_by_pt(arrays, "Photon", ("PT",))
    np.testing.assert_array_equal(column["n_e"], ak.num(arrays["Electron.PT"]))
    np.testing.assert_array_equal(column["n_mu"], ak.num(arrays["Muon.PT"]))
    np.testing.assert_array_equal(column["n_a"], ak.num(arrays["Photon.PT"]))
    np.testing.assert_array_equal(column["n_j"], ak.num(arrays["Jet.PT"]))
    assert column["n_j"].sum() > 50 and column["n_e"].sum() > 100  # the checks below are not vacuous
    np.testing.assert_allclose(column["pt_j1"], _leading(jets["PT"], 0), rtol=1e-6)
    np.testing.assert_allclose(column["pt_j2"], _leading(jets["PT"], 1), rtol=1e-6)
    np.testing.assert_allclose(column["eta_j1"], _leading(jets["Eta"], 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(column["m_j1"], _leading(jets["Mass"], 0), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(column["b_j1"], _leading(jets["BTag"], 0) != 0)
    np.testing.assert_array_equal(
        column["tau_j1"], (_leading(jets["TauTag"], 0) != 0) & (column["b_j1"] == 0)
    )
    np.testing.assert_allclose(column["pt_e1"], _leading(electrons["PT"], 0), rtol=1e-6)
    np.testing.assert_allclose(column["pt_e2"], _leading(electrons["PT"], 1), rtol=1e-6)
    np.testing.assert_array_equal(column["charge_e1"], _leading(electrons["Charge"], 0))
    has_e = column["n_e"] > 0
    np.testing.assert_array_equal(column["pdgid_e1"][has_e], -11 * column["charge_e1"][has_e])
    np.testing.assert_allclose(column["pt_a1"], _leading(photons["PT"], 0), rtol=1e-6)
    np.testing.assert_allclose(column["met"], np.asarray(ak.flatten(arrays["MissingET.MET"])), rtol=1e-6)
    np.testing.assert_allclose(column["met_phi"], np.asarray(ak.flatten(arrays["MissingET.Phi"])), atol=1e-6)
    np.testing.assert_allclose(column["pt_l1"], np.maximum(column["pt_e1"], _leading(arrays["Muon.PT"], 0)))


def test_acceptance_cuts_remove_objects_before_the_analysis(setup_file_dy, tmp_path, tree):
    reader = _reader(setup_file_dy)
    reader.set_acceptance(pt_min_j=30.0, eta_max_j=2.4, pt_min_e=25.0, eta_max_a=1.0)
    reader.add_observable("n_j", "len(j)")
    reader.add_observable("n_e", "len(e)")
    reader.add_observable("n_a", "len(a)")
    observations, _ = _analyse(reader, tmp_path / "events.h5")
    arrays = tree.arrays(filter_name=["Jet.PT", "Jet.Eta", "Electron.PT", "Photon.Eta"])
    n_j = ak.sum((arrays["Jet.PT"] >= 30.0) & (abs(arrays["Jet.Eta"]) <= 2.4), axis=1)
    n_e = ak.sum(arrays["Electron.PT"] >= 25.0, axis=1)
    n_a = ak.sum(abs(arrays["Photon.Eta"]) <= 1.0, axis=1)
    np.testing.assert_array_equal(observations, np.stack([n_j, n_e, n_a], axis=1))
    assert ak.sum(ak.num(arrays["Jet.PT"])) > np.sum(n_j)  # the cut removed jets
    with pytest.raises(InputError, match="pt_min_j must be a non-negative number"):
        reader.set_acceptance(pt_min_j=-1.0)


def test_generator_truth(setup_file_dy, tmp_path, tree):
    reader = _reader(setup_file_dy)
    reader.add_observable("n_e", "len(e)")
    reader.add_observable("pt_e1", "e[0].pt", default=0.0)
    reader.add_observable("n_j", "len(j)")
    reader.add_observable("met", "met.pt")
    observations, _ = _analyse(reader, tmp_path / "events.h5", generator_truth=True)
    arrays = tree.arrays(
        filter_name=["Particle.PID", "Particle.Status", "Particle.PT", "GenJet.PT", "GenMissingET.MET"]
    )
    electron = (abs(arrays["Particle.PID"]) == 11) & (arrays["Particle.Status"] == 1)
    np.testing.assert_array_equal(observations[:, 0], ak.sum(electron, axis=1))
    pt = ak.sort(arrays["Particle.PT"][electron], ascending=False)
    np.testing.assert_allclose(observations[:, 1], _leading(pt, 0), rtol=1e-5)
    np.testing.assert_array_equal(observations[:, 2], ak.num(arrays["GenJet.PT"]))
    np.testing.assert_allclose(
        observations[:, 3], np.asarray(ak.flatten(arrays["GenMissingET.MET"])), rtol=1e-5
    )


def test_observable_functions_take_madminers_delphes_signature(setup_file_dy, tmp_path):
    def per_event(leptons, photons, jets, met):
        if len(leptons) < 2:
            raise RuntimeError("two leptons needed")
        return (leptons[0] + leptons[1]).m

    def vectorized(leptons, photons, jets, met):
        return (leptons[0] + leptons[1]).m

    reader = _reader(setup_file_dy)
    reader.add_observable_from_function("m_slow", per_event)
    reader.add_observable_from_function("m_fast", vectorized, vectorized=True)
    reader.add_observable("m_expr", "(l[0] + l[1]).m")
    observations, _ = _analyse(reader, tmp_path / "events.h5")
    parsed = np.isfinite(observations[:, 2])
    assert 30 < parsed.sum() < 100
    np.testing.assert_allclose(observations[parsed, 0], observations[parsed, 2], rtol=1e-10)
    np.testing.assert_allclose(observations[:, 1], observations[:, 2], rtol=1e-10)


# ---------------------------------------------------------------------------- matching LHE events


def test_lhe_weights_follow_event_numbers_with_gaps():
    """Events vetoed after the LHE file (merging) leave gaps in the numbers: the weights follow."""
    chunks = list(iter_lhe_events(LHE_1000))
    nominal = np.concatenate([c.weight for c in chunks])
    mz100 = np.concatenate([c.weights["mz100"] for c in chunks])
    numbers = np.array([1, 2, 5, 9, 10, 11, 250, 251, 999])
    weights = _LHEWeights(LHE_1000, chunk_size=4)
    taken = []
    for part in np.split(numbers, [2, 3, 7]):  # Delphes chunks of 2, 1, 4, 2 events
        positions = _lhe_positions(part, 0 if not taken else int(taken[-1][-1]), 0, "test")
        taken.append(part)
        got_nominal, got_named = weights.take(positions, "test")
        np.testing.assert_array_equal(got_nominal, nominal[part - 1])
        np.testing.assert_array_equal(got_named["mz100"], mz100[part - 1])
    weights.finish()
    assert weights.n_read == 1000
    assert weights.nominal_sum == pytest.approx(nominal.sum(), rel=1e-12)
    with pytest.raises(InputError, match=r"entry 2 has number 5 after 7"):
        _lhe_positions(np.array([6, 7, 5]), 0, 0, "x.root")
    with pytest.raises(InputError, match="beyond the 1000 events"):
        _LHEWeights(LHE_1000, 100).take(np.array([1000]), "x.root")


def test_too_short_lhe_file_is_an_error(setup_file_dy, tmp_path):
    short = tmp_path / "first50.lhe"
    lines, n = [], 0
    with gzip.open(LHE_100, "rt") as stream:
        for line in stream:
            n += line.startswith("<event")
            if n > 50:
                break
            lines.append(line)
    short.write_text("".join(lines) + "</LesHouchesEvents>\n")
    reader = _reader(setup_file_dy, "lhe", short)
    reader.add_observable("n", "len(j)")
    with pytest.raises(InputError, match=r"Delphes event number 51 is beyond the 50 events of .*first50.lhe"):
        reader.analyse_delphes_samples()
    with pytest.raises(SetupError, match="call analyse_delphes_samples first"):
        reader.save(tmp_path / "events.h5")
    assert not (tmp_path / "events.h5").exists()


# ---------------------------------------------------------------------------- errors


def test_sample_errors(setup_file_dy, tmp_path):
    reader = DelphesReader(setup_file_dy)
    with pytest.raises(InputError, match="needs a HepMC file to run Delphes on, or a Delphes ROOT file"):
        reader.add_sample(None, "sm")
    with pytest.raises(InputError, match=r"HepMC file .*missing.hepmc does not exist"):
        reader.add_sample(tmp_path / "missing.hepmc", "sm")
    with pytest.raises(InputError, match="weights must be 'lhe' or 'delphes'"):
        reader.add_sample(HEPMC_FILE, "sm", delphes_filename=ROOT_FILE, weights="root")
    with pytest.raises(InputError, match="give lhe_filename"):
        reader.add_sample(HEPMC_FILE, "sm", delphes_filename=ROOT_FILE)  # MadMiner's default weights="lhe"
    with pytest.raises(InputError, match="names of the Delphes weights from the HepMC file"):
        reader.add_sample(None, "sm", delphes_filename=ROOT_FILE, weights="delphes")
    with pytest.raises(SetupError, match="not a benchmark"):
        reader.add_sample(HEPMC_FILE, "b7", delphes_filename=ROOT_FILE, weights="delphes")
    with pytest.raises(SetupError, match="call add_sample first"):
        reader.analyse_delphes_samples()
    reader.add_sample(HEPMC_FILE, "sm", weights="delphes")  # no Delphes file yet
    with pytest.raises(SetupError, match="call run_delphes first"):
        reader.analyse_delphes_samples()


def test_files_that_are_not_delphes_output(setup_file_dy, tmp_path):
    reader = DelphesReader(setup_file_dy)
    reader.add_sample(HEPMC_FILE, "sm", delphes_filename=LHE_100, weights="delphes")
    with pytest.raises(InputError, match=r"cannot open .*first100ev.lhe.gz as a ROOT file"):
        reader.analyse_delphes_samples()
    other = tmp_path / "other.root"
    with uproot.recreate(other) as handle:
        handle["Events"] = {"x": np.arange(3.0)}
    reader = DelphesReader(setup_file_dy)
    reader.add_sample(HEPMC_FILE, "sm", delphes_filename=other, weights="delphes")
    with pytest.raises(InputError, match=r"other.root has no 'Delphes' tree"):
        reader.analyse_delphes_samples()
    nameless = tmp_path / "nameless.hepmc"
    nameless.write_text("HepMC::Version 3.02.05\nHepMC::Asciiv3-START_EVENT_LISTING\nE 1 1 3\n")
    reader = DelphesReader(setup_file_dy)
    reader.add_sample(nameless, "sm", delphes_filename=ROOT_FILE, weights="delphes")
    with pytest.raises(InputError, match="names no event weights"):
        reader.analyse_delphes_samples()


def test_missing_benchmark_weight_is_named(tmp_path):
    miner = MadMiner()
    miner.add_parameter("mass", 23, "mz", morphing_max_power=0, parameter_range=(90.0, 100.0))
    miner.add_benchmark({"mz": 91.0}, "sm")
    miner.add_benchmark({"mz": 97.0}, "mz97")
    miner.save(tmp_path / "setup.h5")
    reader = DelphesReader(tmp_path / "setup.h5")
    reader.add_sample(HEPMC_FILE, "sm", delphes_filename=ROOT_FILE, weights="delphes")
    reader.add_observable("n", "len(j)")
    with pytest.raises(SetupError, match=r"no weight for benchmark 'mz97'.*Weight, mz95, mz100, aew130"):
        reader.analyse_delphes_samples()


# ---------------------------------------------------------------------------- running Delphes


def test_run_delphes_with_a_stand_in(setup_file_dy, tmp_path):
    delphes = stand_in_delphes(tmp_path / "delphes-install")
    card = tmp_path / "delphes_card_CMS.tcl"
    card.write_text("# card\n")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    hepmc = inputs / "run_01.hepmc3.gz"
    shutil.copy(HEPMC_FILE, hepmc)
    reader = DelphesReader(setup_file_dy, progress=False)
    reader.add_sample(hepmc, "sm", weights="delphes")
    reader.run_delphes(
        delphes, card, initial_command="export MOTHERLODE_TEST_INITIAL=yes", output_directory=tmp_path / "out"
    )
    output = tmp_path / "out" / "run_01_delphes.root"
    assert output.is_file() and "read 3 events" in (tmp_path / "out" / "run_01_delphes.log").read_text()
    assert sorted(os.listdir(inputs)) == ["run_01.hepmc3.gz"]  # nothing written next to the input
    reader.add_observable("n", "len(j)")
    reader.analyse_delphes_samples(delete_delphes_files=True)
    reader.save(tmp_path / "events.h5")
    assert len(_events(tmp_path / "events.h5")[0]) == 100
    assert not output.exists()  # made by run_delphes, so deleted
    assert ROOT_FILE.exists()


def test_failing_delphes_leaves_no_output(setup_file_dy, tmp_path):
    delphes = stand_in_delphes(tmp_path / "delphes-install", fail=True)
    card = tmp_path / "card.tcl"
    card.write_text("# card\n")
    reader = DelphesReader(setup_file_dy)
    reader.add_sample(HEPMC_FILE, "sm", weights="delphes")
    with pytest.raises(
        ExternalCommandError, match=r"(?s)Delphes on .* failed \(exit status 1\).*Delphes crashed"
    ):
        reader.run_delphes(
            delphes,
            card,
            initial_command="export MOTHERLODE_TEST_INITIAL=yes",
            output_directory=tmp_path / "out",
        )
    assert sorted(os.listdir(tmp_path / "out")) == ["dy_rwgt_first3ev_delphes.log"]
    with pytest.raises(SetupError, match="no Delphes executable for HepMC3 files"):
        reader.run_delphes(tmp_path, card, output_directory=tmp_path / "out")


# ---------------------------------------------------------------------------- MadMiner reads our file


@pytest.mark.madminer
def test_madminer_reads_our_delphes_events(setup_file_dy, tmp_path, probe_with_madminer):
    reader = _reader(setup_file_dy)
    reader.add_default_observables(n_leptons_max=2, n_photons_max=1, n_jets_max=2)
    reader.add_cut("len(e) >= 2")
    reader.analyse_delphes_samples()
    reader.save(tmp_path / "events.h5")
    _, weights = _events(tmp_path / "events.h5")
    report = probe_with_madminer(tmp_path / "events.h5")
    assert "error" not in report, report.get("error")
    assert report["n_samples"] == len(weights) > 0
    assert [b["name"] for b in report["benchmarks"]] == list(BENCHMARKS)
    np.testing.assert_allclose(report["weights_sum"], weights.sum(axis=0), rtol=1e-12)


# ---------------------------------------------------------------------------- the W h subset (shared data)

WH_DATA = SHARED_DATA / "wh_smeft"
WH_DELPHES = WH_DATA / "wh_smeft_sig_sm_first1000_delphes_CMS.root"


@pytest.mark.skipif(not WH_DELPHES.exists(), reason=f"{WH_DELPHES} is not on this machine")
def test_wh_subset_against_its_lhe_file_and_readme(tmp_path):
    """The shared W h Delphes file (first 1000 sm events, CMS card): the three routes give the same
    cross sections at all six benchmarks, and the objects the counts its README lists."""
    lines, n = [], 0
    with gzip.open(WH_DATA / "wh_smeft_sig_sm_20k.lhe.gz", "rt") as stream:
        for line in stream:
            n += line.startswith("<event")
            if n > 1000:
                break
            lines.append(line)
    lhe = tmp_path / "first1000.lhe"
    lhe.write_text("".join(lines) + "</LesHouchesEvents>\n")
    miner = wh_miner()
    miner.save(tmp_path / "setup.h5")
    reader = LHEReader(tmp_path / "setup.h5", progress=False)
    reader.add_sample(lhe, "sm")
    reader.add_observable("n", "len(l)")
    reader.analyse_samples()
    reader.save(tmp_path / "lhe.h5")
    expected = _events(tmp_path / "lhe.h5")[1].sum(axis=0)
    counts = {}
    for weights, lhe_file, rtol in (("lhe", lhe, 1e-12), ("delphes", None, 1e-6)):
        reader = DelphesReader(tmp_path / "setup.h5", progress=False)
        reader.add_sample(
            WH_DATA / "wh_smeft_sig_sm_first1000_py8.hepmc3.gz" if weights == "delphes" else None,
            "sm",
            delphes_filename=WH_DELPHES,
            lhe_filename=lhe_file,
            weights=weights,
        )
        reader.add_observable("n_j_b_tagged_leading", "float(j[0].b_tag)", default=0.0)
        reader.add_observable_from_function(
            "n_b_all", lambda leptons, photons, jets, met: ak.sum(jets.b_tag, axis=1), vectorized=True
        )
        reader.add_observable("n_l", "len(l)")
        reader.add_observable("n_j", "len(j)")
        reader.add_observable("met", "met.pt")
        observations, delphes_weights = _analyse(reader, tmp_path / f"{weights}.h5")
        np.testing.assert_allclose(delphes_weights.sum(axis=0), expected, rtol=rtol)
        counts = {
            "b": np.bincount(observations[:, 1].astype(int)).tolist(),
            "l": np.bincount(observations[:, 2].astype(int)).tolist(),
            "mean_j": observations[:, 3].mean(),
            "mean_met": observations[:, 4].mean(),
        }
    # the README of the shared data: b-tagged jets per event 0: 171, 1: 493, 2: 320, 3: 15, 4: 1;
    # isolated e + mu per event 0: 248, 1: 751, 2: 1; <N jets> = 2.62; <MET> = 54 GeV
    assert counts["b"] == [171, 493, 320, 15, 1]
    assert counts["l"] == [248, 751, 1]
    assert counts["mean_j"] == pytest.approx(2.62, abs=0.005)
    assert counts["mean_met"] == pytest.approx(54.0, abs=0.5)


def test_two_samples_and_a_systematic(tmp_path):
    """Signal and background from the same file, a norm systematic rescaled to the reference
    benchmark, with weights from the Delphes file: the shared reader base at work."""
    miner = MadMiner()
    miner.add_parameter("mass", 23, "mz", morphing_max_power=0, parameter_range=(90.0, 100.0))
    for name, value in BENCHMARKS.items():
        miner.add_benchmark({"mz": value}, name)
    miner.add_systematics("norm", "lumi", norm_variation=1.2)
    miner.save(tmp_path / "setup.h5")
    reader = DelphesReader(tmp_path / "setup.h5", progress=False)
    reader.add_sample(
        HEPMC_FILE,
        "sm",
        delphes_filename=ROOT_FILE,
        lhe_filename=LHE_100,
        weights="delphes",
        systematics=["lumi"],
    )
    reader.add_sample(
        None, None, is_background=True, delphes_filename=ROOT_FILE, lhe_filename=LHE_100, k_factor=2.0
    )
    reader.add_observable("n_j", "len(j)")
    reader.analyse_delphes_samples(reference_benchmark="mz95")
    reader.save(tmp_path / "events.h5", shuffle=False)
    _, weights = _events(tmp_path / "events.h5")
    with h5py.File(tmp_path / "events.h5", "r") as handle:
        names = [n.decode() for n in handle["benchmarks/names"][()]]
        sampling = handle["samples/sampling_benchmarks"][()]
        signal_events = handle["sample_summary/signal_events"][()].tolist()
    assert names == ["sm", "mz95", "mz100", "lumi_nuisance_param_0_benchmark_0"]
    signal, background = weights[:100], weights[100:]
    assert sampling[:100].tolist() == [0] * 100 and sampling[100:].tolist() == [-1] * 100
    assert signal_events == [100, 0, 0]
    # the norm variation at the reference point: 1.2 w(mz95) for the signal
    np.testing.assert_allclose(signal[:, 3], 1.2 * signal[:, 1], rtol=1e-12)
    # the background (weights from the LHE file; the signal's are Delphes' float32 copies): twice the
    # nominal weight at every benchmark, and without the systematic its reference weight
    np.testing.assert_allclose(background[:, :3], np.repeat(2.0 * signal[:, :1], 3, axis=1), rtol=1e-6)
    np.testing.assert_allclose(background[:, 3], background[:, 1], rtol=1e-12)
