"""The loading side of ``ReprD``: where its snapshots are read from.

``ReprD(load_path=...)`` opens a run, a directory holding one (a ``save_path``), a legacy
``snapshots.json`` or a legacy save directory. Legacy JSON is kept in memory as float64,
exactly the file's values, so ``compute_neighbours`` reproduces the original's
``neighbours.json`` exactly; :func:`reprdynamics.storage.legacy.import_legacy` converts it
to a run (float32) for everything else.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reprdynamics.errors import RunNotFoundError
from reprdynamics.recording import to_numpy
from reprdynamics.storage.legacy import LEGACY_SNAPSHOTS, read_legacy_snapshots
from reprdynamics.storage.run import Run, is_run, open_run

__all__ = ["RUN_DIRNAME", "Snapshots", "open_snapshots"]

RUN_DIRNAME = "run"
"""``ReprD(save_path=DIR)`` records its run at ``DIR/run``."""


@dataclass
class Snapshots:
    """``(N, D)`` snapshots held by a run, or in memory (legacy JSON, ``.npy``, assigned).

    Exactly one of ``run`` and ``memory`` is set; ``location`` is the run's directory.
    """

    run: Run | None = None
    memory: list[np.ndarray] | None = None
    location: Path | None = None

    @classmethod
    def in_memory(cls, values: Iterable[Any]) -> Snapshots:
        """Snapshots given as arrays or tensors, widened to float64 as the original's were."""
        return cls(memory=[np.asarray(to_numpy(v), dtype=np.float64) for v in values])

    @property
    def n_samples(self) -> int | None:
        if self.memory is not None:
            return int(self.memory[0].shape[0]) if self.memory else None
        return self.run.n_samples if self.run is not None else None

    @property
    def n_snapshots(self) -> int:
        if self.memory is not None:
            return len(self.memory)
        return self.run.n_snapshots if self.run is not None else 0

    def step_size(self) -> int | None:
        """Epochs between the run's first two snapshots, if it has two with epochs."""
        if self.run is None:
            return None
        epochs = [e for e in self.run.epochs if e is not None]
        return max(1, epochs[1] - epochs[0]) if len(epochs) >= 2 else None

    def read(self) -> list[np.ndarray]:
        """Every snapshot as an ``(N, D)`` array."""
        if self.memory is not None:
            return self.memory
        assert self.run is not None
        return [self.run.read(snapshot=t) for t in range(self.run.n_snapshots)]

    def rows(self, ids: np.ndarray) -> Iterator[np.ndarray]:
        """The rows of ``ids`` in each snapshot, one snapshot at a time."""
        if self.memory is not None:
            for snapshot in self.memory:
                yield snapshot[ids]
            return
        assert self.run is not None
        for t in range(self.run.n_snapshots):
            yield self.run.read(snapshot=t, ids=ids)


def open_snapshots(target: Path) -> Snapshots:
    """The snapshots at ``target``: a run, a ``save_path``, or legacy ``snapshots.json``.

    Raises
    ------
    RunNotFoundError
        Nothing of these is at ``target``.
    """
    run_location = None
    if is_run(target):
        run_location = target
    elif is_run(target / RUN_DIRNAME):
        run_location = target / RUN_DIRNAME
    elif target.is_file() or (target / LEGACY_SNAPSHOTS).is_file():
        return Snapshots(memory=read_legacy_snapshots(target, dtype=np.float64))
    elif target.name == LEGACY_SNAPSHOTS and not target.exists():
        # The original's dashboard loaded save_dir/snapshots.json; ReprD now records
        # save_dir/run instead.
        for candidate in (target.parent, target.parent / RUN_DIRNAME):
            if is_run(candidate):
                run_location = candidate
                break
    if run_location is None:
        raise RunNotFoundError(
            f"Nothing to load at {str(target)!r}: load_path must be a ReprDynamics run, a "
            "directory holding one (a ReprD save_path), a legacy snapshots.json, or a "
            "legacy save directory holding snapshots.json."
        )
    return Snapshots(run=open_run(run_location), location=Path(run_location))
