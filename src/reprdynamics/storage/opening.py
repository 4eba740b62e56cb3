"""Opening a run, and telling whether a location holds one."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import zarr
import zarr.errors

from reprdynamics.errors import (
    BucketNotFoundError,
    CorruptRunError,
    ReprDynamicsError,
    RunNotFoundError,
    StorageError,
    invalid_parameter,
)
from reprdynamics.storage.remote import check_bucket, parse_storage_options

__all__ = ["is_run", "open_run"]
from reprdynamics.storage.half_made import _half_made
from reprdynamics.storage.layout import FORMAT_NAME
from reprdynamics.storage.location import _is_url, _location, _opts, _store_errors
from reprdynamics.storage.reader import Run


def is_run(
    path_or_url: str | os.PathLike[str], *, storage_options: Mapping[str, Any] | None = None
) -> bool:
    """Whether a ReprDynamics run exists at this location (never raises for a bad path).

    ``storage_options`` go to fsspec for URLs, as in :func:`open_run`. A store that cannot
    be reached or refuses access raises :class:`~reprdynamics.errors.StorageError` rather
    than answering False for a run that may well be there.
    """
    location = _location(path_or_url)
    storage_options = parse_storage_options(storage_options, "is_run")
    if not _is_url(location):
        _opts(location, storage_options)
        meta = Path(location) / "zarr.json"
        if not meta.is_file():
            return False
        try:
            doc = json.loads(meta.read_text())
        except (OSError, ValueError):
            return False
        attrs = doc.get("attributes") if isinstance(doc, dict) else None
        return isinstance(attrs, dict) and attrs.get("format") == FORMAT_NAME
    try:
        with _store_errors(location, storage_options):
            group = zarr.open_group(
                location,
                mode="r",
                zarr_format=3,
                storage_options=_opts(location, storage_options),
            )
    except BucketNotFoundError:
        return False
    except StorageError:
        raise
    except Exception:
        return False
    return group.attrs.get("format") == FORMAT_NAME


def open_run(
    path_or_url: str | os.PathLike[str],
    *,
    mode: str = "r",
    storage_options: Mapping[str, Any] | None = None,
) -> Run:
    """Open an existing run for reading (``mode="r"``) or appending (``mode="r+"``).

    ``storage_options`` go to fsspec for a URL (``s3://bucket/run``), as in
    :func:`create_run`; the run keeps them (:attr:`Run.storage_options`), for
    :meth:`Run.refresh` and to open it elsewhere.

    Raises
    ------
    RunNotFoundError
        Nothing, or something that is not a ReprDynamics run, is at the location
        (:class:`BucketNotFoundError` when the URL's bucket does not exist).
    StorageError
        The object store cannot be reached or refuses access.
    UnsupportedFormatVersionError
        The run was written by a newer, incompatible release.
    CorruptRunError
        The run's metadata is inconsistent.
    """
    if mode not in ("r", "r+"):
        raise invalid_parameter("mode", "open_run", "'r' or 'r+'", mode)
    location = _location(path_or_url)
    storage_options = parse_storage_options(storage_options, "open_run")
    store_options = _opts(location, storage_options)
    if not _is_url(location) and not (Path(location) / "zarr.json").is_file():
        hint = ""
        if (Path(location) / "snapshots.json").is_file():
            hint = (
                " It looks like a save directory of the original ReprDynamics: import it with "
                "`reprdynamics import-legacy OLD_DIR NEW_RUN`."
            )
        raise RunNotFoundError(f"No ReprDynamics run at {location!r}.{hint}")
    remote = {"zarr_format": 3} if _is_url(location) else {}
    with _store_errors(location, storage_options):
        try:
            group = zarr.open_group(location, mode=mode, storage_options=store_options, **remote)
        except FileNotFoundError as exc:
            if remote:
                check_bucket(location, storage_options)
                raise RunNotFoundError(
                    f"No ReprDynamics run at {location!r}: nothing is stored there."
                ) from exc
            raise RunNotFoundError(f"No ReprDynamics run at {location!r}.") from exc
        except (ValueError, KeyError, json.JSONDecodeError) as exc:
            raise CorruptRunError(f"The run at {location!r} cannot be read: {exc}") from exc
        try:
            run = Run(group, location, writable=mode == "r+", storage_options=storage_options)
            run._check()
        except RunNotFoundError as exc:
            if _half_made(location, store_options):
                raise RunNotFoundError(
                    f"The creation of a run at {location!r} was interrupted: it holds no "
                    "recorded data. Create it afresh with overwrite=True (--overwrite on the "
                    "command line)."
                ) from exc
            raise
        except ReprDynamicsError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError, zarr.errors.BaseZarrError) as exc:
            # A truncated zarr.json of an array, an attribute of the wrong type ...
            raise CorruptRunError(
                f"The run at {location!r} is damaged and cannot be opened: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    return run
