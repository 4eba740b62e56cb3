// View 4: the selection placed by a per-sample measure at a (x) and at b (y), drawn with
// image thumbnails framed in their label's (or correctness') colour; markers for large
// selections or runs without images. Click a sample: it opens in the local view.

import { getJSON, runPath, decodeCompact } from "../api.js";
import { View } from "../view.js";
import { cropURLs, hasThumbs } from "../thumbs.js";
import { baseLayout, PLOT_CONFIG, classColour, CORRECTNESS, cssVar } from "../util.js";

/** Above this many points the scatter shows markers instead of thumbnails. */
export const MAX_THUMBNAILS = 300;
const THUMB_PX = 26;
/** Measures of selections up to this size are fetched ahead for every snapshot. */
const PREFETCH_MAX = 20000; // drawn size of a thumbnail, in screen pixels
const MEASURE_TITLES = {
  entropy: "entropy of the prediction",
  confidence: "p(label)",
  margin: "margin (logit of label − best other)",
  loss: "cross-entropy loss",
  correct: "correct",
};

export class ScatterView extends View {
  constructor(store, actions) {
    super("scatter-card");
    this.store = store;
    this.actions = actions;
    this.plot = document.getElementById("scatter");
    this.cache = new Map(); // `${selectionVersion}|${name}|${t}` -> {ids, values}
    this.noThumbs = new Set();
    const measure = document.getElementById("sc-measure");
    const colour = document.getElementById("sc-color");
    measure.addEventListener("change", () => store.set({ measure: measure.value }));
    colour.addEventListener("change", () => store.set({ color: colour.value }));
    store.on(["measure", "color"], (s) => {
      measure.value = s.measure;
      colour.value = s.color;
    });
    store.on(["info"], (s) => {
      // Only the measures the run can answer (label measures need labels).
      const available = s.info.measures || (s.labels ? ["entropy", "confidence", "margin", "correct", "loss"] : ["entropy"]);
      colour.querySelector('option[value="correct"]').disabled = !available.includes("correct");
      for (const option of measure.options) option.disabled = !available.includes(option.value);
    });
    store.on(["info", "selection", "a", "b", "measure", "color", "primed"], (s) => this.reload(s));
    store.on(["theme"], (s) => this.last && this.draw(this.last));
  }

  async measureAt(s, name, t, signal) {
    const key = `${s.selectionVersion}|${name}|${t}`;
    let hit = this.cache.get(key);
    if (!hit) {
      const params = { name, snapshot: t };
      if (s.selection.length !== s.info.n_samples) params.samples = s.selection;
      hit = getJSON(runPath(s.run, "/measure"), params, { signal }).then((res) => ({
        ids: decodeCompact(res.ids),
        values: decodeCompact(res.values),
      }));
      this.cache.set(key, hit);
      hit.catch(() => this.cache.delete(key));
      const room = 4 * (s.info.n_snapshots || 0) + 16;
      while (this.cache.size > room) this.cache.delete(this.cache.keys().next().value);
    }
    return hit;
  }

  reload(s) {
    if (!s.info || !s.primed) return;
    if (!s.selection.length) {
      this.cancel();
      Plotly.purge(this.plot);
      this.showNote("Nothing selected.");
      return;
    }
    const available = s.info.measures || ["entropy"];
    const measure = available.includes(s.measure) ? s.measure : available[0];
    const colorBy = available.includes("correct") ? s.color : "label";
    if (!measure) {
      this.cancel();
      Plotly.purge(this.plot);
      this.showNote("This run has no per-sample measure to place samples by (a features run).");
      return;
    }
    const wantThumbs = hasThumbs(s.info) && !this.noThumbs.has(s.run) && s.selection.length <= MAX_THUMBNAILS;
    this.load(
      async (signal) => {
        const jobs = [this.measureAt(s, measure, s.a, signal), this.measureAt(s, measure, s.b, signal)];
        if (colorBy === "correct") {
          jobs.push(this.measureAt(s, "correct", s.a, signal), this.measureAt(s, "correct", s.b, signal));
        }
        const [xa, yb, ca, cb] = await Promise.all(jobs);
        let thumbs = null;
        if (wantThumbs) {
          try {
            thumbs = await cropURLs(s.run, xa.ids, 32, signal);
          } catch (err) {
            if (err.status !== 404) throw err;
            this.noThumbs.add(s.run);
          }
        }
        return { s: { ...s }, measure, colorBy, xa, yb, ca, cb, thumbs };
      },
      async (data) => {
        this.last = data;
        await this.draw(data);
        const marks = window.__rd?.marks;
        if (marks) marks.scatterDrawn = performance.now();
        this.card.dataset.pair = `${s.a},${s.b}`;
        this.prefetch(s, data.measure, data.colorBy);
      },
    );
  }

