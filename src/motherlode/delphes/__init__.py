"""Detector-level analysis of Delphes ROOT files (:class:`DelphesReader`).

This stage is planned and not built yet: its MadMiner names import, and using them raises
:class:`~motherlode.errors.NotYetAvailableError` (see :mod:`motherlode.pending`).
"""

from .delphes_reader import DelphesReader

__all__ = ["DelphesReader"]
