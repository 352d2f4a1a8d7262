"""Checks of the plotting functions' arguments, each failing with an :class:`InputError` that names it."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ..errors import InputError

__all__ = ["check_count", "check_range"]


def check_count(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum`` (a number of bins, points, toys, columns)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_range(value: Any, name: str, positive: bool = False) -> tuple[float, float]:
    """A finite ``(min, max)`` pair with ``min < max`` (and ``min > 0`` for a logarithmic range)."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a pair (min, max) of numbers, got {value!r}") from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise InputError(f"{name} must be finite with min < max, got {value!r}")
    if positive and low <= 0.0:
        raise InputError(f"{name} is a logarithmic range and needs min > 0, got {value!r}")
    return low, high
