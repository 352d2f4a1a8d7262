"""Showering LHE files with Pythia 8 into HepMC3 files that carry the LHE weights.

:func:`shower_lhe` runs Pythia 8 through its Python module ``pythia8mc`` (the optional
``motherlode[pythia]`` extra, with ``pyhepmc`` for the HepMC3 output) on an LHE file, in
batches: Pythia's ``nextBatch`` hands over whole batches of events as awkward arrays, so no
Python code runs per particle. Every named weight of the LHE file (MadGraph's reweighting and
systematics weights) is carried to the HepMC3 file, named as in the LHE file (the HepMC3 ``W``
line), so :class:`~motherlode.delphes.DelphesReader` with ``weights="delphes"`` finds them after
Delphes.

The record is flat, as Delphes needs it: the two beams, then every kept particle as an outgoing
particle of one beam-beam vertex. Kept are the final-state particles (status 1) and, as
documentation entries with Pythia's HepMC status codes, the hard-process particles and every
non-final quark, gluon and tau (Delphes' jet-flavour association, and so b-tagging, looks for
them). The decay history is not written. Event numbers are the events' positions in the LHE file
counted from 1: an event that Pythia fails or vetoes is skipped, and its number is missing.

Examples
--------
A session (needs ``pip install motherlode[pythia]``)::

    from motherlode.simulators.pythia import shower_lhe
    summary = shower_lhe("events.lhe.gz", "events.hepmc3.gz", settings=["PartonLevel:MPI = off"],
                         random_state=1)
    summary.n_events, summary.cross_section_pb, summary.weight_names
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from ..errors import InputError, SetupError
from ..fileformat import atomic_path
from ..progress import progress_bar

__all__ = ["ShowerSummary", "shower_lhe"]

logger = logging.getLogger(__name__)

#: Pythia's cross sections are in mb.
_PB_PER_MB = 1e9
#: Pythia's seeds are at most 900 000 000.
_MAX_SEED = 900_000_000
_HEPMC_BEAM, _HEPMC_FINAL, _HEPMC_DECAYED = 4, 1, 2
_PARTONS_AND_TAU = np.array([1, 2, 3, 4, 5, 6, 15, 21])


@dataclass(frozen=True)
class ShowerSummary:
    """What :func:`shower_lhe` did.

    Attributes
    ----------
    hepmc_filename : Path
        The HepMC3 file written.
    n_events : int
        Events written.
    n_failed : int
        LHE events that Pythia failed or vetoed (not written).
    cross_section_pb, cross_section_error_pb : float
        Pythia's estimate of the cross section of the written events, in pb (after vetoes).
    weight_names : list of str
        The names of the event weights, in the order of each event's weights.
    """

    hepmc_filename: Path
    n_events: int
    n_failed: int
    cross_section_pb: float
    cross_section_error_pb: float
    weight_names: list[str]


def _import_pythia() -> tuple[Any, Any]:
    try:
        import pyhepmc
        import pythia8mc
    except ImportError as exc:
        raise SetupError(
            f"showering needs Pythia 8's Python module and pyhepmc: pip install 'motherlode[pythia]' ({exc})"
        ) from exc
    return pythia8mc, pyhepmc


def _seed(random_state: int | np.random.Generator | None) -> int:
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        seed = int(random_state)
        if not 0 <= seed <= _MAX_SEED:
            raise InputError(f"random_state must be between 0 and {_MAX_SEED} for Pythia, got {seed}")
        return seed
    return int(np.random.default_rng(random_state).integers(1, _MAX_SEED))


@contextlib.contextmanager
def _output_to(log: Path) -> Iterator[None]:
    """Send the process's standard output (where Pythia's C++ code prints) to ``log``."""
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(log, "ab") as stream:
            os.dup2(stream.fileno(), 1)
            try:
                yield
            finally:
                with contextlib.suppress(Exception):
                    import ctypes

                    ctypes.CDLL(None).fflush(None)  # C's stdout buffer, before switching back
                os.dup2(saved, 1)
    finally:
        os.close(saved)


@contextlib.contextmanager
def _plain_lhe(path: Path) -> Iterator[Path]:
    """The LHE file as Pythia can read it: a private, decompressed copy of a ``.gz`` file."""
    if path.suffix != ".gz":
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="motherlode-pythia-") as directory:
        plain = Path(directory) / path.stem
        with gzip.open(path, "rb") as source, open(plain, "wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
        yield plain


def _kept(status: np.ndarray, pid: np.ndarray) -> np.ndarray:
    """The particles of the flat record: beams, final state, hard process, non-final partons and taus."""
    absolute = np.abs(status)
    documentation = (status < 0) & (
        np.isin(np.abs(pid), _PARTONS_AND_TAU) | ((absolute >= 21) & (absolute <= 29))
    )
    return (pid != 90) & ((status > 0) | (absolute == 12) | documentation)


def _hepmc_status(status: np.ndarray, pid: np.ndarray) -> np.ndarray:
    """HepMC status codes: 1 final, 4 beam, 2 a decayed tau, else Pythia's \\|status\\| (documentation)."""
    absolute = np.abs(status)
    codes = np.where(status > 0, _HEPMC_FINAL, absolute)
    codes = np.where(absolute == 12, _HEPMC_BEAM, codes)
    return np.where((status < 0) & (np.abs(pid) == 15) & (absolute >= 90), _HEPMC_DECAYED, codes).astype(
        np.int32
    )


