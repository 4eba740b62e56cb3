"""Recurrence matrices: a distance matrix thresholded, ``R = [D <= ε]``, or cut to a band."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reprdynamics.analysis.recurrence._parsing import _parse_distance, _parse_threshold


def _threshold(
    D: NDArray[np.float64], epsilon: float | None, band: tuple[float, float] | None
) -> NDArray[np.bool_]:
    if band is not None:
        start, width = band
        # a + w is formed in float64 exactly as the NNTF code forms its upper edge.
        return (start <= D) & (start + width >= D)
    return epsilon >= D


def recurrence_matrix(
    D: ArrayLike, *, epsilon: float | None = None, band: tuple[float, float] | None = None
) -> NDArray[np.bool_]:
    r"""Recurrence matrix of a distance matrix, by threshold or by band.

    .. math::

        R_{ij} = \Theta(\varepsilon - D_{ij}) = [D_{ij} \le \varepsilon]
        \qquad\text{or}\qquad R_{ij} = [a \le D_{ij} \le a + w]

    (Marwan et al. 2007, eq. 3, with :math:`\Theta(0) = 1`; the band form is the one of the
    NNTF paper, closed at both ends, with ``a + w`` computed in float64.)

    Parameters
    ----------
    D : array_like of float, shape (N, N)
        Distance matrix (a fingerprint). Need not be symmetric; NaN is refused.
    epsilon : float >= 0, optional
        Recurrence threshold ε. Give exactly one of ``epsilon`` and ``band``.
    band : (float, float), optional
        ``(a, w)``: lower edge and width of the band.

    Returns
    -------
    ndarray of bool, shape (N, N)

    Examples
    --------
    >>> D = np.array([[0.0, 0.1, 0.4], [0.1, 0.0, 0.2], [0.4, 0.2, 0.0]])
    >>> recurrence_matrix(D, epsilon=0.1).astype(int).tolist()
    [[1, 1, 0], [1, 1, 0], [0, 0, 1]]
    >>> recurrence_matrix(D, band=(0.1, 0.1)).astype(int).tolist()
    [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
    """
    owner = "recurrence_matrix"
    distances = _parse_distance(D, "D", owner)
    epsilon_, band_ = _parse_threshold(epsilon, band, owner)
    return _threshold(distances, epsilon_, band_)
