"""LHEReader on real MadGraph files: cross sections, observables, smearing, cuts, efficiencies,
systematics, several samples, and byte-level agreement with MadMiner 0.9.6's events file."""

from __future__ import annotations

import gzip
import json
import logging
import shutil

import h5py
import numpy as np
import pytest

from conftest import DATA, MADMINER_FILES
from motherlode import MadMiner
from motherlode.errors import ExpressionError, FileFormatError, InputError, SetupError
from motherlode.fileformat import read_observables, read_sample_summary, read_setup
from motherlode.lhe import LHEReader
from motherlode.lhe.lhefile import iter_lhe_events

LHE = DATA / "lhe"
MZ_FILE = LHE / "mg5_3.5.7_pp_ee_rwgt_mz_1000ev.lhe.gz"
CHL3_FILE = LHE / "mg5_3.5.7_smeftsim_pp_ee_rwgt_cHl3_1000ev.lhe.gz"
SYST_FILE = LHE / "pylhe-testfile-madgraph5-3.5.8-pp_to_jj.lhe.gz"


# ---------------------------------------------------------------------------- helpers


def _setup(path, benchmarks, systematics=()):
    """A one-parameter setup whose benchmarks are ``{name: value}``."""
    miner = MadMiner()
    miner.add_parameter("SMEFT", 22, parameter_name="x", morphing_max_power=2, parameter_range=(-2.0, 2.0))
    for name, value in benchmarks.items():
        miner.add_benchmark({"x": value}, name)
    for args, kwargs in systematics:
        miner.add_systematics(*args, **kwargs)
    miner.save(path)
    return path


@pytest.fixture
def mz_setup(tmp_path):
    return _setup(tmp_path / "setup.h5", {"sm": 0.0, "mz95": 0.5, "mz100": 1.0, "aew130": -1.0})


def _samples(path):
    with h5py.File(path, "r") as handle:
        return (
            handle["samples/observations"][()],
            handle["samples/weights"][()],
            handle["samples/sampling_benchmarks"][()],
        )


def _truth(path):
    """Per event: raw LHE weight, the electron and positron four-momenta (E, px, py, pz)."""
    chunks = list(iter_lhe_events(path))
    weight = np.concatenate([c.weight for c in chunks])
    named = {k: np.concatenate([c.weights[k] for c in chunks]) for k in chunks[0].weights}
    leptons = {}
    for pdgid in (11, -11):
        rows = []
        for c in chunks:
            pick = (c.pdgid == pdgid) & (c.status == 1)
            rows.append(np.stack([c.energy[pick], c.px[pick], c.py[pick], c.pz[pick]], axis=1))
        leptons[pdgid] = np.concatenate(rows)
    return weight, named, leptons


def _pt(p):
    return np.hypot(p[:, 1], p[:, 2])


def _mass(p):
    return np.sqrt(np.maximum(p[:, 0] ** 2 - p[:, 1] ** 2 - p[:, 2] ** 2 - p[:, 3] ** 2, 0.0))


# ---------------------------------------------------------------------------- cross sections and observables


def test_weights_give_madgraph_cross_sections(mz_setup, tmp_path):
    reader = LHEReader(mz_setup)
    reader.add_sample(MZ_FILE, sampled_from_benchmark="sm")
    reader.add_observable("pt_l1", "l[0].pt", required=True)
    reader.analyse_samples()
    reader.save(tmp_path / "events.h5", shuffle=False)
    _, weights, sampling = _samples(tmp_path / "events.h5")
    assert weights.shape == (1000, 4)
    assert np.all(sampling == 0)
    xsecs = weights.sum(axis=0)
    # MadGraph: integrated weight 842.89 pb; reweighting module 813.0 / 1152.6 / 843.0 pb
    np.testing.assert_allclose(xsecs[0], 842.89, rtol=1e-5)
    np.testing.assert_allclose(xsecs[1:], [813.0, 1152.6, 843.0], rtol=6e-5)
    summary = read_sample_summary(tmp_path / "events.h5")
    assert summary.signal_events.tolist() == [1000, 0, 0, 0] and summary.background_events == 0
    setup = read_setup(tmp_path / "events.h5")
    assert setup.reference_benchmark == "sm"


