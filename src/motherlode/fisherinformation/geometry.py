"""``madminer.fisherinformation.geometry``: not built yet (:mod:`motherlode.pending`)."""

from ..pending import FISHER_INFORMATION, pending_class

__all__ = ["InformationGeometry"]

InformationGeometry = pending_class("InformationGeometry", __name__, FISHER_INFORMATION)
