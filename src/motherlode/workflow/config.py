"""The workflow configuration: one YAML file, validated section by section.

Every section is optional; a workflow runs the sections it has, in the order of the chain
(``setup`` -> ``events`` -> ``sampling`` -> ``training`` -> ``evaluation`` ->
``fisher_information`` -> ``limits`` -> ``plots`` -> ``report``). A section that needs the output of
an earlier one which the file does not have takes it from ``inputs`` (an existing setup or events
file, trained models). Unknown keys
are errors (a typo must not be silently ignored), and each error names its field
(:func:`motherlode.workflow.validate_config` turns them into one message, a line per field):

>>> from motherlode.workflow import validate_config
>>> validate_config({"limits": {"theta_true": [0, 0], "grid_ranges": [[-1, 1]], "luminosity": 1e3,
...     "analyses": [{"name": "r", "mode": "rte"}]}}, "workflow.yaml")
Traceback (most recent call last):
...
motherlode.errors.ConfigError: workflow.yaml: 1 problem(s)
  limits.analyses.0.mode: Input should be 'rate', 'histo', 'ml', 'sally', 'sallino' or 'adaptive-sally'
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "Analysis",
    "Cluster",
    "Evaluation",
    "Events",
    "FisherInformationConfig",
    "HistogramInformation",
    "Inputs",
    "LimitsConfig",
    "MLflow",
    "Observable",
    "Parameter",
    "Plots",
    "Report",
    "SampleRequest",
    "Sampling",
    "Setup",
    "Smearing",
    "ThetaSpec",
    "Training",
    "WorkflowConfig",
]

#: The steps of a workflow, in the order of the chain.
STEPS = (
    "setup", "events", "sampling", "training", "evaluation",
    "fisher_information", "limits", "plots", "report",
)  # fmt: skip


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------------------------- setup


class Parameter(_Section):
    """A parameter of interest: ``MadMiner.add_parameter``'s arguments."""

    name: str
    lha_block: str
    lha_id: int
    morphing_max_power: int = 2
    parameter_range: tuple[float, float] = (0.0, 1.0)
    param_card_transform: str | None = None


class Morphing(_Section):
    """``MadMiner.set_morphing``'s arguments."""

    max_overall_power: int = 4
    n_bases: int = 1
    include_existing_benchmarks: bool = True
    n_trials: int = 100
    n_test_thetas: int = 100


class Systematic(_Section):
    """``MadMiner.add_systematics``'s arguments."""

    effect: Literal["norm", "scale", "pdf"]
    name: str | None = None
    norm_variation: float = 1.1
    scale: Literal["mu", "mur", "muf"] = "mu"
    scale_variations: tuple[float, ...] = (0.5, 1.0, 2.0)
    pdf_variation: str = "CT10"


class Setup(_Section):
    """Parameters, benchmarks (name -> parameter values), morphing and systematics: ``setup.h5``."""

    parameters: list[Parameter] = Field(min_length=1)
    benchmarks: dict[str, dict[str, float]] = Field(min_length=1)
    morphing: Morphing | None = Morphing()
    systematics: list[Systematic] = []

    @model_validator(mode="after")
    def _benchmarks_name_every_parameter(self) -> Setup:
        names = [p.name for p in self.parameters]
        for benchmark, values in self.benchmarks.items():
            if sorted(values) != sorted(names):
                raise ValueError(
                    f"benchmark {benchmark!r} gives values for {sorted(values)}, "
                    f"expected the parameters {names}"
                )
        return self


# ---------------------------------------------------------------------------------------------- events


class LHESample(_Section):
    """One LHE file: ``LHEReader.add_sample``'s arguments (``file`` relative to the config file)."""

    file: Path
    sampled_from_benchmark: str | None = None
    is_background: bool = False
    k_factor: float = 1.0
    systematics: list[str] | None = None


class Smearing(_Section):
    """``LHEReader.set_smearing`` for one group of particles."""

    pdgids: list[int] | None = None
    energy_resolution_abs: float | None = 0.0
    energy_resolution_rel: float | None = 0.0
    pt_resolution_abs: float | None = 0.0
    pt_resolution_rel: float | None = 0.0
    eta_resolution_abs: float = 0.0
    eta_resolution_rel: float = 0.0
    phi_resolution_abs: float = 0.0
    phi_resolution_rel: float = 0.0


