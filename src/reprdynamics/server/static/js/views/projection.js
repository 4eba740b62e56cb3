// View 8: the 2-D projection over time (one PCA fitted on all snapshots) with a snapshot
// slider, a play button, and trails through past positions for the selected samples.

import { getJSON, runPath, decodeCompact } from "../api.js";
import { View } from "../view.js";
import { whenVisible } from "../data.js";
import { baseLayout, PLOT_CONFIG, classColour, cssVar, indexOfSorted, int } from "../util.js";

/** Runs up to this size are projected whole; larger ones project the selection. */
export const PROJECT_ALL_MAX = 10000;
const MAX_TRAILS = 100;

export class ProjectionView extends View {
  constructor(store, actions) {
    super("projection");
    this.store = store;
    this.actions = actions;
    this.plot = document.getElementById("projection-plot");
    this.slider = document.getElementById("proj-slider");
    this.label = document.getElementById("proj-label");
    this.play = document.getElementById("proj-play");
    this.trails = document.getElementById("proj-trails");
    this.data = null;
    this.t = 0;
    this.timer = null;
    this.visible = false;
    this.slider.addEventListener("input", () => this.show(+this.slider.value));
    this.play.addEventListener("click", () => this.toggle());
    this.trails.addEventListener("change", () => this.show(this.t));
    whenVisible(this.card, () => {
      this.visible = true;
      this.reload(this.store.state);
    });
    store.on(["info", "layer"], (s) => this.visible && this.reload(s));
    store.on(["selection"], (s) => {
      if (!this.visible) return;
      if (this.baseIsSelection(s)) this.reload(s);
      else if (this.data) this.show(this.t);
    });
    store.on(["b"], (s) => {
      const i = this.data?.snapshots.indexOf(s.b);
      if (i >= 0 && !this.timer) this.show(i);
    });
    store.on(["theme"], () => this.data && this.show(this.t));
  }

  baseIsSelection(s) {
    return s.info && s.info.n_samples > PROJECT_ALL_MAX;
  }

  reload(s) {
    if (!s.info) return;
    this.stop();
    const params = {};
    if (s.layer) params.layer = s.layer;
    if (this.baseIsSelection(s)) {
      if (s.selection.length < 3) {
        this.cancel();
        this.showNote("Select at least three samples to project.");
        return;
      }
      params.samples = s.selection;
    }
    this.load(
      (signal, onProgress) => getJSON(runPath(s.run, "/projection"), params, { signal, onProgress }),
      (res) => {
        const coords = decodeCompact(res.coords);
        const ids = decodeCompact(res.ids);
        const [T, n] = res.coords.shape;
        let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
        for (let i = 0; i < coords.length; i += 2) {
          const x = coords[i];
          const y = coords[i + 1];
          if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
          if (y < y0) y0 = y;
          if (y > y1) y1 = y;
        }
        const px = (x1 - x0 || 1) * 0.04;
        const py = (y1 - y0 || 1) * 0.04;
        this.data = {
          run: s.run, coords, ids, T, n, snapshots: res.snapshots,
          evr: res.explained_variance_ratio || [],
          xrange: [x0 - px, x1 + px], yrange: [y0 - py, y1 + py],
        };
        this.slider.max = String(T - 1);
        const start = res.snapshots.indexOf(s.b);
        this.show(start >= 0 ? start : T - 1);
      },
    );
  }

  /** Positions of snapshot index t: {x, y} plain arrays over the projected ids. */
  positions(t) {
    const { coords, n } = this.data;
    const x = new Array(n);
    const y = new Array(n);
    const base = t * n * 2;
    for (let i = 0; i < n; i++) {
      x[i] = coords[base + 2 * i];
      y[i] = coords[base + 2 * i + 1];
    }
    return { x, y };
  }

