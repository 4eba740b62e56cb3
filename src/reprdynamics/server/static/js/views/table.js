// View 7: the per-sample table: sortable, filterable, grouped by label, with CSV and
// Parquet of what it shows.

import { runPath, selectionParam } from "../api.js";
import { View } from "../view.js";
import { thumbURL, hasThumbs } from "../thumbs.js";
import { sampleTable, whenVisible } from "../data.js";
import { el, fmt, int, indexOfSorted, classColour, pageRange, idSet } from "../util.js";
import { describeColumn } from "./definitions.js";
import { toCSV, download, fileName, fetchFile } from "./export.js";

const ROWS_PER_PAGE = 50;
const INTEGER_COLUMNS = new Set(["id", "label", "prediction", "forgetting_events", "first_learned", "never_learned"]);

/**
 * A filter predicate from the text typed under a column header:
 * "<0.5", ">=2", "=3", "1..3" (inclusive), a plain number (equality), or text (substring).
 */
export function parseFilter(text, display, { float32 = false } = {}) {
  const t = text.trim();
  // A float32 column holds 0.9 as 0.899999976: compare with the typed number as float32
  // too, so "<0.9" leaves out the samples shown as 0.9.
  const num = (x) => (float32 ? Math.fround(Number(x)) : Number(x));
  if (!t) return null;
  let m = /^(<=|>=|<|>|=|==|!=)\s*(-?[\d.]+(?:e-?\d+)?)$/i.exec(t);
  if (m) {
    const v = num(m[2]);
    const op = m[1];
    return (x) => op === "<" ? x < v : op === "<=" ? x <= v : op === ">" ? x > v : op === ">=" ? x >= v : op === "!=" ? x !== v : x === v;
  }
  m = /^(-?[\d.]+(?:e-?\d+)?)\s*\.\.\s*(-?[\d.]+(?:e-?\d+)?)$/i.exec(t);
  if (m) {
    const lo = num(m[1]);
    const hi = num(m[2]);
    return (x) => x >= lo && x <= hi;
  }
  if (/^-?[\d.]+(?:e-?\d+)?$/i.test(t)) {
    const v = num(t);
    return (x) => x === v;
  }
  const needle = t.toLowerCase();
  return (x, i) => display(i).toLowerCase().includes(needle);
}

/** Rows `0..n-1` of `data` whose columns pass every filter typed (see `parseFilter`). */
export function filterRows(data, n, filters, display, keep = null) {
  const predicates = Object.entries(filters)
    .map(([c, text]) => [c, data[c] ? parseFilter(text || "", (r) => display(c, r), { float32: data[c] instanceof Float32Array }) : null])
    .filter(([, p]) => p);
  const rows = [];
  for (let r = 0; r < n; r++) {
    if ((!keep || keep(r)) && predicates.every(([c, p]) => p(data[c][r], r))) rows.push(r);
  }
  return rows;
}

/** Sort row indices by `values` (NaN last, ties by row), in place. */
export function sortRows(rows, values, descending) {
  const sign = descending ? -1 : 1;
  return rows.sort((p, q) => {
    const x = values[p];
    const y = values[q];
    if (Number.isNaN(x)) return Number.isNaN(y) ? p - q : 1;
    if (Number.isNaN(y)) return -1;
    return sign * (x - y) || p - q;
  });
}

/** The arrow of a sortable header: ▲ or ▼ on the column `sort` orders by, else none. */
export function sortArrow(sort, column) {
  return sort.column === column ? (sort.descending ? " ▼" : " ▲") : "";
}

/**
 * Order a sortable table view by `column` (the other way round when it is ordered by it
 * already), then redraw its headers and rows. The view has `sort`, `thead`,
 * `headerText(column)` and `apply()`: the per-sample table and the run comparison.
 */
export function sortViewBy(view, column) {
  if (view.sort.column === column) view.sort.descending = !view.sort.descending;
  else view.sort = { column, descending: false };
  for (const th of view.thead.querySelectorAll("th.sortable")) th.textContent = view.headerText(th.dataset.column);
  view.apply();
}

