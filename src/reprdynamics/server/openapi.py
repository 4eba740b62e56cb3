"""The OpenAPI description of the endpoint table (``/openapi.json``)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from reprdynamics.server.handlers import job
from reprdynamics.server.requests import (
    BITMASK_SLACK_BYTES,
    MAX_JSON_BODY_BYTES,
    ApiJSONResponse,
    api_handler,
    mebibytes,
)
from reprdynamics.server.static_files import static

if TYPE_CHECKING:
    from reprdynamics.server.endpoints import Endpoint, Parameter


@api_handler
async def openapi(request: Request) -> Response:
    return ApiJSONResponse(openapi_schema())


def _openapi_path(path: str) -> str:
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


#: The longest query or path value the OpenAPI states. A request line over about 16 KiB is refused
#: by the HTTP server (uvicorn) before the app sees it, so longer selections go in a POST
#: body (up to :data:`MAX_SELECTION_CHARS`) or are registered as a token.
MAX_QUERY_CHARS = 8_000


def _value_schema(p: Parameter, *, in_url: bool = False) -> dict[str, Any]:
    """The JSON Schema of one value of ``p`` (a query value, or a body's string/number)."""
    schema: dict[str, Any] = {"type": p.type}
    if p.default is not None:
        schema["default"] = p.default
    if p.enum:
        schema["enum"] = list(p.enum)
    elif p.type == "string":
        if p.min_length:
            schema["minLength"] = p.min_length
        longest = p.max_length
        if in_url:  # a query or path value
            longest = MAX_QUERY_CHARS if longest is None else min(longest, MAX_QUERY_CHARS)
        if longest is not None:
            schema["maxLength"] = longest
        if p.pattern is not None:
            schema["pattern"] = p.pattern
    for key, value in (
        ("minimum", p.minimum),
        ("maximum", p.maximum),
        ("exclusiveMinimum", p.exclusive_minimum),
    ):
        if value is not None:
            schema[key] = value
    return schema


def _parameter(p: Parameter) -> dict[str, Any]:
    return {
        "name": p.name,
        "in": p.where,
        "required": p.required or p.where == "path",
        "description": p.description,
        "schema": _value_schema(p, in_url=True),
    }


def _body_property(p: Parameter) -> dict[str, Any]:
    """A JSON body's field: its JSON type (a list of ints too, for ids), or null (absent)."""
    options = [_value_schema(p)]
    if p.ids:
        ints: dict[str, Any] = {
            "type": "array",
            "items": {"type": "integer", "minimum": 0},
            "minItems": 1,
        }
        if p.max_items is not None:
            ints["maxItems"] = p.max_items
        options.append(ints)
    if not p.required:
        options.append({"type": "null"})
    return {"description": p.description, "anyOf": options}


def _request_body(e: Endpoint) -> dict[str, Any]:
    if e.body == "application/octet-stream":
        return {
            "description": "The selection bitmask: exactly ceil(N / 8) bytes (N = the run's "
            "n_samples), bit i = bit i % 8 of byte i // 8, padding bits 0, at least one bit "
            f"set. A body more than {BITMASK_SLACK_BYTES} bytes longer is refused with 413 "
            "before it is read.",
            "required": True,
            "content": {e.body: {"schema": {"type": "string", "format": "binary"}}},
        }
    fields = [p for p in e.params if p.where == "query"]
    required = [p.name for p in fields if p.required]
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {p.name: _body_property(p) for p in fields},
    }
    if required:
        schema["required"] = required
    return {
        "description": "The query parameters as a JSON object (query parameters are read "
        "too; the body wins), each of its JSON type; null is the default. At most "
        f"{mebibytes(MAX_JSON_BODY_BYTES)}, else 413.",
        "required": bool(required),
        "content": {e.body: {"schema": schema}},
    }


