"""The analysis setup: parameters, benchmarks, morphing, systematics, and its file."""

from __future__ import annotations

import logging
import math
import os
import shlex
import shutil
from collections.abc import Iterable, Mapping, Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any, cast

import numpy as np

from .. import fileformat
from ..errors import InputError, SetupError
from ..expressions import Expression
from ..models import (
    AnalysisParameter,
    Benchmark,
    FiniteDiffBenchmark,
    MaxPower,
    Systematic,
    SystematicScale,
    SystematicType,
    parse_scale_factors,
)
from ..morphing import PhysicsMorpher, RandomState
from ..parallel import ClientLike
from ..simulators import madgraph

__all__ = ["MadMiner"]

logger = logging.getLogger(__name__)

_THETA = frozenset({"theta"})


def _clean_name(name: str, what: str) -> str:
    """MadMiner's name convention: spaces and dashes become underscores."""
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{what} must be a non-empty string, got {name!r}")
    cleaned = name.strip().replace(" ", "_").replace("-", "_")
    if cleaned != name:
        logger.info("%s %r renamed to %r", what, name, cleaned)
    return cleaned


def _as_float(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real | np.floating | np.integer):
        raise InputError(f"{what} must be a real number, got {type(value).__name__} {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise InputError(f"{what} must be finite, got {result}")
    return result


def _as_max_power(value: Any, what: str) -> MaxPower:
    def one(power: Any) -> int:
        if isinstance(power, bool) or not isinstance(power, Integral) or power < 0:
            raise InputError(f"{what} must be a non-negative integer or a tuple of them, got {value!r}")
        return int(power)

    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) == 0:
            raise InputError(f"{what}: an empty tuple of powers")
        return tuple(one(p) for p in value)
    return one(value)