class MetNoise(_Section):
    """``LHEReader.set_met_noise``."""

    abs_: float = Field(0.0, alias="abs")
    rel: float = 0.0


class Observable(_Section):
    """``LHEReader.add_observable``: a name and an expression of the event (docs/events.md)."""

    name: str
    definition: str
    required: bool = False
    default: float | None = None


class Events(_Section):
    """Reading LHE files into ``events.h5`` (then shuffled), with the detector model and selection."""

    samples: list[LHESample] = Field(min_length=1)
    smearing: list[Smearing] = []
    met_noise: MetNoise | None = None
    observables: list[Observable] = Field(min_length=1)
    cuts: list[str] = []
    efficiencies: list[str] = []
    shuffle: bool = True


# ---------------------------------------------------------------------------------------------- sampling


class RandomMorphingPoints(_Section):
    """``sampling.random_morphing_points(n, priors)``: priors as ``[shape, a, b]`` per parameter."""

    n: int = Field(gt=0)
    priors: list[tuple[Literal["gaussian", "flat"], float, float]]


class ThetaSpec(_Section):
    """Where samples are drawn or evaluated: exactly one of the keys, as in ``motherlode.sampling``."""

    benchmark: str | None = None
    benchmarks: list[str] | None = None
    morphing_point: list[float] | None = None
    morphing_points: list[list[float]] | None = None
    random_morphing_points: RandomMorphingPoints | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ThetaSpec:
        given = [k for k, v in self.__dict__.items() if v is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of benchmark, benchmarks, morphing_point, morphing_points, "
                f"random_morphing_points (got {given or 'none'})"
            )
        return self


class SampleRequest(_Section):
    """One training or test sample (``SampleAugmenter.sample_*``), saved as ``samples/<kind>_<name>.npy``."""

    name: str
    type: Literal["local", "ratio", "test", "density", "plain"]
    n_samples: int = Field(gt=0)
    theta: ThetaSpec | None = None
    theta0: ThetaSpec | None = None
    theta1: ThetaSpec | None = None
    sample_only_from_closest_benchmark: bool = True
    nuisance_score: bool | str = "auto"

    @model_validator(mode="after")
    def _points_of_the_type(self) -> SampleRequest:
        if self.type == "ratio":
            if self.theta0 is None or self.theta1 is None or self.theta is not None:
                raise ValueError("a ratio sample needs theta0 and theta1 (and no theta)")
        elif self.theta is None or self.theta0 is not None or self.theta1 is not None:
            raise ValueError(f"a {self.type} sample needs theta (and no theta0 or theta1)")
        return self


class Sampling(_Section):
    """Training and test samples from the events file; ``test_split`` keeps events for evaluation."""

    test_split: float = Field(0.2, ge=0.0, lt=1.0)
    validation_split: float = Field(0.2, ge=0.0, lt=1.0)
    samples: list[SampleRequest] = Field(min_length=1)

    @field_validator("samples")
    @classmethod
    def _unique_names(cls, samples: list[SampleRequest]) -> list[SampleRequest]:
        _check_unique([s.name for s in samples], "sample")
        return samples


# ---------------------------------------------------------------------------------------------- training

#: The sample type each training method learns from.
METHOD_SAMPLE_TYPES = {
    "sally": "local", "sallino": "local",
    "carl": "ratio", "rolr": "ratio", "rascal": "ratio", "cascal": "ratio",
    "alice": "ratio", "alices": "ratio",
    "nde": "density", "scandal": "density",
}  # fmt: skip


class Training(_Section):
    """One estimator (or ensemble) trained on one sample, saved as ``models/<name>``."""

    name: str
    method: Literal[
        "sally", "sallino", "carl", "rolr", "rascal", "cascal", "alice", "alices",
        "nde", "scandal",
    ]  # fmt: skip
    sample: str
    n_hidden: tuple[int, ...] = (100,)
    activation: Literal["tanh", "sigmoid", "relu", "lrelu"] = "tanh"
    n_epochs: int = Field(50, gt=0)
    batch_size: int = Field(128, gt=0)
    initial_lr: float | None = Field(None, gt=0)  # None: the estimator's default
    final_lr: float = Field(0.0001, gt=0)
    alpha: float = 1.0
    validation_split: float = Field(0.25, ge=0.0, lt=1.0)
    ensemble: int = Field(1, ge=1)
    options: dict[str, Any] = {}


