"""Physics and nuisance morphing against exact answers."""

import numpy as np
import pytest

from motherlode.errors import InputError, MorphingError
from motherlode.models import NuisanceParameter
from motherlode.morphing import NuisanceMorpher, PhysicsMorpher, component_weights
from motherlode.utils.morphing import PhysicsMorpher as PhysicsMorpherAlias

MADMINER_COMPONENTS = np.array([[4, 0], [3, 1], [2, 2], [1, 3], [0, 4]])
MADMINER_BASIS = np.array([[1.0, -5.0], [1.0, -4.0], [1.0, -3.0], [1.0, -2.0], [1.0, -1.0]])


def madminer_reference_morpher():
    morpher = PhysicsMorpher(parameter_max_power=[4, 4], parameter_range=[(-1.0, 1.0), (-1.0, 1.0)])
    morpher.set_components(MADMINER_COMPONENTS)
    morpher.set_basis(basis_numpy=MADMINER_BASIS)
    return morpher


def test_utils_alias_is_the_same_class():
    assert PhysicsMorpherAlias is PhysicsMorpher


def test_madminer_reference_weights():
    weights = madminer_reference_morpher().calculate_morphing_weights(np.array([1.0, 1.0]))
    np.testing.assert_allclose(weights, [5.0, -24.0, 45.0, -40.0, 15.0], rtol=1e-10)


def test_madminer_reference_gradients():
    gradients = madminer_reference_morpher().calculate_morphing_weight_gradient(np.array([1.0, 1.0]))
    expected = [[13.583, -66.0, 126.0, -115.333, 45.75], [6.4167, -30.0, 54.0, -44.667, 14.25]]
    np.testing.assert_allclose(gradients, expected, rtol=1e-4)
    # the exact fractions behind MadMiner's rounded numbers
    np.testing.assert_allclose(gradients[0, [0, 3]], [163 / 12, -346 / 3], rtol=1e-12)


def test_one_parameter_quadratic_matrix():
    morpher = PhysicsMorpher(parameter_max_power=[2])
    morpher.find_components(2)
    morpher.set_basis(basis_numpy=[[0.0], [1.0], [-1.0]])
    np.testing.assert_allclose(
        morpher.morphing_matrix, [[1.0, 0.0, 0.0], [0.0, 0.5, -0.5], [-1.0, 0.5, 0.5]], atol=1e-14
    )


def test_find_components_order_matches_madminer():
    morpher = PhysicsMorpher(parameter_max_power=[2, 2])
    assert morpher.find_components(2).tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [2, 0]]
    assert morpher.find_components(1).tolist() == [[0, 0], [0, 1], [1, 0]]
    assert len(morpher.find_components(4)) == 9


def test_find_components_union_over_operator_configurations():
    # configuration A: theta_0 up to power 2 alone; configuration B: theta_1 up to 4 alone
    morpher = PhysicsMorpher(parameter_max_power=[(2, 0), (0, 4)])
    components = morpher.find_components((2, 4))
    assert components.tolist() == [[0, 0], [0, 1], [0, 2], [0, 3], [0, 4], [1, 0], [2, 0]]


def test_find_components_rejects_bad_power():
    with pytest.raises(InputError, match="max_overall_power"):
        PhysicsMorpher(parameter_max_power=[2]).find_components(-1)
    with pytest.raises(InputError, match="non-negative"):
        PhysicsMorpher(parameter_max_power=[-2])


def random_polynomial_setup(rng, max_powers, max_overall_power, n_basis_factor):
    n_parameters = len(max_powers)
    morpher = PhysicsMorpher(parameter_max_power=max_powers, parameter_range=[(-1.0, 1.0)] * n_parameters)
    components = morpher.find_components(max_overall_power)
    n_basis = n_basis_factor * len(components)
    basis = rng.uniform(-1.0, 1.0, size=(n_basis, n_parameters))
    morpher.set_basis(basis_numpy=basis)
    coefficients = rng.normal(size=len(components))  # alpha_k: one "event" with a random polynomial
    return morpher, components, basis, coefficients