  /**
   * Fetch the measure at every other snapshot in the background (two at a time), so
   * picking another pair of snapshots redraws at once.
   */
  prefetch(s, measure, colorBy) {
    if (s.selection.length > PREFETCH_MAX) return;
    const names = colorBy === "correct" ? [measure, "correct"] : [measure];
    const complete = s.info.complete || [];
    const queue = [];
    for (const name of names) {
      for (let t = 0; t < s.info.n_snapshots; t++) {
        if (complete[t] !== false && !this.cache.has(`${s.selectionVersion}|${name}|${t}`)) queue.push([name, t]);
      }
    }
    const current = () => {
      const now = this.store.state;
      return now.run === s.run && now.selectionVersion === s.selectionVersion;
    };
    const worker = async () => {
      while (queue.length && current()) {
        const [name, t] = queue.shift();
        try {
          await this.measureAt(s, name, t);
        } catch {
          return; // the view's own request will show the error, if any
        }
      }
    };
    clearTimeout(this.prefetchTimer);
    this.prefetchTimer = setTimeout(() => {
      worker();
      worker();
    }, 250);
  }

  colours(data) {
    const { s, colorBy, xa, ca, cb } = data;
    const n = xa.ids.length;
    const colours = new Array(n);
    const groups = new Map();
    for (let i = 0; i < n; i++) {
      let key;
      let colour;
      if (colorBy === "correct") {
        key = `${ca.values[i] > 0.5 ? 1 : 0},${cb.values[i] > 0.5 ? 1 : 0}`;
        colour = CORRECTNESS[key].colour;
      } else {
        const label = s.labels ? s.labels[xa.ids[i]] : -1;
        key = label;
        colour = classColour(label);
      }
      colours[i] = colour;
      if (!groups.has(key)) groups.set(key, colour);
    }
    return { colours, groups };
  }

