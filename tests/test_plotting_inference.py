"""Plots of Fisher information and limits: what they draw, checked against closed forms and real data.

The contours of known information matrices pass through the analytic ellipse, the uncertainty bands
have the analytic width, bars are determinants and eigenvalues, the distribution of information is
``histogram_of_information`` of the real W h sample, and the p-value contours of ``AsymptoticLimits``
on a two-parameter toy lie where the p-values equal the level.
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.contour import ContourSet
from matplotlib.path import Path as MplPath
from scipy.interpolate import RegularGridInterpolator
from scipy.stats import chi2

from conftest import write_events_file
from motherlode import LHEReader, MadMiner
from motherlode.errors import InputError
from motherlode.plotting import (
    plot_distribution_of_information,
    plot_fisher_information_contours_2d,
    plot_fisherinfo_barplot,
    plot_pvalue_limits,
)
from motherlode.plotting._style import PALETTE, new_figure, plot_style

WH_SAMPLE = Path(__file__).parent / "data" / "wh_smeft" / "wh_smeft_sig_sm_first2000.lhe.gz"
LUMINOSITY = 300_000.0


def _contours(axes, filled: bool = False) -> list[ContourSet]:
    return [c for c in axes.collections if isinstance(c, ContourSet) and c.filled == filled]


def _vertices(contour: ContourSet) -> np.ndarray:
    """Every vertex of every path of a contour set (closing codes left out), shape (n, 2)."""
    points = []
    for path in contour.get_paths():
        vertices = path.vertices
        if path.codes is not None:
            vertices = vertices[path.codes != MplPath.CLOSEPOLY]
        points.append(vertices)
    return np.concatenate(points) if points else np.zeros((0, 2))


def _star_markers(axes) -> np.ndarray:
    return np.array(
        [[line.get_xdata()[0], line.get_ydata()[0]] for line in axes.lines if line.get_marker() == "*"]
    )


# ---------------------------------------------------------------------------- W h information


@pytest.fixture(scope="module")
def wh_fisher(tmp_path_factory):
    """FisherInformation of the first 2000 real W h events (cHW, cHq3), as in docs/fisherinformation.md."""
    from motherlode.fisherinformation import FisherInformation

    out = tmp_path_factory.mktemp("wh_plots")
    miner = MadMiner()
    miner.add_parameter("SMEFT", 7, parameter_name="cHW", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    miner.add_parameter("SMEFT", 25, parameter_name="cHq3", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    for name, (c_hw, c_hq3) in {
        "sm": (0, 0),
        "b1": (1, 0),
        "b2": (-1, 0),
        "b3": (0, 1),
        "b4": (0, -1),
    }.items():
        miner.add_benchmark({"cHW": c_hw, "cHq3": c_hq3}, name)
    miner.add_benchmark({"cHW": 1, "cHq3": 1}, "b5")
    miner.set_morphing(include_existing_benchmarks=True, max_overall_power=2)
    miner.save(out / "setup.h5")
    reader = LHEReader(out / "setup.h5", random_state=1)
    reader.add_sample(WH_SAMPLE, sampled_from_benchmark="sm")
    reader.add_observable("pt_l", "l[0].pt", required=True)
    reader.add_observable("pt_bb", "(j[0] + j[1]).pt", required=True)
    reader.analyse_samples()
    reader.save(out / "events.h5")
    return FisherInformation(out / "events.h5")


@pytest.fixture(scope="module")
def wh_information(wh_fisher):
    sm = np.zeros(2)
    return {
        "truth": wh_fisher.truth_information(sm, luminosity=LUMINOSITY),
        "histo": wh_fisher.histo_information(sm, LUMINOSITY, "pt_bb", bins=20),
        "rate": wh_fisher.rate_information(sm, luminosity=LUMINOSITY),
    }


# ---------------------------------------------------------------------------- contours


def test_contour_of_a_diagonal_information_is_the_analytic_ellipse():
    a, b = 4.0, 1.0
    fig = plot_fisher_information_contours_2d([np.diag([a, b])], resolution=401)
    (contour,) = _contours(fig.axes[0])
    x, y = _vertices(contour).T
    step = 2.0 / 400
    np.testing.assert_allclose(a * x**2 + b * y**2, 1.0, atol=4 * step)
    # the ellipse's semi-axes 1/sqrt(a) and 1/sqrt(b)
    assert np.max(np.abs(x)) == pytest.approx(1.0 / np.sqrt(a), abs=step)
    assert np.max(np.abs(y)) == pytest.approx(1.0 / np.sqrt(b), abs=step)
    assert fig.axes[0].get_xlabel() == r"$\theta_0$" and fig.axes[0].get_ylabel() == r"$\theta_1$"
    assert fig.axes[0].get_xlim() == (-1.0, 1.0) and fig.axes[0].get_legend() is None


def test_contours_around_reference_points_at_a_distance():
    info = np.array([[40.0, 10.0], [10.0, 400.0]])
    reference = np.array([0.05, -0.02])
    fig = plot_fisher_information_contours_2d(
        [info, info], reference_thetas=[None, reference], contour_distance=2.0,
        xrange=(-0.5, 0.5), yrange=(-0.2, 0.2), resolution=301,
    )  # fmt: skip
    first, second = (_vertices(c) for c in _contours(fig.axes[0]))
    for vertices, centre in ((first, np.zeros(2)), (second, reference)):
        delta = vertices - centre
        d2 = np.einsum("ni,ij,nj->n", delta, info, delta)
        np.testing.assert_allclose(d2, 4.0, rtol=0.01)
        assert np.all(np.isfinite(vertices))
    np.testing.assert_allclose(first.mean(axis=0), 0.0, atol=2e-3)
    np.testing.assert_allclose(second.mean(axis=0), reference, atol=2e-3)


def test_one_contour_per_matrix_with_colours_styles_and_legend():
    matrices = [np.diag([4.0, 1.0]), np.diag([2.0, 2.0]), np.diag([1.0, 8.0])]
    fig = plot_fisher_information_contours_2d(
        matrices, labels=["truth", None, "histogram"], inline_labels=[None, "rate", ""],
        linewidths=[2.0, 1.0], xlabel="cHW", ylabel="cHq3", resolution=101,
    )  # fmt: skip
    axes = fig.axes[0]
    contours = _contours(axes)
    assert len(contours) == 3 and not _contours(axes, filled=True)
    for contour, color in zip(contours, PALETTE, strict=False):
        np.testing.assert_allclose(contour.get_edgecolor()[0], to_rgba(color))
    assert [c.get_linewidth()[0] for c in contours] == [2.0, 1.0, 2.0]  # cycled
    legend = axes.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["truth", "histogram"]
    assert [h.get_linestyle() for h in legend.legend_handles] == ["-", ":"]
    assert [t.get_text() for t in axes.texts] == ["rate"]  # the inline label
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("cHW", "cHq3")


def test_covariance_band_has_the_analytic_width():
    """Only I_00 uncertain (std s): on the theta_0 axis the band runs from 1/sqrt(a + n s) to
    1/sqrt(a - n s); on the theta_1 axis it shrinks to the line at 1/sqrt(b)."""
    a, b, s, n_sigma = 4.0, 1.0, 1.0, 2.0
    covariance = np.zeros((2, 2, 2, 2))
    covariance[0, 0, 0, 0] = s**2
    fig = plot_fisher_information_contours_2d(
        [np.diag([a, b]), np.diag([a, b])],
        [covariance, None],
        labels=["with band", "without"],
        sigma_uncertainties=n_sigma,
        xrange=(-1.5, 1.5),
        yrange=(-1.5, 1.5),
        resolution=601,
    )
    axes = fig.axes[0]
    (band,) = _contours(axes, filled=True)
    x, y = _vertices(band).T
    step = 3.0 / 600
    assert np.max(np.abs(x)) == pytest.approx(1.0 / np.sqrt(a - n_sigma * s), abs=2 * step)
    on_axis = np.abs(y) < step
    assert np.min(np.abs(x[on_axis])) == pytest.approx(1.0 / np.sqrt(a + n_sigma * s), abs=2 * step)
    assert np.max(np.abs(y)) == pytest.approx(1.0 / np.sqrt(b), abs=2 * step)
    np.testing.assert_allclose(band.get_facecolor()[0][:3], to_rgba(PALETTE[0])[:3])
    assert band.get_alpha() == 0.25
    # the legend shows band and line together for the first, the line alone for the second
    handles = axes.get_legend().legend_handles
    assert len(handles) == 2


def test_zero_covariance_gives_no_band_and_the_tutorial_call_works():
    info = np.array([[40.0, 10.0], [10.0, 400.0]])
    fig = plot_fisher_information_contours_2d(
        [info, 0.5 * info], [None, np.zeros((2, 2, 2, 2))], inline_labels=["SALLY", "1d"],
        xrange=(-0.3, 0.3), yrange=(-0.3, 0.3),
    )  # fmt: skip
    axes = fig.axes[0]
    assert len(_contours(axes)) == 2 and not _contours(axes, filled=True)
    assert sorted(t.get_text() for t in axes.texts) == ["1d", "SALLY"]


def test_singular_information_gives_two_lines_and_indefinite_raises():
    v = np.array([1.0, 2.0])
    fig = plot_fisher_information_contours_2d([4.0 * np.outer(v, v)], resolution=201)
    vertices = _vertices(_contours(fig.axes[0])[0])
    np.testing.assert_allclose(4.0 * (vertices @ v) ** 2, 1.0, rtol=0.02)
    assert np.any(vertices @ v > 0) and np.any(vertices @ v < 0)
    with pytest.raises(InputError, match=r"fisher_information_matrices\[1\] is not positive semi-definite"):
        plot_fisher_information_contours_2d([np.eye(2), np.diag([1.0, -1.0])])


def test_contours_draw_into_given_axes_and_warn_when_outside(caplog):
    with plot_style():
        fig, (axes, _) = new_figure(2, n_cols=2)
    returned = plot_fisher_information_contours_2d([np.eye(2)], ax=axes, resolution=51)
    assert returned is fig and len(_contours(axes)) == 1
    with caplog.at_level(logging.WARNING, logger="motherlode.plotting.fisherinformation"):
        plot_fisher_information_contours_2d([1e-4 * np.eye(2)], resolution=51)
    assert "outside" in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fisher_information_matrices": [np.eye(3)]}, "2x2"),
        ({"fisher_information_matrices": [[[1.0, 2.0], [0.0, 1.0]]]}, "not symmetric"),
        ({"fisher_information_matrices": [np.eye(2)], "labels": ["a", "b"]}, "labels has 2 entries"),
        ({"fisher_information_matrices": [np.eye(2)], "inline_labels": "a"}, "inline_labels"),
        (
            {"fisher_information_matrices": [np.eye(2)], "fisher_information_covariances": [np.eye(2)]},
            r"\(2, 2, 2, 2\)",
        ),
        (
            {"fisher_information_matrices": [np.eye(2)], "reference_thetas": [[0.0, 1.0, 2.0]]},
            "reference_thetas",
        ),
        ({"fisher_information_matrices": [np.eye(2)], "contour_distance": -1.0}, "contour_distance"),
        ({"fisher_information_matrices": [np.eye(2)], "xrange": (1.0, -1.0)}, "xrange"),
        ({"fisher_information_matrices": [np.eye(2)], "resolution": 2}, "resolution"),
        ({"fisher_information_matrices": [np.eye(2)], "colors": ["notacolour"]}, "colors"),
    ],
)
def test_contour_input_errors(kwargs, message):
    with pytest.raises(InputError, match=message):
        plot_fisher_information_contours_2d(**kwargs)


def test_contours_of_the_wh_information(wh_information):
    """The parton-level ellipse lies inside the histogram's, which lies inside the rate's band."""
    (truth, truth_cov), (histo, histo_cov), (rate, rate_cov) = (
        wh_information[k] for k in ("truth", "histo", "rate")
    )
    fig = plot_fisher_information_contours_2d(
        [truth, histo, rate], [truth_cov, histo_cov, rate_cov], labels=["truth", "pt_bb", "rate"],
        xrange=(-0.04, 0.04), yrange=(-0.015, 0.015), resolution=301,
    )  # fmt: skip
    axes = fig.axes[0]
    lines = _contours(axes)
    assert len(lines) == 3 and len(_contours(axes, filled=True)) == 3
    truth_vertices = _vertices(lines[0])
    assert np.all(np.isfinite(truth_vertices))
    d2_histo = np.einsum("ni,ij,nj->n", truth_vertices, histo, truth_vertices)
    d2_rate = np.einsum("ni,ij,nj->n", _vertices(lines[1]), rate, _vertices(lines[1]))
    assert np.all(d2_histo <= 1.0 + 1e-2) and np.all(d2_rate <= 1.0 + 1e-2)
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["truth", "pt_bb", "rate"]


# ---------------------------------------------------------------------------- bar plot


def test_barplot_heights_are_determinants_and_lines_are_eigenvalues():
    a = np.diag([10.0, 3.0, 0.5])
    b = np.array([[5.0, 2.0, 0.0], [2.0, 4.0, 1.0], [0.0, 1.0, 2.0]])
    fig = plot_fisherinfo_barplot([a, b], ["A", "B"], parameter_labels=["x", "y", "z"])
    upper, lower = fig.axes
    heights = [patch.get_height() for patch in lower.patches]
    np.testing.assert_allclose(heights, [np.linalg.det(a) ** (1 / 3), np.linalg.det(b) ** (1 / 3)])
    assert lower.get_ylabel() == r"$(\det\, I_{ij})^{1/3}$"
    assert [t.get_text() for t in lower.get_xticklabels()] == ["A", "B"]
    assert upper.get_yscale() == "log"
    (segments,) = upper.collections
    starts = np.array([s[0] for s in segments.get_segments()])
    ends = np.array([s[1] for s in segments.get_segments()])
    # the diagonal matrix: one segment per eigenvalue, in the colour of its parameter
    first = starts[:, 0] < 1.0
    np.testing.assert_allclose(sorted(starts[first, 1]), [0.5, 3.0, 10.0])
    colors = segments.get_colors()[first][np.argsort(-starts[first, 1])]
    np.testing.assert_allclose(colors, [to_rgba(c) for c in PALETTE[:3]])
    # the other: every eigenvalue, split by the squared eigenvector components (total length fixed)
    eigenvalues, eigenvectors = np.linalg.eigh(b)
    np.testing.assert_allclose(np.unique(starts[~first, 1].round(12)), eigenvalues.round(12))
    for k, eigenvalue in enumerate(eigenvalues):
        mine = ~first & np.isclose(starts[:, 1], eigenvalue)
        lengths = ends[mine, 0] - starts[mine, 0]
        shares = eigenvectors[:, k] ** 2
        np.testing.assert_allclose(
            lengths / lengths.sum(), shares[shares >= 0.01] / shares[shares >= 0.01].sum()
        )
    assert [t.get_text() for t in upper.get_legend().get_texts()] == ["x", "y", "z"]


def test_barplot_determinant_indices_single_matrix_and_bar_colors():
    b = np.array([[5.0, 2.0, 0.0], [2.0, 4.0, 1.0], [0.0, 1.0, 2.0]])
    fig = plot_fisherinfo_barplot([b], ["only"], determinant_indices=[0, 2], bar_colors=["#123456"])
    (bar,) = fig.axes[1].patches
    assert bar.get_height() == pytest.approx(np.linalg.det(b[np.ix_([0, 2], [0, 2])]) ** 0.5)
    np.testing.assert_allclose(bar.get_facecolor(), to_rgba("#123456"))
    assert "1/2" in fig.axes[1].get_ylabel()


def test_barplot_eigenvalue_colors():
    fig = plot_fisherinfo_barplot([np.diag([4.0, 1.0])], ["A"], eigenvalue_colors=["#ff0000", "#00ff00"])
    (segments,) = fig.axes[0].collections
    starts = np.array([s[0] for s in segments.get_segments()])
    colors = segments.get_colors()[np.argsort(-starts[:, 1])]  # eigenvalue 4 (theta_0) first
    np.testing.assert_allclose(colors, [to_rgba("#ff0000"), to_rgba("#00ff00")])


def test_barplot_of_the_wh_information(wh_information):
    matrices = [wh_information[k][0] for k in ("truth", "histo", "rate")]
    fig = plot_fisherinfo_barplot(matrices, ["truth", "pt_bb histogram", "rate"])
    heights = [patch.get_height() for patch in fig.axes[1].patches]
    expected = [np.sqrt(max(np.linalg.det(m), 0.0)) for m in matrices]
    np.testing.assert_allclose(heights, expected, rtol=1e-6, atol=1e-6 * max(expected))
    assert heights[0] > heights[1] > heights[2]  # truth > histogram > rate (rank one: zero)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([np.eye(2), np.eye(2)], ["one"]), {}, "labels must be a list of 2"),
        (([np.eye(2)], ["a"]), {"determinant_indices": [0, 2]}, "out of range"),
        (([np.eye(2)], ["a"]), {"determinant_indices": [1, 1]}, "repeated"),
        (([np.eye(2)], ["a"]), {"determinant_indices": [0.5]}, "ints"),
        (([np.diag([1.0, -2.0])], ["a"]), {}, "not positive semi-definite"),
        (([np.eye(2)], ["a"]), {"parameter_labels": ["x"]}, "parameter_labels"),
        (([np.zeros((2, 2))], ["a"]), {}, "all zero"),
    ],
)
def test_barplot_input_errors(args, kwargs, message):
    with pytest.raises(InputError, match=message):
        plot_fisherinfo_barplot(*args, **kwargs)


# ---------------------------------------------------------------------------- distribution of information


def _stairs(axes):
    return [p for p in axes.patches if isinstance(p, matplotlib.patches.StepPatch)]


def test_distribution_of_the_wh_information(wh_fisher):
    edges, sigma, rate, full = wh_fisher.histogram_of_information(
        np.zeros(2), "pt_bb", 10, (0.0, 400.0), luminosity=LUMINOSITY
    )
    fig = plot_distribution_of_information(
        edges, sigma, full, rate, xlabel="pt_bb [GeV]", labels=["xsec", "full", "rate"]
    )
    left, right = fig.axes
    (xsec,) = _stairs(left)
    values, xsec_edges, _ = xsec.get_data()
    np.testing.assert_allclose(xsec_edges, edges)
    np.testing.assert_allclose(values, sigma[1:-1] / sigma.sum())  # under- and overflow not drawn
    fill, line, dashed = _stairs(right)
    expected = np.sqrt(np.clip(np.linalg.det(full[1:-1]), 0.0, None))
    np.testing.assert_allclose(line.get_data()[0], expected, rtol=1e-6)
    np.testing.assert_allclose(fill.get_data()[0], expected, rtol=1e-6)
    assert fill.get_fill() and dashed.get_linestyle() == "--"
    # the rate information of one bin has rank one: no volume
    np.testing.assert_allclose(dashed.get_data()[0], 0.0, atol=1e-6 * expected.max())
    assert left.get_xlabel() == "pt_bb [GeV]" and left.get_ylabel() == "Normalised distribution"
    assert right.get_ylabel() == r"$(\det\, I_{ij})^{1/2}$"
    assert [t.get_text() for t in right.get_legend().get_texts()] == ["xsec", "full", "rate"]
    assert left.get_xlim() == (0.0, 400.0) and right.get_ylim()[1] >= expected.max()


def test_distribution_without_flow_bins_log_scale_and_fontsize():
    edges = np.array([0.0, 1.0, 2.0, 4.0])
    sigma = np.array([1.0, 2.0, 0.5])
    infos = np.stack([np.diag([1.0, 4.0]), np.diag([9.0, 1.0]), np.zeros((2, 2))])
    fig = plot_distribution_of_information(
        edges, sigma, infos, norm_xsec=False, log_xsec=True, xmin=0.5, xmax=3.0, fontsize=9.0
    )
    left, right = fig.axes
    np.testing.assert_allclose(_stairs(left)[0].get_data()[0], sigma)
    np.testing.assert_allclose(_stairs(right)[1].get_data()[0], [2.0, 3.0, 0.0])
    assert left.get_yscale() == "log" and left.get_ylabel() == r"$\sigma$ [pb/bin]"
    assert left.get_xlim() == (0.5, 3.0) and left.xaxis.label.get_fontsize() == 9.0
    assert right.get_legend() is None
    # figsize sets the size of the figure
    fig = plot_distribution_of_information(edges, sigma, infos, figsize=(7.0, 3.0))
    np.testing.assert_allclose(fig.get_size_inches(), [7.0, 3.0])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([0.0, 2.0, 1.0], [1.0, 1.0], np.stack([np.eye(2)] * 2)), "xbins"),
        (([0.0, 1.0, 2.0], [1.0, 1.0, 1.0], np.stack([np.eye(2)] * 3)), "xsecs must have 4 entries"),
        (([0.0, 1.0, 2.0], [1.0, 1.0], np.stack([np.eye(2)] * 3)), "3 matrices for 2 xsecs"),
        (
            ([0.0, 1.0, 2.0], [1.0, 1.0], np.stack([np.eye(2), -np.eye(2)])),
            r"fisher_information_matrices\[1\]",
        ),
        (([0.0, 1.0, 2.0], [1.0, np.nan], np.stack([np.eye(2)] * 2)), "non-finite"),
    ],
)
def test_distribution_input_errors(args, message):
    with pytest.raises(InputError, match=message):
        plot_distribution_of_information(*args)


def test_distribution_aux_and_labels_must_fit():
    infos = np.stack([np.eye(2)] * 2)
    with pytest.raises(InputError, match="fisher_information_matrices_aux"):
        plot_distribution_of_information([0.0, 1.0, 2.0], [1.0, 1.0], infos, np.stack([np.eye(3)] * 2))
    with pytest.raises(InputError, match="labels must be a list of 2"):
        plot_distribution_of_information([0.0, 1.0, 2.0], [1.0, 1.0], infos, labels=["a", "b", "c"])


# ---------------------------------------------------------------------------- p-values


def _grid(x, y):
    return np.stack(np.meshgrid(x, y, indexing="ij"), axis=-1).reshape(-1, 2)


def test_pvalue_contours_lie_where_chi2_says():
    x, y = np.linspace(-1.0, 1.0, 81), np.linspace(-1.0, 1.0, 61)
    grid = _grid(x, y)
    q = (grid[:, 0] - 0.1) ** 2 / 0.05 + grid[:, 1] ** 2 / 0.2
    p_values = chi2.sf(q, 2)
    best = int(np.argmin(q))
    fig = plot_pvalue_limits(
        [p_values], [best], ["toy"], [(-1.0, 1.0), (-1.0, 1.0)], [81, 61], levels=[0.32, 0.05]
    )
    axes = fig.axes[0]
    (contour,) = _contours(axes)
    assert list(contour.levels) == [0.05, 0.32]
    paths = contour.get_paths()
    for level, path in zip(contour.levels, paths, strict=True):
        v = path.vertices
        q_v = (v[:, 0] - 0.1) ** 2 / 0.05 + v[:, 1] ** 2 / 0.2
        np.testing.assert_allclose(q_v, chi2.isf(level, 2), rtol=0.03)
    np.testing.assert_allclose(_star_markers(axes), [grid[best]])
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["toy", "p = 0.32", "p = 0.05"]
    assert (axes.get_xlabel(), axes.get_ylabel()) == (r"$\theta_0$", r"$\theta_1$")
    assert len(fig.axes) == 1  # no map, no colour bar


def _two_parameter_toy(tmp_path):
    """dsigma/dx = (1 + a x + b x^2)^2 / 2 on [-1, 1] (Gauss-Legendre nodes as events), quadratic morphing."""
    miner = MadMiner()
    miner.add_parameter("BLOCK", 1, parameter_name="a", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    miner.add_parameter("BLOCK", 2, parameter_name="b", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    basis = {"sm": (0, 0), "a+": (1, 0), "a-": (-1, 0), "b+": (0, 1), "b-": (0, -1), "ab": (1, 1)}
    for name, (a, b) in basis.items():
        miner.add_benchmark({"a": a, "b": b}, name)
    miner.set_morphing(include_existing_benchmarks=True, max_overall_power=2)
    miner.save(tmp_path / "setup.h5")
    nodes, weights = np.polynomial.legendre.leggauss(3)
    edges = np.linspace(-1.0, 1.0, 65)
    half, centres = np.diff(edges) / 2, (edges[1:] + edges[:-1]) / 2
    x = (centres[:, None] + half[:, None] * nodes).reshape(-1)
    q = (half[:, None] * weights).reshape(-1)
    w = np.stack([0.5 * q * (1 + a * x + b * x**2) ** 2 for a, b in basis.values()], axis=1)
    return write_events_file(
        tmp_path / "events.h5", tmp_path / "setup.h5", x, w, np.zeros(len(x), dtype=int), [len(x)] + [0] * 5
    )


def test_pvalue_contours_of_asymptotic_limits_on_a_toy(tmp_path):
    from motherlode.limits import AsymptoticLimits

    limits = AsymptoticLimits(_two_parameter_toy(tmp_path))
    resolutions, ranges = [21, 15], [(-0.6, 0.6), (-0.8, 0.8)]
    common = {"grid_ranges": ranges, "grid_resolutions": resolutions, "luminosity": 100.0, "test_split": 0.0}
    results = {
        "histo": limits.expected_limits(
            "histo", [0.1, -0.1], hist_vars=["x"], hist_bins=[np.linspace(-1, 1, 9)], **common
        ),
        "rate": limits.expected_limits("rate", [0.1, -0.1], **common),
    }
    p_values = {label: result[1] for label, result in results.items()}
    best_fits = {label: result[2] for label, result in results.items()}
    fig = plot_pvalue_limits(p_values, best_fits, None, ranges, resolutions, show_index=0, single_plot=False)
    summary, histo_panel, rate_panel, *colorbars = fig.axes
    assert [c.get_ylabel() for c in colorbars] == ["p-value (histo)", "p-value", "p-value"]
    theta_grid = results["histo"][0]
    x, y = (np.linspace(low, high, n) for (low, high), n in zip(ranges, resolutions, strict=True))
    for k, (label, (_, p, best, *_)) in enumerate(results.items()):
        interpolate = RegularGridInterpolator((x, y), p.reshape(resolutions))
        contour = _contours(summary)[k]
        vertices = _vertices(contour)
        assert len(vertices) > 10 and np.all(np.isfinite(vertices))
        # marching squares puts the vertices on cell edges, where the interpolation is linear
        np.testing.assert_allclose(interpolate(vertices), 0.32, atol=1e-6)
        np.testing.assert_allclose(_star_markers(summary)[k], theta_grid[best])
        assert p[best] == pytest.approx(1.0)
        panel = histo_panel if label == "histo" else rate_panel
        assert panel.get_title() == label and len(_contours(panel)) == 1
    # the Asimov best fit: the grid point next to theta_true
    assert theta_grid[best_fits["histo"]] == pytest.approx([0.12, -0.8 + 6 * 1.6 / 14])
    mesh = summary.collections[0]
    np.testing.assert_allclose(
        mesh.get_array().reshape(15, 21), np.clip(p_values["histo"], 1e-300, None).reshape(21, 15).T
    )
    assert mesh.norm.vmin == 0.001 and mesh.norm.vmax == 1.0


def test_pvalue_limits_in_one_dimension():
    theta = np.linspace(-1.0, 1.0, 101)
    p_histo, p_rate = chi2.sf((theta - 0.1) ** 2 / 0.05, 1), chi2.sf((theta + 0.05) ** 2 / 0.1, 1)
    fig = plot_pvalue_limits(
        np.stack([p_histo, p_rate]), [55, 47], ["histo", "rate"], [(-1.0, 1.0)], 101,
        levels=[0.05, 0.32], show_index=-1, xlabel="cHW",
    )  # fmt: skip
    axes = fig.axes[0]
    curves = [
        line for line in axes.lines if line.get_marker() in ("None", "") and len(line.get_xdata()) == 101
    ]
    assert len(curves) == 2
    np.testing.assert_allclose(curves[0].get_ydata(), p_histo)
    np.testing.assert_allclose(_star_markers(axes), [[theta[55], p_histo[55]], [theta[47], p_rate[47]]])
    levels = sorted(line.get_ydata()[0] for line in axes.lines if len(line.get_xdata()) == 2)
    assert levels == [0.05, 0.32]
    assert axes.get_yscale() == "log" and axes.get_ylim()[0] == 0.001
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("cHW", "p-value")
    assert len(axes.collections) == 1  # the filled curve of show_index=-1 (rate)
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["histo", "rate", "p = 0.32", "p = 0.05"]


def test_pvalue_limits_single_plot_into_axes_with_int_resolution():
    grid = _grid(np.linspace(-1, 1, 11), np.linspace(-1, 1, 11))
    p = chi2.sf((grid**2).sum(axis=1) / 0.2, 2)
    with plot_style():
        fig, (axes,) = new_figure(1)
    returned = plot_pvalue_limits([p], [60], ["rate"], [(-1, 1), (-1, 1)], 11, ax=axes)
    assert returned is fig and len(_contours(axes)) == 1
    with pytest.raises(InputError, match="ax is only accepted for a single panel"):
        plot_pvalue_limits([p], [60], ["rate"], [(-1, 1), (-1, 1)], 11, single_plot=False, ax=axes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"labels": None}, "must be dicts"),
        ({"p_values": {"a": np.ones(4)}, "labels": ["b"]}, r"no entry for the label\(s\) \['b'\]"),
        ({"labels": ["a", "b"]}, "p_values has 1 methods, labels 2"),
        ({"best_fits": [4]}, r"best_fits\['a'\] = 4 is not a grid point"),
        ({"best_fits": [0.5]}, "int index"),
        ({"p_values": [np.ones(3)]}, "has shape"),
        ({"p_values": [2 * np.ones(4)]}, r"outside \[0, 1\]"),
        ({"grid_ranges": [(0, 1)] * 3}, "1-D or 2-D"),
        ({"grid_resolutions": [2, 2, 2]}, "grid_resolutions has 3 entries"),
        ({"levels": [1.5]}, "levels"),
        ({"show_index": 3}, "show_index 3 out of range"),
        ({"p_val_min": 0.0}, "p_val_min"),
    ],
)
def test_pvalue_limits_input_errors(kwargs, message):
    arguments = {
        "p_values": [np.ones(4)],
        "best_fits": [0],
        "labels": ["a"],
        "grid_ranges": [(0, 1), (0, 1)],
        "grid_resolutions": 2,
    } | kwargs
    with pytest.raises(InputError, match=message):
        plot_pvalue_limits(**arguments)


def test_contour_styles_per_matrix_and_covariances_as_one_array():
    covariances = np.zeros((2, 2, 2, 2, 2))
    covariances[:, 0, 0, 0, 0] = 0.5
    fig = plot_fisher_information_contours_2d(
        np.stack([np.diag([4.0, 1.0]), np.diag([1.0, 4.0])]), covariances, colors="black",
        linestyles=(0, (5, 2)), alphas=[1.0, 0.5], alphas_uncertainties=[0.1, 0.4], resolution=101,
    )  # fmt: skip
    axes = fig.axes[0]
    lines, bands = _contours(axes), _contours(axes, filled=True)
    assert [c.get_alpha() for c in lines] == [1.0, 0.5] and [b.get_alpha() for b in bands] == [0.1, 0.4]
    for contour in lines:
        np.testing.assert_allclose(contour.get_edgecolor()[0][:3], 0.0)  # black
        assert contour.get_linestyle()[0] == (
            0,
            [5.0 * 1.5, 2.0 * 1.5],
        )  # the dash pattern, scaled by the width


def test_pvalue_colour_range_and_zero_cross_sections():
    grid = _grid(np.linspace(-1, 1, 11), np.linspace(-1, 1, 11))
    p = chi2.sf((grid**2).sum(axis=1) / 0.2, 2)
    fig = plot_pvalue_limits(
        [p], [60], ["rate"], [(-1, 1), (-1, 1)], [11, 11], show_index=0, p_val_min=1e-5, p_val_max=0.5
    )
    mesh = fig.axes[0].collections[0]
    assert (mesh.norm.vmin, mesh.norm.vmax) == (1e-5, 0.5)
    fig = plot_distribution_of_information([0.0, 1.0], [0.0], [np.eye(2)], epsilon=1e-3)
    values = _stairs(fig.axes[0])[0].get_data()[0]
    np.testing.assert_array_equal(values, [0.0])


def test_numerically_zero_information_draws_nothing_and_says_so(caplog):
    """A profiled rate information is zero up to rounding, and slightly asymmetric: tolerated, no contour."""
    noise = np.array([[-2.3e-13, -9.1e-13], [-1.4e-12, -1.8e-12]])
    with caplog.at_level(logging.WARNING, logger="motherlode.plotting.fisherinformation"):
        fig = plot_fisher_information_contours_2d(
            [np.diag([1e4, 1e5]), noise], xrange=(-0.1, 0.1), yrange=(-0.1, 0.1)
        )
    assert "fisher_information_matrices[1] is zero" in caplog.text
    assert len(_vertices(_contours(fig.axes[0])[0])) > 10 and len(_vertices(_contours(fig.axes[0])[1])) == 0
    fig = plot_fisherinfo_barplot([np.diag([1e4, 1e5]), noise], ["profiled", "rate"])
    np.testing.assert_allclose([p.get_height() for p in fig.axes[1].patches], [np.sqrt(1e9), 0.0])
