"""Run under MadMiner 0.9.6: ``MadMiner.run_multiple(..., only_prepare_script=True)`` for a setup.

Usage: ``python madminer_run_multiple.py SPEC.json``. The spec holds the setup (parameters,
benchmarks, scale systematics: built here, since MadMiner 0.9.6 reads a saved systematic's value
back as bytes and then writes ``--mur=b'0.5,1.0,2.0'`` into the run card) and the keyword
arguments of ``run_multiple``. MadMiner generates the process folder with the MadGraph stand-in
and writes its cards, which the test compares with motherlode's.
"""

import json
import sys
from pathlib import Path


def main() -> None:
    from madminer import MadMiner  # imported here: pytest imports this file without MadMiner

    spec = json.loads(Path(sys.argv[1]).read_text())
    miner = MadMiner()
    for block, lha_id, name, value_range in spec["parameters"]:
        # the identity transform: without one, MadMiner 0.9.6 evaluates its placeholder "_" when
        # it writes the param card and fails (NameError)
        miner.add_parameter(
            block, lha_id, name, param_card_transform="theta", parameter_range=tuple(value_range)
        )
    for name, values in spec["benchmarks"].items():
        miner.add_benchmark(values, name)
    for name, scale, variations in spec["scale_systematics"]:
        miner.add_systematics("scale", name, scale=scale, scale_variations=tuple(variations))
    miner.run_multiple(only_prepare_script=True, **spec["arguments"])


if __name__ == "__main__":
    main()
