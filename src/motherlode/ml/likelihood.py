"""The neural density estimator ``p_hat(x|theta)`` (NDE, SCANDAL): a conditional masked autoregressive flow.

Design
------
* **Flow.** :class:`ConditionalMAF` wraps a :class:`zuko.flows.MAF` conditioned on the (scaled) parameters:
  ``n_mades`` masked autoregressive affine transforms (MADEs) with hidden layers ``n_hidden``. zuko's MAF
  (``randperm=False``) alternates the input ordering between consecutive MADEs (ascending, descending, ...);
  MadMiner builds every MADE with the same ordering. For one observable zuko uses an element-wise affine
  transform whose shift and log-scale are an MLP of theta.
* **Base density.** ``n_components == 1``: a standard normal. ``n_components > 1``: a conditional Gaussian
  mixture :class:`zuko.mixtures.GMM` (diagonal covariances; weights, means and widths are an MLP of theta).
  This replaces MadMiner's "MADE MoG" last layer, an autoregressive mixture, with a mixture base below the
  MADE stack; both are mixtures of Gaussians conditional on theta.
* **Batch norm.** With ``batch_norm = alpha`` a :class:`BatchNormTransform` follows each MADE (as in
  MadMiner): ``u = (x - mean) / sqrt(var)`` with batch statistics in training mode and running averages
  ``running = (1 - alpha) running + alpha batch`` (initialised with the first batch) in eval mode. Unlike
  MadMiner, the running statistics are registered buffers, so they are saved and loaded with the state
  dict. In training mode the batch statistics couple the events of a batch, so the SCANDAL score term sees
  small ``O(1/batch_size)`` cross terms; evaluation (eval mode) has none.
* **Scaling.** The flow models the *scaled* observables ``x_s = (x - mean) / std``;
  :meth:`LikelihoodEstimator.evaluate_log_likelihood` returns the density of the *physical* observables,
  ``log p(x) = log p_s(x_s) - sum_j log std_j`` over the used features (MadMiner returns ``log p_s``).
  The parameters are scaled identically in training and evaluation (MadMiner never scales them in
  evaluation), and scores are converted back to physical units by dividing by the theta standard deviations.

The scores ``t_hat = d log p_hat / d theta`` are computed by automatic differentiation (with
``create_graph=True`` during SCANDAL training).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import nn

from motherlode.checkpoint import CheckpointLike
from motherlode.errors import InputError
from motherlode.ml.base import (
    ArrayLike,
    ConditionalEstimator,
    TrainingSetup,
    _as_2d,
    _required,
    load_array,
    load_training_arrays,
    shuffle_together,
    train_arguments,
)
from motherlode.ml.losses import LIKELIHOOD_METHODS, NdeLoss, ScandalLoss
from motherlode.ml.networks.flows import BatchNormTransform, ConditionalMAF
from motherlode.ml.trainer import EVALUATION_BATCH

__all__ = [
    "LIKELIHOOD_METHODS",
    "BatchNormTransform",
    "ConditionalMAF",
    "LikelihoodEstimator",
    "NdeLoss",
    "ScandalLoss",
]

logger = logging.getLogger(__name__)

_BN_EPS = 1.0e-5

Tensors = dict[str, torch.Tensor]


def _likelihood_forward(model: nn.Module, batch: Tensors, need_score: bool, create_graph: bool) -> Tensors:
    log_p, t_hat = model(batch["theta"], batch["x"], track_score=need_score, create_graph=create_graph)
    out = {"log_p_hat": log_p}
    if t_hat is not None:
        out["t_hat"] = t_hat
    return out


# ---------------------------------------------------------------------- estimator


class LikelihoodEstimator(ConditionalEstimator):
    """Neural density estimator of ``p(x|theta)`` (methods ``nde`` and ``scandal``) with a conditional MAF.

    Parameters
    ----------
    features : list of int or None, optional
        Indices of the observables modelled (None: all); the density is that of these features.
    n_components : int, optional
        Gaussian components of the base density (1: standard normal). Default 1.
    n_mades : int, optional
        Number of MADE (autoregressive) transforms. Default 5.
    n_hidden : tuple of int, optional
        Hidden layers of each MADE. Default ``(100,)``.
    activation : str, optional
        Activation function (``tanh``, ``relu``, ``sigmoid``, ...). Default ``"tanh"``.
    batch_norm : float or None, optional
        If not None, batch norm after each MADE with this running-average weight ``alpha``. Default None.

    Examples
    --------
    >>> import numpy as np, torch
    >>> _ = torch.manual_seed(0)
    >>> rng = np.random.default_rng(0)
    >>> theta = rng.uniform(-1, 1, (500, 1))
    >>> x = rng.normal(theta, 1.0)
    >>> est = LikelihoodEstimator(n_mades=2, n_hidden=(8,))
    >>> _ = est.train("nde", x, theta, n_epochs=2, verbose="none")
    >>> log_p, score = est.evaluate_log_likelihood(x[:4], np.array([[0.0], [0.5]]), evaluate_score=True)
    >>> log_p.shape, score.shape
    ((2, 4), (2, 4, 1))
    """

    estimator_type = "likelihood"

    def __init__(
        self,
        features: Sequence[int] | None = None,
        n_components: int = 1,
        n_mades: int = 5,
        n_hidden: Sequence[int] = (100,),
        activation: str = "tanh",
        batch_norm: float | None = None,
    ) -> None:
        super().__init__(features, n_hidden, activation, 0.0)
        self.n_components = int(n_components)
        self.n_mades = int(n_mades)
        self.batch_norm = None if batch_norm is None else float(batch_norm)
        self._check_hyperparameters()

    def _check_hyperparameters(self) -> None:
        if self.n_components < 1 or self.n_mades < 1:
            raise InputError(
                f"n_components and n_mades must be >= 1, got {self.n_components}, {self.n_mades}"
            )
        if not self.n_hidden or min(self.n_hidden) < 1:
            raise InputError(f"n_hidden must be non-empty positive layer sizes, got {self.n_hidden}")
        if self.batch_norm is not None and not 0.0 < self.batch_norm <= 1.0:
            raise InputError(f"batch_norm must be None or in (0, 1], got {self.batch_norm}")

    def _create_model(self) -> nn.Module:
        n_observables, n_parameters = self._require_dimensions()
        self.model = ConditionalMAF(
            n_observables,
            n_parameters,
            self.n_mades,
            self.n_hidden,
            self.activation,
            self.n_components,
            self.batch_norm,
        )
        return self.model

    # ------------------------------------------------------------------ training

    def train(
        self,
        method: str,
        x: ArrayLike,
        theta: ArrayLike,
        t_xz: ArrayLike = None,
        x_val: ArrayLike = None,
        theta_val: ArrayLike = None,
        t_xz_val: ArrayLike = None,
        alpha: float = 1.0,
        optimizer: str = "amsgrad",
        n_epochs: int = 50,
        batch_size: int = 128,
        initial_lr: float = 0.001,
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
        """Train the flow.

        Parameters
        ----------
        method : {"nde", "scandal"}
            ``nde``: maximum likelihood; ``scandal``: plus ``alpha`` times the squared error of the score
            ``d log p_hat / d theta`` against the joint score ``t_xz``.
        x, theta : ndarray or str
            Observations ``(n, n_observables)`` and the parameter points they were drawn at
            ``(n, n_parameters)``; arrays or ``.npy`` paths.
        t_xz : ndarray or str, optional
            Joint score at ``theta`` (required by ``scandal``).
        x_val, theta_val, t_xz_val : ndarray or str, optional
            Explicit validation data (used when ``x_val`` and ``theta_val`` are given).
        alpha : float, optional
            Weight of the score term (scandal). Default 1.
        optimizer, n_epochs, batch_size, initial_lr, final_lr, nesterov_momentum, validation_split,
        early_stopping, clip_gradient, early_stopping_patience, verbose
            See :meth:`motherlode.ml.trainer.Trainer.train`.
        scale_inputs : bool, optional
            Standardise the observables (the returned densities are corrected back). Default True.
        shuffle_labels : bool, optional
            Shuffle ``t_xz`` against ``x`` and ``theta`` (closure test).
        limit_samplesize : int, optional
            Use only the first ``limit_samplesize`` samples.
        memmap : bool, optional
            Memory-map ``.npy`` inputs (files above 1 GiB always are).
        scale_parameters : bool, optional
            Standardise theta (and the score targets accordingly). Default True.
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

        Raises
        ------
        InputError
            For an unknown method, missing, NaN or inconsistent inputs.
        """
        return self.fit(self._prepare(train_arguments(locals())))

    def _prepare(self, args: SimpleNamespace) -> TrainingSetup:
        """:meth:`train`'s preparation: load, check, scale and package the data (``args``: its arguments)."""
        if args.method not in LIKELIHOOD_METHODS:
            known = ", ".join(LIKELIHOOD_METHODS)
            raise InputError(f"Unknown method {args.method!r}; expected one of {known}")
        loss = LIKELIHOOD_METHODS[args.method](args.alpha)
        values = {"x": args.x, "theta": args.theta, "t_xz": args.t_xz}
        arrays = load_training_arrays(values, ("x", "theta"), args.memmap, args.limit_samplesize)
        self._check_required(args.method, loss.requires, arrays)
        val = None
        if args.x_val is not None and args.theta_val is not None:
            values_val = {"x": args.x_val, "theta": args.theta_val, "t_xz": args.t_xz_val}
            val = load_training_arrays(values_val, ("x", "theta"), args.memmap)
            self._check_required(args.method, loss.requires, val, "_val")
        self.initialize_input_transform(_required(arrays, "x"), transform=args.scale_inputs, overwrite=False)
        self.initialize_parameter_transform(_required(arrays, "theta"), transform=args.scale_parameters)
        data = self._package(arrays, loss.requires)
        if args.shuffle_labels and "t_xz" in data:
            logger.info("Shuffling labels")
            (data["t_xz"],) = shuffle_together(data["t_xz"])
        data_val = None if val is None else self._package(val, loss.requires)
        self._set_dimensions(data["x"].shape[1], data["theta"].shape[1])
        return self._training_setup(loss, _likelihood_forward, data, data_val, args)

    # ------------------------------------------------------------------ evaluation

    def _log_jacobian(self) -> float:
        """``sum_j log std_j`` over the used features: ``log p(x) = log p_scaled(x_scaled) - this``."""
        if self.x_scaling_stds is None:
            return 0.0
        stds = np.asarray(self.x_scaling_stds, dtype=np.float64).reshape(-1)
        return float(np.sum(np.log(stds if self.features is None else stds[self.features])))

    def _prepare_inputs(self, x: ArrayLike, theta: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Scaled ``x`` and ``theta`` for the flow, with their dimensions checked."""
        self._check_model()
        x_raw = _as_2d(load_array(x), "x")
        if self.x_scaling_means is not None and x_raw.shape[1] != len(self.x_scaling_means):
            raise InputError(
                f"x has {x_raw.shape[1]} features, the training data had {len(self.x_scaling_means)}"
            )
        x_arr, theta_arr = self._prepare_x(x_raw), self._prepare_theta(theta)
        if x_arr.shape[1] != self.n_observables or theta_arr.shape[1] != self.n_parameters:
            raise InputError(
                f"x has {x_arr.shape[1]} used features and theta {theta_arr.shape[1]} parameters; the "
                f"estimator expects {self.n_observables} and {self.n_parameters}"
            )
        return x_arr, theta_arr

    def _evaluate_pairs(
        self, theta: np.ndarray, x: np.ndarray, evaluate_score: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Flow log density ``(n,)`` of scaled x and scaled-theta score ``(n, P)``, in batches."""
        model = self._check_model()
        model.eval()
        device = self._model_device()
        logs, scores = [np.zeros(0, dtype=np.float32)], [np.zeros((0, theta.shape[1]), dtype=np.float32)]
        for start in range(0, len(x), EVALUATION_BATCH):
            th = torch.as_tensor(theta[start : start + EVALUATION_BATCH], device=device)
            xx = torch.as_tensor(x[start : start + EVALUATION_BATCH], device=device)
            with torch.no_grad():
                log_p, t = model(th, xx, track_score=evaluate_score)
            logs.append(log_p.detach().cpu().numpy())
            if t is not None:
                scores.append(t.detach().cpu().numpy())
        return np.concatenate(logs), np.concatenate(scores) if evaluate_score else None

    def _evaluate_grid(
        self, theta: np.ndarray, x: np.ndarray, evaluate_score: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """All combinations, shapes ``(n_thetas, n_x)`` and ``(n_thetas, n_x, P)``; many thetas per batch."""
        n_x, n_p = len(x), theta.shape[1]
        rows = max(1, EVALUATION_BATCH // max(n_x, 1))
        logs, scores = [np.zeros((0, n_x))], [np.zeros((0, n_x, n_p))]
        for start in range(0, len(theta), rows):
            block = theta[start : start + rows]
            log_p, t = self._evaluate_pairs(
                np.repeat(block, n_x, axis=0), np.tile(x, (len(block), 1)), evaluate_score
            )
            logs.append(log_p.reshape(len(block), n_x))
            if t is not None:
                scores.append(t.reshape(len(block), n_x, n_p))
        return np.concatenate(logs), np.concatenate(scores) if evaluate_score else None

    def evaluate_log_likelihood(
        self,
        x: ArrayLike,
        theta: ArrayLike,
        test_all_combinations: bool = True,
        evaluate_score: bool = False,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Estimated ``log p(x|theta)`` of the physical observables (and optionally the score).

        The flow models standardised observables; the log Jacobian ``sum_j log std_j`` of the scaling is
        subtracted here, so the result is a normalised density in the original units of the used features
        (MadMiner returns the density of the standardised observables instead).

        Parameters
        ----------
        x : ndarray or str
            Observations ``(n_x, n_observables)`` or a ``.npy`` path.
        theta : ndarray or str
            Parameter points ``(n_thetas, n_parameters)`` or a ``.npy`` path.
        test_all_combinations : bool, optional
            True: every theta with every x, shapes ``(n_thetas, n_x)`` and ``(n_thetas, n_x, P)``.
            False: paired ``(x_i, theta_i)`` (one theta row is broadcast), shapes ``(n,)`` and ``(n, P)``.
        evaluate_score : bool, optional
            Also return the score ``d log p / d theta`` in physical units (else None). Default False.

        Returns
        -------
        log_likelihood : ndarray
        score : ndarray or None

        Raises
        ------
        InputError
            Before training or loading, or for inconsistent shapes.
        """
        x_arr, theta_arr = self._prepare_inputs(x, theta)
        if test_all_combinations:
            log_p, t_hat = self._evaluate_grid(theta_arr, x_arr, evaluate_score)
        else:
            log_p, t_hat = self._evaluate_pairs(self._pair(theta_arr, len(x_arr)), x_arr, evaluate_score)
        return log_p - self._log_jacobian(), self._transform_score(t_hat, inverse=True)

    @staticmethod
    def _pair(theta: np.ndarray, n: int) -> np.ndarray:
        if len(theta) == 1:
            return np.repeat(theta, n, axis=0)
        if len(theta) != n:
            raise InputError(f"theta has {len(theta)} rows but x has {n} (paired evaluation)")
        return theta

    def evaluate_log_likelihood_ratio(
        self,
        x: ArrayLike,
        theta0: ArrayLike,
        theta1: ArrayLike,
        test_all_combinations: bool = True,
        evaluate_score: bool = False,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Estimated ``log p(x|theta0) - log p(x|theta1)`` (and optionally the score at theta0).

        Parameters
        ----------
        x : ndarray or str
            Observations or a ``.npy`` path.
        theta0, theta1 : ndarray or str
            Numerator and denominator parameter points (same number of rows, or one row).
        test_all_combinations : bool, optional
            True: every pair ``(theta0_j, theta1_j)`` with every x, shape ``(n_thetas, n_x)``; False: paired
            ``(x_i, theta0_i, theta1_i)``, shape ``(n,)``. Default True.
        evaluate_score : bool, optional
            Also return ``d log p(x|theta0) / d theta0`` (shapes as in :meth:`evaluate_log_likelihood`).

        Returns
        -------
        log_likelihood_ratio : ndarray
        score : ndarray or None
        """
        x_arr = _as_2d(load_array(x), "x")
        log_p0, t_hat = self.evaluate_log_likelihood(x_arr, theta0, test_all_combinations, evaluate_score)
        log_p1, _ = self.evaluate_log_likelihood(x_arr, theta1, test_all_combinations, False)
        try:
            shape = np.broadcast_shapes(log_p0.shape, log_p1.shape)
        except ValueError:
            raise InputError(f"theta0 and theta1 have {len(log_p0)} and {len(log_p1)} rows") from None
        if t_hat is not None and t_hat.shape[:-1] != shape:
            t_hat = np.broadcast_to(t_hat, shape + t_hat.shape[-1:]).copy()
        return log_p0 - log_p1, t_hat

    def evaluate_score(self, x: ArrayLike, theta: ArrayLike, nuisance_mode: str = "keep") -> np.ndarray:
        """Estimated score ``d log p_hat(x|theta) / d theta`` at paired ``(x_i, theta_i)``, shape ``(n, P)``.

        A single parameter point is broadcast to all ``x``. Only ``nuisance_mode="keep"`` exists. (MadMiner
        raises NotImplementedError here.)
        """
        if nuisance_mode != "keep":
            raise InputError(f"Unknown nuisance_mode {nuisance_mode!r}; this estimator supports only 'keep'")
        x_arr = _as_2d(load_array(x), "x")
        _, t_hat = self.evaluate_log_likelihood(x_arr, self._theta_rows(theta, len(x_arr)), False, True)
        return t_hat  # type: ignore[return-value]

    def _fisher_scores(self, x: np.ndarray, theta: ArrayLike) -> np.ndarray:
        if theta is None:
            raise InputError("calculate_fisher_information needs theta for a LikelihoodEstimator")
        return self.evaluate_score(x, theta)

    def evaluate(self, *args: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """Alias of :meth:`evaluate_log_likelihood`."""
        return self.evaluate_log_likelihood(*args, **kwargs)

    # ------------------------------------------------------------------ saving

    def _settings(self) -> dict[str, Any]:
        return {
            **super()._settings(),
            "n_components": self.n_components,
            "batch_norm": self.batch_norm,
            "n_mades": self.n_mades,
        }

    def _apply_settings(self, settings: dict[str, Any]) -> None:
        super()._apply_settings(settings)
        self.n_components = int(settings.get("n_components", 1))
        self.n_mades = int(settings.get("n_mades", 5))
        batch_norm = settings.get("batch_norm")
        self.batch_norm = None if batch_norm in (None, "None") else float(batch_norm)
        self._check_hyperparameters()
