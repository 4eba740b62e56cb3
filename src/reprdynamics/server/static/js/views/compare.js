// View 9: two runs with the same samples (A = the open run, B = the one chosen here):
// their fingerprints on one colour scale, the difference B − A on a diverging scale
// centred on 0, the RQA measures of both and B − A, and a per-sample comparison table
// (learned in A and forgotten in B, AUM change, neighbour-stability change) whose rows
// select samples for every view.

import { getJSON, decodeCompact, toRows } from "../api.js";
import { View } from "../view.js";
import { heatmapTrace, heatmapLayout } from "./heatmap.js";
import { kindLabel, usesK } from "../kinds.js";
import { renderRQA } from "./rqa.js";
import { filterRows, sortRows, sortArrow, sortViewBy, filterInput } from "./table.js";
import { describeColumn } from "./definitions.js";
import { toCSV, download, fileName } from "./export.js";
import { NEIGHBOUR_COLUMN_MAX } from "../data.js";
import { el, fmt, int, indexOfSorted, classColour, pageRange, PLOT_CONFIG } from "../util.js";

const ROWS_PER_PAGE = 50;

/** RQA measures compared (keys of /api/compare's `rqa`). */
const RQA_MEASURES = [
  ["rr", "recurrence rate"],
  ["det", "determinism"],
  ["l_mean", "mean diagonal line"],
  ["l_max", "longest diagonal line"],
  ["entr", "entropy of lines"],
  ["lam", "laminarity"],
  ["tt", "trapping time"],
  ["v_max", "longest vertical line"],
  ["epsilon", "threshold ε"],
];

/** Plotly's RdBu turned so that B > A is red: a diverging scale for differences. */
const DIVERGING = [
  [0.0, "#053061"], [0.1, "#2166ac"], [0.2, "#4393c3"], [0.3, "#92c5de"], [0.4, "#d1e5f0"],
  [0.5, "#f7f7f7"], [0.6, "#fddbc7"], [0.7, "#f4a582"], [0.8, "#d6604d"], [0.9, "#b2182b"],
  [1.0, "#67001f"],
];

const OUTCOMES = ["learned", "forgotten", "never learned"];

/** How a run ends on each sample: 0 learned, 1 forgotten, 2 never learned. */
function outcomeCodes(learned, forgotten) {
  return Uint8Array.from(learned, (l, i) => (l ? 0 : forgotten[i] ? 1 : 2));
}

/** Row filters a researcher asks first (A = this run, B = the other). */
const PRESETS = {
  all: { name: "all samples", keep: () => true },
  "learned-a-forgotten-b": { name: "learned in A, forgotten in B", keep: (d, r) => d.learned_a[r] && d.forgotten_b[r] },
  "learned-b-forgotten-a": { name: "learned in B, forgotten in A", keep: (d, r) => d.learned_b[r] && d.forgotten_a[r] },
  "learned-a-not-b": { name: "learned in A, not in B", keep: (d, r) => d.learned_a[r] && !d.learned_b[r] },
  "learned-b-not-a": { name: "learned in B, not in A", keep: (d, r) => d.learned_b[r] && !d.learned_a[r] },
  changed: { name: "outcome differs", keep: (d, r) => d.outcome_a[r] !== d.outcome_b[r] },
};

/** B − A of two flat matrices of one shape, and the largest |difference|. */
export function difference(a, b) {
  const out = new Float32Array(a.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    out[i] = b[i] - a[i];
    const m = Math.abs(out[i]);
    if (m > max) max = m;
  }
  return { flat: out, max };
}

export class CompareView extends View {
  constructor(store, actions) {
    super("compare", store, actions);
    this.select = document.getElementById("compare-run");
    this.bodyNode = document.getElementById("compare-body");
    this.sort = { column: null, descending: false };
    this.filters = {};
    this.preset = "all";
    this.page = 0;
    this.select.addEventListener("change", () => {
      this.samples = null;
      this.reload(this.store.state);
    });
    store.on(["runs", "info"], (s) => this.fill(s));
    store.on(["kind", "k"], (s) => this.select.value && this.reload(s));
    store.on(["theme"], () => this.last && this.draw(this.last));
    store.on(["selection", "focus"], () => this.samples && this.renderRows());
  }

