// View 2: the sample picker — a paginated thumbnail grid and selection tools
// (one by one, all, none, invert, by class, top-k of a per-sample measure).

import { View } from "../view.js";
import { sampleTable } from "../data.js";
import { sprite, hasThumbs } from "../thumbs.js";
import { el, int, fmt, classColour, indexOfSorted, pageRange } from "../util.js";

export const PAGE_SIZE = 200;
const THUMB = 32;

// Measures offered for top-k, with what their extremes mean.
const MEASURES = [
  ["aum", "AUM (low: suspected mislabeled)"],
  ["neighbour_stability", "neighbour stability"],
  ["confidence", "confidence"],
  ["variability", "variability"],
  ["correctness", "correctness"],
  ["forgetting_events", "forgetting events"],
  ["entropy_mean", "mean entropy"],
  ["entropy_last", "entropy at the end"],
  ["first_learned", "first learned"],
];
const NOT_MEASURES = new Set(["id", "label", "prediction"]);

export class PickerView extends View {
  constructor(store, actions) {
    super("picker", store, actions);
    this.page = 0;
    this.grid = document.getElementById("thumb-grid");
    this.noThumbs = new Set(); // runs whose inputs are not images
    this.lastClicked = null;
    // The last top-k pick, in rank order: {ids, values, measure, name, order, version}; the
    // grid shows the selection in this order while the selection is still that pick.
    this.ranked = null;
    this.fillMeasures(MEASURES.map(([v, t]) => [v, t]));

    const $ = (id) => document.getElementById(id);
    $("pick-all").addEventListener("click", () => this.selectAll());
    $("pick-none").addEventListener("click", () => actions.setSelection([]));
    $("pick-invert").addEventListener("click", () => this.invert());
    $("pick-class").addEventListener("change", (e) => {
      if (e.target.value !== "") this.selectClass(+e.target.value);
    });
    $("pick-top").addEventListener("click", () => this.selectTop());
    $("page-prev").addEventListener("click", () => this.goto(this.page - 1));
    $("page-next").addEventListener("click", () => this.goto(this.page + 1));
    $("page-selected-only").addEventListener("change", () => this.goto(0));

    store.on(["info"], (s) => {
      this.page = 0;
      this.fillClasses(s);
    });
    store.on(["info", "selection", "primed"], () => this.renderPage());
  }

  fillMeasures(pairs) {
    const select = document.getElementById("pick-measure");
    const current = select.value || "aum";
    select.replaceChildren(...pairs.map(([v, t]) => el("option", { value: v }, t)));
    if (pairs.some(([v]) => v === current)) select.value = current;
  }

  fillClasses(s) {
    const select = document.getElementById("pick-class");
    const names = s.classNames || [];
    select.replaceChildren(
      el("option", { value: "" }, "—"),
      ...names.map((name, c) => el("option", { value: String(c) }, name)),
    );
    select.disabled = !s.labels;
  }

  // ------------------------------------------------------------------ selection tools
  selectAll() {
    const n = this.store.state.info.n_samples;
    this.actions.setSelection(Int32Array.from({ length: n }, (_, i) => i));
  }

  invert() {
    const s = this.store.state;
    const out = [];
    for (let i = 0; i < s.info.n_samples; i++) if (indexOfSorted(s.selection, i) < 0) out.push(i);
    this.actions.setSelection(out);
  }

  selectClass(c) {
    const labels = this.store.state.labels;
    if (!labels) return;
    const out = [];
    for (let i = 0; i < labels.length; i++) if (labels[i] === c) out.push(i);
    document.getElementById("pick-class").value = String(c);
    this.actions.setSelection(out);
  }

