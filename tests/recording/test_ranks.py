"""Several processes recording one run: merged value by value, a rank killed mid-snapshot,
and ranks that disagree.

The value-level and crash tests run every rank as its own Python process (no framework:
ranks find each other through the run); the disagreement tests run ranks as threads of
this process, which exercises the same protocol faster.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from reprdynamics import Recorder, open_run
from reprdynamics.errors import InvalidParameterError, RecordingError

N, C, H, BATCH = 53, 4, 6, 7

# The outputs depend only on the epoch, so every process and the test agree on them.
VALUES_SOURCE = """
import numpy as np

def outputs(epoch, n, c, h):
    rng = np.random.default_rng(epoch)
    return rng.standard_normal((n, c), dtype=np.float32), rng.standard_normal((n, h))

def rank_ids(epoch, n, rank, world):
    # interleaved, as a DistributedSampler deals a shuffled order out to the ranks
    return np.random.default_rng(1000 + epoch).permutation(n)[rank::world]
"""
_namespace: dict = {}
exec(VALUES_SOURCE, _namespace)
outputs, rank_ids = _namespace["outputs"], _namespace["rank_ids"]

WORKER = (
    (
        VALUES_SOURCE
        + """
import os, signal, sys
from reprdynamics import Recorder

path, rank, world, n, epochs, die_at, timeout, resume = sys.argv[1:9]
rank, world, n, epochs, die_at = int(rank), int(world), int(n), int(epochs), int(die_at)
rec = Recorder(
    path, n_samples=n, rank=rank, world_size=world, rank_timeout=float(timeout),
    resume=resume == "resume",
)
try:
    for epoch in range(rec.n_snapshots, epochs):  # epoch t is snapshot t
        logits, hidden = outputs(epoch, n, @C@, @H@)
        ids = rank_ids(epoch, n, rank, world)
        for b, start in enumerate(range(0, ids.size, @BATCH@)):
            if epoch == die_at and b == 2:
                rec.flush()  # the previous snapshot's rows are written: die mid-snapshot only
                print("dying", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
            batch = ids[start : start + @BATCH@]
            rec.store_batch(logits[batch], ids=batch, epoch=epoch)
            rec.store_batch(hidden[batch], ids=batch, epoch=epoch, layer="hidden")
        rec.end_snapshot(metrics={"loss": 1.0 / (epoch + 1), "rank": rank})
    rec.close()
except Exception as exc:
    print(f"ERROR {type(exc).__name__}: {exc}", flush=True)
    sys.exit(3)
print("done", flush=True)
"""
    )
    .replace("@C@", str(C))
    .replace("@H@", str(H))
    .replace("@BATCH@", str(BATCH))
)


def start_rank(
    path: Path, rank: int, world: int, *, epochs: int, die_at=-1, timeout=60, resume=False
):
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            WORKER,
            str(path),
            str(rank),
            str(world),
            str(N),
            str(epochs),
            str(die_at),
            str(timeout),
            "resume" if resume else "new",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def single_process_run(path: Path, epochs: int) -> None:
    with Recorder(path, n_samples=N) as rec:
        for epoch in range(epochs):
            logits, hidden = outputs(epoch, N, C, H)
            ids = rank_ids(epoch, N, 0, 1)
            for start in range(0, N, BATCH):
                batch = ids[start : start + BATCH]
                rec.store_batch(logits[batch], ids=batch, epoch=epoch)
                rec.store_batch(hidden[batch], ids=batch, epoch=epoch, layer="hidden")
            rec.end_snapshot(metrics={"loss": 1.0 / (epoch + 1), "rank": 0})


def test_two_processes_record_the_same_run_as_one(tmp_path):
    procs = [start_rank(tmp_path / "ddp", r, 2, epochs=3) for r in (1, 0)]  # rank 1 first
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    single_process_run(tmp_path / "one", 3)
    ddp, one = open_run(tmp_path / "ddp"), open_run(tmp_path / "one")
    assert ddp.n_snapshots == one.n_snapshots == 3
    assert ddp.epochs == one.epochs and ddp.complete.all()
    np.testing.assert_array_equal(ddp.metric("loss"), one.metric("loss"))
    np.testing.assert_array_equal(ddp.metric("rank"), [0, 0, 0])  # rank 0's metrics count
    for t in range(3):
        for layer in ("logits", "hidden"):
            np.testing.assert_array_equal(ddp.read(layer, t), one.read(layer, t))
        np.testing.assert_array_equal(ddp.predictions(t), one.predictions(t))
    assert not (tmp_path / "ddp" / "parts" / "0").exists()  # merged parts are removed
    state = ddp.attrs["recording"]
    assert state["open"] is False and state["world_size"] == 2 and len(state["session"]) == 32


def test_a_rank_killed_mid_snapshot_leaves_it_uncommitted_and_earlier_ones_intact(tmp_path):
    rank1 = start_rank(tmp_path / "run", 1, 2, epochs=4, die_at=2)
    rank0 = start_rank(tmp_path / "run", 0, 2, epochs=4, timeout=4)
    out1 = rank1.communicate(timeout=120)[0]
    out0 = rank0.communicate(timeout=120)[0]
    assert rank1.returncode == -signal.SIGKILL and "dying" in out1
    assert rank0.returncode == 3, out0
    assert "Snapshot 2 (epoch 2) is not committed: rank 1 of 2 did not write" in out0
    run = open_run(tmp_path / "run")
    assert run.n_snapshots == 2 and run.complete.all()
    for t in range(2):
        logits, hidden = outputs(t, N, C, H)
        np.testing.assert_array_equal(run.read("logits", t), logits)
        np.testing.assert_array_equal(run.read("hidden", t), hidden.astype(np.float32))
    assert (tmp_path / "run" / "parts" / "2").exists()  # what rank 0 could not commit

    # Both ranks restart and resume: the killed snapshot is recorded again, whole. Rank 0
    # first (its run still says "open" from the killed recording; without a barrier a rank
    # joining before rank 0 reopened it is told to restart).
    old_session = run.attrs["recording"]["session"]
    rank0 = start_rank(tmp_path / "run", 0, 2, epochs=4, resume=True)
    deadline = time.monotonic() + 60
    while open_run(tmp_path / "run").attrs["recording"]["session"] == old_session:
        assert time.monotonic() < deadline, "rank 0 did not reopen the run"
        time.sleep(0.05)
    procs = [start_rank(tmp_path / "run", 1, 2, epochs=4, resume=True), rank0]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    run = open_run(tmp_path / "run")
    assert run.epochs == [0, 1, 2, 3] and run.complete.all()
    for t in range(4):
        np.testing.assert_array_equal(run.read("logits", t), outputs(t, N, C, H)[0])
    assert not (tmp_path / "run" / "parts").exists() or not any(
        (tmp_path / "run" / "parts").glob("[0-9]*")
    )


# ---------------------------------------------------------------------- disagreeing ranks
def run_ranks(path: Path, plans: dict[int, dict], *, world: int, epochs=1, timeout=3.0):
    """Run each rank's plan in a thread; returns {rank: exception or None}."""
    results: dict[int, BaseException | None] = {}

    def work(rank: int, plan: dict) -> None:
        try:
            rec = Recorder(
                path,
                n_samples=plan.get("n_samples", N),
                rank=rank,
                world_size=plan.get("world", world),
                rank_timeout=timeout,
                overwrite=plan.get("overwrite", False),
                resume=plan.get("resume", False),
            )
            for epoch in range(plan.get("first_epoch", 0), epochs):
                logits, hidden = outputs(epoch, N, C, H)
                ids = plan.get("ids", lambda e: rank_ids(e, N, rank, world))(epoch)
                rec.store_batch(logits[ids], ids=ids, epoch=epoch + plan.get("epoch_shift", 0))
                for layer in plan.get("extra_layers", ()):
                    rec.store_batch(hidden[ids], ids=ids, epoch=epoch, layer=layer)
                rec.end_snapshot()
            rec.close()
            results[rank] = None
        except BaseException as exc:
            results[rank] = exc

    threads = [threading.Thread(target=work, args=item) for item in plans.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def committed_values(path: Path) -> list[np.ndarray]:
    run = open_run(path)
    return [run.read("logits", t) for t in range(run.n_snapshots)]


@pytest.fixture()
def recorded(tmp_path) -> Path:
    """A run with one snapshot committed by two ranks, then reopened by the cases."""
    path = tmp_path / "run"
    assert run_ranks(path, {0: {}, 1: {}}, world=2) == {0: None, 1: None}
    return path


def resumed(plan: dict) -> dict:
    return {"resume": True, "first_epoch": 1, **plan}


@pytest.mark.parametrize(
    ("plans", "world", "rank", "problem"),
    [
        ({0: {}, 1: {"n_samples": N + 1}}, 2, 1, rf"Rank 1 was started with n_samples={N + 1}"),
        ({0: {}, 1: {"world": 3}}, 2, 1, "Rank 1 was started with world_size=3.*world_size=2"),
        ({0: {}, 1: {"epoch_shift": 1}}, 2, 0, "rank 1 recorded it with epoch = 2, rank 0 with 1"),
        (
            {0: {}, 1: {"extra_layers": ["hidden"]}},
            2,
            1,
            r"'hidden' appears at batch 1 of snapshot 1, epoch 1 \(rank 1\)",
        ),
        (
            {0: {}, 1: {"ids": lambda e: np.array([0, *rank_ids(e, N, 1, 2)])}},
            2,
            0,
            r"ranks 0 and 1 both recorded 1 id\(s\) \(e\.g\. \[0\]\)",
        ),
        ({0: {}, 1: {}}, 3, 0, r"rank 2 of 3 did not write its rows .* ids of the snapshot"),
    ],
    ids=["n_samples", "world_size", "epoch", "layers", "same-id", "missing-rank"],
)
def test_disagreeing_ranks_are_named_and_touch_no_committed_snapshot(
    recorded, plans, world, rank, problem
):
    before = committed_values(recorded)
    results = run_ranks(recorded, {r: resumed(p) for r, p in plans.items()}, world=world, epochs=2)
    error = results[rank]
    assert isinstance(error, RecordingError), results
    assert re.search(problem, str(error)), str(error)
    after = committed_values(recorded)
    assert len(after) == len(before) == 1
    np.testing.assert_array_equal(after[0], before[0])


def test_ranks_recording_different_layers_are_named(tmp_path):
    results = run_ranks(tmp_path / "run", {0: {}, 1: {"extra_layers": ["hidden"]}}, world=2)
    assert "rank 1 recorded it with layers = {'logits': 4, 'hidden': 6}" in str(results[0])
    assert "Rank 0 could not commit snapshot 0" in str(results[1])
    assert open_run(tmp_path / "run").n_snapshots == 0


def test_the_other_ranks_hear_why_rank_0_could_not_commit(recorded):
    plans = {0: {}, 1: {"ids": lambda e: np.array([0, *rank_ids(e, N, 1, 2)])}}
    results = run_ranks(recorded, {r: resumed(p) for r, p in plans.items()}, world=2, epochs=2)
    assert "Rank 0 could not commit snapshot 1: " in str(results[1])
    assert "both recorded" in str(results[1])


def test_a_rank_joining_a_closed_run_is_refused(recorded):
    with pytest.raises(RecordingError, match=r"Rank 1 of 2 cannot join .* closed by rank 0"):
        Recorder(recorded, n_samples=N, rank=1, world_size=2, rank_timeout=0.5)
    assert len(committed_values(recorded)) == 1


def test_a_rank_without_a_run_is_refused(tmp_path):
    with pytest.raises(RecordingError, match="rank 0 has not created a run"):
        Recorder(tmp_path / "none", n_samples=N, rank=1, world_size=2, rank_timeout=0.3)


@pytest.mark.parametrize(("rank", "world"), [(2, 2), (-1, 2), (0, 0)])
def test_rank_outside_the_world_is_a_parameter_error(tmp_path, rank, world):
    with pytest.raises(InvalidParameterError):
        Recorder(tmp_path / "r", n_samples=N, rank=rank, world_size=world)
    assert not os.path.exists(tmp_path / "r")


def test_a_rank_that_joined_before_rank_0_restarted_is_told_to_restart(recorded):
    """Rank 0 killed and started again while rank 1 still records the old session: rank 1's
    next rows would belong to nothing, so it stops with a clear error."""
    first = Recorder(recorded, n_samples=N, resume=True, rank=0, world_size=2, rank_timeout=2)
    rank1 = Recorder(recorded, n_samples=N, rank=1, world_size=2, rank_timeout=2)
    first.abort()  # "killed": the run still says open
    restarted = Recorder(recorded, n_samples=N, resume=True, rank=0, world_size=2)
    ids = rank_ids(1, N, 1, 2)
    rank1.store_batch(outputs(1, N, C, H)[0][ids], ids=ids, epoch=1)
    with pytest.raises(RecordingError, match="Rank 1: rank 0 restarted the recording"):
        rank1.end_snapshot()
        rank1.flush()
    restarted.abort()
    assert len(committed_values(recorded)) == 1
