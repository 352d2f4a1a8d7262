"""Regenerate the truncated WH SMEFT test files of this folder from the shared MadGraph sample.

Usage::

    python tests/data/wh_smeft/make_files.py            # from /work/shared/data/wh_smeft
    WH_SMEFT_SOURCE=/path/to/wh_smeft python tests/data/wh_smeft/make_files.py

Each output is a valid LHE file: the source's complete header (MadGraph's banner, ``<init>`` and
``<initrwgt>``), its first N events unchanged, and ``</LesHouchesEvents>``, gzipped at level 9
with a zero timestamp and no file name, so that the bytes (and their sha256) are reproducible.
The 200-event morphing-check file and a few MadGraph cards (into ``cards/``) are copied whole,
byte for byte. The script prints, per file,
its size, sha256 and the mean of every LHE weight (the cross sections in pb that the truncated
file estimates, ``event_norm = average``), which README.md records.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = Path(os.environ.get("WH_SMEFT_SOURCE", "/work/shared/data/wh_smeft"))

#: (source file, output file, number of events kept; None: the whole file copied unchanged)
FILES = [
    ("wh_smeft_sig_sm_20k.lhe.gz", "wh_smeft_sig_sm_first2000.lhe.gz", 2000),
    ("wh_smeft_sig_b5_10k.lhe.gz", "wh_smeft_sig_b5_first1000.lhe.gz", 1000),
    ("wbb_bkg_10k.lhe.gz", "wbb_bkg_first1000.lhe.gz", 1000),
    ("wh_smeft_sig_sm_morphcheck_200.lhe.gz", "wh_smeft_sig_sm_morphcheck_200.lhe.gz", None),
]

#: MadGraph cards, copied unchanged into cards/ (for the placeholder tests of MadMiner.run)
CARDS = [
    "proc_card_signal.dat",
    "proc_card_background.dat",
    "param_card_sm.dat",
    "run_card_sig_sm.dat",
    "run_card_sig_b5.dat",
    "run_card_wbb_bkg.dat",
    "reweight_card.dat",
    "pythia8_settings.cmnd",
]

_WGT = re.compile(r"<wgt id='([^']+)'>\s*([-+0-9.eE]+)\s*</wgt>")


def truncate(source: Path, target: Path, n_events: int) -> None:
    """Write the header and the first ``n_events`` events of ``source`` to ``target`` (gzip, level 9)."""
    kept = 0
    with (
        gzip.open(source, "rt", encoding="utf-8") as lines,
        open(target, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=raw, mtime=0) as out,
    ):
        for line in lines:
            if line.startswith("<event"):
                if kept == n_events:
                    break
                kept += 1
            if line.startswith("</LesHouchesEvents>"):
                break
            out.write(line.encode("utf-8"))
        out.write(b"</LesHouchesEvents>\n")
    if kept != n_events:
        raise SystemExit(f"{source}: only {kept} events, {n_events} requested")


def summary(path: Path) -> tuple[int, dict[str, float]]:
    """Number of events and the mean of the nominal and of every named weight."""
    n_events = 0
    sums: dict[str, float] = {"nominal": 0.0}
    expect_event_line = False
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("<event"):
                n_events += 1
                expect_event_line = True
                continue
            if expect_event_line:
                sums["nominal"] += float(line.split()[2])
                expect_event_line = False
                continue
            for name, value in _WGT.findall(line):
                sums[name] = sums.get(name, 0.0) + float(value)
    return n_events, {name: total / n_events for name, total in sums.items()}


def main() -> int:
    if not SOURCE.is_dir():
        print(f"source folder {SOURCE} not found; set WH_SMEFT_SOURCE", file=sys.stderr)
        return 1
    total = 0
    for source_name, target_name, n_events in FILES:
        source, target = SOURCE / source_name, HERE / target_name
        if n_events is None:
            shutil.copyfile(source, target)
        else:
            truncate(source, target, n_events)
        data = target.read_bytes()
        total += len(data)
        n, means = summary(target)
        print(f"{target_name}: {n} events, {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
        print("  mean weights (pb): " + ", ".join(f"{k} {v:.8g}" for k, v in means.items()))
    (HERE / "cards").mkdir(exist_ok=True)
    for name in CARDS:
        target = HERE / "cards" / name
        shutil.copyfile(SOURCE / "cards" / name, target)
        data = target.read_bytes()
        total += len(data)
        print(f"cards/{name}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    print(f"total {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
