"""Unweighted training and test samples with joint likelihood ratios and scores (SampleAugmenter).

This stage is not implemented yet; see docs/architecture.md for its place in the data path.
"""
