"""The parameterized likelihood-ratio estimator ``r_hat(x|theta) = p(x|theta) / p(x|theta_ref)``."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from motherlode.checkpoint import CheckpointLike
from motherlode.errors import InputError
from motherlode.ml.base import (
    ArrayLike,
    ConditionalEstimator,
    TheresAGoodReasonThisDoesntWork,
    TrainingSetup,
    _as_2d,
    _required,
    load_array,
    load_training_arrays,
    shuffle_together,
    train_arguments,
)
from motherlode.ml.losses import get_loss
from motherlode.ml.networks import ParameterizedRatioModel
from motherlode.ml.trainer import EVALUATION_BATCH, Backward

__all__ = ["ParameterizedRatioEstimator"]

logger = logging.getLogger(__name__)

_REQUIRED = ("x", "y", "theta")


def _ratio_forward(
    model: nn.Module, batch: dict[str, torch.Tensor], need_score: bool, create_graph: bool
) -> dict[str, torch.Tensor]:
    log_r_hat, t_hat = model(batch["theta"], batch["x"], track_score=need_score, create_graph=create_graph)
    out = {"log_r_hat": log_r_hat}
    if t_hat is not None:
        out["t_hat"] = t_hat
    return out


def _ratio_manual(
    model: nn.Module, batch: dict[str, torch.Tensor], need_score: bool
) -> tuple[dict[str, torch.Tensor], Backward]:
    net = cast(ParameterizedRatioModel, model)  # used only for networks with manual gradients
    log_r_hat, t_hat, backward = net.forward_manual(batch["theta"], batch["x"], track_score=need_score)
    out = {"log_r_hat": log_r_hat}
    if t_hat is not None:
        out["t_hat"] = t_hat
    return out, lambda grads, into=None: backward(grads["log_r_hat"], grads.get("t_hat"), into)


class ParameterizedRatioEstimator(ConditionalEstimator):
    """Neural estimator of ``log r(x|theta) = log p(x|theta) - log p(x|theta_ref)``, with ``theta`` an input.

    The reference hypothesis is fixed and not an input. Methods: ``carl``, ``rolr``, ``alice``, ``cascal``,
    ``rascal``, ``alices``. Parameters as :class:`~motherlode.ml.base.Estimator`.
    """

    estimator_type = "parameterized_ratio"

    def _create_model(self) -> nn.Module:
        n_observables, n_parameters = self._require_dimensions()
        self.model = ParameterizedRatioModel(
            n_observables, n_parameters, self.n_hidden, self.activation, self.dropout_prob
        )
        return self.model

    # MadMiner 0.9's ratio network registers its layer list twice, as ``layers`` and ``append`` (it keeps
    # the return value of ``ModuleList.append``), so its files hold every layer under both names and its
    # ``load`` requires both.
    def _state_dict_to_file(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        layers = {k.removeprefix("layers."): v for k, v in state.items() if k.startswith("layers.")}
        return {**state, **{"append." + k: v for k, v in layers.items()}}

    def _state_dict_from_file(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v for k, v in state.items() if not k.startswith("append.")}

    @classmethod
    def _accepts_settings(cls, settings: dict[str, Any]) -> bool:
        # MadMiner saves morphing-aware estimators as "parameterized_ratio" with a morphing matrix
        return super()._accepts_settings(settings) and "morphing_matrix" not in settings

    # ------------------------------------------------------------------ training

    def train(
        self,
        method: str,
        x: ArrayLike,
        y: ArrayLike,
        theta: ArrayLike,
        r_xz: ArrayLike = None,
        t_xz: ArrayLike = None,
        x_val: ArrayLike = None,
        y_val: ArrayLike = None,
        theta_val: ArrayLike = None,
        r_xz_val: ArrayLike = None,
        t_xz_val: ArrayLike = None,
        alpha: float = 1.0,
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
        scale_parameters: bool = True,
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
        method : {"carl", "rolr", "alice", "cascal", "rascal", "alices"}
            Inference method.
        x, y, theta : ndarray or str
            Observations ``(n, n_observables)``, labels (0: sampled from ``theta``, 1: from the reference) and
            numerator parameter points ``(n, n_parameters)``; arrays or ``.npy`` paths.
        r_xz, t_xz : ndarray or str, optional
            Joint likelihood ratio and joint score at ``theta`` (needed by the methods that use them).
        x_val, y_val, theta_val, r_xz_val, t_xz_val : ndarray or str, optional
            Explicit validation data (used when ``x_val``, ``y_val`` and ``theta_val`` are all given).
        alpha : float, optional
            Weight of the score term (cascal, rascal, alices). Note: the score term is averaged over the
            numerator samples only (MadMiner averages over all samples). Default 1.
        initial_lr : float, optional
            First learning rate of the exponential schedule to ``final_lr``. Default 0.005, five times
            MadMiner's 0.001 (pass ``initial_lr=0.001`` for MadMiner's schedule): at MadMiner's value these
            networks are still under-trained after 50 epochs; on the tutorial toy the higher rate lowers the
            mean error of every method, by a factor 2 to 4 for all but CARL (docs/benchmarks.md).
        optimizer, n_epochs, batch_size, final_lr, nesterov_momentum, validation_split,
        early_stopping, clip_gradient, early_stopping_patience, verbose
            See :meth:`motherlode.ml.trainer.Trainer.train`.
        scale_inputs : bool, optional
            Standardise the observables. Default True.
        shuffle_labels : bool, optional
            Shuffle ``y``, ``r_xz`` and ``t_xz`` together against ``x`` and ``theta`` (closure test).
        limit_samplesize : int, optional
            Use only the first ``limit_samplesize`` samples.
        memmap : bool, optional
            Memory-map ``.npy`` inputs (files above 1 GiB always are).
        scale_parameters : bool, optional
            Standardise theta (and the score targets accordingly). Default True.
        n_workers : int, optional
            Accepted for MadMiner compatibility and ignored (no worker processes are used).
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
        loss = get_loss(args.method, args.alpha)
        values = {"x": args.x, "y": args.y, "theta": args.theta, "r_xz": args.r_xz, "t_xz": args.t_xz}
        arrays = load_training_arrays(values, _REQUIRED, args.memmap, args.limit_samplesize)
        self._check_required(args.method, loss.requires, arrays)
        val = None
        if args.x_val is not None and args.y_val is not None and args.theta_val is not None:
            values_val = {"x": args.x_val, "y": args.y_val, "theta": args.theta_val}
            values_val |= {"r_xz": args.r_xz_val, "t_xz": args.t_xz_val}
            val = load_training_arrays(values_val, _REQUIRED, args.memmap)
            self._check_required(args.method, loss.requires, val, "_val")
        self.initialize_input_transform(_required(arrays, "x"), transform=args.scale_inputs, overwrite=False)
        self.initialize_parameter_transform(_required(arrays, "theta"), transform=args.scale_parameters)
        data = self._package(arrays, loss.requires)
        if args.shuffle_labels:
            logger.info("Shuffling labels")
            keys = [k for k in ("y", "r_xz", "t_xz") if k in data]
            for key, arr in zip(keys, shuffle_together(*(data[k] for k in keys)), strict=True):
                data[key] = arr
        data_val = None if val is None else self._package(val, loss.requires)
        self._set_dimensions(data["x"].shape[1], data["theta"].shape[1])
        return self._training_setup(loss, _ratio_forward, data, data_val, args, manual=_ratio_manual)

    # ------------------------------------------------------------------ evaluation

    def _evaluate_pairs(
        self, theta: np.ndarray, x: np.ndarray, evaluate_score: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """log r_hat ``(n,)`` and scaled-theta score ``(n, P)`` for paired, already transformed inputs."""
        model = self._check_model()
        model.eval()
        device = self._model_device()
        logs, scores = [], []
        with torch.set_grad_enabled(evaluate_score):
            for start in range(0, len(x), EVALUATION_BATCH):
                th = torch.as_tensor(theta[start : start + EVALUATION_BATCH], device=device)
                xx = torch.as_tensor(x[start : start + EVALUATION_BATCH], device=device)
                log_r, t = model(th, xx, track_score=evaluate_score, create_graph=False)
                logs.append(log_r.detach()[:, 0].cpu().numpy())
                if t is not None:
                    scores.append(t.detach().cpu().numpy())
        log_r_hat = np.concatenate(logs) if logs else np.zeros(0, dtype=np.float32)
        t_hat = (
            (np.concatenate(scores) if scores else np.zeros((0, theta.shape[1]))) if evaluate_score else None
        )
        return log_r_hat, t_hat

    def evaluate_log_likelihood_ratio(
        self,
        x: ArrayLike,
        theta: ArrayLike,
        test_all_combinations: bool = True,
        evaluate_score: bool = False,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Estimated ``log r(x|theta)`` (and optionally the score ``d log r / d theta``).

        Parameters
        ----------
        x : ndarray or str
            Observations ``(n_x, n_observables)`` or a ``.npy`` path.
        theta : ndarray or str
            Parameter points ``(n_thetas, n_parameters)`` or a ``.npy`` path.
        test_all_combinations : bool, optional
            True: every theta with every x, shapes ``(n_thetas, n_x)`` and ``(n_thetas, n_x, P)``.
            False: paired ``(x_i, theta_i)``, shapes ``(n,)`` and ``(n, P)``. Default True.
        evaluate_score : bool, optional
            Also return the score (else None). Default False.

        Returns
        -------
        log_r_hat : ndarray
        t_hat : ndarray or None
        """
        x_arr = self._prepare_x(x)
        theta_arr = self._prepare_theta(theta)
        if not test_all_combinations:
            if len(theta_arr) != len(x_arr):
                raise InputError(
                    f"theta has {len(theta_arr)} rows but x has {len(x_arr)} (paired evaluation)"
                )
            log_r, t = self._evaluate_pairs(theta_arr, x_arr, evaluate_score)
            return log_r, self._transform_score(t, inverse=True)
        logs, scores = [], []
        for row in theta_arr:
            log_r, t = self._evaluate_pairs(
                np.repeat(row[None, :], len(x_arr), axis=0), x_arr, evaluate_score
            )
            logs.append(log_r)
            scores.append(self._transform_score(t, inverse=True))
        n_p = theta_arr.shape[1]
        log_r_hat = np.stack(logs) if logs else np.zeros((0, len(x_arr)), dtype=np.float32)
        if not evaluate_score:
            return log_r_hat, None
        scores_arr = cast(list[np.ndarray], scores)  # arrays, not None, with evaluate_score
        return log_r_hat, np.stack(scores_arr) if scores else np.zeros((0, len(x_arr), n_p), dtype=np.float32)

    def evaluate_log_likelihood_ratio_torch(
        self, x: torch.Tensor, theta: torch.Tensor, test_all_combinations: bool = True
    ) -> torch.Tensor:
        """Differentiable ``log r_hat`` for tensors ``x`` and ``theta`` in physical (unscaled) units.

        Scaling and feature selection are applied in torch, so gradients with respect to ``x`` and ``theta``
        flow through. Shapes as :meth:`evaluate_log_likelihood_ratio`.
        """
        model = self._check_model()
        model.eval()
        device = self._model_device()
        dtype = next(model.parameters()).dtype
        x_t = self._torch_transform(x.to(device, dtype), self.x_scaling_means, self.x_scaling_stds)
        if self.features is not None:
            x_t = x_t[:, self.features]
        th = self._torch_transform(theta.to(device, dtype), self.theta_scaling_means, self.theta_scaling_stds)
        if not test_all_combinations:
            return model(th, x_t, track_score=False)[0][:, 0]
        rows = [model(row.expand(len(x_t), -1), x_t, track_score=False)[0][:, 0] for row in th]
        return torch.stack(rows) if rows else x_t.new_zeros((0, len(x_t)))

    @staticmethod
    def _torch_transform(t: torch.Tensor, means: np.ndarray | None, stds: np.ndarray | None) -> torch.Tensor:
        t = t.reshape(-1, 1) if t.ndim == 1 else t
        if means is None or stds is None:
            return t
        m = torch.as_tensor(means, dtype=t.dtype, device=t.device)
        s = torch.as_tensor(stds, dtype=t.dtype, device=t.device)
        return (t - m) / s

    def evaluate_score(self, x: ArrayLike, theta: ArrayLike, nuisance_mode: str = "keep") -> np.ndarray:
        """Estimated score ``d log r_hat / d theta`` at paired ``(x_i, theta_i)``, shape ``(n, P)``.

        A single parameter point (one row) is broadcast to all ``x``. Only ``nuisance_mode="keep"`` exists.
        """
        if nuisance_mode != "keep":
            raise InputError(f"Unknown nuisance_mode {nuisance_mode!r}; this estimator supports only 'keep'")
        x_arr = _as_2d(load_array(x), "x")
        theta_arr = self._theta_rows(theta, len(x_arr))
        _, t_hat = self.evaluate_log_likelihood_ratio(x_arr, theta_arr, False, evaluate_score=True)
        return t_hat  # type: ignore[return-value]

    def _fisher_scores(self, x: np.ndarray, theta: ArrayLike) -> np.ndarray:
        if theta is None:
            raise InputError("calculate_fisher_information needs theta for a ParameterizedRatioEstimator")
        return self.evaluate_score(x, theta)

    def evaluate(self, *args: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """Alias of :meth:`evaluate_log_likelihood_ratio`."""
        return self.evaluate_log_likelihood_ratio(*args, **kwargs)

    def evaluate_log_likelihood(self, *args: Any, **kwargs: Any) -> Any:
        """Not available: a ratio estimator cannot give likelihoods.

        Raises
        ------
        TheresAGoodReasonThisDoesntWork
            Always.
        """
        raise TheresAGoodReasonThisDoesntWork(
            "A ParameterizedRatioEstimator estimates likelihood ratios, not the likelihood itself; "
            "use evaluate_log_likelihood_ratio, or a LikelihoodEstimator for densities"
        )