def test_observables_equal_hand_computation(mz_setup, tmp_path):
    _, _, leptons = _truth(MZ_FILE)
    electron, positron = leptons[11], leptons[-11]
    reader = LHEReader(mz_setup)
    reader.add_sample(MZ_FILE, sampled_from_benchmark="sm")
    reader.add_observable("pt_e", "e[0].pt")
    reader.add_observable("m_ll", "(l[0] + l[1]).m")
    reader.add_observable("charge_sum", "l[0].charge + l[1].charge")
    reader.add_observable("pt_lead", "l[0].pt")
    reader.add_observable("eta_visible", "visible.eta")
    reader.add_observable("e_visible", "visible.e", required=True)
    reader.add_observable("met_pt", "met.pt")
    reader.add_observable("n_jets", "len(j)")
    reader.add_observable("dphi", "abs(l[0].phi() - l[1].phi())")
    reader.analyse_samples()
    reader.save(tmp_path / "events.h5", shuffle=False)
    observations, _, _ = _samples(tmp_path / "events.h5")
    assert list(read_observables(tmp_path / "events.h5")) == list(reader.observables)
    # e[0] is the electron or the positron, whichever is harder: both are "e" (|pdgid| = 11)
    np.testing.assert_allclose(observations[:, 0], np.maximum(_pt(electron), _pt(positron)), rtol=1e-12)
    np.testing.assert_allclose(observations[:, 1], _mass(electron + positron), rtol=1e-9)
    np.testing.assert_array_equal(observations[:, 2], 0.0)
    np.testing.assert_allclose(observations[:, 3], observations[:, 0], rtol=0)
    total = electron + positron
    # at leading order the dilepton pT is zero (MadGraph writes balanced momenta): its eta is
    # infinite, so the observable is not parsed (NaN)
    with np.errstate(divide="ignore"):
        eta = np.arcsinh(total[:, 3] / _pt(total))
    assert np.sum(~np.isfinite(eta)) > 0
    np.testing.assert_allclose(observations[:, 4], np.where(np.isfinite(eta), eta, np.nan), rtol=1e-6)
    np.testing.assert_allclose(observations[:, 5], total[:, 0], rtol=1e-12)
    np.testing.assert_allclose(observations[:, 6], _pt(total), rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(observations[:, 7], 0.0)
    phi_e, phi_p = np.arctan2(electron[:, 2], electron[:, 1]), np.arctan2(positron[:, 2], positron[:, 1])
    np.testing.assert_allclose(observations[:, 8], np.abs(phi_e - phi_p), rtol=1e-12)


def test_identical_to_madminer_096_events_file(tmp_path):
    """Same setup, sample, observables and cut as tests/data/madminer096/events_cHl3.h5."""
    reference = MADMINER_FILES / "events_cHl3.h5"
    reader = LHEReader(reference)
    reader.add_sample(CHL3_FILE, sampled_from_benchmark="orig")
    reader.add_observable("pt_e1", "l[0].pt", required=True)
    reader.add_observable("m_ee", "(l[0] + l[1]).m", required=True)
    reader.add_cut("m_ee > 60.")
    reader.analyse_samples()
    reader.save(tmp_path / "events.h5", shuffle=False)
    ours = _samples(tmp_path / "events.h5")
    theirs = _samples(reference)
    assert ours[0].shape == theirs[0].shape == (798, 2)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-14)
    np.testing.assert_array_equal(ours[2], theirs[2])
    expected = json.loads((MADMINER_FILES / "expected.json").read_text())["events_cHl3.h5"]
    setup = read_setup(tmp_path / "events.h5")
    assert list(setup.benchmarks) == [b["name"] for b in expected["benchmarks"]]


# ------------------------------------------------------------------- cuts, efficiencies, requirements


def test_cuts_efficiencies_and_requirements(mz_setup, tmp_path):
    weight, _, leptons = _truth(MZ_FILE)
    m_ll = _mass(leptons[11] + leptons[-11])
    pt_lead = np.maximum(_pt(leptons[11]), _pt(leptons[-11]))
    reader = LHEReader(mz_setup)
    reader.add_sample(MZ_FILE, sampled_from_benchmark="sm")
    reader.add_observable("m_ll", "(l[0] + l[1]).m", required=True)
    reader.add_observable("pt_j1", "j[0].pt", required=False, default=-1.0)  # no jets in DY: default
    reader.add_observable("pt_j2", "j[1].pt")  # no default: NaN
    reader.add_cut("m_ll > 80")
    reader.add_cut("j[0].pt > 20", pass_if_not_parsed=True)  # never parsed -> passes
    reader.add_cut("pt_j2 < 5", pass_if_not_parsed=True)  # observable missing -> cut not parsed -> passes
    reader.add_efficiency("0.5 if l[0].pt > 40 else 1.0")
    reader.add_efficiency("1 / (l[0].pt - l[0].pt)", value_if_not_parsed=0.8)  # never parsed
    reader.analyse_samples()
    reader.save(tmp_path / "events.h5", shuffle=False)
    observations, weights, _ = _samples(tmp_path / "events.h5")
    keep = m_ll > 80
    assert len(observations) == keep.sum()
    np.testing.assert_allclose(observations[:, 0], m_ll[keep], rtol=1e-9)
    np.testing.assert_array_equal(observations[:, 1], -1.0)
    assert np.isnan(observations[:, 2]).all()
    efficiency = np.where(pt_lead[keep] > 40, 0.5, 1.0) * 0.8
    np.testing.assert_allclose(weights[:, 0], weight[keep] / 1000 * efficiency, rtol=1e-14)