/** The filter box of `column` in such a view: what is typed filters it from the first page. */
export function filterInput(view, column) {
  return el("input", {
    type: "text", value: view.filters[column] || "", placeholder: "filter", "aria-label": `filter ${column}`, dataset: { column },
    oninput: (e) => {
      view.filters[column] = e.target.value;
      view.page = 0;
      view.apply();
    },
  });
}

// Columns that name a class or a sample: a group's mean of them means nothing.
const NOT_AVERAGED = new Set(["id", "label", "prediction", "clean_labels"]);

/**
 * The per-label groups of `rows`: {columns: ["label", "n", ...means], data, n}. A mean
 * leaves out NaN (unknown labels) and, for `first_learned`, the -1 of samples not correct
 * at the end.
 */
export function groupByLabel(table, rows) {
  const { columns, data } = table;
  const measures = columns.filter((c) => !NOT_AVERAGED.has(c));
  const labels = data.label;
  const index = new Map();
  for (const r of rows) {
    const l = labels[r];
    if (!index.has(l)) index.set(l, index.size);
  }
  const keys = [...index.keys()].sort((a, b) => a - b);
  const order = new Map(keys.map((l, g) => [l, g]));
  const m = keys.length;
  const sums = measures.map(() => new Float64Array(m));
  const counts = measures.map(() => new Float64Array(m));
  const size = new Int32Array(m);
  for (const r of rows) {
    const g = order.get(labels[r]);
    size[g]++;
    measures.forEach((c, j) => {
      const v = data[c][r];
      if (Number.isNaN(v) || (c === "first_learned" && v < 0)) return;
      sums[j][g] += v;
      counts[j][g]++;
    });
  }
  const out = { label: Int32Array.from(keys), n: size };
  measures.forEach((c, j) => {
    out[c] = Float64Array.from(sums[j], (s, g) => (counts[j][g] ? s / counts[j][g] : NaN));
  });
  return { columns: ["label", "n", ...measures], data: out, n: m };
}

// Frozen while the table scrolls sideways: the id, the thumbnail and the label (widths in
// px, so each one's sticky offset is the sum of those before it).
const FROZEN_WIDTH = { id: 58, thumb: 40, label: 92 };
const THUMB_SIZE = 32;

export class TableView extends View {
  constructor(store, actions) {
    super("table", store, actions);
    this.tableNode = document.getElementById("sample-table");
    this.sort = { column: null, descending: false };
    this.filters = {};
    this.page = 0;
    this.rows = null; // Int32Array of row indices after filter + sort
    this.grouped = false;
    this.selectedOnly = false;
    this.wrap = this.tableNode.closest(".table-wrap");
    document.getElementById("table-prev").addEventListener("click", () => this.goto(this.page - 1));
    document.getElementById("table-next").addEventListener("click", () => this.goto(this.page + 1));
    document.getElementById("table-select").addEventListener("click", () => {
      const ids = this.shownIds();
      if (ids) this.actions.setSelection(ids);
    });
    this.buildControls();
    this.visible = false;
    whenVisible(this.card, () => {
      this.visible = true;
      this.reload(this.store.state);
    });
    store.on(["info"], (s) => {
      this.table = null;
      if (s.run !== this.runName) {
        // Another run: its own filters and order (new snapshots of this run keep them).
        this.runName = s.run;
        this.filters = {};
        this.sort = { column: null, descending: false };
        this.page = 0;
      }
      this.csvLink.href = s.run ? runPath(s.run, "/samples.csv") : "#";
      this.parquetButton.hidden = !(s.info?.exports || []).includes("parquet");
      if (this.visible) this.reload(s);
    });
    store.on(["selection", "focus"], () => {
      if (!this.table) return;
      if (this.selectedOnly) this.apply();
      else this.renderBody();
    });
  }

