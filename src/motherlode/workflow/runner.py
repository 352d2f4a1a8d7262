"""Running a workflow: steps in order, skipped when nothing they depend on changed, each one
writing into a staging folder that is moved into place only when the step succeeds.

``<output>/manifest.json`` records, for every step that ran: a fingerprint of what it depends on
(its section of the config, the random state, the device for training, the motherlode version and
the SHA-256 of every input file), the inputs with their digests, the outputs, the time it took and
the motherlode version. A later run skips a step whose fingerprint is unchanged and whose outputs
all exist; ``force=True`` reruns everything. A step that reruns invalidates the steps after it
through their input digests.

A step that was interrupted (killed, a lost node, an error) resumes when the workflow runs again:
its long jobs (reading, sampling, training each model, scanning limits) record their finished
pieces under ``<output>/.checkpoints/<step>/`` (:mod:`motherlode.checkpoint`), and continue after
the last one; the folder is removed when the step has succeeded. Nothing of a failed step appears
in ``<output>`` itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .._version import __version__
from ..errors import ConfigError, InputError
from ..fileformat import atomic_write_text
from ..parallel import cluster_client
from .config import STEPS, Cluster, WorkflowConfig
from .context import StepContext
from .steps import evaluation, events, inference, plots, report, sampling, setup, training

__all__ = ["Workflow", "load_config"]

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
#: The folder (in the output folder) of the checkpoints of interrupted steps.
CHECKPOINTS = ".checkpoints"

_Inputs = Callable[[StepContext], list[Path]]
_Run = Callable[[StepContext], None]

#: Each step's (input files, run) functions.
STEP_FUNCTIONS: dict[str, tuple[_Inputs, _Run]] = {
    "setup": (setup.inputs, setup.run),
    "events": (events.inputs, events.run),
    "sampling": (sampling.inputs, sampling.run),
    "training": (training.inputs, training.run),
    "evaluation": (evaluation.inputs, evaluation.run),
    "fisher_information": (inference.fisher_information_inputs, inference.run_fisher_information),
    "limits": (inference.limits_inputs, inference.run_limits),
    "plots": (plots.inputs, plots.run),
    "report": (report.inputs, report.run),
}


def load_config(path: str | os.PathLike[str]) -> WorkflowConfig:
    """Read and validate a workflow file (YAML).

    Raises
    ------
    ConfigError
        If the file cannot be read or parsed, or fails validation: the message names the file and
        every bad field with what was expected (one line each).
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read ({error.strerror or error})") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    return validate_config(data, str(path))


