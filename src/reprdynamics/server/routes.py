"""HTTP routes of the dashboard: thin handlers over :mod:`reprdynamics.server.impl`.

A handler parses the request into :class:`~reprdynamics.server.arrays.Params`, calls an
``*_impl`` function (in a worker thread: they read the run from disk) or hands a
:class:`~reprdynamics.server.impl.Computation` to the job registry, and turns the plain data
into JSON. Errors become ``{"error", "status"}`` JSON with a 4xx status. The table
:data:`ENDPOINTS` defines both the routes and the OpenAPI description (``/openapi.json``),
so the two cannot drift apart. See ``docs/http_api.md``.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from reprdynamics.server import binary, impl
from reprdynamics.server.arrays import ApiError, Params, json_safe
from reprdynamics.server.jobs import Job

__all__ = [
    "ENDPOINTS",
    "STATIC_DIR",
    "ApiJSONResponse",
    "build_routes",
    "error_response",
    "openapi_schema",
    "plotly_js_path",
    "safe_static_path",
]

log = logging.getLogger("reprdynamics.server")

STATIC_DIR = Path(__file__).resolve().parent / "static"
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".map": "application/json",
}
_FALLBACK_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ReprDynamics</title></head>
<body><h1>ReprDynamics</h1>
<p>The dashboard's front-end is not installed (no <code>static/index.html</code>). The JSON
API works: <a href="/api/runs">/api/runs</a>, described at
<a href="/openapi.json">/openapi.json</a>.</p></body></html>
"""