  fill(s) {
    if (!s.info) return;
    const others = s.runs.filter((r) => r.name !== s.run && r.n_samples === s.info.n_samples);
    const current = this.select.value;
    this.select.replaceChildren(
      el("option", { value: "" }, others.length ? "— choose a run —" : "no other run with the same samples"),
      ...others.map((r) => el("option", { value: r.name }, r.name)),
    );
    this.select.disabled = !others.length;
    if (others.some((r) => r.name === current)) this.select.value = current;
    else {
      this.last = null;
      this.samples = null;
      this.bodyNode.replaceChildren(el("p", { class: "empty" }, others.length
        ? "Choose a second run over the same samples to compare fingerprints, recurrence and each sample."
        : `No other run under this root has ${s.info.n_samples} samples.`));
    }
  }

  /** k of the per-sample comparison: the dashboard's, 0 (no neighbour stability) for big runs until asked. */
  sampleK(s) {
    if (s.info.n_samples > NEIGHBOUR_COLUMN_MAX && this.withNeighbours !== `${s.run}|${this.select.value}`) return 0;
    return Math.max(1, Math.min(s.k, s.info.n_samples - 1));
  }

  reload(s) {
    const other = this.select.value;
    if (!other || !s.run) return;
    const params = { a: s.run, b: other, kind: s.kind };
    if (usesK(s.info, s.kind)) params.k = s.k;
    const k = this.sampleK(s);
    this.load(
      async (signal, onProgress) => {
        const [res, samples] = await Promise.all([
          getJSON("/api/compare", params, { signal, onProgress }),
          getJSON("/api/compare/samples", { a: s.run, b: other, k }, { signal }),
        ]);
        return { res, samples };
      },
      ({ res, samples }) => {
        this.last = { res, names: [s.run, other], kind: s.kind };
        this.samples = this.decodeSamples(samples, k);
        this.draw(this.last);
      },
    );
  }

  decodeSamples(res, k) {
    const data = {};
    for (const c of res.columns) data[c] = decodeCompact(res.data[c]);
    data.outcome_a = outcomeCodes(data.learned_a, data.forgotten_a);
    data.outcome_b = outcomeCodes(data.learned_b, data.forgotten_b);
    // One column for the eye ("learned → forgotten"), sortable by its code.
    data.outcome = Uint8Array.from(data.outcome_a, (a, i) => a * 3 + data.outcome_b[i]);
    const columns = [...res.columns];
    columns.splice(columns.indexOf("label") + 1, 0, "outcome");
    return { columns, api: res.columns, data, n: res.n, k, a: res.a, b: res.b };
  }

  draw({ res, names, kind }) {
    const sides = ["a", "b"].map((side) => {
      const fp = res[side].fingerprint;
      const flat = decodeCompact(fp.matrix);
      return { ...fp, flat, z: toRows(flat, fp.matrix.shape) };
    });
    const zmax = Math.max(...sides.map((fp) => fp.flat.reduce((m, v) => (v > m ? v : m), 0)), 1e-9);
    const title = kindLabel(this.store.state.info, kind);
    const maps = sides.map((fp, i) => {
      const plot = el("div", { class: "plot plot-square", id: `compare-plot-${i}` });
      const column = el("div", { class: "compare-col" }, el("h3", {}, `${"AB"[i]}: ${names[i]}`), plot);
      return { fp, plot, column };
    });
    const [fa, fb] = sides;
    const same = fa.matrix.shape.join() === fb.matrix.shape.join();
    const diffPlot = el("div", { class: "plot plot-square", id: "compare-diff" });
    const diffColumn = el("div", { class: "compare-col" }, el("h3", {}, `B − A: ${names[1]} − ${names[0]}`),
      same ? diffPlot : el("p", { class: "empty" },
        `The runs have fingerprints of different sizes (${fa.matrix.shape.join(" × ")} and ${fb.matrix.shape.join(" × ")}): no difference to draw.`));
    const details = sides.map((_, i) => el("details", { class: "cmp-rqa-full" },
      el("summary", {}, `RQA of ${"AB"[i]} (${names[i]}), with the NNTF band sweep`), renderRQA(res["ab"[i]], title)));
    this.tableHost = el("div", { class: "cmp-samples" });
    this.bodyNode.replaceChildren(
      el("div", { class: "cmp-maps" }, ...maps.map((m) => m.column), diffColumn),
      el("div", { class: "cmp-rqa" }, this.rqaDeltas(res, names, title), ...details),
      this.tableHost,
    );
    for (const { fp, plot } of maps) {
      const trace = { ...heatmapTrace(fp, { colorbarTitle: "" }), zmax, showscale: plot.id.endsWith("1") };
      Plotly.react(plot, [trace], heatmapLayout(fp), PLOT_CONFIG);
    }
    if (same) {
      const { flat, max } = difference(fa.flat, fb.flat);
      const m = max || 1e-9;
      const diff = {
        ...heatmapTrace({ ...fa, z: toRows(flat, fa.matrix.shape) }, { colorbarTitle: "B − A" }),
        colorscale: DIVERGING, zmin: -m, zmax: m, zmid: 0,
        hovertemplate: "%{text}<br>B − A = %{z:.4f}<extra></extra>",
      };
      Plotly.react(diffPlot, [diff], heatmapLayout(fa), PLOT_CONFIG);
    }
    this.renderTable();
  }

