"""The quick endpoints: runs, a run's overview, labels, predictions, measures, class transitions."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from reprdynamics.analysis import cartography
from reprdynamics.analysis.kinds import applicable_kinds
from reprdynamics.analysis.snapshot_measures import (
    LABEL_MEASURES,
    MEASURES,
    measure_at,
)
from reprdynamics.analysis.transitions import class_transitions
from reprdynamics.errors import ReprDynamicsError
from reprdynamics.server.arrays import (
    ApiError,
    Params,
    bad_parameter,
    compact,
)
from reprdynamics.server.checks import check_complete, snapshot_param
from reprdynamics.server.thumbnails import (
    image_like,
)
from reprdynamics.server.workspace import DEFAULT_K, Workspace
from reprdynamics.storage.run import Run


# --------------------------------------------------------------------------- quick ones
def runs_impl(ws: Workspace) -> dict[str, Any]:
    """``GET /api/runs``: the runs served, with a few facts each."""
    listing = []
    for name, location in ws.runs().items():
        try:
            run = ws.open_location(location)
        except ReprDynamicsError as exc:
            listing.append({"name": name, "error": str(exc)})
            continue
        listing.append(
            {
                "name": name,
                "n_snapshots": run.n_snapshots,
                "n_samples": run.n_samples,
                "kind": run.kind,
                "layers": run.layers,
                "created": run.created,
            }
        )
    return {"root": ws.root, "kind": ws.kind, "runs": listing}


def _applicable_measures(run: Run) -> list[str]:
    if run.kind == "features":
        return []
    labels = run.labels
    if labels is None or not (labels >= 0).any():
        return ["entropy"]
    return list(MEASURES)


def _class_names(run: Run) -> list[str] | None:
    names = run.class_names
    if names is None and run.n_classes is not None:
        names = [str(c) for c in range(run.n_classes)]
    return names


def overview_impl(ws: Workspace, name: str) -> dict[str, Any]:
    """``GET /api/runs/{run}``: everything the front-end needs to lay out a run."""
    run = ws.open(name)
    snapshots = run.snapshots
    shape = run.inputs_shape
    return {
        "name": name,
        "n_snapshots": run.n_snapshots,
        "n_complete": int(run.complete.sum()),
        "complete": [bool(c) for c in run.complete],
        "n_samples": run.n_samples,
        "kind": run.kind,
        "output_layer": run.output_layer,
        "layers": {layer: run.layer_dim(layer) for layer in run.layers},
        "epochs": run.epochs,
        "steps": [s.step for s in snapshots],
        "wall_times": [s.wall_time for s in snapshots],
        "metrics": {m: run.metric(m).tolist() for m in run.metric_names},
        "class_names": _class_names(run),
        "n_classes": run.n_classes,
        "has_labels": run.has_labels,
        "has_inputs": run.has_inputs,
        "has_thumbnails": image_like(shape),
        "input_shape": list(shape[1:]) if shape else None,
        "extras": run.extras,
        "metadata": run.metadata,
        "created": run.created,
        "fingerprint_kinds": [kind.name for kind in applicable_kinds(run)],
        "fingerprint_specs": [kind.describe() for kind in applicable_kinds(run)],
        "measures": _applicable_measures(run),
        "defaults": {"k": min(DEFAULT_K, max(run.n_samples - 1, 1)), "layer": run.output_layer},
        "cartography": {
            "regions": list(cartography.REGIONS),
            "variability_threshold": cartography.VARIABILITY_THRESHOLD,
            "confidence_threshold": cartography.CONFIDENCE_THRESHOLD,
        },
        "exports": ["csv", "parquet"] if importlib.util.find_spec("pyarrow") else ["csv"],
    }


def labels_impl(ws: Workspace, name: str) -> dict[str, Any]:
    """``GET /api/runs/{run}/labels``: labels as compact int32 (-1 unknown)."""
    run = ws.open(name)
    labels = run.labels
    return {
        "labels": compact(labels if labels is not None else np.full(run.n_samples, -1), "int32"),
        "class_names": _class_names(run),
        "has_labels": labels is not None,
    }


def predictions_impl(ws: Workspace, name: str, params: Params) -> dict[str, Any]:
    """``GET /api/runs/{run}/predictions?snapshot=t``: a compact int32 (N,) array."""
    run = ws.open(name)
    t = snapshot_param(run, params, "snapshot", run.n_snapshots - 1)
    return {**compact(run.predictions(t), "int32"), "snapshot": t}


def measure_spec(run: Run, params: Params) -> tuple[str, int, np.ndarray | None]:
    """The measure, snapshot and selection a measure request asks for (validated)."""
    measure = params.choice("name", MEASURES, "entropy")
    if run.kind == "features":
        raise bad_parameter(
            "name",
            "a measure of predictions; this run records features, which have none",
            measure,
            status=422,
        )
    labels = run.labels
    if measure in LABEL_MEASURES and (labels is None or not (labels >= 0).any()):
        raise bad_parameter(
            "name",
            f"one of {_applicable_measures(run)} (the run has no labels)",
            measure,
            status=422,
        )
    t = snapshot_param(run, params, "snapshot", run.n_snapshots - 1)
    ids = params.selection("samples", run.n_samples)
    return measure, t, ids


def measure_impl(ws: Workspace, name: str, params: Params) -> dict[str, Any]:
    """``GET /api/runs/{run}/measure``: one per-sample measure at one snapshot."""
    run = ws.open(name)
    measure, t, ids = measure_spec(run, params)
    values = measure_at(run, measure, t, ids)
    ids_out = np.arange(run.n_samples) if ids is None else ids
    return {
        "name": measure,
        "snapshot": t,
        "epoch": run.epochs[t],
        "ids": compact(ids_out, "int32"),
        "values": compact(values, "float32"),
    }


def transitions_impl(ws: Workspace, name: str, params: Params) -> dict[str, Any]:
    """``GET /api/runs/{run}/transitions``: the NNTF class-transition matrix Δ(a, b)."""
    run = ws.open(name)
    if run.kind == "features":
        raise ApiError(
            422,
            f"The run {name!r} records features, which have no predictions; class "
            "transitions need predictions.",
            parameter="run",
        )
    snaps = check_complete(run, 1, "The class-transition matrix")
    a = snapshot_param(run, params, "a", int(snaps[0]))
    b = snapshot_param(run, params, "b", int(snaps[-1]))
    ids = params.selection("samples", run.n_samples)
    moved = class_transitions(run, a, b, ids)
    names = _class_names(run) or []
    names = [*names, *(str(c) for c in range(len(names), moved.n_classes))][: moved.n_classes]
    return {
        "a": a,
        "b": b,
        "matrix": moved.matrix.tolist(),
        "class_names": names,
        "n": moved.n,
        "n_excluded": moved.n_excluded,
    }