@dataclass(frozen=True)
class _Batch:
    """The showered events of a batch as flat arrays: every event's record, in order, and the
    offsets of each event's particles and weights."""

    numbers: np.ndarray  # event numbers (LHE positions from 1)
    offsets: np.ndarray  # (n + 1,) particle offsets of the events' flat records
    columns: dict[str, np.ndarray]  # px, py, pz, en, m, pid, status of the flat records
    weights: np.ndarray  # (n, n_weights)

    @classmethod
    def from_pythia(cls, batch: Any, first_number: int) -> _Batch:
        """The flat records of ``batch`` (Pythia's ``nextBatch``, None for failed events): beams
        first, then the kept particles in Pythia's order; all events at once."""
        valid = ~np.asarray(ak.is_none(batch, axis=0))
        if not valid.any():  # every event failed, or the file ended
            empty = {name: np.zeros(0) for name in ("px", "py", "pz", "en", "m")}
            empty |= {"pid": np.zeros(0, np.int32), "status": np.zeros(0, np.int32)}
            return cls(np.zeros(0, np.int64), np.zeros(1, np.int64), empty, np.zeros((0, 0)))
        events = batch[valid]
        particles = events.prt
        counts = np.asarray(ak.num(particles, axis=1))
        status = np.asarray(ak.flatten(particles.status), dtype=np.int32)
        pid = np.asarray(ak.flatten(particles.id), dtype=np.int32)
        event = np.repeat(np.arange(len(counts)), counts)
        keep = _kept(status, pid)
        beam = keep & (np.abs(status) == 12)
        # within each event: beams first (key 0), then the other kept particles (key 1), stably
        order = np.flatnonzero(keep)[np.lexsort((~beam[keep], event[keep]))]
        momentum = particles.p
        columns: dict[str, np.ndarray] = {
            "px": np.asarray(ak.flatten(momentum.px), dtype=np.float64)[order],
            "py": np.asarray(ak.flatten(momentum.py), dtype=np.float64)[order],
            "pz": np.asarray(ak.flatten(momentum.pz), dtype=np.float64)[order],
            "en": np.asarray(ak.flatten(momentum.e), dtype=np.float64)[order],
            "m": np.asarray(ak.flatten(particles.m), dtype=np.float64)[order],
            "pid": pid[order],
            "status": _hepmc_status(status[order], pid[order]),
        }
        offsets = np.concatenate([[0], np.cumsum(np.bincount(event[order], minlength=len(counts)))])
        weights = (
            ak.to_numpy(ak.values_astype(events.info.weights, np.float64))
            if len(counts)
            else np.zeros((0, 0))
        )
        numbers = first_number + np.flatnonzero(valid) + 1
        return cls(numbers, offsets.astype(np.int64), columns, np.asarray(weights, dtype=np.float64))

    def record(self, index: int) -> dict[str, np.ndarray]:
        """Event ``index``'s flat record as HEPEVT arrays (everything but the beams from the beams)."""
        start, stop = self.offsets[index], self.offsets[index + 1]
        record = {name: column[start:stop] for name, column in self.columns.items()}
        parents = np.full((stop - start, 2), -1, dtype=np.int32)
        if stop - start >= 2 and np.all(record["status"][:2] == _HEPMC_BEAM):
            parents[2:] = (0, 1)
        record["parents"] = parents
        return record


