"""Parsing of the inputs of the recurrence analysis: ints, thresholds, bands, square matrices."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reprdynamics.analysis._described import Described
from reprdynamics.errors import invalid_parameter
from reprdynamics.validation import Integer, check
from reprdynamics.validation import Real as RealConstraint


def _parse_int(value: object, name: str, owner: str, minimum: int) -> int:
    return check(value, Integer(low=minimum), name, owner)


def _parse_nonnegative_float(value: object, name: str, owner: str) -> float:
    return check(value, NonNegative, name, owner)


NonNegative = RealConstraint(low=0, noun="a float", finite=False)


def _parse_band(value: object, owner: str) -> tuple[float, float]:
    expected = "a pair (a, w) of floats with a finite and 0 <= w < inf"
    try:
        start, width = value  # type: ignore[misc]
    except (TypeError, ValueError):
        raise invalid_parameter("band", owner, expected, value) from None
    for part in (start, width):
        if isinstance(part, bool) or not isinstance(part, Real) or not math.isfinite(part):
            raise invalid_parameter("band", owner, expected, value)
    if width < 0:
        raise invalid_parameter("band", owner, expected, value)
    return float(start), float(width)


def _parse_square(matrix: ArrayLike, name: str, owner: str) -> NDArray[Any]:
    arr = np.asarray(matrix)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise invalid_parameter(
            name,
            owner,
            "a non-empty square 2-D array",
            Described(f"an array of shape {arr.shape}"),
        )
    if arr.dtype != np.bool_ and not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating):
            raise invalid_parameter(
                name, owner, "a real-valued array", Described(f"an array of dtype {arr.dtype}")
            )
        n_nan = int(np.count_nonzero(np.isnan(arr)))
        if n_nan:
            raise invalid_parameter(
                name, owner, "free of NaN", Described(f"an array with {n_nan} NaN values")
            )
    return arr


def _parse_distance(matrix: ArrayLike, name: str, owner: str) -> NDArray[np.float64]:
    return _parse_square(matrix, name, owner).astype(np.float64, copy=False)


def _parse_recurrence(matrix: ArrayLike, name: str, owner: str) -> NDArray[np.bool_]:
    arr = _parse_square(matrix, name, owner)
    if arr.dtype == np.bool_:
        return arr
    if not np.all((arr == 0) | (arr == 1)):
        raise invalid_parameter(
            name,
            owner,
            "a recurrence matrix of booleans or 0/1 values (pass epsilon or band to "
            "threshold a distance matrix)",
            Described("an array with values other than 0 and 1"),
        )
    return arr != 0


def _parse_threshold(
    epsilon: object, band: object, owner: str
) -> tuple[float | None, tuple[float, float] | None]:
    if (epsilon is None) == (band is None):
        raise invalid_parameter(
            "epsilon",
            owner,
            "given, or band given, but not both",
            Described(f"{epsilon=}, {band=}"),
        )
    if band is not None:
        return None, _parse_band(band, owner)
    return _parse_nonnegative_float(epsilon, "epsilon", owner), None
