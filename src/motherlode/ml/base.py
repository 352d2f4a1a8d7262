"""Base classes of the neural estimators: input and parameter scaling, saving and loading, Fisher information.

Files written by :meth:`Estimator.save` use MadMiner's names and layout:

* ``<filename>_settings.json``: ``n_observables``, ``n_parameters``, ``features``, ``n_hidden``,
  ``activation``, ``dropout_prob``, ``estimator_type`` (plus estimator-specific extras);
* ``<filename>_state_dict.pt``: the ``torch.save`` of the network's state dict (loaded with
  ``weights_only=True``);
* ``<filename>_x_means.npy``, ``<filename>_x_stds.npy`` and, for conditional estimators,
  ``<filename>_theta_means.npy``, ``<filename>_theta_stds.npy``.

Every file is written atomically (a temporary file in the same directory, then :func:`os.replace`).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, overload

import numpy as np
import torch
from torch import nn

from motherlode.errors import FileFormatError, InputError
from motherlode.fileformat import atomic_write
from motherlode.ml.trainer import Forward, ManualForward, Trainer, manual_gradients_enabled

__all__ = [
    "ESTIMATOR_CLASSES",
    "TRAINER_OPTIONS",
    "ConditionalEstimator",
    "Estimator",
    "TheresAGoodReasonThisDoesntWork",
    "TrainingSetup",
    "estimator_class",
    "load_array",
    "load_saved_estimator",
    "load_training_arrays",
    "shuffle_together",
    "train_arguments",
]

logger = logging.getLogger(__name__)

_STD_FLOOR = 1.0e-6
_MEMMAP_ALWAYS_BYTES = 1 << 30  # files above 1 GiB are always memory-mapped

ArrayLike = np.ndarray | str | os.PathLike | None


@dataclass
class TrainingSetup:
    """A prepared training (:meth:`Estimator.prepare_training`): what :meth:`Estimator.fit` hands to the loop.

    ``loss`` is the method's :class:`~motherlode.ml.losses.Loss`, ``forward`` and ``manual`` the network's
    outputs by autograd and with a hand-written backward pass (see :class:`~motherlode.ml.trainer.Trainer`),
    ``data`` and ``data_val`` the scaled training and explicit validation arrays, ``options`` the arguments of
    :meth:`Trainer.train <motherlode.ml.trainer.Trainer.train>`.
    """

    estimator: Estimator
    loss: Any
    forward: Forward
    data: dict[str, np.ndarray]
    data_val: dict[str, np.ndarray] | None
    device: Any
    options: dict[str, Any] = field(default_factory=dict)
    manual: ManualForward | None = None


def train_arguments(local_variables: dict[str, Any]) -> SimpleNamespace:
    """The arguments of a ``train`` method by name, from its ``locals()`` taken first thing."""
    return SimpleNamespace(**{k: v for k, v in local_variables.items() if k not in ("self", "__class__")})


class TheresAGoodReasonThisDoesntWork(InputError):
    """The requested quantity cannot be computed by this kind of estimator (MadMiner's name)."""


def load_array(value: ArrayLike, memmap: bool = False) -> np.ndarray | None:
    """Return ``value`` as an array; a ``str`` or path is read with :func:`numpy.load`.

    Files are memory-mapped (``mmap_mode="r"``) when ``memmap`` is True and always when larger than 1 GiB.
    """
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        path = Path(value)
        if not path.is_file():
            raise InputError(f"Array file {str(path)!r} does not exist")
        big = path.stat().st_size > _MEMMAP_ALWAYS_BYTES
        return np.load(path, mmap_mode="r" if (memmap or big) else None, allow_pickle=False)
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


TRAINER_OPTIONS: tuple[str, ...] = (
    "optimizer",
    "n_epochs",
    "batch_size",
    "initial_lr",
    "final_lr",
    "nesterov_momentum",
    "validation_split",
    "early_stopping",
    "early_stopping_patience",
    "clip_gradient",
    "verbose",
    "checkpoint",
)
"""The arguments of the estimators' ``train`` that go unchanged to :meth:`Trainer.train`."""


def load_training_arrays(
    values: dict[str, ArrayLike], required: Sequence[str], memmap: bool = False, limit: int | None = None
) -> dict[str, np.ndarray | None]:
    """Load named training arrays: ``.npy`` paths or arrays, the first ``limit`` samples, two-dimensional.

    Raises
    ------
    InputError
        If a ``required`` array is missing, an array holds NaN (or infinite values, except the joint
        ratio ``r_xz``, which may overflow), or the arrays have different numbers of samples.
    """
    out: dict[str, np.ndarray | None] = {}
    for name, value in values.items():
        arr = load_array(value, memmap)
        if arr is None:
            if name in required:
                raise InputError(f"{name} is required for training")
            out[name] = None
            continue
        arr = _as_2d(np.asarray(arr if limit is None else arr[:limit]), name)
        bad = np.isnan(arr) if name == "r_xz" else ~np.isfinite(arr)
        if bad.any():
            raise InputError(f"{name} contains {int(bad.sum())} NaN or infinite value(s)")
        out[name] = arr
    lengths = {k: len(v) for k, v in out.items() if v is not None}
    if len(set(lengths.values())) > 1:
        raise InputError(f"Training arrays have different numbers of samples: {lengths}")
    return out


@overload
def shuffle_together(*arrays: np.ndarray) -> list[np.ndarray]: ...


@overload
def shuffle_together(*arrays: np.ndarray | None) -> list[np.ndarray | None]: ...


def shuffle_together(*arrays: np.ndarray | None) -> list[Any]:
    """Apply one random permutation (from torch's generator) to all non-None arrays."""
    n = next((len(a) for a in arrays if a is not None), None)
    if n is None:
        return list(arrays)
    perm = torch.randperm(n).numpy()
    return [None if a is None else np.asarray(a)[perm] for a in arrays]


def _required(arrays: dict[str, np.ndarray | None], name: str) -> np.ndarray:
    """``arrays[name]``, which must not be None (a required array of :func:`load_training_arrays`)."""
    arr = arrays[name]
    if arr is None:
        raise InputError(f"{name} is required for training")
    return arr


def _as_2d(a: np.ndarray | None, name: str) -> np.ndarray:
    if a is None:
        raise InputError(f"{name} is required")
    if a.ndim == 1:
        return a.reshape(-1, 1)
    if a.ndim != 2:
        raise InputError(f"{name} must be one- or two-dimensional, got shape {a.shape}")
    return a


def _scaling(a: np.ndarray, transform: bool) -> tuple[np.ndarray, np.ndarray]:
    if not transform:
        return np.zeros(a.shape[1]), np.ones(a.shape[1])
    means = np.asarray(np.mean(a, axis=0, dtype=np.float64))
    stds = np.maximum(np.std(a, axis=0, dtype=np.float64), _STD_FLOOR)
    return means, stds


ESTIMATOR_CLASSES: dict[str, type[Estimator]] = {}
"""The estimator class of each ``estimator_type`` (every subclass that sets one registers itself)."""


class Estimator:
    """Abstract base of every neural estimator.

    Parameters
    ----------
    features : list of int or None, optional
        Indices of the observables used as network inputs (None: all). Default None.
    n_hidden : tuple of int, optional
        Units of the hidden layers. Default ``(100,)``.
    activation : str, optional
        Activation function, see :data:`motherlode.ml.networks.ACTIVATIONS`. Default ``"tanh"``.
    dropout_prob : float, optional
        Dropout probability after each hidden layer. Default 0.
    """

    estimator_type: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "estimator_type" in cls.__dict__ and cls.estimator_type:
            ESTIMATOR_CLASSES[cls.estimator_type] = cls

    def __init__(
        self,
        features: Sequence[int] | None = None,
        n_hidden: Sequence[int] = (100,),
        activation: str = "tanh",
        dropout_prob: float = 0.0,
    ) -> None:
        self.features = None if features is None else [int(f) for f in features]
        self.n_hidden = tuple(int(h) for h in n_hidden)
        self.activation = activation
        self.dropout_prob = float(dropout_prob)
        self.model: nn.Module | None = None
        self.n_observables: int | None = None
        self.n_parameters: int | None = None
        self.x_scaling_means: np.ndarray | None = None
        self.x_scaling_stds: np.ndarray | None = None

    # ------------------------------------------------------------------ interface

    def train(self, *args: Any, **kwargs: Any) -> Any:
        """Train the estimator (its signature depends on the estimator): prepare, then :meth:`fit`."""
        raise NotImplementedError

    def evaluate_log_likelihood(self, *args: Any, **kwargs: Any) -> Any:
        """Log likelihood estimation, shape ``(n_thetas, n_x)``."""
        raise NotImplementedError

    def evaluate_log_likelihood_ratio(self, *args: Any, **kwargs: Any) -> Any:
        """Log likelihood ratio estimation, shape ``(n_thetas, n_x)`` or ``(n_x,)``."""
        raise NotImplementedError

    def evaluate_score(self, *args: Any, **kwargs: Any) -> Any:
        """Score estimation."""
        raise NotImplementedError

    def evaluate(self, *args: Any, **kwargs: Any) -> Any:
        """The estimator's main output (alias of its principal ``evaluate_*`` method)."""
        raise NotImplementedError

    def _create_model(self) -> nn.Module:
        raise NotImplementedError

    def _require_dimensions(self) -> tuple[int, int]:
        """``(n_observables, n_parameters)``; raise unless they are known (after ``train`` or ``load``)."""
        if self.n_observables is None or self.n_parameters is None:
            raise InputError("The dimensions of the estimator are unknown; train or load it first")
        return self.n_observables, self.n_parameters

    _output_name = "parameters"  # what n_parameters counts, for messages

    @staticmethod
    def _check_required(method: str, requires: Sequence[str], arrays: dict, suffix: str = "") -> None:
        """Raise if ``arrays`` lacks data that the loss of ``method`` needs (names get ``suffix``)."""
        missing = [k + suffix for k in requires if arrays.get(k) is None]
        if missing:
            raise InputError(f"Method {method!r} needs {', '.join(missing)}")

    def _set_dimensions(self, n_observables: int, n_parameters: int) -> None:
        """Record the dimensions of the first training data; later data must match them."""
        if self.n_observables is None:
            self.n_observables = n_observables
        if self.n_parameters is None:
            self.n_parameters = n_parameters
        if (self.n_observables, self.n_parameters) != (n_observables, n_parameters):
            raise InputError(
                f"Data have {n_observables} observables and {n_parameters} {self._output_name}, the "
                f"estimator {self.n_observables} and {self.n_parameters}"
            )

    def _prepare(self, args: SimpleNamespace) -> TrainingSetup:
        """:meth:`train`'s preparation from its arguments (each estimator defines it)."""
        raise NotImplementedError

    def prepare_training(self, *args: Any, **kwargs: Any) -> TrainingSetup:
        """Prepare a training without running it: what :meth:`train` would hand to the training loop.

        Takes :meth:`train`'s arguments. Loading, checks, scaling, feature selection and packaging run
        exactly as in ``train`` (so the scaling is set), and the network is created if there is none.
        :meth:`fit` then trains; :mod:`motherlode.ml.stacked` trains several setups together.
        """
        bound = inspect.signature(self.train).bind(*args, **kwargs)
        bound.apply_defaults()
        return self._prepare(SimpleNamespace(**bound.arguments))

    def _training_setup(
        self,
        loss: Any,
        forward: Forward,
        data: dict[str, np.ndarray],
        data_val: dict[str, np.ndarray] | None,
        args: SimpleNamespace,
        manual: ManualForward | None = None,
    ) -> TrainingSetup:
        """The setup of a prepared training; creates the network if there is none."""
        if self.model is None:
            self._create_model()
        options = {key: getattr(args, key) for key in TRAINER_OPTIONS}
        return TrainingSetup(self, loss, forward, data, data_val, args.device, options, manual)

    def fit(self, setup: TrainingSetup) -> tuple[np.ndarray, np.ndarray]:
        """Train on a prepared setup (:meth:`prepare_training`) with :class:`~motherlode.ml.trainer.Trainer`.

        The setup's hand-written backward pass (``manual``, see :data:`~motherlode.ml.trainer.ManualForward`)
        is used where the network supports it and :func:`~motherlode.ml.trainer.manual_gradients_enabled`.
        With the setup's ``checkpoint`` option (a folder) the training records its state after every epoch
        and continues from there when run again; the estimator's class and settings are part of the
        fingerprint that decides whether the folder's records belong to this training.

        Returns
        -------
        train_losses, val_losses : ndarray
            Loss per epoch.
        """
        model = self._check_model()
        manual = setup.manual
        if not (manual_gradients_enabled() and getattr(model, "supports_manual_gradients", False)):
            manual = None
        logger.info(
            "Training %s (%s) on %s samples: %s observables, %s outputs or parameters",
            type(self).__name__,
            getattr(setup.loss, "method", type(setup.loss).__name__),
            len(setup.data["x"]),
            self.n_observables,
            self.n_parameters,
        )
        trainer = Trainer(model, setup.loss, setup.forward, device=setup.device, manual=manual)
        job = {
            "estimator": f"{type(self).__module__}.{type(self).__qualname__}",
            "settings": self._settings(),
        }
        return trainer.train(setup.data, setup.data_val, **setup.options, checkpoint_job=job)

    # ------------------------------------------------------------------ scaling

    def initialize_input_transform(
        self, x: np.ndarray, transform: bool = True, overwrite: bool = True
    ) -> None:
        """Set the observable scaling from ``x`` (mean, std floored at 1e-6; identity if not ``transform``).

        With ``overwrite=False`` an existing scaling is kept.
        """
        if self.x_scaling_means is not None and not overwrite:
            return
        self.x_scaling_means, self.x_scaling_stds = _scaling(_as_2d(np.asarray(x), "x"), transform)

    def _transform_inputs(self, x: np.ndarray) -> np.ndarray:
        if self.x_scaling_means is None:
            return x
        return (x - self.x_scaling_means) / self.x_scaling_stds

    def _select_features(self, x: np.ndarray) -> np.ndarray:
        return x if self.features is None else x[:, self.features]

    def _prepare_x(self, x: ArrayLike, memmap: bool = False) -> np.ndarray:
        """Load, scale (with the stored scaling) and select the features of evaluation inputs."""
        arr = _as_2d(load_array(x, memmap), "x")
        return self._select_features(self._transform_inputs(arr)).astype(np.float32)

    def _check_model(self) -> nn.Module:
        if self.model is None:
            raise InputError(f"No model: train or load the {type(self).__name__} before evaluating it")
        return self.model

    def _model_device(self) -> torch.device:
        params = list(self._check_model().parameters())
        return params[0].device if params else torch.device("cpu")

    # ------------------------------------------------------------------ Fisher information

    def calculate_fisher_information(
        self,
        x: ArrayLike,
        theta: ArrayLike = None,
        weights: np.ndarray | None = None,
        n_events: float = 1,
        sum_events: bool = True,
    ) -> np.ndarray:
        """Expected Fisher information ``n_events * sum_i w_i t_i t_i^T`` with weights normalised to 1.

        Parameters
        ----------
        x : ndarray or str
            Observations (or a ``.npy`` path), sampled at ``theta``.
        theta : ndarray or str, optional
            The parameter point where the score is evaluated.
        weights : ndarray, optional
            Event weights (default: equal). The caller's array is not modified.
        n_events : float, optional
            Expected number of events. Default 1.
        sum_events : bool, optional
            Sum over events (shape ``(P, P)``) or return per-event terms (``(n, P, P)``). Default True.
        """
        x_arr = _as_2d(load_array(x), "x")
        n = len(x_arr)
        t_hat = np.asarray(self._fisher_scores(x_arr, theta), dtype=np.float64)
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
        if len(w) != n:
            raise InputError(f"weights has {len(w)} entries but x has {n} events")
        w = w / np.sum(w)
        pattern = "n,ni,nj->ij" if sum_events else "n,ni,nj->nij"
        return float(n_events) * np.einsum(pattern, w, t_hat, t_hat)

    def _fisher_scores(self, x: np.ndarray, theta: ArrayLike) -> np.ndarray:
        raise NotImplementedError

    # ------------------------------------------------------------------ saving

    def _settings(self) -> dict[str, Any]:
        return {
            "n_observables": self.n_observables,
            "n_parameters": self.n_parameters,
            "features": self.features,
            "n_hidden": list(self.n_hidden),
            "activation": self.activation,
            "dropout_prob": self.dropout_prob,
            "estimator_type": self.estimator_type,
        }

    def _scaling_arrays(self) -> dict[str, np.ndarray | None]:
        return {"x_means": self.x_scaling_means, "x_stds": self.x_scaling_stds}

    def _apply_settings(self, settings: dict[str, Any]) -> None:
        self.n_observables = int(settings["n_observables"])
        self.n_parameters = int(settings["n_parameters"])
        features = settings.get("features")
        self.features = None if features in (None, "None") else [int(f) for f in features]
        self.n_hidden = tuple(int(h) for h in settings["n_hidden"])
        self.activation = str(settings["activation"])
        self.dropout_prob = float(settings.get("dropout_prob", 0.0))

    def _set_scaling_arrays(self, arrays: dict[str, np.ndarray | None]) -> None:
        self.x_scaling_means, self.x_scaling_stds = arrays.get("x_means"), arrays.get("x_stds")

    def save(self, filename: str | os.PathLike, save_model: bool = False) -> None:
        """Save settings, state dict and scaling arrays to ``<filename>_*`` files (MadMiner's layout).

        Parameters
        ----------
        filename : str or path
            Prefix of the files.
        save_model : bool, optional
            Also pickle the whole module to ``<filename>_model.pt`` (for debugging only). Default False.
        """
        model = self._check_model()
        prefix = str(filename)
        text = json.dumps(self._settings(), indent=2).encode()
        with atomic_write(prefix + "_settings.json") as handle:
            handle.write(text)
        state = self._state_dict_to_file({k: v.detach().cpu() for k, v in model.state_dict().items()})
        with atomic_write(prefix + "_state_dict.pt") as handle:
            torch.save(state, handle)
        for suffix, arr in self._scaling_arrays().items():
            if arr is not None:
                with atomic_write(f"{prefix}_{suffix}.npy") as handle:
                    np.save(handle, np.asarray(arr))
        if save_model:
            with atomic_write(prefix + "_model.pt") as handle:
                torch.save(model, handle)
        logger.debug("Saved %s to %s_*", type(self).__name__, prefix)

    def load(self, filename: str | os.PathLike) -> None:
        """Load an estimator saved by :meth:`save` (or by MadMiner) from ``<filename>_*`` files."""
        prefix = str(filename)
        try:
            with open(prefix + "_settings.json", encoding="utf-8") as handle:
                settings = json.load(handle)
        except (OSError, json.JSONDecodeError) as exc:
            raise FileFormatError(f"Cannot read {prefix}_settings.json: {exc}") from exc
        if not self._accepts_settings(settings):
            raise FileFormatError(
                f"{prefix}_settings.json holds a {settings.get('estimator_type')!r} estimator, not "
                f"{self.estimator_type!r} (motherlode.ml.load_estimator picks the right class)"
            )
        self._apply_settings(settings)
        arrays = {}
        for suffix in self._scaling_arrays():
            path = Path(f"{prefix}_{suffix}.npy")
            arrays[suffix] = np.load(path, allow_pickle=False) if path.is_file() else None
        self._set_scaling_arrays(arrays)
        model = self._create_model()
        try:
            state = torch.load(prefix + "_state_dict.pt", weights_only=True, map_location="cpu")
            model.load_state_dict(self._state_dict_from_file(state))
        except (OSError, RuntimeError, pickle.UnpicklingError) as exc:
            raise FileFormatError(f"Cannot load the network from {prefix}_state_dict.pt: {exc}") from exc
        self.model = model

    def _state_dict_to_file(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The state dict as written to ``<filename>_state_dict.pt`` (MadMiner's keys; default: unchanged)."""
        return state

    def _state_dict_from_file(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The network's state dict from the file's (inverse of :meth:`_state_dict_to_file`)."""
        return state

    @classmethod
    def _accepts_settings(cls, settings: dict[str, Any]) -> bool:
        """Whether :meth:`load` can rebuild this class from ``settings`` (default: same type)."""
        return settings.get("estimator_type") == cls.estimator_type


class ConditionalEstimator(Estimator):
    """Base of estimators conditional on parameters theta; adds parameter scaling.

    With ``scale_parameters=True`` the network sees ``(theta - mean) / std``; score targets are multiplied by
    ``std`` for training and predicted scores divided by it, consistently in training and evaluation.
    """

    def __init__(
        self,
        features: Sequence[int] | None = None,
        n_hidden: Sequence[int] = (100,),
        activation: str = "tanh",
        dropout_prob: float = 0.0,
    ) -> None:
        super().__init__(features, n_hidden, activation, dropout_prob)
        self.theta_scaling_means: np.ndarray | None = None
        self.theta_scaling_stds: np.ndarray | None = None

    def initialize_parameter_transform(
        self, theta: np.ndarray, transform: bool = True, overwrite: bool = True
    ) -> None:
        """Set the parameter scaling from ``theta`` (identity if not ``transform``)."""
        if self.theta_scaling_means is not None and not overwrite:
            return
        self.theta_scaling_means, self.theta_scaling_stds = _scaling(
            _as_2d(np.asarray(theta), "theta"), transform
        )

    def _transform_parameters(self, theta: np.ndarray) -> np.ndarray:
        if self.theta_scaling_means is None:
            return theta
        return (theta - self.theta_scaling_means) / self.theta_scaling_stds

    def _transform_score(self, t: np.ndarray | None, inverse: bool = False) -> np.ndarray | None:
        """Score in scaled-theta units (``inverse=False``: times std) or back in physical units (divided)."""
        if t is None or self.theta_scaling_stds is None:
            return t
        return t / self.theta_scaling_stds if inverse else t * self.theta_scaling_stds

    def _prepare_theta(self, theta: ArrayLike) -> np.ndarray:
        arr = _as_2d(load_array(theta), "theta")
        return self._transform_parameters(arr).astype(np.float32)

    def _theta_rows(self, theta: ArrayLike, n: int) -> np.ndarray:
        """Parameter points as rows; a single point is repeated ``n`` times."""
        arr = np.asarray(load_array(theta), dtype=np.float64)
        n_p = self.n_parameters or 1
        if arr.size == n_p:
            return np.repeat(arr.reshape(1, n_p), n, axis=0)
        return _as_2d(arr, "theta")

    def _package(
        self,
        arrays: dict[str, np.ndarray | None],
        requires: Sequence[str],
        theta_keys: Sequence[str] = ("theta",),
    ) -> dict[str, np.ndarray]:
        """The training data as the network sees them: scaled x (features), scaled theta, scaled scores."""
        data = {"x": self._select_features(self._transform_inputs(arrays["x"]))}  # type: ignore[arg-type]
        for key in theta_keys:
            data[key] = self._transform_parameters(arrays[key])  # type: ignore[arg-type]
        for key in requires:
            value = arrays[key]
            data[key] = self._transform_score(value) if key.startswith("t_xz") else value  # type: ignore[assignment]
        return data

    def _scaling_arrays(self) -> dict[str, np.ndarray | None]:
        return {
            **super()._scaling_arrays(),
            "theta_means": self.theta_scaling_means,
            "theta_stds": self.theta_scaling_stds,
        }

    def _set_scaling_arrays(self, arrays: dict[str, np.ndarray | None]) -> None:
        super()._set_scaling_arrays(arrays)
        self.theta_scaling_means, self.theta_scaling_stds = (
            arrays.get("theta_means"),
            arrays.get("theta_stds"),
        )


def estimator_class(settings: dict[str, Any], source: str = "the settings") -> type[Estimator]:
    """The class that loads an estimator with these settings (``<filename>_settings.json`` contents).

    The one registered class (:data:`ESTIMATOR_CLASSES`) that accepts them: the class of ``estimator_type``,
    or for MadMiner's morphing-aware files (``"parameterized_ratio"`` with a ``morphing_matrix``) the
    morphing-aware estimator.

    Raises
    ------
    FileFormatError
        If ``estimator_type`` is missing or unknown (the message names ``source``).
    """
    estimator_type = settings.get("estimator_type")
    if estimator_type is None:
        raise FileFormatError(f"{source} has no estimator_type")
    matches = [cls for cls in ESTIMATOR_CLASSES.values() if cls._accepts_settings(settings)]
    if len(matches) != 1:
        raise FileFormatError(
            f"{source} has the unknown estimator_type {estimator_type!r}; expected one of "
            f"{', '.join(ESTIMATOR_CLASSES)}"
        )
    return matches[0]


def load_saved_estimator(filename: str | os.PathLike) -> Estimator:
    """Load a single saved estimator of any registered class (see :func:`estimator_class`).

    Raises
    ------
    FileFormatError
        If the settings file is missing or unreadable, or names an unknown type.
    """
    settings_file = f"{filename}_settings.json"
    try:
        with open(settings_file, encoding="utf-8") as handle:
            settings = json.load(handle)
    except FileNotFoundError:
        raise FileFormatError(
            f"No estimator at {str(filename)!r}: {settings_file!r} does not exist"
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
