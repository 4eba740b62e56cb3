"""Background computations of the dashboard: a small job registry with progress and a memo.

Heavy results (fingerprints, the per-sample table, projections) are computed in worker
threads so the event loop keeps answering other requests. A job is keyed by what it
computes (endpoint, run location, run state and canonical parameters): identical concurrent
requests share one job, and a finished result is memoised in a bounded LRU under the same
key, so it is served at once until the run changes (the run state is part of the key).

The API answers ``202`` with :meth:`Job.progress_dict` while a job runs; the client polls
the same URL or ``/api/jobs/{id}``. A job nobody polls for :data:`ABANDON_AFTER` seconds is
abandoned: dropped before it starts, or cancelled at its next progress report (the
computations report once per snapshot), so work nobody waits for does not hold up new
requests. At most :data:`MAX_QUEUED` jobs wait for a worker; one more is refused with
:class:`QueueFullError` (``503`` with ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from reprdynamics.analysis.reads import Progress
from reprdynamics.server.arrays import ApiError, api_error

__all__ = [
    "ABANDON_AFTER",
    "MAX_QUEUED",
    "RETRY_AFTER",
    "Job",
    "JobCancelled",
    "JobRegistry",
    "QueueFullError",
    "approx_bytes",
]

log = logging.getLogger("reprdynamics.server")

_MISSING = object()
#: Seconds a failed job is remembered for the client that polls for it.
_FAILURE_TTL = 60.0
#: Seconds without a poll after which a job is abandoned. The dashboard polls about every
#: two seconds (a 1 s wait on the server, then at most 1 s in the browser).
ABANDON_AFTER = 10.0
#: Jobs waiting for a worker at most; one more is refused with ``503``.
MAX_QUEUED = 32
#: Seconds a client refused for a full queue is told to wait (``Retry-After``).
RETRY_AFTER = 5


class JobCancelled(BaseException):
    """Raised by the progress callback of an abandoned job, to stop it at that report.

    A :class:`BaseException`, like :class:`asyncio.CancelledError`, so that the
    ``except Exception`` of the code it unwinds does not take it for a failure.
    """


class QueueFullError(ApiError):
    """``503``: :data:`MAX_QUEUED` jobs are already waiting for a worker."""

    def __init__(self, queued: int, retry_after: int) -> None:
        super().__init__(
            503,
            f"The server is busy: {queued} computations are waiting for a worker. "
            f"Retry in {retry_after} s.",
        )
        self.retry_after = int(retry_after)

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "retry_after": self.retry_after}


def approx_bytes(value: Any) -> int:
    """Rough memory held by a result (arrays, strings and containers of them)."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, dict):
        return 64 + sum(approx_bytes(v) for v in value.values())
    if isinstance(value, list | tuple):
        return 64 + sum(approx_bytes(v) for v in value)
    sizer = getattr(value, "approx_bytes", None)
    if callable(sizer):
        return int(sizer())
    if hasattr(value, "__dict__"):
        return 64 + sum(approx_bytes(v) for v in vars(value).values())
    if hasattr(value, "__dataclass_fields__"):
        return 64 + sum(approx_bytes(getattr(value, f)) for f in value.__dataclass_fields__)
    return 64


class Job:
    """One computation running (or finished) in a worker thread."""

    def __init__(self, key: Hashable, description: str, *, polled: float = 0.0) -> None:
        self.id = uuid.uuid4().hex[:16]
        self.key = key
        self.description = description
        self.started = time.monotonic()
        self.finished: float | None = None
        #: When a worker took it up (None while queued).
        self.began: float | None = None
        #: When a request last looked it up, on the registry's clock.
        self.polled = polled
        #: Requests waiting on it now (a job being waited for is not abandoned).
        self.waiting = 0
        self.cancelled = False
        self.done = 0
        self.total = 0
        self.what = "queued"
        self.result: Any = None
        self.error: ApiError | None = None
        self.future: Future[None] = Future()
        self.render: Callable[[Any], Any] | None = None

    @property
    def status(self) -> str:
        """``running`` (queued included), ``done``, or ``failed`` (cancelled included: its
        error is a 410)."""
        if not self.future.done():
            return "running"
        return "failed" if self.error is not None else "done"

    def progress(self, done: int, total: int, what: str) -> None:
        """The :data:`reprdynamics.analysis.reads.Progress` callback of the computation."""
        self.done, self.total, self.what = int(done), int(total), str(what)

    def progress_dict(self) -> dict[str, Any]:
        end = self.finished if self.finished is not None else time.monotonic()
        return {
            "job": self.id,
            "status": self.status,
            "done": self.done,
            "total": self.total,
            "what": self.what,
            "description": self.description,
            "elapsed": round(end - self.started, 3),
        }


