"""The neighbour-state fingerprint ``1 - mean_i J``, in memory flat in the number of snapshots."""

from __future__ import annotations

from typing import Any

import numpy as np

from reprdynamics.analysis.fingerprints._intersections import _intersection_counts, _row_keys
from reprdynamics.analysis.fingerprints._parsing import _NeighbourSequence
from reprdynamics.errors import invalid_parameter

#: Memory for the keys of the snapshots the neighbour-state fingerprint compares at once.
_STATE_BLOCK_BYTES = 16 * 2**20


def neighbour_state_fingerprint(
    neighbours: Any, *, max_block_bytes: int = _STATE_BLOCK_BYTES
) -> np.ndarray:
    """Neighbour-state fingerprint ``D[a, b] = 1 - mean_i J(N_k(i,a), N_k(i,b))``.

    with J the Jaccard index. Each snapshot's rows are sorted and encoded
    as int64 keys ``i * width + id``; a pair of snapshots is then one linear merge of two
    sorted key arrays (``O(n k)`` per pair, ``O(T^2 n k)`` in all).

    Parameters
    ----------
    neighbours : array of int, shape (T, n, k), or sequence of T arrays (n, k)
        ``N_k(i, t)``. A sequence may be lazy (anything with ``len`` and integer
        indexing, such as a Zarr array), and is read a snapshot at a time. k may differ
        between snapshots.
    max_block_bytes : int, default 16 MiB
        Memory for the keys of the snapshots compared at once.

    Returns
    -------
    ndarray of float64, shape (T, T)
        Symmetric, zero diagonal, values in [0, 1].

    Notes
    -----
    Memory is flat in T: the keys of a block of ``B = max_block_bytes // (8 n k)``
    snapshots plus one more, never the whole stack. Each snapshot is read once when the
    stack fits one block, else up to ``ceil(T / B)`` times.
    """
    owner = "neighbour_state_fingerprint"
    seq = _NeighbourSequence(neighbours, owner, min_snapshots=1)
    n_snap = len(seq)
    # Keys ``i * 2^32 + id``: one width for every snapshot, so none is read twice just to
    # find the largest id. Row i < 2^31 keeps the keys inside int64.
    width = 2**32
    first = seq.load(0)
    n = first.shape[0]
    widest = max(first.shape[1], 1)
    out = np.zeros((n_snap, n_snap), dtype=np.float64)
    block = max(1, int(max_block_bytes) // (8 * n * widest))
    for a0 in range(0, max(n_snap - 1, 0), block):
        a1 = min(a0 + block, n_snap)
        keys: dict[int, np.ndarray] = {}
        widths: dict[int, int] = {}
        for a in range(a0, a1):
            rows = first if a == 0 else seq.load(a)
            if rows.size and int(rows.max()) >= width:
                raise invalid_parameter(
                    f"neighbours[{a}]", owner, "neighbour ids below 2**32", int(rows.max())
                )
            keys[a], widths[a] = _row_keys(rows, width), rows.shape[1]
            del rows
        first = None  # only the keys are held
        for b in range(a0 + 1, n_snap):
            if b in keys:
                keys_b, width_b = keys[b], widths[b]
            else:
                rows_b = seq.load(b)
                keys_b, width_b = _row_keys(rows_b, width), rows_b.shape[1]
                del rows_b
            for a in range(a0, min(a1, b)):
                common = _intersection_counts(keys[a], keys_b, n)
                jac = common / (widths[a] + width_b - common)
                out[a, b] = 1.0 - jac.mean()
            del keys_b
    out = np.clip(out, 0.0, 1.0)
    return np.maximum(out, out.T)
