"""What the dashboard's endpoints answer, as plain data, without HTTP.

Every endpoint of ``docs/http_api.md`` has a function here. Quick ones (``overview_impl``,
``measure_impl`` ...) take the :class:`Workspace`, the run name and the request's
:class:`~reprdynamics.server.arrays.Params`, and return plain data (dicts, lists, compact
arrays). Ones that may compute for long (fingerprint, rqa, samples, projection, local,
compare) have a ``prepare_*`` function that validates everything up front and returns a
:class:`Computation`: a key (endpoint, run location, run state, canonical parameters), the
heavy ``compute(progress)`` to run in a worker thread, and a cheap ``render(result)``; the
routes hand it to the job registry. ``Computation.run()`` does both at once (tests, scripts).

Validation happens here, at the edge: every bad parameter becomes an
:class:`~reprdynamics.server.arrays.ApiError` naming it, and errors of the analysis layer are
mapped to HTTP statuses by :func:`api_error`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reprdynamics.analysis import api, cartography
from reprdynamics.analysis.kinds import KINDS, applicable_kinds, get_kind
from reprdynamics.analysis.local import nearest_rows
from reprdynamics.analysis.snapshot_measures import (
    LABEL_MEASURES,
    MEASURES,
    measure_at,
)
from reprdynamics.analysis.summary import fingerprint_recurrence
from reprdynamics.analysis.transitions import class_transitions
from reprdynamics.errors import InvalidParameterError, ReprDynamicsError, RunNotFoundError
from reprdynamics.server.arrays import (
    ApiError,
    Params,
    api_error,
    bad_parameter,
    compact,
    parse_ordered_ids,
)
from reprdynamics.server.jobs import JobRegistry
from reprdynamics.server.selections import SelectionRegistry
from reprdynamics.server.thumbnails import (
    MAX_SPRITE_IDS,
    MAX_SPRITE_PIXELS,
    as_images,
    image_like,
    sprite_png,
    thumbnail_png,
)
from reprdynamics.storage.remote import is_url
from reprdynamics.storage.run import Run, is_run, open_run

__all__ = [
    "DEFAULT_K",
    "MAX_K",
    "MEASURES",
    "Computation",
    "Workspace",
    "api_error",
    "column_compact",
    "compared_runs",
    "computation_key",
    "labels_impl",
    "measure_at",
    "measure_impl",
    "measure_spec",
    "overview_impl",
    "predictions_impl",
    "prepare_compare",
    "prepare_fingerprint",
    "prepare_local",
    "prepare_projection",
    "prepare_report",
    "prepare_rqa",
    "prepare_samples",
    "runs_impl",
    "sample_table",
    "samples_spec",
    "thumb_impl",
    "thumbs_impl",
    "transitions_impl",
]

log = logging.getLogger("reprdynamics.server")

Progress = Callable[[int, int, str], None]

#: Per-sample measures of the ``measure`` endpoint.
#: Neighbours per sample when the request does not say.
DEFAULT_K = 10
#: The most neighbours per sample the server computes. Every k is a cached (T, N, k) stack
#: in the run: without a bound a few requests can grow a run many times over. Larger k:
#: the Python API (reprdynamics.fingerprint).
MAX_K = 100


def _no_progress(done: int, total: int, what: str) -> None:
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
                "storage_options are only used with a run's URL (s3://..., gs://...)."
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


def _call_with_cache(ws: Workspace, run: Run, call: Callable[[bool], Any]) -> Any:
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


# --------------------------------------------------------------------------- computations
@dataclass(frozen=True, eq=False)
class Computation:
    """A validated request of a possibly long computation."""

    key: Hashable
    description: str
    compute: Callable[[Progress], Any]
    render: Callable[[Any], Any]
    #: The run it reads, when one (the binary answers tag themselves with its state).
    source: Run | None = None

    def run(self, progress: Progress | None = None) -> Any:
        """Compute and render now, in this thread."""
        return self.render(self.compute(progress or _no_progress))


def _key(endpoint: str, run: Run, params: dict[str, Any]) -> tuple[str, str, str, str]:
    """The memo key of a computation: what, on which run in which state, with what."""
    blob = json.dumps(params, sort_keys=True, default=_key_default)
    return (endpoint, run.location, run.state_token(), blob)


computation_key = _key


def _key_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):  # a digest: a million ids need not become JSON
        data = np.ascontiguousarray(value)
        return f"{data.dtype}{data.shape}:{hashlib.sha256(data.tobytes()).hexdigest()}"
    return str(value)


def _check_complete(run: Run, minimum: int, what: str) -> np.ndarray:
    snaps = run.complete_snapshots
    if snaps.size < minimum:
        raise ApiError(
            422,
            f"{what} needs at least {minimum} complete snapshot{'s' if minimum > 1 else ''}; "
            f"the run {run.name!r} has {snaps.size} (of {run.n_snapshots} written).",
        )
    return snaps


def _layer(run: Run, params: Params, name: str = "layer") -> str:
    layer = params.text(name) or run.output_layer
    if layer not in run.layers:
        raise bad_parameter(name, f"a layer of the run, one of {run.layers}", layer)
    return layer


def _selection_size(run: Run, ids: np.ndarray | None) -> int:
    return run.n_samples if ids is None else int(ids.size)


def _k(params: Params, n: int, *, allow_zero: bool = False) -> int:
    """Neighbours per sample for a selection of n samples: an int in [1, n - 1]."""
    if n < 2:
        raise bad_parameter("samples", "a selection of at least 2 samples", f"{n} sample(s)")
    value = params.integer(
        "k", min(DEFAULT_K, n - 1), low=0 if allow_zero else 1, high=min(n - 1, MAX_K)
    )
    assert value is not None
    return value


def _snapshot(run: Run, params: Params, name: str, default: int) -> int:
    if run.n_snapshots == 0:
        raise ApiError(422, f"The run {run.name!r} has no snapshots yet.", parameter=name)
    value = params.integer(name, default, low=0, high=run.n_snapshots - 1)
    assert value is not None
    return value


def _complete_snapshot(run: Run, params: Params, name: str, default: int) -> int:
    t = _snapshot(run, params, name, default)
    if not run.complete[t]:
        complete = run.complete_snapshots.tolist()
        raise bad_parameter(name, f"a complete snapshot, one of {complete}", t)
    return t


def _fingerprint_spec(run: Run, params: Params) -> dict[str, Any]:
    kind = get_kind(params.choice("kind", tuple(KINDS), "neighbour-transition"))
    if not kind.applies_to(run):
        others = ", ".join(k.name for k in applicable_kinds(run))
        raise bad_parameter(
            "kind",
            f"a fingerprint of representations ({others}); this run records features, "
            f"which have no predictions",
            kind.name,
        )
    ids = params.selection("samples", run.n_samples)
    n = _selection_size(run, ids)
    if n < 2:
        raise bad_parameter("samples", "a selection of at least 2 samples", f"{n} sample")
    _check_complete(run, 2, f"The {kind.name!r} fingerprint")
    spec: dict[str, Any] = {"kind": kind.name, "samples": ids}
    spec["layer"] = _layer(run, params) if kind.uses_layer else run.output_layer
    if kind.uses_k:
        spec["k"] = _k(params, n)
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

    return _call_with_cache(ws, run, call)


def _memoised_fingerprint(
    ws: Workspace, run: Run, spec: dict[str, Any], progress: Progress
) -> api.Fingerprint:
    key = _key("fingerprint", run, spec)
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
    return Computation(
        key=_key("fingerprint", run, spec),
        description=f"the {spec['kind']} fingerprint of {name}",
        compute=lambda progress: _compute_fingerprint(ws, run, spec, progress),
        render=fingerprint_data,
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

    return Computation(
        key=_key("rqa", run, {**spec, **options}),
        description=f"RQA of the {spec['kind']} fingerprint of {name}",
        compute=compute,
        render=lambda data: data,
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
        _key("a", run_a, {**specs[0], **options}),
        _key("b", run_b, {**specs[1], **options}),
    )
    return Computation(
        key=key,
        description=f"the comparison of {names[0]} and {names[1]}",
        compute=compute,
        render=lambda data: data,
    )


# --------------------------------------------------------------------------- samples
def samples_spec(run: Run, params: Params) -> dict[str, Any]:
    """The validated parameters of a per-sample table: ``samples``, ``k`` (0: no
    neighbour stability) and, with ``k``, its ``layer``."""
    ids = params.selection("samples", run.n_samples)
    n = _selection_size(run, ids)
    _check_complete(run, 1, "The per-sample table")
    k = _k(params, n, allow_zero=True) if n > 1 else 0
    spec: dict[str, Any] = {"samples": ids, "k": k}
    if k:
        spec["layer"] = _layer(run, params)
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

    return _call_with_cache(ws, run, call)


def prepare_samples(ws: Workspace, name: str, params: Params) -> Computation:
    run = ws.open(name)
    spec = samples_spec(run, params)
    return Computation(
        key=_key("samples", run, spec),
        description=f"the per-sample table of {name}",
        compute=lambda progress: sample_table(ws, run, spec, progress),
        render=samples_data,
        source=run,
    )


def prepare_report(ws: Workspace, name: str, params: Params) -> Computation:
    """The self-contained HTML report of one run for a selection (``report.html``), the
    one ``reprdynamics report`` writes (:mod:`reprdynamics.report`). The computation's
    result is the :class:`~reprdynamics.report.Report`; the route renders its HTML."""
    run = ws.open(name)
    ids = params.selection("samples", run.n_samples)
    n = _selection_size(run, ids)
    if n < 2:
        raise bad_parameter("samples", "a selection of at least 2 samples", f"{n} sample(s)")
    _check_complete(run, 2, "The report")
    spec = {"samples": ids}

    def compute(progress: Progress) -> Any:
        from reprdynamics.report import report_of_runs

        def call(use_cache: bool) -> Any:
            return report_of_runs(
                [(name, run)], samples=ids, use_cache=use_cache, progress=progress
            )

        return _call_with_cache(ws, run, call)

    return Computation(
        key=_key("report", run, spec),
        description=f"the report of {name}",
        compute=compute,
        render=report_summary,
        source=run,
    )


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
    _check_complete(run, 1, "The projection")
    layer = _layer(run, params)
    if run.layer_dim(layer) < 2:
        raise bad_parameter("layer", "a layer with at least 2 dimensions", layer)
    ids = params.selection("samples", run.n_samples)
    spec = {"layer": layer, "samples": ids}
    epochs = run.epochs

    def compute(progress: Progress) -> api.ProjectionOverTime:
        progress(0, 1, f"projection of {layer}")

        def call(use_cache: bool) -> api.ProjectionOverTime:
            return api.projection(run, layer=layer, samples=ids, use_cache=use_cache)

        result = _call_with_cache(ws, run, call)
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

    return Computation(
        key=_key("projection", run, spec),
        description=f"the projection of {name}",
        compute=compute,
        render=render,
        source=run,
    )


# --------------------------------------------------------------------------- local view
def prepare_local(ws: Workspace, name: str, params: Params) -> Computation:
    run = ws.open(name)
    snaps = _check_complete(run, 1, "The local view")
    sample_id = params.integer("id", None, low=0, high=run.n_samples - 1, required=True)
    assert sample_id is not None
    a = _complete_snapshot(run, params, "a", int(snaps[0]))
    b = _complete_snapshot(run, params, "b", int(snaps[-1]))
    layer = _layer(run, params)
    ids = params.selection("samples", run.n_samples)
    points = np.arange(run.n_samples) if ids is None else np.union1d(ids, [sample_id])
    k = _k(params, int(points.size))
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

    return Computation(
        key=_key("local", run, spec),
        description=f"the neighbours of sample {sample_id} in {name}",
        compute=compute,
        render=lambda data: data,
    )


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
    t = _snapshot(run, params, "snapshot", run.n_snapshots - 1)
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
    t = _snapshot(run, params, "snapshot", run.n_snapshots - 1)
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
    snaps = _check_complete(run, 1, "The class-transition matrix")
    a = _snapshot(run, params, "a", int(snaps[0]))
    b = _snapshot(run, params, "b", int(snaps[-1]))
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


# --------------------------------------------------------------------------- thumbnails
def _no_inputs(name: str) -> ApiError:
    return ApiError(
        404,
        f"The run {name!r} records no inputs, so there are no thumbnails; show samples by id "
        "instead.",
    )


def thumbs_impl(ws: Workspace, name: str, params: Params) -> tuple[bytes, int]:
    """``GET /api/runs/{run}/thumbs.png``: (PNG sprite sheet, number of columns)."""
    run = ws.open(name)
    raw = params.raw("ids")
    if raw is None or raw == "" or (isinstance(raw, str) and raw.strip().lower() == "all"):
        if run.n_samples > MAX_SPRITE_IDS:
            raise bad_parameter(
                "ids", f"given (at most {MAX_SPRITE_IDS} ids) for a run of {run.n_samples}", raw
            )
        ids = np.arange(run.n_samples)
    else:
        ids = _ordered_ids(raw, run.n_samples)
    if ids.size > MAX_SPRITE_IDS:
        raise bad_parameter("ids", f"at most {MAX_SPRITE_IDS} ids", f"{ids.size} ids")
    columns = max(1, int(np.ceil(np.sqrt(ids.size))))
    size = params.integer("size", 32, low=4, high=256)
    assert size is not None
    if columns * size > MAX_SPRITE_PIXELS:
        raise bad_parameter(
            "size", f"at most {MAX_SPRITE_PIXELS // columns} for {ids.size} ids", size
        )
    if not run.has_inputs:
        raise _no_inputs(name)
    unique, inverse = np.unique(ids, return_inverse=True)
    images = as_images(run.inputs(unique))[inverse]
    return sprite_png(images, size)


def _ordered_ids(raw: Any, n_samples: int) -> np.ndarray:
    """Ids in the order given (a sprite's cells follow it), duplicates kept, counted while
    parsing: 10,000 ranges of every sample are refused before 18 million ids are built."""
    return parse_ordered_ids(raw, n_samples, "ids", limit=MAX_SPRITE_IDS)


def thumb_impl(ws: Workspace, name: str, sample_id: str, params: Params) -> bytes:
    """``GET /api/runs/{run}/thumb/{id}.png``: one thumbnail."""
    run = ws.open(name)
    try:
        if not sample_id.isdigit() or not sample_id.isascii():
            raise ValueError(sample_id)
        index = int(sample_id)
    except ValueError:
        raise bad_parameter("id", "a sample id (a non-negative int)", sample_id) from None
    if index >= run.n_samples:
        raise bad_parameter("id", f"a sample id in [0, {run.n_samples - 1}]", index, status=404)
    size = params.integer("size", 64, low=4, high=512)
    assert size is not None
    if not run.has_inputs:
        raise _no_inputs(name)
    image = as_images(run.inputs([index]))[0]
    return thumbnail_png(image, size)
