"""Parton-level analysis of LHE files (LHEReader).

This stage is not implemented yet; see docs/architecture.md for its place in the data path.
"""
