"""Step ``plots``: the morphing basis, distributions, Fisher information and limits -> ``plots/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ...core import MadMiner
from ...plotting import (
    plot_1d_morphing_basis,
    plot_2d_morphing_basis,
    plot_distributions,
    plot_fisher_information_contours_2d,
    plot_fisherinfo_barplot,
    plot_nd_morphing_basis_scatter,
    plot_pvalue_limits,
)
from ..config import Plots
from ..context import StepContext

__all__ = ["inputs", "run"]


def _wanted(context: StepContext) -> dict[str, bool]:
    config = context.config
    plots = config.plots
    assert plots is not None
    return {
        "morphing": plots.morphing and (config.setup is not None or config.inputs.setup is not None),
        "distributions": plots.distributions is not None
        and (config.events is not None or config.inputs.events is not None),
        "fisher_information": plots.fisher_information and config.fisher_information is not None,
        "limits": plots.limits and config.limits is not None,
    }


def inputs(context: StepContext) -> list[Path]:
    """The files the requested plots read."""
    wanted = _wanted(context)
    files = []
    if wanted["morphing"]:
        files.append(context.setup_file())
    if wanted["distributions"]:
        files.append(context.events_file())
    if wanted["fisher_information"]:
        files.append(context.output / "fisher_information.json")
    if wanted["limits"]:
        files += [context.output / "limits.json", context.output / "limits.npz"]
    return files


def run(context: StepContext) -> None:
    """Draw each requested plot into ``plots/<name>.<format>``."""
    import matplotlib.pyplot as plt

    plots = context.config.plots
    assert plots is not None
    wanted = _wanted(context)
    folder = context.staging / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {}
    if wanted["morphing"]:
        figures["morphing_basis"] = _morphing(context, plots)
    if wanted["distributions"]:
        figures["distributions"] = _distributions(context, plots)
    if wanted["fisher_information"]:
        figures.update(_fisher_information(context, plots))
    if wanted["limits"]:
        figures["limits"] = _limits(context, plots)
    for name, figure in figures.items():
        if figure is not None:
            figure.savefig(folder / f"{name}.{plots.format}")
            plt.close(figure)


def _labels(plots: Plots, parameters: list[str]) -> list[str]:
    return list(plots.labels) if plots.labels else list(parameters)


def _morphing(context: StepContext, plots: Plots) -> Any:
    miner = MadMiner()
    miner.load(context.setup_file())
    if miner.morpher is None:
        return None
    labels = _labels(plots, list(miner.parameters))
    ranges = [(p.val_range[0], p.val_range[1]) for p in miner.parameters.values()]
    if len(labels) == 1:
        return plot_1d_morphing_basis(miner.morpher, xlabel=labels[0], xrange=ranges[0])
    if len(labels) == 2:
        return plot_2d_morphing_basis(
            miner.morpher,
            xlabel=labels[0],
            ylabel=labels[1],
            xrange=ranges[0],
            yrange=ranges[1],
        )
    return plot_nd_morphing_basis_scatter(miner.morpher, random_state=context.seed)


def _distributions(context: StepContext, plots: Plots) -> Any:
    benchmarks = plots.distribution_benchmarks
    observables = plots.distributions or None
    labels = None if observables is None else [plots.observable_labels.get(o, o) for o in observables]
    return plot_distributions(
        str(context.events_file()),
        observables=observables,
        observable_labels=labels,
        parameter_points=benchmarks,
        line_labels=plots.benchmark_labels or benchmarks,
        uncertainties="none",
        normalize=True,
        n_bins=30,
        random_state=context.seed,
    )


def _fisher_information(context: StepContext, plots: Plots) -> dict[str, Any]:
    document = json.loads((context.output / "fisher_information.json").read_text())
    names = list(document["information"])
    matrices = [np.asarray(document["information"][n]["matrix"]) for n in names]
    labels = _labels(plots, document["parameters"])
    figures = {"fisher_information_bars": plot_fisherinfo_barplot(matrices, names, parameter_labels=labels)}
    if len(labels) == 2:
        covariances = [
            None
            if document["information"][n]["covariance"] is None
            else np.asarray(document["information"][n]["covariance"])
            for n in names
        ]
        extent = _contour_extent(matrices, document["theta"])
        figures["fisher_information_contours"] = plot_fisher_information_contours_2d(
            matrices,
            covariances if all(c is not None for c in covariances) else None,
            reference_thetas=[document["theta"]] * len(matrices),
            labels=names,
            xlabel=labels[0],
            ylabel=labels[1],
            xrange=extent[0],
            yrange=extent[1],
        )
    return figures


def _contour_extent(matrices: list[np.ndarray], theta: list[float]) -> list[tuple[float, float]]:
    """Axis ranges that hold the widest of the 1-sigma ellipses (with a margin)."""
    widths = np.zeros(len(theta))
    for matrix in matrices:
        try:
            widths = np.maximum(widths, np.sqrt(np.clip(np.diag(np.linalg.pinv(matrix)), 0.0, None)))
        except np.linalg.LinAlgError:
            continue
    widths = np.where(widths > 0, 1.5 * widths, 1.0)
    return [(float(t - w), float(t + w)) for t, w in zip(theta, widths, strict=True)]


def _limits(context: StepContext, plots: Plots) -> Any:
    document = json.loads((context.output / "limits.json").read_text())
    names = list(document["analyses"])
    if len(document["parameters"]) != 2:
        return None
    with np.load(context.output / "limits.npz") as arrays:
        p_values = [arrays[f"p_values/{n}"] for n in names]
        best_fits = [int(arrays[f"best_fit/{n}"]) for n in names]
    labels = _labels(plots, document["parameters"])
    return plot_pvalue_limits(
        p_values,
        best_fits,
        names,
        [tuple(r) for r in document["grid_ranges"]],
        document["grid_resolutions"],
        levels=[0.32, 0.05],
        xlabel=labels[0],
        ylabel=labels[1],
    )
