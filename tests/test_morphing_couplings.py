"""The coupling-structure ("new") morphing path of :class:`motherlode.morphing.PhysicsMorpher`.

The ``test_madminer_*`` tests port MadMiner 0.9.6's ``tests/test_morphing.py``, reimplemented:
each is named after the MadMiner test it ports and checks the same thing, with tight tolerances
and real asserts (MadMiner's evaluate_morphing comparison used ``rtol=10 ^ 3``, i.e. 9, and two of
its tests computed ``np.allclose`` without asserting it). ``test_madminer_notebook_*`` runs the
code cells of MadMiner's ``examples/morphing_basis/morphing_example.ipynb`` and compares with the
numbers MadMiner 0.9.6 gives on the same inputs. The remaining tests check exactness on random
coupling structures, the argument checks, and the vectorisation.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging

import numpy as np
import pytest

from motherlode.errors import InputError, MorphingError
from motherlode.morphing import PhysicsMorpher, component_weights, coupling_components

COMPONENTS_NS2 = np.array([[4, 0], [3, 1], [2, 2], [1, 3], [0, 4]])
BASIS_5 = np.array([[1.0, -5.0], [1.0, -4.0], [1.0, -3.0], [1.0, -2.0], [1.0, -1.0]])
GS_5 = BASIS_5.T  # the same points as a shared-coupling basis (n_couplings, n_benchmarks)

# MadMiner 0.9.6's hard-coded morphing matrix of BASIS_5 (6 significant digits), transposed
# to (n_components, n_benchmarks) as in its test.
MADMINER_MATRIX_5 = np.array(
    [
        [1, 2.08333, 1.45833, 0.416667, 0.0416667],
        [-5, -10.1667, -6.83333, -1.83333, -0.166667],
        [10, 19.5, 12.25, 3, 0.25],
        [-10, -17.8333, -9.83333, -2.16667, -0.166667],
        [5, 6.41667, 2.95833, 0.583333, 0.0416667],
    ]
).T

# MadMiner 0.9.6's weight gradients at theta = (1, 1) for BASIS_5 (8 decimals).
MADMINER_GRADIENT_5 = np.array(
    [[13.58333333, -66, 126, -115.33333333, 45.75], [6.41666667, -30, 54, -44.66666667, 14.25]]
)

# MadMiner 0.9.6's hard-coded over-determined matrix of seven points gs_1 = -5..1 (8 decimals).
MADMINER_MATRIX_7 = np.array(
    [
        [-0.04112554, -0.07936508, 0.05681818, 0.06313131, 0.01136364],
        [0.15151515, 0.23412698, -0.21590909, -0.18434343, -0.02651515],
        [-0.14069264, -0.06349206, 0.18560606, 0.05808081, 0.00378788],
        [-0.12987013, -0.33333333, 0.28030303, 0.18181818, 0.02272727],
        [0.33549784, -0.26984127, -0.14772727, 0.00252525, 0.00378788],
        [0.77056277, 0.09920635, -0.54924242, -0.23989899, -0.02651515],
        [0.05411255, 0.41269841, 0.39015152, 0.11868687, 0.01136364],
    ]
).T

# One decay coupling, three production couplings, six benchmarks, and thirteen cross sections
# (of which the first six belong to the benchmarks), as in MadMiner's test_new_weights.
GD_1 = np.array([[1.0, 1, 1, 1, 1, 1]])
GP_3 = np.array(
    [
        [0.7071, 0.7071, 0.7071, 0.7071, 0.7071, 0.7071],
        [0, 4.2426, 0, 4.2426, -4.2426, 0],
        [0, 0, 4.2426, 4.2426, 0, -4.2426],
    ]
)
XSEC_13 = np.array(
    [0.515, 0.732, 0.527, 0.742, 0.354, 0.527, 0.364, 0.742, 0.364, 0.621, 0.432, 0.621, 0.432]
)


def predicted_xsec(xsec: np.ndarray, weights: np.ndarray) -> float:
    """sum_b w_b sigma_b with the products in float32, as MadMiner's test and notebook compute it."""
    products = np.multiply(xsec[: len(weights)], weights, dtype=np.float32)
    return float(sum(products))


def old_morpher(parameter_range=None) -> PhysicsMorpher:
    morpher = PhysicsMorpher(parameter_max_power=[2, 2], parameter_range=parameter_range)
    morpher.set_components(COMPONENTS_NS2)
    morpher.set_basis(basis_numpy=BASIS_5)
    return morpher


def new_morpher(gs=GS_5, parameter_range=None) -> PhysicsMorpher:
    morpher = PhysicsMorpher(parameter_max_power=[2, 2], parameter_range=parameter_range)
    morpher.find_components(Ns=2, Nd=0, Np=0)
    morpher.set_basis(basis_d=None, basis_p=None, basis_s=gs)
    return morpher


# ---------------------------------------------------------------------------- MadMiner's tests


