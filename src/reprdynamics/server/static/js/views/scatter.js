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
import { measureDefinition } from "../explain.js";

/** Above this many points the scatter shows markers instead of thumbnails. */
export const MAX_THUMBNAILS = 300;
const THUMB_PX = 26;
/** Measures of selections up to this size are fetched ahead for every snapshot. */
const PREFETCH_MAX = 250000;
/** Without images, selections up to this size are drawn with their ids as text (Plotly). */
const MAX_TEXT_LABELS = 60;
/** Milliseconds the points take to move to their places at a new pair (a, b). */
const MOVE_MS = 300;
/** Centres of two thumbnails at least this far apart (in thumbnail sides, either axis). */
const SPREAD_STEP = 1.08;
/** Rings of free places searched around a covered thumbnail's spot. */
const SPREAD_RINGS = 16;

/** Offsets of the places around a spot, ring by ring, nearest first (then by angle). */
const OFFSETS = (() => {
  const out = [];
  for (let r = 1; r <= SPREAD_RINGS; r++) {
    const ring = [];
    for (let dx = -r; dx <= r; dx++) {
      for (let dy = -r; dy <= r; dy++) {
        if (Math.max(Math.abs(dx), Math.abs(dy)) === r) ring.push([dx, dy]);
      }
    }
    ring.sort((p, q) => Math.hypot(...p) - Math.hypot(...q) || Math.atan2(p[1], p[0]) - Math.atan2(q[1], q[0]));
    out.push(...ring);
  }
  return out;
})();

/**
 * Spread thumbnails that would cover each other. `px`, `py`: positions in units of one
 * thumbnail side on screen. In id order, each thumbnail keeps its exact spot when no
 * thumbnail placed before covers it, else takes the nearest free place of a grid of
 * SPREAD_STEP around its spot; so the layout is deterministic, no two thumbnails overlap,
 * and only covered ones move (and no further than needed). A moved thumbnail stays inside
 * `bounds` ({x: [lo, hi], y: [lo, hi]}, same units) when given. Returns the displayed
 * positions (same units) and which points moved.
 */
export function spreadStacks(px, py, ids, bounds = null) {
  const n = px.length;
  const qx = Float64Array.from(px);
  const qy = Float64Array.from(py);
  const moved = new Uint8Array(n);
  const cells = new Map(); // placed thumbnails by unit cell
  const key = (cx, cy) => `${cx},${cy}`;
  const inside = (x, y) => !bounds || (x >= bounds.x[0] + 0.5 && x <= bounds.x[1] - 0.5 && y >= bounds.y[0] + 0.5 && y <= bounds.y[1] - 0.5);
  const free = (x, y) => {
    const cx = Math.floor(x);
    const cy = Math.floor(y);
    for (let dx = -2; dx <= 2; dx++) {
      for (let dy = -2; dy <= 2; dy++) {
        for (const [u, v] of cells.get(key(cx + dx, cy + dy)) || []) {
          if (Math.max(Math.abs(u - x), Math.abs(v - y)) < SPREAD_STEP - 0.08) return false;
        }
      }
    }
    return true;
  };
  const place = (i, x, y) => {
    qx[i] = x;
    qy[i] = y;
    const k = key(Math.floor(x), Math.floor(y));
    if (!cells.has(k)) cells.set(k, []);
    cells.get(k).push([x, y]);
  };
  const order = [...Array(n).keys()].filter((i) => Number.isFinite(px[i]) && Number.isFinite(py[i]));
  order.sort((i, j) => ids[i] - ids[j]);
  for (const i of order) {
    if (free(px[i], py[i])) {
      place(i, px[i], py[i]);
      continue;
    }
    const spot = OFFSETS.find(([dx, dy]) => {
      const x = px[i] + dx * SPREAD_STEP;
      const y = py[i] + dy * SPREAD_STEP;
      return inside(x, y) && free(x, y);
    });
    if (!spot) {
      place(i, px[i], py[i]); // nothing free nearby: it stays, covered
      continue;
    }
    place(i, px[i] + spot[0] * SPREAD_STEP, py[i] + spot[1] * SPREAD_STEP);
    moved[i] = 1;
  }
  return { x: qx, y: qy, moved, count: moved.reduce((a, m) => a + m, 0) };
}

/** `promise`, or an AbortError as soon as `signal` aborts (the promise itself goes on). */
function abortable(promise, signal) {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(new DOMException("aborted", "AbortError"));
  return new Promise((resolve, reject) => {
    signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")), { once: true });
    promise.then(resolve, reject);
  });
}

