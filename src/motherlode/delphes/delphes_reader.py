"""``madminer.delphes.delphes_reader``: not built yet (:mod:`motherlode.pending`)."""

from ..pending import DELPHES, pending_class

__all__ = ["DelphesReader"]

DelphesReader = pending_class("DelphesReader", __name__, DELPHES)
