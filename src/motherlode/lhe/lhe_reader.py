"""``LHEReader``: parton-level events with smearing -> observables and weights per benchmark.

The workflow is MadMiner's: initialise with a setup file, add LHE samples, optionally set
smearing functions and MET noise, define observables, cuts and efficiencies, analyse, save.
Everything runs on whole chunks of events (see :mod:`motherlode.lhe.lhefile`,
:mod:`motherlode.events` and :mod:`motherlode.selection`); memory is bounded by the chunk size
whatever the size of the samples, because analysed events are spooled to a private temporary
directory (:mod:`motherlode.eventstore`) until :meth:`LHEReader.save` writes them.

Weights
-------
Saved weights are per-event cross sections in pb: over all events of a sample (before cuts)
they sum to the sample's cross section at each benchmark, times ``k_factor``. The
normalisation follows the file: MadGraph's ``event_norm`` (``average``: divided by the number of
events in the file; ``sum``: as written); without it, the weights are scaled so that the nominal
weights sum to the ``<init>`` cross section. For a signal sample the weight at each physics
benchmark is the LHE weight whose id is the benchmark's name (``<rwgt><wgt id=...>``, as written
by MadGraph's reweighting with ``--rwgt_name``); the sampling benchmark may instead use the
event weight. A background sample has the same weight at every benchmark.

Systematics
-----------
Nuisance benchmarks come from the LHE weight groups (:mod:`motherlode.lhe.systematics`) and are
rescaled to the reference benchmark, ``w_nu * w_ref / w_sampling``, so that all samples describe
the nuisance variation around the same physics point.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import events
from ..errors import InputError, SetupError
from ..eventstore import EventStore
from ..fileformat import (
    append_samples,
    atomic_h5,
    create_sample_datasets,
    read_setup,
    write_nuisance_setup,
    write_observables,
    write_sample_summary,
)
from ..models import Benchmark, Cut, Efficiency, NuisanceParameter, Observable
from ..progress import progress_bar
from ..selection import Selection
from .lhefile import LHEEventChunk, LHEHeader, iter_lhe_events, read_lhe_header
from .systematics import NuisanceDefinition, nuisance_definitions

__all__ = ["LHEReader"]

logger = logging.getLogger(__name__)

#: Per-event variables of an LHE file usable in observables and cuts.
GLOBAL_VARIABLES = ("n_particles", "scale", "alpha_qed", "alpha_qcd")


@dataclass
class _Sample:
    path: Path
    sampled_from_benchmark: str | None
    is_background: bool
    k_factor: float
    systematics: list[str]


@dataclass
class _SampleResult:
    """Bookkeeping of one analysed sample."""

    weight_names: list[str]
    n_events_read: int = 0
    n_events_kept: int = 0
    nominal_weight_sum: float = 0.0
    nuisance: list[NuisanceDefinition] = field(default_factory=list)


def _check_resolution(value: float | None, what: str) -> float | None:
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"{what} must be finite or None, got {value}")
    return value


class LHEReader:
    """Detector simulation with smearing functions and calculation of observables from LHE files.

    Parameters
    ----------
    filename : str or path-like
        The setup file written by :meth:`motherlode.core.MadMiner.save`.
    random_state : int, numpy.random.Generator or None, optional
        Seed of the smearing, MET noise and shuffling (addition to MadMiner's API): the same seed
        gives identical output.
    chunk_size : int, optional
        Events processed at once (addition); memory grows linearly with it.
    progress : bool or None, optional
        Show progress bars (None: when the output is a terminal; see :mod:`motherlode.progress`).
    tmp_dir : path-like, optional
        Where to spool analysed events (default: the system's temporary directory).

    Examples
    --------
    See ``docs/`` and the tests; a minimal session is::

        reader = LHEReader("setup.h5", random_state=1)
        reader.add_sample("events.lhe.gz", sampled_from_benchmark="sm")
        reader.add_observable("pt_l1", "l[0].pt", required=True)
        reader.add_cut("pt_l1 > 20.")
        reader.analyse_samples()
        reader.save("events.h5")
    """

    def __init__(
        self,
        filename: str | os.PathLike[str],
        random_state: int | np.random.Generator | None = None,
        chunk_size: int = 100_000,
        progress: bool | None = None,
        tmp_dir: str | os.PathLike[str] | None = None,
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
        self.detector = events.DetectorModel()
        self.selection = Selection(GLOBAL_VARIABLES)
        self.samples: list[_Sample] = []
        self.reference_benchmark: str | None = None
        self.nuisance_parameters: dict[str, NuisanceParameter] = {}
        self._store: EventStore | None = None
        self._results: list[tuple[_Sample, _SampleResult]] = []

    # ------------------------------------------------------------------ samples

    @property
    def benchmark_names_phys(self) -> list[str]:
        """Names of the physics benchmarks, in file order."""
        return list(self.benchmarks)

    def add_sample(
        self,
        lhe_filename: str | os.PathLike[str],
        sampled_from_benchmark: str | None = None,
        is_background: bool = False,
        k_factor: float = 1.0,
        systematics: Sequence[str] | None = None,
    ) -> None:
        """Add an LHE sample of simulated events (``.lhe`` or ``.lhe.gz``).

        Parameters
        ----------
        lhe_filename : path-like
            The LHE file. It is only read, never modified, and nothing is written next to it.
        sampled_from_benchmark : str
            The benchmark the events were generated at (for a background sample it may be None).
        is_background : bool, optional
            Whether the sample is a background (same weight at all benchmarks). Default: False.
        k_factor : float, optional
            Multiplies all weights of the sample. Default: 1.
        systematics : list of str or None, optional
            Names of the setup's systematics that affect this sample. Default: None.
        """
        path = Path(lhe_filename)
        if not path.is_file():
            raise InputError(f"LHE file {path} does not exist or is not a file")
        if not is_background:
            if sampled_from_benchmark not in self.benchmarks:
                raise SetupError(
                    f"{path}: sampled_from_benchmark {sampled_from_benchmark!r} is not a benchmark of the "
                    f"setup; benchmarks: {', '.join(self.benchmarks)}"
                )
        elif sampled_from_benchmark is not None and sampled_from_benchmark not in self.benchmarks:
            raise SetupError(f"{path}: sampled_from_benchmark {sampled_from_benchmark!r} is not a benchmark")
        k_factor = float(k_factor)
        if not math.isfinite(k_factor) or k_factor <= 0.0:
            raise InputError(f"{path}: k_factor must be finite and positive, got {k_factor}")
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
                    f"{path}: systematic {name!r} is not defined in the setup; defined: "
                    f"{', '.join(self.systematics) or 'none'}"
                )
        self.samples.append(_Sample(path, sampled_from_benchmark, bool(is_background), k_factor, names))
        logger.info(
            "Added %s sample %s (sampled from %s, k-factor %g%s)",
            "background" if is_background else "signal",
            path,
            sampled_from_benchmark,
            k_factor,
            f", systematics {', '.join(names)}" if names else "",
        )

    # ------------------------------------------------------------------ detector model

    def set_smearing(
        self,
        pdgids: Sequence[int] | None = None,
        energy_resolution_abs: float | None = 0.0,
        energy_resolution_rel: float | None = 0.0,
        pt_resolution_abs: float | None = 0.0,
        pt_resolution_rel: float | None = 0.0,
        eta_resolution_abs: float = 0.0,
        eta_resolution_rel: float = 0.0,
        phi_resolution_abs: float = 0.0,
        phi_resolution_rel: float = 0.0,
    ) -> None:
        """Set up Gaussian smearing of E, pT, eta and phi for the given particles.

        The measurement error of X in (E, pT, eta, phi) is drawn from N(0, X_abs + X * X_rel).
        Either the energy or the pT resolution (not both) may be None: that quantity is then
        derived from the on-shell condition. ``pdgids=None`` means all Standard Model particles;
        a later call for the same particle replaces an earlier one. See MadMiner's documentation
        of ``set_smearing`` for details.
        """
        self.detector.set_smearing(
            pdgids=pdgids,
            energy_resolution_abs=_check_resolution(energy_resolution_abs, "energy_resolution_abs"),
            energy_resolution_rel=_check_resolution(energy_resolution_rel, "energy_resolution_rel"),
            pt_resolution_abs=_check_resolution(pt_resolution_abs, "pt_resolution_abs"),
            pt_resolution_rel=_check_resolution(pt_resolution_rel, "pt_resolution_rel"),
            eta_resolution_abs=eta_resolution_abs,
            eta_resolution_rel=eta_resolution_rel,
            phi_resolution_abs=phi_resolution_abs,
            phi_resolution_rel=phi_resolution_rel,
        )

    def set_met_noise(self, abs_: float = 0.0, rel: float = 0.0) -> None:
        """Add Gaussian noise with std ``abs_ + rel * HT`` (GeV) to the x and y components of MET."""
        self.detector.set_met_noise(abs_=abs_, rel=rel)

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
            An expression of the physics objects ``e, mu, tau, j, a, l, v, p, p_truth, met,
            visible, all`` (see :mod:`motherlode.events`) and the event variables
            ``n_particles, scale, alpha_qed, alpha_qcd``, e.g. ``"(l[0] + l[1]).m"``. It is parsed
            by motherlode's safe expression engine, never by Python's ``eval``.
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
        """Add an observable computed by a function ``fn(particles, leptons, photons, jets, met)``.

        By default (MadMiner's signature) ``fn`` is called once per event with lists of particle
        objects (``particles`` unsmeared, in LHE order; the others smeared) and returns a float;
        raising ``RuntimeError`` (or returning a non-finite value) means "not defined". With
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

    def analyse_samples(
        self, reference_benchmark: str | None = None, parse_events_as_xml: bool = True
    ) -> None:
        """Read all samples: smear, compute observables, apply cuts and efficiencies, collect weights.

        Parameters
        ----------
        reference_benchmark : str or None, optional
            Benchmark to which nuisance weights are rescaled (see the module documentation).
            None: the first benchmark.
        parse_events_as_xml : bool, optional
            Accepted for compatibility and ignored: there is one parser, fast and strict.
        """
        del parse_events_as_xml
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
        self._store = EventStore(len(self.selection.observables), directory=self.tmp_dir)
        rng = np.random.default_rng(self.random_state)
        try:
            for sample in self.samples:
                result = self._analyse_sample(sample, rng)
                self._results.append((sample, result))
        except BaseException:
            self._store.close()
            self._store = None
            self._results = []
            raise
        self._log_totals()

    def _weight_columns(self, sample: _Sample, nuisance: list[NuisanceDefinition]) -> list[str]:
        return list(self.benchmarks) + [weight.benchmark for d in nuisance for weight in d.weights]

    def _register_nuisance(self, sample: _Sample, definitions: list[NuisanceDefinition]) -> None:
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

    def _analyse_sample(self, sample: _Sample, rng: np.random.Generator) -> _SampleResult:
        header = read_lhe_header(sample.path)
        nuisance = nuisance_definitions(header, self.systematics, sample.systematics)
        self._register_nuisance(sample, nuisance)
        result = _SampleResult(self._weight_columns(sample, nuisance), nuisance=nuisance)
        logger.info(
            "Analysing %s: %d observables, %d cuts, %d efficiencies, %d weight columns",
            sample.path,
            len(self.selection.observables),
            len(self.selection.cuts),
            len(self.selection.efficiencies),
            len(result.weight_names),
        )
        self.selection.reset_statistics()
        sampling_index = (
            -1 if sample.is_background else self.benchmark_names_phys.index(sample.sampled_from_benchmark)
        )
        store = self._store
        store.start_sample(result.weight_names, sampling_index)
        expected = _expected_events(header)
        with progress_bar(total=expected, desc=sample.path.name, unit="events", enabled=self.progress) as bar:
            for chunk in iter_lhe_events(sample.path, chunk_size=self.chunk_size):
                observations, weights = self._analyse_chunk(chunk, sample, result, rng)
                store.append(observations, weights)
                bar.update(chunk.n_events)
        factor = _normalisation(header, result.n_events_read, result.nominal_weight_sum) * sample.k_factor
        store.finish_sample(weight_factor=factor)
        self.selection.log_statistics(str(sample.path))
        return result

    def _analyse_chunk(
        self, chunk: LHEEventChunk, sample: _Sample, result: _SampleResult, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        result.n_events_read += chunk.n_events
        result.nominal_weight_sum += float(np.sum(chunk.weight))
        weights = self._chunk_weights(chunk, sample, result)
        objects = self.detector.reconstruct(_final_state(chunk), rng, global_data=_global_data(chunk))
        selected = self.selection.apply(objects)
        result.n_events_kept += int(selected.keep.sum())
        return selected.observations, weights[selected.keep] * selected.efficiency[:, None]

    def _chunk_weights(self, chunk: LHEEventChunk, sample: _Sample, result: _SampleResult) -> np.ndarray:
        """Unnormalised weights ``(n_events, n_columns)`` of a chunk, in ``result.weight_names`` order."""
        n_physics = len(self.benchmarks)
        columns = np.empty((chunk.n_events, len(result.weight_names)))
        if sample.is_background:
            columns[:, :n_physics] = chunk.weight[:, None]
            sampling_weight = chunk.weight
        else:
            for i, name in enumerate(self.benchmarks):
                columns[:, i] = self._benchmark_weight(chunk, sample, name)
            sampling_weight = columns[:, self.benchmark_names_phys.index(sample.sampled_from_benchmark)]
        reference_weight = columns[:, self.benchmark_names_phys.index(self.reference_benchmark)]
        to_reference = np.divide(
            reference_weight,
            sampling_weight,
            out=np.zeros_like(reference_weight),
            where=sampling_weight != 0.0,
        )
        column = n_physics
        for definition in result.nuisance:
            for weight in definition.weights:
                raw = chunk.weight if weight.weight_id is None else _named_weight(chunk, weight.weight_id)
                columns[:, column] = weight.factor * raw * to_reference
                column += 1
        return columns

    def _benchmark_weight(self, chunk: LHEEventChunk, sample: _Sample, name: str) -> np.ndarray:
        if name in chunk.weights:
            return chunk.weights[name]
        if name == sample.sampled_from_benchmark:
            return chunk.weight
        available = ", ".join(chunk.weights) or "none"
        raise SetupError(
            f"{sample.path}: no weight for benchmark {name!r} (events from line {int(chunk.event_line[0])}). "
            f"A signal sample needs a reweighting weight named after each benchmark (MadGraph's "
            f"'launch --rwgt_name={name}'); weights in the file: {available}. Use is_background=True for "
            "samples without benchmark weights."
        )

    def _log_totals(self) -> None:
        for sample, result in self._results:
            logger.info("%s: %d of %d events kept", sample.path, result.n_events_kept, result.n_events_read)

    # ------------------------------------------------------------------ output

    def _all_benchmarks(self) -> dict[str, Benchmark]:
        benchmarks = {}
        for name, benchmark in self.benchmarks.items():
            copy = benchmark.copy()
            copy.is_nuisance = False
            copy.is_reference = name == self.reference_benchmark
            benchmarks[name] = copy
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
            raise SetupError("nothing to save: call analyse_samples first")
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
                signal_events[self.benchmark_names_phys.index(sample.sampled_from_benchmark)] += (
                    result.n_events_kept
                )
        blocks = (
            self._store.iter_shuffled(names, self.reference_benchmark, rng)
            if shuffle
            else self._store.iter_rows(names, self.reference_benchmark)
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


# ---------------------------------------------------------------------------- helpers


def _final_state(chunk: LHEEventChunk) -> events.ParticleArrays:
    """The status-1 particles of a chunk, in file order."""
    final = chunk.status == 1
    event_of_particle = np.repeat(np.arange(chunk.n_events), chunk.n_particles)
    counts = np.bincount(event_of_particle[final], minlength=chunk.n_events)
    return events.ParticleArrays(
        counts=counts,
        pdgid=chunk.pdgid[final],
        px=chunk.px[final],
        py=chunk.py[final],
        pz=chunk.pz[final],
        energy=chunk.energy[final],
    )


def _global_data(chunk: LHEEventChunk) -> dict[str, np.ndarray]:
    return {
        "n_particles": chunk.n_particles.astype(np.float64),
        "scale": chunk.scale,
        "alpha_qed": chunk.alpha_qed,
        "alpha_qcd": chunk.alpha_qcd,
    }


def _named_weight(chunk: LHEEventChunk, weight_id: str) -> np.ndarray:
    try:
        return chunk.weights[weight_id]
    except KeyError:
        raise SetupError(
            f"{chunk.path}: weight {weight_id!r} is declared in the header but missing in the events "
            f"from line {int(chunk.event_line[0])}"
        ) from None


def _expected_events(header: LHEHeader) -> int | None:
    try:
        return int(float(header.run_card.get("nevents", "")))
    except ValueError:
        return None


def _normalisation(header: LHEHeader, n_events: int, nominal_weight_sum: float) -> float:
    """Factor turning the file's weights into per-event cross sections in pb."""
    if n_events == 0:
        return 1.0
    event_norm = header.run_card.get("event_norm", "").strip().lower()
    if event_norm == "average":
        return 1.0 / n_events
    if event_norm == "sum":
        return 1.0
    total = header.total_xsec
    if nominal_weight_sum > 0.0 and total > 0.0 and math.isfinite(total):
        return total / nominal_weight_sum
    logger.warning(
        "%s: cannot tell how the event weights are normalised (no event_norm, <init> cross section %g); "
        "taking their average as the cross section",
        header.path,
        total,
    )
    return 1.0 / n_events
