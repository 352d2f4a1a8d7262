"""``SampleAugmenter``: unweighted training samples with joint likelihood ratios and joint scores.

A *set* is one sampling point ``(theta, nu)`` together with the points where augmented data are
evaluated (for ratios: ``theta0`` and ``theta1``). All sets are processed together, in three
streamed passes over the events of the partition, vectorised over sets and events:

1. cross sections ``sigma`` and gradients ``grad sigma`` at every evaluation point;
2. the normalisation and largest weight of each sampling distribution (after ``n_eff_forced``
   trimming), giving the effective sample size ``n_eff = sigma / max w``;
3. sampling: the ``n`` draws of a set are split over the batches of events by a multinomial
   draw with the batches' shares of the set's total (from pass 2); each batch then locates its
   sorted uniforms in its running cumulative weights (inverse CDF, one ``searchsorted`` per set).

Each pass runs one task per fixed batch of :data:`BATCH_SIZE` events, here or on Dask workers
(``client``); the batches' results are combined in batch order and each batch draws with its own
seed (:func:`motherlode.parallel.task_seed`), so that the samples are the same for any number of
workers.

Events are drawn with replacement, with probability proportional to ``max(w(x|theta, nu), 0)``.
The augmented data of a drawn event ``x`` (with benchmark weights ``w_b(x)``) are then exact:
``r(x,z|theta0,theta1) = (w(x|theta0)/sigma(theta0)) / (w(x|theta1)/sigma(theta1))`` and
``t(x,z|theta) = grad w(x|theta)/w(x|theta) - grad sigma(theta)/sigma(theta)``, where
``w(x|theta, nu) = W(theta) . w_b(x) * exp(a(x) nu + b(x) nu^2)`` and the gradient runs over theta
(and nu with ``nuisance_score``).

MadMiner 0.9.6 instead re-reads the whole file at least three times per set (once per sample
when each sample has its own theta) and stores augmented data in float32 computed with the
train-partition cross sections; the same definitions are used here.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np

from ..analysis.dataanalyzer import DataAnalyzer, factors_of_events
from ..checkpoint import Checkpoint, CheckpointLike, fingerprint, open_checkpoint
from ..errors import InputError, SetupError
from ..fileformat import atomic_write, iter_samples
from ..parallel import ClientLike, dask_client, map_ordered, root_entropy, task_rng, task_seed
from ..progress import progress_bar
from ..weights import CrossSectionSums, ParameterPoints, chunk_slices, split_evenly

__all__ = ["SampleAugmenter"]

R = TypeVar("R")

logger = logging.getLogger(__name__)


@dataclass
class _Sample:
    """The drawn events: the set each belongs to, observations and benchmark weights."""

    set_index: np.ndarray
    x: np.ndarray
    benchmark_weights: np.ndarray


BATCH_SIZE = 100_000
"""Events per batch of the sampling passes (one Dask task each); fixed, so that samples do not
depend on the number of workers."""


@dataclass(frozen=True)
class _EventRows:
    """Reads a range of events of an events file, as the sampling tasks need them (picklable)."""

    filename: str
    weight_columns: np.ndarray
    sampling_factors: np.ndarray
    read_observations: bool

    def read(self, start: int, end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(observations, benchmark_weights, sampling_ids)`` of events ``start`` to ``end``."""
        parts = list(iter_samples(self.filename, start, end, end - start, self.read_observations))
        if not parts:
            return np.zeros((0, 0)), np.zeros((0, len(self.weight_columns))), np.zeros(0, np.int64)
        ((observations, weights, ids),) = parts
        return observations, weights[:, self.weight_columns], ids

    def event_factors(self, sampling_ids: np.ndarray, closest: np.ndarray | None) -> np.ndarray:
        """Weight factors of the events, one row per group: 1/0 for events generated at the group's
        closest benchmark (or background), or (without ``closest``) the sampling factors of all events."""
        if closest is None:
            return factors_of_events(self.sampling_factors, sampling_ids)[None, :]
        return ((sampling_ids[None, :] == closest[:, None]) | (sampling_ids[None, :] < 0)).astype(np.float64)

    def sampling_weights(
        self,
        points: ParameterPoints,
        chunk: slice,
        benchmark_weights: np.ndarray,
        ids: np.ndarray,
        closest: np.ndarray | None,
        thresholds: np.ndarray | None,
    ) -> np.ndarray:
        """Non-negative (and trimmed) sampling weights ``(Jc, n)`` of the points ``chunk``."""
        factors = self.event_factors(ids, None if closest is None else closest[chunk])
        weights = np.maximum(points.take(chunk).weights(benchmark_weights) * factors, 0.0)
        if thresholds is not None:
            weights = np.where(weights > thresholds[chunk, None], 0.0, weights)
        return weights


def _batch_sums(
    start: int,
    end: int,
    rows: _EventRows,
    points: ParameterPoints,
    keys: np.ndarray | None,
    gradients: str | None,
    groups: np.ndarray | None,
) -> CrossSectionSums:
    """Task of pass 1: the cross-section sums of one batch."""
    _, benchmark_weights, ids = rows.read(start, end)
    return points.cross_section_sums(
        [(benchmark_weights, rows.event_factors(ids, keys))], gradients=gradients, groups=groups
    )


