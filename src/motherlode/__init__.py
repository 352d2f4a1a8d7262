"""motherlode: machine-learning-based inference for particle physics.

A fast, correct and MadMiner-compatible successor of MadMiner: the same public names and
the same HDF5 files, so a MadMiner script ports by changing ``madminer`` to ``motherlode``
in its imports.

The data path: :class:`MadMiner` (setup file) -> readers (events file) -> sampling
(training arrays) -> estimators -> inference -> plots. See ``docs/architecture.md``.
"""

from ._version import __version__
from .core import MadMiner
from .errors import (
    ExpressionError,
    FileFormatError,
    InputError,
    MorphingError,
    MotherlodeError,
    SetupError,
)
from .morphing import NuisanceMorpher, PhysicsMorpher

__all__ = [
    "ExpressionError",
    "FileFormatError",
    "InputError",
    "MadMiner",
    "MorphingError",
    "MotherlodeError",
    "NuisanceMorpher",
    "PhysicsMorpher",
    "SetupError",
    "__version__",
]
