"""The snapshot schedule: which epochs a recording records, and epochs and steps parsed
as whole numbers."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from reprdynamics.errors import invalid_parameter, parse_int


def snapshot_step_size(num_epochs: int, num_snapshots: int) -> int:
    """Epochs between snapshots so that ``num_snapshots`` cover ``num_epochs``.

    The original tool used ``int(num_epochs / num_snapshots)``, which is 0 (and then
    divides by zero) when more snapshots than epochs are asked for; we never go below 1.

    >>> snapshot_step_size(100, 20)
    5
    >>> snapshot_step_size(3, 10)
    1
    """
    for name, value in (("num_epochs", num_epochs), ("num_snapshots", num_snapshots)):
        parse_int(value, name, "the snapshot schedule", low=1)
    return max(1, int(num_epochs) // int(num_snapshots))


_WHOLE = "a whole number (an int, or a float such as 2.0)"


def _parse_whole(value: Any, name: str, owner: str) -> int:
    """``epoch`` or ``step`` as an ``int``, or the standard parameter error naming it.

    Ints, NumPy integers, 0-d integer tensors and whole floats (``2.0``, a NumPy float, a
    0-d float tensor) are accepted; ``2.7``, NaN, inf, strings and booleans are
    refused, never truncated.

    >>> _parse_whole(np.float64(2.0), "epoch", "Recorder.store_batch")
    2
    >>> _parse_whole(2.7, "epoch", "Recorder.store_batch")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    reprdynamics.errors.InvalidParameterError: The 'epoch' parameter ... Got 2.7 instead.
    """
    if type(value) is int:
        return value
    if isinstance(value, bool | np.bool_ | str | bytes) or getattr(value, "ndim", 0) != 0:
        raise invalid_parameter(name, owner, _WHOLE, value)
    try:
        return operator.index(value)  # NumPy integers, integer tensors
    except TypeError:
        pass
    try:
        number = float(value)  # floats, NumPy floats, 0-d float tensors
    except Exception:  # whatever the object raises, it is no number
        raise invalid_parameter(name, owner, _WHOLE, value) from None
    if not number.is_integer():  # 2.7, NaN and inf alike
        raise invalid_parameter(name, owner, _WHOLE, value)
    return int(number)
