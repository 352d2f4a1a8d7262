"""Fisher information and information geometry.

This stage is not implemented yet; see docs/architecture.md for its place in the data path.
"""
