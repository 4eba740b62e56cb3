"""What keeps other web pages from driving the dashboard.

A page on another site can make the user's browser send requests to
``http://127.0.0.1:PORT``: through DNS rebinding (its own name resolving to 127.0.0.1, so
the browser sends that name as ``Host``), or with a cross-site POST that needs no
preflight (a form, or ``text/plain``). This ASGI middleware refuses both:

* **Host**: when the server is bound to loopback, the ``Host`` header must name a loopback
  address or ``localhost`` (400 otherwise);
* **POST**: the body must be JSON (``application/json``) or a selection's bitmask
  (``application/octet-stream``), types a browser sends cross-site only after a preflight
  this server never grants; and an ``Origin`` header, when present, must be this server's
  own (403 otherwise). A POST to a path that takes none is left to the router, which
  answers 405 (404 for no endpoint) without running anything.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from reprdynamics.server.arrays import ApiError
from reprdynamics.server.routes import ENDPOINTS, error_response

__all__ = ["RequestGuard", "host_name", "is_loopback", "loopback_names"]

_POST_TYPES = ("application/json", "application/octet-stream")


def host_name(value: str) -> str:
    """The name in a ``Host`` header or bind address: lower case, without port or brackets.

    >>> host_name("[::1]:5000"), host_name("LocalHost:80"), host_name("::1")
    ('::1', 'localhost', '::1')
    """
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else value
    if value.count(":") == 1:  # name:port (an IPv6 address has more colons)
        return value.split(":", 1)[0]
    return value


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address or ``Host`` name) is this machine only."""
    name = host_name(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def loopback_names(bound: str) -> list[str]:
    """The ``Host`` names a server bound to the loopback address ``bound`` answers to."""
    return sorted({"localhost", "127.0.0.1", "::1", host_name(bound)})


class RequestGuard:
    """Refuses rebinding ``Host`` names and cross-site POSTs (see the module docstring).

    ``allowed_hosts``: the names ``Host`` may carry (compared without port), ``None`` for
    any; a name that is a loopback address allows every loopback address.
    """

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str] | None = None) -> None:
        self.app = app
        self.allowed = None if allowed_hosts is None else {host_name(h) for h in allowed_hosts}
        self.any_loopback = self.allowed is not None and any(is_loopback(h) for h in self.allowed)
        self._posts = [
            Route(e.path, e.handler, methods=["POST"]) for e in ENDPOINTS if "POST" in e.methods
        ]

    def _takes_post(self, scope: Scope) -> bool:
        return any(route.matches(scope)[0] is Match.FULL for route in self._posts)

    def _refusal(self, scope: Scope) -> ApiError | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if self.allowed is not None:
            name = host_name(host)
            if name not in self.allowed and not (self.any_loopback and is_loopback(name)):
                return ApiError(
                    400,
                    f"Invalid Host header {host!r}: this dashboard answers only to "
                    f"{', '.join(sorted(self.allowed))} (a guard against DNS rebinding).",
                    parameter="Host",
                )
        if scope.get("method") != "POST" or not self._takes_post(scope):
            return None
        kind = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if kind not in _POST_TYPES:
            return ApiError(
                403,
                f"POST requests must send application/json (got {kind or 'no content type'!r}); "
                f"other pages' forms are refused.",
                parameter="Content-Type",
            )
        origin = headers.get("origin")
        if origin is not None:
            parts = urlsplit(origin)
            if origin == "null" or parts.netloc.lower() != host.strip().lower():
                return ApiError(
                    403,
                    f"Cross-origin POST refused: Origin {origin!r} is not this server ({host!r}).",
                    parameter="Origin",
                )
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self._refusal(scope)
            if refusal is not None:
                await error_response(refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)