def test_madminer_original_find_components():
    morpher = PhysicsMorpher(parameter_max_power=[2, 2])
    expected = [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2], [2, 0], [2, 1], [2, 2]]
    assert morpher.find_components().tolist() == expected
    assert morpher.find_components(1).tolist() == [[0, 0], [0, 1], [1, 0]]
    assert morpher.coupling_structure is None


def test_madminer_original_set_basis():
    morpher = old_morpher()
    np.testing.assert_array_equal(morpher.basis, BASIS_5)
    np.testing.assert_allclose(morpher.morphing_matrix, MADMINER_MATRIX_5, rtol=1e-5)
    # and the exact inverse behind MadMiner's rounded numbers
    identity = component_weights(BASIS_5, COMPONENTS_NS2) @ morpher.morphing_matrix
    np.testing.assert_allclose(identity, np.eye(5), atol=1e-11)


def test_madminer_original_calculate_matrix():
    morpher = old_morpher()
    np.testing.assert_allclose(morpher.calculate_morphing_matrix(), MADMINER_MATRIX_5, rtol=1e-5)
    weights = morpher.calculate_morphing_weights(theta=[1, 1])
    np.testing.assert_allclose(weights, [5, -24, 45, -40, 15], rtol=1e-11)


def test_madminer_original_weight_gradients():
    gradient = old_morpher().calculate_morphing_weight_gradient(theta=[1, 1])
    assert gradient.shape == (2, 5)
    np.testing.assert_allclose(gradient, MADMINER_GRADIENT_5, rtol=1e-8, atol=1e-8)


def test_madminer_compare_weights():
    old, new = old_morpher(), new_morpher()
    np.testing.assert_array_equal(new.components, COMPONENTS_NS2)
    np.testing.assert_allclose(new.morphing_matrix, old.morphing_matrix, rtol=1e-12, atol=1e-12)
    theta = np.array([1.0, 1.0])
    expected = old.calculate_morphing_weights(theta)
    np.testing.assert_allclose(new.calculate_morphing_weights(theta), expected, rtol=1e-12)
    np.testing.assert_allclose(new.calculate_morphing_weights(theta_s=theta), expected, rtol=1e-12)
    np.testing.assert_allclose(expected, [5, -24, 45, -40, 15], rtol=1e-11)


def test_madminer_overdetermine():
    gs = np.array([[1, 1, 1, 1, 1, 1, 1], [-5, -4, -3, -2, -1, 0, 1]])
    morpher = PhysicsMorpher(parameter_max_power=[4, 4])
    morpher.find_components(Ns=2, Nd=0, Np=0)
    morpher.set_basis(basis_d=None, basis_p=None, basis_s=gs)
    matrix = morpher.calculate_morphing_matrix()
    assert matrix.shape == (5, 7)
    np.testing.assert_allclose(matrix, MADMINER_MATRIX_7, rtol=0, atol=1e-8)
    np.testing.assert_allclose(morpher.morphing_matrix, matrix, rtol=1e-14)
    # an exact left inverse with minimum norm: the pseudo-inverse
    np.testing.assert_allclose(matrix @ component_weights(gs.T, COMPONENTS_NS2), np.eye(5), atol=1e-12)
    np.testing.assert_allclose(matrix, np.linalg.pinv(component_weights(gs.T, COMPONENTS_NS2)), atol=1e-12)


def test_madminer_new_find_components():
    morpher = PhysicsMorpher(parameter_max_power=[4, 4])
    np.testing.assert_array_equal(morpher.find_components(Ns=2, Nd=0, Np=0), COMPONENTS_NS2)
    assert morpher.coupling_structure == (0, 0, 2)
    assert morpher.find_components(Ns=0, Nd=1, Np=1).tolist() == [[2, 2]]
    assert morpher.find_components(Ns=1, Nd=0, Np=0).tolist() == [[4]]
    assert morpher.find_components(Ns=0, Nd=2, Np=1).tolist() == [[2, 0, 2], [1, 1, 2], [0, 2, 2]]
    assert morpher.n_components == 3
    # a mixed case, as MadMiner 0.9.6 (sympy) orders it: columns gd_0, gp_0, gp_1, gs_0
    assert morpher.find_components(Nd=1, Np=2, Ns=1).tolist() == [
        [2, 2, 0, 0], [2, 1, 1, 0], [2, 1, 0, 1], [2, 0, 2, 0], [2, 0, 1, 1], [2, 0, 0, 2],
        [1, 2, 0, 1], [1, 1, 1, 1], [1, 1, 0, 2], [1, 0, 2, 1], [1, 0, 1, 2], [1, 0, 0, 3],
        [0, 2, 0, 2], [0, 1, 1, 2], [0, 1, 0, 3], [0, 0, 2, 2], [0, 0, 1, 3], [0, 0, 0, 4],
    ]  # fmt: skip


