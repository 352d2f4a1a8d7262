"""``load_estimator``: load any saved estimator or ensemble without knowing its class (MadMiner's
``madminer.ml.lookup``).

Differences from MadMiner 0.9.6: morphing-aware estimators come back as
:class:`~motherlode.ml.morphing_aware.MorphingAwareRatioEstimator` (also MadMiner's files, which say
``"parameterized_ratio"`` but hold a ``morphing_matrix``) and
:class:`~motherlode.ml.morphing_aware.QuadraticMorphingAwareRatioEstimator`; missing or unreadable files and
unknown types raise :class:`~motherlode.errors.FileFormatError` naming the file.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from motherlode.errors import FileFormatError
from motherlode.ml.base import ESTIMATOR_CLASSES, Estimator, estimator_class, load_saved_estimator
from motherlode.ml.ensemble import Ensemble

__all__ = ["ESTIMATOR_CLASSES", "estimator_class", "load_estimator"]

logger = logging.getLogger(__name__)


def load_estimator(filename: str | os.PathLike) -> Estimator | Ensemble:
    """Load a saved estimator of any type, or an ensemble.

    Parameters
    ----------
    filename : str or path
        The prefix passed to ``save`` (the files are ``<filename>_settings.json``, ...), or the folder of an
        :class:`~motherlode.ml.ensemble.Ensemble`.

    Returns
    -------
    Estimator or Ensemble
        An :class:`~motherlode.ml.ensemble.Ensemble` if ``filename`` is a folder, else the estimator of the
        class that ``estimator_type`` in the settings file names (see
        :func:`~motherlode.ml.base.estimator_class`).

    Raises
    ------
    FileFormatError
        If the settings file is missing or unreadable, or names an unknown type.
    """
    if Path(filename).is_dir():
        ensemble = Ensemble()
        ensemble.load(filename)
        return ensemble
    settings_file = f"{filename}_settings.json"
    if not Path(settings_file).exists():
        raise FileFormatError(
            f"No estimator at {str(filename)!r}: {settings_file!r} does not exist and {str(filename)!r} "
            "is no ensemble folder"
        )
    return load_saved_estimator(filename)