  /** The controls this view adds to its card: selected only, group by label, Parquet. */
  buildControls() {
    const controls = this.card.querySelector("header .controls");
    this.csvLink = document.getElementById("table-csv");
    this.csvLink.title = "Download the shown rows and columns as CSV, in the shown order, every page "
      + "(the link itself is the run's whole table, as the server writes it)";
    this.csvLink.addEventListener("click", (e) => {
      if (!this.table) return;
      e.preventDefault();
      this.downloadCSV();
    });
    const check = (id, text, title, onchange) => {
      const input = el("input", { type: "checkbox", id, onchange: (e) => onchange(e.target.checked) });
      return el("label", { class: "check", title }, input, ` ${text}`);
    };
    this.parquetButton = el("button", {
      type: "button", id: "table-parquet", hidden: true,
      title: "Download the shown rows and columns as Parquet, written by the server (rows in id order)",
      onclick: () => this.downloadParquet(),
    }, "Parquet");
    controls.prepend(
      check("table-selected-only", "selected only", "Show only the samples of the dashboard's selection", (on) => {
        this.selectedOnly = on;
        this.page = 0;
        this.apply();
      }),
      check("table-group", "group by label", "One row per label: how many samples are shown, and the mean of each measure over them", (on) => {
        this.grouped = on;
        this.page = 0;
        if (this.table) {
          this.renderHead();
          this.apply();
        }
      }),
    );
    controls.append(this.parquetButton);
    this.exportNote = el("span", { class: "note table-export-note", "aria-live": "polite" });
    controls.append(this.exportNote);
  }

  reload(s) {
    if (!s.info) return;
    const neighbours = this.withNeighbours === s.run;
    this.load(
      (signal, onProgress) => sampleTable(s.run, s.info, onProgress, { neighbours }),
      (table) => {
        this.table = table;
        this.store.set({ table });
        this.renderHead();
        this.apply();
        if (!table.k && s.info.n_samples > 1) this.offerNeighbours(s);
      },
    );
  }

  /** A big run's table comes without neighbour stability; say so, with a button to add it. */
  offerNeighbours(s) {
    const button = el("button", { type: "button", id: "table-neighbours" }, "add neighbour stability");
    button.addEventListener("click", () => {
      this.withNeighbours = s.run;
      this.reload(this.store.state);
    });
    this.status.className = "status note";
    this.status.replaceChildren(
      `Without neighbour stability (k = 10) for ${int(s.info.n_samples)} samples: it needs a neighbour search of every snapshot. `,
      button,
    );
  }

  /** What is shown: {columns, data, rows} of the samples, or of the groups when grouped. */
  shown() {
    if (!this.table || !this.rows) return null;
    if (this.grouped) return { columns: this.groups.columns, data: this.groups.data, rows: this.rows };
    return { columns: this.table.columns, data: this.table.data, rows: this.rows };
  }

  /** Sample ids of the shown rows (of every page; all samples of the shown groups). */
  shownIds() {
    if (!this.table || !this.sampleRows) return null;
    return Array.from(this.sampleRows, (r) => this.table.data.id[r]);
  }

  display(column, r, data = this.table.data, grouped = false) {
    const s = this.store.state;
    const v = data[column][r];
    if ((column === "label" || column === "prediction" || column === "clean_labels") && v >= 0) return s.classNames[v] ?? String(v);
    if (column === "n") return int(v);
    if (grouped && column !== "label") return fmt(v, 3);
    if (column === "never_learned" || column === "label_flipped") return v ? "yes" : "";
    return INTEGER_COLUMNS.has(column) || column === "clean_labels" ? (v < 0 ? "–" : String(v)) : fmt(v, 3);
  }

  /** The shown columns, with the thumbnail after the id for image runs. */
  layout() {
    const columns = this.grouped ? ["label", "n", ...this.table.columns.filter((c) => !NOT_AVERAGED.has(c))] : this.table.columns;
    const thumbs = !this.grouped && hasThumbs(this.store.state.info);
    const out = [];
    for (const c of columns) {
      out.push(c);
      if (c === "id" && thumbs) out.push("thumb");
    }
    let left = 0;
    const frozen = {};
    for (const c of out) {
      if (!(c in FROZEN_WIDTH)) break;
      frozen[c] = left;
      left += FROZEN_WIDTH[c];
    }
    return { cells: out, frozen };
  }

