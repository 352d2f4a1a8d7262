"""Steps ``fisher_information`` and ``limits``: the results of the analysis, as JSON and NumPy files.

``fisher_information.json`` holds, per method (``truth``, ``rate``, ``histogram <observable>``,
``<estimator>``), the information matrix and its covariance (where the method gives one).
``limits.npz`` holds the grid (``grid``), and per analysis the p-values (``p_values/<name>``) and the
index of the best-fit point (``best_fit/<name>``); ``limits.json`` summarises each analysis: best
fit, whether ``theta_true`` is inside the 68 % and 95 % regions, and their share of the grid.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ...fileformat import atomic_write, atomic_write_text
from ...fisherinformation import FisherInformation
from ...limits import AsymptoticLimits
from ..context import StepContext

__all__ = [
    "fisher_information_inputs",
    "limits_inputs",
    "model_files",
    "run_fisher_information",
    "run_limits",
]

_LEVELS = {"68": 0.3173105078629141, "95": 0.04550026389635839}  # p-values of 1 and 2 sigma


def model_files(context: StepContext, names: list[str]) -> list[Path]:
    """The files of the named models (a saved estimator's ``<name>_*`` files, or an ensemble's folder)."""
    files = []
    for name in names:
        model = context.model(name)
        files += sorted(model.glob("*")) if model.is_dir() else sorted(model.parent.glob(f"{model.name}_*"))
    return files


def fisher_information_inputs(context: StepContext) -> list[Path]:
    """The events file and the score models."""
    config = context.config.fisher_information
    assert config is not None
    return [context.events_file(), *model_files(context, config.estimators)]


def run_fisher_information(context: StepContext) -> None:
    """Fisher information of every requested method at ``theta``: ``fisher_information.json``."""
    config = context.config.fisher_information
    assert config is not None
    fisher = FisherInformation(context.events_file())
    theta = np.asarray(config.theta, dtype=np.float64)
    results: dict[str, dict[str, Any]] = {}
    if config.truth:
        results["truth"] = _matrices(*fisher.truth_information(theta, config.luminosity))
    if config.rate:
        results["rate"] = _matrices(*fisher.rate_information(theta, config.luminosity))
    for histogram in config.histograms:
        bins = histogram.bins if isinstance(histogram.bins, int) else np.asarray(histogram.bins)
        information = fisher.histo_information(
            theta, config.luminosity, histogram.observable, bins, histrange=histogram.histrange
        )
        results[f"histogram {histogram.observable}"] = _matrices(*information)
    test_split = context.config.sampling.test_split if context.config.sampling else 0.2
    for name in config.estimators:
        estimated = fisher.full_information(
            theta, str(context.model(name)), luminosity=config.luminosity, test_split=test_split
        )
        results[name] = _matrices(*estimated)
    document = {
        "theta": config.theta,
        "luminosity": config.luminosity,
        "parameters": list(fisher.parameters),
        "information": results,
    }
    _write_json(context.staging / "fisher_information.json", document)


def _matrices(information: np.ndarray, covariance: Any) -> dict[str, Any]:
    covariance = None if covariance is None or np.ndim(covariance) == 0 else np.asarray(covariance).tolist()
    return {"matrix": np.asarray(information).tolist(), "covariance": covariance}


def limits_inputs(context: StepContext) -> list[Path]:
    """The events file and the models of the analyses."""
    config = context.config.limits
    assert config is not None
    return [
        context.events_file(),
        *model_files(context, [a.estimator for a in config.analyses if a.estimator]),
    ]


def run_limits(context: StepContext) -> None:
    """Expected limits of every analysis on one grid: ``limits.npz`` and ``limits.json``."""
    config = context.config.limits
    assert config is not None
    limits = AsymptoticLimits(context.events_file(), checkpoint=context.checkpoint("limits"))
    test_split = context.config.sampling.test_split if context.config.sampling else 0.2
    arrays: dict[str, np.ndarray] = {}
    summary: dict[str, Any] = {}
    grid = None
    for analysis in config.analyses:
        kwargs: dict[str, Any] = {
            "grid_ranges": [tuple(r) for r in config.grid_ranges],
            "grid_resolutions": config.grid_resolutions,
            "luminosity": config.luminosity,
            "include_xsec": config.include_xsec if analysis.include_xsec is None else analysis.include_xsec,
            "test_split": test_split,
            "return_histos": False,
            **analysis.options,
        }
        if analysis.estimator is not None:
            kwargs["model_file"] = str(context.model(analysis.estimator))
        if analysis.hist_vars is not None:
            kwargs["hist_vars"] = analysis.hist_vars
        if analysis.hist_bins is not None:
            kwargs["hist_bins"] = analysis.hist_bins
        grid, p_values, best_fit, *_ = limits.expected_limits(analysis.mode, config.theta_true, **kwargs)
        arrays[f"p_values/{analysis.name}"] = p_values
        arrays[f"best_fit/{analysis.name}"] = np.asarray(best_fit)
        summary[analysis.name] = _summary(grid, p_values, int(best_fit), np.asarray(config.theta_true))
    assert grid is not None
    arrays["grid"] = grid
    with atomic_write(context.staging / "limits.npz") as handle:
        # allow_pickle: numpy's default, named so that the checker knows **arrays cannot fill it
        np.savez(handle, allow_pickle=True, **arrays)
    document = {
        "theta_true": config.theta_true,
        "luminosity": config.luminosity,
        "grid_ranges": [list(r) for r in config.grid_ranges],
        "grid_resolutions": config.grid_resolutions,
        "parameters": list(limits.parameters),
        "analyses": summary,
    }
    _write_json(context.staging / "limits.json", document)


def _summary(grid: np.ndarray, p_values: np.ndarray, best_fit: int, theta_true: np.ndarray) -> dict[str, Any]:
    """Best fit, and for 68 % and 95 %: is theta_true inside, and the share of the grid inside."""
    true_index = int(np.argmin(np.linalg.norm(grid - theta_true[None, :], axis=1)))
    result: dict[str, Any] = {
        "best_fit": grid[best_fit].tolist(),
        "p_value_at_theta_true": float(p_values[true_index]),
    }
    for name, level in _LEVELS.items():
        inside = p_values > level
        result[f"theta_true_in_{name}"] = bool(inside[true_index])
        result[f"grid_share_{name}"] = float(inside.mean())
    return result


def _write_json(path: Path, document: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(document, indent=2) + "\n")
