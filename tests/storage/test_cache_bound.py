"""The cache inside a run is bounded: least recently used entries are evicted beyond the
limit, entries in use are kept, and ``cache info|clear`` shows and empties it."""

from __future__ import annotations

import gc
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import reprdynamics.storage.cache_bound as cache_bound
from noise_runs import noise_run
from reprdynamics.errors import InvalidParameterError
from reprdynamics.storage import create_run, open_run

N = 50
KB = 1024


@pytest.fixture(autouse=True)
def no_grace(monkeypatch):
    """Entries used a moment ago may be evicted (the grace is for readers elsewhere)."""
    monkeypatch.setattr(cache_bound, "_CACHE_GRACE", 0.0)


@pytest.fixture()
def run(tmp_path):
    run = create_run(tmp_path / "run", n_samples=N)
    run.append_snapshot({"logits": np.zeros((N, 3), np.float32)})
    return run


def put(run, i: int, nbytes: int = 4 * KB) -> bool:
    values = np.random.default_rng(i).random(nbytes // 8)  # incompressible
    return run.cache_put("thing", {"i": i}, {"values": values})


def cached(run) -> set[int]:
    return {i for i in range(20) if run.cache_get("thing", {"i": i}) is not None}


def test_least_recently_used_entries_go_beyond_the_limit(run, monkeypatch):
    monkeypatch.setenv(cache_bound.CACHE_LIMIT_ENV, "14K")  # three 4 KiB entries and metadata
    for i in range(3):
        assert put(run, i)
        time.sleep(0.01)
    assert cached(run) == {0, 1, 2}  # every get counts as a use, in this order
    assert run.cache_get("thing", {"i": 0}) is not None  # 0 is now the most recent
    time.sleep(0.01)
    assert put(run, 3)
    assert cached(run) == {0, 2, 3}  # 1 was the least recently used
    assert sum(e.nbytes for e in run.cache_entries()) <= 14 * KB


def test_an_entry_larger_than_the_whole_cache_is_not_stored(run, monkeypatch):
    monkeypatch.setenv(cache_bound.CACHE_LIMIT_ENV, "2K")
    assert not put(run, 0, nbytes=4 * KB)
    assert run.cache_entries() == []
    entry = run.cache_begin("stack", {}, {"x": ((4 * KB,), "uint8", (KB,))})
    assert entry is None  # a streamed result is computed, not kept, too


def test_entries_whose_arrays_are_in_use_are_not_evicted(run, monkeypatch):
    monkeypatch.setenv(cache_bound.CACHE_LIMIT_ENV, "9K")
    assert put(run, 0)
    held = run.cache_arrays("thing", {"i": 0})  # read lazily by someone in this process
    time.sleep(0.01)
    assert put(run, 1) and put(run, 2)
    assert 0 in cached(run)
    np.testing.assert_array_equal(held["values"][...], np.random.default_rng(0).random(512))
    del held
    gc.collect()
    time.sleep(0.01)
    assert put(run, 3)
    assert 0 not in cached(run)


def test_entries_used_by_another_reader_moments_ago_are_kept(run, monkeypatch):
    monkeypatch.setattr(cache_bound, "_CACHE_GRACE", 60.0)
    monkeypatch.setenv(cache_bound.CACHE_LIMIT_ENV, "9K")
    for i in range(3):
        assert put(run, i)
    assert cached(run) == {0, 1, 2}  # over the bound for now: each was used just now


def test_an_interrupted_entry_is_kept_for_its_writers_then_evicted(run, monkeypatch):
    monkeypatch.setenv(cache_bound.CACHE_LIMIT_ENV, "9K")
    assert run.cache_begin("stack", {}, {"x": ((4 * KB,), "uint8", (4 * KB,))})
    run.cache_write("cache/" + run.cache_key("stack", {}), "x", (slice(None),), 7)
    assert put(run, 0) and put(run, 1)
    assert any(not e.complete for e in run.cache_entries())  # being written: kept
    monkeypatch.setattr(cache_bound, "_CACHE_STALE", 0.0)
    assert put(run, 2)
    assert all(e.complete for e in run.cache_entries())


def test_the_default_limit_is_a_multiple_of_the_run_with_a_floor(run, monkeypatch):
    monkeypatch.delenv(cache_bound.CACHE_LIMIT_ENV, raising=False)
    assert run.recorded_nbytes == N * 3 * 4 + N * 4  # one snapshot of logits + predictions
    assert run.cache_limit == cache_bound._CACHE_FLOOR
    monkeypatch.setattr(cache_bound, "_CACHE_FLOOR", 0)
    assert run.cache_limit == 4 * run.recorded_nbytes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("1000", 1000),
        ("2K", 2048),
        ("1.5M", 1572864),
        ("3G", 3 * 2**30),
        ("512MiB", 512 * 2**20),
        ("2x", 2000),
        ("0.5X", 500),
    ],
)
def test_cache_limits_parse(text, expected):
    assert cache_bound.parse_cache_limit(text, 1000) == expected


@pytest.mark.parametrize("text", ["lots", "-1G", "nanM", "G", "2y"])
def test_bad_cache_limits_are_named(text, run, monkeypatch):
    monkeypatch.setenv(cache_bound.CACHE_LIMIT_ENV, text)
    with pytest.raises(InvalidParameterError, match=cache_bound.CACHE_LIMIT_ENV):
        run.cache_limit  # noqa: B018


def test_a_limit_of_zero_stores_nothing(run, monkeypatch):
    monkeypatch.setenv(cache_bound.CACHE_LIMIT_ENV, "0")
    assert not put(run, 0)
    assert run.cache_entries() == []


def test_entries_are_listed_and_cleared(run):
    assert put(run, 0) and put(run, 1)
    run.cache_put("other", {}, {"v": np.ones(10)})
    entries = run.cache_entries()
    assert sorted(e.name for e in entries) == ["other", "thing", "thing"]
    assert all(e.complete and e.current and e.nbytes > 0 for e in entries)
    assert run.cache_clear("thing") == sum(e.nbytes for e in entries if e.name == "thing")
    assert [e.name for e in run.cache_entries()] == ["other"]
    assert run.cache_clear() > 0 and run.cache_entries() == []
    reopened = open_run(run.location)
    with pytest.raises(PermissionError):
        reopened.cache_clear()


def test_many_k_through_the_server_keep_the_run_small(tmp_path: Path, monkeypatch) -> None:
    """Regression (#11): every k asked for kept a neighbour stack in the run, unbounded."""
    pytest.importorskip("starlette")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from reprdynamics.analysis import api
    from reprdynamics.server.app import create_app

    n = 300
    path = noise_run(tmp_path / "run", n, snapshots=4)
    stack = 4 * n * 30 * 8  # a stack at k = 30: int32 indices and float32 distances
    monkeypatch.setenv(cache_bound.CACHE_LIMIT_ENV, str(3 * stack))
    client = TestClient(create_app(path))

    def cache_bytes() -> int:
        return sum(f.stat().st_size for f in (path / "cache").rglob("*") if f.is_file())

    for k in range(10, 31):
        for _ in range(400):
            response = client.get(f"/api/runs/run/fingerprint?k={k}")
            if response.status_code == 200:
                break
            assert response.status_code == 202, response.text
            time.sleep(0.02)
        assert response.status_code == 200
    # Stacks the process still holds (its memo) are kept; everything else fits the bound.
    held = len(api._MEMO) * stack
    assert cache_bytes() <= 3 * stack + held
    entries = open_run(path).cache_entries()
    assert len(entries) < 21  # without the bound: 21 stacks and 21 fingerprints
