r"""The toy example: a one-parameter simulator with an exact likelihood, learned against exact limits.

The "process" has one observable ``x`` in [-1, 1] and one parameter theta,

.. math::

    \frac{d\sigma}{dx}(x|\theta) = \tfrac12 (1 + \theta x)^2 \ \mathrm{pb}, \qquad
    \sigma(\theta) = 1 + \theta^2/3 \ \mathrm{pb},

quadratic in theta, so three benchmarks (theta = 0, -1, 1) morph it exactly, as for an EFT
operator at order 1/Lambda^4. The events are drawn flat in x (the SM distribution) and carry their
exact weights at the three benchmarks. The workflow trains ALICES and SALLY on them and computes
expected limits in modes "ml", "sally", "histo" and "rate"; :func:`exact_p_values` gives the exact
Asimov p-values of the same likelihood (kinematics and rate), and the comparison (the 68 % and 95 %
intervals of each method against the exact ones, and a plot) goes into the report.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import chi2

from ..core import MadMiner
from ..fileformat import (
    append_samples,
    atomic_h5,
    atomic_write_text,
    create_sample_datasets,
    read_setup,
    write_observables,
    write_sample_summary,
    write_setup,
)
from ..workflow import StepResult, Workflow, validate_config

__all__ = ["exact_p_values", "run_toy", "toy_workflow", "write_toy_files"]

BENCHMARKS = {"sm": 0.0, "minus": -1.0, "plus": 1.0}
LUMINOSITY = 100.0  # pb^-1: 100 expected events at the SM
THETA_TRUE = 0.0
GRID = (-0.5, 0.5)
_NODES = 400  # Gauss-Legendre nodes of the exact integrals


def _config(quick: bool, device: str) -> dict[str, Any]:
    n_ratio, epochs = (20000, 10) if quick else (100000, 30)
    return {
        "random_state": 3,
        "device": device,
        "inputs": {"setup": "toy_setup.h5", "events": "toy_events.h5"},
        "sampling": {
            "test_split": 0.2,
            "samples": [
                {
                    "name": "ratio",
                    "type": "ratio",
                    "n_samples": n_ratio,
                    "theta0": {"random_morphing_points": {"n": 1000, "priors": [["flat", -1.0, 1.0]]}},
                    "theta1": {"benchmark": "sm"},
                },
                {"name": "score", "type": "local", "theta": {"benchmark": "sm"}, "n_samples": n_ratio // 2},
            ],
        },
        "training": [
            {
                "name": "alices",
                "method": "alices",
                "sample": "ratio",
                "n_hidden": [50, 50],
                "n_epochs": epochs,
                "alpha": 5.0,
                "options": {"scale_parameters": True},
            },
            {"name": "sally", "method": "sally", "sample": "score", "n_hidden": [50], "n_epochs": epochs},
        ],
        "limits": {
            "theta_true": [THETA_TRUE],
            "grid_ranges": [list(GRID)],
            "grid_resolutions": 101,
            "luminosity": LUMINOSITY,
            "analyses": [
                {"name": "rate", "mode": "rate"},
                {"name": "histogram x (10 bins)", "mode": "histo", "hist_vars": ["x"], "hist_bins": 10},
                {"name": "sally", "mode": "sally", "estimator": "sally"},
                {"name": "alices", "mode": "ml", "estimator": "alices"},
            ],
        },
        "plots": {"morphing": True, "labels": [r"$\theta$"]},
        "report": {
            "title": "A toy with an exact likelihood: learned against exact limits",
            "notes": ["comparison.md"],
        },
    }


def write_toy_files(
    folder: str | os.PathLike[str], n_events: int = 50000, seed: int = 0
) -> tuple[Path, Path]:
    """The toy's setup and events files (``toy_setup.h5``, ``toy_events.h5``) in ``folder``.

    The events are drawn flat in ``x``; each carries its exact weight at the three benchmarks, so
    that every cross section is exact up to the Monte Carlo error of ``n_events`` events.
    """
    folder = Path(folder)
    setup_path, events_path = folder / "toy_setup.h5", folder / "toy_events.h5"
    miner = MadMiner()
    miner.add_parameter("TOY", 1, parameter_name="theta", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    for name, value in BENCHMARKS.items():
        miner.add_benchmark({"theta": value}, name)
    miner.set_morphing(include_existing_benchmarks=True, max_overall_power=2)
    miner.save(setup_path)
    setup = read_setup(setup_path)
    setup.benchmarks["sm"].is_reference = True
    x = np.random.default_rng(seed).uniform(-1.0, 1.0, n_events)
    # flat generation: density 1/2, so w(x|theta) = (dsigma/dx) / (n * 1/2) = (1 + theta x)^2 / n
    weights = np.stack([(1.0 + value * x) ** 2 / n_events for value in BENCHMARKS.values()], axis=1)
    with atomic_h5(events_path, copy_from=setup_path) as handle:
        write_setup(handle, setup)
        write_observables(handle, ["x"], ["x"])
        create_sample_datasets(handle, 1, len(BENCHMARKS))
        append_samples(handle, x[:, None], weights, np.zeros(n_events, dtype=np.int64))
        write_sample_summary(handle, [n_events, 0, 0], 0)
    return setup_path, events_path


def exact_p_values(
    thetas: np.ndarray, theta_true: float = THETA_TRUE, luminosity: float = LUMINOSITY
) -> np.ndarray:
    """Exact expected (Asimov) p-values of the toy's likelihood, kinematics and rate, one dof.

    >>> p = exact_p_values(np.array([-0.2, 0.0, 0.2]))
    >>> float(p[1]), bool(abs(p[0] - p[2]) < 1e-12), bool(p[0] < 0.1)
    (1.0, True, True)
    """
    nodes, node_weights = np.polynomial.legendre.leggauss(_NODES)
    thetas = np.asarray(thetas, dtype=np.float64).reshape(-1)
    sigma = 1.0 + thetas**2 / 3.0
    density_true = 0.5 * (1.0 + theta_true * nodes) ** 2 / (1.0 + theta_true**2 / 3.0)
    log_density = np.log(0.5 * (1.0 + thetas[:, None] * nodes[None, :]) ** 2 / sigma[:, None])
    n_true = luminosity * (1.0 + theta_true**2 / 3.0)
    mu = luminosity * sigma
    log_l = n_true * (log_density @ (node_weights * density_true)) + n_true * np.log(mu) - mu
    q = np.clip(-2.0 * (log_l - log_l.max()), 0.0, None)
    return chi2.sf(q, 1)


def _interval(thetas: np.ndarray, p_values: np.ndarray, level: float) -> tuple[float, float]:
    inside = thetas[p_values > level]
    return (float(inside.min()), float(inside.max())) if len(inside) else (float("nan"), float("nan"))


def compare_with_exact(output: Path) -> None:
    """``comparison.md`` and ``plots/learned_vs_exact.png``: each analysis's intervals against the exact."""
    import matplotlib.pyplot as plt

    from ..plotting._style import line_colors, new_figure, plot_style

    with np.load(output / "limits.npz") as arrays:
        thetas = arrays["grid"][:, 0]
        analyses = {key.split("/", 1)[1]: arrays[key] for key in arrays.files if key.startswith("p_values/")}
    exact = exact_p_values(thetas)
    rows = ["| analysis | 68 % interval | 95 % interval | max abs. p-value diff. |", "|---|---|---|---|"]
    results: dict[str, Any] = {}
    for name, p_values in {"exact": exact, **analyses}.items():
        i68, i95 = _interval(thetas, p_values, 0.3173), _interval(thetas, p_values, 0.0455)
        difference = float(np.max(np.abs(p_values - exact)))
        results[name] = {"68": i68, "95": i95, "max_abs_p_difference": difference}
        rows.append(
            f"| {name} | [{i68[0]:.3f}, {i68[1]:.3f}] | [{i95[0]:.3f}, {i95[1]:.3f}] | {difference:.3g} |"
        )
    text = (
        "## Learned against exact\n\n"
        f"Expected limits at theta_true = {THETA_TRUE} with {LUMINOSITY:g} pb^-1 (100 events), on a grid of "
        f"{len(thetas)} points in {list(GRID)}; the exact p-values come from the closed-form likelihood "
        "(kinematics and rate). The rate alone cannot tell theta from -theta.\n\n" + "\n".join(rows) + "\n"
    )
    atomic_write_text(output / "comparison.md", text)
    atomic_write_text(output / "comparison.json", json.dumps(results, indent=2) + "\n")
    with plot_style():
        figure, (ax,) = new_figure()
        colors = line_colors(len(analyses) + 1)
        ax.plot(thetas, exact, color="black", linewidth=2.5, label="exact")
        for color, (name, p_values) in zip(colors[1:], analyses.items(), strict=False):
            ax.plot(thetas, p_values, color=color, label=name)
        ax.set_xlabel(r"$\theta$")
        ax.set_ylabel("expected p-value")
        ax.set_yscale("log")
        ax.set_ylim(1e-3, 1.5)
        ax.legend()
        (output / "plots").mkdir(exist_ok=True)
        figure.savefig(output / "plots" / "learned_vs_exact.png")
    plt.close(figure)


def toy_workflow(out: str | os.PathLike[str], quick: bool = False, device: str = "auto") -> Workflow:
    """The toy's workflow, writing into ``out`` (its events files are made there first)."""
    output = Path(out).resolve()
    output.mkdir(parents=True, exist_ok=True)
    if not (output / "toy_events.h5").exists():
        write_toy_files(output)
    return _ToyWorkflow(validate_config(_config(quick, device), "the built-in example toy"), output, output)


class _ToyWorkflow(Workflow):
    """The workflow, with the comparison against the exact limits written before the report."""

    def run(self, steps: Any = None, force: bool = False) -> list[StepResult]:
        selected = self.config.steps() if steps is None else list(steps)
        before = [s for s in selected if s != "report"]
        results = super().run(before, force) if before else []
        if "limits" in before or (self.output / "limits.npz").exists():
            compare_with_exact(self.output)
        if "report" in selected:
            results += super().run(["report"], force)
        return results


def run_toy(out: str | os.PathLike[str], quick: bool = False, device: str = "auto") -> list[StepResult]:
    """Run the toy example into ``out``."""
    return toy_workflow(out, quick, device).run()
