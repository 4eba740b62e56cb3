"""Neighbour stacks of a run: searched snapshot by snapshot as tasks, kept in the run's cache.

A neighbour stack holds ``N_k(i, t)`` for a selection at every complete snapshot: (T, n, k)
ids and distances. At N = 1,000,000, k = 10 and T = 100 that is 8 GB, so it is never held
whole: each task (one snapshot, or one block of a snapshot's queries) opens the run itself,
searches, and writes its rows into a Zarr array of the run's ``cache/`` chunked per
snapshot (and query block); readers then stream it one snapshot at a time. Where the run
cannot be written (read-only locations, the bundled sample), the tasks return their rows
and the stack is held in memory instead.

Where the tasks run is an :class:`~reprdynamics.analysis.executors.Executor`; this module
never asks which.
"""

from __future__ import annotations

import copy
import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from reprdynamics.analysis.executors import Executor
from reprdynamics.analysis.fingerprints import neighbour_overlap, neighbour_overlap_counts
from reprdynamics.analysis.neighbours import BACKENDS, KNNIndex, k_nearest_neighbours
from reprdynamics.analysis.reads import Progress
from reprdynamics.storage.run import Run, open_run

__all__ = ["NeighbourStack", "NeighbourTask", "compute_neighbour_stack", "run_neighbour_task"]


@dataclass(frozen=True, eq=False)
class NeighbourStack:
    """k nearest neighbours of a selection at every complete snapshot.

    ``indices[t, i]`` are *positions within* ``ids`` (not sample ids) of the k nearest
    other selected samples to ``ids[i]`` at snapshot ``snapshots[t]``; ``ids[indices]``
    converts them to sample ids. ``indices`` and ``distances`` are NumPy arrays or, for
    stacks in the run's cache, Zarr arrays read one snapshot at a time
    (:meth:`snapshot_indices`); ``np.asarray(stack.indices)`` loads everything.
    """

    ids: np.ndarray
    snapshots: np.ndarray
    indices: Any
    distances: Any
    params: Mapping[str, Any]

    def __len__(self) -> int:
        return int(self.snapshots.size)

    @property
    def lazy(self) -> bool:
        """Whether the stack is read from the run's cache on demand."""
        return not isinstance(self.indices, np.ndarray)

    def snapshot_indices(self, pos: int) -> np.ndarray:
        """``indices[pos]`` as a NumPy array (one read for a cached stack)."""
        return np.asarray(self.indices[pos])

    def snapshot_distances(self, pos: int) -> np.ndarray:
        return np.asarray(self.distances[pos])

    def neighbour_ids(self, t: int) -> np.ndarray:
        return self.ids[self.snapshot_indices(t)]

    def iter_indices(self) -> Iterator[np.ndarray]:
        """Each snapshot's (n, k) positions in turn, never more than one in memory."""
        for pos in range(len(self)):
            yield self.snapshot_indices(pos)

    def overlap_counts(self) -> np.ndarray:
        """``|N_k(i,t) ∩ N_k(i,t+1)|`` for consecutive snapshots, shape (T-1, n), integers.

        uint8 for k < 256 (one byte per sample and transition). Streams the stack: two
        snapshots' neighbour lists in memory at a time.
        """
        k = int(self.params.get("k", 0)) or (
            int(self.snapshot_indices(0).shape[1]) if len(self) else 0
        )
        dtype = np.uint8 if k < 256 else np.uint16 if k < 65536 else np.int64
        out = np.zeros((max(len(self) - 1, 0), self.ids.size), dtype=dtype)
        previous = None
        for pos, current in enumerate(self.iter_indices()):
            if previous is not None:
                out[pos - 1] = neighbour_overlap_counts(previous, current)
            previous = current
        return out

    def iter_overlaps(self) -> Iterator[np.ndarray]:
        """``o_t(i)`` (float64, shape (n,)) for t = 0..T-2, one transition at a time."""
        previous = None
        for current in self.iter_indices():
            if previous is not None:
                yield neighbour_overlap(previous, current)
            previous = current

    def overlaps(self) -> np.ndarray:
        """``o_t(i)`` for every consecutive pair of snapshots, shape (T-1, n), float64."""
        out = np.zeros((max(len(self) - 1, 0), self.ids.size))
        for t, row in enumerate(self.iter_overlaps()):
            out[t] = row
        return out


