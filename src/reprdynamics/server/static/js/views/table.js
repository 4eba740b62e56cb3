// View 7: the per-sample table (sortable, filterable, CSV) and the cartography data map
// (variability × confidence, coloured by correctness) whose box/lasso sets the selection.

import { runPath } from "../api.js";
import { View } from "../view.js";
import { PointPlot, mark } from "../points.js";
import { columnValues, colourFor, fillColourSelect } from "../columns.js";
import { thumbURL, hasThumbs } from "../thumbs.js";
import { sampleTable, whenVisible } from "../data.js";
import { el, fmt, int, indexOfSorted, classColour } from "../util.js";

const ROWS_PER_PAGE = 50;
const INTEGER_COLUMNS = new Set(["id", "label", "prediction", "forgetting_events", "first_learned", "never_learned"]);

/**
 * A filter predicate from the text typed under a column header:
 * "<0.5", ">=2", "=3", "1..3" (inclusive), a plain number (equality), or text (substring).
 */
export function parseFilter(text, display) {
  const t = text.trim();
  if (!t) return null;
  let m = /^(<=|>=|<|>|=|==|!=)\s*(-?[\d.]+(?:e-?\d+)?)$/i.exec(t);
  if (m) {
    const v = Number(m[2]);
    const op = m[1];
    return (x) => op === "<" ? x < v : op === "<=" ? x <= v : op === ">" ? x > v : op === ">=" ? x >= v : op === "!=" ? x !== v : x === v;
  }
  m = /^(-?[\d.]+(?:e-?\d+)?)\s*\.\.\s*(-?[\d.]+(?:e-?\d+)?)$/i.exec(t);
  if (m) {
    const lo = Number(m[1]);
    const hi = Number(m[2]);
    return (x) => x >= lo && x <= hi;
  }
  if (/^-?[\d.]+(?:e-?\d+)?$/i.test(t)) {
    const v = Number(t);
    return (x) => x === v;
  }
  const needle = t.toLowerCase();
  return (x, i) => display(i).toLowerCase().includes(needle);
}

export class TableView extends View {
  constructor(store, actions) {
    super("table");
    this.store = store;
    this.actions = actions;
    this.tableNode = document.getElementById("sample-table");
    this.sort = { column: null, descending: false };
    this.filters = {};
    this.page = 0;
    this.rows = null; // Int32Array of row indices after filter + sort
    document.getElementById("table-prev").addEventListener("click", () => this.goto(this.page - 1));
    document.getElementById("table-next").addEventListener("click", () => this.goto(this.page + 1));
    document.getElementById("table-select").addEventListener("click", () => {
      if (this.rows && this.table) this.actions.setSelection(Array.from(this.rows, (r) => this.table.data.id[r]));
    });
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
      document.getElementById("table-csv").href = s.run ? runPath(s.run, "/samples.csv") : "#";
      if (this.visible) this.reload(s);
    });
    store.on(["selection", "focus"], () => this.table && this.renderBody());
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

  display(column, r) {
    const s = this.store.state;
    const v = this.table.data[column][r];
    if ((column === "label" || column === "prediction") && v >= 0) return s.classNames[v] ?? String(v);
    if (column === "never_learned") return v ? "yes" : "";
    return INTEGER_COLUMNS.has(column) ? (v < 0 ? "–" : String(v)) : fmt(v, 3);
  }

  renderHead() {
    const { columns } = this.table;
    const head = el("tr", {}, ...columns.map((c) => {
      const arrow = this.sort.column === c ? (this.sort.descending ? " ▼" : " ▲") : "";
      return el("th", { dataset: { column: c }, class: "sortable", title: "click to sort", onclick: () => this.sortBy(c) }, c.replace(/_/g, " ") + arrow);
    }));
    const filters = el("tr", { class: "filters" }, ...columns.map((c) =>
      el("th", {}, el("input", {
        type: "text", value: this.filters[c] || "", placeholder: "filter", "aria-label": `filter ${c}`, dataset: { column: c },
        oninput: (e) => {
          this.filters[c] = e.target.value;
          this.page = 0;
          this.apply();
        },
      }))));
    this.thead = el("thead", {}, head, filters);
    this.tbody = el("tbody", {});
    this.tableNode.replaceChildren(this.thead, this.tbody);
  }

  sortBy(column) {
    if (this.sort.column === column) this.sort.descending = !this.sort.descending;
    else this.sort = { column, descending: false };
    for (const th of this.thead.querySelectorAll("th.sortable")) {
      const c = th.dataset.column;
      th.textContent = c.replace(/_/g, " ") + (this.sort.column === c ? (this.sort.descending ? " ▼" : " ▲") : "");
    }
    this.apply();
  }

  apply() {
    const { data, n } = this.table;
    const predicates = Object.entries(this.filters)
      .map(([c, text]) => [c, parseFilter(text, (r) => this.display(c, r))])
      .filter(([, p]) => p);
    const rows = [];
    for (let r = 0; r < n; r++) {
      if (predicates.every(([c, p]) => p(data[c][r], r))) rows.push(r);
    }
    if (this.sort.column) {
      const v = data[this.sort.column];
      const sign = this.sort.descending ? -1 : 1;
      rows.sort((p, q) => {
        const x = v[p];
        const y = v[q];
        if (Number.isNaN(x)) return Number.isNaN(y) ? p - q : 1;
        if (Number.isNaN(y)) return -1;
        return sign * (x - y) || p - q;
      });
    }
    this.rows = Int32Array.from(rows);
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
    const pages = Math.max(1, Math.ceil(total / ROWS_PER_PAGE));
    this.page = Math.min(Math.max(0, this.page), pages - 1);
    const start = this.page * ROWS_PER_PAGE;
    const end = Math.min(total, start + ROWS_PER_PAGE);
    const { columns, data } = this.table;
    const trs = [];
    for (let i = start; i < end; i++) {
      const r = this.rows[i];
      const id = data.id[r];
      const cls = [indexOfSorted(s.selection, id) >= 0 ? "sel" : "", id === s.focus ? "focus" : ""].join(" ").trim();
      trs.push(el("tr", { class: cls || null, dataset: { id: String(id) } }, ...columns.map((c) => {
        const td = el("td", { class: c === "label" || c === "prediction" ? "" : "num" }, this.display(c, r));
        if (c === "label") td.prepend(el("span", { class: "swatch", style: { background: classColour(data[c][r]) } }));
        return td;
      })));
    }
    this.tbody.replaceChildren(...trs);
    this.tbody.onclick = (e) => {
      const tr = e.target.closest("tr[data-id]");
      if (tr) this.actions.focus(+tr.dataset.id);
    };
    document.getElementById("table-info").textContent = total
      ? `${int(start + 1)}–${int(end)} of ${int(total)} rows${total < this.table.n ? ` (filtered from ${int(this.table.n)})` : ""}`
      : "no rows match";
    document.getElementById("table-select").textContent = `Select ${total < this.table.n ? "filtered" : "all"} (${int(total)})`;
    document.getElementById("table-prev").disabled = this.page === 0;
    document.getElementById("table-next").disabled = this.page >= pages - 1;
  }
}

