"""plot_distributions, plot_histograms, plot_systematics and plot_uncertainty against independent numbers.

Real data: the W h SMEFT events of tests/test_tutorial_particle_physics.py (its module-scoped fixtures,
reused here): the shuffled file with two signal samples (sm, b5) and a background, and the A1 file with
a signal and a background normalisation systematic. Every plotted histogram height is compared with a
NumPy histogram of ``DataAnalyzer.weighted_events``; the toy bands with the spread of the toys drawn
(exactly), or, for normalisation systematics, whose toys scale each bin's signal (background) by
``1.1**nu`` (``1.2**nu``), with the closed form. A synthetic file (one parameter, a normalisation
nuisance parameter) gives exact checks of the bands' structure.
"""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import QuadMesh
from matplotlib.colors import to_rgba
from matplotlib.patches import StepPatch

import test_tutorial_particle_physics as tutorial
from conftest import write_events_file
from motherlode import MadMiner
from motherlode.analysis import DataAnalyzer
from motherlode.errors import InputError, SetupError
from motherlode.limits import AsymptoticLimits
from motherlode.plotting import plot_distributions, plot_histograms, plot_systematics, plot_uncertainty
from motherlode.utils.histo import Histo

# the tutorial's module-scoped fixture chain, built again for this module
workdir = tutorial.workdir
miner = tutorial.miner
setup_file = tutorial.setup_file
lhe_data = tutorial.lhe_data
lhe_data_shuffled = tutorial.lhe_data_shuffled
setup_systematics = tutorial.setup_systematics
lhe_data_systematics = tutorial.lhe_data_systematics

NORM = 1.1  # the synthetic file's nuisance benchmark: SM weights times this


# ---------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def toy_file(tmp_path_factory):
    """One parameter theta, dsigma/dx ~ (1 + theta x)^2 on [-1, 1], and a normalisation nuisance."""
    folder = tmp_path_factory.mktemp("plot_toy")
    miner = MadMiner()
    miner.add_parameter("BLOCK", 1, parameter_name="theta", morphing_max_power=2, parameter_range=(-1.0, 1.0))
    for name, value in {"sm": 0.0, "m": -1.0, "p": 1.0}.items():
        miner.add_benchmark({"theta": value}, name)
    miner.set_morphing(include_existing_benchmarks=True, max_overall_power=2)
    miner.save(folder / "setup.h5")
    rng = np.random.default_rng(5)
    x = rng.uniform(-1.0, 1.0, 4000)
    weights = np.stack([1.0e-3 * (1.0 + value * x) ** 2 for value in (0.0, -1.0, 1.0)], axis=1)
    weights = np.concatenate([weights, NORM * weights[:, :1]], axis=1)
    return write_events_file(
        folder / "events.h5", folder / "setup.h5", x, weights, np.zeros(len(x), dtype=int), [len(x), 0, 0],
        nuisance=("norm_up", None),
    )  # fmt: skip


def _steps(ax) -> list[StepPatch]:
    return [p for p in ax.patches if isinstance(p, StepPatch)]


def _lines(ax) -> list[StepPatch]:
    """Unfilled step patches: the histograms and toys."""
    return [p for p in _steps(ax) if not p.get_fill()]


def _bands(ax) -> list[StepPatch]:
    return [p for p in _steps(ax) if p.get_fill()]


