r"""Morphing-aware likelihood-ratio estimators (MadMiner's ``madminer.ml.morphing_aware``).

When the squared matrix element is a polynomial in the parameters, the likelihood ratio to a reference
point has the exact structure

.. math:: r(x|\theta) = \frac{\sum_b w_b(\theta)\, r_b(x)}{\sum_b w_b(\theta)\, \sigma_b},
          \qquad r_b(x) = \frac{d\sigma(x|\theta_b)}{d\sigma(x|\theta_{ref})},
          \quad \sigma_b = \frac{\sigma(\theta_b)}{\sigma(\theta_{ref})},

with the morphing weights :math:`w(\theta) = M^T c(\theta)` (:mod:`motherlode.morphing`). The
:class:`MorphingAwareRatioEstimator` learns one function :math:`r_b(x)` per basis benchmark and one
number :math:`\sigma_b` per basis benchmark, and puts them together with the exact, analytic theta
dependence; the score :math:`\partial \log \hat r / \partial \theta` follows by autograd.
:class:`QuadraticMorphingAwareRatioEstimator` is the one-parameter special case of arXiv:2007.10356,
:math:`\hat r = ((1 + \theta A(x))^2 + (\theta B(x))^2) / ((1 + \theta a)^2 + (\theta b)^2)`, reference
:math:`\theta_{ref} = 0`.

Both estimators are trained exactly like :class:`~motherlode.ml.ParameterizedRatioEstimator` (methods
``carl``, ``rolr``, ``alice``, ``cascal``, ``rascal``, ``alices``), but theta enters the model in physical
units: ``scale_parameters`` is always treated as False (as MadMiner does).

Differences from MadMiner 0.9.6:

* the files are saved with ``estimator_type`` ``"morphing_aware_ratio"`` or
  ``"quadratic_morphing_aware_ratio"`` (MadMiner writes ``"parameterized_ratio"``, so its loader rebuilds
  the wrong class);
* there is one network per *basis benchmark* (MadMiner builds one per component, which fails for
  over-complete bases, where there are more benchmarks than components);
* the morphing weights and their combination are computed in float64 (morphing matrices can have large
  entries that cancel).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import nn

from motherlode.errors import InputError
from motherlode.fileformat import read_setup
from motherlode.ml.base import _as_2d
from motherlode.ml.networks.morphing import (
    MorphingAwareRatioModel,
    QuadraticMorphingAwareRatioModel,
    torch_morphing_weights,
)
from motherlode.ml.parameterized_ratio import ParameterizedRatioEstimator
from motherlode.morphing import PhysicsMorpher

__all__ = [
    "MorphingAwareRatioEstimator",
    "MorphingAwareRatioModel",
    "QuadraticMorphingAwareRatioEstimator",
    "QuadraticMorphingAwareRatioModel",
    "torch_morphing_weights",
]

logger = logging.getLogger(__name__)

_BASIS_TRIALS = 1000
_BASIS_TEST_THETAS = 1000


class _PhysicalThetaMixin:
    """Keeps theta unscaled: the models need physical parameter values."""

    theta_scaling_means: np.ndarray | None
    theta_scaling_stds: np.ndarray | None

    def initialize_parameter_transform(
        self, theta: np.ndarray, transform: bool = True, overwrite: bool = True
    ) -> None:
        """Set the identity parameter scaling; ``transform=True`` is ignored (theta must stay physical)."""
        if transform:
            logger.debug("%s: theta is not scaled (scale_parameters=False is forced)", type(self).__name__)
        if self.theta_scaling_means is not None and not overwrite:
            return
        n = _as_2d(np.asarray(theta), "theta").shape[1]
        self.theta_scaling_means, self.theta_scaling_stds = np.zeros(n), np.ones(n)


class MorphingAwareRatioEstimator(_PhysicalThetaMixin, ParameterizedRatioEstimator):
    r"""Likelihood-ratio estimator with the exact morphing structure in theta.

    :math:`\hat r(x|\theta) = \sum_b w_b(\theta) \hat r_b(x) / \sum_b w_b(\theta) \hat\sigma_b`, see
    :class:`MorphingAwareRatioModel`. Training, evaluation, scores and Fisher information work as for
    :class:`~motherlode.ml.ParameterizedRatioEstimator`; ``scale_parameters`` is always False.

    Parameters
    ----------
    morphing_setup_filename : str or path, optional
        A MadMiner setup file with a morphing setup (components and morphing matrix). May be None when the
        estimator is loaded with :meth:`load` (the morphing setup is stored in the settings file).
    optimize_morphing_basis : bool, optional
        Replace the file's basis by one optimised with
        :meth:`~motherlode.morphing.PhysicsMorpher.optimize_basis` (1000 trials, 1000 test points, over
        the parameter ranges of the file), with the file's components. Default False.
    features, n_hidden, activation, dropout_prob
        As :class:`~motherlode.ml.base.Estimator`.
    random_state : int or numpy Generator, optional
        Seed of the basis optimisation (keyword only; not in MadMiner).

    Attributes
    ----------
    components : ndarray of int or None
        Morphing components ``(n_components, n_parameters)``.
    morphing_matrix : ndarray or None
        ``(n_components, n_benchmarks)``.
    morphing_basis : ndarray or None
        The basis points ``(n_benchmarks, n_parameters)`` (saved as the extra settings key
        ``morphing_basis``; None for files written by MadMiner).

    Raises
    ------
    FileFormatError
        If the setup file is missing or unreadable (the message names it).
    InputError
        If the setup file has no morphing setup.
    """

    estimator_type = "morphing_aware_ratio"

    def __init__(
        self,
        morphing_setup_filename: str | os.PathLike | None = None,
        optimize_morphing_basis: bool = False,
        features: Sequence[int] | None = None,
        n_hidden: Sequence[int] = (100,),
        activation: str = "tanh",
        dropout_prob: float = 0.0,
        *,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(features, n_hidden, activation, dropout_prob)
        self.components: np.ndarray | None = None
        self.morphing_matrix: np.ndarray | None = None
        self.morphing_basis: np.ndarray | None = None
        if morphing_setup_filename is not None:
            self.components, self.morphing_matrix, self.morphing_basis = self._load_morphing_setup(
                morphing_setup_filename, optimize_morphing_basis, random_state
            )
            logger.info(
                "Morphing-aware ratio estimator with %d components and %d basis benchmarks",
                len(self.components),
                self.morphing_matrix.shape[1],
            )

    @staticmethod
    def _load_morphing_setup(
        filename: str | os.PathLike, optimize: bool, random_state: int | np.random.Generator | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Components, morphing matrix and basis points ``(n_benchmarks, n_parameters)`` of a setup file."""
        setup = read_setup(filename, include_nuisance_benchmarks=False)
        if not setup.has_morphing:
            raise InputError(
                f"{filename}: the setup file has no morphing setup (components, morphing matrix)"
            )
        components = np.asarray(setup.morphing_components, dtype=np.int64)
        morpher = PhysicsMorpher(parameters_from_madminer=setup.parameters)
        morpher.set_components(components)
        if optimize:
            logger.info("Optimising the morphing basis of the morphing-aware estimator")
            morpher.optimize_basis(
                n_trials=_BASIS_TRIALS, n_test_thetas=_BASIS_TEST_THETAS, random_state=random_state
            )
        else:
            morpher.set_basis(setup.physics_benchmarks, morphing_matrix=setup.morphing_matrix)
        assert morpher.morphing_matrix is not None and morpher.basis is not None
        for i, point in enumerate(morpher.basis):
            logger.debug("  basis point %d: %s", i, point)
        return components, np.asarray(morpher.morphing_matrix, dtype=np.float64), morpher.basis

    def _create_model(self) -> nn.Module:
        n_observables, _ = self._require_dimensions()
        if self.components is None or self.morphing_matrix is None:
            raise InputError(
                "No morphing setup: pass morphing_setup_filename to MorphingAwareRatioEstimator or load a "
                "trained morphing-aware estimator"
            )
        if self.components.shape[1] != self.n_parameters:
            raise InputError(
                f"The morphing setup has {self.components.shape[1]} parameters, the data {self.n_parameters}"
            )
        self.model = MorphingAwareRatioModel(
            self.components,
            self.morphing_matrix,
            n_observables,
            self.n_hidden,
            self.activation,
            self.dropout_prob,
        )
        return self.model

    @classmethod
    def _accepts_settings(cls, settings: dict[str, Any]) -> bool:
        # MadMiner 0.9 saves morphing-aware estimators with estimator_type "parameterized_ratio"
        found = settings.get("estimator_type")
        legacy = found == ParameterizedRatioEstimator.estimator_type and "morphing_matrix" in settings
        return found == cls.estimator_type or legacy

    def _settings(self) -> dict[str, Any]:
        settings = super()._settings()
        settings["components"] = None if self.components is None else self.components.tolist()
        settings["morphing_matrix"] = None if self.morphing_matrix is None else self.morphing_matrix.tolist()
        if self.morphing_basis is not None:
            settings["morphing_basis"] = self.morphing_basis.tolist()
        return settings

    def _apply_settings(self, settings: dict[str, Any]) -> None:
        super()._apply_settings(settings)
        if settings.get("components") is None or settings.get("morphing_matrix") is None:
            raise InputError("The settings of a morphing-aware estimator lack components or morphing_matrix")
        self.components = np.asarray(settings["components"], dtype=np.int64)
        self.morphing_matrix = np.asarray(settings["morphing_matrix"], dtype=np.float64)
        basis = settings.get("morphing_basis")
        self.morphing_basis = None if basis is None else np.asarray(basis, dtype=np.float64)


