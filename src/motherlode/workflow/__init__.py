"""Workflows: any part of the chain, from one validated YAML file, resumable.

``motherlode run workflow.yaml`` (or :meth:`Workflow.run`) runs the sections of the file in the order
of the chain, setup -> events -> sampling -> training -> evaluation -> fisher_information -> limits
-> plots -> report, into one output folder with a manifest of what made each file; a step whose config and
input files are unchanged is skipped. ``motherlode init`` writes a commented template
(:func:`template`).
"""

from __future__ import annotations

from importlib import resources

from .config import STEPS, WorkflowConfig
from .runner import StepResult, Workflow, load_config, validate_config

__all__ = ["STEPS", "StepResult", "Workflow", "WorkflowConfig", "load_config", "template", "validate_config"]


def template() -> str:
    """The commented template workflow of ``motherlode init`` (a valid workflow file)."""
    return resources.files(__package__).joinpath("template.yaml").read_text()