# SHA-256 of json.dumps(components.tolist()) of MadMiner 0.9.6's find_components (sympy), for
# groups with more than ten couplings (where a name order would put gd10 before gd2).
MADMINER_COMPONENT_DIGESTS = {
    (12, 0, 0, float("inf")): (78, "df7a4b12e7212607a5f8b88a9554619b42c8952d7733066864b877207679e986"),
    (0, 11, 1, float("inf")): (78, "f8ba3f7ee53e006253824dc346b6336b09088a223ff2641eb7e49bcc291dced8"),
    (11, 2, 0, 1): (112, "e43ecb754edeba2d1e7eb93ded43359e7874bed0edf44b584eae650378e91c04"),
    (1, 1, 12, 1): (1252, "f92f7982202166e1d1dd40eed316acc8d3223cea064bed326833711df639ac7a"),
    (3, 12, 2, float("inf")): (1505, "18bae4b4d7b6dc9ad9126b788a8066b6e90bcc93af205dbb0021ba52d65e22bd"),
    (2, 3, 1, 2): (60, "6559ac70aa205824838cf3b3d6c4f94b88b7e5b276434f5bed349e55ac3a1eba"),
}


@pytest.mark.parametrize(("structure", "expected"), list(MADMINER_COMPONENT_DIGESTS.items()))
def test_madminer_find_components_order_for_many_couplings(structure, expected):
    n_d, n_p, n_s, bsm = structure
    components = PhysicsMorpher(parameter_max_power=[4, 4]).find_components(
        Nd=n_d, Np=n_p, Ns=n_s, BSM_max_power=bsm
    )
    digest = hashlib.sha256(json.dumps(components.tolist()).encode()).hexdigest()
    assert (len(components), digest) == expected


def expand_structure(n_d: int, n_p: int, n_s: int) -> set[tuple[int, ...]]:
    """Exponent vectors of (sum gp + sum gs)^2 (sum gd + sum gs)^2 by multiplying out monomials."""
    n = n_d + n_p + n_s
    production = list(range(n_d, n))
    decay = list(range(n_d)) + list(range(n_d + n_p, n))
    found = set()
    for pair_p in itertools.combinations_with_replacement(production, 2) if production else [()]:
        for pair_d in itertools.combinations_with_replacement(decay, 2) if decay else [()]:
            exponents = [0] * n
            for column in (*pair_p, *pair_d):
                exponents[column] += 1
            found.add(tuple(exponents))
    return found


@pytest.mark.parametrize(("n_d", "n_p", "n_s"), [s for s in itertools.product(range(4), repeat=3) if any(s)])
def test_coupling_components_are_the_monomials_in_descending_lex_order(n_d, n_p, n_s):
    components = PhysicsMorpher(parameter_max_power=[4]).find_components(Nd=n_d, Np=n_p, Ns=n_s)
    assert {tuple(row) for row in components.tolist()} == expand_structure(n_d, n_p, n_s)
    rows = [tuple(row) for row in components.tolist()]
    assert rows == sorted(rows, reverse=True)
    degree = 2 * (n_p + n_s > 0) + 2 * (n_d + n_s > 0)
    assert np.all(components.sum(axis=1) == degree)


def test_madminer_compare_weight_gradients():
    old, new = old_morpher(), new_morpher()
    theta = [1, 1]
    np.testing.assert_allclose(
        new.calculate_morphing_weight_gradient(theta=theta),
        old.calculate_morphing_weight_gradient(theta=theta),
        rtol=1e-12,
        atol=1e-10,
    )
    np.testing.assert_allclose(new.calculate_morphing_weight_gradient(theta), MADMINER_GRADIENT_5, rtol=1e-8)


def test_madminer_evaluate_morphing():
    ranges = [(-1.0, 1.0), (-1.0, 1.0)]
    old, new = old_morpher(ranges), new_morpher(parameter_range=ranges)
    old_thetas, old_squared = old.evaluate_morphing(
        basis=BASIS_5, return_weights_and_thetas=True, random_state=3
    )
    new_thetas, new_squared = new.evaluate_morphing(
        basis=BASIS_5, return_weights_and_thetas=True, random_state=3
    )
    np.testing.assert_array_equal(new_thetas, old_thetas)  # the same test points
    assert new_squared.shape == (100,)
    np.testing.assert_allclose(new_squared, old_squared, rtol=1e-12)
    # the stored coupling basis gives the same, and the score is minus the mean
    score = new.evaluate_morphing(random_state=3)
    assert score == pytest.approx(-np.mean(old_squared), rel=1e-12)
    assert score == pytest.approx(old.evaluate_morphing(random_state=3), rel=1e-12)
    # ... which is sum_b w_b^2 at those points
    weights = old.calculate_morphing_weights(old_thetas)
    np.testing.assert_allclose(old_squared, np.sum(weights**2, axis=1), rtol=1e-13)
    assert np.all(np.abs(old_thetas) <= 1.0)


