"""Wall time of the built-in example (``motherlode example``) by step, full and quick.

Each variant runs as ``motherlode example`` in a fresh process into a fresh folder (so every step
runs), with the torch threads of the machine (two on the development machine). The step times are
those recorded in the run's ``manifest.json``; "total" is the whole command, imports included, and
"peak MB" the process's peak resident memory.

Usage::

    python benchmarks/example.py [--examples wh toy] [--variants full quick] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT  # the script's folder is on sys.path

# `motherlode ...` that writes its peak resident memory (VmHWM, MB) to the file named by argv[1] at exit
_WRAPPER = """
import atexit, sys
from motherlode.cli import main

def peak(target=sys.argv[1]):
    with open("/proc/self/status") as status:
        mb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    with open(target, "w") as handle:
        handle.write(str(mb))

atexit.register(peak)
sys.argv = ["motherlode", *sys.argv[2:]]
main()
"""


def run(example: str, quick: bool, device: str, folder: Path) -> dict:
    out = folder / f"{example}-{'quick' if quick else 'full'}"
    peak_file = folder / "peak.txt"
    command = [sys.executable, "-c", _WRAPPER, str(peak_file), "--no-progress", "-q", "example", example]
    command += ["--out", str(out), "--device", device] + (["--quick"] if quick else [])
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=folder, capture_output=True, text=True)
    total = time.perf_counter() - start
    steps = json.loads((out / "manifest.json").read_text())["steps"]
    return {
        "total": total,
        "peak_mb": float(peak_file.read_text()),
        "steps": {name: entry["seconds"] for name, entry in steps.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", nargs="+", default=["wh", "toy"])
    parser.add_argument("--variants", nargs="+", default=["full", "quick"], choices=["full", "quick"])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    revision = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    print(f"motherlode revision {revision.stdout.strip()}, device {args.device}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for example in args.examples:
            for variant in args.variants:
                results[f"{example} {variant}"] = report = run(
                    example, variant == "quick", args.device, Path(tmp)
                )
                print(
                    f"{example} {variant}: {report['total']:.1f} s, peak {report['peak_mb']:.0f} MB",
                    flush=True,
                )
    steps = sorted({s for r in results.values() for s in r["steps"]}, key=_order)
    print("\n| step | " + " | ".join(results) + " |")
    print("|---|" + "---:|" * len(results))
    for step in steps:
        cells = [f"{r['steps'][step]:.1f}" if step in r["steps"] else "" for r in results.values()]
        print(f"| {step} | " + " | ".join(cells) + " |")
    totals = " | ".join(f"**{r['total']:.0f}**" for r in results.values())
    print(f"| **total** (the command, imports included) | {totals} |")
    print("| peak resident MB | " + " | ".join(f"{r['peak_mb']:.0f}" for r in results.values()) + " |")


def _order(step: str) -> int:
    from motherlode.workflow import STEPS

    return STEPS.index(step)


if __name__ == "__main__":
    main()
