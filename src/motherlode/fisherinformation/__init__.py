"""Fisher information, its manipulation and information geometry.

* :class:`FisherInformation`: truth-level, rate, histogram (1-D, 2-D) and estimator-based (SALLY)
  Fisher information, with covariances by linear error propagation;
* :func:`profile_information`, :func:`project_information`: nuisance parameters profiled or
  projected out;
* :class:`InformationGeometry`: the information as a metric on parameter space, geodesic distances
  and p-value contours in any number of dimensions.
"""

from .geometry import InformationGeometry
from .information import FisherInformation
from .manipulate import profile_information, project_information

__all__ = ["FisherInformation", "InformationGeometry", "profile_information", "project_information"]
