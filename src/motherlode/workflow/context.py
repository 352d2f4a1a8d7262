"""What a step sees: the configuration, where its inputs are, and the folder it writes into."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from .config import WorkflowConfig

__all__ = ["StepContext"]


@dataclass
class StepContext:
    """Paths of one run of one step.

    Parameters
    ----------
    config : WorkflowConfig
        The whole (validated) workflow.
    base : Path
        The folder of the config file: relative input paths start there.
    output : Path
        The output folder, where the finished outputs of earlier steps are.
    staging : Path
        The empty folder this step writes into; the runner moves its files into ``output`` when
        the step has succeeded (so that a failed step leaves nothing behind).
    seed : int
        The step's random seed (derived from ``config.random_state`` and the step).
    open_client : callable, optional
        Returns the Dask client of the workflow's ``cluster`` section, starting the cluster on
        first use (None without a cluster section).
    checkpoints : Path, optional
        The folder of the step's checkpoints (see :meth:`checkpoint`); the runner keeps it when the
        step fails and removes it when the step has succeeded.
    """

    config: WorkflowConfig
    base: Path
    output: Path
    staging: Path
    seed: int = 0
    open_client: Callable[[], Any] | None = None
    checkpoints: Path | None = None

    def checkpoint(self, name: str) -> Path | None:
        """The checkpoint folder of one job of the step (a reader, a sampler, a model, a scan): an
        interrupted step run again continues its jobs where they stopped (docs/resume.md)."""
        return None if self.checkpoints is None else self.checkpoints / name

    def dask_client(self) -> Any:
        """The Dask client of the ``cluster`` section (started now if not yet), or None."""
        return None if self.open_client is None else self.open_client()

    def resolve(self, path: str | os.PathLike[str]) -> Path:
        """An input path from the config (relative to the config file's folder), made absolute."""
        path = Path(os.path.expanduser(path))
        return path if path.is_absolute() else (self.base / path).resolve()

    def setup_file(self) -> Path:
        """The setup file: made by the workflow's ``setup`` step, or ``inputs.setup``."""
        if self.config.setup is not None:
            return self.output / "setup.h5"
        return self._given(self.config.inputs.setup, "inputs.setup", "a setup section")

    def events_file(self) -> Path:
        """The events file: made by the ``events`` step, or ``inputs.events``."""
        if self.config.events is not None:
            return self.output / "events.h5"
        return self._given(self.config.inputs.events, "inputs.events", "an events section")

    def samples_folder(self) -> Path:
        """The folder of the training and test samples (``samples/``)."""
        return self.output / "samples"

    def model(self, name: str) -> Path:
        """A trained model by name: ``models/<name>`` of the ``training`` step, or ``inputs.models``."""
        trained = {t.name for t in self.config.training or []}
        if name in trained:
            return self.output / "models" / name
        if name in self.config.inputs.models:
            return self.resolve(self.config.inputs.models[name])
        raise InputError(f"no model named {name!r}: not trained by this workflow and not in inputs.models")

    def _given(self, path: Path | None, field_name: str, section: str) -> Path:
        if path is None:
            raise InputError(f"this workflow has no {section}: give the file as {field_name}")
        resolved = self.resolve(path)
        if not resolved.exists():
            raise InputError(f"{field_name}: {resolved} does not exist")
        return resolved
