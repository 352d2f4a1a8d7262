"""Plots of morphing bases, distributions, Fisher information and limits.

This stage is not implemented yet; see docs/architecture.md for its place in the data path.
"""
