"""Step ``evaluation``: trained models evaluated on a sample -> ``evaluation/<name>.npz``.

A score estimator gives ``score`` ``(n_x, n_parameters)``; a ratio estimator ``log_r``
``(n_thetas, n_x)`` at the entry's ``thetas`` (against the reference it was trained with); a
likelihood estimator ``log_p`` ``(n_thetas, n_x)``. An ensemble adds the spread of its members
(``<array>_variance``). ``thetas`` are stored with them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...fileformat import atomic_write
from ...ml import Ensemble
from ...ml.lookup import load_estimator
from ..config import Evaluation
from ..context import StepContext
from .inference import model_files

__all__ = ["inputs", "run"]


def inputs(context: StepContext) -> list[Path]:
    """The models and the samples' observations."""
    entries = context.config.evaluation or []
    samples = [context.samples_folder() / f"x_{entry.sample}.npy" for entry in entries]
    return samples + model_files(context, [entry.estimator for entry in entries])


def run(context: StepContext) -> None:
    """Evaluate every entry and save its arrays."""
    folder = context.staging / "evaluation"
    folder.mkdir(parents=True, exist_ok=True)
    for entry in context.config.evaluation or []:
        arrays = _evaluate(entry, context)
        with atomic_write(folder / f"{entry.name}.npz") as handle:
            # allow_pickle: numpy's default, named so that the checker knows **arrays cannot fill it
            np.savez(handle, allow_pickle=True, **arrays)


def _evaluate(entry: Evaluation, context: StepContext) -> dict[str, np.ndarray]:
    model = load_estimator(context.model(entry.estimator))
    x = np.load(context.samples_folder() / f"x_{entry.sample}.npy")
    ensemble = isinstance(model, Ensemble)
    extra: dict[str, Any] = {"calculate_covariance": "diagonal"} if ensemble else {}
    kind = model.estimator_type
    if kind == "score":
        result = model.evaluate_score(x=x, **extra)
        return _arrays("score", result, ensemble)
    if entry.thetas is None:
        raise ValueError(f"evaluation {entry.name!r}: a {kind} estimator needs thetas")
    thetas = np.asarray(entry.thetas, dtype=np.float64)
    if kind == "likelihood":
        result = model.evaluate_log_likelihood(
            x=x, theta=thetas, test_all_combinations=True, evaluate_score=False, **extra
        )
        name = "log_p"
    else:
        result = model.evaluate_log_likelihood_ratio(
            x=x, theta=thetas, test_all_combinations=True, evaluate_score=False, **extra
        )
        name = "log_r"
    return {**_arrays(name, result, ensemble), "thetas": thetas}


def _arrays(name: str, result: Any, ensemble: bool) -> dict[str, np.ndarray]:
    if ensemble:
        mean, variance = result
        return {name: np.asarray(mean), f"{name}_variance": np.asarray(variance)}
    value = result[0] if isinstance(result, tuple) else result
    return {name: np.asarray(value)}
