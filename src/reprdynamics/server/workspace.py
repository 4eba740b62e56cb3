"""The runs the dashboard serves: where they are, opened once, and what it keeps for them."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reprdynamics.analysis import api
from reprdynamics.errors import InvalidParameterError, ReprDynamicsError, RunNotFoundError
from reprdynamics.server.arrays import (
    ApiError,
    api_error,
)
from reprdynamics.server.jobs import JobRegistry
from reprdynamics.server.selections import SelectionRegistry
from reprdynamics.storage.remote import is_url
from reprdynamics.storage.run import Run, is_run, open_run

log = logging.getLogger("reprdynamics.server")


#: Per-sample measures of the ``measure`` endpoint.
#: Neighbours per sample when the request does not say.
DEFAULT_K = 10
#: The most neighbours per sample the server computes. Every k is a cached (T, N, k) stack
#: in the run: without a bound a few requests can grow a run many times over. Larger k:
#: the Python API (reprdynamics.fingerprint).
MAX_K = 100


def no_progress(done: int, total: int, what: str) -> None:
    return None


# --------------------------------------------------------------------------- workspace
class Workspace:
    """What the server serves: one run, a root directory of runs, a legacy save directory
    (imported once into a cache) or, with ``target=None``, the bundled sample run.

    Runs are looked up by name in a fresh listing and reopened for every request, so a
    run being recorded shows its new snapshots and runs added to a root appear without a
    restart. A run name is only ever a key of that listing, never joined to a path, so it
    cannot reach outside the root; runs reached through symlinks that leave the root are
    not listed. A URL (``s3://bucket/run``) is served as one run, opened with
    ``storage_options``.

    Attributes
    ----------
    jobs : JobRegistry
        Background computations and the memo of their results.
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | None,
        *,
        jobs: JobRegistry | None = None,
        storage_options: dict[str, Any] | None = None,
    ):
        self.jobs = jobs or JobRegistry()
        self.selections = SelectionRegistry()
        self._no_cache: set[str] = set()
        # Only for the URL served; kept in memory, never shown by an endpoint.
        self._storage_options: dict[str, Any] | None = None
        text = None if target is None else os.fspath(target)
        if storage_options and not (text is not None and is_url(text)):
            raise InvalidParameterError(
                "storage_options are only used with a run's URL (s3://..., gs://...).",
                parameter="storage_options",
            )
        self._single: tuple[str, str] | None = None
        self.legacy_source: str | None = None
        if target is None:
            from reprdynamics.sample import sample_run_path

            path = sample_run_path()
            self.kind = "sample"
            self.root = str(path)
            self._single = (path.name, str(path))
            # Never write into the installed package: its results stay in memory.
            self._no_cache.add(str(path))
            self.description = f"the bundled sample run ({path})"
            return
        assert text is not None
        if is_url(text):
            self._storage_options = dict(storage_options) if storage_options else None
            open_run(text, storage_options=self._storage_options)  # a clear error, or a run
            self.kind = "run"
            self.root = text
            self._single = (text.rstrip("/").rsplit("/", 1)[-1] or "run", text)
            self.description = f"the run at {text}"
            return
        path = Path(text.removeprefix("file://")).expanduser()
        from reprdynamics.storage.legacy import is_legacy_dir, open_legacy_cached

        if is_legacy_dir(path):
            run = open_legacy_cached(path)
            self.kind = "legacy"
            self.legacy_source = str(path.resolve())
            self.root = str(path.resolve())
            self._single = (path.resolve().name or "legacy", run.location)
            self.description = (
                f"the legacy save directory {path.resolve()} (imported into {run.location})"
            )
            log.info(
                "%s is a save directory of the original ReprDynamics; imported it into the "
                "cache at %s",
                path,
                run.location,
            )
        elif is_run(path):
            resolved = path.resolve()
            self.kind = "run"
            self.root = str(resolved)
            self._single = (resolved.name or "run", str(resolved))
            self.description = f"the run at {resolved}"
        elif path.is_dir():
            self.kind = "root"
            self.root = str(path.resolve())
            self.description = f"the runs in {self.root}"
            if not self.runs():
                log.warning("No runs in %s yet; they are listed once they appear.", self.root)
        else:
            raise RunNotFoundError(
                f"{text!r} is neither a ReprDynamics run, a directory of runs, nor a save "
                "directory of the original tool (snapshots.json)."
            )

    def runs(self) -> dict[str, str]:
        """``{name: location}`` of the runs served now (re-read on every call)."""
        if self._single is not None:
            return {self._single[0]: self._single[1]}
        root = Path(self.root)
        try:
            paths = api.list_runs(root)
        except FileNotFoundError:
            return {}
        out: dict[str, str] = {}
        for p in paths:
            try:
                resolved = p.resolve()
            except OSError:
                continue
            if resolved == root or not resolved.is_relative_to(root):
                continue  # a symlink leading out of the root
            out[p.name] = str(resolved)
        return out

    def location(self, name: Any) -> str:
        runs = self.runs()
        if isinstance(name, str) and name in runs:
            return runs[name]
        listed = ", ".join(list(runs)[:20]) or "none"
        shown = repr(name) if len(repr(name)) <= 80 else repr(name)[:77] + "..."
        raise ApiError(
            404, f"No run named {shown} is served here. Runs: {listed}.", parameter="run"
        )

    def open(self, name: Any) -> Run:
        """The run called ``name``, freshly opened (read-only)."""
        location = self.location(name)
        try:
            return self.open_location(location)
        except ReprDynamicsError as exc:
            raise api_error(exc) from exc  # type: ignore[misc]

    def open_location(self, location: str) -> Run:
        """A run of :meth:`runs` by its location, read-only (with the storage options)."""
        options = self._storage_options if is_url(location) else None
        return open_run(location, mode="r", storage_options=options)

    def use_cache(self, run: Run) -> bool:
        """Whether results may be cached in (and read from) the run's ``cache/``."""
        return run.location not in self._no_cache


def call_with_cache(ws: Workspace, run: Run, call: Callable[[bool], Any]) -> Any:
    """``call(use_cache)``; a run whose cache cannot be written is computed without it."""
    if not ws.use_cache(run):
        return call(False)
    try:
        return call(True)
    except OSError as exc:
        if isinstance(exc, ReprDynamicsError):
            raise
        log.warning("Cannot cache in %s (%s); computing without the cache.", run.location, exc)
        return call(False)
