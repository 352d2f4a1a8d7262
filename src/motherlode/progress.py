"""Progress bars for long work, through one switch.

Every long loop in motherlode (reading event files, sampling, training) reports progress with
:func:`progress_bar`. Bars are shown only when standard error is a terminal; they are off when
``enabled=False`` is passed, when :func:`set_progress_bars` switched them off, or when the
environment variable ``MOTHERLODE_PROGRESS`` is ``0`` (handy on batch systems).

>>> set_progress_bars(False)
>>> with progress_bar(total=3, desc="demo", unit="events") as bar:
...     bar.update(3)
>>> set_progress_bars(None)  # back to the default: on for terminals
"""

from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm

__all__ = ["progress_bar", "progress_bars_enabled", "set_progress_bars"]

_setting: bool | None = None


def set_progress_bars(enabled: bool | None) -> None:
    """Switch progress bars on (True), off (False), or back to automatic (None: on for terminals)."""
    global _setting
    _setting = enabled


def progress_bars_enabled(enabled: bool | None = None) -> bool:
    """Whether a bar would be shown, given a per-call choice ``enabled`` (None: follow the global one)."""
    if enabled is not None:
        return bool(enabled)
    if _setting is not None:
        return _setting
    if os.environ.get("MOTHERLODE_PROGRESS", "").strip() == "0":
        return False
    return sys.stderr is not None and sys.stderr.isatty()


def progress_bar(
    total: float | None = None, desc: str | None = None, unit: str = "it", enabled: bool | None = None
) -> tqdm:
    """A :class:`tqdm.tqdm` bar (a silent one when bars are off); use it as a context manager."""
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=True,
        disable=not progress_bars_enabled(enabled),
        leave=False,
        dynamic_ncols=True,
    )
