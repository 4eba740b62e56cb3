// View 9: two runs with the same samples side by side — their fingerprints (on one colour
// scale) and RQA tables.

import { getJSON, decodeCompact, toRows } from "../api.js";
import { View } from "../view.js";
import { heatmapTrace, heatmapLayout, KIND_NAMES, USES_K } from "./heatmap.js";
import { renderRQA } from "./transitions.js";
import { el, PLOT_CONFIG } from "../util.js";

export class CompareView extends View {
  constructor(store, actions) {
    super("compare");
    this.store = store;
    this.select = document.getElementById("compare-run");
    this.bodyNode = document.getElementById("compare-body");
    this.select.addEventListener("change", () => this.reload(this.store.state));
    store.on(["runs", "info"], (s) => this.fill(s));
    store.on(["kind", "k"], (s) => this.select.value && this.reload(s));
    store.on(["theme"], () => this.last && this.draw(this.last));
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
      this.bodyNode.replaceChildren(el("p", { class: "empty" }, others.length
        ? "Choose a second run over the same samples to compare fingerprints and recurrence."
        : `No other run under this root has ${s.info.n_samples} samples.`));
    }
  }

  reload(s) {
    const other = this.select.value;
    if (!other || !s.run) return;
    const params = { a: s.run, b: other, kind: s.kind };
    if (USES_K.has(s.kind)) params.k = s.k;
    this.load(
      (signal, onProgress) => getJSON("/api/compare", params, { signal, onProgress }),
      (res) => {
        this.last = { res, names: [s.run, other], kind: s.kind };
        this.draw(this.last);
      },
    );
  }

  draw({ res, names, kind }) {
    const sides = ["a", "b"].map((side) => {
      const fp = res[side].fingerprint;
      const flat = decodeCompact(fp.matrix);
      return { ...fp, flat, z: toRows(flat, fp.matrix.shape) };
    });
    const zmax = Math.max(...sides.map((fp) => fp.flat.reduce((m, v) => (v > m ? v : m), 0)), 1e-9);
    const columns = sides.map((fp, i) => {
      const plot = el("div", { class: "plot plot-square", id: `compare-plot-${i}` });
      const column = el("div", { class: "compare-col" }, el("h3", {}, names[i]), plot, renderRQA(res[["a", "b"][i]], KIND_NAMES[kind] || kind));
      return { fp, plot, column };
    });
    this.bodyNode.replaceChildren(...columns.map((c) => c.column));
    for (const { fp, plot } of columns) {
      const trace = { ...heatmapTrace(fp, { colorbarTitle: "" }), zmax, showscale: plot.id.endsWith("1") };
      Plotly.react(plot, [trace], heatmapLayout(fp), PLOT_CONFIG);
    }
  }
}
