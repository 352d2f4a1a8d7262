"""Step ``events``: LHE files -> smearing, observables, cuts -> ``events.h5`` (shuffled)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ...lhe import LHEReader
from ...sampling import combine_and_shuffle
from ..context import StepContext

__all__ = ["inputs", "run"]


def inputs(context: StepContext) -> list[Path]:
    """The setup file and every LHE file."""
    events = context.config.events
    assert events is not None
    return [context.setup_file(), *(context.resolve(sample.file) for sample in events.samples)]


def run(context: StepContext) -> None:
    """Read every sample with :class:`~motherlode.lhe.LHEReader` and save (and shuffle) the events."""
    events = context.config.events
    assert events is not None
    client = context.dask_client()
    # with a cluster the tasks spool into the staging folder, which the workers can reach
    tmp_dir = context.staging if client is not None else None
    reader = LHEReader(
        context.setup_file(),
        random_state=context.seed,
        client=client,
        tmp_dir=tmp_dir,
        checkpoint=context.checkpoint("reader"),
    )
    for sample in events.samples:
        reader.add_sample(
            lhe_filename=context.resolve(sample.file),
            sampled_from_benchmark=sample.sampled_from_benchmark,
            is_background=sample.is_background,
            k_factor=sample.k_factor,
            systematics=sample.systematics,
        )
    for smearing in events.smearing:
        reader.set_smearing(**smearing.model_dump())
    if events.met_noise is not None:
        reader.set_met_noise(abs_=events.met_noise.abs_, rel=events.met_noise.rel)
    for observable in events.observables:
        reader.add_observable(
            observable.name, observable.definition, required=observable.required, default=observable.default
        )
    for cut in events.cuts:
        reader.add_cut(cut)
    for efficiency in events.efficiencies:
        reader.add_efficiency(efficiency)
    reader.analyse_samples()
    target = context.staging / "events.h5"
    if not events.shuffle:
        reader.save(target)
        return
    with tempfile.TemporaryDirectory(dir=context.staging) as scratch:
        unshuffled = Path(scratch) / "events_unshuffled.h5"
        reader.save(unshuffled)
        combine_and_shuffle([unshuffled], target, random_state=context.seed)
