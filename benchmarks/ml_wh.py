"""SALLY and ALICES on the real SMEFT W h sample: motherlode against MadMiner 0.9.6, side by side.

The samples come from the built-in example (``motherlode.examples``, the setup, events and sampling steps of
``wh.yaml``): SALLY trains on 100k local samples at the SM (6 observables, 2 parameters), ALICES (alpha = 10,
as in the example) on 200k ratio samples of theta0 drawn from a Gaussian prior against the SM. Both packages
train ``n_hidden=(50, 50)`` with batch size 128 and their other defaults on the same ``.npy`` files, each in
a fresh process (``_ml_run.py``): the wall and CPU seconds of the whole first ``train`` call, the CPU seconds
per epoch of a second, warm run, and the last validation loss (each package's own loss; motherlode's ALICES
score term is averaged over numerator samples only, so its value is larger than MadMiner's). MadMiner runs
with ``n_workers=0`` (its fastest setting) and its default ``n_workers=8``.

Usage::

    python benchmarks/ml_wh.py [--epochs 5] [--repeats 1] [--workdir DIR] [--skip-madminer] [--compiled]
                               [--madminer-python PATH] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _common import madminer_python  # the script's folder is on sys.path
from ml_toy import SPEED_HEADER, compare_speed

CASES = {
    "sally (100k)": {
        "estimator": "score",
        "method": "sally",
        "files": {"x": "x_score", "t_xz": "t_xz_score"},
    },
    "alices (200k)": {
        "estimator": "ratio",
        "method": "alices",
        "alpha": 10.0,
        "files": {
            "x": "x_ratio",
            "y": "y_ratio",
            "theta": "theta0_ratio",
            "r_xz": "r_xz_ratio",
            "t_xz": "t_xz_ratio",
        },
    },
}


def samples(workdir: Path) -> Path:
    """The example's sample folder, made once in ``workdir``."""
    folder = workdir / "samples"
    if not (folder / "x_ratio.npy").exists():
        from motherlode.examples import example_workflow

        example_workflow("wh", workdir).run(steps=["setup", "events", "sampling"])
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1, help="interleaved runs per package (median)")
    parser.add_argument("--workdir", help="where the samples are made (default: a temporary folder)")
    parser.add_argument(
        "--compiled",
        action="store_true",
        help="also motherlode with MOTHERLODE_COMPILED_STEP=1 and =0 (compiled step always, never)",
    )
    parser.add_argument("--skip-madminer", action="store_true")
    parser.add_argument("--madminer-python", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    madminer = None if args.skip_madminer else madminer_python(args.madminer_python)
    with tempfile.TemporaryDirectory() as scratch:
        folder = samples(Path(args.workdir or scratch))
        print(
            f"W h sample, n_hidden=(50, 50), batch 128, {args.epochs} epochs, CPU, seed {args.seed}, "
            f"median of {args.repeats} interleaved run(s)"
        )
        print(f"{'case':14s} {SPEED_HEADER}")
        results = {}
        for case, spec in CASES.items():
            files = {name: str(folder / f"{stem}.npy") for name, stem in spec["files"].items()}
            base = {**spec, "files": files, "n_epochs": args.epochs, "seed": args.seed, "warm": True}
            results[case] = compare_speed(f"{case:14s}", base, madminer, args.repeats, args.compiled)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=1))


if __name__ == "__main__":
    main()
