"""Observables, cuts and efficiencies, evaluated on whole chunks of events.

The LHE and Delphes readers share this logic: they build the physics objects of a chunk of
events (:class:`motherlode.events.EventObjects`) and hand them to :meth:`Selection.apply`, which
returns which events survive, their observable values and their efficiency factors.

Semantics (MadMiner's documented ones, with its bugs fixed):

* An observable is *not parsed* for an event when its definition uses an object the event does
  not have (``j[1]`` with one jet) or its value is not finite. A **required** observable that is
  not parsed rejects the event (MadMiner 0.9.6 let a later optional observable reset that flag).
  Otherwise the value is ``default`` (NaN when ``default`` is None).
* Cuts see the objects and the observables by name (an observable named like an object, e.g.
  ``met``, hides the object in cuts and efficiencies, as in MadMiner). An observable that was not
  parsed and has no default is *missing* in a cut, so the cut itself is not parsed; an observable
  with a default enters with that default. A cut that is not parsed passes exactly when
  ``pass_if_not_parsed``.
* Efficiencies multiply the event weights; a value that is not parsed is replaced by
  ``value_if_not_parsed``; a factor <= 0 rejects the event.
"""

from __future__ import annotations

import keyword
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from . import events
from .errors import InputError
from .expressions import Expression
from .models.readers import Cut, Efficiency, Observable

__all__ = ["Cut", "Efficiency", "Observable", "Selection", "SelectionResult", "SelectionStatistics"]

logger = logging.getLogger(__name__)


@dataclass
class SelectionResult:
    """Outcome of :meth:`Selection.apply` for one chunk of ``n`` events.

    Attributes
    ----------
    keep : ndarray of bool, shape (n,)
        Events that pass every requirement, cut and efficiency.
    observations : ndarray, shape (n_kept, n_observables)
        Observable values of the kept events (defaults where not parsed).
    efficiency : ndarray, shape (n_kept,)
        Product of the efficiency factors of the kept events.
    """

    keep: np.ndarray
    observations: np.ndarray
    efficiency: np.ndarray


@dataclass
class SelectionStatistics:
    """How many events the requirements, cuts and efficiencies of a :class:`Selection` removed."""

    events: int = 0
    passed: int = 0
    failed_observables: dict[str, int] = field(default_factory=dict)
    failed_cuts: list[int] = field(default_factory=list)
    failed_efficiencies: list[int] = field(default_factory=list)
    efficiency_sums: list[float] = field(default_factory=list)

    def merge(self, other: SelectionStatistics) -> None:
        """Add the counts of further events (of the same selection)."""
        self.events += other.events
        self.passed += other.passed
        for name, failed in other.failed_observables.items():
            self.failed_observables[name] = self.failed_observables.get(name, 0) + failed
        self.failed_cuts = [a + b for a, b in zip(self.failed_cuts, other.failed_cuts, strict=True)]
        self.failed_efficiencies = [
            a + b for a, b in zip(self.failed_efficiencies, other.failed_efficiencies, strict=True)
        ]
        self.efficiency_sums = [
            a + b for a, b in zip(self.efficiency_sums, other.efficiency_sums, strict=True)
        ]


def _check_name(name: str, taken: Iterable[str]) -> None:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise InputError(f"observable name {name!r} must be a Python identifier (letters, digits, '_')")
    if name.startswith("_"):
        raise InputError(f"observable name {name!r} must not start with '_'")
    if name in set(taken):
        raise InputError(
            f"an observable named {name!r} exists already (call reset_observables to start over)"
        )


