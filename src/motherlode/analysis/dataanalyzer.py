"""``DataAnalyzer``: weighted events, cross sections and their gradients from an events file.

The base of the sampling, Fisher-information, likelihood and limit stages. Events are streamed
from disk in batches (:func:`motherlode.fileformat.iter_samples`), so files larger than memory
work everywhere except in :meth:`DataAnalyzer.weighted_events`, which returns arrays by design.

Weights at a parameter point
----------------------------
``w(x | theta, nu) = sum_b W_b(theta) w_b(x) * exp(sum_k a_k(x) nu_k + b_k(x) nu_k^2)``: the
morphing weights ``W_b(theta)`` (or a unit vector for a benchmark given by name or index) times
the per-event nuisance factor of :class:`motherlode.morphing.NuisanceMorpher`. Gradients follow
analytically; without morphing, theta gradients at finite-difference base benchmarks are
``(w_shifted - w_base) / epsilon``.

Several signal samples
----------------------
Each signal sample's weights sum to the full cross section. When all events are used, the
weights of events generated at benchmark ``b`` are multiplied by ``n_b / n_signal`` (the
sample's share of the signal events), so the sum over all samples estimates the cross section
once; background weights are kept. With ``generated_close_to``, only the events generated at the
benchmark closest to that point (and background events) are used, unscaled.

Partitions
----------
``train``, ``validation`` and ``test`` are consecutive blocks of the (shuffled) file with sizes
set by ``test_split`` and ``validation_split``; together they hold every event (MadMiner drops
one event at each boundary). Cross sections from a partition are scaled by
``n_events / n_partition``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..fileformat import iter_samples, n_samples, read_observables, read_sample_summary, read_setup
from ..models.readers import FUNCTION_DEFINED, Observable
from ..morphing import NuisanceMorpher, PhysicsMorpher
from ..progress import progress_bar
from ..weights import ParameterPoints, WeightModel

__all__ = ["DataAnalyzer"]

logger = logging.getLogger(__name__)

_PARTITIONS = ("all", "train", "validation", "test")


def factors_of_events(sampling_factors: np.ndarray, sampling_ids: np.ndarray) -> np.ndarray:
    """The weight factor of each event: ``sampling_factors`` (one per physics benchmark, then one for
    backgrounds, as :meth:`DataAnalyzer._sampling_factors` makes them) at the events' sampling ids
    (-1: background)."""
    return sampling_factors[np.where(sampling_ids < 0, -1, sampling_ids)]


class DataAnalyzer:
    """Common functionality to analyse the events of a MadMiner / motherlode file.

    Parameters
    ----------
    filename : str or path-like
        An events file (the output of :meth:`motherlode.lhe.LHEReader.save` or MadMiner's readers).
    disable_morphing : bool, optional
        If True, the morphing setup is not loaded. Default: False.
    include_nuisance_parameters : bool, optional
        If True, nuisance benchmarks and parameters are used. Default: True.
    """

    def __init__(
        self,
        filename: str | os.PathLike[str],
        disable_morphing: bool = False,
        include_nuisance_parameters: bool = True,
    ) -> None:
        self.madminer_filename = str(filename)
        self.include_nuisance_parameters = bool(include_nuisance_parameters)
        setup = read_setup(filename, include_nuisance_benchmarks=True)
        all_benchmarks = setup.benchmarks
        flags = np.array([b.is_nuisance for b in all_benchmarks.values()], dtype=bool)
        self._physics_columns = np.flatnonzero(~flags)
        self._all_columns = np.arange(len(all_benchmarks))
        self.parameters = setup.parameters
        self.benchmarks = (
            dict(all_benchmarks)
            if include_nuisance_parameters
            else {name: b for name, b in all_benchmarks.items() if not b.is_nuisance}
        )
        self.benchmark_nuisance_flags = flags if include_nuisance_parameters else flags[~flags]
        self.morphing_components = setup.morphing_components
        self.morphing_matrix = setup.morphing_matrix
        self.observables = {
            name: Observable(name, FUNCTION_DEFINED if definition is None else definition)
            for name, definition in read_observables(filename).items()
        }
        self.n_samples = n_samples(filename)
        self.systematics = setup.systematics
        self.reference_benchmark = setup.reference_benchmark
        self.nuisance_parameters = setup.nuisance_parameters if include_nuisance_parameters else {}
        self._n_nuisance_parameters_in_file = len(setup.nuisance_parameters)
        summary = read_sample_summary(filename)
        self.n_events_generated_per_benchmark = (
            np.asarray(summary.signal_events, dtype=np.int64) if summary is not None else None
        )
        self.n_events_backgrounds = int(summary.background_events) if summary is not None else 0
        self.finite_difference_benchmarks = setup.finite_differences
        self.finite_difference_epsilon = setup.finite_difference_epsilon
        self.n_observables = len(self.observables)
        self.n_parameters = len(self.parameters)
        self.n_benchmarks = len(self.benchmarks)
        self.n_benchmarks_phys = int(np.sum(~flags))
        self.n_nuisance_parameters = len(self.nuisance_parameters)

        self.morpher: PhysicsMorpher | None = None
        if setup.has_morphing and not disable_morphing:
            self.morpher = PhysicsMorpher(parameters_from_madminer=self.parameters)
            assert self.morphing_components is not None  # has_morphing
            self.morpher.set_components(self.morphing_components)
            physics = {name: b for name, b in all_benchmarks.items() if not b.is_nuisance}
            self.morpher.set_basis(physics, morphing_matrix=self.morphing_matrix)

        self.nuisance_morpher: NuisanceMorpher | None = None
        if self.n_nuisance_parameters > 0:
            reference = self.reference_benchmark or next(iter(self.benchmarks))
            self.nuisance_morpher = NuisanceMorpher(
                self.nuisance_parameters, list(self.benchmarks), reference
            )
        self.weight_model = WeightModel(
            list(self.parameters),
            {name: [b.values[p] for p in self.parameters] for name, b in self.benchmarks.items()},
            morpher=self.morpher,
            nuisance_morpher=self.nuisance_morpher,
            finite_differences=self.finite_difference_benchmarks,
            finite_difference_epsilon=self.finite_difference_epsilon or 0.0,
            source=self.madminer_filename,
        )
        self._report_setup()

    def _report_setup(self) -> None:
        logger.info(
            "%s: %d parameters, %d benchmarks (%d physics), %d nuisance parameters, %d observables, "
            "%d events%s",
            self.madminer_filename,
            self.n_parameters,
            self.n_benchmarks,
            self.n_benchmarks_phys,
            self.n_nuisance_parameters,
            self.n_observables,
            self.n_samples,
            ", morphing" if self.morpher is not None else "",
        )

    # ------------------------------------------------------------------ events

    def _sampling_factors(self) -> np.ndarray:
        """Weight factor per sampling id: index b for benchmark b, the last entry for backgrounds."""
        factors = np.ones(self.n_benchmarks_phys + 1)
        counts = self.n_events_generated_per_benchmark
        if counts is not None and counts.sum() > 0:
            factors[: len(counts)] = counts / counts.sum()
        return factors

    def _find_closest_benchmark(self, theta: Any) -> int | None:
        if theta is None:
            return None
        theta = np.asarray(theta, dtype=np.float64).reshape(-1)
        if theta.shape != (self.n_parameters,):
            raise InputError(f"generated_close_to must have shape ({self.n_parameters},), got {theta.shape}")
        values = self._benchmark_values()[: self.n_benchmarks_phys]
        distances = np.linalg.norm(values - theta, axis=1)
        counts = self.n_events_generated_per_benchmark
        if counts is not None and len(counts) == len(distances):
            distances = np.where(counts > 0, distances, np.inf)
        return int(np.argmin(distances))

    def _benchmark_values(self) -> np.ndarray:
        return self.weight_model.benchmark_values

    def event_loader(
        self,
        start: int = 0,
        end: int | None = None,
        batch_size: int | None = 100_000,
        include_nuisance_parameters: bool | None = None,
        generated_close_to: np.ndarray | None = None,
        return_sampling_ids: bool = False,
    ) -> Iterator[tuple[np.ndarray, ...]]:
        """Yield ``(observations, weights[, sampling_ids])`` in batches, streamed from disk.

        Parameters
        ----------
        start, end : int, optional
            Event range (``end=None``: to the end).
        batch_size : int or None, optional
            Events per batch (None: one batch).
        include_nuisance_parameters : bool or None, optional
            Whether the weights of nuisance benchmarks are included (None: the instance's setting).
        generated_close_to : ndarray or None, optional
            If given, only events generated at the benchmark closest to this point, and
            background events, are yielded (unscaled); otherwise signal weights are scaled by
            their sample's share of the signal events.
        return_sampling_ids : bool, optional
            Also yield the sampling benchmark index of each event (-1: background).
        """
        if include_nuisance_parameters is None:
            include_nuisance_parameters = self.include_nuisance_parameters
        batches = self._scaled_batches(
            start, end, batch_size, include_nuisance_parameters, generated_close_to
        )
        for observations, weights, sampling in batches:
            yield (observations, weights, sampling) if return_sampling_ids else (observations, weights)

    def _scaled_batches(
        self,
        start: int,
        end: int | None,
        batch_size: int | None,
        include_nuisance_parameters: bool,
        generated_close_to: np.ndarray | None,
        read_observations: bool = True,
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """:meth:`event_loader`'s ``(observations, weights, sampling_ids)``; ``read_observations=False``
        skips reading the observations (arrays of shape ``(n, 0)`` in their place)."""
        closest = self._find_closest_benchmark(generated_close_to)
        batch_size = self.n_samples if batch_size is None else batch_size
        for observations, weights, sampling in self._raw_batches(
            start, end, batch_size, include_nuisance_parameters, read_observations=read_observations
        ):
            if closest is not None:
                keep = (sampling == closest) | (sampling < 0)
                observations, weights, sampling = observations[keep], weights[keep], sampling[keep]
            else:
                weights = weights * self._sampling_factors_of(sampling)[:, None]
            yield observations, weights, sampling

    def _raw_batches(
        self,
        start: int | None,
        end: int | None,
        batch_size: int,
        include_nuisance_parameters: bool = True,
        read_observations: bool = True,
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``(observations, weights, sampling_ids)`` as stored (unscaled), weight columns of this analyzer."""
        include = include_nuisance_parameters and self.include_nuisance_parameters
        columns = self._all_columns if include else self._physics_columns
        start = 0 if start is None else int(start)
        total = (self.n_samples if end is None else min(int(end), self.n_samples)) - start
        with progress_bar(total=max(total, 0), desc=Path(self.madminer_filename).name, unit="events") as bar:
            for observations, weights, sampling in iter_samples(
                self.madminer_filename,
                start,
                end,
                batch_size=max(1, int(batch_size)),
                read_observations=read_observations,
            ):
                yield observations, weights[:, columns], sampling
                bar.update(len(observations))

    def _sampling_factors_of(self, sampling_ids: np.ndarray) -> np.ndarray:
        """The weight factor of each event from its sampling id (see :meth:`_sampling_factors`)."""
        return factors_of_events(self._sampling_factors(), sampling_ids)

    def _load_all(
        self,
        start: int | None,
        end: int | None,
        generated_close_to: np.ndarray | None,
        include_nuisance_parameters: bool | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        batches = list(
            self.event_loader(
                start=start or 0,
                end=end,
                batch_size=None,
                include_nuisance_parameters=include_nuisance_parameters,
                generated_close_to=generated_close_to,
            )
        )
        if not batches:
            width = self.n_benchmarks
            return np.zeros((0, self.n_observables)), np.zeros((0, width))
        return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])

    # ------------------------------------------------------------------ parameter points

    def parameter_points(self, thetas: Any, nus: Any = None) -> ParameterPoints:
        """Parameter points for the weights engine (:mod:`motherlode.weights`), an addition.

        Parameters
        ----------
        thetas : str, int, ndarray or sequence of them
            Benchmark names or indices, parameter points ``(P,)`` or an array ``(J, P)``.
        nus : ndarray, sequence or None, optional
            None (nominal), one nu for all points, or one (or None) per point.
        """
        return self.weight_model.points(thetas, nus)

    def _benchmark_index(self, theta: str | int) -> int:
        return self.weight_model.benchmark_index(theta)

    # ------------------------------------------------------------------ partitions

    def _partition_bounds(
        self, partition: str, test_split: float, validation_split: float
    ) -> tuple[int, int, float]:
        """First and last event and the cross-section correction factor of a partition."""
        if partition not in _PARTITIONS:
            raise InputError(f"unknown partition {partition!r}; expected one of {', '.join(_PARTITIONS)}")
        n = self.n_samples
        if partition == "all":
            return 0, n, 1.0
        for value, name in ((test_split, "test_split"), (validation_split, "validation_split")):
            if not 0.0 <= value <= 1.0:
                raise InputError(f"{name} must be between 0 and 1, got {value}")
        if test_split + validation_split > 1.0:
            raise InputError(f"test_split + validation_split = {test_split + validation_split} exceeds 1")
        train_end = round((1.0 - test_split - validation_split) * n)
        validation_end = max(train_end, round((1.0 - test_split) * n))
        start, end = {
            "train": (0, train_end),
            "validation": (train_end, validation_end),
            "test": (validation_end, n),
        }[partition]
        if end <= start:
            raise InputError(
                f"the {partition} partition of {self.madminer_filename} is empty "
                f"({n} events, test_split={test_split}, validation_split={validation_split})"
            )
        return start, end, n / (end - start)

    # ------------------------------------------------------------------ public API

    def weighted_events(
        self,
        theta: Any = None,
        nu: Any = None,
        start_event: int | None = None,
        end_event: int | None = None,
        derivative: bool = False,
        generated_close_to: np.ndarray | None = None,
        n_draws: int | None = None,
        *,
        random_state: int | np.random.Generator | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """All events (in memory) with their weights.

        Parameters
        ----------
        theta : None, str, int or ndarray, optional
            None: the weights of all benchmarks ``(n, n_benchmarks)``. A benchmark name or index,
            or a parameter point (morphing): the weights there ``(n,)``.
        nu : ndarray or None, optional
            Nuisance parameters (None: nominal), applied to the weights at ``theta``.
        start_event, end_event : int, optional
            Event range in the file.
        derivative : bool, optional
            Return the gradients ``(n, n_parameters + n_nuisance)`` of the weights at ``theta``
            (theta gradients first, then nu gradients when the file has nuisance parameters).
        generated_close_to : ndarray, optional
            Only events generated at the benchmark closest to this point (and backgrounds).
        n_draws : int, optional
            Return this many events drawn at random (without replacement).
        random_state : int or Generator, optional
            Seed for ``n_draws`` (addition).

        Returns
        -------
        x : ndarray, shape (n, n_observables)
        weights : ndarray
            In pb, with the shapes described above.
        """
        x, benchmark_weights = self._load_all(start_event, end_event, generated_close_to)
        if n_draws is not None:
            if n_draws < len(x):
                index = np.sort(np.random.default_rng(random_state).choice(len(x), n_draws, replace=False))
                x, benchmark_weights = x[index], benchmark_weights[index]
            else:
                logger.warning("Requested %d events, but only %d are available", n_draws, len(x))
        if theta is None:
            if derivative:
                raise InputError("derivative=True needs a theta")
            return x, benchmark_weights
        points = self.weight_model.points([theta], None if nu is None else [nu])
        if derivative:
            return x, points.weight_gradients(benchmark_weights, "all")[0].T
        return x, points.weights(benchmark_weights)[0]

    def xsecs(
        self,
        thetas: Sequence[Any] | None = None,
        nus: Sequence[Any] | None = None,
        partition: str = "all",
        test_split: float = 0.2,
        validation_split: float = 0.2,
        include_nuisance_benchmarks: bool = True,
        batch_size: int = 100_000,
        generated_close_to: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Total cross sections (pb) at benchmarks or parameter points, with statistical uncertainties.

        Parameters
        ----------
        thetas : None or list of (str, int or ndarray), optional
            None: every benchmark (nuisance benchmarks too if ``include_nuisance_benchmarks``).
            Otherwise benchmark names, benchmark indices or parameter points (morphing).
        nus : None or list of (None or ndarray), optional
            Nuisance parameters per theta (None: nominal).
        partition : {"all", "train", "validation", "test"}, optional
            The events used; cross sections from a partition are scaled to the whole file.
        test_split, validation_split : float, optional
            Fractions of the file in the test and validation partitions.
        include_nuisance_benchmarks : bool, optional
            With ``thetas=None``: whether nuisance benchmarks are included.
        batch_size : int, optional
            Events in memory at once.
        generated_close_to : ndarray, optional
            Only use events generated at the benchmark closest to this point (and backgrounds).

        Returns
        -------
        xsecs : ndarray
            Cross sections in pb, shape ``(n_thetas,)``.
        xsec_uncertainties : ndarray
            Their statistical uncertainties, ``sqrt(sum_events w(x|theta, nu)^2)`` (times the
            partition factor). MadMiner's formula (the morphing-weighted sum of squared benchmark
            weights) is not a variance and can be negative.
        """
        start, end, factor = self._partition_bounds(partition, test_split, validation_split)
        include = include_nuisance_benchmarks if thetas is None else True
        batches = self._weight_batches(start, end, batch_size, include, generated_close_to)
        if thetas is None:
            # every stored column as it is (with or without the nuisance benchmarks)
            n_columns = len(
                self._all_columns if include and self.include_nuisance_parameters else self._physics_columns
            )
            points = ParameterPoints(np.zeros((n_columns, self.n_parameters)), np.eye(n_columns))
        else:
            points = self.parameter_points(list(thetas), nus)
        totals = points.cross_sections(batches)
        self._require_events(totals.n_events, partition, generated_close_to)
        return totals.xsecs * factor, totals.uncertainties * factor

    def _weight_batches(
        self, start: int, end: int, batch_size: int, include_nuisance: bool, generated_close_to: Any
    ) -> Iterator[np.ndarray]:
        """The (scaled) benchmark weights of :meth:`event_loader`, batch by batch (the
        observations are not read)."""
        for _, weights, _ in self._scaled_batches(
            start, end, batch_size, include_nuisance, generated_close_to, read_observations=False
        ):
            yield weights

    def _require_events(self, n_events: int, partition: str, generated_close_to: Any) -> None:
        if n_events == 0:
            raise InputError(
                f"no events in {self.madminer_filename} for partition={partition!r} and "
                f"generated_close_to={generated_close_to}"
            )

    def xsec_gradients(
        self,
        thetas: Sequence[Any],
        nus: Sequence[Any] | None = None,
        partition: str = "all",
        test_split: float = 0.2,
        validation_split: float = 0.2,
        gradients: str = "all",
        batch_size: int = 100_000,
        generated_close_to: np.ndarray | None = None,
    ) -> np.ndarray:
        """Gradients of the total cross sections, shape ``(n_thetas, n_gradients)`` in pb.

        ``gradients``: ``"theta"`` (n_parameters), ``"nu"`` (n_nuisance_parameters) or ``"all"``
        (both, theta first). Other arguments as in :meth:`xsecs`.
        """
        start, end, factor = self._partition_bounds(partition, test_split, validation_split)
        points = self.parameter_points(list(thetas), nus)
        batches = self._weight_batches(start, end, batch_size, True, generated_close_to)
        totals = points.cross_sections(batches, gradients=gradients)
        self._require_events(totals.n_events, partition, generated_close_to)
        assert totals.gradients is not None  # asked for
        return totals.gradients * factor

    def __repr__(self) -> str:
        return f"DataAnalyzer({Path(self.madminer_filename).name!r}, {self.n_samples} events)"
