r"""Plots of Fisher information matrices: contours, eigenvalues and determinants, and their distribution.

* :func:`plot_fisher_information_contours_2d` draws, for each 2x2 information matrix :math:`I`, the
  ellipse of constant Fisher distance :math:`d(\theta)^2 = (\theta - \theta_0)^T I (\theta - \theta_0)`
  from a reference point (the local, tangent-space approximation), with an uncertainty band when the
  covariance of the matrix entries is given.
* :func:`plot_fisherinfo_barplot` compares matrices by their eigenvalues (coloured by the parameters
  that make up each eigenvector) and by :math:`(\det I)^{1/n}`, optionally of a sub-block.
* :func:`plot_distribution_of_information` shows where in an observable the cross section and the
  information sit, from :meth:`~motherlode.fisherinformation.FisherInformation.histogram_of_information`.

The matrices come from :mod:`motherlode.fisherinformation`; only the quantities that are the plot's
own job (the distance on the plot grid and its uncertainty, eigen-decompositions, determinants) are
computed here.

Examples
--------
>>> import numpy as np
>>> from motherlode.plotting import plot_fisher_information_contours_2d
>>> fig = plot_fisher_information_contours_2d([np.diag([4.0, 1.0])], labels=["truth"], resolution=100)
>>> fig.axes[0].get_legend().get_texts()[0].get_text()
'truth'
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import is_color_like
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import AutoMinorLocator, MaxNLocator

from ..errors import InputError
from ._arguments import check_range
from ._style import line_colors, new_figure, plot_style

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

__all__ = [
    "plot_distribution_of_information",
    "plot_fisher_information_contours_2d",
    "plot_fisherinfo_barplot",
]

logger = logging.getLogger(__name__)

_LINESTYLES = ("solid", "dashed", "dotted", "dashdot")
_PSD_TOLERANCE = 1.0e-8
"""Eigenvalues above ``-_PSD_TOLERANCE`` times the largest one count as zero, below as negative."""
_MIN_FRACTION = 0.01
"""Parameters with a smaller share of an eigenvector are not drawn in the bar plot."""
_XSEC_COLOR = "black"
_INFO_COLOR = "#e42536"  # the red of the palette


# ---------------------------------------------------------------------------- input checks


def _matrices(value: Any, name: str, single: bool = False, size: int | None = None) -> np.ndarray:
    """``value`` as symmetric matrices of shape ``(m, n, n)`` (one ``(n, n)`` matrix too if ``single``)."""
    try:
        matrices = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(f"{name} must be a list of square matrices ({error})") from None
    if single and matrices.ndim == 2:
        matrices = matrices[None]
    if matrices.ndim != 3 or matrices.shape[1] != matrices.shape[2] or len(matrices) == 0:
        raise InputError(f"{name} must be a non-empty list of square matrices, got shape {matrices.shape}")
    if size is not None and matrices.shape[1] != size:
        hint = ""
        if matrices.shape[1] > size:
            hint = (
                " (with nuisance parameters or more parameters, profile_information or project_information "
                "of motherlode.fisherinformation gives the block of the parameters to plot)"
            )
        raise InputError(f"{name} must hold {size}x{size} matrices, got shape {matrices.shape}{hint}")
    if not np.all(np.isfinite(matrices)):
        index = int(np.flatnonzero(~np.all(np.isfinite(matrices), axis=(1, 2)))[0])
        raise InputError(f"{name}[{index}] has non-finite entries")
    transposed = matrices.swapaxes(1, 2)
    # tolerances relative to the largest entry of all matrices: a profiled matrix can be zero up to rounding
    scale = np.max(np.abs(matrices))
    asymmetric = np.any(np.abs(matrices - transposed) > 1.0e-6 * scale, axis=(1, 2))
    if np.any(asymmetric):
        raise InputError(f"{name}[{int(np.flatnonzero(asymmetric)[0])}] is not symmetric")
    return 0.5 * (matrices + transposed)


def _eigenvalues(matrices: np.ndarray, name: str) -> np.ndarray:
    """Ascending eigenvalues ``(m, n)``, numerically negative ones set to zero; indefinite matrices raise."""
    eigenvalues = np.linalg.eigvalsh(matrices)
    scale = np.max(np.abs(eigenvalues))
    negative = np.any(eigenvalues < -_PSD_TOLERANCE * scale, axis=1)
    if np.any(negative):
        index = int(np.flatnonzero(negative)[0])
        raise InputError(
            f"{name}[{index}] is not positive semi-definite (eigenvalues {eigenvalues[index].tolist()}), "
            "so it is no Fisher information"
        )
    return np.clip(eigenvalues, 0.0, None)


def _cycled(value: Any, n: int, name: str) -> list[Any]:
    """A per-matrix style: one value for all, or a list (cycled when shorter); a tuple is one value
    (a dash pattern, say), as in MadMiner."""
    if not isinstance(value, (list, np.ndarray)):
        return [value] * n
    if len(value) == 0:
        raise InputError(f"{name} is empty")
    return [value[i % len(value)] for i in range(n)]


def _labels(value: Any, n: int, name: str) -> list[str | None]:
    """One label (or None) per matrix."""
    if value is None:
        return [None] * n
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InputError(f"{name} must be a list of {n} strings (or None entries), got {value!r}")
    if len(value) != n:
        raise InputError(f"{name} has {len(value)} entries for {n} Fisher information matrices")
    return [None if label is None else str(label) for label in value]


def _colors(colors: Any, n: int, name: str = "colors") -> list[Any]:
    if colors is not None and (isinstance(colors, str) or is_color_like(colors)):
        colors = [colors]
    colors = line_colors(n, colors)
    bad = [color for color in colors if not is_color_like(color)]
    if bad:
        raise InputError(f"{name} has an entry that is no colour: {bad[0]!r}")
    return colors


def _positive(value: Any, name: str, allow_zero: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(number) or number < 0.0 or (number == 0.0 and not allow_zero):
        raise InputError(f"{name} must be {'non-negative' if allow_zero else 'positive'}, got {value!r}")
    return number


# ---------------------------------------------------------------------------- contours


def plot_fisher_information_contours_2d(
    fisher_information_matrices: Any,
    fisher_information_covariances: Any = None,
    reference_thetas: Any = None,
    contour_distance: float = 1.0,
    xlabel: str = r"$\theta_0$",
    ylabel: str = r"$\theta_1$",
    xrange: tuple[float, float] = (-1.0, 1.0),
    yrange: tuple[float, float] = (-1.0, 1.0),
    labels: Sequence[str | None] | None = None,
    inline_labels: Sequence[str | None] | None = None,
    resolution: int = 500,
    colors: Any = None,
    linestyles: Any = None,
    linewidths: float | Sequence[float] = 1.5,
    alphas: float | Sequence[float] = 1.0,
    alphas_uncertainties: float | Sequence[float] = 0.25,
    sigma_uncertainties: float = 1,
    ax: Axes | None = None,
) -> Figure:
    r"""Contours of constant Fisher distance from a reference point, one per 2x2 information matrix.

    The local (tangent-space) approximation is used: the distance :math:`d(\theta)` is given by
    :math:`d(\theta)^2 = (\theta - \theta_0)_i I_{ij} (\theta - \theta_0)_j`, and the contour is
    :math:`d(\theta) = ` ``contour_distance``: an ellipse for a positive-definite matrix, a pair of
    parallel lines for a singular one (for instance the rate information).

    With the covariance :math:`C_{ijkl} = \mathrm{Cov}(I_{ij}, I_{kl})` of a matrix, its band is
    the set of points where the contour level lies within ``sigma_uncertainties`` standard
    deviations of :math:`d^2(\theta)`, whose variance is
    :math:`\Delta\theta_i \Delta\theta_j C_{ijkl} \Delta\theta_k \Delta\theta_l`
    (exact: :math:`d^2` is linear in :math:`I`).

    Parameters
    ----------
    fisher_information_matrices : list of ndarray
        Fisher information matrices, each with shape (2, 2), symmetric and positive semi-definite.
    fisher_information_covariances : None or list of (ndarray or None), optional
        For each matrix None (no band) or the covariance of its entries, shape (2, 2, 2, 2), as
        returned by :class:`~motherlode.fisherinformation.FisherInformation`. Default value: None.
    reference_thetas : None or list of (ndarray or None), optional
        For each matrix the reference point :math:`\theta_0` (None: the origin). Default value: None.
    contour_distance : float, optional
        Fisher distance at which the contours are drawn. Default value: 1.
    xlabel, ylabel : str, optional
        Axis labels. Default values: r'$\theta_0$' and r'$\theta_1$'.
    xrange, yrange : tuple of float, optional
        Ranges (min, max) of the axes, and of the grid on which the distances are computed.
        Default values: (-1., 1.).
    labels : None or list of (str or None), optional
        Legend labels (None entries are left out of the legend). Default value: None.
    inline_labels : None or list of (str or None), optional
        Labels written on the contours. Default value: None.
    resolution : int, optional
        Number of grid points per axis. Default value: 500.
    colors : None or str or list of str, optional
        Line (and band) colours. Default: the palette of :mod:`motherlode.plotting`.
    linestyles : None or str or list of str, optional
        Line styles. Default: solid, dashed, dotted, dash-dotted in turn.
    linewidths : float or list of float, optional
        Line widths. Default value: 1.5.
    alphas : float or list of float, optional
        Opacities of the lines. Default value: 1.
    alphas_uncertainties : float or list of float, optional
        Opacities of the bands. Default value: 0.25.
    sigma_uncertainties : float, optional
        Half width of the bands in standard deviations. Default value: 1.
    ax : matplotlib Axes or None, optional
        Draw into these axes instead of a new figure. Default value: None.

    Returns
    -------
    figure : Figure
        The figure (that of ``ax`` when given).
    """
    matrices = _matrices(fisher_information_matrices, "fisher_information_matrices", single=True, size=2)
    n = len(matrices)
    eigenvalues = _eigenvalues(matrices, "fisher_information_matrices")
    covariances = _covariances(fisher_information_covariances, n)
    references = _references(reference_thetas, n)
    distance = _positive(contour_distance, "contour_distance")
    sigma = _positive(sigma_uncertainties, "sigma_uncertainties", allow_zero=True)
    xrange = check_range(xrange, "xrange")
    yrange = check_range(yrange, "yrange")
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or resolution < 3:
        raise InputError(f"resolution must be an int of at least 3, got {resolution!r}")
    labels = _labels(labels, n, "labels")
    inline_labels = _labels(inline_labels, n, "inline_labels")
    colors = _colors(colors, n)
    linestyles = _cycled(list(_LINESTYLES) if linestyles is None else linestyles, n, "linestyles")
    linewidths = _cycled(linewidths, n, "linewidths")
    alphas = _cycled(alphas, n, "alphas")
    alphas_uncertainties = _cycled(alphas_uncertainties, n, "alphas_uncertainties")

    # Distances on the grid, all matrices at once: shape (n, resolution, resolution), y first
    x = np.linspace(*xrange, resolution)
    y = np.linspace(*yrange, resolution)
    grid = np.stack(np.meshgrid(x, y, indexing="xy"), axis=-1)  # (ny, nx, 2)
    delta = grid[None] - references[:, None, None, :]
    d2 = np.einsum("mabi,mij,mabj->mab", delta, matrices, delta)
    threshold = distance**2

    with plot_style():
        fig, (axes,) = new_figure(1, panel_size=(5.2, 4.8), ax=ax)
        handles: list[tuple[Line2D | tuple[Patch, Line2D], str]] = []
        for i in range(n):
            band = None
            covariance = covariances[i]
            if covariance is not None and sigma > 0.0:
                band = _pull(delta[i], d2[i], covariance, threshold, sigma)
            if band is not None:
                axes.contourf(
                    x, y, band, levels=[-sigma, sigma], colors=[colors[i]], alpha=alphas_uncertainties[i]
                )
            contour = axes.contour(
                x,
                y,
                d2[i],
                levels=[threshold],
                colors=[colors[i]],
                linestyles=[linestyles[i]],
                linewidths=[linewidths[i]],
                alpha=alphas[i],
            )
            if eigenvalues[i, -1] <= _PSD_TOLERANCE * eigenvalues.max():
                logger.warning("fisher_information_matrices[%d] is zero (up to rounding): no contour", i)
            elif not any(len(segment) for segment in contour.allsegs[0]):
                logger.warning(
                    "the contour of fisher_information_matrices[%d] (eigenvalues %s) at distance %g lies "
                    "outside xrange x yrange",
                    i,
                    eigenvalues[i].tolist(),
                    distance,
                )
            elif inline_labels[i]:
                axes.clabel(contour, inline=True, fontsize="small", fmt=lambda _, text=inline_labels[i]: text)
            label = labels[i]
            if label is not None:
                line = Line2D(
                    [], [], color=colors[i], linestyle=linestyles[i], linewidth=linewidths[i], alpha=alphas[i]
                )
                handle: Line2D | tuple[Patch, Line2D] = line
                if band is not None:
                    patch = Patch(facecolor=colors[i], alpha=alphas_uncertainties[i], linewidth=0.0)
                    handle = (patch, line)
                handles.append((handle, label))
        if handles:
            axes.legend([h for h, _ in handles], [label for _, label in handles])
        axes.set_xlim(xrange)
        axes.set_ylim(yrange)
        axes.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
    return fig


def _covariances(value: Any, n: int) -> list[np.ndarray | None]:
    name = "fisher_information_covariances"
    if value is None:
        return [None] * n
    if isinstance(value, np.ndarray):
        value = list(value[None] if value.ndim == 4 else value)
    if not isinstance(value, Sequence) or len(value) != n:
        raise InputError(f"{name} must be a list of {n} entries (None or arrays of shape (2, 2, 2, 2))")
    covariances: list[np.ndarray | None] = []
    for i, covariance in enumerate(value):
        if covariance is None:
            covariances.append(None)
            continue
        covariance = np.asarray(covariance, dtype=np.float64)
        if covariance.shape != (2, 2, 2, 2):
            raise InputError(f"{name}[{i}] must have shape (2, 2, 2, 2), got {covariance.shape}")
        if not np.all(np.isfinite(covariance)):
            raise InputError(f"{name}[{i}] has non-finite entries")
        covariances.append(covariance)
    return covariances


def _references(value: Any, n: int) -> np.ndarray:
    name = "reference_thetas"
    if value is None:
        return np.zeros((n, 2))
    if isinstance(value, np.ndarray):
        value = list(value[None] if value.ndim == 1 else value)
    if not isinstance(value, Sequence) or len(value) != n:
        raise InputError(f"{name} must be a list of {n} entries (None or points of shape (2,))")
    references = np.zeros((n, 2))
    for i, reference in enumerate(value):
        if reference is None:
            continue
        reference = np.asarray(reference, dtype=np.float64)
        if reference.shape != (2,) or not np.all(np.isfinite(reference)):
            raise InputError(f"{name}[{i}] must be a finite point of shape (2,), got {reference!r}")
        references[i] = reference
    return references


def _pull(
    delta: np.ndarray,
    d2: np.ndarray,
    covariance: np.ndarray,
    threshold: float,
    sigma: float,
) -> np.ndarray | None:
    """``(d^2 - threshold) / std(d^2)`` on the grid (the band is where it lies in [-sigma, sigma]), or
    None where the covariance vanishes."""
    variance = np.einsum("abi,abj,ijkl,abk,abl->ab", delta, delta, covariance, delta, delta, optimize=True)
    std = np.sqrt(np.clip(variance, 0.0, None))
    if not np.any(std > 0.0):
        logger.debug("zero covariance: no band")
        return None
    big = 1.0e3 * (sigma + 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pull = np.where(std > 0.0, (d2 - threshold) / std, np.sign(d2 - threshold) * big)
    return np.clip(pull, -big, big)


# ---------------------------------------------------------------------------- bar plot


def plot_fisherinfo_barplot(
    fisher_information_matrices: Any,
    labels: Sequence[str],
    determinant_indices: Sequence[int] | None = None,
    eigenvalue_colors: Sequence[Any] | None = None,
    bar_colors: Sequence[Any] | None = None,
    parameter_labels: Sequence[str] | None = None,
) -> Figure:
    r"""Eigenvalues and determinants of several Fisher information matrices, side by side.

    The upper panel shows, for each matrix, its eigenvalues on a logarithmic axis; each eigenvalue
    is a horizontal line split into segments coloured by parameter, the length of each segment
    being that parameter's share :math:`v_p^2` of the (unit) eigenvector (shares below 1% are not
    drawn). The lower panel shows :math:`(\det I)^{1/k}` for each matrix, of the ``k x k`` block
    ``determinant_indices`` if given: the geometric mean of the eigenvalues, a single number for
    the overall constraining power.

    Parameters
    ----------
    fisher_information_matrices : list of ndarray
        Fisher information matrices, each of shape (n, n), symmetric and positive semi-definite.
    labels : list of str
        One label per matrix, for the x axis.
    determinant_indices : list of int or None, optional
        If not None, the determinants are those of the block of these parameters (rows and
        columns). Default value: None.
    eigenvalue_colors : None or list of str, optional
        One colour per parameter for the eigenvector composition. Default: the palette.
    bar_colors : None or list of str, optional
        Colours of the determinant bars (one per matrix, cycled). Default: grey.
    parameter_labels : None or list of str, optional
        Legend labels of the parameters in the upper panel. Default: r'$\theta_0$', r'$\theta_1$', ...

    Returns
    -------
    figure : Figure
    """
    matrices = _matrices(fisher_information_matrices, "fisher_information_matrices", single=True)
    n_entries, n_parameters = matrices.shape[:2]
    if isinstance(labels, str) or not isinstance(labels, Sequence) or len(labels) != n_entries:
        raise InputError(f"labels must be a list of {n_entries} strings, one per matrix, got {labels!r}")
    labels = [str(label) for label in labels]
    _eigenvalues(matrices, "fisher_information_matrices")
    indices = _determinant_indices(determinant_indices, n_parameters)
    k = len(indices)
    block = matrices[:, indices[:, None], indices[None, :]]
    # the determinant as the product of the (non-negative) eigenvalues of the block
    determinants = np.prod(_eigenvalues(block, "fisher_information_matrices"), axis=1) ** (1.0 / k)
    eigenvalues, eigenvectors = np.linalg.eigh(matrices)
    eigenvalues, eigenvectors = eigenvalues[:, ::-1], eigenvectors[:, :, ::-1]  # descending
    shares = np.swapaxes(eigenvectors**2, 1, 2)  # (entry, eigenvalue, parameter), rows sum to 1
    if eigenvalue_colors is not None and (
        isinstance(eigenvalue_colors, str) or is_color_like(eigenvalue_colors)
    ):
        raise InputError("eigenvalue_colors must be a list of colours, one per parameter")
    eigenvalue_colors = _colors(eigenvalue_colors, n_parameters, "eigenvalue_colors")
    if bar_colors is None:
        edge_colors, face_colors = ["0.45"] * n_entries, ["0.85"] * n_entries
    else:
        edge_colors = face_colors = _colors(bar_colors, n_entries, "bar_colors")
    if parameter_labels is None:
        parameter_labels = [rf"$\theta_{{{p}}}$" for p in range(n_parameters)]
    elif isinstance(parameter_labels, str) or len(parameter_labels) != n_parameters:
        raise InputError(
            f"parameter_labels must be a list of {n_parameters} strings, got {parameter_labels!r}"
        )

    largest = float(eigenvalues.max())
    if largest <= 0.0:
        raise InputError("fisher_information_matrices are all zero: nothing to plot")
    drawn = eigenvalues > _PSD_TOLERANCE * largest
    if not np.all(drawn):
        logger.info(
            "%d eigenvalues are (numerically) zero and not drawn on the log axis", int((~drawn).sum())
        )
    segments_y, segments_start, segments_end, segments_color = [], [], [], []
    width, gap = 0.84, 0.04  # of the unit slot of each entry
    for entry in range(n_entries):
        for j in range(n_parameters):
            if not drawn[entry, j]:
                continue
            share = shares[entry, j]
            visible = np.flatnonzero(share >= _MIN_FRACTION)
            lengths = width * (1.0 - gap * (len(visible) - 1)) * share[visible] / share[visible].sum()
            start = entry + 0.08
            for p, length in zip(visible, lengths, strict=True):
                segments_y.append(eigenvalues[entry, j])
                segments_start.append(start)
                segments_end.append(start + length)
                segments_color.append(eigenvalue_colors[p])
                start += length + gap * width

    with plot_style():
        fig, (upper, lower) = new_figure(2, n_cols=1, figsize=(max(5.5, 1.1 * n_entries + 2.5), 7.0))
        upper.hlines(segments_y, segments_start, segments_end, colors=segments_color, linewidth=2.0)
        upper.set_yscale("log")
        smallest = float(eigenvalues[drawn].min())
        upper.set_ylim(max(0.3 * smallest, 1.0e-10 * largest), 3.0 * largest)
        upper.set_ylabel(r"Eigenvalues of $I_{ij}$")
        upper.legend(
            [Line2D([], [], color=color, linewidth=2.0) for color in eigenvalue_colors],
            parameter_labels,
            ncols=min(n_parameters, 4),
            loc="upper right",
            title="eigenvector composition",
            title_fontsize="small",
        )
        bars = lower.bar(
            np.arange(n_entries) + 0.5, determinants, width=0.8, color=face_colors, edgecolor=edge_colors
        )
        bars.set_label("_determinants")
        lower.set_ylim(0.0, 1.08 * determinants.max() if determinants.max() > 0.0 else 1.0)
        block_text = (
            "" if determinant_indices is None else rf", $i,j \in \{{{', '.join(str(i) for i in indices)}\}}$"
        )
        lower.set_ylabel(rf"$(\det\, I_{{ij}})^{{1/{k}}}${block_text}")
        rotate = n_entries > 4 or max(len(label) for label in labels) > 8
        for axes in (upper, lower):
            axes.set_xlim(-0.2, n_entries + 0.2)
            axes.set_xticks(np.arange(n_entries) + 0.5)
            axes.tick_params(axis="x", which="minor", bottom=False, top=False)
        upper.set_xticklabels([])
        lower.set_xticklabels(labels, rotation=40 if rotate else 0, ha="right" if rotate else "center")
    return fig


def _determinant_indices(value: Any, n_parameters: int) -> np.ndarray:
    if value is None:
        return np.arange(n_parameters)
    try:
        indices = np.array(value).ravel()
        if indices.size == 0 or not np.issubdtype(indices.dtype, np.integer):
            raise TypeError
    except TypeError:
        raise InputError(f"determinant_indices must be a non-empty list of ints, got {value!r}") from None
    if np.any(indices < -n_parameters) or np.any(indices >= n_parameters):
        raise InputError(f"determinant_indices {value!r} out of range for {n_parameters} parameters")
    indices = indices % n_parameters
    if len(np.unique(indices)) != len(indices):
        raise InputError(f"determinant_indices has repeated parameters: {value!r}")
    return indices


# ---------------------------------------------------------------------------- distribution of information


def plot_distribution_of_information(
    xbins: Sequence[float],
    xsecs: Sequence[float],
    fisher_information_matrices: Any,
    fisher_information_matrices_aux: Any = None,
    xlabel: str | None = None,
    xmin: float | None = None,
    xmax: float | None = None,
    log_xsec: bool = False,
    norm_xsec: bool = True,
    epsilon: float = 1.0e-9,
    figsize: tuple[float, float] = (5.4, 4.5),
    fontsize: float | None = None,
    labels: Sequence[str | None] | None = None,
    ax: Axes | None = None,
) -> Figure:
    r"""The cross section and the Fisher information in slices of an observable.

    The cross section per bin is drawn in black against the left axis, :math:`(\det I)^{1/n}` of
    each bin's information in red against the right axis (filled), and that of the auxiliary
    matrices dashed. The inputs are those of
    :meth:`~motherlode.fisherinformation.FisherInformation.histogram_of_information`:
    ``bins, xsecs, rate, full = fisher.histogram_of_information(...)`` then
    ``plot_distribution_of_information(bins, xsecs, full, rate)``.

    Parameters
    ----------
    xbins : list of float
        Bin boundaries, increasing (``nbins + 1`` values).
    xsecs : list of float
        Cross sections (pb) per bin: ``nbins + 2`` values (an underflow bin first and an overflow
        bin last, as ``histogram_of_information`` returns; these two are not drawn) or ``nbins``.
    fisher_information_matrices : list of ndarray
        The Fisher information of each bin (as many as ``xsecs``), shape (n, n) each.
    fisher_information_matrices_aux : list of ndarray or None, optional
        Further matrices per bin (for instance the rate information), drawn dashed.
    xlabel : str or None, optional
        Label of the x axis.
    xmin, xmax : float or None, optional
        Range of the x axis. Default: the first and last boundary.
    log_xsec : bool, optional
        Logarithmic axis for the cross section. Default value: False.
    norm_xsec : bool, optional
        Normalise the cross sections to their sum (over all bins, under- and overflow included).
        Default value: True.
    epsilon : float, optional
        Lower bound of the sum used for the normalisation. Default value: 1e-9.
    figsize : tuple of float, optional
        Figure size. Default value: (5.4, 4.5).
    fontsize : float or None, optional
        Size of all text in the plot (the style's sizes if None). Default value: None.
    labels : None or list of (str or None), optional
        Legend labels of the cross section, the information and (if given) the auxiliary
        information; None: no legend. Default value: None.
    ax : matplotlib Axes or None, optional
        Draw into these axes (the information axis is its twin). Default value: None.

    Returns
    -------
    figure : Figure
    """
    edges = np.asarray(xbins, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 2 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0.0):
        raise InputError(f"xbins must be at least two increasing finite boundaries, got {xbins!r}")
    n_bins = len(edges) - 1
    sigma = np.asarray(xsecs, dtype=np.float64)
    if sigma.ndim != 1 or len(sigma) not in (n_bins, n_bins + 2):
        raise InputError(
            f"xsecs must have {n_bins + 2} entries (with under- and overflow) or {n_bins} for "
            f"{len(edges)} xbins, got shape {sigma.shape}"
        )
    if not np.all(np.isfinite(sigma)):
        raise InputError("xsecs has non-finite entries")
    flow = len(sigma) == n_bins + 2
    inside = slice(1, -1) if flow else slice(None)
    matrices = _matrices(fisher_information_matrices, "fisher_information_matrices")
    if len(matrices) != len(sigma):
        raise InputError(
            f"fisher_information_matrices has {len(matrices)} matrices for {len(sigma)} xsecs entries"
        )
    n_parameters = matrices.shape[1]
    root = np.prod(_eigenvalues(matrices, "fisher_information_matrices"), axis=1) ** (1.0 / n_parameters)
    root_aux = None
    if fisher_information_matrices_aux is not None:
        aux = _matrices(fisher_information_matrices_aux, "fisher_information_matrices_aux", size=n_parameters)
        if len(aux) != len(sigma):
            raise InputError(
                f"fisher_information_matrices_aux has {len(aux)} matrices for {len(sigma)} xsecs entries"
            )
        root_aux = np.prod(_eigenvalues(aux, "fisher_information_matrices_aux"), axis=1) ** (
            1.0 / n_parameters
        )
    n_curves = 2 + (root_aux is not None)
    legend_labels = None
    if labels is not None:
        if isinstance(labels, str) or not isinstance(labels, Sequence) or len(labels) != n_curves:
            raise InputError(
                f"labels must be a list of {n_curves} strings (cross section, information"
                f"{', auxiliary information' if n_curves == 3 else ''}), got {labels!r}"
            )
        legend_labels = list(labels)
    epsilon = _positive(epsilon, "epsilon")
    if norm_xsec:
        sigma = sigma / max(float(np.sum(sigma)), epsilon)
    if flow:
        logger.info(
            "plot_distribution_of_information: the underflow and overflow bins (%.3g and %.3g of the "
            "cross section%s) are not drawn",
            sigma[0],
            sigma[-1],
            "" if norm_xsec else " in pb",
        )
    xmin = edges[0] if xmin is None else float(xmin)
    xmax = edges[-1] if xmax is None else float(xmax)
    if not xmin < xmax:
        raise InputError(f"xmin ({xmin}) must be smaller than xmax ({xmax})")

    rc: dict[RcKeyType, Any] = {}
    if fontsize is not None:
        size = _positive(fontsize, "fontsize")
        keys: tuple[RcKeyType, ...] = (
            "font.size",
            "axes.labelsize",
            "xtick.labelsize",
            "ytick.labelsize",
            "legend.fontsize",
        )
        rc = dict.fromkeys(keys, size)
    with plot_style(), matplotlib.rc_context(rc):
        fig, (left,) = new_figure(1, figsize=(figsize[0], figsize[1]), ax=ax)
        right = left.twinx()
        xs_line = left.stairs(sigma[inside], edges, color=_XSEC_COLOR, linewidth=1.5)
        right.stairs(root[inside], edges, fill=True, color=_INFO_COLOR, alpha=0.12, linewidth=0.0)
        info_line = right.stairs(root[inside], edges, color=_INFO_COLOR, linewidth=1.5)
        lines = [xs_line, info_line]
        if root_aux is not None:
            lines.append(
                right.stairs(root_aux[inside], edges, color=_INFO_COLOR, linewidth=1.5, linestyle="--")
            )
        headroom = 1.0 if legend_labels is None else 1.3  # room for the legend above the curves
        if log_xsec:
            left.set_yscale("log")
            positive = sigma[inside][sigma[inside] > 0.0]
            if positive.size:
                left.set_ylim(0.5 * positive.min(), 2.0 * positive.max() * headroom**4)
        else:
            left.set_ylim(0.0, 1.05 * headroom * max(float(sigma[inside].max()), 0.0) or 1.0)
        top = max(float(root[inside].max()), 0.0 if root_aux is None else float(root_aux[inside].max()))
        right.set_ylim(0.0, 1.1 * headroom * top if top > 0.0 else 1.0)
        left.set_xlim(xmin, xmax)
        left.set_xlabel("" if xlabel is None else xlabel)
        left.set_ylabel("Normalised distribution" if norm_xsec else r"$\sigma$ [pb/bin]", color=_XSEC_COLOR)
        right.set_ylabel(rf"$(\det\, I_{{ij}})^{{1/{n_parameters}}}$", color=_INFO_COLOR)
        left.tick_params(axis="y", which="both", right=False, colors=_XSEC_COLOR)
        right.tick_params(axis="y", which="both", left=False, right=True, colors=_INFO_COLOR)
        right.spines["right"].set_color(_INFO_COLOR)
        right.yaxis.set_minor_locator(AutoMinorLocator())
        if legend_labels is not None:
            pairs = [
                (line, label) for line, label in zip(lines, legend_labels, strict=True) if label is not None
            ]
            right.legend([line for line, _ in pairs], [label for _, label in pairs], loc="upper right")
    return fig
