"""Background snapshot writes: same run on disk, errors surface, durability after flush."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import reprdynamics as rd
from reprdynamics.errors import RecordingError


def _record(path, *, background, n=50, epochs=4, seed=0):
    rng = np.random.default_rng(seed)
    rec = rd.Recorder(path, n_samples=n, labels=np.arange(n) % 3, background=background)
    for epoch in range(epochs):
        for start in range(0, n, 16):
            ids = np.arange(start, min(start + 16, n))
            rec.store_batch(rng.normal(size=(ids.size, 3)), ids=ids, epoch=epoch)
            rec.store_batch(rng.normal(size=(ids.size, 5)), ids=ids, epoch=epoch, layer="h")
        rec.end_snapshot(metrics={"loss": 1.0 / (epoch + 1)})
    rec.close()
    return rec


def test_background_writes_give_the_same_run(tmp_path):
    _record(tmp_path / "fg", background=False)
    rec = _record(tmp_path / "bg", background=True)
    assert rec.n_snapshots == 4
    fg, bg = rd.open_run(tmp_path / "fg"), rd.open_run(tmp_path / "bg")
    assert bg.n_snapshots == fg.n_snapshots == 4
    assert bg.epochs == fg.epochs
    np.testing.assert_array_equal(bg.metric("loss"), fg.metric("loss"))
    for t in range(4):
        for layer in ("logits", "h"):
            np.testing.assert_array_equal(bg.read(layer, t), fg.read(layer, t))
        np.testing.assert_array_equal(bg.predictions(t), fg.predictions(t))


def test_flush_makes_the_ended_snapshot_durable(tmp_path):
    rec = rd.Recorder(tmp_path / "r", n_samples=4, background=True)
    rec.store_batch(np.ones((4, 2)), ids=range(4), epoch=0)
    rec.end_snapshot()
    rec.flush()
    assert rd.open_run(tmp_path / "r").n_snapshots == 1
    rec.close()


def test_the_write_runs_off_the_calling_thread(tmp_path, monkeypatch):
    rec = rd.Recorder(tmp_path / "r", n_samples=4, background=True)
    seen = []
    original = rec.run.append_snapshot

    def spy(*args, **kwargs):
        seen.append(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(rec.run, "append_snapshot", spy)
    rec.store_batch(np.ones((4, 2)), ids=range(4), epoch=0)
    rec.close()
    assert seen and seen[0].startswith("reprdynamics-writer")
    assert rd.open_run(tmp_path / "r").n_snapshots == 1


def test_a_failed_background_write_is_raised_at_the_next_call(tmp_path, monkeypatch):
    rec = rd.Recorder(tmp_path / "r", n_samples=4, background=True)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(rec.run, "append_snapshot", broken)
    rec.store_batch(np.ones((4, 2)), ids=range(4), epoch=0)
    rec.end_snapshot()
    rec._pending.exception()  # let the write finish (and fail)
    with pytest.raises(RecordingError, match=r"snapshot 0 .*disk full") as info:
        rec.store_batch(np.ones((4, 2)), ids=range(4), epoch=1)
    assert isinstance(info.value.__cause__, OSError)
    assert rec.n_snapshots == 0  # the failed snapshot is not counted
    monkeypatch.undo()
    rec.store_batch(np.ones((4, 2)), ids=range(4), epoch=1)  # recording goes on
    rec.close()
    run = rd.open_run(tmp_path / "r")
    assert run.epochs == [1]


def test_background_is_the_default(tmp_path):
    rec = rd.Recorder(tmp_path / "r", n_samples=4)
    assert rec._writer is not None
    rec.close()
    assert rd.Recorder(tmp_path / "s", n_samples=4, background=False)._writer is None


def test_a_non_finite_batch_is_named_by_the_background_check(tmp_path):
    """Finiteness is checked once per snapshot, in the writer; the error still names the
    batch and the epoch, and only that snapshot is lost."""
    rec = rd.Recorder(tmp_path / "r", n_samples=8)
    for epoch in range(2):
        for b, start in enumerate(range(0, 8, 2)):
            values = np.ones((2, 3))
            if epoch == 1 and b == 2:
                values[1, 0] = np.inf
            rec.store_batch(values, ids=np.arange(start, start + 2), epoch=epoch)
    rec.end_snapshot()
    with pytest.raises(RecordingError, match=r"batch 2 of snapshot 1, epoch 1 .*\[5\]"):
        rec.flush()
    rec.close()
    assert rd.open_run(tmp_path / "r").n_snapshots == 1


def test_errors_in_batches_are_still_raised_synchronously(tmp_path):
    rec = rd.Recorder(tmp_path / "r", n_samples=4, background=True)
    with pytest.raises(RecordingError, match="outside"):
        rec.store_batch(np.ones((1, 2)), ids=[9], epoch=0)
    rec.close()


def test_batch_sources_are_flushed_before_a_snapshot_ends(tmp_path):
    rec = rd.Recorder(tmp_path / "r", n_samples=4, background=False)
    held = [(np.ones((4, 2)), np.arange(4))]

    def flush():
        while held:
            values, ids = held.pop()
            rec.store_batch(values, ids=ids, epoch=0)

    rec.add_batch_source(flush)
    assert rec.end_snapshot(metrics={"loss": 0.5}) is True
    run = rd.open_run(tmp_path / "r")
    assert run.n_snapshots == 1 and run.complete.tolist() == [True]
    assert run.metric("loss").tolist() == [0.5]
    rec.remove_batch_source(flush)
    held.append((np.ones((4, 2)), np.arange(4)))
    assert rec.end_snapshot() is False  # removed: nothing flushed
    rec.close()


def test_resuming_refuses_an_epoch_the_run_already_holds(tmp_path):
    with rd.Recorder(tmp_path / "r", n_samples=3) as rec:
        for epoch in range(3):
            rec.store_batch(np.ones((3, 2)) * epoch, ids=range(3), epoch=epoch)
    resumed = rd.Recorder(tmp_path / "r", resume=True)
    with pytest.raises(RecordingError, match="already holds epoch 2"):
        resumed.store_batch(np.ones((3, 2)), ids=range(3), epoch=2)
    resumed.store_batch(np.ones((3, 2)), ids=range(3), epoch=3)
    resumed.close()
    assert rd.open_run(tmp_path / "r").epochs == [0, 1, 2, 3]
