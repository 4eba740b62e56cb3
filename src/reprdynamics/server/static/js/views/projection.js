// View 8: the 2-D projection over time (one PCA fitted on all snapshots, every sample
// projected), drawn as WebGL points (js/points.js) that move from snapshot to snapshot on
// the GPU: play, pause, scrub, speed, and trails through past positions for the focused or
// selected samples. One snapshot per request (projection.bin, uint16 codes), fetched ahead
// while it plays.

import { getBinary, headerNumbers, runPath } from "../api.js";
import { View } from "../view.js";
import { whenVisible } from "../data.js";
import { PointPlot, mark } from "../points.js";
import { colourFor, fillColourSelect } from "../columns.js";
import { hasThumbs, thumbURL } from "../thumbs.js";
import { fmt, int } from "../util.js";

/** Samples with trails at most (the selected ones, in id order). */
export const MAX_TRAILS = 200;
/** Snapshots fetched ahead of the one shown while playing. */
const AHEAD = 3;
/** Milliseconds per snapshot at speed 1. */
const STEP_MS = 900;
/** Rows the server's PCA is fitted on at most (analysis.api.projection's max_fit_rows). */
export const PROJECTION_FIT_ROWS = 20000;

export class ProjectionView extends View {
  constructor(store, actions) {
    super("projection", store, actions);
    this.slider = document.getElementById("proj-slider");
    this.label = document.getElementById("proj-label");
    this.play = document.getElementById("proj-play");
    this.trails = document.getElementById("proj-trails");
    this.speed = document.getElementById("proj-speed");
    this.colourSelect = document.getElementById("proj-color");
    this.caption = document.getElementById("proj-caption");
    this.plot = new PointPlot(document.getElementById("projection-plot"), {
      name: "projection",
      onLasso: (indices) => indices.length && this.actions.setSelection(indices),
      onClick: (i) => this.actions.focus(i),
      hoverText: (i) => this.hoverText(i),
      thumbURL: (i) => (hasThumbs(this.store.state.info) ? thumbURL(this.store.state.run, i) : null),
    });
    this.frames = new Map(); // snapshot position -> Promise<{x, y}>
    this.meta = null; // {run, layer, snapshots, evr, domain, key}
    this.t = 0;
    this.playing = false;
    this.visible = false;
    this.slider.addEventListener("input", () => this.show(+this.slider.value, { move: false }));
    this.play.addEventListener("click", () => this.toggle());
    this.trails.addEventListener("change", () => this.updateTrails());
    this.colourSelect.addEventListener("change", () => store.set({ pointColor: this.colourSelect.value }));
    whenVisible(this.card, () => {
      this.visible = true;
      this.reload(this.store.state);
    });
    store.on(["info", "layer"], (s) => {
      this.colourSelect.value = fillColourSelect(this.colourSelect, s.info, s.pointColor);
      if (this.visible) this.reload(s);
    });
    store.on(["pointColor"], (s) => {
      if (this.colourSelect.value !== s.pointColor) this.colourSelect.value = fillColourSelect(this.colourSelect, s.info, s.pointColor);
      if (this.visible && this.meta) this.recolour(s);
    });
    store.on(["selection", "focus"], (s) => {
      if (!this.meta) return;
      this.plot.setHighlight(s.selection.length < s.info.n_samples ? s.selection : null);
      this.updateTrails();
    });
    store.on(["b"], (s) => {
      const i = this.meta?.snapshots.indexOf(s.b);
      if (i >= 0 && !this.playing && i !== this.t) this.show(i);
    });
  }

  hoverText(i) {
    const s = this.store.state;
    const label = s.labels ? s.labels[i] : -1;
    const lines = [`#${i} · ${label >= 0 ? s.classNames[label] ?? label : "?"}`];
    const c = this.colour;
    if (c?.kind === "continuous") lines.push(`${c.title}: ${fmt(c.values[i])}`);
    return lines;
  }

  params(s) {
    return s.layer ? { layer: s.layer } : {};
  }

  /** One snapshot's positions (decoded from uint16 codes), cached. */
  frame(s, pos, signal, onProgress) {
    let hit = this.frames.get(pos);
    if (!hit) {
      const params = { ...this.params(s), snapshot: this.meta.snapshots[pos] };
      hit = getBinary(runPath(s.run, "/projection.bin"), params, { signal, onProgress }).then(decodeFrame);
      this.frames.set(pos, hit);
      hit.catch(() => this.frames.delete(pos));
    }
    return hit;
  }

