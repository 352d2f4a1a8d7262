"""``load_estimator``: load any saved estimator or ensemble without knowing its class (MadMiner's
``madminer.ml.lookup``).

Differences from MadMiner 0.9.6: morphing-aware estimators come back as
:class:`~motherlode.ml.morphing_aware.MorphingAwareRatioEstimator` (also MadMiner's files, which say
``"parameterized_ratio"`` but hold a ``morphing_matrix``) and
:class:`~motherlode.ml.morphing_aware.QuadraticMorphingAwareRatioEstimator`; missing or unreadable files and
unknown types raise :class:`~motherlode.errors.FileFormatError` naming the file.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from motherlode.errors import FileFormatError
from motherlode.ml.base import Estimator
from motherlode.ml.double_parameterized_ratio import DoubleParameterizedRatioEstimator
from motherlode.ml.ensemble import Ensemble
from motherlode.ml.likelihood import LikelihoodEstimator
from motherlode.ml.morphing_aware import MorphingAwareRatioEstimator, QuadraticMorphingAwareRatioEstimator
from motherlode.ml.parameterized_ratio import ParameterizedRatioEstimator
from motherlode.ml.score import ScoreEstimator

__all__ = ["ESTIMATOR_CLASSES", "load_estimator"]

logger = logging.getLogger(__name__)

ESTIMATOR_CLASSES: dict[str, type[Estimator]] = {
    cls.estimator_type: cls
    for cls in (
        ParameterizedRatioEstimator,
        DoubleParameterizedRatioEstimator,
        ScoreEstimator,
        LikelihoodEstimator,
        MorphingAwareRatioEstimator,
        QuadraticMorphingAwareRatioEstimator,
    )
}
"""The estimator class for each ``estimator_type`` of a settings file."""


def estimator_class(settings: dict, source: str = "the settings") -> type[Estimator]:
    """The class that loads an estimator with these settings (``<filename>_settings.json`` contents).

    Raises
    ------
    FileFormatError
        If ``estimator_type`` is missing or unknown (the message names ``source``).
    """
    estimator_type = settings.get("estimator_type")
    if estimator_type is None:
        raise FileFormatError(f"{source} has no estimator_type")
    if estimator_type == ParameterizedRatioEstimator.estimator_type and "morphing_matrix" in settings:
        return MorphingAwareRatioEstimator  # MadMiner 0.9 saves morphing-aware estimators like this
    try:
        return ESTIMATOR_CLASSES[estimator_type]
    except (KeyError, TypeError):
        raise FileFormatError(
            f"{source} has the unknown estimator_type {estimator_type!r}; expected one of "
            f"{', '.join(ESTIMATOR_CLASSES)}"
        ) from None


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
        class named by ``estimator_type`` in the settings file.

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
    try:
        with open(settings_file, encoding="utf-8") as handle:
            settings = json.load(handle)
    except FileNotFoundError:
        raise FileFormatError(
            f"No estimator at {str(filename)!r}: {settings_file!r} does not exist and "
            f"{str(filename)!r} is no ensemble folder"
        ) from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"Cannot read {settings_file!r}: {exc}") from exc
    if not isinstance(settings, dict):
        raise FileFormatError(f"{settings_file!r} does not hold a settings object")
    cls = estimator_class(settings, repr(settings_file))
    logger.debug("Loading %s from %s", cls.__name__, filename)
    estimator = cls()
    estimator.load(filename)
    return estimator
