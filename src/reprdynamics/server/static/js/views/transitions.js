// View 6: the NNTF class-transition matrix Δ between a and b.

import { getJSON, runPath } from "../api.js";
import { View } from "../view.js";
import { baseLayout, PLOT_CONFIG, INFERNO } from "../util.js";

export class TransitionsView extends View {
  constructor(store, actions) {
    super("transitions", store, actions);
    this.plot = document.getElementById("transition-plot");
    this.diagonal = document.getElementById("tr-diagonal");
    this.diagonal.addEventListener("change", () => this.last && this.draw(this.last));
    store.on(["info", "selection", "a", "b", "primed"], (s) => this.reload(s));
    store.on(["theme"], () => this.last && this.draw(this.last));
  }

  reload(s) {
    if (!s.info || !s.primed) return;
    if (!s.labels && s.info.kind === "features") {
      this.cancel();
      this.showNote("Class transitions need predictions (a run of logits or probabilities).");
      return;
    }
    if (!s.selection.length) {
      this.cancel();
      Plotly.purge(this.plot);
      this.showNote("Nothing selected.");
      return;
    }
    const params = { a: s.a, b: s.b };
    if (s.selection.length !== s.info.n_samples) params.samples = s.selection;
    this.load(
      (signal, onProgress) => getJSON(runPath(s.run, "/transitions"), params, { signal, onProgress }),
      (res) => {
        this.last = { res, s: { ...s } };
        this.draw(this.last);
      },
    );
  }

  draw({ res, s }) {
    const names = res.class_names || res.matrix.map((_, c) => String(c));
    const showDiagonal = this.diagonal.checked;
    // Empty cells (and the diagonal unless asked for) stay blank: the eye goes to the moves.
    const z = res.matrix.map((row, i) => row.map((v, j) => ((i === j && !showDiagonal) || v === 0 ? null : v)));
    const text = res.matrix.map((row) => row.map((v) => (v ? String(v) : "")));
    const C = names.length;
    const epoch = (t) => {
      const e = s.info.epochs?.[t];
      return e === null || e === undefined ? `#${t}` : `epoch ${e}`;
    };
    const trace = {
      type: "heatmap",
      z,
      x: names,
      y: names,
      text,
      texttemplate: C <= 15 ? "%{text}" : undefined,
      textfont: { size: 10 },
      colorscale: INFERNO,
      zmin: 0,
      hovertemplate: "%{y} → %{x}: %{text} samples<extra></extra>",
      colorbar: { title: { text: "samples", side: "right" }, thickness: 12, outlinewidth: 0 },
      xgap: 1,
      ygap: 1,
    };
    const layout = baseLayout({
      margin: { l: 64, r: 8, t: 8, b: 56 },
      xaxis: { title: { text: `class at b (${epoch(s.b)})` }, type: "category", constrain: "domain", showgrid: false },
      yaxis: { title: { text: `class at a (${epoch(s.a)})` }, type: "category", autorange: "reversed", scaleanchor: "x", constrain: "domain", showgrid: false },
    });
    Plotly.react(this.plot, [trace], layout, PLOT_CONFIG);
    const moved = res.matrix.reduce((acc, row, i) => acc + row.reduce((x, v, j) => x + (i === j ? 0 : v), 0), 0);
    const total = res.matrix.flat().reduce((x, v) => x + v, 0);
    this.showNote(`${moved} of ${total} selected samples change predicted class between a and b${showDiagonal ? "" : " (diagonal hidden)"}.`);
  }
}
