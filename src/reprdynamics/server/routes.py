"""HTTP routes of the dashboard: thin handlers over :mod:`reprdynamics.server.impl` (one
name for requests, static_files, handlers, endpoints and openapi).

A handler parses the request into :class:`~reprdynamics.server.arrays.Params`, calls an
``*_impl`` function (in a worker thread: they read the run from disk) or hands a
:class:`~reprdynamics.server.impl.Computation` to the job registry, and turns the plain data
into JSON. Errors become ``{"error", "status"}`` JSON with a 4xx status. The table
:data:`ENDPOINTS` defines both the routes and the OpenAPI description (``/openapi.json``),
so the two cannot drift apart. See ``docs/http_api.md``.
"""

from __future__ import annotations

from reprdynamics.server.endpoints import ENDPOINTS, build_routes
from reprdynamics.server.openapi import MAX_QUERY_CHARS, openapi_schema
from reprdynamics.server.requests import (
    BITMASK_SLACK_BYTES,
    MAX_JSON_BODY_BYTES,
    ApiJSONResponse,
    error_response,
)
from reprdynamics.server.static_files import STATIC_DIR, plotly_js_path, safe_static_path

__all__ = [
    "BITMASK_SLACK_BYTES",
    "ENDPOINTS",
    "MAX_JSON_BODY_BYTES",
    "MAX_QUERY_CHARS",
    "STATIC_DIR",
    "ApiJSONResponse",
    "build_routes",
    "error_response",
    "openapi_schema",
    "plotly_js_path",
    "safe_static_path",
]
