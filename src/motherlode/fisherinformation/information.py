"""``madminer.fisherinformation.information``: not built yet (:mod:`motherlode.pending`)."""

from ..pending import FISHER_INFORMATION, pending_class

__all__ = ["FisherInformation"]

FisherInformation = pending_class("FisherInformation", __name__, FISHER_INFORMATION)
