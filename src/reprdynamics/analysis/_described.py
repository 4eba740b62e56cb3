"""Descriptions of received values for the package's error template.

:func:`reprdynamics.errors.invalid_parameter` ends its message with ``Got {got!r} instead.``;
a :class:`Described` value is shown there as written, not quoted, so a message can say what
was received ("Got an array of shape (3,) and dtype int64 instead.") without dumping it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Described", "describe_array"]


class Described(str):
    """A description shown bare (not quoted) in the 'Got ... instead.' part of an error."""

    def __repr__(self) -> str:
        return str(self)


def describe_array(array: np.ndarray) -> Described:
    """``an array of shape (...) and dtype ...``, for an error message."""
    return Described(f"an array of shape {array.shape} and dtype {array.dtype}")
