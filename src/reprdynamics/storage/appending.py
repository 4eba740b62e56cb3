"""Appending a snapshot: its arrays first, then its entry, the commit point.

The arrays of snapshot ``t`` are written first (each chunk file atomically), and only then
is its entry created (:mod:`reprdynamics.storage.entries`). A process killed mid-snapshot
therefore leaves at most some rows beyond ``T``, which readers ignore and the next append
overwrites. Arrays are pre-sized and grown by doubling, so an append does not rewrite
their metadata; nothing written per snapshot grows with ``T``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import zarr
from zarr.core.sync import sync as _zarr_sync

from reprdynamics.errors import InvalidParameterError, invalid_parameter
from reprdynamics.storage.entries import SnapshotInfo
from reprdynamics.storage.layout import (
    _DENSE,
    _LAYER_CODECS,
    _MIN_CAPACITY,
    _rows_per_chunk,
    dimension_names,
)
from reprdynamics.storage.metrics import _json_number


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


class _Appending:
    """Writing one whole snapshot of every layer, and committing it."""

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
