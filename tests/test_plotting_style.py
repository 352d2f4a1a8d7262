"""The plots' common style: built in, an mplhep style, or the user's rcParams; restored after each plot."""

from __future__ import annotations

import sys

import matplotlib
import numpy as np
import pytest

from motherlode.errors import InputError
from motherlode.plotting import plot_fisher_information_contours_2d, plot_pvalue_limits, set_style
from motherlode.plotting._style import PALETTE, font_scale, line_colors, new_figure, plot_style


@pytest.fixture(autouse=True)
def _default_style():
    yield
    set_style("motherlode")


def _contours():
    return plot_fisher_information_contours_2d([np.diag([4.0, 9.0]), np.diag([1.0, 1.0])], xrange=(-2, 2))


def test_the_built_in_style_applies_inside_plots_only():
    before = dict(matplotlib.rcParams)
    fig = _contours()
    ax = fig.axes[0]
    assert ax.xaxis.get_major_ticks()[0].get_tickdir() == "in"
    first = ax.collections[0].get_edgecolor()[0]
    assert matplotlib.colors.to_hex(first) == PALETTE[0]
    assert dict(matplotlib.rcParams) == before  # the user's settings are untouched


def test_an_mplhep_style_scales_the_panels():
    pytest.importorskip("mplhep")
    set_style("CMS")
    with plot_style():
        scale = font_scale()
        fig, _ = new_figure(2, n_cols=2, panel_size=(4.0, 3.0))
    assert scale > 2.0  # CMS: 26 pt
    np.testing.assert_allclose(fig.get_size_inches(), np.array([8.0, 3.0]) * scale, rtol=1e-6)
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, 11), np.linspace(-1, 1, 11), indexing="ij"), -1)
    p_values = {"a": np.exp(-(grid**2).sum(-1).ravel())}
    fig = plot_pvalue_limits(p_values, {"a": 60}, ["a"], [(-1, 1), (-1, 1)], [11, 11])
    assert fig.get_layout_engine() is not None


def test_no_style_leaves_the_rcparams_alone():
    set_style(None)
    with matplotlib.rc_context({"xtick.direction": "out"}):
        ax = _contours().axes[0]
        assert ax.xaxis.get_major_ticks()[0].get_tickdir() == "out"


def test_style_errors(monkeypatch):
    with pytest.raises(InputError, match="unknown plot style"):
        set_style("seaborn")
    monkeypatch.setitem(sys.modules, "mplhep", None)  # as if it were not installed
    with pytest.raises(InputError, match="needs mplhep"):
        set_style("ATLAS")


def test_line_colors_and_figures():
    assert line_colors(2) == list(PALETTE[:2])
    assert line_colors(3, ["k", "r"]) == ["k", "r", "k"]
    assert len(set(line_colors(15))) == 15
    with pytest.raises(InputError, match="colors is empty"):
        line_colors(1, [])
    fig, axes = new_figure(5, n_cols=3)
    assert len(axes) == 5 and len(fig.axes) == 5
    with pytest.raises(InputError, match="single panel"):
        new_figure(2, ax=axes[0])
