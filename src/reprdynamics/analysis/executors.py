"""Where work runs: threads in this process, local worker processes, or a Dask cluster.

One interface, :class:`Executor`, hands a list of independent tasks to workers and yields
their results as they finish; :func:`get_executor` parses the ``scheduler=`` argument of
the run-level API into one. The analysis code builds tasks and never asks which executor
it was given (dask.distributed's ``Client.submit`` / ``as_completed`` is the model).

``scheduler`` may be

* ``None`` or ``"threads"``: a thread per core in this process (the default);
* an ``int`` N: N local worker processes (no extra dependency);
* a ``dask.distributed.Client``, or a scheduler address ``"tcp://host:port"``: the
  cluster's workers (``pip install "reprdynamics[dask]"``);
* an :class:`Executor` instance.

Tasks must be picklable and open their inputs themselves (a run by its URL), so nothing
large travels from the client to the workers. A task that fails (or whose worker dies and
the retries run out) raises :class:`~reprdynamics.errors.AnalysisTaskError` naming the
task.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from reprdynamics.errors import AnalysisTaskError, SchedulerError, invalid_parameter, require

__all__ = [
    "DaskExecutor",
    "Executor",
    "ProcessExecutor",
    "ThreadExecutor",
    "get_executor",
]


class Task(Protocol):
    """What an executor runs: any picklable object that can describe itself."""

    def describe(self) -> str: ...


class Executor(ABC):
    """Runs independent tasks and yields ``(position, result)`` as each one finishes.

    Attributes
    ----------
    n_workers : int
        How many tasks run at once.
    in_process : bool
        Whether tasks run in this process (they may then share open handles).
    """

    n_workers: int = 1
    in_process: bool = True

    @abstractmethod
    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Run ``fn(task)`` for every task; yield ``(index in tasks, result)`` as completed."""

    def close(self) -> None:
        """Release what this executor created (not what it was handed)."""
        return None  # threads need no clean-up

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.n_workers} workers>"


def _failed(task: Any, exc: BaseException) -> AnalysisTaskError:
    what = task.describe() if hasattr(task, "describe") else repr(task)
    if isinstance(exc, AnalysisTaskError):
        return exc
    return AnalysisTaskError(
        f"The analysis task for {what} failed: {type(exc).__name__}: {exc}", task=what
    )


def _results_as_completed(
    pool: Any, fn: Callable[[Any], Any], tasks: Sequence[Any]
) -> Iterator[tuple[int, Any]]:
    """Submit every task to a ``concurrent.futures`` pool; yield results as they finish.

    A failure raises :class:`AnalysisTaskError` naming the task (the original exception is
    its cause); tasks not started yet are cancelled when the caller stops early.
    """
    from concurrent.futures import as_completed

    futures = {pool.submit(fn, task): pos for pos, task in enumerate(tasks)}
    try:
        for future in as_completed(futures):
            pos = futures[future]
            try:
                result = future.result()
            except Exception as exc:
                raise _failed(tasks[pos], exc) from exc
            yield pos, result
    finally:
        for future in futures:
            future.cancel()