  reload(s) {
    if (!s.info) return;
    this.stop();
    this.frames.clear();
    this.meta = null;
    this.load(
      async (signal, onProgress) => {
        // The last snapshot first: its headers name the projected snapshots and the
        // scale of every frame, so the domain is known before anything moves.
        const last = await getBinary(runPath(s.run, "/projection.bin"), this.params(s), { signal, onProgress });
        const snapshots = headerNumbers(last.headers, "X-Snapshots");
        const scale = headerNumbers(last.headers, "X-Scale");
        const offset = headerNumbers(last.headers, "X-Offset");
        const evr = headerNumbers(last.headers, "X-Explained-Variance-Ratio");
        const x1 = offset[0] + scale[0] * 65534;
        const y1 = offset[1] + scale[1] * 65534;
        const px = (x1 - offset[0] || 1) * 0.04;
        const py = (y1 - offset[1] || 1) * 0.04;
        const meta = {
          run: s.run, snapshots, evr, state: last.headers.get("X-Run-State"),
          domain: { x: [offset[0] - px, x1 + px], y: [offset[1] - py, y1 + py] },
        };
        const ids = Int32Array.from({ length: s.info.n_samples }, (_, i) => i);
        const colour = await colourFor(s, this.colourSelect.value || "label", ids, { signal });
        return { meta, colour, last };
      },
      async ({ meta, colour, last }) => {
        this.meta = meta;
        this.frames.clear();
        this.frames.set(meta.snapshots.length - 1, Promise.resolve(decodeFrame(last)));
        this.colour = colour;
        this.describeFit(s, meta);
        this.slider.max = String(meta.snapshots.length - 1);
        const start = meta.snapshots.indexOf(s.b);
        await this.show(start >= 0 ? start : meta.snapshots.length - 1, { move: false });
        this.plot.setHighlight(s.selection.length < s.info.n_samples ? s.selection : null);
      },
    );
  }

  async recolour(s) {
    const ids = Int32Array.from({ length: s.info.n_samples }, (_, i) => i);
    try {
      this.colour = await colourFor(s, this.colourSelect.value || "label", ids);
    } catch (err) {
      this.showError(err);
      return;
    }
    await this.show(this.t, { move: false });
  }

  /** The layer projected (the fingerprint's layer, else the run's output layer). */
  layer() {
    return this.store.state.layer || this.store.state.info.output_layer;
  }

  titles() {
    const evr = this.meta.evr.map((v) => `${(100 * v).toFixed(1)} % of variance`);
    const layer = this.layer();
    return {
      x: `PC 1 of ${layer}${evr[0] ? ` (${evr[0]})` : ""} · one PCA fitted on all snapshots`,
      y: `PC 2 of ${layer}${evr[1] ? ` (${evr[1]})` : ""}`,
    };
  }

  /**
   * What the fit is, exactly (analysis/projection.py): one 2-D PCA of the layer, fitted
   * once on the rows of every sample at every complete snapshot (mean over all rows, axes
   * from a uniform random subsample of at most 20,000 of them), the same map applied to
   * every snapshot; so positions are comparable across time.
   */
  describeFit(s, meta) {
    const layer = this.layer();
    const dim = s.info.layers?.[layer];
    const N = s.info.n_samples;
    const T = meta.snapshots.length;
    const rows = N * T;
    const fitted = rows > PROJECTION_FIT_ROWS
      ? `axes from a uniform random ${int(PROJECTION_FIT_ROWS)} of those rows, mean over all of them`
      : "axes and mean from all of them";
    this.caption.textContent =
      `PCA of layer ${layer}${dim ? ` (${dim} dimensions)` : ""} fitted on all snapshots: one 2-D PCA fitted once on ` +
      `all ${int(N)} samples × ${int(T)} complete snapshots (${int(rows)} rows; ${fitted}), ` +
      "the same map applied to every snapshot, so positions are comparable across time.";
    this.caption.dataset.layer = layer;
    this.caption.dataset.snapshots = String(T);
  }

  /** Show snapshot position t; `move`: animate the points from where they are. */
  async show(t, { move = true, duration } = {}) {
    const meta = this.meta;
    if (!meta) return;
    const s = this.store.state;
    t = Math.max(0, Math.min(meta.snapshots.length - 1, t));
    this.t = t;
    this.slider.value = String(t);
    const snap = meta.snapshots[t];
    const epoch = s.info.epochs?.[snap];
    this.label.textContent = `${epoch === null || epoch === undefined ? `#${snap}` : `epoch ${epoch}`} (${t + 1}/${meta.snapshots.length})`;
    let f;
    try {
      f = await this.frame(s, t);
    } catch (err) {
      this.showError(err);
      this.stop();
      return;
    }
    if (this.t !== t || this.meta !== meta) return; // a newer step won
    if (f.state && meta.state && f.state !== meta.state) {
      // The run changed between two frames (a live run): never show a mix of two fits.
      this.reload(this.store.state);
      return;
    }
    // Only the frame shown (and the one before it, still moving) keeps decoded positions.
    if (this.current && this.current !== f) this.current.decoded = null;
    f.decoded = positions(f);
    this.current = f;
    await this.plot.draw(
      { x: f.decoded.x, y: f.decoded.y, colour: this.colour, domain: meta.domain, titles: this.titles() },
      { transition: move ? (duration ?? Math.round(this.stepMs() * 0.6)) : 0, keepIndex: this.playing },
    );
    this.card.dataset.t = String(t);
    mark("projectionDrawn");
    this.updateTrails();
    if (this.playing) for (let u = t + 1; u <= Math.min(meta.snapshots.length - 1, t + AHEAD); u++) this.frame(s, u);
  }

