"""Scaling out with Dask (:mod:`motherlode.parallel`): the same output for 1, 2 and 4 workers as here.

Every test compares the output of a Dask run on a ``LocalCluster`` (worker processes, so that every
task's arguments travel pickled, as on a real cluster) with the run in this process, bit for bit:
reading LHE and Delphes files (one task per file, one seed per chunk), sampling (one task per batch
of events, one seed per batch), ensembles (one member per task, one seed per member) and MadGraph
jobs (one task per job).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

distributed = pytest.importorskip("distributed")

from conftest import (  # noqa: E402
    assert_identical,
    events_datasets,
    read_record,
    stand_in_delphes,
    wh_miner,
)
from motherlode import DelphesReader, LHEReader, SampleAugmenter  # noqa: E402
from motherlode.errors import InputError, SetupError  # noqa: E402
from motherlode.ml import Ensemble, ScoreEstimator  # noqa: E402
from motherlode.parallel import (  # noqa: E402
    JOBQUEUE_CLUSTERS,
    cluster_client,
    dask_client,
    jobqueue_cluster,
    map_ordered,
    root_entropy,
    task_seed,
)
from motherlode.sampling import benchmark, morphing_point, morphing_points  # noqa: E402
from motherlode.sampling import sampleaugmenter as sampleaugmenter_module  # noqa: E402
from motherlode.workflow import Workflow, validate_config  # noqa: E402
from test_delphes_reader import HEPMC_FILE, LHE_100, ROOT_FILE  # noqa: E402
from test_lhe_reader import MZ_FILE, _setup  # noqa: E402
from test_madgraph import CARDS, EVENTS_SM  # noqa: E402
from test_sampleaugmenter import _cdf, _make_file  # noqa: E402
from test_workflow import small_config  # noqa: E402

WORKERS = (1, 2, 4)


@pytest.fixture(scope="module")
def clients():
    """``{n: Client}``: motherlode's local clusters of n single-threaded worker processes, started once."""
    with contextlib.ExitStack() as stack:
        yield {n: stack.enter_context(cluster_client("local", n)) for n in WORKERS}


# ---------------------------------------------------------------------------- the helpers


def test_map_ordered_keeps_the_order_and_raises_the_first_error(clients):
    client = clients[4]
    assert list(map_ordered(pow, [(2, k) for k in range(20)], client, star=True, max_in_flight=3)) == [
        2**k for k in range(20)
    ]
    with pytest.raises(ZeroDivisionError):
        list(map_ordered(divmod, [(1, 1), (1, 0), (2, 1)], client, star=True))


def test_workers_started_by_motherlode_keep_the_dynamic_mmap_threshold(clients):
    """Dask's nannies set MALLOC_TRIM_THRESHOLD_=65536: 2.5x slower tasks (benchmarks/scale.py)."""
    assert set(clients[2].run(os.environ.get, "MALLOC_TRIM_THRESHOLD_").values()) == {None}


def test_seeds_follow_the_spawn_tree():
    children = np.random.SeedSequence(7).spawn(3)
    grandchildren = children[2].spawn(4)
    assert task_seed(7, 2).generate_state(4).tolist() == children[2].generate_state(4).tolist()
    assert task_seed(7, 2, 3).generate_state(4).tolist() == grandchildren[3].generate_state(4).tolist()
    assert root_entropy(11) == 11
    rng = np.random.default_rng(3)
    assert root_entropy(rng) != root_entropy(rng)  # a generator gives fresh entropy each call
    assert root_entropy(np.random.default_rng(3)) == root_entropy(np.random.default_rng(3))
    with pytest.raises(SetupError, match="random_state"):
        root_entropy("seven")


def test_client_arguments_are_checked():
    with pytest.raises(SetupError, match="client must be"), dask_client(0):
        pass
    with pytest.raises(SetupError, match="client must be"), dask_client(2.5):
        pass


def test_missing_dask_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_distributed(name, *args, **kwargs):
        if name == "distributed":
            raise ImportError("no module named distributed")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_distributed)
    with pytest.raises(SetupError, match=r"motherlode\[dask\]"), dask_client(2):
        pass


# ---------------------------------------------------------------------------- readers


