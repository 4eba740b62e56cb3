"""Reading a request: its parameters (query, form or JSON body, with size limits), the
checks of what each endpoint declares, and the JSON and error responses."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from reprdynamics.server import impl
from reprdynamics.server.arrays import (
    ApiError,
    Params,
    json_safe,
)

if TYPE_CHECKING:
    from reprdynamics.server.endpoints import Parameter


log = logging.getLogger("reprdynamics.server")


class ApiJSONResponse(Response):
    """Strict JSON (no NaN: non-finite numbers become null), NumPy values converted."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(json_safe(content), allow_nan=False, separators=(",", ":")).encode()


def error_response(error: ApiError) -> Response:
    return ApiJSONResponse(error.to_dict(), status_code=error.status, headers=error.headers)


def workspace_of(request: Request) -> impl.Workspace:
    return request.app.state.workspace


Handler = Callable[[Request], Awaitable[Response]]


def api_handler(handler: Handler) -> Handler:
    """Answer our errors as 4xx JSON; an unexpected error is logged and answered as 500
    JSON without a traceback."""

    @functools.wraps(handler)
    async def wrapper(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as exc:
            error = impl.api_error(exc)
            if error is None:
                log.exception("Unexpected error answering %s", request.url.path)
                error = ApiError(500, f"Internal error: {type(exc).__name__}.")
            return error_response(error)

    return wrapper


#: The largest JSON request body accepted, in bytes. A longer selection is posted once as a
#: bitmask (``POST /api/runs/{run}/selection``) and named by its token.
MAX_JSON_BODY_BYTES = 8 * 2**20
#: Bytes a selection bitmask may exceed its ``ceil(N / 8)`` by and still get a 400 naming
#: the size expected; beyond, it is a 413 and is not read on.
BITMASK_SLACK_BYTES = 1024


def mebibytes(size: int) -> str:
    return f"{size} bytes" if size < 2**20 else f"{size} bytes ({size / 2**20:g} MiB)"


async def read_body(request: Request, limit: int, what: str) -> bytes:
    """The request body, refused with 413 once it is longer than ``limit`` bytes: by its
    ``Content-Length`` before anything is read, else as soon as the bytes read exceed it,
    so a huge body is never held in memory."""
    too_large = ApiError(
        413,
        f"The request body is larger than {mebibytes(limit)}, the most {what}.",
        parameter="body",
    )
    declared = request.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def request_params(request: Request) -> Params:
    body = None
    if request.method == "POST":
        raw = await read_body(
            request,
            MAX_JSON_BODY_BYTES,
            "a JSON body may have (post a long selection once as a bitmask to "
            "/api/runs/{run}/selection and use its token)",
        )
        if raw.strip():
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                raise ApiError(
                    400, "The request body must be a JSON object.", parameter="body"
                ) from None
            except RecursionError:  # a body nested thousands of levels deep
                raise ApiError(
                    400,
                    "The request body is nested too deeply to be a request.",
                    parameter="body",
                ) from None
            if not isinstance(body, dict):
                raise ApiError(400, "The request body must be a JSON object.", parameter="body")
    params = Params(request.query_params, body, selections=workspace_of(request).selections)
    from reprdynamics.server.endpoints import DECLARED  # the table names the handlers

    check_declared(DECLARED.get(request.scope.get("endpoint"), ()), params)
    return params


def check_declared(declared: tuple[Parameter, ...], params: Params) -> None:
    """Refuse (400) what the table, so the OpenAPI, forbids, whether or not this request
    reads the parameter: ``layer=`` with ``k=0``, or ``debiased=maybe`` without
    ``kind=cka``, are as malformed as they are elsewhere. Bounds set by the run (ids below
    N, snapshots below T) are checked where the run is read."""
    for p in declared:
        if p.where != "query" or p.ids:  # selections are parsed against the run's N
            continue
        if p.type == "integer":
            low, high = p.minimum, p.maximum
            params.integer(
                p.name,
                low=None if low is None else int(low),
                high=None if high is None else int(high),
                required=p.required,
            )
        elif p.type == "number":
            open_low = p.exclusive_minimum is not None
            params.number(
                p.name,
                low=p.exclusive_minimum if open_low else p.minimum,
                high=p.maximum,
                low_open=open_low,
            )
        elif p.type == "boolean":
            params.flag(p.name)
        elif p.enum:
            params.choice(p.name, p.enum, p.enum[0])
        elif params.text(p.name) is None and p.required:
            raise ApiError(400, f"The {p.name!r} parameter is required.", parameter=p.name)
