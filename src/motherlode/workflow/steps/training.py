"""Step ``training``: estimators (or ensembles) trained on the samples -> ``models/<name>``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import InputError
from ...ml import Ensemble, LikelihoodEstimator, ParameterizedRatioEstimator, ScoreEstimator
from ..config import METHOD_SAMPLE_TYPES, MLflow, Training
from ..context import StepContext

__all__ = ["SAMPLE_ARRAYS", "SAMPLE_ESTIMATORS", "inputs", "run"]

#: The estimator class of each sample type's methods.
SAMPLE_ESTIMATORS: dict[str, type] = {
    "local": ScoreEstimator,
    "ratio": ParameterizedRatioEstimator,
    "density": LikelihoodEstimator,
}

#: The training arrays of each sample type: (training argument, file prefix).
SAMPLE_ARRAYS: dict[str, list[tuple[str, str]]] = {
    "local": [("x", "x"), ("t_xz", "t_xz")],
    "ratio": [("x", "x"), ("theta", "theta0"), ("y", "y"), ("r_xz", "r_xz"), ("t_xz", "t_xz")],
    "density": [("x", "x"), ("theta", "theta"), ("t_xz", "t_xz")],
}


def inputs(context: StepContext) -> list[Path]:
    """The sample files every model trains on."""
    folder = context.samples_folder()
    files = []
    for model in context.config.training or []:
        sample_type = METHOD_SAMPLE_TYPES[model.method]
        files += [folder / f"{prefix}_{model.sample}.npy" for _, prefix in SAMPLE_ARRAYS[sample_type]]
    return files


def run(context: StepContext) -> None:
    """Train every model (on ``config.device``) and save it (an ensemble when ``ensemble > 1``)."""
    assert context.config.training is not None
    if context.config.device == "cuda" and not torch.cuda.is_available():
        raise InputError(
            "device: cuda was asked for, but torch sees no CUDA device (a CPU build of torch, or no "
            "GPU); use device auto or cpu"
        )
    (context.staging / "models").mkdir(parents=True, exist_ok=True)
    finished = context.finished_outputs(
        {
            "training": [model.model_dump(mode="json") for model in context.config.training],
            "samples": inputs(context),
            "device": context.config.device,
            "seed": context.seed,
            "cluster": context.config.cluster is not None,
        }
    )
    for index, model in enumerate(context.config.training):
        key = f"model{index}"
        if finished is not None and finished.restore(key):  # trained before an interruption
            continue
        before = set() if finished is None else finished.files()
        sample_type = METHOD_SAMPLE_TYPES[model.method]  # the config checked the sample's type
        estimator_class = SAMPLE_ESTIMATORS[sample_type]
        torch.manual_seed(context.seed + index)
        arrays = {
            argument: str(context.samples_folder() / f"{prefix}_{model.sample}.npy")
            for argument, prefix in SAMPLE_ARRAYS[sample_type]
        }
        losses = _train(
            model,
            estimator_class,
            arrays,
            context.config.device,
            context.staging / "models" / model.name,
            context.dask_client() if model.ensemble > 1 else None,
            context.seed + index,
            context.checkpoint(model.name),
        )
        if finished is not None:
            finished.record(key, before)
        if context.config.mlflow is not None:
            _log_to_mlflow(context.config.mlflow, model, losses)


def _train(
    model: Training,
    estimator_class: type,
    arrays: dict[str, str],
    device: str,
    target: Path,
    client: Any = None,
    seed: int = 0,
    checkpoint: Path | None = None,
) -> list[Any]:
    """Train and save one model; the (training, validation) losses per epoch of each member.

    With a Dask ``client``, an ensemble trains one member per task, member ``i`` seeded with
    ``task_seed(seed, i)``. With a ``checkpoint`` folder an interrupted training continues after its
    last epoch."""
    members = [
        estimator_class(n_hidden=model.n_hidden, activation=model.activation) for _ in range(model.ensemble)
    ]
    arguments: dict[str, Any] = {
        "method": model.method,
        **arrays,
        "n_epochs": model.n_epochs,
        "batch_size": model.batch_size,
        "final_lr": model.final_lr,
        "validation_split": model.validation_split or None,
        "device": device,
        "verbose": "none",
        "checkpoint": checkpoint,
        **model.options,
    }
    if model.initial_lr is not None:
        arguments["initial_lr"] = model.initial_lr
    if estimator_class is not ScoreEstimator:
        arguments["alpha"] = model.alpha
    if model.ensemble == 1:
        losses = [members[0].train(**arguments)]
        members[0].save(target)
    else:
        ensemble = Ensemble(members)
        if client is not None:
            losses = list(ensemble.train_all(client=client, random_state=seed, **arguments))
        else:
            losses = list(ensemble.train_all(**arguments))
        ensemble.save(target)
    return losses


def _log_to_mlflow(config: MLflow, model: Training, losses: list[Any]) -> None:
    """One MLflow run per model: its parameters and the training and validation loss per epoch."""
    try:
        import mlflow
    except ImportError:
        raise InputError(
            "the workflow asks for MLflow logging (mlflow:), but mlflow is not installed"
        ) from None
    if config.tracking_uri is not None:
        mlflow.set_tracking_uri(config.tracking_uri)
    mlflow.set_experiment(config.experiment)
    with mlflow.start_run(run_name=model.name):
        parameters = model.model_dump(mode="json", exclude={"options"})
        mlflow.log_params({**parameters, **{f"options.{k}": v for k, v in model.options.items()}})
        for member, (train_losses, val_losses) in enumerate(losses):
            suffix = "" if len(losses) == 1 else f"_member_{member}"
            for name, values in (("train_loss", train_losses), ("val_loss", val_losses)):
                for epoch, value in enumerate(np.asarray(values if values is not None else []).reshape(-1)):
                    mlflow.log_metric(f"{name}{suffix}", float(value), step=epoch)
