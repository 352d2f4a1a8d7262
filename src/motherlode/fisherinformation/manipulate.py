r"""Projections and profiles of Fisher information matrices.

A Fisher information :math:`I` over parameters of interest :math:`r` and other parameters
:math:`\nu` (nuisance parameters, or parameters one does not care about) has the blocks

.. math:: I = \begin{pmatrix} I_{rr} & I_{r\nu} \\ I_{\nu r} & I_{\nu\nu} \end{pmatrix}.

* :func:`project_information` keeps the block :math:`I_{rr}`: the information on :math:`r` when
  the other parameters are known (fixed at their true values).
* :func:`profile_information` gives the Schur complement
  :math:`I_{rr} - I_{r\nu} I_{\nu\nu}^{-1} I_{\nu r}`: the information on :math:`r` when the
  other parameters are unknown and fitted as well (Appendix A.4 of arXiv:1612.05261); its
  inverse is the :math:`rr` block of :math:`I^{-1}`.

Both also carry a covariance of the matrix entries, with shape ``(n, n, n, n)``, over to the
result. For the profile this is done by exact linear error propagation: :math:`S = L I R` with
:math:`L = (1_{rr}, -I_{r\nu} I_{\nu\nu}^{-1})` and :math:`R = (1_{rr}, -I_{\nu\nu}^{-1} I_{\nu r})^T`,
and the first-order change of the Schur complement is :math:`dS = L\, dI\, R`, so that

.. math:: \mathrm{Cov}(S_{ab}, S_{cd}) = \sum_{ijkl} L_{ai} R_{jb} L_{ck} R_{ld}\,
          \mathrm{Cov}(I_{ij}, I_{kl}).

MadMiner 0.9.6 estimated this covariance from 1000 random toy matrices drawn with the covariance
scaled by ``error_propagation_factor`` (and scaled back); that estimate converges to the linear
propagation above when the factor goes to zero, and carries a statistical error of order
:math:`\sqrt{2/n_\mathrm{toys}}` that the exact propagation does not have.

Examples
--------
>>> import numpy as np
>>> info = np.array([[4.0, 2.0, 0.0], [2.0, 2.0, 1.0], [0.0, 1.0, 2.0]])
>>> project_information(info, [0, 1])
array([[4., 2.],
       [2., 2.]])
>>> profile_information(info, [0])  # 4 - (2, 0) [[2, 1], [1, 2]]^-1 (2, 0)^T = 4 - 8/3
array([[1.333]])
>>> float(1.0 / np.linalg.inv(info)[0, 0])
1.333
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..errors import InputError

__all__ = ["profile_information", "project_information"]

logger = logging.getLogger(__name__)

_RANK_TOLERANCE = 1.0e-12
"""Singular values of the nuisance block below this fraction of the largest count as zero."""


def _check_information(fisher_information: Any, function: str) -> np.ndarray:
    """``fisher_information`` as a square float array, or an :class:`InputError`."""
    information = np.asarray(fisher_information, dtype=float)
    if information.ndim != 2 or information.shape[0] != information.shape[1]:
        raise InputError(
            f"{function}: fisher_information must be a square matrix of shape (n, n), "
            f"got shape {information.shape}"
        )
    return information


def _check_components(remaining_components: Any, n_parameters: int, function: str) -> np.ndarray:
    """``remaining_components`` as an array of distinct indices in ``[0, n_parameters)``."""
    components = np.asarray(remaining_components)
    if components.ndim != 1 or components.size == 0 or components.dtype.kind not in "iu":
        raise InputError(
            f"{function}: remaining_components must be a non-empty list of integer indices, "
            f"got {remaining_components!r}"
        )
    bad = components[(components < 0) | (components >= n_parameters)]
    if bad.size:
        raise InputError(
            f"{function}: remaining_components {bad.tolist()} are out of range for a Fisher information "
            f"with {n_parameters} parameters (valid: 0 to {n_parameters - 1})"
        )
    if np.unique(components).size != components.size:
        raise InputError(f"{function}: remaining_components {components.tolist()} contain duplicates")
    return components.astype(int)


def _check_covariance(covariance: Any, n_parameters: int, function: str) -> np.ndarray:
    """``covariance`` as a float array of shape ``(n, n, n, n)``, or an :class:`InputError`."""
    covariance = np.asarray(covariance, dtype=float)
    expected = (n_parameters,) * 4
    if covariance.shape != expected:
        raise InputError(
            f"{function}: covariance must have shape {expected} (that of the Fisher information, "
            f"twice), got {covariance.shape}"
        )
    return covariance


def project_information(
    fisher_information: Any,
    remaining_components: Any,
    covariance: Any = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Project a Fisher information onto some parameters: keep only their rows and columns.

    This is the information on the kept parameters when all the others are known.

    Parameters
    ----------
    fisher_information : array_like
        The original Fisher information, shape ``(n, n)``.
    remaining_components : list of int
        ``m`` distinct indices ``0 <= remaining_components[i] < n``: the parameters that are kept,
        in their new order. All other parameters are projected out.
    covariance : array_like or None, optional
        Covariance of the entries of the original Fisher information, shape ``(n, n, n, n)``.
        Default None: no covariance is returned.

    Returns
    -------
    projected_fisher_information : numpy.ndarray
        The projected information, shape ``(m, m)``; its ``i``-th row and column are the
        ``remaining_components[i]``-th ones of ``fisher_information``.
    projected_fisher_information_covariance : numpy.ndarray
        The covariance of the projected information, shape ``(m, m, m, m)``; only returned if
        ``covariance`` is not None.

    Raises
    ------
    InputError
        If the shapes do not fit, or an index is out of range or repeated.

    Examples
    --------
    >>> info = np.array([[4.0, 2.0, 0.0], [2.0, 2.0, 1.0], [0.0, 1.0, 2.0]])
    >>> project_information(info, [2, 0])
    array([[2., 0.],
           [0., 4.]])
    """
    function = "project_information"
    information = _check_information(fisher_information, function)
    components = _check_components(remaining_components, len(information), function)
    projected = information[np.ix_(components, components)]
    if covariance is None:
        return projected
    covariance = _check_covariance(covariance, len(information), function)
    return projected, covariance[np.ix_(components, components, components, components)]


