"""Parton-level analysis of LHE files.

:class:`LHEReader` (MadMiner's ``madminer.lhe.LHEReader``) turns LHE samples into observables
and per-benchmark weights, with smearing, cuts, efficiencies and systematics.
:mod:`motherlode.lhe.lhefile` is the fast streaming LHE parser underneath it, and
:mod:`motherlode.lhe.systematics` finds nuisance benchmarks in the files' weight groups.
"""

from .lhe_reader import LHEReader

__all__ = ["LHEReader"]
