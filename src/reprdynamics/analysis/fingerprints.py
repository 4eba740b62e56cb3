"""Training fingerprints: distance matrices between snapshots or transitions of a run.

Every function here implements a definition of DESIGN section 2 on plain arrays:

* per-sample neighbour overlap ``o_t(i)`` and Jaccard index of two neighbour lists;
* the neighbour-transition fingerprint (the original ReprDynamics heat map, per sample);
* the neighbour-state fingerprint ``1 - mean_i J``;
* NNTF class-transition matrices ``Δ_t`` and their fingerprint (Ferreira et al. 2021);
* the raw prediction-disagreement matrix.

Streaming: the per-transition pieces (:func:`neighbour_overlap`,
:func:`class_transition_matrix`) need only two consecutive snapshots, so a caller that
streams a run one snapshot at a time keeps a ``(T-1, n)`` overlap stack or a
``(T-1, C, C)`` stack of Δ's and hands it to :func:`neighbour_transition_fingerprint` or
:func:`class_transition_fingerprint_from_matrices`. The all-at-once conveniences take the
``(T, n, k)`` / ``(T, n)`` arrays.

All matrices are returned as float64 ``np.ndarray``; fingerprints are symmetric with a zero
diagonal and values in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from reprdynamics.errors import invalid_parameter

__all__ = [
    "class_transition_fingerprint",
    "class_transition_fingerprint_from_matrices",
    "class_transition_matrices",
    "class_transition_matrix",
    "neighbour_jaccard",
    "neighbour_overlap",
    "neighbour_state_fingerprint",
    "neighbour_transition_fingerprint",
    "neighbour_transition_fingerprint_from_neighbours",
    "neighbour_transition_overlaps",
    "prediction_disagreement",
]


# --------------------------------------------------------------------------- validation


def _as_int_array(x: Any, name: str, owner: str, ndim: int, what: str) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise invalid_parameter(name, owner, what, type(x).__name__) from exc
    if arr.ndim != ndim:
        raise invalid_parameter(name, owner, what, f"an array of shape {arr.shape}")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise invalid_parameter(name, owner, what, f"dtype {arr.dtype}")
    return arr


#: Memory for the keys of the snapshots the neighbour-state fingerprint compares at once.
_STATE_BLOCK_BYTES = 16 * 2**20


def _as_neighbour_lists(x: Any, name: str, owner: str) -> np.ndarray:
    """Parse one (n, k) neighbour-id array; returns it with rows sorted ascending."""
    what = "a 2-D int array (n_samples, k) of neighbour ids"
    arr = _as_int_array(x, name, owner, 2, what)
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise invalid_parameter(
            name, owner, what + " with n, k >= 1", f"an array of shape {arr.shape}"
        )
    if arr.min() < 0:
        raise invalid_parameter(name, owner, "non-negative neighbour ids", f"min {int(arr.min())}")
    srt = np.sort(arr, axis=1)
    if (srt[:, 1:] == srt[:, :-1]).any():
        row = int(np.flatnonzero((srt[:, 1:] == srt[:, :-1]).any(axis=1))[0])
        raise invalid_parameter(
            name, owner, "neighbour lists without repeated ids", f"a repeated id in row {row}"
        )
    return srt


def _as_neighbour_stack(neighbours: Any, owner: str, min_snapshots: int) -> list[np.ndarray]:
    """Parse (T, n, k) neighbour ids (array or sequence of (n, k)) into sorted rows."""
    if isinstance(neighbours, np.ndarray) and neighbours.ndim != 3:
        raise invalid_parameter(
            "neighbours", owner, "a (T, n, k) int array", f"an array of shape {neighbours.shape}"
        )
    if not isinstance(neighbours, np.ndarray | Sequence) and not hasattr(neighbours, "__getitem__"):
        raise invalid_parameter(
            "neighbours",
            owner,
            "a (T, n, k) int array or a sequence of (n, k) arrays",
            type(neighbours).__name__,
        )
    n_snap = len(neighbours)
    if n_snap < min_snapshots:
        raise invalid_parameter(
            "neighbours", owner, f"at least {min_snapshots} snapshots", f"{n_snap} snapshots"
        )
    out = []
    for t in range(n_snap):
        srt = _as_neighbour_lists(neighbours[t], f"neighbours[{t}]", owner)
        if out and srt.shape[0] != out[0].shape[0]:
            raise invalid_parameter(
                f"neighbours[{t}]",
                owner,
                f"{out[0].shape[0]} rows like neighbours[0]",
                f"{srt.shape[0]} rows",
            )
        # int32 halves the memory of the stack; ids of any realistic selection fit.
        out.append(srt.astype(np.int32) if srt.max() < 2**31 - 1 else srt)
    return out


class _NeighbourSequence:
    """(T, n, k) neighbour ids, parsed one snapshot at a time (for lazy stacks)."""

    def __init__(self, neighbours: Any, owner: str, min_snapshots: int) -> None:
        if isinstance(neighbours, np.ndarray) and neighbours.ndim != 3:
            raise invalid_parameter(
                "neighbours",
                owner,
                "a (T, n, k) int array",
                f"an array of shape {neighbours.shape}",
            )
        if not hasattr(neighbours, "__getitem__") or not hasattr(neighbours, "__len__"):
            raise invalid_parameter(
                "neighbours",
                owner,
                "a (T, n, k) int array or a sequence of (n, k) arrays",
                type(neighbours).__name__,
            )
        if len(neighbours) < min_snapshots:
            raise invalid_parameter(
                "neighbours",
                owner,
                f"at least {min_snapshots} snapshots",
                f"{len(neighbours)} snapshots",
            )
        self._source, self._owner = neighbours, owner
        self._rows: int | None = None

    def __len__(self) -> int:
        return len(self._source)

    def load(self, t: int) -> np.ndarray:
        srt = _as_neighbour_lists(self._source[t], f"neighbours[{t}]", self._owner)
        if self._rows is None:
            self._rows = srt.shape[0]
        elif srt.shape[0] != self._rows:
            raise invalid_parameter(
                f"neighbours[{t}]",
                self._owner,
                f"{self._rows} rows like neighbours[0]",
                f"{srt.shape[0]} rows",
            )
        # int32 halves the memory; ids of any realistic selection fit.
        return srt.astype(np.int32) if srt.max() < 2**31 - 1 else srt


def _check_same_rows(a: np.ndarray, b: np.ndarray, owner: str, same_k: bool) -> None:
    if a.shape[0] != b.shape[0] or (same_k and a.shape[1] != b.shape[1]):
        expected = f"shape {a.shape} like nk_a" if same_k else f"{a.shape[0]} rows like nk_a"
        raise invalid_parameter(
            "nk_b", owner, f"an array of {expected}", f"an array of shape {b.shape}"
        )


# ------------------------------------------------------------------ set intersections


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


# ------------------------------------------------------------------- per-sample sets


def neighbour_overlap(nk_a: Any, nk_b: Any) -> np.ndarray:
    """Per-sample neighbour overlap ``o(i) = |N_a(i) ∩ N_b(i)| / k``.

    DESIGN section 2, "Neighbour overlap" (with a, b = t, t+1).

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