class Selection:
    """Observables, cuts and efficiencies of an analysis.

    Parameters
    ----------
    global_names : iterable of str
        Per-event variables the reader supplies besides the physics objects (e.g. ``scale``).
    function_arguments : sequence of str
        The objects passed to observable functions, in order (default: MadMiner's LHE signature,
        :data:`motherlode.events.FUNCTION_ARGUMENTS`).
    """

    def __init__(
        self, global_names: Iterable[str] = (), function_arguments: Sequence[str] = events.FUNCTION_ARGUMENTS
    ) -> None:
        self.global_names = frozenset(global_names)
        self.function_arguments = tuple(function_arguments)
        self.observables: dict[str, Observable] = {}
        self.cuts: list[Cut] = []
        self.efficiencies: list[Efficiency] = []
        self._expressions: dict[str, Expression] = {}
        self._compiled_cuts: list[Expression] | None = None
        self._compiled_efficiencies: list[Expression] | None = None
        self.statistics = SelectionStatistics()

    # ---------------------------------------------------------------- definitions

    def add_observable(
        self, name: str, definition: str, required: bool = False, default: float | None = None
    ) -> None:
        """Add an observable defined by an expression (see :mod:`motherlode.events`)."""
        _check_name(name, self.observables)
        if not isinstance(definition, str):
            raise InputError(
                f"observable {name!r}: the definition must be a string, got {type(definition).__name__}"
            )
        observable = Observable(name, definition, val_default=default, is_required=required)
        self._expressions[name] = events.compile_definition(
            definition, extra_names=self.global_names, context=f"observable {name!r}"
        )
        self.observables[name] = observable
        self._invalidate()

    def add_observable_from_function(
        self,
        name: str,
        fn: Callable[..., Any],
        required: bool = False,
        default: float | None = None,
        vectorized: bool = False,
    ) -> None:
        """Add an observable computed by a Python function (per event, or vectorised)."""
        _check_name(name, self.observables)
        if not callable(fn):
            raise InputError(f"observable {name!r}: fn must be callable, got {type(fn).__name__}")
        self.observables[name] = Observable(
            name, fn, val_default=default, is_required=required, vectorized=vectorized
        )
        self._invalidate()

    def add_cut(self, definition: str, pass_if_not_parsed: bool = False) -> None:
        """Add a cut; the expression may use physics objects and observables by name."""
        self._compile_condition(definition, "cut", strict=False)
        self.cuts.append(Cut(f"cut_{len(self.cuts)}", definition, is_required=pass_if_not_parsed))
        self._invalidate()

    def add_efficiency(self, definition: str, value_if_not_parsed: float = 1.0) -> None:
        """Add an efficiency factor; the expression may use physics objects and observables."""
        self._compile_condition(definition, "efficiency", strict=False)
        name = f"efficiency_{len(self.efficiencies)}"
        self.efficiencies.append(Efficiency(name, definition, val_default=value_if_not_parsed))
        self._invalidate()

    def reset_observables(self) -> None:
        """Remove all observables."""
        self.observables = {}
        self._expressions = {}
        self._invalidate()

    def reset_cuts(self) -> None:
        """Remove all cuts."""
        self.cuts = []
        self._invalidate()

    def reset_efficiencies(self) -> None:
        """Remove all efficiencies."""
        self.efficiencies = []
        self._invalidate()

    def _invalidate(self) -> None:
        self._compiled_cuts = None
        self._compiled_efficiencies = None

    def _compile_condition(self, definition: str, what: str, strict: bool) -> Expression:
        if not isinstance(definition, str):
            raise InputError(f"a {what} definition must be a string, got {type(definition).__name__}")
        names = self.global_names | set(self.observables) if strict else None
        return events.compile_definition(definition, extra_names=names, context=f"{what} {definition!r}")

    def compile(self) -> None:
        """Check every cut and efficiency against the final list of observables."""
        self._compiled_cuts = [self._compile_condition(cut.val_expression, "cut", True) for cut in self.cuts]
        self._compiled_efficiencies = [
            self._compile_condition(efficiency.val_expression, "efficiency", True)
            for efficiency in self.efficiencies
        ]

    def reset_statistics(self) -> None:
        """Start counting passed and failed events afresh."""
        self.statistics = SelectionStatistics(
            failed_observables=dict.fromkeys(self.observables, 0),
            failed_cuts=[0] * len(self.cuts),
            failed_efficiencies=[0] * len(self.efficiencies),
            efficiency_sums=[0.0] * len(self.efficiencies),
        )

    # ---------------------------------------------------------------- evaluation

    def _evaluate_observable(self, observable: Observable, objects: Any) -> tuple[np.ndarray, np.ndarray]:
        expression = self._expressions.get(observable.name)
        if expression is not None:
            return events.evaluate(expression, objects)
        # observables without a compiled expression come from add_observable_from_function
        return events.evaluate_function(
            cast("Callable[..., Any]", observable.val_expression),
            objects,
            vectorized=observable.vectorized,
            arguments=self.function_arguments,
        )

    def apply(self, objects: Any) -> SelectionResult:
        """Evaluate everything on the events of ``objects`` (an :class:`~motherlode.events.EventObjects`)."""
        if self._compiled_cuts is None or self._compiled_efficiencies is None:
            self.compile()
        assert self._compiled_cuts is not None and self._compiled_efficiencies is not None
        stats = self.statistics
        if len(stats.failed_cuts) != len(self.cuts) or len(stats.failed_efficiencies) != len(
            self.efficiencies
        ):
            self.reset_statistics()
        n = objects.n_events
        keep = np.ones(n, dtype=bool)
        columns = []
        by_name: dict[str, Any] = {}
        for observable in self.observables.values():
            values, parsed = self._evaluate_observable(observable, objects)
            values = np.asarray(values, dtype=np.float64).reshape(n)
            parsed = np.asarray(parsed, dtype=bool).reshape(n)
            if observable.is_required:
                keep &= parsed
                failed = self.statistics.failed_observables
                failed[observable.name] = failed.get(observable.name, 0) + int(n - parsed.sum())
            if observable.val_default is None:
                column = np.where(parsed, values, np.nan)
                by_name[observable.name] = np.ma.MaskedArray(column, mask=~parsed)
            else:
                column = np.where(parsed, values, observable.val_default)
                by_name[observable.name] = column
            columns.append(column)
        for i, (cut, expression) in enumerate(zip(self.cuts, self._compiled_cuts, strict=True)):
            values, parsed = events.evaluate(expression, objects, extra=by_name)
            passed = np.where(parsed, np.asarray(values) != 0.0, cut.is_required)
            self.statistics.failed_cuts[i] += int(n - passed.sum())
            keep &= passed
        efficiency = np.ones(n)
        for i, (entry, expression) in enumerate(
            zip(self.efficiencies, self._compiled_efficiencies, strict=True)
        ):
            values, parsed = events.evaluate(expression, objects, extra=by_name)
            factor = np.where(parsed, values, entry.val_default)
            self.statistics.failed_efficiencies[i] += int(np.sum(factor <= 0.0))
            self.statistics.efficiency_sums[i] += float(np.sum(factor))
            keep &= factor > 0.0
            efficiency *= factor
        self.statistics.events += n
        self.statistics.passed += int(keep.sum())
        observations = np.stack(columns, axis=1)[keep] if columns else np.zeros((int(keep.sum()), 0))
        return SelectionResult(keep, observations, efficiency[keep])

    def log_statistics(self, label: str) -> None:
        """Log how many events each requirement, cut and efficiency removed."""
        stats = self.statistics
        logger.info("%s: %d of %d events pass", label, stats.passed, stats.events)
        for name, failed in stats.failed_observables.items():
            if self.observables.get(name) is not None and self.observables[name].is_required:
                logger.info("  required observable %s not parsed in %d events", name, failed)
        for cut, failed in zip(self.cuts, stats.failed_cuts, strict=False):
            logger.info("  cut %s: %d events fail", cut.val_expression, failed)
        for entry, failed, total in zip(
            self.efficiencies, stats.failed_efficiencies, stats.efficiency_sums, strict=False
        ):
            mean = total / stats.events if stats.events else float("nan")
            logger.info("  efficiency %s: mean %.4g, %d events rejected", entry.val_expression, mean, failed)
