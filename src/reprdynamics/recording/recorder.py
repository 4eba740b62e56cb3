"""The recorder: buffers one snapshot in memory and writes it to the run once, when it ends.

A snapshot ends when the epoch passed to :meth:`Recorder.store_batch` changes, on
:meth:`Recorder.end_snapshot`, on :meth:`Recorder.close`, or when a ``with`` block is left.
Nothing is written per batch: the cost of a batch is one copy into the snapshot buffer.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np

from reprdynamics.errors import (
    InvalidParameterError,
    RecordingError,
    invalid_parameter,
    parse_int,
)
from reprdynamics.recording.convert import to_ids, to_numpy
from reprdynamics.storage.run import KINDS, Run, create_run, open_run

__all__ = ["IncompleteSnapshotWarning", "Recorder", "snapshot_step_size"]


class IncompleteSnapshotWarning(UserWarning):
    """A snapshot ended before every sample was recorded."""


def snapshot_step_size(num_epochs: int, num_snapshots: int) -> int:
    """Epochs between snapshots so that ``num_snapshots`` cover ``num_epochs``.

    The original tool used ``int(num_epochs / num_snapshots)``, which is 0 (and then
    divides by zero) when more snapshots than epochs are asked for; we never go below 1.

    >>> snapshot_step_size(100, 20)
    5
    >>> snapshot_step_size(3, 10)
    1
    """
    for name, value in (("num_epochs", num_epochs), ("num_snapshots", num_snapshots)):
        parse_int(value, name, "the snapshot schedule", low=1)
    return max(1, int(num_epochs) // int(num_snapshots))


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the user's line, not at this module.

    A snapshot ends from ``end_snapshot``, ``store_batch``, ``close`` or ``__exit__``, so the
    user's frame is a varying number of levels up.
    """
    frame = sys._getframe(1)  # the function that calls warnings.warn
    level = 1
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
        level += 1
    return level


class _LazyText:
    """Formats an error location only when an error message needs it."""

    def __init__(self, make, *args) -> None:
        self._make, self._args = make, args

    def __str__(self) -> str:
        return self._make(*self._args)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


class _Buffer:
    """One snapshot being assembled: a dense (N, D) array per layer and a seen-mask."""

    def __init__(self, n_samples: int, epoch: int | None) -> None:
        self.n_samples = n_samples
        self.epoch = epoch
        self.layers: dict[str, np.ndarray] = {}
        self.seen: dict[str, np.ndarray] = {}
        self.n_batches = 0

    def layer(self, name: str, dim: int, dtype: np.dtype) -> np.ndarray:
        buf = self.layers.get(name)
        if buf is None:
            buf = np.full((self.n_samples, dim), np.nan, dtype=dtype)
            self.layers[name] = buf
            self.seen[name] = np.zeros(self.n_samples, dtype=bool)
        return buf


