"""``DelphesReader``: detector-level events from Delphes ROOT files -> observables and weights per benchmark.

The workflow is MadMiner's: initialise with a setup file, add samples (a Delphes ROOT file, or a
HepMC file to run Delphes on), optionally run Delphes and set acceptance cuts, define
observables and cuts, analyse, save. The ROOT files are read with uproot in chunks of
``chunk_size`` events; the objects of a chunk (electrons, muons, photons, jets with their b and
tau tags, MET) become one :class:`~motherlode.events.EventObjects`, on which the observables,
cuts and efficiencies of the shared :class:`~motherlode.readers.EventReader` run, vectorised.
Analysed events are spooled to a private temporary directory, so memory is bounded by the
chunk size, however large the files.

Objects
-------
``e``, ``mu``, ``a`` (photons), ``j`` (jets), ``l`` (electrons and muons), each sorted by
descending pT after the acceptance cuts of :meth:`DelphesReader.set_acceptance`; ``met``;
``visible`` (the sum of electrons, muons, photons and jets) and ``all`` (``visible + met``).
Electrons and muons carry their charge and the PDG id that goes with it (an electron, charge
-1, has pdgid 11); jets carry their Delphes charge and the PDG id 5 if b-tagged, 15 if
tau-tagged (and not b-tagged), 0 otherwise, so that ``j[0].b_tag`` and ``j[0].tau_tag`` work as
for LHE jets. With ``generator_truth=True`` the electrons, muons and photons are the stable
generator particles (``Particle`` with status 1), the jets ``GenJet`` and MET ``GenMissingET``.
Observable functions get MadMiner's Delphes signature ``fn(leptons, photons, jets, met)``.

Weights
-------
``weights="delphes"``: the event weights are ``Weight.Weight`` of the Delphes file (the
weights that Pythia carried from the LHE file), named by the HepMC file (HepMC3 ``W`` or
HepMC2 ``N`` line); the LHE file is not needed, unless the sample has systematics (their
weight groups are declared in the LHE header). ``weights="lhe"`` (MadMiner's default): the
weights come from the LHE file, each Delphes event matched to its LHE event by its number
(``Event.Number``, which Delphes copies from the HepMC event number): the numbers must be the
events' positions in the LHE file, counted from 1, as the HepMC writer numbered them (true of
the reference files in ``tests/data/delphes``). Events vetoed by Pythia (matching and merging)
then leave gaps in the numbers and are skipped, instead of shifting every later event as in
MadMiner; numbers that do not increase are an error, and the nominal weights of the matched
pairs are checked to agree. A generator that renumbers the showered events 1, 2, 3 ... without
gaps after vetoes cannot be told apart in an unweighted sample (all nominal weights equal):
there, read the weights from the Delphes file.

Saved weights are per-event cross sections in pb. Weights from the LHE file are normalised as
the LHE reader does, over all LHE events (vetoed ones included, so the sum over the showered
events is the cross section after the vetoes). Weights from the Delphes file are scaled so that
the nominal weights of all Delphes events sum to the generator's cross section
(``Event.CrossSection``, Pythia's estimate after vetoes); where the file has none, the LHE
file's normalisation is used if it is given, else the average weight.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from .. import events
from ..checkpoint import CheckpointLike
from ..errors import InputError, SetupError
from ..lhe.lhe_reader import lhe_normalisation
from ..lhe.lhefile import iter_lhe_events, read_lhe_header
from ..lhe.systematics import nuisance_definitions
from ..parallel import ClientLike, map_ordered
from ..readers import EventReader, ReaderChunk, Sample, SampleSource

# the module, not its function: importing motherlode.simulators.delphes first imports this module
# (through motherlode.delphes.hepmc) while it is partly initialised
from ..simulators import delphes as delphes_simulator
from .hepmc import read_weight_names

__all__ = ["DelphesReader"]

logger = logging.getLogger(__name__)

#: The tree Delphes writes.
DELPHES_TREE = "Delphes"
ELECTRON_MASS = 0.000511  # GeV
MUON_MASS = 0.105658  # GeV
#: The observable-function arguments of MadMiner's DelphesReader: ``fn(leptons, photons, jets, met)``.
FUNCTION_ARGUMENTS = ("l", "a", "j", "met")
#: Relative agreement required between the nominal weights of matched Delphes and LHE events.
_WEIGHT_MATCH_TOLERANCE = 1e-4

_RECO_BRANCHES = {
    "electrons": ("Electron.PT", "Electron.Eta", "Electron.Phi", "Electron.Charge"),
    "muons": ("Muon.PT", "Muon.Eta", "Muon.Phi", "Muon.Charge"),
    "photons": ("Photon.PT", "Photon.Eta", "Photon.Phi"),
    "jets": ("Jet.PT", "Jet.Eta", "Jet.Phi", "Jet.Mass", "Jet.BTag", "Jet.TauTag", "Jet.Charge"),
    "met": ("MissingET.MET", "MissingET.Phi"),
}
_TRUTH_BRANCHES = {
    "particles": (
        "Particle.PID",
        "Particle.Status",
        "Particle.Px",
        "Particle.Py",
        "Particle.Pz",
        "Particle.E",
        "Particle.Charge",
    ),
    "jets": (
        "GenJet.PT",
        "GenJet.Eta",
        "GenJet.Phi",
        "GenJet.Mass",
        "GenJet.BTag",
        "GenJet.TauTag",
        "GenJet.Charge",
    ),
    "met": ("GenMissingET.MET", "GenMissingET.Phi"),
}


@dataclass
class Acceptance:
    """Acceptance cuts per object type: minimum pT (GeV) and maximum \\|eta\\|; None: no cut."""

    pt_min_e: float | None = None
    pt_min_mu: float | None = None
    pt_min_a: float | None = None
    pt_min_j: float | None = None
    eta_max_e: float | None = None
    eta_max_mu: float | None = None
    eta_max_a: float | None = None
    eta_max_j: float | None = None

    def __post_init__(self) -> None:
        for entry in fields(self):
            value = getattr(self, entry.name)
            if value is None:
                continue
            value = float(value)
            if math.isnan(value) or value < 0.0:
                raise InputError(
                    f"set_acceptance: {entry.name} must be a non-negative number or None, got {value}"
                )
            setattr(self, entry.name, value)

    def mask(self, kind: str, pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
        """Which objects of type ``kind`` (``e``, ``mu``, ``a``, ``j``) pass."""
        keep = np.ones(len(pt), dtype=bool)
        pt_min, eta_max = getattr(self, f"pt_min_{kind}"), getattr(self, f"eta_max_{kind}")
        if pt_min is not None:
            keep &= pt >= pt_min
        if eta_max is not None:
            keep &= np.abs(eta) <= eta_max
        return keep


@dataclass
class _DelphesSample(Sample):
    hepmc_path: Path | None = None
    delphes_path: Path | None = None
    lhe_path: Path | None = None
    weights: str = "lhe"
    made_by_run_delphes: bool = False


class DelphesReader(EventReader):
    """Detector simulation with Delphes and calculation of observables from its ROOT files.

    Parameters
    ----------
    filename : str or path-like
        The setup file written by :meth:`motherlode.core.MadMiner.save`.
    random_state : int, numpy.random.Generator or None, optional
        Seed of the shuffling in :meth:`save` (addition to MadMiner's API).
    chunk_size : int, optional
        Events read at once (addition); memory grows linearly with it.
    progress : bool or None, optional
        Show progress bars (None: when the output is a terminal; see :mod:`motherlode.progress`).
    tmp_dir : path-like, optional
        Where to spool analysed events (default: the system's temporary directory).
    client : None, dask.distributed.Client, "local", int or str, optional
        Read the samples as Dask tasks: one per chunk with weights from Delphes, one per file with
        weights from the LHE file (None: here, one after the other; see
        :mod:`motherlode.parallel` and docs/scale.md). The output is the same for any number of
        workers. With workers on other machines, ``tmp_dir`` must be on a shared filesystem.
    checkpoint : path-like, optional
        A folder where the reading records every finished chunk (addition): rerun after an
        interruption with the same folder and settings, and it continues after the last recorded
        chunk, with the same result as an uninterrupted run (docs/resume.md). Removed by
        :meth:`save`. With Dask workers on other machines it must be on a shared filesystem.

    Examples
    --------
    A minimal session::

        reader = DelphesReader("setup.h5")
        reader.add_sample("events.hepmc.gz", "sm", delphes_filename="events.root", weights="delphes")
        reader.set_acceptance(pt_min_j=20.0, eta_max_j=2.5)
        reader.add_observable("pt_j1", "j[0].pt", required=True)
        reader.add_cut("len(l) >= 1")
        reader.analyse_delphes_samples()
        reader.save("events.h5")
    """

    analyse_method = "analyse_delphes_samples"

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
            function_arguments=FUNCTION_ARGUMENTS,
            client=client,
            checkpoint=checkpoint,
        )
        self.acceptance = Acceptance()
        self.generator_truth = False

    # ------------------------------------------------------------------ samples

    def add_sample(
        self,
        hepmc_filename: str | os.PathLike[str] | None,
        sampled_from_benchmark: str | None,
        is_background: bool = False,
        delphes_filename: str | os.PathLike[str] | None = None,
        lhe_filename: str | os.PathLike[str] | None = None,
        k_factor: float = 1.0,
        weights: str = "lhe",
        systematics: Sequence[str] | None = None,
    ) -> None:
        """Add a sample of simulated events.

        Parameters
        ----------
        hepmc_filename : path-like or None
            The HepMC file from Pythia (``.hepmc`` or ``.hepmc.gz``, HepMC2 or HepMC3). Needed to run
            Delphes on it and, with ``weights="delphes"``, for the names of the weights; it may be
            None when ``delphes_filename`` is given and the weights come from the LHE file.
        sampled_from_benchmark : str or None
            The benchmark the events were generated at (for a background sample it may be None).
        is_background : bool, optional
            Whether the sample is a background (same weight at all benchmarks). Default: False.
        delphes_filename : path-like or None, optional
            The Delphes ROOT file. If None, :meth:`run_delphes` makes it.
        lhe_filename : path-like or None, optional
            The LHE file the events were showered from: the source of the weights with
            ``weights="lhe"``, and of the weight groups of the systematics.
        k_factor : float, optional
            Multiplies all weights of the sample. Default: 1.
        weights : {"lhe", "delphes"}, optional
            Where the event weights come from (see the module documentation). Default: "lhe".
        systematics : list of str or None, optional
            Names of the setup's systematics that affect this sample. Default: None.
        """
        paths = {
            "HepMC": None if hepmc_filename is None else Path(hepmc_filename),
            "Delphes": None if delphes_filename is None else Path(delphes_filename),
            "LHE": None if lhe_filename is None else Path(lhe_filename),
        }
        main = paths["Delphes"] or paths["HepMC"]
        if main is None:
            raise InputError("add_sample needs a HepMC file to run Delphes on, or a Delphes ROOT file")
        for what, path in paths.items():
            if path is not None and not path.is_file():
                raise InputError(f"{what} file {path} does not exist or is not a file")
        if weights not in ("lhe", "delphes"):
            raise InputError(f"{main}: weights must be 'lhe' or 'delphes', got {weights!r}")
        if weights == "lhe" and paths["LHE"] is None:
            raise InputError(
                f"{main}: weights='lhe' reads the weights from the LHE file: give lhe_filename, or use "
                "weights='delphes' to read them from the Delphes file"
            )
        if weights == "delphes" and paths["HepMC"] is None:
            raise InputError(
                f"{main}: weights='delphes' takes the names of the Delphes weights from the HepMC file: "
                "give hepmc_filename"
            )
        k_factor, names = self._check_sample_options(
            str(main), sampled_from_benchmark, is_background, k_factor, systematics
        )
        if names and paths["LHE"] is None:
            raise SetupError(
                f"{main}: systematics {names} need the weight groups in the LHE file's header: "
                "give lhe_filename"
            )
        self._add(
            _DelphesSample(
                main,
                sampled_from_benchmark,
                bool(is_background),
                k_factor,
                names,
                hepmc_path=paths["HepMC"],
                delphes_path=paths["Delphes"],
                lhe_path=paths["LHE"],
                weights=weights,
            )
        )

    def run_delphes(
        self,
        delphes_directory: str | os.PathLike[str],
        delphes_card: str | os.PathLike[str],
        initial_command: str | None = None,
        log_file: str | os.PathLike[str] | None = None,
        *,
        output_directory: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Run Delphes on every sample added so far that has no Delphes file yet.

        Parameters
        ----------
        delphes_directory : path-like
            The Delphes installation: the folder holding ``DelphesHepMC3`` / ``DelphesHepMC2`` (or
            the older ``DelphesHepMC``).
        delphes_card : path-like
            The Delphes card (``.tcl``).
        initial_command : str or None, optional
            Shell commands run first, in the same shell (e.g. ``source setup.sh``).
        log_file : path-like or None, optional
            Where Delphes' output goes, appended run after run (default: one log per output file,
            ``<name>.log`` next to it).
        output_directory : path-like or None, optional
            Where the ROOT files are written, as ``<HepMC name>_delphes.root`` (addition; default
            ``./delphes`` in the working directory, never next to the input files).
        timeout : float or None, optional
            Seconds after which a Delphes run is stopped (addition; default: none).

        With the reader's ``client``, the files are run through Delphes as Dask tasks, one per file.

        Raises
        ------
        ExternalCommandError
            If Delphes fails; the message holds the end of its log. No partial ROOT file remains.
        """
        card = Path(delphes_card)
        if not card.is_file():
            raise InputError(f"Delphes card {card} does not exist or is not a file")
        out_dir = Path("delphes") if output_directory is None else Path(output_directory)
        pending = []
        for sample in self.samples:
            assert isinstance(sample, _DelphesSample)
            if sample.delphes_path is not None:
                logger.debug("Delphes already run for %s", sample.delphes_path)
                continue
            assert sample.hepmc_path is not None
            pending.append((sample, sample.hepmc_path, out_dir / f"{_stem(sample.hepmc_path)}_delphes.root"))
        run = functools.partial(
            delphes_simulator.run_delphes,
            delphes_directory,
            card,
            log_file=log_file,
            initial_command=initial_command,
            timeout=timeout,
            append_log=log_file is not None,
        )
        # one Delphes run per file: here one after the other, or as Dask tasks on the reader's client
        outputs = map_ordered(run, [(hepmc, output) for _, hepmc, output in pending], self.client, star=True)
        for (sample, _, _), output in zip(pending, outputs, strict=True):
            sample.delphes_path = output
            sample.made_by_run_delphes = True

    def set_acceptance(
        self,
        pt_min_e: float | None = None,
        pt_min_mu: float | None = None,
        pt_min_a: float | None = None,
        pt_min_j: float | None = None,
        eta_max_e: float | None = None,
        eta_max_mu: float | None = None,
        eta_max_a: float | None = None,
        eta_max_j: float | None = None,
    ) -> None:
        """Set acceptance cuts for the visible objects, applied before observables and cuts.

        Minimum pT in GeV and maximum \\|eta\\| of electrons (``e``), muons (``mu``), photons
        (``a``) and jets (``j``); None (default) means no cut. Each call replaces all eight.
        """
        self.acceptance = Acceptance(
            pt_min_e, pt_min_mu, pt_min_a, pt_min_j, eta_max_e, eta_max_mu, eta_max_a, eta_max_j
        )

    # ------------------------------------------------------------------ analysis

    def analyse_delphes_samples(
        self,
        generator_truth: bool = False,
        delete_delphes_files: bool = False,
        reference_benchmark: str | None = None,
        parse_lhe_events_as_xml: bool = True,
    ) -> None:
        """Read all samples: objects, acceptance, observables, cuts, efficiencies and weights.

        Parameters
        ----------
        generator_truth : bool, optional
            Use the generator-level objects of the Delphes file (stable particles, ``GenJet``,
            ``GenMissingET``) instead of the reconstructed ones. Default: False.
        delete_delphes_files : bool, optional
            Delete the Delphes files that :meth:`run_delphes` made, once all samples are read
            (files the user gave are never deleted). Default: False.
        reference_benchmark : str or None, optional
            Benchmark to which nuisance weights are rescaled (None: the first benchmark).
        parse_lhe_events_as_xml : bool, optional
            Accepted for compatibility and ignored: there is one LHE parser, fast and strict.
        """
        del parse_lhe_events_as_xml
        missing = [str(s.path) for s in self.samples if getattr(s, "delphes_path", None) is None]
        if missing:
            raise SetupError(f"no Delphes file for the samples {missing}: call run_delphes first")
        self.generator_truth = bool(generator_truth)
        self._analyse(reference_benchmark)
        if delete_delphes_files:
            for sample in self.samples:
                assert isinstance(sample, _DelphesSample)
                if sample.made_by_run_delphes and sample.delphes_path is not None:
                    sample.delphes_path.unlink(missing_ok=True)
                    logger.info("Deleted %s", sample.delphes_path)
                    sample.delphes_path = None

    def _open_sample(self, sample: Sample) -> SampleSource:
        assert isinstance(sample, _DelphesSample)
        return _DelphesSource(
            sample, self.systematics, self.acceptance, self.generator_truth, self.chunk_size
        )


# ---------------------------------------------------------------------------- the events of a sample


@dataclass
class _DelphesSource(SampleSource):
    """A Delphes sample: the objects of the ROOT file, weights from it or from the LHE file."""

    sample: _DelphesSample
    systematics: dict
    acceptance: Acceptance
    generator_truth: bool
    chunk_size: int
    _lhe: _LHEWeights | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        sample = self.sample
        assert sample.delphes_path is not None
        self.path = sample.delphes_path
        self.tree = _open_tree(self.path)
        # the branches by name, without their parent's path ("Jet/Jet.PT" -> "Jet.PT")
        self.branch_names = {key.rpartition("/")[2] for key in self.tree.keys(recursive=True)}
        self.expected_events = int(self.tree.num_entries)
        self.label = self.path.name
        # weights from Delphes: every chunk stands alone, one part (Dask task) each; weights from the
        # LHE file: one part, both files streamed together
        if sample.weights == "delphes":
            self.n_parts = max(1, math.ceil(self.expected_events / self.chunk_size))
        self.header = None if sample.lhe_path is None else read_lhe_header(sample.lhe_path)
        self.nuisance = (
            []
            if self.header is None
            else nuisance_definitions(self.header, self.systematics, sample.systematics)
        )
        self.weight_names: list[str] | None = None
        if sample.weights == "delphes":
            assert sample.hepmc_path is not None
            self.weight_names = read_weight_names(sample.hepmc_path)
            if not self.weight_names:
                raise InputError(
                    f"{sample.hepmc_path} names no event weights (no HepMC3 'W' or HepMC2 'N' line): "
                    "read the weights from the LHE file with weights='lhe'"
                )
            if "Weight.Weight" not in self.branch_names:
                raise InputError(f"{self.path}: no Weight.Weight branch: read the weights with weights='lhe'")

    def _branches(self) -> list[str]:
        groups = _TRUTH_BRANCHES if self.generator_truth else _RECO_BRANCHES
        names = [name for group in groups.values() for name in group]
        names += ["Event.Number", "Event.Weight", "Event.CrossSection"]
        if self.sample.weights == "delphes":
            names.append("Weight.Weight")
        available = self.branch_names
        optional = {"Jet.Charge", "GenJet.Charge", "GenJet.BTag", "GenJet.TauTag", "Event.CrossSection"}
        absent = [name for name in names if name not in available]
        required = [name for name in absent if name not in optional]
        if required:
            raise InputError(f"{self.path}: the Delphes tree lacks the branches {required}")
        return [name for name in names if name in available]

    def chunks(self, rngs: Iterator[np.random.Generator], part: int = 0) -> Iterator[ReaderChunk]:
        del rngs  # Delphes did the smearing
        branches = self._branches()
        if self.sample.weights == "lhe":
            assert self.sample.lhe_path is not None
            self._lhe = _LHEWeights(self.sample.lhe_path, self.chunk_size)
        entries: dict[str, int] = {}
        if self.n_parts > 1:
            entries = {"entry_start": part * self.chunk_size, "entry_stop": (part + 1) * self.chunk_size}
        previous_number = 0
        for arrays, report in self.tree.iterate(
            branches, step_size=self.chunk_size, library="ak", report=True, **entries
        ):
            start = int(report.tree_entry_start)
            location = f"{self.path} (entries from {start})"
            objects = self._objects(arrays, location)
            number = _event_column(arrays, "Event.Number", location).astype(np.int64)
            delphes_weight = _event_column(arrays, "Event.Weight", location)
            if self._lhe is not None:
                index = _lhe_positions(number, previous_number, start, location)
                nominal, named = self._lhe.take(index, location)
                _check_matched(delphes_weight, nominal, location, self._lhe.path)
            else:
                nominal, named = self._delphes_weights(arrays, delphes_weight, location)
            previous_number = int(number[-1]) if len(number) else previous_number
            yield ReaderChunk(objects, nominal, named, location)
        if self._lhe is not None:
            self._lhe.finish()

    def _delphes_weights(
        self, arrays: Any, delphes_weight: np.ndarray, location: str
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        assert self.weight_names is not None
        counts = np.asarray(ak.num(arrays["Weight.Weight"], axis=1))
        n_names = len(self.weight_names)
        if len(counts) and not np.all(counts == n_names):
            bad = int(np.flatnonzero(counts != n_names)[0])
            raise InputError(
                f"{location}: event {bad} of the chunk has {int(counts[bad])} weights, but the HepMC file "
                f"{self.sample.hepmc_path} names {n_names} ({', '.join(self.weight_names)})"
            )
        table = np.asarray(ak.flatten(arrays["Weight.Weight"]), dtype=np.float64).reshape(
            len(counts), n_names
        )
        named = {name: table[:, i] for i, name in enumerate(self.weight_names)}
        return delphes_weight, named

    def _objects(self, arrays: Any, location: str) -> events.EventObjects:
        if self.generator_truth:
            return _truth_objects(arrays, self.acceptance, location)
        return _reco_objects(arrays, self.acceptance, location)

    def _generator_cross_section(self) -> float:
        """The generator's cross section (pb) in the file's last event (0: none)."""
        n_entries = int(self.tree.num_entries)
        if "Event.CrossSection" not in self.branch_names or n_entries == 0:
            return 0.0
        location = f"{self.path} (entry {n_entries - 1})"
        arrays = self.tree.arrays(["Event.CrossSection"], entry_start=n_entries - 1, library="ak")
        return float(_event_column(arrays, "Event.CrossSection", location)[-1])

    def normalisation(self, n_events_read: int, nominal_weight_sum: float) -> float:
        # from the file, not from the chunks read: a sample of several parts is normalised by a source
        # that read none of them
        cross_section = self._generator_cross_section() if self._lhe is None else 0.0
        if cross_section > 0.0 and nominal_weight_sum > 0.0:
            return cross_section / nominal_weight_sum
        if self._lhe is None and self.sample.lhe_path is not None:
            # weights from Delphes without a cross section: count the LHE file's events
            self._lhe = _LHEWeights(self.sample.lhe_path, self.chunk_size)
            self._lhe.finish()
        if self._lhe is not None:
            assert self.header is not None
            return lhe_normalisation(self.header, self._lhe.n_read, self._lhe.nominal_sum)
        logger.warning(
            "%s: no generator cross section (Event.CrossSection) and no LHE file; taking the average "
            "event weight as the cross section",
            self.path,
        )
        return 1.0 / max(n_events_read, 1)


# ---------------------------------------------------------------------------- reading ROOT files


def _open_tree(path: Path) -> Any:
    try:
        import uproot
    except ImportError as exc:  # pragma: no cover - uproot is a dependency
        raise SetupError("reading Delphes files needs uproot (pip install uproot)") from exc
    try:
        handle = uproot.open(path)
    except Exception as exc:  # uproot raises many kinds of errors for a file that is not ROOT
        raise InputError(f"cannot open {path} as a ROOT file: {exc}") from exc
    if DELPHES_TREE not in handle:
        raise InputError(f"{path} has no '{DELPHES_TREE}' tree; it holds {list(handle.keys())}")
    return handle[DELPHES_TREE]


def _flat(arrays: Any, name: str) -> np.ndarray:
    return np.asarray(ak.flatten(arrays[name], axis=None), dtype=np.float64)


def _counts(arrays: Any, name: str) -> np.ndarray:
    return np.asarray(ak.num(arrays[name], axis=1), dtype=np.int64)


def _event_column(arrays: Any, name: str, location: str) -> np.ndarray:
    """A per-event quantity of the ``Event`` branch (a one-element list in each event)."""
    if name not in arrays.fields:
        return np.ones(len(arrays)) if name == "Event.Weight" else np.zeros(len(arrays))
    counts = _counts(arrays, name)
    if len(counts) and not np.all(counts == 1):
        raise InputError(
            f"{location}: {name} has {sorted(set(counts.tolist()))} entries per event, expected 1"
        )
    return _flat(arrays, name)


def _select(counts: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Counts per event after keeping the flat entries ``keep``."""
    event = np.repeat(np.arange(len(counts)), counts)
    return np.bincount(event[keep], minlength=len(counts))


def _collection(
    arrays: Any,
    prefix: str,
    kind: str,
    acceptance: Acceptance,
    mass: float | None,
    pdgid: np.ndarray | None = None,
    charge: np.ndarray | None = None,
) -> events.ParticleArrays:
    counts = _counts(arrays, f"{prefix}.PT")
    pt, eta, phi = (_flat(arrays, f"{prefix}.{name}") for name in ("PT", "Eta", "Phi"))
    masses = _flat(arrays, f"{prefix}.Mass") if mass is None else np.full(len(pt), mass)
    if charge is None:
        charge = (
            _flat(arrays, f"{prefix}.Charge") if f"{prefix}.Charge" in arrays.fields else np.zeros(len(pt))
        )
    if pdgid is None:
        pdgid = np.zeros(len(pt), dtype=np.int64)
    keep = acceptance.mask(kind, pt, eta)
    return events.ParticleArrays.from_ptetaphim(
        _select(counts, keep), pdgid[keep], pt[keep], eta[keep], phi[keep], masses[keep], charge[keep]
    )


def _lepton_ids(arrays: Any, prefix: str, magnitude: int) -> tuple[np.ndarray, np.ndarray]:
    charge = _flat(arrays, f"{prefix}.Charge")
    return (-magnitude * np.sign(charge)).astype(np.int64), charge


def _jet_ids(arrays: Any, prefix: str) -> np.ndarray:
    n = len(_flat(arrays, f"{prefix}.PT"))
    b_tag = _flat(arrays, f"{prefix}.BTag") != 0 if f"{prefix}.BTag" in arrays.fields else np.zeros(n, bool)
    tau_tag = (
        _flat(arrays, f"{prefix}.TauTag") != 0 if f"{prefix}.TauTag" in arrays.fields else np.zeros(n, bool)
    )
    return np.where(b_tag, 5, np.where(tau_tag, 15, 0)).astype(np.int64)


def _met(arrays: Any, prefix: str, location: str) -> tuple[np.ndarray, np.ndarray]:
    counts = _counts(arrays, f"{prefix}.MET")
    if len(counts) and not np.all(counts == 1):
        raise InputError(
            f"{location}: {prefix} has {sorted(set(counts.tolist()))} entries per event, expected 1"
        )
    met, phi = _flat(arrays, f"{prefix}.MET"), _flat(arrays, f"{prefix}.Phi")
    return met * np.cos(phi), met * np.sin(phi)


def _reco_objects(arrays: Any, acceptance: Acceptance, location: str) -> events.EventObjects:
    electron_id, electron_charge = _lepton_ids(arrays, "Electron", 11)
    muon_id, muon_charge = _lepton_ids(arrays, "Muon", 13)
    photon_ids = np.full(len(_flat(arrays, "Photon.PT")), 22, dtype=np.int64)
    met_px, met_py = _met(arrays, "MissingET", location)
    return events.EventObjects.from_collections(
        met_px=met_px,
        met_py=met_py,
        electrons=_collection(
            arrays, "Electron", "e", acceptance, ELECTRON_MASS, electron_id, electron_charge
        ),
        muons=_collection(arrays, "Muon", "mu", acceptance, MUON_MASS, muon_id, muon_charge),
        photons=_collection(arrays, "Photon", "a", acceptance, 0.0, photon_ids, np.zeros(len(photon_ids))),
        jets=_collection(arrays, "Jet", "j", acceptance, None, _jet_ids(arrays, "Jet")),
    )


def _truth_objects(arrays: Any, acceptance: Acceptance, location: str) -> events.EventObjects:
    counts = _counts(arrays, "Particle.PID")
    pid = _flat(arrays, "Particle.PID").astype(np.int64)
    stable = _flat(arrays, "Particle.Status") == 1
    columns = {name: _flat(arrays, f"Particle.{name}") for name in ("Px", "Py", "Pz", "E", "Charge")}
    pt = np.hypot(columns["Px"], columns["Py"])
    with np.errstate(all="ignore"):
        eta = np.arcsinh(np.divide(columns["Pz"], pt))
    collections = {}
    for name, magnitude, kind in (("electrons", 11, "e"), ("muons", 13, "mu"), ("photons", 22, "a")):
        keep = stable & (np.abs(pid) == magnitude) & acceptance.mask(kind, pt, eta)
        collections[name] = events.ParticleArrays(
            _select(counts, keep),
            pid[keep],
            columns["Px"][keep],
            columns["Py"][keep],
            columns["Pz"][keep],
            columns["E"][keep],
            columns["Charge"][keep],
        )
    met_px, met_py = _met(arrays, "GenMissingET", location)
    return events.EventObjects.from_collections(
        met_px=met_px,
        met_py=met_py,
        jets=_collection(arrays, "GenJet", "j", acceptance, None, _jet_ids(arrays, "GenJet")),
        electrons=collections["electrons"],
        muons=collections["muons"],
        photons=collections["photons"],
    )


# ---------------------------------------------------------------------------- weights from the LHE file


def _lhe_positions(number: np.ndarray, previous: int, start: int, location: str) -> np.ndarray:
    """The LHE positions (from 0) of a chunk's Delphes events, from their event numbers."""
    if len(number) == 0:
        return number
    steps = np.diff(np.concatenate([[previous], number]))
    if number[0] < 1 or np.any(steps <= 0):
        bad = int(np.flatnonzero(steps <= 0)[0]) if np.any(steps <= 0) else 0
        before = previous if bad == 0 else int(number[bad - 1])
        raise InputError(
            f"{location}: the Delphes event numbers (Event.Number) must increase from 1 to match the events "
            f"to the LHE file; entry {start + bad} has number {int(number[bad])} after {before}. "
            "Read the weights from the Delphes file instead (weights='delphes')"
        )
    return number - 1


def _check_matched(delphes_weight: np.ndarray, lhe_weight: np.ndarray, location: str, lhe_path: Path) -> None:
    """The nominal weights of matched events must be proportional (Pythia may rescale them)."""
    usable = (lhe_weight != 0.0) & (delphes_weight != 0.0)
    if not usable.any():
        return
    ratio = delphes_weight[usable] / lhe_weight[usable]
    spread = np.abs(ratio / np.median(ratio) - 1.0)
    if spread.max() > _WEIGHT_MATCH_TOLERANCE:
        bad = int(np.flatnonzero(usable)[int(np.argmax(spread))])
        raise InputError(
            f"{location}: the Delphes events do not match the events of {lhe_path}: event {bad} of the "
            f"chunk has nominal weight {delphes_weight[bad]:g} in Delphes and {lhe_weight[bad]:g} in the LHE "
            "file, not proportional to the others. Was the Delphes file made from this LHE file?"
        )


class _LHEWeights:
    """The weights of an LHE file, served for increasing event positions while streaming it."""

    def __init__(self, path: Path, chunk_size: int) -> None:
        self.path = path
        self._chunks = iter_lhe_events(path, chunk_size=chunk_size)
        self._start = 0  # position of the first buffered event
        self._nominal = np.zeros(0)
        self._named: dict[str, np.ndarray] = {}
        self.n_read = 0
        self.nominal_sum = 0.0

    def _load(self) -> bool:
        chunk = next(self._chunks, None)
        if chunk is None:
            return False
        self.n_read += chunk.n_events
        self.nominal_sum += float(np.sum(chunk.weight))
        self._nominal = np.concatenate([self._nominal, chunk.weight])
        if not self._named:
            self._named = {key: np.zeros(0) for key in chunk.weights}
        if set(chunk.weights) != set(self._named):
            raise InputError(
                f"{self.path}: the events from line {int(chunk.event_line[0])} carry the weights "
                f"{sorted(chunk.weights)}, earlier events {sorted(self._named)}"
            )
        self._named = {key: np.concatenate([value, chunk.weights[key]]) for key, value in self._named.items()}
        return True

    def take(self, positions: np.ndarray, location: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Nominal and named weights of the LHE events at ``positions`` (increasing, past earlier calls)."""
        if len(positions) == 0:
            return np.zeros(0), {key: np.zeros(0) for key in self._named}
        needed = int(positions[-1]) + 1
        while self._start + len(self._nominal) < needed:
            if not self._load():
                beyond = int(positions[positions >= self.n_read][0]) + 1
                raise InputError(
                    f"{location}: Delphes event number {beyond} is beyond the {self.n_read} events of "
                    f"{self.path}"
                )
        local = positions - self._start
        nominal = self._nominal[local]
        named = {key: value[local] for key, value in self._named.items()}
        drop = needed - self._start
        self._nominal = self._nominal[drop:]
        self._named = {key: value[drop:] for key, value in self._named.items()}
        self._start = needed
        return nominal, named

    def finish(self) -> None:
        """Read the rest of the file, for the number of events and the sum of nominal weights."""
        while self._load():
            self._start += len(self._nominal)
            self._nominal = np.zeros(0)
            self._named = {key: np.zeros(0) for key in self._named}


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".hepmc3", ".hepmc2", ".hepmc", ".hep"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name
