"""Neural estimators of likelihood ratios, scores and densities, and their training.

The package follows MadMiner's names: :class:`ParameterizedRatioEstimator` with the methods ``carl``,
``rolr``, ``alice``, ``cascal``, ``rascal`` and ``alices``, and :class:`ScoreEstimator` (``sally``,
``sallino``), :class:`DoubleParameterizedRatioEstimator` (both hypotheses as inputs),
:class:`LikelihoodEstimator` (``nde``, ``scandal``: conditional normalising flows),
:class:`MorphingAwareRatioEstimator` and :class:`QuadraticMorphingAwareRatioEstimator`; an
:class:`Ensemble` of estimators (trained together when they share an architecture), and
:func:`load_estimator`, which rebuilds any saved estimator or ensemble. Internally, a
generic :class:`~motherlode.ml.trainer.Trainer` owns the training loop (an estimator's ``train`` prepares
a :class:`TrainingSetup` and hands it to :meth:`Estimator.fit`), the networks are plain
:class:`torch.nn.Module` s (:mod:`motherlode.ml.networks`), each method is one loss class
(:mod:`motherlode.ml.losses`), and every estimator class registers its ``estimator_type`` in
:data:`ESTIMATOR_CLASSES`, from which :func:`load_estimator` picks the class of a saved file.
"""

from __future__ import annotations

from motherlode.ml.base import (
    ESTIMATOR_CLASSES,
    ConditionalEstimator,
    Estimator,
    TheresAGoodReasonThisDoesntWork,
    TrainingSetup,
    load_array,
)
from motherlode.ml.double_parameterized_ratio import DoubleParameterizedRatioEstimator
from motherlode.ml.ensemble import Ensemble, EnsembleError
from motherlode.ml.likelihood import LikelihoodEstimator
from motherlode.ml.lookup import load_estimator
from motherlode.ml.losses import (
    DOUBLE_LOSSES,
    LOSSES,
    Loss,
    NdeLoss,
    SallyLoss,
    ScandalLoss,
    get_double_loss,
    get_loss,
)
from motherlode.ml.morphing_aware import MorphingAwareRatioEstimator, QuadraticMorphingAwareRatioEstimator
from motherlode.ml.networks import (
    ACTIVATIONS,
    ConditionalMAF,
    DenseNetwork,
    DoubleParameterizedRatioModel,
    MorphingAwareRatioModel,
    ParameterizedRatioModel,
    QuadraticMorphingAwareRatioModel,
)
from motherlode.ml.parameterized_ratio import ParameterizedRatioEstimator
from motherlode.ml.score import NUISANCE_MODES, ScoreEstimator
from motherlode.ml.trainer import Trainer, TrainingError

__all__ = [
    "ACTIVATIONS",
    "DOUBLE_LOSSES",
    "ESTIMATOR_CLASSES",
    "LOSSES",
    "NUISANCE_MODES",
    "ConditionalEstimator",
    "ConditionalMAF",
    "DenseNetwork",
    "DoubleParameterizedRatioEstimator",
    "DoubleParameterizedRatioModel",
    "Ensemble",
    "EnsembleError",
    "Estimator",
    "LikelihoodEstimator",
    "Loss",
    "MorphingAwareRatioEstimator",
    "MorphingAwareRatioModel",
    "NdeLoss",
    "ParameterizedRatioEstimator",
    "ParameterizedRatioModel",
    "QuadraticMorphingAwareRatioEstimator",
    "QuadraticMorphingAwareRatioModel",
    "SallyLoss",
    "ScandalLoss",
    "ScoreEstimator",
    "TheresAGoodReasonThisDoesntWork",
    "Trainer",
    "TrainingError",
    "TrainingSetup",
    "get_double_loss",
    "get_loss",
    "load_array",
    "load_estimator",
]
