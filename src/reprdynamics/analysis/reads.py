"""What the analyses read from a run beside the arrays: snapshots on demand, class counts,
progress reports."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from reprdynamics.errors import InvalidParameterError
from reprdynamics.storage.run import Run

__all__ = ["LazySnapshots", "Progress", "n_classes", "n_classes_bound", "report"]

#: ``progress(done, total, what)``, called as an analysis goes.
Progress = Callable[[int, int, str], None]


def report(progress: Progress | None, done: int, total: int, what: str) -> None:
    """Tell ``progress`` (if any) how far an analysis is."""
    if progress is not None:
        progress(done, total, what)


def n_classes_bound(run: Run) -> int:
    """An upper bound on the class ids predictions can hold (output units), or 2**31."""
    if run.kind in ("logits", "probabilities"):
        return int(run.layer_dim(run.output_layer))
    return 2**31


def n_classes(run: Run) -> int:
    """The classes predictions and labels can name: the class count, or the output units."""
    n = run.n_classes
    if n is None:
        raise InvalidParameterError("The run records no class count (no labels or class names).")
    # Predictions can name any output unit even when labels use fewer classes.
    if run.kind in ("logits", "probabilities"):
        n = max(n, run.layer_dim(run.output_layer))
    return int(n)


class LazySnapshots(Sequence[np.ndarray]):
    """Snapshots of one layer read on demand (so CKA and projections can bound memory)."""

    def __init__(
        self,
        run: Run,
        layer: str,
        snaps: np.ndarray,
        ids: np.ndarray | None,
        progress: Progress | None,
    ) -> None:
        self._run, self._layer, self._snaps, self._ids = run, layer, snaps, ids
        self._progress = progress
        self._reads = 0

    def __len__(self) -> int:
        return int(self._snaps.size)

    def __getitem__(self, t: int) -> np.ndarray:  # type: ignore[override]
        self._reads += 1
        report(self._progress, self._reads, len(self), "snapshots read for CKA")
        return self._run.read(self._layer, int(self._snaps[t]), self._ids)

    def __iter__(self) -> Iterator[np.ndarray]:
        for t in range(len(self)):
            yield self[t]
