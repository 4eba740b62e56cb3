"""Creating a run: checked parameters, its arrays, and its attributes written last.

A group without the run's attributes is not yet a run: a kill before their one write
leaves a half-made run (:mod:`reprdynamics.storage.half_made`), which ``overwrite=True``
replaces. Overwriting deletes the run's own arrays and attributes, never a file of the
user's beside them, and never what is not a run."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import zarr
import zarr.abc.store
import zarr.storage
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync as _zarr_sync
from zarr.errors import ContainsArrayError, ContainsGroupError

from reprdynamics.errors import RunExistsError, invalid_parameter, parse_int
from reprdynamics.storage.remote import check_bucket, parse_storage_options
from reprdynamics.validation import Integer, Options, check

__all__ = ["create_run"]
from reprdynamics.storage.half_made import _half_made
from reprdynamics.storage.layout import (
    _DENSE,
    _ENTRIES,
    _MIN_CAPACITY,
    _OWN_NAMES,
    FORMAT_NAME,
    FORMAT_VERSION,
    KINDS,
    _rows_per_chunk,
    dimension_names,
)
from reprdynamics.storage.location import _is_url, _location, _opts, _store_errors
from reprdynamics.storage.opening import is_run
from reprdynamics.storage.reader import Run


def create_run(
    path_or_url: str | os.PathLike[str],
    *,
    n_samples: int,
    kind: str = "logits",
    labels: Any = None,
    inputs: Any = None,
    class_names: Sequence[str] | None = None,
    output_layer: str = "logits",
    metadata: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    expected_snapshots: int | None = None,
) -> Run:
    """Create an empty run (no snapshots) and return it open for appending.

    Parameters
    ----------
    path_or_url
        A local directory (created) or any URL Zarr's store layer understands.
    n_samples
        N, the number of samples every snapshot holds.
    kind
        What the output layer holds: ``"logits"`` (softmax gives probabilities),
        ``"probabilities"`` or ``"features"``.
    labels
        Optional ``(N,)`` integer labels, ``-1`` for unknown.
    inputs
        Optional ``(N, ...)`` array of inputs (images as uint8 ``HxW`` or ``HxWxC``) used for
        thumbnails.
    overwrite
        Replace an existing run. Without it an existing run raises
        :class:`~reprdynamics.errors.RunExistsError`, so recorded data is never lost by
        accident.
    storage_options
        Options for fsspec when ``path_or_url`` is a URL (a mapping, or a JSON object
        string), e.g. ``{"key": ..., "secret": ..., "client_kwargs": {"endpoint_url":
        ...}}`` for s3fs; without them s3fs reads the environment (``AWS_ACCESS_KEY_ID``,
        ``AWS_ENDPOINT_URL`` ...). Kept on the returned :class:`Run`, never written into
        the run. See ``docs/object-storage.md``.
    expected_snapshots
        How many snapshots the arrays are sized for up front (they grow by doubling
        beyond it, so this is a hint, not a limit).

    Raises
    ------
    BucketNotFoundError
        The URL's bucket does not exist.
    StorageError
        The object store cannot be reached (:class:`StorageUnreachableError`) or refuses
        access (:class:`StorageAccessError`).
    """
    n_samples = check(n_samples, Integer(low=1), "n_samples", "create_run")
    kind = check(kind, Options(KINDS), "kind", "create_run")
    location = _location(path_or_url)
    storage_options = parse_storage_options(storage_options, "create_run")
    store_options = _opts(location, storage_options)
    half_made = False
    if _is_url(location):
        with _store_errors(location, storage_options):
            check_bucket(location, storage_options)
            if overwrite and _remote_occupied(location, store_options):
                half_made = _half_made(location, store_options)
                if not half_made and not is_run(location, storage_options=storage_options):
                    raise RunExistsError(
                        f"{location!r} holds data that is no ReprDynamics run; refusing to "
                        "write a run there (nothing was deleted). Choose another location."
                    )
    else:
        target = Path(location)
        if target.is_symlink():
            raise RunExistsError(
                f"{str(target)!r} is a symbolic link (to {os.readlink(target)!r}); a run is "
                "not created or replaced through a link. Pass the directory it points to, "
                f"{str(target.resolve())!r}, or remove the link."
            )
        occupied = target.is_file() or (target.is_dir() and any(target.iterdir()))
        half_made = occupied and _half_made(location, None)
        if occupied and not half_made and not is_run(target):
            # Never delete what is not ours, with or without overwrite.
            raise RunExistsError(
                f"{str(target)!r} is not empty and holds no ReprDynamics run; refusing to "
                "write a run there (nothing was deleted). Choose another directory."
            )
        if occupied and not overwrite:
            if half_made:
                raise RunExistsError(
                    f"The creation of a run at {str(target)!r} was interrupted: it holds no "
                    "recorded data. Create it afresh with overwrite=True (--overwrite on the "
                    "command line)."
                )
            raise RunExistsError(
                f"A ReprDynamics run already exists at {str(target)!r}. Replace it with "
                "overwrite=True (--overwrite on the command line), or choose another directory."
            )
    label_array = None
    if labels is not None:
        label_array = np.asarray(labels)
        if label_array.shape != (n_samples,):
            raise invalid_parameter(
                "labels", "create_run", f"an array of shape ({n_samples},)", label_array.shape
            )
        if not np.issubdtype(label_array.dtype, np.integer):
            if np.issubdtype(label_array.dtype, np.floating) and np.all(
                np.isfinite(label_array) & (label_array == np.round(label_array))
            ):
                label_array = label_array.astype(np.int64)
            else:
                raise invalid_parameter(
                    "labels", "create_run", "integer class ids (-1 for unknown)", label_array.dtype
                )
        if label_array.size and label_array.min() < -1:
            raise invalid_parameter(
                "labels", "create_run", "integer class ids >= -1", int(label_array.min())
            )
        label_array = label_array.astype(np.int32)
    input_array = None
    if inputs is not None:
        input_array = np.asarray(inputs)
        if input_array.ndim < 1 or input_array.shape[0] != n_samples:
            raise invalid_parameter(
                "inputs", "create_run", f"an array with {n_samples} rows", input_array.shape
            )
        if input_array.dtype.kind not in "uif" and input_array.dtype != np.bool_:
            raise invalid_parameter("inputs", "create_run", "a numeric array", input_array.dtype)
    if class_names is None and label_array is not None and label_array.max(initial=-1) >= 0:
        class_names = [str(c) for c in range(int(label_array.max()) + 1)]

    try:
        with _store_errors(location, storage_options):
            if overwrite:
                # The run's own arrays and attributes go; files of the user's beside them
                # (notes, configs) stay.
                _zarr_sync(_delete_own(location, store_options))
            group = zarr.open_group(
                location, mode="a" if overwrite else "w-", storage_options=store_options
            )
    except (FileExistsError, ContainsGroupError, ContainsArrayError) as exc:
        # Remote stores are not checked above; zarr's "w-" refuses to write over data.
        found = is_run(location, storage_options=storage_options)
        raise RunExistsError(
            f"{'A ReprDynamics run' if found else 'Data'} already exists at "
            f"{location!r}. Pass overwrite=True to replace it, or choose another location."
        ) from exc
    attrs = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "created": datetime.now(UTC).isoformat(),
        "kind": kind,
        "output_layer": output_layer,
        "class_names": list(class_names) if class_names is not None else None,
        "n_samples": n_samples,
        "consolidated": [],
        "metadata": dict(metadata or {}),
    }
    capacity = _MIN_CAPACITY
    if expected_snapshots is not None:
        capacity = max(
            capacity, parse_int(expected_snapshots, "expected_snapshots", "create_run", low=1)
        )
    group.create_group("representations")
    group.create_group(_ENTRIES)
    group.create_group("extras")
    group.create_group("cache")
    group.create_array(
        "predictions",
        shape=(capacity, n_samples),
        chunks=(1, _rows_per_chunk(n_samples, 4)),
        dtype="int32",
        fill_value=-1,
        dimension_names=dimension_names("predictions", 2),
        config=_DENSE,
    )
    if label_array is not None:
        arr = group.create_array(
            "labels",
            shape=label_array.shape,
            chunks=label_array.shape,
            dtype="int32",
            fill_value=-1,
            dimension_names=dimension_names("labels", 1),
            config=_DENSE,
        )
        arr[:] = label_array
    if input_array is not None:
        row_bytes = int(np.prod(input_array.shape[1:], dtype=np.int64)) * input_array.itemsize
        chunk_rows = _rows_per_chunk(n_samples, row_bytes)
        arr = group.create_array(
            "inputs",
            shape=input_array.shape,
            chunks=(chunk_rows, *input_array.shape[1:]),
            dtype=input_array.dtype,
            dimension_names=dimension_names("inputs", input_array.ndim),
            config=_DENSE,
        )
        arr[:] = input_array
    # Attributes last, in one write of the group's metadata: a group without them is not
    # yet a run (a kill before leaves a half-made run, which overwrite=True replaces).
    meta = {"zarr_format": 3, "node_type": "group", "attributes": attrs}
    blob = default_buffer_prototype().buffer.from_bytes(json.dumps(meta).encode())
    with _store_errors(location, storage_options):
        _zarr_sync(group.store.set(_join(group.path, "zarr.json"), blob))
        group = zarr.open_group(group.store_path, mode="r+")
    return Run(group, location, writable=True, storage_options=storage_options)


def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


async def _delete_own(location: str, store_options: Mapping[str, Any] | None) -> None:
    """Delete the run's own objects at ``location`` (nothing else stored beside them)."""
    if _is_url(location):
        store: zarr.abc.store.Store = zarr.storage.FsspecStore.from_url(
            location, storage_options=dict(store_options or {})
        )
    else:
        store = zarr.storage.LocalStore(location)
    for name in sorted(_OWN_NAMES - {"zarr.json"}):
        await store.delete_dir(name)
    await store.delete("zarr.json")


def _remote_occupied(location: str, store_options: Mapping[str, Any] | None) -> bool:
    import fsspec

    fs, path = fsspec.core.url_to_fs(location, **(store_options or {}))
    return bool(fs.exists(path))
