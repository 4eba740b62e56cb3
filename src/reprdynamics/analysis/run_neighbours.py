"""The k nearest neighbours of every sample at every snapshot of a run, searched once
(cached in the run, and in memory where the run cannot be written)."""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from reprdynamics.analysis.executors import get_executor
from reprdynamics.analysis.reads import Progress
from reprdynamics.analysis.run_inputs import (
    as_run,
    backend_token,
    cache_target,
    complete_snapshots,
    compute_lock,
    parse_k,
    parse_layer,
    parse_samples,
    selection_token,
)
from reprdynamics.analysis.stacks import NeighbourStack, compute_neighbour_stack
from reprdynamics.errors import (
    invalid_parameter,
    parse_int,
)
from reprdynamics.storage.run import Run

# Neighbour stacks are also kept in memory, so one `analyse` (or one server) does not
# search the same neighbours once per fingerprint where the run's cache cannot be written
# (read-only locations, the bundled sample). Bounded in count and in bytes.
_MEMO: OrderedDict[tuple[str, str, str], NeighbourStack] = OrderedDict()
_MEMO_ENTRIES = 8
_MEMO_MAX_BYTES = 256 * 1024 * 1024
_MEMO_GUARD = threading.Lock()


# --------------------------------------------------------------------------- neighbours
def neighbours(
    run: Run | str | os.PathLike[str],
    *,
    k: int = 10,
    layer: str | None = None,
    samples: Any = None,
    metric: str = "euclidean",
    backend: Any = "auto",
    use_cache: bool = True,
    progress: Progress | None = None,
    scheduler: Any = None,
    query_block: int | None = None,
) -> NeighbourStack:
    """The k nearest neighbours of the selection at every complete snapshot.

    Exact by default (ties by smaller distance, then smaller id). ``backend`` names a
    backend of :func:`reprdynamics.analysis.neighbours.get_backend`: ``"auto"`` (default:
    the fastest exact backend by a measured cost model), ``"exact"``, ``"kdtree"``,
    ``"faiss"``; approximate ones (``"faiss-hnsw"``, ``"faiss-ivf"``) only when asked for,
    with their recall in ``params["recall"]``.

    Each snapshot is a task (or several, one per block of ``query_block`` query rows) run
    where ``scheduler`` says (:func:`~reprdynamics.analysis.executors.get_executor`:
    threads by default, an int for local processes, a Dask ``Client`` or address). Tasks
    open the run themselves and write their rows into the run's cache, chunked per
    snapshot; the stack returned reads it lazily, so memory does not grow with T. Results
    equal the single-process path exactly.
    """
    owner = "neighbours"
    run = as_run(run)
    layer = parse_layer(run, layer, owner)
    ids = parse_samples(run, samples, owner)
    k = parse_k(k, ids.size, owner)
    if metric not in ("euclidean", "cosine"):
        raise invalid_parameter("metric", owner, "'euclidean' or 'cosine'", metric)
    if query_block is not None:
        query_block = parse_int(query_block, "query_block", owner, low=1)
    snaps = complete_snapshots(run, owner, minimum=1)
    params = {
        "layer": layer,
        "k": k,
        "metric": metric,
        "backend": backend_token(backend),
        "samples": selection_token(ids, run.n_samples),
    }
    memo_key = (run.location, run.state_token(), json.dumps(params, sort_keys=True, default=str))

    def compute(target: Run | None) -> NeighbourStack:
        with get_executor(scheduler) as executor:
            return compute_neighbour_stack(
                run,
                ids,
                snaps,
                layer,
                k,
                metric,
                backend,
                params,
                executor=executor,
                target=target,
                progress=progress,
                query_block=query_block,
            )

    if not use_cache:
        return compute(None)
    with compute_lock(memo_key):
        with _MEMO_GUARD:
            if memo_key in _MEMO:
                _MEMO.move_to_end(memo_key)
                return _MEMO[memo_key]
        cached = run.cache_arrays("neighbours", params)
        if cached is not None and "recall" in cached:
            restored: dict[str, Any] = {**params, "cached": True}
            recall = float(np.asarray(cached["recall"][...])[0])
            if np.isfinite(recall):
                restored["recall"] = recall
            stack = NeighbourStack(
                ids,
                np.asarray(cached["snapshots"][...]),
                cached["indices"],
                cached["distances"],
                restored,
            )
        else:
            # Only the whole run's stacks go to disk: every selection would add one
            # (hundreds of MB at N=50,000, T=100), never evicted. Selections live in the memo.
            target = cache_target(run) if params["samples"] == "all" else None
            stack = compute(target)
        in_memory = 0 if stack.lazy else stack.indices.nbytes + stack.distances.nbytes
        if in_memory <= _MEMO_MAX_BYTES:
            with _MEMO_GUARD:
                _MEMO[memo_key] = stack
                while len(_MEMO) > _MEMO_ENTRIES:
                    _MEMO.popitem(last=False)
        return stack
