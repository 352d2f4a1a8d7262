"""The MadMiner HDF5 file format: the only module that reads or writes it.

One file carries a whole analysis: the setup (parameters, benchmarks, morphing,
systematics, finite differences), then the events (observables, per-benchmark weights,
sampling benchmarks) and nuisance parameters added by the readers. The layout is
MadMiner 0.9's, group for group and dataset for dataset (see ``docs/file-format.md``),
so MadMiner 0.9.6 reads our files and we read its files. Additions that MadMiner
ignores:

* root attributes ``motherlode_format_version`` and ``motherlode_version``;
* ``parameters/max_power_configurations`` (P, n_configurations) when some parameter has
  one maximal power per operator configuration (``parameters/max_power`` then holds the
  maximum, which is what MadMiner reads); a row of equal powers reads back as one int;
* event datasets are chunked and gzip-compressed, so they can be appended to and
  streamed in batches without holding a file in memory.

Strings are stored whole: fixed-length byte strings at least 256 bytes wide (MadMiner's
width), wider when needed, UTF-8 encoded. Every write goes to a temporary file that
replaces the target only when complete (:func:`atomic_h5`).
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import socket
import stat
import tempfile
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

import h5py
import numpy as np

from ._version import __version__
from .errors import FileFormatError
from .models import (
    AnalysisParameter,
    Benchmark,
    FiniteDiffBenchmark,
    NuisanceParameter,
    Systematic,
    SystematicScale,
    SystematicType,
)

__all__ = [
    "FORMAT_VERSION",
    "SampleSummary",
    "SetupData",
    "append_samples",
    "atomic_h5",
    "atomic_path",
    "atomic_write",
    "atomic_write_text",
    "create_sample_datasets",
    "iter_samples",
    "n_samples",
    "read_observables",
    "read_sample_summary",
    "read_setup",
    "save_setup",
    "write_nuisance_setup",
    "write_observables",
    "write_sample_summary",
    "write_setup",
]

logger = logging.getLogger(__name__)

#: Version of the motherlode additions to the MadMiner 0.9 layout, stored as a root attribute.
FORMAT_VERSION = 1
FORMAT_VERSION_ATTRIBUTE = "motherlode_format_version"
WRITER_VERSION_ATTRIBUTE = "motherlode_version"

#: MadMiner's marker for "no value" in string datasets.
EMPTY_MARKER = "None"
#: Transform strings that mean "the identity" (MadMiner stores "_" for None).
_IDENTITY_TRANSFORMS = {"", "_", "None", "theta"}
#: MadMiner's fixed string width; wider strings get a wider dataset instead of being cut.
MIN_STRING_BYTES = 256
#: Target size of one chunk of an event dataset.
CHUNK_BYTES = 1 << 20


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_current_umask()


# ---------------------------------------------------------------------------- records


@dataclass
class SetupData:
    """Everything in a file except the events: what ``MadMiner.save`` writes, plus the
    nuisance setup that the readers add.

    ``benchmarks`` holds physics and nuisance benchmarks in file order, with their flags;
    the first ``morphing_matrix.shape[1]`` physics benchmarks are the morphing basis.
    """

    parameters: dict[str, AnalysisParameter]
    benchmarks: dict[str, Benchmark]
    morphing_components: np.ndarray | None = None
    morphing_matrix: np.ndarray | None = None
    systematics: dict[str, Systematic] = field(default_factory=dict)
    finite_differences: dict[str, FiniteDiffBenchmark] = field(default_factory=dict)
    finite_difference_epsilon: float = 0.0
    nuisance_parameters: dict[str, NuisanceParameter] = field(default_factory=dict)
    format_version: int | None = None

    @property
    def reference_benchmark(self) -> str | None:
        """The benchmark flagged as reference, or None."""
        return next((name for name, b in self.benchmarks.items() if b.is_reference), None)

    @property
    def physics_benchmarks(self) -> dict[str, Benchmark]:
        """The benchmarks that are not nuisance benchmarks, in file order."""
        return {name: b for name, b in self.benchmarks.items() if not b.is_nuisance}

    @property
    def has_morphing(self) -> bool:
        """Whether the file holds a morphing setup."""
        return self.morphing_components is not None and self.morphing_matrix is not None


@dataclass
class SampleSummary:
    """Number of events generated at each physics benchmark, and of background events."""

    signal_events: np.ndarray
    background_events: int


# ---------------------------------------------------------------------------- strings


def _encode_strings(strings: Sequence[str], what: str) -> np.ndarray:
    """Fixed-width UTF-8 byte strings, at least MadMiner's 256 bytes wide, never truncated."""
    encoded = []
    for text in strings:
        if not isinstance(text, str):
            raise FileFormatError(f"{what}: expected a string, got {type(text).__name__} {text!r}")
        if "\x00" in text:
            raise FileFormatError(f"{what}: string {text!r} contains a NUL character")
        raw = text.encode("utf-8")
        if not raw.isascii():
            logger.warning("%s: %r is not ASCII; MadMiner 0.9 cannot decode it", what, text)
        encoded.append(raw)
    width = max([MIN_STRING_BYTES, *(len(raw) for raw in encoded)])
    return np.array(encoded, dtype=f"S{width}").reshape(len(encoded))


