"""The per-sample table, the report, the projection and the local view endpoints."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from reprdynamics.analysis import api
from reprdynamics.analysis.local import nearest_rows
from reprdynamics.analysis.reads import Progress
from reprdynamics.server.arrays import (
    Params,
    bad_parameter,
    compact,
)
from reprdynamics.server.checks import (
    check_complete,
    complete_snapshot_param,
    k_param,
    layer_param,
    selection_size,
)
from reprdynamics.server.computation import Computation
from reprdynamics.server.workspace import Workspace, call_with_cache
from reprdynamics.storage.run import Run


# --------------------------------------------------------------------------- samples
def samples_spec(run: Run, params: Params) -> dict[str, Any]:
    """The validated parameters of a per-sample table: ``samples``, ``k`` (0: no
    neighbour stability) and, with ``k``, its ``layer``."""
    ids = params.selection("samples", run.n_samples)
    n = selection_size(run, ids)
    check_complete(run, 1, "The per-sample table")
    k = k_param(params, n, allow_zero=True) if n > 1 else 0
    spec: dict[str, Any] = {"samples": ids, "k": k}
    if k:
        spec["layer"] = layer_param(run, params)
    return spec


def sample_table(ws: Workspace, run: Run, spec: dict[str, Any], progress: Progress) -> Any:
    """The per-sample table of ``spec`` (:func:`samples_spec`), cached where the run allows."""

    def call(use_cache: bool) -> api.SampleTable:
        return api.sample_dynamics(
            run,
            samples=spec["samples"],
            neighbour_k=spec["k"] or None,
            neighbour_layer=spec.get("layer"),
            use_cache=use_cache,
            progress=progress,
        )

    return call_with_cache(ws, run, call)


def prepare_samples(ws: Workspace, name: str, params: Params) -> Computation:
    run = ws.open(name)
    spec = samples_spec(run, params)
    return Computation.on_run(
        "samples",
        run,
        spec,
        f"the per-sample table of {name}",
        partial(sample_table, ws, run, spec),
        samples_data,
    )


def prepare_report(ws: Workspace, name: str, params: Params) -> Computation:
    """The self-contained HTML report of one run for a selection (``report.html``), the
    one ``reprdynamics report`` writes (:mod:`reprdynamics.report`). The computation's
    result is the :class:`~reprdynamics.report.Report`; the route renders its HTML."""
    run = ws.open(name)
    ids = params.selection("samples", run.n_samples)
    n = selection_size(run, ids)
    if n < 2:
        raise bad_parameter("samples", "a selection of at least 2 samples", f"{n} sample(s)")
    check_complete(run, 2, "The report")
    spec = {"samples": ids}

    def compute(progress: Progress) -> Any:
        from reprdynamics.report import report_of_runs

        def call(use_cache: bool) -> Any:
            return report_of_runs(
                [(name, run)], samples=ids, use_cache=use_cache, progress=progress
            )

        return call_with_cache(ws, run, call)

    return Computation.on_run("report", run, spec, f"the report of {name}", compute, report_summary)


def report_summary(report: Any) -> dict[str, Any]:
    """What ``/api/jobs/{job}`` answers for a finished report (the HTML is the route's)."""
    return {"title": report.title, "figures": [f.id for f in report.figures]}


def column_compact(values: np.ndarray) -> dict[str, Any]:
    values = np.asarray(values)
    if values.dtype == np.bool_:
        return compact(values, "uint8")
    if np.issubdtype(values.dtype, np.integer):
        return compact(values, "int32")
    return compact(values, "float32")


def samples_data(table: api.SampleTable) -> dict[str, Any]:
    """The per-sample table as ``{"columns", "data": {column: compact}}``."""
    columns = ["id", *table.columns(), *table.extras]
    return {
        "columns": columns,
        "data": {c: column_compact(table[c]) for c in columns},
        "n": len(table),
        "snapshots": [int(t) for t in table.snapshots],
    }


# --------------------------------------------------------------------------- projection
def prepare_projection(ws: Workspace, name: str, params: Params) -> Computation:
    run = ws.open(name)
    check_complete(run, 1, "The projection")
    layer = layer_param(run, params)
    if run.layer_dim(layer) < 2:
        raise bad_parameter("layer", "a layer with at least 2 dimensions", layer)
    ids = params.selection("samples", run.n_samples)
    spec = {"layer": layer, "samples": ids}
    epochs = run.epochs

    def compute(progress: Progress) -> api.ProjectionOverTime:
        progress(0, 1, f"projection of {layer}")

        def call(use_cache: bool) -> api.ProjectionOverTime:
            return api.projection(run, layer=layer, samples=ids, use_cache=use_cache)

        result = call_with_cache(ws, run, call)
        progress(1, 1, f"projection of {layer}")
        return result

    def render(result: api.ProjectionOverTime) -> dict[str, Any]:
        return {
            "layer": result.layer,
            "snapshots": [int(t) for t in result.snapshots],
            "epochs": [epochs[int(t)] for t in result.snapshots],
            "coords": compact(result.coords, "float32"),
            "ids": compact(result.ids, "int32"),
            "explained_variance_ratio": [float(v) for v in result.explained_variance_ratio],
        }

    return Computation.on_run("projection", run, spec, f"the projection of {name}", compute, render)


# --------------------------------------------------------------------------- local view
def prepare_local(ws: Workspace, name: str, params: Params) -> Computation:
    run = ws.open(name)
    snaps = check_complete(run, 1, "The local view")
    sample_id = params.integer("id", None, low=0, high=run.n_samples - 1, required=True)
    assert sample_id is not None
    a = complete_snapshot_param(run, params, "a", int(snaps[0]))
    b = complete_snapshot_param(run, params, "b", int(snaps[-1]))
    layer = layer_param(run, params)
    ids = params.selection("samples", run.n_samples)
    points = np.arange(run.n_samples) if ids is None else np.union1d(ids, [sample_id])
    k = k_param(params, int(points.size))
    spec = {"id": sample_id, "a": a, "b": b, "layer": layer, "samples": ids, "k": k}
    labels = run.labels
    epochs = run.epochs
    all_points = ids is None

    def compute(progress: Progress) -> dict[str, Any]:
        pos = int(np.searchsorted(points, sample_id))
        found: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for step, t in enumerate(dict.fromkeys((a, b))):
            progress(step, 2 if a != b else 1, f"neighbours at snapshot {t}")
            X = run.read(layer, t, None if all_points else points)
            idx, dist = nearest_rows(X, pos, k)
            found[t] = (points[idx], dist)
        sets = {t: set(v[0].tolist()) for t, v in found.items()}
        out: dict[str, Any] = {
            "id": sample_id,
            "label": int(labels[sample_id]) if labels is not None else -1,
            "k": k,
            "layer": layer,
            "overlap": len(sets[a] & sets[b]) / k,
        }
        for side, t, other in (("a", a, b), ("b", b, a)):
            neighbour_ids, dist = found[t]
            predictions = run.predictions(t, np.append(neighbour_ids, sample_id))
            out[side] = {
                "snapshot": t,
                "epoch": epochs[t],
                "prediction": int(predictions[-1]),
                "neighbours": [
                    {
                        "id": int(i),
                        "label": int(labels[i]) if labels is not None else -1,
                        "prediction": int(p),
                        "distance": float(d),
                        "changed": int(i) not in sets[other],
                    }
                    for i, d, p in zip(neighbour_ids, dist, predictions[:-1], strict=True)
                ],
            }
        return out

    return Computation.on_run(
        "local", run, spec, f"the neighbours of sample {sample_id} in {name}", compute
    )
