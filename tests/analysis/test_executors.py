"""Where work runs: threads, local processes and a Dask cluster give the same numbers.

Real parts throughout: spawned worker processes, a real ``distributed.LocalCluster`` with
two worker processes, a worker that really dies, a scheduler address nobody listens on.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pytest

import reprdynamics as rd
from processes import free_port
from reprdynamics.analysis import api
from reprdynamics.analysis.executors import (
    DaskExecutor,
    ProcessExecutor,
    ThreadExecutor,
    get_executor,
)
from reprdynamics.errors import AnalysisTaskError, InvalidParameterError, SchedulerError

from .dying_backend import DyingIndex

N, T, C = 240, 5, 4


def _make_run(path: Path, *, n: int = N, snapshots: int = T, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, C, n)
    with rd.Recorder(path, n_samples=n, labels=labels) as rec:
        for t in range(snapshots):
            logits = np.eye(C)[labels] * t + rng.normal(size=(n, C))
            hidden = rng.normal(size=(n, 6)) + 0.2 * t
            rec.store_batch(logits.astype(np.float32), ids=np.arange(n), epoch=t)
            rec.store_batch(hidden.astype(np.float32), ids=np.arange(n), epoch=t, layer="hidden")
            rec.end_snapshot(metrics={"loss": 1.0 / (t + 1)})
    return path


def _digest_outside_cache(path: Path) -> str:
    """A digest of every file of the run except its cache (which analyses may write)."""
    h = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = file.relative_to(path)
        if rel.parts[0] == "cache" or (rel.name == "zarr.json" and rel.parent.name == "cache"):
            continue
        h.update(str(rel).encode())
        h.update(file.read_bytes())
    return h.hexdigest()


def _everything(path: Path, scheduler) -> dict[str, np.ndarray]:
    api._MEMO.clear()
    out = {}
    for kind in ("neighbour-transition", "neighbour-state"):
        for layer in ("logits", "hidden"):
            fp = rd.fingerprint(path, kind, k=5, layer=layer, scheduler=scheduler)
            out[f"{kind}/{layer}"] = fp.matrix
    table = rd.sample_dynamics(path, neighbour_k=5, scheduler=scheduler)
    out["stability"] = table["neighbour_stability"]
    out["aum"] = table["aum"]
    stack = api.neighbours(path, k=5, layer="hidden", scheduler=scheduler)
    out["indices"] = np.asarray(stack.indices)
    out["distances"] = np.asarray(stack.distances)
    return out


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        ) as local,
        distributed.Client(local) as client,
    ):
        yield client


# ------------------------------------------------------------------- parsing
def test_get_executor_parses_every_spelling():
    assert isinstance(get_executor(None), ThreadExecutor)
    assert isinstance(get_executor("threads"), ThreadExecutor)
    with get_executor(2) as ex:
        assert isinstance(ex, ProcessExecutor) and ex.n_workers == 2 and not ex.in_process
    mine = ThreadExecutor(1)
    with get_executor(mine) as ex:
        assert ex.n_workers == 1 and list(ex.map(abs, [-3])) == [(0, 3)]
    for bad in (0, -1, True, "local", 2.5):
        with pytest.raises(InvalidParameterError, match="'scheduler'"):
            get_executor(bad)


def test_an_unreachable_scheduler_is_a_clear_error_fast():
    pytest.importorskip("distributed")
    address = f"tcp://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(SchedulerError, match=r"Cannot reach the Dask scheduler at 'tcp://127"):
        get_executor(address, timeout=2)
    assert time.monotonic() - start < 30


def test_a_failing_task_names_what_it_was_doing():
    def fail(task):
        raise ValueError("boom")

    class Task:
        def describe(self):
            return "snapshot 7"

    with pytest.raises(AnalysisTaskError, match=r"snapshot 7.*boom"):
        list(ThreadExecutor(2).map(fail, [Task(), Task()]))


# ------------------------------------------------------------ same numbers
def test_threads_processes_and_dask_give_identical_results(tmp_path, cluster):
    reference_path = _make_run(tmp_path / "reference")
    reference = _everything(reference_path, ThreadExecutor(1))
    for name, scheduler in (
        ("threads", None),
        ("processes", 2),
        ("dask-client", cluster),
        ("dask-address", cluster.scheduler.address),
    ):
        path = _make_run(tmp_path / name)
        before = _digest_outside_cache(path)
        got = _everything(path, scheduler)
        for key, value in reference.items():
            np.testing.assert_array_equal(got[key], value, err_msg=f"{name}: {key}")
        assert _digest_outside_cache(path) == before, f"{name} touched the run outside cache/"


def test_query_blocks_tile_a_snapshot_with_the_same_answer(tmp_path):
    path = _make_run(tmp_path / "run")
    whole = api.neighbours(path, k=5, layer="hidden", use_cache=False)
    api._MEMO.clear()
    with ProcessExecutor(2) as ex:
        tiled = api.neighbours(path, k=5, layer="hidden", scheduler=ex, query_block=37)
    assert tiled.lazy and tiled.indices.chunks == (1, 37, 5)
    np.testing.assert_array_equal(np.asarray(tiled.indices), whole.indices)
    np.testing.assert_array_equal(np.asarray(tiled.distances), whole.distances)
    # Automatic tiling: fewer snapshots than workers splits the queries.
    api._MEMO.clear()
    one = _make_run(tmp_path / "one", snapshots=1)
    with ProcessExecutor(2) as ex:
        stack = api.neighbours(one, k=5, scheduler=ex, use_cache=True)
    assert stack.indices.chunks[1] == N // 2
    np.testing.assert_array_equal(
        np.asarray(stack.indices)[0], api.neighbours(one, k=5, use_cache=False).indices[0]
    )


def test_cached_stacks_are_read_lazily_and_equal_the_in_memory_ones(tmp_path):
    path = _make_run(tmp_path / "run")
    memory = api.neighbours(path, k=5, use_cache=False)
    assert not memory.lazy
    api._MEMO.clear()
    cached = api.neighbours(path, k=5)
    assert cached.lazy and cached.params["cached"] is False
    assert cached.indices.chunks == (1, N, 5)  # one chunk per snapshot
    api._MEMO.clear()
    again = api.neighbours(path, k=5)
    assert again.lazy and again.params["cached"] is True
    for pos in range(T):
        np.testing.assert_array_equal(again.snapshot_indices(pos), memory.indices[pos])
    np.testing.assert_array_equal(again.overlaps(), memory.overlaps())


# ------------------------------------------------------------------ failures
def test_a_dead_worker_process_fails_naming_the_snapshot_and_caches_nothing(tmp_path):
    path = _make_run(tmp_path / "run")
    before = _digest_outside_cache(path)
    api._MEMO.clear()
    with ProcessExecutor(2) as ex, pytest.raises(AnalysisTaskError, match=r"snapshot \d"):
        api.neighbours(path, k=5, backend=DyingIndex(), scheduler=ex)
    run = rd.open_run(path)
    params = {
        "layer": "logits",
        "k": 5,
        "metric": "euclidean",
        "backend": api._backend_token(DyingIndex()),
        "samples": "all",
    }
    assert run.cache_arrays("neighbours", params) is None  # begun, never committed
    assert _digest_outside_cache(path) == before
    # The run and a later analysis are unharmed.
    fp = rd.fingerprint(path, "neighbour-transition", k=5, scheduler=2)
    assert fp.matrix.shape == (T - 1, T - 1)


def test_dask_retries_a_task_whose_worker_died(tmp_path, cluster):
    path = _make_run(tmp_path / "run")
    marker = tmp_path / "died-once"
    api._MEMO.clear()
    stack = api.neighbours(
        path, k=5, backend=DyingIndex(once_marker=str(marker)), scheduler=cluster
    )
    assert marker.exists()  # one worker really died
    expected = api.neighbours(path, k=5, backend="exact", use_cache=False)
    np.testing.assert_array_equal(np.asarray(stack.indices), expected.indices)
    assert len(cluster.scheduler_info()["workers"]) >= 1


def test_dask_executor_reports_workers_and_keeps_a_borrowed_client_open(cluster):
    cluster.wait_for_workers(2, timeout=60)  # a worker killed by an earlier test restarts
    ex = DaskExecutor(cluster)
    assert ex.n_workers == 2 and not ex.in_process
    assert sorted(ex.map(abs, [-1, -2, -3])) == [(0, 1), (1, 2), (2, 3)]
    ex.close()
    assert cluster.status == "running"
