"""project_information and profile_information: closed forms, exact error propagation, MadMiner 0.9.6."""

from __future__ import annotations

import logging
import subprocess
import textwrap

import numpy as np
import pytest

from motherlode.errors import InputError
from motherlode.fisherinformation.manipulate import profile_information, project_information

INFO = np.array([[4.0, 2.0, 0.0], [2.0, 2.0, 1.0], [0.0, 1.0, 2.0]])


def random_information(n: int, seed: int) -> np.ndarray:
    """A well-conditioned symmetric positive-definite matrix."""
    a = np.random.default_rng(seed).normal(size=(n, n))
    return a @ a.T + n * np.eye(n)


def symmetric_covariance(n: int, seed: int, scale: float = 1.0) -> np.ndarray:
    """The covariance ``(n, n, n, n)`` of a random symmetric matrix (I_ij and I_ji move together)."""
    perturbations = np.random.default_rng(seed).normal(size=(3 * n * n, n, n))
    perturbations = perturbations + perturbations.transpose(0, 2, 1)
    return scale * np.einsum("kij,kab->ijab", perturbations, perturbations) / len(perturbations)


def schur(information: np.ndarray, kept: list[int]) -> np.ndarray:
    """The profiled information as the inverse of the kept block of the inverse."""
    return np.linalg.inv(np.linalg.inv(information)[np.ix_(kept, kept)])


# ---------------------------------------------------------------------------------- projection


def test_projection_is_the_sub_block_in_the_new_order():
    np.testing.assert_array_equal(project_information(INFO, [2, 0]), [[2.0, 0.0], [0.0, 4.0]])
    np.testing.assert_array_equal(project_information(INFO, [0, 1, 2]), INFO)
    covariance = np.random.default_rng(0).normal(size=(3, 3, 3, 3))
    projected, projected_covariance = project_information(INFO, [2, 0], covariance=covariance)
    expected = np.empty((2, 2, 2, 2))
    index = [2, 0]
    for a, b, c, d in np.ndindex(2, 2, 2, 2):
        expected[a, b, c, d] = covariance[index[a], index[b], index[c], index[d]]
    np.testing.assert_array_equal(projected, [[2.0, 0.0], [0.0, 4.0]])
    np.testing.assert_array_equal(projected_covariance, expected)


# ---------------------------------------------------------------------------------- profiling


def test_profile_closed_forms():
    # keep 0: 4 - (2, 0) [[2, 1], [1, 2]]^-1 (2, 0)^T = 4 - 8/3
    np.testing.assert_allclose(profile_information(INFO, [0]), [[4.0 / 3.0]], rtol=1e-14)
    # keep 0, 1: [[4, 2], [2, 2]] - (0, 1)^T (0, 1) / 2
    np.testing.assert_allclose(profile_information(INFO, [0, 1]), [[4.0, 2.0], [2.0, 1.5]], rtol=1e-14)
    np.testing.assert_allclose(profile_information(INFO, [1, 0]), [[1.5, 2.0], [2.0, 4.0]], rtol=1e-14)
    # nothing to profile: the matrix, reordered
    np.testing.assert_array_equal(profile_information(INFO, [2, 0, 1]), INFO[np.ix_([2, 0, 1], [2, 0, 1])])


def test_profile_is_the_inverse_of_the_kept_block_of_the_inverse():
    information = random_information(5, seed=1)
    for kept in ([3], [4, 1], [0, 2, 3], [2, 0, 4, 1]):
        np.testing.assert_allclose(
            profile_information(information, kept), schur(information, kept), rtol=1e-12
        )