class _LazyRows:
    """A (T, n, k) stack seen as a sequence of (n, k) arrays, for the pure fingerprints."""

    def __init__(self, stack: NeighbourStack) -> None:
        self._stack = stack

    def __len__(self) -> int:
        return len(self._stack)

    def __getitem__(self, pos: int) -> np.ndarray:
        return self._stack.snapshot_indices(pos)


def lazy_rows(stack: NeighbourStack) -> Any:
    """The stack's indices as a sequence the fingerprint functions read one item at a time."""
    return _LazyRows(stack) if stack.lazy else stack.indices


@dataclass(frozen=True)
class NeighbourTask:
    """Search one snapshot (or one block of its query rows) of a run.

    Everything a worker needs to open the run itself: its location and storage options
    (never written anywhere), what to search and where to write the rows.
    """

    location: str
    storage_options: Mapping[str, Any] | None
    layer: str
    snapshot: int
    position: int
    ids: np.ndarray | None
    k: int
    metric: str
    backend: Any
    lo: int
    hi: int
    tiled: bool
    entry: str | None
    n_threads: int | None
    state: str = ""

    def describe(self) -> str:
        rows = f", query rows {self.lo}-{self.hi - 1}" if self.tiled else ""
        return f"snapshot {self.snapshot} of layer {self.layer!r}{rows}"

    def __repr__(self) -> str:  # never show storage options (they may hold credentials)
        return f"NeighbourTask({self.describe()}, location={self.location!r})"


# Runs opened by tasks, per process: a worker answering many snapshots opens the run once.
# Keyed by the run's state too: a run rewritten at the same location is opened afresh.
_OPEN: OrderedDict[tuple[str, str, bool, str], Run] = OrderedDict()
_OPEN_GUARD = threading.Lock()


def _options_token(options: Mapping[str, Any] | None) -> str:
    return json.dumps(options or {}, sort_keys=True, default=str)


def share_open_run(run: Run, storage_options: Mapping[str, Any] | None = None) -> None:
    """Let tasks in this process use an already open run instead of opening it again."""
    key = (run.location, _options_token(storage_options), run.writable, run.state_token())
    with _OPEN_GUARD:
        _OPEN[key] = run
        while len(_OPEN) > 8:
            _OPEN.popitem(last=False)


def _task_run(task: NeighbourTask) -> Run:
    writable = task.entry is not None
    key = (task.location, _options_token(task.storage_options), writable, task.state)
    with _OPEN_GUARD:
        run = _OPEN.get(key)
    if run is None:
        run = open_run(
            task.location, mode="r+" if writable else "r", storage_options=task.storage_options
        )
        with _OPEN_GUARD:
            _OPEN[key] = run
            while len(_OPEN) > 8:
                _OPEN.popitem(last=False)
    return run


def run_neighbour_task(task: NeighbourTask) -> dict[str, Any]:
    """Worker side: open the run, search, write the rows into the cache (or return them)."""
    run = _task_run(task)
    X = run.read(task.layer, task.snapshot, task.ids)
    # A backend instance is a template: tasks running at once each build their own copy.
    backend = copy.copy(task.backend) if isinstance(task.backend, KNNIndex) else task.backend
    result = k_nearest_neighbours(
        X,
        task.k,
        metric=task.metric,  # type: ignore[arg-type]
        backend=backend,
        rows=slice(task.lo, task.hi),
        n_threads=task.n_threads,
    )
    indices = result.indices.astype(np.int32)
    distances = result.distances.astype(np.float32)
    out: dict[str, Any] = {"recall": result.recall, "backend": result.backend}
    if task.entry is None:
        out.update(indices=indices, distances=distances)
    else:
        region = (task.position, slice(task.lo, task.hi))
        run.cache_write(task.entry, "indices", region, indices)
        run.cache_write(task.entry, "distances", region, distances)
    return out