class Evaluation(_Section):
    """A trained model evaluated on the observations of a sample: its score, or ``log r`` (ratio
    estimators) or ``log p`` (likelihood estimators) at ``thetas``."""

    name: str
    estimator: str
    sample: str
    thetas: list[list[float]] | None = None


# ---------------------------------------------------------------------------------------------- inference


class HistogramInformation(_Section):
    """``FisherInformation.histo_information`` of one observable."""

    observable: str
    bins: int | list[float] = 20
    histrange: tuple[float, float] | None = None


class FisherInformationConfig(_Section):
    """Fisher information at ``theta``: parton-level truth, the rate, histograms, score estimators."""

    theta: list[float]
    luminosity: float = Field(gt=0)
    truth: bool = True
    rate: bool = True
    histograms: list[HistogramInformation] = []
    estimators: list[str] = []


class Analysis(_Section):
    """One ``AsymptoticLimits.expected_limits`` call; ``estimator`` names a trained model."""

    name: str
    mode: Literal["rate", "histo", "ml", "sally", "sallino", "adaptive-sally"]
    estimator: str | None = None
    hist_vars: list[str] | None = None
    hist_bins: int | list[Any] | None = None
    include_xsec: bool | None = None
    options: dict[str, Any] = {}

    @model_validator(mode="after")
    def _estimator_where_needed(self) -> Analysis:
        if self.mode in ("ml", "sally", "sallino", "adaptive-sally") and self.estimator is None:
            raise ValueError(f"mode {self.mode!r} needs an estimator (the name of a trained model)")
        if self.mode == "histo" and not self.hist_vars:
            raise ValueError("mode 'histo' needs hist_vars (observables)")
        return self


class LimitsConfig(_Section):
    """Expected limits on a grid, at ``theta_true``, for several analyses."""

    theta_true: list[float]
    grid_ranges: list[tuple[float, float]]
    grid_resolutions: int | list[int] = 25
    luminosity: float = Field(gt=0)
    include_xsec: bool = True
    analyses: list[Analysis] = Field(min_length=1)

    @field_validator("analyses")
    @classmethod
    def _unique_names(cls, analyses: list[Analysis]) -> list[Analysis]:
        _check_unique([a.name for a in analyses], "analysis")
        return analyses


class Plots(_Section):
    """Which plots to draw (each needs its step's results); ``labels`` for the parameters' axes,
    ``observable_labels`` (name -> label) and ``benchmark_labels`` for the distributions."""

    morphing: bool = True
    distributions: list[str] | None = None
    distribution_benchmarks: list[str] | None = None
    observable_labels: dict[str, str] = {}
    benchmark_labels: list[str] | None = None
    fisher_information: bool = True
    limits: bool = True
    labels: list[str] | None = None
    format: Literal["png", "pdf", "svg"] = "png"


class Report(_Section):
    """A short report of the numbers and plots: ``report.md`` (and ``report.html``).
    ``description``: a paragraph under the title; ``notes``: Markdown files (relative to the output
    folder) whose text is included after the results."""

    title: str = "motherlode analysis"
    description: str | None = None
    html: bool = True
    notes: list[Path] = []


class MLflow(_Section):
    """Log the training losses to MLflow (which must be installed): one MLflow run per model, its
    parameters and the loss per epoch (``train_loss``, ``val_loss``; ``..._member_<i>`` in
    ensembles)."""

    tracking_uri: str | None = None
    experiment: str = "motherlode"