class MadMiner:
    """The central class of an analysis setup.

    It is used in four steps: define the parameter space with :meth:`add_parameter`; define
    the benchmarks, where MadGraph evaluates the squared matrix elements, with
    :meth:`add_benchmark` or, with morphing, :meth:`set_morphing`; save the setup with
    :meth:`save` (and read it back with :meth:`load`); then generate events.

    Attributes
    ----------
    parameters : dict of str to AnalysisParameter
        The parameters, in theta-vector order.
    benchmarks : dict of str to Benchmark
        The benchmarks; with morphing, the basis comes first.
    morpher : PhysicsMorpher or None
        The morphing setup, if any.
    systematics : dict of str to Systematic
        The systematic uncertainties.
    finite_difference_benchmarks : dict of str to FiniteDiffBenchmark
        Base benchmarks and their shifted partners, after :meth:`finite_differences`.
    finite_difference_epsilon : float
        The shift used for finite differences.

    Examples
    --------
    >>> miner = MadMiner()
    >>> miner.add_parameter("SMEFT", 7, parameter_name="cHW", parameter_range=(-1.0, 1.0))
    >>> miner.add_parameter("SMEFT", 25, parameter_name="cHq3", parameter_range=(-1.0, 1.0))
    >>> miner.add_benchmark({"cHW": 0.0, "cHq3": 0.0}, "sm")
    >>> miner.set_morphing(max_overall_power=2, include_existing_benchmarks=True, random_state=0)
    >>> len(miner.benchmarks), miner.morpher.n_components
    (6, 6)
    """

    def __init__(self) -> None:
        self.parameters: dict[str, AnalysisParameter] = {}
        self.benchmarks: dict[str, Benchmark] = {}
        self.default_benchmark: str | None = None
        self.morpher: PhysicsMorpher | None = None
        self.export_morphing = False
        self.systematics: dict[str, Systematic] = {}
        self.finite_difference_benchmarks: dict[str, FiniteDiffBenchmark] = {}
        self.finite_difference_epsilon = 0.0
        self._transforms: dict[str, Expression] = {}

    def __repr__(self) -> str:
        morphing = f"{self.morpher.n_components} components" if self.morpher is not None else "no morphing"
        return (
            f"<MadMiner: {len(self.parameters)} parameters, {len(self.benchmarks)} benchmarks, {morphing}, "
            f"{len(self.systematics)} systematics>"
        )

    # ------------------------------------------------------------------ resets

    def _reset_benchmarks(self) -> None:
        if self.benchmarks:
            logger.warning("Resetting benchmarks and morphing: the parameters changed")
        self.benchmarks = {}
        self.default_benchmark = None
        self.finite_difference_benchmarks = {}
        self.finite_difference_epsilon = 0.0
        self._reset_morpher()

    def _reset_morpher(self) -> None:
        self.morpher = None
        self.export_morphing = False

    # ------------------------------------------------------------------ parameters

    def add_parameter(
        self,
        lha_block: str,
        lha_id: int,
        parameter_name: str | None = None,
        param_card_transform: str | None = None,
        morphing_max_power: int | tuple[int, ...] = 2,
        parameter_range: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        """Add a parameter of interest.

        Adding a parameter resets all benchmarks and the morphing setup.

        Parameters
        ----------
        lha_block : str
            The param_card block name.
        lha_id : int
            The entry in that block.
        parameter_name : str, optional
            Internal name; default ``parameter_<i>``. Spaces and dashes become underscores.
        param_card_transform : str, optional
            An expression in ``theta`` for the value written to the param_card, e.g.
            ``"16.52*theta"``; evaluated by motherlode's safe expression engine, never by
            ``eval``. None means the identity.
        morphing_max_power : int or tuple of int
            Maximal power of this parameter in the squared matrix element; a tuple gives it
            for each of several operator configurations. Default 2.
        parameter_range : (float, float)
            The range of interest, used for the morphing-basis optimisation. Default (0, 1).

        Raises
        ------
        SetupError
            If the name or the LHA entry is taken.
        InputError
            If an argument has the wrong type or value.
        ExpressionError
            If the transform is not a valid expression in ``theta``.
        """
        if parameter_name is None:
            parameter_name = f"parameter_{len(self.parameters)}"
        name = _clean_name(parameter_name, "parameter_name")
        if not isinstance(lha_block, str) or not lha_block.strip():
            raise InputError(f"lha_block of parameter {name!r} must be a non-empty string, got {lha_block!r}")
        if isinstance(lha_id, bool) or not isinstance(lha_id, Integral):
            raise InputError(f"lha_id of parameter {name!r} must be an integer, got {lha_id!r}")
        if name in self.parameters:
            raise SetupError(f"Parameter {name!r} exists already")
        for other in self.parameters.values():
            if other.lha_block.lower() == lha_block.lower() and other.lha_id == int(lha_id):
                raise SetupError(
                    f"Parameter {name!r}: LHA entry {lha_block} {lha_id} is already used by "
                    f"parameter {other.name!r}"
                )
        max_power = _as_max_power(morphing_max_power, f"morphing_max_power of parameter {name!r}")
        value_range = self._check_range(parameter_range, name)
        transform = self._check_transform(param_card_transform, name)
        self.parameters[name] = AnalysisParameter(
            name, lha_block, int(lha_id), max_power, value_range, transform
        )
        logger.info("Added parameter %s", self.parameters[name])
        self._reset_benchmarks()

    @staticmethod
    def _check_range(parameter_range: Any, name: str) -> tuple[float, float]:
        if not isinstance(parameter_range, Sequence | np.ndarray) or len(parameter_range) != 2:
            raise InputError(
                f"parameter_range of parameter {name!r} must be (min, max), got {parameter_range!r}"
            )
        low = _as_float(parameter_range[0], f"parameter_range[0] of parameter {name!r}")
        high = _as_float(parameter_range[1], f"parameter_range[1] of parameter {name!r}")
        if not low < high:
            raise InputError(
                f"parameter_range of parameter {name!r} must have min < max, got ({low}, {high})"
            )
        return (low, high)

    def _check_transform(self, transform: str | None, name: str) -> str | None:
        if transform is None:
            self._transforms.pop(name, None)
            return None
        if not isinstance(transform, str):
            raise InputError(
                f"param_card_transform of parameter {name!r} must be a string, got {transform!r}"
            )
        self._transforms[name] = Expression(
            transform, names=_THETA, context=f"param_card_transform of parameter {name!r}"
        )
        return transform

    def set_parameters(self, parameters: Mapping[str, Any] | Sequence[tuple[Any, ...]] | None = None) -> None:
        """Set all parameters at once, replacing the existing ones (and resetting benchmarks).

        Parameters
        ----------
        parameters : dict or list or None
            None resets the parameters. A dict maps names to tuples
            ``(lha_block, lha_id)``, ``(lha_block, lha_id, morphing_max_power, param_min, param_max)``
            or the same with a ``param_card_transform`` appended, or to
            :class:`~motherlode.models.AnalysisParameter` records. A list holds
            ``(lha_block, lha_id)`` tuples (names are chosen automatically).
        """
        self.parameters = {}
        self._transforms = {}
        self._reset_benchmarks()
        if parameters is None:
            return
        if isinstance(parameters, Mapping):
            for name, spec in parameters.items():
                self._add_parameter_from_spec(spec, name)
        elif isinstance(parameters, Sequence) and not isinstance(parameters, str):
            for spec in parameters:
                self._add_parameter_from_spec(spec, None)
        else:
            raise InputError(f"parameters must be a dict, a list or None, got {type(parameters).__name__}")

    def _add_parameter_from_spec(self, spec: Any, name: str | None) -> None:
        if isinstance(spec, AnalysisParameter):
            self.add_parameter(
                spec.lha_block, spec.lha_id, name or spec.name, spec.transform, spec.max_power, spec.val_range
            )
            return
        if not isinstance(spec, Sequence) or isinstance(spec, str) or len(spec) not in (2, 5, 6):
            raise InputError(
                f"parameter {name!r}: expected (lha_block, lha_id), (lha_block, lha_id, morphing_max_power, "
                f"param_min, param_max) or that plus param_card_transform, got {spec!r}"
            )
        if len(spec) == 2:
            self.add_parameter(spec[0], spec[1], name)
        else:
            transform = spec[5] if len(spec) == 6 else None
            self.add_parameter(spec[0], spec[1], name, transform, spec[2], (spec[3], spec[4]))

    def param_card_value(self, parameter_name: str, theta: float | np.ndarray) -> float | np.ndarray:
        """The param_card value of a parameter at ``theta``, through its ``param_card_transform``.

        Examples
        --------
        >>> miner = MadMiner()
        >>> miner.add_parameter("dim6", 2, "CWL2", param_card_transform="16.52*theta")
        >>> float(miner.param_card_value("CWL2", 0.5))
        8.26
        """
        if parameter_name not in self.parameters:
            raise SetupError(f"Unknown parameter {parameter_name!r}; parameters: {list(self.parameters)}")
        expression = self._transforms.get(parameter_name)
        if expression is None:
            return theta
        return expression(theta=theta)

    def param_card_entries(self, benchmark_name: str) -> list[tuple[str, int, float]]:
        """The ``(lha_block, lha_id, value)`` entries a param_card needs at a benchmark."""
        benchmark = self._get_benchmark(benchmark_name)
        return [
            (p.lha_block, p.lha_id, float(self.param_card_value(name, benchmark.values[name])))
            for name, p in self.parameters.items()
        ]

    # ------------------------------------------------------------------ benchmarks

    def _get_benchmark(self, name: str) -> Benchmark:
        try:
            return self.benchmarks[name]
        except KeyError:
            raise SetupError(f"Unknown benchmark {name!r}; benchmarks: {list(self.benchmarks)}") from None

    def _make_benchmark(self, parameter_values: Any, name: str) -> Benchmark:
        if not self.parameters:
            raise SetupError("Add parameters (add_parameter) before benchmarks")
        if not isinstance(parameter_values, Mapping):
            raise SetupError(
                f"Benchmark {name!r}: parameter_values must be a dict {{parameter_name: value}}, "
                f"got {type(parameter_values).__name__}"
            )
        unknown = [key for key in parameter_values if key not in self.parameters]
        if unknown:
            raise SetupError(
                f"Benchmark {name!r}: unknown parameters {unknown}; parameters: {list(self.parameters)}"
            )
        missing = [key for key in self.parameters if key not in parameter_values]
        if missing:
            raise SetupError(f"Benchmark {name!r}: no value for parameters {missing}")
        values = {
            key: _as_float(parameter_values[key], f"benchmark {name!r} value of {key!r}")
            for key in self.parameters
        }
        return Benchmark(name, values)

    def _insert_benchmark(self, benchmark: Benchmark, verbose: bool) -> None:
        if benchmark.name in self.benchmarks:
            raise SetupError(f"Benchmark {benchmark.name!r} exists already")
        point = list(benchmark.values.values())
        for other in self.benchmarks.values():
            if list(other.values.values()) == point:
                logger.warning("Benchmark %r has the same parameter values as %r", benchmark.name, other.name)
        self.benchmarks[benchmark.name] = benchmark
        if self.default_benchmark is None:
            self.default_benchmark = benchmark.name
        logger.log(logging.INFO if verbose else logging.DEBUG, "Added benchmark %s", benchmark)

    def add_benchmark(
        self, parameter_values: Mapping[str, float], benchmark_name: str | None = None, verbose: bool = True
    ) -> None:
        """Add a benchmark, a parameter point at which MadGraph will compute weights.

        Define the benchmarks of the morphing basis first, then complete the basis with
        :meth:`set_morphing`. A benchmark added after that (for instance a point that an existing
        sample is reweighted to, as in MadMiner's tutorial) keeps the morphing setup, as MadMiner
        0.9.6 does: the new benchmark is not part of the basis, so its morphing weight is 0.

        Parameters
        ----------
        parameter_values : dict
            A value for every parameter, keyed by parameter name.
        benchmark_name : str, optional
            Default ``benchmark_<i>``.
        verbose : bool
            Log the benchmark at INFO (True) or DEBUG level.

        Raises
        ------
        SetupError
            If the name is taken, ``parameter_values`` is not a dict, or it names unknown
            parameters or misses some.
        """
        if benchmark_name is None:
            benchmark_name = f"benchmark_{len(self.benchmarks)}"
        name = _clean_name(benchmark_name, "benchmark_name")
        self._insert_benchmark(self._make_benchmark(parameter_values, name), verbose)
        if self.morpher is not None and self.morpher.morphing_matrix is not None:
            logger.info(
                "Benchmark %r added after set_morphing: it is not part of the morphing basis (%d benchmarks)",
                name,
                self.morpher.morphing_matrix.shape[1],
            )

    def set_benchmarks(
        self,
        benchmarks: Mapping[str, Any] | Sequence[Mapping[str, float]] | None = None,
        verbose: bool = True,
    ) -> None:
        """Set all benchmarks at once, replacing the existing ones and any morphing setup.

        Parameters
        ----------
        benchmarks : dict or list or None
            None removes all benchmarks. A dict maps names to ``{parameter_name: value}`` dicts
            (or :class:`~motherlode.models.Benchmark` records); a list holds such dicts, named
            automatically.
        verbose : bool
            Log each benchmark at INFO (True) or DEBUG level.
        """
        self.benchmarks = {}
        self.default_benchmark = None
        self.finite_difference_benchmarks = {}
        if self.morpher is not None:
            logger.warning("Benchmarks replaced: the morphing setup is reset")
        self._reset_morpher()
        if benchmarks is None:
            return
        if isinstance(benchmarks, Mapping):
            for name, values in benchmarks.items():
                values = values.values if isinstance(values, Benchmark) else values
                self.add_benchmark(values, name, verbose=verbose)
        elif isinstance(benchmarks, Sequence) and not isinstance(benchmarks, str):
            for values in benchmarks:
                self.add_benchmark(values, verbose=verbose)
        else:
            raise SetupError(f"benchmarks must be a dict, a list or None, got {type(benchmarks).__name__}")

    # ------------------------------------------------------------------ morphing

    def set_morphing(
        self,
        max_overall_power: int | tuple[int, ...] = 4,
        n_bases: int = 1,
        include_existing_benchmarks: bool = True,
        n_trials: int = 100,
        n_test_thetas: int = 100,
        random_state: RandomState = None,
    ) -> None:
        """Set up morphing: find the components and complete an optimised basis of benchmarks.

        The basis minimises the expected sum of squared morphing weights over the parameter
        ranges; every candidate basis is scored on the same test points.

        Parameters
        ----------
        max_overall_power : int or tuple of int
            Maximal total power of all parameters in the squared matrix element (per operator
            configuration); 2 per vertex the parameters enter. Default 4.
        n_bases : int
            Basis size in units of the number of components. With ``n_bases > 1`` the basis
            is over-complete and the morphing weights are the minimum-norm (least-squares)
            solution, which reduces the variance of morphed weights. Default 1.
        include_existing_benchmarks : bool
            If True, the existing benchmarks are part of the basis and only the remaining
            points are optimised (if there are more benchmarks than needed, all of them form an
            over-complete basis). If False, an independent basis is optimised and the existing
            benchmarks are kept after it, outside the basis.
        n_trials : int
            Number of random candidate bases. Default 100.
        n_test_thetas : int
            Number of test points to score candidates. Default 100.
        random_state : int or numpy Generator, optional
            Seed for a reproducible basis.

        Raises
        ------
        SetupError
            Without parameters.
        MorphingError
            If the fixed benchmarks make every basis singular.
        """
        if not self.parameters:
            raise SetupError("Add parameters (add_parameter) before set_morphing")
        morpher = PhysicsMorpher(parameters_from_madminer=self.parameters)
        morpher.find_components(max_overall_power)
        existing = dict(self.benchmarks)
        fixed = existing if include_existing_benchmarks and existing else None
        basis = morpher.optimize_basis(
            n_bases=n_bases,
            benchmarks_from_madminer=fixed,
            n_trials=n_trials,
            n_test_thetas=n_test_thetas,
            random_state=random_state,
        )
        assert isinstance(basis, dict)
        new_benchmarks = dict(basis)
        if not include_existing_benchmarks:
            clashes = [name for name in existing if name in new_benchmarks]
            if clashes:
                raise SetupError(f"Existing benchmarks {clashes} clash with the names of new basis points")
            new_benchmarks.update(existing)
        n_fixed = len(fixed) if fixed else 0
        self._replace_benchmarks(new_benchmarks, existing)
        self.morpher = morpher
        self.export_morphing = True
        n_benchmarks = morpher.n_benchmarks
        assert n_benchmarks is not None  # optimize_basis set the basis
        # without return_weights_and_thetas, evaluate_morphing returns the score, a float
        score = cast(float, morpher.evaluate_morphing(n_test_thetas=n_test_thetas, random_state=0))
        logger.info(
            "Set up morphing with %d parameters, %d components, %d basis points (%d predefined, %d new); "
            "expected sum of squared morphing weights %.3g",
            morpher.n_parameters,
            morpher.n_components,
            morpher.n_benchmarks,
            min(n_fixed, n_benchmarks),
            n_benchmarks - n_fixed,
            -score,
        )

    def _replace_benchmarks(self, new: Mapping[str, Benchmark], old: Mapping[str, Benchmark]) -> None:
        self.benchmarks = {}
        self.default_benchmark = None
        for name, benchmark in new.items():
            previous = old.get(name)
            self._insert_benchmark(previous if previous is not None else benchmark, verbose=previous is None)

    def set_benchmarks_from_morphing(
        self,
        max_overall_power: int | tuple[int, ...] = 4,
        n_bases: int = 1,
        include_existing_benchmarks: bool = True,
        n_trials: int = 100,
        n_test_thetas: int = 100,
        random_state: RandomState = None,
        keep_existing_benchmarks: bool | None = None,
    ) -> None:
        """The older name of :meth:`set_morphing`; ``keep_existing_benchmarks`` is an alias of
        ``include_existing_benchmarks``."""
        if keep_existing_benchmarks is not None:
            include_existing_benchmarks = keep_existing_benchmarks
        self.set_morphing(
            max_overall_power, n_bases, include_existing_benchmarks, n_trials, n_test_thetas, random_state
        )

    # ------------------------------------------------------------------ finite differences

    def finite_differences(self, epsilon: float = 0.01) -> None:
        """Add, for every benchmark and parameter, a benchmark shifted by ``epsilon`` in that parameter.

        The shifted benchmarks are named ``<benchmark>_plus_<parameter>``; the score at a base
        benchmark is then estimated by finite differences, without morphing. Calling it again
        replaces the previous shifted benchmarks.
        """
        epsilon = _as_float(epsilon, "epsilon")
        if epsilon == 0.0:
            raise InputError("epsilon must be non-zero")
        shifted_names = {
            n for fd in self.finite_difference_benchmarks.values() for n in fd.shift_names.values()
        }
        bases = [b for name, b in self.benchmarks.items() if name not in shifted_names]
        for name in shifted_names:
            self.benchmarks.pop(name, None)
        self.finite_difference_benchmarks = {}
        self.finite_difference_epsilon = epsilon
        for base in bases:
            shifts = {}
            for parameter in self.parameters:
                shifted = base.copy()
                shifted.name = f"{base.name}_plus_{parameter}"
                shifted.values[parameter] += epsilon
                self._insert_benchmark(shifted, verbose=False)
                shifts[parameter] = shifted.name
            self.finite_difference_benchmarks[base.name] = FiniteDiffBenchmark(base.name, shifts)
        logger.info(
            "Added finite-difference benchmarks for %d base benchmarks, epsilon = %s", len(bases), epsilon
        )

    # ------------------------------------------------------------------ systematics

    def add_systematics(
        self,
        effect: str,
        systematic_name: str | None = None,
        norm_variation: float = 1.1,
        scale: str = "mu",
        scale_variations: Iterable[float] = (0.5, 1.0, 2.0),
        pdf_variation: str = "CT10",
    ) -> None:
        """Add a source of systematic uncertainty.

        Parameters
        ----------
        effect : {"norm", "scale", "pdf"}
            A normalisation uncertainty, a scale variation, or PDF eigenvector variations.
        systematic_name : str, optional
            Default ``<effect>_<i>``.
        norm_variation : float
            For ``norm``: the factor on the cross section at the +1 sigma variation. Default 1.1.
        scale : {"mu", "mur", "muf"}
            For ``scale``: vary both scales, only the renormalisation or only the factorisation
            scale. Default "mu".
        scale_variations : tuple of float
            For ``scale``: the factors the scales are varied by. Default (0.5, 1.0, 2.0).
        pdf_variation : str
            For ``pdf``: the LHAPDF set whose eigenvectors give the variations. Default "CT10".

        Raises
        ------
        InputError
            For an unknown effect or scale, or invalid variations.
        SetupError
            If the name is taken.
        """
        kind = SystematicType.from_str(effect)
        if systematic_name is None:
            i = 0
            while f"{kind.value}_{i}" in self.systematics:
                i += 1
            systematic_name = f"{kind.value}_{i}"
        name = _clean_name(systematic_name, "systematic_name")
        if name in self.systematics:
            raise SetupError(f"Systematic {name!r} exists already")
        if kind is SystematicType.NORM:
            value = _as_float(norm_variation, f"norm_variation of systematic {name!r}")
            if value <= 0.0:
                raise InputError(f"norm_variation of systematic {name!r} must be positive, got {value}")
            systematic = Systematic(name, kind, value)
        elif kind is SystematicType.SCALE:
            factors = parse_scale_factors(
                scale_variations, context=f"scale_variations of systematic {name!r}"
            )
            systematic = Systematic(
                name, kind, ",".join(str(f) for f in factors), SystematicScale.from_str(scale)
            )
        else:
            if not isinstance(pdf_variation, str) or not pdf_variation.strip():
                raise InputError(f"pdf_variation of systematic {name!r} must be an LHAPDF set name")
            systematic = Systematic(name, kind, pdf_variation.strip())
        self.systematics[name] = systematic
        logger.info("Added systematic %s", systematic)

    def reset_systematics(self) -> None:
        """Remove all systematic uncertainties."""
        self.systematics = {}

    # ------------------------------------------------------------------ files

    def _setup_data(self) -> fileformat.SetupData:
        return fileformat.SetupData(
            parameters=dict(self.parameters),
            benchmarks={name: Benchmark(name, dict(b.values)) for name, b in self.benchmarks.items()},
            morphing_components=None if self.morpher is None else self.morpher.components,
            morphing_matrix=None if self.morpher is None else self.morpher.morphing_matrix,
            systematics=dict(self.systematics),
            finite_differences=dict(self.finite_difference_benchmarks),
            finite_difference_epsilon=self.finite_difference_epsilon,
        )

    def save(self, filename: str | os.PathLike[str]) -> None:
        """Save the setup to a new MadMiner HDF5 file (replacing any file at that path).

        The file holds the parameters, benchmarks, morphing setup (if any), finite-difference
        benchmarks (if any) and systematics (if any); later stages add events to copies of it.
        The write is atomic: on any error the previous file (if any) is left unchanged.
        """
        if not self.parameters:
            raise SetupError("Nothing to save: no parameters defined")
        fileformat.save_setup(filename, self._setup_data())
        logger.info(
            "Saved setup (%s) to %s",
            "with morphing" if self.morpher is not None else "without morphing",
            filename,
        )

    def load(self, filename: str | os.PathLike[str], disable_morphing: bool = False) -> None:
        """Load a setup from a MadMiner or motherlode file, replacing everything in this object.

        Parameters
        ----------
        filename : path-like
            The file.
        disable_morphing : bool
            If True, the morphing setup in the file is ignored.
        """
        setup = fileformat.read_setup(filename, include_nuisance_benchmarks=False)
        self.parameters = {}
        self._transforms = {}
        for name, parameter in setup.parameters.items():
            self._check_transform(parameter.transform, name)
            self.parameters[name] = parameter
        self.benchmarks = {name: Benchmark(name, dict(b.values)) for name, b in setup.benchmarks.items()}
        self.default_benchmark = next(iter(self.benchmarks), None)
        self.systematics = dict(setup.systematics)
        self.finite_difference_benchmarks = dict(setup.finite_differences)
        self.finite_difference_epsilon = setup.finite_difference_epsilon
        self._reset_morpher()
        if setup.has_morphing and setup.morphing_components is not None and not disable_morphing:
            morpher = PhysicsMorpher(parameters_from_madminer=self.parameters)
            morpher.set_components(setup.morphing_components)
            morpher.set_basis(self.benchmarks, morphing_matrix=setup.morphing_matrix)
            self.morpher = morpher
            self.export_morphing = True
        logger.info(
            "Loaded %s: %d parameters, %d benchmarks, %s, %d systematics",
            filename,
            len(self.parameters),
            len(self.benchmarks),
            "morphing" if self.morpher is not None else "no morphing",
            len(self.systematics),
        )

    # ------------------------------------------------------------------ event generation

    def run(
        self,
        mg_directory: str | os.PathLike[str],
        proc_card_file: str | os.PathLike[str],
        param_card_template_file: str | os.PathLike[str],
        run_card_file: str | os.PathLike[str] | None = None,
        mg_process_directory: str | os.PathLike[str] | None = None,
        pythia8_card_file: str | os.PathLike[str] | None = None,
        configuration_file: str | os.PathLike[str] | None = None,
        sample_benchmark: str | None = None,
        is_background: bool = False,
        only_prepare_script: bool = False,
        ufo_model_directory: str | os.PathLike[str] | None = None,
        log_directory: str | os.PathLike[str] | None = None,
        temp_directory: str | os.PathLike[str] | None = None,
        initial_command: str | None = None,
        systematics: Sequence[str] | None = None,
        order: str = "LO",
        python_executable: str | None = None,
        *,
        timeout: float | None = None,
        python2_override: bool = False,
    ) -> list[Path]:
        """Make the MadGraph process folder and its cards, and generate events for one run card and
        one sampling benchmark (or write the scripts that will).

        :meth:`run_multiple` with one run card and one benchmark (default: the first benchmark);
        see there for the arguments and what is returned.
        """
        if sample_benchmark is None:
            sample_benchmark = next(iter(self.benchmarks), None)
        return self.run_multiple(
            mg_directory,
            proc_card_file,
            param_card_template_file,
            [run_card_file],
            mg_process_directory=mg_process_directory,
            pythia8_card_file=pythia8_card_file,
            configuration_file=configuration_file,
            sample_benchmarks=None if sample_benchmark is None else [sample_benchmark],
            is_background=is_background,
            only_prepare_script=only_prepare_script,
            ufo_model_directory=ufo_model_directory,
            log_directory=log_directory,
            temp_directory=temp_directory,
            initial_command=initial_command,
            systematics=systematics,
            order=order,
            python_executable=python_executable,
            timeout=timeout,
            python2_override=python2_override,
        )

    def run_multiple(
        self,
        mg_directory: str | os.PathLike[str],
        proc_card_file: str | os.PathLike[str],
        param_card_template_file: str | os.PathLike[str],
        run_card_files: Sequence[str | os.PathLike[str] | None],
        mg_process_directory: str | os.PathLike[str] | None = None,
        pythia8_card_file: str | os.PathLike[str] | None = None,
        configuration_file: str | os.PathLike[str] | None = None,
        sample_benchmarks: Sequence[str] | None = None,
        is_background: bool = False,
        only_prepare_script: bool = False,
        ufo_model_directory: str | os.PathLike[str] | None = None,
        log_directory: str | os.PathLike[str] | None = None,
        temp_directory: str | os.PathLike[str] | None = None,
        initial_command: str | None = None,
        systematics: Sequence[str] | None = None,
        order: str = "LO",
        python_executable: str | None = None,
        *,
        n_workers: int = 1,
        timeout: float | None = None,
        python2_override: bool = False,
        client: ClientLike = None,
    ) -> list[Path]:
        """Make the MadGraph process folder and its cards, and generate events for every pair of run
        card and sampling benchmark (or write the scripts that will).

        Job ``i`` runs over the pairs (run cards outer, benchmarks inner), as in MadMiner: its
        cards are ``<process>/madminer/cards/{param,reweight,run,pythia8}_card_<i>.dat``, its log
        ``<log_directory>/run_<i>.log``, its events ``<process>/Events/run_<i+1>``;
        ``<process>/madminer/runs.json`` lists every run with its sampling benchmark. MadGraph never
        waits for an answer (its input is closed); a failure raises with the end of its log.

        Parameters
        ----------
        mg_directory
            The MadGraph installation (``bin/mg5_aMC``).
        proc_card_file
            The MadGraph commands that define the process (``import model ...``, ``generate ...``);
            ``output <process folder> -f`` is added.
        param_card_template_file
            The param card in which each parameter's entry is set to the sampling benchmark.
        run_card_files
            The run cards (None: the process folder's default card). Their systematics settings are
            replaced by MadMiner's for ``systematics``.
        mg_process_directory
            The process folder (default ``./MG_process``); it is made anew.
        pythia8_card_file
            A Pythia 8 card: events are showered (at NLO it is the shower card). None: no shower.
        configuration_file
            A ``me5_configuration.txt`` for the runs (None: MadGraph's).
        sample_benchmarks
            The benchmarks to sample from (default: every physics benchmark).
        is_background
            The process does not depend on the parameters: no reweighting.
        only_prepare_script
            Write the cards, ``madminer/scripts/run_<i>.sh`` and the master ``madminer/run.sh``
            (``run.sh [-j N] [MG_directory] [MG_process_directory] [log_dir]``) instead of running
            MadGraph's event generation. The process folder is generated either way.
        ufo_model_directory
            A UFO model folder, copied into MadGraph's ``models`` folder first.
        log_directory
            The logs (default ``./logs``): ``generate.log``, ``run_<i>.log``.
        temp_directory
            Where the generation commands are written (default: the system's temporary folder).
        initial_command
            Shell commands run before MadGraph, in the same shell (e.g. ``source venv/bin/activate``).
        systematics
            Names of the setup's systematics to set up in the run cards (default: all).
        order
            ``"LO"`` or ``"NLO"`` (the shower card instead of the Pythia 8 card; no systematics block).
        python_executable
            The Python that runs MadGraph; its folder is put first on ``PATH`` when there is no
            ``initial_command`` (MadMiner's behaviour).
        n_workers
            Jobs run at once (addition): each in its own copy of the process folder when more than
            one. Default 1: one after the other in the process folder.
        client
            Run the jobs as Dask tasks (addition; see :mod:`motherlode.parallel` and docs/scale.md),
            each in its own copy of the process folder, instead of ``n_workers`` local threads. The
            workers must see MadGraph and the process folder (a shared filesystem on a cluster).
        timeout
            Seconds after which a MadGraph call is stopped (addition; default: none).
        python2_override
            Accepted for MadMiner's documented signature; ignored (MadGraph runs on Python 3).

        Returns
        -------
        list of Path
            The run folders (``Events/run_<i+1>``) made, in job order; with ``only_prepare_script``,
            the master script.

        Raises
        ------
        ExternalCommandError
            If a MadGraph call fails or runs past ``timeout``.
        """
        del python2_override
        process = Path("./MG_process" if mg_process_directory is None else mg_process_directory)
        logs = Path("./logs" if log_directory is None else log_directory)
        benchmarks = list(self.benchmarks) if sample_benchmarks is None else list(sample_benchmarks)
        if isinstance(run_card_files, (str, os.PathLike)) or not run_card_files:
            raise InputError("run_card_files must be a non-empty list of run cards (or None entries)")
        for name in benchmarks:
            self._get_benchmark(name)
        used = self._systematics_used(systematics)
        if python_executable and initial_command is None:
            resolved = shutil.which(python_executable)
            if resolved is None:
                raise SetupError(f"python_executable {python_executable!r} is not found")
            initial_command = f"export PATH={shlex.quote(str(Path(resolved).parent))}:$PATH"
        template = madgraph.read_card(param_card_template_file, "param card template")
        pythia_card = (
            None if pythia8_card_file is None else madgraph.read_card(pythia8_card_file, "Pythia 8 card")
        )
        configuration = (
            None if configuration_file is None else madgraph.read_card(configuration_file, "configuration")
        )
        run_templates = [
            None if card is None else madgraph.read_card(card, "run card") for card in run_card_files
        ]
        madgraph.generate_process(
            mg_directory,
            proc_card_file,
            process,
            log_file=logs / "generate.log",
            ufo_model_directory=ufo_model_directory,
            initial_command=initial_command,
            python_executable=python_executable,
            temp_directory=temp_directory,
            timeout=timeout,
        )
        jobs: list[madgraph.MadGraphJob] = []
        for run_template in run_templates:
            for benchmark in benchmarks:
                jobs.append(
                    self._write_job_cards(
                        process, len(jobs), benchmark, template, run_template, pythia_card,
                        configuration, used, is_background, order, str(param_card_template_file),
                    )
                )  # fmt: skip
        madgraph.write_run_map(process, jobs, is_background)
        if only_prepare_script:
            master = madgraph.write_scripts(
                jobs,
                mg_directory,
                process,
                logs,
                order=order,
                initial_command=initial_command,
                python_executable=python_executable,
            )
            logger.info(
                "To generate the events, run:\n\n    %s [-j N] [MG_directory] [MG_process_directory] "
                "[log_dir]\n",
                master,
            )
            return [master]
        folders = madgraph.run_jobs(
            jobs,
            mg_directory,
            process,
            logs,
            n_workers=n_workers,
            order=order,
            initial_command=initial_command,
            python_executable=python_executable,
            timeout=timeout,
            client=client,
        )
        logger.info("MadGraph made the runs %s", ", ".join(str(folder) for folder in folders))
        return folders

    def _systematics_used(self, names: Sequence[str] | None) -> list[Systematic]:
        if names is None:
            return list(self.systematics.values())
        unknown = [name for name in names if name not in self.systematics]
        if unknown:
            raise SetupError(f"systematics {unknown} are not set up; set up: {list(self.systematics)}")
        return [self.systematics[name] for name in names]

    def _write_job_cards(
        self,
        process: Path,
        index: int,
        benchmark: str,
        param_template: str,
        run_template: str | None,
        pythia_card: str | None,
        configuration: str | None,
        systematics: list[Systematic],
        is_background: bool,
        order: str,
        template_name: str,
    ) -> madgraph.MadGraphJob:
        """The cards of job ``index`` in ``<process>/madminer/cards``; the job."""
        cards = Path("madminer") / "cards"
        names = {
            "param_card": cards / f"param_card_{index}.dat",
            "reweight_card": None if is_background else cards / f"reweight_card_{index}.dat",
            "run_card": None if run_template is None else cards / f"run_card_{index}.dat",
            "pythia8_card": None if pythia_card is None else cards / f"pythia8_card_{index}.dat",
            "configuration": None if configuration is None else cards / f"me5_configuration_{index}.txt",
            "commands": cards / f"mg_commands_{index}.dat",
        }
        physics = {
            name: self.param_card_entries(name) for name, b in self.benchmarks.items() if not b.is_nuisance
        }
        texts = {
            "param_card": madgraph.param_card(
                param_template, self.param_card_entries(benchmark), template_name
            ),
            "reweight_card": None if is_background else madgraph.reweight_card(physics, benchmark),
            "run_card": None if run_template is None else madgraph.run_card(run_template, systematics, order),
            "pythia8_card": pythia_card,
            "configuration": configuration,
            "commands": madgraph.launch_commands(
                "$mgprocdir", f"run_{index + 1:02d}", pythia_card is not None, not is_background, order
            ),
        }
        if run_template is None and any(
            s.type in (SystematicType.PDF, SystematicType.SCALE) for s in systematics
        ):
            logger.warning(
                "No run card given, but PDF or scale systematics are set up: set them in the process "
                "folder's run card yourself"
            )
        for key, relative in names.items():
            text = texts[key]
            if relative is not None:
                assert text is not None  # a card is named exactly when it has a text
                madgraph.write_card(process / relative, text)

        def path(key: str) -> str | None:
            relative = names[key]
            return None if relative is None else str(relative)

        return madgraph.MadGraphJob(
            index=index,
            sample_benchmark=benchmark,
            log_file=f"run_{index}.log",
            run_card=path("run_card"),
            param_card=str(names["param_card"]),
            reweight_card=path("reweight_card"),
            pythia8_card=path("pythia8_card"),
            configuration=path("configuration"),
            commands=str(names["commands"]),
        )

    def reweight_existing_sample(
        self,
        mg_process_directory: str | os.PathLike[str],
        run_name: str,
        param_card_template_file: str | os.PathLike[str],
        sample_benchmark: str,
        reweight_benchmarks: Sequence[str] | None = None,
        only_prepare_script: bool = False,
        log_directory: str | os.PathLike[str] | None = None,
        initial_command: str | None = None,
        *,
        timeout: float | None = None,
    ) -> Path:
        """Add the benchmark weights to an existing run of a MadGraph process folder.

        Writes ``<process>/madminer/cards/reweight_card_reweight.dat`` (and the param card of
        ``sample_benchmark``), installs them in ``Cards/`` and runs ``bin/madevent reweight
        <run_name> -f``, logged to ``<log_directory>/reweight.log``; or, with
        ``only_prepare_script``, writes ``<process>/madminer/scripts/run_reweight.sh`` that does so.

        Parameters
        ----------
        mg_process_directory
            The process folder that made the run.
        run_name
            The run (``run_01`` ...).
        param_card_template_file
            The param card template; its entries are set to ``sample_benchmark``.
        sample_benchmark
            The benchmark the run sampled from.
        reweight_benchmarks
            The benchmarks to add (default: every physics benchmark except ``sample_benchmark``).
        only_prepare_script
            Write the script instead of running it.
        log_directory
            Where the log goes (default ``./logs``).
        initial_command
            Shell commands run first, in the same shell.
        timeout
            Seconds after which MadGraph is stopped (addition).

        Returns
        -------
        Path
            The run folder (or, with ``only_prepare_script``, the script).
        """
        process = Path(mg_process_directory)
        if not (process / "Events" / run_name).is_dir() and not only_prepare_script:
            raise InputError(f"{process} has no run {run_name!r} (no folder {process / 'Events' / run_name})")
        self._get_benchmark(sample_benchmark)
        names = (
            [name for name, b in self.benchmarks.items() if not b.is_nuisance and name != sample_benchmark]
            if reweight_benchmarks is None
            else list(reweight_benchmarks)
        )
        if not names:
            raise SetupError("there is no benchmark to reweight to besides the sampling benchmark")
        cards = process / "madminer" / "cards"
        template = madgraph.read_card(param_card_template_file, "param card template")
        madgraph.write_card(
            cards / "param_card_reweight.dat",
            madgraph.param_card(
                template, self.param_card_entries(sample_benchmark), str(param_card_template_file)
            ),
        )
        entries = {name: self.param_card_entries(name) for name in names}
        madgraph.write_card(
            cards / "reweight_card_reweight.dat", madgraph.reweight_card(entries, sample_benchmark)
        )
        logs = Path("./logs" if log_directory is None else log_directory)
        if only_prepare_script:
            return madgraph.write_reweight_script(process, run_name, logs, initial_command)
        shutil.copyfile(cards / "param_card_reweight.dat", process / "Cards" / "param_card.dat")
        shutil.copyfile(cards / "reweight_card_reweight.dat", process / "Cards" / "reweight_card.dat")
        madgraph.reweight(
            process,
            run_name,
            log_file=logs / "reweight.log",
            initial_command=initial_command,
            timeout=timeout,
        )
        return process / "Events" / run_name