def _query_tiles(n: int, n_tasks_by_snapshot: int, executor: Executor, block: int | None):
    """Row blocks per snapshot: one, unless workers would idle or a block size is asked."""
    if block is None:
        if executor.in_process or n_tasks_by_snapshot >= executor.n_workers:
            return [(0, n)]
        parts = -(-executor.n_workers // n_tasks_by_snapshot)
        block = -(-n // parts)
    block = max(1, min(int(block), n))
    return [(lo, min(lo + block, n)) for lo in range(0, n, block)]


def _exact_backend(backend: Any) -> bool:
    """Whether a backend (a name or a KNNIndex) is exact; an unknown name fails later,
    where it is named."""
    if isinstance(backend, KNNIndex):
        return backend.exact
    found = BACKENDS.get(backend) if isinstance(backend, str) else None
    return found is None or found.exact


def compute_neighbour_stack(
    run: Run,
    ids: np.ndarray,
    snaps: np.ndarray,
    layer: str,
    k: int,
    metric: str,
    backend: Any,
    params: Mapping[str, Any],
    *,
    executor: Executor,
    target: Run | None,
    progress: Progress | None = None,
    query_block: int | None = None,
) -> NeighbourStack:
    """Search every snapshot as tasks on ``executor``; cache into ``target`` when given.

    With a ``target`` the stack is written into ``target``'s cache by the tasks and
    committed only when every task succeeded; the returned stack reads it lazily. Without
    one the rows come back to this process and are held in memory.
    """
    n, n_snap = int(ids.size), int(snaps.size)
    subset = None if params["samples"] == "all" else ids
    tiles = _query_tiles(n, n_snap, executor, query_block)
    chunk_rows = tiles[0][1] - tiles[0][0]
    entry = None
    kept = 0  # snapshots already in the cache from an earlier state of a growing run
    if target is not None:
        layout = {
            "indices": ((n_snap, n, k), "int32", (1, chunk_rows, k)),
            "distances": ((n_snap, n, k), "float32", (1, chunk_rows, k)),
        }
        snapshots = {"snapshots": np.asarray(snaps, dtype=np.int64)}
        if _exact_backend(backend):
            # Exact stacks of earlier snapshots stay right when the run grows; an
            # approximate one's recall covers all its snapshots, so it is redone whole.
            entry, kept = target.cache_extend(
                "neighbours",
                params,
                {**layout, "recall": ((1,), "float64", (1,))},
                snapshots,
                along="snapshots",
            )
        else:
            entry = target.cache_begin(
                "neighbours", params, {**layout, "recall": ((1,), "float64", (1,))}, snapshots
            )
    if entry is not None:
        share_open_run(target, getattr(target, "storage_options", None))  # type: ignore[arg-type]
        indices: Any = None
        distances: Any = None
    else:
        share_open_run(run, getattr(run, "storage_options", None))
        indices = np.empty((n_snap, n, k), dtype=np.int32)  # read-only run: held here
        distances = np.empty((n_snap, n, k), dtype=np.float32)
    source = target if entry is not None else run
    assert source is not None
    parallel = executor.n_workers > 1 and n_snap * len(tiles) > 1
    tasks = [
        NeighbourTask(
            location=source.location,
            storage_options=getattr(source, "storage_options", None),
            layer=layer,
            snapshot=int(t),
            position=pos,
            ids=subset,
            k=k,
            metric=metric,
            backend=backend,
            lo=lo,
            hi=hi,
            tiled=len(tiles) > 1,
            entry=entry,
            n_threads=1 if parallel or not executor.in_process else None,
            state=source.state_token(),
        )
        for pos, t in enumerate(snaps)
        if pos >= kept
        for lo, hi in tiles
    ]
    recalls: list[tuple[float, int]] = []
    for done, (i, result) in enumerate(executor.map(run_neighbour_task, tasks), start=1):
        task = tasks[i]
        if entry is None:
            indices[task.position, task.lo : task.hi] = result["indices"]
            distances[task.position, task.lo : task.hi] = result["distances"]
        if result["recall"] is not None:
            recalls.append((float(result["recall"]), task.hi - task.lo))
        if progress is not None:
            progress(done, len(tasks), f"neighbours ({task.describe()})")
    out_params: dict[str, Any] = {**params, "cached": False}
    if kept:
        out_params["reused_snapshots"] = kept
    if recalls:
        values, weights = zip(*recalls, strict=True)
        out_params["recall"] = float(np.average(values, weights=weights))
    if entry is not None and target is not None:
        target.cache_write(entry, "recall", (slice(None),), [out_params.get("recall", np.nan)])
        if target.cache_commit("neighbours", params):
            arrays = target.cache_arrays("neighbours", params)
            if arrays is not None:
                return NeighbourStack(
                    ids, snaps, arrays["indices"], arrays["distances"], out_params
                )
        # The commit failed (the run changed meanwhile): read the rows back, uncached.
        indices = np.asarray(target._group[f"{entry}/indices"][...])
        distances = np.asarray(target._group[f"{entry}/distances"][...])
    return NeighbourStack(ids, snaps, indices, distances, out_params)
