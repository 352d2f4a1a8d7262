"""Reading events files: weighted events, cross sections and their gradients (DataAnalyzer).

This stage is not implemented yet; see docs/architecture.md for its place in the data path.
"""
