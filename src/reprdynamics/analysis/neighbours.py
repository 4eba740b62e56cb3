"""k nearest neighbours with one deterministic tie rule and interchangeable backends.

DESIGN section 2: ``N_k(i, t)`` is the set of ids of the k nearest *other* samples to ``i``,
euclidean by default, cosine optional; exact by default, with ties ordered by smaller
distance, then smaller id. Approximate backends are an opt-in and report their recall.

Backends follow openTSNE's ``KNNIndex`` idea: an object with ``build(data)`` and
``query(queries, k)``, chosen by name (``"exact"``, ``"faiss"``, ``"faiss-hnsw"`` alias
``"approximate"``, ``"auto"``) or passed as an instance. Every backend works in euclidean
space and returns *squared* euclidean distances; :func:`k_nearest_neighbours` maps cosine
onto euclidean space first and converts the distances it reports.

How exactness is kept with fast arithmetic: candidates are found with the expansion
``||x||^2 + ||y||^2 - 2 x.y`` (one float32 BLAS product per block of query rows, on
column-centred data), every point whose approximate value lies within a rounding-error
bound of the k-th smallest is kept, and the final order is decided on distances recomputed
directly as ``sum((x - y)^2)`` in float64. So rows that are exactly tied in float64
(duplicates, integer data) are ordered by id, and the result equals a brute-force sort on
``(distance, id)``. The exact faiss backend uses the same bound to certify its candidates
and recomputes uncertified rows with the NumPy backend.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from reprdynamics.analysis.fingerprints import neighbour_overlap
from reprdynamics.errors import InvalidParameterError, invalid_parameter, require

__all__ = [
    "BACKENDS",
    "AutoKNNIndex",
    "ExactKNNIndex",
    "FaissHNSWIndex",
    "FaissIVFIndex",
    "FaissKNNIndex",
    "KDTreeKNNIndex",
    "KNNIndex",
    "NeighbourResult",
    "get_backend",
    "k_nearest_neighbours",
    "neighbour_recall",
]

Metric = Literal["euclidean", "cosine"]

_METRICS = ("euclidean", "cosine")
#: Memory one block of the exact backend's distance matrix may take (bytes).
_DEFAULT_BLOCK_BYTES = 256 * 2**20
#: Bytes of pair differences materialised at once when recomputing exact distances.
_PAIR_CHUNK_BYTES = 4 * 2**20
#: Bytes of gathered candidate rows per chunk in :func:`_candidate_sq_distances` (fits L2).
_CANDIDATE_CHUNK_BYTES = 2**20
_FAISS_SETTINGS = threading.Lock()
_FAISS_ACTIVE = [0]  # searches running with our block sizes
_FAISS_SAVED: list[int] = []  # the settings they replaced
#: From this many queries on, faiss's flat search uses BLAS (faiss's historical default).
_FAISS_BLAS_THRESHOLD = 20


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


# --------------------------------------------------------------------------- validation


def _as_data_matrix(X: Any, name: str, owner: str, *, min_rows: int = 1) -> np.ndarray:
    """Parse ``X`` into a finite C-contiguous (n, D) float32 or float64 matrix or raise.

    float32 (and float16) input stays float32: every exact distance is computed with the
    differences in float64 (:func:`_pair_sq_distances`), where float32 values are exact,
    so nothing is lost and half the memory is read.
    """
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise invalid_parameter(name, owner, "a 2-D numeric array", type(X).__name__) from exc
    if arr.ndim != 2:
        raise invalid_parameter(
            name, owner, "a 2-D array (n_samples, n_features)", f"an array of shape {arr.shape}"
        )
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise invalid_parameter(name, owner, "a real numeric array", f"dtype {arr.dtype}")
    if arr.shape[0] < min_rows or arr.shape[1] < 1:
        raise invalid_parameter(
            name,
            owner,
            f"an array with at least {min_rows} rows and 1 column",
            f"an array of shape {arr.shape}",
        )
    dtype = np.float32 if arr.dtype in (np.float32, np.float16) else np.float64
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(arr).all():
        raise invalid_parameter(name, owner, "finite (no NaN or inf)", "non-finite values")
    return arr


def _check_k(k: Any, low: int, high: int, owner: str, bound: str) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not low <= k <= high:
        raise invalid_parameter("k", owner, f"an int in [{low}, {bound}={high}]", k)
    return int(k)


# ------------------------------------------------------------------- exact arithmetic


def _pair_sq_distances(
    queries: np.ndarray, data: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    """Squared euclidean distances of the pairs (queries[rows], data[cols]), float64.

    Computed directly as ``sum((x - y)^2)`` by one kernel (``einsum`` over the contiguous
    feature axis, the same kernel as :func:`_candidate_sq_distances`), so a pair always gets
    the same value however it was found, and exactly tied pairs compare equal.
    """
    out = np.empty(rows.shape[0], dtype=np.float64)
    step = max(1, _PAIR_CHUNK_BYTES // (8 * data.shape[1]))
    for s in range(0, rows.shape[0], step):
        diff = data[cols[s : s + step]].astype(np.float64)
        np.subtract(diff, queries[rows[s : s + step]], out=diff)
        out[s : s + step] = np.einsum("ij,ij->i", diff, diff)
    return out


def _candidate_sq_distances(
    queries: np.ndarray, data: np.ndarray, cand: np.ndarray, n_threads: int = 1
) -> np.ndarray:
    """Squared distances of every query row to its candidate rows ``cand`` (m, K), float64.

    Bit-identical to :func:`_pair_sq_distances` on the same pairs. Works in chunks of about
    a megabyte, so the gathered rows stay in cache; ``n_threads`` threads split the rows
    (NumPy releases the GIL in the gather and in ``einsum``).
    """
    m, width = cand.shape
    out = np.empty((m, width), dtype=np.float64)
    step = max(1, _CANDIDATE_CHUNK_BYTES // (8 * data.shape[1] * max(width, 1)))

    def part(lo: int, hi: int) -> None:
        for s in range(lo, hi, step):
            e = min(hi, s + step)
            diff = data[cand[s:e]].astype(np.float64)
            np.subtract(diff, queries[s:e, None, :], out=diff)
            out[s:e] = np.einsum("ijk,ijk->ij", diff, diff)

    threads = max(1, min(int(n_threads), m // max(step, 1)))
    if threads == 1 or m * width * data.shape[1] < 2**22:
        part(0, m)
    else:
        from concurrent.futures import ThreadPoolExecutor

        bounds = np.linspace(0, m, threads + 1).astype(int)
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(part, bounds[:-1], bounds[1:]))
    return out


def _select_by_distance_then_id(
    d2: np.ndarray, rows: np.ndarray, cols: np.ndarray, k: int, n_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the k candidate pairs with smallest (distance, id); every row needs >= k."""
    order = np.lexsort((cols, d2, rows))
    counts = np.bincount(rows, minlength=n_rows)
    starts = np.cumsum(counts) - counts
    take = order[starts[:, None] + np.arange(k)]
    return d2[take], cols[take]