  /** Trails through snapshots 0..t of the selected samples (or the focused one). */
  async updateTrails() {
    const s = this.store.state;
    const meta = this.meta;
    if (!meta || !this.trails.checked) {
      this.plot.setTrails([]);
      this.clearNoteIfIdle();
      return;
    }
    let who = [];
    const all = s.selection.length === s.info.n_samples;
    if (!all) who = Array.from(s.selection.subarray(0, MAX_TRAILS));
    else if (s.focus !== null && s.focus !== undefined) who = [s.focus];
    if (!who.length) {
      this.plot.setTrails([]);
      this.clearNoteIfIdle();
      return;
    }
    const t = this.t;
    const frames = await Promise.all(Array.from({ length: t + 1 }, (_, u) => this.frame(s, u)));
    if (this.t !== t || this.meta !== meta) return;
    this.plot.setTrails(who.map((i) => {
      const path = frames.map((f) => positionOf(f, i));
      return { x: path.map((p) => p[0]), y: path.map((p) => p[1]) };
    }));
    if (!all && s.selection.length > MAX_TRAILS) {
      this.showNote(`Trails for the first ${int(MAX_TRAILS)} of ${int(s.selection.length)} selected samples (all ${int(s.selection.length)} are outlined).`);
    } else {
      this.clearNoteIfIdle();
    }
  }

  clearNoteIfIdle() {
    if (this.card.dataset.state !== "loading" && this.status.classList.contains("note")) this.clearStatus();
  }

  stepMs() {
    return STEP_MS / (Number(this.speed?.value) || 1);
  }

  toggle() {
    if (this.playing) this.stop();
    else this.start();
  }

  async start() {
    if (!this.meta) return;
    this.playing = true;
    this.play.textContent = "❚❚";
    this.play.setAttribute("aria-label", "pause");
    if (this.t >= this.meta.snapshots.length - 1) await this.show(0, { move: false });
    const s = this.store.state;
    for (let u = this.t + 1; u <= Math.min(this.meta.snapshots.length - 1, this.t + AHEAD); u++) this.frame(s, u);
    const step = async () => {
      if (!this.playing || !this.meta) return;
      if (this.t >= this.meta.snapshots.length - 1) {
        this.stop();
        return;
      }
      const began = performance.now();
      try {
        await this.show(this.t + 1);
      } catch (err) {
        this.stop();
        this.showError(err);
        return;
      }
      const wait = Math.max(0, this.stepMs() - (performance.now() - began));
      this.timer = setTimeout(step, wait);
    };
    this.timer = setTimeout(step, 0);
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
    const wasPlaying = this.playing;
    this.playing = false;
    if (wasPlaying) this.plot.reindex(); // hover and lasso find the points where they are now
    this.play.textContent = "▶";
    this.play.setAttribute("aria-label", "play");
  }
}


/**
 * A projection.bin answer kept as it came: uint16 codes (4 bytes per sample; value =
 * offset + scale * code, 65535 = NaN). Positions are decoded for the frame shown only.
 */
function decodeFrame({ array, headers, bytes }) {
  const [sx, sy] = headerNumbers(headers, "X-Scale");
  const [ox, oy] = headerNumbers(headers, "X-Offset");
  return { codes: array, scale: [sx, sy], offset: [ox, oy], bytes, state: headers.get("X-Run-State") };
}

/** One sample's position in a frame: [x, y], NaN where not recorded. */
function positionOf(f, i) {
  const qx = f.codes[2 * i];
  const qy = f.codes[2 * i + 1];
  return [qx === 65535 ? NaN : f.offset[0] + f.scale[0] * qx, qy === 65535 ? NaN : f.offset[1] + f.scale[1] * qy];
}

/** Every sample's position in a frame, as two Float32Arrays (decoded once per frame shown). */
function positions(f) {
  if (f.decoded) return f.decoded;
  const n = f.codes.length / 2;
  const x = new Float32Array(n);
  const y = new Float32Array(n);
  const [sx, sy] = f.scale;
  const [ox, oy] = f.offset;
  const codes = f.codes;
  for (let i = 0; i < n; i++) {
    const qx = codes[2 * i];
    const qy = codes[2 * i + 1];
    x[i] = qx === 65535 ? NaN : ox + sx * qx;
    y[i] = qy === 65535 ? NaN : oy + sy * qy;
  }
  return { x, y };
}
