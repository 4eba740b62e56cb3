"""Where a run lives: a local path or a URL, the options handed to Zarr's store, and the
store's failures as :class:`~reprdynamics.errors.StorageError`."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from reprdynamics.errors import InvalidParameterError, ReprDynamicsError
from reprdynamics.storage.remote import storage_error, zarr_storage_options


def _is_url(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


def _location(path_or_url: str | os.PathLike[str]) -> str:
    location = os.fspath(path_or_url)
    if location.startswith("file://"):
        location = location[len("file://") :]
    return location


def _opts(location: str, storage_options: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The storage options handed to Zarr (the user's, plus fail-fast defaults for s3)."""
    if not _is_url(location):
        if storage_options:
            raise InvalidParameterError(
                "storage_options are only used with URLs (s3://..., gs://...).",
                parameter="storage_options",
            )
        return None
    return zarr_storage_options(location, storage_options) or None


@contextmanager
def _store_errors(location: str, storage_options: Mapping[str, Any] | None) -> Iterator[None]:
    """Failures of the store behind a URL as :class:`StorageError` (paths: unchanged)."""
    try:
        yield
    except ReprDynamicsError:
        raise
    except Exception as exc:
        error = storage_error(exc, location, storage_options) if _is_url(location) else None
        if error is None:
            raise
        raise error from exc
