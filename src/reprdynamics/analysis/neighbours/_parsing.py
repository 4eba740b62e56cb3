"""Parsing of the data matrix and of k, shared by every backend and the search."""

from __future__ import annotations

from typing import Any

import numpy as np

from reprdynamics.errors import invalid_parameter
from reprdynamics.validation import Integer, check


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
    return check(k, Integer(low=low, high=high, high_name=bound), "k", owner)
