"""Background computations of the dashboard: a small job registry with progress and a memo.

Heavy results (fingerprints, the per-sample table, projections) are computed in worker
threads so the event loop keeps answering other requests. A job is keyed by what it
computes (endpoint, run location, run state and canonical parameters): identical concurrent
requests share one job, and a finished result is memoised in a bounded LRU under the same
key, so it is served at once until the run changes (the run state is part of the key).

The API answers ``202`` with :meth:`Job.progress_dict` while a job runs; the client polls
the same URL or ``/api/jobs/{id}``.
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

from reprdynamics.server.arrays import ApiError, api_error

__all__ = ["Job", "JobRegistry", "approx_bytes"]

log = logging.getLogger("reprdynamics.server")

Progress = Callable[[int, int, str], None]
_MISSING = object()
#: Seconds a failed job is remembered for the client that polls for it.
_FAILURE_TTL = 60.0


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

    def __init__(self, key: Hashable, description: str) -> None:
        self.id = uuid.uuid4().hex[:16]
        self.key = key
        self.description = description
        self.started = time.monotonic()
        self.finished: float | None = None
        self.done = 0
        self.total = 0
        self.what = "queued"
        self.result: Any = None
        self.error: ApiError | None = None
        self.future: Future[None] = Future()
        self.render: Callable[[Any], Any] | None = None

    @property
    def status(self) -> str:
        if not self.future.done():
            return "running"
        return "failed" if self.error is not None else "done"

    def progress(self, done: int, total: int, what: str) -> None:
        """The :data:`reprdynamics.analysis.api.Progress` callback of the computation."""
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
    """

    def __init__(
        self,
        *,
        max_workers: int = 2,
        memo_entries: int = 128,
        memo_bytes: int = 512 * 1024 * 1024,
        keep_jobs: int = 64,
    ) -> None:
        self._lock = threading.RLock()
        self._max_workers = max_workers
        self._executor: ThreadPoolExecutor | None = None
        self._running: dict[Hashable, Job] = {}
        self._failed: dict[Hashable, Job] = {}
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._memo: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._memo_size = 0
        self.memo_entries = memo_entries
        self.memo_bytes = memo_bytes
        self.keep_jobs = keep_jobs

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

        A job that failed is handed out once more (so the client polling for it gets the
        error), then forgotten, and the next request computes afresh.
        """
        with self._lock:
            job = self._running.get(key)
            if job is not None:
                return job
            job = self._failed.pop(key, None)
            if job is not None and time.monotonic() - (job.finished or 0.0) < _FAILURE_TTL:
                return job
            job = Job(key, description)
            job.render = render
            self._running[key] = job
            self._jobs[job.id] = job
            while len(self._jobs) > self.keep_jobs:
                oldest_id, oldest = next(iter(self._jobs.items()))
                if not oldest.future.done():
                    break
                del self._jobs[oldest_id]
            self._pool().submit(self._run, job, compute)
            return job

    def _run(self, job: Job, compute: Callable[[Progress], Any]) -> None:
        job.what = "started"
        try:
            result = compute(job.progress)
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
                if job.error is not None:
                    self._failed[job.key] = job
                    while len(self._failed) > self.keep_jobs:
                        self._failed.pop(next(iter(self._failed)))
            if job.status == "done":
                job.what = "done"
            job.future.set_result(None)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and job.error is not None:
                # Reported here: the same request must not be answered with it again.
                self._failed.pop(job.key, None)
            return job

    @staticmethod
    async def wait(job: Job, timeout: float) -> None:
        """Wait (without blocking the event loop) up to ``timeout`` s for ``job`` to end."""
        if timeout <= 0 or job.future.done():
            return
        await asyncio.wait({asyncio.wrap_future(job.future)}, timeout=timeout)

    def shutdown(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
