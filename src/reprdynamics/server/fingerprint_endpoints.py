"""The fingerprint, RQA and run-comparison endpoints."""

from __future__ import annotations

from functools import partial
from typing import Any

from reprdynamics.analysis import api
from reprdynamics.analysis.kinds import KINDS, get_kind
from reprdynamics.analysis.reads import Progress
from reprdynamics.analysis.summary import fingerprint_recurrence
from reprdynamics.server.arrays import (
    ApiError,
    Params,
    bad_parameter,
    compact,
)
from reprdynamics.server.checks import check_complete, k_param, layer_param, selection_size
from reprdynamics.server.computation import Computation, computation_key
from reprdynamics.server.workspace import DEFAULT_K, Workspace, call_with_cache
from reprdynamics.storage.run import Run


def _fingerprint_spec(run: Run, params: Params) -> dict[str, Any]:
    kind = get_kind(params.choice("kind", tuple(KINDS), "neighbour-transition"))
    kind.require_applicable(run)
    ids = params.selection("samples", run.n_samples)
    n = selection_size(run, ids)
    if n < 2:
        raise bad_parameter("samples", "a selection of at least 2 samples", f"{n} sample")
    check_complete(run, 2, f"The {kind.name!r} fingerprint")
    spec: dict[str, Any] = {"kind": kind.name, "samples": ids}
    spec["layer"] = layer_param(run, params) if kind.uses_layer else run.output_layer
    if kind.uses_k:
        spec["k"] = k_param(params, n)
        search = params.choice("neighbours", ("exact", "approximate"), "exact")
        spec["backend"] = "faiss-ivf" if search == "approximate" else "auto"
    for option, default in kind.options.items():
        if isinstance(default, bool):
            spec[option] = params.flag(option)
    return spec


def _compute_fingerprint(
    ws: Workspace, run: Run, spec: dict[str, Any], progress: Progress
) -> api.Fingerprint:
    def call(use_cache: bool) -> api.Fingerprint:
        return api.fingerprint(
            run,
            spec["kind"],
            k=spec.get("k", DEFAULT_K),
            layer=spec["layer"],
            samples=spec["samples"],
            backend=spec.get("backend", "auto"),
            debiased=spec.get("debiased", False),
            use_cache=use_cache,
            progress=progress,
        )

    return call_with_cache(ws, run, call)


def _memoised_fingerprint(
    ws: Workspace, run: Run, spec: dict[str, Any], progress: Progress
) -> api.Fingerprint:
    key = computation_key("fingerprint", run, spec)
    return ws.jobs.memoised(key, lambda: _compute_fingerprint(ws, run, spec, progress))


def fingerprint_data(fp: api.Fingerprint) -> dict[str, Any]:
    """A fingerprint as the API sends it (the matrix as a compact float32 array)."""
    return {
        "kind": fp.kind,
        "matrix": compact(fp.matrix, "float32"),
        "labels": list(fp.labels),
        "snapshots": [int(t) for t in fp.snapshots],
        "transition": bool(fp.transition),
        "params": {k: v for k, v in fp.params.items()},
        "phase_changes": api.phase_changes_of(fp),
    }


def prepare_fingerprint(ws: Workspace, name: str, params: Params) -> Computation:
    run = ws.open(name)
    spec = _fingerprint_spec(run, params)
    return Computation.on_run(
        "fingerprint",
        run,
        spec,
        f"the {spec['kind']} fingerprint of {name}",
        partial(_compute_fingerprint, ws, run, spec),
        fingerprint_data,
    )


def _rqa_options(params: Params) -> dict[str, Any]:
    threshold = params.number("threshold", None, low=0.0)
    rate = params.number("recurrence_rate", None, low=0.0, high=1.0, low_open=True)
    if threshold is not None and rate is not None:
        raise bad_parameter(
            "threshold", "absent when 'recurrence_rate' is given (give one of them)", threshold
        )
    return {"threshold": threshold, "recurrence_rate": rate}


def _rqa_data(fp: api.Fingerprint, options: dict[str, Any]) -> dict[str, Any]:
    result, sweep = fingerprint_recurrence(
        fp, threshold=options["threshold"], recurrence_rate=options["recurrence_rate"]
    )
    return {
        "kind": fp.kind,
        "labels": list(fp.labels),
        "rqa": result.to_dict(),
        "nntf": sweep.to_dict(),
        "params": {k: v for k, v in fp.params.items()},
    }


def prepare_rqa(ws: Workspace, name: str, params: Params) -> Computation:
    run = ws.open(name)
    spec = _fingerprint_spec(run, params)
    options = _rqa_options(params)

    def compute(progress: Progress) -> dict[str, Any]:
        return _rqa_data(_memoised_fingerprint(ws, run, spec, progress), options)

    return Computation.on_run(
        "rqa", run, {**spec, **options}, f"RQA of the {spec['kind']} fingerprint of {name}", compute
    )


def compared_runs(ws: Workspace, params: Params) -> tuple[list[str], list[Run]]:
    """The runs ``a`` and ``b`` of a comparison (names and runs): both required, and over
    the same number of samples (a 400 naming ``b`` otherwise)."""
    names = []
    for side in ("a", "b"):
        value = params.text(side)
        if value is None:
            raise ApiError(400, f"The {side!r} parameter (a run name) is required.", parameter=side)
        names.append(value)
    runs = []
    for side, name in zip(("a", "b"), names, strict=True):
        try:
            runs.append(ws.open(name))
        except ApiError as exc:
            raise ApiError(exc.status, exc.message, parameter=side) from None
    run_a, run_b = runs
    if run_a.n_samples != run_b.n_samples:
        raise bad_parameter(
            "b",
            f"a run with the same samples as {names[0]!r} (N = {run_a.n_samples})",
            f"{names[1]} with N = {run_b.n_samples}",
        )
    return names, runs


def prepare_compare(ws: Workspace, params: Params) -> Computation:
    names, runs = compared_runs(ws, params)
    run_a, run_b = runs
    specs = [_fingerprint_spec(run, params) for run in runs]
    options = _rqa_options(params)

    def compute(progress: Progress) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for side, name, run, spec in zip(("a", "b"), names, runs, specs, strict=True):

            def report(done: int, total: int, what: str, _name: str = name) -> None:
                progress(done, total, f"{_name}: {what}")

            fp = _memoised_fingerprint(ws, run, spec, report)
            out[side] = {"run": name, "fingerprint": fingerprint_data(fp), **_rqa_data(fp, options)}
        return out

    key = (
        "compare",
        computation_key("a", run_a, {**specs[0], **options}),
        computation_key("b", run_b, {**specs[1], **options}),
    )
    return Computation(
        key=key,
        description=f"the comparison of {names[0]} and {names[1]}",
        compute=compute,
        render=lambda data: data,
    )