@pytest.mark.parametrize(
    ("max_powers", "max_overall_power"),
    [([2], 2), ([4], 4), ([2, 2], 2), ([4, 2], 4), ([2, 2, 2], 2), ([2, 2, 2], 4)],
)
@pytest.mark.parametrize("n_basis_factor", [1, 2])
def test_morphing_reproduces_random_polynomials(max_powers, max_overall_power, n_basis_factor):
    rng = np.random.default_rng(sum(max_powers) * 10 + max_overall_power + n_basis_factor)
    morpher, components, basis, alpha = random_polynomial_setup(
        rng, max_powers, max_overall_power, n_basis_factor
    )
    sigma_at_basis = component_weights(basis, components) @ alpha
    thetas = rng.uniform(-2.0, 2.0, size=(200, len(max_powers)))
    terms = component_weights(thetas, components) * alpha
    truth, scale = terms.sum(axis=1), np.abs(terms).sum(axis=1)
    morphed = morpher.calculate_morphing_weights(thetas) @ sigma_at_basis
    assert np.max(np.abs(morphed - truth) / scale) < 1e-10


@pytest.mark.parametrize("n_basis_factor", [1, 2])
def test_gradients_match_finite_differences(n_basis_factor):
    rng = np.random.default_rng(7)
    morpher, *_ = random_polynomial_setup(rng, [2, 4, 2], 4, n_basis_factor)
    thetas = rng.uniform(-1.5, 1.5, size=(50, 3))
    gradients = morpher.calculate_morphing_weight_gradient(thetas)
    step = 1e-5
    for i in range(3):
        shift = np.zeros(3)
        shift[i] = step
        numeric = (
            morpher.calculate_morphing_weights(thetas + shift)
            - morpher.calculate_morphing_weights(thetas - shift)
        ) / (2 * step)
        np.testing.assert_allclose(gradients[:, i, :], numeric, rtol=1e-6, atol=1e-6)


def test_gradient_at_zero_is_finite_and_exact():
    morpher = PhysicsMorpher(parameter_max_power=[2, 2])
    morpher.find_components(2)
    # d/dtheta_0 of [1, t1, t1^2, t0, t0 t1, t0^2] at (0, 3) is [0, 0, 0, 1, 3, 0]
    from motherlode.morphing import component_weight_gradients

    gradient = component_weight_gradients(np.array([0.0, 3.0]), morpher.components)
    np.testing.assert_array_equal(gradient[0], [0, 0, 0, 1, 3, 0])
    np.testing.assert_array_equal(gradient[1], [0, 1, 6, 0, 0, 0])


def test_vectorised_equals_per_point_loop():
    rng = np.random.default_rng(3)
    morpher, *_ = random_polynomial_setup(rng, [2, 2], 2, 1)
    thetas = rng.uniform(-1, 1, size=(30, 2))
    weights = morpher.calculate_morphing_weights(thetas)
    gradients = morpher.calculate_morphing_weight_gradient(thetas)
    for theta, w, g in zip(thetas, weights, gradients, strict=True):
        np.testing.assert_allclose(morpher.calculate_morphing_weights(theta), w, rtol=1e-13)
        np.testing.assert_allclose(morpher.calculate_morphing_weight_gradient(theta), g, rtol=1e-13)


def test_weights_sum_to_one_when_constant_is_a_component():
    rng = np.random.default_rng(5)
    morpher, *_ = random_polynomial_setup(rng, [2, 2], 2, 2)
    weights = morpher.calculate_morphing_weights(rng.uniform(-1, 1, size=(10, 2)))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-12)


def test_overcomplete_basis_has_smaller_weights_than_any_square_subset():
    rng = np.random.default_rng(11)
    morpher, components, basis, _ = random_polynomial_setup(rng, [2, 2], 2, 2)
    thetas = rng.uniform(-1, 1, size=(500, 2))
    overcomplete = np.sum(morpher.calculate_morphing_weights(thetas) ** 2, axis=1)
    square = PhysicsMorpher(parameter_max_power=[2, 2])
    square.set_components(components)
    square.set_basis(basis_numpy=basis[: len(components)])
    subset = np.sum(square.calculate_morphing_weights(thetas) ** 2, axis=1)
    # minimum-norm weights: never larger, pointwise, than any other exact solution
    assert np.all(overcomplete <= subset * (1 + 1e-12))
    assert np.mean(overcomplete) < 0.9 * np.mean(subset)


