"""What the commands share: friendly errors, port checks, damaged runs, storage options,
the analysis options."""

from __future__ import annotations

import errno
import functools
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from reprdynamics.errors import CorruptRunError, ReprDynamicsError

PORT_HELP = "Port to listen on."
HOST_HELP = "Address to bind; anything but loopback exposes your runs to the network."


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn our errors (and missing files) into one-line messages instead of tracebacks."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ReprDynamicsError, FileNotFoundError, PermissionError, ValueError) as exc:
            if os.environ.get("REPRDYNAMICS_DEBUG"):
                raise
            raise click.ClickException(str(exc)) from exc
        except Exception as exc:
            # An object store failing mid-command (botocore's errors are not OSErrors).
            from reprdynamics.storage.remote import storage_error

            error = storage_error(exc)
            if error is None or os.environ.get("REPRDYNAMICS_DEBUG"):
                raise
            raise click.ClickException(str(error)) from exc

    return wrapper


class BadUsage(click.ClickException):
    """A one-line error that exits with code 2 (bad usage), like click's own."""

    exit_code = 2


def _bind_error(host: str, port: int) -> OSError | None:
    """Why ``host:port`` cannot be bound now, or None (the socket is closed again)."""
    # As uvicorn binds: IPv6 for a host with a colon, SO_REUSEADDR so that a port left in
    # TIME_WAIT by a stopped server counts as free (uvicorn would take it).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        return exc
    return None


def _port_problem(host: str, port: int) -> str | None:
    """What stops a server from listening on ``host:port``, with a hint; None if nothing.

    Checked before uvicorn starts, which would only log ``[Errno 98] address already in
    use`` and stop. A port taken between this check and uvicorn's bind still fails there.
    """
    error = _bind_error(host, port)
    if error is None:
        return None
    if error.errno == errno.EADDRINUSE:
        free = next(
            (p for p in range(port + 1, min(port + 100, 65535) + 1) if not _bind_error(host, p)),
            None,
        )
        hint = f"try --port {free}" if free is not None else "choose another --port"
        return f"port {port} is in use on {host}; {hint}."
    return f"cannot listen on {host}:{port}: {error.strerror or error}."


def check_port(host: str, port: int) -> None:
    problem = _port_problem(host, port)
    if problem is not None:
        raise BadUsage(problem)


def _corrupt_run(path: str | os.PathLike[str]) -> CorruptRunError | None:
    """The error for a local directory that is a damaged run, not a directory of runs.

    ``is_run`` answers False for a run whose root ``zarr.json`` is truncated (or lost its
    ``format`` attribute), which would then be read as an empty directory of runs. A
    ``zarr.json`` that is not a JSON object, or one without our format beside a run's
    arrays, is a damaged run instead.
    """
    from reprdynamics.storage.run import FORMAT_NAME

    directory = Path(path)
    meta = directory / "zarr.json"
    try:
        if not meta.is_file():
            return None
        raw = meta.read_bytes()
    except OSError:
        return None
    try:
        document = json.loads(raw)
    except ValueError as exc:
        detail = (
            f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
            if isinstance(exc, json.JSONDecodeError)
            else str(exc)
        )
        return CorruptRunError(
            f"The run at {str(directory)!r} is corrupt: its zarr.json is not valid JSON "
            f"({detail}); the file may be truncated, e.g. by a crash while it was written."
        )
    if not isinstance(document, dict) or not isinstance(document.get("attributes", {}), dict):
        return CorruptRunError(
            f"The run at {str(directory)!r} is corrupt: its zarr.json is not a Zarr group's "
            f"metadata (a JSON object with an 'attributes' object)."
        )
    if document.get("attributes", {}).get("format") == FORMAT_NAME:
        return None
    arrays = sorted(
        name
        for name in ("representations", "snapshots", "complete", "predictions")
        if (directory / name).is_dir()
    )
    if not arrays:
        return None  # some other Zarr group, not ours
    return CorruptRunError(
        f"The run at {str(directory)!r} is corrupt: its zarr.json lacks the attribute "
        f"'format': {FORMAT_NAME!r}, although the directory holds a run's arrays "
        f"({', '.join(arrays)})."
    )


def raise_if_corrupt_run(path: str) -> None:
    if not is_url_target(path):
        error = _corrupt_run(path)
        if error is not None:
            raise error


def _parse_storage_options(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> dict[str, Any] | None:
    # The value may hold a secret: messages never repeat it.
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(
            f"is not valid JSON ({exc}); give a JSON object such as '{{\"anon\": true}}'."
        ) from None
    if not isinstance(parsed, dict):
        raise click.BadParameter(f"must be a JSON object, not a JSON {type(parsed).__name__}.")
    return parsed


def storage_options_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--storage-options",
        "storage_options",
        metavar="JSON",
        default=None,
        callback=_parse_storage_options,
        help="fsspec storage options for a run URL, as a JSON object, e.g. "
        '\'{"client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"}}\'. Without it s3:// '
        "reads credentials and endpoint from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
        "AWS_ENDPOINT_URL and AWS_DEFAULT_REGION.",
    )(func)


def _count_option(name: str, help: str) -> Callable[..., Any]:
    """A positive count, 10 by default."""
    return click.option(name, type=click.IntRange(1), default=10, show_default=True, help=help)


def neighbour_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--k``, ``--layer`` and ``--top``, as ``analyse`` and ``report`` take them."""
    options = (
        _count_option("--k", "Neighbours per sample."),
        click.option("--layer", default=None, help="Layer for neighbour and CKA fingerprints."),
        _count_option("--top", "How many samples to list."),
    )
    for option in reversed(options):  # as if stacked above func in this order
        func = option(func)
    return func


def progress_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--progress/--no-progress",
        default=None,
        help="Progress bar on stderr (default: when stderr is a terminal).",
    )(func)


def is_url_target(target: str) -> bool:
    from reprdynamics.storage.remote import is_url

    return is_url(target)


def check_storage_options(target: str | None, storage_options: dict[str, Any] | None) -> None:
    if storage_options and not (target and is_url_target(target)):
        raise click.BadParameter(
            "is only used with a run's URL (s3://bucket/run ...); "
            f"got {target or 'no location'!r}.",
            param_hint="--storage-options",
        )
