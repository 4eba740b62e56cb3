"""The dashboard servers the notebook widgets show: one per run, shared, stopped at exit.

A widget's views are the dashboard's own front end, served by the dashboard's app
(:func:`reprdynamics.server.app.create_app`) in a daemon thread of the kernel, bound to
127.0.0.1 and answering to loopback names only, as ``reprdynamics serve`` does. Every
widget of a run reuses that run's server; :func:`stop_servers` (called at interpreter
exit) stops them all.
"""

from __future__ import annotations

import atexit
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from reprdynamics.errors import InvalidParameterError, invalid_parameter
from reprdynamics.storage import Run

__all__ = ["DashboardServer", "dashboard_server", "running_servers", "stop_servers"]

HOST = "127.0.0.1"
_START_TIMEOUT = 30.0


class DashboardServer:
    """The dashboard app for one run, served by uvicorn in a daemon thread on ``HOST``.

    Parameters
    ----------
    target
        What :func:`~reprdynamics.server.app.create_app` serves: the run's location, or
        ``None`` for the bundled sample run (whose results then stay in memory: nothing is
        written into the installed package).
    port
        The TCP port, or ``0`` for a free one.
    storage_options
        fsspec options of a run's URL.
    """

    def __init__(
        self,
        target: str | None,
        *,
        port: int = 0,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        import uvicorn

        from reprdynamics.server.app import create_app
        from reprdynamics.server.guard import loopback_names

        self.target = target
        app = create_app(
            target, allowed_hosts=loopback_names(HOST), storage_options=storage_options
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            sock.close()
            raise invalid_parameter(
                "port", "widget", f"a free TCP port on {HOST} (or None for any)", port
            ) from exc
        self.port: int = sock.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._socket = sock
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"reprdynamics-dashboard-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"The dashboard server for the widget did not start on {self.url}."
                )
            time.sleep(0.02)

    @property
    def running(self) -> bool:
        """Whether the server still serves."""
        return self._thread.is_alive() and not self._server.should_exit

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait (up to ``timeout`` seconds) for the thread to end."""
        self._server.should_exit = True
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=timeout)
        self._socket.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<DashboardServer {self.url} ({state}) for {self.target or 'the sample run'}>"


_lock = threading.Lock()
_servers: dict[tuple[str | None, int], DashboardServer] = {}
_atexit_registered = False


def _target_of(run: Run) -> str | None:
    """The run's location for the server; ``None`` for the bundled sample run."""
    location = run.location
    if "://" not in location:
        try:
            from reprdynamics.sample import sample_run_path

            if Path(location).resolve() == sample_run_path().resolve():
                return None
        except (OSError, ValueError):  # no bundled sample: this run is not it
            pass
        return str(Path(location).resolve())
    return location


def dashboard_server(run: Run, *, port: int | None = None) -> DashboardServer:
    """The running server for ``run`` (on ``port``, if given), started when there is none."""
    global _atexit_registered
    target = _target_of(run)
    with _lock:
        for (key, bound), server in list(_servers.items()):
            if not server.running:
                del _servers[(key, bound)]
            elif key == target and (port is None or bound == port):
                return server
        options = run.storage_options if target is not None and "://" in target else None
        server = DashboardServer(target, port=port or 0, storage_options=options)
        _servers[(target, server.port)] = server
        if not _atexit_registered:
            atexit.register(stop_servers)
            _atexit_registered = True
        return server


def running_servers() -> list[DashboardServer]:
    """The widgets' servers that still serve."""
    with _lock:
        return [s for s in _servers.values() if s.running]


def stop_servers() -> None:
    """Stop every widget's server (widgets shown already lose their data)."""
    with _lock:
        servers = list(_servers.values())
        _servers.clear()
    for server in servers:
        server.stop()


def _check_port(port: Any) -> int | None:
    if port is None:
        return None
    from reprdynamics.errors import parse_int

    return parse_int(port, "port", "widget", low=1, high=65535)


def _check_url(url: Any) -> str | None:
    if url is None:
        return None
    if not isinstance(url, str | os.PathLike) or not str(url).startswith(("http://", "https://")):
        raise InvalidParameterError(
            "The 'url' parameter of widget must be the address the browser reaches the "
            "dashboard server at, starting with http:// or https:// (e.g. "
            f"'http://localhost:8765'). Got {url!r} instead.",
            parameter="url",
        )
    return str(url).rstrip("/")
