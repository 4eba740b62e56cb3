"""Binary answers for the point views: one typed array per request, cacheable by ETag.

The point views draw up to a million samples per snapshot, so their data goes over the
wire as little-endian typed arrays (``application/octet-stream``) instead of JSON:

* ``measure.bin`` — one per-sample measure at one snapshot, float32 (n,);
* ``projection.bin`` — one snapshot of the 2-D projection, (n, 2) quantised to uint16
  (4 bytes per sample) or float32, on one scale for all snapshots so frames align;
* ``column.bin`` — one column of the per-sample table, float32 (n,).

Values are in the order of the selection's sorted ids (every sample when ``samples`` is
absent), so no ids travel. Headers describe the array: ``X-Dtype``, ``X-Shape``, and for
uint16 ``X-Scale`` / ``X-Offset`` (per axis, ``value = offset + scale * q``; ``q = 65535``
is NaN); ``projection.bin`` also sends ``X-Run-State``, so frames of two states are
never shown together. The ``ETag`` is a hash of the endpoint, the parameters and what the
answer depends on: the run's state, or for ``measure.bin`` only its own snapshot. A
request with a
matching ``If-None-Match`` is answered 304 before anything is read; a new snapshot changes
the tags of everything it can change. See ``docs/http_api.md``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reprdynamics.analysis import api
from reprdynamics.server import impl
from reprdynamics.server.arrays import ApiError, Params, bad_parameter
from reprdynamics.storage.run import Run

__all__ = [
    "QUANTISED_NAN",
    "Binary",
    "BinaryRequest",
    "column_bin",
    "dequantise",
    "measure_bin",
    "projection_bin",
    "quantise",
]

#: The uint16 code of a missing value (NaN) in quantised arrays.
QUANTISED_NAN = 65535
_LEVELS = 65534  # codes 0..65534 carry values


@dataclass(frozen=True)
class Binary:
    """A typed array to send, with the headers that describe it."""

    data: np.ndarray
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> bytes:
        little = self.data.astype(self.data.dtype.newbyteorder("<"), copy=False)
        return np.ascontiguousarray(little).tobytes()

    def all_headers(self) -> dict[str, str]:
        shape = ",".join(str(int(s)) for s in self.data.shape)
        return {"X-Dtype": self.data.dtype.name, "X-Shape": shape, **self.headers}


@dataclass(frozen=True, eq=False)
class BinaryRequest:
    """A validated binary request: its ETag, and how to answer it.

    ``computation`` is set when the answer needs a (possibly long) computation shared with
    the JSON endpoint; ``render`` then turns its result into the array. Otherwise
    ``produce`` reads the answer directly.
    """

    etag: str
    produce: Callable[[], Binary] | None = None
    computation: impl.Computation | None = None
    render: Callable[[Any], Binary] | None = None


def _etag(endpoint: str, run: Run, spec: dict[str, Any], state: str | None = None) -> str:
    """A tag of the answer: the endpoint, the parameters and ``state`` (the run's state
    token unless the answer depends on less)."""
    endpoint_, location, run_state, blob = impl.computation_key(endpoint, run, spec)
    key = (endpoint_, location, run_state if state is None else state, blob)
    digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:32]
    return f'"{digest}"'


def _snapshot_state(run: Run, t: int) -> str:
    """What a measure of snapshot t depends on: the run (its creation, so its labels) and
    whether that snapshot is complete. Later snapshots do not change it, so the browser
    keeps its copy while a live run grows."""
    return f"{run.created}|snapshot {t}|complete {bool(run.complete[t])}"


def quantise(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, ...]:
    """``values`` (..., d) as uint16 codes on the per-column range [low, high].

    Returns ``(codes, scale, offset)``; ``offset + scale * code`` is within ``scale / 2``
    of the value; NaN becomes :data:`QUANTISED_NAN`.
    """
    low = np.asarray(low, dtype=np.float64)
    span = np.asarray(high, dtype=np.float64) - low
    scale = np.where(span > 0, span / _LEVELS, 1.0)
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    codes = np.full(v.shape, QUANTISED_NAN, dtype=np.uint16)
    scaled = np.clip(np.rint((np.where(finite, v, 0.0) - low) / scale), 0, _LEVELS)
    codes[finite] = scaled[finite].astype(np.uint16)
    return codes, scale, low


def dequantise(codes: np.ndarray, scale: Any, offset: Any) -> np.ndarray:
    """Inverse of :func:`quantise` (NaN where the code is :data:`QUANTISED_NAN`)."""
    codes = np.asarray(codes)
    out = np.asarray(offset, dtype=np.float64) + np.asarray(scale, dtype=np.float64) * codes
    return np.where(codes == QUANTISED_NAN, np.nan, out)


def _floats(values: Any) -> str:
    return ",".join(repr(float(v)) for v in np.atleast_1d(values))


# --------------------------------------------------------------------------- endpoints
def measure_bin(ws: impl.Workspace, name: str, params: Params) -> BinaryRequest:
    """``GET /api/runs/{run}/measure.bin``: a per-sample measure at one snapshot."""
    run = ws.open(name)
    measure, t, ids = impl.measure_spec(run, params)
    spec = {"name": measure, "snapshot": t, "samples": ids}

    def produce() -> Binary:
        values = impl.measure_at(run, measure, t, ids)
        return Binary(
            values.astype(np.float32),
            {"X-Snapshot": str(t), "X-Measure": measure},
        )

    return BinaryRequest(_etag("measure.bin", run, spec, _snapshot_state(run, t)), produce=produce)


def projection_bin(ws: impl.Workspace, name: str, params: Params) -> BinaryRequest:
    """``GET /api/runs/{run}/projection.bin``: one snapshot of the 2-D projection."""
    computation = impl.prepare_projection(ws, name, params)
    run = computation.source
    assert run is not None
    encoding = params.choice("encoding", ("uint16", "float32"), "uint16")
    snapshot = params.integer("snapshot", None, low=0)
    spec = {"projection": computation.key, "encoding": encoding, "snapshot": snapshot}
    # Frames of one projection share one fit: the client checks they come from one state.
    state = run.state_token()

    def render(result: api.ProjectionOverTime) -> Binary:
        snapshots = [int(t) for t in result.snapshots]
        t = snapshots[-1] if snapshot is None else snapshot
        if t not in snapshots:
            raise bad_parameter(
                "snapshot", f"a projected (complete) snapshot, one of {snapshots}", snapshot
            )
        pos = snapshots.index(t)
        coords = np.asarray(result.coords[pos], dtype=np.float64)
        headers = {
            "X-Run-State": state,
            "X-Snapshot": str(t),
            "X-Snapshots": ",".join(map(str, snapshots)),
            "X-Explained-Variance-Ratio": _floats(result.explained_variance_ratio),
        }
        if encoding == "float32":
            return Binary(coords.astype(np.float32), headers)
        everything = np.asarray(result.coords, dtype=np.float64).reshape(-1, 2)
        finite = np.isfinite(everything).all(axis=1)
        low = everything[finite].min(axis=0) if finite.any() else np.zeros(2)
        high = everything[finite].max(axis=0) if finite.any() else np.ones(2)
        codes, scale, offset = quantise(coords, low, high)
        headers.update({"X-Scale": _floats(scale), "X-Offset": _floats(offset)})
        return Binary(codes, headers)

    return BinaryRequest(_etag("projection.bin", run, spec), computation=computation, render=render)


def column_bin(ws: impl.Workspace, name: str, params: Params) -> BinaryRequest:
    """``GET /api/runs/{run}/column.bin``: one column of the per-sample table, float32."""
    computation = impl.prepare_samples(ws, name, params)
    run = computation.source
    assert run is not None
    column = params.raw("column")
    if not isinstance(column, str) or not column:
        raise ApiError(400, "The 'column' parameter is required.", parameter="column")
    spec = {"samples": computation.key, "column": column}

    def render(table: api.SampleTable) -> Binary:
        columns = ["id", *table.columns(), *table.extras]
        if column not in columns:
            raise bad_parameter("column", f"one of {columns}", column)
        values = np.asarray(table[column])
        if values.dtype.kind not in "biuf":
            raise bad_parameter(
                "column", "a numeric column", f"{column!r} ({values.dtype})", status=422
            )
        return Binary(np.asarray(values, dtype=np.float32), {"X-Column": column})

    return BinaryRequest(_etag("column.bin", run, spec), computation=computation, render=render)
