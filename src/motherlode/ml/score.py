"""The local score estimator (SALLY / SALLINO): ``t_hat(x) = grad_theta log p(x|theta)`` at a fixed reference.

The network maps the observables ``x`` directly to the score in ``R^(n_parameters)`` and is trained by the
squared error against the joint score ``t(x,z|theta_ref)`` (``sally`` and ``sallino`` train identically; they
differ only in the later inference).

Nuisance parameters (arXiv:1903.01473): :meth:`ScoreEstimator.set_nuisance` builds from a Fisher information
``I`` and the parameters of interest (POI) a projection matrix (select the POI components) and a profiling
matrix, ``t_prof = t_poi - I_{poi,nu} I_{nu,nu}^-1 t_nu``. Unlike MadMiner 0.9 (whose ``set_nuisance`` never
changes the default), after ``set_nuisance`` the mode ``"auto"`` means ``"profile"``, as documented.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from motherlode.checkpoint import CheckpointLike
from motherlode.errors import InputError
from motherlode.fileformat import atomic_write
from motherlode.ml.base import (
    ArrayLike,
    Estimator,
    TheresAGoodReasonThisDoesntWork,
    TrainingSetup,
    _required,
    load_training_arrays,
    shuffle_together,
    train_arguments,
)
from motherlode.ml.losses import SallyLoss
from motherlode.ml.networks import DenseNetwork
from motherlode.ml.trainer import EVALUATION_BATCH, Backward

__all__ = ["NUISANCE_MODES", "SallyLoss", "ScoreEstimator"]

logger = logging.getLogger(__name__)


NUISANCE_MODES: tuple[str, ...] = ("auto", "keep", "profile", "project")
"""Accepted values of ``nuisance_mode`` in :meth:`ScoreEstimator.evaluate_score`."""

SCORE_METHODS: tuple[str, ...] = ("sally", "sallino")

Tensors = dict[str, torch.Tensor]


def _score_forward(model: nn.Module, batch: Tensors, need_score: bool, create_graph: bool) -> Tensors:
    del need_score, create_graph
    return {"t_hat": model(batch["x"])}


def _score_manual(model: nn.Module, batch: Tensors, need_score: bool) -> tuple[Tensors, Backward]:
    del need_score
    net = cast(DenseNetwork, model)  # the manual pass is only set up for ScoreEstimator's DenseNetwork
    t_hat, _, run = net.forward_pass(batch["x"])
    return {"t_hat": t_hat}, lambda grads, into=None: net.backward_pass(run, grads["t_hat"], out=into)


class ScoreEstimator(Estimator):
    """Neural estimator of the score at a fixed reference hypothesis as a function of ``x`` (SALLY, SALLINO).

    Parameters as :class:`~motherlode.ml.base.Estimator`. The network is a
    :class:`~motherlode.ml.networks.DenseNetwork` with ``n_parameters`` linear outputs (MadMiner's
    ``DenseLocalScoreModel`` state-dict keys without dropout).
    """

    estimator_type = "score"
    _output_name = "score components"

    def __init__(
        self,
        features: Sequence[int] | None = None,
        n_hidden: Sequence[int] = (100,),
        activation: str = "tanh",
        dropout_prob: float = 0.0,
    ) -> None:
        super().__init__(features, n_hidden, activation, dropout_prob)
        self.nuisance_profile_matrix: np.ndarray | None = None
        self.nuisance_project_matrix: np.ndarray | None = None
        self.nuisance_mode_default = "keep"

    def _create_model(self) -> nn.Module:
        n_observables, n_parameters = self._require_dimensions()
        self.model = DenseNetwork(
            n_observables, self.n_hidden, n_parameters, self.activation, self.dropout_prob
        )
        return self.model

    # ------------------------------------------------------------------ training

    def train(
        self,
        method: str,
        x: ArrayLike,
        t_xz: ArrayLike,
        x_val: ArrayLike = None,
        t_xz_val: ArrayLike = None,
        optimizer: str = "amsgrad",
        n_epochs: int = 50,
        batch_size: int = 128,
        initial_lr: float = 0.005,
        final_lr: float = 0.0001,
        nesterov_momentum: float | None = None,
        validation_split: float | None = 0.25,
        early_stopping: bool = True,
        scale_inputs: bool = True,
        shuffle_labels: bool = False,
        limit_samplesize: int | None = None,
        memmap: bool = False,
        verbose: str = "some",
        n_workers: int = 8,
        clip_gradient: float | None = None,
        early_stopping_patience: int | None = None,
        *,
        device: str | torch.device | None = "auto",
        checkpoint: CheckpointLike = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Train the network.

        Parameters
        ----------
        method : {"sally", "sallino"}
            Inference method (identical at training).
        x : ndarray or str
            Observations ``(n, n_observables)`` sampled at the reference, or a ``.npy`` path.
        t_xz : ndarray or str
            Joint scores at the reference ``(n, n_parameters)``, or a ``.npy`` path.
        x_val, t_xz_val : ndarray or str, optional
            Explicit validation data (used when both are given).
        initial_lr : float, optional
            First learning rate of the exponential schedule to ``final_lr``. Default 0.005 (MadMiner:
            0.001), as for :meth:`motherlode.ml.ParameterizedRatioEstimator.train`.
        optimizer, n_epochs, batch_size, final_lr, nesterov_momentum, validation_split,
        early_stopping, clip_gradient, early_stopping_patience, verbose
            See :meth:`motherlode.ml.trainer.Trainer.train`.
        scale_inputs : bool, optional
            Standardise the observables. Default True.
        shuffle_labels : bool, optional
            Shuffle ``t_xz`` against ``x`` (closure test: nothing can be learned).
        limit_samplesize : int, optional
            Use only the first ``limit_samplesize`` samples.
        memmap : bool, optional
            Memory-map ``.npy`` inputs (files above 1 GiB always are).
        n_workers : int, optional
            Accepted for MadMiner compatibility and ignored.
        device : str or torch.device, optional
            ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda:0"``, ...
        checkpoint : path-like, optional
            A folder where the training records its state after every epoch: rerun after an
            interruption, it continues after the last completed epoch, with the same result (see
            :meth:`motherlode.ml.trainer.Trainer.train` and docs/resume.md). Default None.

        Returns
        -------
        train_losses, val_losses : ndarray
            Loss per epoch.
        """
        return self.fit(self._prepare(train_arguments(locals())))

    def _prepare(self, args: SimpleNamespace) -> TrainingSetup:
        """:meth:`train`'s preparation: load, check, scale and package the data (``args``: its arguments)."""
        if args.method not in SCORE_METHODS:
            raise InputError(f"Unknown method {args.method!r}; expected one of {', '.join(SCORE_METHODS)}")
        values = {"x": args.x, "t_xz": args.t_xz}
        arrays = load_training_arrays(values, ("x", "t_xz"), args.memmap, args.limit_samplesize)
        val = None
        if args.x_val is not None and args.t_xz_val is not None:
            val = load_training_arrays({"x": args.x_val, "t_xz": args.t_xz_val}, ("x", "t_xz"), args.memmap)
        self.initialize_input_transform(_required(arrays, "x"), transform=args.scale_inputs, overwrite=False)
        data = self._package(arrays)
        if args.shuffle_labels:
            logger.info("Shuffling labels")
            (data["t_xz"],) = shuffle_together(data["t_xz"])
        data_val = None if val is None else self._package(val)
        self._set_dimensions(data["x"].shape[1], data["t_xz"].shape[1])
        return self._training_setup(SallyLoss(), _score_forward, data, data_val, args, manual=_score_manual)

    def _package(self, arrays: dict[str, np.ndarray | None]) -> dict[str, np.ndarray]:
        return {"x": self._select_features(self._transform_inputs(arrays["x"])), "t_xz": arrays["t_xz"]}  # type: ignore[arg-type,dict-item]

    # ------------------------------------------------------------------ nuisance parameters

    def set_nuisance(self, fisher_information: np.ndarray, parameters_of_interest: Sequence[int]) -> None:
        """Prepare profiled and projected scores (arXiv:1903.01473); then ``"auto"`` means ``"profile"``.

        Parameters
        ----------
        fisher_information : ndarray
            Fisher information ``(n_parameters, n_parameters)`` at the reference point.
        parameters_of_interest : list of int
            Indices of the parameters kept, in their new order; all others are nuisance parameters.

        Raises
        ------
        InputError
            On a wrong shape, invalid or repeated indices, or a singular nuisance block.
        """
        if self.n_parameters is None:
            raise InputError("The dimensions of the estimator are unknown; train or load it first")
        n = self.n_parameters
        info = np.asarray(fisher_information, dtype=np.float64)
        if info.shape != (n, n):
            raise InputError(f"Fisher information has shape {info.shape}, expected {(n, n)}")
        poi = [int(i) for i in parameters_of_interest]
        if not poi or len(set(poi)) != len(poi) or any(not 0 <= i < n for i in poi):
            raise InputError(f"parameters_of_interest must be distinct indices in [0, {n}), got {poi}")
        nuisance = [i for i in range(n) if i not in poi]
        project = np.zeros((len(poi), n))
        project[np.arange(len(poi)), poi] = 1.0
        profile = project.copy()
        if nuisance:
            i_mix = info[np.ix_(poi, nuisance)]  # (n_poi, n_nuisance)
            i_nuis = info[np.ix_(nuisance, nuisance)]
            try:
                # I_{poi,nu} I_{nu,nu}^-1 = (I_{nu,nu}^-1 I_{nu,poi})^T, by a solve instead of an inverse
                correction = np.linalg.solve(i_nuis, i_mix.T).T
            except np.linalg.LinAlgError as exc:
                raise InputError(f"The nuisance block of the Fisher information is singular: {exc}") from exc
            profile[:, nuisance] -= correction
        self.nuisance_project_matrix = project
        self.nuisance_profile_matrix = profile
        self.nuisance_mode_default = "profile"
        logger.debug("Nuisance projection matrix:\n%s\nprofiling matrix:\n%s", project, profile)

    # ------------------------------------------------------------------ evaluation

    def _evaluate_raw(self, x: ArrayLike) -> np.ndarray:
        """The network's score ``(n, n_parameters)`` (all components) for physical ``x``."""
        model = self._check_model()
        model.eval()
        device = self._model_device()
        x_arr = self._prepare_x(x)
        out = []
        with torch.no_grad():
            for start in range(0, len(x_arr), EVALUATION_BATCH):
                xx = torch.as_tensor(x_arr[start : start + EVALUATION_BATCH], device=device)
                out.append(model(xx).cpu().numpy())
        if not out:
            return np.zeros((0, self.n_parameters or 0), dtype=np.float32)
        return np.concatenate(out)

    def evaluate_score(
        self, x: ArrayLike, theta: ArrayLike = None, nuisance_mode: str = "auto"
    ) -> np.ndarray:
        """Estimated score, shape ``(n_x, n_parameters)`` or ``(n_x, n_poi)`` when profiled or projected.

        Parameters
        ----------
        x : ndarray or str
            Observations or a ``.npy`` path.
        theta : optional
            Ignored (the score is at the fixed reference); for conformity with the other estimators.
        nuisance_mode : {"auto", "keep", "profile", "project"}, optional
            ``"keep"``: all components; ``"profile"``: the profiled score of the parameters of interest;
            ``"project"``: the POI components only; ``"auto"`` (default): ``"profile"`` after
            :meth:`set_nuisance`, else ``"keep"`` (precisely: ``nuisance_mode_default``).

        Raises
        ------
        InputError
            For an unknown mode, or ``profile``/``project`` before :meth:`set_nuisance`.
        """
        del theta
        if nuisance_mode not in NUISANCE_MODES:
            raise InputError(
                f"Unknown nuisance_mode {nuisance_mode!r}; expected one of {', '.join(NUISANCE_MODES)}"
            )
        if nuisance_mode == "auto":
            nuisance_mode = self.nuisance_mode_default
        t_hat = self._evaluate_raw(x)
        return self._apply_nuisance_mode(t_hat, nuisance_mode)

    def _apply_nuisance_mode(self, t_hat: np.ndarray, nuisance_mode: str) -> np.ndarray:
        if nuisance_mode == "keep":
            return t_hat
        if nuisance_mode not in ("profile", "project"):
            raise InputError(f"Unknown nuisance_mode {nuisance_mode!r}")
        matrix = self.nuisance_profile_matrix if nuisance_mode == "profile" else self.nuisance_project_matrix
        if matrix is None:
            raise InputError(f"nuisance_mode={nuisance_mode!r} needs set_nuisance() to be called first")
        return np.einsum("ij,xj->xi", matrix, t_hat.astype(np.float64))

    def _fisher_scores(self, x: np.ndarray, theta: ArrayLike) -> np.ndarray:
        # MadMiner: the Fisher information uses the full score ("keep"), whatever the nuisance setup
        return self.evaluate_score(x, theta, nuisance_mode="keep")

    def evaluate(self, *args: Any, **kwargs: Any) -> np.ndarray:
        """Alias of :meth:`evaluate_score`."""
        return self.evaluate_score(*args, **kwargs)

    def evaluate_log_likelihood(self, *args: Any, **kwargs: Any) -> Any:
        """Not available: a score estimator gives neither likelihoods nor ratios.

        Raises
        ------
        TheresAGoodReasonThisDoesntWork
            Always.
        """
        raise TheresAGoodReasonThisDoesntWork(
            "This estimator can only estimate the score, not the likelihood!"
        )

    def evaluate_log_likelihood_ratio(self, *args: Any, **kwargs: Any) -> Any:
        """Not available, see :meth:`evaluate_log_likelihood`.

        Raises
        ------
        TheresAGoodReasonThisDoesntWork
            Always.
        """
        raise TheresAGoodReasonThisDoesntWork(
            "This estimator can only estimate the score, not the likelihood ratio!"
        )

    # ------------------------------------------------------------------ saving

    def _settings(self) -> dict[str, Any]:
        return {**super()._settings(), "nuisance_mode_default": self.nuisance_mode_default}

    def _apply_settings(self, settings: dict[str, Any]) -> None:
        super()._apply_settings(settings)
        mode = str(settings.get("nuisance_mode_default", "keep"))
        if mode not in NUISANCE_MODES or mode == "auto":
            logger.warning("Invalid nuisance_mode_default %r in the saved settings, using 'keep'", mode)
            mode = "keep"
        self.nuisance_mode_default = mode

    def save(self, filename: str | os.PathLike, save_model: bool = False) -> None:
        """Save as :meth:`Estimator.save`, plus ``<filename>_nuisance_profile_matrix.npy`` and
        ``<filename>_nuisance_project_matrix.npy`` after :meth:`set_nuisance`; the settings hold
        ``nuisance_mode_default``."""
        super().save(filename, save_model)
        prefix = str(filename)
        if self.nuisance_profile_matrix is not None and self.nuisance_project_matrix is not None:
            for name, arr in (
                ("profile", self.nuisance_profile_matrix),
                ("project", self.nuisance_project_matrix),
            ):
                with atomic_write(f"{prefix}_nuisance_{name}_matrix.npy") as handle:
                    np.save(handle, np.asarray(arr))

    def load(self, filename: str | os.PathLike) -> None:
        """Load an estimator saved by :meth:`save` (or by MadMiner), with the nuisance matrices if present."""
        super().load(filename)
        prefix = str(filename)
        profile = Path(f"{prefix}_nuisance_profile_matrix.npy")
        project = Path(f"{prefix}_nuisance_project_matrix.npy")
        if profile.is_file() and project.is_file():
            self.nuisance_profile_matrix = np.load(profile, allow_pickle=False)
            self.nuisance_project_matrix = np.load(project, allow_pickle=False)
        else:
            self.nuisance_profile_matrix = None
            self.nuisance_project_matrix = None
            if self.nuisance_mode_default != "keep":
                logger.warning(
                    "No nuisance matrices found for %s; nuisance_mode_default %r reset to 'keep'",
                    prefix,
                    self.nuisance_mode_default,
                )
                self.nuisance_mode_default = "keep"
