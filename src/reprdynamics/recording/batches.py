"""Copying one batch into the snapshot buffer: the recorder's hot path, and its errors.

Host arrays are copied at once; accelerator tensors are staged (their copy to the host
starts, and is taken when it has landed). Every error names the batch, the snapshot and
what to pass instead. Sources that hold batches back (framework hooks grouping rows)
hand them over before a snapshot ends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from reprdynamics.errors import RecordingError
from reprdynamics.recording.buffer import _Buffer
from reprdynamics.recording.convert import to_ids, to_numpy

_INT64, _FLOAT32 = np.dtype(np.int64), np.dtype(np.float32)  # `is` is cheaper than ==


def _unreadable(argument: str, where: str, exc: Exception) -> RecordingError:
    """The error for an argument that could not be converted to an array.

    Whatever the framework raised (NumPy's ValueError for a ragged list, torch's
    NotImplementedError for a tensor on the ``meta`` device, ...) becomes one error that
    names the argument; the original is chained.
    """
    return RecordingError(
        f"The {argument!r} argument {where} cannot be read as an array: "
        f"{type(exc).__name__}: {str(exc).rstrip('.')}. Pass a NumPy array, a tensor holding "
        f"data (not one on the 'meta' device) or a rectangular list of numbers."
    )


def _to_numpy(value: Any, argument: str) -> np.ndarray:
    """``to_numpy(value)`` for an argument of the constructor (not the hot path)."""
    try:
        return to_numpy(value)
    except Exception as exc:
        raise _unreadable(argument, "of Recorder", exc) from exc


class _BatchCopying:
    """The batch side of :class:`~reprdynamics.recording.recorder.Recorder`."""

    def _put(
        self, values: np.ndarray, ids: Any, layer: str | None, buf: _Buffer, batch: int
    ) -> bool:
        """Copy batch number ``batch`` into the snapshot buffer: the hot path.

        False for an empty batch, which stores nothing: its shape (``(0,)`` is taken as
        ``(0, 1)``) says nothing about the layer's dimension.
        """
        if type(ids) is np.ndarray and ids.dtype is _INT64 and ids.ndim == 1:
            idx = ids
        else:
            idx = self._parse_ids(ids, buf, batch)
        if values.ndim != 2:
            values = self._as_rows(values, buf, batch)
        if len(values) != len(idx):
            raise RecordingError(
                f"The representation at {buf.where(batch)} has {values.shape[0]} rows "
                f"but {idx.shape[0]} ids were given; they must match."
            )
        dtype = values.dtype
        if dtype is not _FLOAT32 and dtype.kind not in "fiub":
            raise RecordingError(
                f"The representation at {buf.where(batch)} has dtype {values.dtype}; "
                f"expected numbers."
            )
        if not len(idx):
            return False
        layer = layer or self._output_layer
        target = buf.layers.get(layer)
        if target is None:
            target = self._new_layer(buf, layer, values.shape[1], batch)
        elif values.shape[1] != target.shape[1]:
            raise self._dim_error(buf, layer, values.shape[1], target.shape[1], batch)
        try:  # NumPy checks every id < N before it copies anything (negatives: check_ids)
            if self._half or (dtype is not _FLOAT32 and dtype.kind == "f" and dtype.itemsize > 4):
                # A value beyond the storage dtype's range becomes inf in the cast; the
                # snapshot's end refuses it naming batch, sample and value (no warning here).
                with np.errstate(over="ignore"):
                    target[idx] = values
            else:
                target[idx] = values
        except IndexError:
            raise self._range_error(buf, idx, batch) from None
        # Duplicate ids: NumPy assigns in order, so the last write wins (values and writer).
        buf.writers[layer][idx] = batch
        return True

    def _stage(self, stager: Any, tensor: Any, ids: Any, layer: str | None, buf: _Buffer) -> bool:
        """An accelerator tensor: start its copy to the host, take it when it has landed.

        What needs no data (shapes, the layer's dimension) is checked now; the ids and the
        values when the copy is taken, still naming this batch.
        """
        batch = buf.n_batches
        shape = tuple(tensor.shape)
        if len(shape) == 0:
            raise RecordingError(
                f"The representation at {buf.where(batch)} is a scalar; expected (B, D)."
            )
        n_ids = len(ids) if hasattr(ids, "__len__") else None
        if n_ids is not None and n_ids != shape[0]:
            raise RecordingError(
                f"The representation at {buf.where(batch)} has {shape[0]} rows but {n_ids} "
                f"ids were given; they must match."
            )
        if shape[0] == 0:  # an empty batch: nothing to copy, no dimension fixed
            return True
        layer = layer or self._output_layer
        dim = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
        known = buf.layers.get(layer)
        expected = known.shape[1] if known is not None else self._dims.get(layer)
        if expected is not None and dim != expected:
            raise self._dim_error(buf, layer, dim, expected, batch)
        buf.n_batches = batch + 1
        stager.stage(tensor, ids, layer, batch, self._step)
        if stager.pending_rows > self.n_samples:  # bound the host memory in flight
            self._drain(wait=False)
        return True

    def _drain(self, *, wait: bool) -> None:
        """Copy staged device batches that have landed (all of them when ``wait``)."""
        stager, buf = self._stager, self._buffer
        if stager is None or buf is None:
            return
        for values, ids, layer, batch, _step in stager.ready(wait):
            self._put(values, ids, layer, buf, batch)

    def _parse_ids(self, ids: Any, buf: _Buffer, batch: int) -> np.ndarray:
        try:
            idx = to_ids(ids)
        except Exception as exc:
            raise _unreadable("ids", f"at {buf.where(batch)}", exc) from exc
        if idx.size and idx.dtype.kind not in "iu":
            if idx.dtype.kind == "f" and np.all(idx == np.round(idx)):
                return idx.astype(np.int64)
            raise RecordingError(
                f"The ids at {buf.where(batch)} must be integers; got dtype {idx.dtype}."
            )
        if idx.dtype.kind == "u" and idx.size and int(idx.max()) >= self.n_samples:
            raise self._range_error(buf, idx, batch)
        return idx.astype(np.int64, copy=False)

    def _as_rows(self, values: np.ndarray, buf: _Buffer, batch: int) -> np.ndarray:
        if values.ndim == 0:
            raise RecordingError(
                f"The representation at {buf.where(batch)} is a scalar; expected (B, D)."
            )
        if values.ndim == 1:
            return values[:, None]
        return values.reshape(values.shape[0], -1)

    def _range_error(self, buf: _Buffer, idx: np.ndarray, batch: int) -> RecordingError:
        wide = idx.astype(np.int64)
        bad = wide[(wide < 0) | (wide >= self.n_samples)]
        return RecordingError(
            f"{bad.size} id(s) at {buf.where(batch)} are outside "
            f"[0, {self.n_samples}): e.g. {bad[:5].tolist()}."
        )

    def _dim_error(
        self, buf: _Buffer, layer: str, got: int, dim: int, batch: int
    ) -> RecordingError:
        return RecordingError(
            f"The representation of layer {layer!r} at {buf.where(batch)} has "
            f"{got} dimensions, but earlier batches had {dim}; it must not change."
        )

    def _new_layer(self, buf: _Buffer, layer: str, got: int, batch: int) -> np.ndarray:
        """The first batch of a layer in this snapshot: check it against earlier snapshots."""
        dim = self._dims.get(layer)
        if dim is not None and got != dim:
            raise self._dim_error(buf, layer, got, dim, batch)
        if dim is None:
            if self._n_snapshots > 0:
                raise RecordingError(
                    f"Layer {layer!r} appears at {buf.where(batch)}, but the run's "
                    f"earlier snapshots record only {sorted(self._dims)}. Record the same "
                    f"layers in every snapshot."
                )
            self._dims[layer] = got
        return buf.layer(layer, got, self.dtype)

    def add_batch_source(self, flush: Callable[[], Any]) -> None:
        """Register something that holds batches back (e.g. framework hooks grouping rows).

        ``flush()`` must hand its pending batches to :meth:`store_batch`; it is called
        before a snapshot ends and before the recorder closes, so those batches land in the
        snapshot they belong to.
        """
        if flush not in self._sources:
            self._sources.append(flush)

    def remove_batch_source(self, flush: Callable[[], Any]) -> None:
        """Forget a source added with :meth:`add_batch_source` (no error if absent)."""
        if flush in self._sources:
            self._sources.remove(flush)

    def _flush_sources(self) -> None:
        if self._flushing_sources:  # a source's batches may themselves end a snapshot
            return
        self._flushing_sources = True
        try:
            for flush in list(self._sources):
                flush()
        finally:
            self._flushing_sources = False
