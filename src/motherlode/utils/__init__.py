"""MadMiner-compatible import paths for shared machinery (``motherlode.utils.morphing``)."""
