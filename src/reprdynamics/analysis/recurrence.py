r"""Recurrence quantification analysis (RQA) of fingerprint matrices.

A fingerprint is a T×T matrix ``D`` of distances between training snapshots. Thresholding it
gives a recurrence matrix ``R`` (a recurrence plot), whose line structures summarise how
training revisits earlier states:

* :func:`recurrence_matrix` — ``R = [D <= ε]`` or a band ``R = [a <= D <= a + w]``;
* :func:`diagonal_line_distribution`, :func:`vertical_line_distribution` — line-length
  histograms ``P(l)``, with the line of identity excluded through a Theiler window;
* :func:`rqa` — the standard measures RR, DET, L, Lmax, ENTR, LAM, TT, Vmax as an
  :class:`RQAResult`;
* :func:`nntf_band_sweep` (with :func:`nntf_laminarity`, :func:`nntf_entropy`) — the band
  sweep of the Neural Network Training Fingerprint code, reproduced number for number,
  quirks included.

Conventions of :func:`rqa` (Marwan et al. 2007, section 3.2 and 5.3):

* The Theiler window ``w`` (``theiler``) removes the points with ``|i - j| < w`` before
  anything is counted: ``w = 1`` (default) removes the line of identity, ``w = 0`` keeps
  every point. Diagonals inside the window are dropped whole; vertical lines are cut where
  they cross the window.
* RR divides by the number of points *outside* the window, ``N² - |W|``, so that a matrix
  that is recurrent everywhere has RR = 1 for every ``w``.
* DET and LAM divide by the number of recurrence points outside the window. Every such point
  lies on exactly one diagonal and one vertical line, so the denominators are
  ``Σ_l l P(l) = Σ_v v P(v)``.
* Both triangles are counted: a symmetric matrix contributes each off-diagonal line twice,
  which leaves every ratio unchanged. Asymmetric matrices are accepted as they are.
* Empty cases: a measure whose denominator is zero (no recurrence point, no line of at least
  ``l_min`` or ``v_min``) is 0.0, not NaN, as in pyunicorn. ENTR of a single line length is 0.

References
----------
.. [1] N. Marwan, M. C. Romano, M. Thiel, J. Kurths, "Recurrence plots for the analysis of
   complex systems", Physics Reports 438 (5–6), 237–329 (2007).
   doi:10.1016/j.physrep.2006.11.001
.. [2] M. D. Ferreira, G. D. Cantareira, R. F. de Mello, F. V. Paulovich, "Neural network
   training fingerprint: visual analytics of the training process in classification neural
   networks", Journal of Visualization 25 (2022). Code:
   https://github.com/marthadais/NeuralNetworkTrainingFingerprint (``utils/measures.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reprdynamics.errors import invalid_parameter

__all__ = [
    "NNTF_BAND_STARTS",
    "NNTFBandSweep",
    "RQAResult",
    "diagonal_line_distribution",
    "nntf_band_sweep",
    "nntf_entropy",
    "nntf_laminarity",
    "recurrence_matrix",
    "rqa",
    "vertical_line_distribution",
]

#: Band lower edges of the NNTF code: ``np.around(np.arange(0.0, 1.0, 0.05), 2)``, i.e.
#: 0, 0.05, …, 0.95 rounded to two decimals (20 bands).
NNTF_BAND_STARTS: NDArray[np.float64] = np.around(np.arange(0.0, 1.0, 0.05), 2)
NNTF_BAND_STARTS.setflags(write=False)

#: The NNTF code adds this inside the logarithm of its entropy.
_NNTF_LOG_OFFSET = 1e-8


# --------------------------------------------------------------------------------------
# Parsing of public inputs
# --------------------------------------------------------------------------------------


class _Described(str):
    """A description shown verbatim (unquoted) in the package's error template."""

    def __repr__(self) -> str:
        return str(self)


