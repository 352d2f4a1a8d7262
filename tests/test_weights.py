"""The weights engine: exact weights, gradients and streamed cross sections at many points."""

from __future__ import annotations

import numpy as np
import pytest

from motherlode.errors import InputError, SetupError
from motherlode.models.parameters import NuisanceParameter
from motherlode.morphing import NuisanceMorpher, PhysicsMorpher
from motherlode.weights import ParameterPoints, WeightModel, split_evenly

# one parameter, dsigma/dx ~ (1 + theta x)^2 on x in [-1, 1]: basis theta = -1, 0, 1
BASIS = np.array([[-1.0], [0.0], [1.0]])


def _model(with_nuisance: bool = False) -> tuple[WeightModel, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, 2000)
    columns = [(1 + t * x) ** 2 / len(x) for t in BASIS[:, 0]]
    names = {"m": np.array([-1.0]), "sm": np.array([0.0]), "p": np.array([1.0])}
    morpher = PhysicsMorpher(parameter_max_power=[2], parameter_range=[(-1.0, 1.0)])
    morpher.find_components(max_overall_power=2)
    morpher.set_basis(basis_numpy=BASIS)
    nuisance = None
    if with_nuisance:
        up, down = 1.0 + 0.1 * x, 1.0 - 0.05 * x
        columns += [columns[1] * up, columns[1] * down]
        names |= {"nu_up": np.array([0.0]), "nu_down": np.array([0.0])}
        nuisance = NuisanceMorpher(
            {"nu": NuisanceParameter("nu", "syst", "nu_up", "nu_down")}, list(names), "sm"
        )
    weights = np.stack(columns, axis=1)
    return WeightModel(["theta"], names, morpher, nuisance), x, weights


def test_weights_gradients_and_cross_sections_are_exact():
    model, x, weights = _model()
    thetas = np.linspace(-1, 1, 7)[:, None]
    points = model.points(thetas)
    expected = (1 + thetas * x) ** 2 / len(x)
    np.testing.assert_allclose(points.weights(weights), expected, rtol=1e-10, atol=1e-15)
    gradient = points.weight_gradients(weights, "theta")
    np.testing.assert_allclose(gradient[:, 0], 2 * x * (1 + thetas * x) / len(x), rtol=1e-9, atol=1e-14)
    totals = points.cross_sections(np.array_split(weights, 5), gradients="theta")
    np.testing.assert_allclose(totals.xsecs, expected.sum(axis=1), rtol=1e-10)
    np.testing.assert_allclose(totals.uncertainties, np.sqrt((expected**2).sum(axis=1)), rtol=1e-10)
    np.testing.assert_allclose(totals.gradients[:, 0], gradient[:, 0].sum(axis=1), rtol=1e-9, atol=1e-14)
    assert totals.n_events == len(x)


def test_nominal_shortcut_equals_direct_sums_with_nuisance_and_groups():
    model, x, weights = _model(with_nuisance=True)
    thetas = np.linspace(-1.0, 1.0, 40)[:, None]  # more points than groups x benchmarks: per-benchmark sums
    groups = np.arange(40) % 2
    factors = np.stack([np.ones(len(x)), (x > 0).astype(float)])
    batches = [
        (w, f) for w, f in zip(np.array_split(weights, 3), np.array_split(factors, 3, axis=1), strict=True)
    ]
    nominal = model.points(thetas).cross_sections(batches, gradients="all", groups=groups)
    # a tiny nu goes through the direct (per point) path
    direct = model.points(thetas, nus=[1e-12]).cross_sections(batches, gradients="all", groups=groups)
    np.testing.assert_allclose(nominal.xsecs, direct.xsecs, rtol=1e-9)
    np.testing.assert_allclose(nominal.uncertainties, direct.uncertainties, rtol=1e-9)
    np.testing.assert_allclose(nominal.gradients, direct.gradients, rtol=1e-8, atol=1e-14)
    w = (1 + thetas * x) ** 2 / len(x) * factors[groups]
    np.testing.assert_allclose(nominal.xsecs, w.sum(axis=1), rtol=1e-10)
    # d sigma / d nu at 0 = sum a(x) w(x), a = log(up/down) / 2
    a = 0.5 * np.log((1 + 0.1 * x) / (1 - 0.05 * x))
    np.testing.assert_allclose(nominal.gradients[:, 1], (a * w).sum(axis=1), rtol=1e-9)


def test_nuisance_factor_and_its_gradient():
    model, x, weights = _model(with_nuisance=True)
    points = model.points(["sm", "sm"], nus=[[0.5], [-1.0]])
    a = 0.5 * np.log((1 + 0.1 * x) / (1 - 0.05 * x))
    b = 0.5 * np.log((1 + 0.1 * x) * (1 - 0.05 * x))
    nu = np.array([[0.5], [-1.0]])
    expected = weights[:, 1] * np.exp(a * nu + b * nu**2)
    np.testing.assert_allclose(points.weights(weights), expected, rtol=1e-10)
    gradient = points.weight_gradients(weights, "nu")[:, 0]
    np.testing.assert_allclose(gradient, (a + 2 * b * nu) * expected, rtol=1e-9)
    aligned = model.points(["sm"] * len(x), nus=np.full((len(x), 1), 0.5))
    np.testing.assert_allclose(aligned.weights(weights, aligned=True), expected[0], rtol=1e-10)
    np.testing.assert_allclose(aligned.log_weight_gradients(weights, "nu")[:, 0], a + 2 * b * 0.5, rtol=1e-9)


def test_mixed_specifications_and_errors():
    model, _, _ = _model()
    points = model.points(["sm", np.array([0.5]), 2])
    assert points.names == ["sm", None, "p"]
    np.testing.assert_allclose(points.values[:, 0], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(points.matrices[0], [0, 1, 0])
    assert points.take([2, 0]).names == ["p", "sm"]
    with pytest.raises(InputError, match="unknown benchmark 'nope'"):
        model.points("nope")
    with pytest.raises(InputError, match="1 entries"):
        model.points(np.array([[0.1, 0.2]]))
    with pytest.raises(SetupError, match="no nuisance parameters"):
        model.points(["sm"], nus=[0.3])
    no_morphing = WeightModel(["theta"], {"sm": np.array([0.0])}, source="file.h5")
    with pytest.raises(SetupError, match=r"file\.h5 has none"):
        no_morphing.points(np.array([0.3]))
    with pytest.raises(SetupError, match="neither a morphing setup nor finite-difference"):
        no_morphing.points("sm").theta_gradient_matrices()


def test_split_evenly():
    np.testing.assert_array_equal(split_evenly(10, 4), [3, 3, 2, 2])
    with pytest.raises(InputError):
        split_evenly(3, 0)


def test_points_validate_shapes():
    with pytest.raises(InputError, match="inconsistent"):
        ParameterPoints(np.zeros((2, 1)), np.zeros((3, 2)))
