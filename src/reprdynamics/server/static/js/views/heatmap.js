// View 3: the fingerprint heat map. A cell (column i, row j) picks the pair of snapshots
// (a, b) = (snapshots[i], snapshots[j]) — for a transition fingerprint that is the first
// snapshot of each transition, as the original tool placed its scatter at i and j.

import { getJSON, runPath, decodeCompact, toRows, encodeSelection } from "../api.js";
import { View } from "../view.js";
import { el, svg, baseLayout, PLOT_CONFIG, INFERNO, cssVar, fmt } from "../util.js";
import { colourRange, docURL, fingerprintDefinition, RANGE_MODES } from "../explain.js";
import { kindLabel, kindNames, kindSpec, usesK, usesLayer } from "../kinds.js";

/** Parameters of the fingerprint request for the current state. */
export function fingerprintParams(s) {
  const n = s.selection.length;
  const params = { kind: s.kind };
  const withK = usesK(s.info, s.kind);
  if (withK) params.k = Math.max(1, Math.min(s.k, n - 1));
  if (withK && s.neighbours === "approximate") params.neighbours = "approximate";
  if (usesLayer(s.info, s.kind) && s.layer) params.layer = s.layer;
  if (n !== s.info.n_samples) params.samples = s.selection;
  return params;
}

/** Thin tick labels to at most `max` evenly spaced ones. */
export function ticks(labels, max = 12) {
  const step = Math.max(1, Math.ceil(labels.length / max));
  const vals = [];
  const text = [];
  for (let i = 0; i < labels.length; i += step) {
    vals.push(i);
    text.push(labels[i]);
  }
  return { tickvals: vals, ticktext: text };
}

