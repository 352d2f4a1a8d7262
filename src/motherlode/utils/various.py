"""MadMiner's small helpers under MadMiner's path ``madminer.utils.various``, for ported scripts.

MadMiner scripts import a few helpers from ``madminer.utils.various`` (the tutorials use
:func:`less_logging`); a script ports by importing them from ``motherlode.utils.various``
instead. Every public function of MadMiner 0.9.6's module is here, with the same name,
arguments and defaults, and the same results, except where MadMiner's behaviour is a bug:

* :func:`less_logging` really silences INFO (and DEBUG) messages and restores the previous
  logging state afterwards, also on an exception (MadMiner's does nothing unless logging was
  already disabled at DEBUG, and afterwards always leaves it disabled at DEBUG);
* :func:`load_and_check` memory-maps only files larger than ``memmap_files_larger_than_gb``
  (MadMiner multiplies the size by 1024**3 instead of dividing, so it memory-maps every file as
  soon as a threshold is given);
* :func:`sanitize_array` returns a new array and leaves its argument alone; each replacement
  applies to the values that were NaN / +inf / -inf in the input (MadMiner replaced in place,
  and a ``replace_neg_inf`` of ``-inf`` was then replaced by ``replace_inf``);
* :func:`weighted_quantile` refuses weights that do not sum to a positive number (MadMiner
  divided by zero and interpolated NaNs), and handles one value with ``old_style=True``;
* :func:`unzip_file` and :func:`copy_file` write through a temporary file that is renamed into
  place, so a failure never leaves a partial file;
* :func:`call_command` raises :class:`~motherlode.errors.ExternalCommandError` (a
  ``RuntimeError``) whose message ends with the tail of the command's output, also when the
  output went to a log file; with ``return_std=True`` and a log file it returns the logged
  output (MadMiner returned the exit code);
* :func:`shuffle` draws its permutation from a :class:`numpy.random.Generator`, by default
  seeded from NumPy's global random state, so ``np.random.seed`` makes it reproducible as in
  MadMiner (the permutations themselves differ from MadMiner's); ``random_state=`` seeds it
  directly;
* the assertions of MadMiner (``balance_thetas``, ``separate_information_blocks``,
  ``weighted_quantile``) are :class:`~motherlode.errors.InputError` with a message.

This module imports only NumPy and the expression engine (not torch), so importing
:func:`less_logging` is quick.

Examples
--------
>>> import logging
>>> from motherlode.utils.various import less_logging
>>> with less_logging():
...     logging.getLogger("motherlode").info("not shown")
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import operator
import os
import shlex
import shutil
import stat
import subprocess
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from motherlode.errors import ExternalCommandError, FileFormatError, InputError
from motherlode.expressions import CONSTANTS, MATH_FUNCTIONS
from motherlode.fileformat import atomic_write

__all__ = [
    "approx_equal",
    "balance_thetas",
    "call_command",
    "copy_file",
    "less_logging",
    "load_and_check",
    "make_file_executable",
    "math_commands",
    "mdot",
    "restrict_samplesize",
    "sanitize_array",
    "separate_information_blocks",
    "shuffle",
    "sorted_stably",
    "unzip_file",
    "weighted_quantile",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike
RandomState = int | np.integer | np.random.SeedSequence | np.random.Generator | np.random.RandomState | None

_TAIL_LINES = 20
_TAIL_BYTES = 8192


# ----------------------------------------------------------------------------------------------
# External commands and files
# ----------------------------------------------------------------------------------------------


def _tail(output: bytes | None, lines: int = _TAIL_LINES) -> str:
    """The last ``lines`` lines of a command's output, decoded for a message."""
    if not output:
        return ""
    text = output[-_TAIL_BYTES:].decode("utf-8", errors="replace")
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def _read_tail(path: Path) -> str:
    """The last lines of a (log) file, or '' if it cannot be read."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(handle.tell() - _TAIL_BYTES, 0))
            return _tail(handle.read())
    except OSError:
        return ""


def call_command(
    cmd: str | Sequence[str], log_file: PathLike | None = None, return_std: bool = False
) -> int | tuple[bytes, bytes]:
    """Run an external command (e.g. a MadGraph launch) and wait for it to finish.

    Parameters
    ----------
    cmd : str or sequence of str
        A command line, run by the shell (``/bin/sh``) as MadMiner did, so it may use
        redirections, ``;`` and ``&&``. It is the user's own command: never build it from
        untrusted text. A sequence of arguments is run directly, without a shell.
    log_file : str or os.PathLike or None, optional
        File that receives the command's standard output and standard error (merged, in
        order, written as they come so that a long run can be followed). It is kept when the
        command fails: it is the record of what went wrong. Default None: the output is
        captured.
    return_std : bool, optional
        Return the output instead of the exit code. Default False.

    Returns
    -------
    int or tuple of bytes
        The exit code 0; with ``return_std``, ``(stdout, stderr)`` as bytes (with a log file:
        the logged output and ``b""``).

    Raises
    ------
    ExternalCommandError
        If the command exits with a nonzero status or cannot be started; the message names
        the command, the exit code, the log file and the last lines of the output. It is a
        ``RuntimeError``, as in MadMiner.
    InputError
        If ``cmd`` is empty or ``log_file`` cannot be opened for writing.
    """
    shell = isinstance(cmd, str)
    command: str | list[str]
    if isinstance(cmd, str):
        command = cmd
        display = cmd
    else:
        command = [os.fspath(part) for part in cmd]
        display = shlex.join(command)
    if not display.strip():
        raise InputError("call_command: cmd is empty, expected a command line")
    logger.debug("Running %s", display)
    log_path = None if log_file is None else Path(log_file)
    stdout = stderr = b""
    try:
        if log_path is not None:
            try:
                log = open(log_path, "wb")  # noqa: SIM115  (closed below, after the command)
            except OSError as error:
                raise InputError(
                    f"call_command: cannot open log_file {str(log_path)!r} for writing ({error})"
                ) from error
            with log:
                returncode = subprocess.run(
                    command, shell=shell, stdout=log, stderr=subprocess.STDOUT
                ).returncode
        else:
            completed = subprocess.run(command, shell=shell, capture_output=True)
            returncode, stdout, stderr = completed.returncode, completed.stdout, completed.stderr
    except OSError as error:  # a command given as arguments that does not exist
        raise ExternalCommandError(
            f"Command {display!r} could not be started: {error}", display, 127, None, ""
        ) from error
    if returncode != 0:
        if log_path is not None:
            output = _read_tail(log_path)
            where = f" Output in file {str(log_path)!r}."
        else:
            parts = [
                f"[stdout]\n{_tail(stdout)}" if stdout else "",
                f"[stderr]\n{_tail(stderr)}" if stderr else "",
            ]
            output = "\n".join(part for part in parts if part)
            where = ""
        message = f"Command {display!r} returned exit code {returncode}.{where}"
        message += f"\nLast lines of its output:\n{output}" if output else " It printed nothing."
        raise ExternalCommandError(
            message, display, returncode, None if log_path is None else str(log_path), output
        )
    if not return_std:
        return returncode
    if log_path is not None:
        return log_path.read_bytes(), b""
    return stdout, stderr


def _existing_file(filename: Any, what: str, argument: str) -> Path:
    path = Path(filename)
    if not path.is_file():
        raise InputError(f"{what}: {argument} {str(path)!r} does not exist or is not a file")
    return path


def unzip_file(filename: PathLike, new_filename: PathLike, block_size: int = 65536) -> None:
    """Decompress the gzip file ``filename`` into ``new_filename``.

    The output is written exactly at ``new_filename`` (replacing a file there), through a
    temporary file in the same directory, so no partial output remains if anything fails.

    Parameters
    ----------
    filename : str or os.PathLike
        The ``.gz`` file.
    new_filename : str or os.PathLike
        Where the decompressed data go; missing directories are created.
    block_size : int, optional
        Bytes copied at a time. Default 65536.

    Raises
    ------
    InputError
        If ``filename`` does not exist or ``block_size`` is not a positive integer.
    FileFormatError
        If ``filename`` is not a valid (complete) gzip file, or ``new_filename`` is a directory.
    """
    source = _existing_file(filename, "unzip_file", "filename")
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or block_size <= 0:
        raise InputError(f"unzip_file: block_size must be a positive integer, got {block_size!r}")
    try:
        with gzip.open(source, "rb") as compressed, atomic_write(new_filename) as output:
            shutil.copyfileobj(compressed, output, int(block_size))
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise FileFormatError(f"unzip_file: {str(source)!r} is not a valid gzip file ({error})") from error


def copy_file(source: PathLike | None, destination: PathLike) -> None:
    """Copy the content of the file ``source`` to ``destination`` (nothing if ``source`` is None).

    Like :func:`shutil.copyfile`, but written through a temporary file that is renamed onto
    ``destination``, so a failure never leaves a partial copy.

    Raises
    ------
    InputError
        If ``source`` does not exist, or both are the same file.
    FileFormatError
        If ``destination`` is a directory. Missing directories of ``destination`` are created.
    """
    if source is None:
        return
    path = _existing_file(source, "copy_file", "source")
    target = Path(destination)
    if target.exists() and os.path.samefile(path, target):
        raise InputError(f"copy_file: source and destination are the same file {str(path)!r}")
    with open(path, "rb") as original, atomic_write(target) as copy:
        shutil.copyfileobj(original, copy)


def make_file_executable(filename: PathLike) -> None:
    """Allow the file's owner to execute it (add the ``u+x`` permission), as MadMiner does.

    Raises
    ------
    InputError
        If the file does not exist.
    """
    path = _existing_file(filename, "make_file_executable", "filename")
    os.chmod(path, path.stat().st_mode | stat.S_IEXEC)


# ----------------------------------------------------------------------------------------------
# Arrays
# ----------------------------------------------------------------------------------------------


def _generator(random_state: RandomState, what: str) -> np.random.Generator:
    """A NumPy Generator from a seed, a Generator, a RandomState, or None (NumPy's global state)."""
    if random_state is None:
        # one draw from the legacy global state, so np.random.seed(...) makes the result reproducible
        seed = np.random.randint(np.iinfo(np.int64).max, dtype=np.int64)  # noqa: NPY002  (on purpose)
        return np.random.default_rng(int(seed))
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(int(random_state.randint(np.iinfo(np.int64).max, dtype=np.int64)))
    if isinstance(random_state, np.random.SeedSequence) or (
        isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool)
    ):
        return np.random.default_rng(random_state)
    raise InputError(
        f"{what}: random_state must be None, an integer seed, a SeedSequence, a numpy Generator or a "
        f"RandomState, got {type(random_state).__name__}"
    )