def test_madminer_new_weights():
    morpher = PhysicsMorpher(parameter_max_power=[4, 4])
    morpher.find_components(Nd=1, Np=3, Ns=0)
    morpher.set_basis(basis_d=GD_1, basis_p=GP_3, basis_s=None)
    weights = morpher.calculate_morphing_weights(theta_d=[1], theta_p=[0.7071, 0, 0])
    # the point is the first benchmark: its weight is 1, all others 0
    np.testing.assert_allclose(weights, np.eye(6)[0], atol=1e-12)
    assert predicted_xsec(XSEC_13, weights) == pytest.approx(XSEC_13[0], rel=1e-6)
    assert float(weights @ XSEC_13[:6]) == pytest.approx(XSEC_13[0], rel=1e-12)


def test_madminer_find_components_BSM():
    morpher = PhysicsMorpher(parameter_max_power=[4, 4])
    # columns gd_0, gd_1, gp_0: gd_1 is the only BSM coupling
    assert morpher.find_components(Ns=0, Nd=2, Np=1, BSM_max_power=0).tolist() == [[2, 0, 2]]
    # columns gd_0, gd_1, gs_0, gs_1: gd_1 and gs_1 are BSM (MadMiner's expected value, which its
    # test computed without asserting; MadMiner 0.9.6 does return it)
    assert morpher.find_components(Ns=2, Nd=2, Np=0, BSM_max_power=0).tolist() == [
        [2, 0, 2, 0],
        [1, 0, 3, 0],
        [0, 0, 4, 0],
    ]
    # each BSM coupling is limited on its own, not their sum: gd_1 gs_1 (and gd_1 gs_1^3) stay at 1
    limited = morpher.find_components(Ns=2, Nd=2, Np=0, BSM_max_power=1)
    assert np.all(limited[:, [1, 3]] <= 1)
    assert [1, 1, 1, 1] in limited.tolist()
    assert [0, 1, 2, 1] in limited.tolist()
    assert len(limited) == len([row for row in expand_structure(2, 0, 2) if row[1] <= 1 and row[3] <= 1])
    with pytest.raises(InputError, match="BSM_max_power"):
        morpher.find_components(Nd=2, Np=1, BSM_max_power=-1)


def test_madminer_get_min_basis():
    morpher = PhysicsMorpher(parameter_max_power=[4, 4])
    assert morpher.get_min_basis(Nd=2, Np=1) == 3
    assert morpher.get_min_basis(Ns=2) == 5
    assert isinstance(morpher.get_min_basis(Ns=2), int)


@pytest.mark.parametrize(("n_d", "n_p", "n_s"), [s for s in itertools.product(range(5), repeat=3) if any(s)])
def test_get_min_basis_is_the_number_of_components(n_d, n_p, n_s):
    morpher = PhysicsMorpher(parameter_max_power=[4, 4])
    n_min = morpher.get_min_basis(Ns=n_s, Np=n_p, Nd=n_d)
    assert n_min == len(morpher.find_components(Nd=n_d, Np=n_p, Ns=n_s))
    if n_s or (n_p and n_d):  # MadMiner's float formula, where it applies
        madminer = (
            n_s * (n_s + 1) * (n_s + 2) * ((n_s + 3) + 4 * (n_p + n_d)) / 24
            + (n_s * (n_s + 1) * n_p * (n_p + 1) + n_s * (n_s + 1) * n_d * (n_d + 1)
               + n_p * (n_p + 1) * n_d * (n_d + 1)) / 4
            + n_s * n_p * n_d * (n_s + n_p + n_d + 3) / 2
        )  # fmt: skip
        assert n_min == madminer


# ---------------------------------------------------------------------------- MadMiner's notebook

XSEC_SIMULATED = np.array([0.759, 0.53, 0.4, 0.335, 0.316, 0.316, 0.328, 0.34, 0.354, 0.364])