def test_required_observable_is_not_overridden_by_later_optional_ones(mz_setup, tmp_path):
    """MadMiner 0.9.6 keeps events whose required observable failed if a later optional one fails."""
    _, _, leptons = _truth(MZ_FILE)
    pt_lead = np.maximum(_pt(leptons[11]), _pt(leptons[-11]))
    reader = LHEReader(mz_setup)
    reader.add_sample(MZ_FILE, sampled_from_benchmark="sm")
    reader.add_observable("root", "sqrt(l[0].pt - 40)", required=True)  # not parsed below 40 GeV
    reader.add_observable("pt_j1", "j[0].pt")  # never parsed (no jets), optional
    reader.analyse_samples()
    reader.save(tmp_path / "events.h5", shuffle=False)
    observations, _, _ = _samples(tmp_path / "events.h5")
    assert len(observations) == np.sum(pt_lead >= 40) < 1000
    np.testing.assert_allclose(observations[:, 0], np.sqrt(pt_lead[pt_lead >= 40] - 40), rtol=1e-12)


def test_nothing_is_written_when_no_event_passes(mz_setup, tmp_path, caplog):
    reader = LHEReader(mz_setup)
    reader.add_sample(MZ_FILE, sampled_from_benchmark="sm")
    reader.add_observable("pt_j1", "j[0].pt", required=True)
    reader.analyse_samples()
    with caplog.at_level(logging.WARNING, logger="motherlode"):
        reader.save(tmp_path / "events.h5")
    assert "No events passed" in caplog.text
    assert not (tmp_path / "events.h5").exists()


def test_failing_cut_and_zero_efficiency(mz_setup, tmp_path):
    reader = LHEReader(mz_setup)
    reader.add_sample(MZ_FILE, sampled_from_benchmark="sm")
    reader.add_observable("pt_l1", "l[0].pt")
    reader.add_cut("j[0].pt > 20")  # not parsed, pass_if_not_parsed=False -> all fail
    reader.analyse_samples()
    reader.save(tmp_path / "a.h5")
    assert not (tmp_path / "a.h5").exists()
    reader.reset_cuts()
    reader.add_efficiency("0.0 if pt_l1 > 40 else 1.0")
    reader.analyse_samples()
    reader.save(tmp_path / "b.h5")
    observations, _, _ = _samples(tmp_path / "b.h5")
    assert len(observations) > 0 and observations[:, 0].max() <= 40


def test_definitions_are_checked_when_added(mz_setup):
    reader = LHEReader(mz_setup)
    with pytest.raises(ExpressionError, match="observable 'bad'"):
        reader.add_observable("bad", "__import__('os').system('true')")
    with pytest.raises(ExpressionError):
        reader.add_observable("bad", "l[0].__class__")
    with pytest.raises(InputError, match="identifier"):
        reader.add_observable("not a name", "l[0].pt")
    reader.add_observable("met", "met.pt")  # hides the object in cuts, as in MadMiner
    reader.add_observable("pt", "l[0].pt")
    reader.add_cut("met < 1000")  # the observable
    with pytest.raises(InputError, match="exists already"):
        reader.add_observable("pt", "l[0].pt")
    reader.add_cut("unknown_observable > 3")  # may be defined later ...
    reader.add_sample(MZ_FILE, sampled_from_benchmark="sm")
    with pytest.raises(ExpressionError, match="unknown_observable"):
        reader.analyse_samples()  # ... but not at analysis time