def _batch_totals(
    start: int,
    end: int,
    rows: _EventRows,
    points: ParameterPoints,
    closest: np.ndarray | None,
    thresholds: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Task of pass 2: total and largest sampling weight of every point in one batch."""
    _, benchmark_weights, ids = rows.read(start, end)
    totals, largest = np.zeros(len(points)), np.zeros(len(points))
    for chunk in chunk_slices(len(points), len(ids)):
        weights = rows.sampling_weights(points, chunk, benchmark_weights, ids, closest, thresholds)
        totals[chunk] = weights.sum(axis=1)
        largest[chunk] = weights.max(axis=1, initial=0.0)
    return totals, largest


def _batch_draw(
    start: int,
    end: int,
    rows: _EventRows,
    points: ParameterPoints,
    closest: np.ndarray | None,
    thresholds: np.ndarray | None,
    entropy: int,
    batch: int,
    draws: np.ndarray,
) -> _Sample:
    """Task of pass 3: ``draws[j]`` events of point ``j`` from one batch, by inverse CDF."""
    drawn = np.flatnonzero(draws)
    if len(drawn) == 0:
        return _Sample(np.zeros(0, np.int64), np.zeros((0, 0)), np.zeros((0, len(rows.weight_columns))))
    x, benchmark_weights, ids = rows.read(start, end)
    rng = task_rng(entropy, batch)
    subset = points.take(drawn)
    sub_closest = None if closest is None else closest[drawn]
    sub_thresholds = None if thresholds is None else thresholds[drawn]
    set_index, event_index = [], []
    for chunk in chunk_slices(len(drawn), len(ids)):
        weights = rows.sampling_weights(subset, chunk, benchmark_weights, ids, sub_closest, sub_thresholds)
        cumulative = np.cumsum(weights, axis=1)
        for local, k in enumerate(range(chunk.start, chunk.stop)):
            n = int(draws[drawn[k]])
            # (1 - 1e-12): a target must stay below the last running sum, whatever the rounding
            targets = np.sort(rng.random(n)) * cumulative[local, -1] * (1.0 - 1e-12)
            event_index.append(np.searchsorted(cumulative[local], targets, side="right"))
            set_index.append(np.full(n, drawn[k], dtype=np.int64))
    events = np.concatenate(event_index)
    return _Sample(np.concatenate(set_index), x[events], benchmark_weights[events])


#: The three passes (their progress-bar labels; with a checkpoint, part of each batch's key).
_SUMS, _TOTALS, _DRAWS = "cross sections", "normalisation", "sampling"


def _encode(result: Any) -> dict[str, np.ndarray]:
    """A batch task's result as the arrays a checkpoint records."""
    if isinstance(result, CrossSectionSums):
        return result.arrays()
    if isinstance(result, _Sample):
        return {"set_index": result.set_index, "x": result.x, "benchmark_weights": result.benchmark_weights}
    totals, largest = result
    return {"totals": totals, "largest": largest}


def _decode(label: str, arrays: dict[str, np.ndarray], task: tuple[Any, ...]) -> Any:
    """The result of the batch task ``task`` of pass ``label`` from the arrays a checkpoint recorded."""
    if label == _SUMS:
        _, _, _, points, _, gradients, groups = task
        sums = points.cross_section_sums([], gradients=gradients, groups=groups)
        sums.load_arrays(arrays)
        return sums
    if label == _DRAWS:
        return _Sample(arrays["set_index"], arrays["x"], arrays["benchmark_weights"])
    return arrays["totals"], arrays["largest"]  # _TOTALS


def _in_dask_session(method: Callable[..., R]) -> Callable[..., R]:
    """Run a :class:`SampleAugmenter` method with the Dask client of its ``client`` argument open
    (``self._client``; None without Dask): a local cluster it starts lives for the call."""

    @functools.wraps(method)
    def in_session(self: SampleAugmenter, *args: Any, **kwargs: Any) -> R:
        with dask_client(self.client) as client:
            self._client = client
            try:
                return method(self, *args, **kwargs)
            finally:
                self._client = None

    return in_session


def _sampling_call(method: Callable[..., R]) -> Callable[..., R]:
    """A public sampling method: with a checkpoint, the batches it recorded are forgotten when it has
    returned (the outermost call, where one calls another)."""

    @functools.wraps(method)
    def call(self: SampleAugmenter, *args: Any, **kwargs: Any) -> R:
        outermost = self._recorded is None
        if outermost:
            self._recorded = []
        try:
            result = method(self, *args, **kwargs)
            if outermost and self._checkpoint is not None:
                for key in self._recorded or ():
                    self._checkpoint.discard(key)
            return result
        finally:
            if outermost:
                self._recorded = None

    return call


class SampleAugmenter(DataAnalyzer):
    """Sampling (unweighting) and data augmentation.

    Parameters
    ----------
    filename : str or path-like
        An events file.
    disable_morphing : bool, optional
        If True, the morphing setup is not loaded. Default: False.
    include_nuisance_parameters : bool, optional
        If True, nuisance parameters are taken into account. Default: True.
    client : None, dask.distributed.Client, "local", int or str, optional
        Run the passes over the events as Dask tasks, one per batch of 100 000 events (None: here,
        one after the other; see :mod:`motherlode.parallel` and docs/scale.md). The samples are the
        same for any number of workers: each batch draws with its own seed. The workers must be
        able to read the events file.
    checkpoint : path-like, optional
        A folder where every pass over the events records each finished batch (an addition): a
        sampling call rerun after an interruption, with the same folder and arguments, continues
        after the last recorded batch and gives the same samples as an uninterrupted call (an
        unseeded call, ``random_state=None``, draws its seed from the folder then). A call forgets
        its batches when it has succeeded (docs/resume.md).

    Notes
    -----
    Every ``sample_*`` method takes a keyword ``random_state`` (an int seed or a NumPy
    ``Generator``; an addition): the same seed gives identical samples. ``n_processes`` is
    accepted for compatibility and ignored: the work is vectorised over all sets at once.
    """

    def __init__(
        self,
        filename: str | os.PathLike[str],
        disable_morphing: bool = False,
        include_nuisance_parameters: bool = True,
        *,
        client: ClientLike = None,
        checkpoint: CheckpointLike = None,
    ) -> None:
        super().__init__(filename, disable_morphing, include_nuisance_parameters)
        self.client = client
        self._client: Any = None  # the Dask client of the running call
        job = {
            "events": Path(filename),
            "morphing": not disable_morphing,
            "nuisance": include_nuisance_parameters,
        }
        self._checkpoint: Checkpoint | None = open_checkpoint(checkpoint, job)
        self._recorded: list[str] | None = None  # the checkpoint keys of the running sampling call
        self._n_calls = 0  # sampling calls so far (the seed of unseeded calls with a checkpoint)

    def _rng(self, random_state: int | np.random.Generator | None) -> np.random.Generator:
        """The random numbers of one sampling call.

        With a checkpoint an unseeded call (None) takes its seed from the checkpoint's stored entropy
        and the number of calls before it, so that a rerun of the same script draws the same.
        """
        self._n_calls += 1
        if random_state is None and self._checkpoint is not None:
            return np.random.default_rng(task_seed(self._checkpoint.entropy(None), self._n_calls))
        return np.random.default_rng(random_state)

    # ------------------------------------------------------------------ parameter points

    def _points(
        self, theta: Any, nu: Any, n_samples: int, rng: np.random.Generator
    ) -> tuple[ParameterPoints, np.ndarray]:
        """The points of a theta (and nu) specification and the number of samples of each."""
        points, counts = self.weight_model.points_from_spec(theta, n_samples, rng)
        return points.with_nus(self.weight_model.nus_from_spec(nu, len(points), rng)), counts

    # ------------------------------------------------------------------ the three passes

    def _batches(
        self, bounds: tuple[int, int], read_observations: bool
    ) -> tuple[_EventRows, list[tuple[int, int]]]:
        """The picklable reader of the events and the fixed batches of ``bounds`` (one task each)."""
        rows = _EventRows(
            self.madminer_filename,
            self._all_columns if self.include_nuisance_parameters else self._physics_columns,
            self._sampling_factors(),
            read_observations,
        )
        start, end = bounds
        return rows, [(a, min(a + BATCH_SIZE, end)) for a in range(start, end, BATCH_SIZE)]

    def _map_batches(
        self,
        function: Callable[..., Any],
        batches: list[tuple[int, int]],
        label: str,
        arguments: tuple[Any, ...],
        per_batch: Sequence[tuple[Any, ...]] | None = None,
    ) -> Iterator[Any]:
        """``function(start, end, *arguments, *per_batch[b])`` for every batch ``b``, in order (here or
        as Dask tasks), with a progress bar."""
        tasks = [
            (start, end, *arguments, *(() if per_batch is None else per_batch[b]))
            for b, (start, end) in enumerate(batches)
        ]
        total = sum(end - start for start, end in batches)
        with progress_bar(
            total=total, desc=f"{Path(self.madminer_filename).name}: {label}", unit="events"
        ) as bar:
            if self._checkpoint is None:
                for (start, end), result in zip(
                    batches, map_ordered(function, tasks, self._client, star=True), strict=True
                ):
                    bar.update(end - start)
                    yield result
                return
            for (start, end), result in zip(batches, self._recorded_map(function, tasks, label), strict=True):
                bar.update(end - start)
                yield result

    def _recorded_map(
        self, function: Callable[..., Any], tasks: list[tuple[Any, ...]], label: str
    ) -> Iterator[Any]:
        """``function(*task)`` for every task of pass ``label``, in order; the results a checkpoint recorded
        (under a key that is the fingerprint of the pass and the task's arguments) are taken from it, the
        others computed (here or as Dask tasks) and recorded."""
        checkpoint = self._checkpoint
        assert checkpoint is not None
        keys = [f"batch-{fingerprint((label, task))[:40]}" for task in tasks]
        if self._recorded is not None:
            self._recorded += keys
        missing = [task for key, task in zip(keys, tasks, strict=True) if not checkpoint.done(key)]
        computed = map_ordered(function, missing, self._client, star=True)
        for key, task in zip(keys, tasks, strict=True):
            arrays = checkpoint.load_arrays(key)
            if arrays is not None:
                yield _decode(label, arrays, task)
                continue
            result = next(computed)
            checkpoint.save(key, arrays=_encode(result))
            yield result

    def _cross_sections(
        self,
        points: ParameterPoints,
        set_of_point: np.ndarray,
        closest: np.ndarray | None,
        bounds: tuple[int, int],
        need_gradients: bool,
        nuisance_score: bool,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Pass 1: ``sigma`` (M,) and ``grad sigma`` (M, P[+K]) of M evaluation points."""
        if closest is None:
            keys, groups = None, None
        else:
            keys, groups = np.unique(closest[set_of_point], return_inverse=True)
        gradients = ("all" if nuisance_score else "theta") if need_gradients else None
        rows, batches = self._batches(bounds, read_observations=False)
        total = None
        for sums in self._map_batches(_batch_sums, batches, _SUMS, (rows, points, keys, gradients, groups)):
            if total is None:
                total = sums
            else:
                total.merge(sums)
        assert total is not None
        result = total.result()
        return result.xsecs, result.gradients

    def _sampling_totals(
        self,
        points: ParameterPoints,
        closest: np.ndarray | None,
        bounds: tuple[int, int],
        thresholds: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pass 2: total and largest sampling weight per set, and the totals per batch ``(J, n_batches)``."""
        rows, batches = self._batches(bounds, read_observations=False)
        per_batch = np.zeros((len(points), len(batches)))
        largest = np.zeros(len(points))
        parts = self._map_batches(_batch_totals, batches, _TOTALS, (rows, points, closest, thresholds))
        for b, (totals, batch_largest) in enumerate(parts):
            per_batch[:, b] = totals
            largest = np.maximum(largest, batch_largest)
        return per_batch.sum(axis=1), largest, per_batch

    def _draw(
        self,
        points: ParameterPoints,
        counts: np.ndarray,
        batch_totals: np.ndarray,
        closest: np.ndarray | None,
        bounds: tuple[int, int],
        thresholds: np.ndarray | None,
        rng: np.random.Generator,
    ) -> _Sample:
        """Pass 3: ``counts[j]`` events for every set ``j``, drawn with probability proportional to
        their sampling weight.

        The number of draws of set ``j`` in batch ``b`` is multinomial with the batches' shares of
        the set's total (drawn here); each batch then draws its events by inverse CDF with its own
        seed (``task_rng(entropy, b)``), so that the sample does not depend on who runs which batch.
        """
        rows, batches = self._batches(bounds, read_observations=True)
        totals = batch_totals.sum(axis=1)
        draws = np.zeros_like(batch_totals, dtype=np.int64)
        for j, count in enumerate(counts):
            if count > 0:
                draws[j] = rng.multinomial(int(count), batch_totals[j] / totals[j])
        entropy = root_entropy(rng)
        parts = list(
            self._map_batches(
                _batch_draw,
                batches,
                _DRAWS,
                (rows, points, closest, thresholds, entropy),
                [(b, draws[:, b]) for b in range(len(batches))],
            )
        )
        parts = [part for part in parts if len(part.set_index)]
        set_index = np.concatenate([part.set_index for part in parts])
        order = np.argsort(set_index, kind="stable")
        return _Sample(
            set_index[order],
            np.concatenate([part.x for part in parts])[order],
            np.concatenate([part.benchmark_weights for part in parts])[order],
        )

    @staticmethod
    def _deal(
        unique_index: np.ndarray, inverse: np.ndarray, counts: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Set of each sample drawn from a shared distribution: ``counts[j]`` samples of the
        distribution ``inverse[j]`` go to set ``j``, chosen at random among that distribution's samples
        (``unique_index`` is sorted)."""
        sets_by_distribution = np.argsort(inverse, kind="stable")
        labels = np.repeat(sets_by_distribution, counts[sets_by_distribution])
        shuffled = np.lexsort((rng.random(len(unique_index)), unique_index))
        set_index = np.empty_like(labels)
        set_index[shuffled] = labels
        return set_index

    # ------------------------------------------------------------------ augmented data

    def _augmented(
        self,
        sample: _Sample,
        points: ParameterPoints,
        with_score: bool,
        sigma: np.ndarray,
        sigma_gradient: np.ndarray | None,
        nuisance_score: bool,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``w/sigma`` (n,) and the joint score (n, P[+K]) at one evaluation point per sample."""
        j = sample.set_index
        per_sample = points.take(j)
        normalised = per_sample.weights(sample.benchmark_weights, aligned=True) / sigma[j]
        if not with_score:
            return normalised, None
        gradients = "all" if nuisance_score else "theta"
        log_gradient = per_sample.log_weight_gradients(sample.benchmark_weights, gradients, aligned=True)
        assert sigma_gradient is not None  # computed whenever scores are asked for
        return normalised, log_gradient - sigma_gradient[j] / sigma[j, None]

    # ------------------------------------------------------------------ driver

    @_in_dask_session
    def _run(
        self,
        evaluation: list[ParameterPoints],
        sampling_index: int,
        counts: np.ndarray,
        partition: str,
        test_split: float,
        validation_split: float,
        only_closest: bool,
        n_eff_forced: float | None,
        scores_at: Sequence[int],
        nuisance_score: bool,
        rng: np.random.Generator,
    ) -> tuple[_Sample, list[np.ndarray], dict[int, np.ndarray], np.ndarray]:
        """Sample from ``evaluation[sampling_index]``; return the sample, ``w/sigma`` at every evaluation
        point, the scores at ``scores_at`` and the effective sample size of every set."""
        start, end, _ = self._partition_bounds(partition, test_split, validation_split)
        bounds = (start, end)
        n_sets = len(counts)
        sampling_points = evaluation[sampling_index]
        closest = (
            np.array([self._find_closest_benchmark(theta) for theta in sampling_points.values])
            if only_closest
            else None
        )
        set_of_point = np.tile(np.arange(n_sets), len(evaluation))
        stacked = ParameterPoints.concatenate(evaluation)
        need_gradients = bool(scores_at)
        sigma, sigma_gradient = self._cross_sections(
            stacked, set_of_point, closest, bounds, need_gradients, nuisance_score
        )
        sigma = sigma.reshape(len(evaluation), n_sets)
        if sigma_gradient is not None:
            sigma_gradient = sigma_gradient.reshape(len(evaluation), n_sets, -1)
        # identical sampling distributions (same morphing row, nu and event subset; e.g. theta1 = sm
        # in every set of a ratio sample) are sampled once and their samples dealt out to the sets
        key_parts = [sampling_points.matrices]
        if sampling_points.nus is not None:
            key_parts.append(sampling_points.nus)
        if closest is not None:
            key_parts.append(closest[:, None].astype(np.float64))
        _, first, inverse = np.unique(
            np.concatenate(key_parts, axis=1), axis=0, return_index=True, return_inverse=True
        )
        inverse = inverse.reshape(-1)
        unique_points = sampling_points.take(first)
        unique_closest = None if closest is None else closest[first]
        unique_sigma = sigma[sampling_index][first]
        thresholds = None if n_eff_forced is None else unique_sigma / float(n_eff_forced)
        totals, largest, batch_totals = self._sampling_totals(
            unique_points, unique_closest, bounds, thresholds
        )
        if np.any(totals <= 0.0):
            raise InputError(
                f"{int(np.sum(totals <= 0))} sampling points have no events with positive weight in the "
                f"{partition} partition"
            )
        # n_eff = 1 / max p(x) with p = w / sigma (as in MadMiner, also after trimming)
        n_effective = np.divide(unique_sigma, largest, out=np.zeros_like(totals), where=largest > 0)[inverse]
        unique_counts = np.bincount(inverse, weights=counts, minlength=len(first)).astype(np.int64)
        sample = self._draw(
            unique_points, unique_counts, batch_totals, unique_closest, bounds, thresholds, rng
        )
        sample.set_index = self._deal(sample.set_index, inverse, counts, rng)
        normalised, scores = [], {}
        for e, points in enumerate(evaluation):
            ratio_part, score = self._augmented(
                sample,
                points,
                e in scores_at,
                sigma[e],
                None if sigma_gradient is None else sigma_gradient[e],
                nuisance_score,
            )
            normalised.append(ratio_part)
            if score is not None:
                scores[e] = score
        return sample, normalised, scores, n_effective

    def _nuisance_score(self, nuisance_score: bool | str) -> bool:
        if nuisance_score == "auto":
            return self.nuisance_morpher is not None
        if nuisance_score and self.nuisance_morpher is None:
            raise SetupError("no nuisance parameters in the file: cannot calculate the nuisance score")
        return bool(nuisance_score)

    def _check_scores_possible(self) -> None:
        if self.morpher is None and not self.finite_difference_benchmarks:
            raise SetupError("joint scores need a morphing setup or finite-difference benchmarks")

    def _theta_output(
        self, points: ParameterPoints, set_index: np.ndarray, nontrivial_nu: bool
    ) -> np.ndarray:
        """The parameter points of the samples; with ``nontrivial_nu`` (some nu in the call is not
        nominal) followed by their nuisance parameters, zeros for nominal ones, as MadMiner does."""
        values = points.values[set_index]
        if not nontrivial_nu:
            return values
        if points.nus is None:
            nus = np.zeros((len(set_index), self.n_nuisance_parameters))
        else:
            nus = points.nus[set_index]
        return np.concatenate([values, nus], axis=1)

    def _save(
        self, folder: str | os.PathLike[str] | None, filename: str | None, arrays: dict[str, np.ndarray]
    ) -> None:
        if folder is None or filename is None:
            return
        for prefix, array in arrays.items():
            with atomic_write(Path(folder) / f"{prefix}_{filename}.npy") as handle:
                np.save(handle, array)

    @staticmethod
    def _precision(arrays: dict[str, np.ndarray], double_precision: bool) -> dict[str, np.ndarray]:
        dtype = np.float64 if double_precision else np.float32
        return {key: value.astype(dtype) for key, value in arrays.items()}

    @staticmethod
    def _report_n_effective(n_effective: np.ndarray) -> None:
        smallest = float(np.min(n_effective))
        logger.info("Effective number of samples: smallest %.1f over %d sets", smallest, len(n_effective))
        if smallest < 20:
            logger.warning(
                "Only %.1f effective samples for some parameter point: a few events carry most of the weight",
                smallest,
            )

    # ------------------------------------------------------------------ public API

    @_sampling_call
    def sample_train_plain(
        self,
        theta: Any,
        n_samples: int,
        nu: Any = None,
        sample_only_from_closest_benchmark: bool = True,
        folder: str | None = None,
        filename: str | None = None,
        test_split: float = 0.2,
        validation_split: float = 0.2,
        partition: str = "train",
        n_processes: int = 1,
        n_eff_forced: float | None = None,
        double_precision: bool = False,
        *,
        random_state: int | np.random.Generator | None = None,
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Samples ``x ~ p(x|theta)`` without augmented data: returns ``x, theta, n_effective``.

        Saved as ``x_<filename>.npy`` and ``theta_<filename>.npy`` when ``folder`` and
        ``filename`` are given. ``n_effective`` (a float) is the smallest effective number of
        events ``1 / max_x p(x|theta)`` over the parameter points (see :meth:`sample_train_ratio`).
        """
        del n_processes
        rng = self._rng(random_state)
        points, counts = self._points(theta, nu, int(n_samples), rng)
        sample, _, _, n_effective = self._run(
            [points], 0, counts, partition, test_split, validation_split,
            sample_only_from_closest_benchmark, n_eff_forced, (), False, rng,
        )  # fmt: skip
        order = rng.permutation(len(sample.set_index))
        arrays = self._precision(
            {
                "x": sample.x[order],
                "theta": self._theta_output(points, sample.set_index[order], points.nus is not None),
            },
            double_precision,
        )
        self._save(folder, filename, arrays)
        self._report_n_effective(n_effective)
        return arrays["x"], arrays["theta"], float(np.min(n_effective))

    @_sampling_call
    def sample_test(
        self,
        theta: Any,
        n_samples: int,
        nu: Any = None,
        sample_only_from_closest_benchmark: bool = True,
        folder: str | None = None,
        filename: str | None = None,
        test_split: float = 0.2,
        validation_split: float = 0.2,
        partition: str = "test",
        n_processes: int = 1,
        n_eff_forced: float | None = None,
        double_precision: bool = False,
        *,
        random_state: int | np.random.Generator | None = None,
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Evaluation samples ``x ~ p(x|theta)`` from the test partition: ``x, theta, n_effective``."""
        return self.sample_train_plain(
            theta, n_samples, nu, sample_only_from_closest_benchmark, folder, filename, test_split,
            validation_split, partition, n_processes, n_eff_forced, double_precision,
            random_state=random_state,
        )  # fmt: skip

    @_sampling_call
    def sample_train_local(
        self,
        theta: Any,
        n_samples: int,
        nu: Any = None,
        sample_only_from_closest_benchmark: bool = True,
        folder: str | None = None,
        filename: str | None = None,
        nuisance_score: bool | str = "auto",
        test_split: float = 0.2,
        validation_split: float = 0.2,
        partition: str = "train",
        n_processes: int = 1,
        log_message: bool = True,
        n_eff_forced: float | None = None,
        double_precision: bool = False,
        *,
        random_state: int | np.random.Generator | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Samples ``x ~ p(x|theta)`` with the joint score ``t(x,z|theta)`` (SALLY, SALLINO).

        Returns ``x, theta, t_xz, n_effective``; saved as ``x_``, ``theta_``, ``t_xz_<filename>.npy``.
        ``t_xz`` has shape ``(n, n_parameters)``, or ``(n, n_parameters + n_nuisance_parameters)``
        with the nuisance score. ``n_effective`` (a float) is the smallest effective number of
        events over the parameter points (see :meth:`sample_train_ratio`).
        """
        del n_processes, log_message
        self._check_scores_possible()
        include_nuisance = self._nuisance_score(nuisance_score)
        rng = self._rng(random_state)
        points, counts = self._points(theta, nu, int(n_samples), rng)
        sample, _, scores, n_effective = self._run(
            [points], 0, counts, partition, test_split, validation_split,
            sample_only_from_closest_benchmark, n_eff_forced, (0,), include_nuisance, rng,
        )  # fmt: skip
        order = rng.permutation(len(sample.set_index))
        arrays = self._precision(
            {
                "x": sample.x[order],
                "theta": self._theta_output(points, sample.set_index[order], points.nus is not None),
                "t_xz": scores[0][order],
            },
            double_precision,
        )
        self._save(folder, filename, arrays)
        self._report_n_effective(n_effective)
        return arrays["x"], arrays["theta"], arrays["t_xz"], float(np.min(n_effective))

    @_sampling_call
    def sample_train_density(
        self,
        theta: Any,
        n_samples: int,
        nu: Any = None,
        sample_only_from_closest_benchmark: bool = True,
        folder: str | None = None,
        filename: str | None = None,
        nuisance_score: bool | str = "auto",
        test_split: float = 0.2,
        validation_split: float = 0.2,
        partition: str = "train",
        n_processes: int = 1,
        n_eff_forced: float | None = None,
        double_precision: bool = False,
        *,
        random_state: int | np.random.Generator | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Samples ``x ~ p(x|theta)`` with joint scores, theta typically from a prior (NDE, SCANDAL).

        The same as :meth:`sample_train_local`: returns ``x, theta, t_xz, n_effective``.
        """
        return self.sample_train_local(
            theta, n_samples, nu, sample_only_from_closest_benchmark, folder, filename, nuisance_score,
            test_split, validation_split, partition, n_processes, True, n_eff_forced, double_precision,
            random_state=random_state,
        )  # fmt: skip

    def _ratio_halves(
        self,
        theta0: Any,
        theta1: Any,
        n_samples: int,
        nu0: Any,
        nu1: Any,
        additional: Sequence[Any],
        rng: np.random.Generator,
    ) -> tuple[list[ParameterPoints], list[np.ndarray]]:
        """Evaluation points (theta0, theta1, extra points) shared by both halves, and the number of
        samples per set of the half sampled at theta0 and of the half sampled at theta1."""
        halves = (n_samples // 2, n_samples - n_samples // 2)
        points0, _ = self._points(theta0, nu0, halves[0], rng)
        points1, _ = self._points(theta1, nu1, halves[1], rng)
        extra = [self._points(spec, nu1, halves[0], rng)[0] for spec in additional]
        n_sets = max(len(points0), len(points1), *(len(p) for p in extra))
        evaluation = [_broadcast(p, n_sets) for p in (points0, points1, *extra)]
        return evaluation, [split_evenly(n_half, n_sets) for n_half in halves]

    @_sampling_call
    def sample_train_ratio(
        self,
        theta0: Any,
        theta1: Any,
        n_samples: int,
        nu0: Any = None,
        nu1: Any = None,
        sample_only_from_closest_benchmark: bool = True,
        folder: str | None = None,
        filename: str | None = None,
        nuisance_score: bool | str = "auto",
        test_split: float = 0.2,
        validation_split: float = 0.2,
        partition: str = "train",
        n_processes: int = 1,
        return_individual_n_effective: bool = False,
        n_eff_forced: float | None = None,
        double_precision: bool = False,
        *,
        random_state: int | np.random.Generator | None = None,
    ) -> tuple[
        np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, float | np.ndarray
    ]:
        """Half the samples from theta0 (y = 0), half from theta1 (y = 1), with the joint ratio
        ``r(x,z|theta0,theta1)`` and the joint score ``t(x,z|theta0)`` (CARL, ROLR, CASCAL, RASCAL,
        ALICE, ALICES).

        Parameters
        ----------
        theta0, theta1 : tuple
            The numerator and denominator points: ``benchmark(name)``, ``benchmarks(names)``,
            ``morphing_point(theta)``, ``morphing_points(thetas)`` or ``random_morphing_points(n,
            priors)``. Each point of theta0 (theta1) together with its partner forms a *set*.
        n_samples : int
            Total number of samples: ``n_samples // 2`` from theta0, the rest from theta1.
        nu0, nu1 : tuple or None, optional
            Nuisance parameter points (or priors) of the numerator and denominator; None: nominal.
        sample_only_from_closest_benchmark : bool, optional
            If True (default), draw only from the events generated at the benchmark closest to
            the sampling point (and from background events).
        folder, filename : str or None, optional
            Where to save the arrays, as ``<folder>/<prefix>_<filename>.npy`` with the prefixes
            ``x``, ``theta0``, ``theta1``, ``y``, ``r_xz`` and ``t_xz`` (``n_effective`` is not
            saved, as in MadMiner).
        nuisance_score : bool or "auto", optional
            Whether ``t_xz`` also holds the score with respect to the nuisance parameters.
        test_split, validation_split : float, optional
            Fractions of the events reserved for the test and validation partitions.
        partition : {"train", "validation", "test", "all"}, optional
            The partition of events to draw from. Default: "train".
        n_processes : int, optional
            Accepted for compatibility and ignored.
        return_individual_n_effective : bool, optional
            If False (default), ``n_effective`` is the smallest effective sample size of all sets,
            a float. If True, it is an array with one value per sample, as in MadMiner 0.9.6.
        n_eff_forced : float or None, optional
            If given, events whose probability ``w(x|theta)/sigma(theta)`` exceeds
            ``1/n_eff_forced`` are ignored when sampling.
        double_precision : bool, optional
            float64 instead of float32 outputs.
        random_state : int, numpy.random.Generator or None, optional
            Seed or generator; the same seed gives the same samples.

        Returns
        -------
        x : numpy.ndarray
            Observables, ``(n_samples, n_observables)``.
        theta0, theta1 : numpy.ndarray
            Numerator and denominator points of every sample, ``(n_samples, n_parameters)``
            (with the nu values appended when ``nu0`` or ``nu1`` is given).
        y : numpy.ndarray
            ``(n_samples, 1)``: 0 for samples drawn from theta0, 1 for samples drawn from theta1.
        r_xz : numpy.ndarray
            Joint likelihood ratio ``r(x,z|theta0,theta1)``, ``(n_samples, 1)``.
        t_xz : numpy.ndarray or None
            Joint score ``t(x,z|theta0)``, ``(n_samples, n_parameters [+ n_nuisance])``; None
            without morphing or finite differences.
        n_effective : float or numpy.ndarray
            The effective number of events of a sampling distribution: ``1 / max_x p(x)`` with
            ``p(x) = w(x|theta, nu) / sigma(theta, nu)`` over the events it is drawn from (the
            partition, restricted to the closest benchmark's events if
            ``sample_only_from_closest_benchmark``, after ``n_eff_forced`` trimming). Small values
            mean that a few events carry most of the weight. With
            ``return_individual_n_effective=False``: the smallest value over all sets, a float.
            With True: float64 of shape ``(n_samples,)``, aligned with ``x`` (shuffled
            together with it): each sample gets the value of the distribution it was drawn from,
            theta0's for ``y == 0`` and theta1's for ``y == 1``. Select with the flat labels,
            e.g. ``n_effective[y[:, 0] == 0]`` or ``n_effective[y.flatten() == 0]`` as in
            MadMiner's tutorial.
        """
        del n_processes
        outputs, n_effective = self._sample_ratios(
            theta0, theta1, n_samples, nu0, nu1, (), sample_only_from_closest_benchmark, nuisance_score,
            test_split, validation_split, partition, n_eff_forced, random_state,
        )  # fmt: skip
        # x, theta0, theta1, y, r_xz and n_effective are always there (t_xz0, t_xz1 only with scores)
        arrays = {key: cast(np.ndarray, outputs[key]) for key in ("x", "theta0", "theta1", "y", "r_xz")}
        t_xz = outputs["t_xz0"]
        if t_xz is not None:
            arrays["t_xz"] = t_xz
        arrays = self._precision(arrays, double_precision)
        self._save(folder, filename, arrays)
        effective: float | np.ndarray = (
            cast(np.ndarray, outputs["n_effective"])
            if return_individual_n_effective
            else float(np.min(n_effective))
        )
        return (
            arrays["x"], arrays["theta0"], arrays["theta1"], arrays["y"], arrays["r_xz"], arrays.get("t_xz"),
            effective,
        )  # fmt: skip

    @_sampling_call
    def sample_train_more_ratios(
        self,
        theta0: Any,
        theta1: Any,
        n_samples: int,
        nu0: Any = None,
        nu1: Any = None,
        sample_only_from_closest_benchmark: bool = True,
        folder: str | None = None,
        filename: str | None = None,
        additional_thetas: Sequence[Any] | None = None,
        nuisance_score: bool | str = "auto",
        test_split: float = 0.2,
        validation_split: float = 0.2,
        partition: str = "train",
        n_processes: int = 1,
        n_eff_forced: float | None = None,
        double_precision: bool = False,
        *,
        random_state: int | np.random.Generator | None = None,
    ) -> tuple[
        np.ndarray,
        np.ndarray,
        np.ndarray,
        np.ndarray,
        np.ndarray,
        np.ndarray | None,
        np.ndarray | None,
        float,
    ]:
        """Like :meth:`sample_train_ratio`, with scores at both hypotheses and more pairings.

        Each extra point ``theta_a`` of ``additional_thetas`` adds the theta0 half again paired as
        ``(theta0, theta_a)`` (y = 0) and the theta1 half paired as ``(theta_a, theta1)`` (y = 1),
        with their joint ratios and scores: ``n_samples * (1 + len(additional_thetas))`` rows
        for the doubly parameterised estimator. Returns ``x, theta0, theta1, y, r_xz, t_xz0,
        t_xz1, n_effective``; saved with the prefixes ``x``, ``theta0``, ``theta1``, ``y``,
        ``r_xz``, ``t_xz0``, ``t_xz1``. ``n_effective`` (a float) is the smallest effective number
        of events over the sampling points of both halves (see :meth:`sample_train_ratio`).
        """
        del n_processes
        outputs, n_effective = self._sample_ratios(
            theta0, theta1, n_samples, nu0, nu1, additional_thetas or (), sample_only_from_closest_benchmark,
            nuisance_score, test_split, validation_split, partition, n_eff_forced, random_state,
        )  # fmt: skip
        # x, theta0, theta1, y and r_xz are always there; t_xz0 and t_xz1 only with scores (morphing or
        # finite differences): without, they are None and not saved
        arrays = self._precision(
            {
                key: value
                for key, value in outputs.items()
                if key in ("x", "theta0", "theta1", "y", "r_xz", "t_xz0", "t_xz1") and value is not None
            },
            double_precision,
        )
        self._save(folder, filename, arrays)
        return (
            arrays["x"], arrays["theta0"], arrays["theta1"], arrays["y"], arrays["r_xz"], arrays.get("t_xz0"),
            arrays.get("t_xz1"), float(np.min(n_effective)),
        )  # fmt: skip

    def _sample_ratios(
        self,
        theta0: Any,
        theta1: Any,
        n_samples: int,
        nu0: Any,
        nu1: Any,
        additional: Sequence[Any],
        only_closest: bool,
        nuisance_score: bool | str,
        test_split: float,
        validation_split: float,
        partition: str,
        n_eff_forced: float | None,
        random_state: int | np.random.Generator | None,
    ) -> tuple[dict[str, np.ndarray | None], np.ndarray]:
        """Both halves of a ratio sample, stacked and shuffled together.

        Returns the outputs by name (``x``, ``theta0``, ``theta1``, ``y``, ``r_xz``, ``t_xz0``,
        ``t_xz1`` and ``n_effective``, the effective sample size of the set each row was drawn
        from, float64 ``(n,)``) and the effective sample size of every set of both halves.
        """
        rng = self._rng(random_state)
        can_score = self.morpher is not None or bool(self.finite_difference_benchmarks)
        include_nuisance = self._nuisance_score(nuisance_score) if can_score else False
        evaluation, counts = self._ratio_halves(theta0, theta1, int(n_samples), nu0, nu1, additional, rng)
        nontrivial_nu = any(points.nus is not None for points in evaluation)
        rows: dict[str, list[np.ndarray]] = {
            k: [] for k in ("x", "theta0", "theta1", "y", "r_xz", "t_xz0", "t_xz1", "n_effective")
        }
        n_effective = []
        n_points = len(evaluation)
        for label, half_counts in enumerate(counts):
            scores_at = tuple(range(n_points)) if can_score else ()
            sample, normalised, scores, effective = self._run(
                evaluation, label, half_counts, partition, test_split, validation_split, only_closest,
                n_eff_forced, scores_at, include_nuisance, rng,
            )  # fmt: skip
            n_effective.append(effective)
            j = sample.set_index
            pairs = [(0, 1)] + [((0, a) if label == 0 else (a, 1)) for a in range(2, n_points)]
            for numerator, denominator in pairs:
                rows["x"].append(sample.x)
                rows["theta0"].append(self._theta_output(evaluation[numerator], j, nontrivial_nu))
                rows["theta1"].append(self._theta_output(evaluation[denominator], j, nontrivial_nu))
                rows["y"].append(np.full((len(j), 1), float(label)))
                with np.errstate(divide="ignore", invalid="ignore"):
                    rows["r_xz"].append((normalised[numerator] / normalised[denominator])[:, None])
                if can_score:
                    rows["t_xz0"].append(scores[numerator])
                    rows["t_xz1"].append(scores[denominator])
                rows["n_effective"].append(effective[j])  # of the distribution each sample is drawn from
        outputs: dict[str, np.ndarray | None] = {}
        order = None
        for key, parts in rows.items():
            if not parts:
                outputs[key] = None
                continue
            stacked = np.concatenate(parts)
            if order is None:
                order = rng.permutation(len(stacked))
            outputs[key] = stacked[order]
        return outputs, np.concatenate(n_effective)

    def cross_sections(self, theta: Any, nu: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Total cross sections at the points of a theta (and nu) specification.

        Returns ``thetas`` (with the nu values appended when ``nu`` is given), ``xsecs`` and
        ``xsec_uncertainties`` (pb). Random specifications are drawn from NumPy's default generator.
        """
        rng = np.random.default_rng()
        kind, value = theta
        n_points = value[0] if kind == "random_morphing_points" and value[0] else 1
        points, _ = self._points(theta, nu, n_points, rng)
        assert points.names is not None  # ParameterPoints fills in the names
        thetas = [
            name if name is not None else value
            for name, value in zip(points.names, points.values, strict=True)
        ]
        nus = None if points.nus is None else list(points.nus)
        xsecs, uncertainties = self.xsecs(thetas, nus)
        thetas_out = self._theta_output(points, np.arange(len(points)), points.nus is not None)
        return thetas_out, xsecs, uncertainties


def _broadcast(points: ParameterPoints, n_sets: int) -> ParameterPoints:
    if len(points) == n_sets:
        return points
    if len(points) != 1:
        raise InputError(
            f"cannot pair {len(points)} parameter points with {n_sets}: "
            "give one point or the same number of points"
        )
    return points.take(np.zeros(n_sets, dtype=np.int64))