def _parse_int(value: object, name: str, owner: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise invalid_parameter(name, owner, f"an int >= {minimum}", value)
    return int(value)


def _parse_nonnegative_float(value: object, name: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not value >= 0:
        raise invalid_parameter(name, owner, "a float >= 0", value)
    return float(value)


def _parse_band(value: object, owner: str) -> tuple[float, float]:
    expected = "a pair (a, w) of floats with a finite and 0 <= w < inf"
    try:
        start, width = value  # type: ignore[misc]
    except (TypeError, ValueError):
        raise invalid_parameter("band", owner, expected, value) from None
    for part in (start, width):
        if isinstance(part, bool) or not isinstance(part, Real) or not math.isfinite(part):
            raise invalid_parameter("band", owner, expected, value)
    if width < 0:
        raise invalid_parameter("band", owner, expected, value)
    return float(start), float(width)


def _parse_square(matrix: ArrayLike, name: str, owner: str) -> NDArray[Any]:
    arr = np.asarray(matrix)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise invalid_parameter(
            name,
            owner,
            "a non-empty square 2-D array",
            _Described(f"an array of shape {arr.shape}"),
        )
    if arr.dtype != np.bool_ and not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating):
            raise invalid_parameter(
                name, owner, "a real-valued array", _Described(f"an array of dtype {arr.dtype}")
            )
        n_nan = int(np.count_nonzero(np.isnan(arr)))
        if n_nan:
            raise invalid_parameter(
                name, owner, "free of NaN", _Described(f"an array with {n_nan} NaN values")
            )
    return arr


def _parse_distance(matrix: ArrayLike, name: str, owner: str) -> NDArray[np.float64]:
    return _parse_square(matrix, name, owner).astype(np.float64, copy=False)


def _parse_recurrence(matrix: ArrayLike, name: str, owner: str) -> NDArray[np.bool_]:
    arr = _parse_square(matrix, name, owner)
    if arr.dtype == np.bool_:
        return arr
    if not np.all((arr == 0) | (arr == 1)):
        raise invalid_parameter(
            name,
            owner,
            "a recurrence matrix of booleans or 0/1 values (pass epsilon or band to "
            "threshold a distance matrix)",
            _Described("an array with values other than 0 and 1"),
        )
    return arr != 0


def _threshold(
    D: NDArray[np.float64], epsilon: float | None, band: tuple[float, float] | None
) -> NDArray[np.bool_]:
    if band is not None:
        start, width = band
        # a + w is formed in float64 exactly as the NNTF code forms its upper edge.
        return (start <= D) & (start + width >= D)
    return epsilon >= D


# --------------------------------------------------------------------------------------
# Line counting
# --------------------------------------------------------------------------------------


def _run_length_counts(rows: NDArray[np.bool_], max_length: int) -> NDArray[np.int64]:
    """Histogram ``P[l]`` (l = 0..max_length) of runs of True along the last axis."""
    padded = np.zeros((rows.shape[0], rows.shape[1] + 1), dtype=np.int8)
    padded[:, :-1] = rows
    # A leading 0 plus one trailing 0 per row keeps runs from joining across rows.
    edges = np.diff(np.concatenate(([0], padded.ravel())))
    lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    return np.bincount(lengths, minlength=max_length + 1).astype(np.int64)


def _diagonal_counts(R: NDArray[np.bool_], theiler: int) -> NDArray[np.int64]:
    n = R.shape[0]
    offsets = [k for k in range(-(n - 1), n) if abs(k) >= theiler]
    if not offsets:
        return np.zeros(n + 1, dtype=np.int64)
    # Diagonals joined end to end, each closed by a False separator, then counted in one pass.
    pieces: list[NDArray[np.bool_]] = []
    separator = np.zeros(1, dtype=np.bool_)
    for k in offsets:
        pieces.append(np.diagonal(R, k))
        pieces.append(separator)
    return _run_length_counts(np.concatenate(pieces)[np.newaxis, :], n)


def _outside_window(R: NDArray[np.bool_], theiler: int) -> NDArray[np.bool_]:
    if theiler == 0:
        return R
    return np.triu(R, theiler) | np.tril(R, -theiler)


def _vertical_counts(R: NDArray[np.bool_], theiler: int) -> NDArray[np.int64]:
    return _run_length_counts(_outside_window(R, theiler).T, R.shape[0])


def _window_size(n: int, theiler: int) -> int:
    """Number of points with ``|i - j| < theiler`` in an n×n matrix."""
    m = min(theiler, n)
    return 0 if m == 0 else n + (m - 1) * (2 * n - m)


def diagonal_line_distribution(R: ArrayLike, *, theiler: int = 1) -> NDArray[np.int64]:
    r"""Histogram of diagonal line lengths of a recurrence matrix.

    A diagonal line of length ``l`` is a maximal run of ``l`` recurrence points
    ``R[i+m, j+m] = 1`` (m = 0..l-1) on one diagonal ``j - i = k``. Diagonals with
    ``|k| < theiler`` are skipped; both triangles are counted (Marwan et al. 2007, eq. 46).

    Parameters
    ----------
    R : array_like of bool, shape (N, N)
        Recurrence matrix (booleans or 0/1 values).
    theiler : int, default 1
        Theiler window: diagonals ``|j - i| < theiler`` are excluded. 1 excludes the line of
        identity, 0 keeps it.

    Returns
    -------
    ndarray of int64, shape (N + 1,)
        ``P[l]`` = number of diagonal lines of length exactly ``l`` (``P[0]`` is 0).

    Examples
    --------
    >>> R = np.eye(3, dtype=bool) | np.eye(3, k=1, dtype=bool) | np.eye(3, k=-1, dtype=bool)
    >>> diagonal_line_distribution(R).tolist()
    [0, 0, 2, 0]
    """
    owner = "diagonal_line_distribution"
    recurrences = _parse_recurrence(R, "R", owner)
    return _diagonal_counts(recurrences, _parse_int(theiler, "theiler", owner, 0))


def vertical_line_distribution(R: ArrayLike, *, theiler: int = 1) -> NDArray[np.int64]:
    r"""Histogram of vertical line lengths of a recurrence matrix.

    A vertical line of length ``v`` is a maximal run of ``v`` recurrence points
    ``R[i+m, j] = 1`` (m = 0..v-1) in one column ``j`` (Marwan et al. 2007, eq. 49). Points
    inside the Theiler window ``|i - j| < theiler`` are removed first, so a vertical line
    crossing the window is cut there.

    Parameters
    ----------
    R : array_like of bool, shape (N, N)
        Recurrence matrix (booleans or 0/1 values).
    theiler : int, default 1
        Theiler window (see :func:`diagonal_line_distribution`).

    Returns
    -------
    ndarray of int64, shape (N + 1,)
        ``P[v]`` = number of vertical lines of length exactly ``v`` (``P[0]`` is 0).

    Examples
    --------
    >>> vertical_line_distribution(np.ones((3, 3), dtype=bool)).tolist()
    [0, 2, 2, 0]
    """
    owner = "vertical_line_distribution"
    recurrences = _parse_recurrence(R, "R", owner)
    return _vertical_counts(recurrences, _parse_int(theiler, "theiler", owner, 0))


# --------------------------------------------------------------------------------------
# Standard RQA
# --------------------------------------------------------------------------------------


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


def _parse_threshold(
    epsilon: object, band: object, owner: str
) -> tuple[float | None, tuple[float, float] | None]:
    if (epsilon is None) == (band is None):
        raise invalid_parameter(
            "epsilon",
            owner,
            "given, or band given, but not both",
            _Described(f"{epsilon=}, {band=}"),
        )
    if band is not None:
        return None, _parse_band(band, owner)
    return _parse_nonnegative_float(epsilon, "epsilon", owner), None


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
        return {
            "rr": self.rr,
            "det": self.det,
            "l_mean": self.l_mean,
            "l_max": self.l_max,
            "entr": self.entr,
            "lam": self.lam,
            "tt": self.tt,
            "v_max": self.v_max,
            "n": self.n,
            "n_recurrences": self.n_recurrences,
            "l_min": self.l_min,
            "v_min": self.v_min,
            "theiler": self.theiler,
            "epsilon": self.epsilon,
            "band": None if self.band is None else list(self.band),
        }


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

    With neither ``epsilon``, ``threshold`` nor ``band``, ``matrix`` is a recurrence matrix
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
        Alias of ``epsilon`` (``rd.rqa(fp.matrix, threshold=0.1)``).
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
        epsilon = threshold
    l_min_ = _parse_int(l_min, "l_min", owner, 1)
    v_min_ = _parse_int(v_min, "v_min", owner, 1)
    theiler_ = _parse_int(theiler, "theiler", owner, 0)
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


# --------------------------------------------------------------------------------------
# NNTF-compatible band sweep
# --------------------------------------------------------------------------------------


def _nntf_laminarity(R: NDArray[np.bool_], l_min: int) -> float:
    n = R.shape[0]
    counts = _vertical_counts(R, 0)
    # np.histogram(lengths, bins=range(0, N + 1)) closes its last bin, so lengths N - 1 and N
    # share bin N - 1, and the bins are then weighted by 0..N-1.
    weights = np.minimum(np.arange(n + 1), n - 1)
    denominator = int(weights @ counts)
    numerator = int(weights[l_min:] @ counts[l_min:])
    return numerator / denominator if denominator else 0.0


def _nntf_entropy(R: NDArray[np.bool_], l_min: int) -> float:
    n = R.shape[0]
    if l_min > n + 1:  # the NNTF code's np.histogram fails here; there is no line at all
        return 0.0
    counts = _diagonal_counts(R, 0)
    total = int(np.arange(l_min, n + 1) @ counts[l_min:])
    # The same bins as np.histogram(lengths, bins=range(l_min - 1, N + 2)), in the same
    # order, so that np.sum adds the same terms in the same order (bit-identical result).
    hist = counts[l_min - 1 : n + 1].copy()
    hist[0] = 0  # the bin of length l_min - 1 only ever receives lines of length >= l_min
    probs = hist / total if total != 0 else np.zeros(hist.size)
    return float(-np.sum(probs * np.log(probs + _NNTF_LOG_OFFSET)))


def nntf_laminarity(R: ArrayLike, *, l_min: int = 2) -> float:
    r"""Laminarity as computed by the NNTF code (``RQA.laminarity_measure``).

    .. math::

        LAM_{NNTF} = \frac{\sum_{v \ge l_{min}} \omega(v) P(v)}{\sum_{v \ge 1} \omega(v) P(v)},
        \qquad \omega(v) = \min(v, N - 1)

    where ``P(v)`` counts the vertical lines of the *whole* matrix (line of identity kept).
    Quirks reproduced: the weights are the bin indices 0..N-1 of
    ``np.histogram(lengths, bins=range(0, N + 1))``, whose last bin is closed, so a
    full-column line of length N weighs N - 1; the result is 0 when the denominator is 0
    (e.g. N = 1, where every weight is 0).

    Parameters
    ----------
    R : array_like of bool, shape (N, N)
        Recurrence matrix.
    l_min : int >= 1, default 2
        Shortest vertical line counted in the numerator.

    Returns
    -------
    float

    Examples
    --------
    >>> nntf_laminarity([[1, 1, 0], [1, 0, 0], [1, 1, 0]])  # lines 3, 1, 1 weigh 2, 1, 1
    0.5
    """
    owner = "nntf_laminarity"
    return _nntf_laminarity(_parse_recurrence(R, "R", owner), _parse_int(l_min, "l_min", owner, 1))


def nntf_entropy(R: ArrayLike, *, l_min: int = 2) -> float:
    r"""Diagonal-line entropy as computed by the NNTF code (``RQA.entropy_measure``).

    .. math::

        ENTR_{NNTF} = -\sum_{l \ge l_{min}} q(l) \ln\bigl(q(l) + 10^{-8}\bigr), \qquad
        q(l) = \frac{P(l)}{\sum_{l' \ge l_{min}} l' P(l')}

    where ``P(l)`` counts the diagonal lines of *all* diagonals. Quirks reproduced: the line
    of identity is kept; the histogram is divided by the *sum of line lengths*, not the
    number of lines, so ``q`` does not sum to 1; ``10^{-8}`` is added inside the logarithm
    (a single line of length 1 with ``l_min = 1`` gives ``-ln(1 + 1e-8) < 0``); 0 when
    there is no line of length >= ``l_min``. The terms are summed in the code's order, so the
    result is bit-identical.

    Parameters
    ----------
    R : array_like of bool, shape (N, N)
        Recurrence matrix.
    l_min : int >= 1, default 2
        Shortest diagonal line counted.

    Returns
    -------
    float

    Examples
    --------
    >>> round(nntf_entropy(np.eye(4, dtype=bool)), 6)  # one line of length 4: q = 1/4
    0.346574
    """
    owner = "nntf_entropy"
    return _nntf_entropy(_parse_recurrence(R, "R", owner), _parse_int(l_min, "l_min", owner, 1))


@dataclass(frozen=True, eq=False)
class NNTFBandSweep:
    """Laminarity and entropy per distance band, as the NNTF code reports them.

    Attributes
    ----------
    starts : ndarray of float64, shape (B,)
        Band lower edges ``a`` (the code's ``int_a`` column).
    ends : ndarray of float64, shape (B,)
        Band upper edges ``a + width`` as computed in float64 (``0.1 + 0.05`` is
        ``0.15000000000000002``, ``0.35 + 0.05`` is ``0.39999999999999997``).
    laminarity : ndarray of float64, shape (B,)
        :func:`nntf_laminarity` of each band.
    entropy : ndarray of float64, shape (B,)
        :func:`nntf_entropy` of each band.
    best_laminarity : float
        Largest laminarity (the code's ``RQA.laminarity``).
    best_laminarity_start : float
        Lower edge of the first band reaching it (``RQA.lam_a``).
    best_entropy : float
        Smallest entropy with ``0 < entropy < 2`` (``RQA.entropy``); 2.0 when there is none
        (the code's starting value).
    best_entropy_start : float
        Lower edge of the first band reaching it (``RQA.ent_a``); -1.0 when there is none.
    width : float
        Band width (the code's ``interval``).
    l_min : int
        Shortest line counted.
    """

    starts: NDArray[np.float64]
    ends: NDArray[np.float64]
    laminarity: NDArray[np.float64]
    entropy: NDArray[np.float64]
    best_laminarity: float
    best_laminarity_start: float
    best_entropy: float
    best_entropy_start: float
    width: float
    l_min: int

    def to_dict(self) -> dict[str, Any]:
        """Plain ``dict`` of the fields, arrays as lists."""
        return {
            "starts": self.starts.tolist(),
            "ends": self.ends.tolist(),
            "laminarity": self.laminarity.tolist(),
            "entropy": self.entropy.tolist(),
            "best_laminarity": self.best_laminarity,
            "best_laminarity_start": self.best_laminarity_start,
            "best_entropy": self.best_entropy,
            "best_entropy_start": self.best_entropy_start,
            "width": self.width,
            "l_min": self.l_min,
        }


def _parse_starts(starts: ArrayLike | None, owner: str) -> NDArray[np.float64]:
    if starts is None:
        return NNTF_BAND_STARTS.copy()
    arr = np.asarray(starts)
    if (
        arr.ndim != 1
        or arr.size == 0
        or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating))
        or not np.all(np.isfinite(arr))
    ):
        raise invalid_parameter(
            "starts", owner, "a non-empty 1-D array of finite floats", _Described(repr(starts))
        )
    return arr.astype(np.float64)