@pytest.fixture(scope="module")
def mz_setup(tmp_path_factory):
    path = tmp_path_factory.mktemp("setup") / "setup.h5"
    return _setup(path, {"sm": 0.0, "mz95": 0.5, "mz100": 1.0, "aew130": -1.0})


def _read_lhe(setup, path, client, random_state=5, tmp_dir=None):
    """Three samples (two signal, one background), smearing, MET noise, an observable function."""
    reader = LHEReader(setup, random_state=random_state, chunk_size=300, progress=False, client=client,
                       tmp_dir=tmp_dir)  # fmt: skip
    _configure_lhe(reader)
    reader.analyse_samples()
    reader.save(path)
    return events_datasets(path)


def _configure_lhe(reader):
    reader.add_sample(MZ_FILE, sampled_from_benchmark="sm")
    reader.add_sample(MZ_FILE, sampled_from_benchmark="sm", k_factor=1.1)
    reader.add_sample(MZ_FILE, sampled_from_benchmark="sm", is_background=True)
    reader.set_smearing(
        pdgids=[11, -11], pt_resolution_abs=1.0, pt_resolution_rel=0.05, energy_resolution_abs=None
    )
    reader.set_met_noise(abs_=2.0, rel=0.05)
    reader.add_observable("pt_sum", "l[0].pt + l[1].pt")
    reader.add_observable_from_function("pt_l1", lambda particles, leptons, photons, jets, met: leptons[0].pt)
    reader.add_observable("met", "met.pt")
    reader.add_cut("pt_sum > 40")
    reader.add_efficiency("0.9 if l[0].pt > 30 else 0.8")


def test_lhe_reading_is_identical_for_any_number_of_workers(mz_setup, clients, tmp_path):
    here = _read_lhe(mz_setup, tmp_path / "here.h5", None)
    assert len(here["observations"]) > 2000  # 3000 events, most pass the cut
    for n in WORKERS:
        assert_identical(here, _read_lhe(mz_setup, tmp_path / f"dask_{n}.h5", clients[n], tmp_dir=tmp_path))
    # each chunk has its own seed: another seed smears differently
    other = _read_lhe(mz_setup, tmp_path / "other.h5", None, random_state=6)
    assert not np.array_equal(here["observations"], other["observations"])
    assert not list(tmp_path.glob("motherlode-events-*"))  # the spool folder is gone after saving


def test_a_failing_task_stops_the_reading_and_leaves_nothing(mz_setup, clients, tmp_path):
    reader = LHEReader(mz_setup, chunk_size=300, progress=False, client=clients[2], tmp_dir=tmp_path)
    reader.add_sample(MZ_FILE, sampled_from_benchmark="sm")
    reader.add_sample(MZ_FILE, sampled_from_benchmark="sm")
    reader.add_observable_from_function("boom", lambda *objects: 1.0 / 0.0, vectorized=True)
    with pytest.raises(ZeroDivisionError):
        reader.analyse_samples()
    assert not list(tmp_path.iterdir())
    with pytest.raises(SetupError, match="nothing to save"):
        reader.save(tmp_path / "events.h5")


def test_workers_record_the_parts_of_a_checkpoint(mz_setup, clients, tmp_path, monkeypatch):
    """The parts read on workers are recorded in the checkpoint folder: a reader here with the same
    folder finds every part finished, analyses nothing and saves the same events."""
    from motherlode.readers import EventReader

    here = _read_lhe(mz_setup, tmp_path / "here.h5", None)
    folder = tmp_path / "checkpoint"
    on_workers = LHEReader(mz_setup, random_state=5, chunk_size=300, progress=False, client=clients[2],
                           checkpoint=folder)  # fmt: skip
    _configure_lhe(on_workers)
    on_workers.analyse_samples()  # not saved: as if the driver died now
    analysed = []
    monkeypatch.setattr(EventReader, "_analyse_chunk", lambda *args: analysed.append(1))
    reader = LHEReader(mz_setup, random_state=5, chunk_size=300, progress=False, checkpoint=folder)
    _configure_lhe(reader)
    reader.analyse_samples()
    reader.save(tmp_path / "resumed.h5")
    assert analysed == []
    assert_identical(here, events_datasets(tmp_path / "resumed.h5"))
    assert not folder.exists()


