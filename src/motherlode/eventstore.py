"""Spooling analysed events to disk, then writing them shuffled, in bounded memory.

The readers (LHE, Delphes) analyse samples chunk by chunk. Each chunk gives observations
``(n, n_observables)`` and weights for the benchmarks that sample knows about. An
:class:`EventStore` appends those rows to raw binary files in a private temporary directory
(never next to the user's input files), one segment per sample, and writes them to the final
events file later with :meth:`EventStore.write`:

* weight columns are aligned to the final benchmark list; a benchmark that a sample does not
  know (a nuisance benchmark of a systematic that does not apply to it) takes that sample's
  reference-benchmark weight, i.e. no effect;
* each sample's weights are multiplied by a normalisation factor fixed when the sample is
  finished (the factor can depend on the number of events in the file, known only at its end);
* with ``shuffle=True`` the rows are written in a uniformly random order using an external
  two-pass shuffle: every row goes to a random bucket file, then each bucket (a bounded number
  of rows) is permuted in memory and appended. Memory stays bounded whatever the number of events.

Examples
--------
>>> import numpy as np
>>> store = EventStore(n_observables=1)
>>> store.start_sample(["sm", "bsm"], sampling_index=0)
>>> store.append(np.array([[1.0], [2.0]]), np.array([[10.0, 20.0], [30.0, 40.0]]))
>>> store.finish_sample(weight_factor=0.5)
>>> store.n_events
2
>>> blocks = list(store.iter_rows(["sm", "bsm"], reference="sm"))
>>> blocks[0][1]
array([[ 5., 10.],
       [15., 20.]])
>>> store.close()
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from .errors import InputError

__all__ = ["EventStore", "SpoolWriter"]

logger = logging.getLogger(__name__)

_DTYPE = np.dtype(np.float64)
BLOCK_BYTES = 32 * 2**20
"""Approximate size of one block of rows read back from the spool files."""


@dataclass
class _Segment:
    """The spooled rows of one sample."""

    path: Path
    weight_names: list[str]
    sampling_index: int
    n_rows: int = 0
    weight_factor: float | None = None


class SpoolWriter:
    """Writes the rows of one sample to a spool file (the format :class:`EventStore` reads back).

    A reader task running elsewhere (a Dask worker) writes its sample with a ``SpoolWriter`` into
    the store's directory (:meth:`EventStore.new_spool_path`); the store then adopts the file with
    :meth:`EventStore.add_spooled_sample`. :meth:`EventStore.append` uses the same writer.

    Parameters
    ----------
    path : path-like
        The file to write (created or replaced).
    n_observables, n_weights : int
        The columns of every row.
    resume_rows : int, optional
        Continue an existing file after its first ``resume_rows`` rows (a checkpoint's): later
        rows, written after the checkpoint, are cut off.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        n_observables: int,
        n_weights: int,
        resume_rows: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.n_observables = int(n_observables)
        self.n_weights = int(n_weights)
        self.n_rows = 0
        self._handle: IO[bytes]
        if resume_rows is None:
            self._handle = open(self.path, "wb")  # noqa: SIM115 -- closed in close()
            return
        row_bytes = _DTYPE.itemsize * (self.n_observables + self.n_weights)
        self._handle = open(self.path, "r+b")  # noqa: SIM115 -- closed in close()
        if self._handle.seek(0, os.SEEK_END) < resume_rows * row_bytes:
            self._handle.close()
            raise InputError(
                f"{self.path}: shorter than the {resume_rows} rows recorded; remove the checkpoint"
            )
        self._handle.truncate(resume_rows * row_bytes)
        self._handle.seek(0, os.SEEK_END)
        self.n_rows = int(resume_rows)

    def append(self, observations: np.ndarray, weights: np.ndarray) -> None:
        """Append rows: observations ``(n, n_observables)`` and weights ``(n, n_weights)``."""
        observations = np.asarray(observations, dtype=_DTYPE).reshape(-1, self.n_observables)
        weights = np.asarray(weights, dtype=_DTYPE)
        if weights.ndim != 2 or weights.shape != (len(observations), self.n_weights):
            raise InputError(
                f"weights of shape {weights.shape} given; expected ({len(observations)}, {self.n_weights})"
            )
        if len(observations) == 0:
            return
        rows = np.concatenate([observations, weights], axis=1)
        self._handle.write(np.ascontiguousarray(rows).tobytes())
        self.n_rows += len(rows)

    def sync(self) -> None:
        """Write the rows appended so far through to the disk (before recording them as done)."""
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Flush and close the file."""
        self._handle.close()

    def discard(self) -> None:
        """Close and delete the file (after an error)."""
        self._handle.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> SpoolWriter:
        return self

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


class EventStore:
    """Analysed events of several samples, spooled to temporary files.

    Parameters
    ----------
    n_observables : int
        Number of observable columns of every row.
    directory : path-like, optional
        Where to create the private temporary directory (default: the system's temporary
        directory, ``TMPDIR``).
    """

    def __init__(self, n_observables: int, directory: str | os.PathLike[str] | None = None) -> None:
        if n_observables < 0:
            raise InputError(f"n_observables must be >= 0, got {n_observables}")
        self.n_observables = int(n_observables)
        self._directory = Path(tempfile.mkdtemp(prefix="motherlode-events-", dir=directory))
        self._finalizer = weakref.finalize(self, shutil.rmtree, self._directory, True)
        self._segments: list[_Segment] = []
        self._open: _Segment | None = None
        self._writer: SpoolWriter | None = None
        self._n_paths = 0

    # ------------------------------------------------------------------ filling

    def start_sample(self, weight_names: Sequence[str], sampling_index: int) -> None:
        """Begin a new sample whose weight columns are ``weight_names``.

        ``sampling_index`` is stored for each event (index of the sampling benchmark, -1 for
        backgrounds).
        """
        if self._open is not None:
            raise InputError("the previous sample was not finished (call finish_sample first)")
        names = _check_names(weight_names)
        self._open = _Segment(self.new_spool_path(), names, int(sampling_index))
        self._writer = SpoolWriter(self._open.path, self.n_observables, len(names))

    def append(self, observations: np.ndarray, weights: np.ndarray) -> None:
        """Append rows of the current sample (observations ``(n, n_observables)``, weights ``(n, n_w)``)."""
        segment = self._require_open()
        writer = self._require_writer()
        try:
            writer.append(observations, weights)
        except InputError as error:
            raise InputError(f"{error} for weight columns {segment.weight_names}") from None
        segment.n_rows = writer.n_rows

    def finish_sample(self, weight_factor: float = 1.0) -> None:
        """Close the current sample; its weights will be multiplied by ``weight_factor``."""
        segment = self._require_open()
        if not math.isfinite(weight_factor):
            raise InputError(f"the weight normalisation factor must be finite, got {weight_factor}")
        self._require_writer().close()
        self._open = None
        self.add_spooled_sample(segment.path, segment.weight_names, segment.sampling_index, weight_factor)

    def discard_sample(self) -> None:
        """Drop the sample being filled (after an error)."""
        if self._open is not None:
            self._require_writer().discard()
            self._open = None

    def new_spool_path(self) -> Path:
        """A fresh file name in the store's directory, for a :class:`SpoolWriter`."""
        self._n_paths += 1
        return self._directory / f"sample_{self._n_paths}.f64"

    def add_spooled_sample(
        self,
        path: str | os.PathLike[str],
        weight_names: Sequence[str],
        sampling_index: int,
        weight_factor: float,
    ) -> None:
        """Adopt a sample a :class:`SpoolWriter` wrote (its rows come after the samples added so far);
        its weights will be multiplied by ``weight_factor``.

        A file in the store's directory (:meth:`new_spool_path`) is deleted with the store; a file
        elsewhere (a checkpoint's) is only read.
        """
        path = Path(path)
        names = _check_names(weight_names)
        if not math.isfinite(weight_factor):
            raise InputError(f"the weight normalisation factor must be finite, got {weight_factor}")
        row_bytes = _DTYPE.itemsize * (self.n_observables + len(names))
        size = path.stat().st_size
        if size % row_bytes:
            raise InputError(f"{path}: {size} bytes is not a whole number of rows of {row_bytes} bytes")
        self._segments.append(
            _Segment(path, names, int(sampling_index), size // row_bytes, float(weight_factor))
        )

    def _require_open(self) -> _Segment:
        if self._open is None:
            raise InputError("no sample is being filled (call start_sample first)")
        return self._open

    def _require_writer(self) -> SpoolWriter:
        assert self._writer is not None  # start_sample creates the writer with the open sample
        return self._writer

    # ------------------------------------------------------------------ reading

    @property
    def n_events(self) -> int:
        """Number of events in the finished samples."""
        return sum(segment.n_rows for segment in self._segments)

    @property
    def weight_names(self) -> list[str]:
        """All weight names of the finished samples, in order of first appearance."""
        names: dict[str, None] = {}
        for segment in self._segments:
            names.update(dict.fromkeys(segment.weight_names))
        return list(names)

    @staticmethod
    def _block_rows(n_columns: int) -> int:
        return max(1, BLOCK_BYTES // (_DTYPE.itemsize * max(1, n_columns)))

    def iter_rows(
        self, weight_names: Sequence[str], reference: str
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Yield ``(observations, weights, sampling_indices)`` blocks in spool order.

        Weights are normalised and aligned to ``weight_names``; a column a sample lacks is filled
        with its ``reference`` column.
        """
        for segment in self._segments:
            if reference not in segment.weight_names:
                raise InputError(f"the reference benchmark {reference!r} is not among {segment.weight_names}")
            columns = [
                segment.weight_names.index(name if name in segment.weight_names else reference)
                for name in weight_names
            ]
            width = self.n_observables + len(segment.weight_names)
            block = self._block_rows(width)
            weight_factor = segment.weight_factor
            assert weight_factor is not None  # finished samples have their factor
            with open(segment.path, "rb") as handle:
                for start in range(0, segment.n_rows, block):
                    count = min(block, segment.n_rows - start)
                    rows = np.fromfile(handle, dtype=_DTYPE, count=count * width).reshape(count, width)
                    observations = rows[:, : self.n_observables]
                    weights = rows[:, self.n_observables :][:, columns] * weight_factor
                    yield observations, weights, np.full(count, segment.sampling_index, dtype=np.int64)

    def iter_shuffled(
        self,
        weight_names: Sequence[str],
        reference: str,
        rng: np.random.Generator,
        bucket_rows: int | None = None,
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Like :meth:`iter_rows`, in a uniformly random order, with bounded memory.

        Pass 1 sends every row to one of ``K`` bucket files chosen uniformly at random; pass 2
        permutes each bucket in memory. Concatenating the permuted buckets gives a uniformly
        random permutation of all rows (the bucket sizes are multinomial, each arrangement
        within a bucket is equally likely).
        """
        width = self.n_observables + len(weight_names) + 1
        bucket_rows = bucket_rows or self._block_rows(width)
        n_buckets = max(1, math.ceil(self.n_events / bucket_rows))
        if n_buckets == 1:
            blocks = list(self.iter_rows(weight_names, reference))
            if not blocks:
                return
            observations, weights, indices = (np.concatenate(parts) for parts in zip(*blocks, strict=True))
            order = rng.permutation(len(observations))
            yield observations[order], weights[order], indices[order]
            return
        bucket_paths = [self._directory / f"bucket_{k}.f64" for k in range(n_buckets)]
        handles = [open(path, "wb") for path in bucket_paths]  # noqa: SIM115 -- closed below
        try:
            for observations, weights, indices in self.iter_rows(weight_names, reference):
                rows = np.concatenate([observations, weights, indices[:, None].astype(_DTYPE)], axis=1)
                bucket = rng.integers(n_buckets, size=len(rows))
                order = np.argsort(bucket, kind="stable")
                bounds = np.searchsorted(bucket[order], np.arange(n_buckets + 1))
                for k in range(n_buckets):
                    if bounds[k + 1] > bounds[k]:
                        handles[k].write(rows[order[bounds[k] : bounds[k + 1]]].tobytes())
        finally:
            for handle in handles:
                handle.close()
        try:
            for path in bucket_paths:
                rows = np.fromfile(path, dtype=_DTYPE).reshape(-1, width)
                path.unlink()
                rows = rows[rng.permutation(len(rows))]
                n_obs = self.n_observables
                yield rows[:, :n_obs], rows[:, n_obs:-1], rows[:, -1].astype(np.int64)
        finally:
            for path in bucket_paths:
                path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ clean-up

    def close(self) -> None:
        """Delete the temporary files (also done automatically when the store is garbage-collected)."""
        self.discard_sample()
        self._segments = []
        self._finalizer()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"EventStore({len(self._segments)} samples, {self.n_events} events, "
            f"{self.n_observables} observables, in {self._directory})"
        )


def _check_names(weight_names: Sequence[str]) -> list[str]:
    names = list(weight_names)
    if len(set(names)) != len(names):
        raise InputError(f"duplicate weight names in {names}")
    return names