def validate_config(data: Any, source: str = "the workflow") -> WorkflowConfig:
    """A :class:`WorkflowConfig` from parsed YAML (a dict), or a :class:`ConfigError` naming each
    bad field."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a mapping of sections (setup, events, ...), got {type(data).__name__}"
        )
    try:
        return WorkflowConfig.model_validate(data)
    except ValidationError as error:
        lines = [f"{source}: {error.error_count()} problem(s)"]
        for item in error.errors():
            where = ".".join(str(part) for part in item["loc"]) or "(top level)"
            message = item["msg"].removeprefix("Value error, ")
            lines.append(f"  {where}: {message}")
        raise ConfigError("\n".join(lines)) from None


@dataclass
class StepResult:
    """What happened to one step: ``"ran"`` or ``"skipped"``, its outputs and time."""

    step: str
    status: str
    outputs: list[str]
    seconds: float


class Workflow:
    """A validated workflow and where it runs.

    Parameters
    ----------
    config : WorkflowConfig
        The workflow.
    base : path-like
        The folder relative input paths start from (the config file's folder).
    output : path-like or None, optional
        The output folder; None: ``config.output``, relative to the current directory (not to
        the config file's folder, which may be read-only or shared).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> config = validate_config({"setup": {
    ...     "parameters": [{"name": "c", "lha_block": "NP", "lha_id": 1, "parameter_range": [-1, 1]}],
    ...     "benchmarks": {"sm": {"c": 0.0}, "up": {"c": 1.0}, "down": {"c": -1.0}},
    ...     "morphing": {"max_overall_power": 2}}})
    >>> workflow = Workflow(config, folder, folder / "results")
    >>> [r.status for r in workflow.run()], [r.status for r in workflow.run()]
    (['ran'], ['skipped'])
    >>> sorted(p.name for p in (folder / "results").iterdir())
    ['manifest.json', 'setup.h5']
    """

    def __init__(
        self,
        config: WorkflowConfig,
        base: str | os.PathLike[str],
        output: str | os.PathLike[str] | None = None,
    ) -> None:
        self.config = config
        self._open_client: Callable[[], Any] | None = None
        self.base = Path(base).resolve()
        self.output = (config.output if output is None else Path(output)).resolve()

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], output: str | os.PathLike[str] | None = None
    ) -> Workflow:
        """The workflow of a YAML file (relative input paths in it start at the file's folder)."""
        return cls(load_config(path), Path(path).resolve().parent, output)

    def run(self, steps: Sequence[str] | None = None, force: bool = False) -> list[StepResult]:
        """Run the workflow's steps (or the given subset) in order; returns what each step did.

        Raises
        ------
        InputError
            For an unknown step name, or a step whose inputs are missing.
        """
        selected = self.config.steps() if steps is None else list(steps)
        unknown = [s for s in selected if s not in STEPS]
        if unknown:
            raise InputError(f"unknown step(s) {unknown}: the steps are {list(STEPS)}")
        missing = [s for s in selected if getattr(self.config, s) is None]
        if missing:
            raise InputError(f"the workflow has no section for step(s) {missing}")
        self.output.mkdir(parents=True, exist_ok=True)
        results = []
        with contextlib.ExitStack() as stack:
            self._open_client = _lazy_client(self.config.cluster, stack)
            try:
                for step in [s for s in STEPS if s in selected]:
                    results.append(self._run_step(step, force))
            finally:
                self._open_client = None
        return results

    # ------------------------------------------------------------------ one step

    def _context(self, step: str, staging: Path) -> StepContext:
        seed = self.config.random_state * 1000 + STEPS.index(step)
        checkpoints = self.output / CHECKPOINTS / step
        return StepContext(self.config, self.base, self.output, staging, seed, self._open_client, checkpoints)

    def _run_step(self, step: str, force: bool) -> StepResult:
        input_files, run = STEP_FUNCTIONS[step]
        staging = self.output / f".staging-{step}"
        context = self._context(step, staging)
        digests = {self._relative(path): _digest(path) for path in input_files(context)}
        fingerprint = self._fingerprint(step, digests)
        manifest = self._manifest()
        previous = manifest["steps"].get(step)
        if (
            not force
            and previous is not None
            and previous.get("fingerprint") == fingerprint
            and all((self.output / name).exists() for name in previous["outputs"])
        ):
            logger.info("step %s: unchanged, skipped", step)
            return StepResult(step, "skipped", previous["outputs"], 0.0)
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        logger.info("step %s: running", step)
        start = time.perf_counter()
        try:
            run(context)
            outputs = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
            self._remove_outputs(previous)
            for name in outputs:
                target = self.output / name
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / name, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if context.checkpoints is not None:  # done: an interrupted run's pieces are not needed again
            shutil.rmtree(context.checkpoints, ignore_errors=True)
            with contextlib.suppress(OSError):  # and the folder of all steps' checkpoints, when empty
                context.checkpoints.parent.rmdir()
        seconds = time.perf_counter() - start
        manifest["steps"][step] = {
            "fingerprint": fingerprint,
            "inputs": digests,
            "outputs": outputs,
            "seconds": round(seconds, 3),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "motherlode": __version__,
        }
        self._write_manifest(manifest)
        logger.info("step %s: done in %.1f s (%d files)", step, seconds, len(outputs))
        return StepResult(step, "ran", outputs, seconds)

    def _fingerprint(self, step: str, digests: dict[str, str]) -> str:
        section = getattr(self.config, step)
        if isinstance(section, list):
            payload: Any = [item.model_dump(mode="json") for item in section]
        else:
            payload = section.model_dump(mode="json")
        depends = {
            "step": step,
            "section": payload,
            "random_state": self.config.random_state,
            "inputs_section": self.config.inputs.model_dump(mode="json"),
            "digests": digests,
            "motherlode": __version__,
        }
        if step == "training":
            depends["device"] = self.config.device
            # ensemble members trained as Dask tasks have one seed each: other networks than without
            depends["cluster"] = self.config.cluster is not None
        return hashlib.sha256(json.dumps(depends, sort_keys=True).encode()).hexdigest()

    def _relative(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.output.resolve()))
        except ValueError:
            return str(path.resolve())

    def _remove_outputs(self, previous: dict[str, Any] | None) -> None:
        for name in (previous or {}).get("outputs", []):
            (self.output / name).unlink(missing_ok=True)

    # ------------------------------------------------------------------ manifest

    def _manifest(self) -> dict[str, Any]:
        path = self.output / MANIFEST
        if path.exists():
            try:
                manifest = json.loads(path.read_text())
                if isinstance(manifest, dict) and isinstance(manifest.get("steps"), dict):
                    return manifest
            except json.JSONDecodeError:
                pass
            logger.warning("%s is not a motherlode manifest: every step reruns", path)
        return {"motherlode": __version__, "steps": {}}

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        manifest["motherlode"] = __version__
        atomic_write_text(self.output / MANIFEST, json.dumps(manifest, indent=2) + "\n")


def _digest(path: Path) -> str:
    """SHA-256 of a file's content (a missing file is an error naming it)."""
    if not path.exists():
        raise InputError(f"input file {path} does not exist (a step before this one should have made it)")
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _lazy_client(cluster: Cluster | None, stack: contextlib.ExitStack) -> Callable[[], Any] | None:
    """A function that starts the cluster of the ``cluster`` section on its first call (steps that
    are skipped never start it) and returns its Dask client; ``stack`` closes it."""
    if cluster is None:
        return None
    client: list[Any] = []

    def open_client() -> Any:
        if not client:
            logger.info("starting the Dask cluster (%s, %d workers)", cluster.kind, cluster.n_workers)
            client.append(
                stack.enter_context(
                    cluster_client(cluster.kind, cluster.n_workers, cluster.address, cluster.options)
                )
            )
        return client[0]

    return open_client
