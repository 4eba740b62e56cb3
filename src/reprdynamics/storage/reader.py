""":class:`Run`: a training run on disk, open for reading (and, opened with ``mode="r+"``,
for appending).

The class holds the run's handles and what it knows of its metadata, and reads; the mixins
it is made of each hold one concept: entries, appending, metrics, extras, parts, checks at
open, damage, the cache and its bound."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import zarr
import zarr.errors

from reprdynamics.errors import (
    CorruptRunError,
    InvalidParameterError,
    LayerNotFoundError,
    UnknownSampleError,
    invalid_parameter,
)
from reprdynamics.storage.appending import _Appending
from reprdynamics.storage.cache import _Cache
from reprdynamics.storage.cache_bound import _CacheBound
from reprdynamics.storage.checks import _MetadataChecks
from reprdynamics.storage.damage import _DamageChecks
from reprdynamics.storage.entries import SnapshotInfo, _Entries
from reprdynamics.storage.extras import _Extras
from reprdynamics.storage.layout import _DENSE
from reprdynamics.storage.location import _is_url, _opts, _store_errors
from reprdynamics.storage.metrics import _Metrics
from reprdynamics.storage.parts import _Parts


class Run(
    _Entries,
    _Appending,
    _Metrics,
    _Extras,
    _Parts,
    _MetadataChecks,
    _DamageChecks,
    _Cache,
    _CacheBound,
):
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

    def _key(self, *parts: str) -> str:
        """A key of the store, relative to the store's root, inside this run's group."""
        root = self._group.path
        return "/".join([root, *parts] if root else parts)

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

    def _require_writable(self) -> None:
        if not self.writable:
            raise PermissionError(
                f"The run at {self.location!r} is open read-only; open it with mode='r+'."
            )

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

    def __repr__(self) -> str:
        layers = ", ".join(f"{n}[{self.layer_dim(n)}]" for n in self.layers)
        return (
            f"<Run {self.location!r}: T={self.n_snapshots}, N={self.n_samples}, "
            f"kind={self.kind}, layers={layers or 'none'}>"
        )