export class ScatterView extends View {
  constructor(store, actions) {
    super("scatter-card", store, actions);
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
        // No signal: the answer is cached for every later load (and the prefetch), so a
        // load that is dropped must not abort it for the one that replaced it.
        const res = await getBinary(runPath(s.run, "/measure.bin"), params);
        return { ids: s.selection, values: res.array };
      });
      this.cache.set(key, hit);
      hit.catch(() => this.cache.delete(key));
      const room = 4 * (s.info.n_snapshots || 0) + 16;
      while (this.cache.size > room) this.cache.delete(this.cache.keys().next().value);
    }
    return abortable(hit, signal);
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
    const unit = measureDefinition(d.measure, s.info.kind).unit;
    const u = unit ? ` ${unit}` : "";
    const lines = [`#${id} · ${label >= 0 ? s.classNames[label] ?? label : "?"}`,
      `${d.measure} at a: ${fmt(d.xa.values[i], 4)}${u}`, `${d.measure} at b: ${fmt(d.yb.values[i], 4)}${u}`];
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
    const title = measureDefinition(measure, s.info.kind).title;
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
    const def = measureDefinition(measure, s.info.kind);
    const unit = def.unit ? ` ${def.unit}` : "";
    const main = {
      type: n > 2000 ? "scattergl" : "scatter",
      mode: "markers",
      x,
      y,
      customdata: Array.from(ids),
      text,
      name: "selection",
      showlegend: false,
      hovertemplate: `%{text}<br>${measure} at a: %{x:.4f}${unit}<br>${measure} at b: %{y:.4f}${unit}<extra></extra>`,
      // With thumbnails the frames (trace 1) are drawn where the thumbnails are; this
      // trace marks the exact spot of the thumbnails spread out of a stack (placeImages).
      marker: withThumbs
        ? { symbol: "circle", size: 6, color: colours, opacity: 0, line: { width: 1, color: cssVar("--bg") } }
        : { size: n > 2000 ? 5 : 8, color: colours, opacity: 0.85, line: { width: 0.5, color: cssVar("--bg") } },
    };
    const traces = [main];
    if (withThumbs) {
      traces.push({
        type: "scatter", mode: "markers", x: [...x], y: [...y], customdata: Array.from(ids),
        text: Array.from(ids, (id, i) => `${text[i]}<br>${measure} at a: ${fmt(x[i], 4)}${unit}<br>${measure} at b: ${fmt(y[i], 4)}${unit}`),
        name: "thumbnails", showlegend: false, hovertemplate: "%{text}<extra></extra>",
        marker: { symbol: "square-open", size: THUMB_PX + 4, color: colours, line: { width: 2, color: colours } },
      });
    }
    if (!withThumbs && !hasThumbs(s.info) && n <= 60) {
      main.mode = "markers+text";
      main.text = Array.from(ids, String);
      main.textposition = "top center";
      main.textfont = { size: 10, color: cssVar("--muted") };
      main.hovertemplate = `#%{text}<br>${measure} at a: %{x:.4f}${unit}<br>${measure} at b: %{y:.4f}${unit}<extra></extra>`;
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
    const title = measureDefinition(measure, s.info.kind).title;
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
    data.diagonal = layout.shapes[0];
    const drawn = Plotly.react(this.plot, [...traces, ...legend], layout, PLOT_CONFIG).then(() =>
      withThumbs ? this.placeImages(data) : null,
    );
    if (!this.bound) {
      this.bound = true;
      this.plot.on("plotly_click", (ev) => {
        const p = ev.points?.find((q) => q.curveNumber === 0 || q.data?.name === "thumbnails");
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
    // Thumbnails that would cover each other are spread around their spot (in screen
    // units, so zooming in brings them back to their exact places); a line joins each
    // moved one to its spot, which a dot marks.
    const n = xa.ids.length;
    const px = Float64Array.from(xa.values, (v) => v / sx);
    const py = Float64Array.from(yb.values, (v) => v / sy);
    const bounds = { x: [Math.min(...xr) / sx, Math.max(...xr) / sx], y: [Math.min(...yr) / sy, Math.max(...yr) / sy] };
    const spread = spreadStacks(px, py, xa.ids, bounds);
    const at = { x: Array.from(spread.x, (v) => v * sx), y: Array.from(spread.y, (v) => v * sy) };
    const images = [];
    const leaders = [];
    const muted = cssVar("--muted");
    for (let i = 0; i < n; i++) {
      const src = thumbs.get(xa.ids[i]);
      if (!src || !Number.isFinite(xa.values[i]) || !Number.isFinite(yb.values[i])) continue;
      images.push({
        source: src, xref: "x", yref: "y", x: at.x[i], y: at.y[i],
        sizex: sx, sizey: sy, xanchor: "center", yanchor: "middle", sizing: "stretch", layer: "below",
      });
      if (spread.moved[i]) {
        leaders.push({
          type: "line", xref: "x", yref: "y", x0: xa.values[i], y0: yb.values[i], x1: at.x[i], y1: at.y[i],
          line: { color: muted, width: 1 }, layer: "below", name: "leader",
        });
      }
    }
    this.card.dataset.spread = String(spread.count);
    this.spread = { ids: Array.from(xa.ids), x: at.x, y: at.y, moved: Array.from(spread.moved), sx, sy };
    const opacity = Array.from(spread.moved, (m) => (m ? 1 : 0));
    // The images first (at once, as a zoom expects), then the frames and the spots.
    return Plotly.relayout(this.plot, { images, shapes: [data.diagonal, ...leaders] })
      .then(() => Plotly.restyle(this.plot, { x: [at.x], y: [at.y] }, [1]))
      .then(() => Plotly.restyle(this.plot, { "marker.opacity": [opacity] }, [0]));
  }
}
