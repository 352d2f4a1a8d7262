"""Analysis setup: parameters, benchmarks, morphing and systematics (``MadMiner``)."""

from .madminer import MadMiner

__all__ = ["MadMiner"]
