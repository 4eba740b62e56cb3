"""Plain-data helpers of the HTTP API: compact arrays, JSON-safe values, parameter parsing.

Everything the API sends is JSON. Large numeric arrays travel as *compact arrays*::

    {"dtype": "float32" | "int32" | "uint8", "shape": [...], "data": "<base64>"}

(little-endian bytes in C order), which the browser decodes with ``new Float32Array(...)``
and Python with :func:`decode_compact`. Parameters arrive as query strings (or a JSON body
for the POST variants); :class:`Params` parses them into canonical Python values and
raises :class:`ApiError` with a message naming the parameter when they are malformed.
"""

from __future__ import annotations

import base64
import dataclasses
import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from reprdynamics.errors import (
    CorruptRunError,
    LabelsRequiredError,
    LayerNotFoundError,
    NotEnoughSnapshotsError,
    ReprDynamicsError,
    RunNotFoundError,
    StorageError,
    UnknownSampleError,
    UnsupportedFormatVersionError,
)
from reprdynamics.storage.remote import storage_error

__all__ = [
    "COMPACT_DTYPES",
    "MAX_SELECTION_CHARS",
    "ORDERED_IDS_PATTERN",
    "SELECTION_PATTERN",
    "ApiError",
    "Params",
    "api_error",
    "bad_parameter",
    "compact",
    "decode_compact",
    "json_safe",
    "parse_ordered_ids",
    "parse_selection",
]

#: Dtypes a compact array may have (what the browser's typed arrays read directly).
COMPACT_DTYPES = ("float32", "int32", "uint8")


class ApiError(Exception):
    """An error the HTTP API answers with ``{"error": message, "status": status}``.

    ``parameter`` names the offending request parameter when there is one; ``headers`` are
    sent with the answer (``Retry-After`` of a full job queue).
    """

    def __init__(self, status: int, message: str, *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.status = int(status)
        self.message = message
        self.parameter = parameter

    @property
    def headers(self) -> dict[str, str]:
        return {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message, "status": self.status}
        if self.parameter is not None:
            body["parameter"] = self.parameter
        return body


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def bad_parameter(name: str, expected: str, got: Any, *, status: int = 400) -> ApiError:
    """The one message template: "The 'k' parameter must be ... Got 0 instead."."""
    return ApiError(
        status,
        f"The {name!r} parameter must be {expected}. Got {_shown(got)} instead.",
        parameter=name,
    )


def api_error(exc: BaseException) -> ApiError | None:
    """The HTTP answer to an error of ours, or None for an unexpected one (a bug)."""
    if isinstance(exc, ApiError):
        return exc
    message = str(exc)
    if isinstance(exc, RunNotFoundError):
        return ApiError(404, message, parameter="run")
    if isinstance(exc, StorageError):  # the object store behind the run failed
        return ApiError(502, message, parameter="run")
    if isinstance(exc, LayerNotFoundError):
        return ApiError(400, message, parameter="layer")
    if isinstance(exc, UnknownSampleError):
        return ApiError(400, message, parameter="samples")
    if isinstance(exc, NotEnoughSnapshotsError | LabelsRequiredError):
        return ApiError(422, message)
    if isinstance(exc, CorruptRunError | UnsupportedFormatVersionError):
        return ApiError(422, message, parameter="run")
    if isinstance(exc, ReprDynamicsError):
        return ApiError(400, message, parameter=getattr(exc, "parameter", None))
    storage = storage_error(exc)
    if storage is not None:
        return ApiError(502, str(storage), parameter="run")
    return None


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


# --------------------------------------------------------------------------- parameters
class Params:
    """Request parameters (query string, then a JSON body for POST) parsed by name.

    Every getter returns the default when the parameter is absent (or ``null`` in a body)
    and raises :class:`ApiError` (400) naming the parameter when it is malformed. A
    parameter given empty (``k=``) is malformed, not absent. Query values are text; body
    values must have their JSON type (``{"k": 5}``, not ``{"k": "5"}``), as the OpenAPI
    states.
    """

    def __init__(
        self,
        query: Mapping[str, Any],
        body: Mapping[str, Any] | None = None,
        *,
        selections: Any = None,
    ) -> None:
        self._values: dict[str, Any] = {k: v for k, v in query.items()}
        self._from_body: frozenset[str] = frozenset(body or ())
        if body:
            self._values.update(body)
        # Resolves "sel:<token>" selections (a SelectionRegistry); None: tokens are refused.
        self._selections = selections

    def raw(self, name: str) -> Any:
        return self._values.get(name)

    def has(self, name: str) -> bool:
        value = self._values.get(name)
        return value is not None and value != ""

    def _text_value(self, name: str, value: Any) -> bool:
        """Whether ``value`` is query text to parse (a string in a body is not a number)."""
        return isinstance(value, str) and name not in self._from_body

    def _typed(self, name: str, expected: str) -> str:
        """``expected``, saying so when a body gave a string for a number or boolean."""
        if name in self._from_body and isinstance(self._values.get(name), str):
            return f"{expected} (in a JSON body, a JSON value, not a string)"
        return expected

    def integer(
        self,
        name: str,
        default: int | None = None,
        *,
        low: int | None = None,
        high: int | None = None,
        required: bool = False,
    ) -> int | None:
        value = self._values.get(name)
        if value is None:
            if required:
                raise ApiError(400, f"The {name!r} parameter is required.", parameter=name)
            return default
        expected = self._typed(name, _int_range(low, high))
        if isinstance(value, float) and value.is_integer():  # JSON 5.0 is the integer 5
            value = int(value)
        if self._text_value(name, value):
            text = value.strip()
            try:
                if not text.lstrip("+-").isdigit() or not text.isascii():
                    raise ValueError(text)
                value = int(text)  # ValueError too beyond 4300 digits
            except ValueError:
                raise bad_parameter(name, expected, value) from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_parameter(name, expected, value)
        if (low is not None and value < low) or (high is not None and value > high):
            raise bad_parameter(name, expected, value)
        return value

    def number(
        self,
        name: str,
        default: float | None = None,
        *,
        low: float | None = None,
        high: float | None = None,
        low_open: bool = False,
    ) -> float | None:
        value = self._values.get(name)
        if value is None:
            return default
        lo = "(" if low_open else "["
        expected = self._typed(
            name,
            f"a number in {lo}{low if low is not None else '-inf'}, "
            f"{high if high is not None else 'inf'}]",
        )
        if isinstance(value, bool) or not (
            self._text_value(name, value) or isinstance(value, int | float)
        ):
            raise bad_parameter(name, expected, value)
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise bad_parameter(name, expected, value) from None
        if not math.isfinite(number):
            raise bad_parameter(name, expected, value)
        if low is not None and (number < low or (low_open and number == low)):
            raise bad_parameter(name, expected, value)
        if high is not None and number > high:
            raise bad_parameter(name, expected, value)
        return number

    def flag(self, name: str, default: bool = False) -> bool:
        value = self._values.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if self._text_value(name, value) and value in ("true", "false"):
            return value == "true"
        raise bad_parameter(name, self._typed(name, "true or false"), value)

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self._values.get(name)
        if value is None:
            return default
        if not isinstance(value, str) or not value:
            raise bad_parameter(name, "a non-empty string", value)
        return value

    def choice(self, name: str, choices: tuple[str, ...] | list[str], default: str) -> str:
        value = self.text(name, default)
        assert value is not None
        normalised = value.strip().lower().replace("_", "-")
        if normalised not in choices:
            raise bad_parameter(name, f"one of {list(choices)}", value)
        return normalised

    def selection(self, name: str, n_samples: int) -> np.ndarray | None:
        value = self._values.get(name)
        if isinstance(value, str) and value.startswith("sel:"):
            if self._selections is None:
                raise bad_parameter(name, "ids and ranges (no registered selections here)", value)
            return self._selections.resolve(value.strip(), n_samples, name)
        return parse_selection(value, n_samples, name)


def _int_range(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"an int in [{low}, {high}]"
    if low is not None:
        return f"an int >= {low}"
    if high is not None:
        return f"an int <= {high}"
    return "an int"
