"""The dashboard's ASGI app and ``serve``: ``reprdynamics serve [RUN_OR_ROOT]``.

:func:`create_app` builds a Starlette app over a run, a root directory of runs, a save
directory of the original tool (imported on the fly into a cache), a run's URL
(``s3://bucket/run``, with ``storage_options``) or, with ``None``, the bundled sample
run. :func:`serve` runs it with uvicorn on 127.0.0.1 unless told otherwise, and warns when
it is exposed on another address. The HTTP API is documented in
``docs/http_api.md`` and served as OpenAPI at ``/openapi.json``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import webbrowser
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reprdynamics.server.arrays import ApiError
from reprdynamics.server.guard import RequestGuard, is_loopback, loopback_names
from reprdynamics.server.impl import Workspace
from reprdynamics.server.jobs import JobRegistry
from reprdynamics.server.routes import build_routes, error_response

__all__ = ["binding_warning", "create_app", "is_loopback", "serve"]

log = logging.getLogger("reprdynamics.server")


def binding_warning(host: str, port: int | None = None) -> str | None:
    """The warning to print when the dashboard is reachable from other machines, else None."""
    if is_loopback(host):
        return None
    where = f"{host}:{port}" if port is not None else host
    everywhere = host.strip().strip("[]") in ("0.0.0.0", "::", "")
    scope = "every network interface" if everywhere else "an address other machines may reach"
    return (
        f"WARNING: the dashboard is exposed on {where} ({scope}). It has no authentication: "
        "anyone who can reach this port can read the runs it serves, including their inputs. "
        "Bind 127.0.0.1 (the default) unless that is what you want."
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {404: "Not found.", 405: "Method not allowed."}.get(exc.status_code, exc.detail)
    if exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}."
    elif exc.status_code == 404:
        message = f"No endpoint at {request.url.path}; see /openapi.json."
    response = error_response(ApiError(exc.status_code, message))
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


class _SecurityHeaders:
    """``X-Content-Type-Options: nosniff`` on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(
    target: str | os.PathLike[str] | None = None,
    *,
    job_grace: float = 1.0,
    allowed_hosts: Sequence[str] | None = None,
    jobs: JobRegistry | None = None,
    storage_options: dict[str, Any] | None = None,
) -> Starlette:
    """The dashboard app serving ``target``.

    Parameters
    ----------
    target
        A run directory, a directory holding runs, a save directory of the original
        ReprDynamics (imported once into a cache; the log says where), a run URL, or
        ``None`` for the bundled sample run.
    job_grace
        Seconds a request waits for a background computation before answering ``202``
        with its progress.
    allowed_hosts
        Host names the app answers to (``Host`` header, compared without port); ``None``
        for any. :func:`serve` restricts a server bound to any loopback address to loopback
        names, against DNS rebinding. POSTs must be JSON (or a selection's bitmask) from
        this server's own origin, whatever the host (see :mod:`reprdynamics.server.guard`).
    jobs
        The job registry (a fresh one by default): its workers, memo, how long an unpolled
        job lives (``abandon_after``) and how many may wait (``max_queued``).
    storage_options
        fsspec options for a run URL (``s3://bucket/run``), e.g. credentials and
        ``client_kwargs={"endpoint_url": ...}``; without them s3fs reads the environment.
        Kept in memory only: no endpoint shows them.

    Raises
    ------
    RunNotFoundError
        ``target`` is none of the above.
    StorageError
        The object store behind a URL cannot be reached or refuses access.
    """
    workspace = Workspace(target, jobs=jobs, storage_options=storage_options)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        workspace.jobs.shutdown()

    middleware = [  # outermost first: every answer, refusals too, gets the headers
        Middleware(_SecurityHeaders),
        Middleware(RequestGuard, allowed_hosts=allowed_hosts),
    ]
    app = Starlette(
        routes=build_routes(),
        middleware=middleware,
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.workspace = workspace
    app.state.job_grace = float(job_grace)
    return app


def _configure_logging() -> None:
    logger = logging.getLogger("reprdynamics.server")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _browser_url(host: str, port: int) -> str:
    name = host.strip()
    if name in ("0.0.0.0", "", "::", "[::]"):
        name = "127.0.0.1"
    elif ":" in name and not name.startswith("["):
        name = f"[{name}]"
    return f"http://{name}:{port}/"


def serve(
    target: str | os.PathLike[str] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
    open_browser: bool = False,
    storage_options: dict[str, Any] | None = None,
    **uvicorn_options: Any,
) -> None:
    """Serve the dashboard for ``target`` (see :func:`create_app`) until interrupted.

    Binds ``host`` (127.0.0.1 by default, reachable from this machine only) and prints a
    warning when that exposes the dashboard to other machines; ``open_browser`` opens it
    in the default web browser.
    """
    import uvicorn

    _configure_logging()
    allowed = loopback_names(host) if is_loopback(host) else None
    app = create_app(target, allowed_hosts=allowed, storage_options=storage_options)
    workspace: Workspace = app.state.workspace
    print(f"ReprDynamics dashboard serving {workspace.description}", file=sys.stderr)
    warning = binding_warning(host, port)
    if warning:
        print(warning, file=sys.stderr)
    url = _browser_url(host, port)
    print(f"Open {url} in a browser (Ctrl+C stops the server).", file=sys.stderr)
    if open_browser:
        timer = threading.Timer(1.0, webbrowser.open, args=(url,))
        timer.daemon = True
        timer.start()
    uvicorn.run(app, host=host, port=port, log_level="info", **uvicorn_options)
