"""Interrupted limit scans resume from their last recorded event chunk (``AsymptoticLimits(...,
checkpoint=folder)``), with the same numbers, bit for bit, as an uninterrupted scan.

The events are the one-parameter toy of tests/test_limits.py (two copies of the quadrature nodes;
``test_split=0.5`` makes one copy the Asimov events). The chunks of mode "ml" are made small
(``_ELEMENTS``) so that a scan has several, every chunk is recorded (``_RECORD_SECONDS = 0``), and
a scan is interrupted by a ``KeyboardInterrupt`` from the estimator's evaluation of chunk k + 1.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import motherlode.limits.asymptotic_limits as al
from motherlode.checkpoint import fingerprint
from motherlode.errors import InputError
from motherlode.limits import AsymptoticLimits
from motherlode.ml import ParameterizedRatioEstimator
from test_limits import _shape_file, _toy_file

POINTS_PER_CHUNK = 32  # events per chunk (with _ELEMENTS = points x 32)
GRID = {"grid_ranges": [(-0.8, 0.8)], "grid_resolutions": 9}


@pytest.fixture(scope="module")
def trained(one_torch_thread) -> ParameterizedRatioEstimator:
    """A small CARL estimator of the toy: x ~ p(x|theta) ~ (1 + theta x)^2 (y = 0) against the
    uniform p(x|0) (y = 1) on [-1, 1]."""
    import torch

    rng = np.random.default_rng(1)
    theta = rng.uniform(-1.0, 1.0, 6000)
    x = rng.uniform(-1.0, 1.0, 6000)
    keep = rng.uniform(0.0, 4.0, 6000) < (1.0 + theta * x) ** 2
    theta, x = theta[keep][:1000], x[keep][:1000]
    x = np.concatenate([x, rng.uniform(-1.0, 1.0, len(x))])[:, None]
    theta = np.concatenate([theta, theta])[:, None]
    y = np.repeat([0.0, 1.0], len(x) // 2)[:, None]
    torch.manual_seed(0)
    estimator = ParameterizedRatioEstimator(n_hidden=(8,))
    estimator.train("carl", x=x, y=y, theta=theta, n_epochs=2, verbose="none", device="cpu", n_workers=0)
    return estimator


@pytest.fixture
def small_chunks(monkeypatch) -> None:
    """Chunks of 32 events (about: ``_ELEMENTS`` / points) and a record after every chunk."""
    monkeypatch.setattr(al, "_ELEMENTS", 10 * POINTS_PER_CHUNK)
    monkeypatch.setattr(al, "_RECORD_SECONDS", 0.0)


class _Calls:
    """Counts the calls of a method of a class; call number ``stop`` raises KeyboardInterrupt."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, cls: type, name: str) -> None:
        self.count, self.stop = 0, None
        original = getattr(cls, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            if self.stop is not None and self.count >= self.stop:
                raise KeyboardInterrupt
            return original(*args, **kwargs)

        monkeypatch.setattr(cls, name, counted)

    def run(self, function: Callable[[], Any], stop: int | None = None) -> Any:
        """``function()``, counting from 0; with ``stop``, expect the interruption."""
        self.count, self.stop = 0, stop
        if stop is None:
            return function()
        with pytest.raises(KeyboardInterrupt):
            function()
        return None


def _saved(estimator: ParameterizedRatioEstimator, folder: Path) -> str:
    folder.mkdir(exist_ok=True)
    estimator.save(folder / "model")
    return str(folder / "model")


def _scan(call: str, limits: AsymptoticLimits, model: str, **changes: Any) -> Any:
    """A scan of mode "ml": expected limits at theta_true = 0.3, or observed limits of 150 events."""
    kwargs = {**GRID, "model_file": model, "luminosity": 200.0, "test_split": 0.5, **changes}
    if call == "expected":
        return limits.expected_limits("ml", [0.3], **kwargs)
    x = np.random.default_rng(5).uniform(-1.0, 1.0, (150, 1))
    return limits.observed_limits("ml", x, **kwargs)


def _assert_identical(result: Any, reference: Any) -> None:
    """Every array of a result (tuple or dict) equal, bit for bit, to the reference's."""
    items = result.items() if isinstance(result, dict) else enumerate(result)
    for name, value in items:
        expected = reference[name]
        if value is None or expected is None:
            assert value is expected, name
        else:
            assert np.array_equal(value, expected), name


def _pieces(folder: Path) -> list[str]:
    """The recorded pieces (``<call folder>/<key>``) under a checkpoint folder."""
    return sorted(f"{p.parent.name}/{p.stem}" for p in folder.glob("*/*.json") if p.name != "job.json")


# ---------------------------------------------------------------------------- API


def test_the_checkpoint_is_a_keyword_of_the_constructor(tmp_path):
    parameters = inspect.signature(AsymptoticLimits).parameters
    assert list(parameters)[:2] == ["filename", "include_nuisance_parameters"]  # MadMiner's
    assert parameters["checkpoint"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["checkpoint"].default is None
    limits = AsymptoticLimits(_toy_file(tmp_path), False, checkpoint=tmp_path / "ckpt")
    assert limits.checkpoint == tmp_path / "ckpt"


def test_modes_without_long_loops_and_refused_calls_write_no_checkpoint(tmp_path):
    folder = tmp_path / "ckpt"
    limits = AsymptoticLimits(_toy_file(tmp_path), checkpoint=folder)
    limits.expected_limits("rate", [0.3], **GRID, luminosity=200.0)
    limits.expected_limits("histo", [0.3], **GRID, hist_vars=["x"], hist_bins=[np.linspace(-1, 1, 5)])
    assert not folder.exists()
    with pytest.raises(InputError, match="model_file"):  # a refused call leaves nothing either
        limits.expected_limits("ml", [0.3], **GRID)
    assert not folder.exists()


# ---------------------------------------------------------------------------- observed and expected limits


@pytest.mark.parametrize("call", ["expected", "observed"])
def test_an_interrupted_scan_resumes_bit_for_bit(tmp_path, trained, small_chunks, monkeypatch, call):
    """Interrupted after 2 chunks, rerun with the same folder: only the other chunks are evaluated,
    the result equals the uninterrupted scan's (without checkpoint) bit for bit, and the folder is
    removed when the scan has returned."""
    calls = _Calls(monkeypatch, ParameterizedRatioEstimator, "evaluate_log_likelihood_ratio")
    path, model, folder = _toy_file(tmp_path, copies=2), _saved(trained, tmp_path / "m"), tmp_path / "ckpt"
    reference = calls.run(lambda: _scan(call, AsymptoticLimits(path), model))
    n_chunks = calls.count
    assert n_chunks >= 5

    calls.run(lambda: _scan(call, AsymptoticLimits(path, checkpoint=folder), model), stop=3)
    assert [piece.split("/")[1].rsplit("-", 2)[1:] for piece in _pieces(folder)] == [["0", "2"]]
    resumed = calls.run(lambda: _scan(call, AsymptoticLimits(path, checkpoint=folder), model))
    assert calls.count == n_chunks - 2  # the two recorded chunks were not evaluated again
    _assert_identical(resumed, reference)
    assert not folder.exists()


def test_a_scan_interrupted_several_times_resumes_bit_for_bit(tmp_path, trained, small_chunks, monkeypatch):
    calls = _Calls(monkeypatch, ParameterizedRatioEstimator, "evaluate_log_likelihood_ratio")
    path, model, folder = _toy_file(tmp_path, copies=2), _saved(trained, tmp_path / "m"), tmp_path / "ckpt"
    reference = calls.run(lambda: _scan("expected", AsymptoticLimits(path), model))
    evaluated = 0
    for stop in (2, 1, 3):  # interrupted after 1, 0 and 2 more chunks
        calls.run(lambda: _scan("expected", AsymptoticLimits(path, checkpoint=folder), model), stop=stop)
        evaluated += stop - 1
    resumed = calls.run(lambda: _scan("expected", AsymptoticLimits(path, checkpoint=folder), model))
    assert evaluated + calls.count == len(al._event_chunks(192, 10))
    _assert_identical(resumed, reference)


@pytest.mark.parametrize("change", ["luminosity", "grid", "model file", "events file"])
def test_changed_arguments_or_files_do_not_reuse_the_pieces(
    tmp_path, trained, small_chunks, monkeypatch, change
):
    calls = _Calls(monkeypatch, ParameterizedRatioEstimator, "evaluate_log_likelihood_ratio")
    path, model, folder = _toy_file(tmp_path, copies=2), _saved(trained, tmp_path / "m"), tmp_path / "ckpt"
    calls.run(lambda: _scan("expected", AsymptoticLimits(path, checkpoint=folder), model), stop=4)
    changes: dict[str, Any] = {}
    if change == "luminosity":
        changes["luminosity"] = 300.0
    elif change == "grid":
        changes["grid_ranges"] = [(-0.7, 0.8)]
    else:
        touched = Path(path) if change == "events file" else Path(model + "_state_dict.pt")
        later = touched.stat().st_mtime_ns + 10**9
        os.utime(touched, ns=(later, later))
    reference = calls.run(lambda: _scan("expected", AsymptoticLimits(path), model, **changes))
    n_chunks = calls.count
    result = calls.run(lambda: _scan("expected", AsymptoticLimits(path, checkpoint=folder), model, **changes))
    assert calls.count == n_chunks  # nothing reused
    _assert_identical(result, reference)
    # the interrupted call's pieces stay (another call could still resume them)
    assert len(list(folder.iterdir())) == 1 and len(_pieces(folder)) == 1


def test_the_pieces_are_arrays_read_without_pickles(tmp_path, trained, small_chunks, monkeypatch):
    calls = _Calls(monkeypatch, ParameterizedRatioEstimator, "evaluate_log_likelihood_ratio")
    path, model, folder = _toy_file(tmp_path, copies=2), _saved(trained, tmp_path / "m"), tmp_path / "ckpt"
    calls.run(lambda: _scan("expected", AsymptoticLimits(path, checkpoint=folder), model), stop=3)
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} == {".json", ".npz"}
    for npz in (p for p in files if p.suffix == ".npz"):
        with np.load(npz, allow_pickle=False) as data:
            assert all(data[name].dtype.kind in "fi" for name in data.files)
    loads: list[Any] = []
    original = np.load

    def spy(file: Any, *args: Any, **kwargs: Any) -> Any:
        if str(folder) in str(file):
            loads.append(kwargs.get("allow_pickle"))
        return original(file, *args, **kwargs)

    monkeypatch.setattr(np, "load", spy)
    calls.run(lambda: _scan("expected", AsymptoticLimits(path, checkpoint=folder), model))
    assert loads == [False]  # the one record of the running sums


def test_an_estimator_in_memory_is_described_by_its_weights(tmp_path, trained):
    import torch

    saved = _saved(trained, tmp_path / "m")
    same = ParameterizedRatioEstimator()
    same.load(saved)
    assert fingerprint(al._describe_model(same)) == fingerprint(al._describe_model(trained))
    with torch.no_grad():
        next(same.model.parameters())[0, 0] += 1e-6
    assert fingerprint(al._describe_model(same)) != fingerprint(al._describe_model(trained))
    files = al._describe_model(saved)["files"]
    assert {Path(f).name for f in files} >= {"model_settings.json", "model_state_dict.pt"}


# ---------------------------------------------------------------------------- profiled nuisance inputs


def test_a_profile_over_nuisance_inputs_resumes_bit_for_bit(tmp_path, small_chunks, monkeypatch):
    """An estimator of log r(x|theta, nu), profiled: every evaluation at some nu records its sums
    under a hash of nu; interrupted in the middle of the profile, the rerun reads the finished
    evaluations and gives the same likelihoods and profiled nu."""
    import torch

    torch.manual_seed(0)
    estimator = ParameterizedRatioEstimator(n_hidden=(8,))
    estimator._set_dimensions(1, 2)
    estimator.model = estimator._create_model()
    path, _, _ = _shape_file(tmp_path, copies=2)
    model, folder = _saved(estimator, tmp_path / "m"), tmp_path / "ckpt"
    calls = _Calls(monkeypatch, ParameterizedRatioEstimator, "evaluate_log_likelihood_ratio_torch")
    kwargs = {"grid_ranges": [(-0.8, 0.8)], "grid_resolutions": 5, "model_file": model}
    kwargs |= {"luminosity": 60.0, "test_split": 0.5}

    def scan(checkpoint: Path | None) -> tuple[Any, np.ndarray]:
        limits = AsymptoticLimits(path, True, checkpoint=checkpoint)
        result = limits.expected_limits("ml", [0.3], **kwargs)
        assert limits.profiled_nuisance_parameters is not None
        return result, limits.profiled_nuisance_parameters

    reference, nus = calls.run(lambda: scan(None))
    calls.run(lambda: scan(tmp_path / "uninterrupted"))
    with_checkpoint = calls.count  # (an evaluation at a nu seen before is read, not repeated)
    calls.run(lambda: scan(folder), stop=40)
    resumed, resumed_nus = calls.run(lambda: scan(folder))
    assert calls.count == with_checkpoint - 39
    _assert_identical(resumed, reference)
    assert np.array_equal(resumed_nus, nus)
    assert not folder.exists()


# ---------------------------------------------------------------------------- coverage toys


def test_interrupted_coverage_toys_resume_bit_for_bit(tmp_path, trained, small_chunks, monkeypatch):
    """Mode "ml" of coverage: the blocks of log r of the test events are recorded; the toys drawn
    after them are the same with the same seed."""
    calls = _Calls(monkeypatch, ParameterizedRatioEstimator, "evaluate_log_likelihood_ratio_torch")
    path, model, folder = _toy_file(tmp_path, copies=2), _saved(trained, tmp_path / "m"), tmp_path / "ckpt"
    kwargs = {"thetas_eval": np.linspace(-0.3, 0.9, 9)[:, None], "luminosity": 200.0, "model_file": model}
    kwargs |= {"test_split": 0.5, "n_toys": 300, "random_state": 3}

    def toys(checkpoint: Path | None) -> dict[str, Any]:
        return AsymptoticLimits(path, checkpoint=checkpoint).coverage("ml", [0.3], **kwargs)

    reference = calls.run(lambda: toys(None))
    n_chunks = calls.count
    assert n_chunks >= 5
    calls.run(lambda: toys(folder), stop=4)
    assert len(_pieces(folder)) == 3  # one block per chunk
    resumed = calls.run(lambda: toys(folder))
    assert calls.count == n_chunks - 3
    _assert_identical(resumed, reference)
    assert not folder.exists()


def test_records_wait_for_the_record_interval(tmp_path, trained, monkeypatch):
    """With the default interval (1 s) chunks of milliseconds are not recorded before the last one:
    an interruption leaves nothing (and no folder), and the rerun evaluates every chunk."""
    monkeypatch.setattr(al, "_ELEMENTS", 10 * POINTS_PER_CHUNK)
    calls = _Calls(monkeypatch, ParameterizedRatioEstimator, "evaluate_log_likelihood_ratio")
    path, model, folder = _toy_file(tmp_path, copies=2), _saved(trained, tmp_path / "m"), tmp_path / "ckpt"
    reference = calls.run(lambda: _scan("expected", AsymptoticLimits(path), model))
    n_chunks = calls.count
    calls.run(lambda: _scan("expected", AsymptoticLimits(path, checkpoint=folder), model), stop=4)
    assert not folder.exists()
    resumed = calls.run(lambda: _scan("expected", AsymptoticLimits(path, checkpoint=folder), model))
    assert calls.count == n_chunks
    _assert_identical(resumed, reference)