export class DataMapView extends View {
  constructor(store, actions) {
    super("cartography");
    this.store = store;
    this.actions = actions;
    this.visible = false;
    this.colourSelect = document.getElementById("dm-color");
    this.colourSelect.addEventListener("change", () => store.set({ pointColor: this.colourSelect.value }));
    this.plot = new PointPlot(document.getElementById("datamap"), {
      name: "datamap",
      onLasso: (indices) => this.select(indices),
      onClick: (i) => this.ids && this.actions.focus(this.ids[i]),
      hoverText: (i) => this.hoverText(i),
      thumbURL: (i) => (this.ids && hasThumbs(this.store.state.info) ? thumbURL(this.store.state.run, this.ids[i]) : null),
    });
    whenVisible(this.card, () => {
      this.visible = true;
      this.reload(this.store.state);
    });
    store.on(["info"], (s) => {
      this.colourSelect.value = fillColourSelect(this.colourSelect, s.info, s.pointColor);
      if (this.visible) this.reload(s);
    });
    store.on(["pointColor"], (s) => {
      if (this.colourSelect.value !== s.pointColor) this.colourSelect.value = fillColourSelect(this.colourSelect, s.info, s.pointColor);
      if (this.visible) this.reload(s);
    });
    store.on(["selection"], (s) => this.highlight(s));
  }

  select(indices) {
    if (!this.ids || !indices.length) return;
    this.actions.setSelection(indices.map((i) => this.ids[i]));
  }

  hoverText(i) {
    const s = this.store.state;
    const id = this.ids[i];
    const label = s.labels ? s.labels[id] : -1;
    const lines = [`#${id} · ${label >= 0 ? s.classNames[label] ?? label : "?"}`,
      `variability ${fmt(this.x[i])}`, `confidence ${fmt(this.y[i])}`];
    if (this.colour?.kind === "continuous") lines.push(`${this.colour.title} ${fmt(this.colour.values[i])}`);
    return lines;
  }

  reload(s) {
    if (!s.info) return;
    if (!s.labels) {
      this.showNote("The data map needs labels.");
      return;
    }
    const colourKey = this.colourSelect.value || "label";
    this.load(
      async (signal, onProgress) => {
        const n = s.info.n_samples;
        const ids = Int32Array.from({ length: n }, (_, i) => i);
        const [x, y, colour] = await Promise.all([
          columnValues(s, "variability", null, { signal, onProgress }),
          columnValues(s, "confidence", null, { signal }),
          colourFor(s, colourKey, ids, { signal }),
        ]);
        return { ids, x, y, colour };
      },
      async ({ ids, x, y, colour }) => {
        this.ids = ids;
        this.x = x;
        this.y = y;
        this.colour = colour;
        let hi = 0;
        for (let i = 0; i < x.length; i++) if (Number.isFinite(x[i]) && x[i] > hi) hi = x[i];
        await this.plot.draw({
          x, y, colour,
          domain: { x: [0, (hi || 0.5) * 1.04], y: [-0.02, 1.02] },
          titles: { x: "variability", y: "confidence" },
        });
        this.highlight(this.store.state);
        mark("datamapDrawn");
      },
    );
  }

  highlight(s) {
    if (!this.ids) return;
    // Sample ids are the positions here (every sample is drawn, in id order).
    this.plot.setHighlight(s.selection.length < this.ids.length ? s.selection : null);
  }
}
