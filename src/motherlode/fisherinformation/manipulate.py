"""``madminer.fisherinformation.manipulate``: not built yet (:mod:`motherlode.pending`)."""

from ..pending import FISHER_INFORMATION, pending_function

__all__ = ["profile_information", "project_information"]

profile_information = pending_function("profile_information", __name__, FISHER_INFORMATION)
project_information = pending_function("project_information", __name__, FISHER_INFORMATION)
