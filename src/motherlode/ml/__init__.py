"""Neural estimators of likelihood ratios, scores and densities, their training and ensembles.

This stage is not implemented yet; see docs/architecture.md for its place in the data path.
"""