class ApiJSONResponse(Response):
    """Strict JSON (no NaN: non-finite numbers become null), NumPy values converted."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(json_safe(content), allow_nan=False, separators=(",", ":")).encode()


def error_response(error: ApiError) -> Response:
    return ApiJSONResponse(error.to_dict(), status_code=error.status)


def _workspace(request: Request) -> impl.Workspace:
    return request.app.state.workspace


Handler = Callable[[Request], Awaitable[Response]]


def _api(handler: Handler) -> Handler:
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


async def _params(request: Request) -> Params:
    body = None
    if request.method == "POST":
        raw = await request.body()
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
    return Params(request.query_params, body, selections=_workspace(request).selections)


# --------------------------------------------------------------------------- computations
async def _job_response(job: Job, render: Callable[[Any], Any]) -> Response:
    if job.status == "failed":
        assert job.error is not None
        return error_response(job.error)
    if job.status == "done":
        rendered = await run_in_threadpool(render, job.result)
        return rendered if isinstance(rendered, Response) else ApiJSONResponse(rendered)
    return ApiJSONResponse(
        job.progress_dict(),
        status_code=202,
        headers={"Location": f"/api/jobs/{job.id}", "Retry-After": "1"},
    )


async def _computed(
    request: Request,
    prepare: Callable[[], impl.Computation],
    render: Callable[[Any], Any] | None = None,
) -> Response:
    """Validate now; answer from the memo, or run a job and wait briefly for it."""
    computation = await run_in_threadpool(prepare)
    render = render or computation.render
    jobs = _workspace(request).jobs
    result = jobs.memo_get(computation.key, None)
    if result is not None:
        rendered = await run_in_threadpool(render, result)
        return rendered if isinstance(rendered, Response) else ApiJSONResponse(rendered)
    job = jobs.submit(
        computation.key,
        computation.compute,
        description=computation.description,
        render=computation.render,
    )
    await jobs.wait(job, request.app.state.job_grace)
    return await _job_response(job, render)


# --------------------------------------------------------------------------- handlers
async def index(request: Request) -> Response:
    page = STATIC_DIR / "index.html"
    if page.is_file():
        return FileResponse(page, media_type=_MEDIA_TYPES[".html"], headers=_NO_CACHE)
    return HTMLResponse(_FALLBACK_PAGE)


_NO_CACHE = {"Cache-Control": "no-cache"}


def plotly_js_path() -> Path | None:
    """``plotly.min.js`` inside the installed ``plotly`` package (not imported: found)."""
    try:
        spec = importlib.util.find_spec("plotly")
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "package_data" / "plotly.min.js"
        if candidate.is_file():
            return candidate
    return None


_DRIVE = re.compile(r"^[A-Za-z]:")


def safe_static_path(base: Path, relative: str) -> Path | None:
    """The file ``relative`` names inside ``base``, or None if it is not one.

    Refuses empty, absolute, drive-letter and backslash paths, NUL bytes, ``.``/``..`` and
    hidden components, and anything whose resolved location (symlinks followed) is not a
    regular file inside ``base``.
    """
    if not relative or "\x00" in relative or "\\" in relative or _DRIVE.match(relative):
        return None
    if relative.startswith("/"):
        return None
    parts = relative.split("/")
    if any(not part or part.startswith(".") for part in parts):
        return None
    root = base.resolve()
    try:
        candidate = (root / relative).resolve()
    except (OSError, RuntimeError):
        return None
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


@_api
async def static(request: Request) -> Response:
    relative = request.path_params["path"]
    if relative == "plotly.min.js":
        path = plotly_js_path()
        if path is None:
            raise ApiError(
                404,
                "plotly.min.js comes from the 'plotly' Python package, which is not "
                "installed: pip install plotly",
            )
        return FileResponse(
            path, media_type=_MEDIA_TYPES[".js"], headers={"Cache-Control": "max-age=86400"}
        )
    path = safe_static_path(STATIC_DIR, relative)
    if path is None:
        raise ApiError(404, "No such static file.", parameter="path")
    media_type = _MEDIA_TYPES.get(path.suffix.lower())
    return FileResponse(path, media_type=media_type, headers=_NO_CACHE)


@_api
async def openapi(request: Request) -> Response:
    return ApiJSONResponse(openapi_schema())


@_api
async def runs(request: Request) -> Response:
    return ApiJSONResponse(await run_in_threadpool(impl.runs_impl, _workspace(request)))


@_api
async def overview(request: Request) -> Response:
    ws, name = _workspace(request), request.path_params["run"]
    return ApiJSONResponse(await run_in_threadpool(impl.overview_impl, ws, name))


@_api
async def labels(request: Request) -> Response:
    ws, name = _workspace(request), request.path_params["run"]
    return ApiJSONResponse(await run_in_threadpool(impl.labels_impl, ws, name))


def _quick(func: Callable[[impl.Workspace, str, Params], Any]) -> Handler:
    """A handler answering ``func(workspace, run, params)`` as JSON."""

    @_api
    async def handler(request: Request) -> Response:
        ws, name = _workspace(request), request.path_params["run"]
        params = await _params(request)
        return ApiJSONResponse(await run_in_threadpool(func, ws, name, params))

    handler.__name__ = func.__name__.removesuffix("_impl")
    return handler


predictions = _quick(impl.predictions_impl)
measure = _quick(impl.measure_impl)
transitions = _quick(impl.transitions_impl)


def _heavy(prepare: Callable[[impl.Workspace, str, Params], impl.Computation]) -> Handler:
    """A handler running ``prepare(workspace, run, params)``'s computation as a job."""

    @_api
    async def handler(request: Request) -> Response:
        ws, name = _workspace(request), request.path_params["run"]
        params = await _params(request)
        return await _computed(request, lambda: prepare(ws, name, params))

    handler.__name__ = prepare.__name__.removeprefix("prepare_")
    return handler


fingerprint = _heavy(impl.prepare_fingerprint)
rqa = _heavy(impl.prepare_rqa)
samples = _heavy(impl.prepare_samples)
projection = _heavy(impl.prepare_projection)
local = _heavy(impl.prepare_local)


def _csv_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80] or "run"


