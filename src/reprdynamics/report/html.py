"""The self-contained HTML page of a report.

One file: styles, scripts (Plotly, inlined from the installed ``plotly`` package) and
images (thumbnails as ``data:`` URIs) are all inside it, and a Content-Security-Policy
forbids every request, so the page opened from disk never touches the network. The
figures travel as Plotly JSON in ``<script type="application/json" id="rd-figures">``,
the numbers of the tables in ``id="rd-report"`` (both readable by other tools).
"""

from __future__ import annotations

import html
import importlib.util
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from reprdynamics.errors import DependencyMissingError
from reprdynamics.report.content import COMPARISON_COLUMNS, Comparison, RunReport
from reprdynamics.report.figures import Figure

__all__ = ["page", "plotly_js"]

_RQA_COLUMNS = (
    ("rr", "RR"),
    ("det", "DET"),
    ("l_mean", "L"),
    ("l_max", "Lmax"),
    ("entr", "ENTR"),
    ("lam", "LAM"),
    ("tt", "TT"),
    ("v_max", "Vmax"),
    ("epsilon", "ε"),
)
_SAMPLE_HEADINGS = {
    "label": "label",
    "prediction": "predicted",
    "neighbour_stability": "neighbour stability",
    "aum": "AUM",
    "confidence": "confidence",
    "variability": "variability",
    "correctness": "correctness",
    "forgetting_events": "forgetting events",
    "first_learned": "first learned",
    "label_flipped": "flipped",
    "clean_labels": "true label",
}
# No request of any kind: scripts and styles inline, images from data: URIs only.
_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:"
)
_STYLE = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #ffffff; --soft: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg); }
header.top { padding: 20px 32px 8px; border-bottom: 1px solid var(--line); }
header.top h1 { margin: 0 0 4px; font-size: 22px; }
header.top p { margin: 0; color: var(--muted); }
nav { padding: 8px 32px; border-bottom: 1px solid var(--line); background: var(--soft);
  font-size: 13px; }
