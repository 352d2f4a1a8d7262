"""Weighted events, cross sections and their gradients from an events file (:class:`DataAnalyzer`)."""

from .dataanalyzer import DataAnalyzer

__all__ = ["DataAnalyzer"]
