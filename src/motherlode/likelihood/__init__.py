"""Likelihood functions from histograms and neural estimators, with profiling.

This stage is not implemented yet; see docs/architecture.md for its place in the data path.
"""
