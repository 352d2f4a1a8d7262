"""Combining several events files into one, with the events shuffled (MadMiner's ``combine_and_shuffle``).

The inputs are streamed batch by batch into an :class:`~motherlode.eventstore.EventStore` and
written back in a uniformly random order with its external two-pass shuffle, so memory stays
bounded whatever the number of events. The output is written atomically: it may be one of the
inputs, and on any error the file at ``output_filename`` is untouched.

Normalisation
-------------
A :class:`~motherlode.analysis.DataAnalyzer` scales the weights of a signal event sampled at
benchmark ``b`` by ``N_b / N_signal``, the share of that benchmark in the file's
``sample_summary``, and leaves background events unscaled. Concatenating files (MadMiner's
implementation: weights times ``k_i``, sample summaries summed) keeps each file's cross
sections only when all files have the same mix of sampling benchmarks; otherwise the shares
change and so do the cross sections. :func:`combine_and_shuffle` multiplies the weights of a
signal event of file ``i`` sampled at ``b`` by ``k_i * f_i(b) / F(b)``, ``f_i`` and ``F`` being
the shares in file ``i`` and in the combined file, so that for every parameter point and
nuisance value

    ``xsec_combined(theta, nu) = sum_i k_i * xsec_i(theta, nu)``.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import eventstore
from ..errors import FileFormatError, InputError, SetupError
from ..eventstore import EventStore
from ..fileformat import (
    SampleSummary,
    SetupData,
    append_samples,
    atomic_h5,
    create_sample_datasets,
    iter_samples,
    n_samples,
    read_observables,
    read_sample_summary,
    read_setup,
    write_observables,
    write_sample_summary,
    write_setup,
)

__all__ = ["combine_and_shuffle"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Relative tolerance when comparing morphing matrices of two files.
_MATRIX_RTOL = 1e-12


def combine_and_shuffle(
    input_filenames: Sequence[PathLike] | PathLike,
    output_filename: PathLike,
    k_factors: float | Sequence[float] | None = None,
    overwrite_existing_file: bool = True,
    recalculate_header: bool = True,
    *,
    random_state: int | np.random.Generator | None = None,
    tmp_dir: PathLike | None = None,
) -> None:
    """Combine several events files into one, and shuffle the order of the events.

    The output's setup (parameters, benchmarks with their nuisance and reference flags,
    morphing, systematics, finite differences, nuisance parameters) and observables are those
    of the first input. Unlike MadMiner 0.9, which has "no explicit cross checks in place yet",
    inputs whose setups differ are refused.

    Weights of file ``i`` are multiplied by ``k_factors[i]``. The combined file's cross
    sections, as :class:`~motherlode.analysis.DataAnalyzer` computes them, are the
    k-factor-weighted sum of the inputs' cross sections::

        xsecs(output, theta, nu) = sum_i k_factors[i] * xsecs(input_i, theta, nu)

    Files of different processes (signal and backgrounds) therefore add up, as in MadMiner.
    To average ``n`` statistically independent files of the same process, pass
    ``k_factors=[1/n] * n`` (or ``N_i / N``, the files' shares of events, for the
    minimum-variance average). When all inputs have the same mix of sampling benchmarks (for
    instance, all sampled at one benchmark) the stored weights are exactly MadMiner's,
    ``k_factors[i] * w``. Otherwise signal weights are also multiplied by ``f_i(b) / F(b)``,
    the share of their sampling benchmark ``b`` among the signal events of their file and of
    the combined file (see ``sample_summary``): ``DataAnalyzer`` scales signal weights by those
    shares, and without this factor MadMiner's plain concatenation changes the cross sections
    (it would average a file sampled at one benchmark with one sampled at another, but add two
    files sampled at the same benchmark). Background weights are never rescaled.

    Parameters
    ----------
    input_filenames : list of path-like
        The events files (written by :meth:`motherlode.lhe.LHEReader.save`, the Delphes reader
        or MadMiner). A single path is accepted as a list of one.
    output_filename : path-like
        The combined events file. It may be one of the inputs (it is replaced only when the
        combined file is complete).
    k_factors : float or list of float, optional
        One factor for all files, or one per file. Default: None (1 for all files).
    overwrite_existing_file : bool, optional
        If False and ``output_filename`` exists, raise :class:`~motherlode.errors.InputError`.
        Default: True.
    recalculate_header : bool, optional
        If True, the output's ``sample_summary`` (signal events per physics benchmark,
        background events) is counted from the events' sampling benchmarks; if False, it is the
        sum of the inputs' summaries. Default: True.
    random_state : int, numpy.random.Generator or None, optional
        Seed of the shuffle; the same seed gives the same output. Default: None (fresh entropy).
    tmp_dir : path-like, optional
        Where the temporary spool files are created (default: the system's temporary directory).

    Raises
    ------
    InputError
        No input file, k-factors that do not match the inputs, or an existing output with
        ``overwrite_existing_file=False``.
    SetupError
        Two inputs have different setups or observables; the message names both files and
        the field.
    FileFormatError
        An input is unreadable or inconsistent (weight columns, sampling benchmarks).
    """
    paths = _input_paths(input_filenames)
    factors = _k_factors(k_factors, len(paths))
    output = Path(output_filename)
    if not overwrite_existing_file and output.exists():
        raise InputError(f"output file {output} exists and overwrite_existing_file=False")

    setup = read_setup(paths[0], include_nuisance_benchmarks=True)
    observables = read_observables(paths[0])
    for path in paths[1:]:
        _check_same_setup(paths[0], setup, observables, path)
    weight_names = list(setup.benchmarks)
    n_physics = len(setup.physics_benchmarks)
    n_observables = len(observables)
    if not weight_names:
        raise FileFormatError(f"{paths[0]}: the setup has no benchmarks")
    reference = setup.reference_benchmark or weight_names[0]
    if len(paths) > 1:
        logger.info("Combining %d files into %s: %s", len(paths), output, ", ".join(map(str, paths)))

    rng = np.random.default_rng(random_state)
    summaries: list[SampleSummary | None] = []
    file_counts: list[np.ndarray] = []
    # The sampling benchmark of each event travels as an extra observable column, the file
    # index as the spool segment's sampling index; the segment's factor applies k.
    with EventStore(n_observables + 1, directory=tmp_dir) as store:
        for index, (path, k_factor) in enumerate(zip(paths, factors, strict=True)):
            summaries.append(read_sample_summary(path))
            file_counts.append(
                _spool_file(store, path, index, k_factor, weight_names, n_physics, n_observables)
            )
            logger.debug("%s: %d events, k factor %s", path, file_counts[-1].sum(), k_factor)
        counts = np.sum(file_counts, axis=0)

        summary = _combined_summary(paths, summaries, counts, recalculate_header)
        scales = _share_corrections(paths, summaries, summary, file_counts, n_physics)
        # a fresh file with the first input's setup (copying the input would carry its old
        # events along as unused space)
        setup = read_setup(paths[0], include_nuisance_benchmarks=True)
        observables = read_observables(paths[0])
        with atomic_h5(output) as handle:
            write_setup(handle, setup)
            write_observables(handle, list(observables), list(observables.values()))
            create_sample_datasets(handle, n_observables, len(weight_names))
            for observations, weights, file_index in store.iter_shuffled(weight_names, reference, rng):
                sampling = observations[:, -1].astype(np.int64)
                if scales is not None:
                    weights = weights * scales[file_index, sampling][:, None]
                append_samples(handle, observations[:, :-1], weights, sampling)
            if summary is not None:
                write_sample_summary(handle, summary.signal_events, summary.background_events)
        n_events = store.n_events
    logger.info("Saved %d shuffled events to %s", n_events, output)


# ---------------------------------------------------------------------------- arguments


def _input_paths(input_filenames: Sequence[PathLike] | PathLike) -> list[Path]:
    if isinstance(input_filenames, str | os.PathLike):
        input_filenames = [input_filenames]
    paths = [Path(name) for name in input_filenames]
    if not paths:
        raise InputError("input_filenames is empty: give at least one events file")
    return paths


def _k_factors(k_factors: float | Sequence[float] | None, n_files: int) -> list[float]:
    if k_factors is None:
        return [1.0] * n_files
    if isinstance(k_factors, numbers.Real) and not isinstance(k_factors, bool):
        values = [float(k_factors)] * n_files
    else:
        try:
            values = [float(k) for k in k_factors]  # type: ignore[union-attr]
        except (TypeError, ValueError) as error:
            raise InputError(
                f"k_factors must be None, a float or a list of floats, got {k_factors!r}"
            ) from error
        if len(values) != n_files:
            raise InputError(
                f"{len(values)} k_factors given for {n_files} input files; expected one per file"
            )
    bad = [k for k in values if not math.isfinite(k)]
    if bad:
        raise InputError(f"k_factors must be finite, got {bad}")
    return values


# ---------------------------------------------------------------------------- setup checks


def _check_same_setup(first: Path, setup: SetupData, observables: dict[str, str | None], path: Path) -> None:
    other = read_setup(path, include_nuisance_benchmarks=True)

    def refuse(field: str, mine: object, theirs: object) -> SetupError:
        return SetupError(
            f"cannot combine {first} and {path}: their {field} differ ({mine} vs {theirs}); "
            "combine_and_shuffle needs files made from the same setup"
        )

    if list(setup.parameters) != list(other.parameters):
        raise refuse("parameter names", list(setup.parameters), list(other.parameters))
    for name, parameter in setup.parameters.items():
        if parameter != other.parameters[name]:
            raise refuse(f"definitions of parameter {name!r}", parameter, other.parameters[name])
    for label, mine, theirs in (
        ("physics benchmarks", setup.physics_benchmarks, other.physics_benchmarks),
        ("nuisance benchmarks", _nuisance(setup), _nuisance(other)),
    ):
        if list(mine) != list(theirs):
            raise refuse(f"{label} names", list(mine), list(theirs))
        for name, benchmark in mine.items():
            if not _same_values(benchmark.values, theirs[name].values):
                raise refuse(f"values of benchmark {name!r}", benchmark.values, theirs[name].values)
    if list(setup.benchmarks) != list(other.benchmarks):
        raise refuse("benchmark order", list(setup.benchmarks), list(other.benchmarks))
    if setup.reference_benchmark != other.reference_benchmark:
        raise refuse("reference benchmarks", setup.reference_benchmark, other.reference_benchmark)
    if setup.has_morphing != other.has_morphing:
        raise refuse("morphing setups", _has(setup.has_morphing), _has(other.has_morphing))
    if setup.has_morphing:
        # has_morphing: both setups have morphing components and matrices
        assert setup.morphing_components is not None and setup.morphing_matrix is not None
        assert other.morphing_components is not None and other.morphing_matrix is not None
        if not np.array_equal(setup.morphing_components, other.morphing_components):
            raise refuse("morphing components", setup.morphing_components, other.morphing_components)
        if setup.morphing_matrix.shape != other.morphing_matrix.shape or not np.allclose(
            setup.morphing_matrix, other.morphing_matrix, rtol=_MATRIX_RTOL, atol=0.0
        ):
            raise refuse("morphing matrices", setup.morphing_matrix, other.morphing_matrix)
    if setup.systematics != other.systematics:
        raise refuse("systematics", list(setup.systematics.values()), list(other.systematics.values()))
    if setup.nuisance_parameters != other.nuisance_parameters:
        raise refuse(
            "nuisance parameters",
            list(setup.nuisance_parameters.values()),
            list(other.nuisance_parameters.values()),
        )
    if (setup.finite_differences, setup.finite_difference_epsilon) != (
        other.finite_differences,
        other.finite_difference_epsilon,
    ):
        raise refuse(
            "finite-difference setups",
            (setup.finite_differences, setup.finite_difference_epsilon),
            (other.finite_differences, other.finite_difference_epsilon),
        )
    their_observables = read_observables(path)
    if list(observables) != list(their_observables):
        raise refuse("observables", list(observables), list(their_observables))


def _nuisance(setup: SetupData) -> dict:
    return {name: b for name, b in setup.benchmarks.items() if b.is_nuisance}


def _same_values(mine: dict[str, float], theirs: dict[str, float]) -> bool:
    return list(mine) == list(theirs) and np.array_equal(list(mine.values()), list(theirs.values()))


def _has(flag: bool) -> str:
    return "present" if flag else "absent"


# ---------------------------------------------------------------------------- events


def _spool_file(
    store: EventStore,
    path: Path,
    index: int,
    k_factor: float,
    weight_names: list[str],
    n_physics: int,
    n_observables: int,
) -> np.ndarray:
    """Append the events of one file to ``store``; return its counts per sampling benchmark."""
    counts = np.zeros(n_physics + 1, dtype=np.int64)
    if n_samples(path) == 0:
        logger.warning("%s has no events", path)
        return counts
    width = n_observables + len(weight_names) + 2
    batch_size = max(1, eventstore.BLOCK_BYTES // (8 * width))
    store.start_sample(weight_names, sampling_index=index)
    try:
        for observations, weights, sampling in iter_samples(path, batch_size=batch_size):
            if weights.shape[1] != len(weight_names) or observations.shape[1] != n_observables:
                raise FileFormatError(
                    f"{path}: events have {observations.shape[1]} observables and {weights.shape[1]} "
                    f"weight columns; the setup has {n_observables} observables and "
                    f"{len(weight_names)} benchmarks"
                )
            bad = (sampling < -1) | (sampling >= n_physics)
            if bad.any():
                raise FileFormatError(
                    f"{path}: sampling benchmark {int(sampling[bad][0])} out of range "
                    f"(-1 for backgrounds, 0 .. {n_physics - 1} for the physics benchmarks)"
                )
            counts += np.bincount(np.where(sampling < 0, n_physics, sampling), minlength=n_physics + 1)
            store.append(np.concatenate([observations, sampling[:, None].astype(np.float64)], 1), weights)
    except BaseException:
        store.discard_sample()
        raise
    store.finish_sample(weight_factor=k_factor)
    return counts


# ---------------------------------------------------------------------------- normalisation


def _combined_summary(
    paths: list[Path], summaries: list[SampleSummary | None], counts: np.ndarray, recalculate: bool
) -> SampleSummary | None:
    n_physics = len(counts) - 1
    if recalculate:
        summary = SampleSummary(counts[:n_physics].copy(), int(counts[n_physics]))
        logger.debug("Recalculated events per benchmark: %s, background: %s", *_as_lists(summary))
        return summary
    present = [(path, s) for path, s in zip(paths, summaries, strict=True) if s is not None]
    if not present:
        return None
    signal = np.zeros(n_physics, dtype=np.int64)
    background = 0
    for path, summary in present:
        if len(summary.signal_events) != n_physics:
            raise FileFormatError(
                f"{path}: sample_summary/signal_events has {len(summary.signal_events)} entries "
                f"for {n_physics} physics benchmarks"
            )
        signal += summary.signal_events
        background += summary.background_events
    if sum(s.signal_events.sum() + s.background_events for _, s in present) != counts.sum():
        logger.warning(
            "The sample summaries of the inputs count %d events but the files hold %d; "
            "use recalculate_header=True to count them from the events",
            sum(s.signal_events.sum() + s.background_events for _, s in present),
            counts.sum(),
        )
    return SampleSummary(signal, background)


def _as_lists(summary: SampleSummary) -> tuple[list[int], int]:
    return summary.signal_events.tolist(), summary.background_events


def _shares(summary: SampleSummary | None, n_physics: int) -> np.ndarray:
    """DataAnalyzer's weight factor per sampling benchmark (background last)."""
    factors = np.ones(n_physics + 1)
    if summary is not None:
        signal = np.asarray(summary.signal_events, dtype=np.float64)[:n_physics]
        if signal.sum() > 0:
            factors[: len(signal)] = signal / signal.sum()
    return factors


def _share_corrections(
    paths: list[Path],
    summaries: list[SampleSummary | None],
    combined: SampleSummary | None,
    file_counts: list[np.ndarray],
    n_physics: int,
) -> np.ndarray | None:
    """Factors ``f_i(b) / F(b)``, shape ``(n_files, n_physics + 1)``; None if all are 1."""
    target = _shares(combined, n_physics)
    scales = np.ones((len(paths), n_physics + 1))
    for i, (path, summary, counts) in enumerate(zip(paths, summaries, file_counts, strict=True)):
        own = _shares(summary, n_physics)
        usable = (own > 0) & (target > 0)
        scales[i, usable] = own[usable] / target[usable]
        if np.any(~usable[:n_physics] & (counts[:n_physics] > 0)):
            logger.warning(
                "%s: events sampled at %s, where its sample summary or the combined one counts no "
                "events; their weights are not rescaled",
                path,
                [b for b in range(n_physics) if not usable[b] and counts[b] > 0],
            )
    if np.allclose(scales, 1.0, rtol=1e-15, atol=0.0):
        return None
    logger.info(
        "The inputs sample the benchmarks in different proportions: signal weights are rescaled "
        "so that the combined cross sections are the k-factor-weighted sums of the inputs'"
    )
    return scales
