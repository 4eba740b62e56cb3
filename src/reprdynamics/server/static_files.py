"""The dashboard's page and its static files (Plotly from the installed package)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

from reprdynamics.server.arrays import (
    ApiError,
)
from reprdynamics.server.requests import api_handler

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


@api_handler
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