def _decode_strings(values: np.ndarray | Sequence[bytes | str]) -> list[str]:
    return [v.decode("utf-8") if isinstance(v, bytes | np.bytes_) else str(v) for v in np.ravel(values)]


def _decode_optional(values: np.ndarray) -> list[str | None]:
    """Decode, mapping MadMiner's ``"None"`` (and 0.8's empty string) to None."""
    return [None if text in (EMPTY_MARKER, "") else text for text in _decode_strings(values)]


# ---------------------------------------------------------------------------- opening files


@contextmanager
def open_h5(path: str | os.PathLike[str]) -> Iterator[h5py.File]:
    """Open an existing HDF5 file for reading, with errors that name the file."""
    path = Path(path)
    if not path.exists():
        raise FileFormatError(f"{path}: no such file")
    if path.is_dir():
        raise FileFormatError(f"{path}: is a directory, not an HDF5 file")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise FileFormatError(f"{path}: not a readable HDF5 file ({error})") from error
    try:
        yield handle
    except (KeyError, RuntimeError, OSError, TypeError, ValueError) as error:
        if isinstance(error, UnicodeDecodeError) or _raised_by_h5py(error):
            raise FileFormatError(f"{path}: damaged HDF5 file ({type(error).__name__}: {error})") from error
        raise
    finally:
        handle.close()


