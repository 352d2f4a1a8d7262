"""Showering with Pythia 8 (``motherlode.simulators.pythia``) and reading the result back.

The 100 Drell-Yan events of ``tests/data/delphes`` (MadGraph, reweighted to mz95, mz100, aew130)
are showered; the HepMC3 file must carry every event's LHE weights under the LHE names, numbered
by the events' positions in the LHE file, and DelphesReader's HepMC path must read it.
"""

import gzip

import h5py
import numpy as np
import pytest

from conftest import DATA, stand_in_delphes
from motherlode.delphes import DelphesReader
from motherlode.delphes.hepmc import read_weight_names
from motherlode.errors import InputError
from motherlode.lhe.lhefile import iter_lhe_events

pythia8mc = pytest.importorskip("pythia8mc")
pyhepmc = pytest.importorskip("pyhepmc")

from motherlode.simulators.pythia import shower_lhe  # noqa: E402

LHE_100 = DATA / "delphes" / "mg5_3.5.7_pp_ee_rwgt_mz_first100ev.lhe.gz"
NAMES = ["Weight", "mz95", "mz100", "aew130"]


@pytest.fixture(scope="module")
def showered(tmp_path_factory):
    path = tmp_path_factory.mktemp("pythia") / "dy.hepmc3.gz"
    summary = shower_lhe(LHE_100, path, settings=["PartonLevel:MPI = off"], random_state=7, batch_size=32)
    with pyhepmc.open(path) as stream:
        events = list(stream)
    return path, summary, events


def test_weights_and_numbers_survive_the_shower(showered):
    path, summary, events = showered
    chunks = list(iter_lhe_events(LHE_100))
    nominal = np.concatenate([c.weight for c in chunks])
    named = {name: np.concatenate([c.weights[name] for c in chunks]) for name in NAMES[1:]}
    assert summary.n_events == len(events) == 100 and summary.n_failed == 0
    assert summary.weight_names == NAMES == read_weight_names(path)
    assert [event.event_number for event in events] == list(range(1, 101))
    weights = np.array([event.weights for event in events])
    np.testing.assert_allclose(weights[:, 0], nominal, rtol=1e-12)
    for i, name in enumerate(NAMES[1:], start=1):
        np.testing.assert_allclose(weights[:, i], named[name], rtol=1e-12)
    # unweighted events: Pythia's cross section is the LHE file's
    assert summary.cross_section_pb == pytest.approx(nominal.mean(), rel=1e-9)
    assert events[-1].cross_section.xsec() == pytest.approx(summary.cross_section_pb, rel=1e-6)


def test_the_flat_record(showered):
    _, _, events = showered
    for event in events[:10]:
        status = np.array([p.status for p in event.particles])
        pid = np.array([p.pid for p in event.particles])
        assert list(status[:2]) == [4, 4] and list(pid[:2]) == [2212, 2212]
        final = status == 1
        assert np.sum(np.isin(pid[final], [11, -11])) >= 2  # the Drell-Yan pair (and maybe more)
        momentum = np.array(
            [[p.momentum.px, p.momentum.py, p.momentum.pz, p.momentum.e] for p in event.particles]
        )
        # the final state carries the beams' momentum
        np.testing.assert_allclose(momentum[final].sum(axis=0), momentum[:2].sum(axis=0), atol=1e-6)
        # the hard process is documented: its two incoming partons (status 21), and the e+ e- pair
        # (status 23, unless the leptons stayed final without recoil)
        assert np.sum(status == 21) == 2 and set(np.abs(pid[status == 21])) <= {1, 2, 3, 4, 5, 21}
        assert set(pid[(status == 23) | final]) >= {11, -11}
        assert len(event.vertices) == 1


def test_same_seed_same_file_and_partial_runs(showered, tmp_path):
    path, _, _ = showered
    again = tmp_path / "again.hepmc3.gz"
    shower_lhe(LHE_100, again, settings=["PartonLevel:MPI = off"], random_state=7, batch_size=10)
    with gzip.open(path, "rt") as first, gzip.open(again, "rt") as second:
        first_lines, second_lines = first.read().splitlines(), second.read().splitlines()
    # the same events whatever the batch size; only the running cross-section estimate written
    # with each event is taken at the batch boundaries
    assert len(first_lines) == len(second_lines) > 10_000
    differ = [a for a, b in zip(first_lines, second_lines, strict=True) if a != b]
    assert differ and all(line.startswith("A 0 GenCrossSection") for line in differ)
    summary = shower_lhe(LHE_100, tmp_path / "ten.hepmc3", n_events=10, random_state=1, batch_size=4)
    with pyhepmc.open(tmp_path / "ten.hepmc3") as stream:
        assert [event.event_number for event in stream] == list(range(1, 11))
    assert summary.n_events == 10
    assert (tmp_path / "ten.hepmc3.log").is_file()  # Pythia's output, not on the terminal
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "again.hepmc3.gz", "again.hepmc3.gz.log", "ten.hepmc3", "ten.hepmc3.log",
    ]  # fmt: skip


def test_bad_settings_and_inputs(tmp_path):
    with pytest.raises(InputError, match="rejected the setting 'Nonsense:flag = on'"):
        shower_lhe(LHE_100, tmp_path / "x.hepmc3", settings=["Nonsense:flag = on"])
    with pytest.raises(InputError, match="does not exist"):
        shower_lhe(tmp_path / "missing.lhe", tmp_path / "x.hepmc3")
    with pytest.raises(InputError, match="random_state must be between 0 and 900000000"):
        shower_lhe(LHE_100, tmp_path / "x.hepmc3", random_state=-1)
    assert not (tmp_path / "x.hepmc3").exists()


def test_delphes_reader_reads_the_showered_file(showered, setup_file_dy, tmp_path):
    """DelphesReader's HepMC path: run (a stand-in) Delphes on the file, weights named by it."""
    path, _, _ = showered
    delphes = stand_in_delphes(tmp_path / "delphes", n_events=100)
    card = tmp_path / "card.tcl"
    card.write_text("# card\n")
    reader = DelphesReader(setup_file_dy, progress=False)
    reader.add_sample(path, "sm", weights="delphes")
    reader.run_delphes(
        delphes, card, initial_command="export MOTHERLODE_TEST_INITIAL=yes", output_directory=tmp_path / "out"
    )
    reader.add_observable("n_j", "len(j)")
    reader.analyse_delphes_samples()
    reader.save(tmp_path / "events.h5", shuffle=False)
    with h5py.File(tmp_path / "events.h5", "r") as handle:
        weights = handle["samples/weights"][()]
    chunks = list(iter_lhe_events(LHE_100))
    expected = [np.mean(np.concatenate([c.weight for c in chunks]))] + [
        np.mean(np.concatenate([c.weights[name] for c in chunks])) for name in ("mz95", "mz100")
    ]
    # the stand-in writes the reference Delphes file (another shower of the same events): the
    # weights come from its Weight branch, named by the new HepMC file
    np.testing.assert_allclose(weights.sum(axis=0), expected, rtol=1e-6)
