"""A run that gains snapshots (a live run): only the new snapshots are searched again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import reprdynamics as rd
from reprdynamics.analysis import api
from reprdynamics.storage.run import create_run

N, D, K = 240, 6, 5


def _snapshot(rng: np.random.Generator, t: int) -> dict[str, np.ndarray]:
    centres = np.repeat(np.arange(4), N // 4)[:, None] * (t + 1) * 0.3
    return {"logits": (centres + rng.normal(size=(N, D))).astype(np.float32)}


def _growing_run(path: Path, snapshots: int) -> tuple[Path, np.random.Generator]:
    rng = np.random.default_rng(3)
    run = create_run(path, n_samples=N, labels=np.arange(N) % 4)
    for t in range(snapshots):
        run.append_snapshot(_snapshot(rng, t), epoch=t)
    return path, rng


def _searched(path: Path, **kwargs) -> tuple[api.NeighbourStack, set[str]]:
    """The stack, and which snapshots' searches ran (from the progress messages)."""
    api._MEMO.clear()  # as a fresh process would: only the run's cache remains
    seen: set[str] = set()
    stack = api.neighbours(path, k=K, progress=lambda d, t, what: seen.add(what), **kwargs)
    return stack, seen


def test_a_new_snapshot_searches_only_itself_and_equals_a_fresh_search(tmp_path: Path) -> None:
    path, rng = _growing_run(tmp_path / "live", 3)
    first, seen = _searched(path)
    assert len(seen) == 3 and "reused_snapshots" not in first.params
    run = rd.open_run(path, mode="r+")
    run.append_snapshot(_snapshot(rng, 3), epoch=3)
    grown, seen = _searched(path)
    assert len(seen) == 1 and "snapshot 3" in next(iter(seen))
    assert grown.params["reused_snapshots"] == 3
    fresh = api.neighbours(path, k=K, use_cache=False)
    np.testing.assert_array_equal(np.asarray(grown.indices), np.asarray(fresh.indices))
    np.testing.assert_array_equal(np.asarray(grown.distances), np.asarray(fresh.distances))
    np.testing.assert_array_equal(grown.snapshots, fresh.snapshots)
    # The fingerprint built on the grown stack equals one computed from scratch.
    api._MEMO.clear()
    cached = rd.fingerprint(path, "neighbour-transition", k=K)
    scratch = rd.fingerprint(path, "neighbour-transition", k=K, use_cache=False)
    np.testing.assert_array_equal(cached.matrix, scratch.matrix)
    # Asked again at the same state: everything comes from the cache.
    again, seen = _searched(path)
    assert not seen and again.params["cached"] is True


def test_a_half_extended_entry_is_never_served(tmp_path: Path) -> None:
    path, rng = _growing_run(tmp_path / "live", 2)
    _searched(path)
    run = rd.open_run(path, mode="r+")
    run.append_snapshot(_snapshot(rng, 2), epoch=2)
    params = dict(layer="logits", k=K, metric="euclidean", backend="auto", samples="all")
    rows = N
    entry, kept = run.cache_extend(
        "neighbours",
        params,
        {
            "indices": ((3, N, K), "int32", (1, rows, K)),
            "distances": ((3, N, K), "float32", (1, rows, K)),
            "recall": ((1,), "float64", (1,)),
        },
        {"snapshots": np.arange(3)},
        along="snapshots",
    )
    # Extended but not committed (a kill here): not served, and a later search redoes it.
    assert entry is not None and kept == 2
    assert run.cache_arrays("neighbours", params) is None
    redone, seen = _searched(path)
    assert len(seen) == 3 and "reused_snapshots" not in redone.params
    fresh = api.neighbours(path, k=K, use_cache=False)
    np.testing.assert_array_equal(np.asarray(redone.indices), np.asarray(fresh.indices))


def test_an_approximate_stack_is_redone_whole(tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    path, rng = _growing_run(tmp_path / "live", 2)
    _searched(path, backend="faiss-ivf")
    rd.open_run(path, mode="r+").append_snapshot(_snapshot(rng, 2), epoch=2)
    grown, seen = _searched(path, backend="faiss-ivf")
    # Its recall is measured over every snapshot, so all of them are searched again.
    assert len(seen) == 3 and "reused_snapshots" not in grown.params
    assert 0.0 <= grown.params["recall"] <= 1.0