_ERROR_STATUSES = {
    "400": "A malformed or out-of-range parameter, or a Host header this server does not answer to",
    "403": "A POST that is not JSON (a bitmask, for /selection) from this server's origin",
    "404": "Unknown run, file or job",
    "410": "The job was cancelled: nobody polled it; request its URL again",
    "413": "The request body is too large",
    "422": "The run cannot answer (too few snapshots, no labels, a features run, a damaged run)",
    "502": "The object store behind a run URL cannot be reached or refuses access",
    "503": "Too many jobs wait for a worker; retry after Retry-After seconds",
}


def _statuses(e: Endpoint, method: str) -> list[str]:
    """Every status the operation can answer (but 405, for a method it does not take)."""
    codes = {"200", "400"}
    if e.computes:
        codes.add("202")
    if e.computes and e.handler is not job:
        codes.add("503")
    if e.binary:
        codes.add("304")
    if method == "POST":
        codes |= {"403", "413"}
    if e.reads_run:
        codes |= {"404", "422", "502"}
    if e.handler in (static, job):
        codes.add("404")
    if e.handler is job:
        codes |= {"410", "422", "502"}
    return sorted(codes)


def _responses(e: Endpoint, method: str) -> dict[str, Any]:
    error = {"$ref": "#/components/schemas/Error"}
    responses: dict[str, Any] = {}
    for code in _statuses(e, method):
        if code == "200":
            responses[code] = {"description": "OK", "content": {e.response: {}}}
        elif code == "202":
            responses[code] = {
                "description": "Still computing; poll the same URL or /api/jobs/{job}",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/JobProgress"}}
                },
            }
        elif code == "304":
            responses[code] = {"description": "Not modified: If-None-Match holds the ETag"}
        else:
            responses[code] = {
                "description": _ERROR_STATUSES[code],
                "content": {"application/json": {"schema": error}},
            }
    return responses


def openapi_schema() -> dict[str, Any]:
    """The OpenAPI 3.1 description of :data:`ENDPOINTS`."""
    from reprdynamics import __version__
    from reprdynamics.server.endpoints import ENDPOINTS  # the table lists this module's handler

    paths: dict[str, Any] = {}
    for e in ENDPOINTS:
        path = _openapi_path(e.path)
        for method in e.methods:
            op: dict[str, Any] = {
                "summary": e.summary,
                "operationId": f"{e.handler.__name__}_{method.lower()}",
                "parameters": [_parameter(p) for p in e.params],
                "responses": _responses(e, method),
            }
            if method == "POST":
                op["parameters"] = [_parameter(p) for p in e.params if p.where == "path"]
                op["requestBody"] = _request_body(e)
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ReprDynamics dashboard API",
            "version": __version__,
            "description": "See docs/http_api.md. Large arrays are compact arrays: "
            "{dtype, shape, data: base64 of little-endian bytes in C order}. A parameter "
            "given empty (k=) is a 400; bounds that depend on the run (ids below N, "
            "snapshots below T, k below the selection's size) are stated in the "
            "descriptions.",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {"type": "string"},
                        "status": {"type": "integer"},
                        "parameter": {"type": "string"},
                    },
                    "required": ["error", "status"],
                },
                "CompactArray": {
                    "type": "object",
                    "properties": {
                        "dtype": {"enum": ["float32", "int32", "uint8"]},
                        "shape": {"type": "array", "items": {"type": "integer"}},
                        "data": {"type": "string", "contentEncoding": "base64"},
                    },
                    "required": ["dtype", "shape", "data"],
                },
                "JobProgress": {
                    "type": "object",
                    "properties": {
                        "job": {"type": "string"},
                        "status": {"enum": ["running", "done", "failed"]},
                        "done": {"type": "integer"},
                        "total": {"type": "integer"},
                        "what": {"type": "string"},
                        "description": {"type": "string"},
                        "elapsed": {"type": "number"},
                    },
                    "required": ["job", "done", "total", "what"],
                },
            }
        },
    }
