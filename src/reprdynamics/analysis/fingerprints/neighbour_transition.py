"""The neighbour-transition fingerprint: the original ReprDynamics heat map, per sample."""

from __future__ import annotations

from typing import Any

import numpy as np

from reprdynamics.analysis.fingerprints._intersections import _counts_from_sorted
from reprdynamics.analysis.fingerprints._parsing import _as_neighbour_stack
from reprdynamics.errors import invalid_parameter


def neighbour_transition_overlaps(neighbours: Any) -> np.ndarray:
    """Overlaps ``o_t(i)`` between consecutive snapshots, stacked.

    Parameters
    ----------
    neighbours : array of int, shape (T, n, k), or sequence of T arrays (n, k)
        ``N_k(i, t)`` for every snapshot; T >= 2.

    Returns
    -------
    ndarray of float64, shape (T-1, n)
        Row t is ``o_t = |N_k(i,t) ∩ N_k(i,t+1)| / k``.
    """
    owner = "neighbour_transition_overlaps"
    stack = _as_neighbour_stack(neighbours, owner, min_snapshots=2)
    k = stack[0].shape[1]
    for t, s in enumerate(stack):
        if s.shape[1] != k:
            raise invalid_parameter(
                f"neighbours[{t}]",
                owner,
                f"k={k} columns like neighbours[0]",
                f"{s.shape[1]} columns",
            )
    out = np.empty((len(stack) - 1, stack[0].shape[0]), dtype=np.float64)
    for t in range(len(stack) - 1):
        out[t] = _counts_from_sorted(stack[t], stack[t + 1]) / k
    return out


def neighbour_transition_fingerprint(overlaps: Any) -> np.ndarray:
    """Neighbour-transition fingerprint from per-sample overlaps.

    ``v_t = (o_t(i))_{i ∈ S}`` and ``D[a, b] = sqrt(mean_i (v_a(i) - v_b(i))^2)``
    (the heat map of the original ReprDynamics tool made per sample: the original compared
    only the sample means ``mean_i o_t(i)``).

    Parameters
    ----------
    overlaps : array_like of float, shape (T-1, n)
        One row per transition t -> t+1, values in [0, 1] (e.g. from
        :func:`neighbour_overlap`, accumulated while streaming, or from
        :func:`neighbour_transition_overlaps`).

    Returns
    -------
    ndarray of float64, shape (T-1, T-1)
        Symmetric, zero diagonal, values in [0, 1].

    Examples
    --------
    >>> neighbour_transition_fingerprint([[1.0, 0.5], [0.0, 0.5]]).tolist()
    [[0.0, 0.7071067811865476], [0.7071067811865476, 0.0]]
    """
    owner = "neighbour_transition_fingerprint"
    what = "a 2-D float array (n_transitions, n_samples) with values in [0, 1]"
    try:
        v = np.asarray(overlaps, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise invalid_parameter("overlaps", owner, what, type(overlaps).__name__) from exc
    if v.ndim != 2 or v.shape[0] < 1 or v.shape[1] < 1:
        raise invalid_parameter("overlaps", owner, what, f"an array of shape {v.shape}")
    if not np.isfinite(v).all() or v.min() < 0 or v.max() > 1:
        raise invalid_parameter("overlaps", owner, what, "values outside [0, 1] or NaN")
    m = v.shape[0]
    out = np.zeros((m, m), dtype=np.float64)
    # Direct differences, not the Gram expansion: identical transitions give exactly 0.
    for a in range(m - 1):
        diff = v[a + 1 :] - v[a]
        out[a, a + 1 :] = np.sqrt(np.einsum("ij,ij->i", diff, diff) / v.shape[1])
    return np.maximum(out, out.T)


def neighbour_transition_fingerprint_from_neighbours(neighbours: Any) -> np.ndarray:
    """Neighbour-transition fingerprint from the (T, n, k) neighbour ids.

    Convenience for ``neighbour_transition_fingerprint(neighbour_transition_overlaps(nb))``.

    Returns
    -------
    ndarray of float64, shape (T-1, T-1)
    """
    return neighbour_transition_fingerprint(neighbour_transition_overlaps(neighbours))


def neighbour_transition_fingerprint_from_counts(
    counts: np.ndarray, k: int, *, max_block_bytes: int = 4 * 2**20
) -> np.ndarray:
    """:func:`neighbour_transition_fingerprint` of ``overlaps = counts / k``, in bounded memory.

    ``counts`` (T-1, n) are the integer overlaps (uint8 for k < 256: one byte per sample and
    transition instead of eight). Rows are turned into float64 overlaps a block at a time,
    so the result is bit-identical to the float64 function while it holds at most
    ``max_block_bytes`` of them.
    """
    m, n = counts.shape
    out = np.zeros((m, m), dtype=np.float64)
    block = max(1, int(max_block_bytes) // (8 * max(n, 1)))
    for a in range(m - 1):
        va = counts[a].astype(np.float64) / k
        for b0 in range(a + 1, m, block):
            b1 = min(m, b0 + block)
            diff = counts[b0:b1].astype(np.float64)
            diff /= k
            diff -= va
            out[a, b0:b1] = np.sqrt(np.einsum("ij,ij->i", diff, diff) / n)
    return np.maximum(out, out.T)
