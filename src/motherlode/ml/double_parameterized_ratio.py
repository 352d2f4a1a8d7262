"""The doubly parameterized ratio estimator ``r_hat(x|theta0, theta1) = p(x|theta0) / p(x|theta1)``."""

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
from motherlode.ml.losses import get_double_loss
from motherlode.ml.networks import DoubleParameterizedRatioModel
from motherlode.ml.trainer import EVALUATION_BATCH, Backward

__all__ = ["DoubleParameterizedRatioEstimator", "DoubleParameterizedRatioModel"]

logger = logging.getLogger(__name__)

_REQUIRED = ("x", "y", "theta0", "theta1")
_THETAS = ("theta0", "theta1")


def _double_forward(
    model: nn.Module, batch: dict[str, torch.Tensor], need_score: bool, create_graph: bool
) -> dict[str, torch.Tensor]:
    log_r_hat, t0, t1 = model(
        batch["theta0"], batch["theta1"], batch["x"], track_score=need_score, create_graph=create_graph
    )
    out = {"log_r_hat": log_r_hat}
    if t0 is not None:
        out["t_hat0"], out["t_hat1"] = t0, t1
    return out


def _double_manual(
    model: nn.Module, batch: dict[str, torch.Tensor], need_score: bool
) -> tuple[dict[str, torch.Tensor], Backward]:
    net = cast(DoubleParameterizedRatioModel, model)  # used only for networks with manual gradients
    log_r_hat, t0, t1, backward = net.forward_manual(
        batch["theta0"], batch["theta1"], batch["x"], track_score=need_score
    )
    out = {"log_r_hat": log_r_hat}
    if t0 is not None and t1 is not None:  # both or neither
        out["t_hat0"], out["t_hat1"] = t0, t1
    return out, lambda grads, into=None: backward(
        grads["log_r_hat"], grads.get("t_hat0"), grads.get("t_hat1"), into
    )


