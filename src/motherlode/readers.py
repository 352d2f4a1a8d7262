"""The shared base of the event readers: samples, selection, nuisance bookkeeping, spooling, saving.

:class:`~motherlode.lhe.LHEReader` and :class:`~motherlode.delphes.DelphesReader` differ only in
where their events come from. Everything else lives here, once: checking a sample's options,
the observables, cuts and efficiencies (:class:`~motherlode.selection.Selection`), the weight
columns of a chunk (benchmark weights, then nuisance weights rescaled to the reference
benchmark), the nuisance parameters found in the samples, spooling the analysed events to a
private temporary directory (:class:`~motherlode.eventstore.EventStore`, so that memory is
bounded by the chunk size) and writing the events file.

A reader subclass supplies, for each sample, a :class:`SampleSource`: the nuisance definitions
of the sample, its expected number of events, its chunks of events (:class:`ReaderChunk`: the
physics objects of the chunk and its raw weights) and the factor that turns the raw weights
into per-event cross sections in pb.

Weights
-------
For a signal sample the weight at each physics benchmark is the named weight whose id is the
benchmark's name (MadGraph's ``--rwgt_name``); the sampling benchmark may instead use the
nominal event weight. A background sample has its nominal weight at every benchmark. Nuisance
benchmarks are rescaled to the reference benchmark, ``w_nu * w_ref / w_sampling``, so that all
samples describe the nuisance variation around the same physics point.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import events
from .checkpoint import Checkpoint, CheckpointLike, open_checkpoint
from .errors import InputError, SetupError
from .eventstore import EventStore, SpoolWriter
from .fileformat import (
    append_samples,
    atomic_h5,
    create_sample_datasets,
    read_setup,
    write_nuisance_setup,
    write_observables,
    write_sample_summary,
)
from .models import Benchmark, Cut, Efficiency, NuisanceParameter, Observable
from .parallel import ClientLike, dask_client, map_ordered, root_entropy, task_rng
from .progress import progress_bar
from .selection import Selection, SelectionStatistics

if TYPE_CHECKING:
    from .lhe.systematics import NuisanceDefinition

__all__ = ["EventReader", "ReaderChunk", "Sample", "SampleSource"]

logger = logging.getLogger(__name__)


@dataclass
class Sample:
    """A sample added to a reader: its main file and the options common to every format.

    Readers subclass it for the files and options of their format.
    """

    path: Path
    sampled_from_benchmark: str | None
    is_background: bool
    k_factor: float
    systematics: list[str]


@dataclass
class ReaderChunk:
    """A chunk of events as a reader format supplies it.

    Parameters
    ----------
    objects
        The physics objects of the chunk's events.
    nominal_weight
        The nominal event weights ``(n,)``, unnormalised (the file's units).
    named_weights
        Further weights ``(n,)`` by id (reweighting and systematics weights), unnormalised.
    location
        Where the chunk starts, for error messages (e.g. ``"events.lhe.gz, line 1234"``).
    """

    objects: events.EventObjects
    nominal_weight: np.ndarray
    named_weights: Mapping[str, np.ndarray]
    location: str

    @property
    def n_events(self) -> int:
        """The number of events in the chunk."""
        return len(self.nominal_weight)


class SampleSource(ABC):
    """The events of one sample, as a reader format reads them."""

    #: The nuisance definitions (weight groups) that apply to the sample.
    nuisance: list[NuisanceDefinition]
    #: The number of events the progress bar expects (None: unknown).
    expected_events: int | None = None
    #: The progress bar's label.
    label: str = ""
    #: The number of parts the sample can be read in independently (one Dask task each); part
    #: ``p`` of a sample with several parts is its chunk ``p``.
    n_parts: int = 1

    @abstractmethod
    def chunks(self, rngs: Iterator[np.random.Generator], part: int = 0) -> Iterator[ReaderChunk]:
        """The events of part ``part`` (of :attr:`n_parts`), chunk by chunk; the random parts of
        its ``k``-th chunk (smearing) use the ``k``-th generator of ``rngs``."""

    @abstractmethod
    def normalisation(self, n_events_read: int, nominal_weight_sum: float) -> float:
        """Factor turning the raw weights into per-event cross sections in pb, once all chunks
        were read (``n_events_read`` events before any selection, nominal weights summing to
        ``nominal_weight_sum``). With one part it is called on the source that read the chunks;
        a source with several parts must not depend on having read them."""


@dataclass
class _Layout:
    """The weight columns of a sample's events, and its sampling benchmark (-1: background)."""

    weight_names: list[str]
    sampling_index: int
    nuisance: list[NuisanceDefinition]


@dataclass
class _PartResult:
    """What the task of one part of a sample returns (its events are in its spool file)."""

    index: int
    part: int
    spool: Path
    n_events_read: int = 0
    n_events_kept: int = 0
    nominal_weight_sum: float = 0.0
    weight_factor: float | None = None  # for a sample of one part, from the source that read it
    statistics: SelectionStatistics | None = None


@dataclass
class _SampleResult:
    """Bookkeeping of one analysed sample: its parts' results summed in part order."""

    layout: _Layout
    spools: list[Path] = field(default_factory=list)
    n_events_read: int = 0
    n_events_kept: int = 0
    nominal_weight_sum: float = 0.0
    statistics: SelectionStatistics | None = None

    @property
    def weight_names(self) -> list[str]:
        return self.layout.weight_names

    def add(self, part: _PartResult) -> None:
        self.spools.append(part.spool)
        self.n_events_read += part.n_events_read
        self.n_events_kept += part.n_events_kept
        self.nominal_weight_sum += part.nominal_weight_sum
        assert part.statistics is not None
        if self.statistics is None:
            self.statistics = part.statistics
        else:
            self.statistics.merge(part.statistics)


class EventReader(ABC):
    """Base of the readers: the setup, samples, selection, analysis loop and output.

    Subclasses set :attr:`analyse_method` (the name of their public analysis method, for
    messages), add samples with :meth:`_check_sample_options` and :meth:`_add`, implement
    :meth:`_open_sample` and call :meth:`_analyse`.

    Parameters
    ----------
    filename : str or path-like
        The setup file written by :meth:`motherlode.core.MadMiner.save`.
    random_state : int, numpy.random.Generator or None, optional
        Seed of the random parts of the reading (smearing, noise) and of the shuffling: the same
        seed gives identical output.
    chunk_size : int, optional
        Events processed at once; memory grows linearly with it.
    progress : bool or None, optional
        Show progress bars (None: when the output is a terminal; see :mod:`motherlode.progress`).
    tmp_dir : path-like, optional
        Where to spool analysed events (default: the system's temporary directory).
    global_variables : sequence of str
        Per-event variables of the format that observables and cuts may use.
    function_arguments : sequence of str
        The objects passed to observable functions (see :func:`motherlode.events.evaluate_function`).
    client : None, dask.distributed.Client, "local", int or str, optional
        Read the samples as Dask tasks, one per part of a sample (a file, or a chunk where the format
        allows: :attr:`SampleSource.n_parts`; see :mod:`motherlode.parallel`; None: here,
        one after the other). The output does not depend on the number of workers: every chunk
        has its own seed. ``tmp_dir`` must then be a directory the workers can write to.
    checkpoint : path-like, optional
        A folder where the reading records every finished chunk; rerun with the same folder and
        settings after an interruption, it continues after the last recorded chunk (see
        :meth:`_read_part` and docs/resume.md). :meth:`save` removes it.
    """

    #: The name of the subclass's public analysis method.
    analyse_method = "analyse_samples"

    def __init__(
        self,
        filename: str | os.PathLike[str],
        random_state: int | np.random.Generator | None = None,
        chunk_size: int = 100_000,
        progress: bool | None = None,
        tmp_dir: str | os.PathLike[str] | None = None,
        *,
        global_variables: Sequence[str] = (),
        function_arguments: Sequence[str] = events.FUNCTION_ARGUMENTS,
        client: ClientLike = None,
        checkpoint: CheckpointLike = None,
    ) -> None:
        self.filename = Path(filename)
        setup = read_setup(self.filename, include_nuisance_benchmarks=False)
        self.parameters = setup.parameters
        self.benchmarks = setup.benchmarks
        self.systematics = setup.systematics
        if not self.benchmarks:
            raise SetupError(f"{self.filename}: the setup has no benchmarks")
        if int(chunk_size) < 1:
            raise InputError(f"chunk_size must be positive, got {chunk_size}")
        self.chunk_size = int(chunk_size)
        self.random_state = random_state
        self.progress = progress
        self.tmp_dir = tmp_dir
        self.client = client
        self.checkpoint = checkpoint
        self._checkpoint: Checkpoint | None = None
        self.selection = Selection(global_variables, function_arguments=function_arguments)
        self.samples: list[Sample] = []
        self.reference_benchmark: str | None = None
        self.nuisance_parameters: dict[str, NuisanceParameter] = {}
        self._store: EventStore | None = None
        self._results: list[tuple[Sample, _SampleResult]] = []
        self._sources: dict[int, SampleSource] = {}

    # ------------------------------------------------------------------ samples

    @property
    def benchmark_names_phys(self) -> list[str]:
        """Names of the physics benchmarks, in file order."""
        return list(self.benchmarks)

    def _check_sample_options(
        self,
        label: str,
        sampled_from_benchmark: str | None,
        is_background: bool,
        k_factor: float,
        systematics: Sequence[str] | str | None,
    ) -> tuple[float, list[str]]:
        """Validate the options every sample has; the k-factor and the systematics as a list."""
        if not is_background:
            if sampled_from_benchmark not in self.benchmarks:
                raise SetupError(
                    f"{label}: sampled_from_benchmark {sampled_from_benchmark!r} is not a benchmark of the "
                    f"setup; benchmarks: {', '.join(self.benchmarks)}"
                )
        elif sampled_from_benchmark is not None and sampled_from_benchmark not in self.benchmarks:
            raise SetupError(f"{label}: sampled_from_benchmark {sampled_from_benchmark!r} is not a benchmark")
        k_factor = float(k_factor)
        if not math.isfinite(k_factor) or k_factor <= 0.0:
            raise InputError(f"{label}: k_factor must be finite and positive, got {k_factor}")
        names = (
            []
            if systematics is None
            else [systematics]
            if isinstance(systematics, str)
            else list(systematics)
        )
        for name in names:
            if name not in self.systematics:
                raise SetupError(
                    f"{label}: systematic {name!r} is not defined in the setup; defined: "
                    f"{', '.join(self.systematics) or 'none'}"
                )
        return k_factor, names

    def _add(self, sample: Sample) -> None:
        self.samples.append(sample)
        logger.info(
            "Added %s sample %s (sampled from %s, k-factor %g%s)",
            "background" if sample.is_background else "signal",
            sample.path,
            sample.sampled_from_benchmark,
            sample.k_factor,
            f", systematics {', '.join(sample.systematics)}" if sample.systematics else "",
        )

    @abstractmethod
    def _open_sample(self, sample: Sample) -> SampleSource:
        """The events of ``sample`` (reads its headers; the events come later, chunk by chunk)."""

    # ------------------------------------------------------------------ observables, cuts, efficiencies

    @property
    def observables(self) -> dict[str, Observable]:
        """The observables (:class:`~motherlode.models.Observable`), by name, in column order."""
        return self.selection.observables

    @property
    def cuts(self) -> list[Cut]:
        """The cuts (:class:`~motherlode.models.Cut`)."""
        return self.selection.cuts

    @property
    def efficiencies(self) -> list[Efficiency]:
        """The efficiencies (:class:`~motherlode.models.Efficiency`)."""
        return self.selection.efficiencies

    def add_observable(
        self, name: str, definition: str, required: bool = False, default: float | None = None
    ) -> None:
        """Add an observable defined by an expression.

        Parameters
        ----------
        name : str
            Name of the observable (a Python identifier; cuts can use it).
        definition : str
            An expression of the physics objects (see :mod:`motherlode.events`) and the reader's
            per-event variables, e.g. ``"(l[0] + l[1]).m"``. It is parsed by motherlode's safe
            expression engine, never by Python's ``eval``.
        required : bool, optional
            If True, events where the observable cannot be computed are rejected.
        default : float or None, optional
            Value where it cannot be computed (None: NaN). Ignored for required observables.
        """
        self.selection.add_observable(name, definition, required=required, default=default)

    def add_observable_from_function(
        self,
        name: str,
        fn: Callable[..., Any],
        required: bool = False,
        default: float | None = None,
        vectorized: bool = False,
    ) -> None:
        """Add an observable computed by a function of the physics objects.

        The objects passed are the reader's (LHE: ``fn(particles, leptons, photons, jets, met)``;
        Delphes: ``fn(leptons, photons, jets, met)``, MadMiner's signatures). By default ``fn`` is
        called once per event with lists of particle objects and returns a float; raising
        ``RuntimeError`` (or returning a non-finite value) means "not defined". With
        ``vectorized=True`` (addition) it is called once per chunk with the arrays described in
        :func:`motherlode.events.evaluate_function` and returns one value per event, NaN where
        not defined; this is much faster.
        """
        self.selection.add_observable_from_function(
            name, fn, required=required, default=default, vectorized=vectorized
        )

    def add_default_observables(
        self,
        n_leptons_max: int = 2,
        n_photons_max: int = 2,
        n_jets_max: int = 2,
        include_met: bool = True,
        include_visible_sum: bool = True,
        include_numbers: bool = True,
        include_charge: bool = True,
    ) -> None:
        """Add standard observables: E, pT, eta, phi of the hardest leptons, photons and jets,
        MET, the visible sum, the object counts and the lepton charges (MadMiner's names).

        Per-object observables of missing objects take the value 0 (as in MadMiner). The eta of
        the visible sum is not required (default 0): it is infinite when the visible pT vanishes.
        """
        if include_met:
            self.add_observable("et_miss", "met.pt", required=True)
            self.add_observable("phi_miss", "met.phi", required=True)
        if include_visible_sum:
            # eta of the visible sum is infinite when its pT vanishes (e.g. leading-order Drell-Yan):
            # not required, default 0, so that such events are kept (MadMiner: required, always NaN)
            self.add_observable("e_visible", "visible.e", required=True)
            self.add_observable("eta_visible", "visible.eta", default=0.0)
        for n_max, symbol, with_charge in (
            (n_leptons_max, "l", include_charge),
            (n_photons_max, "a", False),
            (n_jets_max, "j", False),
        ):
            if include_numbers:
                self.add_observable(f"n_{symbol}s", f"len({symbol})", required=True)
            for i in range(int(n_max)):
                for quantity in ("e", "pt", "eta", "phi"):
                    self.add_observable(
                        f"{quantity}_{symbol}{i + 1}", f"{symbol}[{i}].{quantity}", default=0.0
                    )
                if with_charge:
                    self.add_observable(f"charge_{symbol}{i + 1}", f"{symbol}[{i}].charge", default=0.0)

    def add_cut(
        self, definition: str, pass_if_not_parsed: bool = False, *, required: bool | None = None
    ) -> None:
        """Add a cut: an expression of the physics objects and observables, true for events to keep.

        ``pass_if_not_parsed`` decides for events where the cut cannot be evaluated (an object
        missing, a value not finite). ``required`` is accepted as an alias (MadMiner 0.9.6's name).
        """
        if required is not None:
            pass_if_not_parsed = required
        self.selection.add_cut(definition, pass_if_not_parsed=pass_if_not_parsed)

    def add_efficiency(
        self, definition: str, value_if_not_parsed: float = 1.0, *, default: float | None = None
    ) -> None:
        """Add an efficiency: an expression whose value multiplies the event weights (<= 0 rejects
        the event). ``default`` is accepted as an alias of ``value_if_not_parsed`` (0.9.6's name)."""
        if default is not None:
            value_if_not_parsed = default
        self.selection.add_efficiency(definition, value_if_not_parsed=value_if_not_parsed)

    def reset_observables(self) -> None:
        """Remove all observables."""
        self.selection.reset_observables()

    def reset_cuts(self) -> None:
        """Remove all cuts."""
        self.selection.reset_cuts()

    def reset_efficiencies(self) -> None:
        """Remove all efficiencies."""
        self.selection.reset_efficiencies()

    # ------------------------------------------------------------------ analysis

    def _analyse(self, reference_benchmark: str | None) -> None:
        """Read every sample: objects, observables, cuts, efficiencies and weights, spooled."""
        if not self.samples:
            raise SetupError("no samples to analyse: call add_sample first")
        if reference_benchmark is None:
            reference_benchmark = next(iter(self.benchmarks))
        if reference_benchmark not in self.benchmarks:
            raise SetupError(
                f"reference_benchmark {reference_benchmark!r} is not a benchmark; "
                f"benchmarks: {', '.join(self.benchmarks)}"
            )
        self.selection.compile()
        self.reference_benchmark = reference_benchmark
        self.nuisance_parameters = {}
        self._results = []
        if self._store is not None:
            self._store.close()
        store = self._store = EventStore(len(self.selection.observables), directory=self.tmp_dir)
        checkpoint = self._checkpoint = open_checkpoint(self.checkpoint, self._job())
        entropy = (
            root_entropy(self.random_state) if checkpoint is None else checkpoint.entropy(self.random_state)
        )
        # the sources this process opened, by sample: how many parts each sample has, and (for samples
        # of several parts) the normalisation; tasks run here use them instead of opening the file again
        self._sources = {}

        def tasks() -> Iterator[tuple[int, int, int, Path]]:
            for index, sample in enumerate(self.samples):
                self._sources[index] = self._open_sample(sample)
                for part in range(self._sources[index].n_parts):
                    spool = (
                        store.new_spool_path()
                        if checkpoint is None
                        else checkpoint.path(_key(index, part), ".f64")
                    )
                    yield index, part, entropy, spool

        try:
            with (
                dask_client(self.client) as client,
                # with Dask, one bar over the files here (the workers' own bars are off: no terminal)
                progress_bar(
                    total=len(self.samples),
                    desc="files",
                    unit="files",
                    enabled=False if client is None else self.progress,
                ) as files_bar,
            ):
                current: _SampleResult | None = None
                for part in map_ordered(self._read_part, tasks(), client, star=True):
                    source = self._sources[part.index]
                    if part.part == 0:
                        current = _SampleResult(self._layout(self.samples[part.index], source))
                    assert current is not None
                    current.add(part)
                    if part.part == source.n_parts - 1:
                        self._finish_sample(part.index, current, part.weight_factor)
                        del self._sources[part.index]
                        files_bar.update(1)
        except BaseException:
            store.close()
            self._store = None
            self._results = []
            raise
        finally:
            self._sources = {}
        for sample, result in self._results:
            logger.info("%s: %d of %d events kept", sample.path, result.n_events_kept, result.n_events_read)

    def _finish_sample(self, index: int, result: _SampleResult, weight_factor: float | None) -> None:
        """Register a sample whose parts are all read: its nuisance parameters, its spooled events
        with their normalisation, its selection statistics."""
        sample, source = self.samples[index], self._sources[index]
        if weight_factor is None:
            weight_factor = (
                source.normalisation(result.n_events_read, result.nominal_weight_sum) * sample.k_factor
            )
        self._register_nuisance(sample, result.layout.nuisance)
        assert self._store is not None
        for spool in result.spools:
            self._store.add_spooled_sample(
                spool, result.layout.weight_names, result.layout.sampling_index, weight_factor
            )
        self._results.append((sample, result))
        assert result.statistics is not None  # a finished sample has at least one part
        self.selection.statistics = result.statistics
        self.selection.log_statistics(str(sample.path))

    def __getstate__(self) -> dict[str, Any]:
        """What a Dask task receives: the analysis without its spooled output, open files and client."""
        state = self.__dict__.copy()
        state.update(_store=None, _results=[], _sources={}, client=None)
        return state

    def _job(self) -> dict[str, Any]:
        """What the analysed events depend on: the fingerprint of the reading's checkpoint."""
        state = self.__getstate__()
        for name in _NOT_IN_JOB:
            state.pop(name, None)
        state["selection"] = {
            "observables": self.selection.observables,
            "cuts": self.selection.cuts,
            "efficiencies": self.selection.efficiencies,
            "global_names": self.selection.global_names,
            "function_arguments": self.selection.function_arguments,
        }
        seeded = self.random_state is not None and not isinstance(self.random_state, np.random.Generator)
        state["seed"] = self.random_state if seeded else "unseeded"
        return {"reader": type(self).__qualname__, "state": state}

    def _layout(self, sample: Sample, source: SampleSource) -> _Layout:
        weight_names = list(self.benchmarks) + [w.benchmark for d in source.nuisance for w in d.weights]
        sampling_index = -1 if sample.is_background else self._sampling_column(sample)
        return _Layout(weight_names, sampling_index, source.nuisance)

    def _sampling_column(self, sample: Sample) -> int:
        """Index of the physics benchmark a signal sample was generated at."""
        assert sample.sampled_from_benchmark is not None  # checked for signal samples when added
        return self.benchmark_names_phys.index(sample.sampled_from_benchmark)

    def _reference(self) -> str:
        assert self.reference_benchmark is not None  # set by the analysis before events are read
        return self.reference_benchmark

    def _register_nuisance(self, sample: Sample, definitions: list[NuisanceDefinition]) -> None:
        for definition in definitions:
            parameter = NuisanceParameter(
                definition.parameter,
                definition.systematic,
                definition.positive.benchmark,
                None if definition.negative is None else definition.negative.benchmark,
            )
            existing = self.nuisance_parameters.get(parameter.name)
            if existing is not None and existing != parameter:
                raise SetupError(
                    f"{sample.path}: nuisance parameter {parameter.name} is defined differently than in an "
                    f"earlier sample ({parameter} vs {existing})"
                )
            self.nuisance_parameters[parameter.name] = parameter

    def _read_part(self, index: int, part: int, entropy: int, spool: Path) -> _PartResult:
        """Read part ``part`` of sample ``index`` into the spool file ``spool``: one task.

        Runs here or on a Dask worker (on a copy of the reader). Chunk ``c`` of sample ``i`` draws
        its random numbers from ``task_rng(entropy, i, c)``: a sample of one part reads its chunks
        ``c = 0, 1, ...``; part ``p`` of a sample of several parts is its chunk ``c = p``.

        With a checkpoint the spool file is the checkpoint's, and every finished chunk is recorded
        (the spool's rows synced to disk first, then the counts). A resumed part reads the chunks
        it recorded again only for their random numbers (the file cannot be entered mid-way) and
        analyses the rest; a finished part is not read again.
        """
        sample = self.samples[index]
        source = self._sources.get(index) or self._open_sample(sample)
        layout = self._layout(sample, source)
        result = _PartResult(index, part, spool)
        if part == 0:
            logger.info(
                "Analysing %s: %d observables, %d cuts, %d efficiencies, %d weight columns, %d part(s)",
                sample.path,
                len(self.selection.observables),
                len(self.selection.cuts),
                len(self.selection.efficiencies),
                len(layout.weight_names),
                source.n_parts,
            )
        self.selection.reset_statistics()
        checkpoint, key = self._checkpoint, _key(index, part)
        recorded = None if checkpoint is None else checkpoint.load(key)
        if recorded is not None:
            result = _restore_part(result, recorded)
            if recorded["finished"]:
                return result
            assert result.statistics is not None  # recorded after a chunk
            self.selection.statistics = result.statistics
        result.statistics = self.selection.statistics  # counted in place chunk by chunk
        rngs = (task_rng(entropy, index, part + k) for k in itertools.count())
        label = source.label or sample.path.name
        if source.n_parts > 1:
            label = f"{label} [{part + 1}/{source.n_parts}]"
        expected = source.expected_events if source.n_parts == 1 else None
        n_skip = 0 if recorded is None else int(recorded["chunks"])
        writer = SpoolWriter(
            spool,
            len(self.selection.observables),
            len(layout.weight_names),
            resume_rows=None if recorded is None else int(recorded["rows"]),
        )
        try:
            with progress_bar(total=expected, desc=label, unit="events", enabled=self.progress) as bar:
                for n_chunks, chunk in enumerate(source.chunks(rngs, part), start=1):
                    bar.update(chunk.n_events)
                    if n_chunks <= n_skip:  # recorded before the interruption: only its random numbers
                        continue
                    self._analyse_chunk(chunk, sample, layout, writer, result)
                    if checkpoint is not None:
                        writer.sync()
                        checkpoint.save(key, _part_record(result, writer.n_rows, n_chunks, finished=False))
                if source.n_parts == 1:  # the source that read every chunk normalises
                    factor = source.normalisation(result.n_events_read, result.nominal_weight_sum)
                    result.weight_factor = factor * sample.k_factor
        except BaseException:
            if checkpoint is None:
                writer.discard()
            else:  # its recorded rows are the checkpoint; rows after them are cut off on resume
                writer.close()
            raise
        writer.close()
        if checkpoint is not None:
            checkpoint.save(key, _part_record(result, writer.n_rows, 0, finished=True))
        return result

    def _analyse_chunk(
        self, chunk: ReaderChunk, sample: Sample, layout: _Layout, writer: SpoolWriter, result: _PartResult
    ) -> None:
        """Weights, observables, cuts and efficiencies of one chunk, appended to ``writer``."""
        result.n_events_read += chunk.n_events
        result.nominal_weight_sum += float(np.sum(chunk.nominal_weight))
        weights = self._chunk_weights(chunk, sample, layout)
        selected = self.selection.apply(chunk.objects)
        result.n_events_kept += int(selected.keep.sum())
        writer.append(selected.observations, weights[selected.keep] * selected.efficiency[:, None])

    def _chunk_weights(self, chunk: ReaderChunk, sample: Sample, layout: _Layout) -> np.ndarray:
        """Unnormalised weights ``(n_events, n_columns)`` of a chunk, in ``layout.weight_names`` order."""
        n_physics = len(self.benchmarks)
        columns = np.empty((chunk.n_events, len(layout.weight_names)))
        if sample.is_background:
            columns[:, :n_physics] = chunk.nominal_weight[:, None]
            sampling_weight = chunk.nominal_weight
        else:
            for i, name in enumerate(self.benchmarks):
                columns[:, i] = self._benchmark_weight(chunk, sample, name)
            sampling_weight = columns[:, self._sampling_column(sample)]
        reference_weight = columns[:, self.benchmark_names_phys.index(self._reference())]
        to_reference = np.divide(
            reference_weight,
            sampling_weight,
            out=np.zeros_like(reference_weight),
            where=sampling_weight != 0.0,
        )
        column = n_physics
        for definition in layout.nuisance:
            for weight in definition.weights:
                raw = (
                    chunk.nominal_weight
                    if weight.weight_id is None
                    else _named_weight(chunk, weight.weight_id)
                )
                columns[:, column] = weight.factor * raw * to_reference
                column += 1
        return columns

    def _benchmark_weight(self, chunk: ReaderChunk, sample: Sample, name: str) -> np.ndarray:
        if name in chunk.named_weights:
            return chunk.named_weights[name]
        if name == sample.sampled_from_benchmark:
            return chunk.nominal_weight
        available = ", ".join(chunk.named_weights) or "none"
        raise SetupError(
            f"{chunk.location}: no weight for benchmark {name!r}. A signal sample needs a reweighting "
            f"weight named after each benchmark (MadGraph's 'launch --rwgt_name={name}'); weights in the "
            f"file: {available}. Use is_background=True for samples without benchmark weights."
        )

    # ------------------------------------------------------------------ output

    def _all_benchmarks(self) -> dict[str, Benchmark]:
        benchmarks = {}
        for name, benchmark in self.benchmarks.items():
            copy = benchmark.copy()
            copy.is_nuisance = False
            copy.is_reference = name == self.reference_benchmark
            benchmarks[name] = copy
        assert self.reference_benchmark is not None
        reference_values = self.benchmarks[self.reference_benchmark].values
        for _, result in self._results:
            for name in result.weight_names[len(self.benchmarks) :]:
                if name not in benchmarks:
                    benchmarks[name] = Benchmark(name, dict(reference_values), is_nuisance=True)
        return benchmarks

    def save(self, filename_out: str | os.PathLike[str], shuffle: bool = True) -> None:
        """Save the setup, observable definitions, observations and weights to an events file.

        The setup (parameters, benchmarks, morphing, systematics) is copied from the file given at
        initialisation; nuisance benchmarks and parameters found in the samples are added. The
        file is written atomically: it appears only when complete.

        Parameters
        ----------
        filename_out : path-like
            The events file to write (replaced if it exists).
        shuffle : bool, optional
            Write the events in random order (important when several samples are combined).
            Uses the reader's ``random_state``. Default: True.
        """
        if self._store is None:
            raise SetupError(f"nothing to save: call {self.analyse_method} first")
        if self._store.n_events == 0:
            logger.warning("No events passed the selection; nothing saved to %s", filename_out)
            return
        benchmarks = self._all_benchmarks()
        names = list(benchmarks)
        rng = np.random.default_rng(self.random_state)
        signal_events = [0] * len(self.benchmarks)
        background_events = 0
        for sample, result in self._results:
            if sample.is_background:
                background_events += result.n_events_kept
            else:
                signal_events[self._sampling_column(sample)] += result.n_events_kept
        blocks = (
            self._store.iter_shuffled(names, self._reference(), rng)
            if shuffle
            else self._store.iter_rows(names, self._reference())
        )
        with atomic_h5(filename_out, copy_from=self.filename) as handle:
            write_nuisance_setup(handle, benchmarks, self.nuisance_parameters, list(self.parameters))
            definitions = [o.definition for o in self.selection.observables.values()]
            write_observables(handle, list(self.selection.observables), definitions)
            create_sample_datasets(handle, len(self.selection.observables), len(names))
            for observations, weights, sampling in blocks:
                append_samples(handle, observations, weights, sampling)
            write_sample_summary(handle, signal_events, background_events)
        logger.info("Saved %d events to %s", self._store.n_events, filename_out)
        if self._checkpoint is not None:  # its spooled events are in the file now
            self._store.close()
            self._store = None
            self._checkpoint.clear()
            self._checkpoint = None


#: Reader attributes the analysed events do not depend on (or that the analysis itself sets).
_NOT_IN_JOB = (
    "progress",
    "tmp_dir",
    "client",
    "checkpoint",
    "random_state",
    "nuisance_parameters",
    "selection",
    "_checkpoint",
    "_store",
    "_results",
    "_sources",
)


def _key(index: int, part: int) -> str:
    """The checkpoint key of part ``part`` of sample ``index``."""
    return f"sample{index}-part{part}"


def _part_record(result: _PartResult, rows: int, chunks: int, finished: bool) -> dict[str, Any]:
    """A part's progress as its checkpoint records it (JSON floats round-trip exactly)."""
    assert result.statistics is not None
    return {
        "finished": finished,
        "chunks": chunks,
        "rows": rows,
        "n_events_read": result.n_events_read,
        "n_events_kept": result.n_events_kept,
        "nominal_weight_sum": result.nominal_weight_sum,
        "weight_factor": result.weight_factor,
        "statistics": None if result.statistics is None else dataclasses.asdict(result.statistics),
    }


def _restore_part(result: _PartResult, recorded: Mapping[str, Any]) -> _PartResult:
    """The part result a checkpoint recorded."""
    statistics = recorded.get("statistics")
    return dataclasses.replace(
        result,
        n_events_read=int(recorded["n_events_read"]),
        n_events_kept=int(recorded["n_events_kept"]),
        nominal_weight_sum=float(recorded["nominal_weight_sum"]),
        weight_factor=recorded["weight_factor"],
        statistics=None if statistics is None else SelectionStatistics(**statistics),
    )


def _named_weight(chunk: ReaderChunk, weight_id: str) -> np.ndarray:
    try:
        return chunk.named_weights[weight_id]
    except KeyError:
        raise SetupError(
            f"{chunk.location}: weight {weight_id!r} is declared in the header but missing in the events"
        ) from None
