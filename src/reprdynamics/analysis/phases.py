"""Where a fingerprint shows a change of training phase.

A phase of training shows in a fingerprint as a block of mutually similar snapshots along
the diagonal; a phase change is the boundary between two blocks. We score every boundary
with Foote's checkerboard novelty (J. Foote, "Automatic audio segmentation using a measure
of audio novelty", ICME 2000) applied to the similarity ``1 - D``: the mean distance
*across* the boundary minus the mean distance *within* the two blocks beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from reprdynamics.errors import invalid_parameter
from reprdynamics.validation import Integer, validate_params

__all__ = ["PhaseChanges", "novelty_curve", "phase_changes"]


@validate_params(width=Integer(low=1))
def novelty_curve(D: Any, *, width: int = 3) -> np.ndarray:
    """Checkerboard novelty of a distance matrix at each boundary.

    ``novelty[b]`` scores the boundary between rows ``b`` and ``b + 1`` (so the result has
    ``T - 1`` entries): with ``w = min(width, b + 1, T - b - 1)``, the blocks
    ``P = [b-w+1, b]`` and ``F = [b+1, b+w]`` give

        novelty[b] = mean(D[P, F]) - (mean(D[P, P]) + mean(D[F, F])) / 2

    where the within-block means exclude the diagonal (a one-row block contributes 0).
    Positive values mean the snapshots before the boundary are closer to each other than to
    those after it.

    Examples
    --------
    >>> D = np.ones((4, 4)) - np.kron(np.eye(2), np.ones((2, 2)))
    >>> novelty_curve(D, width=2).round(3).tolist()
    [0.0, 1.0, 0.0]
    """
    matrix = np.asarray(D, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise invalid_parameter("D", "novelty_curve", "a square matrix", matrix.shape)
    n = matrix.shape[0]
    out = np.zeros(max(n - 1, 0))

    def within(block: np.ndarray) -> float:
        m = block.shape[0]
        if m < 2:
            return 0.0
        return float((block.sum() - np.trace(block)) / (m * m - m))

    for b in range(n - 1):
        w = int(min(width, b + 1, n - b - 1))
        past = slice(b - w + 1, b + 1)
        future = slice(b + 1, b + w + 1)
        across = float(np.nanmean(matrix[past, future]))
        out[b] = across - (within(matrix[past, past]) + within(matrix[future, future])) / 2
    return out


@dataclass(frozen=True)
class PhaseChanges:
    """Boundaries where the fingerprint changes phase.

    ``boundaries`` index the novelty curve: a boundary ``b`` lies between fingerprint rows
    ``b`` and ``b + 1``.
    """

    boundaries: np.ndarray
    scores: np.ndarray
    novelty: np.ndarray
    threshold: float


def phase_changes(
    D: Any, *, width: int = 3, z: float = 1.0, min_score: float = 0.02, max_changes: int = 5
) -> PhaseChanges:
    """Local maxima of the novelty curve that stand out from it.

    A boundary is reported when its novelty is a local maximum, at least ``min_score``
    (fingerprints live in [0, 1]: a smaller jump is noise), and above ``mean + z * std`` of
    the curve; at most ``max_changes``, strongest first.
    """
    novelty = novelty_curve(D, width=width)
    if novelty.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return PhaseChanges(empty, np.zeros(0), novelty, float("nan"))
    threshold = float(novelty.mean() + z * novelty.std())
    padded = np.concatenate([[-np.inf], novelty, [-np.inf]])
    is_peak = (padded[1:-1] >= padded[:-2]) & (padded[1:-1] >= padded[2:])
    candidates = np.flatnonzero(
        is_peak & (novelty > 0) & (novelty >= min_score) & (novelty >= threshold)
    )
    order = candidates[np.argsort(-novelty[candidates], kind="stable")][:max_changes]
    return PhaseChanges(order.astype(np.int64), novelty[order], novelty, threshold)
