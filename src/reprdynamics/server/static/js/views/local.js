// View 5: one sample at a and at b with its k nearest neighbours placed around it, at a
// radius proportional to their distance. A neighbour keeps its direction in both panels
// (so the eye sees who stayed); neighbours that changed between a and b are highlighted.

import { getJSON, runPath } from "../api.js";
import { View } from "../view.js";
import { thumbURL, hasThumbs } from "../thumbs.js";
import { el, svg, fmt, int, classColour, indexOfSorted } from "../util.js";

const W = 420;
const H = 360;
const CENTRE = 64;
const NEIGHBOUR = 40;
const R_MIN = 50;
const R_MAX = 150;

export class LocalView extends View {
  constructor(store, actions) {
    super("local", store, actions);
    this.panels = document.getElementById("local-panels");
    this.title = document.getElementById("local-title");
    this.scope = document.getElementById("local-scope");
    this.allToggle = document.getElementById("local-all");
    this.allToggle.addEventListener("change", () => store.set({ localAll: this.allToggle.checked }));
    store.on(["info", "selection", "localAll"], (s) => this.syncToggle(s));
    // A new run clears the view; new snapshots of the same run keep the sample open.
    store.on(["run"], () => this.reset());
    store.on(["focus", "a", "b", "k", "layer", "selection", "primed", "info", "localAll"], (s) => this.reload(s));
  }

  /** The toggle "among all samples": checked when asked for, or when all are selected. */
  syncToggle(s) {
    if (!s.info) return;
    const all = s.selection.length === s.info.n_samples;
    this.allToggle.checked = all || Boolean(s.localAll);
    this.allToggle.disabled = all;
  }

  /**
   * Where the neighbours are searched: {samples (the selection) or null (all samples),
   * text}. The sample itself is always a point of the search, selected or not.
   */
  searchScope(s) {
    const n = s.selection.length;
    const N = s.info.n_samples;
    if (n === N) return { samples: null, text: `among all ${int(N)} samples` };
    if (s.localAll) return { samples: null, text: `among all ${int(N)} samples (not only the ${int(n)} selected)` };
    if (n < 2 || indexOfSorted(s.selection, s.focus) < 0) {
      return { samples: null, text: `among all ${int(N)} samples: #${s.focus} is not in the selection` };
    }
    return { samples: s.selection, text: `among the ${int(n)} selected samples` };
  }

  reset() {
    this.cancel();
    this.title.textContent = "—";
    this.scope.textContent = "";
    delete this.scope.dataset.scope;
    this.panels.replaceChildren(el("p", { class: "empty" }, "Click a sample in the scatter (or double-click a thumbnail) to see its neighbours at a and b."));
  }

  reload(s) {
    if (s.info && !s.primed) return;
    if (!s.info || s.focus === null || s.focus === undefined) {
      if (s.info) this.reset();
      return;
    }
    const scope = this.searchScope(s);
    const points = scope.samples ? scope.samples.length : s.info.n_samples;
    const params = { id: s.focus, a: s.a, b: s.b, k: Math.max(1, Math.min(s.k, points - 1)) };
    if (s.layer) params.layer = s.layer;
    if (scope.samples) params.samples = scope.samples;
    this.load(
      (signal, onProgress) => getJSON(runPath(s.run, "/local"), params, { signal, onProgress }),
      (res) => {
        this.render(s, res, params);
        const layer = res.layer || params.layer || s.info.output_layer;
        this.scope.textContent = `k = ${res.a.neighbours.length} nearest ${scope.text}, by euclidean distance in ${layer}` +
          ` (the same neighbours as the neighbour fingerprints).`;
        this.scope.dataset.scope = scope.samples ? "selection" : "all";
        if (params.k !== s.k) this.showNote(`k lowered to ${params.k}: the search has ${int(points)} samples.`);
      },
    );
  }

  labelName(s, label) {
    return label >= 0 ? s.classNames[label] ?? String(label) : "?";
  }

  render(s, res, params) {
    this.title.textContent = `#${res.id} (${this.labelName(s, res.label)})`
      + (typeof res.overlap === "number" ? ` · ${Math.round(res.overlap * res.a.neighbours.length)} of ${res.a.neighbours.length} neighbours kept` : "");
    const thumbs = hasThumbs(s.info);
    // Neighbours at a spread around the circle by rank; at b a neighbour that stayed
    // keeps its direction and the newcomers take the directions of those that left.
    const angleOf = { a: new Map(), b: new Map() };
    const nbA = res.a.neighbours;
    const nbB = res.b.neighbours;
    const slots = Math.max(nbA.length, nbB.length, 1);
    nbA.forEach((nb, rank) => angleOf.a.set(nb.id, rank));
    const used = new Set();
    for (const nb of nbB) {
      if (angleOf.a.has(nb.id)) {
        angleOf.b.set(nb.id, angleOf.a.get(nb.id));
        used.add(angleOf.a.get(nb.id));
      }
    }
    const free = [...Array(slots).keys()].filter((slot) => !used.has(slot));
    for (const nb of nbB) if (!angleOf.b.has(nb.id)) angleOf.b.set(nb.id, free.shift());
    const dMax = Math.max(1e-12, ...["a", "b"].flatMap((side) => res[side].neighbours.map((nb) => nb.distance)));
    const panels = ["a", "b"].map((side) => this.panel(s, res, side, { angleOf: angleOf[side], slots, dMax, thumbs }));
    const lists = ["a", "b"].map((side) => this.list(s, res, side));
    this.panels.replaceChildren(
      ...panels.map((panel, i) => el("div", { class: "local-panel" }, panel, lists[i])),
    );
    this.panels.dataset.id = String(res.id);
    this.panels.dataset.k = String(params.k);
  }