class JobRegistry:
    """Runs computations in worker threads, shares identical ones, memoises results.

    Parameters
    ----------
    max_workers
        Worker threads (computations are NumPy-bound; a few suffice).
    memo_entries, memo_bytes
        Bounds of the LRU memo of finished results.
    keep_jobs
        Finished jobs remembered for ``/api/jobs/{id}``.
    abandon_after
        Seconds without a poll (a request for the job's URL or its ``/api/jobs/{id}``)
        after which a job is abandoned: dropped if it has not started, else cancelled at
        its next progress report. Its result is not memoised; its ``/api/jobs/{id}``
        answers 410, and requesting its URL again starts it afresh.
    max_queued
        Jobs waiting for a worker at most (abandoned ones are not counted); one more is
        refused with :class:`QueueFullError`.
    retry_after
        The ``Retry-After`` (seconds) of that refusal.
    clock
        The clock polls are timed on (monotonic seconds); tests pass a fake one.
    """

    def __init__(
        self,
        *,
        max_workers: int = 2,
        memo_entries: int = 128,
        memo_bytes: int = 512 * 1024 * 1024,
        keep_jobs: int = 64,
        abandon_after: float = ABANDON_AFTER,
        max_queued: int = MAX_QUEUED,
        retry_after: int = RETRY_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.RLock()
        self._max_workers = max_workers
        self._executor: ThreadPoolExecutor | None = None
        self._running: dict[Hashable, Job] = {}
        #: Jobs waiting for a worker, oldest first, with their computations.
        self._pending: OrderedDict[str, tuple[Job, Callable[[Progress], Any]]] = OrderedDict()
        self._failed: dict[Hashable, Job] = {}
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._memo: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._memo_size = 0
        self.memo_entries = memo_entries
        self.memo_bytes = memo_bytes
        self.keep_jobs = keep_jobs
        self.abandon_after = float(abandon_after)
        self.max_queued = int(max_queued)
        self.retry_after = int(retry_after)
        self.clock = clock

    # ------------------------------------------------------------------ memo
    def memo_get(self, key: Hashable, default: Any = _MISSING) -> Any:
        with self._lock:
            entry = self._memo.get(key)
            if entry is None:
                return default
            self._memo.move_to_end(key)
            return entry[0]

    def memo_put(self, key: Hashable, value: Any) -> None:
        size = approx_bytes(value)
        with self._lock:
            if key in self._memo:
                self._memo_size -= self._memo.pop(key)[1]
            if size > self.memo_bytes:
                return
            self._memo[key] = (value, size)
            self._memo_size += size
            while self._memo and (
                len(self._memo) > self.memo_entries or self._memo_size > self.memo_bytes
            ):
                _, (_, dropped) = self._memo.popitem(last=False)
                self._memo_size -= dropped

    def memoised(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The memoised value of ``key``, computing (and memoising) it when absent."""
        value = self.memo_get(key)
        if value is _MISSING:
            value = compute()
            self.memo_put(key, value)
        return value

    def has(self, key: Hashable) -> bool:
        return self.memo_get(key) is not _MISSING

    # ------------------------------------------------------------------ jobs
    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self._max_workers, thread_name_prefix="reprdynamics-job"
            )
        return self._executor

    def submit(
        self,
        key: Hashable,
        compute: Callable[[Progress], Any],
        *,
        description: str,
        render: Callable[[Any], Any] | None = None,
    ) -> Job:
        """The job computing ``key``: a running one, a just-failed one, or a new one.

        Looking a job up counts as a poll. A job that failed is handed out once more (so
        the client polling for it gets the error), then forgotten, and the next request
        computes afresh; so does a request for a job that was cancelled.

        Raises
        ------
        QueueFullError
            A new job is needed and ``max_queued`` jobs are waiting for a worker.
        """
        with self._lock:
            now = self.clock()
            job = self._running.get(key)
            if job is not None and not job.cancelled:
                job.polled = now
                return job
            job = self._failed.pop(key, None)
            if job is not None and time.monotonic() - (job.finished or 0.0) < _FAILURE_TTL:
                return job
            queued = self._queued(now)
            if len(queued) >= self.max_queued:
                raise QueueFullError(len(queued), self.retry_after)
            job = Job(key, description, polled=now)
            job.render = render
            self._running[key] = job
            self._jobs[job.id] = job
            while len(self._jobs) > self.keep_jobs:
                oldest_id, oldest = next(iter(self._jobs.items()))
                if not oldest.future.done():
                    break
                del self._jobs[oldest_id]
            # The pool runs whichever job is next when a worker is free, so a job dropped
            # from the queue frees its computation (and the run it holds) at once.
            self._pending[job.id] = (job, compute)
            self._pool().submit(self._work)
            return job

    def _abandoned(self, job: Job, now: float) -> bool:
        return job.cancelled or (job.waiting == 0 and now - job.polled > self.abandon_after)

    def _queued(self, now: float) -> list[Job]:
        """The jobs waiting for a worker, once the abandoned ones are dropped."""
        waiting = [job for job, _ in self._pending.values()]
        for job in waiting:
            if self._abandoned(job, now):
                self._cancel(job)
        return [job for job in waiting if not job.cancelled]

    def _cancel(self, job: Job) -> None:
        """Finish a job that has not started, as cancelled (caller holds the lock)."""
        job.cancelled = True
        job.error = self._cancelled_error(job)
        job.finished = time.monotonic()
        job.what = "cancelled"
        self._pending.pop(job.id, None)
        if self._running.get(job.key) is job:
            del self._running[job.key]
        if not job.future.done():
            job.future.set_result(None)

    def _cancelled_error(self, job: Job) -> ApiError:
        return ApiError(
            410,
            f"The computation of {job.description} was cancelled: nobody asked for it for "
            f"{self.abandon_after:g} s. Request its URL again to start it afresh.",
            parameter="job",
        )

    def _reporter(self, job: Job) -> Progress:
        """``job``'s progress callback, which stops an abandoned job by raising."""

        def report(done: int, total: int, what: str) -> None:
            with self._lock:
                if self._abandoned(job, self.clock()):
                    job.cancelled = True  # from now on a request starts a new job
                    raise JobCancelled(job.id)
            job.progress(done, total, what)

        return report

    def _work(self) -> None:
        """Run the oldest queued job still wanted (one per call: one call per job queued)."""
        with self._lock:
            now = self.clock()
            while self._pending:
                job, compute = self._pending.popitem(last=False)[1]
                if self._abandoned(job, now):
                    self._cancel(job)
                    continue
                job.began = time.monotonic()
                job.what = "started"
                break
            else:
                return
        self._run(job, compute)

    def _run(self, job: Job, compute: Callable[[Progress], Any]) -> None:
        try:
            result = compute(self._reporter(job))
        except JobCancelled:
            log.info("Cancelled %s: nobody polled it.", job.description)
            job.error = self._cancelled_error(job)
            job.what = "cancelled"
        except Exception as exc:
            job.error = api_error(exc)
            if job.error is None:  # a bug: log it fully, answer without a traceback
                log.exception("Background computation %s failed", job.description)
                job.error = ApiError(
                    500, f"Internal error while computing {job.description}: {type(exc).__name__}"
                )
        else:
            job.result = result
            self.memo_put(job.key, result)
        finally:
            job.finished = time.monotonic()
            with self._lock:
                if self._running.get(job.key) is job:
                    del self._running[job.key]
                if job.error is not None and not job.cancelled:
                    self._failed[job.key] = job
                    while len(self._failed) > self.keep_jobs:
                        self._failed.pop(next(iter(self._failed)))
            if job.error is None:  # (status reads "running" until the future is set)
                job.what = "done"
            job.future.set_result(None)

    def get(self, job_id: str) -> Job | None:
        """The job ``job_id`` (a poll of it), or None when unknown or long finished."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            job.polled = self.clock()
            if job.error is not None:
                # Reported here: the same request must not be answered with it again.
                self._failed.pop(job.key, None)
            return job

    async def wait(self, job: Job, timeout: float) -> None:
        """Wait (without blocking the event loop) up to ``timeout`` s for ``job`` to end.

        A job being waited for is polled all along.
        """
        if timeout <= 0 or job.future.done():
            return
        with self._lock:
            job.waiting += 1
        try:
            await asyncio.wait({asyncio.wrap_future(job.future)}, timeout=timeout)
        finally:
            with self._lock:
                job.waiting -= 1
                job.polled = self.clock()

    def shutdown(self) -> None:
        """Stop: queued jobs are dropped, running ones stop at their next progress report."""
        with self._lock:
            for job, _ in list(self._pending.values()):
                self._cancel(job)
            for job in self._running.values():
                job.cancelled = True
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
