"""Step ``sampling``: training and test samples with joint ratios and scores -> ``samples/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ... import sampling as points
from ...sampling import SampleAugmenter
from ..config import SampleRequest, ThetaSpec
from ..context import StepContext

__all__ = ["inputs", "run", "theta_argument"]


def inputs(context: StepContext) -> list[Path]:
    """The events file."""
    return [context.events_file()]


def theta_argument(spec: ThetaSpec) -> Any:
    """The ``(kind, value)`` parameter-point specification of :mod:`motherlode.sampling`."""
    if spec.benchmark is not None:
        return points.benchmark(spec.benchmark)
    if spec.benchmarks is not None:
        return points.benchmarks(spec.benchmarks)
    if spec.morphing_point is not None:
        return points.morphing_point(spec.morphing_point)
    if spec.morphing_points is not None:
        return points.morphing_points(spec.morphing_points)
    assert spec.random_morphing_points is not None
    draws = spec.random_morphing_points
    return points.random_morphing_points(draws.n, [tuple(prior) for prior in draws.priors])


def run(context: StepContext) -> None:
    """Draw every requested sample with :class:`~motherlode.sampling.SampleAugmenter`."""
    config = context.config.sampling
    assert config is not None
    sampler = SampleAugmenter(
        context.events_file(), client=context.dask_client(), checkpoint=context.checkpoint("sampler")
    )
    folder = context.staging / "samples"
    folder.mkdir(parents=True, exist_ok=True)
    job = {"events": context.events_file(), "sampling": config.model_dump(mode="json"), "seed": context.seed}
    finished = context.finished_outputs(job)
    for index, request in enumerate(config.samples):
        key = f"sample{index}"
        if finished is not None and finished.restore(key):  # drawn before an interruption
            continue
        before = set() if finished is None else finished.files()
        _draw(sampler, request, folder, config.test_split, config.validation_split, context.seed + index)
        if finished is not None:
            finished.record(key, before)


def _draw(
    sampler: SampleAugmenter,
    request: SampleRequest,
    folder: Path,
    test_split: float,
    validation_split: float,
    seed: int,
) -> None:
    common: dict[str, Any] = {
        "n_samples": request.n_samples,
        "folder": str(folder),
        "filename": request.name,
        "sample_only_from_closest_benchmark": request.sample_only_from_closest_benchmark,
        "test_split": test_split,
        "validation_split": validation_split,
        "random_state": seed,
    }
    if request.type == "ratio":
        assert request.theta0 is not None and request.theta1 is not None
        sampler.sample_train_ratio(
            theta0=theta_argument(request.theta0),
            theta1=theta_argument(request.theta1),
            nuisance_score=request.nuisance_score,
            **common,
        )
        return
    assert request.theta is not None
    theta = theta_argument(request.theta)
    if request.type == "local":
        sampler.sample_train_local(theta=theta, nuisance_score=request.nuisance_score, **common)
    elif request.type == "density":
        sampler.sample_train_density(theta=theta, nuisance_score=request.nuisance_score, **common)
    elif request.type == "plain":
        sampler.sample_train_plain(theta=theta, **common)
    else:
        sampler.sample_test(theta=theta, **common)
