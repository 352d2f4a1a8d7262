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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import events
from ..checkpoint import CheckpointLike
from ..errors import InputError
from ..parallel import ClientLike
from ..readers import EventReader, ReaderChunk, Sample, SampleSource
from .lhefile import LHEEventChunk, LHEHeader, iter_lhe_events, read_lhe_header
from .systematics import nuisance_definitions

__all__ = ["LHEReader"]

logger = logging.getLogger(__name__)

#: Per-event variables of an LHE file usable in observables and cuts.
GLOBAL_VARIABLES = ("n_particles", "scale", "alpha_qed", "alpha_qcd")


def _check_resolution(value: float | None, what: str) -> float | None:
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"{what} must be finite or None, got {value}")
    return value


class LHEReader(EventReader):
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
    client : None, dask.distributed.Client, "local", int or str, optional
        Read the samples as Dask tasks, one per file (a gzip stream cannot be split; None: here, one
        after the other; see
        :mod:`motherlode.parallel` and docs/scale.md). The output is the same for any number of
        workers. With workers on other machines, ``tmp_dir`` must be on a shared filesystem.
    checkpoint : path-like, optional
        A folder where the reading records every finished chunk (addition): rerun after an
        interruption with the same folder and settings, and it continues after the last recorded
        chunk, with the same result as an uninterrupted run (docs/resume.md). Removed by
        :meth:`save`. With Dask workers on other machines it must be on a shared filesystem.

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
        *,
        client: ClientLike = None,
        checkpoint: CheckpointLike = None,
    ) -> None:
        super().__init__(
            filename,
            random_state,
            chunk_size,
            progress,
            tmp_dir,
            global_variables=GLOBAL_VARIABLES,
            client=client,
            checkpoint=checkpoint,
        )
        self.detector = events.DetectorModel()

    # ------------------------------------------------------------------ samples

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
        k_factor, names = self._check_sample_options(
            str(path), sampled_from_benchmark, is_background, k_factor, systematics
        )
        self._add(Sample(path, sampled_from_benchmark, bool(is_background), k_factor, names))

    def _open_sample(self, sample: Sample) -> SampleSource:
        return _LHESource(sample, self.systematics, self.detector, self.chunk_size)

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
        self._analyse(reference_benchmark)


# ---------------------------------------------------------------------------- the events of a sample


@dataclass
class _LHESource(SampleSource):
    """An LHE sample: smeared final-state particles, weights from the event and ``<rwgt>`` tags."""

    sample: Sample
    systematics: dict
    detector: events.DetectorModel
    chunk_size: int

    def __post_init__(self) -> None:
        self.header = read_lhe_header(self.sample.path)
        self.nuisance = nuisance_definitions(self.header, self.systematics, self.sample.systematics)
        self.expected_events = _expected_events(self.header)
        self.label = self.sample.path.name

    def chunks(self, rngs: Iterator[np.random.Generator], part: int = 0) -> Iterator[ReaderChunk]:
        del part  # one part: a gzip stream cannot be entered in the middle
        for chunk, rng in zip(
            iter_lhe_events(self.sample.path, chunk_size=self.chunk_size), rngs, strict=False
        ):
            objects = self.detector.reconstruct(_final_state(chunk), rng, global_data=_global_data(chunk))
            location = f"{self.sample.path} (events from line {int(chunk.event_line[0])})"
            yield ReaderChunk(objects, chunk.weight, chunk.weights, location)

    def normalisation(self, n_events_read: int, nominal_weight_sum: float) -> float:
        return lhe_normalisation(self.header, n_events_read, nominal_weight_sum)


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


def _expected_events(header: LHEHeader) -> int | None:
    try:
        return int(float(header.run_card.get("nevents", "")))
    except ValueError:
        return None


def lhe_normalisation(header: LHEHeader, n_events: int, nominal_weight_sum: float) -> float:
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