def shower_lhe(
    lhe_filename: str | os.PathLike[str],
    hepmc_filename: str | os.PathLike[str],
    *,
    n_events: int | None = None,
    settings: Sequence[str] = (),
    settings_file: str | os.PathLike[str] | None = None,
    random_state: int | np.random.Generator | None = None,
    batch_size: int = 100,
    log_file: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
) -> ShowerSummary:
    """Shower (and hadronise) the events of an LHE file with Pythia 8 into a HepMC3 file.

    Parameters
    ----------
    lhe_filename
        The LHE file (plain or ``.gz``); only read. A ``.gz`` file is decompressed into a private
        temporary directory for Pythia.
    hepmc_filename
        The HepMC3 ASCII file to write (``.gz``: compressed); it appears only when complete.
    n_events
        Read at most this many LHE events (None: all).
    settings
        Pythia settings, one ``"Name = value"`` string each (e.g. ``"PartonLevel:MPI = off"``),
        applied after ``settings_file``. The beams come from the LHE file.
    settings_file
        A Pythia settings file (``.cmnd``).
    random_state
        Pythia's seed (an int from 0 to 900 000 000, or a generator to draw one from; None: a
        fresh one): the same seed and inputs give the same file.
    batch_size
        Events handed over from Pythia at once.
    log_file
        Receives Pythia's output (default: ``hepmc_filename`` with ``.log`` appended).
    progress
        Show a progress bar (None: when the output is a terminal).

    Returns
    -------
    ShowerSummary

    Raises
    ------
    InputError
        If the LHE file does not exist or Pythia rejects a setting.
    SetupError
        If ``pythia8mc`` or ``pyhepmc`` is not installed, or Pythia cannot be initialised (the
        message names the log).
    """
    pythia8mc, pyhepmc = _import_pythia()
    lhe = Path(lhe_filename)
    if not lhe.is_file():
        raise InputError(f"LHE file {lhe} does not exist or is not a file")
    output = Path(hepmc_filename)
    log = Path(f"{output}.log") if log_file is None else Path(log_file)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"")
    if int(batch_size) < 1:
        raise InputError(f"batch_size must be positive, got {batch_size}")
    limit = None if n_events is None else int(n_events)
    with _plain_lhe(lhe) as plain, _output_to(log):
        pythia = pythia8mc.Pythia("", False)
        base = [
            "Beams:frameType = 4",
            f"Beams:LHEF = {plain}",
            "Next:numberCount = 0",
            "Random:setSeed = on",
            f"Random:seed = {_seed(random_state)}",
        ]
        if settings_file is not None and not pythia.readFile(os.fspath(settings_file)):
            raise InputError(f"Pythia rejected the settings file {settings_file}; see {log}")
        for setting in [*base, *settings]:
            if not pythia.readString(setting):
                raise InputError(f"Pythia rejected the setting {setting!r}; see {log}")
        if not pythia.init():
            raise SetupError(f"Pythia could not be initialised on {lhe}; see its log {log}")
        summary = _write_events(pythia, pyhepmc, output, limit, int(batch_size), lhe, progress)
    logger.info(
        "Showered %s: %d events written to %s, %d failed; sigma = %.6g pb",
        lhe,
        summary.n_events,
        output,
        summary.n_failed,
        summary.cross_section_pb,
    )
    return summary


def _write_events(
    pythia: Any,
    pyhepmc: Any,
    output: Path,
    limit: int | None,
    batch_size: int,
    lhe: Path,
    progress: bool | None,
) -> ShowerSummary:
    def info() -> Any:  # infoPython() returns a snapshot: ask again each time
        return pythia.infoPython()

    run_info = None  # the weight names are known once Pythia has read an event
    n_written = 0
    with (
        atomic_path(output) as partial,
        _compressed(partial, output.suffix) as stream,
        pyhepmc.open(stream, "w") as writer,
        progress_bar(total=limit, desc=f"Pythia {lhe.name}", unit="events", enabled=progress) as bar,
    ):
        while limit is None or info().nTried() < limit:
            start = int(info().nTried())  # LHE events read so far: the batch's events follow them
            size = batch_size if limit is None else min(batch_size, limit - start)
            batch = pythia.nextBatch(size, "none")  # failed events stay in place, as None
            if run_info is None:
                run_info = pyhepmc.GenRunInfo()
                run_info.weight_names = [str(name) for name in info().weightNameVector()] or ["Weight"]
            cross_section = (info().sigmaGen() * _PB_PER_MB, info().sigmaErr() * _PB_PER_MB)
            flat = _Batch.from_pythia(batch, start)
            for index, number in enumerate(flat.numbers.tolist()):
                writer.write(_genevent(pyhepmc, flat, index, number, run_info, cross_section))
            n_written += len(flat.numbers)
            bar.update(int(info().nTried()) - start)
            if info().atEndOfFile() or int(info().nTried()) == start:
                break
    if n_written == 0:
        output.unlink(missing_ok=True)
        raise InputError(f"Pythia showered none of the events of {lhe}")
    return ShowerSummary(
        output,
        n_written,
        int(info().nTried()) - n_written,
        float(info().sigmaGen() * _PB_PER_MB),
        float(info().sigmaErr() * _PB_PER_MB),
        list(run_info.weight_names) if run_info is not None else [],
    )


def _genevent(
    pyhepmc: Any, flat: _Batch, index: int, number: int, run_info: Any, cross_section: tuple[float, float]
) -> Any:
    """One showered event as a HepMC3 event: the flat record, the named weights, the cross section."""
    genevent = pyhepmc.GenEvent(pyhepmc.Units.GEV, pyhepmc.Units.MM)
    genevent.from_hepevt(number, fortran=False, **flat.record(index))
    genevent.run_info = run_info
    weights = flat.weights[index]
    if len(weights) != len(run_info.weight_names):
        raise SetupError(
            f"Pythia gave event {number} {len(weights)} weights for the {len(run_info.weight_names)} names "
            f"{run_info.weight_names}"
        )
    genevent.weights = weights.tolist()
    genevent.cross_section = pyhepmc.GenCrossSection()
    genevent.cross_section.set_cross_section(*cross_section)
    return genevent


@contextlib.contextmanager
def _compressed(path: Path, suffix: str) -> Iterator[Any]:
    """``path`` for pyhepmc: a gzip stream when the final name ends in ``.gz``, else the path."""
    if suffix != ".gz":
        yield path
        return
    with gzip.open(path, "wt") as stream:
        yield stream