def test_optimised_basis_beats_random_bases():
    morpher = PhysicsMorpher(parameter_max_power=[2, 2], parameter_range=[(-1.0, 1.0), (-2.0, 2.0)])
    morpher.find_components(2)
    morpher.optimize_basis(n_trials=200, n_test_thetas=200, random_state=1)
    test_thetas = morpher.draw_random_thetas(5000, random_state=99)  # independent of the optimisation
    optimised = -morpher.evaluate_morphing(test_thetas=test_thetas)
    rng = np.random.default_rng(2)
    random_scores = []
    for _ in range(200):
        basis = morpher.draw_random_thetas(6, random_state=rng)
        try:
            matrix = morpher.calculate_morphing_matrix(basis)
        except MorphingError:
            continue
        random_scores.append(-morpher.evaluate_morphing(morphing_matrix=matrix, test_thetas=test_thetas))
    assert optimised < np.percentile(random_scores, 5)


def test_optimisation_is_reproducible_and_keeps_fixed_points():
    def run(seed):
        morpher = PhysicsMorpher(parameter_max_power=[2, 2], parameter_range=[(-1.0, 1.0), (-1.0, 1.0)])
        morpher.find_components(2)
        return morpher.optimize_basis(
            benchmarks_numpy=[[0.0, 0.0], [1.0, 0.0]], n_trials=20, random_state=seed
        )

    first, again, other = run(4), run(4), run(5)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    np.testing.assert_array_equal(first[:2], [[0.0, 0.0], [1.0, 0.0]])
    assert first.shape == (6, 2)


def test_n_bases_two_gives_overcomplete_basis():
    morpher = PhysicsMorpher(parameter_max_power=[2], parameter_range=[(-1.0, 1.0)])
    morpher.find_components(2)
    basis = morpher.optimize_basis(n_bases=2, n_trials=50, random_state=0)
    assert basis.shape == (6, 1)
    assert morpher.morphing_matrix.shape == (3, 6)


@pytest.mark.parametrize(
    "basis",
    [
        [[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5]],  # a repeated point
        [[t, 2 * t] for t in (-1.0, -0.5, 0.0, 0.5, 1.0, 2.0)],  # six points on a line
    ],
)
def test_singular_basis_raises_with_condition_number(basis):
    morpher = PhysicsMorpher(parameter_max_power=[2, 2])
    morpher.find_components(2)
    with pytest.raises(MorphingError, match="condition number") as info:
        morpher.set_basis(basis_numpy=basis)
    assert info.value.condition_number > 1e12


def test_too_few_basis_points_raise():
    morpher = PhysicsMorpher(parameter_max_power=[2])
    morpher.find_components(2)
    with pytest.raises(MorphingError, match="at least 3"):
        morpher.set_basis(basis_numpy=[[0.0], [1.0]])


def test_theta_with_wrong_shape_raises():
    with pytest.raises(InputError, match="n_parameters = 2"):
        madminer_reference_morpher().calculate_morphing_weights(np.array([1.0, 2.0, 3.0]))


def test_stored_matrix_restricts_basis_to_its_columns():
    morpher = PhysicsMorpher(parameter_max_power=[2])
    morpher.find_components(2)
    reference = PhysicsMorpher(parameter_max_power=[2])
    reference.find_components(2)
    reference.set_basis(basis_numpy=[[0.0], [1.0], [-1.0]])
    morpher.set_basis(basis_numpy=[[0.0], [1.0], [-1.0], [0.3]], morphing_matrix=reference.morphing_matrix)
    assert morpher.n_benchmarks == 3
    np.testing.assert_allclose(morpher.calculate_morphing_weights([0.5]), [0.75, 0.375, -0.125])


# ---------------------------------------------------------------------------- nuisance morphing


