"""Plots of morphing bases: the plotted numbers against an independent computation of the weights.

The morphing weights of a square basis are fixed by the basis alone: with the monomials
phi(theta) of the parameters up to the overall power, w(theta) = phi(theta) phi(basis)^-1. The
tests build phi here (independently of motherlode's components and matrices) and compare
sqrt(sum_b w_b^2) with what each plot coloured or drew.
"""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PathCollection, QuadMesh
from matplotlib.colors import LogNorm

from motherlode import MadMiner
from motherlode.errors import InputError
from motherlode.morphing import PhysicsMorpher
from motherlode.plotting import (
    plot_1d_morphing_basis,
    plot_2d_morphing_basis,
    plot_nd_morphing_basis_scatter,
    plot_nd_morphing_basis_slices,
    set_style,
)
from motherlode.plotting.morphing import WEIGHT_LABEL

#: The basis of MadMiner's particle-physics tutorial (cHW, cHq3), quadratic morphing.
TUTORIAL_BASIS = np.array([[0.0, 0.0], [-0.8, 0.05], [0.0, -0.92], [0.13, 0.81], [0.72, 0.84], [0.87, 0.18]])


def _quadratic_basis(n_parameters: int) -> np.ndarray:
    """0, +-e_i and e_i + e_j: a regular basis of the (n + 1)(n + 2)/2 quadratic monomials."""
    eye = np.eye(n_parameters)
    pairs = [eye[i] + eye[j] for i, j in itertools.combinations(range(n_parameters), 2)]
    return np.vstack([np.zeros((1, n_parameters)), eye, -eye, *pairs])


def _monomials(theta: np.ndarray, n_parameters: int, power: int = 2) -> np.ndarray:
    """All monomials of total degree <= power, shape (n, n_monomials)."""
    theta = np.atleast_2d(theta)
    exponents = [e for e in itertools.product(range(power + 1), repeat=n_parameters) if sum(e) <= power]
    return np.stack([np.prod(theta ** np.array(e), axis=1) for e in exponents], axis=1)


def _expected(theta: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """sqrt(sum_b w_b(theta)^2), from the monomials and the basis only."""
    n_parameters = basis.shape[1]
    weights = _monomials(theta, n_parameters) @ np.linalg.inv(_monomials(basis, n_parameters))
    return np.sqrt(np.sum(weights**2, axis=1))


def _morpher(basis: np.ndarray, ranges=None) -> PhysicsMorpher:
    n_parameters = basis.shape[1]
    morpher = PhysicsMorpher(parameter_max_power=[2] * n_parameters, parameter_range=ranges)
    morpher.find_components(2)
    morpher.set_basis(basis_numpy=basis)
    return morpher


def _meshes(fig) -> list[tuple[plt.Axes, QuadMesh]]:
    """The coloured maps of the panels (not the colour bars' own meshes)."""
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    return [(ax, c) for ax in panels for c in ax.collections if isinstance(c, QuadMesh)]


def _mesh_centres(mesh: QuadMesh) -> np.ndarray:
    """Centres of the cells of a pcolormesh, shape (n_rows * n_cols, 2), rows along y."""
    corners = np.asarray(mesh.get_coordinates())
    centres = 0.25 * (corners[:-1, :-1] + corners[1:, :-1] + corners[:-1, 1:] + corners[1:, 1:])
    return centres.reshape(-1, 2)


def _markers(ax) -> np.ndarray:
    """Offsets of the marker collections (the basis points) of a panel, all together."""
    collections = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_array() is None]
    return np.vstack([c.get_offsets() for c in collections if len(c.get_offsets())])


def _same_points(a: np.ndarray, b: np.ndarray) -> bool:
    return sorted(map(tuple, np.round(a, 12))) == sorted(map(tuple, np.round(b, 12)))


# ---------------------------------------------------------------------------- 1d