def _select_candidates(d2: np.ndarray, cand: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a (m, K) candidate matrix, the k with smallest (distance, id)."""
    order = np.lexsort((cand, d2), axis=1)[:, :k]
    return np.take_along_axis(d2, order, axis=1), np.take_along_axis(cand, order, axis=1)


def _rounding_bound(n_features: int, dtype: np.dtype) -> float:
    """Relative error bound of the expansion formula (cast, norms, dot, two additions).

    Standard bound ``gamma_D = D u`` for a length-D dot product, applied to both norms and
    the cross term, plus the cast to ``dtype``; doubled for safety. Multiply by
    ``||x||^2 + ||y||^2`` of centred rows to get an absolute bound.
    """
    unit = float(np.finfo(dtype).eps) / 2
    return (4.0 * n_features + 32.0) * unit


def _sort_rows_by_distance_then_id(
    dist: np.ndarray, idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Re-sort the rows that are out of (distance, id) order; the others are left alone.

    Rows come in sorted by squared distance with ties by id; ``sqrt`` can merge distinct
    values, so only rows where equal neighbouring distances have ids out of order change.
    """
    bad = (dist[:, 1:] < dist[:, :-1]) | (
        (dist[:, 1:] == dist[:, :-1]) & (idx[:, 1:] < idx[:, :-1])
    )
    rows = np.flatnonzero(bad.any(axis=1))
    if rows.size:
        order = np.lexsort((idx[rows], dist[rows]), axis=1)
        dist, idx = dist.copy(), idx.copy()
        dist[rows] = np.take_along_axis(dist[rows], order, axis=1)
        idx[rows] = np.take_along_axis(idx[rows], order, axis=1)
    return dist, idx


# ----------------------------------------------------------------------------- backends


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


class ExactKNNIndex(KNNIndex):
    """Exact brute-force neighbours with blocked BLAS and exact re-ranking.

    Parameters
    ----------
    block_bytes : int, default 256 MiB
        Upper bound on the memory of one block of the (queries x data) distance matrix;
        the number of query rows per block follows from it.
    compute_dtype : {"float32", "float64"}, default "float32"
        Precision of the candidate search. The result is exact either way (candidates
        within the rounding bound of the k-th distance are all re-ranked in float64);
        float32 halves memory traffic.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [3.0], [1.0]])
    >>> d2, idx = ExactKNNIndex().build(X).query(X[:1], 2)
    >>> idx.tolist(), d2.tolist()
    ([[0, 1]], [[0.0, 1.0]])
    """

    name: ClassVar[str] = "exact"
    exact: ClassVar[bool] = True

    def __init__(
        self,
        *,
        block_bytes: int = _DEFAULT_BLOCK_BYTES,
        compute_dtype: Literal["float32", "float64"] = "float32",
    ) -> None:
        self.block_bytes = block_bytes
        self.compute_dtype = compute_dtype

    def build(self, data: np.ndarray) -> ExactKNNIndex:
        owner = "ExactKNNIndex"
        if (
            isinstance(self.block_bytes, bool)
            or not isinstance(self.block_bytes, int | np.integer)
            or self.block_bytes < 1
        ):
            raise invalid_parameter("block_bytes", owner, "a positive int", self.block_bytes)
        if self.compute_dtype not in ("float32", "float64"):
            raise invalid_parameter(
                "compute_dtype", owner, "'float32' or 'float64'", self.compute_dtype
            )
        data = self._prepare_build(data)
        dtype = np.dtype(self.compute_dtype)
        centred = np.ascontiguousarray(data - self.mean_, dtype=dtype)
        sq_norms = np.einsum("ij,ij->i", centred, centred, dtype=np.float64)
        # One GEMM gives ||y||^2 - 2 x.y directly: queries get a column of ones, data rows
        # become (-2 y, ||y||^2). Scaling by -2 is exact; ||x||^2 is constant per query row
        # and does not change the order, so it is never added.
        self.augmented_ = np.empty((data.shape[0], data.shape[1] + 1), dtype=dtype)
        np.multiply(centred, -2, out=self.augmented_[:, :-1])
        self.augmented_[:, -1] = sq_norms
        self.max_sq_norm_ = float(sq_norms.max())
        self.relative_error_ = _rounding_bound(data.shape[1] + 1, dtype)
        return self

    def query(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q, k = self._prepare_query(queries, k)
        return self._query(q, k)

    def _query(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        n = self.data_.shape[0]
        dtype = self.augmented_.dtype
        q_aug = np.ones((q.shape[0], q.shape[1] + 1), dtype=dtype)
        q_aug[:, :-1] = q - self.mean_
        q_sq = np.einsum("ij,ij->i", q_aug[:, :-1], q_aug[:, :-1], dtype=np.float64)
        slack_all = 2.0 * self.relative_error_ * (q_sq + self.max_sq_norm_)
        # The k-th smallest value over a subset of the data can only be larger than over
        # all of it: a cheap upper bound, so that only a few hundred columns per row survive
        # the scan of the full block. The subset is a contiguous copy (cache friendly).
        # About 512 columns: the bound then lets through roughly k * n / 512 candidates per
        # row, which is far cheaper than partitioning every row of the block.
        stride = max(1, n // max(512, 8 * k))
        subset = np.ascontiguousarray(self.augmented_[::stride])
        expected = k * n // max(subset.shape[0], 1)
        # A block holds the distance block, a boolean mask and the candidates of each row.
        per_row = n * (dtype.itemsize + 1) + max(64 * k, 4 * expected) * 24
        step = int(max(1, min(q.shape[0], self.block_bytes // per_row)))
        out_d = np.empty((q.shape[0], k), dtype=np.float64)
        out_i = np.empty((q.shape[0], k), dtype=np.int64)
        for s in range(0, q.shape[0], step):
            e = min(s + step, q.shape[0])
            slack = slack_all[s:e]
            sub = q_aug[s:e] @ subset.T
            bound = _kth_smallest_rows(sub, k).astype(np.float64) + slack
            partial = q_aug[s:e] @ self.augmented_.T  # ||y||^2 - 2 x.y, shape (b, n)
            # flatnonzero + divmod: much faster than a 2-D nonzero.
            flat = np.flatnonzero(partial <= _round_up(bound, dtype)[:, None])
            values = partial.ravel()[flat].astype(np.float64)
            del partial
            rows, cols = np.divmod(flat, n)
            # Exact k-th smallest candidate value per row, then keep everything within
            # the rounding bound of it.
            kth = _kth_smallest_grouped(values, rows, e - s, k)
            keep = values <= (kth + slack)[rows]
            rows, cols = rows[keep], cols[keep]
            d2 = _pair_sq_distances(q[s:e], self.data_, rows, cols)
            out_d[s:e], out_i[s:e] = _select_by_distance_then_id(d2, rows, cols, k, e - s)
        return out_d, out_i


def _kth_smallest_rows(values: np.ndarray, k: int) -> np.ndarray:
    """k-th smallest value of every row (rows need at least k columns)."""
    if values.shape[1] > k:
        return np.partition(values, k - 1, axis=1)[:, k - 1]
    return values.max(axis=1)


def _round_up(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``values`` (float64) in ``dtype``, rounded up, so comparisons stay in one dtype."""
    out = values.astype(dtype)
    low = out.astype(np.float64) < values
    out[low] = np.nextafter(out[low], dtype.type(np.inf))
    return out


def _kth_smallest_grouped(values: np.ndarray, rows: np.ndarray, n_rows: int, k: int) -> np.ndarray:
    """k-th smallest of ``values`` within each row group (rows ascending, >= k per row)."""
    counts = np.bincount(rows, minlength=n_rows)
    starts = np.cumsum(counts) - counts
    widest = int(counts.max())
    if n_rows * widest <= 4 * values.size + 2**20:
        # Pad rows to equal length with +inf and partition: far faster than a lexsort.
        padded = np.full((n_rows, widest), np.inf)
        padded[rows, np.arange(values.size) - starts[rows]] = values
        return _kth_smallest_rows(padded, k)
    order = np.lexsort((values, rows))  # very uneven groups: avoid a huge padded array
    return values[order[starts + (k - 1)]]


class FaissKNNIndex(KNNIndex):
    """Exact neighbours from faiss ``IndexFlatL2`` candidates, certified by a rounding bound.

    faiss computes float32 squared distances ``a`` by the expansion formula; each differs
    from the exact value by at most ``s = bound * (||x||^2 + max ||y||^2)`` (centred rows,
    see :func:`_rounding_bound`). faiss is asked for ``k + extra_candidates`` candidates. A
    row is *certified* when its k-th and ``k+1``-th approximate values are more than ``2 s``
    apart: then the exact k nearest are the first k candidates, and no other row of the
    data comes as close as the k-th (its approximate value is at least the ``k+1``-th).
    Only those k distances are recomputed in float64 and sorted by (distance, id). Other
    rows have all their candidates recomputed in float64 and sorted by (distance, id);
    they are accepted when the last candidate's approximate value minus ``s`` exceeds the
    exact k-th distance, else searched again with more candidates, and finally answered by
    :class:`ExactKNNIndex`. The result therefore equals the exact
    backend's, tie rule included, while doing almost nothing beyond faiss's own search.

    Parameters
    ----------
    extra_candidates : int, default 2
        Candidates requested beyond k in the first search (more are requested only for the
        rows that need them).

    Notes
    -----
    faiss's query and database block sizes are set for the duration of a search (1024 x
    4096 rows by default: the distance block then stays in a core's L2 cache, measured 15-20%
    faster than faiss's defaults for low-dimensional data) and restored afterwards.
    """

    name: ClassVar[str] = "faiss"
    exact: ClassVar[bool] = True

    #: Rows per query block and per database block of faiss's BLAS search.
    query_block: ClassVar[int] = 1024
    database_block: ClassVar[int] = 4096

    def __init__(self, *, extra_candidates: int = 2) -> None:
        self.extra_candidates = extra_candidates

    def build(self, data: np.ndarray) -> FaissKNNIndex:
        faiss = require("faiss", "faiss", "The faiss neighbour backend")
        if (
            isinstance(self.extra_candidates, bool)
            or not isinstance(self.extra_candidates, int | np.integer)
            or self.extra_candidates < 0
        ):
            raise invalid_parameter(
                "extra_candidates", "FaissKNNIndex", "an int >= 0", self.extra_candidates
            )
        data = self._prepare_build(data)
        centred = np.ascontiguousarray(data - self.mean_, dtype=np.float32)
        self.index_ = faiss.IndexFlatL2(data.shape[1])
        self.index_.add(centred)
        self.centred_ = centred
        self.sq_norms_ = np.einsum("ij,ij->i", centred, centred, dtype=np.float64)
        self.max_sq_norm_ = float(self.sq_norms_.max())
        self.relative_error_ = _rounding_bound(data.shape[1], np.dtype(np.float32))
        self._fallback: ExactKNNIndex | None = None
        return self

    def _search(self, qc: np.ndarray, k_search: int) -> tuple[np.ndarray, np.ndarray]:
        with _faiss_blocks(self.query_block, self.database_block):
            approx, cand = self.index_.search(qc, k_search)
        return approx, cand.astype(np.int64, copy=False)

    def query(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q, k = self._prepare_query(queries, k)
        return self._query(q, k)

    def _query(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        n, m = self.data_.shape[0], q.shape[0]
        if q is self.data_:  # the usual all-pairs search: reuse the centred copy
            qc, q_sq = self.centred_, self.sq_norms_
        else:
            qc = np.ascontiguousarray(q - self.mean_, dtype=np.float32)
            q_sq = np.einsum("ij,ij->i", qc, qc, dtype=np.float64)
        slack = 2.0 * self.relative_error_ * (q_sq + self.max_sq_norm_)
        out_d = np.empty((m, k), dtype=np.float64)
        out_i = np.empty((m, k), dtype=np.int64)
        if k >= n:  # every row is a neighbour: nothing to certify
            cand = np.broadcast_to(np.arange(n), (m, n))
            d2 = _candidate_sq_distances(q, self.data_, np.ascontiguousarray(cand), self._threads())
            return _select_candidates(d2, np.ascontiguousarray(cand), k)
        k_search = min(n, k + 1 + int(self.extra_candidates))
        approx, cand = self._search(qc, k_search)
        approx = approx.astype(np.float64)
        # Certified rows: the k-th and (k+1)-th approximate values are more than two
        # error bounds apart, so the exact k nearest are the first k candidates (in some
        # order) and nothing else comes as close as the k-th.
        certified = approx[:, k] - approx[:, k - 1] > 2.0 * slack
        certified &= (cand[:, : k + 1] >= 0).all(axis=1)
        rows = np.flatnonzero(certified)
        if rows.size:
            head = np.ascontiguousarray(cand[rows, :k])
            d2 = _candidate_sq_distances(q[rows], self.data_, head, self._threads())
            out_d[rows], out_i[rows] = _select_candidates(d2, head, k)
        todo = np.flatnonzero(~certified)
        while todo.size:
            if k_search > k + 1 + int(self.extra_candidates):  # a second, wider search
                approx_t, cand_t = self._search(qc[todo], k_search)
                approx_t = approx_t.astype(np.float64)
            else:
                approx_t, cand_t = approx[todo], cand[todo]
            valid = cand_t >= 0
            d2 = _candidate_sq_distances(
                q[todo], self.data_, np.where(valid, cand_t, 0), self._threads()
            )
            d2[~valid] = np.inf
            sel_d, sel_i = _select_candidates(d2, np.where(valid, cand_t, n), k)
            if k_search >= n:
                proven = valid.sum(axis=1) >= k
            else:
                proven = valid.all(axis=1) & (approx_t[:, -1] - slack[todo] > sel_d[:, -1])
            done = todo[proven]
            out_d[done], out_i[done] = sel_d[proven], sel_i[proven]
            todo = todo[~proven]
            if todo.size and (k_search >= n or k_search >= 8 * (k + 1) + 64):
                break
            k_search = min(n, 4 * k_search + 16)
        if todo.size:
            if self._fallback is None:
                self._fallback = ExactKNNIndex().build(self.data_)
            out_d[todo], out_i[todo] = self._fallback._query(q[todo], k)
        return out_d, out_i


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
            value = getattr(self, pname)
            low = 0 if pname == "extra_candidates" else 1
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise invalid_parameter(pname, "FaissHNSWIndex", f"an int >= {low}", value)
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


#: Cost of faiss's flat search per (query, data row) pair on one thread, in nanoseconds:
#: ``a + b * D``, and the speed-up of each further thread. Measured with
#: ``benchmarks/bench_scale.py`` on a 2-core Xeon (AVX-512, OpenBLAS): 1.23 ns at D=10
#: and 7.7 ns at D=512 on one thread; 2 threads ran 1.7x faster. Only the ratio to the
#: k-d tree's measured probe matters, so the figures need not be exact on other machines.
_FLAT_NS_PER_PAIR = (1.10, 0.0129)
_FLAT_THREAD_EFFICIENCY = 0.7


def brute_force_seconds(n_data: int, n_queries: int, n_features: int, threads: int = 1) -> float:
    """Predicted seconds of an exact flat (brute-force) search: ``m n (a + b D) / speed-up``.

    Examples
    --------
    >>> round(brute_force_seconds(50_000, 50_000, 10, threads=2), 1)
    1.8
    """
    a, b = _FLAT_NS_PER_PAIR
    speedup = 1.0 + _FLAT_THREAD_EFFICIENCY * (max(1, threads) - 1)
    return n_data * n_queries * (a + b * n_features) * 1e-9 / speedup


class AutoKNNIndex(KNNIndex):
    """Exact neighbours from whichever exact backend a measured cost model says is fastest.

    The candidates are faiss's flat index (:class:`FaissKNNIndex`, or the NumPy backend
    without faiss), whose cost is predictable, ``m n (a + b D)`` divided by the threads'
    speed-up (:func:`brute_force_seconds`, constants measured), and the k-d tree
    (:class:`KDTreeKNNIndex`), whose cost depends on how clustered the data is, anywhere
    from ``~ m log n`` to worse than brute force. Fixed thresholds cannot tell the tree's
    good cases from its bad ones, so the first query *measures* it: the tree is built and
    answers ``probe_queries`` random query rows (a quarter first: a tree that looks four
    times slower than the flat search on those is not probed further) with the real k and
    thread count, and that time is scaled to all ``m`` queries (build included). The tree
    is used when it is predicted at least 10% faster. Problems too small for the probe to
    pay off (fewer than ``min_probe_samples`` rows) and data of more than
    ``max_tree_features`` dimensions (where k-d trees degrade to brute force) go to the
    flat search without a probe. Every candidate is exact with the same tie rule, so the
    choice never changes the answer, only the time.

    After :meth:`query`, ``chosen_`` is the backend used and ``estimates_`` the predicted
    seconds per backend name (empty when nothing was probed).
    """

    name: ClassVar[str] = "auto"
    exact: ClassVar[bool] = True

    def __init__(
        self,
        *,
        probe_queries: int = 1024,
        min_probe_samples: int = 8_000,
        max_tree_features: int = 16,
        n_threads: int | None = None,
        seed: int = 0,
    ) -> None:
        self.probe_queries = probe_queries
        self.min_probe_samples = min_probe_samples
        self.max_tree_features = max_tree_features
        self.n_threads = n_threads
        self.seed = seed

    def build(self, data: np.ndarray) -> AutoKNNIndex:
        self._prepare_build(data)
        self.chosen_: KNNIndex | None = None
        self.estimates_: dict[str, float] = {}
        return self

    def _choose(self, q: np.ndarray, k: int) -> KNNIndex:
        import time

        n, dim = self.data_.shape
        m = q.shape[0]
        threads = self._threads()
        brute: KNNIndex = FaissKNNIndex() if _faiss_available() else ExactKNNIndex()
        brute.n_threads = self.n_threads
        self.estimates_[brute.name] = brute_force_seconds(n, m, dim, threads)
        if dim > self.max_tree_features or n < self.min_probe_samples:
            return brute.build(self.data_)
        from scipy.spatial import cKDTree  # noqa: F401  (imported before the clock starts)

        tree = KDTreeKNNIndex()
        tree.n_threads = self.n_threads
        start = time.perf_counter()
        tree.build(self.data_)
        built = time.perf_counter() - start
        order = np.random.default_rng(self.seed).permutation(m)
        flat_cost = self.estimates_[brute.name]
        per_query = 0.0
        # A quarter of the probe first: small probes overstate the tree's cost (measured
        # about 2x at 256 rows), so a tree that looks four times slower than the flat
        # search even then is rejected without the rest.
        for size in (max(1, int(self.probe_queries) // 4), int(self.probe_queries)):
            probe = q[np.sort(order[: min(m, size)])]
            start = time.perf_counter()
            tree.query(probe, k)
            per_query = (time.perf_counter() - start) / probe.shape[0]
            if built + per_query * m > 4.0 * flat_cost or probe.shape[0] == m:
                break
        self.estimates_[tree.name] = built + per_query * m
        # The brute-force figure is a model (within about 15% here); the tree's is measured.
        if self.estimates_[tree.name] < 0.9 * self.estimates_[brute.name]:
            return tree
        return brute.build(self.data_)

    def query(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q, k = self._prepare_query(queries, k)
        if self.chosen_ is None:
            self.chosen_ = self._choose(q, k)
            self.name = self.chosen_.name  # type: ignore[misc]  # results name the backend used
        return self.chosen_.query(q, k)

    def _query(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.query(q, k)


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


def _faiss_device(index: Any, device: str, owner: str) -> tuple[Any, str]:
    """Move a faiss index to the GPU when asked for (or, for "auto", when one is present).

    Needs a GPU build of faiss (``faiss-gpu``) and a CUDA device; ``"auto"`` falls back to
    the CPU without either, ``"cuda"`` raises.
    """
    import faiss

    if device not in ("auto", "cpu", "cuda"):
        raise invalid_parameter("device", owner, "'auto', 'cpu' or 'cuda'", device)
    if device == "cpu":
        return index, "cpu"
    gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    if gpus < 1 or not hasattr(faiss, "StandardGpuResources"):
        if device == "cuda":
            raise InvalidParameterError(
                f"{owner}(device='cuda') needs a GPU build of faiss and a CUDA device; this "
                f"faiss sees {gpus} GPUs. Install faiss-gpu, or use device='auto' or 'cpu'."
            )
        return index, "cpu"
    resources = faiss.StandardGpuResources()
    gpu_index = faiss.index_cpu_to_gpu(resources, 0, index)
    gpu_index.reprdynamics_resources = resources  # keep the resources alive with the index
    return gpu_index, "cuda"


class FaissIVFIndex(KNNIndex):
    """Approximate neighbours from a faiss inverted-file index (IVF-Flat), re-ranked exactly.

    The data are split into ``nlist`` k-means cells; a query scans the ``nprobe`` nearest
    cells, so a search costs about ``nprobe / nlist`` of a brute-force one. The right
    choice from N = 1,000,000 on (an HNSW graph of a million points takes many minutes to
    build on a laptop; this index, seconds). Candidates are approximate; their distances
    and order are exact (float64, ties by id), and :func:`k_nearest_neighbours` reports the
    recall measured against the exact search.

    Parameters
    ----------
    nlist : int, optional
        Number of cells; default ``4 sqrt(n)``, at most (training rows) / 39 so that
        k-means has 39 points per centroid, as faiss asks.
    nprobe : int, default 16
        Cells scanned per query.
    train_size : int, default 100,000
        Rows (a random sample) the k-means is trained on.
    extra_candidates : int, default 8
        Candidates requested beyond k before exact re-ranking.
    device : {"auto", "cpu", "cuda"}, default "auto"
        Where faiss searches; ``"auto"`` uses a GPU when faiss was built with CUDA support
        and sees a device, else the CPU.
    seed : int, default 0
    """

    name: ClassVar[str] = "faiss-ivf"
    exact: ClassVar[bool] = False

    def __init__(
        self,
        *,
        nlist: int | None = None,
        nprobe: int = 16,
        train_size: int = 100_000,
        extra_candidates: int = 8,
        device: str = "auto",
        seed: int = 0,
    ) -> None:
        self.nlist = nlist
        self.nprobe = nprobe
        self.train_size = train_size
        self.extra_candidates = extra_candidates
        self.device = device
        self.seed = seed

    def build(self, data: np.ndarray) -> FaissIVFIndex:
        faiss = require("faiss", "faiss", "The faiss neighbour backend")
        owner = "FaissIVFIndex"
        for pname, low in (("nprobe", 1), ("train_size", 1), ("extra_candidates", 0)):
            value = getattr(self, pname)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise invalid_parameter(pname, owner, f"an int >= {low}", value)
        data = self._prepare_build(data)
        n, dim = data.shape
        nlist = self.nlist if self.nlist is not None else int(4 * np.sqrt(n))
        if isinstance(nlist, bool) or not isinstance(nlist, int | np.integer) or nlist < 1:
            raise invalid_parameter("nlist", owner, "an int >= 1", self.nlist)
        trained = min(n, int(self.train_size))
        nlist = int(max(1, min(nlist, trained // 39)))  # faiss wants 39 points per centroid
        centred = np.ascontiguousarray(data - self.mean_, dtype=np.float32)
        quantizer = faiss.IndexFlatL2(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist)
        rng = np.random.default_rng(self.seed)
        sample = centred[np.sort(rng.choice(n, size=trained, replace=False))]
        index.cp.seed = int(self.seed)
        with _faiss_blocks(FaissKNNIndex.query_block, FaissKNNIndex.database_block):
            index.train(sample)
            index.add(centred)
        index.nprobe = int(min(self.nprobe, nlist))
        self.quantizer_ = quantizer  # the IVF index refers to it; keep it alive
        self.index_, self.device_ = _faiss_device(index, self.device, owner)
        self.nlist_ = nlist
        self._fallback: ExactKNNIndex | None = None
        return self

    def query(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q, k = self._prepare_query(queries, k)
        k_search = min(self.data_.shape[0], k + int(self.extra_candidates))
        qc = np.ascontiguousarray(q - self.mean_, dtype=np.float32)
        with _faiss_blocks(FaissKNNIndex.query_block, FaissKNNIndex.database_block):
            _, cand = self.index_.search(qc, k_search)
        return _rerank_candidates(self, q, cand.astype(np.int64, copy=False), k)


#: Backend names accepted by :func:`get_backend` and :func:`k_nearest_neighbours`.
BACKENDS: dict[str, type[KNNIndex]] = {
    "exact": ExactKNNIndex,
    "kdtree": KDTreeKNNIndex,
    "faiss": FaissKNNIndex,
    "faiss-hnsw": FaissHNSWIndex,
    "faiss-ivf": FaissIVFIndex,
    "approximate": FaissHNSWIndex,
    "auto": AutoKNNIndex,
}


def _faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _single_threaded_blas():
    """faiss parallelises with OpenMP and calls BLAS inside each thread: a BLAS that also
    runs threads oversubscribes the cores (measured 2-4x slower on 2 cores)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


@contextmanager
def _faiss_blocks(query_block: int, database_block: int) -> Iterator[None]:
    """Set faiss's BLAS settings (process-wide) while searches run, then restore them.

    Reference-counted, so concurrent searches in threads restore the user's settings only
    when the last one ends.
    """
    import faiss

    cvar = faiss.cvar
    with _FAISS_SETTINGS:
        if _FAISS_ACTIVE[0] == 0:
            _FAISS_SAVED[:] = [
                cvar.distance_compute_blas_query_bs,
                cvar.distance_compute_blas_database_bs,
                cvar.distance_compute_blas_threshold,
            ]
            cvar.distance_compute_blas_query_bs = int(query_block)
            cvar.distance_compute_blas_database_bs = int(database_block)
            # Recent faiss wheels answer up to 128,000 queries with a one-query-at-a-time
            # SIMD loop; the BLAS path was 2.3x faster at 4,000 x 4,000 x 10 and 2.8x at
            # 4,000 queries x 50,000 rows (single thread), and never slower.
            cvar.distance_compute_blas_threshold = _FAISS_BLAS_THRESHOLD
        _FAISS_ACTIVE[0] += 1
    try:
        yield
    finally:
        with _FAISS_SETTINGS:
            _FAISS_ACTIVE[0] -= 1
            if _FAISS_ACTIVE[0] == 0:
                cvar.distance_compute_blas_query_bs = _FAISS_SAVED[0]
                cvar.distance_compute_blas_database_bs = _FAISS_SAVED[1]
                cvar.distance_compute_blas_threshold = _FAISS_SAVED[2]


def get_backend(
    backend: str | KNNIndex = "exact",
    *,
    n_samples: int | None = None,
    n_features: int | None = None,
) -> KNNIndex:
    """Parse a backend name or instance into an (unbuilt) :class:`KNNIndex`.

    Parameters
    ----------
    backend : {"exact", "kdtree", "faiss", "faiss-hnsw", "approximate", "auto"} or KNNIndex
        ``"auto"`` gives an :class:`AutoKNNIndex`, which measures the exact backends on a
        probe of the real queries and uses the fastest; the result is exact in every case.
    n_samples, n_features : int, optional
        Accepted for compatibility; the ``"auto"`` choice is measured, not read off sizes.
    """
    if isinstance(backend, KNNIndex):
        return backend
    if isinstance(backend, str) and backend in BACKENDS:
        return BACKENDS[backend]()
    names = ", ".join(repr(b) for b in BACKENDS)
    raise invalid_parameter(
        "backend", "k_nearest_neighbours", f"one of {names} or a KNNIndex instance", backend
    )


# ------------------------------------------------------------------------ public API


def _cosine_embedding(X: np.ndarray) -> np.ndarray:
    """Rows mapped so that half the squared euclidean distance is the cosine distance.

    Non-zero rows become ``(x / ||x||, 0)``; zero rows become ``(0, ..., 0, 1)``.
    """
    X = np.asarray(X, dtype=np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", X, X))
    zero = norms == 0
    out = np.zeros((X.shape[0], X.shape[1] + 1), dtype=np.float64)
    np.divide(X, norms[:, None], out=out[:, :-1], where=~zero[:, None])
    out[zero, -1] = 1.0
    return out


def _drop_self(d2: np.ndarray, idx: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """From k+1 neighbours including possibly the query itself, keep the k nearest others.

    If the query's own id is among them it is removed; otherwise (k+1 exact duplicates
    with smaller ids) the last one is dropped. Either way the order of the rest is kept.
    """
    m, k1 = idx.shape
    is_self = idx == ids[:, None]
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k1 - 1)
    keep = np.arange(k1)[None, :] != drop[:, None]
    return d2[keep].reshape(m, k1 - 1), idx[keep].reshape(m, k1 - 1)


def neighbour_recall(approx_indices: Any, exact_indices: Any) -> float:
    """Recall of approximate neighbour lists: mean over rows of ``|A(i) ∩ E(i)| / k``.

    Parameters
    ----------
    approx_indices, exact_indices : array of int, shape (n, k)
        Neighbour ids per row from the approximate and the exact method (no repeated id
        within a row).

    Returns
    -------
    float
        In [0, 1]; 1 when every exact neighbour was found.

    Examples
    --------
    >>> neighbour_recall([[1, 2], [0, 3]], [[2, 1], [0, 2]])
    0.75
    """
    return float(np.mean(neighbour_overlap(approx_indices, exact_indices)))


def k_nearest_neighbours(
    X: Any,
    k: int,
    *,
    metric: Metric = "euclidean",
    backend: str | KNNIndex = "exact",
    recall_sample: int | None = None,
    seed: int = 0,
    rows: slice | None = None,
    n_threads: int | None = None,
) -> NeighbourResult:
    """The k nearest *other* rows of ``X`` for every row, ties ordered by id.

    ``N_k(i)`` (DESIGN section 2) ordered by smaller distance, then smaller id. The whole
    computation is vectorised over rows (blocks of rows, not a loop over samples).

    Parameters
    ----------
    X : array_like, shape (n, D)
        One row per sample (the selection S); returned ids are row positions in ``X``.
        Must be finite.
    k : int
        Neighbours per row, in ``[1, n - 1]``.
    metric : {"euclidean", "cosine"}, default "euclidean"
        ``"euclidean"`` reports ``||x - y||``. ``"cosine"`` reports the cosine distance
        ``1 - cos(x, y)``, computed as ``||x/|x| - y/|y| ||^2 / 2`` (equal in exact
        arithmetic, more accurate near 0). A zero row has no direction: it is at cosine
        distance 1 from every non-zero row (as if orthogonal to all) and 0 from other zero
        rows (identical).
    backend : str or KNNIndex, default "exact"
        ``"exact"`` (NumPy/BLAS), ``"faiss"`` (exact: faiss candidates, certified and
        re-ranked in float64), ``"auto"``
        (exact; faiss from 10,000 samples, a k-d tree for low dimensions), ``"faiss-hnsw"`` /
        ``"approximate"`` (approximate, opt-in) or a :class:`KNNIndex` instance.
    recall_sample : int, optional
        For approximate backends: number of random rows on which recall is measured
        against the exact search (default 1000; all rows if ``n`` is smaller). Asking for
        it with an exact backend is an error.
    seed : int, default 0
        Seed of the recall sample.
    rows : slice, optional
        Answer only these rows of ``X`` (a block of queries; the neighbours are still
        searched among all rows). Results equal the matching rows of the full answer, so a
        snapshot's queries can be split across workers.
    n_threads : int, optional
        Threads a backend named by string may use besides its library's own (default one
        per core); the run-level API passes 1 when it runs snapshots in parallel.

    Returns
    -------
    NeighbourResult
        ``indices`` (n, k) int64 and ``distances`` (n, k) float64, plus ``recall`` for
        approximate backends.

    Raises
    ------
    InvalidParameterError
        ``X`` not 2-D, not finite or with fewer than 2 rows; ``k`` outside ``[1, n - 1]``;
        unknown ``metric`` or ``backend``.

    Notes
    -----
    The exact backend costs ``O(n^2 D)`` time and holds ``X`` in float64, a float32 copy
    and one block of at most ``block_bytes`` (256 MiB by default) at a time. Measured on a
    shared 2-core machine: n=50,000, D=10, k=10 in about 6 s of CPU time (single BLAS
    thread).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    >>> res = k_nearest_neighbours(X, 2)
    >>> res.indices.tolist()
    [[1, 2], [0, 2], [0, 1], [1, 2]]
    >>> res.distances[0].tolist()
    [1.0, 1.0]
    """
    owner = "k_nearest_neighbours"
    X = _as_data_matrix(X, "X", owner, min_rows=2)
    n = X.shape[0]
    k = _check_k(k, 1, n - 1, owner, "n-1")
    if metric not in _METRICS:
        raise invalid_parameter("metric", owner, "'euclidean' or 'cosine'", metric)
    index = get_backend(backend, n_samples=n, n_features=X.shape[1])
    if recall_sample is not None and index.exact:
        raise InvalidParameterError(
            f"recall_sample={recall_sample!r} asks for a recall measurement, but the "
            f"{index.name!r} backend is exact (its recall is 1 by construction). Recall is "
            "measured for the approximate backends: 'faiss-ivf', 'faiss-hnsw'."
        )
    if recall_sample is None:
        recall_sample = 1000
    if (
        isinstance(recall_sample, bool)
        or not isinstance(recall_sample, int | np.integer)
        or (recall_sample < 1)
    ):
        raise invalid_parameter("recall_sample", owner, "a positive int", recall_sample)
    if not isinstance(backend, KNNIndex) and n_threads is not None:
        index.n_threads = int(n_threads)
    if rows is None:
        rows = slice(0, n)
    if not isinstance(rows, slice) or rows.step not in (None, 1):
        raise invalid_parameter("rows", owner, "a slice of consecutive rows", rows)
    lo, hi, _ = rows.indices(n)
    if hi <= lo:
        raise invalid_parameter("rows", owner, f"a non-empty slice of range({n})", rows)

    Z = _cosine_embedding(X) if metric == "cosine" else X
    index.build(Z)
    ids = np.arange(lo, hi)
    d2, idx = index.query(Z if (lo, hi) == (0, n) else Z[lo:hi], k + 1)
    d2, idx = _drop_self(d2, idx, ids)

    recall = None
    n_recall = 0
    if not index.exact:
        n_recall = min(int(recall_sample), hi - lo)
        sample = np.sort(np.random.default_rng(seed).choice(hi - lo, size=n_recall, replace=False))
        reference: KNNIndex = FaissKNNIndex() if _faiss_available() else ExactKNNIndex()
        exact_d2, exact_idx = reference.build(Z).query(Z[lo + sample], k + 1)
        _, exact_idx = _drop_self(exact_d2, exact_idx, lo + sample)
        recall = neighbour_recall(idx[sample], exact_idx)

    dist = np.sqrt(d2) if metric == "euclidean" else 0.5 * d2
    # sqrt can merge distinct squared distances; keep "distance, then id" exact on output.
    dist, idx = _sort_rows_by_distance_then_id(dist, idx)
    return NeighbourResult(
        indices=idx,
        distances=dist,
        metric=metric,
        backend=index.name,
        exact=index.exact,
        recall=recall,
        recall_sample_size=n_recall,
    )