def _limit_threads_in_worker() -> None:
    """Worker processes run one task each: one BLAS/OpenMP thread apiece, as in the threads."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        pass


class ThreadExecutor(Executor):
    """Tasks in a pool of threads of this process (NumPy, SciPy and faiss release the GIL).

    With more than one thread, BLAS and OpenMP are limited to one thread each while the
    tasks run: one task per core beats every task on threaded BLAS (measured 1.4x for the
    neighbour search on 2 cores).
    """

    def __init__(self, n_workers: int | None = None) -> None:
        self.n_workers = int(n_workers or os.cpu_count() or 1)

    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        if self.n_workers == 1 or len(tasks) <= 1:
            for pos, task in enumerate(tasks):
                try:
                    result = fn(task)
                except Exception as exc:
                    raise _failed(task, exc) from exc
                yield pos, result
            return
        from concurrent.futures import ThreadPoolExecutor

        from threadpoolctl import threadpool_limits

        with threadpool_limits(1), ThreadPoolExecutor(max_workers=self.n_workers) as pool:
            yield from _results_as_completed(pool, fn, tasks)


class ProcessExecutor(Executor):
    """Tasks in N local worker processes (started fresh, ``spawn``), one thread each.

    A worker that dies (killed, out of memory) fails its task with an error naming it;
    the pool is not reused after that.
    """

    in_process = False

    def __init__(self, n_workers: int) -> None:
        self.n_workers = int(n_workers)
        self._pool: Any = None

    def _get_pool(self) -> Any:
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(
                max_workers=self.n_workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_limit_threads_in_worker,
            )
        return self._pool

    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        from concurrent.futures.process import BrokenProcessPool

        try:
            yield from _results_as_completed(self._get_pool(), fn, tasks)
        except AnalysisTaskError as exc:
            if not isinstance(exc.__cause__, BrokenProcessPool):
                raise
            self._pool = None  # a broken pool cannot be reused
            raise AnalysisTaskError(
                f"A worker process died while running the analysis task for {exc.task} "
                "(killed, or out of memory). Nothing was cached; run it again, with fewer "
                "workers if memory is short."
            ) from exc.__cause__

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class DaskExecutor(Executor):
    """Tasks on a Dask cluster through a ``dask.distributed.Client``.

    Each task is submitted once (``pure=False``) with ``retries`` retries: a worker that
    dies mid-task has its task rerun elsewhere; when the retries run out the error names
    the task. The executor closes only a client it created itself.

    Parameters
    ----------
    client : dask.distributed.Client
    retries : int, default 2
    owns_client : bool, default False
        Close the client (and its cluster, for a local one) on :meth:`close`.
    """

    in_process = False

    def __init__(self, client: Any, *, retries: int = 2, owns_client: bool = False) -> None:
        self.client = client
        self.retries = int(retries)
        self._owns = owns_client
        try:
            workers = client.scheduler_info().get("workers", {})
            threads = sum(int(w.get("nthreads", 1)) for w in workers.values())
        except Exception:  # pragma: no cover - a client without a scheduler answer
            threads = 1
        self.n_workers = max(1, threads)

    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        from distributed import as_completed

        futures = [
            self.client.submit(fn, task, pure=False, retries=self.retries, key=_task_key(task, i))
            for i, task in enumerate(tasks)
        ]
        where = {f.key: i for i, f in enumerate(futures)}
        try:
            for future in as_completed(futures):
                pos = where[future.key]
                try:
                    result = future.result()
                except Exception as exc:
                    name = type(exc).__name__
                    if name == "KilledWorker":
                        raise AnalysisTaskError(
                            f"Dask workers died {self.retries + 1} times running the analysis "
                            f"task for {tasks[pos].describe()}; nothing was cached. Check the "
                            "workers' memory (the task holds one snapshot and its index)."
                        ) from exc
                    raise _failed(tasks[pos], exc) from exc
                yield pos, result
        finally:
            for future in futures:
                if not future.done():
                    future.cancel()

    def close(self) -> None:
        if self._owns:
            cluster = getattr(self.client, "cluster", None)
            self.client.close()
            if cluster is not None:
                cluster.close()


def _task_key(task: Any, i: int) -> str:
    import uuid

    label = task.describe() if hasattr(task, "describe") else "task"
    safe = "".join(c if c.isalnum() else "-" for c in label)[:60]
    return f"reprdynamics-{safe}-{i}-{uuid.uuid4().hex[:8]}"


def _dask_client(address: str, timeout: float) -> Any:
    require("distributed", "dask", "Running analyses on a Dask cluster")
    from distributed import Client

    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise SchedulerError(
            f"Cannot reach the Dask scheduler at {address!r} within {timeout:g} s "
            f"({type(exc).__name__}). Check the address and that the scheduler is running, "
            "or use --workers N for local worker processes."
        ) from exc


def get_executor(scheduler: Any = None, *, timeout: float = 10.0) -> Executor:
    """Parse ``scheduler`` into an :class:`Executor` (see the module docstring).

    Use it as a context manager: an executor made here from an int or an address is closed
    on exit; a ``Client`` or an :class:`Executor` passed in is left open.

    Examples
    --------
    >>> with get_executor(None) as ex:
    ...     sorted(ex.map(abs, [-1, -2]))
    [(0, 1), (1, 2)]
    """
    if scheduler is None or scheduler == "threads":
        return ThreadExecutor()
    if isinstance(scheduler, Executor):
        return _Borrowed(scheduler)
    if isinstance(scheduler, bool):
        raise invalid_parameter("scheduler", "get_executor", _EXPECTED, scheduler)
    if isinstance(scheduler, int):
        if scheduler < 1:
            raise invalid_parameter("scheduler", "get_executor", _EXPECTED, scheduler)
        return ProcessExecutor(scheduler)
    if isinstance(scheduler, str):
        if "://" in scheduler:
            return DaskExecutor(_dask_client(scheduler, timeout), owns_client=True)
        raise invalid_parameter("scheduler", "get_executor", _EXPECTED, scheduler)
    if type(scheduler).__name__ == "Client" and hasattr(scheduler, "submit"):
        return DaskExecutor(scheduler)
    raise invalid_parameter("scheduler", "get_executor", _EXPECTED, type(scheduler).__name__)


_EXPECTED = (
    "None or 'threads', a positive int (local worker processes), a dask.distributed.Client, "
    "a scheduler address such as 'tcp://127.0.0.1:8786', or an Executor"
)


class _Borrowed(Executor):
    """An executor the caller owns: used, never closed here."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self.n_workers = inner.n_workers
        self.in_process = inner.in_process

    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        return self.inner.map(fn, tasks)