def test_1d_curve_is_the_independent_root_sum_of_squared_weights():
    basis = np.array([[-1.0], [0.0], [0.5]])
    fig = plot_1d_morphing_basis(_morpher(basis), xlabel="$c$", xrange=(-2.0, 1.5), resolution=41)
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    x, y = line.get_data()
    np.testing.assert_allclose(x, np.linspace(-2.0, 1.5, 41))
    np.testing.assert_allclose(y, _expected(x[:, None], basis), rtol=1e-10)
    assert np.all(np.isfinite(y))
    # the basis points sit on the curve at 1 (square basis: w = e_b there)
    np.testing.assert_allclose(_markers(ax), np.column_stack([basis[:, 0], np.ones(3)]), atol=1e-12)
    assert ax.get_xlabel() == "$c$"
    assert ax.get_ylabel() == WEIGHT_LABEL
    assert ax.get_xlim() == (-2.0, 1.5)


def test_1d_draws_into_a_given_axes():
    fig, ax = plt.subplots()
    out = plot_1d_morphing_basis(_morpher(np.array([[-1.0], [0.0], [1.0]])), ax=ax)
    assert out is fig
    assert len(ax.get_lines()) == 1


def test_1d_refuses_a_two_parameter_morpher():
    with pytest.raises(InputError, match=r"morpher has 2 parameters.*plot_2d_morphing_basis"):
        plot_1d_morphing_basis(_morpher(TUTORIAL_BASIS))


# ---------------------------------------------------------------------------- 2d


def test_2d_colours_are_the_independent_root_sum_of_squared_weights():
    morpher = _morpher(TUTORIAL_BASIS)
    fig = plot_2d_morphing_basis(
        morpher,
        xlabel="$c_{HW}$",
        ylabel="$c_{Hq}^{(3)}$",
        xrange=(-1.5, 1.0),
        yrange=(-1.0, 2.0),
        crange=(0.5, 50.0),
        resolution=9,
    )
    ((ax, mesh),) = _meshes(fig)
    values = np.asarray(mesh.get_array()).ravel()
    assert values.shape == (81,)
    assert np.all(np.isfinite(values))
    np.testing.assert_allclose(values, _expected(_mesh_centres(mesh), TUTORIAL_BASIS), rtol=1e-10)
    # the cells tile exactly the requested ranges
    corners = mesh.get_coordinates()
    assert corners[0, 0].tolist() == [-1.5, -1.0]
    assert corners[-1, -1].tolist() == [1.0, 2.0]
    assert ax.get_xlim() == (-1.5, 1.0)
    assert ax.get_ylim() == (-1.0, 2.0)
    # log colour scale with limits crange, and its colour bar
    assert isinstance(mesh.norm, LogNorm)
    assert (mesh.norm.vmin, mesh.norm.vmax) == (0.5, 50.0)
    cbar = mesh.colorbar
    assert cbar is not None
    np.testing.assert_allclose(cbar.ax.get_ylim(), (0.5, 50.0))
    assert cbar.ax.get_ylabel() == WEIGHT_LABEL
    # markers at the basis points, labels as given
    assert _same_points(_markers(ax), TUTORIAL_BASIS)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("$c_{HW}$", "$c_{Hq}^{(3)}$")


def test_2d_with_madminer_setup_and_defaults():
    """The tutorial's call: a MadMiner setup's morpher; MadMiner's default labels and ranges."""
    miner = MadMiner()
    miner.add_parameter("SMEFT", 7, parameter_name="cHW", parameter_range=(-1.0, 1.0))
    miner.add_parameter("SMEFT", 25, parameter_name="cHq3", parameter_range=(-1.0, 1.0))
    for i, point in enumerate(TUTORIAL_BASIS):
        miner.add_benchmark({"cHW": point[0], "cHq3": point[1]}, f"b{i}")
    miner.set_morphing(max_overall_power=2, include_existing_benchmarks=True)
    fig = plot_2d_morphing_basis(miner.morpher, resolution=6)
    ((ax, mesh),) = _meshes(fig)
    np.testing.assert_allclose(
        np.asarray(mesh.get_array()).ravel(), _expected(_mesh_centres(mesh), TUTORIAL_BASIS), rtol=1e-10
    )
    assert (ax.get_xlabel(), ax.get_ylabel()) == (r"$\theta_0$", r"$\theta_1$")
    assert (mesh.norm.vmin, mesh.norm.vmax) == (1.0, 100.0)
    assert ax.get_xlim() == ax.get_ylim() == (-1.0, 1.0)


