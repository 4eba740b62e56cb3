"""The dashboard: a JSON API over the analysis layer and a static front-end.

``create_app(target)`` builds the ASGI app, ``serve(target, host=, port=, open_browser=)``
runs it (``reprdynamics serve``). The HTTP API is described in ``docs/http_api.md``.
Starlette and uvicorn are imported only when the dashboard is used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from reprdynamics.server import app

        return getattr(app, name)
    raise AttributeError(f"module 'reprdynamics.server' has no attribute {name!r}")
