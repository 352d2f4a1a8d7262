"""Running a Delphes installation on a HepMC file.

The events go to Delphes through its standard input (``DelphesHepMC3 card output.root -``), so a
compressed HepMC file is never unpacked on disk; the ROOT file is written under a temporary name
and renamed into place only when Delphes succeeded, so no partial output ever looks complete.
"""

from __future__ import annotations

import gzip
import logging
import os
from pathlib import Path

from ..delphes.hepmc import hepmc_version
from ..errors import InputError, SetupError
from .process import run_command, shell_command

__all__ = ["delphes_executable", "run_delphes"]

logger = logging.getLogger(__name__)


def delphes_executable(directory: str | os.PathLike[str], version: int) -> Path:
    """The Delphes reader of HepMC``version`` files in a Delphes installation.

    ``DelphesHepMC3`` for HepMC3; ``DelphesHepMC2`` or, in Delphes before 3.5, ``DelphesHepMC``
    for HepMC2.
    """
    directory = Path(directory)
    candidates = ["DelphesHepMC3"] if version == 3 else ["DelphesHepMC2", "DelphesHepMC"]
    for name in candidates:
        path = directory / name
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise SetupError(
        f"no Delphes executable for HepMC{version} files in {directory} (looked for {', '.join(candidates)})"
    )


def run_delphes(
    delphes_directory: str | os.PathLike[str],
    delphes_card: str | os.PathLike[str],
    hepmc_filename: str | os.PathLike[str],
    output_filename: str | os.PathLike[str],
    *,
    log_file: str | os.PathLike[str] | None = None,
    initial_command: str | None = None,
    timeout: float | None = None,
    append_log: bool = False,
) -> Path:
    """Run Delphes on one HepMC2 or HepMC3 file (plain or ``.gz``).

    Parameters
    ----------
    delphes_directory
        The Delphes installation (the folder holding ``DelphesHepMC3``).
    delphes_card
        The detector card (``.tcl``).
    hepmc_filename
        The events; only read.
    output_filename
        The ROOT file to write (replaced if it exists); it appears only when Delphes succeeded.
    log_file
        Delphes' output (default: ``output_filename`` with the suffix ``.log``).
    initial_command
        Shell commands run first in the same shell (e.g. ``source /path/to/root/bin/thisroot.sh``).
    timeout
        Seconds after which Delphes is stopped.
    append_log
        Append to ``log_file`` instead of replacing it.

    Returns
    -------
    Path
        ``output_filename``.

    Raises
    ------
    ExternalCommandError
        If Delphes fails or times out (the message holds the end of its log).
    """
    hepmc, card, output = Path(hepmc_filename), Path(delphes_card), Path(output_filename)
    if not card.is_file():
        raise InputError(f"Delphes card {card} does not exist or is not a file")
    if not hepmc.is_file():
        raise InputError(f"HepMC file {hepmc} does not exist or is not a file")
    executable = delphes_executable(delphes_directory, hepmc_version(hepmc))
    log = output.with_suffix(".log") if log_file is None else Path(log_file)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.stem}.partial.root")  # Delphes refuses to overwrite a file
    partial.unlink(missing_ok=True)
    logger.info("Running Delphes on %s -> %s (log: %s)", hepmc, output, log)
    opener = gzip.open if hepmc.suffix == ".gz" else open
    try:
        with opener(hepmc, "rb") as events:
            run_command(
                shell_command([executable, card, partial, "-"], initial_command),
                log,
                what=f"Delphes on {hepmc}",
                stdin=events,
                timeout=timeout,
                append_log=append_log,
            )
        if not partial.is_file():
            raise InputError(f"Delphes on {hepmc} exited normally but wrote no {partial}; see its log {log}")
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    return output
