"""Observables, cuts and efficiencies of a reader (``madminer.models.readers``).

Records with MadMiner's class and field names: ``LHEReader.observables`` maps names to
:class:`Observable`, ``LHEReader.cuts`` and ``LHEReader.efficiencies`` are lists of :class:`Cut`
and :class:`Efficiency`. Unlike MadMiner's, they never ``eval`` their expressions: the reader
compiles them with motherlode's expression engine (:mod:`motherlode.expressions`) when they are
added, and reports a bad definition there.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import InputError

__all__ = ["FUNCTION_DEFINED", "Cut", "Efficiency", "Observable"]

#: The definition an events file stores for an observable computed by a Python function
#: (MadMiner's ``EMPTY_EXPR``); ``DataAnalyzer.observables`` reports such observables with it.
FUNCTION_DEFINED = "None"


def _check_name(name: Any, what: str) -> None:
    if not isinstance(name, str) or not name:
        raise InputError(f"{what} name must be a non-empty string, got {name!r}")


def _check_expression(expression: Any, what: str) -> None:
    if not isinstance(expression, str):
        raise InputError(f"{what}: the definition must be a string, got {type(expression).__name__}")


@dataclass
class Observable:
    """An observable: an expression in the physics objects, or a Python function.

    Parameters
    ----------
    name : str
        The observable's name (a column of ``samples/observations``).
    val_expression : str or callable
        The definition, an expression such as ``"(j[0] + j[1]).m"``, or a function of the physics
        objects (see ``LHEReader.add_observable_from_function``). Read from an events file, a
        function-defined observable has the definition ``"None"`` (:data:`FUNCTION_DEFINED`).
    val_default : float or None
        The value where the observable is not parsed; None gives NaN.
    is_required : bool
        Whether events where it is not parsed are rejected.
    vectorized : bool
        motherlode addition: the function is called once per chunk of events with arrays, not
        once per event.

    Examples
    --------
    >>> Observable("m_jj", "(j[0] + j[1]).m", is_required=True)
    Observable(name='m_jj', val_expression='(j[0] + j[1]).m', val_default=None, is_required=True,
               vectorized=False)
    """

    name: str
    val_expression: str | Callable[..., Any]
    val_default: float | None = None
    is_required: bool = False
    vectorized: bool = False

    def __post_init__(self) -> None:
        _check_name(self.name, "observable")
        if not callable(self.val_expression):
            _check_expression(self.val_expression, f"observable {self.name!r}")
        if self.val_default is not None:
            try:
                self.val_default = float(self.val_default)
            except (TypeError, ValueError):
                raise InputError(
                    f"observable {self.name!r}: default must be a number or None, got {self.val_default!r}"
                ) from None
        self.is_required = bool(self.is_required)
        self.vectorized = bool(self.vectorized)

    @property
    def definition(self) -> str | None:
        """The expression, or None for a function-defined observable (stored as ``"None"`` in files)."""
        if callable(self.val_expression) or self.val_expression == FUNCTION_DEFINED:
            return None
        return self.val_expression


@dataclass
class Cut:
    """A selection cut: events pass where ``val_expression`` is true.

    ``is_required`` is MadMiner's name for what the spec calls ``pass_if_not_parsed``: whether an
    event passes when the cut cannot be evaluated (an object missing, a value not finite).

    Examples
    --------
    >>> Cut("cut_0", "pt_j1 > 30.")
    Cut(name='cut_0', val_expression='pt_j1 > 30.', is_required=False)
    """

    name: str
    val_expression: str
    is_required: bool = False

    def __post_init__(self) -> None:
        _check_name(self.name, "cut")
        _check_expression(self.val_expression, f"cut {self.name!r}")
        self.is_required = bool(self.is_required)

    @property
    def pass_if_not_parsed(self) -> bool:
        """Whether events pass where the cut cannot be evaluated (``is_required``)."""
        return self.is_required


@dataclass
class Efficiency:
    """An efficiency: a factor multiplying the event weights (a factor <= 0 rejects the event).

    ``val_default`` is the factor where the expression cannot be evaluated.

    Examples
    --------
    >>> Efficiency("efficiency_0", "0.9 if abs(l[0].eta) < 1.5 else 0.7")
    Efficiency(name='efficiency_0', val_expression='0.9 if abs(l[0].eta) < 1.5 else 0.7', val_default=1.0)
    """

    name: str
    val_expression: str
    val_default: float = 1.0

    def __post_init__(self) -> None:
        _check_name(self.name, "efficiency")
        _check_expression(self.val_expression, f"efficiency {self.name!r}")
        try:
            self.val_default = float(self.val_default)
        except (TypeError, ValueError):
            self.val_default = math.nan
        if not math.isfinite(self.val_default):
            raise InputError(
                f"efficiency {self.name!r}: the default (value where it is not parsed) must be a finite "
                f"number, got {self.val_default!r}"
            )