def _panels(fig) -> list:
    """The axes of a figure without its colour bars."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def _assert_all_finite(fig) -> None:
    for ax in fig.axes:
        for patch in _steps(ax):
            data = patch.get_data()
            assert np.isfinite(data.values).all() and np.isfinite(data.edges).all()
            assert data.baseline is None or np.isfinite(data.baseline).all()


def _signal_background(path, observable, edges):
    """Per bin: the signal and the background cross sections at sm (the sampling-share scaling of
    ``DataAnalyzer`` included)."""
    analyzer = DataAnalyzer(path)
    column = list(analyzer.observables).index(observable)
    x, w, sampling = next(analyzer.event_loader(batch_size=None, return_sampling_ids=True))
    w_sm = w[:, list(analyzer.benchmarks).index("sm")]
    signal, _ = np.histogram(x[sampling >= 0, column], edges, weights=w_sm[sampling >= 0])
    background, _ = np.histogram(x[sampling < 0, column], edges, weights=w_sm[sampling < 0])
    return signal, background


# ---------------------------------------------------------------------------- plot_distributions


@pytest.mark.parametrize("closest", [False, True])
def test_distributions_heights_are_the_weighted_histograms(lhe_data_shuffled, closest, tmp_path):
    path = str(lhe_data_shuffled)
    points = ["sm", np.array([0.0, 1.0])]
    fig = plot_distributions(
        path, parameter_points=points, line_labels=["SM", "BSM"], uncertainties="none", n_bins=20,
        sample_only_from_closest_benchmark=closest,
    )  # fmt: skip
    analyzer = DataAnalyzer(path)
    names = list(analyzer.observables)
    x_all, _ = analyzer.weighted_events()  # the ranges stay within the values of all events
    assert len(fig.axes) == len(names) == 6
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["SM", "BSM"]
    fig.savefig(tmp_path / "distributions.png")  # renders (the legend above the panels, layout)
    for point in points:
        theta = analyzer.parameter_points([point]).values[0]
        x, w = analyzer.weighted_events(point, generated_close_to=theta if closest else None)
        for i, ax in enumerate(fig.axes):
            assert ax.get_xlabel() == names[i]
            assert ax.get_ylabel() == "Cross section per bin [pb]"
            lines = _lines(ax)
            assert len(lines) == 2 and not _bands(ax)
            data = lines[0 if isinstance(point, str) else 1].get_data()
            expected, _ = np.histogram(x[:, i], data.edges, weights=w)
            np.testing.assert_allclose(data.values, expected, rtol=1e-10, atol=1e-15)
            assert ax.get_xlim() == (data.edges[0], data.edges[-1])
            assert x_all[:, i].min() <= data.edges[0] < data.edges[-1] <= x_all[:, i].max()
    _assert_all_finite(fig)


def test_distributions_tutorial_defaults_normalized_and_n_events(lhe_data_shuffled):
    """All physics benchmarks by default; normalize gives unit area; n_events the first events, scaled."""
    path = str(lhe_data_shuffled)
    analyzer = DataAnalyzer(path)
    fig = plot_distributions(
        path, observables=["m_bb", "pt_j1"], observable_labels=[r"$m_{bb}$ [GeV]", None],
        uncertainties="none", normalize=True, n_bins=15, n_cols=1, sample_only_from_closest_benchmark=False,
    )  # fmt: skip
    assert [ax.get_xlabel() for ax in fig.axes] == [r"$m_{bb}$ [GeV]", "pt_j1"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["sm", "b1", "b2", "b3", "b4", "b5"]
    for ax in fig.axes:
        assert "Normalized" in ax.get_ylabel()
        for line in _lines(ax):
            data = line.get_data()
            assert np.sum(data.values * np.diff(data.edges)) == pytest.approx(1.0, rel=1e-12)
        assert [line.get_linestyle() for line in _lines(ax)][:2] == ["solid", "dashed"]

    fig = plot_distributions(
        path, observables="pt_j1", parameter_points=["b3"], uncertainties="none", n_events=1000, n_bins=10,
        sample_only_from_closest_benchmark=False,
    )  # fmt: skip
    (line,) = _lines(fig.axes[0])
    data = line.get_data()
    x, w = analyzer.weighted_events("b3", end_event=1000)
    expected, _ = np.histogram(x[:, 0], data.edges, weights=w * analyzer.n_samples / 1000)
    np.testing.assert_allclose(data.values, expected, rtol=1e-10)
    assert len(fig.axes[0].get_legend().get_texts()) == 1  # one panel: the legend is in the panel


def test_distributions_toy_bands_on_real_normalisation_systematics(lhe_data_systematics, tmp_path):
    """Toys scale signal by 1.1**nu1 and background by 1.2**nu2: the band is their spread, and each
    drawn toy is S 1.1**nu1 + B 1.2**nu2 in every bin."""
    path = str(lhe_data_systematics)
    n_toys = 40
    fig = plot_distributions(
        path, observables=["pt_j1"], parameter_points=["sm"], draw_nuisance_toys=n_toys, n_toys=n_toys,
        n_bins=12, random_state=3, colors="C3", linestyles="solid", linewidths=2.0, toy_linewidths=None,
        toy_alpha=0.5,
    )  # fmt: skip
    ax = fig.axes[0]
    (band,) = _bands(ax)
    lines = _lines(ax)
    assert len(lines) == n_toys + 1
    central, toys = lines[-1].get_data(), np.array([t.get_data().values for t in lines[:-1]])
    assert lines[-1].get_linewidth() == lines[0].get_linewidth() == 2.0  # toy_linewidths=None: linewidths
    assert lines[0].get_alpha() == 0.5 and lines[-1].get_alpha() is None
    np.testing.assert_allclose(band.get_data().baseline, np.percentile(toys, 16.0, axis=0), rtol=1e-12)
    np.testing.assert_allclose(band.get_data().values, np.percentile(toys, 84.0, axis=0), rtol=1e-12)
    signal, background = _signal_background(path, "pt_j1", central.edges)
    np.testing.assert_allclose(central.values, signal + background, rtol=1e-10)
    # each toy: S f + B g with the same (f, g) in every bin; solve from two bins, check all
    f_g = np.linalg.lstsq(np.stack([signal, background], axis=1), toys.T, rcond=None)[0]  # (2, T)
    np.testing.assert_allclose(np.stack([signal, background], axis=1) @ f_g, toys.T, rtol=1e-9)
    nus = np.log(f_g) / np.log([[1.1], [1.2]])
    assert abs(nus.mean()) < 0.6 and 0.6 < nus.std() < 1.5
    # the same seed gives the same toys
    again = plot_distributions(
        path, observables=["pt_j1"], parameter_points=["sm"], n_toys=n_toys, n_bins=12, random_state=3
    )
    np.testing.assert_array_equal(_bands(again.axes[0])[0].get_data().values, band.get_data().values)
    _assert_all_finite(fig)
    fig.savefig(tmp_path / "distributions.png")  # renders (legend of band and line handles, layout)


def test_distributions_bands_of_a_normalisation_are_a_constant_factor(toy_file):
    n_toys = 400
    fig = plot_distributions(
        toy_file, parameter_points=["sm", np.array([0.5])], n_toys=n_toys, n_bins=8, random_state=0,
        log=True, alpha=0.3,
    )  # fmt: skip
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "x"
    bands, lines = _bands(ax), _lines(ax)
    assert len(bands) == 2 and len(lines) == 2 and bands[0].get_alpha() == 0.3
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["sm", "theta = 0.5"]
    for band, line in zip(bands, lines, strict=True):
        up = band.get_data().values / line.get_data().values
        down = band.get_data().baseline / line.get_data().values
        np.testing.assert_allclose(up, up[0], rtol=1e-10)  # the same factor 1.1**q84(nu) in every bin
        np.testing.assert_allclose(down, down[0], rtol=1e-10)
        # the 16th and 84th percentiles of 400 normal draws: -1 and 1 within 3 standard errors
        assert np.log(up[0]) / np.log(NORM) == pytest.approx(1.0, abs=0.2)
        assert np.log(down[0]) / np.log(NORM) == pytest.approx(-1.0, abs=0.2)
    # no nuisance parameter varied: the band has no width
    fig = plot_distributions(toy_file, parameter_points=["sm"], nuisance_parameters=[], n_toys=5, n_bins=8)
    (band,) = _bands(fig.axes[0])
    np.testing.assert_allclose(band.get_data().values, band.get_data().baseline, rtol=1e-12)


def test_distributions_bad_input(toy_file, tmp_path):
    with pytest.raises(InputError, match="unknown observable 'y'"):
        plot_distributions(toy_file, observables=["y"], uncertainties="none")
    with pytest.raises(InputError, match="line_labels has 1 entries, expected one per parameter point"):
        plot_distributions(toy_file, parameter_points=["sm", "p"], line_labels=["a"], uncertainties="none")
    with pytest.raises(InputError, match="colors has 1 entries"):
        plot_distributions(toy_file, parameter_points=["sm", "p"], colors=["red"], uncertainties="none")
    with pytest.raises(InputError, match="observable_labels has 2 entries"):
        plot_distributions(
            toy_file, observables=["x"] * 3, observable_labels=["a", "b"], uncertainties="none"
        )
    with pytest.raises(InputError, match="uncertainties"):
        plot_distributions(toy_file, uncertainties="stat")
    with pytest.raises(InputError, match="unknown benchmark 'bsm'"):
        plot_distributions(toy_file, parameter_points=["bsm"])
    with pytest.raises(InputError, match="must have 1 entries"):
        plot_distributions(toy_file, parameter_points=[np.array([0.1, 0.2])])
    with pytest.raises(InputError, match="nuisance_parameters: 1 is not the index"):
        plot_distributions(toy_file, nuisance_parameters=[1])
    with pytest.raises(InputError, match="draw_nuisance_toys = 5 exceeds n_toys = 4"):
        plot_distributions(toy_file, draw_nuisance_toys=5, n_toys=4)
    with pytest.raises(InputError, match="n_bins"):
        plot_distributions(toy_file, n_bins=0, uncertainties="none")
    with pytest.raises(InputError, match="quantiles_for_range"):
        plot_distributions(toy_file, quantiles_for_range=(0.5, 0.2), uncertainties="none")
    with pytest.raises(InputError, match="n_events"):
        plot_distributions(toy_file, n_events=0, uncertainties="none")


def test_distributions_nuisance_bands_need_nuisance_parameters(lhe_data_shuffled):
    with pytest.raises(SetupError, match="no nuisance parameters; use uncertainties='none'"):
        plot_distributions(str(lhe_data_shuffled), parameter_points=["sm"])


# ---------------------------------------------------------------------------- plot_histograms


@pytest.fixture(scope="module")
def limit_histos(lhe_data_shuffled):
    """The histograms of expected limits on the W h sample: 1-D (pt_j1, fixed edges) and 2-D."""
    limits = AsymptoticLimits(str(lhe_data_shuffled))
    grid = {"grid_ranges": [(-1.0, 1.0), (-1.0, 1.0)], "grid_resolutions": [2, 2], "luminosity": 3.0e5}
    edges = [25.0, 50.0, 75.0, 100.0, 150.0, 250.0, 500.0]
    *_, histos_1d = limits.expected_limits(
        "histo", [0.0, 0.0], hist_vars=["pt_j1"], hist_bins=[edges], **grid
    )
    *_, histos_2d = limits.expected_limits(
        "histo", [0.0, 0.0], hist_vars=["pt_j1", "delta_phi_jj"], hist_bins=[4, 3], **grid
    )
    return histos_1d, histos_2d


def test_histograms_1d_lines_and_observed_data(limit_histos, lhe_data_shuffled):
    histos, _ = limit_histos
    histos = histos[:3]
    analyzer = DataAnalyzer(str(lhe_data_shuffled))
    x, _ = analyzer.weighted_events(end_event=300)
    observed = x[:, list(analyzer.observables).index("pt_j1")]
    weights = np.linspace(0.5, 1.5, len(observed))
    fig = plot_histograms(
        histos, observed=observed[:, None], observed_weights=weights, histo_labels=["a", "b", "c"],
        xlabel=r"$p_{T,j}$ [GeV]", linestyles=["solid", "dashed", "dotted"], linewidths=[1.0, 2.0, 3.0],
    )  # fmt: skip
    ax = fig.axes[0]
    assert ax.get_xlabel() == r"$p_{T,j}$ [GeV]" and ax.get_ylabel() == "Likelihood"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c", "Data"]
    lines = _lines(ax)
    assert [line.get_linewidth() for line in lines] == [1.0, 2.0, 3.0]
    for line, histo in zip(lines, histos, strict=True):
        np.testing.assert_array_equal(line.get_data().values, histo.histo)
        np.testing.assert_array_equal(line.get_data().edges, histo.edges[0])
    edges = histos[0].edges[0]
    clipped = np.clip(observed, edges[0], np.nextafter(edges[-1], 0.0))  # outside: the outer bins
    counts, _ = np.histogram(clipped, edges, weights=weights)
    widths = np.diff(edges)
    widths[-1] = 2.0 * widths[-2]  # the last bin counts as twice its neighbour, as in the templates
    density = counts / (counts.sum() * widths)
    (data_line,) = ax.get_lines()
    np.testing.assert_allclose(data_line.get_ydata(), density, rtol=1e-12)
    np.testing.assert_allclose(data_line.get_xdata(), 0.5 * (edges[1:] + edges[:-1]))
    assert ax.get_ylim()[0] == 0.0 and ax.get_xlim() == (edges[0], edges[-1])
    # one set of observed events per histogram (the Asimov data of expected_limits): the first is drawn
    fig = plot_histograms(histos, observed=np.stack([observed[:, None]] * 3), observed_weights=[weights] * 3)
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), density, rtol=1e-12)
    fig = plot_histograms(
        histos, xrange=(30.0, 300.0), yrange=(1.0e-5, 0.1), log=True, colors="k", ylabel="p"
    )
    ax = fig.axes[0]
    assert ax.get_xlim() == (30.0, 300.0) and ax.get_ylim() == (1.0e-5, 0.1) and ax.get_yscale() == "log"
    assert ax.get_ylabel() == "p" and ax.get_legend().get_texts()[0].get_text() == "Histogram 1"


def test_histograms_2d_panels_common_colour_scale_and_observed(limit_histos, tmp_path):
    _, histos = limit_histos
    observed = np.array([[60.0, 0.5], [120.0, -2.0], [80.0, 2.5]])
    fig = plot_histograms(
        histos, observed=observed, histo_labels=[f"point {i}" for i in range(4)], xlabel="pt", ylabel="dphi",
        zlabel="density", log=True,
    )  # fmt: skip
    panels = _panels(fig)
    assert len(panels) == 4
    meshes = [next(c for c in ax.collections if isinstance(c, QuadMesh)) for ax in panels]
    lows = {m.norm.vmin for m in meshes}
    highs = {m.norm.vmax for m in meshes}
    every = np.concatenate([h.histo.ravel() for h in histos])
    assert lows == {every[every > 0].min()} and highs == {every.max()}
    for i, (ax, mesh, histo) in enumerate(zip(panels, meshes, histos, strict=True)):
        assert ax.get_title() == f"point {i}" and ax.get_xlabel() == "pt" and ax.get_ylabel() == "dphi"
        np.testing.assert_allclose(
            np.asarray(mesh.get_array()).reshape(histo.histo.T.shape), np.clip(histo.histo.T, min(lows), None)
        )
        scatter = [c for c in ax.collections if c is not mesh]
        np.testing.assert_array_equal(scatter[0].get_offsets(), observed)
    assert sum(ax.get_ylabel() == "density" for ax in fig.axes) == 4  # the colour bars
    fig.savefig(tmp_path / "histograms.png")


def test_histograms_single_2d_into_an_axes_and_bad_input():
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(2)
    histo = Histo(rng.normal(size=(500, 2)), bins=(5, 4))
    fig, ax = plt.subplots()
    assert plot_histograms([histo], ax=ax) is fig
    # observed events per panel (None: none), or one list of (x, y) pairs for every panel
    fig = plot_histograms([histo, histo], observed=[None, np.zeros((3, 2))], observed_weights=np.ones(3))
    assert [len(ax.collections) for ax in _panels(fig)] == [1, 2]  # the mesh, and the mesh and the events
    fig = plot_histograms([histo, histo], observed=[[0.0, 1.0], [1.0, 0.0]])
    for ax in _panels(fig):
        np.testing.assert_array_equal(ax.collections[1].get_offsets(), [[0.0, 1.0], [1.0, 0.0]])
    with pytest.raises(InputError, match="histos is empty"):
        plot_histograms([])
    with pytest.raises(InputError, match="one- or all two-dimensional"):
        plot_histograms([histo, Histo(rng.normal(size=100), bins=5)])
    with pytest.raises(InputError, match=r"observed\[0\] must have shape \(n, 2\)"):
        plot_histograms([histo], observed=np.zeros((3, 3)))
    with pytest.raises(InputError, match="histo_labels has 1 entries"):
        plot_histograms([histo, histo], histo_labels=["a"])
    with pytest.raises(InputError, match="one value per event"):
        plot_histograms([Histo(rng.normal(size=100), bins=5)], observed=np.zeros((4, 2)))
    with pytest.raises(InputError, match="observed_weights has 2 entries"):
        plot_histograms([Histo(rng.normal(size=100), bins=5)], observed=np.zeros(4), observed_weights=[1, 2])


# ---------------------------------------------------------------------------- uncertainties


def test_systematics_bands_on_real_normalisation_systematics(lhe_data_systematics, tmp_path):
    path = str(lhe_data_systematics)
    n_toys = 60
    fig = plot_systematics(
        path, np.array([0.0, 0.0]), "pt_j1", r"$p_{T,j}$ [GeV]", (30.0, 400.0), n_bins=10, n_toys=n_toys,
        ratio_range=(0.7, 1.4), random_state=4, bandcolors=["C0", "C1"],
    )  # fmt: skip
    assert len(fig.axes) == 4
    top, top_norm, ratio, ratio_norm = fig.axes
    # scales has no varied weights in the file: no band
    assert [t.get_text() for t in top.get_legend().get_texts()] == [
        "signal_norm",
        "bkg_norm",
        "combined",
        "Nominal",
    ]
    assert top.get_legend().get_title().get_text() == "cHW = 0, cHq3 = 0"
    assert ratio.get_xlabel() == ratio_norm.get_xlabel() == r"$p_{T,j}$ [GeV]"
    assert ratio.get_ylim() == ratio_norm.get_ylim() == (0.7, 1.4)
    assert top.get_ylabel() == "Cross section per bin [pb]" and ratio.get_ylabel() == "Ratio to nominal"
    assert _bands(top)[0].get_facecolor() == _bands(top)[2].get_facecolor()  # two colours for three bands
    edges = np.linspace(30.0, 400.0, 11)
    signal, background = _signal_background(path, "pt_j1", edges)
    for ax in fig.axes:
        assert len(_bands(ax)) == 3 and len(_lines(ax)) == 3 * 2 + 1
    central = _lines(top)[-1].get_data()
    np.testing.assert_array_equal(central.edges, edges)
    np.testing.assert_allclose(central.values, signal + background, rtol=1e-10)
    for band, base in zip(_bands(top)[:2], (1.1, 1.2), strict=True):
        varied = signal if base == 1.1 else background
        fixed = background if base == 1.1 else signal
        filled = varied > 0.0
        for values, sign in ((band.get_data().values, 1.0), (band.get_data().baseline, -1.0)):
            factor = (values - fixed)[filled] / varied[filled]  # 1.1**q(nu): the same in every bin
            np.testing.assert_allclose(factor, factor[0], rtol=1e-9)
            np.testing.assert_allclose(values[~filled], fixed[~filled], rtol=1e-12)
            assert np.log(factor[0]) / np.log(base) == pytest.approx(sign, abs=0.35)
    # in the ratio panel, the nominal is 1 and the bands are the top bands over the nominal
    np.testing.assert_allclose(_lines(ratio)[-1].get_data().values, 1.0)
    np.testing.assert_allclose(
        _bands(ratio)[2].get_data().values, _bands(top)[2].get_data().values / central.values, rtol=1e-12
    )
    # normalised: unit area
    norm_central = _lines(top_norm)[-1].get_data()
    assert np.sum(norm_central.values * np.diff(edges)) == pytest.approx(1.0, rel=1e-12)
    _assert_all_finite(fig)
    fig.savefig(tmp_path / "systematics.png")


def test_uncertainty_bands_of_a_normalisation(toy_file):
    n_toys = 1000
    fig = plot_uncertainty(
        toy_file, np.array([0.3]), "x", r"$x$", (-1.0, 1.0), n_bins=10, n_toys=n_toys, random_state=2,
        bandcolor1="tab:blue", bandcolor2="tab:orange", linecolor="tab:green", ratio_range=(0.5, 1.5),
    )  # fmt: skip
    top, _, ratio, ratio_norm = fig.axes
    assert [t.get_text() for t in top.get_legend().get_texts()] == [
        "Nominal",
        "68% of the toys",
        "95% of the toys",
    ]
    assert top.get_legend().get_title().get_text() == "theta = 0.3"
    outer, inner = _bands(ratio)
    (line,) = _lines(ratio)
    np.testing.assert_allclose(line.get_data().values, 1.0)
    for band, nu in ((inner, 1.0), (outer, 1.96)):
        np.testing.assert_allclose(band.get_data().values, band.get_data().values[0], rtol=1e-10)
        # percentiles of 1000 normal draws, within about 3 standard errors
        assert np.log(band.get_data().values[0]) / np.log(NORM) == pytest.approx(nu, abs=0.2)
        assert np.log(band.get_data().baseline[0]) / np.log(NORM) == pytest.approx(-nu, abs=0.2)
    # a normalisation does not change the shape: no band in the normalised ratio
    for band in _bands(ratio_norm):
        np.testing.assert_allclose(band.get_data().values, 1.0, rtol=1e-10)
        np.testing.assert_allclose(band.get_data().baseline, 1.0, rtol=1e-10)
    # the nominal is the histogram of the weights at theta
    x, w = DataAnalyzer(toy_file).weighted_events(np.array([0.3]))
    expected, _ = np.histogram(x[:, 0], np.linspace(-1.0, 1.0, 11), weights=w)
    np.testing.assert_allclose(_lines(top)[0].get_data().values, expected, rtol=1e-10)
    assert _lines(top)[0].get_edgecolor() == to_rgba("tab:green")
    assert [b.get_facecolor() for b in _bands(top)] == [to_rgba("tab:orange"), to_rgba("tab:blue")]
    _assert_all_finite(fig)


def test_uncertainty_and_systematics_bad_input(toy_file, lhe_data_systematics, lhe_data_shuffled):
    with pytest.raises(InputError, match="unknown observable 'y'"):
        plot_uncertainty(toy_file, np.array([0.0]), "y", "y", (-1.0, 1.0))
    with pytest.raises(InputError, match="obs_range"):
        plot_systematics(toy_file, np.array([0.0]), "x", "x", (1.0, -1.0))
    with pytest.raises(InputError, match="ratio_range"):
        plot_systematics(toy_file, np.array([0.0]), "x", "x", (-1.0, 1.0), ratio_range=(1.0,))
    with pytest.raises(InputError, match="must have 1 entries"):
        plot_uncertainty(toy_file, np.array([0.0, 1.0]), "x", "x", (-1.0, 1.0))
    with pytest.raises(InputError, match="theta is None"):
        plot_uncertainty(toy_file, None, "x", "x", (-1.0, 1.0))
    with pytest.raises(InputError, match="n_toys"):
        plot_systematics(toy_file, [0.0], "x", "x", (-1.0, 1.0), n_toys=0)
    with pytest.raises(InputError, match="unknown systematic 'pdf'"):
        plot_uncertainty(toy_file, np.array([0.0]), "x", "x", (-1.0, 1.0), systematics=["pdf"])
    with pytest.raises(InputError, match="bandcolors is empty"):
        plot_systematics(toy_file, np.array([0.0]), "x", "x", (-1.0, 1.0), bandcolors=[])
    with pytest.raises(SetupError, match="no nuisance parameters"):
        plot_uncertainty(
            str(lhe_data_systematics), "sm", "pt_j1", "pt", (30.0, 400.0), systematics=["scales"]
        )
    with pytest.raises(SetupError, match="no nuisance parameters"):
        plot_systematics(str(lhe_data_shuffled), "sm", "pt_j1", "pt", (30.0, 400.0))


def test_histograms_marker_and_colour_arguments():
    """zrange fixes the colour scale, markercolor and markersize style the observed events, and
    observed_label names the data in the legend of a 1-D plot."""
    rng = np.random.default_rng(3)
    histo_2d = Histo(rng.normal(size=(500, 2)), bins=(5, 4))
    observed = np.zeros((3, 2))
    fig = plot_histograms(
        [histo_2d], observed=observed, zrange=(0.01, 0.2), markercolor="red", markersize=42.0, cmap="magma"
    )
    ax = _panels(fig)[0]
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    assert (mesh.norm.vmin, mesh.norm.vmax) == (0.01, 0.2) and mesh.get_cmap().name == "magma"
    events = next(c for c in ax.collections if c is not mesh)
    assert to_rgba(events.get_facecolor()[0]) == to_rgba("red")
    np.testing.assert_allclose(events.get_sizes(), 42.0)
    histo_1d = Histo(rng.normal(size=500), bins=5)
    fig = plot_histograms(
        [histo_1d], observed=rng.normal(size=50), observed_label="pseudo-data", histo_labels=["model"],
        markercolor="tab:red", yrange=(0.0, 1.0),
    )  # fmt: skip
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["model", "pseudo-data"]
    assert ax.get_ylim() == (0.0, 1.0)


def test_systematics_band_alpha(lhe_data_systematics):
    fig = plot_systematics(
        str(lhe_data_systematics), np.zeros(2), "pt_j1", "pt", (30.0, 300.0), n_toys=20, band_alpha=0.35,
        random_state=1,
    )  # fmt: skip
    alphas = {band.get_alpha() for band in _bands(fig.axes[0])}
    assert alphas == {0.35}