# Outputs of MadMiner 0.9.6 on the notebook's inputs (examples/morphing_basis/morphing_example.ipynb).
MADMINER_NOTEBOOK = {
    "n_base_5": 0.41500043869018555,
    "n_base_6": 0.3191666603088379,
    "predicted_13": 0.4310000017285347,
    "weights_6": [0.8333333333333337, -3.16666666666666, 3.333333333333298, 1.6666666666667347,
                  -5.833333333333411, 4.166666666666811],
    "weights_13": [0.24999999999999978, 0.12500000000000028, 0.6250000000000002, -0.2499999999999998,
                   0.37499999999999956, -0.1250000000000001],
    "matrix_6": [
        [0.00396825396825311, -0.01984126984126552, 0.03968253968253092, -0.03968253968253075,
         0.01984126984126502, 0.9960317460317483],
        [0.26455026455026437, -1.0727513227513186, 1.3121693121692954, 0.35449735449738373,
         -2.6772486772487083, 1.8187830687831181],
        [0.38194444444444536, -1.4513888888888895, 1.4861111111111027, 0.9305555555555785,
         -2.423611111111142, 1.076388888888953],
        [0.1620370370370375, -0.5601851851851862, 0.45370370370370244, 0.37962962962963603,
         -0.6898148148148247, 0.25462962962965513],
        [0.02083333333333341, -0.06250000000000022, 0.0416666666666667, 0.04166666666666728,
         -0.06250000000000112, 0.02083333333333642],
    ],
    # morpher_3's 6 x 6 matrix; MadMiner's entries below 1e-15 are rounding noise, set to 0 here
    "matrix_13": [
        [4.0001534444145834, 0, 0, 0, 0, 0],
        [0, 0.33334612036788175, 0, 0, -0.33334612036788169, 0],
        [0, 0, 0.33334612036788192, 0, 0, -0.33334612036788180],
        [-0.11111537345596062, 0.055557686727980587, 0, 0, 0.055557686727980019, 0],
        [0.11111537345596074, -0.11111537345596069, -0.11111537345596074, 0.11111537345596055, 0, 0],
        [-0.11111537345596068, 0, 0.055557686727980025, 0, 0, 0.055557686727980581],
    ],
    "components_bsm_1": [[2, 0, 0, 2], [1, 1, 0, 2], [1, 0, 1, 2], [0, 1, 1, 2]],
    "components": [[2, 0, 0, 2], [1, 1, 0, 2], [1, 0, 1, 2], [0, 2, 0, 2], [0, 1, 1, 2], [0, 0, 2, 2]],
}  # fmt: skip


def test_madminer_notebook_regular_and_overdetermined_prediction():
    morpher_1 = PhysicsMorpher(parameter_max_power=[2, 2])
    assert len(morpher_1.find_components()) == 9
    assert morpher_1.get_min_basis(Ns=2) == 5
    morpher_1.set_components(COMPONENTS_NS2)
    morpher_1.set_basis(basis_numpy=BASIS_5)
    weights_5 = morpher_1.calculate_morphing_weights(theta=[1, 1])
    n_base_5 = predicted_xsec(XSEC_SIMULATED, weights_5)

    morpher_2 = PhysicsMorpher(parameter_max_power=[2, 2])
    morpher_2.set_components(COMPONENTS_NS2)
    gs = np.array([[1, 1, 1, 1, 1, 1], [-5, -4, -3, -2, -1, 0]])
    morpher_2.set_basis(basis_d=None, basis_p=None, basis_s=gs)
    matrix_6 = morpher_2.calculate_morphing_matrix()
    weights_6 = morpher_2.calculate_morphing_weights(theta=[1, 1])
    n_base_6 = predicted_xsec(XSEC_SIMULATED, weights_6)

    np.testing.assert_allclose(matrix_6, MADMINER_NOTEBOOK["matrix_6"], rtol=0, atol=1e-11)
    np.testing.assert_allclose(weights_6, MADMINER_NOTEBOOK["weights_6"], rtol=1e-11)
    # float32 products: equal to MadMiner's up to float32 rounding of slightly different weights
    assert n_base_5 == pytest.approx(MADMINER_NOTEBOOK["n_base_5"], rel=1e-6)
    assert n_base_6 == pytest.approx(MADMINER_NOTEBOOK["n_base_6"], rel=1e-6)
    # in float64 the predictions are the exact fractions
    assert float(weights_5 @ XSEC_SIMULATED[:5]) == pytest.approx(0.415, rel=1e-12)
    assert float(weights_6 @ XSEC_SIMULATED[:6]) == pytest.approx(1.915 / 6, rel=1e-12)
    # one more basis point brings the prediction closer to the simulated value at (1, 1)
    simulated = XSEC_SIMULATED[6]
    assert abs(n_base_6 - simulated) < 0.25 * abs(n_base_5 - simulated)


def test_madminer_notebook_three_decay_one_production_coupling():
    gd = np.array(
        [
            [0.7071, 0.7071, 0.7071, 0.7071, 0.7071, 0.7071],
            [0, 4.2426, 0, 4.2426, -4.2426, 0],
            [0, 0, 4.2426, 4.2426, 0, -4.2426],
        ]
    )
    gp = np.array([[0.7071, 0.7071, 0.7071, 0.7071, 0.7071, 0.7071]])
    morpher_3 = PhysicsMorpher(parameter_max_power=[4, 4])
    components_bsm = morpher_3.find_components(Nd=3, Np=1, Ns=0, BSM_max_power=1)
    assert components_bsm.tolist() == MADMINER_NOTEBOOK["components_bsm_1"]
    components = morpher_3.find_components(Nd=3, Np=1, Ns=0)
    assert components.tolist() == MADMINER_NOTEBOOK["components"]
    morpher_3.set_basis(basis_d=gd, basis_p=gp, basis_s=None)
    np.testing.assert_allclose(
        morpher_3.calculate_morphing_matrix(), MADMINER_NOTEBOOK["matrix_13"], rtol=1e-12, atol=1e-14
    )
    weights = morpher_3.calculate_morphing_weights(
        theta_d=[0.7071, -3 * 0.7071, 3 * 0.7071], theta_p=[0.7071]
    )
    np.testing.assert_allclose(weights, MADMINER_NOTEBOOK["weights_13"], rtol=1e-12)
    np.testing.assert_allclose(weights, [1 / 4, 1 / 8, 5 / 8, -1 / 4, 3 / 8, -1 / 8], rtol=1e-12)
    prediction = predicted_xsec(XSEC_13, weights)
    assert prediction == pytest.approx(MADMINER_NOTEBOOK["predicted_13"], rel=1e-7)
    assert float(weights @ XSEC_13[:6]) == pytest.approx(0.431, rel=1e-12)
    assert prediction == pytest.approx(XSEC_13[-1], abs=2e-3)  # the 13th, simulated value 0.432
    # the same point as one theta over the columns gd_0, gd_1, gd_2, gp_0
    theta = np.array([0.7071, -3 * 0.7071, 3 * 0.7071, 0.7071])
    np.testing.assert_allclose(morpher_3.calculate_morphing_weights(theta), weights, rtol=1e-13)


