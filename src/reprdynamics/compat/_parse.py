"""The seed API's loose inputs turned into one canonical type each: ids, epochs, counts.

The original tool took sample ids as ints, NumPy ints, numeric strings (its dashboard's form
values) or tensors; these helpers accept all of them and raise errors that name the
parameter, what was expected and what was given.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from reprdynamics.errors import UnknownSampleError, invalid_parameter
from reprdynamics.recording import to_ids
from reprdynamics.validation import Integer, check

__all__ = ["PathLike", "as_id", "id_list", "parse_epoch", "positive_int", "sample_index"]

PathLike = str | os.PathLike[str]


def as_id(value: Any) -> Any:
    """A sample id as an int where it is one (ids arrive as ints, NumPy ints or strings)."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        return int(text) if text.lstrip("-").isdigit() else value
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # 0-d tensor or array
        return as_id(value.item())
    return value


def parse_epoch(epoch: Any) -> int:
    expected = "a whole number >= 0"
    if isinstance(epoch, bool):
        raise invalid_parameter("epoch", "ReprD.store_batch", expected, epoch)
    try:
        value = float(epoch)  # ints, floats, NumPy scalars, 0-d tensors
    except (TypeError, ValueError):
        raise invalid_parameter("epoch", "ReprD.store_batch", expected, epoch) from None
    if not value.is_integer() or value < 0:
        raise invalid_parameter("epoch", "ReprD.store_batch", expected, epoch)
    return int(value)


def id_list(sample_ids: Any, owner: str) -> list[Any]:
    if isinstance(sample_ids, str | bytes) or sample_ids is None:
        raise invalid_parameter("sample_ids", owner, "a sequence of sample ids", sample_ids)
    if hasattr(sample_ids, "detach") or isinstance(sample_ids, np.ndarray | range):
        return to_ids(sample_ids).tolist()
    try:
        ids = list(sample_ids)
    except TypeError:
        raise invalid_parameter(
            "sample_ids", owner, "a sequence of sample ids", sample_ids
        ) from None
    if not ids:
        raise invalid_parameter("sample_ids", owner, "a non-empty sequence of sample ids", ids)
    return ids


def sample_index(sample_ids: Any, n_samples: int, owner: str) -> np.ndarray:
    """Sample ids (ints, NumPy ints, numeric strings, a tensor) as unique int64 ids."""
    ids = id_list(sample_ids, owner)
    try:
        idx = np.asarray([int(i) for i in ids], dtype=np.int64)
    except (TypeError, ValueError):
        raise invalid_parameter("sample_ids", owner, "integer sample ids", ids[:5]) from None
    bad = (idx < 0) | (idx >= n_samples)
    if bad.any():
        raise UnknownSampleError(
            f"{int(bad.sum())} of the sample_ids given to {owner} are outside "
            f"[0, {n_samples}): e.g. {idx[bad][:5].tolist()}."
        )
    unique, counts = np.unique(idx, return_counts=True)
    if (counts > 1).any():
        raise invalid_parameter(
            "sample_ids", owner, "distinct ids", f"repeated ids {unique[counts > 1][:5].tolist()}"
        )
    return idx


def positive_int(value: Any, name: str, owner: str, upper: int | None = None) -> int:
    return check(value, Integer(low=1, high=upper), name, owner)
