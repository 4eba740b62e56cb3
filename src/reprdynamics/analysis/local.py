"""The neighbourhood of one sample (the dashboard's local view)."""

from __future__ import annotations

import numpy as np

from reprdynamics.analysis.neighbours import ExactKNNIndex

__all__ = ["nearest_rows"]


def nearest_rows(X: np.ndarray, pos: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions and distances of the k nearest other rows of X to row ``pos``.

    The exact backend's query for one row: the same neighbours, in the same order (distance,
    then id) as row ``pos`` of :func:`~reprdynamics.analysis.neighbours.k_nearest_neighbours`
    on all of X, at O(n·D) instead of O(n²·D).
    """
    d2, idx = ExactKNNIndex().build(X).query(X[pos : pos + 1], k + 1)
    d2, idx = d2[0], idx[0]
    keep = idx != pos
    d2, idx = d2[keep][:k], idx[keep][:k]
    dist = np.sqrt(d2)
    order = np.lexsort((idx, dist))
    return idx[order], dist[order]
