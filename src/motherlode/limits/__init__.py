"""Asymptotic limits on the parameters.

This stage is not implemented yet; see docs/architecture.md for its place in the data path.
"""