def test_2d_draws_into_a_given_axes():
    fig, ax = plt.subplots()
    out = plot_2d_morphing_basis(_morpher(TUTORIAL_BASIS), resolution=4, ax=ax)
    assert out is fig
    assert len(_meshes(fig)) == 1
    assert len(fig.axes) == 2  # the panel and its colour bar


def test_2d_coupling_basis():
    """A basis given as couplings (production g_p, shared g_s): two coupling columns."""
    morpher = PhysicsMorpher(parameter_max_power=[4, 4])
    morpher.find_components(Np=1, Ns=1)  # g_p^2 g_s^2, g_p g_s^3, g_s^4
    morpher.set_basis(basis_p=[[0.0, 1.0, -1.0]], basis_s=[[1.0, 1.0, 1.0]])
    fig = plot_2d_morphing_basis(morpher, xrange=(-1.0, 1.0), yrange=(0.5, 1.5), resolution=5)
    ((_, mesh),) = _meshes(fig)
    theta = _mesh_centres(mesh)
    basis = np.array([[0.0, 1.0], [1.0, 1.0], [-1.0, 1.0]])

    def phi(t):
        return np.stack([t[:, 0] ** 2 * t[:, 1] ** 2, t[:, 0] * t[:, 1] ** 3, t[:, 1] ** 4], axis=1)

    weights = phi(theta) @ np.linalg.inv(phi(basis))
    np.testing.assert_allclose(
        np.asarray(mesh.get_array()).ravel(), np.sqrt(np.sum(weights**2, axis=1)), rtol=1e-10
    )
    # at g_s = 0 every weight vanishes: those cells are coloured (as below the range), not left empty
    fig = plot_2d_morphing_basis(morpher, yrange=(-0.5, 0.5), resolution=5)
    ((_, mesh),) = _meshes(fig)
    values = np.asarray(mesh.get_array())
    assert np.all(values[2] < 1e-20)
    colours = mesh.to_rgba(mesh.get_array())
    np.testing.assert_allclose(colours[..., 3], 1.0)
    np.testing.assert_allclose(colours[2], np.broadcast_to(mesh.cmap.get_under(), colours[2].shape))
    np.testing.assert_allclose(mesh.to_rgba(np.zeros((1, 1)))[0, 0], mesh.cmap.get_under())  # exactly 0


# ---------------------------------------------------------------------------- nd slices


@pytest.mark.parametrize("n_parameters", [2, 3, 4])
def test_slices_one_panel_per_pair_with_independent_colours(n_parameters):
    basis = _quadratic_basis(n_parameters)
    ranges = [(-1.0 - 0.5 * i, 1.0 + 0.25 * i) for i in range(n_parameters)]
    fig = plot_nd_morphing_basis_slices(_morpher(basis, ranges), crange=(1.0, 30.0), resolution=6)
    meshes = _meshes(fig)
    assert len(meshes) == n_parameters * (n_parameters - 1) // 2
    pairs = set()
    for ax, mesh in meshes:
        centres = _mesh_centres(mesh)
        corners = mesh.get_coordinates()
        ix = next(i for i in range(n_parameters) if np.isclose(corners[0, 0, 0], ranges[i][0]))
        iy = next(i for i in range(n_parameters) if np.isclose(corners[0, 0, 1], ranges[i][0]))
        assert ix < iy
        pairs.add((ix, iy))
        assert corners[-1, -1].tolist() == [ranges[ix][1], ranges[iy][1]]
        theta = np.zeros((len(centres), n_parameters))  # the other parameters at 0
        theta[:, ix], theta[:, iy] = centres[:, 0], centres[:, 1]
        values = np.asarray(mesh.get_array()).ravel()
        assert np.all(np.isfinite(values))
        np.testing.assert_allclose(values, _expected(theta, basis), rtol=1e-9)
        assert (mesh.norm.vmin, mesh.norm.vmax) == (1.0, 30.0)
        # every basis point is marked, projected onto the pair
        assert _same_points(_markers(ax), basis[:, [ix, iy]])
        # outer panels carry the parameter labels (no names: theta_i)
        if iy == n_parameters - 1:
            assert ax.get_xlabel() == rf"$\theta_{{{ix}}}$"
        if ix == 0:
            assert ax.get_ylabel() == rf"$\theta_{{{iy}}}$"
    assert pairs == set(itertools.combinations(range(n_parameters), 2))
    # one colour bar for all panels, with the limits crange
    colorbars = {id(mesh.colorbar) for _, mesh in meshes if mesh.colorbar is not None}
    assert len(colorbars) == 1
    cbar = next(mesh.colorbar for _, mesh in meshes if mesh.colorbar is not None)
    limits = cbar.ax.get_xlim() if cbar.orientation == "horizontal" else cbar.ax.get_ylim()
    np.testing.assert_allclose(limits, (1.0, 30.0))