@_api
async def samples_csv(request: Request) -> Response:
    ws, name = _workspace(request), request.path_params["run"]
    params = await _params(request)

    def render(table: Any) -> Response:
        return Response(
            impl.samples_csv(table),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{_csv_filename(name)}-samples.csv"'
            },
        )

    return await _computed(request, lambda: impl.prepare_samples(ws, name, params), render)


@_api
async def compare(request: Request) -> Response:
    ws = _workspace(request)
    params = await _params(request)
    return await _computed(request, lambda: impl.prepare_compare(ws, params))


@_api
async def job(request: Request) -> Response:
    found = _workspace(request).jobs.get(request.path_params["job"])
    if found is None:
        raise ApiError(
            404,
            "No such job (it may have finished long ago); request the result's URL again.",
            parameter="job",
        )
    return await _job_response(found, found.render or (lambda data: data))


@_api
async def thumbs(request: Request) -> Response:
    ws, name = _workspace(request), request.path_params["run"]
    params = await _params(request)
    png, columns = await run_in_threadpool(impl.thumbs_impl, ws, name, params)
    return Response(
        png,
        media_type="image/png",
        headers={"X-Grid-Columns": str(columns), "Cache-Control": "max-age=60"},
    )


@_api
async def thumb(request: Request) -> Response:
    ws, name = _workspace(request), request.path_params["run"]
    params = await _params(request)
    png = await run_in_threadpool(
        impl.thumb_impl, ws, name, request.path_params["sample_id"], params
    )
    return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=60"})


# --------------------------------------------------------------------------- binary
def _binary_response(request: Request, etag: str, answer: binary.Binary) -> Response:
    headers = {"ETag": etag, "Cache-Control": "no-cache", **answer.all_headers()}
    return Response(answer.body(), media_type="application/octet-stream", headers=headers)


def _not_modified(request: Request, etag: str) -> Response | None:
    """304 when the client holds this tag (weak comparison, as RFC 9110 asks of
    If-None-Match). ``*`` is not honoured: it could pass a request whose parameters are
    only checked when the answer is rendered."""
    tags = [
        t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")
    ]
    if etag in tags:
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": "no-cache"})
    return None


def _binary(prepare: Callable[[impl.Workspace, str, Params], binary.BinaryRequest]) -> Handler:
    """A handler answering a typed array (304 when the client's copy is current)."""

    @_api
    async def handler(request: Request) -> Response:
        ws, name = _workspace(request), request.path_params["run"]
        params = await _params(request)
        req = await run_in_threadpool(prepare, ws, name, params)
        unchanged = _not_modified(request, req.etag)
        if unchanged is not None:
            return unchanged
        if req.produce is not None:
            answer = await run_in_threadpool(req.produce)
            return _binary_response(request, req.etag, answer)
        assert req.computation is not None and req.render is not None
        render = req.render

        def respond(result: Any) -> Response:
            return _binary_response(request, req.etag, render(result))

        return await _computed(request, lambda: req.computation, respond)  # type: ignore[arg-type,return-value]

    handler.__name__ = prepare.__name__.replace("_bin", "_binary")
    return handler


measure_binary = _binary(binary.measure_bin)
projection_binary = _binary(binary.projection_bin)
column_binary = _binary(binary.column_bin)

#: The largest selection bitmask accepted (a run of 128 million samples).
MAX_BITMASK_BYTES = 16 * 2**20


@_api
async def selection(request: Request) -> Response:
    ws, name = _workspace(request), request.path_params["run"]
    raw = await request.body()
    if len(raw) > MAX_BITMASK_BYTES:
        raise ApiError(413, "The selection bitmask is too large.", parameter="body")

    def register() -> dict[str, Any]:
        run = ws.open(name)
        token, selected = ws.selections.register(raw, run.n_samples)
        return {"token": token, "n_selected": selected, "n_samples": run.n_samples}

    return ApiJSONResponse(await run_in_threadpool(register))


# --------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class P:
    """A documented request parameter."""

    name: str
    type: str = "string"
    description: str = ""
    where: str = "query"
    required: bool = False
    default: Any = None
    enum: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True)
