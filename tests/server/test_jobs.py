"""The job registry: abandoned jobs are dropped or cancelled, and the queue is bounded."""

from __future__ import annotations

import asyncio
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from noise_runs import noise_run
from reprdynamics.analysis import api
from reprdynamics.server.app import create_app
from reprdynamics.server.arrays import ApiError
from reprdynamics.server.jobs import (
    ABANDON_AFTER,
    MAX_QUEUED,
    RETRY_AFTER,
    JobRegistry,
    Progress,
    QueueFullError,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note on httpx vs httpx2
    from starlette.testclient import TestClient

#: Seconds a test waits for a worker thread before failing (never reached when it works).
PATIENCE = 5.0


class FakeClock:
    """The registry's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Stepper:
    """A computation of ``steps`` snapshots; each waits for the test, then reports progress."""

    def __init__(self, steps: int = 1, value: Any = "result") -> None:
        self.steps = steps
        self.value = value
        self.began = threading.Event()
        self.go = threading.Semaphore(0)
        self.reported = 0
        self.returned = False

    def __call__(self, progress: Progress) -> Any:
        self.began.set()
        for step in range(self.steps):
            assert self.go.acquire(timeout=PATIENCE)
            progress(step + 1, self.steps, f"snapshot {step}")
            self.reported = step + 1
        self.returned = True
        return self.value

    def release(self, steps: int | None = None) -> None:
        for _ in range(self.steps if steps is None else steps):
            self.go.release()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry(clock: FakeClock) -> Iterator[JobRegistry]:
    jobs = JobRegistry(max_workers=1, abandon_after=10.0, max_queued=2, clock=clock)
    yield jobs
    jobs.shutdown()


def started(registry: JobRegistry, key: str, compute: Stepper) -> Any:
    job = registry.submit(key, compute, description=key)
    assert compute.began.wait(PATIENCE)
    return job


def test_defaults_are_documented() -> None:
    jobs = JobRegistry()
    assert (jobs.abandon_after, jobs.max_queued, jobs.retry_after) == (
        ABANDON_AFTER,
        MAX_QUEUED,
        RETRY_AFTER,
    )
    doc = (Path(__file__).parents[2] / "docs" / "http_api.md").read_text()
    assert f"{ABANDON_AFTER:g} s (`ABANDON_AFTER`" in doc
    assert f"At most {MAX_QUEUED} jobs (`MAX_QUEUED`" in doc
    assert f"`Retry-After: {RETRY_AFTER}` (`RETRY_AFTER`" in doc


def test_identical_requests_share_one_job_and_count_as_polls(
    registry: JobRegistry, clock: FakeClock
) -> None:
    first = Stepper(steps=2)
    job = started(registry, "fp", first)
    clock.advance(6)
    other = Stepper()
    assert registry.submit("fp", other, description="fp") is job  # a poll, not a new job
    clock.advance(6)  # 12 s since it was submitted, 6 s since the last poll
    first.release(1)
    clock.advance(6)
    assert registry.get(job.id) is job  # a poll too
    clock.advance(6)
    first.release(1)
    job.future.result(timeout=PATIENCE)
    assert job.status == "done" and first.reported == 2 and not other.began.is_set()
    assert registry.memo_get("fp") == "result"


def test_started_job_nobody_polls_stops_at_its_next_progress_report(
    registry: JobRegistry, clock: FakeClock
) -> None:
    abandoned = Stepper(steps=3)
    job = started(registry, "fp", abandoned)
    clock.advance(10.5)
    abandoned.release(1)
    job.future.result(timeout=PATIENCE)
    assert job.cancelled and job.status == "failed" and job.what == "cancelled"
    assert job.error is not None and job.error.status == 410
    assert "cancelled" in job.error.message and "again" in job.error.message
    assert abandoned.reported == 0 and not abandoned.returned
    assert not registry.has("fp")  # a cancelled job is not memoised
    assert registry.get(job.id) is job  # its id still answers (410), once or many times
    assert registry.get(job.id).error.status == 410
    # The same request later starts it afresh.
    again = Stepper(value="fresh")
    restarted = registry.submit("fp", again, description="fp")
    assert restarted is not job
    again.release()
    restarted.future.result(timeout=PATIENCE)
    assert restarted.status == "done" and registry.memo_get("fp") == "fresh"


def test_queued_job_nobody_polls_is_dropped_before_it_starts(
    registry: JobRegistry, clock: FakeClock
) -> None:
    busy = Stepper()
    running = started(registry, "busy", busy)
    waiting = Stepper()
    queued = registry.submit("queued", waiting, description="queued")
    assert queued.progress_dict()["what"] == "queued"
    clock.advance(11)
    registry.get(running.id)  # the running job is still wanted
    busy.release()
    running.future.result(timeout=PATIENCE)
    queued.future.result(timeout=PATIENCE)
    assert running.status == "done" and registry.memo_get("busy") == "result"
    assert not waiting.began.is_set()
    assert queued.cancelled and queued.error is not None and queued.error.status == 410
    assert not registry.has("queued")


def test_a_request_waiting_on_a_job_keeps_it(registry: JobRegistry, clock: FakeClock) -> None:
    compute = Stepper()
    job = started(registry, "fp", compute)

    async def wait_while_time_passes() -> None:
        waiter = asyncio.create_task(registry.wait(job, PATIENCE))
        await asyncio.sleep(0.05)
        clock.advance(60)
        compute.release()
        await waiter

    # In a thread of its own: another test's event loop may still run in this one.
    runner = threading.Thread(target=asyncio.run, args=(wait_while_time_passes(),))
    runner.start()
    runner.join(PATIENCE)
    assert job.status == "done" and compute.returned


def test_full_queue_is_refused_with_503_and_retry_after(
    clock: FakeClock,
) -> None:
    registry = JobRegistry(max_workers=1, max_queued=2, retry_after=7, clock=clock)
    try:
        busy = Stepper()
        running = started(registry, "busy", busy)
        first = registry.submit("a", Stepper(), description="a")
        registry.submit("b", Stepper(), description="b")
        with pytest.raises(QueueFullError) as refused:
            registry.submit("c", Stepper(), description="c")
        error = refused.value
        assert isinstance(error, ApiError) and error.status == 503
        assert error.headers == {"Retry-After": "7"}
        body = error.to_dict()
        assert body["status"] == 503 and body["retry_after"] == 7
        assert "2 computations are waiting" in body["error"]
        # A request for a queued job still shares it: it is not a new job.
        assert registry.submit("a", Stepper(), description="a") is first
        # Once the queued jobs are abandoned they no longer count.
        clock.advance(registry.abandon_after + 1)
        registry.get(running.id)
        fresh = Stepper(value="c")
        job = registry.submit("c", fresh, description="c")
        assert first.future.done() and first.error is not None and first.error.status == 410
        busy.release()
        fresh.release()
        job.future.result(timeout=PATIENCE)
        assert registry.memo_get("c") == "c"
    finally:
        registry.shutdown()


def test_shutdown_stops_running_and_queued_jobs(registry: JobRegistry) -> None:
    compute = Stepper(steps=2)
    running = started(registry, "busy", compute)
    queued = registry.submit("queued", Stepper(), description="queued")
    registry.shutdown()
    assert queued.future.done() and queued.cancelled
    compute.release(1)
    running.future.result(timeout=PATIENCE)
    assert running.cancelled and compute.reported == 0


# --------------------------------------------------------------------------- through the app
N = 12


@pytest.fixture(scope="module")
def run_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return noise_run(tmp_path_factory.mktemp("jobs") / "exp", N)


def test_abandoned_requests_do_not_delay_a_fresh_one(
    run_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = api.fingerprint
    began: list[int] = []
    finished: list[int] = []

    def heavy(run: Any, kind: str, **kwargs: Any) -> Any:
        """neighbour-state fingerprints take 300 snapshots of 10 ms each."""
        if kind != "neighbour-state":
            return real(run, kind, **kwargs)
        began.append(kwargs["k"])
        for t in range(300):
            kwargs["progress"](t, 300, f"snapshot {t}")
            time.sleep(0.01)
        finished.append(kwargs["k"])
        return real(run, kind, **kwargs)

    monkeypatch.setattr(api, "fingerprint", heavy)
    jobs = JobRegistry(max_workers=1, max_queued=2, clock=clock)
    with TestClient(create_app(run_path, job_grace=0.0, jobs=jobs)) as client:
        url = "/api/runs/exp/fingerprint?kind=neighbour-state&k={}"
        first = client.get(url.format(1))
        assert first.status_code == 202
        deadline = time.monotonic() + PATIENCE
        while client.get(f"/api/jobs/{first.json()['job']}").json()["what"] == "queued":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        queued = [client.get(url.format(k)) for k in (2, 3)]
        assert [r.status_code for r in queued] == [202, 202]
        refused = client.get(url.format(4))
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == str(RETRY_AFTER)
        body = refused.json()
        assert body["status"] == 503 and body["retry_after"] == RETRY_AFTER
        assert "busy" in body["error"] and "Traceback" not in refused.text
        assert client.get(url.format(2)).json()["job"] == queued[0].json()["job"]  # shared

        clock.advance(jobs.abandon_after + 1)  # nobody polls the four requests any more
        start = time.monotonic()
        fresh = client.get("/api/runs/exp/fingerprint?kind=cka")
        while fresh.status_code == 202:
            assert time.monotonic() - start < 2.0, "the fresh request waits behind old ones"
            time.sleep(0.01)
            fresh = client.get("/api/runs/exp/fingerprint?kind=cka")
        assert fresh.status_code == 200 and fresh.json()["kind"] == "cka"
        assert began == [1] and finished == []  # 1 was cancelled, 2 and 3 never started
        for response in (first, *queued):
            gone = client.get(f"/api/jobs/{response.json()['job']}")
            assert gone.status_code == 410 and gone.json()["status"] == 410
        # Requesting an abandoned URL again starts it afresh.
        restarted = client.get(url.format(2))
        assert restarted.status_code == 202
        assert restarted.json()["job"] != queued[0].json()["job"]
        again = jobs.get(restarted.json()["job"])
        assert again is not None
    # Leaving the client shut the registry down: the restarted job stops at its next report.
    again.future.result(timeout=PATIENCE)
    assert again.cancelled and finished == []
