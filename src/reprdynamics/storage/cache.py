"""The cache of derived results inside a run: ``cache/<key>``, keyed by the result's name
and parameters, served only for the run state it was computed from.

An entry is invisible until its ``complete_write`` attribute, written last: a reader never
sees a half-written entry, and a failed or interrupted computation never leaves a result
that is served. How much the cache may hold is :mod:`reprdynamics.storage.cache_bound`."""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any

import numpy as np
import zarr
import zarr.errors

#: Bump when a derived result's computation changes, so older cache entries are not served.
CACHE_VERSION = 2  # 2: neighbour stacks chunked per snapshot, with a recall array


_CACHE_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_CACHE_LOCKS_GUARD = threading.Lock()
# Zarr arrays of cache entries handed out by Run.cache_arrays, per entry (weakly: an entry
# is in use while one of them is alive).
_CACHE_PINS: dict[tuple[str, str], list[weakref.ref[zarr.Array]]] = {}


def _cache_lock(location: str, key: str) -> threading.Lock:
    with _CACHE_LOCKS_GUARD:
        return _CACHE_LOCKS.setdefault((location, key), threading.Lock())


def _pinned(location: str, key: str) -> bool:
    with _CACHE_LOCKS_GUARD:
        refs = [r for r in _CACHE_PINS.get((location, key), []) if r() is not None]
        if refs:
            _CACHE_PINS[(location, key)] = refs
        else:
            _CACHE_PINS.pop((location, key), None)
        return bool(refs)


def _pin(location: str, key: str, arrays: Mapping[str, zarr.Array]) -> None:
    with _CACHE_LOCKS_GUARD:
        refs = [r for r in _CACHE_PINS.get((location, key), []) if r() is not None]
        _CACHE_PINS[(location, key)] = refs + [weakref.ref(a) for a in arrays.values()]


