"""Alias of :mod:`motherlode.morphing` under MadMiner's path ``madminer.utils.morphing``."""

from ..morphing import NuisanceMorpher, PhysicsMorpher

__all__ = ["NuisanceMorpher", "PhysicsMorpher"]
