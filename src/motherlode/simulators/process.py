"""Running an external simulator: logged, non-interactive, with a timeout and a clear failure.

Every simulator run (MadGraph, Delphes) goes through :func:`run_command`: the command's output
goes to a log file; its standard input is either closed (so a program that asks a question
gets end-of-file instead of waiting for an answer that never comes) or fed from a stream; a
timeout stops a hung run; a failure raises :class:`~motherlode.errors.ExternalCommandError`
with the end of the log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ExternalCommandError

if TYPE_CHECKING:
    from _typeshed import SupportsRead

__all__ = ["log_tail", "run_command", "shell_command"]

logger = logging.getLogger(__name__)


def log_tail(path: str | os.PathLike[str], n_lines: int = 20) -> str:
    """The last ``n_lines`` lines of a log file ("(no log)" if it cannot be read)."""
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n_lines:])


def shell_command(
    arguments: Sequence[str | os.PathLike[str]], initial_command: str | None = None
) -> list[str]:
    """``bash -c`` running the user's ``initial_command`` (e.g. ``source setup.sh``), then ``arguments``.

    The arguments are quoted; ``initial_command`` is the user's own shell text, run as written.
    """
    command = "exec " + shlex.join(os.fspath(argument) for argument in arguments)
    if initial_command:
        command = f"{initial_command}\n{command}"
    return ["bash", "-c", command]


def run_command(
    arguments: Sequence[str],
    log_file: str | os.PathLike[str],
    *,
    what: str,
    stdin: SupportsRead[bytes] | None = None,
    timeout: float | None = None,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    append_log: bool = False,
) -> None:
    """Run ``arguments``, its output (stdout and stderr) into ``log_file``; wait for it to end.

    Parameters
    ----------
    arguments
        The command and its arguments (no shell; see :func:`shell_command` for one).
    log_file
        Receives the output; kept after a failure, as the record of what went wrong.
    what
        What runs, for messages (e.g. "MadGraph (generate)").
    stdin
        A binary stream copied to the command's standard input; None: the input is empty, so
        the command can never wait for an answer.
    timeout
        Seconds after which the command is killed (None: no limit).
    cwd, env
        Working directory and environment (None: ours).
    append_log
        Append to the log instead of replacing it.

    Raises
    ------
    ExternalCommandError
        If the command cannot start, exits with a nonzero status or runs past ``timeout``.
    """
    log = Path(log_file)
    log.parent.mkdir(parents=True, exist_ok=True)
    display = shlex.join(arguments)
    logger.debug("Running %s: %s (log: %s)", what, display, log)
    with open(log, "ab" if append_log else "wb") as log_stream:
        try:
            process = subprocess.Popen(
                list(arguments),
                stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                stdout=log_stream,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=None if env is None else dict(env),
            )
        except OSError as error:
            raise ExternalCommandError(
                f"{what} could not be started ({display}): {error}", display, 127, str(log), ""
            ) from error
        if stdin is not None:
            assert process.stdin is not None
            try:
                shutil.copyfileobj(stdin, process.stdin, 1 << 20)
            except BrokenPipeError:
                pass  # the command stopped reading: its exit status and log say why
            finally:
                with contextlib.suppress(BrokenPipeError):
                    process.stdin.close()
        try:
            status = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            tail = log_tail(log)
            raise ExternalCommandError(
                f"{what} did not finish within {timeout:g} s and was stopped; its log {log} ends:\n{tail}",
                display,
                -9,
                str(log),
                tail,
            ) from None
    if status != 0:
        tail = log_tail(log)
        raise ExternalCommandError(
            f"{what} failed (exit status {status}); its log {log} ends:\n{tail}",
            display,
            status,
            str(log),
            tail,
        )
