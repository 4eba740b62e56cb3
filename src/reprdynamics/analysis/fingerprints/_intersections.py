"""``|A(i) ∩ B(i)|`` of every row of two neighbour-id lists, by one linear merge."""

from __future__ import annotations

import numpy as np


def _row_keys(sorted_rows: np.ndarray, width: int) -> np.ndarray:
    """Flattened keys ``i * width + id``: globally sorted because every row is sorted."""
    n = sorted_rows.shape[0]
    keys = sorted_rows.astype(np.int64)
    keys += (np.arange(n, dtype=np.int64) * width)[:, None]
    return keys.ravel()


def _intersection_counts(keys_a: np.ndarray, keys_b: np.ndarray, n: int) -> np.ndarray:
    """``|A(i) ∩ B(i)|`` per row from two globally sorted key arrays without repeats.

    A stable sort of the two concatenated sorted runs is one linear merge (timsort). Row
    i's keys are all smaller than row i+1's, so after the merge row i occupies exactly
    ``k_a + k_b`` consecutive slots, and a key present in both sits in two adjacent ones.
    """
    merged = np.concatenate((keys_a, keys_b))
    merged.sort(kind="stable")
    per_row = merged.reshape(n, -1)
    return np.count_nonzero(per_row[:, 1:] == per_row[:, :-1], axis=1)


def _counts_from_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    width = int(max(a.max(), b.max())) + 1
    return _intersection_counts(_row_keys(a, width), _row_keys(b, width), a.shape[0])
