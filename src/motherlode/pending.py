"""Placeholders for MadMiner names whose motherlode stage is planned but not built yet.

motherlode keeps every public name of MadMiner 0.9.6 importable from the same path, so a ported
script fails at the first *use* of a missing stage with a clear message, never at its imports
with an ``ImportError``. A placeholder is a class or function with MadMiner's name that raises
:class:`~motherlode.errors.NotYetAvailableError` naming the feature. When the stage lands, the
placeholder is replaced by the real thing and the API-parity test
(``tests/test_api_parity.py``), which knows placeholders by :func:`pending_feature`, starts
checking its signature.

Every stage of MadMiner 0.9.6 is built now, so no placeholder is in use; the machinery stays
for the next planned stage.

Examples
--------
>>> feature = Feature("the detector-level reader of FCC files", "motherlode.fcc")
>>> FCCReader = pending_class("FCCReader", "motherlode.fcc", feature)
>>> FCCReader("setup.h5")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
motherlode.errors.NotYetAvailableError: FCCReader is not available yet: the detector-level reader ...
>>> pending_feature(FCCReader) is feature
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from .errors import NotYetAvailableError

__all__ = [
    "Feature",
    "pending_class",
    "pending_feature",
    "pending_function",
]

_MARK = "__motherlode_pending__"


@dataclass(frozen=True)
class Feature:
    """A planned stage: its name and where it will live."""

    name: str
    location: str

    def message(self, what: str) -> str:
        return (
            f"{what} is not available yet: {self.name} ({self.location}) is planned and not built. "
            "See the status table in the README; until it lands, MadMiner 0.9.6 can run this step "
            "on the same files."
        )


def pending_feature(obj: Any) -> Feature | None:
    """The planned feature behind a placeholder, or None for anything that is built."""
    return getattr(obj, _MARK, None)


def _raiser(what: str, feature: Feature) -> Callable[..., NoReturn]:
    def unavailable(*args: Any, **kwargs: Any) -> NoReturn:
        raise NotYetAvailableError(feature.message(what))

    return unavailable


def pending_function(
    name: str, module: str, feature: Feature, owner: str | None = None
) -> Callable[..., NoReturn]:
    """A function called ``name`` in ``module`` that raises :class:`NotYetAvailableError`.

    With ``owner`` (a class name) it is a method of a built class, e.g. ``MadMiner.run``.
    """
    qualname = name if owner is None else f"{owner}.{name}"
    function = _raiser(qualname, feature)
    function.__name__ = name
    function.__qualname__ = qualname
    function.__module__ = module
    function.__doc__ = f"Not available yet: {feature.name} is planned ({feature.location})."
    setattr(function, _MARK, feature)
    return function


def pending_class(name: str, module: str, feature: Feature) -> type:
    """A class called ``name`` in ``module`` whose construction raises :class:`NotYetAvailableError`."""
    init = _raiser(name, feature)
    namespace = {
        "__init__": init,
        "__module__": module,
        "__qualname__": name,
        "__doc__": f"Not available yet: {feature.name} is planned ({feature.location}).",
        _MARK: feature,
    }
    return type(name, (), namespace)
