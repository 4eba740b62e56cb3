"""Sample ids in requests: selections ("all", ranges, ``sel:`` tokens) and ordered id lists."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from reprdynamics.server.api_errors import ApiError, bad_parameter

# --------------------------------------------------------------------------- selections
#: Longest id-range string accepted (``samples``, ``ids``), in characters.
MAX_SELECTION_CHARS = 1_000_000
_BLANKS = " \t\r\n"  # what may surround ids and ranges (no other whitespace)
_B = "[ \\t\\r\\n]*"
_RANGE = f"{_B}[0-9]+{_B}(?:-{_B}[0-9]+{_B})?"
_RANGES = f"{_RANGE}(?:,{_RANGE})*"
_ALL = f"{_B}[Aa][Ll][Ll]{_B}"
#: The grammar of ``samples`` (ids and inclusive ranges, ``all``, or a registered token) as
#: a regular expression; the OpenAPI states it, and ECMA 262 and Python read it alike.
SELECTION_PATTERN = f"^(?:{_RANGES}|{_ALL}|sel:[0-9a-f]{{32}})$"
#: The grammar of thumbs.png's ``ids``: ids and ranges in order, ``all`` or empty (all).
ORDERED_IDS_PATTERN = f"^(?:{_RANGES}|{_ALL}|)$"


def _too_many(name: str, limit: int, what: str) -> ApiError:
    return bad_parameter(name, f"at most {limit} ids ({what})", f"more than {limit} ids")


def _id_ranges(text: str, n_samples: int, name: str, expected: str) -> Iterator[tuple[int, int]]:
    """The ``(low, high)`` of each id (``low == high``) and inclusive range of ``text``,
    validated one by one, so that a caller counting them can stop at the first too many."""
    start = 0
    while True:
        end = text.find(",", start)
        token = text[start:] if end < 0 else text[start:end]
        lo_text, sep, hi_text = token.partition("-")
        try:
            lo = _parse_id(lo_text)
            hi = _parse_id(hi_text) if sep else lo
        except ValueError:
            raise bad_parameter(name, expected, token.strip(_BLANKS)) from None
        if hi < lo:
            raise bad_parameter(name, f"{expected}; ranges go low-high, low <= high", token)
        if hi >= n_samples:
            raise bad_parameter(name, f"ids in [0, {n_samples - 1}]", hi)
        yield lo, hi
        if end < 0:
            return
        start = end + 1


def _counted_ids(
    value: Any, n_samples: int, name: str, expected: str, limit: int, what: str
) -> np.ndarray:
    """The ids ``value`` names in order, repeats kept: a non-empty list of ints, or a string
    of ids and ranges. Refused (400) as soon as they number more than ``limit``, before
    any is built: a few kilobytes of overlapping ranges can name billions."""
    if isinstance(value, list | tuple):
        if not value:
            raise bad_parameter(name, f"a non-empty selection of {expected}", value)
        if len(value) > limit:
            raise _too_many(name, limit, what)
        ids: list[int] = []
        for item in value:
            if isinstance(item, float) and item.is_integer():  # JSON 5.0 is the integer 5
                item = int(item)
            if isinstance(item, bool) or not isinstance(item, int):
                raise bad_parameter(name, expected, item)
            if not 0 <= item < n_samples:  # checked here: beyond int64 NumPy would overflow
                raise bad_parameter(name, f"ids in [0, {n_samples - 1}]", item)
            ids.append(item)
        return np.asarray(ids, dtype=np.int64)
    if not isinstance(value, str):
        raise bad_parameter(name, expected, value)
    text = value.strip(_BLANKS)
    if not text:
        raise bad_parameter(name, f"a non-empty selection of {expected}", value)
    if len(text) > MAX_SELECTION_CHARS:
        raise bad_parameter(
            name, f"at most {MAX_SELECTION_CHARS} characters", f"{len(text)} characters"
        )
    lows: list[int] = []
    highs: list[int] = []
    total = 0
    for lo, hi in _id_ranges(text, n_samples, name, expected):
        total += hi - lo + 1
        if total > limit:
            raise _too_many(name, limit, what)
        lows.append(lo)
        highs.append(hi)
    low = np.asarray(lows, dtype=np.int64)
    lengths = np.asarray(highs, dtype=np.int64) - low + 1
    starts = np.cumsum(lengths) - lengths  # where each range begins in the output
    return np.arange(total, dtype=np.int64) - np.repeat(starts - low, lengths)


def parse_selection(value: Any, n_samples: int, name: str = "samples") -> np.ndarray | None:
    """Parse a selection of sample ids; ``None`` (absent) or ``"all"`` means all samples.

    Accepts ``"0-99,150,200-209"`` (ids and inclusive ranges, blanks around them
    ignored; :data:`SELECTION_PATTERN`) or, from a JSON body, a list of ints (or such a
    string). The selection is a set: the result is sorted and without duplicates. Ids must
    lie in ``[0, n_samples)``, and a selection names at most ``n_samples`` ids in all
    (ids repeated by overlapping ranges count each time); it is refused while parsing, as
    soon as it names more.
    """
    if value is None:
        return None
    if isinstance(value, str) and value.strip(_BLANKS).lower() == "all":
        return None
    expected = (
        f"ids and ranges in [0, {n_samples - 1}] separated by commas (e.g. '0-99,150') "
        "or a list of ints"
    )
    what = "the run's samples; ids repeated by overlapping ranges count each time"
    return np.unique(_counted_ids(value, n_samples, name, expected, n_samples, what))


def parse_ordered_ids(value: Any, n_samples: int, name: str, *, limit: int) -> np.ndarray:
    """Ids in the order given, duplicates kept (a sprite's cells follow them): a non-empty
    list of ints or a string of ids and ranges (not ``all``), at most ``limit`` of them,
    counted while parsing."""
    expected = (
        f"'all', or ids and ranges in [0, {n_samples - 1}] separated by commas "
        "(e.g. '5,0-3') or a non-empty list of ints"
    )
    return _counted_ids(value, n_samples, name, expected, limit, "repeats included")


def _parse_id(text: str) -> int:
    text = text.strip(_BLANKS)
    if not text.isdigit() or not text.isascii():
        raise ValueError(text)
    return int(text)
