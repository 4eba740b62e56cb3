"""What the report shows, gathered from the analysis layer as plain data and figures.

:func:`run_report` asks :mod:`reprdynamics.analysis` for a run's fingerprints (every kind
that applies), their RQA, NNTF band sweep and phase changes, and the per-sample table, and
keeps the numbers as they come; :func:`comparison` sets several runs side by side. Nothing
here computes a measure: the report only selects, orders, formats and reads the results.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reprdynamics.analysis import api
from reprdynamics.analysis.kinds import KINDS
from reprdynamics.analysis.reads import Progress
from reprdynamics.analysis.reads import report as report_progress
from reprdynamics.analysis.summary import fingerprint_recurrence
from reprdynamics.errors import NotEnoughSnapshotsError
from reprdynamics.report.figures import (
    PALETTE,
    REGION_COLOURS,
    Figure,
    Heatmap,
    Lines,
    Scatter,
    ScatterGroup,
    Series,
)
from reprdynamics.report.readings import KIND_TITLES, fingerprint_reading, mislabel_reading
from reprdynamics.storage.run import Run

__all__ = [
    "Comparison",
    "FingerprintResult",
    "PairComparison",
    "RunReport",
    "applicable_kinds",
    "comparison",
    "run_report",
]


#: The precision of the mislabel ranking is shown at the number of flips and at these k.
PRECISION_KS = (10, 25, 50, 100, 200, 500)
#: Size of the thumbnails embedded in the sample tables, in pixels.
THUMB_SIZE = 48
#: Columns of the sample tables, in this order, when the table has them.
SAMPLE_COLUMNS = (
    "label",
    "prediction",
    "neighbour_stability",
    "aum",
    "confidence",
    "variability",
    "correctness",
    "forgetting_events",
    "first_learned",
    "label_flipped",
    "clean_labels",
)
#: Numbers of the comparison table: (key, heading).
COMPARISON_COLUMNS = (
    ("n_samples", "N"),
    ("n_complete", "T"),
    ("final_accuracy", "final accuracy"),
    ("never_learned", "never learned"),
    ("precision_at_flips", "precision@flips"),
)
_METADATA_KEYS = ("lr", "learning_rate", "momentum", "weight_decay", "label_noise", "epochs")


@dataclass(frozen=True, eq=False)
class FingerprintResult:
    """One fingerprint of a run with what the analysis layer says about it."""

    kind: str
    fingerprint: api.Fingerprint
    rqa: dict[str, Any]
    nntf: dict[str, Any]
    phase_changes: list[dict[str, Any]]
    reading: str
    figure: Heatmap


@dataclass(frozen=True, eq=False)
class RunReport:
    """Everything the report shows about one run."""

    name: str
    location: str
    facts: dict[str, Any]
    fingerprints: list[FingerprintResult]
    figures: list[Figure]
    table: api.SampleTable | None
    samples: dict[str, list[dict[str, Any]]]
    thumbnails: dict[int, str]
    regions: dict[str, int] | None
    precision: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)

    def fingerprint(self, kind: str) -> FingerprintResult | None:
        return next((f for f in self.fingerprints if f.kind == kind), None)

    def key_numbers(self) -> dict[str, Any]:
        """The run's row of the comparison table."""
        row: dict[str, Any] = {
            "run": self.name,
            "n_samples": self.facts["n_samples"],
            "n_complete": self.facts["n_complete"],
            "final_accuracy": self.facts.get("final_metrics", {}).get("accuracy"),
            "never_learned": None,
            "precision_at_flips": None,
            "metadata": {
                k: self.facts["metadata"][k] for k in _METADATA_KEYS if k in self.facts["metadata"]
            },
            "fingerprints": {},
        }
        if self.table is not None and self.table.dynamics.never_learned is not None:
            row["never_learned"] = int(self.table["never_learned"].sum())
        if self.precision is not None:
            row["precision_at_flips"] = self.precision["at_flips"]
        for fp in self.fingerprints:
            row["fingerprints"][fp.kind] = {
                "lam": fp.nntf["best_laminarity"],
                "entr": fp.rqa["entr"],
                "det": fp.rqa["det"],
                "phase_changes": len(fp.phase_changes),
            }
        return row


@dataclass(frozen=True, eq=False)
class PairComparison:
    """Two runs with the same N: fingerprint differences and per-sample changes."""

    a: str
    b: str
    figures: list[Figure]
    summary: dict[str, Any]


@dataclass(frozen=True, eq=False)
class Comparison:
    """Several runs side by side."""

    rows: list[dict[str, Any]]
    kinds: list[str]
    metadata_keys: list[str]
    pairs: list[PairComparison]


def applicable_kinds(run: Run, n: int) -> list[str]:
    """The fingerprint kinds a run can answer for a selection of ``n`` samples."""
    kinds = []
    for spec in KINDS.values():
        if not spec.applies_to(run) or (spec.uses_k and n < 2):
            continue
        kinds.append(spec.name)
    return kinds


def _finite_last(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if finite.size else None


def _facts(run: Run, ids: np.ndarray, layer: str) -> dict[str, Any]:
    labels = run.labels
    snaps = run.complete_snapshots
    facts: dict[str, Any] = {
        "name": run.name,
        "location": run.location,
        "created": run.created,
        "kind": run.kind,
        "n_samples": run.n_samples,
        "n_selected": int(ids.size),
        "n_snapshots": run.n_snapshots,
        "n_complete": int(snaps.size),
        "epochs": [run.epochs[int(t)] for t in snaps],
        "layers": {name: run.layer_dim(name) for name in run.layers},
        "output_layer": run.output_layer,
        "layer": layer,
        "class_names": run.class_names,
        "n_classes": run.n_classes,
        "labels_known": None if labels is None else int((labels >= 0).sum()),
        "inputs": list(run.inputs_shape) if run.inputs_shape else None,
        "extras": run.extras,
        "metadata": dict(run.metadata),
        "metrics": {
            name: [None if not np.isfinite(v) else float(v) for v in run.metric(name)[snaps]]
            for name in run.metric_names
        },
    }
    facts["final_metrics"] = {
        name: _finite_last(run.metric(name)[snaps]) for name in run.metric_names
    }
    return facts


def _metrics_figure(run: Run, facts: dict[str, Any], prefix: str) -> Lines | None:
    if not run.metric_names:
        return None
    snaps = run.complete_snapshots
    labels = [
        str(e) if e is not None else f"#{int(t)}"
        for e, t in zip(facts["epochs"], snaps, strict=True)
    ]
    series = tuple(
        Series(name, np.asarray(run.metric(name)[snaps], dtype=np.float64))
        for name in run.metric_names
    )
    return Lines(
        id=f"{prefix}metrics",
        title="Metrics per snapshot",
        x=list(range(snaps.size)),
        x_text=labels,
        series=series,
        xlabel="epoch",
        ylabel="value",
    )


def _heatmap(kind: str, fp: api.Fingerprint, changes: list[dict[str, Any]], prefix: str) -> Heatmap:
    rows = [int(t) for t in fp.snapshots]
    boundaries = tuple(rows.index(int(c["snapshots"][0])) for c in changes)
    finite = fp.matrix[np.isfinite(fp.matrix)]
    high = float(finite.max()) if finite.size else 1.0
    return Heatmap(
        id=f"{prefix}fingerprint-{kind}",
        title=KIND_TITLES[kind],
        z=fp.matrix,
        labels=list(fp.labels),
        zmin=0.0,
        zmax=high if high > 0 else 1.0,
        boundaries=boundaries,
        axis_title="transition" if fp.transition else "epoch",
    )


def _positions(table: api.SampleTable, ids: np.ndarray) -> np.ndarray:
    order = {int(i): p for p, i in enumerate(table.ids)}
    return np.array([order[int(i)] for i in ids], dtype=np.int64)


def _sample_rows(table: api.SampleTable, ids: np.ndarray) -> list[dict[str, Any]]:
    positions = _positions(table, ids)
    columns = [c for c in SAMPLE_COLUMNS if c in table.columns() or c in table.extras]
    rows = []
    for i, p in zip(ids, positions, strict=True):
        row: dict[str, Any] = {"id": int(i)}
        for c in columns:
            value = table[c][p]
            if isinstance(value, np.bool_ | bool) or table[c].dtype == bool:
                row[c] = bool(value)
            elif np.issubdtype(np.asarray(value).dtype, np.integer):
                row[c] = int(value)
            else:
                row[c] = None if not np.isfinite(value) else float(value)
        rows.append(row)
    return rows


def _thumbnails(run: Run, ids: Sequence[int]) -> dict[int, str]:
    from reprdynamics.server.thumbnails import as_images, image_like, thumbnail_png

    if not ids or not image_like(run.inputs_shape):
        return {}
    unique = sorted(set(int(i) for i in ids))
    images = as_images(run.inputs(np.asarray(unique, dtype=np.int64)))
    return {
        i: "data:image/png;base64," + base64.b64encode(thumbnail_png(img, THUMB_SIZE)).decode()
        for i, img in zip(unique, images, strict=True)
    }


def _region_names() -> dict[int, str]:
    from reprdynamics.analysis import cartography

    regions = cartography.REGIONS
    if isinstance(regions, Mapping):
        named = {int(code): str(name) for code, name in regions.items()}
    else:
        named = {code: str(name) for code, name in enumerate(regions)}
    named.setdefault(-1, "undefined")
    return named


def _datamap(table: api.SampleTable, prefix: str) -> tuple[Scatter, dict[str, int]] | None:
    d = table.dynamics
    if d.confidence is None or d.variability is None:
        return None
    from reprdynamics.analysis import cartography

    codes = np.asarray(cartography.cartography_regions(d.confidence, d.variability))
    names = _region_names()
    groups = []
    counts: dict[str, int] = {}
    for code in sorted(names, key=lambda c: (c < 0, c)):
        mask = codes == code
        counts[names[code]] = int(mask.sum())
        if not mask.any():
            continue
        groups.append(
            ScatterGroup(
                name=names[code],
                colour=REGION_COLOURS.get(code, PALETTE[code % len(PALETTE)]),
                ids=table.ids[mask],
                x=d.variability[mask],
                y=d.confidence[mask],
            )
        )
    figure = Scatter(
        id=f"{prefix}datamap",
        title="Data map (Swayamdipta et al. 2020): variability vs confidence",
        groups=tuple(groups),
        xlabel="variability",
        ylabel="confidence",
        x_range=(0.0, 0.5),
        y_range=(0.0, 1.0),
        vlines=(float(cartography.VARIABILITY_THRESHOLD),),
        hlines=(float(cartography.CONFIDENCE_THRESHOLD),),
    )
    return figure, counts


def _precision(table: api.SampleTable) -> dict[str, Any] | None:
    if "label_flipped" not in table.extras or table.dynamics.aum is None:
        return None
    flipped = np.asarray(table.extras["label_flipped"]).astype(bool)
    n_flipped = int(flipped.sum())
    n = int(flipped.size)
    if n_flipped == 0:
        return {
            "n_flipped": 0,
            "n_samples": n,
            "rows": [],
            "at_flips": None,
            "chance": 0.0,
            "reading": "None of these samples has a flipped label.",
        }
    ks = sorted({n_flipped, *(k for k in PRECISION_KS if k <= n)})
    ranked = table.suspected_mislabeled(max(ks))
    position = {int(i): p for p, i in enumerate(table.ids)}
    hits_in_order = np.array([flipped[position[int(i)]] for i in ranked], dtype=bool)
    rows = []
    for k in ks:
        hits = int(hits_in_order[:k].sum())
        rows.append({"k": int(k), "hits": hits, "precision": hits / k})
    at = next(r for r in rows if r["k"] == n_flipped)
    return {
        "n_flipped": n_flipped,
        "n_samples": n,
        "chance": n_flipped / n,
        "rows": rows,
        "at_flips": at["precision"],
        "reading": mislabel_reading(n_flipped, n, rows),
    }


def _nntf_figures(results: list[FingerprintResult], prefix: str) -> list[Lines]:
    if not results:
        return []
    starts = results[0].nntf["starts"]
    out = []
    for key, title in (("laminarity", "laminarity"), ("entropy", "entropy")):
        out.append(
            Lines(
                id=f"{prefix}nntf-{key}",
                title=f"NNTF band sweep: {title} per distance band (width "
                f"{results[0].nntf['width']:g})",
                x=[float(s) for s in starts],
                series=tuple(
                    Series(r.kind, np.asarray(r.nntf[key], dtype=np.float64)) for r in results
                ),
                xlabel="band start a",
                ylabel=title,
            )
        )
    return out


def run_report(
    run: Run,
    *,
    k: int = 10,
    layer: str | None = None,
    top: int = 10,
    samples: Any = None,
    use_cache: bool = True,
    progress: Progress | None = None,
    prefix: str = "",
    name: str | None = None,
) -> RunReport:
    """Gather the report of one run (or of a selection of its samples).

    Raises
    ------
    NotEnoughSnapshotsError
        The run has fewer than 2 complete snapshots (no fingerprint can be drawn).
    """
    title = name or run.name
    snaps = run.complete_snapshots
    if snaps.size < 2:
        raise NotEnoughSnapshotsError(
            f"A report needs at least 2 complete snapshots; the run {title!r} at "
            f"{run.location!r} has {snaps.size} (of {run.n_snapshots} written)."
        )
    ids = _selection(run, samples)
    layer_used = layer or run.output_layer
    run.layer_dim(layer_used)  # a LayerNotFoundError listing the layers
    n = int(ids.size)
    k_used = min(int(k), n - 1) if n > 1 else None
    facts = _facts(run, ids, layer_used)
    facts["k"] = k_used

    def forward(done: int, total: int, what: str) -> None:
        report_progress(progress, done, total, f"{title}: {what}")

    figures: list[Figure] = []
    metrics = _metrics_figure(run, facts, prefix)
    if metrics is not None:
        figures.append(metrics)
    selection = None if n == run.n_samples else ids
    results = []
    for kind in applicable_kinds(run, n):
        fp = api.fingerprint(
            run,
            kind,
            k=k_used or 1,
            layer=layer_used if KINDS[kind].uses_layer else None,
            samples=selection,
            use_cache=use_cache,
            progress=forward,
        )
        result, band_sweep = fingerprint_recurrence(fp)
        rqa, sweep = result.to_dict(), band_sweep.to_dict()
        changes = api.phase_changes_of(fp)
        reading = fingerprint_reading(kind, fp.matrix, fp.labels, fp.transition, changes)
        result = FingerprintResult(
            kind, fp, rqa, sweep, changes, reading, _heatmap(kind, fp, changes, prefix)
        )
        results.append(result)
        figures.append(result.figure)
    figures.extend(_nntf_figures(results, prefix))

    table = api.sample_dynamics(
        run,
        samples=selection,
        neighbour_k=k_used,
        neighbour_layer=layer_used,
        use_cache=use_cache,
        progress=forward,
    )
    notes: list[str] = []
    sample_lists: dict[str, list[dict[str, Any]]] = {}
    if table.dynamics.neighbour_stability is not None:
        sample_lists["most_changed"] = _sample_rows(table, table.most_changed(top))
    else:
        notes.append("No neighbour stability (a selection of one sample): no most-changed list.")
    if table.dynamics.aum is not None:
        sample_lists["suspected_mislabeled"] = _sample_rows(table, table.suspected_mislabeled(top))
    else:
        notes.append(
            "No area under the margin (the run has no labels, or records features): "
            "no suspected-mislabeled list and no data map."
        )
    regions = None
    mapped = _datamap(table, prefix)
    if mapped is not None:
        figures.append(mapped[0])
        regions = mapped[1]
    precision = _precision(table)
    shown = [row["id"] for rows in sample_lists.values() for row in rows]
    report_progress(progress, 0, 1, f"{title}: thumbnails")
    thumbnails = _thumbnails(run, shown)
    report_progress(progress, 1, 1, f"{title}: thumbnails")
    return RunReport(
        name=title,
        location=run.location,
        facts=facts,
        fingerprints=results,
        figures=figures,
        table=table,
        samples=sample_lists,
        thumbnails=thumbnails,
        regions=regions,
        precision=precision,
        notes=notes,
    )


def _difference(a: RunReport, b: RunReport, kind: str, prefix: str) -> Heatmap | None:
    fa, fb = a.fingerprint(kind), b.fingerprint(kind)
    if fa is None or fb is None or fa.fingerprint.matrix.shape != fb.fingerprint.matrix.shape:
        return None
    z = fa.fingerprint.matrix - fb.fingerprint.matrix
    finite = np.abs(z[np.isfinite(z)])
    bound = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    return Heatmap(
        id=f"{prefix}difference-{kind}",
        title=f"{KIND_TITLES[kind]}: {a.name} − {b.name}",
        z=z,
        labels=list(fa.fingerprint.labels),
        colorbar="ΔD",
        zmin=-bound,
        zmax=bound,
        diverging=True,
        axis_title="transition" if fa.fingerprint.transition else "epoch",
    )


def _pair(a: RunReport, b: RunReport, prefix: str) -> PairComparison:
    from reprdynamics.analysis.comparison import compare_samples

    figures: list[Figure] = []
    for fp in a.fingerprints:
        diff = _difference(a, b, fp.kind, prefix)
        if diff is not None:
            figures.append(diff)
    summary: dict[str, Any] = {"a": a.name, "b": b.name, "n_samples": a.facts["n_samples"]}
    if a.table is not None and b.table is not None and len(a.table) == len(b.table):
        per_sample = compare_samples(a.table, b.table)
        if "learned_a" in per_sample and "learned_b" in per_sample:
            la = np.asarray(per_sample["learned_a"], dtype=bool)
            lb = np.asarray(per_sample["learned_b"], dtype=bool)
            summary["learned_only_a"] = int((la & ~lb).sum())
            summary["learned_only_b"] = int((lb & ~la).sum())
            summary["learned_both"] = int((la & lb).sum())
        if "aum_a" in per_sample and np.isfinite(per_sample["aum_a"]).any():
            aum_a = np.asarray(per_sample["aum_a"], dtype=np.float64)
            aum_b = np.asarray(per_sample["aum_b"], dtype=np.float64)
            both = np.concatenate([aum_a[np.isfinite(aum_a)], aum_b[np.isfinite(aum_b)]])
            low, high = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
            figures.append(
                Scatter(
                    id=f"{prefix}aum",
                    title=f"Area under the margin per sample: {a.name} vs {b.name}",
                    groups=(
                        ScatterGroup(
                            "samples", PALETTE[0], np.asarray(per_sample["id"]), aum_a, aum_b
                        ),
                    ),
                    xlabel=f"AUM in {a.name}",
                    ylabel=f"AUM in {b.name}",
                    x_range=(low, high),
                    y_range=(low, high),
                    diagonal=True,
                )
            )
    else:
        summary["note"] = "different selections: no per-sample comparison"
    if not figures:
        summary.setdefault("note", "no fingerprint of the same size in both runs")
    return PairComparison(a=a.name, b=b.name, figures=figures, summary=summary)


def comparison(reports: list[RunReport]) -> Comparison:
    """Runs side by side: their key numbers, and each run against the first run (by
    name) with the same N: fingerprint differences (where the matrices have the same
    size) and per-sample changes."""
    rows = [r.key_numbers() for r in reports]
    kinds = [k for k in api.FINGERPRINT_KINDS if any(k in row["fingerprints"] for row in rows)]
    keys = [k for k in _METADATA_KEYS if any(k in row["metadata"] for row in rows)]
    pairs = []
    reference: dict[int, RunReport] = {}
    for report in reports:
        n = report.facts["n_samples"]
        if n not in reference:
            reference[n] = report
            continue
        prefix = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{reference[n].name}-vs-{report.name}")[:120]
        if any(p.figures and p.figures[0].id.startswith(prefix + "-") for p in pairs):
            prefix += f"-{len(pairs)}"
        pairs.append(_pair(reference[n], report, prefix + "-"))
    return Comparison(rows=rows, kinds=kinds, metadata_keys=keys, pairs=pairs)


def _selection(run: Run, samples: Any) -> np.ndarray:
    """The selection's sorted ids (the analysis layer checks them again, fully)."""
    if samples is None:
        return np.arange(run.n_samples, dtype=np.int64)
    values = np.asarray(samples)
    if values.dtype == bool and values.shape == (run.n_samples,):
        return np.flatnonzero(values).astype(np.int64)
    return np.unique(run.check_ids(values, owner="the selection of the report"))
