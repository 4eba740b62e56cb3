"""The answer of a neighbour search: ids and distances of the k nearest other rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class NeighbourResult:
    """The k nearest other samples of every row.

    Attributes
    ----------
    indices : ndarray of int64, shape (n, k)
        ``indices[i]`` are the row positions of the k nearest other rows of ``X`` to row
        ``i``, nearest first; ties ordered by smaller id.
    distances : ndarray of float64, shape (n, k)
        Matching distances: euclidean distance, or cosine distance ``1 - cos`` (see
        :func:`k_nearest_neighbours`). Non-decreasing along each row.
    metric : str
        ``"euclidean"`` or ``"cosine"``.
    backend : str
        Name of the backend that produced the result.
    exact : bool
        Whether the backend guarantees the exact result (and the tie rule).
    recall : float or None
        For approximate backends: mean fraction of the exact k neighbours found, measured
        on a random sample of queries against the exact backend. ``None`` when exact.
    recall_sample_size : int
        Number of queries the recall was measured on (0 when exact).
    """

    indices: np.ndarray
    distances: np.ndarray
    metric: str
    backend: str
    exact: bool
    recall: float | None = None
    recall_sample_size: int = 0

    @property
    def n_samples(self) -> int:
        """Number of rows (samples)."""
        return int(self.indices.shape[0])

    @property
    def k(self) -> int:
        """Number of neighbours per row."""
        return int(self.indices.shape[1])
