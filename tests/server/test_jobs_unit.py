"""server/jobs.py tested directly: lifecycle, sharing, errors, abandonment, queue, memo."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from reprdynamics import errors
from reprdynamics.server.jobs import JobRegistry, QueueFullError, approx_bytes


class Clock:
    """A fake registry clock (polls are timed on it)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def registry():
    reg = JobRegistry(max_workers=1, abandon_after=10.0, clock=Clock())
    yield reg
    reg.shutdown()


def finished(job, timeout: float = 10.0):
    job.future.result(timeout=timeout)
    return job


def test_a_job_runs_reports_progress_and_is_memoised(registry):
    def compute(progress):
        progress(1, 2, "snapshot 0")
        return np.arange(4)

    job = finished(registry.submit("k", compute, description="four ids"))
    assert job.status == "done" and job.error is None
    np.testing.assert_array_equal(job.result, np.arange(4))
    assert (job.done, job.total) == (1, 2)
    body = job.progress_dict()
    assert body["job"] == job.id and body["status"] == "done" and body["elapsed"] >= 0
    assert registry.has("k")
    np.testing.assert_array_equal(registry.memo_get("k"), np.arange(4))
    assert registry.get(job.id) is job and registry.get("unknown") is None


def test_a_finished_job_says_done(registry):
    job = finished(registry.submit("k", lambda p: p(1, 1, "snapshot 0"), description="d"))
    assert job.progress_dict()["what"] == "done"


def test_identical_concurrent_requests_share_one_job(registry):
    release, calls = threading.Event(), []

    def compute(progress):
        calls.append(1)
        release.wait(10)
        return "x"

    first = registry.submit("same", compute, description="a")
    second = registry.submit("same", compute, description="a")
    other = registry.submit("other", lambda p: "y", description="b")
    assert second is first and other is not first
    assert first.status == "running"
    release.set()
    finished(first), finished(other)
    assert calls == [1] and first.result == "x" and other.result == "y"


def test_our_errors_reach_the_caller_with_their_status(registry):
    def compute(progress):
        raise errors.RunNotFoundError("No run at 'x'.")

    job = finished(registry.submit("k", compute, description="a run"))
    assert job.status == "failed"
    assert (job.error.status, job.error.parameter) == (404, "run")
    assert not registry.has("k")
    # The failure is handed out once more (to the client polling for it), then forgotten.
    assert registry.submit("k", compute, description="a run") is job
    again = registry.submit("k", lambda p: 1, description="a run")
    assert again is not job and finished(again).result == 1


def test_a_bug_is_a_500_without_the_traceback(registry):
    def compute(progress):
        raise KeyError("secret detail")

    job = finished(registry.submit("k", compute, description="the table"))
    assert job.error.status == 500
    assert job.error.message == "Internal error while computing the table: KeyError"


def test_get_reports_a_failure_once(registry):
    job = finished(registry.submit("k", lambda p: 1 / 0, description="d"))
    assert registry.get(job.id) is job  # the failure reported here...
    assert registry.submit("k", lambda p: 2, description="d") is not job  # ...not again


def test_an_unpolled_job_is_cancelled_at_its_next_progress_report(registry):
    started, go_on = threading.Event(), threading.Event()
    reports = []

    def compute(progress):
        progress(0, 3, "first")
        started.set()
        go_on.wait(10)
        progress(1, 3, "second")
        reports.append("went on")  # never reached
        return 1

    job = registry.submit("k", compute, description="slow")
    assert started.wait(10)
    registry.clock.now += 11  # nobody polled for longer than abandon_after
    go_on.set()
    finished(job)
    assert reports == [] and job.status == "failed" and job.what == "cancelled"
    assert job.error.status == 410 and job.error.parameter == "job"
    assert not registry.has("k")
    fresh = registry.submit("k", lambda p: 2, description="slow")
    assert fresh is not job and finished(fresh).result == 2


def test_polling_keeps_a_job_alive(registry):
    started, go_on = threading.Event(), threading.Event()

    def compute(progress):
        started.set()
        go_on.wait(10)
        progress(1, 1, "end")
        return "kept"

    job = registry.submit("k", compute, description="polled")
    assert started.wait(10)
    for _ in range(3):
        registry.clock.now += 6
        assert registry.get(job.id) is job  # a poll
    go_on.set()
    assert finished(job).result == "kept"


def test_a_queued_job_nobody_wants_is_dropped_unstarted(registry):
    started, release, ran = threading.Event(), threading.Event(), []
    busy = registry.submit("busy", lambda p: started.set() or release.wait(10), description="busy")
    queued = registry.submit("queued", lambda p: ran.append(1), description="queued")
    assert started.wait(10)
    registry.clock.now += 11
    registry.get(busy.id)  # the busy one is still wanted
    release.set()
    finished(busy), finished(queued)
    assert ran == [] and queued.cancelled and queued.error.status == 410
    assert queued.began is None


