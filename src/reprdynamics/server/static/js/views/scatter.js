// View 4: the selection placed by a per-sample measure at a (x) and at b (y). Small
// selections of image runs are drawn with thumbnails framed in their label's (or
// correctness') colour (Plotly); every other selection, up to a million samples, as WebGL
// points (js/points.js) that move to their new places when a or b changes. Click a
// sample: it opens in the local view; lasso or box: the selection narrows to those.

import { getBinary, runPath, selectionParam } from "../api.js";
import { View } from "../view.js";
import { cropURLs, hasThumbs, thumbURL } from "../thumbs.js";
import { PointPlot, mark } from "../points.js";
import { colourChoices, colourFor } from "../columns.js";
import { baseLayout, PLOT_CONFIG, classColour, CORRECTNESS, cssVar, finiteRange, fmt } from "../util.js";

/** Above this many points the scatter shows markers instead of thumbnails. */
export const MAX_THUMBNAILS = 300;
const THUMB_PX = 26;
/** Measures of selections up to this size are fetched ahead for every snapshot. */
const PREFETCH_MAX = 250000;
/** Without images, selections up to this size are drawn with their ids as text (Plotly). */
const MAX_TEXT_LABELS = 60;
/** Milliseconds the points take to move to their places at a new pair (a, b). */
const MOVE_MS = 300;
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
    this.pointsHost = document.getElementById("scatter-points");
    this.points = new PointPlot(this.pointsHost, {
      name: "scatter",
      onLasso: (indices) => this.last && indices.length && this.actions.setSelection(indices.map((i) => this.last.ids[i])),
      onClick: (i) => this.last && this.actions.focus(this.last.ids[i]),
      hoverText: (i) => this.hoverText(i),
      thumbURL: (i) => (this.last && hasThumbs(this.store.state.info) ? thumbURL(this.store.state.run, this.last.ids[i]) : null),
    });
    this.cache = new Map(); // `${run}|${selectionVersion}|${name}|${t}` -> Promise<Float32Array>
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
      const options = [new Option("label", "label"), new Option("correctness a → b", "correct")];
      for (const c of colourChoices(s.info)) if (c.key !== "label") options.push(new Option(c.name, c.key));
      colour.replaceChildren(...options);
      colour.value = s.color;
      colour.querySelector('option[value="correct"]').disabled = !available.includes("correct");
      for (const option of measure.options) option.disabled = !available.includes(option.value);
    });
    store.on(["info", "selection", "a", "b", "measure", "color", "primed"], (s) => this.reload(s));
    store.on(["theme"], (s) => this.last && this.draw(this.last));
  }

  /** The measure at snapshot t for the selection, in the order of its sorted ids. */
  measureAt(s, name, t, signal) {
    const key = `${s.run}|${s.selectionVersion}|${name}|${t}`;
    let hit = this.cache.get(key);
    if (!hit) {
      hit = selectionParam(s.run, s.selection, s.info.n_samples).then(async (samples) => {
        const params = { name, snapshot: t };
        if (samples) params.samples = samples;
        const res = await getBinary(runPath(s.run, "/measure.bin"), params, { signal });
        return { ids: s.selection, values: res.array };
      });
      this.cache.set(key, hit);
      hit.catch(() => this.cache.delete(key));
      const room = 4 * (s.info.n_snapshots || 0) + 16;
      while (this.cache.size > room) this.cache.delete(this.cache.keys().next().value);
    }
    return hit;
  }

  /** Plotly (thumbnails, or ids as text) for small selections, WebGL points otherwise. */
  showRenderer(webgl) {
    this.plot.hidden = webgl;
    this.pointsHost.hidden = !webgl;
    this.card.dataset.renderer = webgl ? "webgl" : "plotly";
  }

  reload(s) {
    if (!s.info || !s.primed) return;
    if (!s.selection.length) {
      this.cancel();
      Plotly.purge(this.plot);
      this.showRenderer(false);
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
    const asText = !hasThumbs(s.info) && s.selection.length <= MAX_TEXT_LABELS;
    this.load(
      async (signal) => {
        const jobs = [this.measureAt(s, measure, s.a, signal), this.measureAt(s, measure, s.b, signal)];
        if (colorBy === "correct") {
          jobs.push(this.measureAt(s, "correct", s.a, signal), this.measureAt(s, "correct", s.b, signal));
        } else if (colorBy !== "label") {
          jobs.push(null, null, colourFor(s, colorBy, s.selection, { signal }));
        }
        const [xa, yb, ca, cb, column] = await Promise.all(jobs);
        let thumbs = null;
        if (wantThumbs) {
          try {
            thumbs = await cropURLs(s.run, xa.ids, 32, signal);
          } catch (err) {
            if (err.status !== 404) throw err;
            this.noThumbs.add(s.run);
          }
        }
        // `forcePlotly`: the Plotly markers of earlier releases (the benchmark's baseline).
        const webgl = !thumbs && !asText && !this.forcePlotly;
        return { s: { ...s }, measure, colorBy, xa, yb, ca, cb, column, thumbs, webgl, ids: xa.ids };
      },
      async (data) => {
        const previous = this.last;
        this.last = data;
        this.showRenderer(data.webgl);
        if (data.webgl) {
          Plotly.purge(this.plot);
          await this.drawPoints(data, previous);
        } else {
          await this.draw(data);
        }
        mark("scatterDrawn");
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
        if (complete[t] !== false && !this.cache.has(`${s.run}|${s.selectionVersion}|${name}|${t}`)) queue.push([name, t]);
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

  hoverText(i) {
    const d = this.last;
    if (!d) return [];
    const s = this.store.state;
    const id = d.ids[i];
    const label = s.labels ? s.labels[id] : -1;
    const lines = [`#${id} · ${label >= 0 ? s.classNames[label] ?? label : "?"}`,
      `a: ${fmt(d.xa.values[i], 4)}`, `b: ${fmt(d.yb.values[i], 4)}`];
    if (d.column?.kind === "continuous") lines.push(`${d.column.title}: ${fmt(d.column.values[i])}`);
    return lines;
  }

  /** The domain of both axes: fixed for bounded measures, else the data's range, kept
   * while the new values fit it (so the points can move instead of jumping). */
  domainFor(data, previous) {
    const { s, measure, xa, yb } = data;
    let [lo, hi] = finiteRange([xa.values, yb.values]);
    if (measure === "entropy") [lo, hi] = [0, Math.max(hi, Math.log(Math.max(2, s.info.n_classes || 2)))];
    if (measure === "confidence") [lo, hi] = [0, 1];
    const old = previous?.domain;
    if (old && previous.measure === measure && previous.ids === data.ids && lo >= old[0] && hi <= old[1]) return old;
    const pad = (hi - lo || 1) * 0.04;
    return [lo - pad, hi + pad];
  }

  async drawPoints(data, previous) {
    const { s, measure, colorBy, xa, yb, ca, cb, column } = data;
    const n = xa.ids.length;
    let colour;
    if (colorBy === "correct") {
      const keys = ["1,1", "0,1", "1,0", "0,0"];
      const values = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const a = ca.values[i];
        const b = cb.values[i];
        values[i] = Number.isFinite(a) && Number.isFinite(b) ? keys.indexOf(`${a > 0.5 ? 1 : 0},${b > 0.5 ? 1 : 0}`) : -1;
      }
      colour = { kind: "category", values, palette: keys.map((k) => CORRECTNESS[k].colour), names: keys.map((k) => CORRECTNESS[k].name) };
    } else if (column) {
      colour = column;
    } else {
      colour = await colourFor(s, "label", xa.ids);
    }
    const domain = this.domainFor(data, previous);
    data.domain = domain;
    const epoch = (t) => {
      const e = s.info.epochs?.[t];
      return e === null || e === undefined ? `#${t}` : `epoch ${e}`;
    };
    const title = MEASURE_TITLES[measure] || measure;
    const moving = previous?.webgl && previous.ids === data.ids && previous.measure === measure;
    await this.points.draw(
      {
        x: xa.values, y: yb.values, colour, diagonal: true,
        domain: { x: domain, y: domain },
        titles: { x: `${title} at a (${epoch(s.a)})`, y: `${title} at b (${epoch(s.b)})` },
      },
      // Moving points keep the search index of their old places for the move (building one
      // is a large part of a draw); hover and lasso get the new one once they arrive.
      { transition: moving ? MOVE_MS : 0, keepIndex: moving },
    );
    if (moving) {
      clearTimeout(this.reindexTimer);
      // After a second without a new pair, so quick clicks never wait for it.
      this.reindexTimer = setTimeout(() => this.points.reindex(), MOVE_MS + 1000);
    }
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

    let [lo, hi] = finiteRange([x, y]);
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
