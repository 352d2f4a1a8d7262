"""What the readers need from HepMC files: the version and the names of the event weights.

HepMC3 ASCII files name the weights once, in the run information before the first event: a
``W`` line whose names are joined by an escaped line break (``W Weight\\|sm\\|b1``). HepMC2 files
repeat them in every event, in an ``N`` line (``N 3 "Weight" "sm" "b1"``). MadGraph's Pythia 8
interface may write the ids as ``id=sm`` and append ``_MERGING=...`` (MadMiner's convention);
both are removed, so that the names are the LHE weight ids.

Examples
--------
>>> lines = ["HepMC::Version 3.02.05", "W Weight\\\\|sm\\\\|b1", "E 1 1 3"]
>>> weight_names_from_lines(lines, "events.hepmc")
['Weight', 'sm', 'b1']
>>> weight_names_from_lines(['HepMC::Version 2.06.09', 'E 0 -1', 'N 2 "0" "id=sm_MERGING=0.000"'], "x")
['0', 'sm']
"""

from __future__ import annotations

import gzip
import os
import shlex
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import InputError

__all__ = ["clean_weight_name", "hepmc_version", "read_weight_names", "weight_names_from_lines"]

#: Lines read at most while looking for the weight names (they come before or in the first event).
_MAX_HEADER_LINES = 100_000


def _open_text(path: Path) -> Any:
    opener = gzip.open if path.suffix == ".gz" else open
    return opener(path, "rt", encoding="latin-1")


def clean_weight_name(name: str) -> str:
    """A HepMC weight name as the LHE weight id: without ``id=`` and ``_MERGING=...``."""
    name = name.strip()
    if name.startswith("id="):
        name = name[3:]
    return name.partition("_MERGING=")[0]


def weight_names_from_lines(lines: Iterable[str], label: str) -> list[str] | None:
    """The weight names in the first lines of a HepMC file (None if the file names none).

    The search stops at the end of the first event (HepMC3: at its first ``E`` line, since the
    names precede the events; HepMC2: at the second ``E`` line).
    """
    events_seen = 0
    version = None
    for number, line in enumerate(lines, start=1):
        if number > _MAX_HEADER_LINES:
            break
        if line.startswith("HepMC::Version"):
            version = line.split()[1] if len(line.split()) > 1 else None
            continue
        tag = line[:2]
        if tag.startswith("E") and line[1:2] in (" ", ""):
            events_seen += 1
            if (version or "").startswith("3") or events_seen > 1:
                return None
        elif tag == "W " and events_seen == 0:  # HepMC3 run information
            return [clean_weight_name(name) for name in line[2:].rstrip("\n").split("\\|")]
        elif tag == "N ":  # HepMC2 weight names
            try:
                terms = shlex.split(line[2:])
                count = int(terms[0])
            except (ValueError, IndexError):
                raise InputError(
                    f"{label}, line {number}: malformed HepMC2 weight-name line {line!r}"
                ) from None
            names = terms[1:]
            if len(names) != count:
                raise InputError(
                    f"{label}, line {number}: the HepMC2 N line announces {count} weight names and holds "
                    f"{len(names)}"
                )
            return [clean_weight_name(name) for name in names]
    return None


def read_weight_names(path: str | os.PathLike[str]) -> list[str] | None:
    """The names of the event weights of a HepMC2 or HepMC3 ASCII file (``.gz`` read directly).

    Returns None if the file does not name its weights.

    Raises
    ------
    InputError
        If the file cannot be read or its weight-name line is malformed.
    """
    path = Path(path)
    try:
        with _open_text(path) as stream:
            return weight_names_from_lines(stream, str(path))
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read the HepMC file {path}: {exc}") from exc


def hepmc_version(path: str | os.PathLike[str]) -> int:
    """The major HepMC version (2 or 3) of an ASCII file, from its ``HepMC::Version`` line."""
    path = Path(path)
    try:
        with _open_text(path) as stream:
            for number, line in enumerate(stream, start=1):
                if line.startswith("HepMC::Version"):
                    major = line.split()[1].split(".")[0] if len(line.split()) > 1 else ""
                    if major in ("2", "3"):
                        return int(major)
                    raise InputError(f"{path}, line {number}: unknown HepMC version in {line.strip()!r}")
                if number > 10:
                    break
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read the HepMC file {path}: {exc}") from exc
    raise InputError(f"{path} is not a HepMC ASCII file: no 'HepMC::Version' line at its start")
