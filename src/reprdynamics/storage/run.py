"""The run format: one Zarr v3 group per training run.

Layout (see ``docs/run-format.md``)::

    run/  attrs: format, format_version, created, kind, class_names, n_samples,
                 output_layer, metadata, consolidated=[entries of the first snapshots]
      snapshots/<t>            one group per committed snapshot; attrs: the entry
                               {index, epoch, step, wall_time, metrics, complete}
      representations/<layer>  float32|float16 (capacity >= T, N, D), chunks of one
                               snapshot row-block
      predictions              int32 (capacity >= T, N), argmax of the output layer
                               (-1 = not recorded)
      labels                   int32 (N,), -1 = unknown (optional)
      inputs                   (N, ...) images or features for thumbnails (optional)
      extras/<name>            per-sample arrays (N, ...) such as a label-noise mask
      parts/<t>/<rank>         rows of snapshot t written by one rank of a multi-process
                               recording, until they are merged and committed
      cache/<key>              derived results keyed by their parameters

The commit point of snapshot ``t`` is the creation of the group ``snapshots/<t>``, one
write of one small object: the arrays of snapshot ``t`` are written first (each chunk
file atomically), and only then is its entry created. ``T`` is the number of entries
``0, 1, ...`` present. A process killed mid-snapshot therefore leaves at most some rows
beyond ``T``, which readers ignore and the next append overwrites. Arrays are pre-sized
and grown by doubling, so an append does not rewrite their metadata; nothing written per
snapshot grows with ``T``. Format version 1 (a ``snapshots`` list attribute rewritten
at every commit, and a ``complete`` array) is read as well, and upgraded in place by the
first write. This module imports nothing of ours but :mod:`reprdynamics.errors`.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import zarr
import zarr.abc.store
import zarr.errors
import zarr.storage
from zarr.codecs import ZstdCodec
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync as _zarr_sync
from zarr.errors import ContainsArrayError, ContainsGroupError

from reprdynamics.errors import (
    BucketNotFoundError,
    CorruptRunError,
    InvalidParameterError,
    LayerNotFoundError,
    ReprDynamicsError,
    RunExistsError,
    RunNotFoundError,
    StorageError,
    UnknownSampleError,
    UnsupportedFormatVersionError,
    invalid_parameter,
    parse_int,
)
from reprdynamics.storage.remote import (
    check_bucket,
    parse_storage_options,
    storage_error,
    zarr_storage_options,
)

__all__ = [
    "CACHE_LIMIT_ENV",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "KINDS",
    "CacheEntry",
    "Damage",
    "Run",
    "SnapshotInfo",
    "create_run",
    "dimension_names",
    "is_run",
    "open_run",
]

FORMAT_NAME = "reprdynamics"
FORMAT_VERSION = 2  # 2: one entry per snapshot as the commit point (1: a list attribute)
KINDS = ("logits", "probabilities", "features")
#: Bump when a derived result's computation changes, so older cache entries are not served.
CACHE_VERSION = 2  # 2: neighbour stacks chunked per snapshot, with a recall array
# Target size of one (1, rows, D) chunk before compression: large enough for object stores,
# small enough that a big snapshot's chunks are compressed in parallel by Zarr's threads.
_CHUNK_BYTES = 4 * 1024 * 1024
# zstd level 1 for the recorded layers: half the time of Zarr's default (level 3) for 3-4 %
# more bytes (measured on ReLU features: 0.566 of the raw size instead of 0.546).
_LAYER_CODECS = (ZstdCodec(level=1),)
_ENTRIES = "snapshots"  # the group holding one committed entry per snapshot
_PARTS = "parts"  # rows of multi-process snapshots awaiting their merge
_MIN_CAPACITY = 8  # snapshots the arrays of a new run are sized for, unless told more
# Everything a run stores at its top level (overwrite deletes these and nothing else).
_OWN_NAMES = frozenset(
    {
        "zarr.json",
        "representations",
        _ENTRIES,
        _PARTS,
        "predictions",
        "labels",
        "inputs",
        "extras",
        "cache",
        "complete",
    }
)
# Every chunk of a written row is stored, even one that equals the fill value (Zarr skips
# those by default), so a chunk missing from a committed row is damage, never a default.
_DENSE = {"write_empty_chunks": True}


#: Environment variable bounding each run's cache: bytes ("512M", "2G") or a multiple of
#: the run's recorded size ("4x"); "0" stores nothing.
CACHE_LIMIT_ENV = "REPRDYNAMICS_CACHE_LIMIT"
_CACHE_MULTIPLE = 4.0  # default bound: 4 x the run's recorded bytes ...
_CACHE_FLOOR = 64 * 2**20  # ... but at least 64 MiB (one neighbour stack of a small run)
# An entry used within this many seconds is not evicted (a reader in another process may
# stream it); entries held by this process are never evicted.
_CACHE_GRACE = 30.0
# An entry begun and not committed is evicted only after this long (it may be being written
# by tasks elsewhere); a killed computation's leftovers go then.
_CACHE_STALE = 3600.0
_SIZE_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}

_CACHE_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_CACHE_LOCKS_GUARD = threading.Lock()
# Zarr arrays of cache entries handed out by Run.cache_arrays, per entry (weakly: an entry
# is in use while one of them is alive).
_CACHE_PINS: dict[tuple[str, str], list[weakref.ref[zarr.Array]]] = {}


def _pinned(location: str, key: str) -> bool:
    with _CACHE_LOCKS_GUARD:
        refs = [r for r in _CACHE_PINS.get((location, key), []) if r() is not None]
        if refs:
            _CACHE_PINS[(location, key)] = refs
        else:
            _CACHE_PINS.pop((location, key), None)
        return bool(refs)


def _pin(location: str, key: str, arrays: Mapping[str, zarr.Array]) -> None:
    with _CACHE_LOCKS_GUARD:
        refs = [r for r in _CACHE_PINS.get((location, key), []) if r() is not None]
        _CACHE_PINS[(location, key)] = refs + [weakref.ref(a) for a in arrays.values()]


def parse_cache_limit(value: str, run_bytes: int) -> int:
    """A cache bound in bytes from ``"512M"``, ``"2G"``, ``"1000000"`` or ``"4x"``."""
    text = str(value).strip().upper().removesuffix("IB").removesuffix("B")
    try:
        if text.endswith("X"):
            return int(float(text[:-1]) * run_bytes)
        unit = text[-1:] if text[-1:] in _SIZE_UNITS else ""
        number = float(text[: len(text) - len(unit)])
        if not math.isfinite(number) or number < 0:
            raise ValueError(number)
        return int(number * _SIZE_UNITS[unit])
    except ValueError:
        raise InvalidParameterError(
            f"The cache limit {value!r} (environment variable {CACHE_LIMIT_ENV}) is not a size: "
            "give bytes (512M, 2G, 1000000) or a multiple of the run's size (4x)."
        ) from None


@dataclass(frozen=True)
class CacheEntry:
    """One derived result stored in a run's cache (see :meth:`Run.cache_entries`)."""

    key: str
    name: str
    nbytes: int  # bytes stored
    used: float | None  # when it was last written or served (seconds since the epoch)
    complete: bool  # False: a computation that was interrupted or is still running
    current: bool  # computed from the run's present snapshots

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "nbytes": self.nbytes,
            "used": self.used,
            "complete": self.complete,
            "current": self.current,
        }


def _cache_lock(location: str, key: str) -> threading.Lock:
    with _CACHE_LOCKS_GUARD:
        return _CACHE_LOCKS.setdefault((location, key), threading.Lock())


@dataclass(frozen=True)
class SnapshotInfo:
    """What the run knows about one snapshot besides its arrays."""

    index: int
    epoch: int | None
    step: int | None
    wall_time: float | None
    metrics: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "epoch": self.epoch,
            "step": self.step,
            "wall_time": self.wall_time,
            "metrics": dict(self.metrics),
        }


