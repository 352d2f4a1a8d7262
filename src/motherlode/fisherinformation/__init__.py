"""Fisher information, its manipulation and information geometry.

This stage is planned and not built yet: its MadMiner names import, and using them raises
:class:`~motherlode.errors.NotYetAvailableError` (see :mod:`motherlode.pending`).
"""

from .geometry import InformationGeometry
from .information import FisherInformation
from .manipulate import profile_information, project_information

__all__ = ["FisherInformation", "InformationGeometry", "profile_information", "project_information"]