def nntf_band_sweep(
    D: ArrayLike,
    *,
    width: float = 0.05,
    starts: ArrayLike | None = None,
    l_min: int = 2,
) -> NNTFBandSweep:
    r"""The NNTF band sweep: laminarity and entropy of ``[a <= D <= a + width]`` per band.

    Reproduces ``RQA.__init__`` of the NNTF code (``utils/measures.py`` of
    marthadais/NeuralNetworkTrainingFingerprint, the code of Ferreira et al., J. Visualization
    2022) number for number. For each lower edge ``a`` of ``starts`` it forms
    ``R = [a <= D <= a + width]`` (closed at both ends, ``a + width`` in float64) and computes
    :func:`nntf_laminarity` and :func:`nntf_entropy`; it then picks the largest laminarity
    and the smallest entropy in ``(0, 2)`` (first band on ties).

    Quirks of the NNTF code reproduced here, on purpose:

    * Band edges: ``starts`` defaults to ``np.around(np.arange(0.0, 1.0, 0.05), 2)`` whatever
      ``width`` is (the code's ``interval`` changes the width only, so other widths give
      overlapping or gapped bands); upper edges ``a + width`` carry float64 rounding, so a
      distance of exactly 0.15 lies in bands 0.10 and 0.15, but 0.40 lies only in band 0.40.
    * Entropy keeps the line of identity, divides the histogram by the sum of line lengths
      and adds 1e-8 inside the logarithm (see :func:`nntf_entropy`).
    * Laminarity keeps the line of identity and weighs line lengths by 0..N-1, a length-N
      line weighing N - 1 (see :func:`nntf_laminarity`).
    * The best entropy starts at 2.0 with band -1 and only bands with ``0 < entropy < 2`` can
      replace it; the best laminarity starts at -2, so the first band always replaces it.
    * The NNTF class defaults to ``l_min = 1``; the paper's experiments
      (``full_experiments.py``) use ``l_min = 2``, the default here.

    NaN distances are refused (the NNTF code would silently treat them as non-recurrent).

    Parameters
    ----------
    D : array_like of float, shape (N, N)
        Distance matrix (the NNTF fingerprint).
    width : float >= 0, default 0.05
        Band width (the code's ``interval``).
    starts : array_like of float, optional
        Band lower edges; default :data:`NNTF_BAND_STARTS`.
    l_min : int >= 1, default 2
        Shortest line counted by both measures.

    Returns
    -------
    NNTFBandSweep

    Examples
    --------
    >>> D = np.array([[0.0, 0.02, 0.5], [0.02, 0.0, 0.5], [0.5, 0.5, 0.0]])
    >>> sweep = nntf_band_sweep(D)
    >>> sweep.laminarity[[0, 10]].tolist()  # band 0: lines 2, 2, 1; band 0.5: 2, 1, 1
    [0.8, 0.5]
    >>> sweep.best_laminarity, sweep.best_laminarity_start
    (0.8, 0.0)
    """
    owner = "nntf_band_sweep"
    distances = _parse_distance(D, "D", owner)
    width_ = _parse_nonnegative_float(width, "width", owner)
    if not math.isfinite(width_):
        raise invalid_parameter("width", owner, "a finite float >= 0", width)
    l_min_ = _parse_int(l_min, "l_min", owner, 1)
    starts_ = _parse_starts(starts, owner)
    ends = starts_ + width_

    laminarity = np.empty(starts_.size)
    entropy = np.empty(starts_.size)
    for b, (start, end) in enumerate(zip(starts_, ends, strict=True)):
        R = (distances >= start) & (distances <= end)
        laminarity[b] = _nntf_laminarity(R, l_min_)
        entropy[b] = _nntf_entropy(R, l_min_)

    best_lam = int(np.argmax(laminarity))
    candidates = np.flatnonzero((entropy > 0) & (entropy < 2.0))
    if candidates.size:
        best_ent = int(candidates[np.argmin(entropy[candidates])])
        best_entropy, best_entropy_start = float(entropy[best_ent]), float(starts_[best_ent])
    else:
        best_entropy, best_entropy_start = 2.0, -1.0
    for arr in (starts_, ends, laminarity, entropy):
        arr.setflags(write=False)
    return NNTFBandSweep(
        starts=starts_,
        ends=ends,
        laminarity=laminarity,
        entropy=entropy,
        best_laminarity=float(laminarity[best_lam]),
        best_laminarity_start=float(starts_[best_lam]),
        best_entropy=best_entropy,
        best_entropy_start=best_entropy_start,
        width=width_,
        l_min=l_min_,
    )