def _nuisance_solve(information_nuisance: np.ndarray, right_hand_side: np.ndarray) -> tuple[np.ndarray, bool]:
    """``information_nuisance^{-1} right_hand_side`` and whether the block has full rank.

    A rank-deficient (singular) block gives the minimum-norm least-squares solution, that is the
    pseudo-inverse times the right-hand side.
    """
    singular_values = np.linalg.svd(information_nuisance, compute_uv=False)
    full_rank = bool(
        singular_values.size == 0 or singular_values[-1] > _RANK_TOLERANCE * max(singular_values[0], 0.0)
    )
    if full_rank:
        return np.linalg.solve(information_nuisance, right_hand_side), True
    solution = np.linalg.lstsq(information_nuisance, right_hand_side, rcond=_RANK_TOLERANCE)[0]
    return solution, False


def profile_information(
    fisher_information: Any,
    remaining_components: Any,
    covariance: Any = None,
    error_propagation_n_ensemble: int = 1000,
    error_propagation_factor: float = 1.0e-3,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    r"""Profile a Fisher information over the parameters not kept (Appendix A.4 of arXiv:1612.05261).

    The profiled information is the Schur complement
    :math:`I_{rr} - I_{r\nu} I_{\nu\nu}^{-1} I_{\nu r}` of the block :math:`I_{\nu\nu}` of the
    profiled-out parameters :math:`\nu`: the information on the kept parameters :math:`r` when
    the others are unknown. Its inverse is the :math:`rr` block of :math:`I^{-1}`. The inverse of
    :math:`I_{\nu\nu}` is never formed: the product is a linear solve.

    Parameters
    ----------
    fisher_information : array_like
        The original Fisher information, shape ``(n, n)``.
    remaining_components : list of int
        ``m`` distinct indices ``0 <= remaining_components[i] < n``: the parameters that are kept,
        in their new order. All other parameters are profiled out.
    covariance : array_like or None, optional
        Covariance of the entries of the original Fisher information, shape ``(n, n, n, n)``.
        Default None: no covariance is returned.
    error_propagation_n_ensemble : int, optional
        Accepted for compatibility with MadMiner and unused: the covariance is propagated exactly
        (to first order), not with toy matrices. Default 1000.
    error_propagation_factor : float, optional
        Accepted for compatibility with MadMiner and unused (MadMiner scaled the covariance of its
        toy matrices by it). Default 1e-3.

    Returns
    -------
    profiled_fisher_information : numpy.ndarray
        The profiled information, shape ``(m, m)``; its ``i``-th row and column belong to the
        parameter ``remaining_components[i]``.
    profiled_fisher_information_covariance : numpy.ndarray
        The covariance of the profiled information from linear error propagation, shape
        ``(m, m, m, m)``; only returned if ``covariance`` is not None.

    Raises
    ------
    InputError
        If the shapes do not fit, an index is out of range or repeated, or a covariance is to be
        propagated while the block of the profiled-out parameters is singular.

    Notes
    -----
    If the block :math:`I_{\nu\nu}` is singular (a profiled-out parameter, or a combination of
    them, carries no information), its pseudo-inverse is used and a warning is logged. For a
    positive semi-definite :math:`I` the columns of :math:`I_{\nu r}` lie in the range of
    :math:`I_{\nu\nu}`, so this is the well-defined limit: a direction the data do not constrain
    at all does not change the information on the kept parameters. Its derivative, and so the
    covariance, is not defined there, and asking for one raises an :class:`InputError`.

    The Schur complement is written for a general (not necessarily symmetric) matrix, with both
    off-diagonal blocks; the covariance propagation treats every entry :math:`I_{ij}` as its own
    variable, as MadMiner's toys did. For symmetric matrices and covariances everything agrees
    with MadMiner's formula :math:`I_{rr} - I_{\nu r}^T I_{\nu\nu}^{-1} I_{\nu r}`.

    Examples
    --------
    >>> info = np.array([[4.0, 2.0], [2.0, 2.0]])
    >>> profile_information(info, [0])
    array([[2.]])
    >>> profiled, cov = profile_information(info, [0], covariance=np.zeros((2, 2, 2, 2)))
    >>> cov.shape
    (1, 1, 1, 1)
    """
    del error_propagation_n_ensemble, error_propagation_factor  # exact propagation needs no toys
    function = "profile_information"
    information = _check_information(fisher_information, function)
    n_parameters = len(information)
    kept = _check_components(remaining_components, n_parameters, function)
    if covariance is not None:
        covariance = _check_covariance(covariance, n_parameters, function)
    nuisance = np.setdiff1d(np.arange(n_parameters), kept)  # sorted, as MadMiner's order
    logger.debug("Profiling Fisher information: keeping %s, profiling %s", kept, nuisance)

    block_kept = information[np.ix_(kept, kept)]
    block_kept_nuisance = information[np.ix_(kept, nuisance)]
    block_nuisance_kept = information[np.ix_(nuisance, kept)]
    block_nuisance = information[np.ix_(nuisance, nuisance)]

    # right = I_nn^{-1} I_nr and left = I_rn I_nn^{-1} (the latter from the transposed system)
    right, full_rank = _nuisance_solve(block_nuisance, block_nuisance_kept)
    if not full_rank:
        logger.warning(
            "profile_information: the information block of the profiled parameters %s is singular; "
            "using its pseudo-inverse",
            nuisance.tolist(),
        )
    profiled = block_kept - block_kept_nuisance @ right
    if covariance is None:
        return profiled
    if not full_rank:
        raise InputError(
            f"{function}: cannot propagate the covariance, the information block of the profiled "
            f"parameters {nuisance.tolist()} is singular (the profile is not differentiable there)"
        )
    left = _nuisance_solve(block_nuisance.T, block_kept_nuisance.T)[0].T
    return profiled, _propagate_covariance(covariance, kept, nuisance, left, right)


def _propagate_covariance(
    covariance: np.ndarray, kept: np.ndarray, nuisance: np.ndarray, left: np.ndarray, right: np.ndarray
) -> np.ndarray:
    r"""Covariance of the Schur complement :math:`S = L I R` to first order in :math:`dI`.

    ``left`` is :math:`I_{r\nu} I_{\nu\nu}^{-1}` (shape ``(m, n - m)``) and ``right`` is
    :math:`I_{\nu\nu}^{-1} I_{\nu r}` (shape ``(n - m, m)``).
    """
    n_parameters, n_kept = covariance.shape[0], len(kept)
    left_full = np.zeros((n_kept, n_parameters))  # L[a, i] = dS/d(row i), rows of the full matrix
    left_full[np.arange(n_kept), kept] = 1.0
    left_full[:, nuisance] = -left
    right_full = np.zeros((n_parameters, n_kept))  # R[j, b]
    right_full[kept, np.arange(n_kept)] = 1.0
    right_full[nuisance, :] = -right
    return np.einsum(
        "ai,jb,ck,ld,ijkl->abcd", left_full, right_full, left_full, right_full, covariance, optimize=True
    )