def test_lhe_reading_with_a_local_cluster_it_starts_itself(mz_setup, tmp_path):
    here = _read_lhe(mz_setup, tmp_path / "here.h5", None)
    assert_identical(here, _read_lhe(mz_setup, tmp_path / "local.h5", 2, tmp_dir=tmp_path))


def _read_delphes(setup, path, client):
    reader = DelphesReader(setup, random_state=3, progress=False, client=client, chunk_size=30)
    for is_background in (False, True):
        reader.add_sample(
            HEPMC_FILE, "sm", delphes_filename=ROOT_FILE, weights="delphes", is_background=is_background
        )
    reader.add_default_observables(n_leptons_max=2, n_jets_max=1)
    reader.add_observable("m_ll", "(l[0] + l[1]).m", required=True)
    reader.analyse_delphes_samples()
    reader.save(path)
    return events_datasets(path)


def test_delphes_reading_is_identical_for_any_number_of_workers(setup_file_dy, clients, tmp_path):
    here = _read_delphes(setup_file_dy, tmp_path / "here.h5", None)
    assert len(here["observations"]) > 80  # two samples of 100 events, two leptons in most
    for n in WORKERS:
        assert_identical(here, _read_delphes(setup_file_dy, tmp_path / f"dask_{n}.h5", clients[n]))


# ---------------------------------------------------------------------------- sampling


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """The sampling toy, 60 000 events: w(x|theta) ~ (1 + theta x)^2 on [0, 1], stored in the order of x
    (so that each batch of events covers its own range of x)."""
    return _make_file(tmp_path_factory.mktemp("toy") / "events.h5", 60_000, sort=True)


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of 7000 events: the 36 000 training events are six batches, six tasks per pass."""
    monkeypatch.setattr(sampleaugmenter_module, "BATCH_SIZE", 7000)


def _sample_everything(path, client):
    augmenter = SampleAugmenter(path, client=client)
    plain = augmenter.sample_train_plain(morphing_point([0.8]), 5000, random_state=3)
    local = augmenter.sample_train_local(benchmark("sm"), 3000, random_state=4)
    ratio = augmenter.sample_train_ratio(
        morphing_points([[0.3], [-0.6]]), benchmark("sm"), 4000, random_state=5, n_eff_forced=200
    )
    return [np.asarray(array) for result in (plain, local, ratio) for array in result if array is not None]


def test_sampling_is_identical_for_any_number_of_workers(toy, clients, small_batches):
    path, _ = toy
    here = _sample_everything(path, None)
    for n in WORKERS:
        for mine, theirs in zip(here, _sample_everything(path, clients[n]), strict=True):
            np.testing.assert_array_equal(mine, theirs)


def test_samples_drawn_in_many_batches_follow_the_distribution(toy, small_batches):
    """Nine batches, each its own range of x: the events per batch must follow the batches' shares."""
    path, _ = toy
    augmenter = SampleAugmenter(path)
    for theta in (0.8, -0.6):
        samples, _, _ = augmenter.sample_train_plain(
            morphing_point([theta]), 20_000, partition="all", random_state=2
        )
        assert stats.kstest(samples[:, 0], lambda v, t=theta: _cdf(v, t)).pvalue > 1e-3
    # the wrong theta is rejected by the same test
    samples, _, _ = augmenter.sample_train_plain(
        morphing_point([0.8]), 20_000, partition="all", random_state=2
    )
    assert stats.kstest(samples[:, 0], lambda v: _cdf(v, -0.6)).pvalue < 1e-10


# ---------------------------------------------------------------------------- ensembles


def _trained_ensemble(client, x, t_xz):
    ensemble = Ensemble([ScoreEstimator(n_hidden=(8,)) for _ in range(3)])
    ensemble.train_all(
        client=client, random_state=7, vectorize=False, method="sally", x=x, t_xz=t_xz, n_epochs=3,
        batch_size=128, verbose="none", device="cpu",
    )  # fmt: skip
    return np.stack([member.evaluate_score(x[:200]) for member in ensemble.estimators])


