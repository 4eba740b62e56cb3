"""Recording: buffer per-sample outputs during training and write whole snapshots."""

from reprdynamics.recording.convert import to_ids, to_numpy
from reprdynamics.recording.recorder import IncompleteSnapshotWarning, Recorder, snapshot_step_size

__all__ = ["IncompleteSnapshotWarning", "Recorder", "snapshot_step_size", "to_ids", "to_numpy"]