# ---------------------------------------------------------------------------- exactness


STRUCTURES = [(1, 2, 0), (2, 1, 1), (0, 0, 3), (1, 1, 2), (2, 2, 0), (3, 0, 1), (0, 3, 0)]


def random_structure_setup(structure, extra_points, seed):
    n_d, n_p, n_s = structure
    rng = np.random.default_rng(seed)
    morpher = PhysicsMorpher(parameter_max_power=[4])
    components = morpher.find_components(Nd=n_d, Np=n_p, Ns=n_s)
    n_benchmarks = len(components) + extra_points
    groups = [rng.uniform(-1.5, 1.5, size=(n, n_benchmarks)) if n else None for n in structure]
    morpher.set_basis(basis_d=groups[0], basis_p=groups[1], basis_s=groups[2])
    alpha = rng.normal(size=len(components))  # one "event": a random polynomial of the structure
    return morpher, components, groups, alpha, rng


@pytest.mark.parametrize("structure", STRUCTURES)
@pytest.mark.parametrize("extra_points", [0, 4])
def test_coupling_morphing_reproduces_random_polynomials(structure, extra_points):
    morpher, components, groups, alpha, rng = random_structure_setup(structure, extra_points, 17)
    basis = np.concatenate([g for g in groups if g is not None]).T
    sigma_at_basis = component_weights(basis, components) @ alpha
    thetas = rng.uniform(-2.0, 2.0, size=(300, sum(structure)))
    terms = component_weights(thetas, components) * alpha
    truth, scale = terms.sum(axis=1), np.abs(terms).sum(axis=1)
    split = np.split(thetas, np.cumsum(structure)[:2], axis=1)
    names = ("theta_d", "theta_p", "theta_s")
    pieces = {name: part for name, part, n in zip(names, split, structure, strict=True) if n}
    for weights in (
        morpher.calculate_morphing_weights(thetas),
        morpher.calculate_morphing_weights(**pieces),
    ):
        assert weights.shape == (300, morpher.n_benchmarks)
        assert np.max(np.abs(weights @ sigma_at_basis - truth) / scale) < 1e-9


@pytest.mark.parametrize("structure", [(1, 2, 0), (2, 1, 1), (1, 1, 2)])
@pytest.mark.parametrize("extra_points", [0, 3])
def test_coupling_gradients_match_finite_differences(structure, extra_points):
    morpher, *_, rng = random_structure_setup(structure, extra_points, 5)
    n_columns = sum(structure)
    thetas = rng.uniform(-1.5, 1.5, size=(40, n_columns))
    gradients = morpher.calculate_morphing_weight_gradient(thetas)
    assert gradients.shape == (40, n_columns, morpher.n_benchmarks)
    step = 1e-6
    for i in range(n_columns):
        shift = np.zeros(n_columns)
        shift[i] = step
        up = morpher.calculate_morphing_weights(thetas + shift)
        down = morpher.calculate_morphing_weights(thetas - shift)
        numeric = (up - down) / (2 * step)
        scale = np.max(np.abs(gradients[:, i, :]), axis=1, keepdims=True)
        np.testing.assert_allclose(gradients[:, i, :] / scale, numeric / scale, atol=1e-6)


def test_overdetermined_coupling_weights_have_minimum_norm():
    morpher, components, groups, _, rng = random_structure_setup((1, 2, 0), 5, 9)
    thetas = rng.uniform(-1.0, 1.0, size=(200, 3))
    full = morpher.calculate_morphing_weights(thetas)
    square = PhysicsMorpher(parameter_max_power=[4])
    square.find_components(Nd=1, Np=2)
    n = len(components)
    square.set_basis(basis_d=groups[0][:, :n], basis_p=groups[1][:, :n])
    subset = square.calculate_morphing_weights(thetas)
    assert np.all(np.sum(full**2, axis=1) <= np.sum(subset**2, axis=1) * (1 + 1e-12))