@dataclass(frozen=True)
class Damage:
    """One damaged part of a run found by :meth:`Run.verify`."""

    snapshot: int | None  # None: an array that does not belong to one snapshot
    array: str  # its path in the run, e.g. "representations/logits"
    problem: str

    def to_dict(self) -> dict[str, Any]:
        return {"snapshot": self.snapshot, "array": self.array, "problem": self.problem}


def _is_url(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


def _location(path_or_url: str | os.PathLike[str]) -> str:
    location = os.fspath(path_or_url)
    if location.startswith("file://"):
        location = location[len("file://") :]
    return location


def _int_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def _number_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


# What readers rely on in the attributes: (name, check, what is expected), checked at open.
_RUN_FIELDS = (
    ("kind", lambda v: v in KINDS, f"one of {KINDS}"),
    (
        "class_names",
        lambda v: v is None or (isinstance(v, list) and all(isinstance(c, str) for c in v)),
        "a list of strings or null",
    ),
    ("metadata", lambda v: v is None or isinstance(v, dict), "an object"),
)
_ENTRY_FIELDS = (
    ("epoch", _int_or_none, "an int or null"),
    ("step", _int_or_none, "an int or null"),
    ("wall_time", _number_or_none, "a number or null"),
    ("metrics", lambda v: v is None or isinstance(v, dict), "an object"),
)


def _rows_per_chunk(n_samples: int, row_bytes: int) -> int:
    return int(max(1, min(n_samples, _CHUNK_BYTES // max(row_bytes, 1))))


def dimension_names(path: str, ndim: int) -> tuple[str, ...]:
    """The Zarr v3 ``dimension_names`` of the run's array at ``path`` (``docs/run-format.md``).

    xarray takes them as the arrays' dimensions (``xarray.open_zarr``), so every array the
    run records carries them; runs of earlier releases lack them and are given these same
    names by :meth:`Run.to_xarray`.

    >>> dimension_names("representations/logits", 3)
    ('snapshot', 'sample', 'logits_dim')
    >>> dimension_names("extras/clean_labels", 1), dimension_names("inputs", 3)
    (('sample',), ('sample', 'inputs_dim_1', 'inputs_dim_2'))
    """
    if path.startswith("representations/"):
        return ("snapshot", "sample", f"{path.removeprefix('representations/')}_dim")
    if path == "predictions":
        return ("snapshot", "sample")
    name = path.rsplit("/", 1)[-1]  # labels, inputs, extras/<name>: (N, ...)
    return ("sample", *(f"{name}_dim_{axis}" for axis in range(1, ndim)))


def _json_number(value: Any) -> Any:
    """Metrics must survive JSON: numpy scalars become Python numbers, NaN becomes None."""
    if isinstance(value, np.generic):
        value = value.item()
    if hasattr(value, "item") and callable(value.item):  # 0-d tensors and arrays
        try:
            value = value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    raise InvalidParameterError(
        f"Metric values must be numbers or strings. Got {type(value).__name__} instead."
    )


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
    if not isinstance(n_samples, int | np.integer) or isinstance(n_samples, bool) or n_samples < 1:
        raise invalid_parameter("n_samples", "create_run", "an int >= 1", n_samples)
    n_samples = int(n_samples)
    if kind not in KINDS:
        raise invalid_parameter("kind", "create_run", f"one of {KINDS}", kind)
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


def _half_made(location: str, store_options: Mapping[str, Any] | None) -> bool:
    """A run whose creation was interrupted: a group without the run's attributes that
    holds nothing but the run's own arrays and groups."""
    if _is_url(location):
        import fsspec

        fs, path = fsspec.core.url_to_fs(location, **(store_options or {}))
        try:
            names = {entry.rstrip("/").rsplit("/", 1)[-1] for entry in fs.ls(path, detail=False)}
            meta = fs.cat_file(f"{path.rstrip('/')}/zarr.json")
        except (OSError, ValueError):
            return False
    else:
        root = Path(location)
        try:
            names = {p.name for p in root.iterdir()}
            meta = (root / "zarr.json").read_bytes()
        except OSError:
            return False
    try:
        doc = json.loads(meta)
    except ValueError:
        return False  # a damaged run, not a half-made one
    if not isinstance(doc, dict) or doc.get("node_type") != "group":
        return False
    attrs = doc.get("attributes") or {}
    if not names <= _OWN_NAMES:
        return False
    if attrs.get("format") != FORMAT_NAME:
        return not attrs  # a group of someone else's has attributes of its own
    # Earlier code wrote the attributes one by one: a kill left the format without the rest.
    if "n_samples" in attrs or _is_url(location):
        return False
    entries = Path(location) / _ENTRIES
    return not (entries.is_dir() and any(p.name.isdigit() for p in entries.iterdir()))


async def _set_rows(
    rows: Sequence[tuple[zarr.Array, np.ndarray]],
    derived: tuple[zarr.Array, Callable[[], np.ndarray]],
    t: int,
) -> None:
    """Write row ``t`` of several arrays concurrently, one of them computed in a thread."""

    async def compute_and_set() -> None:
        arr, compute = derived
        await arr.async_array.setitem(t, await asyncio.to_thread(compute))

    await asyncio.gather(
        compute_and_set(), *(arr.async_array.setitem(t, values) for arr, values in rows)
    )


def _opts(location: str, storage_options: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The storage options handed to Zarr (the user's, plus fail-fast defaults for s3)."""
    if not _is_url(location):
        if storage_options:
            raise InvalidParameterError(
                "storage_options are only used with URLs (s3://..., gs://...)."
            )
        return None
    return zarr_storage_options(location, storage_options) or None


def _remote_occupied(location: str, store_options: Mapping[str, Any] | None) -> bool:
    import fsspec

    fs, path = fsspec.core.url_to_fs(location, **(store_options or {}))
    return bool(fs.exists(path))


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


class Run:
    """A training run on disk: snapshots of per-sample representations.

    Obtain one with :func:`open_run` or :func:`create_run`; the constructor is internal.
    Reading never loads more than what is asked for: :meth:`read` returns one snapshot of
    one layer, :meth:`iter_snapshots` streams them.
    """

    def __init__(
        self,
        group: zarr.Group,
        location: str,
        *,
        writable: bool,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._group = group
        self.location = location
        self.writable = writable
        # Kept on this object only (credentials may be among them): never in the run.
        self._storage_options = dict(storage_options) if storage_options is not None else None
        self._attrs: dict[str, Any] = dict(group.attrs.asdict())
        # Opening a Zarr array reads its metadata from the store; keep the handles.
        self._handles: dict[str, zarr.Array] = {}
        self._layer_names: list[str] | None = None
        self._verified: set[tuple[str, int | None]] = set()  # rows whose chunks are all there
        self._entries: list[dict[str, Any]] = self._load_entries()

    # ------------------------------------------------------------------ entries
    def _key(self, *parts: str) -> str:
        """A key of the store, relative to the store's root, inside this run's group."""
        root = self._group.path
        return "/".join([root, *parts] if root else parts)

    def _load_entries(self) -> list[dict[str, Any]]:
        """The committed snapshots' entries, in order (version 1: from the list attribute)."""
        attrs = self._attrs
        version = attrs.get("format_version")
        if version == 1:
            snaps = attrs.get("snapshots")
            if not isinstance(snaps, list):
                return []  # _check names the problem
            try:
                complete = np.asarray(self._group["complete"][: len(snaps)], dtype=bool)
            except (KeyError, zarr.errors.BaseZarrError, ValueError):
                complete = np.zeros(0, dtype=bool)  # _check names the missing array
            return [
                {**dict(e), "complete": bool(complete[t]) if t < complete.size else False}
                if isinstance(e, Mapping)
                else {"index": None, "damaged": e}  # _check names it
                for t, e in enumerate(snaps)
            ]
        consolidated = attrs.get("consolidated")
        entries = [dict(e) for e in consolidated] if isinstance(consolidated, list) else []
        return entries + _zarr_sync(self._read_entries_from(len(entries)))

    async def _read_entries_from(self, start: int) -> list[dict[str, Any]]:
        """Entries ``start, start + 1, ...`` present in the store: one listing, parallel reads."""
        store = self._group.store
        prefix = self._key(_ENTRIES)
        present = set()
        async for name in store.list_dir(prefix):
            if name.isdigit():
                present.add(int(name))
        wanted = []
        while start + len(wanted) in present:
            wanted.append(start + len(wanted))
        proto = default_buffer_prototype()
        blobs = await asyncio.gather(
            *(store.get(f"{prefix}/{t}/zarr.json", prototype=proto) for t in wanted)
        )
        entries = []
        for t, blob in zip(wanted, blobs, strict=True):
            if blob is None:  # removed between listing and reading
                break
            try:
                meta = json.loads(blob.to_bytes())
            except ValueError as exc:
                raise CorruptRunError(
                    f"The entry of snapshot {t} of the run at {self.location!r} "
                    f"({prefix}/{t}/zarr.json) is not valid JSON: {exc}"
                ) from exc
            entry = meta.get("attributes") if isinstance(meta, dict) else None
            entries.append(entry if isinstance(entry, dict) else {"index": None})
        return entries

    def _array(self, path: str) -> zarr.Array:
        arr = self._handles.get(path)
        if arr is None:
            try:
                arr = self._group[path]
            except KeyError:
                raise
            except (ValueError, TypeError, zarr.errors.BaseZarrError) as exc:
                raise CorruptRunError(
                    f"The array {path!r} of the run at {self.location!r} cannot be opened: its "
                    f"metadata ({self._key(path, 'zarr.json')}) is damaged "
                    f"({type(exc).__name__}: {exc})."
                ) from exc
            if not isinstance(arr, zarr.Array):
                raise CorruptRunError(
                    f"The run at {self.location!r} holds a group where the array {path!r} "
                    "should be."
                )
            if self.writable:
                arr = arr.with_config(_DENSE)
            self._handles[path] = arr
        return arr

    def _has(self, path: str) -> bool:
        """Whether the run holds the array ``path`` (a damaged one counts: it is named later)."""
        try:
            self._array(path)
        except KeyError:
            return False
        except CorruptRunError:
            return True
        return True

    @contextmanager
    def _decoding(self, path: str, t: int | None) -> Iterator[None]:
        """Chunks that cannot be decoded as :class:`CorruptRunError` naming array and row."""
        try:
            yield
        except ReprDynamicsError:
            raise
        except Exception as exc:
            if _is_url(self.location):
                error = storage_error(exc, self.location, self._storage_options)
                if error is not None:
                    raise error from exc
            elif isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
                raise
            what = f"Snapshot {t} of the array" if t is not None else "The array"
            raise CorruptRunError(
                f"{what} {path!r} of the run at {self.location!r} cannot be read: a chunk is "
                f"damaged ({type(exc).__name__}: {exc}). `reprdynamics info --verify RUN` "
                "lists every damaged snapshot."
            ) from exc

    def _chunk_keys(self, arr: zarr.Array, t: int | None) -> list[str]:
        """The store keys (relative to the array) of every chunk of row ``t``, or of all."""
        grid = [math.ceil(s / c) for s, c in zip(arr.shape, arr.chunks, strict=True)]
        ranges: list[Sequence[int]] = [range(g) for g in grid]
        if t is not None:
            ranges[0] = [t // arr.chunks[0]]
        return [arr.metadata.encode_chunk_key(c) for c in itertools.product(*ranges)]

    def _present(self, path: str, prefix: str) -> set[str]:
        """Keys (relative to the array ``path``) stored under ``prefix``: one listing."""
        base = self._key(path) + "/"

        async def listing() -> set[str]:
            return {k[len(base) :] async for k in self._group.store.list_prefix(base + prefix)}

        with _store_errors(self.location, self._storage_options):
            return _zarr_sync(listing())

    def _missing_chunks(self, path: str, t: int | None = None) -> list[str]:
        """Chunk keys of row ``t`` (or of the whole array) that the store lacks."""
        arr = self._array(path)
        keys = self._chunk_keys(arr, t)
        if not keys:
            return []
        common: list[str] = []  # the folders every key lies in, e.g. c/<t>/
        for segments in zip(*(k.split("/")[:-1] for k in keys), strict=False):
            if len(set(segments)) > 1:
                break
            common.append(segments[0])
        present = self._present(path, "".join(f"{c}/" for c in common))
        return [k for k in keys if k not in present]

    def _require_chunks(self, path: str, t: int | None) -> None:
        """Refuse to serve fill values for chunks a committed row (or array) must hold."""
        if (path, t) in self._verified:
            return
        missing = self._missing_chunks(path, t)
        if missing:
            what = f"Snapshot {t} of the array" if t is not None else "The array"
            raise CorruptRunError(
                f"{what} {path!r} of the run at {self.location!r} is damaged: "
                f"{len(missing)} chunk(s) are missing (e.g. {self._key(path, missing[0])}); "
                "they would read as fill values. `reprdynamics info RUN` lists every damaged "
                "snapshot."
            )
        self._verified.add((path, t))

    def _row_must_be_whole(self, path: str, t: int) -> bool:
        """Whether every chunk of row ``t`` of ``path`` was written (a complete snapshot)."""
        if not self._entries[t].get("complete"):
            return False  # chunks of samples not recorded may be absent in older runs
        if path == "predictions":
            return self.kind in ("logits", "probabilities")  # else all -1: absent in older runs
        return True

    # ------------------------------------------------------------------ metadata
    def _check(self) -> None:
        attrs = self._attrs
        if attrs.get("format") != FORMAT_NAME:
            raise RunNotFoundError(
                f"{self.location!r} holds a Zarr group, but not a ReprDynamics run "
                f"(its 'format' attribute is {attrs.get('format')!r})."
            )
        version = attrs.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise CorruptRunError(
                f"The run at {self.location!r} has no valid 'format_version' attribute "
                f"(got {version!r})."
            )
        if version > FORMAT_VERSION:
            raise UnsupportedFormatVersionError(
                f"The run at {self.location!r} has format_version {version}; this release of "
                f"reprdynamics reads versions up to {FORMAT_VERSION}. Upgrade reprdynamics."
            )
        if version < 1:
            raise UnsupportedFormatVersionError(
                f"The run at {self.location!r} has unknown format_version {version}."
            )
        listed = "snapshots" if version == 1 else "consolidated"
        for key in ("n_samples", listed, "kind"):
            if key not in attrs:
                raise CorruptRunError(f"The run at {self.location!r} lacks the {key!r} attribute.")
        n = attrs["n_samples"]
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise CorruptRunError(
                f"The run at {self.location!r} has an invalid 'n_samples' attribute ({n!r}); "
                f"expected an int >= 1."
            )
        if not isinstance(attrs[listed], list):
            raise CorruptRunError(
                f"The run at {self.location!r} has a {listed!r} attribute that is not a list."
            )
        for t, entry in enumerate(self._entries):
            if entry.get("index") != t:
                raise CorruptRunError(
                    f"The entry of snapshot {t} of the run at {self.location!r} is damaged: "
                    f"its index is {entry.get('index')!r}, expected {t}."
                )
            for key, ok, expected in _ENTRY_FIELDS:
                if not ok(entry.get(key)):
                    raise CorruptRunError(
                        f"The entry of snapshot {t} of the run at {self.location!r} is "
                        f"damaged: its {key!r} is {entry.get(key)!r}, expected {expected}."
                    )
        for key, ok, expected in _RUN_FIELDS:
            if not ok(attrs.get(key)):
                raise CorruptRunError(
                    f"The run at {self.location!r} has an invalid {key!r} attribute "
                    f"({attrs.get(key)!r}); expected {expected}."
                )
        n_snap = len(self._entries)
        if "representations" not in self._group:
            raise CorruptRunError(
                f"The run at {self.location!r} lacks the 'representations' group."
            )
        if n_snap and not self.layers:
            raise CorruptRunError(
                f"The run at {self.location!r} lists {n_snap} snapshots but holds no layer "
                "arrays under 'representations'."
            )
        for name in ("complete", "predictions") if version == 1 else ("predictions",):
            if name not in self._group:
                raise CorruptRunError(f"The run at {self.location!r} lacks the {name!r} array.")
            if self._group[name].shape[0] < n_snap:
                raise CorruptRunError(
                    f"The run at {self.location!r} lists {n_snap} snapshots but its {name!r} "
                    f"array holds only {self._group[name].shape[0]}."
                )
        for layer in self.layers:
            arr = self._layer_array(layer)
            if arr.ndim != 3 or arr.shape[1] != self.n_samples or arr.shape[0] < n_snap:
                raise CorruptRunError(
                    f"Layer {layer!r} of the run at {self.location!r} has shape {arr.shape}; "
                    f"expected ({n_snap}+, {self.n_samples}, D)."
                )

    def refresh(self) -> Run:
        """Re-read metadata so snapshots appended by another process become visible."""
        mode = "r+" if self.writable else "r"
        location, options = self.location, self._storage_options
        with _store_errors(location, options):
            if _is_url(location):
                self._group = zarr.open_group(
                    location, mode=mode, zarr_format=3, storage_options=_opts(location, options)
                )
            else:
                self._group = zarr.open_group(self._group.store_path, mode=mode)
            self._attrs = dict(self._group.attrs.asdict())
            self._handles.clear()
            self._verified.clear()
            self._layer_names = None
            self._entries = self._load_entries()
            self._check()
        return self

    @property
    def storage_options(self) -> dict[str, Any] | None:
        """The ``storage_options`` this run was opened with (a shallow copy), or None.

        Pass them on to open the same run elsewhere, e.g. in a worker process:
        ``open_run(run.location, storage_options=run.storage_options)``. They stay in
        memory: nothing of them is written into the run.
        """
        return dict(self._storage_options) if self._storage_options is not None else None

    @property
    def attrs(self) -> Mapping[str, Any]:
        return dict(self._attrs)

    @property
    def name(self) -> str:
        return Path(self.location.rstrip("/")).name

    @property
    def n_samples(self) -> int:
        return int(self._attrs["n_samples"])

    @property
    def n_snapshots(self) -> int:
        """T: the number of committed snapshots (complete or not)."""
        return len(self._entries)

    @property
    def kind(self) -> str:
        return str(self._attrs["kind"])

    @property
    def output_layer(self) -> str:
        return str(self._attrs.get("output_layer", "logits"))

    @property
    def class_names(self) -> list[str] | None:
        names = self._attrs.get("class_names")
        return list(names) if names is not None else None

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self._attrs.get("metadata") or {})

    @property
    def created(self) -> str:
        return str(self._attrs.get("created"))

    @property
    def snapshots(self) -> list[SnapshotInfo]:
        return [
            SnapshotInfo(
                index=int(s["index"]),
                epoch=s.get("epoch"),
                step=s.get("step"),
                wall_time=s.get("wall_time"),
                metrics=dict(s.get("metrics") or {}),
            )
            for s in self._entries
        ]

    @property
    def epochs(self) -> list[int | None]:
        return [s.get("epoch") for s in self._entries]

    def metric(self, name: str) -> np.ndarray:
        """One metric per snapshot as a float array (NaN where a snapshot lacks it)."""
        values = [(s.get("metrics") or {}).get(name) for s in self._entries]
        return np.array([v if isinstance(v, int | float) else np.nan for v in values], dtype=float)

    @property
    def metric_names(self) -> list[str]:
        names: dict[str, None] = {}
        for s in self._entries:
            names.update(dict.fromkeys(s.get("metrics") or {}))
        return list(names)

    @property
    def complete(self) -> np.ndarray:
        """``(T,)`` bool: snapshot t holds every sample."""
        return np.array([bool(e.get("complete")) for e in self._entries], dtype=bool)

    @property
    def complete_snapshots(self) -> np.ndarray:
        return np.flatnonzero(self.complete)

    @property
    def layers(self) -> list[str]:
        if self.n_snapshots == 0:
            # Arrays in a run without snapshots can only be left by a first append that was
            # killed before its commit; they hold no committed data.
            return []
        if self._layer_names is None:
            names = sorted(self._group["representations"].array_keys())
            out = self.output_layer
            self._layer_names = sorted(names, key=lambda n: (n != out, n))
        return list(self._layer_names)

    def _layer_array(self, layer: str) -> zarr.Array:
        try:
            return self._array(f"representations/{layer}")
        except KeyError:
            raise LayerNotFoundError(
                f"The run at {self.location!r} has no layer {layer!r}. "
                f"Available layers: {', '.join(self.layers) or 'none'}."
            ) from None

    def layer_kind(self, layer: str) -> str:
        return str(self._layer_array(layer).attrs.get("kind", "features"))

    def layer_dim(self, layer: str) -> int:
        return int(self._layer_array(layer).shape[2])

    def layer_dtype(self, layer: str) -> np.dtype:
        return np.dtype(self._layer_array(layer).dtype)

    @property
    def has_labels(self) -> bool:
        return self._has("labels")

    @property
    def labels(self) -> np.ndarray | None:
        """``(N,)`` int64 class ids, ``-1`` for unknown; None when the run has none."""
        if not self._has("labels"):
            return None
        arr = self._array("labels")
        with self._decoding("labels", None):
            values = np.asarray(arr[:], dtype=np.int64)
        # A lost chunk would read as the fill value (label 0 in runs of older releases).
        self._require_chunks("labels", None)
        return values

    @property
    def n_classes(self) -> int | None:
        names = self.class_names
        if names is not None:
            return len(names)
        labels = self.labels
        if labels is not None and labels.max(initial=-1) >= 0:
            return int(labels.max()) + 1
        if self.kind in ("logits", "probabilities") and self.layers:
            return self.layer_dim(self.output_layer)
        return None

    @property
    def has_inputs(self) -> bool:
        return self._has("inputs")

    def inputs(self, ids: Any = None) -> np.ndarray | None:
        """The stored inputs, all or for some sample ids."""
        if not self._has("inputs"):
            return None
        arr = self._array("inputs")
        idx = None if ids is None else self.check_ids(ids)
        with self._decoding("inputs", None):
            values = arr[:] if idx is None else arr.get_orthogonal_selection((idx,))
        self._require_chunks("inputs", None)
        return np.asarray(values)

    @property
    def inputs_shape(self) -> tuple[int, ...] | None:
        return tuple(self._array("inputs").shape) if self._has("inputs") else None

    @property
    def extras(self) -> list[str]:
        return sorted(self._group["extras"].array_keys()) if "extras" in self._group else []

    def extra(self, name: str) -> np.ndarray:
        if name not in self.extras:
            available = ", ".join(self.extras) or "none"
            raise KeyError(f"The run has no extra array {name!r}. Available: {available}.")
        path = f"extras/{name}"
        arr = self._array(path)
        with self._decoding(path, None):
            return np.asarray(arr[:])

    # ------------------------------------------------------------------ reading
    def check_ids(self, ids: Any, *, owner: str = "run") -> np.ndarray:
        """Parse sample ids into a 1-D int64 array, refusing ids outside ``[0, N)``."""
        idx = np.asarray(ids)
        if idx.ndim != 1:
            idx = idx.reshape(-1)
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise UnknownSampleError(f"Sample ids must be integers; got dtype {idx.dtype}.")
        idx = idx.astype(np.int64, copy=False)
        bad = (idx < 0) | (idx >= self.n_samples)
        if bad.any():
            raise UnknownSampleError(
                f"{int(bad.sum())} sample id(s) of {owner} are outside [0, {self.n_samples}): "
                f"e.g. {idx[bad][:5].tolist()}."
            )
        return idx

    def _check_snapshot(self, t: int) -> int:
        n = self.n_snapshots
        if n == 0:
            raise InvalidParameterError(
                f"The run at {self.location!r} has no snapshots yet; snapshot {t!r} cannot be read."
            )
        if not isinstance(t, int | np.integer) or isinstance(t, bool):
            raise invalid_parameter("snapshot", "Run.read", f"an int in [0, {n - 1}]", t)
        t = int(t)
        if t < 0:
            t += n
        if not 0 <= t < n:
            raise invalid_parameter("snapshot", "Run.read", f"an int in [0, {n - 1}]", t)
        return t

    def read(self, layer: str | None = None, snapshot: int = -1, ids: Any = None) -> np.ndarray:
        """One snapshot of one layer as an ``(N, D)`` (or ``(len(ids), D)``) array.

        Rows of samples that were never recorded in that snapshot are NaN.
        """
        t = self._check_snapshot(snapshot)
        name = layer or self.output_layer
        arr = self._layer_array(name)
        idx = None if ids is None else self.check_ids(ids)
        return self._read_row(f"representations/{name}", arr, t, idx)

    def predictions(self, snapshot: int = -1, ids: Any = None) -> np.ndarray:
        """``ŷ_t``: argmax of the output layer per sample (-1 where not recorded)."""
        t = self._check_snapshot(snapshot)
        idx = None if ids is None else self.check_ids(ids)
        values = self._read_row("predictions", self._array("predictions"), t, idx)
        return np.asarray(values, dtype=np.int64)

    def _read_row(self, path: str, arr: zarr.Array, t: int, idx: np.ndarray | None) -> np.ndarray:
        """Row ``t`` of an array (some samples of it), checked: never fill values for lost
        chunks of a complete snapshot, never a codec's error."""
        with self._decoding(path, t):
            if idx is None:
                values = np.asarray(arr[t])
            else:
                rest = (slice(None),) * (arr.ndim - 2)
                values = np.asarray(arr.get_orthogonal_selection((t, idx, *rest)))
        if self._row_must_be_whole(path, t):
            self._require_chunks(path, t)
        return values

    def iter_snapshots(
        self,
        layer: str | None = None,
        *,
        ids: Any = None,
        complete_only: bool = True,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(t, array)`` one snapshot at a time, never holding more than one."""
        complete = self.complete
        for t in range(self.n_snapshots):
            if complete_only and not complete[t]:
                continue
            yield t, self.read(layer, t, ids)

    def to_xarray(self) -> Any:
        """The run as a lazy :class:`xarray.Dataset`: nothing recorded is read until used.

        Dimensions ``snapshot`` (the ``T`` committed snapshots), ``sample`` and
        ``<layer>_dim``; one variable per layer, ``predictions``, the extras and the
        metrics. Needs the ``xarray`` extra; see :func:`reprdynamics.storage.labelled.to_xarray`
        and ``docs/xarray-pandas.md``.
        """
        from reprdynamics.storage.labelled import to_xarray

        return to_xarray(self)

    def verify(self, *, decode: bool = False) -> list[Damage]:
        """What is damaged in the run's arrays; an empty list when nothing is.

        Without ``decode``, one listing per array: the chunks each committed complete
        snapshot must hold (every one of its rows was written) and those of the labels and
        inputs, missing from the store. With ``decode``, every stored chunk is also read and
        decoded, which takes as long as reading the whole run. Snapshots not named here
        read as recorded; a read of a damaged one raises :class:`CorruptRunError`.
        """
        found: list[Damage] = []
        rows = [f"representations/{layer}" for layer in self.layers] + ["predictions"]
        for path in rows:
            try:
                arr = self._array(path)
            except CorruptRunError as exc:
                found.append(Damage(None, path, str(exc)))
                continue
            present = self._present(path, "")
            for t in range(self.n_snapshots):
                keys = self._chunk_keys(arr, t)
                missing = [k for k in keys if k not in present]
                if missing and self._row_must_be_whole(path, t):
                    found.append(Damage(t, path, f"{len(missing)} of {len(keys)} chunks missing"))
                elif decode:
                    try:
                        with self._decoding(path, t):
                            np.asarray(arr[t])
                    except CorruptRunError as exc:
                        found.append(Damage(t, path, str(exc.__cause__ or exc)))
        whole = [p for p in ("labels", "inputs") if self._has(p)]
        for path in whole + [f"extras/{name}" for name in self.extras]:
            try:
                arr = self._array(path)
                missing = self._missing_chunks(path) if path in whole else []
                if missing:
                    found.append(Damage(None, path, f"{len(missing)} chunks missing"))
                elif decode:
                    with self._decoding(path, None):
                        np.asarray(arr[...])
            except CorruptRunError as exc:
                found.append(Damage(None, path, str(exc.__cause__ or exc)))
        return found

    # ------------------------------------------------------------------ writing
    def _require_writable(self) -> None:
        if not self.writable:
            raise PermissionError(
                f"The run at {self.location!r} is open read-only; open it with mode='r+'."
            )

    def append_snapshot(
        self,
        layers: Mapping[str, np.ndarray],
        *,
        epoch: int | None = None,
        step: int | None = None,
        metrics: Mapping[str, Any] | None = None,
        recorded: np.ndarray | None = None,
        wall_time: float | None = None,
        dtype: str | np.dtype | None = None,
        layer_kinds: Mapping[str, str] | None = None,
    ) -> SnapshotInfo:
        """Write one whole snapshot (every layer) and commit it.

        Parameters
        ----------
        layers
            ``{layer: (N, D) array}``. The set of layers is fixed by the first snapshot.
        recorded
            ``(N,)`` bool, which samples hold real values; the snapshot is marked
            complete when all do. Rows not recorded should be NaN.
        dtype
            Storage dtype of layers created by this call (``float32`` default, or
            ``float16``).
        """
        self._require_writable()
        if not layers:
            raise InvalidParameterError("append_snapshot needs at least one layer.")
        n = self.n_samples
        t = self.n_snapshots
        existing = set(self.layers)
        if t > 0 and set(layers) != existing:
            raise InvalidParameterError(
                f"Snapshot {t} has layers {sorted(layers)}, but the run records "
                f"{sorted(existing)}; every snapshot must hold the same layers."
            )
        arrays: dict[str, np.ndarray] = {}
        for name, values in layers.items():
            if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
                raise invalid_parameter("layer", "append_snapshot", "a name without '/'", name)
            values = np.asarray(values)
            if values.ndim == 1:
                values = values[:, None]
            if values.ndim != 2 or values.shape[0] != n:
                raise InvalidParameterError(
                    f"Layer {name!r} of snapshot {t} has shape {values.shape}; expected ({n}, D)."
                )
            if name in existing and values.shape[1] != self.layer_dim(name):
                raise InvalidParameterError(
                    f"Layer {name!r} of snapshot {t} has {values.shape[1]} dimensions; earlier "
                    f"snapshots have {self.layer_dim(name)}."
                )
            arrays[name] = values
        if recorded is None:
            recorded = np.ones(n, dtype=bool)
        recorded = np.asarray(recorded, dtype=bool)
        if recorded.shape != (n,):
            raise invalid_parameter(
                "recorded", "append_snapshot", f"a ({n},) bool array", recorded.shape
            )
        self._upgrade()
        reps = self._group["representations"]
        if t == 0:
            # Leftovers of a first append killed before its commit: start afresh.
            for stale in list(reps.array_keys()):
                del reps[stale]
            self._handles.clear()
            self._layer_names = None
        kinds = dict(layer_kinds or {})
        rows: list[tuple[zarr.Array, np.ndarray]] = []
        for name, values in arrays.items():
            if name not in existing:
                store_dtype = np.dtype(dtype or "float32")
                if store_dtype not in (np.float32, np.float16, np.float64):
                    raise invalid_parameter(
                        "dtype", "append_snapshot", "float16, float32 or float64", dtype
                    )
                d = values.shape[1]
                arr = reps.create_array(
                    name,
                    shape=(self._array("predictions").shape[0], n, d),
                    chunks=(1, _rows_per_chunk(n, d * store_dtype.itemsize), d),
                    dtype=store_dtype,
                    fill_value=np.nan,
                    compressors=_LAYER_CODECS,
                    attributes={"kind": kinds.get(name, self._default_kind(name))},
                    dimension_names=dimension_names(f"representations/{name}", 3),
                    config=_DENSE,
                )
                self._handles[f"representations/{name}"] = arr
                self._layer_names = None
            arr = self._grown(f"representations/{name}", t)
            rows.append((arr, values.astype(arr.dtype, copy=False)))
        out = arrays.get(self.output_layer)

        def predictions() -> np.ndarray:
            pred = np.full(n, -1, dtype=np.int32)
            if out is not None and self.kind in ("logits", "probabilities"):
                if recorded.all():  # the usual case: no masked copy of the whole layer
                    pred = np.argmax(out, axis=1).astype(np.int32)
                else:
                    pred[recorded] = np.argmax(out[recorded], axis=1)
            return pred

        # Every array's row at once, in one round trip; the argmax runs while the layers
        # are compressed. The predictions row is always written, so a row left by a killed
        # append is never mistaken for this one.
        _zarr_sync(_set_rows(rows, (self._grown("predictions", t), predictions), t))
        info = SnapshotInfo(
            index=t,
            epoch=None if epoch is None else int(epoch),
            step=None if step is None else int(step),
            wall_time=time.time() if wall_time is None else float(wall_time),
            metrics={str(k): _json_number(v) for k, v in (metrics or {}).items()},
        )
        entry = {**info.to_dict(), "complete": bool(recorded.all())}
        # The commit point: one small object; only now does the snapshot exist for readers.
        self._write_entry(t, entry)
        self._entries.append(entry)
        return info

    def _write_entry(self, t: int, entry: Mapping[str, Any]) -> None:
        """Write the group ``snapshots/<t>`` with ``entry`` as its attributes: one object.

        The metadata is what Zarr writes for a group (any Zarr v3 reader opens it); written
        with one store operation, atomically, rather than Zarr's create-or-replace dance.
        """
        meta = {"zarr_format": 3, "node_type": "group", "attributes": dict(entry)}
        blob = default_buffer_prototype().buffer.from_bytes(json.dumps(meta).encode())
        _zarr_sync(self._group.store.set(self._key(_ENTRIES, str(t), "zarr.json"), blob))

    def _default_kind(self, layer: str) -> str:
        return self.kind if layer == self.output_layer else "features"

    def _grown(self, path: str, t: int) -> zarr.Array:
        """The array at ``path``, grown (by doubling) to hold row ``t``: a resize is rare.

        Zarr's resize rewrites the shape only; the dimension names stay.
        """
        arr = self._array(path)
        if arr.shape[0] <= t:
            arr.resize((max(2 * arr.shape[0], t + 1, _MIN_CAPACITY), *arr.shape[1:]))
        return arr

    def _upgrade(self) -> None:
        """Turn a version 1 run into version 2 before its first write (crash-safe).

        The entries are written first; the attributes, switched last in one write, are what
        makes the run version 2. A kill in between leaves a readable version 1 run.
        """
        if self._attrs.get("format_version") != 1:
            return
        self._group.require_group(_ENTRIES)
        for t, entry in enumerate(self._entries):
            self._write_entry(t, entry)
        attrs = {k: v for k, v in self._attrs.items() if k != "snapshots"}
        attrs.update(format_version=FORMAT_VERSION, consolidated=list(self._entries))
        self._group.attrs.put(attrs)
        self._attrs = attrs
        if "complete" in self._group:
            del self._group["complete"]
        self._handles.pop("complete", None)

    def consolidate(self) -> None:
        """Copy every entry into the group attributes, so opening the run reads one object.

        Readers take the consolidated entries and then the entries beyond them; a recorder
        consolidates when it closes, not per snapshot.
        """
        self._require_writable()
        self._upgrade()
        if len(self._attrs.get("consolidated") or []) == len(self._entries):
            return
        self._attrs["consolidated"] = [dict(e) for e in self._entries]
        self._group.attrs["consolidated"] = self._attrs["consolidated"]

    def set_metrics(self, snapshot: int, metrics: Mapping[str, Any]) -> None:
        """Add or replace metrics of a committed snapshot (e.g. validation accuracy later)."""
        self._require_writable()
        t = self._check_snapshot(snapshot)
        self._upgrade()
        entry = dict(self._entries[t])
        merged = dict(entry.get("metrics") or {})
        merged.update({str(k): _json_number(v) for k, v in metrics.items()})
        entry["metrics"] = merged
        self._write_entry(t, entry)
        self._entries[t] = entry
        consolidated = self._attrs.get("consolidated") or []
        if t < len(consolidated):
            self._attrs["consolidated"] = [*consolidated[:t], entry, *consolidated[t + 1 :]]
            self._group.attrs["consolidated"] = self._attrs["consolidated"]

    # ------------------------------------------------------------------ parts
    def write_part(
        self,
        t: int,
        rank: int,
        ids: np.ndarray,
        layers: Mapping[str, np.ndarray],
        facts: Mapping[str, Any],
    ) -> None:
        """Store the rows one rank recorded for snapshot ``t``, to be merged by rank 0.

        ``facts`` (JSON) describe the part; they are written last, with ``done``, so a part
        is either whole or absent to its reader.
        """
        self._require_writable()
        path = f"{_PARTS}/{t}/{rank}"
        group = self._group.require_group(path)
        for name, values in {"ids": ids, **{f"layer.{k}": v for k, v in layers.items()}}.items():
            values = np.ascontiguousarray(values)
            row_bytes = int(np.prod(values.shape[1:], dtype=np.int64)) * values.itemsize
            rows = _rows_per_chunk(max(values.shape[0], 1), row_bytes)
            arr = group.create_array(
                name,
                shape=values.shape,
                chunks=(rows, *values.shape[1:]),
                dtype=values.dtype,
                overwrite=True,
            )
            if values.size:
                arr[...] = values
        group.attrs.put({**json.loads(json.dumps(dict(facts))), "done": True})

    def read_part(
        self, t: int, rank: int
    ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]] | None:
        """``(ids, layers, facts)`` of a part written whole by :meth:`write_part`, else None."""
        try:
            group = self._group[f"{_PARTS}/{t}/{rank}"]
            facts = dict(group.attrs.asdict())
            if facts.get("done") is not True:
                return None
            arrays = {name: np.asarray(group[name][...]) for name in group.array_keys()}
        except (KeyError, FileNotFoundError, zarr.errors.BaseZarrError):
            return None
        ids = arrays.pop("ids")
        return ids, {k[len("layer.") :]: v for k, v in arrays.items()}, facts

    def drop_all_parts(self) -> None:
        """Delete every part (left by a multi-process recording that was killed)."""
        self._require_writable()
        try:
            if _PARTS in self._group:
                del self._group[_PARTS]
        except (KeyError, FileNotFoundError):
            pass

    def drop_parts(self, t: int) -> None:
        """Delete the parts of snapshot ``t`` (after its commit, or to start it afresh)."""
        self._require_writable()
        try:
            parts = self._group[_PARTS]
            if str(t) in parts:
                del parts[str(t)]
        except (KeyError, FileNotFoundError):
            pass

    def write_extra(self, name: str, values: Any, *, overwrite: bool = False) -> None:
        """Store a per-sample array under ``extras/`` (e.g. which labels were flipped)."""
        self._require_writable()
        values = np.asarray(values)
        if values.ndim < 1 or values.shape[0] != self.n_samples:
            raise InvalidParameterError(
                f"Extra {name!r} must have {self.n_samples} rows; got shape {values.shape}."
            )
        extras = self._group.require_group("extras")
        if name in extras:
            if not overwrite:
                raise RunExistsError(f"The run already has an extra array {name!r}.")
            del extras[name]
        arr = extras.create_array(
            name,
            shape=values.shape,
            dtype=values.dtype,
            dimension_names=dimension_names(f"extras/{name}", values.ndim),
            config=_DENSE,
        )
        arr[...] = values

    def set_recording(self, state: Mapping[str, Any]) -> None:
        """Mark who records the run (attribute ``recording``, e.g. ``{"open": True,
        "world_size": 2}`` while the ranks of a multi-process recording may join)."""
        self._require_writable()
        self._attrs["recording"] = dict(state)
        self._group.attrs["recording"] = self._attrs["recording"]

    def update_metadata(self, **values: Any) -> None:
        self._require_writable()
        meta = self.metadata
        meta.update(values)
        self._attrs["metadata"] = meta
        self._group.attrs["metadata"] = meta

    # ------------------------------------------------------------------ cache
    def state_token(self) -> str:
        """Changes whenever the snapshots a derived result depends on change."""
        h = hashlib.sha256()
        h.update(str(self._attrs.get("created")).encode())
        h.update(str(self.n_snapshots).encode())
        h.update(np.packbits(self.complete).tobytes())
        return h.hexdigest()[:16]

    @staticmethod
    def cache_key(name: str, params: Mapping[str, Any]) -> str:
        blob = json.dumps(
            {"name": name, "cache_version": CACHE_VERSION, **params}, sort_keys=True, default=str
        )
        return f"{name}-{hashlib.sha256(blob.encode()).hexdigest()[:20]}"

    def _cache_entry(self, name: str, params: Mapping[str, Any]) -> zarr.Group | None:
        """The complete cache group for exactly these parameters and this run state."""
        key = self.cache_key(name, params)
        try:
            group = self._group["cache"][key]
        except KeyError:
            return None
        attrs = group.attrs.asdict()
        if attrs.get("state") != self.state_token() or attrs.get("complete_write") is not True:
            return None
        if attrs.get("params") != json.loads(json.dumps(params, sort_keys=True, default=str)):
            return None
        used = attrs.get("used")
        now = time.time()
        if self.writable and not (isinstance(used, int | float) and now - used < _CACHE_GRACE / 2):
            # Least recently used goes first when the cache is full: note the use, at most
            # one write per entry every few seconds.
            try:
                group.attrs["used"] = now
            except (OSError, zarr.errors.BaseZarrError):
                pass
        return group

    def cache_get(self, name: str, params: Mapping[str, Any]) -> dict[str, np.ndarray] | None:
        """Arrays cached for exactly these parameters and this run state, else None."""
        group = self._cache_entry(name, params)
        if group is None:
            return None
        return {k: np.asarray(group[k][...]) for k in group.array_keys()}

    def cache_put(
        self, name: str, params: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> bool:
        """Store derived arrays; False when they could not be stored.

        A read-only run stores nothing. Writers of the same key are serialised within a
        process; a writer in another process racing for the same key makes one of them give
        up (the result is merely not cached). A reader never sees a half-written entry: the
        ``complete_write`` attribute is set last.
        """
        if not self.writable:
            return False
        size = sum(np.asarray(v).nbytes for v in arrays.values())
        if size > self.cache_limit:
            return False  # larger than the whole cache may be: computed, not kept
        key = self.cache_key(name, params)
        with _cache_lock(self.location, key):
            stored = self._cache_put_locked(key, params, arrays)
        if stored:
            self._enforce_cache_limit(keep=key)
        return stored

    def _cache_put_locked(
        self, key: str, params: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> bool:
        try:
            cache = self._group.require_group("cache")
            if key in cache:
                del cache[key]
            group = cache.create_group(key)
            for k, v in arrays.items():
                v = np.asarray(v)
                arr = group.create_array(k, shape=v.shape, dtype=v.dtype)
                arr[...] = v
            self._mark_complete(group, params)
        except (OSError, zarr.errors.BaseZarrError, KeyError):
            return False
        return True

    def _mark_complete(self, group: zarr.Group, params: Mapping[str, Any]) -> None:
        """The commit point of a cache entry: its parameters and run state, written last."""
        group.attrs.update(
            {
                "params": json.loads(json.dumps(params, sort_keys=True, default=str)),
                "state": self.state_token(),
                "created": self.created,
                "nbytes": self._stored_bytes(group.path),
                "used": time.time(),
                "complete_write": True,
            }
        )

    def cache_arrays(self, name: str, params: Mapping[str, Any]) -> dict[str, zarr.Array] | None:
        """Like :meth:`cache_get`, but the arrays stay on disk: Zarr arrays read on demand.

        Streaming consumers read one chunk (one snapshot) at a time from them.
        """
        group = self._cache_entry(name, params)
        if group is None:
            return None
        arrays = {k: group[k] for k in group.array_keys()}
        # While any of these arrays is alive in this process, the entry is not evicted.
        _pin(self.location, group.basename, arrays)
        return arrays

    def cache_begin(
        self,
        name: str,
        params: Mapping[str, Any],
        layout: Mapping[str, tuple[tuple[int, ...], Any, tuple[int, ...]]],
        values: Mapping[str, np.ndarray] | None = None,
    ) -> str | None:
        """Start a cache entry that is filled piece by piece (by parallel tasks, say).

        ``layout`` maps array names to ``(shape, dtype, chunks)``; ``values`` are small
        arrays written at once. Returns the entry's path inside the run (hand it to
        :meth:`cache_write`), or None when the run cannot be written. The entry is invisible
        to :meth:`cache_get` / :meth:`cache_arrays` until :meth:`cache_commit`: a failed or
        interrupted computation never leaves a half-written result that is served.
        """
        if not self.writable:
            return None
        size = sum(
            math.prod(shape) * np.dtype(dtype).itemsize for shape, dtype, _ in layout.values()
        )
        if size > self.cache_limit:
            return None  # larger than the whole cache may be: computed, not kept
        key = self.cache_key(name, params)
        with _cache_lock(self.location, key):
            try:
                cache = self._group.require_group("cache")
                if key in cache:
                    del cache[key]
                group = cache.create_group(key, attributes={"used": time.time()})
                for array, (shape, dtype, chunks) in layout.items():
                    group.create_array(array, shape=shape, dtype=dtype, chunks=chunks)
                for array, value in (values or {}).items():
                    value = np.asarray(value)
                    arr = group.create_array(array, shape=value.shape, dtype=value.dtype)
                    arr[...] = value
            except (OSError, zarr.errors.BaseZarrError, KeyError):
                return None
        self._handles.clear()
        return f"cache/{key}"

    def cache_extend(
        self,
        name: str,
        params: Mapping[str, Any],
        layout: Mapping[str, tuple[tuple[int, ...], Any, tuple[int, ...]]],
        values: Mapping[str, np.ndarray],
        *,
        along: str,
    ) -> tuple[str | None, int]:
        """Like :meth:`cache_begin`, keeping what an earlier state of this run computed.

        A run being recorded gains snapshots; results computed per snapshot for the earlier
        ones stay right. When a committed entry of the same parameters exists, from this run
        (same creation) and whose ``values[along]`` (the snapshots it covers) are a prefix of
        the new ones, its arrays are grown along their first axis instead of recomputed.
        Returns ``(entry, kept)``: the first ``kept`` positions of every array in
        ``layout`` are filled already (0: a fresh entry, as :meth:`cache_begin`).

        The entry is marked incomplete before anything changes, so a reader or a kill in
        between never sees it half-written; it is served again only after
        :meth:`cache_commit`.
        """
        if not self.writable:
            return None, 0
        key = self.cache_key(name, params)
        new_along = np.asarray(values[along])
        kept = 0
        with _cache_lock(self.location, key):
            try:
                group = self._group["cache"][key]
                attrs = group.attrs.asdict()
                canonical = json.loads(json.dumps(params, sort_keys=True, default=str))
                old_along = np.asarray(group[along][...])
                fits = all(
                    array in group
                    and group[array].dtype == np.dtype(dtype)
                    and tuple(group[array].chunks) == tuple(chunks)
                    and tuple(group[array].shape[1:]) == tuple(shape[1:])
                    for array, (shape, dtype, chunks) in layout.items()
                )
                if (
                    attrs.get("complete_write") is True
                    and attrs.get("params") == canonical
                    and attrs.get("created") == self.created
                    and fits
                    and 0 < old_along.size <= new_along.size
                    and np.array_equal(new_along[: old_along.size], old_along)
                ):
                    kept = int(old_along.size)
            except (OSError, zarr.errors.BaseZarrError, KeyError, ValueError, TypeError):
                kept = 0
            if kept:
                try:
                    # The commit point goes first; "used" keeps it from eviction meanwhile.
                    group.attrs.update({"complete_write": False, "used": time.time()})
                    for array, (shape, _dtype, _chunks) in layout.items():
                        if tuple(group[array].shape) != tuple(shape):
                            group[array].resize(shape)
                    for array, value in values.items():
                        value = np.asarray(value)
                        if tuple(group[array].shape) != value.shape:
                            group[array].resize(value.shape)
                        group[array][...] = value
                except (OSError, zarr.errors.BaseZarrError, KeyError, ValueError):
                    kept = 0
        if not kept:
            return self.cache_begin(name, params, layout, values), 0
        self._handles.clear()
        return f"cache/{key}", kept

    def cache_write(self, entry: str, array: str, region: tuple[Any, ...], values: Any) -> None:
        """Write ``values`` into ``region`` of one array of an entry from :meth:`cache_begin`.

        Tasks write disjoint, chunk-aligned regions, so they never touch the same file.
        """
        self._require_writable()
        self._group[f"{entry}/{array}"][region] = values

    def cache_commit(self, name: str, params: Mapping[str, Any]) -> bool:
        """Mark an entry begun with :meth:`cache_begin` as complete for this run state."""
        if not self.writable:
            return False
        key = self.cache_key(name, params)
        try:
            self._mark_complete(self._group["cache"][key], params)
        except (OSError, zarr.errors.BaseZarrError, KeyError):
            return False
        self._enforce_cache_limit(keep=key)
        return True

    # ------------------------------------------------------------------ cache bound
    @property
    def recorded_nbytes(self) -> int:
        """Bytes the run's recorded data holds uncompressed (its cache not counted)."""
        t, n = self.n_snapshots, self.n_samples
        total = t * n * 4  # predictions
        for layer in self.layers:
            total += t * n * self.layer_dim(layer) * self.layer_dtype(layer).itemsize
        for path in ("labels", "inputs"):
            if self._has(path):
                arr = self._array(path)
                total += math.prod(arr.shape) * arr.dtype.itemsize
        return int(total)

    @property
    def cache_limit(self) -> int:
        """Bytes the run's cache may hold: ``$REPRDYNAMICS_CACHE_LIMIT``, else 4 x the run's
        recorded size and at least 64 MiB. Least recently used entries are evicted beyond it.
        """
        value = os.environ.get(CACHE_LIMIT_ENV, "").strip()
        if value:
            return parse_cache_limit(value, self.recorded_nbytes)
        return max(int(_CACHE_MULTIPLE * self.recorded_nbytes), _CACHE_FLOOR)

    def _stored_bytes(self, path: str) -> int:
        """Bytes stored under a path of the store (every chunk and metadata file)."""
        with _store_errors(self.location, self._storage_options):
            return int(_zarr_sync(self._group.store.getsize_prefix(path)))

    def cache_entries(self) -> list[CacheEntry]:
        """Every entry of the run's cache, least recently used first."""
        if "cache" not in self._group:
            return []
        state = self.state_token()
        entries = []
        for key, group in self._group["cache"].groups():
            try:
                attrs = group.attrs.asdict()
            except (ValueError, zarr.errors.BaseZarrError):
                attrs = {}  # a damaged entry: listed, and evicted first
            nbytes = attrs.get("nbytes")
            complete = attrs.get("complete_write") is True
            if not (complete and isinstance(nbytes, int)):
                nbytes = self._stored_bytes(group.path)
            used = attrs.get("used")
            entries.append(
                CacheEntry(
                    key=key,
                    name=key.rsplit("-", 1)[0],
                    nbytes=int(nbytes),
                    used=float(used) if isinstance(used, int | float) else None,
                    complete=complete,
                    current=complete and attrs.get("state") == state,
                )
            )
        return sorted(entries, key=lambda e: (e.used or 0.0, e.key))

    def cache_clear(self, name: str | None = None) -> int:
        """Delete the cache's entries (those of one result ``name`` only, if given).

        Returns the bytes freed. Entries are recomputed when next asked for.
        """
        self._require_writable()
        freed = 0
        for entry in self.cache_entries():
            if name is None or entry.name == name:
                freed += self._evict(entry)
        self._handles.clear()
        return freed

    def _evict(self, entry: CacheEntry) -> int:
        with _cache_lock(self.location, entry.key):
            try:
                del self._group["cache"][entry.key]
            except (KeyError, FileNotFoundError):
                return 0
        return entry.nbytes

    def _enforce_cache_limit(self, *, keep: str) -> None:
        """Evict least recently used entries until the cache fits its bound.

        Never evicted: ``keep`` (just written), entries whose arrays this process holds, and
        entries used in the last few seconds (another process may be reading them). The
        bound can therefore be exceeded while they are in use; the next write tries again.
        """
        try:
            entries = self.cache_entries()
            limit = self.cache_limit
        except (OSError, zarr.errors.BaseZarrError, ReprDynamicsError):
            return
        total = sum(e.nbytes for e in entries)
        now = time.time()
        for entry in entries:  # least recently used first
            if total <= limit:
                break
            if entry.key == keep or _pinned(self.location, entry.key):
                continue
            if entry.used is not None and now - entry.used < (
                _CACHE_GRACE if entry.complete else _CACHE_STALE
            ):
                continue
            try:
                total -= self._evict(entry)
            except (OSError, zarr.errors.BaseZarrError):
                continue

    def __repr__(self) -> str:
        layers = ", ".join(f"{n}[{self.layer_dim(n)}]" for n in self.layers)
        return (
            f"<Run {self.location!r}: T={self.n_snapshots}, N={self.n_samples}, "
            f"kind={self.kind}, layers={layers or 'none'}>"
        )
