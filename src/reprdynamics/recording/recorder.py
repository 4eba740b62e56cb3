"""The recorder: buffers one snapshot in memory and writes it to the run once, when it ends.

A snapshot ends when the epoch passed to :meth:`Recorder.store_batch` changes, on
:meth:`Recorder.end_snapshot`, on :meth:`Recorder.close`, or when a ``with`` block is left.
Nothing is written per batch: the cost of a batch is one copy into the snapshot buffer
(:mod:`~reprdynamics.recording.buffer`, :mod:`~reprdynamics.recording.batches`); ended
snapshots go to :mod:`~reprdynamics.recording.writer`; the schedule is
:mod:`~reprdynamics.recording.schedule`.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np

from reprdynamics.errors import (
    IncompleteSnapshotWarning,
    InvalidParameterError,
    RecordingError,
    invalid_parameter,
    parse_int,
)
from reprdynamics.recording.batches import _BatchCopying, _to_numpy, _unreadable
from reprdynamics.recording.buffer import _Buffer
from reprdynamics.recording.convert import device_stager, to_numpy
from reprdynamics.recording.ranks import join_run, wait_for_commit
from reprdynamics.recording.schedule import _parse_whole, snapshot_step_size
from reprdynamics.recording.writer import _SnapshotWriting
from reprdynamics.storage.run import KINDS, Run, create_run, open_run
from reprdynamics.validation import Options, Real, check

__all__ = ["IncompleteSnapshotWarning", "Recorder", "snapshot_step_size"]


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


_OWNER = "Recorder.store_batch"


class Recorder(_BatchCopying, _SnapshotWriting):
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
        Write each finished snapshot in a background thread (the default), so
        ``end_snapshot`` (and the batch that starts a new epoch) returns at once and
        training goes on while the snapshot is checked, compressed and written. At most one
        write is in flight (memory: two snapshot buffers). A snapshot is durable once its
        write ends: :meth:`flush` waits for it, :meth:`close` and leaving a ``with`` block
        flush. A process killed during the write loses that snapshot only, never an
        earlier one, and never the run's readability. A failed write raises at the next
        call (``store_batch``, ``end_snapshot``, ``flush`` or ``close``), naming the
        snapshot. ``background=False`` writes on the calling thread: a snapshot is on disk
        when ``end_snapshot`` returns.
    storage_options
        Options for fsspec when ``path`` is a URL, e.g. ``{"key": ..., "secret": ...,
        "client_kwargs": {"endpoint_url": ...}}`` for s3fs. Without them s3fs reads
        credentials and endpoint from the environment (``AWS_ACCESS_KEY_ID``,
        ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL`` ...). Never written into the run.
    rank, world_size
        Several processes recording one run (distributed data-parallel training): every
        process creates a Recorder with the same ``path``, ``n_samples`` and
        ``world_size`` and its own ``rank``, and stores the batches of its own ids. Rank 0
        creates the run (the creation options count only there); each snapshot is
        committed by rank 0 once every rank has written its rows, so a rank that dies
        leaves that snapshot uncommitted and every earlier one intact. The torch and
        Lightning integrations fill these from ``torch.distributed``. See
        ``reprdynamics.recording.ranks``.
    rank_timeout
        Seconds a rank waits for the others (rank 0 for their rows at each snapshot,
        the others for rank 0 to open the run and, when closing, to commit).
    barrier
        Optional ``torch.distributed.barrier``-like callable every rank calls once while
        the run is created: it keeps ranks > 0 from joining an older run at the same
        path that rank 0 is about to overwrite.

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
        background: bool = True,
        storage_options: Mapping[str, Any] | None = None,
        rank: int = 0,
        world_size: int = 1,
        rank_timeout: float = 600.0,
        barrier: Callable[[], Any] | None = None,
    ) -> None:
        world_size = parse_int(world_size, "world_size", "Recorder", low=1)
        rank = parse_int(rank, "rank", "Recorder", low=0, high=world_size - 1)
        seconds = Real(low=0, noun="seconds", finite=False, closed="neither")
        rank_timeout = check(rank_timeout, seconds, "rank_timeout", "Recorder")
        self.rank, self.world_size, self.rank_timeout = rank, world_size, rank_timeout
        self._parts_written: int | None = None  # the last snapshot this rank wrote a part of
        self._session: str | None = None  # rank 0's token of this multi-process recording
        self._rank_label = f" (rank {rank})" if world_size > 1 else ""
        kind = check(kind, Options(KINDS), "kind", "Recorder")
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
        if rank > 0:
            # Rank 0 creates (or reopens) the run; the others join it.
            if barrier is not None:
                barrier()
            self.run = join_run(
                path,
                rank=rank,
                world_size=world_size,
                n_samples=n_samples,
                timeout=self.rank_timeout,
                storage_options=storage_options,
            )
            self._session = self.run.attrs["recording"].get("session")
        elif resume:
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
                labels=_to_numpy(labels, "labels") if labels is not None else None,
                inputs=_to_numpy(inputs, "inputs") if inputs is not None else None,
                class_names=class_names,
                output_layer=output_layer,
                metadata=metadata,
                overwrite=overwrite,
                storage_options=storage_options,
                expected_snapshots=self._expected_snapshots(),
            )
        if rank == 0 and world_size > 1:
            # Parts of a killed recording must go before the other ranks may write theirs;
            # they join only once the run is marked open.
            self.run.drop_all_parts()
            self._session = uuid.uuid4().hex
            self.run.set_recording(
                {"open": True, "world_size": world_size, "session": self._session}
            )
            if barrier is not None:
                barrier()
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
        self._half = self.dtype == np.float16
        # The epoch of the previous batch and whether the schedule records it: a batch of
        # the same epoch skips the epoch checks.
        self._fast_epoch: int | None = None
        self._fast_record = True
        self._buffer: _Buffer | None = None
        self._stager: Any = None  # copies accelerator tensors off the device, made on demand
        self._n_snapshots = self.run.n_snapshots  # written, or being written
        self._sources: list[Callable[[], Any]] = []
        self._flushing_sources = False
        self._closed = False
        self._step = 0
        self.time_in_recorder = 0.0  # seconds spent inside store_batch / end_snapshot

    def _expected_snapshots(self) -> int | None:
        if self.num_epochs is None:
            return None
        return -(-int(self.num_epochs) // self.step_size)

    # ------------------------------------------------------------------ schedule
    def should_record(self, epoch: int) -> bool:
        """Whether the schedule records this epoch (``epoch % step_size == 0``)."""
        return _parse_whole(epoch, "epoch", "Recorder.should_record") % self.step_size == 0

    @property
    def n_snapshots(self) -> int:
        """Snapshots ended so far (including one still being written in the background)."""
        return self._n_snapshots

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
            The current epoch, a whole number (``2`` or ``2.0``, not ``2.7``). A new epoch
            ends the snapshot being assembled. Epochs must not go backwards.
        layer
            Which layer these outputs belong to (default: the run's output layer).
        step
            The training step, a whole number, written with the snapshot.

        An empty batch (no rows) stores nothing and fixes nothing, not even the layer's
        dimension.

        Returns
        -------
        bool
            False when the schedule skips this epoch (nothing stored).
        """
        # Timed inline: a context manager costs as much as the checks on this hot path.
        started = time.perf_counter()
        depth = self._timing_depth
        self._timing_depth = depth + 1
        try:
            # The hot path: a few attribute reads, one copy and one index write per batch.
            # Finiteness is checked once per snapshot (see _Buffer.check_finite).
            if self._closed:
                raise RecordingError("This recorder is closed; open a new one with resume=True.")
            pending = self._pending
            if pending is not None and pending.done():
                self.flush()  # a failed background write surfaces at the next call
            if epoch is not None:
                if type(epoch) is not int:  # a tensor, a NumPy integer, a whole float
                    epoch = _parse_whole(epoch, "epoch", _OWNER)
                if epoch != self._fast_epoch:
                    if not self._enter_epoch(epoch):
                        return False
                elif not self._fast_record:
                    return False
            buf = self._buffer
            if buf is None:
                buf = self._buffer = _Buffer(
                    self.n_samples, epoch, self._n_snapshots, self._rank_label
                )
            if step is not None:
                self._step = step if type(step) is int else _parse_whole(step, "step", _OWNER)
            if type(representation) is not np.ndarray:
                make = device_stager(representation)
                if make is not None:  # an accelerator tensor: copied without waiting for it
                    if self._stager is None:
                        self._stager = make()
                    return self._stage(self._stager, representation, ids, layer, buf)
                try:
                    representation = to_numpy(representation)
                except Exception as exc:
                    where = f"at {buf.where(buf.n_batches)}"
                    raise _unreadable("representation", where, exc) from exc
            batch = buf.n_batches
            if self._put(representation, ids, layer, buf, batch):
                buf.n_batches = batch + 1  # a refused (or empty) batch does not count
            return True
        finally:
            self._timing_depth = depth
            if depth == 0:  # store_batch may end a snapshot: count it once
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
        if buf is not None:
            return buf.where(buf.n_batches)
        return f"batch 0 of snapshot {self._n_snapshots}{self._rank_label}"

    def _enter_epoch(self, epoch: int) -> bool:
        """The checks of a batch whose epoch differs from the previous batch's; then whether
        the schedule records it. Ends the pending snapshot of an earlier epoch."""
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
        # epoch, so a finished snapshot is written before the next epoch's work starts.
        pending = self._buffer
        if pending is not None and pending.epoch is not None and epoch != pending.epoch:
            self.end_snapshot()
        record = self.should_record(epoch)
        self._fast_epoch, self._fast_record = epoch, record
        return record

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
        dropped rather than attached to an earlier epoch's snapshot. ``epoch`` and ``step``
        are whole numbers, as in :meth:`store_batch`.
        """
        if epoch is not None:
            epoch = _parse_whole(epoch, "epoch", "Recorder.end_snapshot")
        if step is not None:
            step = _parse_whole(step, "step", "Recorder.end_snapshot")
        with self._timed():
            self._flush_sources()
            self._drain(wait=True)  # device copies in flight land in this snapshot
            buf = self._buffer
            if buf is None or buf.n_batches == 0:
                # Only refused or empty batches: nothing to write, and the next batch (maybe
                # of another epoch) starts a fresh buffer rather than one tagged this epoch.
                self._buffer = None
                if metrics and self._n_snapshots and self.rank == 0:
                    self.flush()
                    last = self.run.epochs[-1]
                    this = self._current_epoch if epoch is None else epoch
                    if this is None or last is None or this == last:
                        self.run.set_metrics(-1, metrics)
                return False
            missing_layers = set(self._dims) - set(buf.layers)
            if missing_layers:
                raise RecordingError(
                    f"Snapshot {buf.index} has no batches for layer(s) "
                    f"{sorted(missing_layers)}; every snapshot must record every layer."
                )
            recorded = buf.recorded()
            n_missing = int(self.n_samples - np.count_nonzero(recorded))
            if n_missing and self.world_size == 1:  # several ranks: rank 0 warns, merged
                warnings.warn(
                    f"Snapshot {buf.index} (epoch {buf.epoch}) ends with {n_missing} "
                    f"of {self.n_samples} samples never recorded; it is written with "
                    f"complete=False and NaN rows for them.",
                    IncompleteSnapshotWarning,
                    stacklevel=_caller_stacklevel(),
                )
            if epoch is not None:
                buf.epoch = epoch
            write = dict(
                epoch=buf.epoch,
                step=step if step is not None else self._step,
                metrics=metrics,
                recorded=recorded,
                dtype=self.dtype,
            )
            self._buffer = None
            # One write in flight at most: wait for the previous one (and surface its error).
            self.flush()
            if self._writer is not None:
                self._pending = self._writer.submit(self._write, buf, write)
            else:
                self._write(buf, write)
            self._n_snapshots += 1
            self._last_written_epoch = buf.epoch
            if buf.epoch is not None and (
                self._current_epoch is None or buf.epoch > self._current_epoch
            ):
                self._current_epoch = buf.epoch
                self._fast_epoch = None  # the next batch runs the epoch checks again
            return True

    def close(self) -> None:
        """End the current snapshot, if any, and refuse further batches."""
        if not self._closed:
            try:
                self.end_snapshot()
                self.flush()
                if self.rank > 0:
                    if self._parts_written is not None:  # durable means committed by rank 0
                        wait_for_commit(
                            self.run,
                            self._parts_written,
                            self.rank,
                            self.rank_timeout,
                            self._session,
                        )
                else:
                    self.run.consolidate()  # opening the finished run reads one object
                    if self.world_size > 1:
                        self.run.set_recording(
                            {"open": False, "world_size": self.world_size, "session": self._session}
                        )
            finally:
                self._closed = True
                if self._writer is not None:
                    self._writer.shutdown(wait=True)

    def abort(self) -> None:
        """Drop the snapshot being assembled (nothing is written) and close.

        Snapshots already ended are still written to the end.
        """
        if self._stager is not None:
            self._stager.discard()
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
