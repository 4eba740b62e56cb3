"""Metrics per snapshot (loss, accuracy ...): kept in the snapshots' entries as JSON
numbers, read as float arrays, and added to a committed snapshot later."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from reprdynamics.errors import InvalidParameterError


def _json_number(value: Any) -> Any:
    """Metrics must survive JSON: numpy scalars become Python numbers, NaN becomes None."""
    if isinstance(value, np.generic):
        value = value.item()
    if hasattr(value, "item") and callable(value.item):  # 0-d tensors and arrays
        try:
            value = value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    raise InvalidParameterError(
        f"Metric values must be numbers or strings. Got {type(value).__name__} instead.",
        parameter="metrics",
    )


class _Metrics:
    """The metrics of a run's snapshots."""

    def metric(self, name: str) -> np.ndarray:
        """One metric per snapshot as a float array (NaN where a snapshot lacks it)."""
        values = [(s.get("metrics") or {}).get(name) for s in self._entries]
        return np.array([v if isinstance(v, int | float) else np.nan for v in values], dtype=float)

    @property
    def metric_names(self) -> list[str]:
        names: dict[str, None] = {}
        for s in self._entries:
            names.update(dict.fromkeys(s.get("metrics") or {}))
        return list(names)

    def set_metrics(self, snapshot: int, metrics: Mapping[str, Any]) -> None:
        """Add or replace metrics of a committed snapshot (e.g. validation accuracy later)."""
        self._require_writable()
        t = self._check_snapshot(snapshot)
        self._upgrade()
        entry = dict(self._entries[t])
        merged = dict(entry.get("metrics") or {})
        merged.update({str(k): _json_number(v) for k, v in metrics.items()})
        entry["metrics"] = merged
        self._write_entry(t, entry)
        self._entries[t] = entry
        consolidated = self._attrs.get("consolidated") or []
        if t < len(consolidated):
            self._attrs["consolidated"] = [*consolidated[:t], entry, *consolidated[t + 1 :]]
            self._group.attrs["consolidated"] = self._attrs["consolidated"]