# ---------------------------------------------------------------------------- arguments and errors


def test_mismatched_numbers_of_benchmarks_name_the_groups():
    morpher = PhysicsMorpher(parameter_max_power=[4, 4])
    morpher.find_components(Nd=1, Np=3)
    with pytest.raises(InputError, match=r"basis_d has 5.*basis_p has 6"):
        morpher.set_basis(basis_d=GD_1[:, :5], basis_p=GP_3)


def test_group_sizes_must_match_the_coupling_structure():
    morpher = PhysicsMorpher(parameter_max_power=[4, 4])
    morpher.find_components(Nd=1, Np=3)
    with pytest.raises(InputError, match=r"basis_p has 2 couplings.*Np=3"):
        morpher.set_basis(basis_d=GD_1, basis_p=GP_3[:2])
    with pytest.raises(InputError, match=r"basis_d is missing.*Nd=1"):
        morpher.set_basis(basis_p=GP_3)
    # components set by hand: only the total number of columns is known
    by_hand = PhysicsMorpher(parameter_max_power=[4, 4])
    by_hand.set_components(COMPONENTS_NS2)
    with pytest.raises(InputError, match=r"1\+0\+2 = 3 couplings.*2 columns"):
        by_hand.set_basis(basis_d=GD_1[:, :5], basis_s=GS_5)
    with pytest.raises(InputError, match="not both"):
        by_hand.set_basis(basis_numpy=BASIS_5, basis_s=GS_5)
    assert by_hand.basis is None and by_hand.gs is None  # nothing stored by failed calls


def test_theta_groups_are_checked():
    morpher = PhysicsMorpher(parameter_max_power=[4, 4])
    morpher.find_components(Nd=1, Np=3)
    morpher.set_basis(basis_d=GD_1, basis_p=GP_3)
    with pytest.raises(InputError, match=r"theta_p is missing.*3 production"):
        morpher.calculate_morphing_weights(theta_d=[1.0])
    with pytest.raises(InputError, match=r"theta_p must have shape \(3,\)"):
        morpher.calculate_morphing_weights(theta_d=[1.0], theta_p=[1.0, 0.0])
    with pytest.raises(InputError, match="not both"):
        morpher.calculate_morphing_weights(theta=[1, 0, 0, 0], theta_d=[1.0])
    with pytest.raises(InputError, match=r"one entry per coupling.*\(4,\)"):
        morpher.calculate_morphing_weights([1.0, 0.7])  # n_parameters is 2, the couplings are 4
    with pytest.raises(InputError, match="No parameter point"):
        morpher.calculate_morphing_weights()
    with pytest.raises(InputError, match="incompatible numbers of points"):
        morpher.calculate_morphing_weights(theta_d=np.ones((3, 1)), theta_p=np.ones((4, 3)))


def test_split_thetas_broadcast_and_vectorise():
    morpher = PhysicsMorpher(parameter_max_power=[4, 4])
    morpher.find_components(Nd=1, Np=3)
    morpher.set_basis(basis_d=GD_1, basis_p=GP_3)
    theta_p = np.random.default_rng(0).uniform(-1, 1, size=(7, 3))
    weights = morpher.calculate_morphing_weights(theta_d=[0.8], theta_p=theta_p)
    assert weights.shape == (7, 6)
    joined = np.column_stack([np.full(7, 0.8), theta_p])
    np.testing.assert_allclose(weights, morpher.calculate_morphing_weights(joined), rtol=1e-14)
    for row, theta in zip(weights, joined, strict=True):
        np.testing.assert_allclose(row, morpher.calculate_morphing_weights(theta), rtol=1e-13)


def test_ill_conditioned_coupling_basis_warns_then_raises(caplog):
    morpher = PhysicsMorpher(parameter_max_power=[4, 4])
    morpher.find_components(Np=1, Ns=1)
    gs = np.ones((1, 3))
    with caplog.at_level(logging.WARNING, logger="motherlode.morphing"):
        morpher.set_basis(basis_p=[[1.0, 1.0 + 1e-5, 1.0 + 2e-5]], basis_s=gs)
    assert "poorly conditioned" in caplog.text
    assert 1e8 < morpher.condition_number < 1e12
    with pytest.raises(MorphingError, match="condition number") as info:
        morpher.set_basis(basis_p=[[1.0, 1.0 + 1e-8, 1.0 + 2e-8]], basis_s=gs)
    assert info.value.condition_number > 1e12
    with pytest.raises(MorphingError, match="at least 3"):
        morpher.set_basis(basis_p=[[1.0, 2.0]], basis_s=[[1.0, 1.0]])