def test_default_observables_match_madminer_names_and_visible_sum_works(mz_setup, tmp_path):
    reader = LHEReader(mz_setup)
    reader.add_sample(MZ_FILE, sampled_from_benchmark="sm")
    reader.add_default_observables()
    names = list(reader.observables)
    assert names[:4] == ["et_miss", "phi_miss", "e_visible", "eta_visible"]
    assert names[4:14] == [
        "n_ls", "e_l1", "pt_l1", "eta_l1", "phi_l1", "charge_l1", "e_l2", "pt_l2", "eta_l2", "phi_l2",
    ]  # fmt: skip
    assert len(names) == 4 + 11 + 9 + 9
    reader.analyse_samples()
    reader.save(tmp_path / "events.h5", shuffle=False)
    observations, _, _ = _samples(tmp_path / "events.h5")
    column = {name: observations[:, i] for i, name in enumerate(names)}
    assert len(observations) == 1000
    assert np.isfinite(column["e_visible"]).all() and np.isfinite(column["eta_visible"]).all()
    np.testing.assert_array_equal(column["n_ls"], 2.0)
    np.testing.assert_array_equal(column["n_js"], 0.0)
    np.testing.assert_array_equal(column["pt_j1"], 0.0)
    np.testing.assert_array_equal(column["charge_l1"] + column["charge_l2"], 0.0)
    assert set(np.unique(column["charge_l2"])) <= {-1.0, 1.0}
    np.testing.assert_array_equal(column["eta_visible"], 0.0)  # LO: zero visible pT, eta infinite
    assert np.all(column["pt_l1"] >= column["pt_l2"])
    np.testing.assert_allclose(column["et_miss"], 0.0, atol=1e-6)  # no neutrinos, no smearing


def test_functions_per_event_and_vectorised_agree_with_expressions(mz_setup, tmp_path):
    def per_event(particles, leptons, photons, jets, met):
        return (leptons[0] + leptons[1]).mass

    def per_event_jet(particles, leptons, photons, jets, met):
        return jets[0].pt  # IndexError: not parsed

    def vectorised(particles, leptons, photons, jets, met):
        return (leptons[0] + leptons[1]).mass

    reader = LHEReader(mz_setup)
    reader.add_sample(MZ_FILE, sampled_from_benchmark="sm")
    reader.add_observable("m_expr", "(l[0] + l[1]).m")
    reader.add_observable_from_function("m_event", per_event)
    reader.add_observable_from_function("m_vector", vectorised, vectorized=True)
    reader.add_observable_from_function("pt_j", per_event_jet, default=-5.0)
    reader.analyse_samples()
    reader.save(tmp_path / "events.h5", shuffle=False)
    observations, _, _ = _samples(tmp_path / "events.h5")
    np.testing.assert_allclose(observations[:, 1], observations[:, 0], rtol=1e-12)
    np.testing.assert_allclose(observations[:, 2], observations[:, 0], rtol=1e-12)
    np.testing.assert_array_equal(observations[:, 3], -5.0)
    assert list(read_observables(tmp_path / "events.h5").values())[1] is None


# ---------------------------------------------------------------------------- smearing


def test_smearing_widths_and_reproducibility(mz_setup, tmp_path):
    _, _, leptons = _truth(MZ_FILE)
    true_pt = np.sort(np.stack([_pt(leptons[11]), _pt(leptons[-11])], axis=1), axis=1)[:, ::-1]

    def run(seed, name):
        reader = LHEReader(mz_setup, random_state=seed)
        reader.add_sample(MZ_FILE, sampled_from_benchmark="sm")
        reader.add_sample(MZ_FILE, sampled_from_benchmark="sm")  # 2000 events
        reader.set_smearing(
            pdgids=[11, -11], pt_resolution_abs=1.0, pt_resolution_rel=0.05, energy_resolution_abs=None
        )
        reader.add_observable("pt_sum", "l[0].pt + l[1].pt")
        reader.add_observable("m_l", "l[0].m")
        reader.analyse_samples()
        reader.save(tmp_path / name, shuffle=False)
        return _samples(tmp_path / name)[0]

    first, again, other = run(5, "a.h5"), run(5, "b.h5"), run(6, "c.h5")
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    true_sum = np.tile(true_pt.sum(axis=1), 2)
    expected_std = np.sqrt(np.tile(((1.0 + 0.05 * true_pt) ** 2).sum(axis=1), 2))
    pulls = (first[:, 0] - true_sum) / expected_std
    assert abs(pulls.mean()) < 0.1
    assert abs(pulls.std() - 1.0) < 0.06  # 2000 events: std of the std is ~1.6 %
    # E from the on-shell condition keeps the (tiny, rounding-level) truth mass of the electrons;
    # smearing E independently would give masses of several GeV
    np.testing.assert_allclose(first[:, 1], 0.0, atol=5e-3)


def test_met_noise(mz_setup, tmp_path):
    reader = LHEReader(mz_setup, random_state=3)
    reader.add_sample(MZ_FILE, sampled_from_benchmark="sm")
    reader.set_met_noise(abs_=10.0)
    reader.add_observable("met_x", "met.px")
    reader.analyse_samples()
    reader.save(tmp_path / "events.h5", shuffle=False)
    met_x = _samples(tmp_path / "events.h5")[0][:, 0]
    assert abs(met_x.std() - 10.0) < 0.7 and abs(met_x.mean()) < 1.0


