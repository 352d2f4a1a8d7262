"""Interrupted trainings continue from their last completed epoch (``checkpoint=`` folders).

Every test interrupts a training by raising ``KeyboardInterrupt`` when a given epoch starts (the
epochs before it are complete and recorded), reruns it with the same folder, and compares the result
with an uninterrupted training of the same seed: the weights and loss histories must be identical, bit
for bit, and only the remaining epochs may be trained. The reruns seed torch differently, so that only
the recorded state can make them equal.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from conftest import interrupt_after
from motherlode import checkpoint as checkpoint_module
from motherlode.errors import InputError
from motherlode.ml import stacked
from motherlode.ml.base import Estimator
from motherlode.ml.ensemble import Ensemble
from motherlode.ml.kernels import CompiledStep
from motherlode.ml.likelihood import LikelihoodEstimator
from motherlode.ml.optim import FlatOptimizer
from motherlode.ml.parameterized_ratio import ParameterizedRatioEstimator
from motherlode.ml.score import ScoreEstimator
from motherlode.ml.trainer import Trainer, load_optimizer_state
from test_ml_ensemble import ratio_data as ensemble_ratio_data

pytestmark = pytest.mark.usefixtures("one_torch_thread")

N_EPOCHS = 6
COMMON = {"n_epochs": N_EPOCHS, "batch_size": 64, "verbose": "none", "device": "cpu"}


# ---------------------------------------------------------------------------- toy data


def sally_data(n: int = 300, seed: int = 0) -> dict[str, np.ndarray]:
    """x (n, 2) at the reference point and the joint score (z ~ N(0, 2), x ~ N(z, 1))."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, (n, 2))
    return {"x": rng.normal(z, 1.0), "t_xz": z / 4.0}


def ratio_data(n: int = 150, seed: int = 1) -> dict[str, np.ndarray]:
    """The ensemble tests' toy (:func:`test_ml_ensemble.ratio_data`), smaller."""
    return ensemble_ratio_data(n, seed)


