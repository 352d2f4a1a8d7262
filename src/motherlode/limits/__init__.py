"""Asymptotic limits on the parameters (:class:`AsymptoticLimits`).

This stage is planned and not built yet: its MadMiner names import, and using them raises
:class:`~motherlode.errors.NotYetAvailableError` (see :mod:`motherlode.pending`).
"""

from .asymptotic_limits import AsymptoticLimits

__all__ = ["AsymptoticLimits"]