def test_explicit_couplings_override_stored_groups():
    morpher = PhysicsMorpher(parameter_max_power=[4, 4])
    morpher.find_components(Nd=1, Np=3)
    morpher.set_basis(basis_d=GD_1, basis_p=GP_3)
    gd_new = np.array([[1.0, 1.5, 0.5, 2.0, 1.2, 0.8]])
    reference = PhysicsMorpher(parameter_max_power=[4, 4])
    reference.find_components(Nd=1, Np=3)
    reference.set_basis(basis_d=gd_new, basis_p=GP_3)
    np.testing.assert_allclose(
        morpher.calculate_morphing_matrix(gd=gd_new), reference.morphing_matrix, rtol=1e-12
    )
    theta = [0.9, 0.7, 0.3, -0.2]
    np.testing.assert_allclose(
        morpher.calculate_morphing_weights(theta, gd=gd_new),
        reference.calculate_morphing_weights(theta),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        morpher.calculate_morphing_weight_gradient(theta, gd=gd_new),
        reference.calculate_morphing_weight_gradient(theta),
        rtol=1e-12,
    )
    with pytest.raises(InputError, match="not both"):
        morpher.calculate_morphing_matrix(basis=np.ones((6, 4)), gd=gd_new)


def test_evaluate_morphing_draws_couplings_in_the_basis_ranges():
    # parameter_range has 2 entries, the coupling structure 4 columns: the test points are drawn in
    # the range each coupling spans over the basis
    morpher = PhysicsMorpher(parameter_max_power=[4, 4], parameter_range=[(-1.0, 1.0), (-1.0, 1.0)])
    morpher.find_components(Nd=1, Np=3)
    morpher.set_basis(basis_d=GD_1, basis_p=GP_3)
    thetas, squared = morpher.evaluate_morphing(
        n_test_thetas=50, return_weights_and_thetas=True, random_state=1
    )
    assert thetas.shape == (50, 4)
    assert squared.shape == (50,)
    basis = np.vstack([GD_1, GP_3]).T
    assert np.all(thetas >= basis.min(axis=0)) and np.all(thetas <= basis.max(axis=0))
    assert np.ptp(thetas[:, 2]) > 4.0  # gp_1 spans -4.24 .. 4.24
    np.testing.assert_allclose(squared, np.sum(morpher.calculate_morphing_weights(thetas) ** 2, axis=1))
    assert morpher.evaluate_morphing(n_test_thetas=50, random_state=1) == pytest.approx(-np.mean(squared))
    # explicit test points, and per-coupling ranges when their number matches
    fixed = np.array([[1.0, 0.7071, 0.0, 0.0]])
    assert morpher.evaluate_morphing(test_thetas=fixed) == pytest.approx(-1.0, rel=1e-12)
    matching = PhysicsMorpher(parameter_max_power=[4] * 4, parameter_range=[(0.0, 0.1)] * 4)
    matching.find_components(Nd=1, Np=3)
    matching.set_basis(basis_d=GD_1, basis_p=GP_3)
    thetas, _ = matching.evaluate_morphing(n_test_thetas=20, return_weights_and_thetas=True, random_state=0)
    assert np.all((thetas >= 0.0) & (thetas <= 0.1))


def test_evaluate_morphing_returns_madminer_shapes_in_the_classic_path():
    morpher = PhysicsMorpher(parameter_max_power=[2, 2], parameter_range=[(-1.0, 1.0), (-2.0, 2.0)])
    morpher.find_components(2)
    morpher.optimize_basis(n_trials=5, random_state=0)
    result = morpher.evaluate_morphing(n_test_thetas=30, return_weights_and_thetas=True, random_state=2)
    assert len(result) == 2
    thetas, squared = result
    assert thetas.shape == (30, 2) and squared.shape == (30,)
    np.testing.assert_array_equal(thetas, morpher.draw_random_thetas(30, random_state=2))


def test_optimize_basis_refuses_a_coupling_structure_of_other_size():
    morpher = PhysicsMorpher(parameter_max_power=[4, 4])
    morpher.find_components(Nd=1, Np=3)
    with pytest.raises(InputError, match="coupling structure"):
        morpher.optimize_basis(n_trials=2)


def test_classic_call_forgets_the_coupling_basis():
    morpher = new_morpher()
    assert morpher.gs is not None and morpher.coupling_structure == (0, 0, 2)
    morpher.set_basis(basis_numpy=BASIS_5)
    assert morpher.gd is None and morpher.gp is None and morpher.gs is None
    np.testing.assert_allclose(morpher.calculate_morphing_weights([1, 1]), [5, -24, 45, -40, 15], rtol=1e-11)


def test_coupling_components_function_and_number_checks():
    np.testing.assert_array_equal(coupling_components(0, 0, 2), COMPONENTS_NS2)
    with pytest.raises(InputError, match="not all zero"):
        coupling_components(0, 0, 0)
    morpher = PhysicsMorpher(parameter_max_power=[4, 4])
    with pytest.raises(InputError, match="Np must be a non-negative integer"):
        morpher.find_components(Np=-1, Nd=1)
    with pytest.raises(InputError, match="Ns must be a non-negative integer"):
        morpher.get_min_basis(Ns=1.5)
    assert morpher.get_min_basis() == 0