def test_singular_nuisance_block_uses_the_pseudo_inverse(caplog):
    # parameter 2 carries no information at all: profiling it changes nothing
    information = np.array([[2.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    with caplog.at_level(logging.WARNING, logger="motherlode.fisherinformation.manipulate"):
        profiled = profile_information(information, [0])
    np.testing.assert_allclose(profiled, [[1.0]], rtol=1e-12)
    assert "singular" in caplog.text
    regularised = information + np.diag([0.0, 0.0, 1e-9])  # the limit of a tiny constraint
    np.testing.assert_allclose(profile_information(regularised, [0]), profiled, rtol=1e-9)
    with pytest.raises(InputError, match="singular"):
        profile_information(information, [0], covariance=np.zeros((3, 3, 3, 3)))


def test_toy_arguments_change_nothing():
    information, covariance = random_information(4, seed=2), symmetric_covariance(4, seed=3)
    reference = profile_information(information, [1, 3], covariance)
    for other in (
        profile_information(information, [1, 3], covariance, error_propagation_n_ensemble=3),
        profile_information(information, [1, 3], covariance, 10, 0.5),
    ):
        np.testing.assert_array_equal(other[0], reference[0])
        np.testing.assert_array_equal(other[1], reference[1])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: project_information(np.ones((2, 3)), [0]), "square"),
        (lambda: project_information(INFO, [3]), "out of range"),
        (lambda: profile_information(INFO, [-1]), "out of range"),
        (lambda: profile_information(INFO, [0, 0]), "duplicates"),
        (lambda: profile_information(INFO, []), "non-empty"),
        (lambda: profile_information(INFO, [0.5]), "integer"),
        (lambda: profile_information(INFO, [0], covariance=np.zeros((3, 3))), r"\(3, 3, 3, 3\)"),
        (lambda: project_information(INFO, [0], covariance=np.zeros((2, 2, 2, 2))), r"\(3, 3, 3, 3\)"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(InputError, match=match):
        call()


# ---------------------------------------------------------------------------------- covariance


def finite_difference_covariance(information, kept, covariance, step=1e-6):
    """J C J^T with the Jacobian of the profile by central differences in every entry."""
    n, m = len(information), len(kept)
    jacobian = np.empty((m * m, n * n))
    for entry in range(n * n):
        shift = np.zeros(n * n)
        shift[entry] = step
        up = profile_information(information + shift.reshape(n, n), kept)
        down = profile_information(information - shift.reshape(n, n), kept)
        jacobian[:, entry] = ((up - down) / (2 * step)).ravel()
    return (jacobian @ covariance.reshape(n * n, n * n) @ jacobian.T).reshape(m, m, m, m)


def test_covariance_equals_finite_difference_propagation():
    information = random_information(4, seed=4)
    # a general covariance, not only of symmetric matrices: every entry is its own variable
    a = np.random.default_rng(5).normal(size=(16, 16))
    for kept, covariance in (
        ([2, 0], symmetric_covariance(4, seed=6)),
        ([1, 3, 0], (a @ a.T).reshape(4, 4, 4, 4)),
    ):
        profiled, propagated = profile_information(information, kept, covariance)
        expected = finite_difference_covariance(information, kept, covariance)
        np.testing.assert_allclose(profiled, schur(information, kept), rtol=1e-12)
        np.testing.assert_allclose(propagated, expected, rtol=1e-6, atol=1e-9 * np.abs(expected).max())


def test_covariance_equals_monte_carlo_for_small_errors():
    information, kept = random_information(4, seed=7), [3, 1]
    covariance = symmetric_covariance(4, seed=8, scale=1e-6)
    _, propagated = profile_information(information, kept, covariance)
    toys = np.random.default_rng(9).multivariate_normal(
        information.ravel(), covariance.reshape(16, 16), size=20_000, method="eigh"
    )
    inverse_blocks = np.linalg.inv(toys.reshape(-1, 4, 4))[:, kept][:, :, kept]
    profiled_toys = np.linalg.inv(inverse_blocks)
    mc = np.cov(profiled_toys.reshape(len(profiled_toys), -1).T).reshape(2, 2, 2, 2)
    # 20000 toys: statistical precision of about 1-2 % on the (co)variances
    np.testing.assert_allclose(propagated, mc, atol=0.04 * np.abs(mc).max())
    assert np.abs(propagated - mc).max() > 0  # a real comparison, not the same numbers


def test_projected_covariance_is_exact_linear_propagation():
    covariance = symmetric_covariance(3, seed=10)
    _, projected = project_information(INFO, [1, 2], covariance)
    # a projection is linear: its covariance is the sub-block, as the profile without nuisance block
    _, profiled = profile_information(INFO, [1, 2, 0], covariance)
    np.testing.assert_allclose(projected, profiled[:2, :2, :2, :2], rtol=1e-14)


# ---------------------------------------------------------------------------------- MadMiner 0.9.6

MADMINER_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    from madminer.fisherinformation import profile_information, project_information

    data = np.load(sys.argv[1])
    info, cov = data["information"], data["covariance"]
    np.random.seed(11)
    profiled, profiled_cov = profile_information(
        info, [2, 0], covariance=cov, error_propagation_n_ensemble=20000, error_propagation_factor=1e-4
    )
    projected, projected_cov = project_information(info, [2, 0], covariance=cov)
    np.savez(
        sys.argv[2], profiled=profiled, profiled_cov=profiled_cov, projected=projected,
        projected_cov=projected_cov, profiled_plain=profile_information(info, [1]),
    )
    """
)


@pytest.mark.madminer
def test_same_as_madminer(madminer_python, tmp_path):
    information, covariance = random_information(4, seed=12), symmetric_covariance(4, seed=13)
    np.savez(tmp_path / "in.npz", information=information, covariance=covariance)
    script = tmp_path / "profile.py"
    script.write_text(MADMINER_SCRIPT)
    result = subprocess.run(
        [madminer_python, str(script), str(tmp_path / "in.npz"), str(tmp_path / "out.npz")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    theirs = np.load(tmp_path / "out.npz")
    profiled, profiled_cov = profile_information(information, [2, 0], covariance)
    projected, projected_cov = project_information(information, [2, 0], covariance)
    np.testing.assert_allclose(profiled, theirs["profiled"], rtol=1e-12)
    np.testing.assert_allclose(profile_information(information, [1]), theirs["profiled_plain"], rtol=1e-12)
    np.testing.assert_array_equal(projected, theirs["projected"])
    np.testing.assert_array_equal(projected_cov, theirs["projected_cov"])
    # MadMiner's 20000 toys estimate the linear propagation to about 2 %
    np.testing.assert_allclose(profiled_cov, theirs["profiled_cov"], atol=0.05 * np.abs(profiled_cov).max())
