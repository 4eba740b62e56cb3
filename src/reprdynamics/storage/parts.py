"""Parts: the rows one rank of a multi-process recording wrote for snapshot ``t``, under
``parts/<t>/<rank>`` until rank 0 merges and commits them (see
:mod:`reprdynamics.recording.ranks`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import zarr
import zarr.errors

from reprdynamics.storage.layout import _PARTS, _rows_per_chunk


class _Parts:
    """Writing, reading and dropping the parts of multi-process snapshots."""

    def write_part(
        self,
        t: int,
        rank: int,
        ids: np.ndarray,
        layers: Mapping[str, np.ndarray],
        facts: Mapping[str, Any],
    ) -> None:
        """Store the rows one rank recorded for snapshot ``t``, to be merged by rank 0.

        ``facts`` (JSON) describe the part; they are written last, with ``done``, so a part
        is either whole or absent to its reader.
        """
        self._require_writable()
        path = f"{_PARTS}/{t}/{rank}"
        group = self._group.require_group(path)
        for name, values in {"ids": ids, **{f"layer.{k}": v for k, v in layers.items()}}.items():
            values = np.ascontiguousarray(values)
            row_bytes = int(np.prod(values.shape[1:], dtype=np.int64)) * values.itemsize
            rows = _rows_per_chunk(max(values.shape[0], 1), row_bytes)
            arr = group.create_array(
                name,
                shape=values.shape,
                chunks=(rows, *values.shape[1:]),
                dtype=values.dtype,
                overwrite=True,
            )
            if values.size:
                arr[...] = values
        group.attrs.put({**json.loads(json.dumps(dict(facts))), "done": True})

    def read_part(
        self, t: int, rank: int
    ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]] | None:
        """``(ids, layers, facts)`` of a part written whole by :meth:`write_part`, else None."""
        try:
            group = self._group[f"{_PARTS}/{t}/{rank}"]
            facts = dict(group.attrs.asdict())
            if facts.get("done") is not True:
                return None
            arrays = {name: np.asarray(group[name][...]) for name in group.array_keys()}
        except (KeyError, FileNotFoundError, zarr.errors.BaseZarrError):
            return None
        ids = arrays.pop("ids")
        return ids, {k[len("layer.") :]: v for k, v in arrays.items()}, facts

    def drop_all_parts(self) -> None:
        """Delete every part (left by a multi-process recording that was killed)."""
        self._require_writable()
        try:
            if _PARTS in self._group:
                del self._group[_PARTS]
        except (KeyError, FileNotFoundError):
            pass

    def drop_parts(self, t: int) -> None:
        """Delete the parts of snapshot ``t`` (after its commit, or to start it afresh)."""
        self._require_writable()
        try:
            parts = self._group[_PARTS]
            if str(t) in parts:
                del parts[str(t)]
        except (KeyError, FileNotFoundError):
            pass