nav a { margin-right: 14px; color: #0969da; text-decoration: none; }
main { padding: 8px 32px 48px; max-width: 1400px; }
section.run, section.comparison { margin-top: 24px; }
h2 { font-size: 19px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 16px; margin: 24px 0 6px; }
p.reading { margin: 4px 0 8px; font-weight: 500; }
p.note { color: var(--muted); margin: 4px 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; font-variant-numeric: tabular-nums; }
.figures { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.figure { border: 1px solid var(--line); border-radius: 6px; padding: 4px; background: #fff; }
table.data { border-collapse: collapse; margin: 8px 0; font-variant-numeric: tabular-nums; }
table.data th, table.data td { border-bottom: 1px solid var(--line); padding: 3px 10px;
  text-align: right; vertical-align: middle; }
table.data th { background: var(--soft); font-weight: 600; }
table.data th:first-child, table.data td:first-child { text-align: left; }
table.data img { width: 48px; height: 48px; image-rendering: pixelated; display: block; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
footer { color: var(--muted); padding: 16px 32px; border-top: 1px solid var(--line); }
"""
_DRAW = """
(function () {
  var figures = JSON.parse(document.getElementById("rd-figures").textContent);
  var config = { displaylogo: false, responsive: false,
                 modeBarButtonsToRemove: ["sendDataToCloud"] };
  var drawn = Object.keys(figures).map(function (id) {
    var node = document.getElementById("fig-" + id);
    return Plotly.newPlot(node, figures[id].data, figures[id].layout, config);
  });
  Promise.all(drawn).then(function () {
    document.documentElement.setAttribute("data-ready", String(drawn.length));
  });
})();
"""


def plotly_js() -> str:
    """``plotly.min.js`` of the installed ``plotly`` package (found, not imported)."""
    try:
        spec = importlib.util.find_spec("plotly")
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "package_data" / "plotly.min.js"
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    raise DependencyMissingError(
        "The report inlines plotly.min.js from the 'plotly' Python package, which is not "
        "installed: pip install plotly"
    )


def _script_json(value: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</``, no ``<!--``)."""
    text = json.dumps(value, allow_nan=False, separators=(",", ":"), sort_keys=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\u0021--")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "—"
        return f"{value:.{digits}f}"
    return _e(value)


def _table(
    headings: Iterable[str], rows: Iterable[Iterable[str]], *, cls: str = "data", attrs: str = ""
) -> str:
    head = "".join(f"<th>{h}</th>" for h in headings)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return (
        f'<table class="{cls}"{attrs}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def _figure(figure: Figure) -> str:
    return (
        f'<div class="figure" id="fig-{_e(figure.id)}" data-figure="{_e(figure.id)}" '
        f'style="width:{figure.width}px;height:{figure.height}px"></div>'
    )


def _facts(report: RunReport) -> str:
    f = report.facts
    epochs = [e for e in f["epochs"] if e is not None]
    items = [
        ("run", _e(report.name)),
        ("location", f"<code>{_e(report.location)}</code>"),
        ("created", _e(f["created"])),
        ("kind", _e(f["kind"])),
        (
            "samples",
            f"{f['n_samples']:,}"
            + (f" ({f['n_selected']:,} selected)" if f["n_selected"] != f["n_samples"] else ""),
        ),
        (
            "snapshots",
            f"{f['n_complete']} complete of {f['n_snapshots']}"
            + (f" (epochs {epochs[0]}–{epochs[-1]})" if epochs else ""),
        ),
        ("layers", ", ".join(f"{_e(n)} (D = {d})" for n, d in f["layers"].items())),
        ("neighbours", f"k = {f['k']} in layer {_e(f['layer'])}" if f["k"] else "—"),
        ("classes", _e(f["n_classes"]) if f["n_classes"] is not None else "—"),
        ("labels", "none" if f["labels_known"] is None else f"{f['labels_known']:,} known"),
        ("inputs", "×".join(map(str, f["inputs"])) if f["inputs"] else "none"),
    ]
    for name, value in f["final_metrics"].items():
        items.append((f"final {name}", _fmt(value, 4)))
    if f["extras"]:
        items.append(("extras", _e(", ".join(f["extras"]))))
    for key, value in sorted(f["metadata"].items()):
        items.append((_e(key), _e(value)))
    body = "".join(f'<dt>{k}</dt><dd data-fact="{k}">{v}</dd>' for k, v in items)
    return f'<dl class="facts">{body}</dl>'


def _samples_table(report: RunReport, rows: list[dict[str, Any]], which: str) -> str:
    if not rows:
        return '<p class="note">No samples.</p>'
    columns = [c for c in _SAMPLE_HEADINGS if c in rows[0]]
    thumbs = bool(report.thumbnails)
    headings = ["id", *(["image"] if thumbs else []), *(_SAMPLE_HEADINGS[c] for c in columns)]
    names = report.facts["class_names"]

    def cell(column: str, value: Any) -> str:
        if column in ("label", "prediction", "clean_labels") and isinstance(value, int):
            return _e(names[value]) if names and 0 <= value < len(names) else _fmt(value)
        return _fmt(value)

    body = []
    for row in rows:
        cells = [str(row["id"])]
        if thumbs:
            uri = report.thumbnails.get(row["id"])
            cells.append(f'<img alt="sample {row["id"]}" src="{uri}">' if uri else "")
        cells.extend(cell(c, row[c]) for c in columns)
        body.append(cells)
    return _table(headings, body, attrs=f' data-samples="{which}"')


def _run_section(report: RunReport, anchor: str) -> str:
    parts = [f'<section class="run" id="{anchor}" data-run="{_e(report.name)}">']
    parts.append(f"<h2>{_e(report.name)}</h2>")
    parts.append(_facts(report))
    figures = {f.id: f for f in report.figures}
    metrics = next((f for f in report.figures if f.id.endswith("metrics")), None)
    if metrics is not None:
        parts.append(f'<div class="figures">{_figure(metrics)}</div>')

    parts.append(f'<h3 id="{anchor}-fingerprints">Fingerprints</h3>')
    for fp in report.fingerprints:
        changes = (
            ", ".join(
                f"{_e(c['between'][0])} | {_e(c['between'][1])} (score {c['score']:.3f})"
                for c in fp.phase_changes
            )
            or "none stands out"
        )
        params = fp.fingerprint.params
        detail = ", ".join(f"{k} = {_e(params[k])}" for k in ("k", "layer") if k in params)
        parts.append(
            f'<div class="fingerprint" data-kind="{fp.kind}">'
            f"<h3>{_e(fp.figure.title)}</h3>"
            f'<p class="reading" data-kind="{fp.kind}">{_e(fp.reading)}</p>'
            f'<div class="figures">{_figure(figures[fp.figure.id])}</div>'
            f'<p class="note">Phase changes: {changes}. {detail}</p></div>'
        )

    parts.append(f'<h3 id="{anchor}-rqa">Recurrence quantification</h3>')
    parts.append(
        '<p class="note">Threshold ε giving a 10 % recurrence rate, Theiler window 1, '
        "l_min = v_min = 2 (Marwan et al. 2007).</p>"
    )
    rows = [
        [fp.kind, *(_fmt(fp.rqa[key]) for key, _ in _RQA_COLUMNS)] for fp in report.fingerprints
    ]
    parts.append(
        _table(["fingerprint", *(h for _, h in _RQA_COLUMNS)], rows, attrs=' data-table="rqa"')
    )
    parts.append(f'<h3 id="{anchor}-nntf">NNTF band sweep</h3>')
    rows = [
        [
            fp.kind,
            _fmt(fp.nntf["best_laminarity"]),
            _fmt(fp.nntf["best_laminarity_start"], 2),
            _fmt(fp.nntf["best_entropy"]),
            _fmt(fp.nntf["best_entropy_start"], 2),
        ]
        for fp in report.fingerprints
    ]
    parts.append(
        _table(
            ["fingerprint", "best LAM", "its band", "best ENTR", "its band"],
            rows,
            attrs=' data-table="nntf"',
        )
    )
    sweeps = [f for f in report.figures if "nntf-" in f.id]
    if sweeps:
        parts.append('<div class="figures">' + "".join(_figure(f) for f in sweeps) + "</div>")

    datamap = next((f for f in report.figures if f.id.endswith("datamap")), None)
    if datamap is not None:
        parts.append(f'<h3 id="{anchor}-datamap">Data map</h3>')
        counts = ", ".join(f"{_e(k)} {v:,}" for k, v in (report.regions or {}).items())
        parts.append(f'<p class="reading">Regions: {counts}.</p>')
        parts.append(f'<div class="figures">{_figure(datamap)}</div>')

    titles = {
        "most_changed": "Samples whose neighbourhoods changed most (lowest neighbour stability)",
        "suspected_mislabeled": "Suspected mislabeled samples (lowest area under the margin)",
    }
    for which, rows_ in report.samples.items():
        parts.append(f'<h3 id="{anchor}-{which}">{titles[which]}</h3>')
        parts.append(_samples_table(report, rows_, which))
    if report.precision is not None:
        p = report.precision
        parts.append(f'<h3 id="{anchor}-precision">Precision of the mislabel ranking</h3>')
        parts.append(f'<p class="reading">{_e(p["reading"])}</p>')
        rows = [[str(r["k"]), str(r["hits"]), _fmt(r["precision"])] for r in p["rows"]]
        parts.append(
            _table(
                ["k", "flipped among the top k", "precision@k"],
                rows,
                attrs=' data-table="precision"',
            )
        )
    for note in report.notes:
        parts.append(f'<p class="note">{_e(note)}</p>')
    parts.append("</section>")
    return "".join(parts)


def _comparison_section(comparison: Comparison) -> str:
    parts = ['<section class="comparison" id="comparison"><h2>Comparison of runs</h2>']
    headings = ["run", *(_e(k) for k in comparison.metadata_keys)]
    headings += [h for _, h in COMPARISON_COLUMNS]
    for kind in comparison.kinds:
        headings += [f"{kind} LAM", "ENTR", "DET", "phases"]
    body = []
    for row in comparison.rows:
        cells = [_e(row["run"])]
        cells += [_fmt(row["metadata"].get(k)) for k in comparison.metadata_keys]
        cells += [_fmt(row[key]) for key, _ in COMPARISON_COLUMNS]
        for kind in comparison.kinds:
            fp = row["fingerprints"].get(kind)
            if fp is None:
                cells += ["—"] * 4
            else:
                cells += [
                    _fmt(fp["lam"]),
                    _fmt(fp["entr"]),
                    _fmt(fp["det"]),
                    str(fp["phase_changes"]),
                ]
        body.append(cells)
    parts.append(_table(headings, body, attrs=' data-table="comparison"'))
    parts.append(
        '<p class="note">LAM: NNTF best-band laminarity; ENTR, DET: RQA at a 10 % recurrence '
        "rate; phases: phase changes found.</p>"
    )
    for pair in comparison.pairs:
        parts.append(f"<h3>{_e(pair.a)} vs {_e(pair.b)}</h3>")
        s = pair.summary
        if "learned_only_a" in s:
            parts.append(
                f'<p class="reading">Learned by both: {s["learned_both"]:,}; only by '
                f"{_e(pair.a)}: {s['learned_only_a']:,}; only by {_e(pair.b)}: "
                f"{s['learned_only_b']:,}.</p>"
            )
        if "note" in s:
            parts.append(f'<p class="note">{_e(s["note"])}</p>')
        parts.append('<div class="figures">' + "".join(_figure(f) for f in pair.figures) + "</div>")
    parts.append("</section>")
    return "".join(parts)


def _report_data(
    reports: list[RunReport], comparison: Comparison | None, skipped: Mapping[str, str]
) -> dict[str, Any]:
    runs = []
    for r in reports:
        runs.append(
            {
                "name": r.name,
                "facts": r.facts,
                "fingerprints": {
                    fp.kind: {
                        "figure": fp.figure.id,
                        "labels": list(fp.fingerprint.labels),
                        "rqa": fp.rqa,
                        "nntf": fp.nntf,
                        "phase_changes": fp.phase_changes,
                        "reading": fp.reading,
                    }
                    for fp in r.fingerprints
                },
                "samples": r.samples,
                "regions": r.regions,
                "precision": r.precision,
                "figures": [f.id for f in r.figures],
            }
        )
    data: dict[str, Any] = {"runs": runs, "skipped": dict(skipped)}
    if comparison is not None:
        data["comparison"] = {
            "rows": comparison.rows,
            "pairs": [
                {"a": p.a, "b": p.b, "summary": p.summary, "figures": [f.id for f in p.figures]}
                for p in comparison.pairs
            ],
        }
    return data


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # NumPy scalars
        return _json_safe(value.item())
    return value


def page(
    title: str,
    reports: list[RunReport],
    comparison: Comparison | None,
    figures: list[Figure],
    *,
    skipped: Mapping[str, str] | None = None,
    version: str = "",
) -> str:
    """The whole HTML document."""
    skipped = dict(skipped or {})
    anchors = [f"run-{i}" for i in range(len(reports))]
    nav = []
    if comparison is not None:
        nav.append('<a href="#comparison">comparison</a>')
    for r, anchor in zip(reports, anchors, strict=True):
        nav.append(f'<a href="#{anchor}">{_e(r.name)}</a>')
        if len(reports) == 1:
            for part, label in (
                ("fingerprints", "fingerprints"),
                ("rqa", "RQA"),
                ("nntf", "NNTF"),
                ("datamap", "data map"),
                ("most_changed", "most changed"),
                ("suspected_mislabeled", "suspected mislabeled"),
                ("precision", "precision"),
            ):
                nav.append(f'<a href="#{anchor}-{part}">{label}</a>')
    body = [
        '<header class="top">',
        f"<h1>{_e(title)}</h1>",
        f"<p>ReprDynamics report{f' (reprdynamics {_e(version)})' if version else ''}: "
        "how the network's view of its data changed during training. "
        "Self-contained: this file makes no network request.</p>",
        "</header>",
        f"<nav>{''.join(nav)}</nav>",
        "<main>",
    ]
    if skipped:
        items = "".join(f"<li>{_e(n)}: {_e(e)}</li>" for n, e in skipped.items())
        body.append(f'<p class="note">Not included:</p><ul class="skipped">{items}</ul>')
    if comparison is not None:
        body.append(_comparison_section(comparison))
    for r, anchor in zip(reports, anchors, strict=True):
        body.append(_run_section(r, anchor))
    body.append("</main>")
    body.append(
        "<footer>Measures: see docs/measures.md of ReprDynamics. Figures drawn with "
        "Plotly.js (inlined).</footer>"
    )
    figure_data = {f.id: f.to_plotly() for f in figures}
    return "".join(
        [
            '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(title)}</title>",
            '<link rel="icon" href="data:,">',
            f"<style>{_STYLE}</style></head><body>",
            *body,
            '<script type="application/json" id="rd-figures">',
            _script_json(_json_safe(figure_data)),
            "</script>",
            '<script type="application/json" id="rd-report">',
            _script_json(_json_safe(_report_data(reports, comparison, skipped))),
            "</script>",
            "<script>",
            plotly_js().replace("</script", "<\\/script"),
            "</script>",
            f"<script>{_DRAW}</script>",
            "</body></html>\n",
        ]
    )
