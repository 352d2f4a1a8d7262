"""Interrupted runs resume (:mod:`motherlode.checkpoint`): reading and sampling continue after their last
recorded chunk or batch and give the same output, bit for bit, as an uninterrupted run; killed
processes leave no file that looks complete, and their temporary files are cleaned up.

(Training and limit scans: tests/test_resume_training.py and tests/test_resume_limits.py; the
workflow: tests/test_workflow.py.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import Interrupt, assert_identical, events_datasets, interrupt_after
from motherlode import DelphesReader, LHEReader, SampleAugmenter
from motherlode.checkpoint import Checkpoint, describe, fingerprint
from motherlode.errors import FileFormatError
from motherlode.fileformat import atomic_write_text, remove_stale_temporaries, temporary_prefix
from motherlode.readers import EventReader
from motherlode.sampling import benchmark, morphing_point, random_morphing_points
from motherlode.sampling import sampleaugmenter as sampleaugmenter_module
from test_delphes_reader import HEPMC_FILE, ROOT_FILE
from test_lhe_reader import MZ_FILE, _setup
from test_sampleaugmenter import _make_file

SRC = Path(__file__).resolve().parents[1] / "src"


# ---------------------------------------------------------------------------- the checkpoint folder


def test_a_folder_belongs_to_one_job(tmp_path):
    folder = tmp_path / "checkpoint"
    first = Checkpoint(folder, {"n": 1})
    first.save("piece-0", {"total": 0.1 + 0.2}, {"values": np.arange(3.0)})
    again = Checkpoint(folder, {"n": 1})
    assert again.keys() == ["piece-0"]
    assert again.load("piece-0") == {"total": 0.1 + 0.2}  # floats round-trip exactly
    np.testing.assert_array_equal(again.load_arrays("piece-0")["values"], np.arange(3.0))
    other = Checkpoint(folder, {"n": 2})  # another job: its pieces are never reused
    assert other.keys() == [] and not other.done("piece-0")
    other.save("piece-1")
    other.discard("piece-1")
    assert not other.done("piece-1")
    other.clear()
    assert not folder.exists()


def test_a_folder_with_other_files_is_refused(tmp_path):
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(FileFormatError, match="not a motherlode checkpoint folder"):
        Checkpoint(tmp_path, {"n": 1})
    assert (tmp_path / "thesis.tex").read_text() == "precious"
    with pytest.raises(ValueError, match="keys"):
        Checkpoint(tmp_path / "new", {}).done("../escape")


def test_a_damaged_piece_names_its_file(tmp_path):
    checkpoint = Checkpoint(tmp_path / "c", {})
    checkpoint.save("piece", {}, {"values": np.ones(2)})
    checkpoint.path("piece", ".npz").write_bytes(b"garbage")
    with pytest.raises(FileFormatError, match=r"piece\.npz"):
        checkpoint.load_arrays("piece")
    checkpoint.path("piece", ".json").write_text("[1, 2")
    with pytest.raises(FileFormatError, match=r"piece\.json"):
        checkpoint.load("piece")


def test_unseeded_jobs_keep_their_entropy(tmp_path):
    folder = tmp_path / "c"
    drawn = Checkpoint(folder, {}).entropy(None)
    assert Checkpoint(folder, {}).entropy(None) == drawn
    assert Checkpoint(folder, {}).entropy(np.random.default_rng(1)) == drawn
    assert Checkpoint(folder, {}).entropy(17) == 17  # a seed is a seed
    assert Checkpoint(tmp_path / "d", {}).entropy(None) != drawn


def test_descriptions_see_what_changes_a_result(tmp_path):
    data = tmp_path / "events.lhe"
    data.write_text("one")
    before = fingerprint({"file": data, "x": np.arange(4.0), "f": np.sin})
    assert fingerprint({"file": data, "x": np.arange(4.0), "f": np.sin}) == before
    assert fingerprint({"file": data, "x": np.arange(4.0) * 2, "f": np.sin}) != before
    assert fingerprint({"file": data, "x": np.arange(4.0), "f": np.cos}) != before
    data.write_text("two, longer")
    assert fingerprint({"file": data, "x": np.arange(4.0), "f": np.sin}) != before

    def scaled(factor):
        return lambda x: factor * x

    assert describe(scaled(2)) == describe(scaled(2)) and describe(scaled(2)) != describe(scaled(3))


def test_fingerprints_are_the_same_in_every_process(tmp_path):
    """A resumed run is another process: its reader must describe the same job (no addresses, no
    hash randomisation)."""
    setup = _setup(tmp_path / "setup.h5", {"sm": 0.0, "mz95": 0.5, "mz100": 1.0, "aew130": -1.0})
    script = textwrap.dedent(
        f"""
        from motherlode import LHEReader
        from motherlode.checkpoint import fingerprint
        reader = LHEReader({str(setup)!r}, random_state=5, chunk_size=300)
        reader.add_sample({str(MZ_FILE)!r}, sampled_from_benchmark="sm")
        reader.set_smearing(pdgids=[11, -11], pt_resolution_abs=1.0, pt_resolution_rel=0.05)
        reader.add_observable("pt_sum", "l[0].pt + l[1].pt")
        reader.add_observable_from_function("pt_l1", lambda p, leptons, ph, j, met: leptons[0].pt)
        reader.add_cut("pt_sum > 40")
        print(fingerprint(reader._job()))
        """
    )
    prints = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
        ).stdout
        for seed in (1, 2)
    }
    assert len(prints) == 1 and len(prints.pop().strip()) == 64


# ---------------------------------------------------------------------------- reading


@pytest.fixture
def mz_setup(tmp_path):
    return _setup(tmp_path / "setup.h5", {"sm": 0.0, "mz95": 0.5, "mz100": 1.0, "aew130": -1.0})


def _lhe_reader(setup, checkpoint=None, random_state=5, cut="pt_sum > 40"):
    """Three samples of 1000 events in chunks of 300 (12 chunks), smearing, MET noise, a function."""
    reader = LHEReader(
        setup, random_state=random_state, chunk_size=300, progress=False, checkpoint=checkpoint
    )
    reader.add_sample(MZ_FILE, sampled_from_benchmark="sm")
    reader.add_sample(MZ_FILE, sampled_from_benchmark="sm", k_factor=1.1)
    reader.add_sample(MZ_FILE, sampled_from_benchmark="sm", is_background=True)
    reader.set_smearing(pdgids=[11, -11], pt_resolution_abs=1.0, pt_resolution_rel=0.05)
    reader.set_met_noise(abs_=2.0, rel=0.05)
    reader.add_observable("pt_sum", "l[0].pt + l[1].pt")
    reader.add_observable_from_function("pt_l1", lambda particles, leptons, photons, jets, met: leptons[0].pt)
    reader.add_observable("met", "met.pt")
    reader.add_cut(cut)
    reader.add_efficiency("0.9 if l[0].pt > 30 else 0.8")
    return reader


def _read(reader, path, shuffle=True):
    reader.analyse_samples()
    reader.save(path, shuffle=shuffle)
    return events_datasets(path)


def test_lhe_reading_resumes_after_its_last_chunk(mz_setup, tmp_path, monkeypatch):
    reference = _read(_lhe_reader(mz_setup), tmp_path / "reference.h5")
    folder = tmp_path / "checkpoint"
    # interrupted in the second file: 5 of 12 chunks analysed (the first file's 4, one of the second's)
    with monkeypatch.context() as patch:
        interrupt_after(patch, EventReader, "_analyse_chunk", 5)
        with pytest.raises(Interrupt):
            _read(_lhe_reader(mz_setup, folder), tmp_path / "events.h5")
    assert not (tmp_path / "events.h5").exists()
    recorded = {p.stem: json.loads(p.read_text()) for p in folder.glob("sample*.json")}
    assert {key: value["finished"] for key, value in recorded.items()} == {
        "sample0-part0": True,
        "sample1-part0": False,
    }
    assert recorded["sample1-part0"]["chunks"] == 1
    calls = interrupt_after(monkeypatch, EventReader, "_analyse_chunk")
    resumed = _read(_lhe_reader(mz_setup, folder), tmp_path / "events.h5")
    assert calls[0] == 12 - 5
    assert_identical(reference, resumed)
    assert not folder.exists()  # saved: the checkpoint is gone


def test_interrupted_twice_and_in_the_same_chunk(mz_setup, tmp_path, monkeypatch):
    reference = _read(_lhe_reader(mz_setup), tmp_path / "reference.h5")
    folder = tmp_path / "checkpoint"
    for n_calls in (2, 0, 3):  # 2 chunks, none (killed before the next chunk finished), 3 more
        with monkeypatch.context() as patch:
            interrupt_after(patch, EventReader, "_analyse_chunk", n_calls)
            with pytest.raises(Interrupt):
                _read(_lhe_reader(mz_setup, folder), tmp_path / "events.h5")
    calls = interrupt_after(monkeypatch, EventReader, "_analyse_chunk")
    assert_identical(reference, _read(_lhe_reader(mz_setup, folder), tmp_path / "events.h5"))
    assert calls[0] == 12 - 5


def test_changed_settings_start_afresh(mz_setup, tmp_path, monkeypatch):
    folder = tmp_path / "checkpoint"
    with monkeypatch.context() as patch:
        interrupt_after(patch, EventReader, "_analyse_chunk", 6)
        with pytest.raises(Interrupt):
            _read(_lhe_reader(mz_setup, folder), tmp_path / "events.h5")
    calls = interrupt_after(monkeypatch, EventReader, "_analyse_chunk")
    changed = _read(_lhe_reader(mz_setup, folder, cut="pt_sum > 50"), tmp_path / "events.h5")
    assert calls[0] == 12
    assert_identical(_read(_lhe_reader(mz_setup, cut="pt_sum > 50"), tmp_path / "fresh.h5"), changed)
    calls[0] = 0
    with monkeypatch.context() as patch:
        interrupt_after(patch, EventReader, "_analyse_chunk", 6)
        with pytest.raises(Interrupt):
            _read(_lhe_reader(mz_setup, folder), tmp_path / "events.h5")
    _read(_lhe_reader(mz_setup, folder, random_state=6), tmp_path / "events.h5")  # another seed


def test_an_unseeded_reading_resumes_with_its_own_seed(mz_setup, tmp_path, monkeypatch):
    folder = tmp_path / "checkpoint"
    with monkeypatch.context() as patch:
        interrupt_after(patch, EventReader, "_analyse_chunk", 7)
        with pytest.raises(Interrupt):
            _read(_lhe_reader(mz_setup, folder, random_state=None), tmp_path / "events.h5")
    entropy = int(json.loads((folder / "job.json").read_text())["entropy"])
    resumed = _read(_lhe_reader(mz_setup, folder, random_state=None), tmp_path / "events.h5", shuffle=False)
    seeded = _read(_lhe_reader(mz_setup, random_state=entropy), tmp_path / "seeded.h5", shuffle=False)
    assert_identical(seeded, resumed)


def _delphes_reader(setup, checkpoint=None):
    reader = DelphesReader(setup, random_state=3, progress=False, chunk_size=30, checkpoint=checkpoint)
    for is_background in (False, True):
        reader.add_sample(
            HEPMC_FILE, "sm", delphes_filename=ROOT_FILE, weights="delphes", is_background=is_background
        )
    reader.add_default_observables(n_leptons_max=2, n_jets_max=1)
    reader.add_observable("m_ll", "(l[0] + l[1]).m", required=True)
    return reader


def test_delphes_reading_resumes_after_its_last_part(setup_file_dy, tmp_path, monkeypatch):
    def read(reader, path):
        reader.analyse_delphes_samples()
        reader.save(path)
        return events_datasets(path)

    reference = read(_delphes_reader(setup_file_dy), tmp_path / "reference.h5")
    folder = tmp_path / "checkpoint"
    with monkeypatch.context() as patch:  # two files of 100 events in parts of 30: 8 parts
        interrupt_after(patch, EventReader, "_analyse_chunk", 5)
        with pytest.raises(Interrupt):
            read(_delphes_reader(setup_file_dy, folder), tmp_path / "events.h5")
    calls = interrupt_after(monkeypatch, EventReader, "_analyse_chunk")
    assert_identical(reference, read(_delphes_reader(setup_file_dy, folder), tmp_path / "events.h5"))
    assert calls[0] == 8 - 5


_KILLED_READER = """
import os, signal, sys
from motherlode import LHEReader