def test_slices_mark_basis_points_in_and_off_the_slice():
    basis = _quadratic_basis(3)
    fig = plot_nd_morphing_basis_slices(_morpher(basis, [(-1.0, 1.0)] * 3), resolution=3)
    # panel (theta_0, theta_2): the points with theta_1 = 0 are white, the others open circles
    ax = next(a for a in fig.axes if (a.get_xlabel(), a.get_ylabel()) == (r"$\theta_{0}$", r"$\theta_{2}$"))
    markers = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_array() is None]
    white = [
        c.get_offsets() for c in markers if len(c.get_facecolors()) and np.allclose(c.get_facecolors(), 1.0)
    ]
    open_ = [c.get_offsets() for c in markers if len(c.get_facecolors()) == 0]
    assert len(white) == len(open_) == 1
    in_slice = np.isclose(basis[:, 1], 0.0)
    assert _same_points(white[0], basis[in_slice][:, [0, 2]])
    assert _same_points(open_[0], basis[~in_slice][:, [0, 2]])


def test_slices_labels_from_parameter_names_and_argument():
    miner = MadMiner()
    for i, name in enumerate(["cHW", "cHq3", "cHbox"]):
        miner.add_parameter("SMEFT", i + 1, parameter_name=name, parameter_range=(-1.0, 1.0))
    basis = _quadratic_basis(3)
    for i, point in enumerate(basis):
        miner.add_benchmark(dict(zip(["cHW", "cHq3", "cHbox"], point, strict=True)), f"b{i}")
    miner.set_morphing(max_overall_power=2, include_existing_benchmarks=True)
    fig = plot_nd_morphing_basis_slices(miner.morpher, resolution=3)
    labels = {ax.get_xlabel() for ax, _ in _meshes(fig)} | {ax.get_ylabel() for ax, _ in _meshes(fig)}
    assert labels == {"cHW", "cHq3", "cHbox", ""}
    fig = plot_nd_morphing_basis_slices(miner.morpher, resolution=3, labels=["$a$", "$b$", "$c$"])
    labels = {ax.get_xlabel() for ax, _ in _meshes(fig)} | {ax.get_ylabel() for ax, _ in _meshes(fig)}
    assert labels == {"$a$", "$b$", "$c$", ""}


# ---------------------------------------------------------------------------- nd scatter


