"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def madminer_python(given: str | None = None) -> str | None:
    """MadMiner 0.9.6's interpreter: ``given``, ``$MOTHERLODE_MADMINER_PYTHON``, ``.venv-madminer``
    (made by ``scripts/run-tests``) or ``/tmp/mmvenv``, whichever exists first; None if none does."""
    candidates = [
        given,
        os.environ.get("MOTHERLODE_MADMINER_PYTHON"),
        str(ROOT / ".venv-madminer/bin/python"),
        "/tmp/mmvenv/bin/python",
    ]
    return next((c for c in candidates if c and Path(c).exists()), None)
