"""Exact arithmetic of the neighbour search: direct distances, rounding bounds, the tie rule.

Candidates are found with the fast expansion ``||x||^2 + ||y||^2 - 2 x.y``; every candidate
within :func:`_rounding_bound` of the k-th smallest is kept, and the final order is decided
on distances recomputed directly as ``sum((x - y)^2)`` in float64 by one kernel, then
(distance, id). So the result equals a brute-force sort on ``(distance, id)``.
"""

from __future__ import annotations

import numpy as np

#: Bytes of pair differences materialised at once when recomputing exact distances.
_PAIR_CHUNK_BYTES = 4 * 2**20
#: Bytes of gathered candidate rows per chunk in :func:`_candidate_sq_distances` (fits L2).
_CANDIDATE_CHUNK_BYTES = 2**20


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
