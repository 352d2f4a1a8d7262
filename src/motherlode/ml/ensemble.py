"""Ensembles of neural estimators: mean predictions, their spread, and ensemble Fisher information.

:class:`Ensemble` follows MadMiner's ``madminer.ml.ensemble.Ensemble`` (same names, arguments, defaults and
file layout: ``folder/ensemble.json`` plus ``folder/estimator_{i}_*``). Differences from MadMiner 0.9.6:

* the covariance of ``evaluate_log_likelihood``, ``evaluate_log_likelihood_ratio`` and ``evaluate_score``
  works for more than one estimator: it is the weighted covariance over the estimator axis, shape
  ``mean.shape + mean.shape`` (MadMiner reshapes it into a shape that includes the estimator axis and
  raises). ``calculate_covariance="diagonal"`` returns only the variance of each entry (shape
  ``mean.shape``), which stays small for large inputs;
* ``estimator_weights`` are used everywhere, also in the ``"score"`` and ``"modified_score"`` modes of
  :meth:`Ensemble.calculate_fisher_information` (MadMiner ignores them there), and the caller's weight
  arrays are never modified in place;
* the Fisher information works for every category whose members give a score (MadMiner: score and
  single-parameterized ratio ensembles only);
* members are loaded with :func:`~motherlode.ml.base.load_saved_estimator`, so morphing-aware members come
  back as morphing-aware estimators; ``Ensemble(["path/to/estimator", ...])`` loads file names;
* :meth:`Ensemble.save` writes into a temporary folder next to the target and then moves it into place;
* :meth:`Ensemble.train_all` trains members of one architecture together as one stacked network
  (``vectorize="auto"``, :mod:`motherlode.ml.stacked`; on a CPU about as fast for 5 members as one after
  the other with the hand-written step, docs/benchmarks.md); members that cannot be stacked, and members
  whose trainings are long enough for the compiled CPU step (:mod:`motherlode.ml.kernels`, 2x-2.9x
  faster), are trained one after the other as in MadMiner;
* :meth:`Ensemble.train_all` takes a ``checkpoint`` folder: an interrupted training continues where it
  stopped (finished members are loaded, the running member or stack continues after its last completed
  epoch);
* errors are :class:`EnsembleError` (a ``ValueError`` and a ``RuntimeError``, which MadMiner raises).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from motherlode.checkpoint import Checkpoint, CheckpointLike, open_checkpoint
from motherlode.errors import FileFormatError, InputError
from motherlode.fileformat import remove_stale_temporaries, temporary_prefix
from motherlode.ml import stacked
from motherlode.ml.base import ArrayLike, Estimator, _as_2d, load_array, load_saved_estimator
from motherlode.ml.double_parameterized_ratio import DoubleParameterizedRatioEstimator
from motherlode.ml.kernels import takes_compiled_step
from motherlode.ml.likelihood import LikelihoodEstimator
from motherlode.ml.parameterized_ratio import ParameterizedRatioEstimator
from motherlode.ml.score import ScoreEstimator
from motherlode.ml.trainer import (
    manual_gradients_enabled,
    resolve_device,
    rng_state,
    set_rng_state,
    training_steps,
    uses_cuda_graphs,
)
from motherlode.parallel import ClientLike, map_ordered, root_entropy, task_seed

__all__ = ["CATEGORIES", "Ensemble", "EnsembleError"]

logger = logging.getLogger(__name__)

CATEGORIES: dict[str, type[Estimator]] = {
    "parameterized_ratio": ParameterizedRatioEstimator,
    "double_parameterized_ratio": DoubleParameterizedRatioEstimator,
    "score": ScoreEstimator,
    "likelihood": LikelihoodEstimator,
}
"""The ensemble categories (MadMiner's ``estimator_type`` names) and their base classes."""

FISHER_MODES: tuple[str, ...] = ("score", "modified_score", "information")

_MAX_FULL_COVARIANCE = 1 << 28  # elements (2 GiB in float64)
_MEMBER_FILE = re.compile(r"^estimator_(\d+)_")
_NOT_IN_JOB = ("verbose", "memmap", "n_workers")  # training arguments that do not change the result


class EnsembleError(InputError, RuntimeError):
    """Inconsistent ensemble (mixed categories or dimensions); a ``RuntimeError`` as in MadMiner."""


def estimator_category(estimator: Estimator) -> str:
    """The ensemble category of ``estimator``: ``"score"``, ``"parameterized_ratio"`` (including the
    morphing-aware estimators), ``"double_parameterized_ratio"`` or ``"likelihood"``.

    Raises
    ------
    EnsembleError
        If ``estimator`` is not an instance of one of these classes.
    """
    for name, cls in CATEGORIES.items():
        if isinstance(estimator, cls):
            return name
    raise EnsembleError(
        f"{type(estimator).__name__} is not an estimator of a known category ({', '.join(CATEGORIES)})"
    )


def weighted_covariance(
    predictions: np.ndarray, weights: np.ndarray, mean: np.ndarray | None = None, diagonal: bool = False
) -> np.ndarray:
    """Weighted covariance over the first (estimator) axis, as ``np.cov(..., aweights=weights)``.

    Parameters
    ----------
    predictions : ndarray
        Shape ``(n_estimators, *shape)``.
    weights : ndarray
        Estimator weights ``(n_estimators,)``, normalised to sum 1.
    mean : ndarray, optional
        The weighted mean (computed if not given).
    diagonal : bool, optional
        Return only the variances, shape ``shape``; otherwise the full covariance ``shape + shape``.

    Returns
    -------
    ndarray
        ``sum_a w_a d_a d_a^T / (1 - sum_a w_a^2)`` with ``d_a = p_a - mean``; NaN (with a warning) when it
        is undefined (a single estimator or all weight on one).
    """
    k = len(predictions)
    shape = predictions.shape[1:]
    out_shape = shape if diagonal else shape + shape
    norm = 1.0 - float(np.sum(weights**2))
    if k < 2 or norm <= 1e-12:
        logger.warning("The ensemble covariance needs at least two estimators with non-zero weight")
        return np.full(out_shape, np.nan)
    if mean is None:
        mean = np.tensordot(weights, predictions, axes=1)
    deviations = predictions - mean
    if diagonal:
        return np.tensordot(weights, deviations**2, axes=1) / norm
    flat = deviations.reshape(k, -1)
    return ((flat.T * weights) @ flat / norm).reshape(out_shape)


class Ensemble:
    """An ensemble of estimators of one category, with ensemble means, covariances and Fisher information.

    Generally, an ensemble is used like a single estimator: :meth:`train_one` and :meth:`train_all` train
    the members, :meth:`evaluate_log_likelihood`, :meth:`evaluate_log_likelihood_ratio`,
    :meth:`evaluate_score` and :meth:`calculate_fisher_information` give the (weighted) ensemble mean and
    optionally the covariance over the members, :meth:`calculate_expectation` checks the members (the
    expected score should vanish), and :meth:`save` / :meth:`load` store all members in one folder.

    Parameters
    ----------
    estimators : list of Estimator or str, optional
        The members: estimator instances (trained or not) or file prefixes / ensemble folders that are loaded
        with :func:`~motherlode.ml.base.load_saved_estimator`. All must be of one category: all
        :class:`~motherlode.ml.score.ScoreEstimator`, all single-parameterized
        :class:`~motherlode.ml.parameterized_ratio.ParameterizedRatioEstimator` (morphing-aware ones
        included; methods may differ), all :class:`~motherlode.ml.double_parameterized_ratio.
        DoubleParameterizedRatioEstimator` or all :class:`~motherlode.ml.likelihood.LikelihoodEstimator`.
        Default None: an empty ensemble.

    Attributes
    ----------
    estimators : list of Estimator
        The members.
    estimator_type : str or None
        The category (None for an empty ensemble).
    n_parameters, n_observables : int or None
        The dimensions shared by the trained members.

    Raises
    ------
    EnsembleError
        If the members are of different categories or have different dimensions.

    Examples
    --------
    >>> import numpy as np, torch
    >>> _ = torch.manual_seed(0)
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(0.0, 2.0, (1000, 1))
    >>> x, t_xz = rng.normal(z, 1.0), z / 4.0
    >>> ensemble = Ensemble([ScoreEstimator(n_hidden=(8,)) for _ in range(3)])
    >>> _ = ensemble.train_all(method="sally", x=x, t_xz=t_xz, n_epochs=2, verbose="none", device="cpu")
    >>> mean, covariance = ensemble.evaluate_score(x=x[:5], calculate_covariance=True)
    >>> mean.shape, covariance.shape
    ((5, 1), (5, 1, 5, 1))
    >>> information, information_covariance = ensemble.calculate_fisher_information(x, n_events=100)
    >>> information.shape, information_covariance.shape
    ((1, 1), (1, 1, 1, 1))
    """

    def __init__(self, estimators: Sequence[Estimator | str | os.PathLike] | None = None) -> None:
        self.estimators: list[Estimator] = []
        self.estimator_type: str | None = None
        self.n_parameters: int | None = None
        self.n_observables: int | None = None
        self.expectations: np.ndarray | None = None
        if estimators is not None:
            self.estimators = [self._as_estimator(e) for e in estimators]
        self._check_consistency()

    # ------------------------------------------------------------------ members

    @property
    def n_estimators(self) -> int:
        """Number of members."""
        return len(self.estimators)

    def __len__(self) -> int:
        return len(self.estimators)

    def __repr__(self) -> str:
        return f"Ensemble({self.n_estimators} x {self.estimator_type})"

    @staticmethod
    def _as_estimator(estimator: Estimator | str | os.PathLike) -> Estimator:
        if isinstance(estimator, Estimator):
            return estimator
        if isinstance(estimator, (str, os.PathLike)):
            if Path(estimator).is_dir():
                raise EnsembleError(f"{str(estimator)!r} is a folder (an ensemble?), not a single estimator")
            return load_saved_estimator(estimator)
        raise EnsembleError(
            f"Ensemble members must be Estimator instances or file names, got {type(estimator).__name__}"
        )

    def add_estimator(self, estimator: Estimator | str | os.PathLike) -> None:
        """Add a member (an estimator or a file prefix loaded with ``load_estimator``).

        Raises
        ------
        EnsembleError
            If it does not fit the category or dimensions of the ensemble (the ensemble is left unchanged).
        """
        self.estimators.append(self._as_estimator(estimator))
        try:
            self._check_consistency()
        except EnsembleError:
            self.estimators.pop()
            self._check_consistency()
            raise

    def _check_consistency(self) -> None:
        """Set ``estimator_type``, ``n_parameters`` and ``n_observables``; raise on inconsistent members."""
        types = [estimator_category(e) for e in self.estimators]
        if len(set(types)) > 1:
            raise EnsembleError(
                "Ensemble with inconsistent estimator categories: all members have to be local score, "
                "single-parameterized ratio, doubly parameterized ratio or likelihood estimators; found "
                + ", ".join(f"{type(e).__name__} ({t})" for e, t in zip(self.estimators, types, strict=True))
            )
        for attribute in ("n_parameters", "n_observables"):
            values = [getattr(e, attribute) for e in self.estimators]
            known = {v for v in values if v is not None}
            if len(known) > 1:
                raise EnsembleError(f"Ensemble members have different {attribute}: {values}")
            setattr(self, attribute, known.pop() if known else None)
        self.estimator_type = types[0] if types else None

    def _require_members(self) -> None:
        if not self.estimators:
            raise EnsembleError("The ensemble has no estimators")

    # ------------------------------------------------------------------ training

    def train_one(self, i: int, **kwargs: Any) -> Any:
        """Train member ``i`` by ``estimators[i].train(**kwargs)``; returns what that returns (the losses).

        ``checkpoint=folder`` among ``kwargs`` goes to the member's ``train``: its training records its
        state after every epoch there and continues from it after an interruption.
        """
        if not -self.n_estimators <= i < self.n_estimators:
            raise InputError(f"Estimator index {i} out of range for an ensemble of {self.n_estimators}")
        result = self.estimators[i].train(**kwargs)
        self._check_consistency()
        return result

    def _per_member_kwargs(self, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
        """MadMiner's rule: a ``list`` value holds one entry per member, anything else is shared."""
        n = self.n_estimators
        for key, value in kwargs.items():
            if isinstance(value, list) and len(value) != n:
                raise InputError(
                    f"Keyword {key!r} is a list of length {len(value)}; per-estimator lists need "
                    f"n_estimators = {n} entries"
                )
        return [{k: v[i] if isinstance(v, list) else v for k, v in kwargs.items()} for i in range(n)]

    def train_all(
        self,
        vectorize: bool | str = "auto",
        *,
        client: ClientLike = None,
        random_state: int | np.random.Generator | None = None,
        checkpoint: CheckpointLike = None,
        **kwargs: Any,
    ) -> list[Any]:
        """Train all members.

        Parameters
        ----------
        vectorize : bool or "auto", optional
            Train the members together as one stacked network (:mod:`motherlode.ml.stacked`): each member
            keeps its own initialisation, validation split, batch order and early stopping, but one step
            trains all of them. Possible when all members are score, parameterized-ratio or doubly
            parameterized-ratio estimators of one class with one architecture (no PReLU) and identical
            training arguments. ``"auto"`` (default): do so when possible on the CPU, else train one after
            the other (on CUDA each member's step is replayed as a CUDA graph, which is faster; on the CPU
            a member whose training takes the compiled step of :mod:`motherlode.ml.kernels` is faster); True:
            raise :class:`EnsembleError` when not possible; False: one after the other (MadMiner).
        client : None, dask.distributed.Client, "local", int or str, optional
            Train one member per Dask task (addition; see :mod:`motherlode.parallel` and docs/scale.md):
            on a ``dask_cuda.LocalCUDACluster`` each worker has its own GPU. Training files given by
            name must be readable by the workers. The trained members replace the ensemble's.
        random_state : int, numpy.random.Generator or None, optional
            Seed member ``i``'s initialisation and batch order with its own seed,
            ``task_seed(random_state, i)`` (addition): the same members whether they train here one
            after the other (``vectorize`` False or "auto") or on any number of Dask workers. With
            ``vectorize=True`` the stacked network is seeded once from it. Default: torch's global
            random state (MadMiner).
        checkpoint : path-like, optional
            A folder where the training records its progress (addition): each finished member (its saved
            files, its losses, torch's random state after it), and in the subfolder ``member_<i>`` the
            running training of member ``i`` after every completed epoch (see the members' ``train``);
            with a Dask client each member task writes its own subfolder, so the folder must be on a
            file system that the workers share. Trained vectorised, the whole stack records its state
            after every epoch in the subfolder ``stacked`` (:func:`motherlode.ml.stacked.train_stacked`).
            Rerun with the same folder and arguments after an interruption: finished members are loaded,
            not trained again, and the interrupted member (or stack) continues after its last completed
            epoch; on the CPU the members are the same, bit for bit, as those of an uninterrupted
            training. Records of other arguments (members' settings, training arguments, files,
            ``vectorize``, ``random_state``) are not reused. The folder is removed when all members are
            trained. Default None: no records.
        **kwargs
            Arguments of the members' ``train``. A value that is a ``list`` must have ``n_estimators``
            entries, one per member (MadMiner's convention); any other value is used for all members.

        Returns
        -------
        list
            What each member's ``train`` returned (``(train_losses, val_losses)``).
        """
        self._require_members()
        if vectorize not in (True, False, "auto"):
            raise InputError(f"vectorize must be True, False or 'auto', got {vectorize!r}")
        per_member = self._per_member_kwargs(kwargs)
        if client is not None and vectorize is True:
            raise InputError(
                "vectorize=True trains the members together in one process: not with a Dask client"
            )
        as_tasks = client is not None or (random_state is not None and vectorize is not True)
        job = self._checkpoint_job(per_member, vectorize, random_state, as_tasks)
        members = _MemberCheckpoints(open_checkpoint(checkpoint, job))
        if members.all_done(self.n_estimators):  # torch's random state: as after the last member
            results = [members.load(i, e, restore_rng=not as_tasks) for i, e in enumerate(self.estimators)]
        elif as_tasks:
            results = self._train_as_tasks(per_member, client, members.entropy(random_state), members)
        else:
            results = self._train_here(per_member, vectorize, random_state, members)
        self._check_consistency()
        members.clear()
        return results

    def _train_here(
        self,
        per_member: list[dict[str, Any]],
        vectorize: bool | str,
        random_state: int | np.random.Generator | None,
        members: _MemberCheckpoints,
    ) -> list[Any]:
        """Train the members in this process: stacked where possible, else one after the other."""
        if random_state is not None:  # stacked members: one seed for the stacked network
            torch.manual_seed(_torch_seed(task_seed(members.entropy(random_state))))
        if vectorize == "auto" and uses_cuda_graphs(per_member[0].get("device", "auto")):
            # measured on an H100: 5 members one after the other, each step a replayed CUDA graph, train
            # about 3x faster than the stacked (eager) step
            logger.info("Training the ensemble members one after the other (CUDA graphs are faster on GPU)")
            vectorize = False
        if vectorize:
            stacked_results = self._train_stacked(per_member, vectorize is True, members)
            if stacked_results is not None:
                return stacked_results
        logger.info("Training %s estimators in ensemble", self.n_estimators)
        results = []
        for i, (estimator, member_kwargs) in enumerate(zip(self.estimators, per_member, strict=True)):
            if members.done(i):
                results.append(members.load(i, estimator, restore_rng=True))
                continue
            logger.info("Training estimator %s / %s in ensemble", i + 1, self.n_estimators)
            result = estimator.train(**member_kwargs, **members.argument(i))
            members.record(i, estimator, result)
            results.append(result)
        return results

    def _train_as_tasks(
        self, per_member: list[dict[str, Any]], client: ClientLike, entropy: int, members: _MemberCheckpoints
    ) -> list[Any]:
        """Train each member with its own seed, here or as one Dask task each (finished ones are loaded)."""
        logger.info("Training %s estimators in ensemble, one task each", self.n_estimators)
        results: list[Any] = [None] * self.n_estimators
        pending = []
        for i, estimator in enumerate(self.estimators):
            if members.done(i):
                results[i] = members.load(i, estimator)
            else:
                pending.append(i)
        tasks = [(self.estimators[i], {**per_member[i], **members.argument(i)}, entropy, i) for i in pending]
        trained = map_ordered(_train_member, tasks, client, star=True)
        for i, (estimator, result) in zip(pending, trained, strict=True):
            self.estimators[i] = estimator
            members.record(i, estimator, result)
            results[i] = result
        return results

    def _train_stacked(
        self, per_member: list[dict[str, Any]], required: bool, members: _MemberCheckpoints
    ) -> list[Any] | None:
        """Train the members together; None (or EnsembleError if ``required``) when that is not possible."""
        reason = stacked.stackable_reason(self.estimators)
        if not reason and any(
            m.keys() != per_member[0].keys() or not all(stacked.same_value(m[k], per_member[0][k]) for k in m)
            for m in per_member[1:]
        ):
            reason = "the members have different training arguments"
        calls: list[stacked.FitCall] = []
        for estimator, member_kwargs in zip(self.estimators, per_member, strict=True):
            if reason:
                break
            call = stacked.capture_fit(estimator, member_kwargs)
            if calls:  # keep one copy of identical training data (K copies could be large)
                for name in ("data", "data_val"):
                    mine, theirs = getattr(call, name) or {}, getattr(calls[0], name) or {}
                    if mine.keys() == theirs.keys() and all(
                        stacked.same_value(mine[k], theirs[k]) for k in mine
                    ):
                        setattr(call, name, getattr(calls[0], name))
            calls.append(call)
            reason = stacked.calls_reason(calls)
        if not reason and not required and all(_takes_compiled_step(call) for call in calls):
            reason = "each member trains faster alone, by the compiled CPU step"
        if reason:
            if required:
                raise EnsembleError(f"Cannot train the ensemble vectorised: {reason}")
            logger.info("Training the ensemble members one after the other: %s", reason)
            return None
        logger.info("Training %s estimators in ensemble together (vectorised)", self.n_estimators)
        results: list[Any] = stacked.train_stacked(calls, checkpoint=members.stacked_folder())
        for i, estimator in enumerate(self.estimators):
            if members.done(i):  # recorded before an interruption: keep that member
                results[i] = members.load(i, estimator)
            else:
                members.record(i, estimator, results[i])
        return results

    def _checkpoint_job(
        self,
        per_member: list[dict[str, Any]],
        vectorize: bool | str,
        random_state: int | np.random.Generator | None,
        as_tasks: bool,
    ) -> dict[str, Any]:
        """What the trained members depend on (the fingerprint of :meth:`train_all`'s checkpoint folder).

        The members' classes and settings (not their dimensions or weights, which the training sets), the
        training arguments (arrays by content, files by size and modification time; not those that do not
        change the result: ``verbose``, ``memmap``, ``n_workers``), ``vectorize``, ``random_state`` and
        whether the members train as seeded tasks.
        """
        estimators = [
            {
                "class": f"{type(e).__module__}.{type(e).__qualname__}",
                "settings": {
                    k: v for k, v in e._settings().items() if k not in ("n_observables", "n_parameters")
                },
            }
            for e in self.estimators
        ]
        arguments = [{k: _job_value(v) for k, v in m.items() if k not in _NOT_IN_JOB} for m in per_member]
        return {
            "task": "motherlode.ml.ensemble.Ensemble.train_all",
            "estimators": estimators,
            "arguments": arguments,
            "vectorize": vectorize,
            "random_state": random_state,
            "as_tasks": as_tasks,
        }

    # ------------------------------------------------------------------ evaluation

    def _estimator_weights(self, estimator_weights: ArrayLike | Sequence[float]) -> np.ndarray:
        """Normalised float64 copy of the estimator weights (equal weights for None)."""
        self._require_members()
        if estimator_weights is None:
            return np.full(self.n_estimators, 1.0 / self.n_estimators)
        w = np.array(estimator_weights, dtype=np.float64).reshape(-1)
        if len(w) != self.n_estimators:
            raise InputError(f"estimator_weights has {len(w)} entries for {self.n_estimators} estimators")
        if not np.all(np.isfinite(w)) or np.any(w < 0.0) or np.sum(w) <= 0.0:
            raise InputError(f"estimator_weights must be finite, non-negative and not all zero, got {w}")
        return w / np.sum(w)

    def _predictions(self, evaluate: Callable[[Estimator], Any], what: str) -> np.ndarray:
        """Stack ``evaluate(member)`` (first element if it returns a tuple) to ``(n_estimators, ...)``."""
        outputs = []
        for i, estimator in enumerate(self.estimators):
            logger.debug("Evaluating %s of estimator %s / %s", what, i + 1, self.n_estimators)
            out = evaluate(estimator)
            outputs.append(np.asarray(out[0] if isinstance(out, tuple) else out, dtype=np.float64))
        shapes = {o.shape for o in outputs}
        if len(shapes) != 1:
            raise InputError(f"The members' {what} have different shapes: {sorted(shapes)}")
        return np.stack(outputs)

    @staticmethod
    def _mean_and_covariance(
        predictions: np.ndarray, weights: np.ndarray, calculate_covariance: bool | str
    ) -> tuple[np.ndarray, np.ndarray | None]:
        mean = np.tensordot(weights, predictions, axes=1)
        if not isinstance(calculate_covariance, str) and not calculate_covariance:
            return mean, None
        if calculate_covariance == "diagonal":
            return mean, weighted_covariance(predictions, weights, mean, diagonal=True)
        if isinstance(calculate_covariance, str) and calculate_covariance != "full":
            raise InputError(
                "calculate_covariance must be True, False, 'full' or 'diagonal', "
                f"got {calculate_covariance!r}"
            )
        if mean.size**2 > _MAX_FULL_COVARIANCE:
            raise InputError(
                f"The full covariance of {mean.size} predictions would have {mean.size**2} entries; use "
                "calculate_covariance='diagonal' for the variance of each entry, or fewer inputs"
            )
        return mean, weighted_covariance(predictions, weights, mean)

    def evaluate_log_likelihood(
        self,
        estimator_weights: ArrayLike | Sequence[float] = None,
        calculate_covariance: bool | str = False,
        **kwargs: Any,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Ensemble mean of the members' log likelihood (and the covariance between the members).

        Parameters
        ----------
        estimator_weights : ndarray, optional
            Weight of each member (normalised here; default equal).
        calculate_covariance : bool or {"full", "diagonal"}, optional
            True or ``"full"``: the weighted covariance over the members between all entries of the mean,
            shape ``mean.shape + mean.shape``; ``"diagonal"``: the variance of each entry, shape
            ``mean.shape``; False (default): None.
        **kwargs
            Arguments of the members' ``evaluate_log_likelihood`` (``x``, ``theta``, ...).

        Returns
        -------
        log_likelihood : ndarray
            Weighted mean prediction.
        covariance : ndarray or None
        """
        w = self._estimator_weights(estimator_weights)
        predictions = self._predictions(lambda e: e.evaluate_log_likelihood(**kwargs), "log likelihood")
        return self._mean_and_covariance(predictions, w, calculate_covariance)

    def evaluate_log_likelihood_ratio(
        self,
        estimator_weights: ArrayLike | Sequence[float] = None,
        calculate_covariance: bool | str = False,
        **kwargs: Any,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Ensemble mean of the members' log likelihood ratio (and the covariance between the members).

        Arguments and returns as :meth:`evaluate_log_likelihood`; ``kwargs`` go to the members'
        ``evaluate_log_likelihood_ratio``. For ``log r`` of shape ``(n_thetas, n_x)`` the full covariance
        has shape ``(n_thetas, n_x, n_thetas, n_x)``.
        """
        w = self._estimator_weights(estimator_weights)
        predictions = self._predictions(
            lambda e: e.evaluate_log_likelihood_ratio(**kwargs), "log likelihood ratio"
        )
        return self._mean_and_covariance(predictions, w, calculate_covariance)

    def evaluate_score(
        self,
        estimator_weights: ArrayLike | Sequence[float] = None,
        calculate_covariance: bool | str = False,
        **kwargs: Any,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Ensemble mean of the members' score (and the covariance between the members).

        Arguments and returns as :meth:`evaluate_log_likelihood`; ``kwargs`` go to the members'
        ``evaluate_score``. For a score of shape ``(n_x, n_parameters)`` the full covariance has shape
        ``(n_x, n_parameters, n_x, n_parameters)``.
        """
        w = self._estimator_weights(estimator_weights)
        predictions = self._predictions(lambda e: e.evaluate_score(**kwargs), "score")
        return self._mean_and_covariance(predictions, w, calculate_covariance)

    def _member_scores(self, x: np.ndarray, theta: ArrayLike) -> np.ndarray:
        """Scores ``(n_estimators, n_x, n_parameters)`` as the members' Fisher information uses them."""
        return self._predictions(lambda e: e._fisher_scores(x, theta), "score")

    @staticmethod
    def _observation_weights(obs_weights: ArrayLike, n: int) -> np.ndarray:
        w = np.ones(n) if obs_weights is None else np.array(load_array(obs_weights), dtype=np.float64)
        w = w.reshape(-1)
        if len(w) != n:
            raise InputError(f"obs_weights has {len(w)} entries but x has {n} events")
        total = np.sum(w)
        if not np.isfinite(total) or total == 0.0:
            raise InputError("obs_weights must be finite and must not sum to zero")
        return w / total

    def calculate_fisher_information(
        self,
        x: ArrayLike,
        theta: ArrayLike = None,
        obs_weights: ArrayLike = None,
        estimator_weights: ArrayLike | Sequence[float] = None,
        n_events: float = 1,
        mode: str = "score",
        calculate_covariance: bool = True,
        sum_events: bool = True,
        epsilon_shift: float = 0.001,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Expected Fisher information from the ensemble, with its covariance over the members.

        ``"score"`` mode (default): the weighted ensemble mean score ``t(x)`` per event gives
        ``I = n_events sum_x w_x t(x) t(x)^T``. For the covariance, each member's prediction is shifted
        towards the mean, ``t_a' = t + epsilon_shift (t_a - t)``, the Fisher information ``I_a'`` of each
        shifted member is computed, and the covariance of the ``I_a'`` over the members is divided by
        ``epsilon_shift^2``: the linearised propagation of the members' spread.

        ``"modified_score"`` mode: as ``"score"`` but shifted by ``1/sqrt(n_estimators)`` and without the
        division (the covariance then estimates the uncertainty of the mean).

        ``"information"`` mode: each member's Fisher information ``I_a`` is computed and the weighted mean and
        covariance over the members are returned.

        Parameters
        ----------
        x : ndarray or str
            Observations (or a ``.npy`` path) sampled at the point where the score is evaluated (the
            reference point for SALLY).
        theta : ndarray, optional
            The parameter point (needed for all but score estimators).
        obs_weights : ndarray, optional
            Event weights (default equal; normalised here; the caller's array is not modified).
        estimator_weights : ndarray, optional
            Member weights (default equal).
        n_events : float, optional
            Expected number of events. Default 1.
        mode : {"score", "modified_score", "information"}, optional
            Default ``"score"``.
        calculate_covariance : bool, optional
            Compute the covariance. Default True.
        sum_events : bool, optional
            If False and the mode is ``"score"`` or ``"modified_score"``, return the per-event information
            ``(n_x, P, P)`` (the covariance is still that of the summed information). Default True.
        epsilon_shift : float, optional
            The shift of the ``"score"`` mode. Default 0.001.

        Returns
        -------
        information : ndarray
            ``(P, P)``, or ``(n_x, P, P)`` when ``sum_events`` is False in a score mode.
        covariance : ndarray or None
            ``cov[i, j, k, l]`` between ``I_ij`` and ``I_kl``, shape ``(P, P, P, P)``; None if not
            ``calculate_covariance``.
        """
        if mode not in FISHER_MODES:
            raise InputError(f"Unknown mode {mode!r}; expected one of {', '.join(FISHER_MODES)}")
        w = self._estimator_weights(estimator_weights)
        x_arr = _as_2d(np.asarray(load_array(x)), "x")
        obs = self._observation_weights(obs_weights, len(x_arr))
        n_events = float(n_events)
        logger.debug("Fisher information of %s estimators in %s mode", self.n_estimators, mode)

        if mode == "information":
            infos = self._predictions(
                lambda e: e.calculate_fisher_information(x_arr, theta, weights=obs, n_events=n_events),
                "Fisher information",
            )
            information = np.tensordot(w, infos, axes=1)
            covariance = weighted_covariance(infos, w, information) if calculate_covariance else None
            return information, covariance

        scores = self._member_scores(x_arr, theta)  # (K, n, P)
        mean_score = np.tensordot(w, scores, axes=1)  # (n, P)
        if sum_events:
            information = n_events * (mean_score.T * obs) @ mean_score
        else:
            information = n_events * obs[:, None, None] * mean_score[:, :, None] * mean_score[:, None, :]
        logger.debug("Expected score (should be close to zero): %s", obs @ mean_score)
        if not calculate_covariance:
            return information, None
        shift = epsilon_shift if mode == "score" else 1.0 / np.sqrt(self.n_estimators)
        shifted = mean_score[None] + shift * (scores - mean_score[None])
        infos = n_events * np.matmul(shifted.transpose(0, 2, 1) * obs, shifted)  # (K, P, P)
        covariance = weighted_covariance(infos, w)
        if mode == "score":
            covariance = covariance / epsilon_shift**2
        return information, covariance

    def calculate_expectation(
        self, x: ArrayLike, theta: ArrayLike = None, obs_weights: ArrayLike = None
    ) -> np.ndarray:
        """Expected estimated score of each member, ``E_x[t_hat_a(x|theta)]``, shape ``(n_estimators, P)``.

        For ``x`` sampled at ``theta`` (at the reference point for SALLY) the true expected score vanishes,
        so entries far from zero point at inaccurate members. The result is also stored as
        ``self.expectations``.

        Parameters
        ----------
        x : ndarray or str
            Observations (or a ``.npy`` path).
        theta : ndarray, optional
            The parameter point of the score (needed for all but score estimators).
        obs_weights : ndarray, optional
            Event weights (default equal).
        """
        self._require_members()
        x_arr = _as_2d(np.asarray(load_array(x)), "x")
        obs = self._observation_weights(obs_weights, len(x_arr))
        self.expectations = np.einsum("n,ani->ai", obs, self._member_scores(x_arr, theta))
        return self.expectations

    # ------------------------------------------------------------------ saving

    def save(self, folder: str | os.PathLike, save_model: bool = False) -> None:
        """Save all members to ``folder/estimator_{i}_*`` and the setup to ``folder/ensemble.json``.

        Everything is first written to a temporary folder next to ``folder``. A new folder is then renamed
        into place; into an existing folder the files are moved one by one (each atomically) with
        ``ensemble.json`` last, and the files of members beyond ``n_estimators`` from an earlier save are
        removed. Other files in the folder are left alone.

        Parameters
        ----------
        folder : str or path
            Target folder.
        save_model : bool, optional
            Also pickle each whole module (for debugging). Default False.
        """
        self._require_members()
        target = Path(folder)
        if target.exists() and not target.is_dir():
            raise FileFormatError(f"Cannot save the ensemble to {str(target)!r}: it exists and is no folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(target)
        tmp = Path(tempfile.mkdtemp(prefix=temporary_prefix(target), suffix=".tmp", dir=target.parent))
        try:
            for i, estimator in enumerate(self.estimators):
                estimator.save(tmp / f"estimator_{i}", save_model=save_model)
            settings = {"estimator_type": self.estimator_type, "n_estimators": self.n_estimators}
            (tmp / "ensemble.json").write_text(json.dumps(settings, indent=2), encoding="utf-8")
            if not target.exists():
                try:
                    tmp.rename(target)
                    logger.debug("Saved ensemble to %s", target)
                    return
                except OSError:  # created meanwhile: fall through to the file-by-file move
                    pass
            (target / "ensemble.json").unlink(missing_ok=True)
            for path in target.iterdir():
                match = _MEMBER_FILE.match(path.name)
                if match and int(match.group(1)) >= self.n_estimators and path.is_file():
                    path.unlink()
            for path in sorted(tmp.iterdir()):
                if path.name != "ensemble.json":
                    os.replace(path, target / path.name)
            os.replace(tmp / "ensemble.json", target / "ensemble.json")
            logger.debug("Saved ensemble to %s", target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def load(self, folder: str | os.PathLike) -> None:
        """Load an ensemble saved by :meth:`save` (or by MadMiner) from ``folder``.

        Each member is loaded with :func:`~motherlode.ml.base.load_saved_estimator` (so its own
        ``estimator_type`` decides the class). The ensemble is only changed when everything loaded.

        Raises
        ------
        FileFormatError
            If ``folder/ensemble.json`` or a member is missing or unreadable.
        EnsembleError
            If the members are inconsistent.
        """
        path = Path(folder) / "ensemble.json"
        try:
            settings = json.loads(path.read_text(encoding="utf-8"))
            n_estimators = int(settings["n_estimators"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise FileFormatError(f"Cannot read the ensemble setup {str(path)!r}: {exc!r}") from exc
        estimator_type = settings.get("estimator_type")
        if estimator_type is None:
            raise FileFormatError(f"{str(path)!r} has no estimator_type (written by MadMiner < 0.3.0?)")
        logger.info("Found %s ensemble with %s estimators", estimator_type, n_estimators)
        members = []
        for i in range(n_estimators):
            member = load_saved_estimator(Path(folder) / f"estimator_{i}")
            if estimator_category(member) != estimator_type:
                raise FileFormatError(
                    f"Member {i} of {str(folder)!r} is a {estimator_category(member)} estimator, but "
                    f"ensemble.json says {estimator_type!r}"
                )
            members.append(member)
        check = Ensemble(members)
        self.estimators = check.estimators
        self.expectations = None
        self._check_consistency()


def _takes_compiled_step(call: stacked.FitCall) -> bool:
    """Whether the member of ``call`` would train by the compiled CPU step (:mod:`motherlode.ml.kernels`),
    2x-2.9x faster than the torch step; the stacked network trains by autograd, as fast as the members
    one after the other by the torch step on a CPU (docs/benchmarks.md)."""
    options = call.options
    n_samples = len(next(iter(call.data.values())))
    split = None if call.data_val is not None else options["validation_split"]
    n_steps = training_steps(n_samples, options["n_epochs"], options["batch_size"], split)
    model = call.estimator.model
    if model is None or call.manual is None or not manual_gradients_enabled():
        return False
    return takes_compiled_step(model, call.loss, resolve_device(call.device), n_steps)


def _train_member(
    estimator: Estimator, kwargs: dict[str, Any], entropy: int, index: int
) -> tuple[Estimator, Any]:
    """Train one member with the seed of its position (the task of :meth:`Ensemble.train_all`)."""
    torch.manual_seed(_torch_seed(task_seed(entropy, index)))
    result = estimator.train(**kwargs)
    return estimator, result


def _torch_seed(seed: np.random.SeedSequence) -> int:
    """A 64-bit seed for ``torch.manual_seed`` from a ``SeedSequence``."""
    return int(seed.generate_state(1, np.uint64)[0])


def _job_value(value: Any) -> Any:
    """A training argument as :func:`motherlode.checkpoint.describe` should see it: a file name as the file
    (its size and modification time), a tensor as an array (its content)."""
    if isinstance(value, str) and Path(value).is_file():
        return Path(value)
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return value


class _MemberCheckpoints:
    """The checkpoint folder of :meth:`Ensemble.train_all` (or nothing, without one).

    Layout (besides the folder's ``job.json``)::

        member_<i>.json, member_<i>.npz   a finished member: marker; its losses and torch's random state
        member_<i>.estimator/estimator_*  the finished member's saved files (Estimator.save)
        member_<i>/                       the running training of member i (per-epoch records)
        stacked/                          the running vectorised training (per-epoch records)
    """

    def __init__(self, checkpoint: Checkpoint | None) -> None:
        self.checkpoint = checkpoint

    @staticmethod
    def _key(i: int) -> str:
        return f"member_{i}"

    def done(self, i: int) -> bool:
        """Whether member ``i`` was trained before."""
        return self.checkpoint is not None and self.checkpoint.done(self._key(i))

    def all_done(self, n: int) -> bool:
        """Whether all ``n`` members were trained before."""
        return self.checkpoint is not None and all(self.done(i) for i in range(n))

    def entropy(self, random_state: int | np.random.Generator | None) -> int:
        """The root entropy of the members' seeds (kept in the folder for unseeded trainings)."""
        if self.checkpoint is None:
            return root_entropy(random_state)
        return self.checkpoint.entropy(random_state)

    def argument(self, i: int) -> dict[str, Any]:
        """The ``checkpoint`` argument of member ``i``'s ``train`` (none without a folder)."""
        if self.checkpoint is None:
            return {}
        return {"checkpoint": str(self.checkpoint.directory.resolve() / self._key(i))}

    def stacked_folder(self) -> Path | None:
        """The folder of the vectorised training's records."""
        return None if self.checkpoint is None else self.checkpoint.directory / "stacked"

    def _prefix(self, i: int) -> Path:
        assert self.checkpoint is not None
        return self.checkpoint.path(self._key(i), ".estimator") / "estimator"

    def record(self, i: int, estimator: Estimator, result: Any) -> None:
        """Record member ``i`` as finished: its files, its losses and torch's random state now."""
        if self.checkpoint is None:
            return
        train_losses, val_losses = result
        estimator.save(self._prefix(i))
        state = rng_state(estimator._model_device())
        arrays = {"train_losses": np.asarray(train_losses), "val_losses": np.asarray(val_losses)}
        arrays["rng_cpu"] = state["cpu"].numpy()  # type: ignore[union-attr]
        if state["cuda"] is not None:
            arrays["rng_cuda"] = state["cuda"].numpy()
        self.checkpoint.save(self._key(i), {"device": str(estimator._model_device())}, arrays)

    def load(self, i: int, estimator: Estimator, restore_rng: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Load finished member ``i`` into ``estimator``; its losses. With ``restore_rng`` torch's random
        state becomes the one after its training (for the members trained after it)."""
        assert self.checkpoint is not None
        logger.info("Estimator %s in ensemble was trained before: loading it", i + 1)
        estimator.load(self._prefix(i))
        arrays = self.checkpoint.load_arrays(self._key(i))
        assert arrays is not None
        if restore_rng:
            meta = self.checkpoint.load(self._key(i)) or {}
            cuda = arrays.get("rng_cuda")
            state = {
                "cpu": torch.from_numpy(arrays["rng_cpu"]),
                "cuda": None if cuda is None else torch.from_numpy(cuda),
            }
            set_rng_state(state, resolve_device(meta.get("device", "cpu")))
        return arrays["train_losses"], arrays["val_losses"]

    def clear(self) -> None:
        """Remove the folder: all members are trained."""
        if self.checkpoint is not None:
            self.checkpoint.clear()
