"""The exact k-d tree backend (SciPy's ``cKDTree``), for low-dimensional data."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from reprdynamics.analysis.neighbours._arithmetic import _candidate_sq_distances, _select_candidates
from reprdynamics.analysis.neighbours._rerank import _recompute_unproven
from reprdynamics.analysis.neighbours.exact import ExactKNNIndex
from reprdynamics.analysis.neighbours.index import KNNIndex


class KDTreeKNNIndex(KNNIndex):
    """Exact neighbours from a k-d tree (SciPy's ``cKDTree``), re-ranked by the tie rule.

    Fast for low-dimensional representations (logits of a few classes), where brute force
    spends its time partitioning an n×n distance matrix. The tree returns
    ``k + extra_candidates`` candidates in float64; they are re-ranked by recomputed
    distances, then (distance, id). A row is accepted only when the tree's last candidate is
    farther than the k-th distance, so no tied neighbour can lie beyond the candidates;
    other rows are recomputed by :class:`ExactKNNIndex`. The result equals the exact
    backend's, tie rule included.
    """

    name: ClassVar[str] = "kdtree"
    exact: ClassVar[bool] = True

    def __init__(self, *, extra_candidates: int = 4, leafsize: int = 32) -> None:
        self.extra_candidates = extra_candidates
        self.leafsize = leafsize

    def build(self, data: np.ndarray) -> KDTreeKNNIndex:
        from scipy.spatial import cKDTree

        data = self._prepare_build(data)
        self.tree_ = cKDTree(np.asarray(data, dtype=np.float64), leafsize=self.leafsize)
        self._fallback: ExactKNNIndex | None = None
        return self

    def query(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q, k = self._prepare_query(queries, k)
        n = self.data_.shape[0]
        m = q.shape[0]
        k_search = min(n, k + int(self.extra_candidates))
        dist, cand = self.tree_.query(
            np.asarray(q, dtype=np.float64), k=k_search, workers=self._threads()
        )
        dist = np.asarray(dist, dtype=np.float64).reshape(m, k_search)
        cand = np.asarray(cand, dtype=np.int64).reshape(m, k_search)
        d2 = _candidate_sq_distances(q, self.data_, cand, self._threads())
        out_d, out_i = _select_candidates(d2, cand, k)
        if k_search < n:
            # Squared distances; the tree's own distance is exact to float64 rounding.
            last = dist[:, -1] ** 2
            proven = last * (1.0 - 1e-9) > out_d[:, -1] * (1.0 + 1e-9) + 1e-300
        else:
            proven = np.ones(m, dtype=bool)
        return _recompute_unproven(self, q, k, out_d, out_i, proven)