  /** Attributes that freeze a cell of column `c` (sticky at its offset) or none. */
  frozenStyle(c, frozen) {
    if (!(c in frozen)) return {};
    const w = `${FROZEN_WIDTH[c]}px`;
    return { class: "frozen", style: { left: `${frozen[c]}px`, width: w, minWidth: w, maxWidth: w } };
  }

  headerText(c) {
    return (this.grouped && c !== "label" && c !== "n" ? `mean ${c}` : c).replace(/_/g, " ") + sortArrow(this.sort, c);
  }

  renderHead() {
    const { cells, frozen } = this.layout();
    this.cells = cells;
    this.frozen = frozen;
    const s = this.store.state;
    const context = { k: this.table.k, layer: s.info?.defaults?.layer || s.info?.output_layer, mean: this.grouped };
    const head = el("tr", {}, ...cells.map((c) => {
      const f = this.frozenStyle(c, frozen);
      if (c === "thumb") return el("th", { ...f, class: "frozen thumb", dataset: { column: c }, title: "the sample's input" }, "");
      const definition = describeColumn(c, { ...context, mean: this.grouped && c !== "label" && c !== "n" });
      return el("th", {
        ...f, class: `sortable ${f.class || ""}`.trim(), dataset: { column: c },
        title: `${definition ? `${definition}\n\n` : ""}click to sort`, onclick: () => sortViewBy(this, c),
      }, this.headerText(c));
    }));
    const filterable = new Set(this.table.columns);
    const filters = el("tr", { class: "filters" }, ...cells.map((c) => {
      const f = this.frozenStyle(c, frozen);
      if (!filterable.has(c)) return el("th", f);
      return el("th", f, filterInput(this, c));
    }));
    this.thead = el("thead", {}, head, filters);
    this.tbody = el("tbody", {});
    this.tableNode.replaceChildren(this.thead, this.tbody);
    this.tableNode.classList.toggle("grouped", this.grouped);
  }

  apply() {
    const { data, n } = this.table;
    const s = this.store.state;
    const selection = s.selection;
    const keep = this.selectedOnly ? (r) => indexOfSorted(selection, data.id[r]) >= 0 : null;
    const rows = filterRows(data, n, this.filters, (c, r) => this.display(c, r), keep);
    if (this.grouped) {
      this.sampleRows = Int32Array.from(rows);
      this.groups = groupByLabel(this.table, rows);
      const order = Array.from({ length: this.groups.n }, (_, g) => g);
      const column = this.groups.data[this.sort.column] ? this.sort.column : "label";
      sortRows(order, this.groups.data[column], column === this.sort.column && this.sort.descending);
      this.rows = Int32Array.from(order);
    } else {
      if (this.sort.column && data[this.sort.column]) sortRows(rows, data[this.sort.column], this.sort.descending);
      this.rows = Int32Array.from(rows);
      this.sampleRows = this.rows;
    }
    this.renderBody();
  }

  goto(page) {
    this.page = page;
    this.renderBody();
  }

