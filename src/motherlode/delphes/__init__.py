"""Detector-level analysis of Delphes ROOT files (:class:`DelphesReader`).

:class:`DelphesReader` reads the objects of Delphes ROOT files (uproot, in chunks), applies
acceptance cuts, observables, cuts and efficiencies, and takes the event weights from the
Delphes file (named by the HepMC file) or from the LHE file (events matched by number). It can
run a Delphes installation on HepMC files first (:meth:`DelphesReader.run_delphes`).
"""

from .delphes_reader import DelphesReader

__all__ = ["DelphesReader"]