def nuisance_setup():
    parameters = {
        "scale": NuisanceParameter("scale", "scale_sys", "scale_up", "scale_down"),
        "norm": NuisanceParameter("norm", "norm_sys", "norm_up", None),
    }
    names = ["sm", "bsm", "scale_up", "scale_down", "norm_up"]
    rng = np.random.default_rng(0)
    reference = rng.uniform(0.5, 2.0, size=100)
    weights = np.column_stack(
        [
            reference,
            rng.uniform(0.5, 2.0, size=100),
            reference * rng.uniform(1.0, 1.3, size=100),
            reference * rng.uniform(0.7, 1.0, size=100),
            reference * 1.1,
        ]
    )
    return NuisanceMorpher(parameters, names, "sm"), weights


def test_nuisance_factors_reproduce_the_benchmarks():
    morpher, weights = nuisance_setup()
    reference = weights[:, 0]
    np.testing.assert_allclose(
        morpher.calculate_nuisance_factors(np.array([1.0, 0.0]), weights), weights[:, 2] / reference
    )
    np.testing.assert_allclose(
        morpher.calculate_nuisance_factors(np.array([-1.0, 0.0]), weights), weights[:, 3] / reference
    )
    np.testing.assert_allclose(morpher.calculate_nuisance_factors(np.array([0.0, 1.0]), weights), 1.1)
    np.testing.assert_allclose(morpher.calculate_nuisance_factors(None, weights), 1.0)


def test_nuisance_factors_follow_the_exponential_model():
    morpher, weights = nuisance_setup()
    reference = weights[:, 0]
    nu = np.array([0.7, -1.3])
    a = 0.5 * np.log(weights[:, 2] / weights[:, 3])
    b = 0.5 * np.log(weights[:, 2] * weights[:, 3] / reference**2)
    expected = np.exp(a * 0.7 + b * 0.49 + np.log(1.1) * -1.3)
    np.testing.assert_allclose(morpher.calculate_nuisance_factors(nu, weights), expected, rtol=1e-13)
    np.testing.assert_allclose(morpher.calculate_a(weights), [a, np.full(100, np.log(1.1))], rtol=1e-13)
    np.testing.assert_allclose(morpher.calculate_b(weights), [b, np.zeros(100)], atol=1e-15)


def test_nuisance_gradients_match_finite_differences():
    morpher, weights = nuisance_setup()
    nu = np.array([0.3, 0.8])
    gradients = morpher.calculate_nuisance_factor_gradients(nu, weights)
    log_gradients = morpher.calculate_log_nuisance_factor_gradients(nu, weights)
    step = 1e-6
    for i in range(2):
        shift = np.zeros(2)
        shift[i] = step
        up = morpher.calculate_nuisance_factors(nu + shift, weights)
        down = morpher.calculate_nuisance_factors(nu - shift, weights)
        np.testing.assert_allclose(gradients[i], (up - down) / (2 * step), rtol=1e-7)
        np.testing.assert_allclose(log_gradients[i], (np.log(up) - np.log(down)) / (2 * step), rtol=1e-7)


def test_nuisance_factors_vectorised_over_points():
    morpher, weights = nuisance_setup()
    nus = np.array([[0.1, 0.2], [-1.0, 0.5], [0.0, 0.0]])
    factors = morpher.calculate_nuisance_factors(nus, weights)
    assert factors.shape == (3, 100)
    for nu, row in zip(nus, factors, strict=True):
        np.testing.assert_allclose(morpher.calculate_nuisance_factors(nu, weights), row, rtol=1e-14)
    assert morpher.calculate_nuisance_factor_gradients(nus, weights).shape == (3, 2, 100)


def test_nuisance_coefficients_are_sanitised():
    morpher, weights = nuisance_setup()
    weights[0, 0] = 0.0  # reference weight zero: the log ratio of the one-sided parameter is undefined
    weights[1, 2] = 1e-30 * weights[1, 0]  # log ratio far below -10
    weights[2, 2] = 1e30 * weights[2, 0]  # far above +10
    a = morpher.calculate_a(weights)
    assert a[1, 0] == 0.0
    assert a[0, 1] == -10.0
    assert a[0, 2] == 10.0
    assert np.all(np.abs(a[:, 3:]) < 1.0)  # untouched events keep their values


def test_nuisance_unknown_benchmark_raises():
    parameters = {"n": NuisanceParameter("n", "s", "missing", None)}
    with pytest.raises(InputError, match="'missing'"):
        NuisanceMorpher(parameters, ["sm"], "sm")
