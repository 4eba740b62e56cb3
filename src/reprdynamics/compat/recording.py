"""The recording side of ``ReprD``: the seed's ``store_batch`` calls onto a Recorder.

``ReprD(save_path=DIR)`` records into a run (the Zarr format of
:mod:`reprdynamics.storage.run`) at ``DIR/run``, through a
:class:`~reprdynamics.recording.Recorder`, instead of rewriting ``DIR/snapshots.json``
after every batch (quadratic in the number of batches, and corrupt if killed mid-write).
``ReprDataset.save(DIR)`` writes ``DIR/data/data.npy`` and ``DIR/data/labels.npy``; they go
into the run as inputs and labels when they are there already (the original's README
saves the dataset first).

A snapshot is written when the epoch moves to the next snapshot. The last one is written
without any new call: by the first analysis, when the recording is garbage-collected, and
at interpreter exit (see :mod:`reprdynamics.compat._exit`).
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from reprdynamics.compat._exit import before_thread_pools_shut
from reprdynamics.compat._parse import parse_epoch
from reprdynamics.errors import RecordingError
from reprdynamics.recording import Recorder
from reprdynamics.storage.run import Run, is_run

__all__ = ["SeedRecording", "load_saved_dataset"]


class SeedRecording:
    """Snapshots assembled from the seed's ``store_batch(representation, ids, epoch)``.

    Parameters
    ----------
    run_path
        Where the run is written.
    n_samples
        N.
    step_size
        Epochs per snapshot: a batch of epoch ``e`` belongs to snapshot ``e // step_size``,
        recorded under the first epoch that stored into it.
    labels, inputs
        Stored with the run (e.g. what :func:`load_saved_dataset` found).
    metadata
        The run's metadata.
    overwrite
        Replace a run already at ``run_path``.
    """

    def __init__(
        self,
        run_path: Path,
        n_samples: int,
        step_size: int,
        *,
        labels: Any = None,
        inputs: Any = None,
        metadata: Mapping[str, Any] | None = None,
        overwrite: bool = False,
    ) -> None:
        self.step_size = step_size
        self.recorder = Recorder(
            run_path,
            n_samples=n_samples,
            labels=labels,
            inputs=inputs,
            metadata=metadata,
            overwrite=overwrite and is_run(run_path),
            # The seed's API has no close(): a snapshot must be on disk when it ends.
            background=False,
        )
        self._open_index: int | None = None  # snapshot index being assembled
        self._open_epoch: int | None = None  # the epoch it is recorded under
        self._last_index: int | None = None
        self._closed = False
        # Flush what is pending when this object is collected, and at interpreter exit. The
        # finalizer holds the recorder, never this object, so it does not keep it alive.
        self._finalizer = weakref.finalize(self, _close_recorder, self.recorder)
        self._finalizer.atexit = False
        before_thread_pools_shut(self._finalizer)

    @property
    def run(self) -> Run:
        return self.recorder.run

    @property
    def closed(self) -> bool:
        return self._closed

    def store_batch(self, representation: Any, ids: Any, epoch: Any) -> None:
        """Store a batch in the snapshot of ``epoch``; write the previous one if it moved on."""
        if self._closed:
            raise RecordingError("This ReprD is closed; create a new one to record again.")
        epoch = parse_epoch(epoch)
        index = epoch // self.step_size
        if self._last_index is not None:
            if index < self._last_index:
                raise RecordingError(
                    f"Epoch {epoch} belongs to snapshot {index}, but snapshot {self._last_index} "
                    "has begun; epochs passed to store_batch must not go backwards."
                )
            if index == self._last_index and self._open_index is None:
                raise RecordingError(
                    f"Snapshot {index} (epoch {epoch}) was already written to the run when "
                    "it was flushed (by compute_neighbours, .snapshots or flush()); analyse "
                    "after training, or store later epochs only."
                )
        if index != self._open_index:
            self._open_epoch = epoch
        self.recorder.store_batch(representation, ids, epoch=self._open_epoch)
        self._open_index = self._last_index = index

    def flush(self) -> None:
        """Write the snapshot being assembled, if any."""
        if self._open_index is not None:
            self.recorder.end_snapshot()
            self._open_index = None

    def close(self) -> None:
        """Write what is pending and close the recorder (idempotent)."""
        if self._closed:
            return
        self.flush()
        self._finalizer()  # closes the recorder, once; the exit hook is then a no-op
        self._closed = True


def load_saved_dataset(save_path: Path, n_samples: int) -> tuple[Any, Any]:
    """Labels and inputs written by ``ReprDataset.save(save_path)``, if they fit the run."""
    data_dir = save_path / "data"
    labels = _saved_array(
        data_dir / "labels.npy",
        lambda v: v.size == n_samples and _integral(v) and v.min(initial=0) >= -1,
        f"does not hold {n_samples} integer labels; the run is recorded without labels.",
    )
    inputs = _saved_array(
        data_dir / "data.npy",
        lambda v: v.ndim >= 1 and v.shape[0] == n_samples and v.dtype.kind in "uifb",
        f"does not hold {n_samples} numeric inputs; the run is recorded without inputs "
        "(thumbnails).",
    )
    return (None if labels is None else labels.reshape(-1).astype(np.int64)), inputs


def _integral(values: np.ndarray) -> bool:
    return np.issubdtype(values.dtype, np.integer) or (
        np.issubdtype(values.dtype, np.floating)
        and bool(np.all(np.isfinite(values) & (values == np.round(values))))
    )


def _saved_array(file: Path, fits: Callable[[np.ndarray], bool], unfit: str) -> Any:
    """The array of an optional ``.npy`` file the dataset saved; None, with a warning to the
    caller of :func:`load_saved_dataset`, where it cannot be read or ``fits`` says no."""
    if not file.is_file():
        return None
    try:
        values = np.load(file, allow_pickle=False)
    except (OSError, ValueError) as exc:
        warnings.warn(f"{str(file)!r} cannot be read ({exc}); ignored.", stacklevel=4)
        return None
    if fits(values):
        return values
    warnings.warn(f"{str(file)!r} {unfit}", stacklevel=4)
    return None


def _close_recorder(recorder: Recorder) -> None:
    # Runs from a finalizer or an exit hook, where a raised error would be printed out of
    # context or cut interpreter shutdown short: say what was lost instead.
    try:
        recorder.close()
    except Exception as exc:
        warnings.warn(
            f"ReprD could not write its last snapshot to {recorder.run.location!r}: {exc!r}",
            RuntimeWarning,
            stacklevel=2,
        )