@pytest.mark.parametrize("n_parameters", [2, 3])
def test_scatter_colours_are_the_independent_values_at_the_random_points(n_parameters):
    basis = _quadratic_basis(n_parameters)
    ranges = [(-2.0, 1.0)] + [(-1.0, 1.0)] * (n_parameters - 1)
    fig = plot_nd_morphing_basis_scatter(
        _morpher(basis, ranges), crange=(2.0, 200.0), n_test_thetas=200, random_state=3
    )
    panels = {}
    for ax in fig.axes:
        coloured = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_array() is not None]
        if coloured:
            (points,) = coloured
            panels[(ax.get_xlabel(), ax.get_ylabel())] = (ax, points)
    assert len(panels) == n_parameters * (n_parameters - 1) // 2
    # the full points from the panels (theta_0, theta_j): all panels show the same points
    first = [points for (ax, points) in panels.values() if ax.get_ylabel() != ""]
    theta = np.zeros((200, n_parameters))
    values = np.asarray(first[0].get_array())
    for ax, points in panels.values():
        np.testing.assert_array_equal(np.asarray(points.get_array()), values)
        if ax.get_ylabel():
            iy = int(ax.get_ylabel().strip("$").split("{")[1].rstrip("}"))
            theta[:, 0], theta[:, iy] = points.get_offsets()[:, 0], points.get_offsets()[:, 1]
        assert (points.norm.vmin, points.norm.vmax) == (2.0, 200.0)
        assert isinstance(points.norm, LogNorm)
    assert np.all((theta[:, 0] >= -2.0) & (theta[:, 0] <= 1.0))
    assert np.all(np.isfinite(values))
    np.testing.assert_allclose(values, _expected(theta, basis), rtol=1e-9)
    # the same seed gives the same points
    again = plot_nd_morphing_basis_scatter(
        _morpher(basis, ranges), crange=(2.0, 200.0), n_test_thetas=200, random_state=3
    )
    coloured = [c for ax in again.axes for c in ax.collections if isinstance(c, PathCollection)]
    assert any(c.get_array() is not None and np.array_equal(c.get_array(), values) for c in coloured)
    for ax, _ in panels.values():
        assert len(_markers(ax)) == len(basis)


# ---------------------------------------------------------------------------- errors and style


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m3: plot_2d_morphing_basis(m3), r"plot_2d_morphing_basis: morpher has 3 parameters"),
        (lambda m3: plot_1d_morphing_basis(m3), r"morpher has 3 parameters, this plot needs exactly 1"),
        (lambda m3: plot_nd_morphing_basis_slices(m3, crange=(0.0, 10.0)), r"crange .* min > 0"),
        (lambda m3: plot_nd_morphing_basis_slices(m3, crange=(10.0, 1.0)), r"crange must be finite with min"),
        (lambda m3: plot_nd_morphing_basis_slices(m3, resolution=0), r"resolution must be an integer >= 1"),
        (lambda m3: plot_nd_morphing_basis_slices(m3, labels=["a"]), r"labels has 1 entries for 3"),
        (lambda m3: plot_nd_morphing_basis_scatter(m3, n_test_thetas=0), r"n_test_thetas must be an integer"),
        (lambda m3: plot_nd_morphing_basis_scatter(m3, crange="big"), r"crange must be a pair"),
    ],
)
def test_bad_input_raises_input_error_naming_the_argument(call, match):
    with pytest.raises(InputError, match=match):
        call(_morpher(_quadratic_basis(3)))


def test_bad_morphers():
    no_basis = PhysicsMorpher(parameter_max_power=[2, 2])
    no_basis.find_components(2)
    with pytest.raises(InputError, match=r"morpher has no morphing basis"):
        plot_2d_morphing_basis(no_basis)
    miner = MadMiner()
    with pytest.raises(InputError, match=r"morpher must be a PhysicsMorpher .*pass its \.morpher"):
        plot_nd_morphing_basis_slices(miner)
    with pytest.raises(InputError, match=r"needs at least 2; use plot_1d_morphing_basis"):
        plot_nd_morphing_basis_scatter(_morpher(np.array([[-1.0], [0.0], [1.0]])))
    with pytest.raises(InputError, match=r"xrange must be finite"):
        plot_2d_morphing_basis(_morpher(TUTORIAL_BASIS), xrange=(1.0, 1.0))


def test_style_none_leaves_rcparams_and_still_plots():
    set_style(None)
    try:
        fig = plot_2d_morphing_basis(_morpher(TUTORIAL_BASIS), resolution=3)
        assert len(_meshes(fig)) == 1
    finally:
        set_style("motherlode")
