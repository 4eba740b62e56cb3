r"""The band sweep of the Neural Network Training Fingerprint code, number for number.

M. D. Ferreira, G. D. Cantareira, R. F. de Mello, F. V. Paulovich, "Neural network training
fingerprint: visual analytics of the training process in classification neural networks",
Journal of Visualization 25 (2022); code:
https://github.com/marthadais/NeuralNetworkTrainingFingerprint (``utils/measures.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reprdynamics.analysis._described import Described
from reprdynamics.analysis.recurrence._parsing import (
    _parse_distance,
    _parse_int,
    _parse_nonnegative_float,
    _parse_recurrence,
)
from reprdynamics.analysis.recurrence.lines import _diagonal_counts, _vertical_counts
from reprdynamics.errors import invalid_parameter

#: Band lower edges of the NNTF code: ``np.around(np.arange(0.0, 1.0, 0.05), 2)``, i.e.
#: 0, 0.05, …, 0.95 rounded to two decimals (20 bands).
NNTF_BAND_STARTS: NDArray[np.float64] = np.around(np.arange(0.0, 1.0, 0.05), 2)
NNTF_BAND_STARTS.setflags(write=False)

#: The NNTF code adds this inside the logarithm of its entropy.
_NNTF_LOG_OFFSET = 1e-8


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
            "starts", owner, "a non-empty 1-D array of finite floats", Described(repr(starts))
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
