"""The interface every nearest-neighbour backend implements (after openTSNE's ``KNNIndex``)."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from reprdynamics.analysis.neighbours._parsing import _as_data_matrix, _check_k
from reprdynamics.errors import invalid_parameter


class KNNIndex(ABC):
    """Interface of a nearest-neighbour backend (after openTSNE's ``KNNIndex``).

    ``build(data)`` indexes the rows of ``data``; ``query(queries, k)`` returns
    ``(squared_distances, indices)``, both (m, k), nearest first. Exact backends
    (``exact = True``) return exactly the brute-force result ordered by (distance, id);
    approximate backends return their best candidates, re-ranked by exact distance.
    """

    name: ClassVar[str] = "index"
    exact: ClassVar[bool] = True
    #: Threads a query may use besides the library's own (None: one per core). The
    #: run-level API sets 1 when it already runs snapshots in parallel.
    n_threads: int | None = None

    def _threads(self) -> int:
        return int(self.n_threads) if self.n_threads else (os.cpu_count() or 1)

    @abstractmethod
    def build(self, data: np.ndarray) -> KNNIndex:
        """Index the rows of ``data`` (n, D); return ``self``."""

    @abstractmethod
    def query(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest indexed rows to each query row: ``(squared distances, indices)``."""

    # Shared by the backends: parse inputs the same way everywhere.
    def _prepare_build(self, data: Any) -> np.ndarray:
        data = _as_data_matrix(data, "data", f"{type(self).__name__}.build")
        self.data_ = data
        self.mean_ = data.mean(axis=0, dtype=np.float64)
        return data

    def _prepare_query(self, queries: Any, k: Any) -> tuple[np.ndarray, int]:
        if not hasattr(self, "data_"):
            raise invalid_parameter(
                "self",
                f"{type(self).__name__}.query",
                "a built index (call build first)",
                "an unbuilt index",
            )
        owner = f"{type(self).__name__}.query"
        q = queries if queries is self.data_ else _as_data_matrix(queries, "queries", owner)
        if q.shape[1] != self.data_.shape[1]:
            raise invalid_parameter(
                "queries",
                owner,
                f"an array with {self.data_.shape[1]} columns",
                f"an array of shape {q.shape}",
            )
        k = _check_k(k, 1, self.data_.shape[0], owner, "n_indexed")
        return q, k
