"""Compact arrays (base64 of little-endian bytes with dtype and shape) and JSON-safe values."""

from __future__ import annotations

import base64
import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

COMPACT_DTYPES = ("float32", "int32", "uint8")


# --------------------------------------------------------------------------- compact arrays
def compact(array: Any, dtype: str) -> dict[str, Any]:
    """A compact array: base64 of the little-endian bytes of ``array`` cast to ``dtype``."""
    if dtype not in COMPACT_DTYPES:
        raise ValueError(f"compact arrays are {COMPACT_DTYPES}, not {dtype!r}")
    values = np.ascontiguousarray(np.asarray(array), dtype=np.dtype(dtype).newbyteorder("<"))
    return {
        "dtype": dtype,
        "shape": [int(s) for s in values.shape],
        "data": base64.b64encode(values.tobytes(order="C")).decode("ascii"),
    }


def decode_compact(obj: Mapping[str, Any]) -> np.ndarray:
    """The array a compact dict encodes (for Python clients and tests)."""
    dtype = obj["dtype"]
    if dtype not in COMPACT_DTYPES:
        raise ValueError(f"unknown compact dtype {dtype!r}")
    raw = base64.b64decode(obj["data"])
    values = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
    return values.reshape(tuple(obj["shape"])).astype(dtype)


def json_safe(value: Any) -> Any:
    """``value`` with NumPy scalars and arrays as Python values and NaN/inf as None.

    JSON has no NaN; the API's JSON is strict, so non-finite floats become ``null``.
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json_safe(dataclasses.asdict(value))
    if isinstance(value, bool | int | str) or value is None:
        return value
    return str(value)
