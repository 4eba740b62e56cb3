"""Finishing a backend's candidates exactly: re-ranking, and the exact backend as fallback."""

from __future__ import annotations

import numpy as np

from reprdynamics.analysis.neighbours._arithmetic import _candidate_sq_distances, _select_candidates
from reprdynamics.analysis.neighbours.exact import ExactKNNIndex
from reprdynamics.analysis.neighbours.index import KNNIndex


def _recompute_unproven(
    index: KNNIndex,
    q: np.ndarray,
    k: int,
    out_d: np.ndarray,
    out_i: np.ndarray,
    proven: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose candidate list could not be certified are redone by the exact backend."""
    redo = np.flatnonzero(~proven)
    if redo.size:
        fallback = getattr(index, "_fallback", None)
        if fallback is None:
            fallback = index._fallback = ExactKNNIndex().build(index.data_)
        out_d[redo], out_i[redo] = fallback._query(q[redo], k)
    return out_d, out_i


def _rerank_candidates(
    index: KNNIndex, q: np.ndarray, cand: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate candidates (``-1`` = none) re-ranked by exact distance, then id.

    Rows with fewer than k candidates are answered exactly by :class:`ExactKNNIndex`.
    """
    n, m = index.data_.shape[0], q.shape[0]
    valid = cand >= 0
    full = valid.sum(axis=1) >= k
    out_d = np.empty((m, k), dtype=np.float64)
    out_i = np.empty((m, k), dtype=np.int64)
    rows = np.flatnonzero(full)
    if rows.size:
        c, v = cand[rows], valid[rows]
        d2 = _candidate_sq_distances(q[rows], index.data_, np.where(v, c, 0), index._threads())
        d2[~v] = np.inf
        out_d[rows], out_i[rows] = _select_candidates(d2, np.where(v, c, n), k)
    short = np.flatnonzero(~full)
    if short.size:
        fallback = getattr(index, "_fallback", None)
        if fallback is None:
            fallback = index._fallback = ExactKNNIndex().build(index.data_)  # type: ignore[attr-defined]
        out_d[short], out_i[short] = fallback._query(q[short], k)
    return out_d, out_i
