"""A training process killed at any moment leaves every committed snapshot readable.

A child process records deterministic snapshots with a :class:`~reprdynamics.Recorder`
(default options: writes in a background thread) and reports its progress on stdout; the
test kills it with SIGKILL (no cleanup, no ``finally``) mid-snapshot and mid-write, then
checks the run from the outside, and resumes it.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from reprdynamics import Recorder, open_run

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "SIGKILL"), reason="needs POSIX signals (SIGKILL)"
)

# The values of a snapshot depend only on its epoch, so the test knows what the child wrote.
# One definition, run by both processes.
VALUES_SOURCE = """
import numpy as np

def snapshot_values(epoch, n, d):
    return np.random.default_rng(epoch).standard_normal((n, d), dtype=np.float32)

def batch_order(epoch, n):
    return np.random.default_rng(10_000 + epoch).permutation(n)
"""
_namespace: dict = {}
exec(VALUES_SOURCE, _namespace)
snapshot_values = _namespace["snapshot_values"]

CHILD = (
    VALUES_SOURCE
    + """
import sys, time
from reprdynamics import Recorder, is_run

path = sys.argv[1]
n, d, batch = map(int, sys.argv[2:5])
pause = float(sys.argv[5])
rec = Recorder(path, resume=True) if is_run(path) else Recorder(path, n_samples=n)
epoch = rec.run.epochs[-1] + 1 if rec.n_snapshots else 0
print(f"ready {epoch}", flush=True)
while True:  # until killed
    values, order = snapshot_values(epoch, n, d), batch_order(epoch, n)
    for i, start in enumerate(range(0, n, batch)):
        ids = order[start : start + batch]
        rec.store_batch(values[ids], ids=ids, epoch=epoch)
        print(f"batch {epoch} {i}", flush=True)
        time.sleep(pause)
    print(f"writing {epoch}", flush=True)
    started = time.perf_counter()
    rec.end_snapshot(metrics={"loss": float(epoch)})
    # Background writes (the default): the snapshot is committed when its write ends,
    # while the next epoch's batches already run; the writer thread says so.
    def committed(_, epoch=epoch, started=started):
        print(f"committed {epoch} {time.perf_counter() - started:.4f}", flush=True)
    if rec._pending is None:
        committed(None)
    else:
        rec._pending.add_done_callback(committed)
    epoch += 1
"""
)


class Child:
    """The recording process, with its stdout lines delivered through a queue."""

    def __init__(self, path: Path, n: int, d: int, batch: int, pause: float, log: Path) -> None:
        self._log = log
        self._stderr = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(n), str(d), str(batch), str(pause)],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.strip())
        self._queue.put(None)

    def wait_for(self, prefix: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                pytest.fail(f"the child printed no {prefix!r} within {timeout}s: {self.lines[-5:]}")
            if line is None:
                pytest.fail(f"the child exited early:\n{self._log.read_text()[-3000:]}")
            self.lines.append(line)
            if line.startswith(prefix):
                return line

    def kill(self) -> list[str]:
        """SIGKILL the child; returns every line it printed."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        assert self.proc.returncode == -signal.SIGKILL
        while (line := self._queue.get(timeout=30)) is not None:
            self.lines.append(line)
        self._stderr.close()
        return self.lines

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self._stderr.close()


@pytest.fixture
def spawn(tmp_path):
    children: list[Child] = []

    def start(path: Path, n: int, d: int, batch: int, pause: float) -> Child:
        child = Child(path, n, d, batch, pause, tmp_path / "child-stderr.log")
        children.append(child)
        return child

    yield start
    for child in children:
        child.stop()


class Expected:
    """Snapshot values by epoch, generated once."""

    def __init__(self, n: int, d: int) -> None:
        self.n, self.d = n, d
        self._cache: dict[int, np.ndarray] = {}

    def __call__(self, epoch: int) -> np.ndarray:
        if epoch not in self._cache:
            self._cache[epoch] = snapshot_values(epoch, self.n, self.d)
        return self._cache[epoch]


def check_run(path: Path, expected: Expected) -> int:
    """The run opens and every listed snapshot is exactly what was recorded for it."""
    run = open_run(path)
    assert run.n_samples == expected.n
    epochs = run.epochs
    assert epochs == list(range(len(epochs)))  # no gap, no duplicate: a killed one is redone
    assert run.complete.all()
    np.testing.assert_array_equal(run.metric("loss"), np.arange(len(epochs), dtype=float))
    for t, epoch in enumerate(epochs):
        values = expected(epoch)
        np.testing.assert_array_equal(run.read("logits", t), values, err_msg=f"snapshot {t}")
        np.testing.assert_array_equal(run.predictions(t), values.argmax(axis=1))
    return len(epochs)


def resume_and_append(path: Path, expected: Expected) -> None:
    before = open_run(path).n_snapshots
    with Recorder(path, resume=True) as rec:
        epoch = rec.run.epochs[-1] + 1 if rec.n_snapshots else 0
        values = expected(epoch)
        for start in range(0, expected.n, 50_000):
            ids = np.arange(start, min(start + 50_000, expected.n))
            rec.store_batch(values[ids], ids=ids, epoch=epoch)
        rec.end_snapshot(metrics={"loss": float(epoch)})
    assert check_run(path, expected) == before + 1


def test_kill_mid_snapshot_keeps_every_committed_snapshot(tmp_path, spawn):
    path = tmp_path / "run"
    n, d = 2_000, 8
    child = spawn(path, n, d, batch=200, pause=0.08)
    child.wait_for("committed 2")
    child.wait_for("batch 3 1")  # snapshot 3 is being assembled, with batches still to come
    lines = child.kill()
    assert not any(line.startswith("writing 3") for line in lines)

    expected = Expected(n, d)
    assert check_run(path, expected) == 3
    resume_and_append(path, expected)
    assert open_run(path).epochs == [0, 1, 2, 3]


@pytest.mark.slow
def test_repeated_kills_at_random_moments(tmp_path, spawn):
    path = tmp_path / "run"
    n, d = 200_000, 16  # ~13 MB a snapshot: its write takes long enough to be hit
    expected = Expected(n, d)
    rng = random.Random(20240601)
    write_seconds = 0.1
    killed_mid_write = 0
    for round_ in range(12):
        if round_ >= 5 and killed_mid_write:
            break  # five rounds, more only until one kill has landed inside a write
        child = spawn(path, n, d, batch=20_000, pause=0.0)
        child.wait_for("ready")
        if round_ % 2 == 0:
            # At a random moment: during batches, between snapshots, or during a write.
            time.sleep(rng.uniform(0.0, 1.2))
        else:
            # Inside append_snapshot: the child has announced the write of a snapshot.
            if round_ > 1:
                write_seconds = float(child.wait_for("committed").split()[2])
            child.wait_for("writing")
            time.sleep(rng.uniform(0.1, 0.7) * write_seconds)
        lines = child.kill()
        written = [line for line in lines if line.startswith(("writing", "committed"))]
        if written and written[-1].startswith("writing"):
            killed_mid_write += 1
        check_run(path, expected)
    assert killed_mid_write, "no kill landed inside a snapshot's write"
    resume_and_append(path, expected)
