r"""The standard recurrence quantification measures (Marwan et al. 2007, section 5.3).

RR, DET, L, Lmax, ENTR, LAM, TT and Vmax of one recurrence matrix, as an :class:`RQAResult`;
the conventions (Theiler window, denominators, empty cases) are listed in
:mod:`reprdynamics.analysis.recurrence`.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reprdynamics.analysis.recurrence._parsing import (
    _parse_distance,
    _parse_recurrence,
    _parse_threshold,
)
from reprdynamics.analysis.recurrence.lines import _diagonal_counts, _vertical_counts, _window_size
from reprdynamics.analysis.recurrence.matrix import _threshold
from reprdynamics.errors import invalid_parameter
from reprdynamics.validation import Integer, validate_params


@dataclass(frozen=True)
class RQAResult:
    """Recurrence quantification measures of one recurrence matrix (see :func:`rqa`).

    Attributes
    ----------
    rr : float
        Recurrence rate RR in [0, 1].
    det : float
        Determinism DET in [0, 1].
    l_mean : float
        Mean length L of diagonal lines of length >= ``l_min``.
    l_max : int
        Longest diagonal line Lmax (any length; 0 when there is none).
    entr : float
        Shannon entropy ENTR (natural log) of the diagonal line-length distribution.
    lam : float
        Laminarity LAM in [0, 1].
    tt : float
        Trapping time TT: mean length of vertical lines of length >= ``v_min``.
    v_max : int
        Longest vertical line Vmax (any length; 0 when there is none).
    n : int
        Size N of the N×N matrix.
    n_recurrences : int
        Recurrence points outside the Theiler window.
    l_min, v_min, theiler : int
        Parameters used.
    epsilon : float or None
        Threshold used when a distance matrix was given.
    band : (float, float) or None
        Band ``(a, w)`` used when a distance matrix was given.
    """

    rr: float
    det: float
    l_mean: float
    l_max: int
    entr: float
    lam: float
    tt: float
    v_max: int
    n: int
    n_recurrences: int
    l_min: int
    v_min: int
    theiler: int
    epsilon: float | None = None
    band: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain ``dict`` of the fields (JSON-friendly: the band becomes a list)."""
        return {**asdict(self), "band": None if self.band is None else list(self.band)}


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else 0.0


def _line_measures(
    counts: NDArray[np.int64], minimum: int, n_points: int
) -> tuple[float, float, int, float]:
    """Fraction of points on lines >= minimum, their mean length, longest line, entropy."""
    lengths = np.arange(counts.size)
    long_counts = counts[minimum:]
    long_points = int(lengths[minimum:] @ long_counts)
    n_long = int(long_counts.sum())
    nonzero = np.flatnonzero(counts)
    longest = int(nonzero[-1]) if nonzero.size else 0
    entropy = 0.0
    if n_long:
        p = long_counts[long_counts > 0] / n_long
        entropy = float(-np.sum(p * np.log(p))) + 0.0  # + 0.0 turns -0.0 into 0.0
    return _ratio(long_points, n_points), _ratio(long_points, n_long), longest, entropy


