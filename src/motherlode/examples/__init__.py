"""Built-in examples: whole analyses on data shipped with motherlode, run by ``motherlode example``.

``wh``: the real SMEFT W h -> l v b b sample (``motherlode/data/wh_smeft``) through the whole chain,
setup -> LHE reading with smearing -> training samples -> SALLY (an ensemble of three) and ALICES ->
their evaluation on test events -> Fisher information (truth, rate, a histogram, SALLY) -> expected
limits (rate, histogram, SALLY, ALICES) -> plots -> a report. The workflow is ``wh.yaml`` in this
folder; ``quick=True`` uses fewer samples, epochs and grid points (under a minute on two cores).

``toy``: a one-parameter simulator with an exact likelihood (:mod:`motherlode.examples.toy`): ALICES
limits from a trained network against the exact ones.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..workflow import StepResult, Workflow, validate_config

__all__ = ["EXAMPLES", "example_workflow", "run_example"]

#: The examples and what they show.
EXAMPLES = {
    "wh": "W h -> l v b b in the SMEFT: real MadGraph events through the whole chain",
    "toy": "a one-parameter toy with an exact likelihood: learned against exact limits",
}

#: The data of the W h example, shipped with the package.
WH_DATA = Path(__file__).resolve().parent.parent / "data" / "wh_smeft"


def _quick_wh(config: dict[str, Any]) -> None:
    """Fewer samples, epochs and grid points: the whole chain in about a minute."""
    sizes = {"score": 20000, "ratio": 40000, "test": 2000}
    for sample in config["sampling"]["samples"]:
        sample["n_samples"] = sizes.get(sample["name"], sample["n_samples"])
    for model in config["training"]:
        model["n_epochs"] = 10 if model["method"] == "sally" else 8
    config["limits"]["grid_resolutions"] = [15, 15]


def example_workflow(
    name: str = "wh",
    out: str | os.PathLike[str] = "motherlode-example",
    quick: bool = False,
    device: str = "auto",
) -> Workflow:
    """The workflow of a built-in example, writing into ``out``.

    Parameters
    ----------
    name : {"wh", "toy"}
        The example.
    out : path-like
        The output folder (every artefact goes there, nothing anywhere else).
    quick : bool
        Fewer samples, epochs and grid points.
    device : {"auto", "cpu", "cuda"}
        Where networks train.
    """
    if name == "toy":
        from .toy import toy_workflow

        return toy_workflow(out, quick=quick, device=device)
    if name != "wh":
        raise ValueError(f"unknown example {name!r}: the examples are {sorted(EXAMPLES)}")
    config = yaml.safe_load(resources.files(__package__).joinpath("wh.yaml").read_text())
    if quick:
        _quick_wh(config)
    config["device"] = device
    return Workflow(validate_config(config, "the built-in example wh"), WH_DATA, Path(out).resolve())


def run_example(
    name: str = "wh",
    out: str | os.PathLike[str] = "motherlode-example",
    quick: bool = False,
    device: str = "auto",
    force: bool = False,
) -> list[StepResult]:
    """Run a built-in example into ``out``; the report is ``out/report.md`` (and ``report.html``)."""
    return example_workflow(name, out, quick, device).run(force=force)