  /** The RQA measures of A and B and their difference B − A. */
  rqaDeltas(res, names, title) {
    const ra = res.a.rqa || {};
    const rb = res.b.rqa || {};
    const rows = RQA_MEASURES.filter(([key]) => typeof ra[key] === "number" || typeof rb[key] === "number").map(([key, name]) => {
      const a = ra[key];
      const b = rb[key];
      const d = typeof a === "number" && typeof b === "number" ? b - a : NaN;
      const sign = d > 0 ? "up" : d < 0 ? "down" : "";
      return el("tr", { dataset: { measure: key } }, el("th", {}, name),
        el("td", { class: "num" }, fmt(a, 4)), el("td", { class: "num" }, fmt(b, 4)),
        el("td", { class: `num delta ${sign}`.trim(), dataset: { value: String(d) } }, Number.isNaN(d) ? "–" : `${d > 0 ? "+" : ""}${fmt(d, 4)}`));
    });
    return el("table", { class: "data compact rqa-delta" },
      el("caption", {}, `Recurrence of the ${title} fingerprints (Marwan et al. 2007)`),
      el("thead", {}, el("tr", {}, el("th", {}, "measure"), el("th", { title: names[0] }, "A"), el("th", { title: names[1] }, "B"), el("th", {}, "B − A"))),
      el("tbody", {}, rows));
  }

  // ---------------------------------------------------------------- per-sample comparison
  display(column, r) {
    const s = this.store.state;
    const v = this.samples.data[column][r];
    if (column === "label") return v >= 0 ? s.classNames[v] ?? String(v) : "–";
    if (column === "outcome") return `${OUTCOMES[Math.floor(v / 3)]} → ${OUTCOMES[v % 3]}`;
    if (/^(learned|forgotten)_/.test(column)) return v ? "yes" : "";
    if (column === "id" || column.startsWith("forgetting_events")) return String(v);
    const text = fmt(v, 3);
    return column.endsWith("_change") && v > 0 ? `+${text}` : text;
  }

  renderTable() {
    const t = this.samples;
    if (!t || !this.tableHost) return;
    const s = this.store.state;
    const presetSelect = el("select", { id: "cmp-preset", "aria-label": "which samples" },
      ...Object.entries(PRESETS).map(([key, p]) => el("option", { value: key }, p.name)));
    presetSelect.value = this.preset;
    presetSelect.addEventListener("change", () => {
      this.preset = presetSelect.value;
      this.page = 0;
      this.apply();
    });
    this.info = el("span", { class: "cmp-info" });
    this.selectButton = el("button", { type: "button", id: "cmp-select", onclick: () => this.selectShown() }, "Select shown");
    const csv = el("button", { type: "button", id: "cmp-csv", title: "Download the shown rows and columns as CSV, in the shown order", onclick: () => this.downloadCSV() }, "CSV");
    const tools = [el("strong", {}, "Each sample"), el("label", { class: "field" }, "show ", presetSelect), this.selectButton, csv, this.info];
    if (!t.k && s.info.n_samples > 1) {
      tools.push(el("button", {
        type: "button", id: "cmp-neighbours",
        onclick: () => {
          this.withNeighbours = `${s.run}|${this.select.value}`;
          this.reload(this.store.state);
        },
      }, "add neighbour stability"));
    }
    const head = el("tr", {}, el("th", { class: "pick", title: "tick rows to build the dashboard's selection" }, "sel"),
      ...t.columns.map((c) => el("th", {
        class: "sortable", dataset: { column: c },
        title: `${describeColumn(c) || c}\n\nA = ${t.a}, B = ${t.b}${t.k ? `, k = ${t.k}` : ""}. Click to sort.`,
        onclick: () => sortViewBy(this, c),
      }, this.headerText(c))));
    const filters = el("tr", { class: "filters" }, el("th", {}), ...t.columns.map((c) => el("th", {}, filterInput(this, c))));
    this.thead = el("thead", {}, head, filters);
    this.tbody = el("tbody", {});
    this.tbody.addEventListener("click", (e) => this.onRowClick(e));
    this.pager = el("div", { class: "pager" },
      el("button", { type: "button", class: "ghost", id: "cmp-prev", "aria-label": "previous rows", onclick: () => this.goto(this.page - 1) }, "‹"),
      el("span", { id: "cmp-page" }),
      el("button", { type: "button", class: "ghost", id: "cmp-next", "aria-label": "next rows", onclick: () => this.goto(this.page + 1) }, "›"),
      el("span", { class: "note" }, "click a row to open the sample; tick rows to select them in every view"));
    this.tableHost.replaceChildren(
      el("div", { class: "cmp-tools" }, ...tools),
      el("div", { class: "table-wrap" }, el("table", { class: "data", id: "compare-table" }, this.thead, this.tbody)),
      this.pager,
    );
    this.apply();
  }