class Recorder:
    """Record per-sample outputs of a network, one snapshot at a time, into a run.

    Parameters
    ----------
    path
        Where the run is created: a directory, or a URL Zarr's fsspec store layer
        understands (``s3://bucket/run``).
    n_samples
        N, the number of samples (ids are ``0 .. N-1``).
    labels, inputs, class_names
        Optional per-sample labels (``-1`` unknown), inputs for thumbnails, class names.
    kind
        What the output layer (``"logits"`` by default) holds: ``"logits"``,
        ``"probabilities"`` or ``"features"``.
    num_epochs, num_snapshots
        Optional schedule: record every ``step_size = num_epochs // num_snapshots`` epochs
        (see :meth:`should_record`). Batches stored in other epochs are ignored.
    every_n_epochs
        Alternative schedule given directly as the step.
    dtype
        Storage dtype of representations: ``"float32"`` (default) or ``"float16"``.
    overwrite, resume
        Replace an existing run, or append to it (``resume=True``) after a restart.
    background
        Write each finished snapshot in a background thread, so ``end_snapshot`` (and the
        batch that starts a new epoch) returns at once and training goes on while the
        snapshot is compressed and written. At most one write is in flight (memory: two
        snapshot buffers). The trade-off: a snapshot is durable only once its write ends
        — :meth:`flush` waits for it — so a process killed within that window loses the
        latest snapshot (never an earlier one, and never the run's readability). Off by
        default: then a snapshot is on disk when ``end_snapshot`` returns.
    storage_options
        Options for fsspec when ``path`` is a URL, e.g. ``{"key": ..., "secret": ...,
        "client_kwargs": {"endpoint_url": ...}}`` for s3fs. Without them s3fs reads
        credentials and endpoint from the environment (``AWS_ACCESS_KEY_ID``,
        ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL`` ...). Never written into the run.

    Notes
    -----
    Duplicate ids within one snapshot: the last write wins. A snapshot that ends with ids
    never seen is written with ``complete=False`` (its missing rows are NaN) and an
    :class:`IncompleteSnapshotWarning` says how many are missing.

    Examples
    --------
    >>> import numpy as np, tempfile, reprdynamics as rd
    >>> path = tempfile.mkdtemp() + "/run"
    >>> with rd.Recorder(path, n_samples=4, labels=[0, 1, 0, 1]) as rec:
    ...     for epoch in range(2):
    ...         _ = rec.store_batch(np.random.randn(4, 2), ids=[0, 1, 2, 3], epoch=epoch)
    >>> rd.open_run(path).n_snapshots
    2
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        n_samples: int | None = None,
        *,
        labels: Any = None,
        inputs: Any = None,
        class_names: list[str] | None = None,
        kind: str = "logits",
        output_layer: str = "logits",
        num_epochs: int | None = None,
        num_snapshots: int | None = None,
        every_n_epochs: int | None = None,
        dtype: str = "float32",
        metadata: Mapping[str, Any] | None = None,
        overwrite: bool = False,
        resume: bool = False,
        check_finite: bool = True,
        background: bool = False,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        if kind not in KINDS:
            raise invalid_parameter("kind", "Recorder", f"one of {KINDS}", kind)
        if np.dtype(dtype) not in (np.dtype("float32"), np.dtype("float16")):
            raise invalid_parameter("dtype", "Recorder", "'float32' or 'float16'", dtype)
        if every_n_epochs is not None and (num_epochs is not None or num_snapshots is not None):
            raise InvalidParameterError(
                "Give either every_n_epochs or num_epochs with num_snapshots, not both."
            )
        if (num_epochs is None) != (num_snapshots is None):
            raise InvalidParameterError("num_epochs and num_snapshots go together; give both.")
        if num_epochs is not None:
            self.step_size = snapshot_step_size(num_epochs, num_snapshots)  # type: ignore[arg-type]
        elif every_n_epochs is not None:
            self.step_size = parse_int(every_n_epochs, "every_n_epochs", "Recorder", low=1)
        else:
            self.step_size = 1
        self.num_epochs = num_epochs
        self.num_snapshots = num_snapshots
        self.dtype = np.dtype(dtype)
        self.check_finite = check_finite
        self._writer = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="reprdynamics-writer")
            if background
            else None
        )
        self._pending: Future[Any] | None = None
        if resume:
            self.run: Run = open_run(path, mode="r+", storage_options=storage_options)
            if n_samples is not None and n_samples != self.run.n_samples:
                raise invalid_parameter(
                    "n_samples", "Recorder", f"{self.run.n_samples} (the run's N)", n_samples
                )
        else:
            if n_samples is None:
                raise invalid_parameter("n_samples", "Recorder", "an int >= 1", None)
            self.run = create_run(
                path,
                n_samples=n_samples,
                kind=kind,
                labels=to_numpy(labels) if labels is not None else None,
                inputs=to_numpy(inputs) if inputs is not None else None,
                class_names=class_names,
                output_layer=output_layer,
                metadata=metadata,
                overwrite=overwrite,
                storage_options=storage_options,
            )
        self.n_samples = self.run.n_samples
        self._output_layer = self.run.output_layer
        self._dims: dict[str, int] = {n: self.run.layer_dim(n) for n in self.run.layers}
        if self.run.layers:
            # A resumed run keeps the storage dtype it was created with.
            self.dtype = self.run.layer_dtype(self.run.layers[0])
        epochs = [e for e in self.run.epochs if e is not None]
        self._last_written_epoch: int | None = epochs[-1] if epochs else None
        # The latest epoch handed to store_batch, recorded by the schedule or not.
        self._current_epoch: int | None = self._last_written_epoch
        # A resumed recording must start after the last recorded epoch: restarting from an
        # older checkpoint would otherwise repeat epochs in the run.
        self._resume_floor: int | None = self._last_written_epoch if resume else None
        self._timing_depth = 0
        self._buffer: _Buffer | None = None
        self._n_snapshots = self.run.n_snapshots  # written, or being written
        self._sources: list[Callable[[], Any]] = []
        self._flushing_sources = False
        self._closed = False
        self._step = 0
        self.time_in_recorder = 0.0  # seconds spent inside store_batch / end_snapshot

    # ------------------------------------------------------------------ schedule
    def should_record(self, epoch: int) -> bool:
        """Whether the schedule records this epoch (``epoch % step_size == 0``)."""
        return int(epoch) % self.step_size == 0

    @property
    def n_snapshots(self) -> int:
        """Snapshots ended so far (including one still being written in the background)."""
        return self._n_snapshots

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

    def flush(self) -> None:
        """Wait until every ended snapshot is on disk; re-raise a failed background write."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    # ------------------------------------------------------------------ recording
    def store_batch(
        self,
        representation: Any,
        ids: Any,
        epoch: int | None = None,
        layer: str | None = None,
        *,
        step: int | None = None,
    ) -> bool:
        """Copy one batch of outputs into the current snapshot.

        Parameters
        ----------
        representation
            ``(B, D)`` outputs (``(B,)`` is taken as ``D = 1``; higher ranks are flattened
            per sample): a torch tensor (any device, with grad), NumPy array, or anything
            with ``__array__`` / ``__dlpack__``.
        ids
            ``(B,)`` sample ids in ``[0, n_samples)``.
        epoch
            The current epoch. A new epoch ends the snapshot being assembled. Epochs must
            not go backwards.
        layer
            Which layer these outputs belong to (default: the run's output layer).

        Returns
        -------
        bool
            False when the schedule skips this epoch (nothing stored).
        """
        # Timed inline: a context manager costs as much as the checks on this hot path.
        started = time.perf_counter()
        self._timing_depth += 1
        try:
            return self._store_batch(representation, ids, epoch, layer, step)
        finally:
            self._timing_depth -= 1
            if self._timing_depth == 0:  # store_batch may end a snapshot: count it once
                self.time_in_recorder += time.perf_counter() - started

    @contextmanager
    def _timed(self) -> Iterator[None]:
        started = time.perf_counter()
        self._timing_depth += 1
        try:
            yield
        finally:
            self._timing_depth -= 1
            if self._timing_depth == 0:
                self.time_in_recorder += time.perf_counter() - started

    def _where(self, buffer: _Buffer | None = None) -> str:
        buf = buffer or self._buffer
        t = self._n_snapshots
        batch = buf.n_batches if buf is not None else 0
        epoch = f", epoch {buf.epoch}" if buf is not None and buf.epoch is not None else ""
        return f"batch {batch} of snapshot {t}{epoch}"

    def _store_batch(
        self, representation: Any, ids: Any, epoch: int | None, layer: str | None, step: int | None
    ) -> bool:
        if self._closed:
            raise RecordingError("This recorder is closed; open a new one with resume=True.")
        layer = layer or self._output_layer
        if epoch is not None:
            epoch = int(epoch)
            current = self._current_epoch
            if current is not None and epoch < current:
                raise RecordingError(
                    f"Epoch went backwards at {self._where()}: got epoch {epoch} after "
                    f"epoch {current}. Epochs passed to store_batch must not decrease."
                )
            floor = self._resume_floor
            if floor is not None:
                if epoch <= floor:
                    raise RecordingError(
                        f"The run at {self.run.location!r} already holds epoch {floor}; a "
                        f"resumed recording must continue with a later epoch, got {epoch}. "
                        f"(Restarted from an older checkpoint? Record into a new run.)"
                    )
                self._resume_floor = None
            self._current_epoch = epoch
            # A new epoch ends the pending snapshot even when the schedule skips the new
            # epoch, so a finished snapshot is on disk before the next epoch's work starts.
            pending = self._buffer
            if pending is not None and pending.epoch is not None and epoch != pending.epoch:
                self.end_snapshot()
            if not self.should_record(epoch):
                return False
        if self._buffer is None:
            self._buffer = _Buffer(self.n_samples, epoch)
        buf = self._buffer
        where = _LazyText(self._where, buf)

        values = to_numpy(representation)
        idx = to_ids(ids)
        if values.ndim == 0:
            raise RecordingError(f"The representation at {where} is a scalar; expected (B, D).")
        if values.ndim == 1:
            values = values[:, None]
        elif values.ndim > 2:
            values = values.reshape(values.shape[0], -1)
        if idx.size and idx.dtype.kind not in "iu":
            if idx.dtype.kind == "f" and np.all(idx == np.round(idx)):
                idx = idx.astype(np.int64)
            else:
                raise RecordingError(f"The ids at {where} must be integers; got dtype {idx.dtype}.")
        if values.shape[0] != idx.shape[0]:
            raise RecordingError(
                f"The representation at {where} has {values.shape[0]} rows but {idx.shape[0]} "
                f"ids were given; they must match."
            )
        # One pass: negative ids wrap to huge values when viewed as unsigned.
        if idx.size and (idx.astype(np.uint64, copy=False) >= self.n_samples).any():
            bad = idx[(idx < 0) | (idx >= self.n_samples)]
            raise RecordingError(
                f"{bad.size} id(s) at {where} are outside [0, {self.n_samples}): "
                f"e.g. {bad[:5].tolist()}."
            )
        if values.dtype.kind not in "fiub":
            raise RecordingError(
                f"The representation at {where} has dtype {values.dtype}; expected numbers."
            )
        dim = self._dims.get(layer)
        if dim is not None and values.shape[1] != dim:
            raise RecordingError(
                f"The representation of layer {layer!r} at {where} has {values.shape[1]} "
                f"dimensions, but earlier batches had {dim}; it must not change."
            )
        if self.check_finite and values.dtype.kind == "f" and not np.isfinite(values).all():
            n_bad = int((~np.isfinite(values)).any(axis=1).sum())
            raise RecordingError(
                f"The representation of layer {layer!r} at {where} holds NaN or inf in "
                f"{n_bad} row(s); the run keeps only finite values. (Training may have "
                f"diverged; earlier snapshots are safe on disk.)"
            )
        if self.dtype == np.float16 and values.dtype.kind in "fiu" and values.size:
            # Beyond ±65504 float16 turns a finite value into inf; refuse rather than store it.
            magnitude = np.abs(values.astype(np.float64, copy=False))
            if (magnitude[np.isfinite(magnitude)] > np.finfo(np.float16).max).any():
                raise RecordingError(
                    f"The representation of layer {layer!r} at {where} holds values beyond "
                    f"the float16 range (|x| > {np.finfo(np.float16).max:g}); record with "
                    f"dtype='float32'."
                )
        if dim is None:
            if self._n_snapshots > 0:
                raise RecordingError(
                    f"Layer {layer!r} appears at {where}, but the run's earlier snapshots "
                    f"record only {sorted(self._dims)}. Record the same layers in every snapshot."
                )
            self._dims[layer] = values.shape[1]
        target = buf.layer(layer, values.shape[1], self.dtype)
        target[idx] = values  # duplicate ids: NumPy assigns in order, so the last write wins
        buf.seen[layer][idx] = True
        buf.n_batches += 1
        if step is not None:
            self._step = int(step)
        return True

    def end_snapshot(
        self,
        metrics: Mapping[str, Any] | None = None,
        *,
        epoch: int | None = None,
        step: int | None = None,
    ) -> bool:
        """Write the snapshot being assembled, with optional metrics. False if empty.

        With nothing pending, ``metrics`` are added to the last written snapshot when it
        belongs to the current epoch (or to ``epoch``, if given): metrics that arrive after
        the snapshot already ended implicitly. Metrics of an epoch the schedule skipped are
        dropped rather than attached to an earlier epoch's snapshot.
        """
        with self._timed():
            self._flush_sources()
            buf = self._buffer
            if buf is None or buf.n_batches == 0:
                if metrics and self._n_snapshots:
                    self.flush()
                    last = self.run.epochs[-1]
                    this = self._current_epoch if epoch is None else int(epoch)
                    if this is None or last is None or this == last:
                        self.run.set_metrics(-1, metrics)
                return False
            missing_layers = set(self._dims) - set(buf.layers)
            if missing_layers:
                raise RecordingError(
                    f"Snapshot {self._n_snapshots} has no batches for layer(s) "
                    f"{sorted(missing_layers)}; every snapshot must record every layer."
                )
            recorded = np.logical_and.reduce(list(buf.seen.values()))
            n_missing = int(self.n_samples - recorded.sum())
            if n_missing:
                warnings.warn(
                    f"Snapshot {self._n_snapshots} (epoch {buf.epoch}) ends with {n_missing} "
                    f"of {self.n_samples} samples never recorded; it is written with "
                    f"complete=False and NaN rows for them.",
                    IncompleteSnapshotWarning,
                    stacklevel=_caller_stacklevel(),
                )
            if epoch is not None:
                buf.epoch = int(epoch)
            write = dict(
                epoch=buf.epoch,
                step=step if step is not None else self._step,
                metrics=metrics,
                recorded=recorded,
                dtype=self.dtype,
            )
            # One write in flight at most: wait for the previous one (and surface its error).
            self.flush()
            if self._writer is not None:
                self._pending = self._writer.submit(self.run.append_snapshot, buf.layers, **write)
            else:
                self.run.append_snapshot(buf.layers, **write)
            self._n_snapshots += 1
            self._last_written_epoch = buf.epoch
            if buf.epoch is not None and (
                self._current_epoch is None or buf.epoch > self._current_epoch
            ):
                self._current_epoch = buf.epoch
            self._buffer = None
            return True

    def close(self) -> None:
        """End the current snapshot, if any, and refuse further batches."""
        if not self._closed:
            try:
                self.end_snapshot()
                self.flush()
            finally:
                self._closed = True
                if self._writer is not None:
                    self._writer.shutdown(wait=True)

    def abort(self) -> None:
        """Drop the snapshot being assembled (nothing is written) and close.

        Snapshots already ended are still written to the end.
        """
        self._buffer = None
        self._closed = True
        if self._writer is not None:
            self._writer.shutdown(wait=True)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            # Keep only what was complete before the failure: a half-assembled snapshot
            # from a crashed step is dropped rather than written as if it were whole.
            self.abort()
            pending, self._pending = self._pending, None
            if pending is not None and pending.exception() is not None:
                warnings.warn(
                    f"Writing the last ended snapshot failed too: {pending.exception()}",
                    RuntimeWarning,
                    stacklevel=2,
                )

    def __repr__(self) -> str:
        pending = self._buffer.n_batches if self._buffer else 0
        return (
            f"<Recorder {self.run.location!r}: {self._n_snapshots} snapshots, "
            f"{pending} pending batches>"
        )