class Endpoint:
    """A route and its OpenAPI description."""

    path: str
    handler: Handler
    summary: str
    methods: tuple[str, ...] = ("GET",)
    params: tuple[P, ...] = ()
    response: str = "application/json"
    computes: bool = False
    tags: tuple[str, ...] = field(default=("api",))


_RUN = P("run", where="path", required=True, description="A run name as listed by /api/runs.")
_SAMPLES = P(
    "samples",
    description="Selection: ids and inclusive ranges, e.g. '0-99,150'; absent = all samples. "
    "POST bodies may give a list of ints.",
)
_K = P(
    "k",
    "integer",
    f"Neighbours per sample, in [1, min(n-1, {impl.MAX_K})] (n = selection size); the "
    f"server computes at most {impl.MAX_K} (each k is a stack cached in the run).",
    default=10,
    minimum=1,
    maximum=impl.MAX_K,
)
_K_TABLE = P(
    "k",
    "integer",
    f"Neighbours for neighbour stability, at most {impl.MAX_K} (0: leave it out).",
    default=10,
    minimum=0,
    maximum=impl.MAX_K,
)
_LAYER = P("layer", description="Layer of the run (default: the output layer).")
_KIND = P(
    "kind",
    description="Fingerprint kind.",
    default="neighbour-transition",
    enum=("neighbour-transition", "neighbour-state", "class-transition", "disagreement", "cka"),
)
_DEBIASED = P("debiased", "boolean", "Debiased CKA (kind=cka only).", default=False)
_THRESHOLD = P(
    "threshold",
    "number",
    "Recurrence threshold ε (R = [D <= ε]); default: the one giving 10% recurrence.",
)
_RATE = P("recurrence_rate", "number", "Fixed recurrence rate in (0, 1] (instead of threshold).")
_NEIGHBOURS = P(
    "neighbours",
    description=(
        "Neighbour search of the neighbour kinds: 'exact' (default) or 'approximate' "
        "(faiss IVF-Flat, for very large runs; the measured recall is in params.recall)."
    ),
    default="exact",
    enum=("exact", "approximate"),
)
_FP = (_KIND, _K, _LAYER, _SAMPLES, _DEBIASED, _NEIGHBOURS)

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("/", index, "The single-page dashboard (static/index.html).", response="text/html"),
    Endpoint(
        "/static/{path:path}",
        static,
        "Front-end assets; /static/plotly.min.js comes from the installed plotly package.",
        params=(P("path", where="path", required=True, description="File inside static/."),),
        response="application/octet-stream",
    ),
    Endpoint("/openapi.json", openapi, "This OpenAPI description."),
    Endpoint("/api/runs", runs, "The runs served: name, size, kind, layers, created."),
    Endpoint(
        "/api/runs/{run}",
        overview,
        "Overview of a run (re-read on every call, so new snapshots appear).",
        params=(_RUN,),
    ),
    Endpoint(
        "/api/runs/{run}/labels",
        labels,
        "Labels as compact int32 (N,), -1 = unknown, and class names.",
        params=(_RUN,),
    ),
    Endpoint(
        "/api/runs/{run}/predictions",
        predictions,
        "Predicted class per sample at a snapshot: compact int32 (N,), -1 = not recorded.",
        params=(_RUN, P("snapshot", "integer", "Snapshot index (default: the last).")),
    ),
    Endpoint(
        "/api/runs/{run}/thumbs.png",
        thumbs,
        "Sprite sheet of thumbnails, row-major in ceil(sqrt(n)) columns (header "
        "X-Grid-Columns), cells in the order of ids.",
        methods=("GET", "POST"),
        params=(
            _RUN,
            P(
                "ids",
                description="Ids and ranges in order, e.g. '5,0-3' (default all if N <= 2500).",
            ),
            P("size", "integer", "Cell size in pixels, 4..256.", default=32),
        ),
        response="image/png",
    ),
    Endpoint(
        "/api/runs/{run}/thumb/{sample_id}.png",
        thumb,
        "One thumbnail.",
        params=(
            _RUN,
            P("sample_id", "integer", "Sample id.", where="path", required=True),
            P("size", "integer", "Size in pixels, 4..512.", default=64),
        ),
        response="image/png",
    ),
    Endpoint(
        "/api/runs/{run}/fingerprint",
        fingerprint,
        "A training fingerprint (compact float32 M×M matrix) with row labels and phase changes.",
        methods=("GET", "POST"),
        params=(_RUN, *_FP),
        computes=True,
    ),
    Endpoint(
        "/api/runs/{run}/rqa",
        rqa,
        "Recurrence quantification of a fingerprint and the NNTF band sweep.",
        methods=("GET", "POST"),
        params=(_RUN, *_FP, _THRESHOLD, _RATE),
        computes=True,
    ),
    Endpoint(
        "/api/runs/{run}/measure",
        measure,
        "A per-sample measure at one snapshot: ids (compact int32) and values (compact "
        "float32, NaN where undefined).",
        methods=("GET", "POST"),
        params=(
            _RUN,
            P("name", description="Measure.", default="entropy", enum=impl.MEASURES),
            P("snapshot", "integer", "Snapshot index (default: the last)."),
            _SAMPLES,
        ),
    ),
    Endpoint(
        "/api/runs/{run}/local",
        local,
        "One sample's k nearest neighbours among the selection at snapshots a and b.",
        methods=("GET", "POST"),
        params=(
            _RUN,
            P("id", "integer", "The sample.", required=True),
            P("a", "integer", "First snapshot (default: the first complete)."),
            P("b", "integer", "Second snapshot (default: the last complete)."),
            _K,
            _LAYER,
            _SAMPLES,
        ),
        computes=True,
    ),
    Endpoint(
        "/api/runs/{run}/transitions",
        transitions,
        "NNTF class-transition matrix Δ between snapshots a and b (C×C counts).",
        methods=("GET", "POST"),
        params=(
            _RUN,
            P("a", "integer", "First snapshot (default: the first complete)."),
            P("b", "integer", "Second snapshot (default: the last complete)."),
            _SAMPLES,
        ),
    ),
    Endpoint(
        "/api/runs/{run}/samples",
        samples,
        "Per-sample table: columns and one compact array per column.",
        methods=("GET", "POST"),
        params=(
            _RUN,
            _K_TABLE,
            _LAYER,
            _SAMPLES,
        ),
        computes=True,
    ),
    Endpoint(
        "/api/runs/{run}/samples.csv",
        samples_csv,
        "The per-sample table as a CSV download.",
        params=(_RUN, _K_TABLE, _LAYER, _SAMPLES),
        response="text/csv",
        computes=True,
    ),
    Endpoint(
        "/api/runs/{run}/projection",
        projection,
        "2-D PCA fitted on all complete snapshots, applied to each: coords compact float32 "
        "(T, n, 2).",
        methods=("GET", "POST"),
        params=(_RUN, _LAYER, _SAMPLES),
        computes=True,
    ),
    Endpoint(
        "/api/runs/{run}/selection",
        selection,
        "Register a selection as a bitmask (body: ceil(N/8) bytes, bit i = bit i%8 of byte "
        "i//8); answers {token, n_selected}. Use samples=<token> in other requests.",
        methods=("POST",),
        params=(_RUN,),
    ),
    Endpoint(
        "/api/runs/{run}/measure.bin",
        measure_binary,
        "A per-sample measure at one snapshot as little-endian float32 (n,), in the order "
        "of the selection's sorted ids; ETag keyed by the run's state.",
        params=(
            _RUN,
            P("name", description="Measure.", default="entropy", enum=impl.MEASURES),
            P("snapshot", "integer", "Snapshot index (default: the last)."),
            _SAMPLES,
        ),
        response="application/octet-stream",
    ),
    Endpoint(
        "/api/runs/{run}/projection.bin",
        projection_binary,
        "One snapshot of the projection: (n, 2) uint16 codes (X-Scale, X-Offset per axis; "
        "65535 = NaN) or float32.",
        params=(
            _RUN,
            _LAYER,
            _SAMPLES,
            P("snapshot", "integer", "A complete snapshot (default: the last)."),
            P("encoding", description="Encoding.", default="uint16", enum=("uint16", "float32")),
        ),
        response="application/octet-stream",
        computes=True,
    ),
    Endpoint(
        "/api/runs/{run}/column.bin",
        column_binary,
        "One numeric column of the per-sample table as little-endian float32 (n,).",
        params=(
            _RUN,
            P("column", required=True, description="Column name, as in /samples."),
            _K_TABLE,
            _LAYER,
            _SAMPLES,
        ),
        response="application/octet-stream",
        computes=True,
    ),
    Endpoint(
        "/api/compare",
        compare,
        "Fingerprints and RQA of two runs with the same samples.",
        methods=("GET", "POST"),
        params=(
            P("a", required=True, description="First run name."),
            P("b", required=True, description="Second run name."),
            *_FP,
            _THRESHOLD,
            _RATE,
        ),
        computes=True,
    ),
    Endpoint(
        "/api/jobs/{job}",
        job,
        "Progress (202) or result (200) of a background computation.",
        params=(P("job", where="path", required=True, description="Job id from a 202."),),
        computes=True,
    ),
)