  async selectTop() {
    const s = this.store.state;
    const measure = document.getElementById("pick-measure").value;
    const order = document.getElementById("pick-order").value;
    const k = Math.max(1, Number.parseInt(document.getElementById("pick-k").value, 10) || 50);
    await this.load(
      (signal, onProgress) => sampleTable(s.run, s.info, onProgress),
      (table) => {
        const numeric = table.columns.filter((c) => !NOT_MEASURES.has(c));
        this.fillMeasures(numeric.map((c) => [c, MEASURES.find(([v]) => v === c)?.[1] || c.replace(/_/g, " ")]));
        const values = table.data[measure];
        if (!values) throw new Error(`The per-sample table has no column '${measure}'.`);
        const ids = table.data.id;
        const order_ = [];
        for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i])) order_.push(i);
        order_.sort((x, y) => (order === "asc" ? values[x] - values[y] : values[y] - values[x]) || ids[x] - ids[y]);
        const top = order_.slice(0, k);
        const picked = top.map((i) => ids[i]);
        const name = MEASURES.find(([v]) => v === measure)?.[1].replace(/ \(.*\)$/, "") || measure.replace(/_/g, " ");
        this.actions.setSelection(picked);
        this.ranked = {
          ids: Int32Array.from(picked), values: Float64Array.from(top, (i) => values[i]),
          measure, name, order, version: this.store.get("selectionVersion"),
        };
        // The grid shows the pick, in rank order, from its first page (until the selection
        // is changed other than by clicking its thumbnails).
        this.page = 0;
        this.showNote(`Selected the ${int(picked.length)} samples with the ${order === "asc" ? "lowest" : "highest"} ${name}, shown in rank order.`);
      },
    );
  }

  // ------------------------------------------------------------------ grid
  /** The top-k pick in rank order, while the selection is still that pick. */
  rankedPick() {
    const r = this.ranked;
    return r && r.version === this.store.state.selectionVersion ? r : null;
  }

  universe() {
    const s = this.store.state;
    const ranked = this.rankedPick();
    if (ranked) return ranked.ids;
    if (document.getElementById("page-selected-only").checked) return s.selection;
    return null; // all ids 0..N-1
  }

  goto(page) {
    this.page = page;
    this.renderPage();
  }

  pageIds() {
    const s = this.store.state;
    const universe = this.universe();
    const total = universe ? universe.length : s.info.n_samples;
    const { pages, start, end, page } = pageRange(total, this.page, PAGE_SIZE);
    this.page = page;
    const ids = new Int32Array(Math.max(0, end - start));
    for (let i = start; i < end; i++) ids[i - start] = universe ? universe[i] : i;
    return { ids, pages, total, start, end };
  }

  async renderPage() {
    const s = this.store.state;
    if (!s.info || !s.primed) return;
    const { ids, pages, total, start, end } = this.pageIds();
    document.getElementById("page-info").textContent = total
      ? `${int(start + 1)}–${int(end)} of ${int(total)} · page ${this.page + 1}/${pages}`
      : "nothing to show";
    document.getElementById("page-prev").disabled = this.page === 0;
    document.getElementById("page-next").disabled = this.page >= pages - 1;
    const note = document.getElementById("selection-note");
    note.textContent = s.selectionIsDefault && s.selection.length < s.info.n_samples
      ? `default selection: ${int(s.selection.length)} samples spread over the run`
      : "";

    const ranked = this.rankedPick();
    const caption = document.getElementById("grid-order");
    caption.hidden = !ranked;
    caption.replaceChildren();
    if (ranked) {
      const back = el("button", { type: "button", class: "ghost", id: "grid-id-order" }, "show all in id order");
      back.addEventListener("click", () => {
        this.ranked = null;
        this.goto(0);
      });
      caption.append(
        `The pick in rank order: ${ranked.order === "asc" ? "lowest" : "highest"} ${ranked.name} first ` +
          "(the number in a corner is the rank; hover for the value). ",
        back,
      );
    }
    let checksum = 0;
    for (const id of ids) checksum = (checksum * 31 + id) | 0;
    const key = `${s.run}|${ids.length}|${checksum}`;
    const useThumbs = hasThumbs(s.info) && !this.noThumbs.has(s.run);
    if (this.gridKey === key && this.gridThumbs === useThumbs) {
      this.markSelection();
      return;
    }
    await this.load(
      async (signal) => {
        if (!useThumbs || !ids.length) return null;
        try {
          return await sprite(s.run, ids, THUMB, signal);
        } catch (err) {
          if (err.status === 404) {
            this.noThumbs.add(s.run);
            return null;
          }
          throw err;
        }
      },
      (sheet) => {
        this.gridKey = key;
        this.gridThumbs = useThumbs;
        if (this.sheetURL) URL.revokeObjectURL(this.sheetURL);
        this.sheetURL = sheet?.url;
        this.buildGrid(ids, sheet);
        this.markSelection();
      },
    );
  }

  buildGrid(ids, sheet) {
    const s = this.store.state;
    const cells = [];
    const cell = 36; // CSS size of a cell's image
    const ranked = this.rankedPick();
    const first = this.page * PAGE_SIZE;
    ids.forEach((id, i) => {
      const label = s.labels ? s.labels[id] : -1;
      const name = label >= 0 ? s.classNames[label] ?? String(label) : "?";
      const rank = ranked ? first + i + 1 : null;
      const attrs = {
        class: sheet ? "thumb" : "thumb plain",
        dataset: rank ? { id: String(id), rank: String(rank) } : { id: String(id) },
        title: rank ? `#${id} · ${name} · rank ${rank} · ${ranked.name} ${fmt(ranked.values[first + i], 4)}` : `#${id} · ${name}`,
        style: { "--class": classColour(label) },
        role: "checkbox",
      };
      const node = el("div", attrs);
      if (sheet) {
        const r = Math.floor(i / sheet.columns);
        const c = i % sheet.columns;
        node.style.backgroundImage = `url(${sheet.url})`;
        node.style.backgroundSize = `${sheet.columns * cell}px auto`;
        node.style.backgroundPosition = `${-c * cell}px ${-r * cell}px`;
      } else {
        node.append(el("span", {}, String(id)));
      }
      if (rank) node.append(el("b", { class: "rank" }, String(rank)));
      cells.push(node);
    });
    this.grid.replaceChildren(...cells);
    this.grid.onclick = (e) => {
      const node = e.target.closest(".thumb");
      if (node) this.toggle(+node.dataset.id, e.shiftKey);
    };
    this.grid.ondblclick = (e) => {
      const node = e.target.closest(".thumb");
      if (node) this.actions.focus(+node.dataset.id);
    };
  }

  markSelection() {
    const sel = this.store.state.selection;
    for (const node of this.grid.children) {
      const on = indexOfSorted(sel, +node.dataset.id) >= 0;
      node.classList.toggle("sel", on);
      node.setAttribute("aria-checked", on ? "true" : "false");
    }
  }

  toggle(id, range) {
    const s = this.store.state;
    const set = new Set(s.selection);
    const on = !set.has(id);
    if (range && this.lastClicked !== null) {
      const ids = [...this.grid.children].map((n) => +n.dataset.id);
      const i0 = ids.indexOf(this.lastClicked);
      const i1 = ids.indexOf(id);
      if (i0 >= 0 && i1 >= 0) {
        for (let i = Math.min(i0, i1); i <= Math.max(i0, i1); i++) {
          if (on) set.add(ids[i]);
          else set.delete(ids[i]);
        }
      }
    } else if (on) set.add(id);
    else set.delete(id);
    this.lastClicked = id;
    const ranked = this.rankedPick();
    this.actions.setSelection([...set]);
    // Clicking thumbnails of a ranked pick keeps its order on screen.
    if (ranked) ranked.version = this.store.get("selectionVersion");
  }
}
