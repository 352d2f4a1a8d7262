"""Checkpoints: the finished pieces of a long job, kept so that a rerun continues where it stopped.

Reading many event files, drawing large training samples, training networks for many epochs and
scanning likelihoods over large parameter grids are long jobs made of independent pieces (a part
of a sample, a batch of events, an epoch, a block of grid points). Given a checkpoint folder, each
of them records every finished piece there; run again after a crash, a killed job or a lost
worker, it reuses the recorded pieces and computes only the rest. The result is the same, bit for
bit, as an uninterrupted run: every piece draws its random numbers from its own seed
(:func:`motherlode.parallel.task_seed`), and a piece is recorded only when it is complete.

A folder belongs to one job, identified by a fingerprint of everything its output depends on
(:func:`fingerprint`: the settings, the input files' sizes and modification times, the code of
observable functions). A folder holding another job's pieces (changed settings, changed input
files) is emptied and the job starts afresh; nothing stale is ever reused. The jobs remove their
folder when they have written their output.

Layout of a folder::

    job.json            the job's fingerprint, motherlode version, stored seed
    <key>.json          one finished piece: written last, atomically; its presence means "done"
    <key>.<suffix>      the piece's data (arrays as .npz without pickles, spooled events, states)

Examples
--------
>>> import tempfile, numpy as np
>>> folder = tempfile.mkdtemp()
>>> checkpoint = Checkpoint(folder, {"task": "square", "n": 3})
>>> checkpoint.done("block-0")
False
>>> checkpoint.save("block-0", {"sum": 5}, arrays={"values": np.array([1.0, 4.0])})
>>> Checkpoint(folder, {"task": "square", "n": 3}).load_arrays("block-0")["values"]
array([1., 4.])
>>> Checkpoint(folder, {"task": "square", "n": 4}).done("block-0")  # another job: starts afresh
False
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import logging
import os
import shutil
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .errors import FileFormatError
from .fileformat import atomic_path, atomic_write_text
from .parallel import root_entropy

__all__ = ["Checkpoint", "CheckpointLike", "describe", "fingerprint", "open_checkpoint"]

logger = logging.getLogger(__name__)

#: What a ``checkpoint`` argument accepts: a folder, or None (no checkpoints).
CheckpointLike = str | os.PathLike[str] | None

_JOB = "job.json"
_MAX_DEPTH = 64


def describe(value: Any, _path: tuple[int, ...] = ()) -> Any:
    """A JSON-able description of ``value`` that changes whenever ``value`` would change a result.

    Files are described by their resolved path, size and modification time (not their content:
    event files are large); arrays by a hash of their bytes; functions by their module, name,
    byte code, constants, defaults and closure; dataclasses, mappings, sequences and other
    objects by their (public) content. Anything else by its ``repr``: an object whose ``repr``
    shows only its address describes differently in each process, so that a job using it is
    never resumed (the safe side).

    Examples
    --------
    >>> describe({"b": (1, 2.5), "a": None})
    {'a': None, 'b': [1, 2.5]}
    >>> plus_one = describe(lambda x: x + 1)
    >>> plus_one == describe(lambda x: x + 1), plus_one == describe(lambda x: x + 2)
    (True, False)
    """
    if len(_path) > _MAX_DEPTH:
        return repr(value)
    if id(value) in _path:  # a reference cycle
        return f"<cycle: {type(value).__qualname__}>"
    deeper = (*_path, id(value))
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else repr(value)
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return describe(value.item(), deeper)
    if isinstance(value, enum.Enum):
        return f"{type(value).__qualname__}.{value.name}"
    if isinstance(value, os.PathLike):
        return _describe_path(Path(value))
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        if data.dtype.hasobject:
            return {"array": [describe(item, deeper) for item in data.ravel().tolist()], "shape": data.shape}
        digest = hashlib.sha256(data.view(np.uint8).ravel().tobytes()).hexdigest()
        return {"array": digest, "dtype": data.dtype.str, "shape": list(data.shape)}
    if isinstance(value, np.random.Generator):
        return {"generator": describe(value.bit_generator.state, deeper)}
    if isinstance(value, Mapping):
        items = {str(key): describe(item, deeper) for key, item in value.items()}
        return dict(sorted(items.items()))
    if isinstance(value, (list, tuple)):
        return [describe(item, deeper) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted((describe(item, deeper) for item in value), key=repr)
    if isinstance(value, types.FunctionType | types.MethodType):
        return _describe_function(value, deeper)
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {"class": type(value).__qualname__, **describe(fields, deeper)}
    if hasattr(value, "__dict__"):
        public = {key: item for key, item in vars(value).items() if not key.startswith("_")}
        return {"class": type(value).__qualname__, **describe(public, deeper)}
    return repr(value)


def _describe_path(path: Path) -> Any:
    resolved = path.expanduser().resolve()
    if resolved.is_file():
        info = resolved.stat()
        return {"file": str(resolved), "size": info.st_size, "mtime_ns": info.st_mtime_ns}
    return {"path": str(resolved)}


def _describe_function(function: types.FunctionType | types.MethodType, depth: tuple[int, ...]) -> Any:
    if isinstance(function, types.MethodType):
        underlying = function.__func__
        method = (
            describe(underlying, depth) if isinstance(underlying, types.FunctionType) else repr(underlying)
        )
        return {"method": method, "of": describe(function.__self__, depth)}
    code = function.__code__
    closure = [cell.cell_contents for cell in function.__closure__ or ()]
    return {
        "function": f"{function.__module__}.{function.__qualname__}",
        "code": _describe_code(code),
        "defaults": describe(function.__defaults__, depth),
        "closure": describe(closure, depth),
    }


def _describe_code(code: types.CodeType) -> str:
    digest = hashlib.sha256(code.co_code)
    digest.update(repr(code.co_names).encode())
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            digest.update(_describe_code(constant).encode())
        else:
            digest.update(repr(constant).encode())
    return digest.hexdigest()


def fingerprint(job: Any) -> str:
    """The SHA-256 of a job's :func:`describe` description.

    Examples
    --------
    >>> fingerprint({"a": 1}) == fingerprint({"a": 1}), fingerprint({"a": 1}) == fingerprint({"a": 2})
    (True, False)
    """
    text = json.dumps(describe(job), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class Checkpoint:
    """The checkpoint folder of one job.

    Parameters
    ----------
    directory : path-like
        The folder (created if missing). A checkpoint folder of another job is emptied; a folder
        with other files in it is refused.
    job : object
        What the job's output depends on (see :func:`describe`).

    Raises
    ------
    FileFormatError
        If the folder cannot be created or written, or holds files that are not checkpoints.
    """

    def __init__(self, directory: str | os.PathLike[str], job: Any) -> None:
        self.directory = Path(directory)
        self.fingerprint = fingerprint(job)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise FileFormatError(
                f"{self.directory}: cannot create the checkpoint folder ({error})"
            ) from error
        self._job = self._read_job()
        if not self._job and any(self.directory.iterdir()):
            raise FileFormatError(
                f"{self.directory}: not a motherlode checkpoint folder (it holds other files); "
                "give a new or empty folder"
            )
        if self._job.get("fingerprint") != self.fingerprint:
            if self._job:
                logger.warning(
                    "%s: checkpoints of another job (other settings or input files); starting afresh",
                    self.directory,
                )
            self._empty()
            self._job = {"fingerprint": self.fingerprint, "motherlode": __version__}
            self._write_job()
        else:
            finished = len(self.keys())
            if finished:
                logger.info("%s: resuming, %d finished piece(s) kept", self.directory, finished)

    # ------------------------------------------------------------------ pieces

    def path(self, key: str, suffix: str) -> Path:
        """Where piece ``key`` keeps its data with ``suffix`` (e.g. ``".npz"``)."""
        return self.directory / f"{_check_key(key)}{suffix}"

    def done(self, key: str) -> bool:
        """Whether piece ``key`` is finished."""
        return self.path(key, ".json").is_file()

    def keys(self) -> list[str]:
        """The finished pieces."""
        return sorted(p.stem for p in self.directory.glob("*.json") if p.name != _JOB)

    def save(
        self, key: str, meta: Mapping[str, Any] | None = None, arrays: Mapping[str, np.ndarray] | None = None
    ) -> None:
        """Record piece ``key`` as finished, with JSON-able ``meta`` and numeric ``arrays``.

        The arrays are written first, the marker last, each atomically: a killed process leaves
        the piece unfinished, never half recorded. Data the caller wrote itself under
        :meth:`path` must be complete before this is called.
        """
        if arrays is not None:
            with atomic_path(self.path(key, ".npz")) as temporary, open(temporary, "wb") as handle:
                np.savez(
                    handle, allow_pickle=False, **{name: np.asarray(value) for name, value in arrays.items()}
                )
        atomic_write_text(self.path(key, ".json"), json.dumps(dict(meta or {}), allow_nan=True) + "\n")

    def load(self, key: str) -> dict[str, Any] | None:
        """The meta data of finished piece ``key`` (None if it is not finished)."""
        if not self.done(key):
            return None
        path = self.path(key, ".json")
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise FileFormatError(f"{path}: damaged checkpoint ({error}); remove the folder") from error
        if not isinstance(meta, dict):
            raise FileFormatError(f"{path}: damaged checkpoint (not a JSON object); remove the folder")
        return meta

    def load_arrays(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays of finished piece ``key`` (None if it is not finished)."""
        if not self.done(key):
            return None
        path = self.path(key, ".npz")
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError) as error:
            raise FileFormatError(f"{path}: damaged checkpoint ({error}); remove the folder") from error

    def discard(self, key: str) -> None:
        """Forget piece ``key`` (its marker and data)."""
        for path in self.directory.glob(f"{_check_key(key)}.*"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ the job

    def entropy(self, random_state: int | np.random.Generator | None) -> int:
        """The job's root entropy (:func:`motherlode.parallel.root_entropy`).

        A seeded job uses its seed. An unseeded one (``None`` or a generator) stores the entropy it
        draws on its first run, so that a resumed run draws the pieces it has not finished with
        the same seeds as the interrupted run would have.
        """
        if random_state is not None and not isinstance(random_state, np.random.Generator):
            return root_entropy(random_state)
        stored = self._job.get("entropy")
        if isinstance(stored, str) and stored.isdigit():
            return int(stored)
        entropy = root_entropy(random_state)
        self._job["entropy"] = str(entropy)
        self._write_job()
        return entropy

    def clear(self) -> None:
        """Remove the folder: the job is finished."""
        shutil.rmtree(self.directory, ignore_errors=True)

    def _read_job(self) -> dict[str, Any]:
        path = self.directory / _JOB
        try:
            job = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return job if isinstance(job, dict) else {}

    def _write_job(self) -> None:
        atomic_write_text(self.directory / _JOB, json.dumps(self._job, indent=1) + "\n")

    def _empty(self) -> None:
        for path in self.directory.iterdir():
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()

    def __repr__(self) -> str:
        return f"Checkpoint({str(self.directory)!r}, {len(self.keys())} finished pieces)"


def open_checkpoint(directory: CheckpointLike, job: Any) -> Checkpoint | None:
    """``Checkpoint(directory, job)``, or None without a folder."""
    return None if directory is None else Checkpoint(directory, job)


def _check_key(key: str) -> str:
    if not key or not all(c.isalnum() or c in "-_" for c in key):
        raise ValueError(f"checkpoint keys are letters, digits, '-' and '_', got {key!r}")
    return key
