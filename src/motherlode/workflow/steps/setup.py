"""Step ``setup``: parameters, benchmarks, morphing and systematics -> ``setup.h5``."""

from __future__ import annotations

from pathlib import Path

from ...core import MadMiner
from ..context import StepContext

__all__ = ["inputs", "run"]


def inputs(context: StepContext) -> list[Path]:
    """Files the step reads (none: everything is in the config)."""
    return []


def run(context: StepContext) -> None:
    """Build the setup with :class:`~motherlode.MadMiner` and save it."""
    setup = context.config.setup
    assert setup is not None
    miner = MadMiner()
    for parameter in setup.parameters:
        miner.add_parameter(
            lha_block=parameter.lha_block,
            lha_id=parameter.lha_id,
            parameter_name=parameter.name,
            morphing_max_power=parameter.morphing_max_power,
            param_card_transform=parameter.param_card_transform,
            parameter_range=parameter.parameter_range,
        )
    for name, values in setup.benchmarks.items():
        miner.add_benchmark(dict(values), name)
    if setup.morphing is not None:
        miner.set_morphing(
            max_overall_power=setup.morphing.max_overall_power,
            n_bases=setup.morphing.n_bases,
            include_existing_benchmarks=setup.morphing.include_existing_benchmarks,
            n_trials=setup.morphing.n_trials,
            n_test_thetas=setup.morphing.n_test_thetas,
            random_state=context.seed,
        )
    for systematic in setup.systematics:
        miner.add_systematics(
            systematic.effect,
            systematic_name=systematic.name,
            norm_variation=systematic.norm_variation,
            scale=systematic.scale,
            scale_variations=systematic.scale_variations,
            pdf_variation=systematic.pdf_variation,
        )
    miner.save(context.staging / "setup.h5")
