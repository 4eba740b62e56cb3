"""Per-sample comparison of two neighbour lists: overlap and Jaccard index."""

from __future__ import annotations

from typing import Any

import numpy as np

from reprdynamics.analysis.fingerprints._intersections import _counts_from_sorted
from reprdynamics.analysis.fingerprints._parsing import _as_neighbour_lists, _check_same_rows


def neighbour_overlap(nk_a: Any, nk_b: Any) -> np.ndarray:
    """Per-sample neighbour overlap ``o(i) = |N_a(i) ∩ N_b(i)| / k``.

    The neighbour overlap of the original ReprDynamics tool (with a, b = t, t+1).

    Parameters
    ----------
    nk_a, nk_b : array of int, shape (n, k)
        Neighbour ids of every sample in two snapshots (order within a row is irrelevant;
        no repeated id within a row).

    Returns
    -------
    ndarray of float64, shape (n,)
        Values in {0, 1/k, ..., 1}.

    Examples
    --------
    >>> neighbour_overlap([[1, 2, 3], [0, 2, 3]], [[3, 1, 4], [5, 6, 7]]).tolist()
    [0.6666666666666666, 0.0]
    """
    counts, k = _overlap_counts(nk_a, nk_b, "neighbour_overlap")
    return counts / k


def neighbour_overlap_counts(nk_a: Any, nk_b: Any) -> np.ndarray:
    """``|N_a(i) ∩ N_b(i)|`` per sample, as integers (``k`` times :func:`neighbour_overlap`).

    Examples
    --------
    >>> neighbour_overlap_counts([[1, 2, 3], [0, 2, 3]], [[3, 1, 4], [5, 6, 7]]).tolist()
    [2, 0]
    """
    return _overlap_counts(nk_a, nk_b, "neighbour_overlap_counts")[0]


def _overlap_counts(nk_a: Any, nk_b: Any, owner: str) -> tuple[np.ndarray, int]:
    """Validated per-sample overlap counts of two neighbour lists, and their k."""
    a = _as_neighbour_lists(nk_a, "nk_a", owner)
    b = _as_neighbour_lists(nk_b, "nk_b", owner)
    _check_same_rows(a, b, owner, same_k=True)
    return _counts_from_sorted(a, b), a.shape[1]


def neighbour_jaccard(nk_a: Any, nk_b: Any) -> np.ndarray:
    """Per-sample Jaccard index ``J(i) = |A(i) ∩ B(i)| / |A(i) ∪ B(i)|``.

    Parameters
    ----------
    nk_a : array of int, shape (n, k_a)
    nk_b : array of int, shape (n, k_b)
        Neighbour ids per sample (no repeated id within a row); ``k_a`` may differ from
        ``k_b``.

    Returns
    -------
    ndarray of float64, shape (n,)
        Values in [0, 1]. With equal k, ``J = o / (2 - o)`` for the overlap ``o``.

    Examples
    --------
    >>> neighbour_jaccard([[1, 2], [3, 4]], [[2, 1], [4, 5]]).tolist()
    [1.0, 0.3333333333333333]
    """
    a = _as_neighbour_lists(nk_a, "nk_a", "neighbour_jaccard")
    b = _as_neighbour_lists(nk_b, "nk_b", "neighbour_jaccard")
    _check_same_rows(a, b, "neighbour_jaccard", same_k=False)
    common = _counts_from_sorted(a, b)
    return common / (a.shape[1] + b.shape[1] - common)