class _Cache:
    """Storing, finding and serving derived results in a run's cache."""

    def state_token(self) -> str:
        """Changes whenever the snapshots a derived result depends on change."""
        h = hashlib.sha256()
        h.update(str(self._attrs.get("created")).encode())
        h.update(str(self.n_snapshots).encode())
        h.update(np.packbits(self.complete).tobytes())
        return h.hexdigest()[:16]

    @staticmethod
    def cache_key(name: str, params: Mapping[str, Any]) -> str:
        blob = json.dumps(
            {"name": name, "cache_version": CACHE_VERSION, **params}, sort_keys=True, default=str
        )
        return f"{name}-{hashlib.sha256(blob.encode()).hexdigest()[:20]}"

    def _cache_entry(self, name: str, params: Mapping[str, Any]) -> zarr.Group | None:
        """The complete cache group for exactly these parameters and this run state."""
        key = self.cache_key(name, params)
        try:
            group = self._group["cache"][key]
        except KeyError:
            return None
        attrs = group.attrs.asdict()
        if attrs.get("state") != self.state_token() or attrs.get("complete_write") is not True:
            return None
        if attrs.get("params") != json.loads(json.dumps(params, sort_keys=True, default=str)):
            return None
        self._note_use(group, attrs.get("used"))
        return group

    def cache_get(self, name: str, params: Mapping[str, Any]) -> dict[str, np.ndarray] | None:
        """Arrays cached for exactly these parameters and this run state, else None."""
        group = self._cache_entry(name, params)
        if group is None:
            return None
        return {k: np.asarray(group[k][...]) for k in group.array_keys()}

    def cache_put(
        self, name: str, params: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> bool:
        """Store derived arrays; False when they could not be stored.

        A read-only run stores nothing. Writers of the same key are serialised within a
        process; a writer in another process racing for the same key makes one of them give
        up (the result is merely not cached). A reader never sees a half-written entry: the
        ``complete_write`` attribute is set last.
        """
        if not self.writable:
            return False
        size = sum(np.asarray(v).nbytes for v in arrays.values())
        if size > self.cache_limit:
            return False  # larger than the whole cache may be: computed, not kept
        key = self.cache_key(name, params)
        with _cache_lock(self.location, key):
            stored = self._cache_put_locked(key, params, arrays)
        if stored:
            self._enforce_cache_limit(keep=key)
        return stored

    def _cache_put_locked(
        self, key: str, params: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> bool:
        try:
            cache = self._group.require_group("cache")
            if key in cache:
                del cache[key]
            group = cache.create_group(key)
            for k, v in arrays.items():
                v = np.asarray(v)
                arr = group.create_array(k, shape=v.shape, dtype=v.dtype)
                arr[...] = v
            self._mark_complete(group, params)
        except (OSError, zarr.errors.BaseZarrError, KeyError):
            return False
        return True

    def _mark_complete(self, group: zarr.Group, params: Mapping[str, Any]) -> None:
        """The commit point of a cache entry: its parameters and run state, written last."""
        group.attrs.update(
            {
                "params": json.loads(json.dumps(params, sort_keys=True, default=str)),
                "state": self.state_token(),
                "created": self.created,
                "nbytes": self._stored_bytes(group.path),
                "used": time.time(),
                "complete_write": True,
            }
        )

    def cache_arrays(self, name: str, params: Mapping[str, Any]) -> dict[str, zarr.Array] | None:
        """Like :meth:`cache_get`, but the arrays stay on disk: Zarr arrays read on demand.

        Streaming consumers read one chunk (one snapshot) at a time from them.
        """
        group = self._cache_entry(name, params)
        if group is None:
            return None
        arrays = {k: group[k] for k in group.array_keys()}
        # While any of these arrays is alive in this process, the entry is not evicted.
        _pin(self.location, group.basename, arrays)
        return arrays

    def cache_begin(
        self,
        name: str,
        params: Mapping[str, Any],
        layout: Mapping[str, tuple[tuple[int, ...], Any, tuple[int, ...]]],
        values: Mapping[str, np.ndarray] | None = None,
    ) -> str | None:
        """Start a cache entry that is filled piece by piece (by parallel tasks, say).

        ``layout`` maps array names to ``(shape, dtype, chunks)``; ``values`` are small
        arrays written at once. Returns the entry's path inside the run (hand it to
        :meth:`cache_write`), or None when the run cannot be written. The entry is invisible
        to :meth:`cache_get` / :meth:`cache_arrays` until :meth:`cache_commit`: a failed or
        interrupted computation never leaves a half-written result that is served.
        """
        if not self.writable:
            return None
        size = sum(
            math.prod(shape) * np.dtype(dtype).itemsize for shape, dtype, _ in layout.values()
        )
        if size > self.cache_limit:
            return None  # larger than the whole cache may be: computed, not kept
        key = self.cache_key(name, params)
        with _cache_lock(self.location, key):
            try:
                cache = self._group.require_group("cache")
                if key in cache:
                    del cache[key]
                group = cache.create_group(key, attributes={"used": time.time()})
                for array, (shape, dtype, chunks) in layout.items():
                    group.create_array(array, shape=shape, dtype=dtype, chunks=chunks)
                for array, value in (values or {}).items():
                    value = np.asarray(value)
                    arr = group.create_array(array, shape=value.shape, dtype=value.dtype)
                    arr[...] = value
            except (OSError, zarr.errors.BaseZarrError, KeyError):
                return None
        self._handles.clear()
        return f"cache/{key}"

    def cache_extend(
        self,
        name: str,
        params: Mapping[str, Any],
        layout: Mapping[str, tuple[tuple[int, ...], Any, tuple[int, ...]]],
        values: Mapping[str, np.ndarray],
        *,
        along: str,
    ) -> tuple[str | None, int]:
        """Like :meth:`cache_begin`, keeping what an earlier state of this run computed.

        A run being recorded gains snapshots; results computed per snapshot for the earlier
        ones stay right. When a committed entry of the same parameters exists, from this run
        (same creation) and whose ``values[along]`` (the snapshots it covers) are a prefix of
        the new ones, its arrays are grown along their first axis instead of recomputed.
        Returns ``(entry, kept)``: the first ``kept`` positions of every array in
        ``layout`` are filled already (0: a fresh entry, as :meth:`cache_begin`).

        The entry is marked incomplete before anything changes, so a reader or a kill in
        between never sees it half-written; it is served again only after
        :meth:`cache_commit`.
        """
        if not self.writable:
            return None, 0
        key = self.cache_key(name, params)
        new_along = np.asarray(values[along])
        kept = 0
        with _cache_lock(self.location, key):
            try:
                group = self._group["cache"][key]
                attrs = group.attrs.asdict()
                canonical = json.loads(json.dumps(params, sort_keys=True, default=str))
                old_along = np.asarray(group[along][...])
                fits = all(
                    array in group
                    and group[array].dtype == np.dtype(dtype)
                    and tuple(group[array].chunks) == tuple(chunks)
                    and tuple(group[array].shape[1:]) == tuple(shape[1:])
                    for array, (shape, dtype, chunks) in layout.items()
                )
                if (
                    attrs.get("complete_write") is True
                    and attrs.get("params") == canonical
                    and attrs.get("created") == self.created
                    and fits
                    and 0 < old_along.size <= new_along.size
                    and np.array_equal(new_along[: old_along.size], old_along)
                ):
                    kept = int(old_along.size)
            except (OSError, zarr.errors.BaseZarrError, KeyError, ValueError, TypeError):
                kept = 0
            if kept:
                try:
                    # The commit point goes first; "used" keeps it from eviction meanwhile.
                    group.attrs.update({"complete_write": False, "used": time.time()})
                    for array, (shape, _dtype, _chunks) in layout.items():
                        if tuple(group[array].shape) != tuple(shape):
                            group[array].resize(shape)
                    for array, value in values.items():
                        value = np.asarray(value)
                        if tuple(group[array].shape) != value.shape:
                            group[array].resize(value.shape)
                        group[array][...] = value
                except (OSError, zarr.errors.BaseZarrError, KeyError, ValueError):
                    kept = 0
        if not kept:
            return self.cache_begin(name, params, layout, values), 0
        self._handles.clear()
        return f"cache/{key}", kept

    def cache_write(self, entry: str, array: str, region: tuple[Any, ...], values: Any) -> None:
        """Write ``values`` into ``region`` of one array of an entry from :meth:`cache_begin`.

        Tasks write disjoint, chunk-aligned regions, so they never touch the same file.
        """
        self._require_writable()
        self._group[f"{entry}/{array}"][region] = values

    def cache_commit(self, name: str, params: Mapping[str, Any]) -> bool:
        """Mark an entry begun with :meth:`cache_begin` as complete for this run state."""
        if not self.writable:
            return False
        key = self.cache_key(name, params)
        try:
            self._mark_complete(self._group["cache"][key], params)
        except (OSError, zarr.errors.BaseZarrError, KeyError):
            return False
        self._enforce_cache_limit(keep=key)
        return True