class Cluster(_Section):
    """Where the reading (one task per file or chunk), sampling (one per batch of events) and ensemble
    training (one per member) run as Dask tasks (docs/scale.md). Their outputs are the same as without a
    cluster, except ensembles, whose members then train with one seed each.

    ``kind``: ``local`` (a ``LocalCluster`` of ``n_workers`` processes on this machine),
    ``address`` (an existing Dask scheduler at ``address``), or a batch system through
    dask-jobqueue (``slurm``, ``htcondor``, ``pbs``, ``sge``, ``lsf``: ``n_workers`` workers in
    batch jobs; ``options`` are the keyword arguments of its cluster class, e.g. ``cores``,
    ``memory``, ``queue``, ``walltime``). ``options`` also go to ``LocalCluster``.
    """

    kind: Literal["local", "address", "slurm", "htcondor", "pbs", "sge", "lsf"] = "local"
    n_workers: Annotated[int, Field(ge=1)] = 2
    address: str | None = None
    options: dict[str, Any] = {}

    @model_validator(mode="after")
    def _address_for_kind_address(self) -> Cluster:
        if (self.kind == "address") != (self.address is not None):
            raise ValueError("address is needed for kind 'address', and only for it")
        return self


class Inputs(_Section):
    """Files made elsewhere, for workflows that start later in the chain (paths relative to the
    config file): a setup file, an events file, trained models by name."""

    setup: Path | None = None
    events: Path | None = None
    models: dict[str, Path] = {}


class WorkflowConfig(_Section):
    """A whole workflow: settings and the sections of the chain that it runs.

    ``output`` is the folder of every artefact (relative to the current directory; input paths
    are relative to the config file); ``random_state``
    seeds every random step; ``device`` is where networks train (``auto``: CUDA when present);
    ``cluster`` runs the heavy steps as Dask tasks (:class:`Cluster`).
    """

    output: Path = Path("results")
    random_state: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    cluster: Cluster | None = None
    mlflow: MLflow | None = None
    inputs: Inputs = Inputs()
    setup: Setup | None = None
    events: Events | None = None
    sampling: Sampling | None = None
    training: Annotated[list[Training], Field(min_length=1)] | None = None
    evaluation: Annotated[list[Evaluation], Field(min_length=1)] | None = None
    fisher_information: FisherInformationConfig | None = None
    limits: LimitsConfig | None = None
    plots: Plots | None = None
    report: Report | None = None

    @field_validator("training")
    @classmethod
    def _unique_models(cls, training: list[Training] | None) -> list[Training] | None:
        if training is not None:
            _check_unique([t.name for t in training], "model")
        return training

    @field_validator("evaluation")
    @classmethod
    def _unique_evaluations(cls, evaluation: list[Evaluation] | None) -> list[Evaluation] | None:
        if evaluation is not None:
            _check_unique([e.name for e in evaluation], "evaluation")
        return evaluation

    @model_validator(mode="after")
    def _references_exist(self) -> WorkflowConfig:
        samples = {s.name for s in self.sampling.samples} if self.sampling else set()
        types = {s.name: s.type for s in self.sampling.samples} if self.sampling else {}
        for model in self.training or []:
            needed_type = METHOD_SAMPLE_TYPES[model.method]
            if model.sample in types and types[model.sample] != needed_type:
                raise ValueError(
                    f"training {model.name!r}: method {model.method!r} needs a {needed_type!r} sample, "
                    f"but {model.sample!r} is a {types[model.sample]!r} sample"
                )
        uses = [(f"training {m.name!r}", m.sample) for m in self.training or []]
        uses += [(f"evaluation {e.name!r}", e.sample) for e in self.evaluation or []]
        for user, sample in uses:
            if sample not in samples:
                known = sorted(samples) or "none"
                raise ValueError(f"{user}: sample {sample!r} is not among the sampling.samples ({known})")
        models = {t.name for t in self.training or []} | set(self.inputs.models)
        needed = [e.estimator for e in self.evaluation or []]
        needed += list(self.fisher_information.estimators) if self.fisher_information else []
        needed += [a.estimator for a in self.limits.analyses if a.estimator] if self.limits else []
        for name in needed:
            if name not in models:
                raise ValueError(
                    f"estimator {name!r} is neither trained (training) nor given (inputs.models): "
                    f"known models {sorted(models) or 'none'}"
                )
        return self

    def steps(self) -> list[str]:
        """The steps this workflow runs, in order."""
        return [step for step in STEPS if getattr(self, step) is not None]


def _check_unique(names: list[str], what: str) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise ValueError(f"two {what}s are named {name!r}")
        seen.add(name)