def likelihood_data(n: int = 300, seed: int = 2) -> dict[str, np.ndarray]:
    data = ratio_data(n // 2, seed)
    return {"x": data["x"], "theta": data["theta"], "t_xz": data["t_xz"]}


# ---------------------------------------------------------------------------- interruptions


class Epochs:
    """Counts the epochs that :class:`Trainer` trains and interrupts the training at a chosen one.

    ``interrupt_at`` counts the epochs trained since the last :meth:`reset` (over several trainings, e.g.
    the members of an ensemble): when that many are done, the next one raises ``error``.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, owner: Any = Trainer, name: str = "_epoch") -> None:
        self.trained: list[int] = []
        self.interrupt_at: int | None = None
        self.error: BaseException = KeyboardInterrupt()
        original = getattr(owner, name)

        def epoch(this: Any, index: int, *args: Any, **kwargs: Any) -> Any:
            if self.interrupt_at is not None and len(self.trained) == self.interrupt_at:
                self.interrupt_at = None
                raise self.error
            self.trained.append(index)
            return original(this, index, *args, **kwargs)

        monkeypatch.setattr(owner, name, epoch)

    def reset(self, interrupt_at: int | None = None) -> None:
        self.trained, self.interrupt_at = [], interrupt_at


@pytest.fixture
def epochs(monkeypatch: pytest.MonkeyPatch) -> Epochs:
    return Epochs(monkeypatch)


def assert_same_networks(first: Estimator, second: Estimator) -> None:
    assert first.model is not None and second.model is not None
    a, b = first.model.state_dict(), second.model.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def assert_same_losses(first: tuple, second: tuple) -> None:
    for a, b in zip(first, second, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)


# ---------------------------------------------------------------------------- one estimator

Train = Callable[[Any], tuple[Estimator, tuple]]


def sally(noise: bool = False, **options: Any) -> Train:
    """SALLY on the toy, or with ``noise`` on a joint score that does not depend on x (the validation loss
    soon stops improving)."""
    data = sally_data()
    if noise:
        data["t_xz"] = np.random.default_rng(3).normal(0.0, 1.0, data["t_xz"].shape)

    def train(checkpoint: Any) -> tuple[Estimator, tuple]:
        estimator = ScoreEstimator(n_hidden=(12,))
        losses = estimator.train("sally", **data, **COMMON, **options, checkpoint=checkpoint)
        return estimator, losses

    return train


def ratio(method: str, **options: Any) -> Train:
    def train(checkpoint: Any) -> tuple[Estimator, tuple]:
        estimator = ParameterizedRatioEstimator(n_hidden=(12,))
        losses = estimator.train(method, **ratio_data(), **COMMON, **options, checkpoint=checkpoint)
        return estimator, losses

    return train


def likelihood(**options: Any) -> Train:
    def train(checkpoint: Any) -> tuple[Estimator, tuple]:
        estimator = LikelihoodEstimator(n_mades=1, n_hidden=(8,))
        losses = estimator.train("scandal", **likelihood_data(), **COMMON, **options, checkpoint=checkpoint)
        return estimator, losses

    return train


def explicit_validation() -> dict[str, np.ndarray]:
    return {f"{key}_val": value for key, value in ratio_data(50, seed=5).items()}


CASES = {
    "sally-amsgrad-early-stopping": sally(optimizer="amsgrad"),
    "sally-sgd-no-validation": sally(
        optimizer="sgd", nesterov_momentum=0.9, initial_lr=0.01, validation_split=None, early_stopping=False
    ),
    "sally-adam-patience": sally(noise=True, optimizer="adam", early_stopping_patience=1),
    "alices-amsgrad-clip": ratio("alices", optimizer="amsgrad", clip_gradient=1.0),
    "rascal-adam-explicit-validation": ratio("rascal", optimizer="adam", **explicit_validation()),
    "alices-sgd-no-early-stopping": ratio(
        "alices", optimizer="sgd", initial_lr=0.01, nesterov_momentum=0.5, early_stopping=False
    ),
    "scandal-autograd": likelihood(optimizer="amsgrad"),
}


def uninterrupted(train: Train, seed: int = 0) -> tuple[Estimator, tuple]:
    torch.manual_seed(seed)
    return train(None)


@pytest.mark.parametrize("interrupt_at", [1, 2, 4])
@pytest.mark.parametrize("case", list(CASES))
def test_interrupted_training_continues_exactly(case, interrupt_at, epochs, tmp_path):
    train, folder = CASES[case], tmp_path / "checkpoint"
    reference, reference_losses = uninterrupted(train)
    n_trained = len(reference_losses[0])
    if case == "sally-adam-patience":
        assert n_trained < N_EPOCHS  # the patience ran out: a finished training is not always n_epochs long
    interrupt_at = min(interrupt_at, n_trained - 1)  # within a training that stopped early

    torch.manual_seed(0)
    epochs.reset(interrupt_at)
    with pytest.raises(KeyboardInterrupt):
        train(folder)
    assert epochs.trained == list(range(interrupt_at))
    assert (folder / f"epoch-{interrupt_at}.json").is_file()  # only the last completed epoch is kept
    assert not (folder / f"epoch-{interrupt_at - 1}.json").exists()

    torch.manual_seed(12345)  # another random state: only the records can give the same result
    epochs.reset()
    resumed, resumed_losses = train(folder)
    assert epochs.trained == list(range(interrupt_at, n_trained))
    assert_same_networks(reference, resumed)
    assert_same_losses(reference_losses, resumed_losses)
    assert not folder.exists()  # removed after success


@pytest.mark.parametrize(
    ("variable", "value", "case"),
    [
        ("MOTHERLODE_MANUAL_GRADIENTS", "0", "alices-adam"),  # the autograd step of the ratio networks
        (
            "MOTHERLODE_COMPILED_STEP",
            "1",
            "alices-amsgrad-clip",
        ),  # motherlode.ml.kernels, whatever the length
        ("MOTHERLODE_COMPILED_STEP", "1", "sally-sgd-no-validation"),
    ],
)
def test_other_training_steps_continue_exactly(variable, value, case, epochs, tmp_path, monkeypatch):
    monkeypatch.setenv(variable, value)
    compiled_epochs = interrupt_after(monkeypatch, CompiledStep, "train_epoch")
    train = ratio("alices", optimizer="adam") if case == "alices-adam" else CASES[case]
    folder = tmp_path / "checkpoint"
    reference, reference_losses = uninterrupted(train)
    assert (compiled_epochs[0] > 0) == (variable == "MOTHERLODE_COMPILED_STEP")
    torch.manual_seed(0)
    epochs.reset(2)
    with pytest.raises(KeyboardInterrupt):
        train(folder)
    torch.manual_seed(1)
    epochs.reset()
    resumed, resumed_losses = train(folder)
    assert epochs.trained == list(range(2, N_EPOCHS))
    assert_same_networks(reference, resumed)
    assert_same_losses(reference_losses, resumed_losses)


def test_random_state_after_training_is_that_of_an_uninterrupted_one(epochs, tmp_path):
    train, folder = sally(), tmp_path / "checkpoint"
    uninterrupted(train)
    expected = torch.get_rng_state()
    torch.manual_seed(0)
    epochs.reset(2)
    with pytest.raises(KeyboardInterrupt):
        train(folder)
    torch.manual_seed(7)
    train(folder)
    assert torch.equal(torch.get_rng_state(), expected)


def test_finished_training_is_restored_without_training(epochs, tmp_path, monkeypatch):
    train, folder = ratio("alices"), tmp_path / "checkpoint"
    monkeypatch.setattr(checkpoint_module.Checkpoint, "clear", lambda self: None)  # keep the final record
    torch.manual_seed(0)
    reference, reference_losses = train(folder)
    assert (folder / f"epoch-{len(reference_losses[0])}.json").is_file()
    epochs.reset()
    torch.manual_seed(3)
    restored, restored_losses = train(folder)
    assert epochs.trained == []
    assert_same_networks(reference, restored)
    assert_same_losses(reference_losses, restored_losses)


@pytest.mark.parametrize(
    "change",
    [
        {"batch_size": 32},
        {"initial_lr": 0.004},
        {"optimizer": "adam"},
        {"n_epochs": N_EPOCHS + 1},
        {"validation_split": 0.3},
        {"early_stopping_patience": 2},
        {"clip_gradient": 5.0},
        {"alpha": 2.0},
        {"method": "rascal"},
        {"t_xz": ratio_data()["t_xz"] * 1.001},
        {"x": ratio_data()["x"][::-1].copy()},
        {"n_hidden": (13,)},
        {"activation": "relu"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_changed_training_does_not_reuse_the_records(change, epochs, tmp_path):
    folder = tmp_path / "checkpoint"

    def train(**changes: Any) -> tuple[Estimator, tuple]:
        arguments = {**ratio_data(), **COMMON, "method": "alices", "checkpoint": folder}
        settings = {"n_hidden": (12,), "activation": "tanh"}
        settings |= {k: v for k, v in changes.items() if k in settings}
        arguments |= {k: v for k, v in changes.items() if k not in settings}
        estimator = ParameterizedRatioEstimator(**settings)
        return estimator, estimator.train(**arguments)

    torch.manual_seed(0)
    epochs.reset(3)
    with pytest.raises(KeyboardInterrupt):
        train()
    torch.manual_seed(1)
    epochs.reset()
    changed, changed_losses = train(**change)
    assert epochs.trained[0] == 0  # started afresh
    torch.manual_seed(1)
    fresh, fresh_losses = train(**change)  # the same training without records
    assert_same_networks(changed, fresh)
    assert_same_losses(changed_losses, fresh_losses)


def test_unchanged_verbosity_and_file_names_reuse_the_records(epochs, tmp_path):
    folder, data = tmp_path / "checkpoint", sally_data()
    for name, value in data.items():
        np.save(tmp_path / f"{name}.npy", value)
    files = {name: str(tmp_path / f"{name}.npy") for name in data}
    torch.manual_seed(0)
    reference = ScoreEstimator(n_hidden=(12,))
    reference_losses = reference.train("sally", **data, **COMMON)
    torch.manual_seed(0)
    epochs.reset(2)
    with pytest.raises(KeyboardInterrupt):
        ScoreEstimator(n_hidden=(12,)).train("sally", **files, **COMMON, checkpoint=folder)
    epochs.reset()
    resumed = ScoreEstimator(n_hidden=(12,))
    resumed_losses = resumed.train("sally", **files, **{**COMMON, "verbose": "all"}, checkpoint=str(folder))
    assert epochs.trained == list(range(2, N_EPOCHS))  # read from files, logged otherwise: the same training
    assert_same_networks(reference, resumed)
    assert_same_losses(reference_losses, resumed_losses)


# ---------------------------------------------------------------------------- the records


def test_records_load_with_weights_only(epochs, tmp_path):
    folder = tmp_path / "checkpoint"
    torch.manual_seed(0)
    epochs.reset(2)
    with pytest.raises(KeyboardInterrupt):
        ratio("alices", early_stopping_patience=3)(folder)
    (record,) = folder.glob("*.pt")
    state = torch.load(record, weights_only=True)
    assert state["epochs"] == 2 and not state["finished"]
    assert set(state) >= {"model", "optimizer", "train_losses", "val_losses", "best", "start_rng", "rng"}
    assert state["train_losses"].dtype == torch.float64 and len(state["train_losses"]) == 2
    assert state["optimizer"]["kind"] == "amsgrad" and state["optimizer"]["steps"] > 0
    assert state["best"]["epoch"] in (0, 1) and state["best"]["weights"].keys() == state["model"].keys()
    assert state["rng"]["cpu"].dtype == torch.uint8


def test_flat_optimizer_state_round_trip(tmp_path):
    for kind, momentum in (("amsgrad", None), ("adam", None), ("sgd", 0.9), ("sgd", None)):
        torch.manual_seed(0)
        first, second = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
        second.load_state_dict(first.state_dict())
        opt_first = FlatOptimizer(list(first.parameters()), kind, 0.01, momentum)
        gradients = [[torch.randn_like(p) for p in first.parameters()] for _ in range(6)]
        for grads in gradients[:3]:
            opt_first.step(grads)
        path = tmp_path / f"{kind}.pt"
        torch.save(opt_first.state_dict(), path)
        second.load_state_dict(first.state_dict())
        opt_second = FlatOptimizer(list(second.parameters()), kind, 0.5, momentum)
        opt_second.load_state_dict(torch.load(path, weights_only=True))
        assert opt_second.steps == 3 and opt_second.lr == 0.01
        for grads in gradients[3:]:
            opt_first.step(grads)
            opt_second.step(grads)
        for a, b in zip(first.parameters(), second.parameters(), strict=True):
            assert torch.equal(a, b), kind
        saved = opt_second.state_dict()
        assert saved["steps"] == 6
        assert (saved["max_second_moment"] is None) == (kind != "amsgrad")
        assert (saved["first_moment"] is None) == (kind == "sgd" and momentum is None)
    with pytest.raises(InputError, match="does not fit"):
        FlatOptimizer(list(torch.nn.Linear(3, 2).parameters()), "adam").load_state_dict(saved)
    with pytest.raises(InputError, match="does not fit"):
        FlatOptimizer(list(torch.nn.Linear(4, 2).parameters()), "sgd").load_state_dict(saved)


def test_torch_optimizer_state_keeps_its_learning_rate_tensor(tmp_path):
    """The CUDA-graph step's Adam keeps its learning rate in a tensor that the captured graph reads: a
    recorded state is loaded into that tensor, never replacing it (shown here with a CPU Adam)."""
    layer = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(layer.parameters(), lr=torch.tensor(0.01), amsgrad=True)
    layer(torch.ones(4, 3)).sum().backward()
    opt.step()
    torch.save(opt.state_dict(), tmp_path / "adam.pt")
    rate = torch.tensor(0.5)
    other = torch.optim.Adam(torch.nn.Linear(3, 2).parameters(), lr=rate, amsgrad=True)
    load_optimizer_state(other, torch.load(tmp_path / "adam.pt", weights_only=True))
    assert other.param_groups[0]["lr"] is rate and float(rate) == pytest.approx(0.01)
    assert other.state_dict()["state"][0]["max_exp_avg_sq"].shape == (2, 3)


def test_checkpoint_of_another_kind_of_folder_is_refused(tmp_path):
    folder = tmp_path / "busy"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(Exception, match="not a motherlode checkpoint folder"):
        sally()(folder)
    assert (folder / "notes.txt").read_text() == "mine"


# ---------------------------------------------------------------------------- ensembles


def ensemble_train(folder: Path | None, **options: Any) -> tuple[Ensemble, list]:
    ensemble = Ensemble([ScoreEstimator(n_hidden=(12,)) for _ in range(3)])
    arguments = {"method": "sally", **sally_data(), **COMMON, **options}
    results = ensemble.train_all(**arguments, checkpoint=folder)
    return ensemble, results


def assert_same_ensembles(first: tuple[Ensemble, list], second: tuple[Ensemble, list]) -> None:
    for a, b in zip(first[0].estimators, second[0].estimators, strict=True):
        assert_same_networks(a, b)
    for a, b in zip(first[1], second[1], strict=True):
        assert_same_losses(a, b)


@pytest.mark.parametrize(
    "options", [{"vectorize": False}, {"random_state": 7}], ids=["global-seed", "seeded-tasks"]
)
def test_ensemble_continues_in_the_interrupted_member(options, epochs, tmp_path):
    folder = tmp_path / "checkpoint"
    torch.manual_seed(0)
    reference = ensemble_train(None, **options)
    torch.manual_seed(0)
    epochs.reset(N_EPOCHS + 2)  # in member 2, after two of its epochs
    with pytest.raises(KeyboardInterrupt):
        ensemble_train(folder, **options)
    assert (folder / "member_0.json").is_file() and (folder / "member_0.estimator").is_dir()
    assert (folder / "member_1" / "epoch-2.json").is_file()
    assert not (folder / "member_1.json").exists()

    torch.manual_seed(99)
    epochs.reset()
    resumed = ensemble_train(folder, **options, verbose="few")  # logging does not change the result
    assert epochs.trained == [*range(2, N_EPOCHS), *range(N_EPOCHS)]  # member 1 loaded, not trained
    assert_same_ensembles(reference, resumed)
    assert not folder.exists()


def test_vectorised_ensemble_continues_the_stack(tmp_path, monkeypatch):
    stack_epochs = Epochs(monkeypatch, stacked._StackedRun, "epoch")
    folder = tmp_path / "checkpoint"
    options = {"vectorize": True, "early_stopping_patience": 1, "initial_lr": 0.02}
    torch.manual_seed(0)
    reference = ensemble_train(None, **options)
    assert len(stack_epochs.trained) == N_EPOCHS
    torch.manual_seed(0)
    stack_epochs.reset(3)
    with pytest.raises(KeyboardInterrupt):
        ensemble_train(folder, **options)
    assert (folder / "stacked" / "epoch-3.json").is_file()
    record = torch.load(folder / "stacked" / "epoch-3.pt", weights_only=True)
    assert len(record["train_losses"]) == 3 and record["best_params"]
    torch.manual_seed(5)
    stack_epochs.reset()
    resumed = ensemble_train(folder, **options)
    assert stack_epochs.trained == list(range(3, N_EPOCHS))
    assert_same_ensembles(reference, resumed)
    assert not folder.exists()


def test_finished_ensemble_members_are_loaded_not_trained(tmp_path, monkeypatch):
    folder = tmp_path / "checkpoint"
    torch.manual_seed(0)
    reference = ensemble_train(None, vectorize=False)
    random_state_after = torch.get_rng_state()
    monkeypatch.setattr(Ensemble, "_check_consistency", _interrupt_after_training)
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):  # all members trained, the folder not yet removed
        ensemble_train(folder, vectorize=False)
    monkeypatch.undo()
    epochs = Epochs(monkeypatch)
    torch.manual_seed(4)
    resumed = ensemble_train(folder, vectorize=False)
    assert epochs.trained == []
    assert_same_ensembles(reference, resumed)
    assert torch.equal(torch.get_rng_state(), random_state_after)
    assert not folder.exists()


def _interrupt_after_training(self: Ensemble) -> None:
    if all(e.model is not None for e in self.estimators):
        raise KeyboardInterrupt


def test_ensemble_records_of_other_arguments_are_not_reused(epochs, tmp_path):
    folder = tmp_path / "checkpoint"
    torch.manual_seed(0)
    epochs.reset(N_EPOCHS + 1)
    with pytest.raises(KeyboardInterrupt):
        ensemble_train(folder, vectorize=False)
    torch.manual_seed(0)
    epochs.reset()
    ensemble_train(folder, vectorize=False, batch_size=32)
    assert epochs.trained == [*range(N_EPOCHS)] * 3


def test_ensemble_with_a_dask_client_continues(epochs, tmp_path):
    distributed = pytest.importorskip("distributed")
    folder = tmp_path / "checkpoint"
    options = {"random_state": 3, "vectorize": False}
    reference = ensemble_train(None, **options)
    # one worker thread: the members train one after the other in this process, so the epochs count
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        # in the last member (no task is left to run on after the failure), as an error: a task's
        # KeyboardInterrupt would stop the worker
        epochs.reset(2 * N_EPOCHS + 4)
        epochs.error = RuntimeError("worker lost")
        with pytest.raises(RuntimeError, match="worker lost"):
            ensemble_train(folder, client=client, **options)
        assert (folder / "member_1.json").is_file() and (folder / "member_2" / "epoch-4.json").is_file()
        epochs.reset()
        resumed = ensemble_train(folder, client=client, **options)
    assert epochs.trained == list(range(4, N_EPOCHS))
    assert_same_ensembles(reference, resumed)
    assert not folder.exists()