# ------------------------------------------------------------- neighbour fingerprints


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
    (DESIGN section 2; the original ReprDynamics heat map made per sample: the original
    compared only the sample means ``mean_i o_t(i)``).

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


def neighbour_state_fingerprint(
    neighbours: Any, *, max_block_bytes: int = _STATE_BLOCK_BYTES
) -> np.ndarray:
    """Neighbour-state fingerprint ``D[a, b] = 1 - mean_i J(N_k(i,a), N_k(i,b))``.

    DESIGN section 2, J the Jaccard index. Each snapshot's rows are sorted and encoded
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


# ---------------------------------------------------------------- class transitions


def _as_predictions(predictions: Any, owner: str, name: str = "predictions") -> np.ndarray:
    return _as_int_array(
        predictions, name, owner, 2, "a 2-D int array (n_snapshots, n_samples) of predicted classes"
    )


def _check_n_classes(n_classes: Any, owner: str, needed: int) -> int:
    if (
        isinstance(n_classes, bool)
        or not isinstance(n_classes, int | np.integer)
        or (n_classes < max(1, needed))
    ):
        raise invalid_parameter(
            "n_classes", owner, f"an int >= {max(1, needed)} (1 + largest class)", n_classes
        )
    return int(n_classes)


def class_transition_matrix(pred_a: Any, pred_b: Any, n_classes: int) -> np.ndarray:
    """NNTF class-transition matrix ``Δ[c, c'] = #{i : ŷ_a(i) = c, ŷ_b(i) = c'}``.

    Ferreira et al., "Neural network training fingerprint" (J. Visualization, 2021).

    Parameters
    ----------
    pred_a, pred_b : array of int, shape (n,)
        Predicted classes of the same samples at snapshots a and b (b = a + 1 for NNTF).
    n_classes : int
        Number of classes C; predictions must lie in ``[0, C)``.

    Returns
    -------
    ndarray of int64, shape (C, C)
        Counts; sums to n. The diagonal counts samples whose prediction did not change.

    Examples
    --------
    >>> class_transition_matrix([0, 0, 1, 1, 2], [0, 1, 1, 2, 2], 3).tolist()
    [[1, 1, 0], [0, 1, 1], [0, 0, 1]]
    """
    owner = "class_transition_matrix"
    what = "a 1-D int array of predicted classes"
    a = _as_int_array(pred_a, "pred_a", owner, 1, what)
    b = _as_int_array(pred_b, "pred_b", owner, 1, what)
    if a.shape != b.shape:
        raise invalid_parameter(
            "pred_b",
            owner,
            f"an array of shape {a.shape} like pred_a",
            f"an array of shape {b.shape}",
        )
    n_classes = _check_n_classes(n_classes, owner, 1)
    for name, arr in (("pred_a", a), ("pred_b", b)):
        if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
            raise invalid_parameter(
                name,
                owner,
                f"classes in [0, {n_classes})",
                f"values in [{int(arr.min())}, {int(arr.max())}]",
            )
    flat = a.astype(np.int64) * n_classes + b
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def class_transition_matrices(predictions: Any, n_classes: int | None = None) -> np.ndarray:
    """Class-transition matrices ``Δ_t`` of all consecutive snapshot pairs.

    Parameters
    ----------
    predictions : array of int, shape (T, n)
        ``ŷ_t(i)``; T >= 2.
    n_classes : int, optional
        Number of classes; default ``1 + max(predictions)``.

    Returns
    -------
    ndarray of int64, shape (T-1, C, C)
    """
    owner = "class_transition_matrices"
    pred = _as_predictions(predictions, owner)
    if pred.shape[0] < 2:
        raise invalid_parameter(
            "predictions", owner, "at least 2 snapshots (rows)", f"an array of shape {pred.shape}"
        )
    if pred.size and pred.min() < 0:
        raise invalid_parameter(
            "predictions", owner, "non-negative classes", f"min {int(pred.min())}"
        )
    needed = int(pred.max()) + 1 if pred.size else 1
    n_classes = needed if n_classes is None else _check_n_classes(n_classes, owner, needed)
    c2 = n_classes * n_classes
    flat = pred[:-1].astype(np.int64) * n_classes + pred[1:]
    flat += (np.arange(pred.shape[0] - 1, dtype=np.int64) * c2)[:, None]
    counts = np.bincount(flat.ravel(), minlength=(pred.shape[0] - 1) * c2)
    return counts.reshape(pred.shape[0] - 1, n_classes, n_classes)


def class_transition_fingerprint_from_matrices(deltas: Any) -> np.ndarray:
    """NNTF fingerprint from a stack of class-transition matrices.

    ``D[a, b] = Σ_{c≠c'} |Δ_a[c,c'] - Δ_b[c,c']| / Σ_{c≠c'} (Δ_a[c,c'] + Δ_b[c,c'])``,
    0 when the denominator is 0 (Ferreira et al. 2021; DESIGN section 2). Only class
    *changes* (off-diagonal entries) count.

    Parameters
    ----------
    deltas : array_like, shape (T-1, C, C)
        Non-negative counts, e.g. :func:`class_transition_matrix` accumulated while
        streaming snapshots.

    Returns
    -------
    ndarray of float64, shape (T-1, T-1)
        Symmetric, zero diagonal, values in [0, 1].
    """
    owner = "class_transition_fingerprint_from_matrices"
    what = "a (n_transitions, C, C) array of non-negative counts"
    try:
        arr = np.asarray(deltas)
    except (TypeError, ValueError) as exc:
        raise invalid_parameter("deltas", owner, what, type(deltas).__name__) from exc
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2] or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise invalid_parameter("deltas", owner, what, f"an array of shape {arr.shape}")
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise invalid_parameter("deltas", owner, what, f"dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise invalid_parameter("deltas", owner, what, "non-finite values")
    if arr.min() < 0:
        raise invalid_parameter("deltas", owner, what, "negative values")
    m, n_classes = arr.shape[0], arr.shape[1]
    off = ~np.eye(n_classes, dtype=bool).ravel()
    # Integer counts stay exact in int64; floats are summed in float64.
    work = arr.astype(np.int64 if np.issubdtype(arr.dtype, np.integer) else np.float64)
    changes = work.reshape(m, -1)[:, off]
    totals = changes.sum(axis=1)
    num = np.zeros((m, m), dtype=np.float64)
    for a in range(m - 1):
        num[a, a + 1 :] = np.abs(changes[a + 1 :] - changes[a]).sum(axis=1)
    num = num + num.T
    den = (totals[:, None] + totals[None, :]).astype(np.float64)
    out = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    np.fill_diagonal(out, 0.0)
    return out


def class_transition_fingerprint(predictions: Any, n_classes: int | None = None) -> np.ndarray:
    """NNTF class-transition fingerprint of a prediction history.

    ``class_transition_fingerprint_from_matrices(class_transition_matrices(predictions))``.

    Parameters
    ----------
    predictions : array of int, shape (T, n)
        Predicted class of every sample at every snapshot; T >= 2.
    n_classes : int, optional
        Number of classes; default ``1 + max(predictions)``.

    Returns
    -------
    ndarray of float64, shape (T-1, T-1)

    Examples
    --------
    >>> p = [[0, 0, 1, 1, 2], [0, 1, 1, 2, 2], [1, 1, 1, 2, 0], [1, 1, 1, 2, 0]]
    >>> class_transition_fingerprint(p).tolist()
    [[0.0, 0.5, 1.0], [0.5, 0.0, 1.0], [1.0, 1.0, 0.0]]
    """
    return class_transition_fingerprint_from_matrices(
        class_transition_matrices(predictions, n_classes)
    )


def prediction_disagreement(predictions: Any) -> np.ndarray:
    """Raw prediction-disagreement matrix: ``D[a, b]`` = fraction of samples with ŷ_a ≠ ŷ_b.

    The NNTF code's raw comparison of snapshots (Ferreira et al. 2021).

    Parameters
    ----------
    predictions : array of int, shape (T, n)
        Predicted class of every sample at every snapshot (T >= 1, n >= 1).

    Returns
    -------
    ndarray of float64, shape (T, T)
        Symmetric, zero diagonal, values in [0, 1]; a metric (Hamming distance / n).

    Examples
    --------
    >>> prediction_disagreement([[0, 1, 2, 3], [0, 1, 2, 0], [1, 1, 1, 0]]).tolist()
    [[0.0, 0.25, 0.75], [0.25, 0.0, 0.5], [0.75, 0.5, 0.0]]
    """
    owner = "prediction_disagreement"
    pred = _as_predictions(predictions, owner)
    if pred.shape[0] < 1 or pred.shape[1] < 1:
        raise invalid_parameter(
            "predictions",
            owner,
            "at least one snapshot and one sample",
            f"an array of shape {pred.shape}",
        )
    m, n = pred.shape
    out = np.zeros((m, m), dtype=np.float64)
    for a in range(m - 1):
        out[a, a + 1 :] = np.count_nonzero(pred[a + 1 :] != pred[a], axis=1) / n
    return out + out.T
