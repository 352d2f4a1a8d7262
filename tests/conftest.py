"""Shared test fixtures."""

from __future__ import annotations

import functools
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")  # plots render headless, whatever the machine has

TESTS = Path(__file__).parent
DATA = TESTS / "data"
MADMINER_FILES = DATA / "madminer096"
#: The workplace's larger reference data (``../shared/data`` next to the checkout, or
#: ``$MOTHERLODE_SHARED_DATA``): tests that need it skip where it is absent, e.g. a user's clone.
SHARED_DATA = Path(os.environ.get("MOTHERLODE_SHARED_DATA", TESTS.resolve().parents[1] / "shared" / "data"))
PROBE = TESTS / "interop" / "madminer_probe.py"


# ---------------------------------------------------------------------------- test tiers

#: Modules whose tests are slow as a whole: they start Dask clusters or run the built-in examples.
SLOW_MODULES = {"test_scale.py", "test_examples.py"}
#: Fixtures of the side-by-side tests with MadMiner 0.9.6 (each runs its own Python process).
MADMINER_FIXTURES = {"madminer_python", "probe_with_madminer", "madminer_expected"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The slow tier (``-m slow``): side by side with MadMiner, Dask clusters, the built-in examples.

    ``scripts/run-tests`` runs the fast tier (``-m "not slow"``, a few minutes); ``scripts/run-tests
    --all`` (CI) runs both tiers.
    """
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if (
            item.path.name in SLOW_MODULES
            or fixtures & MADMINER_FIXTURES
            or item.get_closest_marker("madminer") is not None
        ):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _close_figures():
    """Close the figures a test made (pyplot keeps every figure it creates until closed)."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


@pytest.fixture(scope="session")
def madminer_python() -> str:
    """The interpreter of a MadMiner 0.9.6 environment (``scripts/run-tests`` sets one up).

    Skips the test when there is none, unless ``MOTHERLODE_REQUIRE_MADMINER=1`` (CI), where a
    missing MadMiner is a failure.
    """
    python = os.environ.get("MOTHERLODE_MADMINER_PYTHON")
    required = os.environ.get("MOTHERLODE_REQUIRE_MADMINER") == "1"
    if python and Path(python).exists():
        return python
    message = "MadMiner 0.9.6 not available: set MOTHERLODE_MADMINER_PYTHON (scripts/run-tests does)"
    if required:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def probe_with_madminer(madminer_python):
    """Run ``tests/interop/madminer_probe.py`` under MadMiner 0.9.6 and return its JSON report."""

    def probe(path: Path, thetas: list | None = None) -> dict:
        command = [madminer_python, str(PROBE), str(path)]
        if thetas is not None:
            command += ["--thetas", json.dumps(thetas)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        try:
            return json.loads(result.stdout)
        except json.JSONDecodeError:
            raise AssertionError(
                f"probe gave no JSON (exit {result.returncode}):\n{result.stderr[-3000:]}"
            ) from None

    return probe


@pytest.fixture(scope="session")
def madminer_expected() -> dict:
    """The numbers MadMiner 0.9.6 computed from its own files (``tests/data/madminer096``)."""
    return json.loads((MADMINER_FILES / "expected.json").read_text())


@pytest.fixture(scope="module")
def one_torch_thread():
    """Train with one torch thread in the module: the networks of the tests are small, one thread is as fast
    as two, and two threads slow down by an order of magnitude on a machine whose cores are busy."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def write_events_file(
    path, setup_path, x, weights, sampling, signal_events, background_events=0, nuisance=None
):
    """Write an events file from a setup file and arrays (one observable ``x``); returns ``path``."""
    from motherlode import fileformat
    from motherlode.models import Benchmark, NuisanceParameter

    setup = fileformat.read_setup(setup_path)
    benchmarks = dict(setup.benchmarks)
    parameters = {}
    if nuisance is not None:
        reference = next(iter(benchmarks.values()))
        for name in (n for n in nuisance if n is not None):
            benchmarks[name] = Benchmark(name, dict(reference.values), is_nuisance=True)
        parameters = {"syst_nuisance_param_0": NuisanceParameter("syst_nuisance_param_0", "syst", *nuisance)}
    benchmarks[next(iter(benchmarks))].is_reference = True
    with fileformat.atomic_h5(path, copy_from=setup_path) as handle:
        fileformat.write_nuisance_setup(handle, benchmarks, parameters, list(setup.parameters))
        fileformat.write_observables(handle, ["x"], ["x"])
        fileformat.create_sample_datasets(handle, 1, weights.shape[1])
        fileformat.append_samples(handle, x[:, None], weights, sampling)
        fileformat.write_sample_summary(handle, signal_events, background_events)
    return path


# ---------------------------------------------------------------------------- Delphes fixtures

#: Real Delphes (CMS card) output of 100 Drell-Yan events (see ``tests/data/delphes/README.md``).
DELPHES_ROOT_FILE = DATA / "delphes" / "dy_rwgt_100ev_delphes_CMS.root"


@pytest.fixture(scope="session")
def setup_file_dy(tmp_path_factory) -> Path:
    """A setup whose benchmarks are the Drell-Yan files' weights: sm (nominal), mz95, mz100."""
    from motherlode.core import MadMiner

    path = tmp_path_factory.mktemp("setup_dy") / "setup.h5"
    miner = MadMiner()
    miner.add_parameter("mass", 23, "mz", morphing_max_power=0, parameter_range=(90.0, 100.0))
    for name, value in {"sm": 91.1876, "mz95": 95.0, "mz100": 100.0}.items():
        miner.add_benchmark({"mz": value}, name)
    miner.save(path)
    return path


def stand_in_delphes(directory: Path, fail: bool = False, n_events: int = 3) -> Path:
    """A scripted ``DelphesHepMC3`` in ``directory``: it checks its arguments, the initial command
    (``MOTHERLODE_TEST_INITIAL=yes``) and the number of events on its standard input, then writes
    the reference Delphes file (and with ``fail`` exits with status 1 after that)."""
    directory.mkdir()
    script = directory / "DelphesHepMC3"
    ending = "echo 'ERROR: Delphes crashed' >&2; exit 1" if fail else "echo done"
    script.write_text(
        textwrap.dedent(
            f"""\
            #!/usr/bin/env bash
            set -eu
            [ "$#" = 3 ] || {{ echo "usage: DelphesHepMC3 card output input" >&2; exit 2; }}
            [ -f "$1" ] || {{ echo "no card $1" >&2; exit 2; }}
            [ "$3" = "-" ] || {{ echo "expected the events on standard input" >&2; exit 2; }}
            [ "${{MOTHERLODE_TEST_INITIAL:-}}" = yes ] || {{ echo "initial command not run" >&2; exit 2; }}
            events=$(grep -c '^E ' || true)
            echo "read $events events"
            [ "$events" = {n_events} ] || {{ echo "expected {n_events} events, read $events" >&2; exit 3; }}
            cp "{DELPHES_ROOT_FILE}" "$2"
            {ending}
            """
        )
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return directory


# ---------------------------------------------------------------------------- MadGraph stand-in

MG_STAND_IN = TESTS / "interop" / "mg5_stand_in.py"


def make_stand_in_madgraph(
    directory: Path,
    monkeypatch: pytest.MonkeyPatch,
    events: Path,
    mode: str = "",
    reweighted: Path | None = None,
) -> tuple[Path, Path]:
    """A MadGraph "installation" in ``directory`` whose ``bin/mg5_aMC`` is the scripted stand-in
    (``tests/interop/mg5_stand_in.py``): each launch copies the recorded LHE file ``events``, a
    reweighting the recorded file ``reweighted`` (if given). Returns the installation and the file
    where the stand-in records its calls."""
    (directory / "bin").mkdir(parents=True, exist_ok=True)
    (directory / "models").mkdir(exist_ok=True)
    executable = directory / "bin" / "mg5_aMC"
    shutil.copyfile(MG_STAND_IN, executable)
    executable.chmod(0o755)
    record = directory / "record.jsonl"
    monkeypatch.setenv("MG_STANDIN_EVENTS", str(events))
    monkeypatch.setenv("MG_STANDIN_RECORD", str(record))
    monkeypatch.setenv("MG_STANDIN_MODE", mode)
    if reweighted is not None:
        monkeypatch.setenv("MG_STANDIN_REWEIGHTED", str(reweighted))
    return directory, record


@pytest.fixture
def stand_in_madgraph(tmp_path, monkeypatch):
    """``make(events, mode="") -> (mg_directory, record_file)``: see :func:`make_stand_in_madgraph`."""

    def make(events: Path, mode: str = "") -> tuple[Path, Path]:
        return make_stand_in_madgraph(tmp_path / "MG5_aMC_stand_in", monkeypatch, events, mode)

    return make


def read_record(path: Path) -> list[dict]:
    """The calls the MadGraph stand-in recorded."""
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# ---------------------------------------------------------------------------- the W h setup

#: The reweighting benchmarks of the W h sample (``tests/data/wh_smeft``): name -> (cHW, cHq3).
WH_BENCHMARKS = {
    "sm": (0.0, 0.0),
    "b1": (1.0, 0.0),
    "b2": (-1.0, 0.0),
    "b3": (0.0, 1.0),
    "b4": (0.0, -1.0),
    "b5": (1.0, 1.0),
}


def wh_miner():
    """The W h setup: cHW (SMEFT 7) and cHq3 (SMEFT 25), the six benchmarks, quadratic morphing."""
    from motherlode.core import MadMiner

    miner = MadMiner()
    miner.add_parameter("SMEFT", 7, "cHW", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    miner.add_parameter("SMEFT", 25, "cHq3", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    for name, (c_hw, c_hq3) in WH_BENCHMARKS.items():
        miner.add_benchmark({"cHW": c_hw, "cHq3": c_hq3}, name)
    miner.set_morphing(include_existing_benchmarks=True, max_overall_power=2)
    return miner


# ---------------------------------------------------------------------------- events files and interruptions


def events_datasets(path: Path) -> dict:
    """The observations, weights and sampling benchmarks of an events file."""
    import h5py

    with h5py.File(path, "r") as handle:
        return {
            name: handle[f"samples/{name}"][()] for name in ("observations", "weights", "sampling_benchmarks")
        }


def assert_identical(first: dict, second: dict) -> None:
    """Two dicts of arrays are equal, key by key, bit for bit."""
    import numpy as np

    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)


class Interrupt(KeyboardInterrupt):
    """What the tests raise to stop a job mid-way (as Ctrl-C or a kill would)."""


def interrupt_after(monkeypatch, owner, name: str, n_calls: int = 10**9) -> list[int]:
    """Make ``owner.name`` raise :class:`Interrupt` on its call ``n_calls + 1`` (by default: only count
    the calls); returns the call count."""
    original = getattr(owner, name)
    calls = [0]

    @functools.wraps(original)
    def counted(*args, **kwargs):
        calls[0] += 1
        if calls[0] > n_calls:
            raise Interrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls
