"""Plain-data helpers of the HTTP API: compact arrays, JSON-safe values, parameter parsing.

Everything the API sends is JSON. Large numeric arrays travel as *compact arrays*::

    {"dtype": "float32" | "int32" | "uint8", "shape": [...], "data": "<base64>"}

(little-endian bytes in C order), which the browser decodes with ``new Float32Array(...)``
and Python with :func:`decode_compact`. Parameters arrive as query strings (or a JSON body
for the POST variants); :class:`Params` parses them into canonical Python values and
raises :class:`ApiError` with a message naming the parameter when they are malformed.

The one name for api_errors, compact, id_lists and params.
"""

from __future__ import annotations

from reprdynamics.server.api_errors import (
    ApiError,
    api_error,
    bad_parameter,
)
from reprdynamics.server.compact import (
    COMPACT_DTYPES,
    compact,
    decode_compact,
    json_safe,
)
from reprdynamics.server.id_lists import (
    MAX_SELECTION_CHARS,
    ORDERED_IDS_PATTERN,
    SELECTION_PATTERN,
    parse_ordered_ids,
    parse_selection,
)
from reprdynamics.server.params import (
    Params,
)

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