/** Break `text` into lines of about `width` characters (Plotly hover and titles take <br>). */
export function wrap(text, width = 64) {
  const lines = [];
  let line = "";
  for (const word of String(text).split(" ")) {
    if (line && line.length + word.length + 1 > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines.join("<br>");
}

/**
 * The heat map's trace. `range`: {zmin, zmax} of the colours (default: from 0 up to the
 * data); `definition`: what D is, added to the hover under the value.
 */
export function heatmapTrace(fp, { colorbarTitle = "", range = null, definition = "" } = {}) {
  const m = fp.labels.length;
  const text = [];
  for (let j = 0; j < m; j++) {
    const row = new Array(m);
    for (let i = 0; i < m; i++) row[i] = `x ${fp.labels[i]} · y ${fp.labels[j]}`;
    text.push(row);
  }
  return {
    type: "heatmap",
    z: fp.z,
    x: [...Array(m).keys()],
    y: [...Array(m).keys()],
    text,
    colorscale: INFERNO,
    zmin: range ? range.zmin : 0,
    ...(range ? { zmax: range.zmax } : {}),
    colorbar: { title: { text: colorbarTitle, side: "right" }, thickness: 12, outlinewidth: 0 },
    hovertemplate: `%{text}<br>D = %{z:.4f}${definition ? `<br>${wrap(definition)}` : ""}<extra></extra>`,
    xgap: 0,
    ygap: 0,
  };
}

export function heatmapLayout(fp, extra = {}) {
  const t = ticks(fp.labels);
  const title = fp.transition ? "transition (epoch → epoch)" : "epoch";
  return baseLayout({
    margin: { l: 64, r: 8, t: 8, b: 56 },
    xaxis: { ...t, title: { text: `${title} · a` }, constrain: "domain", showgrid: false, zeroline: false, tickangle: fp.transition ? -40 : 0 },
    yaxis: { ...t, title: { text: `${title} · b` }, autorange: "reversed", scaleanchor: "x", constrain: "domain", showgrid: false, zeroline: false },
    ...extra,
  });
}

let prefetched = null; // {key, promise, listeners, last}: the first fingerprint, asked for early

function requestKey(run, params) {
  const samples = params.samples ? encodeSelection(params.samples) : "";
  return JSON.stringify([run, { ...params, samples }]);
}

/** Ask for a fingerprint ahead of time; `fetchFingerprint` with the same request reuses it. */
export function prefetchFingerprint(run, params) {
  const entry = { key: requestKey(run, params), listeners: new Set(), last: null };
  entry.promise = getJSON(runPath(run, "/fingerprint"), params, {
    onProgress: (p) => {
      entry.last = p;
      entry.listeners.forEach((fn) => fn(p));
    },
  });
  entry.promise.catch(() => {}); // a failure is reported by the view's own request
  prefetched = entry;
}

export async function fetchFingerprint(run, params, options) {
  let res;
  if (prefetched && prefetched.key === requestKey(run, params)) {
    const { promise, listeners, last } = prefetched;
    prefetched = null;
    if (options?.onProgress) {
      listeners.add(options.onProgress);
      if (last) options.onProgress(last);
    }
    res = await promise.catch(() => getJSON(runPath(run, "/fingerprint"), params, options));
  } else {
    res = await getJSON(runPath(run, "/fingerprint"), params, options);
  }
  const flat = decodeCompact(res.matrix);
  return { ...res, flat, z: toRows(flat, res.matrix.shape) };
}

/** Colours of the marks drawn on the heat map: a bright line on a dark halo, so it stands
 * out on every colour of the scale (inferno runs from black to pale yellow) in both themes. */
export function markColours() {
  return { line: cssVar("--mark") || "#00e5ff", halo: cssVar("--mark-halo") || "#000000" };
}

export class HeatmapView extends View {
  constructor(store, actions) {
    super("heatmap", store, actions);
    this.plot = document.getElementById("fingerprint");
    this.kindSelect = document.getElementById("fp-kind");
    this.kInput = document.getElementById("fp-k");
    this.layerSelect = document.getElementById("fp-layer");
    this.searchSelect = document.getElementById("fp-neighbours");
    this.rangeSelect = document.getElementById("fp-range");
    this.legend = document.getElementById("fp-legend");
    this.definition = document.getElementById("fp-definition");
    this.rangeSelect.replaceChildren(...Object.entries(RANGE_MODES).map(([v, t]) => el("option", { value: v }, t)));

    this.kindSelect.addEventListener("change", () => store.set({ kind: this.kindSelect.value }));
    this.kInput.addEventListener("change", () => {
      const k = Number.parseInt(this.kInput.value, 10);
      if (k >= 1) store.set({ k });
    });
    this.layerSelect.addEventListener("change", () => store.set({ layer: this.layerSelect.value }));
    this.searchSelect.addEventListener("change", () => store.set({ neighbours: this.searchSelect.value }));
    this.rangeSelect.addEventListener("change", () => store.set({ fpRange: this.rangeSelect.value }));

    store.on(["info"], (s) => this.fillControls(s));
    store.on(["kind", "k", "layer", "neighbours", "fpRange"], (s) => this.syncControls(s));
    store.on(["info", "selection", "kind", "k", "layer", "neighbours"], (s) => this.reload(s));
    store.on(["a", "b"], (s) => this.highlight(s));
    store.on(["theme", "fpRange"], (s) => s.fp && this.draw(s.fp));
  }

  fillControls(s) {
    this.kindSelect.replaceChildren(...kindNames(s.info).map((k) => el("option", { value: k }, kindLabel(s.info, k))));
    const layers = Object.entries(s.info.layers || {});
    this.layerSelect.replaceChildren(...layers.map(([name, dim]) => el("option", { value: name }, `${name} (${dim})`)));
    this.syncControls(s);
  }

  syncControls(s) {
    this.kindSelect.value = s.kind;
    this.kInput.value = String(s.k);
    if (s.layer) this.layerSelect.value = s.layer;
    this.searchSelect.value = s.neighbours || "exact";
    this.rangeSelect.value = s.fpRange in RANGE_MODES ? s.fpRange : "data";
    this.kInput.disabled = !usesK(s.info, s.kind);
    this.searchSelect.disabled = !usesK(s.info, s.kind);
    this.layerSelect.disabled = !usesLayer(s.info, s.kind);
    // What "fixed" means for this kind (bounded kinds: 0–1; others: 0 to the largest cell).
    const bounds = fingerprintDefinition(s.kind, s.fp?.params, kindSpec(s.info, s.kind)).range;
    this.rangeSelect.querySelector('option[value="fixed"]').textContent = bounds
      ? `fixed (${bounds[0]}–${bounds[1]})` : "fixed (0 to the largest cell)";
  }

  reload(s) {
    if (!s.info) return;
    if (s.selection.length < 2) {
      this.cancel();
      Plotly.purge(this.plot);
      this.store.set({ fp: null });
      this.legend.replaceChildren();
      this.showNote("Select at least two samples to compute a fingerprint.");
      this.store.set({ primed: true });
      return;
    }
    const params = fingerprintParams(s);
    const run = s.run;
    const started = performance.now();
    const loading = this.load(
      (signal, onProgress) => fetchFingerprint(run, params, { signal, onProgress }),
      (fp) => {
        fp.request = params;
        this.store.set({ fp });
        this.draw(fp);
        const notes = [];
        if (params.k !== undefined && params.k !== s.k) {
          notes.push(`k lowered to ${params.k}: the selection holds ${s.selection.length} samples.`);
        }
        const recall = fp.params?.recall;
        if (typeof recall === "number") {
          notes.push(
            `Approximate neighbours: recall ${recall.toFixed(3)} (the mean share of the exact ` +
              `${params.k} neighbours found, measured against the exact search).`,
          );
        }
        if (notes.length) this.showNote(notes.join(" "));
        const marks = window.__rd?.marks;
        if (marks) {
          marks.heatmapDrawn = performance.now();
          marks.heatmapLoad = performance.now() - started;
        }
      },
    );
    // The other views start drawing once the heat map is there (or has taken a while).
    loading.then(() => this.store.set({ primed: true }));
  }

  /** The colour range the current range mode gives for `fp`. */
  range(fp) {
    const mode = this.store.state.fpRange in RANGE_MODES ? this.store.state.fpRange : "data";
    return colourRange(fp.flat, fp.labels.length, mode, fp.kind, fp.params);
  }

  draw(fp) {
    const def = fingerprintDefinition(fp.kind, fp.params, kindSpec(this.store.get("info"), fp.kind));
    const range = this.range(fp);
    fp.range = range;
    const layout = heatmapLayout(fp, { shapes: this.shapes(this.store.state, fp) });
    this.describe(fp, def, range);
    const trace = heatmapTrace(fp, { colorbarTitle: def.title, range, definition: def.definition });
    Plotly.react(this.plot, [trace], layout, PLOT_CONFIG);
    this.plot.dataset.zmin = String(range.zmin);
    this.plot.dataset.zmax = String(range.zmax);
    this.plot.dataset.range = range.mode;
    if (!this.bound) {
      this.bound = true;
      this.plot.on("plotly_click", (ev) => {
        const p = ev.points?.[0];
        if (p && Number.isInteger(p.x) && Number.isInteger(p.y)) this.pickCell(p.x, p.y);
      });
    }
  }

  /** Lines between rows where the training changed phase (as the API detects them). */
  phaseLines(fp) {
    const { line, halo } = markColours();
    const lines = [];
    const end = fp.snapshots.length - 0.5;
    for (const change of fp.phase_changes || []) {
      const i = fp.snapshots.indexOf(change.snapshots?.[1]);
      if (i <= 0) continue;
      const at = i - 0.5;
      // A solid halo under a dashed bright line: visible on dark and light cells alike.
      for (const style of [{ color: halo, width: 4.5 }, { color: line, width: 2, dash: "dash" }]) {
        lines.push(
          { type: "line", xref: "x", yref: "y", x0: at, x1: at, y0: -0.5, y1: end, line: style, layer: "above", name: "phase" },
          { type: "line", xref: "x", yref: "y", x0: -0.5, x1: end, y0: at, y1: at, line: style, layer: "above", name: "phase" },
        );
      }
    }
    return lines;
  }

  /** The caption (what D is, with a link to its definition) and the legend of the marks. */
  describe(fp, def, range) {
    const { line, halo } = markColours();
    const sample = (dash, box = false) => {
      const root = svg("svg", { width: 28, height: 14, viewBox: "0 0 28 14", class: "mark-sample", "aria-hidden": "true" });
      if (box) {
        root.append(
          svg("rect", { x: 7, y: 1.5, width: 14, height: 11, fill: "none", stroke: halo, "stroke-width": 4 }),
          svg("rect", { x: 7, y: 1.5, width: 14, height: 11, fill: "none", stroke: line, "stroke-width": 2, "stroke-dasharray": dash || null }),
        );
      } else {
        root.append(
          svg("line", { x1: 1, y1: 7, x2: 27, y2: 7, stroke: halo, "stroke-width": 4.5 }),
          svg("line", { x1: 1, y1: 7, x2: 27, y2: 7, stroke: line, "stroke-width": 2, "stroke-dasharray": dash || null }),
        );
      }
      return root;
    };
    const changes = fp.phase_changes || [];
    const unit = fp.transition ? "transitions" : "snapshots";
    const phaseText = changes.length
      ? `phase change (Foote novelty) between ${unit} ${changes.map((c) => c.between.join(" and ")).join("; ")}`
      : "phase changes: none detected";
    this.definition.replaceChildren(
      el("strong", {}, "D "), def.definition, " ",
      el("a", { href: docURL(def.anchor), target: "_blank", rel: "noopener", class: "doc-ref" }, "definition"),
    );
    const item = (key, mark, ...text) => el("span", { class: "item", dataset: { mark: key } }, mark, ...text);
    this.legend.replaceChildren(
      item("phase", sample("5 3"), phaseText, " ",
        el("a", { href: docURL("phase-changes"), target: "_blank", rel: "noopener", class: "doc-ref" }, "how")),
      item("pair", sample(null, true), "cell (a, b): the pair the other views show"),
      item("mirror", sample("2 2", true), "its mirror (b, a)"),
      item("range", el("span", { class: "ramp", style: { background: `linear-gradient(90deg, ${INFERNO.map(([, c]) => c).join(",")})` } }),
        `colours: ${range.text}, ${fmt(range.zmin, 3)}–${fmt(range.zmax, 3)}`),
    );
    if (!changes.length) this.legend.querySelector('[data-mark="phase"]').classList.add("muted");
  }

  /** Pick the pair of snapshots of cell (column i, row j). */
  pickCell(i, j) {
    const fp = this.store.state.fp;
    if (!fp) return;
    const a = fp.snapshots[i];
    const b = fp.snapshots[j];
    if (a === undefined || b === undefined) return;
    window.__rd && (window.__rd.marks.cellPicked = performance.now());
    this.actions.pickPair(a, b);
  }

  shapes(s, fp) {
    const i = fp.snapshots.indexOf(s.a);
    const j = fp.snapshots.indexOf(s.b);
    const phases = this.phaseLines(fp);
    if (i < 0 || j < 0) return phases;
    const { line, halo } = markColours();
    const box = (x, y, dash) => [
      { type: "rect", xref: "x", yref: "y", x0: x - 0.5, x1: x + 0.5, y0: y - 0.5, y1: y + 0.5, line: { color: halo, width: 4 }, name: "halo" },
      { type: "rect", xref: "x", yref: "y", x0: x - 0.5, x1: x + 0.5, y0: y - 0.5, y1: y + 0.5, line: { color: line, width: 2, dash }, name: dash === "solid" ? "pair" : "mirror" },
    ];
    return [...phases, ...(i === j ? box(i, j, "solid") : [...box(i, j, "solid"), ...box(j, i, "dot")])];
  }

  highlight(s) {
    if (!s.fp || !this.plot.layout) return;
    Plotly.relayout(this.plot, { shapes: this.shapes(s, s.fp) });
  }
}