def shuffle(*arrays: Any, random_state: RandomState = None) -> list[np.ndarray | None]:
    """Shuffle several arrays along their first axis with one common random permutation.

    Parameters
    ----------
    *arrays : array_like or None
        Arrays with the same length; None entries are passed through.
    random_state : int, numpy.random.Generator, numpy.random.RandomState or None, optional
        Source of the permutation (keyword only; not in MadMiner). Default None: a
        :class:`numpy.random.Generator` seeded by one draw from NumPy's global random state, so
        ``np.random.seed(...)`` makes the result reproducible, as MadMiner's use of the global
        state did.

    Returns
    -------
    list
        The shuffled arrays (copies), None where an input was None.

    Raises
    ------
    InputError
        If the arrays have different lengths.

    Examples
    --------
    >>> x, none, y = shuffle(np.arange(4), None, 10 * np.arange(4), random_state=0)
    >>> none is None, bool((y == 10 * x).all()), sorted(x.tolist())
    (True, True, [0, 1, 2, 3])
    """
    converted = [None if a is None else np.asarray(a) for a in arrays]
    present = [a for a in converted if a is not None]
    if not present:
        return [None] * len(arrays)
    if any(a.ndim == 0 for a in present) or len({len(a) for a in present}) > 1:
        shapes = [None if a is None else a.shape for a in converted]
        raise InputError(f"shuffle: the arrays must have the same length (first axis), got shapes {shapes}")
    permutation = _generator(random_state, "shuffle").permutation(len(present[0]))
    return [None if a is None else a[permutation] for a in converted]


