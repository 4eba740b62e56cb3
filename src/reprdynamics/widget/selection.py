"""The widget's selection: loose input parsed into sorted unique ids, and its wire form.

The selection travels between the kernel and the browser as the sorted ids in int32
little-endian bytes (one binary buffer, not a JSON list: 200 kB for 50,000 ids).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reprdynamics.errors import InvalidParameterError, UnknownSampleError

__all__ = ["decode_ids", "encode_ids", "parse_selection"]

_OWNER = "a reprdynamics widget"


def _expected(n_samples: int) -> str:
    return (
        f"sample ids (a 1-D sequence of ints in [0, {n_samples})), a boolean mask of "
        f"length {n_samples}, or None for every sample"
    )


def _refuse(n_samples: int, got: str) -> InvalidParameterError:
    return InvalidParameterError(
        f"The 'selection' of {_OWNER} must be {_expected(n_samples)}. Got {got} instead."
    )


def parse_selection(value: Any, n_samples: int) -> np.ndarray:
    """``value`` as sorted unique int64 sample ids of a run of ``n_samples`` samples.

    Accepts ids (any 1-D sequence or array of integers, in any order, repeats dropped),
    a boolean mask of length ``n_samples``, or ``None`` (every sample).

    Raises
    ------
    InvalidParameterError
        ``value`` is not such a thing: a string, a float (NaN included), a nested list, a
        mask of the wrong length.
    UnknownSampleError
        An id is outside ``[0, n_samples)``.

    Examples
    --------
    >>> parse_selection([5, 1, 1], 10)
    array([1, 5])
    >>> parse_selection(None, 3)
    array([0, 1, 2])
    >>> parse_selection([0.5], 10)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    reprdynamics.errors.InvalidParameterError: The 'selection' ... Got floats (float64) instead.
    """
    if value is None:
        return np.arange(n_samples, dtype=np.int64)
    if isinstance(value, str | bytes | bytearray | dict):
        raise _refuse(n_samples, f"a {type(value).__name__}")
    if isinstance(value, set | frozenset):
        value = list(value)
    try:
        ids = np.asarray(value)
    except (TypeError, ValueError):  # ragged lists
        raise _refuse(n_samples, f"a {type(value).__name__} that is no 1-D array") from None
    if ids.ndim != 1:
        shape = "a single value" if ids.ndim == 0 else f"an array of shape {ids.shape}"
        raise _refuse(n_samples, f"{shape} ({value!r:.60})" if ids.ndim == 0 else shape)
    if ids.size == 0:
        return np.zeros(0, dtype=np.int64)
    if ids.dtype == bool:
        if ids.shape != (n_samples,):
            raise _refuse(n_samples, f"a boolean mask of length {ids.size}")
        return np.flatnonzero(ids).astype(np.int64)
    if np.issubdtype(ids.dtype, np.floating) or np.issubdtype(ids.dtype, np.complexfloating):
        nan = np.isnan(ids).any()
        raise _refuse(n_samples, f"floats ({ids.dtype}{', with NaN' if nan else ''})")
    if not np.issubdtype(ids.dtype, np.integer):
        raise _refuse(n_samples, f"values of dtype {ids.dtype}")
    wide = ids.astype(np.int64)
    bad = (wide < 0) | (wide >= n_samples)
    if bad.any():
        raise UnknownSampleError(
            f"{int(bad.sum())} id(s) of the selection of {_OWNER} are outside "
            f"[0, {n_samples}): e.g. {wide[bad][:5].tolist()}."
        )
    return np.unique(wide)


def encode_ids(ids: np.ndarray) -> bytes:
    """Sorted ids as the wire's int32 little-endian bytes."""
    return np.ascontiguousarray(ids, dtype="<i4").tobytes()


def decode_ids(data: bytes | bytearray | memoryview) -> np.ndarray:
    """The wire's bytes as an int64 array (a fresh copy)."""
    return np.frombuffer(bytes(data), dtype="<i4").astype(np.int64)
