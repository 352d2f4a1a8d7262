"""Detector-level analysis of Delphes ROOT files (DelphesReader).

This stage is not implemented yet; see docs/architecture.md for its place in the data path.
"""