  renderBody() {
    if (!this.rows || !this.tbody) return;
    const s = this.store.state;
    const total = this.rows.length;
    const { pages, start, end, page } = pageRange(total, this.page, ROWS_PER_PAGE);
    this.page = page;
    const trs = [];
    if (this.grouped) {
      const { data } = this.groups;
      for (let i = start; i < end; i++) {
        const g = this.rows[i];
        trs.push(el("tr", { class: "group", dataset: { label: String(data.label[g]) }, title: `click to select these ${int(data.n[g])} samples` },
          ...this.cells.map((c) => this.cell(c, g, data))));
      }
    } else {
      const { data } = this.table;
      for (let i = start; i < end; i++) {
        const r = this.rows[i];
        const id = data.id[r];
        const cls = [indexOfSorted(s.selection, id) >= 0 ? "sel" : "", id === s.focus ? "focus" : ""].join(" ").trim();
        trs.push(el("tr", { class: cls || null, dataset: { id: String(id) } }, ...this.cells.map((c) => this.cell(c, r, data, id))));
      }
    }
    this.tbody.replaceChildren(...trs);
    this.tbody.onclick = (e) => {
      const tr = e.target.closest("tr");
      if (tr?.dataset.id) this.actions.focus(+tr.dataset.id);
      else if (tr?.dataset.label !== undefined) this.selectGroup(+tr.dataset.label);
    };
    const n = this.table.n;
    const narrowed = this.sampleRows.length < n;
    const what = this.grouped ? `groups of ${int(this.sampleRows.length)} samples` : "rows";
    document.getElementById("table-info").textContent = total
      ? `${int(start + 1)}–${int(end)} of ${int(total)} ${what}${narrowed ? ` (filtered from ${int(n)})` : ""}`
      : "no rows match";
    document.getElementById("table-select").textContent = `Select ${narrowed ? "filtered" : "all"} (${int(this.sampleRows.length)})`;
    document.getElementById("table-prev").disabled = this.page === 0;
    document.getElementById("table-next").disabled = this.page >= pages - 1;
    this.parquetButton.disabled = this.grouped;
    if (this.grouped) this.parquetButton.title = "Parquet holds per-sample rows: switch off group by label (the CSV holds the groups)";
  }

  cell(c, r, data, id) {
    const f = this.frozenStyle(c, this.frozen);
    if (c === "thumb") {
      return el("td", { ...f, class: "frozen thumb" }, el("img", {
        src: thumbURL(this.store.state.run, id, THUMB_SIZE), width: "28", height: "28", loading: "lazy", alt: `sample ${id}`,
      }));
    }
    const text = this.display(c, r, data, data === this.groups?.data);
    const td = el("td", { ...f, class: `${c === "label" || c === "prediction" ? "" : "num"} ${f.class || ""}`.trim() || null }, text);
    if (c === "label") td.prepend(el("span", { class: "swatch", style: { background: classColour(data[c][r]) } }));
    return td;
  }

  /** Select the shown samples of one label (a click on its group row). */
  selectGroup(label) {
    const { data } = this.table;
    this.actions.setSelection(Array.from(this.sampleRows).filter((r) => data.label[r] === label).map((r) => data.id[r]));
  }

  /** The columns a download holds: the shown ones, without the thumbnail. */
  exportColumns() {
    return this.cells.filter((c) => c !== "thumb");
  }

  downloadCSV() {
    const shown = this.shown();
    if (!shown) return;
    const columns = this.exportColumns();
    const s = this.store.state;
    const name = fileName(s.run, this.grouped ? "groups-by-label" : "samples") + ".csv";
    const text = toCSV(columns, shown.data, shown.rows);
    this.lastExport = { name, text, columns, rows: shown.rows.length };
    download(name, text);
    this.exportNote.textContent = `${int(shown.rows.length)} rows × ${columns.length} columns`;
  }

  async downloadParquet() {
    if (!this.table || this.grouped) return;
    const s = this.store.state;
    const ids = idSet(this.shownIds());
    const columns = this.exportColumns();
    this.exportNote.textContent = "Parquet: preparing…";
    try {
      const params = { columns: columns.join(","), k: this.table.k };
      // The table is the whole run's (neighbour stability among all samples): `rows` cuts
      // the shown rows out of it, where `samples` would recompute it among them.
      const rows = await selectionParam(s.run, ids, s.info.n_samples);
      if (rows) params.rows = rows;
      const blob = await fetchFile(runPath(s.run, "/samples.parquet"), params, {
        onProgress: (p) => {
          if (p) this.exportNote.textContent = `Parquet: ${p.what || "computing"}${p.total ? ` (${p.done}/${p.total})` : ""}`;
        },
      });
      const name = `${fileName(s.run, "samples")}.parquet`;
      this.lastExport = { name, columns, rows: ids.length, bytes: blob.size };
      download(name, blob, "application/vnd.apache.parquet");
      this.exportNote.textContent = `${int(ids.length)} rows × ${columns.length} columns (Parquet, id order)`;
    } catch (err) {
      this.exportNote.textContent = `Parquet failed: ${err.message}`;
    }
  }
}
