"""The approximate HNSW-graph backend (faiss ``IndexHNSWFlat``), re-ranked exactly."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from reprdynamics.analysis.neighbours._faiss import _single_threaded_blas
from reprdynamics.analysis.neighbours._rerank import _rerank_candidates
from reprdynamics.analysis.neighbours.exact import ExactKNNIndex
from reprdynamics.analysis.neighbours.index import KNNIndex
from reprdynamics.errors import require
from reprdynamics.validation import Integer, check


class FaissHNSWIndex(KNNIndex):
    """Approximate neighbours with a faiss HNSW graph, re-ranked by exact distance.

    The candidates are approximate (recall below 1 is possible); their distances and order
    are exact (float64, ties by id). Use only on explicit request;
    :func:`k_nearest_neighbours` measures and reports the recall.

    Parameters
    ----------
    m : int, default 32
        Graph degree (``M`` of HNSW).
    ef_construction : int, default 200
        Candidate list size while building.
    ef_search : int, default 128
        Candidate list size while searching (raised to at least ``2 k``).
    extra_candidates : int, default 8
        Candidates requested beyond k before exact re-ranking.
    """

    name: ClassVar[str] = "faiss-hnsw"
    exact: ClassVar[bool] = False

    def __init__(
        self,
        *,
        m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 128,
        extra_candidates: int = 8,
    ) -> None:
        self.m = m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.extra_candidates = extra_candidates

    def build(self, data: np.ndarray) -> FaissHNSWIndex:
        faiss = require("faiss", "faiss", "The faiss neighbour backend")
        for pname in ("m", "ef_construction", "ef_search", "extra_candidates"):
            low = 0 if pname == "extra_candidates" else 1
            check(getattr(self, pname), Integer(low=low), pname, "FaissHNSWIndex")
        data = self._prepare_build(data)
        centred = np.ascontiguousarray(data - self.mean_, dtype=np.float32)
        self.index_ = faiss.IndexHNSWFlat(data.shape[1], int(self.m))
        self.index_.hnsw.efConstruction = int(self.ef_construction)
        self.index_.add(centred)
        self._fallback: ExactKNNIndex | None = None
        return self

    def query(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q, k = self._prepare_query(queries, k)
        n = self.data_.shape[0]
        k_search = min(n, k + int(self.extra_candidates))
        self.index_.hnsw.efSearch = int(max(self.ef_search, 2 * k_search))
        qc = np.ascontiguousarray(q - self.mean_, dtype=np.float32)
        with _single_threaded_blas():
            _, cand = self.index_.search(qc, k_search)
        # Rows where the graph returned fewer than k are answered exactly.
        return _rerank_candidates(self, q, cand.astype(np.int64, copy=False), k)