def test_a_full_queue_refuses_with_retry_after():
    release = threading.Event()
    reg = JobRegistry(max_workers=1, max_queued=1, retry_after=7, clock=Clock())
    try:
        reg.submit("running", lambda p: release.wait(10), description="a")
        deadline = time.monotonic() + 10
        while reg.get(reg.submit("running", None, description="a").id).began is None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        reg.submit("waiting", lambda p: 1, description="b")
        with pytest.raises(QueueFullError) as caught:
            reg.submit("refused", lambda p: 1, description="c")
        assert caught.value.status == 503
        assert caught.value.headers == {"Retry-After": "7"}
        assert caught.value.to_dict()["retry_after"] == 7
    finally:
        release.set()
        reg.shutdown()


def test_wait_returns_when_the_job_ends_and_counts_as_a_poll(registry):
    started, release = threading.Event(), threading.Event()

    def compute(progress):
        started.set()
        release.wait(10)
        return "ok"

    job = registry.submit("k", compute, description="w")
    assert started.wait(10)

    async def scenario():
        registry.clock.now = 5.0
        await registry.wait(job, 0.05)  # times out, the job still running
        assert job.status == "running" and job.polled == 5.0 and job.waiting == 0
        threading.Timer(0.05, release.set).start()
        await registry.wait(job, 10)

    run_in_own_loop(scenario)
    assert job.status == "done" and job.result == "ok" and job.waiting == 0


def run_in_own_loop(scenario) -> None:
    """``asyncio.run(scenario())`` in a thread of its own: the thread running the tests may
    hold a running loop already (Playwright's sync API keeps one for the browser tests)."""
    failures: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(scenario())
        except BaseException as exc:  # handed to the test's thread
            failures.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "the scenario did not finish"
    if failures:
        raise failures[0]


def test_memo_is_a_bounded_lru():
    # Every lookup (memo_get, has) counts as a use: the order comments follow them.
    reg = JobRegistry(memo_entries=2, memo_bytes=10_000)
    reg.memo_put("a", 1)
    reg.memo_put("b", 2)
    assert reg.memo_get("a") == 1  # b, a
    reg.memo_put("c", 3)  # a third entry: the least recent, b, goes
    assert not reg.has("b") and reg.has("c") and reg.has("a")  # c, a
    reg.memo_put("huge", np.zeros(20_000, dtype=np.uint8))  # over memo_bytes alone: not kept
    assert not reg.has("huge")
    reg.memo_put("half", np.zeros(9_000, dtype=np.uint8))  # c goes
    assert not reg.has("c") and reg.has("half") and reg.has("a")  # half, a
    reg.memo_put("more", np.zeros(5_000, dtype=np.uint8))  # half goes; a and more fit
    assert reg.has("more") and reg.has("a") and not reg.has("half")
    by_size = JobRegistry(memo_entries=100, memo_bytes=10_000)
    by_size.memo_put("x", np.zeros(6_000, dtype=np.uint8))
    by_size.memo_put("y", np.zeros(6_000, dtype=np.uint8))  # 12,000 bytes: x goes
    assert by_size.has("y") and not by_size.has("x")
    calls = []
    assert reg.memoised("m", lambda: calls.append(1) or 5) == 5
    assert reg.memoised("m", lambda: calls.append(1) or 6) == 5 and calls == [1]


def test_shutdown_cancels_queued_jobs():
    release, ran = threading.Event(), []
    reg = JobRegistry(max_workers=1, clock=Clock())
    busy = reg.submit("busy", lambda p: release.wait(10), description="busy")
    queued = reg.submit("queued", lambda p: ran.append(1), description="queued")
    reg.shutdown()
    release.set()
    assert queued.future.done() and queued.cancelled and queued.error.status == 410
    assert busy.cancelled
    assert ran == []


def test_approx_bytes():
    assert approx_bytes(np.zeros(10, dtype=np.float32)) == 40
    assert approx_bytes("abcd") == 4 and approx_bytes(b"ab") == 2
    assert approx_bytes({"a": np.zeros(3, dtype=np.uint8)}) == 64 + 3
    assert approx_bytes([np.zeros(2, dtype=np.uint8), "xy"]) == 64 + 2 + 2

    class Sized:
        def approx_bytes(self):
            return 1234

    assert approx_bytes(Sized()) == 1234
    assert approx_bytes(3) == 64
