"""Shared test fixtures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")  # plots render headless, whatever the machine has

TESTS = Path(__file__).parent
DATA = TESTS / "data"
MADMINER_FILES = DATA / "madminer096"
PROBE = TESTS / "interop" / "madminer_probe.py"


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