def test_ensemble_members_are_identical_for_any_number_of_workers(clients, one_torch_thread):
    rng = np.random.default_rng(0)
    z = rng.normal(0.0, 2.0, (2000, 2))
    x, t_xz = rng.normal(z, 1.0), z / 4.0
    here = _trained_ensemble(None, x, t_xz)
    assert not np.allclose(here[0], here[1])  # each member has its own seed
    for n in WORKERS:
        np.testing.assert_array_equal(here, _trained_ensemble(clients[n], x, t_xz))


# ---------------------------------------------------------------------------- MadGraph jobs


def test_madgraph_jobs_run_as_tasks(stand_in_madgraph, tmp_path):
    mg_directory, record = stand_in_madgraph(EVENTS_SM)
    miner = wh_miner()
    # worker threads: the stand-in reads its settings from this process's environment
    with (
        distributed.LocalCluster(n_workers=2, processes=False, dashboard_address=":0") as cluster,
        distributed.Client(cluster) as client,
    ):
        folders = miner.run_multiple(
            mg_directory,
            CARDS / "proc_card_signal.dat",
            CARDS / "param_card_sm.dat",
            [CARDS / "run_card_sig_sm.dat"],
            mg_process_directory=tmp_path / "mg_processes" / "signal",
            log_directory=tmp_path / "logs",
            sample_benchmarks=["sm", "b5", "sm"],
            client=client,
        )
    process = tmp_path / "mg_processes" / "signal"
    assert folders == [process / "Events" / f"run_0{i}" for i in (1, 2, 3)]
    assert all((folder / "unweighted_events.lhe.gz").is_file() for folder in folders)
    assert sorted(p.name for p in (tmp_path / "mg_processes").iterdir()) == ["signal"]  # job copies removed
    _, *launches = read_record(record)
    assert sorted(run["name"] for call in launches for run in call["runs"]) == ["run_01", "run_02", "run_03"]
    runs = json.loads((process / "madminer" / "runs.json").read_text())
    assert [r["sample_benchmark"] for r in runs] == ["sm", "b5", "sm"]


# ---------------------------------------------------------------------------- Delphes and Pythia jobs


def test_delphes_runs_as_tasks(setup_file_dy, clients, tmp_path):
    delphes = stand_in_delphes(tmp_path / "delphes-install")
    card = tmp_path / "card.tcl"
    card.write_text("# card\n")
    reader = DelphesReader(setup_file_dy, progress=False, client=clients[2])
    for i in range(3):
        hepmc = tmp_path / f"run_0{i + 1}.hepmc3.gz"
        shutil.copy(HEPMC_FILE, hepmc)
        reader.add_sample(hepmc, "sm", weights="delphes")
    reader.run_delphes(
        delphes, card, initial_command="export MOTHERLODE_TEST_INITIAL=yes", output_directory=tmp_path / "out"
    )
    outputs = [tmp_path / "out" / f"run_0{i + 1}_delphes.root" for i in range(3)]
    assert [sample.delphes_path for sample in reader.samples] == outputs
    for output in outputs:
        assert output.is_file()
        assert "read 3 events" in output.with_suffix(".log").read_text()


def test_pythia_showers_as_tasks(clients, tmp_path):
    pytest.importorskip("pythia8mc")
    from motherlode.simulators.pythia import shower_lhe

    def one_shower(lhe, hepmc, seed):  # defined here: pickled by value for the workers
        return shower_lhe(
            lhe, hepmc, settings=["PartonLevel:MPI = off"], n_events=20, batch_size=8, random_state=seed
        )

    def shower(folder, client):
        folder.mkdir()
        tasks = [(LHE_100, folder / f"shower_{seed}.hepmc3", seed) for seed in (1, 2)]
        list(map_ordered(one_shower, tasks, client, star=True))
        return [path.read_bytes() for _, path, _ in tasks]

    here = shower(tmp_path / "here", None)
    assert here[0] != here[1]  # two seeds
    assert shower(tmp_path / "dask", clients[2]) == here


# ---------------------------------------------------------------------------- the workflow's cluster section


def test_workflow_with_a_cluster_section_gives_the_same_events_and_samples(tmp_path, one_torch_thread):
    outputs = {}
    for label, cluster in (("here", None), ("cluster", {"kind": "local", "n_workers": 2})):
        config = {
            key: small_config()[key] for key in ("random_state", "device", "setup", "events", "sampling")
        }
        config["training"] = [t for t in small_config()["training"] if t["name"] == "sally"]  # ensemble of 2
        if cluster is not None:
            config["cluster"] = cluster
        workflow = Workflow(validate_config(config), tmp_path, tmp_path / label)
        results = workflow.run()
        assert [r.status for r in results] == ["ran"] * 4
        outputs[label] = tmp_path / label
    assert_identical(
        events_datasets(outputs["here"] / "events.h5"), events_datasets(outputs["cluster"] / "events.h5")
    )
    samples = sorted(p.name for p in (outputs["here"] / "samples").iterdir())
    assert samples == sorted(p.name for p in (outputs["cluster"] / "samples").iterdir())
    for name in samples:
        np.testing.assert_array_equal(
            np.load(outputs["here"] / "samples" / name), np.load(outputs["cluster"] / "samples" / name)
        )
    members = json.loads((outputs["cluster"] / "models" / "sally" / "ensemble.json").read_text())
    assert members["n_estimators"] == 2
    assert not list(outputs["cluster"].glob(".staging-*"))


# ---------------------------------------------------------------------------- docs/scale.md's configurations

SCALE_DOC = Path(__file__).resolve().parent.parent / "docs" / "scale.md"


def _cluster_blocks() -> list[dict]:
    blocks = re.findall(r"```yaml\n(.*?)```", SCALE_DOC.read_text(), flags=re.DOTALL)
    return [yaml.safe_load(block) for block in blocks if block.startswith("cluster:")]


def test_the_documented_cluster_sections_are_valid_and_make_their_batch_jobs():
    sections = _cluster_blocks()
    assert [s["cluster"]["kind"] for s in sections] == ["local", "address", "slurm", "htcondor"]
    for section in sections:
        cluster = validate_config(section, "docs/scale.md").cluster
        if cluster.kind not in JOBQUEUE_CLUSTERS:
            continue
        options = {**cluster.options, "scheduler_options": {"dashboard_address": ":0"}}
        with jobqueue_cluster(cluster.kind, options) as batch:  # built, nothing submitted
            script = batch.job_script()
        assert "source ~/motherlode/.venv/bin/activate" in script
        # the workers go without Dask's MALLOC_TRIM_THRESHOLD_ (2.5x slower tasks, benchmarks/scale.py)
        assert "export DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON__MALLOC_TRIM_THRESHOLD_=None" in script
        assert "distributed.cli.dask_worker" in script
        if cluster.kind == "slurm":
            for line in ("#SBATCH -p physics", "#SBATCH -A eft-fits", "#SBATCH --cpus-per-task=8",
                         "#SBATCH -t 04:00:00", "--nworkers 4", "--nthreads 2"):  # fmt: skip
                assert line in script, line
        else:
            for line in (
                "MY.DaskWorkerCores = 1",
                "MY.DaskWorkerMemory = 4000000000",
                '+JobFlavour = "workday"',
            ):
                assert line in script, line


def test_ensemble_seeds_without_dask(one_torch_thread):
    rng = np.random.default_rng(1)
    x, t_xz = rng.normal(0.0, 1.0, (500, 2)), rng.normal(0.0, 0.25, (500, 2))
    common = {"method": "sally", "x": x, "t_xz": t_xz, "n_epochs": 1, "verbose": "none", "device": "cpu"}

    def stacked(seed):
        ensemble = Ensemble([ScoreEstimator(n_hidden=(4,)) for _ in range(2)])
        ensemble.train_all(vectorize=True, random_state=seed, **common)
        return np.stack([member.evaluate_score(x[:50]) for member in ensemble.estimators])

    np.testing.assert_array_equal(stacked(3), stacked(3))  # the stacked network is seeded too
    assert not np.array_equal(stacked(3), stacked(4))
    with pytest.raises(InputError, match="not with a Dask client"):
        Ensemble([ScoreEstimator(n_hidden=(4,))]).train_all(vectorize=True, client=2, **common)
