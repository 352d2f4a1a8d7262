"""What a step sees: the configuration, where its inputs are, and the folder it writes into."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..checkpoint import Checkpoint
from ..errors import InputError
from .config import WorkflowConfig

__all__ = ["FinishedOutputs", "StepContext"]


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

    def finished_outputs(self, job: Any) -> FinishedOutputs | None:
        """The outputs (samples, models) that an interrupted run of the step had finished, kept in its
        checkpoint folder for the rerun; ``job`` is what they depend on (None without checkpoints)."""
        if self.checkpoints is None:
            return None
        # ".finished": no job's name (samples, models: identifiers) can take it
        return FinishedOutputs(Checkpoint(self.checkpoints / ".finished", job), self.staging)

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


class FinishedOutputs:
    """Copies of the files a step wrote for each finished piece of its work (a sample, a model), so that a
    rerun after an interruption puts them back into the staging folder instead of making them again.

    Parameters
    ----------
    checkpoint : Checkpoint
        Where the copies are kept (``<key>.files/``, with the staging folder's relative paths).
    staging : Path
        The step's staging folder.
    """

    def __init__(self, checkpoint: Checkpoint, staging: Path) -> None:
        self.checkpoint = checkpoint
        self.staging = staging

    def files(self) -> set[Path]:
        """The files in the staging folder now (call before a piece, to pass to :meth:`record`)."""
        return {path for path in self.staging.rglob("*") if path.is_file()}

    def restore(self, key: str) -> bool:
        """Put the files of piece ``key`` back into the staging folder; False if it was not finished."""
        if not self.checkpoint.done(key):
            return False
        shutil.copytree(self.checkpoint.path(key, ".files"), self.staging, dirs_exist_ok=True)
        return True

    def record(self, key: str, before: set[Path]) -> None:
        """Keep the files written since ``before`` (:meth:`files`) as piece ``key``."""
        kept = self.checkpoint.path(key, ".files")
        shutil.rmtree(kept, ignore_errors=True)
        for path in sorted(self.files() - before):
            target = kept / path.relative_to(self.staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        self.checkpoint.save(key)