  show(t) {
    const d = this.data;
    if (!d) return;
    const s = this.store.state;
    this.t = Math.max(0, Math.min(d.T - 1, t));
    this.slider.value = String(this.t);
    const snap = d.snapshots[this.t];
    const epoch = s.info.epochs?.[snap];
    this.label.textContent = `${epoch === null || epoch === undefined ? `#${snap}` : `epoch ${epoch}`} (${this.t + 1}/${d.T})`;
    const { x, y } = this.positions(this.t);
    const ids = Array.from(d.ids);
    const big = d.n > 3000;
    const labels = s.labels;
    const colour = ids.map((id) => classColour(labels ? labels[id] : -1));
    const traces = [{
      type: big ? "scattergl" : "scatter",
      mode: "markers",
      x, y,
      customdata: ids,
      text: ids.map((id) => `#${id} · ${labels && labels[id] >= 0 ? s.classNames[labels[id]] ?? labels[id] : "?"}`),
      marker: { size: big ? 4 : 6, color: colour, opacity: 0.7 },
      hovertemplate: "%{text}<extra></extra>",
      name: "samples",
      showlegend: false,
    }];
    // Trails: the selected samples' paths up to snapshot t (one trace, null-separated).
    const positions = [];
    const all = s.selection.length === s.info.n_samples;
    if (!all) {
      for (const id of s.selection) {
        const p = indexOfSorted(d.ids, id);
        if (p >= 0) positions.push(p);
        if (positions.length >= MAX_TRAILS) break;
      }
    } else if (s.focus !== null && s.focus !== undefined) {
      const p = indexOfSorted(d.ids, s.focus);
      if (p >= 0) positions.push(p);
    }
    if (this.trails.checked && positions.length) {
      const tx = [];
      const ty = [];
      for (const p of positions) {
        for (let u = 0; u <= this.t; u++) {
          tx.push(d.coords[(u * d.n + p) * 2]);
          ty.push(d.coords[(u * d.n + p) * 2 + 1]);
        }
        tx.push(null);
        ty.push(null);
      }
      traces.push({
        type: "scatter", mode: "lines", x: tx, y: ty, hoverinfo: "skip", showlegend: false, name: "trails",
        line: { color: cssVar("--accent"), width: 1.2 }, opacity: 0.65,
      });
      traces.push({
        type: "scatter", mode: "markers", x: positions.map((p) => x[p]), y: positions.map((p) => y[p]),
        hoverinfo: "skip", showlegend: false, name: "selected now",
        marker: { size: 9, color: "rgba(0,0,0,0)", line: { width: 1.6, color: cssVar("--accent") } },
      });
    }
    const evr = d.evr.map((v) => `${(100 * v).toFixed(1)} %`);
    const layout = baseLayout({
      margin: { l: 48, r: 8, t: 8, b: 44 },
      xaxis: { title: { text: `PC 1${evr[0] ? ` (${evr[0]})` : ""}` }, range: d.xrange, zeroline: false },
      yaxis: { title: { text: `PC 2${evr[1] ? ` (${evr[1]})` : ""}` }, range: d.yrange, zeroline: false },
      hovermode: "closest",
      uirevision: d.run,
    });
    Plotly.react(this.plot, traces, layout, PLOT_CONFIG);
    this.card.dataset.t = String(this.t);
    if (positions.length < s.selection.length && !all && this.trails.checked) {
      this.showNote(`Trails for the first ${int(positions.length)} of ${int(s.selection.length)} selected samples.`);
    } else if (this.card.dataset.state !== "loading") {
      this.clearStatus();
    }
    if (!this.bound) {
      this.bound = true;
      this.plot.on("plotly_click", (ev) => {
        const p = ev.points?.find((q) => q.curveNumber === 0);
        if (p) this.actions.focus(p.customdata);
      });
    }
  }

  toggle() {
    if (this.timer) this.stop();
    else this.start();
  }

  start() {
    if (!this.data) return;
    if (this.t >= this.data.T - 1) this.show(0);
    this.play.textContent = "❚❚";
    this.play.setAttribute("aria-label", "pause");
    this.timer = setInterval(() => {
      this.show(this.t + 1);
      if (this.t >= this.data.T - 1) this.stop();
    }, 500);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.play.textContent = "▶";
    this.play.setAttribute("aria-label", "play");
  }
}
