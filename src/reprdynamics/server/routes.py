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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from reprdynamics.analysis.kinds import KINDS
from reprdynamics.server import binary, impl, tables
from reprdynamics.server.arrays import (
    MAX_SELECTION_CHARS,
    ORDERED_IDS_PATTERN,
    SELECTION_PATTERN,
    ApiError,
    Params,
    json_safe,
)
from reprdynamics.server.jobs import Job
from reprdynamics.server.thumbnails import MAX_SPRITE_IDS

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
    return ApiJSONResponse(error.to_dict(), status_code=error.status, headers=error.headers)


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


#: The largest JSON request body accepted, in bytes. A longer selection is posted once as a
#: bitmask (``POST /api/runs/{run}/selection``) and named by its token.
MAX_JSON_BODY_BYTES = 8 * 2**20
#: Bytes a selection bitmask may exceed its ``ceil(N / 8)`` by and still get a 400 naming
#: the size expected; beyond, it is a 413 and is not read on.
BITMASK_SLACK_BYTES = 1024


def _mebibytes(size: int) -> str:
    return f"{size} bytes" if size < 2**20 else f"{size} bytes ({size / 2**20:g} MiB)"


async def _read_body(request: Request, limit: int, what: str) -> bytes:
    """The request body, refused with 413 once it is longer than ``limit`` bytes: by its
    ``Content-Length`` before anything is read, else as soon as the bytes read exceed it,
    so a huge body is never held in memory."""
    too_large = ApiError(
        413,
        f"The request body is larger than {_mebibytes(limit)}, the most {what}.",
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


async def _params(request: Request) -> Params:
    body = None
    if request.method == "POST":
        raw = await _read_body(
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
    params = Params(request.query_params, body, selections=_workspace(request).selections)
    _check_declared(_DECLARED.get(request.scope.get("endpoint"), ()), params)
    return params


def _check_declared(declared: tuple[P, ...], params: Params) -> None:
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
    hidden components, anything whose resolved location (symlinks followed) is not a
    regular file inside ``base``, and names the file system refuses (too long, unreadable).
    """
    if not relative or "\x00" in relative or "\\" in relative or _DRIVE.match(relative):
        return None
    if relative.startswith("/"):
        return None
    parts = relative.split("/")
    if any(not part or part.startswith(".") for part in parts):
        return None
    try:
        root = base.resolve()
        candidate = (root / relative).resolve()
        # is_file raises what it does not expect: a name over 255 bytes, a path over
        # PATH_MAX (ENAMETOOLONG), a component that cannot be read (EACCES).
        if not candidate.is_relative_to(root) or not candidate.is_file():
            return None
    except (OSError, RuntimeError, ValueError):
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


def _download(name: str, suffix: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{_csv_filename(name)}-{suffix}"'}


async def _table_download(
    request: Request,
    write: Callable[[Any, list[str]], Any],
    media_type: str,
    suffix: str,
    check: Callable[[], None] | None = None,
) -> Response:
    """The per-sample table (the same job as /samples) written as a download: its
    ``columns`` and ``rows`` only, by ``write(table, columns)``; ``check`` refuses the
    request, once its parameters are read, before any computation."""
    ws, name = _workspace(request), request.path_params["run"]
    params = await _params(request)
    if check is not None:
        check()

    def render(table: Any) -> Response:
        columns = tables.selected_columns(params, table.all_columns())
        table = tables.selected_rows(params, table, ws.open(name).n_samples)
        return Response(
            write(table, columns), media_type=media_type, headers=_download(name, suffix)
        )

    return await _computed(request, lambda: impl.prepare_samples(ws, name, params), render)


@_api
async def samples_csv(request: Request) -> Response:
    return await _table_download(
        request, tables.table_csv, "text/csv; charset=utf-8", "samples.csv"
    )


@_api
async def samples_parquet(request: Request) -> Response:
    return await _table_download(
        request,
        tables.table_parquet,
        "application/vnd.apache.parquet",
        "samples.parquet",
        check=tables.check_parquet,
    )


@_api
async def report_html(request: Request) -> Response:
    ws, name = _workspace(request), request.path_params["run"]
    params = await _params(request)

    def render(report: Any) -> Response:
        return Response(
            report.to_html(),
            media_type="text/html; charset=utf-8",
            headers=_download(name, "report.html"),
        )

    return await _computed(request, lambda: impl.prepare_report(ws, name, params), render)


@_api
async def compare(request: Request) -> Response:
    ws = _workspace(request)
    params = await _params(request)
    return await _computed(request, lambda: impl.prepare_compare(ws, params))


@_api
async def compare_samples(request: Request) -> Response:
    ws = _workspace(request)
    params = await _params(request)
    return await _computed(request, lambda: tables.prepare_compare_samples(ws, params))


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


@_api
async def selection(request: Request) -> Response:
    ws, name = _workspace(request), request.path_params["run"]
    run = await run_in_threadpool(ws.open, name)  # its N bounds the body before it is read
    expected = (run.n_samples + 7) // 8
    raw = await _read_body(
        request,
        expected + BITMASK_SLACK_BYTES,
        f"a selection bitmask of this run may have (it has ceil({run.n_samples} / 8) = "
        f"{expected} bytes)",
    )

    def register() -> dict[str, Any]:
        token, selected = ws.selections.register(raw, run.n_samples)
        return {"token": token, "n_selected": selected, "n_samples": run.n_samples}

    return ApiJSONResponse(await run_in_threadpool(register))


# --------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class P:
    """A documented request parameter, with every constraint the server enforces that does
    not depend on the run (those the run sets, such as ids below N, are in the text).

    ``ids`` parameters are strings of ids and ranges in a query and may also be lists of
    ints in a JSON body (at most ``max_items``). A string parameter given empty is refused
    (``min_length``), as is any parameter given empty.
    """

    name: str
    type: str = "string"
    description: str = ""
    where: str = "query"
    required: bool = False
    default: Any = None
    enum: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    pattern: str | None = None
    min_length: int = 1
    max_length: int | None = None
    ids: bool = False
    max_items: int | None = None


@dataclass(frozen=True)
class Endpoint:
    """A route and its OpenAPI description.

    ``body`` is the media type of a POST's body: JSON holding the parameters, or the
    octet-stream of a selection bitmask.
    """

    path: str
    handler: Handler
    summary: str
    methods: tuple[str, ...] = ("GET",)
    params: tuple[P, ...] = ()
    response: str = "application/json"
    computes: bool = False
    body: str = "application/json"
    tags: tuple[str, ...] = field(default=("api",))

    @property
    def reads_run(self) -> bool:
        """Whether the endpoint opens a run (so it may answer 404, 422 or 502 for it)."""
        return "{run}" in self.path or self.path.startswith("/api/compare")

    @property
    def binary(self) -> bool:
        """A typed-array endpoint with an ETag (304 when the client's copy is current)."""
        return self.path.endswith(".bin")


_RUN = P("run", where="path", required=True, description="A run name as listed by /api/runs.")
_SAMPLES = P(
    "samples",
    description="Selection: ids and inclusive ranges, e.g. '0-99,150', 'all', or the token "
    "of a registered selection ('sel:<32 hex digits>', see /selection); absent = all "
    "samples. Ids lie in [0, N) (N = the run's n_samples) and a selection names at most N "
    "ids in all (ids repeated by overlapping ranges count each time), refused with 400 as "
    f"soon as it names more; at most {MAX_SELECTION_CHARS:,} characters. A POST body may "
    "give a list of at most N ints instead.",
    pattern=SELECTION_PATTERN,
    max_length=MAX_SELECTION_CHARS,
    ids=True,
)
_ROWS = P(
    "rows",
    description="Only these rows of the table, in id order: a selection as `samples` "
    "(ids, ranges or a token), each among the samples `samples` selects. The table is "
    "computed over `samples`, so neighbour stability stays what the whole table shows.",
    pattern=SELECTION_PATTERN,
    max_length=MAX_SELECTION_CHARS,
    ids=True,
)
_COLUMNS = P(
    "columns",
    description="Comma-separated columns of the table, in the order wanted, each once "
    "(default: all of them, the run's extras last); an unknown one is a 400.",
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
    f"Neighbours for neighbour stability, in [0, min(n-1, {impl.MAX_K})] (0: leave it out).",
    default=10,
    minimum=0,
    maximum=impl.MAX_K,
)
_LAYER = P("layer", description="Layer of the run, one of its layers (default: the output layer).")
_KIND = P(
    "kind",
    description="Fingerprint kind.",
    default="neighbour-transition",
    enum=tuple(KINDS),
)
_DEBIASED = P("debiased", "boolean", "Debiased CKA (kind=cka only).", default=False)
_THRESHOLD = P(
    "threshold",
    "number",
    "Recurrence threshold ε >= 0 (R = [D <= ε]); default: the one giving 10% recurrence. "
    "Not with recurrence_rate.",
    minimum=0,
)
_RATE = P(
    "recurrence_rate",
    "number",
    "Fixed recurrence rate in (0, 1] (instead of threshold).",
    exclusive_minimum=0,
    maximum=1,
)
_NEIGHBOURS = P(
    "neighbours",
    description=(
        "Neighbour search of the neighbour kinds: 'exact' (default) or 'approximate' "
        "(faiss IVF-Flat, for very large runs; the measured recall is in params.recall)."
    ),
    default="exact",
    enum=("exact", "approximate"),
)
_FP = (
    _KIND,
    _K,
    _LAYER,
    replace(_SAMPLES, description=f"{_SAMPLES.description} A fingerprint needs at least 2 ids."),
    _DEBIASED,
    _NEIGHBOURS,
)
# Snapshot indices count from 0; the server takes no negative (from the end) index.
_SNAPSHOT = P(
    "snapshot",
    "integer",
    "Snapshot index in [0, T-1] (T = the run's n_snapshots; no negative indices); default: "
    "the last.",
    minimum=0,
)
_MEASURE = P("name", description="Measure.", default="entropy", enum=impl.MEASURES)


def _snapshot_pair(complete: bool) -> tuple[P, P]:
    what = "A complete snapshot" if complete else "A snapshot"
    return (
        P("a", "integer", f"{what} in [0, T-1] (default: the first complete).", minimum=0),
        P("b", "integer", f"{what} in [0, T-1] (default: the last complete).", minimum=0),
    )


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("/", index, "The single-page dashboard (static/index.html).", response="text/html"),
    Endpoint(
        "/static/{path:path}",
        static,
        "Front-end assets; /static/plotly.min.js comes from the installed plotly package.",
        params=(P("path", where="path", required=True, description="File inside static/."),),
        response="*/*",
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
        params=(_RUN, _SNAPSHOT),
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
                description=f"Ids and ranges in order, e.g. '5,0-3', repeats kept: at most "
                f"{MAX_SPRITE_IDS} ids (counted while parsing). Empty, absent or 'all': all "
                f"samples, when N <= {MAX_SPRITE_IDS}. A POST body may give a list of ints.",
                pattern=ORDERED_IDS_PATTERN,
                min_length=0,
                max_length=MAX_SELECTION_CHARS,
                ids=True,
                max_items=MAX_SPRITE_IDS,
            ),
            P(
                "size",
                "integer",
                "Cell size in pixels, 4..256, and at most 8192 // ceil(sqrt(n)).",
                default=32,
                minimum=4,
                maximum=256,
            ),
        ),
        response="image/png",
    ),
    Endpoint(
        "/api/runs/{run}/thumb/{sample_id}.png",
        thumb,
        "One thumbnail.",
        params=(
            _RUN,
            P(
                "sample_id",
                "integer",
                "Sample id in [0, N) (N or more: 404).",
                where="path",
                required=True,
                minimum=0,
            ),
            P("size", "integer", "Size in pixels, 4..512.", default=64, minimum=4, maximum=512),
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
        "float32, NaN where undefined). A label measure on a run without labels, or any "
        "measure on a features run: 422.",
        methods=("GET", "POST"),
        params=(_RUN, _MEASURE, _SNAPSHOT, _SAMPLES),
    ),
    Endpoint(
        "/api/runs/{run}/local",
        local,
        "One sample's k nearest neighbours among the selection at snapshots a and b.",
        methods=("GET", "POST"),
        params=(
            _RUN,
            P("id", "integer", "The sample, in [0, N).", required=True, minimum=0),
            *_snapshot_pair(complete=True),
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
        params=(_RUN, *_snapshot_pair(complete=False), _SAMPLES),
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
        "The per-sample table as a CSV download (the run's extras included), or only `columns`.",
        methods=("GET", "POST"),
        params=(_RUN, _K_TABLE, _LAYER, _SAMPLES, _ROWS, _COLUMNS),
        response="text/csv",
        computes=True,
    ),
    Endpoint(
        "/api/runs/{run}/samples.parquet",
        samples_parquet,
        "The per-sample table as a Parquet download: the columns of the CSV, ints, floats "
        "and booleans typed, null where the CSV is empty. Needs pyarrow on the server "
        "(422 otherwise; the run overview's `exports` lists 'parquet' when it is there).",
        methods=("GET", "POST"),
        params=(_RUN, _K_TABLE, _LAYER, _SAMPLES, _ROWS, _COLUMNS),
        response="application/vnd.apache.parquet",
        computes=True,
    ),
    Endpoint(
        "/api/runs/{run}/report.html",
        report_html,
        "The self-contained HTML report of the run for the selection (what `reprdynamics "
        "report` writes: fingerprints with phase changes, RQA, NNTF sweep, data map, notable "
        "samples), as a download.",
        methods=("GET", "POST"),
        params=(
            _RUN,
            replace(_SAMPLES, description=f"{_SAMPLES.description} A report needs 2 ids."),
        ),
        response="text/html",
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
        body="application/octet-stream",
    ),
    Endpoint(
        "/api/runs/{run}/measure.bin",
        measure_binary,
        "A per-sample measure at one snapshot as little-endian float32 (n,), in the order "
        "of the selection's sorted ids; ETag keyed by the run's state.",
        params=(_RUN, _MEASURE, _SNAPSHOT, _SAMPLES),
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
            P(
                "snapshot",
                "integer",
                "A projected (complete) snapshot, in [0, T-1] (default: the last).",
                minimum=0,
            ),
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
        "/api/compare/samples",
        compare_samples,
        "Two runs with the same samples compared sample by sample: columns id, label (a's), "
        "learned_a/b (correct at the last complete snapshot), forgotten_a/b (correct at some "
        "snapshot, not at the last), aum_a/b, aum_change (b - a), forgetting_events_a/b, "
        "neighbour_stability_a/b and _change (b - a; not with k=0) as compact arrays.",
        methods=("GET", "POST"),
        params=(
            P("a", required=True, description="First run name."),
            P("b", required=True, description="Second run name (the same N as a)."),
            _K_TABLE,
            _LAYER,
            _SAMPLES,
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


#: The parameters each handler declares, checked by :func:`_check_declared`.
_DECLARED: dict[Any, tuple[P, ...]] = {e.handler: e.params for e in ENDPOINTS}


def build_routes() -> list[Route]:
    return [Route(e.path, e.handler, methods=list(e.methods)) for e in ENDPOINTS]


def _openapi_path(path: str) -> str:
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


#: The longest query or path value the OpenAPI states. A request line over about 16 KiB is refused
#: by the HTTP server (uvicorn) before the app sees it, so longer selections go in a POST
#: body (up to :data:`MAX_SELECTION_CHARS`) or are registered as a token.
MAX_QUERY_CHARS = 8_000


def _value_schema(p: P, *, in_url: bool = False) -> dict[str, Any]:
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


def _parameter(p: P) -> dict[str, Any]:
    return {
        "name": p.name,
        "in": p.where,
        "required": p.required or p.where == "path",
        "description": p.description,
        "schema": _value_schema(p, in_url=True),
    }


def _body_property(p: P) -> dict[str, Any]:
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
        f"{_mebibytes(MAX_JSON_BODY_BYTES)}, else 413.",
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
