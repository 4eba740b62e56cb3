"""The endpoints' handlers: thin async wrappers over :mod:`reprdynamics.server.impl`."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from reprdynamics.server import binary, impl, tables
from reprdynamics.server.arrays import (
    ApiError,
    Params,
)
from reprdynamics.server.jobs import Job
from reprdynamics.server.requests import (
    BITMASK_SLACK_BYTES,
    ApiJSONResponse,
    Handler,
    api_handler,
    error_response,
    read_body,
    request_params,
    workspace_of,
)

log = logging.getLogger("reprdynamics.server")


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
    jobs = workspace_of(request).jobs
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


@api_handler
async def runs(request: Request) -> Response:
    return ApiJSONResponse(await run_in_threadpool(impl.runs_impl, workspace_of(request)))


@api_handler
async def overview(request: Request) -> Response:
    ws, name = workspace_of(request), request.path_params["run"]
    return ApiJSONResponse(await run_in_threadpool(impl.overview_impl, ws, name))


@api_handler
async def labels(request: Request) -> Response:
    ws, name = workspace_of(request), request.path_params["run"]
    return ApiJSONResponse(await run_in_threadpool(impl.labels_impl, ws, name))


def _quick(func: Callable[[impl.Workspace, str, Params], Any]) -> Handler:
    """A handler answering ``func(workspace, run, params)`` as JSON."""

    @api_handler
    async def handler(request: Request) -> Response:
        ws, name = workspace_of(request), request.path_params["run"]
        params = await request_params(request)
        return ApiJSONResponse(await run_in_threadpool(func, ws, name, params))

    handler.__name__ = func.__name__.removesuffix("_impl")
    return handler


predictions = _quick(impl.predictions_impl)
measure = _quick(impl.measure_impl)
transitions = _quick(impl.transitions_impl)


def _heavy(prepare: Callable[[impl.Workspace, str, Params], impl.Computation]) -> Handler:
    """A handler running ``prepare(workspace, run, params)``'s computation as a job."""

    @api_handler
    async def handler(request: Request) -> Response:
        ws, name = workspace_of(request), request.path_params["run"]
        params = await request_params(request)
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
    ws, name = workspace_of(request), request.path_params["run"]
    params = await request_params(request)
    if check is not None:
        check()

    def render(table: Any) -> Response:
        columns = tables.selected_columns(params, table.all_columns())
        table = tables.selected_rows(params, table, ws.open(name).n_samples)
        return Response(
            write(table, columns), media_type=media_type, headers=_download(name, suffix)
        )

    return await _computed(request, lambda: impl.prepare_samples(ws, name, params), render)


@api_handler
async def samples_csv(request: Request) -> Response:
    return await _table_download(
        request, tables.table_csv, "text/csv; charset=utf-8", "samples.csv"
    )


@api_handler
async def samples_parquet(request: Request) -> Response:
    return await _table_download(
        request,
        tables.table_parquet,
        "application/vnd.apache.parquet",
        "samples.parquet",
        check=tables.check_parquet,
    )


@api_handler
async def report_html(request: Request) -> Response:
    ws, name = workspace_of(request), request.path_params["run"]
    params = await request_params(request)

    def render(report: Any) -> Response:
        return Response(
            report.to_html(),
            media_type="text/html; charset=utf-8",
            headers=_download(name, "report.html"),
        )

    return await _computed(request, lambda: impl.prepare_report(ws, name, params), render)


@api_handler
async def compare(request: Request) -> Response:
    ws = workspace_of(request)
    params = await request_params(request)
    return await _computed(request, lambda: impl.prepare_compare(ws, params))


@api_handler
async def compare_samples(request: Request) -> Response:
    ws = workspace_of(request)
    params = await request_params(request)
    return await _computed(request, lambda: tables.prepare_compare_samples(ws, params))


@api_handler
async def job(request: Request) -> Response:
    found = workspace_of(request).jobs.get(request.path_params["job"])
    if found is None:
        raise ApiError(
            404,
            "No such job (it may have finished long ago); request the result's URL again.",
            parameter="job",
        )
    return await _job_response(found, found.render or (lambda data: data))


@api_handler
async def thumbs(request: Request) -> Response:
    ws, name = workspace_of(request), request.path_params["run"]
    params = await request_params(request)
    png, columns = await run_in_threadpool(impl.thumbs_impl, ws, name, params)
    return Response(
        png,
        media_type="image/png",
        headers={"X-Grid-Columns": str(columns), "Cache-Control": "max-age=60"},
    )


@api_handler
async def thumb(request: Request) -> Response:
    ws, name = workspace_of(request), request.path_params["run"]
    params = await request_params(request)
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

    @api_handler
    async def handler(request: Request) -> Response:
        ws, name = workspace_of(request), request.path_params["run"]
        params = await request_params(request)
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


@api_handler
async def selection(request: Request) -> Response:
    ws, name = workspace_of(request), request.path_params["run"]
    run = await run_in_threadpool(ws.open, name)  # its N bounds the body before it is read
    expected = (run.n_samples + 7) // 8
    raw = await read_body(
        request,
        expected + BITMASK_SLACK_BYTES,
        f"a selection bitmask of this run may have (it has ceil({run.n_samples} / 8) = "
        f"{expected} bytes)",
    )

    def register() -> dict[str, Any]:
        token, selected = ws.selections.register(raw, run.n_samples)
        return {"token": token, "n_selected": selected, "n_samples": run.n_samples}

    return ApiJSONResponse(await run_in_threadpool(register))
