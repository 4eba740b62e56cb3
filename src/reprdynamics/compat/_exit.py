"""Run a callback at interpreter exit while zarr can still write: ReprD's last snapshot.

The seed's API has no ``close()``: a script that records and simply ends must still find its
last snapshot on disk. Writing it needs zarr, and zarr's local store does its file I/O
through ``asyncio.to_thread``, i.e. in a ``concurrent.futures`` thread pool. At exit, in
``threading._shutdown``, the interpreter first runs the exit hooks of ``threading`` — one of
them, ``concurrent.futures.thread._python_exit``, refuses new work to every thread pool
("cannot schedule new futures after interpreter shutdown") — then joins the non-daemon
threads, and only then runs :mod:`atexit`. So every public hook is too late:

* ``atexit.register`` and ``weakref.finalize`` (whose exit call is an ``atexit`` hook) run
  after the pools are shut: the write fails and the snapshot is lost (tried; the test
  ``test_flush_at_interpreter_exit`` fails with them);
* a watcher thread (daemon or not) woken by the main thread's end wakes after those hooks
  too, and a writer thread of our own still reaches zarr's pool for its I/O.

What runs early enough is a ``threading`` exit hook registered after
``concurrent.futures.thread``'s (they run last-registered first). The registry has no public
entry point — ``concurrent.futures`` and ``asyncio`` use the same private
``threading._register_atexit`` — so this module is the one place that touches it, and falls
back to :mod:`atexit` (where the write may fail, with a warning that says so) on an
interpreter without it.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["before_thread_pools_shut"]


def before_thread_pools_shut(callback: Callable[[], Any]) -> None:
    """Call ``callback`` at interpreter exit, before ``concurrent.futures`` refuses new work."""
    import concurrent.futures.thread  # noqa: F401  (its exit hook must be registered first)

    register = getattr(threading, "_register_atexit", None)
    if register is None:  # pragma: no cover - CPython has had it since 3.9
        atexit.register(callback)
        return
    try:
        register(callback)
    except RuntimeError:  # pragma: no cover - the interpreter is already shutting down
        atexit.register(callback)