  panel(s, res, side, { angleOf, slots, dMax, thumbs }) {
    const part = res[side];
    const t = part.snapshot;
    const epoch = s.info.epochs?.[t];
    const cx = W / 2;
    const cy = H / 2;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "local-svg", role: "img", "aria-label": `neighbours at ${side}`, "data-side": side });
    root.append(
      svg("circle", { cx, cy, r: R_MAX, class: "ring" }),
      svg("circle", { cx, cy, r: R_MAX / 2, class: "ring" }),
      svg("text", { x: cx + R_MAX * 0.71 + 4, y: cy + R_MAX * 0.71 + 12, class: "scale" }, `d = ${fmt(dMax, 3)}`),
      svg("text", { x: cx + R_MAX * 0.354 + 4, y: cy + R_MAX * 0.354 + 12, class: "scale" }, fmt(dMax / 2, 3)),
    );
    const nodes = [];
    part.neighbours.forEach((nb, rank) => {
      const angle = -Math.PI / 2 + (2 * Math.PI * angleOf.get(nb.id)) / slots;
      // Radius proportional to the distance (kept clear of the sample in the centre).
      const r = Math.max(R_MIN, (R_MAX * nb.distance) / dMax);
      const x = cx + r * Math.cos(angle);
      const y = cy + r * Math.sin(angle);
      const colour = classColour(nb.label);
      root.append(svg("line", { x1: cx, y1: cy, x2: x, y2: y, class: nb.changed ? "spoke changed" : "spoke" }));
      const g = svg("g", {
        class: nb.changed ? "nb changed" : "nb",
        transform: `translate(${x.toFixed(1)},${y.toFixed(1)})`,
        "data-id": nb.id, "data-distance": nb.distance, "data-changed": nb.changed ? "1" : "0", "data-rank": rank,
        onclick: () => this.actions.focus(nb.id),
      });
      g.append(svg("title", {}, `#${nb.id} · ${this.labelName(s, nb.label)} · distance ${fmt(nb.distance, 4)}${nb.changed ? (side === "a" ? " · not a neighbour at b" : " · not a neighbour at a") : ""}`));
      const half = NEIGHBOUR / 2;
      if (thumbs) {
        g.append(svg("image", { href: thumbURL(s.run, nb.id, 64), x: -half, y: -half, width: NEIGHBOUR, height: NEIGHBOUR, style: "image-rendering: pixelated" }));
        g.append(svg("rect", { x: -half - 2, y: -half - 2, width: NEIGHBOUR + 4, height: NEIGHBOUR + 4, class: "frame", stroke: colour }));
      } else {
        g.append(svg("circle", { r: 14, fill: colour, class: "dot" }));
        g.append(svg("text", { y: 4, "text-anchor": "middle", class: "dot-id" }, String(nb.id)));
      }
      g.append(svg("text", { y: half + 13, "text-anchor": "middle", class: "nb-label" }, this.labelName(s, nb.label)));
      nodes.push(g);
    });
    root.append(...nodes);
    const centre = svg("g", { transform: `translate(${cx},${cy})`, class: "centre" });
    const half = CENTRE / 2;
    const colour = classColour(res.label);
    if (thumbs) {
      centre.append(svg("image", { href: thumbURL(s.run, res.id, 64), x: -half, y: -half, width: CENTRE, height: CENTRE, style: "image-rendering: pixelated" }));
      centre.append(svg("rect", { x: -half - 3, y: -half - 3, width: CENTRE + 6, height: CENTRE + 6, class: "frame centre-frame", stroke: colour }));
    } else {
      centre.append(svg("circle", { r: 24, fill: colour, class: "dot" }), svg("text", { y: 5, "text-anchor": "middle", class: "dot-id big" }, String(res.id)));
    }
    root.append(centre);
    root.append(svg("text", { x: 10, y: 22, class: "panel-title" }, `${side} · ${epoch === null || epoch === undefined ? `#${t}` : `epoch ${epoch}`}`));
    if (part.prediction !== undefined && part.prediction !== null && part.prediction >= 0) {
      const right = part.prediction === res.label;
      root.append(svg("text", { x: 10, y: 40, class: right ? "panel-sub" : "panel-sub wrong" },
        `predicted ${this.labelName(s, part.prediction)}${res.label >= 0 ? (right ? " ✓" : " ✗") : ""}`));
    }
    return root;
  }

  list(s, res, side) {
    const rows = res[side].neighbours.map((nb, rank) =>
      el("tr", { class: nb.changed ? "changed" : "", dataset: { id: String(nb.id) }, onclick: () => this.actions.focus(nb.id) },
        el("td", {}, String(rank + 1)),
        el("td", {}, `#${nb.id}`),
        el("td", {}, el("span", { class: "swatch", style: { background: classColour(nb.label) } }), this.labelName(s, nb.label)),
        el("td", { class: "num" }, fmt(nb.distance, 4)),
        el("td", {}, nb.changed ? (side === "a" ? "gone at b" : "new at b") : ""),
      ),
    );
    return el("table", { class: "data compact nb-list" },
      el("thead", {}, el("tr", {}, ...["", "id", "label", "distance", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows));
  }
}