# ---------------------------------------------------------------------------- several samples


def test_signal_and_background_samples_combine(mz_setup, tmp_path):
    weight, named, _ = _truth(MZ_FILE)
    # a second signal sample "generated at mz95": the event weight is mz95's, the SM one a reweighting
    text = gzip.decompress(MZ_FILE.read_bytes()).decode().replace("id='mz95'", "id='sm'")
    second = tmp_path / "mz95.lhe"
    second.write_text(text)
    reader = LHEReader(mz_setup, random_state=1)
    reader.add_sample(MZ_FILE, sampled_from_benchmark="sm")
    reader.add_sample(second, sampled_from_benchmark="mz95", k_factor=2.0)
    reader.add_sample(CHL3_FILE, sampled_from_benchmark=None, is_background=True, k_factor=1.5)
    reader.add_observable("pt_l1", "l[0].pt")
    reader.analyse_samples()
    reader.save(tmp_path / "events.h5")  # shuffled
    _, weights, sampling = _samples(tmp_path / "events.h5")
    assert len(weights) == 3000
    assert (sampling == 0).sum() == 1000 and (sampling == 1).sum() == 1000 and (sampling == -1).sum() == 1000
    background_weight = np.concatenate([c.weight for c in iter_lhe_events(CHL3_FILE)]) / 1000 * 1.5
    signal = weights[sampling >= 0].sum(axis=0)
    expected = (
        np.array([weight.sum(), named["mz95"].sum(), named["mz100"].sum(), named["aew130"].sum()]) / 1000
    )
    np.testing.assert_allclose(signal, expected + 2 * expected[[1, 0, 2, 3]], rtol=1e-12)
    np.testing.assert_allclose(weights[sampling == -1].sum(axis=0), background_weight.sum(), rtol=1e-12)
    background = weights[sampling == -1]
    np.testing.assert_array_equal(background, np.repeat(background[:, :1], 4, axis=1))
    summary = read_sample_summary(tmp_path / "events.h5")
    assert summary.signal_events.tolist() == [1000, 1000, 0, 0] and summary.background_events == 1000
    assert not np.array_equal(sampling, np.sort(sampling))  # shuffled


def test_gzip_and_plain_files_give_the_same_output(mz_setup, tmp_path):
    plain = tmp_path / "inputs" / "events.lhe"
    plain.parent.mkdir()
    plain.write_bytes(gzip.decompress(MZ_FILE.read_bytes()))
    outputs = []
    for path in (MZ_FILE, plain):
        reader = LHEReader(mz_setup, random_state=2)
        reader.add_sample(path, sampled_from_benchmark="sm")
        reader.set_smearing(pt_resolution_rel=0.1)
        reader.add_observable("pt_l1", "l[0].pt")
        reader.analyse_samples()
        reader.save(tmp_path / f"out{len(outputs)}.h5")
        outputs.append(_samples(tmp_path / f"out{len(outputs)}.h5"))
    for a, b in zip(*outputs, strict=True):
        np.testing.assert_array_equal(a, b)
    assert sorted(p.name for p in plain.parent.iterdir()) == ["events.lhe"]  # nothing written next to it


def test_sample_and_setup_errors(mz_setup, tmp_path):
    reader = LHEReader(mz_setup)
    with pytest.raises(InputError, match="does not exist"):
        reader.add_sample(tmp_path / "missing.lhe", sampled_from_benchmark="sm")
    with pytest.raises(SetupError, match="not a benchmark"):
        reader.add_sample(MZ_FILE, sampled_from_benchmark="nope")
    with pytest.raises(SetupError, match="not defined"):
        reader.add_sample(MZ_FILE, sampled_from_benchmark="sm", systematics=["scale"])
    with pytest.raises(SetupError, match="call add_sample"):
        reader.analyse_samples()
    with pytest.raises(SetupError, match="analyse_samples"):
        reader.save(tmp_path / "out.h5")
    other = _setup(tmp_path / "other.h5", {"sm": 0.0, "cHl3_p1": 1.0, "bsm": 2.0})
    reader = LHEReader(other)
    reader.add_sample(CHL3_FILE, sampled_from_benchmark="cHl3_p1")
    reader.add_observable("pt", "l[0].pt")
    with pytest.raises(SetupError, match=r"no weight for benchmark 'sm'.*cHl3_m1"):
        reader.analyse_samples()