def build_routes() -> list[Route]:
    return [Route(e.path, e.handler, methods=list(e.methods)) for e in ENDPOINTS]


def _openapi_path(path: str) -> str:
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


def _parameter(p: P) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": p.type}
    if p.default is not None:
        schema["default"] = p.default
    if p.enum:
        schema["enum"] = list(p.enum)
    if p.minimum is not None:
        schema["minimum"] = p.minimum
    if p.maximum is not None:
        schema["maximum"] = p.maximum
    return {
        "name": p.name,
        "in": p.where,
        "required": p.required or p.where == "path",
        "description": p.description,
        "schema": schema,
    }


def openapi_schema() -> dict[str, Any]:
    """The OpenAPI 3.1 description of :data:`ENDPOINTS`."""
    from reprdynamics import __version__

    error = {"$ref": "#/components/schemas/Error"}
    paths: dict[str, Any] = {}
    for e in ENDPOINTS:
        responses: dict[str, Any] = {
            "200": {"description": "OK", "content": {e.response: {}}},
            "400": {
                "description": "A bad parameter",
                "content": {"application/json": {"schema": error}},
            },
            "404": {
                "description": "Unknown run, file or job",
                "content": {"application/json": {"schema": error}},
            },
        }
        if e.computes:
            responses["202"] = {
                "description": "Still computing; poll the same URL or /api/jobs/{job}",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/JobProgress"}}
                },
            }
            responses["422"] = {
                "description": "The run cannot answer (too few snapshots, no labels)",
                "content": {"application/json": {"schema": error}},
            }
        operation: dict[str, Any] = {
            "summary": e.summary,
            "operationId": e.handler.__name__,
            "parameters": [_parameter(p) for p in e.params],
            "responses": responses,
        }
        path = _openapi_path(e.path)
        for method in e.methods:
            op = dict(operation, operationId=f"{e.handler.__name__}_{method.lower()}")
            if method == "POST":
                op["parameters"] = [_parameter(p) for p in e.params if p.where == "path"]
                op["requestBody"] = {
                    "description": "The query parameters as a JSON object; 'samples' and "
                    "'ids' may be lists of ints.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ReprDynamics dashboard API",
            "version": __version__,
            "description": "See docs/http_api.md. Large arrays are compact arrays: "
            "{dtype, shape, data: base64 of little-endian bytes in C order}.",
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
