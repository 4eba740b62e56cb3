"""What every integration parses the same way, whatever its framework; imports none.

:func:`parse_pool_value` checks one ``pool=`` value (``"mean"`` standing for ``"avg"``), and
:func:`did_you_mean` suggests the layer names closest to one a model does not have.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from reprdynamics.errors import invalid_parameter

POOLS = ("avg", "max", "flatten", None)
"""The pooling names ``pool=`` takes besides a callable (``"mean"`` is ``"avg"``)."""


def parse_pool_value(value: Any, owner: str) -> Any:
    """One pooling: a callable or one of :data:`POOLS`, ``"mean"`` read as ``"avg"``."""
    if value == "mean":
        value = "avg"
    if callable(value) or value in POOLS:
        return value
    raise invalid_parameter("pool", owner, "'avg', 'max', 'flatten', None or a callable", value)


def did_you_mean(name: str, available: Sequence[str]) -> str:
    """`` Did you mean 'a', 'b'?`` for the (at most three) names closest to ``name``; or ``""``."""
    close = difflib.get_close_matches(name, available, n=3)
    return f" Did you mean {', '.join(map(repr, close))}?" if close else ""
