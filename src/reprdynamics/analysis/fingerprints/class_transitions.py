"""NNTF class-transition matrices ``Δ_t`` and their fingerprint (Ferreira et al. 2022).

M. D. Ferreira, G. D. Cantareira, R. F. de Mello, F. V. Paulovich, "Neural network training
fingerprint: visual analytics of the training process in classification neural networks",
Journal of Visualization 25 (2022).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reprdynamics.analysis.fingerprints._parsing import _as_int_array, _as_predictions
from reprdynamics.errors import invalid_parameter
from reprdynamics.validation import Integer


def _check_n_classes(n_classes: Any, owner: str, needed: int) -> int:
    low = max(1, needed)
    if not Integer(low=low).accepts(n_classes):  # the message says where the bound comes from
        raise invalid_parameter(
            "n_classes", owner, f"an int >= {low} (1 + largest class)", n_classes
        )
    return int(n_classes)


def class_transition_matrix(pred_a: Any, pred_b: Any, n_classes: int) -> np.ndarray:
    """NNTF class-transition matrix ``Δ[c, c'] = #{i : ŷ_a(i) = c, ŷ_b(i) = c'}``.

    Ferreira et al., "Neural network training fingerprint" (J. Visualization, 2022).

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
    0 when the denominator is 0 (Ferreira et al., J. Visualization 2022). Only class
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