@validate_params(l_min=Integer(low=1), v_min=Integer(low=1), theiler=Integer(low=0))
def rqa(
    matrix: ArrayLike,
    *,
    epsilon: float | None = None,
    band: tuple[float, float] | None = None,
    threshold: float | None = None,
    l_min: int = 2,
    v_min: int = 2,
    theiler: int = 1,
) -> RQAResult:
    r"""Recurrence quantification analysis of a recurrence or distance matrix.

    With neither ``epsilon`` nor ``band``, ``matrix`` is a recurrence matrix
    (booleans or 0/1). With one of them, ``matrix`` is a distance matrix, thresholded by
    :func:`recurrence_matrix` first.

    Let ``R'`` be ``R`` with the Theiler window ``W = {(i, j): |i - j| < theiler}`` removed,
    ``P(l)`` the number of diagonal lines of length ``l`` and ``P(v)`` the number of
    vertical lines of length ``v`` in ``R'`` (see :func:`diagonal_line_distribution`,
    :func:`vertical_line_distribution`). Following Marwan et al. (2007), section 5.3:

    .. math::

        RR &= \frac{\sum_{ij} R'_{ij}}{N^2 - |W|} \\
        DET &= \frac{\sum_{l \ge l_{min}} l P(l)}{\sum_{l \ge 1} l P(l)}, \qquad
        L = \frac{\sum_{l \ge l_{min}} l P(l)}{\sum_{l \ge l_{min}} P(l)}, \qquad
        L_{max} = \max\{l : P(l) > 0\} \\
        ENTR &= -\sum_{l \ge l_{min}} p(l) \ln p(l), \qquad
        p(l) = \frac{P(l)}{\sum_{l' \ge l_{min}} P(l')} \\
        LAM &= \frac{\sum_{v \ge v_{min}} v P(v)}{\sum_{v \ge 1} v P(v)}, \qquad
        TT = \frac{\sum_{v \ge v_{min}} v P(v)}{\sum_{v \ge v_{min}} P(v)}, \qquad
        V_{max} = \max\{v : P(v) > 0\}

    ``Σ l P(l) = Σ v P(v) = Σ R'`` (the recurrence points outside the window). A ratio whose
    denominator is 0 is reported as 0.0 (no recurrence: RR = DET = L = ENTR = LAM = TT = 0,
    Lmax = Vmax = 0); this matches pyunicorn, which adds 1e-8 to its denominators.

    Differences from pyunicorn's ``RecurrencePlot``: pyunicorn divides RR by ``N²`` and
    keeps the line of identity in vertical lines (it drops it only from diagonal lines), and
    counts diagonal lines in one triangle doubled (exact for symmetric matrices only).

    Parameters
    ----------
    matrix : array_like, shape (N, N)
        Recurrence matrix, or distance matrix when a threshold or band is given.
    epsilon : float >= 0, optional
        Threshold: ``R = [D <= epsilon]``.
    band : (float, float), optional
        Band ``(a, w)``: ``R = [a <= D <= a + w]``.
    threshold : float >= 0, optional
        Deprecated: the earlier name of ``epsilon`` here. :func:`reprdynamics.rqa` (a
        fingerprint or a matrix) takes ``threshold=``.
    l_min : int >= 1, default 2
        Shortest diagonal line counted by DET, L and ENTR.
    v_min : int >= 1, default 2
        Shortest vertical line counted by LAM and TT.
    theiler : int >= 0, default 1
        Theiler window: points with ``|i - j| < theiler`` are excluded (1: the line of
        identity; 0: nothing).

    Returns
    -------
    RQAResult

    Examples
    --------
    >>> D = np.array([[0.0, 0.1, 0.2], [0.1, 0.0, 0.1], [0.2, 0.1, 0.0]])
    >>> res = rqa(D, epsilon=0.15)
    >>> res.rr, res.det, res.l_max, res.lam
    (0.6666666666666666, 1.0, 2, 0.0)
    """
    owner = "rqa"
    if threshold is not None:
        if epsilon is not None:
            raise invalid_parameter(
                "threshold", owner, "None when epsilon is given (it is its alias)", threshold
            )
        warnings.warn(
            "rqa(threshold=) is deprecated: this function calls the threshold epsilon, as "
            "recurrence_matrix and RQAResult.epsilon do (reprdynamics.rqa, which also takes "
            "a fingerprint, keeps threshold=).",
            DeprecationWarning,
            stacklevel=3,  # past validate_params' wrapper, to the caller
        )
        epsilon = threshold
    l_min_, v_min_, theiler_ = l_min, v_min, theiler  # ints, checked by the decorator
    epsilon_: float | None = None
    band_: tuple[float, float] | None = None
    if epsilon is None and band is None:
        R = _parse_recurrence(matrix, "matrix", owner)
    else:
        epsilon_, band_ = _parse_threshold(epsilon, band, owner)
        R = _threshold(_parse_distance(matrix, "matrix", owner), epsilon_, band_)

    n = R.shape[0]
    diagonal = _diagonal_counts(R, theiler_)
    vertical = _vertical_counts(R, theiler_)
    n_recurrences = int(np.arange(n + 1) @ diagonal)
    det, l_mean, l_max, entr = _line_measures(diagonal, l_min_, n_recurrences)
    lam, tt, v_max, _ = _line_measures(vertical, v_min_, n_recurrences)
    return RQAResult(
        rr=_ratio(n_recurrences, n * n - _window_size(n, theiler_)),
        det=det,
        l_mean=l_mean,
        l_max=l_max,
        entr=entr,
        lam=lam,
        tt=tt,
        v_max=v_max,
        n=n,
        n_recurrences=n_recurrences,
        l_min=l_min_,
        v_min=v_min_,
        theiler=theiler_,
        epsilon=epsilon_,
        band=band_,
    )