def test_malformed_file_error_names_the_line(mz_setup, tmp_path):
    text = gzip.decompress(MZ_FILE.read_bytes()).decode().splitlines(keepends=True)
    first_event = next(i for i, line in enumerate(text) if line.strip().startswith("<event"))
    particle_line = first_event + 2
    text[particle_line] = text[particle_line].replace("e+", "x+", 1)
    broken = tmp_path / "broken.lhe"
    broken.write_text("".join(text))
    reader = LHEReader(mz_setup)
    reader.add_sample(broken, sampled_from_benchmark="sm")
    reader.add_observable("pt", "l[0].pt")
    with pytest.raises(FileFormatError, match=rf"broken.lhe.*line {particle_line + 1}\b"):
        reader.analyse_samples()
    with pytest.raises(SetupError):
        reader.save(tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()


# ---------------------------------------------------------------------------- systematics


@pytest.fixture
def systematics_setup(tmp_path):
    return _setup(
        tmp_path / "setup_syst.h5",
        {"sm": 0.0, "bsm": 1.0},
        systematics=[
            (("scale",), {"systematic_name": "mu", "scale": "mu", "scale_variations": (0.5, 1.0, 2.0)}),
            (("scale",), {"systematic_name": "mur", "scale": "mur", "scale_variations": (0.5, 2.0)}),
            (("pdf",), {"systematic_name": "pdf", "pdf_variation": "NNPDF23_lo_as_0130_qed"}),
            (("norm",), {"systematic_name": "lumi", "norm_variation": 1.1}),
        ],
    )


def test_scale_pdf_and_norm_nuisance_benchmarks_from_weight_groups(systematics_setup, tmp_path):
    chunks = list(iter_lhe_events(SYST_FILE))
    n_events = sum(c.n_events for c in chunks)
    nominal = np.concatenate([c.weight for c in chunks]) / n_events
    lhe = {k: np.concatenate([c.weights[k] for c in chunks]) / n_events for k in chunks[0].weights}
    reader = LHEReader(systematics_setup)
    reader.add_sample(SYST_FILE, is_background=True, systematics=["mu", "mur", "pdf", "lumi"])
    reader.add_observable("pt_j1", "j[0].pt", required=True)
    reader.analyse_samples(reference_benchmark="bsm")
    reader.save(tmp_path / "events.h5", shuffle=False)
    _, weights, _ = _samples(tmp_path / "events.h5")
    setup = read_setup(tmp_path / "events.h5")
    names = list(setup.benchmarks)
    column = {name: weights[:, i] for i, name in enumerate(names)}
    assert setup.reference_benchmark == "bsm"
    # scale: benchmark_0 at the last factor (2.0), benchmark_1 at the first (0.5); ids from <initrwgt>
    np.testing.assert_allclose(column["mu_nuisance_param_0_benchmark_0"], lhe["40"], rtol=1e-14)  # MUR=MUF=2
    np.testing.assert_allclose(column["mu_nuisance_param_0_benchmark_1"], lhe["1"], rtol=1e-14)  # MUR=MUF=0.5
    np.testing.assert_allclose(column["mur_nuisance_param_0_benchmark_0"], lhe["35"], rtol=1e-14)  # MUR=2
    np.testing.assert_allclose(column["mur_nuisance_param_0_benchmark_1"], lhe["6"], rtol=1e-14)  # MUR=0.5
    np.testing.assert_allclose(column["lumi_nuisance_param_0_benchmark_0"], 1.1 * nominal, rtol=1e-14)
    pdf_parameters = [p for p in setup.nuisance_parameters.values() if p.systematic == "pdf"]
    assert len(pdf_parameters) == 100  # NNPDF replicas 1..100, the central member 0 excluded
    first = pdf_parameters[0]
    assert first.name == "pdf_nuisance_param_1" and first.benchmark_neg is None
    np.testing.assert_allclose(column[first.benchmark_pos], lhe["46"], rtol=1e-14)
    np.testing.assert_allclose(column[pdf_parameters[-1].benchmark_pos], lhe["145"], rtol=1e-14)
    mu = setup.nuisance_parameters["mu_nuisance_param_0"]
    assert (mu.benchmark_pos, mu.benchmark_neg) == (
        "mu_nuisance_param_0_benchmark_0",
        "mu_nuisance_param_0_benchmark_1",
    )
    assert all(setup.benchmarks[n].is_nuisance for n in names[2:]) and len(names) == 2 + 2 + 2 + 100 + 1
    np.testing.assert_array_equal(column["sm"], nominal)


def test_nuisance_weights_are_rescaled_to_the_reference_benchmark(tmp_path):
    setup = _setup(
        tmp_path / "setup.h5",
        {"orig": 0.007, "cHl3_p1": 1.0, "cHl3_m1": -1.0},
        systematics=[(("norm",), {"systematic_name": "lumi", "norm_variation": 0.9})],
    )
    reader = LHEReader(setup)
    reader.add_sample(CHL3_FILE, sampled_from_benchmark="orig", systematics=["lumi"])
    reader.add_observable("pt", "l[0].pt")
    reader.analyse_samples(reference_benchmark="cHl3_p1")
    reader.save(tmp_path / "events.h5", shuffle=False)
    _, weights, _ = _samples(tmp_path / "events.h5")
    # w_nu(theta_ref) = w_nu(theta_sampling) * w(theta_ref) / w(theta_sampling) = 0.9 * w(theta_ref)
    np.testing.assert_allclose(weights[:, 3], 0.9 * weights[:, 1], rtol=1e-14)


def test_missing_systematic_weights_are_an_error(tmp_path):
    setup = _setup(
        tmp_path / "setup.h5",
        {"sm": 0.0, "mz95": 0.5, "mz100": 1.0, "aew130": -1.0},
        systematics=[
            (("scale",), {"systematic_name": "mu", "scale": "mu"}),
            (("pdf",), {"systematic_name": "pdf", "pdf_variation": "CT10"}),
        ],
    )
    reader = LHEReader(setup)
    reader.add_sample(MZ_FILE, sampled_from_benchmark="sm", systematics=["mu"])
    reader.add_observable("pt", "l[0].pt")
    with pytest.raises(SetupError, match="no weight for the scale systematic 'mu'"):
        reader.analyse_samples()
    reader = LHEReader(setup)
    reader.add_sample(SYST_FILE, is_background=True, systematics=["pdf"])
    reader.add_observable("pt", "j[0].pt")
    with pytest.raises(SetupError, match="NNPDF23_lo_as_0130_qed"):
        reader.analyse_samples()


def test_progress_and_logging(mz_setup, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="motherlode")
    reader = LHEReader(mz_setup, progress=False)
    reader.add_sample(MZ_FILE, sampled_from_benchmark="sm")
    reader.add_observable("m", "(l[0] + l[1]).m")
    reader.add_cut("m > 80")
    reader.analyse_samples()
    assert any("cut m > 80" in message for message in caplog.messages)
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.madminer
def test_madminer_reads_our_events_with_scale_systematics(tmp_path, probe_with_madminer):
    setup = _setup(
        tmp_path / "setup.h5",
        {"sm": 0.0, "bsm": 1.0},
        systematics=[(("scale",), {"systematic_name": "mu", "scale": "mu"})],
    )
    reader = LHEReader(setup)
    reader.add_sample(SYST_FILE, is_background=True, systematics=["mu"])
    reader.add_observable("pt_j1", "j[0].pt", required=True)
    reader.analyse_samples()
    reader.save(tmp_path / "events.h5")
    report = probe_with_madminer(tmp_path / "events.h5")
    assert "error" not in report, report.get("error")
    _, weights, _ = _samples(tmp_path / "events.h5")
    assert report["n_samples"] == len(weights)
    assert [b["name"] for b in report["benchmarks"]] == [
        "sm", "bsm", "mu_nuisance_param_0_benchmark_0", "mu_nuisance_param_0_benchmark_1",
    ]  # fmt: skip
    assert [b["is_nuisance"] for b in report["benchmarks"]] == [False, False, True, True]
    assert report["nuisance_parameters"]
    np.testing.assert_allclose(report["weights_sum"], weights.sum(axis=0), rtol=1e-12)


def test_smeft_cross_sections_and_resets(tmp_path):
    """cHl3 fixture: MadGraph reports 801.01 pb (orig), 698.6 pb (cHl3 = +1), 918.3 pb (cHl3 = -1)."""
    reader = LHEReader(MADMINER_FILES / "events_cHl3.h5")
    reader.add_sample(CHL3_FILE, sampled_from_benchmark="orig")
    reader.add_observable("unused", "j[0].pt", required=True)
    reader.add_cut("l[0].pt > 1e9")
    reader.add_efficiency("0.0")
    reader.reset_observables()
    reader.reset_cuts()
    reader.reset_efficiencies()
    assert not reader.observables and not reader.cuts and not reader.efficiencies
    reader.add_observable("pt_l1", "l[0].pt")
    reader.analyse_samples()
    reader.save(tmp_path / "events.h5")
    _, weights, _ = _samples(tmp_path / "events.h5")
    assert len(weights) == 1000
    np.testing.assert_allclose(weights.sum(axis=0), [801.01, 698.6, 918.3], rtol=6e-5)


# ---------------------------------------------------------------------------- casts (MadMiner's tutorials)


def _eta(p):
    return np.arcsinh(p[:, 3] / _pt(p))


def _final_state_partons(path):
    """Per event: the final-state quarks and gluons (E, px, py, pz), shape (n_events, 2, 4)."""
    chunks = list(iter_lhe_events(path))
    pdgid = np.abs(np.concatenate([c.pdgid for c in chunks]))
    status = np.concatenate([c.status for c in chunks])
    momenta = np.stack(
        [np.concatenate([getattr(c, k) for c in chunks]) for k in ("energy", "px", "py", "pz")], 1
    )
    pick = (status == 1) & np.isin(pdgid, [1, 2, 3, 4, 5, 6, 21])
    return momenta[pick].reshape(-1, 2, 4), np.concatenate([c.weight for c in chunks])


def test_casts_in_observables_cuts_and_efficiencies(mz_setup, tmp_path):
    """``float(...)``, ``int(...)``, ``bool(...)`` as in MadMiner's tutorials, on Drell-Yan events (two
    leptons, no jets) and pp -> jj events (two jets, no leptons): each observable is computed where
    its two objects exist and not parsed where there are fewer than two. The two leptons (jets) of an
    event have the same pT, so only expressions symmetric in them are compared with the momenta."""
    dy_weight, _, leptons = _truth(MZ_FILE)
    eta_e, eta_p = _eta(leptons[11]), _eta(leptons[-11])
    partons, jj_weight = _final_state_partons(SYST_FILE)
    eta_1, eta_2 = _eta(partons[:, 0]), _eta(partons[:, 1])
    reader = LHEReader(mz_setup)
    reader.add_sample(MZ_FILE, sampled_from_benchmark="sm")
    reader.add_sample(SYST_FILE, sampled_from_benchmark=None, is_background=True)
    reader.add_observable("l_same_side", "float(l[0].eta * l[1].eta > 0)")
    reader.add_observable("j_same_side", "float(j[0].eta * j[1].eta > 0)")
    reader.add_observable("j_same_side_or_default", "float(j[0].eta * j[1].eta > 0)", default=-1.0)
    reader.add_observable("two_jets", "int(len(j) >= 2)")
    reader.add_observable("deta_jj_int", "int(abs(j[0].eta - j[1].eta))")
    reader.add_cut("bool(len(j) >= 2) or bool(len(l) >= 2)")  # every event
    reader.add_cut("bool(int(abs(l[0].eta - l[1].eta)))", pass_if_not_parsed=True)  # DY: |deta| >= 1
    reader.add_efficiency("0.5 + 0.5 * float(abs(l[0].eta) + abs(l[1].eta) < 2)", value_if_not_parsed=0.25)
    reader.analyse_samples()
    reader.save(tmp_path / "events.h5", shuffle=False)
    observations, weights, sampling = _samples(tmp_path / "events.h5")
    keep = np.abs(eta_e - eta_p) >= 1
    assert 0 < keep.sum() < 1000
    dy, jj = sampling == 0, sampling == -1
    assert dy.sum() == keep.sum() and jj.sum() == 200
    # Drell-Yan: the lepton observables are computed, the jet ones are not parsed (no jets)
    np.testing.assert_array_equal(observations[dy, 0], (eta_e * eta_p > 0)[keep].astype(float))
    assert 0 < observations[dy, 0].sum() < dy.sum()
    assert np.isnan(observations[dy, 1]).all() and np.isnan(observations[dy, 4]).all()
    np.testing.assert_array_equal(observations[dy, 2], -1.0)
    np.testing.assert_array_equal(observations[dy, 3], 0.0)
    # pp -> jj: the other way round
    assert np.isnan(observations[jj, 0]).all()
    np.testing.assert_array_equal(observations[jj, 1], (eta_1 * eta_2 > 0).astype(float))
    assert 0 < observations[jj, 1].sum() < 200
    np.testing.assert_array_equal(observations[jj, 2], observations[jj, 1])
    np.testing.assert_array_equal(observations[jj, 3], 1.0)
    np.testing.assert_array_equal(observations[jj, 4], np.trunc(np.abs(eta_1 - eta_2)))
    # efficiencies: computed for Drell-Yan, value_if_not_parsed for pp -> jj
    efficiency = np.where(np.abs(eta_e) + np.abs(eta_p) < 2, 1.0, 0.5)[keep]
    assert set(efficiency.tolist()) == {0.5, 1.0}
    np.testing.assert_allclose(weights[dy, 0], dy_weight[keep] / 1000 * efficiency, rtol=1e-14)
    np.testing.assert_allclose(weights[jj, 0], jj_weight / 200 * 0.25, rtol=1e-14)