setup, lhe, output, checkpoint, kill_at = sys.argv[1:]
calls = []


def pt_l1(particles, leptons, photons, jets, met):
    calls.append(1)
    if len(calls) == int(kill_at):
        os.kill(os.getpid(), signal.SIGKILL)
    return leptons[0].pt


reader = LHEReader(setup, random_state=2, chunk_size=300, progress=False,
                   checkpoint=None if checkpoint == "-" else checkpoint)
reader.add_sample(lhe, sampled_from_benchmark="sm")
reader.add_sample(lhe, sampled_from_benchmark="sm")
reader.add_observable_from_function("pt_l1", pt_l1, vectorized=False)
reader.analyse_samples()
reader.save(output)
"""


def test_a_killed_reading_leaves_no_events_file_and_resumes(mz_setup, tmp_path):
    script = tmp_path / "read.py"
    script.write_text(_KILLED_READER)
    output, folder = tmp_path / "out" / "events.h5", tmp_path / "checkpoint"

    def run(checkpoint, kill_at, target=output):
        command = [sys.executable, str(script), str(mz_setup), str(MZ_FILE), str(target), checkpoint, kill_at]
        return subprocess.run(
            command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(SRC)}
        )

    killed = run(str(folder), "1500")  # SIGKILL in the middle of the second file
    assert killed.returncode == -signal.SIGKILL
    assert not output.exists()
    recorded = {p.stem: json.loads(p.read_text()) for p in folder.glob("sample*.json")}
    assert recorded["sample0-part0"]["finished"]
    assert (recorded["sample1-part0"]["finished"], recorded["sample1-part0"]["chunks"]) == (False, 1)
    assert run(str(folder), "0").returncode == 0
    reference = tmp_path / "reference.h5"
    assert run("-", "0", reference).returncode == 0
    assert_identical(events_datasets(reference), events_datasets(output))
    assert not folder.exists()
    assert sorted(p.name for p in output.parent.iterdir()) == ["events.h5"]


# ---------------------------------------------------------------------------- sampling


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """The sampling toy, 30 000 events stored in x order (24 000 for training), in batches of 4000."""
    path, _ = _make_file(tmp_path_factory.mktemp("toy") / "events.h5", 30_000, sort=True)
    return path


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(sampleaugmenter_module, "BATCH_SIZE", 4000)


def _ratio_sample(path, checkpoint=None, random_state=3):
    augmenter = SampleAugmenter(path, checkpoint=checkpoint)
    return augmenter.sample_train_ratio(
        random_morphing_points(20, [("flat", -1.0, 1.0)]),
        benchmark("sm"),
        n_samples=4000,
        random_state=random_state,
        n_eff_forced=50,
    )


def _assert_same_arrays(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        if a is None or b is None:
            assert a is None and b is None
        else:
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("function", "done"), [("_batch_sums", 4), ("_batch_totals", 3), ("_batch_draw", 7)])
def test_sampling_resumes_after_its_last_batch(toy, tmp_path, small_batches, monkeypatch, function, done):
    """Interrupted in each of the three passes (the ratio sample draws theta0 and theta1 samples from
    its two halves of the 24 000 training events: each pass is 2 x 5 batches), resumed: the same
    sample; only the unfinished batches are computed again."""
    reference = _ratio_sample(toy)
    folder = tmp_path / "checkpoint"
    with monkeypatch.context() as patch:
        interrupt_after(patch, sampleaugmenter_module, function, done)
        with pytest.raises(Interrupt):
            _ratio_sample(toy, folder)
    counts = {
        name: interrupt_after(monkeypatch, sampleaugmenter_module, name)
        for name in ("_batch_sums", "_batch_totals", "_batch_draw")
    }
    resumed = _ratio_sample(toy, folder)
    _assert_same_arrays(reference, resumed)
    assert counts[function][0] == 10 - done
    assert [path.name for path in folder.iterdir()] == ["job.json"]  # the call's batches are forgotten


def test_sampling_without_a_seed_resumes_with_the_folders(toy, tmp_path, small_batches, monkeypatch):
    folder = tmp_path / "checkpoint"
    with monkeypatch.context() as patch:
        interrupt_after(patch, sampleaugmenter_module, "_batch_draw", 3)
        with pytest.raises(Interrupt):
            _ratio_sample(toy, folder, random_state=None)
    counts = interrupt_after(monkeypatch, sampleaugmenter_module, "_batch_draw")
    first = _ratio_sample(toy, folder, random_state=None)
    assert counts[0] == 10 - 3  # the same points and draws as the interrupted call
    # a second unseeded call of the same augmenter draws another sample
    augmenter = SampleAugmenter(toy, checkpoint=folder)
    plain = [augmenter.sample_train_plain(morphing_point([0.3]), 500)[0] for _ in range(2)]
    assert not np.array_equal(plain[0], plain[1])
    assert len(first[0]) == 4000


def test_sampling_checkpoints_never_mix_calls(toy, tmp_path, small_batches):
    folder = tmp_path / "checkpoint"
    first = _ratio_sample(toy, folder, random_state=3)
    other = _ratio_sample(toy, folder, random_state=4)
    _assert_same_arrays(_ratio_sample(toy, random_state=4), other)
    assert not np.array_equal(first[0], other[0])


# ---------------------------------------------------------------------------- temporary files


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_temporaries_of_killed_processes_are_removed(tmp_path):
    target = tmp_path / "events.h5"
    host_prefix = temporary_prefix(target).rsplit("-", 1)[0]  # ".events.h5.<host>"
    dead = tmp_path / f"{host_prefix}-{_dead_pid()}.x1y2.tmp"
    dead_folder = tmp_path / f"{host_prefix}-{_dead_pid()}.z3.tmp"
    running = tmp_path / f"{host_prefix}-{os.getpid()}.a1.tmp"
    elsewhere = tmp_path / ".events.h5.otherhost-1.b2.tmp"
    old_style = tmp_path / ".events.h5.k2j3.tmp"
    other_file = tmp_path / ".setup.h5.host-1.c3.tmp"
    for path in (dead, running, elsewhere, old_style, other_file):
        path.write_text("partial")
    dead_folder.mkdir()
    (dead_folder / "estimator_0.pt").write_text("partial")
    atomic_write_text(target, "complete")
    assert target.read_text() == "complete"
    assert not dead.exists() and not dead_folder.exists()
    assert all(p.exists() for p in (running, elsewhere, old_style, other_file))
    remove_stale_temporaries(target)  # idempotent
    assert running.exists()


# ---------------------------------------------------------------------------- the documentation


def test_the_documented_script_resumes(mz_setup, tmp_path):
    """docs/resume.md's example, run as a script twice: killed in the second file, then to the end."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "resume.md").read_text()
    block = text.split("```python\n", 1)[1].split("```", 1)[0]
    for run in ("run_01", "run_02"):
        (tmp_path / run).mkdir()
        (tmp_path / run / "events.lhe.gz").symlink_to(MZ_FILE)
    os.replace(mz_setup, tmp_path / "setup.h5")
    (tmp_path / "example.py").write_text(block)
    # the first run is killed in the second file (one chunk each: 1000 events, chunk_size 100 000)
    (tmp_path / "killed.py").write_text(
        textwrap.dedent(
            """
            import os, runpy, signal
            from motherlode.readers import EventReader
            original = EventReader._analyse_chunk
            def killing(self, chunk, sample, *args):
                if sample.path.parent.name == "run_02":
                    os.kill(os.getpid(), signal.SIGKILL)
                return original(self, chunk, sample, *args)
            EventReader._analyse_chunk = killing
            runpy.run_path("example.py")
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    killed = subprocess.run([sys.executable, "killed.py"], cwd=tmp_path, env=env)
    assert killed.returncode == -signal.SIGKILL
    assert (tmp_path / "reading.checkpoint" / "sample0-part0.json").exists()
    assert not (tmp_path / "events.h5").exists()
    subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env, check=True)
    assert not (tmp_path / "reading.checkpoint").exists()
    assert len(events_datasets(tmp_path / "events.h5")["observations"]) > 1000  # both files


# ---------------------------------------------------------------------------- a killed training

_KILLED_TRAINING = """
import os, signal, sys
import numpy as np, torch
from motherlode.ml import ParameterizedRatioEstimator
from motherlode.ml.trainer import Trainer

checkpoint, output, kill_at, seed = sys.argv[1:]
torch.set_num_threads(1)
original, epochs = Trainer._train_epoch, []


def train_epoch(*args, **kwargs):
    epochs.append(1)
    if len(epochs) == int(kill_at):
        os.kill(os.getpid(), signal.SIGKILL)
    return original(*args, **kwargs)


Trainer._train_epoch = train_epoch
rng = np.random.default_rng(0)
theta = rng.uniform(-2, 2, (400, 1))
x = rng.normal(theta, 1.0)
y = rng.integers(0, 2, (400, 1)).astype(float)
torch.manual_seed(int(seed))
estimator = ParameterizedRatioEstimator(n_hidden=(8,))
estimator.train(method="alices", x=x, theta=theta, y=y, r_xz=np.exp(x * theta / 4), t_xz=x / 4,
                n_epochs=5, batch_size=50, verbose="none", device="cpu",
                checkpoint=None if checkpoint == "-" else checkpoint)
estimator.save(output)
print(len(epochs))
"""


def test_a_killed_training_resumes_from_its_last_epoch(tmp_path):
    """SIGKILL in epoch 4 of 5; the rerun (seeded otherwise: only the records can make it agree) trains
    the last two epochs, and its network is the uninterrupted one, bit for bit."""
    import torch

    script = tmp_path / "train.py"
    script.write_text(_KILLED_TRAINING)
    env = {**os.environ, "PYTHONPATH": str(SRC)}

    def run(checkpoint, output, kill_at, seed):
        command = [sys.executable, str(script), checkpoint, str(output), str(kill_at), str(seed)]
        return subprocess.run(command, capture_output=True, text=True, env=env)

    folder = tmp_path / "checkpoint"
    assert run(str(folder), tmp_path / "resumed" / "alices", 4, 1).returncode == -signal.SIGKILL
    assert not (tmp_path / "resumed").exists()
    rerun = run(str(folder), tmp_path / "resumed" / "alices", 0, 2)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.strip() == "2"  # epochs 4 and 5
    assert not folder.exists()
    assert run("-", tmp_path / "reference" / "alices", 0, 1).returncode == 0
    reference = torch.load(tmp_path / "reference" / "alices_state_dict.pt", weights_only=True)
    resumed = torch.load(tmp_path / "resumed" / "alices_state_dict.pt", weights_only=True)
    assert reference.keys() == resumed.keys()
    assert all(torch.equal(resumed[key], value) for key, value in reference.items())