  draw(data) {
    const { s, measure, colorBy, xa, yb, thumbs } = data;
    const ids = xa.ids;
    const n = ids.length;
    const x = Array.from(xa.values);
    const y = Array.from(yb.values);
    const { colours, groups } = this.colours(data);
    const labelName = (id) => {
      const l = s.labels ? s.labels[id] : -1;
      return l >= 0 ? s.classNames[l] ?? String(l) : "?";
    };
    const text = Array.from(ids, (id) => `#${id} · ${labelName(id)}`);
    const epoch = (t) => {
      const e = s.info.epochs?.[t];
      return e === null || e === undefined ? `#${t}` : `epoch ${e}`;
    };
    const withThumbs = Boolean(thumbs);
    const main = {
      type: n > 2000 ? "scattergl" : "scatter",
      mode: "markers",
      x,
      y,
      customdata: Array.from(ids),
      text,
      name: "selection",
      showlegend: false,
      hovertemplate: `%{text}<br>a: %{x:.4f}<br>b: %{y:.4f}<extra></extra>`,
      marker: withThumbs
        ? { symbol: "square-open", size: THUMB_PX + 4, color: colours, line: { width: 2, color: colours } }
        : { size: n > 2000 ? 5 : 8, color: colours, opacity: 0.85, line: { width: 0.5, color: cssVar("--bg") } },
    };
    if (!withThumbs && !hasThumbs(s.info) && n <= 60) {
      main.mode = "markers+text";
      main.text = Array.from(ids, String);
      main.textposition = "top center";
      main.textfont = { size: 10, color: cssVar("--muted") };
      main.hovertemplate = `#%{text}<br>a: %{x:.4f}<br>b: %{y:.4f}<extra></extra>`;
    }
    const legend = [...groups.entries()].map(([key, colour]) => ({
      type: "scatter",
      mode: "markers",
      x: [null],
      y: [null],
      name: colorBy === "correct" ? CORRECTNESS[key].name : key >= 0 ? s.classNames[key] ?? String(key) : "unlabelled",
      marker: { size: 9, color: colour, symbol: "square" },
      hoverinfo: "skip",
    }));
    legend.sort((p, q) => String(p.name).localeCompare(String(q.name), undefined, { numeric: true }));

    const finite = (arr) => arr.filter(Number.isFinite);
    const all = finite(x.concat(y));
    let lo = all.length ? Math.min(...all) : 0;
    let hi = all.length ? Math.max(...all) : 1;
    if (measure === "entropy") lo = Math.min(lo, 0);
    const pad = (hi - lo || 1) * 0.06;
    const range = [lo - pad, hi + pad];
    const muted = cssVar("--muted");
    const title = MEASURE_TITLES[measure] || measure;
    const layout = baseLayout({
      margin: { l: 60, r: 8, t: 10, b: 50 },
      xaxis: { title: { text: `${title} at a (${epoch(s.a)})` }, range },
      yaxis: { title: { text: `${title} at b (${epoch(s.b)})` }, range: [...range] },
      shapes: [{ type: "line", x0: range[0], y0: range[0], x1: range[1], y1: range[1], line: { color: muted, width: 1, dash: "dot" }, layer: "below" }],
      legend: { orientation: "v", x: 1.01, xanchor: "left", y: 1, yanchor: "top" },
      dragmode: "zoom",
      hovermode: "closest",
      images: [],
    });
    const drawn = Plotly.react(this.plot, [main, ...legend], layout, PLOT_CONFIG).then(() =>
      withThumbs ? this.placeImages(data) : null,
    );
    if (!this.bound) {
      this.bound = true;
      this.plot.on("plotly_click", (ev) => {
        const p = ev.points?.find((q) => q.curveNumber === 0);
        if (p) this.actions.focus(p.customdata);
      });
      // Thumbnails keep their size on screen when zooming: recompute their data size.
      this.plot.on("plotly_relayout", (ev) => {
        if (this.last?.thumbs && !("images" in ev) && Object.keys(ev).some((k) => k.includes("axis"))) {
          this.placeImages(this.last);
        }
      });
    }
    return drawn;
  }

  placeImages(data) {
    const full = this.plot._fullLayout;
    if (!full) return;
    const { xa, yb, thumbs } = data;
    const xr = full.xaxis.range;
    const yr = full.yaxis.range;
    const sx = (Math.abs(xr[1] - xr[0]) / full.xaxis._length) * THUMB_PX;
    const sy = (Math.abs(yr[1] - yr[0]) / full.yaxis._length) * THUMB_PX;
    const images = [];
    for (let i = 0; i < xa.ids.length; i++) {
      const src = thumbs.get(xa.ids[i]);
      if (!src || !Number.isFinite(xa.values[i]) || !Number.isFinite(yb.values[i])) continue;
      images.push({
        source: src, xref: "x", yref: "y", x: xa.values[i], y: yb.values[i],
        sizex: sx, sizey: sy, xanchor: "center", yanchor: "middle", sizing: "stretch", layer: "below",
      });
    }
    return Plotly.relayout(this.plot, { images });
  }
}