class QuadraticMorphingAwareRatioEstimator(_PhysicalThetaMixin, ParameterizedRatioEstimator):
    r"""One-parameter morphing-aware estimator with reference theta = 0 (arXiv:2007.10356).

    :math:`\hat r(x|\theta) = ((1 + \theta A(x))^2 + (\theta B(x))^2) / ((1 + \theta a)^2 + (\theta b)^2)`,
    the most general ratio of a squared matrix element linear in one real coupling, see
    :class:`QuadraticMorphingAwareRatioModel`. The reference samples (``y = 1``) must come from theta = 0.
    ``scale_parameters`` is always False.

    Parameters
    ----------
    features, n_hidden, activation, dropout_prob
        As :class:`~motherlode.ml.base.Estimator`.

    Raises
    ------
    InputError
        When trained (or loaded) with more than one parameter.
    """

    estimator_type = "quadratic_morphing_aware_ratio"

    def _create_model(self) -> nn.Module:
        n_observables, _ = self._require_dimensions()
        if self.n_parameters != 1:
            raise InputError(
                f"QuadraticMorphingAwareRatioEstimator needs exactly one parameter, got {self.n_parameters}"
            )
        self.model = QuadraticMorphingAwareRatioModel(
            n_observables,
            self.n_hidden,
            self.activation,
            self.dropout_prob,
        )
        return self.model
