"""The exception hierarchy of motherlode.

Every error raised on purpose by motherlode derives from :class:`MotherlodeError`.
The subclasses also derive from the built-in exception that MadMiner raised in the
same situation (``RuntimeError``, ``ValueError``, ``OSError``), so code written for
MadMiner that catches those keeps working.

Messages name what was wrong and where: the argument, field, file or line, and
what was expected instead.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ExpressionError",
    "ExternalCommandError",
    "FileFormatError",
    "InputError",
    "MorphingError",
    "MotherlodeError",
    "NotYetAvailableError",
    "SetupError",
]


class MotherlodeError(Exception):
    """Base class of all errors raised by motherlode."""


class InputError(MotherlodeError, ValueError):
    """An argument or input value is invalid (wrong type, shape, range or name)."""


class SetupError(InputError, RuntimeError):
    """The analysis setup is inconsistent: a duplicate or unknown parameter, benchmark or systematic.

    Derives from ``RuntimeError`` because MadMiner documents ``RuntimeError`` for these cases.
    """


class ExpressionError(InputError):
    """An expression is malformed or uses something outside the allowed vocabulary."""


class ConfigError(InputError):
    """A workflow configuration file is invalid; the message names the file and each bad field."""


class FileFormatError(MotherlodeError, OSError):
    """A file cannot be read or written as a MadMiner/motherlode HDF5 file.

    Derives from ``OSError`` (``IOError``), which MadMiner raises for unreadable files.
    """


class MorphingError(MotherlodeError, ValueError):
    """A morphing basis is singular or too ill-conditioned to be used.

    Attributes
    ----------
    condition_number : float or None
        The condition number of the basis matrix, when it was computed.
    """

    def __init__(self, message: str, condition_number: float | None = None) -> None:
        super().__init__(message)
        self.condition_number = condition_number


class NotYetAvailableError(MotherlodeError):
    """A MadMiner feature whose motherlode stage is planned but not built yet.

    The names of such stages import (so a ported script fails at the first call, with this
    message, not at its imports); calling them raises this error, which names the feature and
    where its plan is tracked. See :mod:`motherlode.pending`.
    """


class ExternalCommandError(MotherlodeError, RuntimeError):
    """An external command (e.g. a MadGraph launch) exited with a nonzero status.

    Derives from ``RuntimeError``, which MadMiner's ``call_command`` raised. The message names
    the command, its exit code and the end of its output (and the log file, if there is one).

    Attributes
    ----------
    command : str
        The command line that was run.
    returncode : int
        Its exit status (negative: killed by that signal).
    log_file : str or None
        The file that holds the command's full output, if it was logged to a file.
    output_tail : str
        The last lines of the command's output (stdout and stderr).
    """

    def __init__(
        self,
        message: str,
        command: str = "",
        returncode: int = 1,
        log_file: str | None = None,
        output_tail: str = "",
    ) -> None:
        super().__init__(message)
        self.command = command
        self.returncode = returncode
        self.log_file = log_file
        self.output_tail = output_tail