class DoubleParameterizedRatioEstimator(ConditionalEstimator):
    """Neural estimator of ``log r(x|theta0, theta1) = log p(x|theta0) - log p(x|theta1)``.

    Both hypotheses are network inputs; one network ``f`` gives ``log r_hat = f(theta0, theta1, x) -
    f(theta1, theta0, x)``, antisymmetric by construction. Methods: ``carl``, ``rolr``, ``alice``, ``cascal``,
    ``rascal``, ``alices`` (trained with the "2" losses of :mod:`motherlode.ml.losses`: the score terms use
    ``t_xz0`` on y = 0 and ``t_xz1`` on y = 1 samples, with ``t_xz1 ~ -d log r / d theta1``). The
    parameter scaling is computed from the concatenation of theta0 and theta1 and applied, with the inverse
    scaling of the scores, at evaluation.
    Parameters as :class:`~motherlode.ml.base.Estimator`.
    """

    estimator_type = "double_parameterized_ratio"

    def _create_model(self) -> nn.Module:
        n_observables, n_parameters = self._require_dimensions()
        self.model = DoubleParameterizedRatioModel(
            n_observables, n_parameters, self.n_hidden, self.activation, self.dropout_prob
        )
        return self.model

    # ------------------------------------------------------------------ training

    def train(
        self,
        method: str,
        x: ArrayLike,
        y: ArrayLike,
        theta0: ArrayLike,
        theta1: ArrayLike,
        r_xz: ArrayLike = None,
        t_xz0: ArrayLike = None,
        t_xz1: ArrayLike = None,
        x_val: ArrayLike = None,
        y_val: ArrayLike = None,
        theta0_val: ArrayLike = None,
        theta1_val: ArrayLike = None,
        r_xz_val: ArrayLike = None,
        t_xz0_val: ArrayLike = None,
        t_xz1_val: ArrayLike = None,
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
            Inference method (``"carl2"``, ... are accepted as aliases).
        x, y, theta0, theta1 : ndarray or str
            Observations ``(n, n_observables)``, labels (0: sampled from ``theta0``, 1: from ``theta1``),
            numerator and denominator parameter points ``(n, n_parameters)``; arrays or ``.npy`` paths.
        r_xz, t_xz0, t_xz1 : ndarray or str, optional
            Joint likelihood ratio and joint scores at ``theta0`` and ``theta1``.
        x_val, y_val, theta0_val, theta1_val, r_xz_val, t_xz0_val, t_xz1_val : ndarray or str, optional
            Explicit validation data (used when x_val, y_val, theta0_val and theta1_val are all given).
        alpha : float, optional
            Weight of the score terms (cascal, rascal, alices). Default 1.
        optimizer, ..., early_stopping_patience, device
            As :meth:`ParameterizedRatioEstimator.train` (``initial_lr`` defaults to 0.005 there too);
            ``scale_parameters`` uses the statistics of ``concat(theta0, theta1)``, ``shuffle_labels``
            shuffles ``y``, ``r_xz``, ``t_xz0``, ``t_xz1`` together.
        checkpoint : path-like, optional
            Per-epoch records that let an interrupted training continue, as for
            :meth:`ParameterizedRatioEstimator.train`.

        Returns
        -------
        train_losses, val_losses : ndarray
            Loss per epoch.
        """
        return self.fit(self._prepare(train_arguments(locals())))

    def _prepare(self, args: SimpleNamespace) -> TrainingSetup:
        """:meth:`train`'s preparation: load, check, scale and package the data (``args``: its arguments)."""
        loss = get_double_loss(args.method, args.alpha)
        values = {"x": args.x, "y": args.y, "theta0": args.theta0, "theta1": args.theta1, "r_xz": args.r_xz}
        values |= {"t_xz0": args.t_xz0, "t_xz1": args.t_xz1}
        arrays = load_training_arrays(values, _REQUIRED, args.memmap, args.limit_samplesize)
        self._check_required(args.method, loss.requires, arrays)
        val = None
        given = (args.x_val, args.y_val, args.theta0_val, args.theta1_val)
        if all(value is not None for value in given):
            values_val = {
                "x": args.x_val,
                "y": args.y_val,
                "theta0": args.theta0_val,
                "theta1": args.theta1_val,
            }
            values_val |= {"r_xz": args.r_xz_val, "t_xz0": args.t_xz0_val, "t_xz1": args.t_xz1_val}
            val = load_training_arrays(values_val, _REQUIRED, args.memmap)
            self._check_required(args.method, loss.requires, val, "_val")
        self.initialize_input_transform(_required(arrays, "x"), transform=args.scale_inputs, overwrite=False)
        self.initialize_parameter_transform(
            np.concatenate([_required(arrays, "theta0"), _required(arrays, "theta1")]),
            transform=args.scale_parameters,
        )
        data = self._package(arrays, loss.requires, _THETAS)
        if args.shuffle_labels:
            logger.info("Shuffling labels")
            keys = [k for k in ("y", "r_xz", "t_xz0", "t_xz1") if k in data]
            for key, arr in zip(keys, shuffle_together(*(data[k] for k in keys)), strict=True):
                data[key] = arr
        data_val = None if val is None else self._package(val, loss.requires, _THETAS)
        self._set_dimensions(data["x"].shape[1], data["theta0"].shape[1])
        return self._training_setup(loss, _double_forward, data, data_val, args, manual=_double_manual)

    # ------------------------------------------------------------------ evaluation

    def _evaluate_pairs(
        self, theta0: np.ndarray, theta1: np.ndarray, x: np.ndarray, evaluate_score: bool
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """log r_hat ``(n,)`` and physical-unit scores ``(n, P)`` for paired, already transformed inputs."""
        model = self._check_model()
        model.eval()
        device = self._model_device()
        logs, scores0, scores1 = [], [], []
        with torch.set_grad_enabled(evaluate_score):
            for start in range(0, len(x), EVALUATION_BATCH):
                sl = slice(start, start + EVALUATION_BATCH)
                th0 = torch.as_tensor(theta0[sl], device=device)
                th1 = torch.as_tensor(theta1[sl], device=device)
                xx = torch.as_tensor(x[sl], device=device)
                log_r, t0, t1 = model(th0, th1, xx, track_score=evaluate_score, create_graph=False)
                logs.append(log_r.detach()[:, 0].cpu().numpy())
                if t0 is not None:
                    scores0.append(t0.detach().cpu().numpy())
                    scores1.append(t1.detach().cpu().numpy())
        log_r_hat = np.concatenate(logs) if logs else np.zeros(0, dtype=np.float32)
        if not evaluate_score:
            return log_r_hat, None, None
        empty = np.zeros((0, theta0.shape[1]), dtype=np.float32)
        t_hat0 = np.concatenate(scores0) if scores0 else empty
        t_hat1 = np.concatenate(scores1) if scores1 else empty
        return (
            log_r_hat,
            self._transform_score(t_hat0, inverse=True),
            self._transform_score(t_hat1, inverse=True),
        )

    def evaluate_log_likelihood_ratio(
        self,
        x: ArrayLike,
        theta0: ArrayLike,
        theta1: ArrayLike,
        test_all_combinations: bool = True,
        evaluate_score: bool = False,
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Estimated ``log r(x|theta0, theta1)`` and optionally the scores at theta0 and theta1.

        Parameters
        ----------
        x : ndarray or str
            Observations ``(n_x, n_observables)`` or a ``.npy`` path.
        theta0, theta1 : ndarray or str
            Numerator and denominator parameter points ``(n_thetas, n_parameters)``, paired row by row.
        test_all_combinations : bool, optional
            True: every ``(theta0_j, theta1_j)`` with every x, shapes ``(n_thetas, n_x)`` and
            ``(n_thetas, n_x, P)``. False: paired ``(x_i, theta0_i, theta1_i)``, shapes ``(n,)`` and
            ``(n, P)``. Default True.
        evaluate_score : bool, optional
            Also return the scores (else None). Default False.

        Returns
        -------
        log_r_hat : ndarray
        t_hat0, t_hat1 : ndarray or None
            ``d log r_hat / d theta0`` and ``d log r_hat / d theta1`` in physical units.
        """
        x_arr = self._prepare_x(x)
        th0 = self._prepare_theta(theta0)
        th1 = self._prepare_theta(theta1)
        if len(th0) != len(th1):
            raise InputError(f"theta0 has {len(th0)} rows but theta1 has {len(th1)}")
        if not test_all_combinations:
            if len(th0) != len(x_arr):
                raise InputError(f"theta0 has {len(th0)} rows but x has {len(x_arr)} (paired evaluation)")
            return self._evaluate_pairs(th0, th1, x_arr, evaluate_score)
        n_x, n_p = len(x_arr), th0.shape[1]
        results = [
            self._evaluate_pairs(
                np.repeat(r0[None, :], n_x, axis=0),
                np.repeat(r1[None, :], n_x, axis=0),
                x_arr,
                evaluate_score,
            )
            for r0, r1 in zip(th0, th1, strict=True)
        ]
        log_r_hat = np.stack([r[0] for r in results]) if results else np.zeros((0, n_x), dtype=np.float32)
        if not evaluate_score:
            return log_r_hat, None, None
        empty = np.zeros((0, n_x, n_p), dtype=np.float32)
        t0 = np.stack([r[1] for r in results]) if results else empty  # type: ignore[misc]
        t1 = np.stack([r[2] for r in results]) if results else empty  # type: ignore[misc]
        return log_r_hat, t0, t1

    def evaluate_score(
        self, x: ArrayLike, theta0: ArrayLike, theta1: ArrayLike = None, nuisance_mode: str = "keep"
    ) -> np.ndarray:
        """Estimated score ``d log r_hat(x|theta0, theta1) / d theta0`` at fixed theta1, shape ``(n, P)``.

        Paired ``(x_i, theta0_i, theta1_i)``; a single parameter row is broadcast to all x. ``theta1``
        defaults to ``theta0`` (for the exact ratio the score does not depend on theta1). Only
        ``nuisance_mode="keep"`` exists. (MadMiner raises NotImplementedError here.)
        """
        if nuisance_mode != "keep":
            raise InputError(f"Unknown nuisance_mode {nuisance_mode!r}; this estimator supports only 'keep'")
        x_arr = _as_2d(load_array(x), "x")
        th0 = self._theta_rows(theta0, len(x_arr))
        th1 = th0 if theta1 is None else self._theta_rows(theta1, len(x_arr))
        _, t_hat0, _ = self.evaluate_log_likelihood_ratio(x_arr, th0, th1, False, evaluate_score=True)
        return t_hat0  # type: ignore[return-value]

    def _fisher_scores(self, x: np.ndarray, theta: ArrayLike) -> np.ndarray:
        if theta is None:
            raise InputError(
                "calculate_fisher_information needs theta for a DoubleParameterizedRatioEstimator"
            )
        return self.evaluate_score(x, theta)

    def evaluate(self, *args: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
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
            "A DoubleParameterizedRatioEstimator estimates likelihood ratios, not the likelihood itself; "
            "use evaluate_log_likelihood_ratio, or a LikelihoodEstimator for densities"
        )
