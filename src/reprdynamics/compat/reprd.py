"""``ReprD``: the original tool's recording and analysis class, on a run.

It composes the two sides kept in their own modules:
:class:`~reprdynamics.compat.recording.SeedRecording` when it records
(``ReprD(data_size, num_epochs, num_snapshots, save_path)``), and
:class:`~reprdynamics.compat.loading.Snapshots` for what its analyses read (the run being
recorded, or what ``load_path`` names). The analyses themselves are the functions of
:mod:`reprdynamics.compat.neighbours`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from reprdynamics.compat._parse import PathLike, positive_int, sample_index
from reprdynamics.compat.loading import RUN_DIRNAME, Snapshots, open_snapshots
from reprdynamics.compat.neighbours import (
    KNN_ALGORITHMS,
    compute_neighbours,
    distance_matrix,
    get_neighbours,
)
from reprdynamics.compat.recording import SeedRecording, load_saved_dataset
from reprdynamics.errors import (
    InvalidParameterError,
    NotEnoughSnapshotsError,
    RecordingError,
    invalid_parameter,
)
from reprdynamics.recording import snapshot_step_size
from reprdynamics.storage.run import Run

__all__ = ["ReprD"]


class ReprD:
    """Record a network's outputs per snapshot and compute the original tool's analyses.

    Parameters
    ----------
    data_size
        N, the number of samples (needed to record; inferred when loading).
    num_epochs, num_snapshots
        The schedule: a snapshot every ``step_size = max(1, num_epochs // num_snapshots)``
        epochs (the original's ``int(num_epochs / num_snapshots)`` could be 0). Without both,
        ``step_size`` is 1 when recording, and inferred from the run's epochs when loading.
    save_path
        Directory to record into; the run is written at ``save_path/run``
        (:data:`RUN_DIRNAME`), and ``save_path/data`` written by ``ReprDataset.save`` is
        stored in it. ``None`` records into a temporary directory.
    load_path
        Open existing snapshots instead of recording: a run, a directory holding one, a
        legacy ``snapshots.json`` or a legacy save directory.
    overwrite
        Replace a run of ours already at ``save_path/run`` (default, as the original
        rewrote ``snapshots.json``). Other files are never replaced.

    Attributes
    ----------
    step_size : int
        Epochs between snapshots; snapshot index = ``epoch // step_size``.
    run_path : pathlib.Path or None
        Where the run is (None for legacy JSON loaded into memory).

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from reprdynamics import ReprD
    >>> rng = np.random.default_rng(0)
    >>> reprd = ReprD(data_size=8, num_epochs=4, num_snapshots=2, save_path=tempfile.mkdtemp())
    >>> for epoch in range(4):
    ...     if not epoch % reprd.step_size:
    ...         reprd.store_batch(rng.normal(size=(8, 3)), ids=list(range(8)), epoch=epoch)
    >>> nb = reprd.compute_neighbours(max_neighbours=3, knn_algo="ball_tree",
    ...                               sample_ids=list(range(8)))
    >>> len(nb["neighbours"]), nb["neighbours"][0]["5"]["neighbours"][0]
    (2, 5)
    """

    def __init__(
        self,
        data_size: int | None = None,
        num_epochs: int | None = None,
        num_snapshots: int | None = None,
        save_path: PathLike | None = None,
        load_path: PathLike | None = None,
        *,
        overwrite: bool = True,
    ) -> None:
        self.data_size = data_size
        self.num_epochs = num_epochs
        self.num_snapshots = num_snapshots
        self.save_path = None if save_path is None else Path(save_path)
        self.load_path = None if load_path is None else Path(load_path)
        self.run_path: Path | None = None
        self.step_size = 1
        self._recording: SeedRecording | None = None
        self._snapshots = Snapshots()
        self._tempdir: tempfile.TemporaryDirectory | None = None
        if self.load_path is not None:
            self._load(self.load_path)
        else:
            self._start_recording(overwrite)

    # ------------------------------------------------------------------ set-up
    def _schedule(self, required: bool) -> int | None:
        if self.num_epochs is None and self.num_snapshots is None:
            return None
        if self.num_epochs is None or self.num_snapshots is None:
            if not required:
                return None
            raise InvalidParameterError("num_epochs and num_snapshots go together; give both.")
        return snapshot_step_size(self.num_epochs, self.num_snapshots)

    def _start_recording(self, overwrite: bool) -> None:
        if self.data_size is None:
            raise invalid_parameter(
                "data_size", "ReprD", "the number of samples (an int >= 1) to record", None
            )
        self.data_size = positive_int(self.data_size, "data_size", "ReprD")
        self.step_size = self._schedule(required=True) or 1
        if self.save_path is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="reprdynamics-")
            self.run_path = Path(self._tempdir.name) / RUN_DIRNAME
            labels = inputs = None
        else:
            self.run_path = self.save_path / RUN_DIRNAME
            labels, inputs = load_saved_dataset(self.save_path, self.data_size)
        self._recording = SeedRecording(
            self.run_path,
            self.data_size,
            self.step_size,
            labels=labels,
            inputs=inputs,
            metadata={
                "recorded_by": "reprdynamics.compat.ReprD",
                "num_epochs": self.num_epochs,
                "num_snapshots": self.num_snapshots,
                "step_size": self.step_size,
            },
            overwrite=overwrite,
        )
        self._snapshots = Snapshots(run=self._recording.run, location=self.run_path)

    def _load(self, target: Path) -> None:
        self._snapshots = open_snapshots(target)
        self.run_path = self._snapshots.location
        n_samples = self._snapshots.n_samples
        if self.data_size is not None and self.data_size != n_samples:
            raise invalid_parameter(
                "data_size", "ReprD", f"{n_samples}, the number of samples loaded", self.data_size
            )
        self.data_size = n_samples
        self.step_size = self._schedule(required=False) or self._snapshots.step_size() or 1

    # ------------------------------------------------------------------ recording
    def store_batch(self, representation: Any, ids: Any, epoch: int) -> None:
        """Store one batch of outputs in the snapshot of this epoch.

        Parameters
        ----------
        representation
            ``(B, D)`` outputs: a torch tensor (any device, with grad), array, ...
        ids
            ``(B,)`` sample ids.
        epoch
            The current epoch; the batch goes to snapshot ``epoch // step_size``. When that
            index moves on, the previous snapshot is written to the run.
        """
        if self._recording is None:
            raise RecordingError(
                "This ReprD was opened with load_path and only analyses; record with "
                "ReprD(data_size=..., num_epochs=..., num_snapshots=..., save_path=...)."
            )
        self._recording.store_batch(representation, ids, epoch)

    def flush(self) -> None:
        """Write the snapshot being assembled, if any."""
        if self._recording is not None:
            self._recording.flush()

    def close(self) -> None:
        """Write what is pending and stop recording; analyses keep working."""
        if self._recording is not None:
            self._recording.close()

    def __enter__(self) -> ReprD:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # Like the original, which wrote every batch at once, nothing stored is dropped; a
        # snapshot missing samples is written with complete=False.
        self.close()

    # ------------------------------------------------------------------ data
    @property
    def run(self) -> Run | None:
        """The run holding the snapshots (None for legacy JSON held in memory)."""
        return self._snapshots.run

    @property
    def n_snapshots(self) -> int:
        self.flush()
        return self._snapshots.n_snapshots

    @property
    def snapshots(self) -> list[np.ndarray]:
        """Every snapshot as an ``(N, D)`` array (read from the run; writes pending data)."""
        self.flush()
        return self._snapshots.read()

    @snapshots.setter
    def snapshots(self, values: Iterable[Any]) -> None:
        self.close()
        self._snapshots = Snapshots.in_memory(values)
        if self._snapshots.memory:
            self.data_size = self._snapshots.n_samples

    def load_snapshots(self, fpath: PathLike) -> None:
        """Analyse snapshots from a ``.npy`` file of shape ``(T, N, D)`` (as the original)."""
        self.snapshots = list(np.load(fpath, allow_pickle=False))

    # ------------------------------------------------------------------ analyses
    def compute_neighbours(
        self,
        max_neighbours: int,
        knn_algo: str = "ball_tree",
        sample_ids: Sequence[Any] | None = None,
        save_path: PathLike | None = None,
    ) -> dict[str, Any]:
        """k nearest neighbours of ``sample_ids`` (default: all samples) in every snapshot.

        See :func:`compute_neighbours` for the result's format. Pending data is written
        first. Values read from a run (float32) are widened to float64, as the original
        widened network outputs into its float64 buffers.
        """
        self.flush()
        n = self.data_size or 0
        ids = sample_index(range(n) if sample_ids is None else sample_ids, n, "compute_neighbours")
        # Check the cheap parameters before reading any snapshot.
        positive_int(max_neighbours, "max_neighbours", "compute_neighbours", ids.size)
        if knn_algo not in KNN_ALGORITHMS:
            raise invalid_parameter(
                "knn_algo", "compute_neighbours", f"one of {KNN_ALGORITHMS}", knn_algo
            )
        if self.n_snapshots == 0:
            raise NotEnoughSnapshotsError(
                "compute_neighbours needs at least one snapshot; none has been recorded."
            )
        return compute_neighbours(
            self._snapshots.rows(ids), ids.tolist(), max_neighbours, knn_algo, save_path=save_path
        )

    def distance_matrix(
        self,
        neighbours: Mapping[str, Any] | PathLike,
        sample_ids: Sequence[Any],
        num_neighbours: int,
        distance_metric: str | Callable[[np.ndarray, np.ndarray], float] = "euclidean",
        col_row_format: bool = True,
    ) -> list[dict[str, Any]] | np.ndarray:
        """The original's transition heat map; see :func:`distance_matrix`."""
        return distance_matrix(
            neighbours, sample_ids, num_neighbours, distance_metric, col_row_format
        )

    def get_neighbours(
        self, neighbours: Mapping[str, Any] | PathLike, sample_ids: Sequence[Any]
    ) -> list[dict[str, dict[str, Any]]]:
        """Neighbours as ``[id, distance]`` and prediction entropy; see :func:`get_neighbours`."""
        return get_neighbours(neighbours, sample_ids)

    def hamming_distance(self, a: Sequence[Sequence[Any]], b: Sequence[Sequence[Any]]) -> float:
        """The original's name for the mean neighbour overlap of two lists of neighbour lists.

        ``mean_i |set(a_i) ∩ set(b_i)| / len(a_i)`` — a similarity in [0, 1], not a distance.
        """
        if len(a) != len(b) or not a:
            raise InvalidParameterError("hamming_distance needs two equally long, non-empty lists.")
        return sum(len(set(x) & set(y)) / len(x) for x, y in zip(a, b, strict=True)) / len(a)

    def __repr__(self) -> str:
        where = self.run_path if self.run_path is not None else self.load_path
        recording = self._recording is not None and not self._recording.closed
        mode = "recording" if recording else "analysis"
        return f"<ReprD {mode}: N={self.data_size}, step_size={self.step_size}, at {str(where)!r}>"
