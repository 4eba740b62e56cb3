"""The writer of ended snapshots: checks a snapshot and writes it (one process, or the
ranks of a multi-process recording), in the background thread when there is one, with at
most one write in flight; a failed write is raised at the recorder's next call."""

from __future__ import annotations

from typing import Any

import numpy as np

from reprdynamics.errors import RecordingError, ReprDynamicsError
from reprdynamics.recording.buffer import _Buffer
from reprdynamics.recording.ranks import merge_parts, warn_incomplete, write_part


class _SnapshotWriting:
    """The writing side of :class:`~reprdynamics.recording.recorder.Recorder`."""

    def flush(self) -> None:
        """Wait until every ended snapshot is on disk; re-raise a failed background write.

        The error names the snapshot; that snapshot is not in the run, the ones before it
        are, and recording can go on (the next snapshot takes its place).
        """
        pending, self._pending = self._pending, None
        if pending is not None:
            try:
                pending.result()
            except BaseException:
                self._n_snapshots = self.run.n_snapshots
                raise

    def _write(self, buf: _Buffer, write: dict[str, Any]) -> None:
        """Check and write one ended snapshot (in the writer thread when in background)."""
        buf.check_ids()
        if self.check_finite:
            buf.check_finite(self.dtype)
        try:
            if self.world_size == 1:
                self.run.append_snapshot(buf.layers, **write)
                return
            n = self.n_samples
            written = {name: w[:n] >= 0 for name, w in buf.writers.items()}
            if self.rank > 0:
                rows = np.logical_or.reduce(list(written.values()))
                write_part(
                    self.run,
                    buf.index,
                    self.rank,
                    self.world_size,
                    buf.layers,
                    rows,
                    buf.epoch,
                    self._session,
                )
                self._parts_written = buf.index
                return
            recorded = merge_parts(
                self.run,
                buf.index,
                self.world_size,
                buf.layers,
                written,
                buf.epoch,
                self.rank_timeout,
                self._session,
            )
            warn_incomplete(buf.index, buf.epoch, recorded)
            self.run.append_snapshot(buf.layers, **{**write, "recorded": recorded})
            self.run.drop_parts(buf.index)
        except ReprDynamicsError:
            raise
        except Exception as exc:
            raise RecordingError(
                f"Writing snapshot {buf.index} (epoch {buf.epoch}) to {self.run.location!r} "
                f"failed: {type(exc).__name__}: {exc}. Earlier snapshots are safe."
            ) from exc
