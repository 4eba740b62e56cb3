"""The entries of the committed snapshots: one group ``snapshots/<t>`` per snapshot, its
attributes the entry, written in one store operation as the snapshot's commit point.

``T`` is the number of entries ``0, 1, ...`` present. Format version 1 (a ``snapshots``
list attribute rewritten at every commit, and a ``complete`` array) is read as well, and
upgraded in place by the first write; :meth:`consolidate` copies the entries into the
group attributes, so opening a finished run reads one object."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import zarr
import zarr.errors
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync as _zarr_sync

from reprdynamics.errors import CorruptRunError
from reprdynamics.storage.layout import _ENTRIES, FORMAT_VERSION


@dataclass(frozen=True)
class SnapshotInfo:
    """What the run knows about one snapshot besides its arrays."""

    index: int
    epoch: int | None
    step: int | None
    wall_time: float | None
    metrics: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # metrics: a copy


class _Entries:
    """Reading, writing and consolidating the entries of a run's snapshots."""

    def _load_entries(self) -> list[dict[str, Any]]:
        """The committed snapshots' entries, in order (version 1: from the list attribute)."""
        attrs = self._attrs
        version = attrs.get("format_version")
        if version == 1:
            snaps = attrs.get("snapshots")
            if not isinstance(snaps, list):
                return []  # _check names the problem
            try:
                complete = np.asarray(self._group["complete"][: len(snaps)], dtype=bool)
            except (KeyError, zarr.errors.BaseZarrError, ValueError):
                complete = np.zeros(0, dtype=bool)  # _check names the missing array
            return [
                {**dict(e), "complete": bool(complete[t]) if t < complete.size else False}
                if isinstance(e, Mapping)
                else {"index": None, "damaged": e}  # _check names it
                for t, e in enumerate(snaps)
            ]
        consolidated = attrs.get("consolidated")
        entries = [dict(e) for e in consolidated] if isinstance(consolidated, list) else []
        return entries + _zarr_sync(self._read_entries_from(len(entries)))

    async def _read_entries_from(self, start: int) -> list[dict[str, Any]]:
        """Entries ``start, start + 1, ...`` present in the store: one listing, parallel reads."""
        store = self._group.store
        prefix = self._key(_ENTRIES)
        present = set()
        async for name in store.list_dir(prefix):
            if name.isdigit():
                present.add(int(name))
        wanted = []
        while start + len(wanted) in present:
            wanted.append(start + len(wanted))
        proto = default_buffer_prototype()
        blobs = await asyncio.gather(
            *(store.get(f"{prefix}/{t}/zarr.json", prototype=proto) for t in wanted)
        )
        entries = []
        for t, blob in zip(wanted, blobs, strict=True):
            if blob is None:  # removed between listing and reading
                break
            try:
                meta = json.loads(blob.to_bytes())
            except ValueError as exc:
                raise CorruptRunError(
                    f"The entry of snapshot {t} of the run at {self.location!r} "
                    f"({prefix}/{t}/zarr.json) is not valid JSON: {exc}"
                ) from exc
            entry = meta.get("attributes") if isinstance(meta, dict) else None
            entries.append(entry if isinstance(entry, dict) else {"index": None})
        return entries

    def _write_entry(self, t: int, entry: Mapping[str, Any]) -> None:
        """Write the group ``snapshots/<t>`` with ``entry`` as its attributes: one object.

        The metadata is what Zarr writes for a group (any Zarr v3 reader opens it); written
        with one store operation, atomically, rather than Zarr's create-or-replace dance.
        """
        meta = {"zarr_format": 3, "node_type": "group", "attributes": dict(entry)}
        blob = default_buffer_prototype().buffer.from_bytes(json.dumps(meta).encode())
        _zarr_sync(self._group.store.set(self._key(_ENTRIES, str(t), "zarr.json"), blob))

    def _upgrade(self) -> None:
        """Turn a version 1 run into version 2 before its first write (crash-safe).

        The entries are written first; the attributes, switched last in one write, are what
        makes the run version 2. A kill in between leaves a readable version 1 run.
        """
        if self._attrs.get("format_version") != 1:
            return
        self._group.require_group(_ENTRIES)
        for t, entry in enumerate(self._entries):
            self._write_entry(t, entry)
        attrs = {k: v for k, v in self._attrs.items() if k != "snapshots"}
        attrs.update(format_version=FORMAT_VERSION, consolidated=list(self._entries))
        self._group.attrs.put(attrs)
        self._attrs = attrs
        if "complete" in self._group:
            del self._group["complete"]
        self._handles.pop("complete", None)

    def consolidate(self) -> None:
        """Copy every entry into the group attributes, so opening the run reads one object.

        Readers take the consolidated entries and then the entries beyond them; a recorder
        consolidates when it closes, not per snapshot.
        """
        self._require_writable()
        self._upgrade()
        if len(self._attrs.get("consolidated") or []) == len(self._entries):
            return
        self._attrs["consolidated"] = [dict(e) for e in self._entries]
        self._group.attrs["consolidated"] = self._attrs["consolidated"]