  headerText(c) {
    return c.replace(/_a$/, " A").replace(/_b$/, " B").replace(/_change$/, " B − A").replace(/_/g, " ") + sortArrow(this.sort, c);
  }

  apply() {
    const { data, n } = this.samples;
    const preset = PRESETS[this.preset] || PRESETS.all;
    const rows = filterRows(data, n, this.filters, (c, r) => this.display(c, r), (r) => preset.keep(data, r));
    if (this.sort.column) sortRows(rows, data[this.sort.column], this.sort.descending);
    this.rows = Int32Array.from(rows);
    this.renderRows();
  }

  goto(page) {
    this.page = page;
    this.renderRows();
  }

  renderRows() {
    if (!this.rows || !this.tbody) return;
    const s = this.store.state;
    const { columns, data, n } = this.samples;
    const total = this.rows.length;
    const { pages, start, end, page } = pageRange(total, this.page, ROWS_PER_PAGE);
    this.page = page;
    const partial = s.selection.length < s.info.n_samples;
    const trs = [];
    for (let i = start; i < end; i++) {
      const r = this.rows[i];
      const id = data.id[r];
      const selected = partial && indexOfSorted(s.selection, id) >= 0;
      const cls = [selected ? "sel" : "", id === s.focus ? "focus" : ""].join(" ").trim();
      trs.push(el("tr", { class: cls || null, dataset: { id: String(id) } },
        el("td", { class: "pick" }, el("input", { type: "checkbox", checked: selected, "aria-label": `select sample ${id}` })),
        ...columns.map((c) => {
          const td = el("td", { class: c === "label" || c === "outcome" ? null : "num" }, this.display(c, r));
          if (c === "label") td.prepend(el("span", { class: "swatch", style: { background: classColour(data[c][r]) } }));
          if (c.endsWith("_change") && data[c][r] !== 0 && Number.isFinite(data[c][r])) td.classList.add(data[c][r] > 0 ? "up" : "down");
          return td;
        })));
    }
    this.tbody.replaceChildren(...trs);
    this.info.textContent = `${int(total)} of ${int(n)} samples`;
    this.selectButton.textContent = `Select shown (${int(total)})`;
    this.selectButton.disabled = !total;
    this.pager.querySelector("#cmp-page").textContent = total ? `${int(start + 1)}–${int(end)} of ${int(total)} rows` : "no rows match";
    this.pager.querySelector("#cmp-prev").disabled = this.page === 0;
    this.pager.querySelector("#cmp-next").disabled = this.page >= pages - 1;
  }

  onRowClick(e) {
    const tr = e.target.closest("tr[data-id]");
    if (!tr) return;
    const id = +tr.dataset.id;
    if (e.target.matches("input[type=checkbox]")) {
      this.toggle(id, e.target.checked);
      return;
    }
    this.actions.focus(id);
  }

  /** Tick or untick one row: from the default (everything) a tick starts a new selection. */
  toggle(id, on) {
    const s = this.store.state;
    const all = s.selection.length === s.info.n_samples;
    const current = all ? [] : Array.from(s.selection);
    const next = on ? [...current, id] : current.filter((x) => x !== id);
    this.actions.setSelection(next.length ? next : Array.from({ length: s.info.n_samples }, (_, i) => i));
  }

  selectShown() {
    if (!this.rows?.length) return;
    this.actions.setSelection(Array.from(this.rows, (r) => this.samples.data.id[r]));
  }

  downloadCSV() {
    if (!this.rows) return;
    const { columns, data } = this.samples;
    const s = this.store.state;
    // The CSV holds the API's columns (outcome is their summary, shown for the eye).
    const exported = columns.filter((c) => c !== "outcome");
    const name = `${fileName(s.run, "vs", this.select.value, "samples")}.csv`;
    const text = toCSV(exported, data, this.rows);
    this.lastExport = { name, text, columns: exported, rows: this.rows.length };
    download(name, text);
  }
}
