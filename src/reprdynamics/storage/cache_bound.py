"""The bound on a run's cache: ``$REPRDYNAMICS_CACHE_LIMIT``, else a multiple of the run's
recorded size; least recently used entries are evicted beyond it, entries in use never."""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

import zarr
import zarr.errors
from zarr.core.sync import sync as _zarr_sync

from reprdynamics.errors import InvalidParameterError, ReprDynamicsError

__all__ = ["CACHE_LIMIT_ENV", "CacheEntry", "parse_cache_limit"]
from reprdynamics.storage.cache import _cache_lock, _pinned
from reprdynamics.storage.location import _store_errors

#: Environment variable bounding each run's cache: bytes ("512M", "2G") or a multiple of
#: the run's recorded size ("4x"); "0" stores nothing.
CACHE_LIMIT_ENV = "REPRDYNAMICS_CACHE_LIMIT"
_CACHE_MULTIPLE = 4.0  # default bound: 4 x the run's recorded bytes ...
_CACHE_FLOOR = 64 * 2**20  # ... but at least 64 MiB (one neighbour stack of a small run)
# An entry used within this many seconds is not evicted (a reader in another process may
# stream it); entries held by this process are never evicted.
_CACHE_GRACE = 30.0
# An entry begun and not committed is evicted only after this long (it may be being written
# by tasks elsewhere); a killed computation's leftovers go then.
_CACHE_STALE = 3600.0
_SIZE_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_cache_limit(value: str, run_bytes: int) -> int:
    """A cache bound in bytes from ``"512M"``, ``"2G"``, ``"1000000"`` or ``"4x"``."""
    text = str(value).strip().upper().removesuffix("IB").removesuffix("B")
    try:
        if text.endswith("X"):
            return int(float(text[:-1]) * run_bytes)
        unit = text[-1:] if text[-1:] in _SIZE_UNITS else ""
        number = float(text[: len(text) - len(unit)])
        if not math.isfinite(number) or number < 0:
            raise ValueError(number)
        return int(number * _SIZE_UNITS[unit])
    except ValueError:
        raise InvalidParameterError(
            f"The cache limit {value!r} (environment variable {CACHE_LIMIT_ENV}) is not a size: "
            "give bytes (512M, 2G, 1000000) or a multiple of the run's size (4x)."
        ) from None


@dataclass(frozen=True)
class CacheEntry:
    """One derived result stored in a run's cache (see :meth:`Run.cache_entries`)."""

    key: str
    name: str
    nbytes: int  # bytes stored
    used: float | None  # when it was last written or served (seconds since the epoch)
    complete: bool  # False: a computation that was interrupted or is still running
    current: bool  # computed from the run's present snapshots

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _CacheBound:
    """Listing, bounding and clearing a run's cache."""

    def _note_use(self, group: zarr.Group, used: Any) -> None:
        """Least recently used goes first when the cache is full: note the use of an entry
        served, at most one write per entry every few seconds."""
        now = time.time()
        if self.writable and not (isinstance(used, int | float) and now - used < _CACHE_GRACE / 2):
            try:
                group.attrs["used"] = now
            except (OSError, zarr.errors.BaseZarrError):
                pass

    @property
    def recorded_nbytes(self) -> int:
        """Bytes the run's recorded data holds uncompressed (its cache not counted)."""
        t, n = self.n_snapshots, self.n_samples
        total = t * n * 4  # predictions
        for layer in self.layers:
            total += t * n * self.layer_dim(layer) * self.layer_dtype(layer).itemsize
        for path in ("labels", "inputs"):
            if self._has(path):
                arr = self._array(path)
                total += math.prod(arr.shape) * arr.dtype.itemsize
        return int(total)

    @property
    def cache_limit(self) -> int:
        """Bytes the run's cache may hold: ``$REPRDYNAMICS_CACHE_LIMIT``, else 4 x the run's
        recorded size and at least 64 MiB. Least recently used entries are evicted beyond it.
        """
        value = os.environ.get(CACHE_LIMIT_ENV, "").strip()
        if value:
            return parse_cache_limit(value, self.recorded_nbytes)
        return max(int(_CACHE_MULTIPLE * self.recorded_nbytes), _CACHE_FLOOR)

    def _stored_bytes(self, path: str) -> int:
        """Bytes stored under a path of the store (every chunk and metadata file)."""
        with _store_errors(self.location, self._storage_options):
            return int(_zarr_sync(self._group.store.getsize_prefix(path)))

    def cache_entries(self) -> list[CacheEntry]:
        """Every entry of the run's cache, least recently used first."""
        if "cache" not in self._group:
            return []
        state = self.state_token()
        entries = []
        for key, group in self._group["cache"].groups():
            try:
                attrs = group.attrs.asdict()
            except (ValueError, zarr.errors.BaseZarrError):
                attrs = {}  # a damaged entry: listed, and evicted first
            nbytes = attrs.get("nbytes")
            complete = attrs.get("complete_write") is True
            if not (complete and isinstance(nbytes, int)):
                nbytes = self._stored_bytes(group.path)
            used = attrs.get("used")
            entries.append(
                CacheEntry(
                    key=key,
                    name=key.rsplit("-", 1)[0],
                    nbytes=int(nbytes),
                    used=float(used) if isinstance(used, int | float) else None,
                    complete=complete,
                    current=complete and attrs.get("state") == state,
                )
            )
        return sorted(entries, key=lambda e: (e.used or 0.0, e.key))

    def cache_clear(self, name: str | None = None) -> int:
        """Delete the cache's entries (those of one result ``name`` only, if given).

        Returns the bytes freed. Entries are recomputed when next asked for.
        """
        self._require_writable()
        freed = 0
        for entry in self.cache_entries():
            if name is None or entry.name == name:
                freed += self._evict(entry)
        self._handles.clear()
        return freed

    def _evict(self, entry: CacheEntry) -> int:
        with _cache_lock(self.location, entry.key):
            try:
                del self._group["cache"][entry.key]
            except (KeyError, FileNotFoundError):
                return 0
        return entry.nbytes

    def _enforce_cache_limit(self, *, keep: str) -> None:
        """Evict least recently used entries until the cache fits its bound.

        Never evicted: ``keep`` (just written), entries whose arrays this process holds, and
        entries used in the last few seconds (another process may be reading them). The
        bound can therefore be exceeded while they are in use; the next write tries again.
        """
        try:
            entries = self.cache_entries()
            limit = self.cache_limit
        except (OSError, zarr.errors.BaseZarrError, ReprDynamicsError):
            return
        total = sum(e.nbytes for e in entries)
        now = time.time()
        for entry in entries:  # least recently used first
            if total <= limit:
                break
            if entry.key == keep or _pinned(self.location, entry.key):
                continue
            if entry.used is not None and now - entry.used < (
                _CACHE_GRACE if entry.complete else _CACHE_STALE
            ):
                continue
            try:
                total -= self._evict(entry)
            except (OSError, zarr.errors.BaseZarrError):
                continue