def restrict_samplesize(n: int | None, *arrays: Any) -> list[Any]:
    """The first ``n`` entries (along the first axis) of each array, as MadMiner does.

    No randomness is involved: the samples written by the sampling stage are already in random
    order, so the first ``n`` are a random subset. ``n=None`` keeps everything.

    Returns
    -------
    list
        ``a[:n]`` for each array (a view for NumPy arrays), None where an input was None.

    Raises
    ------
    InputError
        If ``n`` is not a non-negative integer or None.

    Examples
    --------
    >>> restrict_samplesize(2, np.arange(5), None)
    [array([0, 1]), None]
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0):
        raise InputError(f"restrict_samplesize: n must be a non-negative integer or None, got {n!r}")
    return [None if a is None else a[:n] for a in arrays]


def balance_thetas(
    theta_sets_types: list[list[Any]], theta_sets_values: list[list[Any]], n_sets: int | None = None
) -> tuple[list[list[Any]], list[list[Any]]]:
    """Repeat the entries of each theta set cyclically so that every set has ``n_sets`` entries.

    Parameters
    ----------
    theta_sets_types, theta_sets_values : list of lists
        One list per theta (e.g. numerator and denominator) of the sampling types and values of
        its sets; the two lists of a theta have the same length.
    n_sets : int or None, optional
        The common length. Default None: the longest list's length (longer lists are cut).

    Returns
    -------
    theta_sets_types, theta_sets_values : list of lists
        New lists (the arguments are not modified, unlike in MadMiner, which returns them
        modified in place).

    Raises
    ------
    InputError
        If a theta has different numbers of types and values, or no sets while ``n_sets > 0``.

    Examples
    --------
    >>> balance_thetas([["a"], ["b", "c", "d"]], [[1], [2, 3, 4]])
    ([['a', 'a', 'a'], ['b', 'c', 'd']], [[1, 1, 1], [2, 3, 4]])
    >>> balance_thetas([["a"], ["b", "c", "d"]], [[1], [2, 3, 4]], n_sets=2)
    ([['a', 'a'], ['b', 'c']], [[1, 1], [2, 3]])
    """
    if len(theta_sets_types) != len(theta_sets_values):
        raise InputError(
            f"balance_thetas: {len(theta_sets_types)} lists of types but "
            f"{len(theta_sets_values)} lists of values, expected one of each per theta"
        )
    for i, (types, values) in enumerate(zip(theta_sets_types, theta_sets_values, strict=True)):
        if len(types) != len(values):
            raise InputError(
                f"balance_thetas: theta {i} has {len(types)} types but {len(values)} values, "
                "expected the same number"
            )
    if n_sets is None:
        n_sets = max((len(types) for types in theta_sets_types), default=0)
    elif isinstance(n_sets, bool) or not isinstance(n_sets, (int, np.integer)) or n_sets < 0:
        raise InputError(f"balance_thetas: n_sets must be a non-negative integer or None, got {n_sets!r}")
    new_types: list[list[Any]] = []
    new_values: list[list[Any]] = []
    for i, (types, values) in enumerate(zip(theta_sets_types, theta_sets_values, strict=True)):
        if not types and n_sets > 0:
            raise InputError(f"balance_thetas: theta {i} has no sets, cannot repeat it to {n_sets}")
        new_types.append([types[j % len(types)] for j in range(n_sets)])
        new_values.append([values[j % len(values)] for j in range(n_sets)])
    return new_types, new_values


def sanitize_array(
    array: Any,
    replace_nan: float = 0.0,
    replace_inf: float = 0.0,
    replace_neg_inf: float = 0.0,
    min_value: float | None = None,
    max_value: float | None = None,
) -> np.ndarray:
    """Replace NaN and infinite values, then optionally clip to ``[min_value, max_value]``.

    Parameters
    ----------
    array : array_like
        The values; not modified (a new array is returned).
    replace_nan, replace_inf, replace_neg_inf : float, optional
        What NaN, +inf and -inf become. Default 0.
    min_value, max_value : float or None, optional
        Bounds of the result (after the replacements); None: unbounded. Default None.

    Returns
    -------
    numpy.ndarray
        A new array of the same shape.

    Raises
    ------
    InputError
        If ``min_value > max_value``.

    Examples
    --------
    >>> values = np.array([1.0, np.nan, np.inf, -np.inf, -20.0, 20.0])
    >>> sanitize_array(values)
    array([  1.,   0.,   0.,   0., -20.,  20.])
    >>> sanitize_array(values, replace_nan=1.0, replace_inf=2.0, replace_neg_inf=-3.0, min_value=-10.0,
    ...                max_value=10.0)
    array([  1.,   1.,   2.,  -3., -10.,  10.])
    """
    if min_value is not None and max_value is not None and min_value > max_value:
        raise InputError(f"sanitize_array: min_value {min_value} is larger than max_value {max_value}")
    result = np.array(array, copy=True)
    if result.dtype.kind in "fc":
        nan, pos_inf, neg_inf = np.isnan(result), np.isposinf(result), np.isneginf(result)
        result[nan] = replace_nan
        result[pos_inf] = replace_inf
        result[neg_inf] = replace_neg_inf
    if min_value is not None or max_value is not None:
        result = np.clip(result, min_value, max_value)
    return result


def load_and_check(
    filename: PathLike | Any | None,
    warning_threshold: float = 1.0e9,
    memmap_files_larger_than_gb: float | None = None,
) -> np.ndarray | None:
    """Load a ``.npy`` file (or take an array), warn about NaN, infinite and huge values, make it 2-d.

    Parameters
    ----------
    filename : str, os.PathLike, array_like or None
        A ``.npy`` file, or an array that is checked as it is; None returns None.
    warning_threshold : float, optional
        Warn when a finite value's magnitude exceeds this. Default 1e9.
    memmap_files_larger_than_gb : float or None, optional
        Files larger than this many GiB are memory-mapped (copy-on-write, ``mmap_mode="c"``) and
        not checked. Default None: always loaded into memory.

    Returns
    -------
    numpy.ndarray or None
        The data; a one-dimensional array becomes a column ``(n, 1)``.

    Raises
    ------
    InputError
        If the file does not exist.
    FileFormatError
        If it is not a ``.npy`` file of numbers (``.npz`` archives and pickled objects are refused).
    """
    if filename is None:
        return None
    memmap = False
    if isinstance(filename, (str, os.PathLike)):
        path = _existing_file(filename, "load_and_check", "file")
        name = str(path)
        size_gb = path.stat().st_size / 1024**3
        memmap = memmap_files_larger_than_gb is not None and size_gb > memmap_files_larger_than_gb
        logger.debug("Loading %s %s", name, "as a memory map" if memmap else "into memory")
        try:
            data = np.load(path, mmap_mode="c" if memmap else None, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise FileFormatError(
                f"load_and_check: cannot read {name!r} as a NumPy .npy array ({error})"
            ) from error
        if not isinstance(data, np.ndarray):
            data.close()
            raise FileFormatError(
                f"load_and_check: {name!r} is an .npz archive, expected a single .npy array"
            )
    else:
        name = "array"
        data = np.asarray(filename)
    if not memmap and data.size and data.dtype.kind in "biufc":
        finite = np.isfinite(data)
        n_finite = int(finite.sum())
        if n_finite < data.size:
            n_nans = int(np.isnan(data).sum())
            logger.warning(
                "%s contains %s NaNs and %s Infs, compared to %s finite numbers!",
                name,
                n_nans,
                data.size - n_finite - n_nans,
                n_finite,
            )
        if n_finite:
            values = data[finite]
            smallest, largest = values.min(), values.max()
            if max(abs(smallest), abs(largest)) > warning_threshold:
                logger.warning("%s has some large numbers, ranging from %s to %s", name, smallest, largest)
    if data.ndim == 1:
        data = data.reshape(-1, 1)
    return data


def weighted_quantile(
    values: Any,
    quantiles: Any,
    sample_weight: Any = None,
    values_sorted: bool = False,
    old_style: bool = False,
) -> np.ndarray | np.float64:
    """Quantiles of weighted data (like :func:`numpy.percentile`, but with weights, and in [0, 1]).

    The weighted empirical distribution puts each value at the middle of its weight's step:
    the cumulative weight at the i-th smallest value is ``sum(w[:i]) + w[i] / 2``, divided by
    the total weight, and quantiles are interpolated linearly in between (MadMiner's method).

    Parameters
    ----------
    values : array_like
        The data, one-dimensional.
    quantiles : float or array_like
        The quantiles to compute, in [0, 1].
    sample_weight : array_like or None, optional
        The weights, same length as ``values``; the total must be positive. Negative weights
        are allowed: the quantile is then where the cumulative weight first reaches the level.
        Default None: all equal.
    values_sorted : bool, optional
        Whether ``values`` is already sorted (then it is not sorted again). Default False.
    old_style : bool, optional
        Rescale the cumulative weights to run from exactly 0 at the smallest to 1 at the
        largest value, which for equal weights reproduces :func:`numpy.percentile`. Default False.

    Returns
    -------
    numpy.ndarray or numpy.float64
        The quantiles, of the shape of ``quantiles``.

    Raises
    ------
    InputError
        If ``values`` is empty or not one-dimensional, a quantile is outside [0, 1], the weights
        have another length or do not sum to a positive number.

    Examples
    --------
    >>> values = np.array([3.0, 1.0, 4.0, 1.5, 9.0, 2.6])
    >>> weighted_quantile(values, [0.25, 0.5, 0.75], [0.5, 2.0, 1.0, 0.0, 3.0, 1.5])
    array([1.5       , 3.33333333, 7.75      ])
    >>> weighted_quantile(values, [0.1, 0.5, 0.9], old_style=True)
    array([1.25, 2.8 , 6.5 ])
    >>> np.percentile(values, [10, 50, 90])
    array([1.25, 2.8 , 6.5 ])
    """
    data = np.array(values, dtype=np.float64)
    if data.ndim != 1 or data.size == 0:
        raise InputError(
            f"weighted_quantile: values must be a non-empty one-dimensional array, got shape {data.shape}"
        )
    levels = np.asarray(quantiles, dtype=np.float64)
    if not np.all((levels >= 0.0) & (levels <= 1.0)):
        raise InputError(f"weighted_quantile: quantiles must be in [0, 1], got {quantiles!r}")
    if sample_weight is None:
        weights = np.ones(len(data))
    else:
        weights = np.array(sample_weight, dtype=np.float64)
        if weights.shape != data.shape:
            raise InputError(
                f"weighted_quantile: sample_weight has shape {weights.shape}, "
                f"expected {data.shape} like values"
            )
    if not values_sorted:
        data, order = sorted_stably(data)
        weights = weights[order]
    total = weights.sum()
    if not (np.isfinite(total) and total > 0.0):
        raise InputError(
            f"weighted_quantile: sample_weight sums to {total}, expected a positive finite total"
        )
    cumulative = np.cumsum(weights) - 0.5 * weights
    if (weights < 0.0).any():
        cumulative = np.maximum.accumulate(cumulative)
    if old_style:
        span = cumulative[-1] - cumulative[0]
        cumulative = (cumulative - cumulative[0]) / span if span > 0.0 else np.zeros_like(cumulative)
    else:
        cumulative /= total
    return np.interp(levels, cumulative, data)


def sorted_stably(data: np.ndarray, order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``data`` sorted, and the order: equal to ``np.argsort(data, kind="stable")``, faster.

    The (several times faster) default sort, then tied values, whose order moves weighted
    quantiles, put back in their original order (only the runs of ties are sorted again).

    Parameters
    ----------
    data : numpy.ndarray
        One-dimensional values.
    order : numpy.ndarray or None, optional
        An order that sorts ``data`` already, except perhaps for the order of ties (the reversed
        order of ``-data``, say): then only the ties are sorted. Default None: sort.

    Examples
    --------
    >>> sorted_stably(np.array([2.0, 1.0, 2.0, 0.5]))
    (array([0.5, 1. , 2. , 2. ]), array([3, 1, 0, 2]))
    >>> sorted_stably(np.array([2.0, 1.0, 2.0, 0.5]), order=np.array([3, 1, 2, 0]))[1]
    array([3, 1, 0, 2])
    """
    order = np.argsort(data) if order is None else np.array(order)
    ordered = data[order]
    tied = ordered[1:] == ordered[:-1]
    n_tied = int(np.count_nonzero(tied))
    if n_tied > len(data) // 64:  # many ties (a default value, rounded data): the stable sort is faster
        order = np.argsort(data, kind="stable")
        return data[order], order
    if n_tied:
        in_run = np.zeros(len(data), dtype=bool)
        in_run[1:] |= tied
        in_run[:-1] |= tied
        positions = np.flatnonzero(in_run)
        order[positions] = order[positions][np.lexsort((order[positions], ordered[positions]))]
    return ordered, order


def approx_equal(a: Any, b: Any, epsilon: float = 1.0e-6) -> Any:
    """Whether ``|a - b| < epsilon`` (elementwise for arrays).

    Examples
    --------
    >>> approx_equal(1.0, 1.0 + 1e-7), approx_equal(1.0, 1.0 + 1e-5)
    (True, False)
    >>> approx_equal(np.array([1.0, 2.0]), np.array([1.0, 2.1]))
    array([ True, False])
    """
    return abs(a - b) < epsilon


def separate_information_blocks(
    fisher_information: Any, parameters_of_interest: Sequence[int]
) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
    """Split a Fisher information matrix into its parameter-of-interest and nuisance blocks.

    Parameters
    ----------
    fisher_information : array_like
        Square matrix ``(n, n)``.
    parameters_of_interest : sequence of int
        Indices of the parameters of interest (in the order wanted for the blocks); the other
        indices are the nuisance parameters, in increasing order.

    Returns
    -------
    nuisance_params : list of int
        The indices of the other parameters.
    information_phys : numpy.ndarray
        ``(n_poi, n_poi)``: rows and columns of the parameters of interest.
    information_mix : numpy.ndarray
        ``(n_nuisance, n_poi)``: nuisance rows, parameter-of-interest columns.
    information_nuisance : numpy.ndarray
        ``(n_nuisance, n_nuisance)``.

    Raises
    ------
    InputError
        If the matrix is not square or an index is out of range or repeated.

    Examples
    --------
    >>> info = np.array([[4.0, 1.0, 2.0], [1.0, 5.0, 3.0], [2.0, 3.0, 6.0]])
    >>> nuisance, phys, mix, nuis = separate_information_blocks(info, [2, 0])
    >>> nuisance, phys.tolist(), mix.tolist(), nuis.tolist()
    ([1], [[6.0, 2.0], [2.0, 4.0]], [[3.0, 1.0]], [[5.0]])
    """
    matrix = np.asarray(fisher_information)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise InputError(
            "separate_information_blocks: fisher_information must be a square matrix, "
            f"got shape {matrix.shape}"
        )
    n_parameters = matrix.shape[0]
    try:
        poi = [operator.index(i) for i in parameters_of_interest]
    except TypeError:
        raise InputError(
            f"separate_information_blocks: parameters_of_interest must be integer indices, "
            f"got {parameters_of_interest!r}"
        ) from None
    if len(set(poi)) != len(poi) or any(not 0 <= i < n_parameters for i in poi):
        raise InputError(
            f"separate_information_blocks: parameters_of_interest {poi} must be distinct indices in "
            f"[0, {n_parameters})"
        )
    chosen = set(poi)
    nuisance_params = [i for i in range(n_parameters) if i not in chosen]
    poi_index = np.asarray(poi, dtype=np.intp)
    nuisance_index = np.asarray(nuisance_params, dtype=np.intp)
    information_phys = matrix[np.ix_(poi_index, poi_index)]
    information_mix = matrix[np.ix_(nuisance_index, poi_index)]
    information_nuisance = matrix[np.ix_(nuisance_index, nuisance_index)]
    return nuisance_params, information_phys, information_mix, information_nuisance


def mdot(matrix: Any, benchmark_information: Any) -> Any:
    """Contract the last axes of ``matrix`` and ``benchmark_information``, cut to the shorter one.

    ``matrix`` has shape ``(..., n1)`` (e.g. morphing weights of benchmarks), and
    ``benchmark_information`` ``(..., n2)`` (e.g. per-event weights of benchmarks, which may
    include further nuisance benchmarks); only the first ``min(n1, n2)`` entries of the last
    axes enter. The result is ``np.dot(matrix[..., :n], benchmark_information[..., :n].T)``.

    Examples
    --------
    >>> morphing = np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])
    >>> weights = np.array([[1.0, 1.0, 1.0, 7.0], [2.0, 0.0, 1.0, 7.0]])  # 4th column ignored
    >>> mdot(morphing, weights)
    array([[6., 5.],
           [1., 0.]])
    >>> float(mdot(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0])))
    3.0
    """
    left = np.asarray(matrix)
    right = np.asarray(benchmark_information)
    if left.ndim == 0 or right.ndim == 0:
        raise InputError(
            "mdot: matrix and benchmark_information must be arrays, "
            f"got shapes {left.shape} and {right.shape}"
        )
    n = min(left.shape[-1], right.shape[-1])
    return np.dot(left[..., :n], right[..., :n].T)


# ----------------------------------------------------------------------------------------------
# Expressions and logging
# ----------------------------------------------------------------------------------------------


def math_commands() -> dict[str, Any]:
    """The math functions and constants that motherlode's expressions may use, by name.

    MadMiner returned the namespace it handed to Python's ``eval``; motherlode never evaluates
    strings that way, and this is the vocabulary of its expression engine instead
    (:data:`motherlode.expressions.MATH_FUNCTIONS` and :data:`motherlode.expressions.CONSTANTS`):
    every name of MadMiner's dictionary (``sqrt``, ``log``, ``cos``, ``atan2``, ``pow``, ``pi``
    ...) and more, as NumPy functions that work on numbers and on whole arrays.

    Returns
    -------
    dict
        A new dictionary, name to function or constant.

    Examples
    --------
    >>> commands = math_commands()
    >>> float(commands["sqrt"](16.0)), commands["pi"] == np.pi
    (4.0, True)
    """
    return {**MATH_FUNCTIONS, **CONSTANTS}


@contextlib.contextmanager
def less_logging() -> Iterator[None]:
    """Silence INFO and DEBUG log messages (of every logger) inside a ``with`` block.

    The previous state of :func:`logging.disable` is restored when the block ends, also when
    it raises; a stricter state set before (e.g. ``logging.disable(logging.WARNING)``) is kept.

    Examples
    --------
    >>> import logging
    >>> with less_logging():
    ...     logging.getLogger("motherlode").isEnabledFor(logging.INFO)
    False
    """
    previous = logging.root.manager.disable
    logging.disable(max(previous, logging.INFO))
    try:
        yield
    finally:
        logging.disable(previous)