def _raised_by_h5py(error: BaseException) -> bool:
    """Whether ``error`` comes from inside h5py (a damaged file), not from motherlode's own code."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and "h5py" in Path(frames[-1].filename).parts


_HOST = "".join(c if c.isalnum() else "_" for c in socket.gethostname()) or "host"


def temporary_prefix(target: Path) -> str:
    """The name prefix of ``target``'s temporary files: ``.<name>.<host>-<pid>.``.

    The host and process id let :func:`remove_stale_temporaries` tell the temporaries of a
    killed process from those of a process still writing.
    """
    return f".{target.name}.{_HOST}-{os.getpid()}."


def remove_stale_temporaries(target: Path) -> None:
    """Remove the temporary files and folders of ``target`` that killed processes left behind.

    Only temporaries written on this machine by a process that no longer runs are removed
    (those of running processes, and of other machines sharing the folder, are left alone).
    """
    if os.name != "posix":  # os.kill(pid, 0) terminates the process on Windows
        return
    prefix = f".{target.name}."
    for path in target.parent.glob(f"{glob.escape(prefix)}*.tmp"):
        owner = path.name[len(prefix) :].split(".", 1)[0]
        host, _, pid = owner.rpartition("-")
        if host != _HOST or not pid.isdigit() or _process_runs(int(pid)):
            continue
        logger.info("removing %s, left by an interrupted process", path)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _process_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path next to ``path`` that replaces ``path`` when the ``with`` block succeeds.

    The one way motherlode writes files: the caller writes the temporary file (in the target's
    directory, so the final rename is atomic), and only a complete file is moved over ``path``.
    On any error the temporary file is removed and ``path`` is untouched. Missing parent
    directories are created, as MadMiner does. A replaced file keeps its permissions; a new one
    gets the usual ones (0666 less the umask).

    Raises
    ------
    FileFormatError
        If ``path`` is a directory or its directory cannot be created or written.
    """
    target = Path(path)
    directory = target.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FileFormatError(f"{target}: cannot create directory {directory} ({error})") from error
    if target.is_dir():
        raise FileFormatError(f"{target}: is a directory, expected a file name")
    remove_stale_temporaries(target)
    try:
        handle_fd, temporary_name = tempfile.mkstemp(
            prefix=temporary_prefix(target), suffix=".tmp", dir=directory
        )
    except OSError as error:
        raise FileFormatError(f"{target}: cannot write in directory {directory} ({error})") from error
    os.close(handle_fd)
    temporary = Path(temporary_name)
    try:
        yield temporary
        mode = stat.S_IMODE(target.stat().st_mode) if target.is_file() else _FILE_MODE
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """A binary file handle whose content replaces ``path`` only if the ``with`` block succeeds.

    See :func:`atomic_path`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
    >>> with atomic_write(target) as handle:
    ...     _ = handle.write(b"complete")
    >>> target.read_bytes()
    b'complete'
    """
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        yield handle


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_path`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "report.md"
    >>> atomic_write_text(target, "# done")
    >>> target.read_text()
    '# done'
    """
    with atomic_path(path) as temporary:
        Path(temporary).write_text(text, encoding="utf-8")


@contextmanager
def atomic_h5(
    path: str | os.PathLike[str], copy_from: str | os.PathLike[str] | None = None
) -> Iterator[h5py.File]:
    """Write an HDF5 file so that ``path`` holds either the old file or the complete new one.

    The file is built in a temporary file in the target's directory (optionally starting as
    a copy of ``copy_from``) and moved over ``path`` only when the ``with`` block succeeds
    (:func:`atomic_path`).

    Parameters
    ----------
    path : path-like
        The file to create or replace.
    copy_from : path-like, optional
        A file whose content the new file starts from (it may be ``path`` itself).

    Yields
    ------
    h5py.File
        The temporary file, open for writing.
    """
    with atomic_path(path) as temporary:
        if copy_from is not None:
            with open_h5(copy_from):  # a clear error if it is not an HDF5 file
                pass
            shutil.copyfile(copy_from, temporary)
        with h5py.File(temporary, "r+" if copy_from is not None else "w") as handle:
            handle.attrs[FORMAT_VERSION_ATTRIBUTE] = FORMAT_VERSION
            handle.attrs[WRITER_VERSION_ATTRIBUTE] = __version__
            yield handle


def _replace_group(handle: h5py.File, name: str) -> h5py.Group:
    if name in handle:
        del handle[name]
    return handle.create_group(name)


# ---------------------------------------------------------------------------- setup


def write_setup(handle: h5py.File, setup: SetupData) -> None:
    """Write the setup groups (parameters, benchmarks, morphing, finite differences,
    systematics, nuisance parameters) into an open file, replacing those groups."""
    _write_parameters(handle, setup.parameters)
    _write_benchmarks(handle, setup.benchmarks, list(setup.parameters))
    if setup.has_morphing:
        group = _replace_group(handle, "morphing")
        group.create_dataset("components", data=np.asarray(setup.morphing_components, dtype=np.int64))
        group.create_dataset("morphing_matrix", data=np.asarray(setup.morphing_matrix, dtype=np.float64))
    elif "morphing" in handle:
        del handle["morphing"]
    _write_finite_differences(handle, setup)
    _write_systematics(handle, setup.systematics)
    write_nuisance_parameters(handle, setup.nuisance_parameters)


def save_setup(path: str | os.PathLike[str], setup: SetupData) -> None:
    """Write a new file holding only ``setup`` (atomically, replacing any file at ``path``)."""
    with atomic_h5(path) as handle:
        write_setup(handle, setup)


def _write_parameters(handle: h5py.File, parameters: Mapping[str, AnalysisParameter]) -> None:
    group = _replace_group(handle, "parameters")
    values = list(parameters.values())
    group.create_dataset("names", data=_encode_strings([p.name for p in values], "parameters/names"))
    group.create_dataset(
        "lha_blocks", data=_encode_strings([p.lha_block for p in values], "parameters/lha_blocks")
    )
    group.create_dataset("lha_ids", data=np.array([p.lha_id for p in values], dtype=np.int64))
    group.create_dataset("max_power", data=np.array([max(p.max_powers) for p in values], dtype=np.int64))
    group.create_dataset(
        "val_ranges", data=np.array([p.val_range for p in values], dtype=np.float64).reshape(len(values), 2)
    )
    transforms = [p.transform if p.transform is not None else "theta" for p in values]
    group.create_dataset("transforms", data=_encode_strings(transforms, "parameters/transforms"))
    if any(isinstance(p.max_power, tuple) for p in values):
        n_configurations = max(len(p.max_powers) for p in values)
        table = np.array(
            [p.max_powers * (n_configurations // len(p.max_powers)) for p in values], dtype=np.int64
        )
        group.create_dataset("max_power_configurations", data=table)


def _write_benchmarks(
    handle: h5py.File, benchmarks: Mapping[str, Benchmark], parameter_names: list[str]
) -> None:
    values = list(benchmarks.values())
    rows = []
    for benchmark in values:
        missing = [p for p in parameter_names if p not in benchmark.values]
        if missing:
            raise FileFormatError(
                f"benchmarks/values: benchmark {benchmark.name!r} has no value for {missing}"
            )
        rows.append([benchmark.values[p] for p in parameter_names])  # columns in parameter order
    table = np.array(rows, dtype=np.float64).reshape(len(values), len(parameter_names))
    group = _replace_group(handle, "benchmarks")
    group.create_dataset("names", data=_encode_strings([b.name for b in values], "benchmarks/names"))
    group.create_dataset("values", data=table)
    group.create_dataset("is_nuisance", data=np.array([int(b.is_nuisance) for b in values], dtype=np.int64))
    group.create_dataset("is_reference", data=np.array([int(b.is_reference) for b in values], dtype=np.int64))


def _write_finite_differences(handle: h5py.File, setup: SetupData) -> None:
    if "finite_differences" in handle:
        del handle["finite_differences"]
    if not setup.finite_differences:
        return
    group = handle.create_group("finite_differences")
    parameter_names = list(setup.parameters)
    bases = list(setup.finite_differences.values())
    group.create_dataset(
        "base_benchmarks",
        data=_encode_strings([b.base_name for b in bases], "finite_differences/base_benchmarks"),
    )
    shifted = [[b.shift_names[p] for p in parameter_names] for b in bases]
    flat = _encode_strings([name for row in shifted for name in row], "finite_differences/shifted_benchmarks")
    group.create_dataset("shifted_benchmarks", data=flat.reshape(len(bases), len(parameter_names)))
    group.create_dataset("epsilon", data=np.float64(setup.finite_difference_epsilon))


def _write_systematics(handle: h5py.File, systematics: Mapping[str, Systematic]) -> None:
    if "systematics" in handle:
        del handle["systematics"]
    if not systematics:
        return
    group = handle.create_group("systematics")
    values = list(systematics.values())
    group.create_dataset("names", data=_encode_strings([s.name for s in values], "systematics/names"))
    group.create_dataset("types", data=_encode_strings([s.type.value for s in values], "systematics/types"))
    group.create_dataset("values", data=_encode_strings([str(s.value) for s in values], "systematics/values"))
    scales = [s.scale.value if s.scale is not None else EMPTY_MARKER for s in values]
    group.create_dataset("scales", data=_encode_strings(scales, "systematics/scales"))


def write_nuisance_parameters(
    handle: h5py.File, nuisance_parameters: Mapping[str, NuisanceParameter]
) -> None:
    """Write (or remove, if empty) the ``nuisance_parameters`` group."""
    if "nuisance_parameters" in handle:
        del handle["nuisance_parameters"]
    if not nuisance_parameters:
        return
    group = handle.create_group("nuisance_parameters")
    values = list(nuisance_parameters.values())

    def column(strings: list[str | None], name: str) -> None:
        text = [s if s is not None else EMPTY_MARKER for s in strings]
        group.create_dataset(name, data=_encode_strings(text, f"nuisance_parameters/{name}"))

    column([p.name for p in values], "names")
    column([p.systematic for p in values], "systematics")
    column([p.benchmark_pos for p in values], "benchmark_positive")
    column([p.benchmark_neg for p in values], "benchmark_negative")


def write_nuisance_setup(
    handle: h5py.File,
    benchmarks: Mapping[str, Benchmark],
    nuisance_parameters: Mapping[str, NuisanceParameter],
    parameter_names: Sequence[str],
) -> None:
    """Rewrite the benchmark table (with nuisance benchmarks and the reference flag) and the
    nuisance parameters, as the readers do after analysing samples."""
    _write_benchmarks(handle, benchmarks, list(parameter_names))
    write_nuisance_parameters(handle, nuisance_parameters)


def read_setup(path: str | os.PathLike[str], include_nuisance_benchmarks: bool = True) -> SetupData:
    """Read the setup part of a MadMiner or motherlode file.

    Parameters
    ----------
    path : path-like
        The file.
    include_nuisance_benchmarks : bool
        Whether nuisance benchmarks are kept in ``benchmarks``.

    Raises
    ------
    FileFormatError
        If the file is missing, not HDF5, or lacks the mandatory parameter and benchmark
        datasets; the message names the file and the dataset.
    """
    with open_h5(path) as handle:
        version = handle.attrs.get(FORMAT_VERSION_ATTRIBUTE)
        if version is not None and int(version) > FORMAT_VERSION:
            raise FileFormatError(
                f"{path}: written with file format version {int(version)}; this motherlode "
                f"({__version__}) reads up to version {FORMAT_VERSION}. Please upgrade motherlode."
            )
        parameters = _read_parameters(handle, path)
        benchmarks = _read_benchmarks(handle, path, list(parameters))
        if not include_nuisance_benchmarks:
            benchmarks = {name: b for name, b in benchmarks.items() if not b.is_nuisance}
        components, matrix = _read_morphing(handle, path)
        n_physics = sum(not b.is_nuisance for b in benchmarks.values())
        if matrix is not None and matrix.shape[1] > n_physics:
            raise FileFormatError(
                f"{path}: morphing/morphing_matrix has {matrix.shape[1]} columns (basis benchmarks), but the "
                f"file has {n_physics} physics benchmarks"
            )
        finite_differences, epsilon = _read_finite_differences(handle, path, list(parameters))
        return SetupData(
            parameters=parameters,
            benchmarks=benchmarks,
            morphing_components=components,
            morphing_matrix=matrix,
            systematics=_read_systematics(handle, path),
            finite_differences=finite_differences,
            finite_difference_epsilon=epsilon,
            nuisance_parameters=_read_nuisance_parameters(handle),
            format_version=None if version is None else int(version),
        )


def _read(node: h5py.Group, name: str) -> np.ndarray:
    """The contents of dataset ``name`` of an open file or group (a damaged file may have another
    kind of object there)."""
    dataset = node[name]
    if not isinstance(dataset, h5py.Dataset):
        raise FileFormatError(f"{node.file.filename}: {dataset.name or name} is not a dataset")
    return dataset[()]


def _require(handle: h5py.File, path: object, dataset: str, what: str) -> np.ndarray:
    if dataset not in handle:
        raise FileFormatError(f"{path}: not a MadMiner {what} file: it has no '{dataset}' dataset")
    return _read(handle, dataset)


def _read_parameters(handle: h5py.File, path: object) -> dict[str, AnalysisParameter]:
    names = _decode_strings(_require(handle, path, "parameters/names", "setup"))
    blocks = _decode_strings(_require(handle, path, "parameters/lha_blocks", "setup"))
    ids = np.asarray(_require(handle, path, "parameters/lha_ids", "setup"))
    max_power = np.asarray(_require(handle, path, "parameters/max_power", "setup"))
    ranges_name = "parameters/val_ranges" if "parameters/val_ranges" in handle else "parameters/ranges"
    ranges = np.asarray(_require(handle, path, ranges_name, "setup"), dtype=np.float64).reshape(len(names), 2)
    transforms = _decode_strings(_require(handle, path, "parameters/transforms", "setup"))
    configurations = handle.get("parameters/max_power_configurations")
    table = None if configurations is None else np.asarray(configurations[()], dtype=np.int64)
    lengths = {len(blocks), len(ids), len(max_power), len(transforms)}
    if lengths != {len(names)}:
        raise FileFormatError(f"{path}: the datasets in 'parameters/' have different lengths")
    parameters = {}
    for i, name in enumerate(names):
        power: int | tuple[int, ...] = int(max_power[i])
        if table is not None and len(set(table[i].tolist())) > 1:
            power = tuple(int(p) for p in table[i])
        transform = None if transforms[i].strip() in _IDENTITY_TRANSFORMS else transforms[i]
        parameters[name] = AnalysisParameter(
            name, blocks[i], int(ids[i]), power, (float(ranges[i, 0]), float(ranges[i, 1])), transform
        )
    return parameters


def _read_benchmarks(handle: h5py.File, path: object, parameter_names: list[str]) -> dict[str, Benchmark]:
    names = _decode_strings(_require(handle, path, "benchmarks/names", "setup"))
    values = np.asarray(_require(handle, path, "benchmarks/values", "setup"), dtype=np.float64)
    values = values.reshape(len(names), len(parameter_names))
    is_nuisance = _read_flags(handle, "benchmarks/is_nuisance", len(names))
    is_reference = _read_flags(handle, "benchmarks/is_reference", len(names))
    benchmarks = {}
    for i, name in enumerate(names):
        benchmark = Benchmark.from_params(name, parameter_names, values[i])
        benchmark.is_nuisance, benchmark.is_reference = bool(is_nuisance[i]), bool(is_reference[i])
        benchmarks[name] = benchmark
    return benchmarks


def _read_flags(handle: h5py.File, dataset: str, n: int) -> np.ndarray:
    if dataset not in handle:
        return np.zeros(n, dtype=bool)
    return np.asarray(_read(handle, dataset), dtype=bool).reshape(n)


def _read_morphing(handle: h5py.File, path: object) -> tuple[np.ndarray | None, np.ndarray | None]:
    if "morphing/components" not in handle or "morphing/morphing_matrix" not in handle:
        return None, None
    components = np.asarray(_read(handle, "morphing/components"), dtype=np.int64)
    matrix = np.asarray(_read(handle, "morphing/morphing_matrix"), dtype=np.float64)
    if matrix.ndim != 2 or components.ndim != 2 or matrix.shape[0] != components.shape[0]:
        raise FileFormatError(
            f"{path}: morphing/morphing_matrix has shape {matrix.shape} but morphing/components has "
            f"shape {components.shape}; expected (n_components, n_basis) and (n_components, n_parameters)"
        )
    return components, matrix


def _read_finite_differences(
    handle: h5py.File, path: object, parameter_names: list[str]
) -> tuple[dict[str, FiniteDiffBenchmark], float]:
    if "finite_differences/base_benchmarks" not in handle:
        return {}, 0.0
    bases = _decode_strings(_read(handle, "finite_differences/base_benchmarks"))
    shifted = np.asarray(_read(handle, "finite_differences/shifted_benchmarks")).reshape(
        len(bases), len(parameter_names)
    )
    epsilon = float(np.ravel(_read(handle, "finite_differences/epsilon"))[0])
    result = {
        base: FiniteDiffBenchmark.from_params(base, parameter_names, _decode_strings(row))
        for base, row in zip(bases, shifted, strict=True)
    }
    return result, epsilon


def _read_systematics(handle: h5py.File, path: object) -> dict[str, Systematic]:
    if "systematics/names" not in handle:
        return {}
    if "systematics/types" not in handle:
        raise FileFormatError(
            f"{path}: the systematics group has no 'types' dataset (a MadMiner <= 0.8 file); "
            "re-create the setup with MadMiner 0.9 or motherlode"
        )
    names = _decode_strings(_read(handle, "systematics/names"))
    types = _decode_strings(_read(handle, "systematics/types"))
    values = _decode_strings(_read(handle, "systematics/values"))
    scales = _decode_optional(_read(handle, "systematics/scales"))
    systematics = {}
    for name, kind, value, scale in zip(names, types, values, scales, strict=True):
        # from_str returns a member of the class it is called on
        kind_enum = cast(SystematicType, SystematicType.from_str(kind))
        parsed: str | float = float(value) if kind_enum is SystematicType.NORM else value
        scale_enum = cast(SystematicScale, SystematicScale.from_str(scale)) if scale is not None else None
        systematics[name] = Systematic(name, kind_enum, parsed, scale_enum)
    return systematics


def _read_nuisance_parameters(handle: h5py.File) -> dict[str, NuisanceParameter]:
    if "nuisance_parameters/names" not in handle:
        return {}
    group = handle["nuisance_parameters"]
    names = _decode_strings(_read(group, "names"))
    systematics = _decode_strings(_read(group, "systematics"))
    positive = _decode_optional(_read(group, "benchmark_positive"))
    negative = _decode_optional(_read(group, "benchmark_negative"))
    return {
        name: NuisanceParameter(name, systematic, pos, neg)
        for name, systematic, pos, neg in zip(names, systematics, positive, negative, strict=True)
    }


# ---------------------------------------------------------------------------- observables


def write_observables(handle: h5py.File, names: Sequence[str], definitions: Sequence[str | None]) -> None:
    """Write observable names and definitions (``None`` for function-defined observables)."""
    group = _replace_group(handle, "observables")
    group.create_dataset("names", data=_encode_strings(list(names), "observables/names"))
    text = [d if d is not None else EMPTY_MARKER for d in definitions]
    group.create_dataset("definitions", data=_encode_strings(text, "observables/definitions"))


def read_observables(path: str | os.PathLike[str]) -> dict[str, str | None]:
    """Observable names and definitions (``None`` for function-defined ones), in column order."""
    with open_h5(path) as handle:
        if "observables/names" not in handle:
            return {}
        names = _decode_strings(_read(handle, "observables/names"))
        definitions = _decode_optional(_read(handle, "observables/definitions"))
    return dict(zip(names, definitions, strict=True))


# ---------------------------------------------------------------------------- events


def _chunk_rows(n_columns: int) -> int:
    return max(1, CHUNK_BYTES // (8 * max(1, n_columns)))


def create_sample_datasets(handle: h5py.File, n_observables: int, n_benchmarks: int) -> None:
    """Create empty, appendable, chunked and compressed ``samples/*`` datasets (replacing old ones)."""
    group = _replace_group(handle, "samples")
    options = {"compression": "gzip", "compression_opts": 1, "shuffle": True}
    group.create_dataset(
        "observations",
        shape=(0, n_observables),
        maxshape=(None, n_observables),
        dtype=np.float64,
        chunks=(_chunk_rows(n_observables), max(1, n_observables)),
        **options,
    )
    group.create_dataset(
        "weights",
        shape=(0, n_benchmarks),
        maxshape=(None, n_benchmarks),
        dtype=np.float64,
        chunks=(_chunk_rows(n_benchmarks), max(1, n_benchmarks)),
        **options,
    )
    group.create_dataset(
        "sampling_benchmarks",
        shape=(0,),
        maxshape=(None,),
        dtype=np.int64,
        chunks=(_chunk_rows(1),),
        **options,
    )


def append_samples(
    handle: h5py.File, observations: np.ndarray, weights: np.ndarray, sampling_benchmarks: np.ndarray
) -> None:
    """Append events to the ``samples/*`` datasets made by :func:`create_sample_datasets`."""
    observations = np.asarray(observations, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    sampling_benchmarks = np.asarray(sampling_benchmarks, dtype=np.int64)
    datasets = (
        handle["samples/observations"],
        handle["samples/weights"],
        handle["samples/sampling_benchmarks"],
    )
    n_new = len(observations)
    if len(weights) != n_new or len(sampling_benchmarks) != n_new:
        raise FileFormatError(
            f"append_samples: {n_new} observation rows, {len(weights)} weight rows and "
            f"{len(sampling_benchmarks)} sampling benchmarks; they must be equal"
        )
    for dataset, data in zip(datasets, (observations, weights, sampling_benchmarks), strict=True):
        if data.shape[1:] != dataset.shape[1:]:
            raise FileFormatError(
                f"{dataset.name}: rows of shape {data.shape[1:]} given, {dataset.shape[1:]} stored"
            )
        start = dataset.shape[0]
        dataset.resize(start + n_new, axis=0)
        dataset[start:] = data


def write_sample_summary(
    handle: h5py.File, signal_events: Sequence[int] | np.ndarray, background_events: int
) -> None:
    """Write the numbers of events per physics benchmark and of background events."""
    group = _replace_group(handle, "sample_summary")
    group.create_dataset("signal_events", data=np.asarray(signal_events, dtype=np.int64))
    group.create_dataset("background_events", data=np.int64(background_events))


def read_sample_summary(path: str | os.PathLike[str]) -> SampleSummary | None:
    """The sample summary, or None if the file has none (accepts MadMiner <= 0.8 names)."""
    with open_h5(path) as handle:
        for name in ("sample_summary/signal_events", "sample_summary/signal_events_per_benchmark"):
            if name in handle:
                signal = np.asarray(_read(handle, name), dtype=np.int64)
                background = int(_read(handle, "sample_summary/background_events"))
                return SampleSummary(signal, background)
    return None


def n_samples(path: str | os.PathLike[str]) -> int:
    """Number of events stored in a file (0 if it has no events)."""
    with open_h5(path) as handle:
        if "samples/observations" not in handle:
            return 0
        return int(handle["samples/observations"].shape[0])


def iter_samples(
    path: str | os.PathLike[str],
    start: int = 0,
    stop: int | None = None,
    batch_size: int = 100_000,
    read_observations: bool = True,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Stream ``(observations, weights, sampling_benchmarks)`` from disk in batches.

    Only one batch is in memory at a time, so files larger than memory can be processed.

    Parameters
    ----------
    path : path-like
        The events file.
    start, stop : int
        Event range (``stop=None`` means to the end).
    batch_size : int
        Events per batch.
    read_observations : bool
        Whether to read the observations; False yields arrays of shape ``(n, 0)`` in their place
        (cross sections need the weights only, and reading is most of their cost).
    """
    if batch_size < 1:
        raise FileFormatError(f"batch_size must be positive, got {batch_size}")
    with open_h5(path) as handle:
        if "samples/observations" not in handle or "samples/weights" not in handle:
            raise FileFormatError(f"{path}: has no events ('samples/observations' and 'samples/weights')")
        stored, weights = handle["samples/observations"], handle["samples/weights"]
        sampling = handle.get("samples/sampling_benchmarks")
        n_events = stored.shape[0]
        if weights.shape[0] != n_events:
            raise FileFormatError(
                f"{path}: samples/observations has {n_events} rows but samples/weights {weights.shape[0]}"
            )
        stop = n_events if stop is None else min(stop, n_events)
        n_physics = _n_physics_benchmarks(handle)
        for begin in range(max(0, start), stop, batch_size):
            end = min(begin + batch_size, stop)
            ids = sampling[begin:end] if sampling is not None else np.zeros(end - begin, dtype=np.int64)
            ids = np.asarray(ids, dtype=np.int64)
            bad = np.flatnonzero((ids < -1) | (ids >= n_physics))
            if bad.size:
                raise FileFormatError(
                    f"{path}: event {begin + int(bad[0])} was sampled from benchmark {int(ids[bad[0]])}, but "
                    f"the file has {n_physics} physics benchmarks (samples/sampling_benchmarks: -1 for "
                    "backgrounds, else a physics benchmark's index)"
                )
            rows = stored[begin:end] if read_observations else np.empty((end - begin, 0))
            yield rows, weights[begin:end], ids


def _n_physics_benchmarks(handle: h5py.File) -> int:
    """The number of physics (not nuisance) benchmarks of an open events file."""
    names = handle.get("benchmarks/names")
    if names is None:
        return np.iinfo(np.int64).max  # no benchmarks to check against
    return int(len(names) - np.sum(_read_flags(handle, "benchmarks/is_nuisance", len(names))))
