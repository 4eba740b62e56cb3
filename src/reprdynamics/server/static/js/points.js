// The one point-view module: every scatter of samples (the entropy scatter a → b, the
// data map, the projection over time) draws through `PointPlot`.
//
// WebGL through regl-scatterplot (vendor/regl-scatterplot.js, built by
// scripts/build_regl_scatterplot.sh), so a million points pan, zoom, lasso and animate in
// the browser. Around it: axes and titles, a legend, a hover card with the sample's
// thumbnail, trails, and a plain canvas drawing with a notice where WebGL is unavailable.
// Positions are given in data units; the plot maps its fixed domain to WebGL's [-1, 1].

import createScatterplot, { createRenderer } from "../vendor/regl-scatterplot.js";
import { el, fmt, int, cssVar } from "./util.js";

/** Record when something was drawn, for the benchmark and the tests (window.__rd.marks). */
export function mark(name) {
  const marks = window.__rd?.marks;
  if (marks) marks[name] = performance.now();
}

/** Point size in CSS pixels for n points: large for a few, one pixel for millions. */
export function pointSize(n) {
  return Math.max(1, Math.min(7, Math.round((600 / Math.sqrt(Math.max(n, 1))) * 2) / 2));
}

/** A colour ramp (viridis, 32 steps) for continuous colours. */
export const RAMP = [
  "#440154", "#471365", "#482475", "#463480", "#414487", "#3b528b", "#355f8d", "#2f6c8e",
  "#2a788e", "#25848e", "#21918c", "#1e9c89", "#20a885", "#2ab07f", "#38b977", "#4ac16d",
  "#5ec962", "#75d054", "#8ed645", "#a8db34", "#c2df23", "#dde318", "#f1e51d", "#fde725",
];

const MARGIN = { left: 56, right: 10, top: 30, bottom: 42 };

/** The most points one view draws (its state texture holds 8192 x 8192 at most; the page
 * would need several GB well before that). */
export const MAX_POINTS = 20_000_000;
/** Plain draws slower than this (ms) make moves jump instead of glide. */
export const SLOW_FRAME_MS = 300;

function tooMany(n) {
  return `${int(n)} points are more than one view draws (${int(MAX_POINTS)}). Select fewer samples (the picker, a class, or a lasso) to draw them.`;
}

/** A minimal linear scale with the D3 API regl-scatterplot keeps in sync with the view. */
function linearScale(d0, d1) {
  let domain = [d0, d1];
  let range = [0, 1];
  const scale = (v) => range[0] + ((v - domain[0]) / (domain[1] - domain[0])) * (range[1] - range[0]);
  scale.domain = (d) => {
    if (!d) return domain.slice();
    domain = [Number(d[0]), Number(d[1])];
    return scale;
  };
  scale.range = (r) => {
    if (!r) return range.slice();
    range = [Number(r[0]), Number(r[1])];
    return scale;
  };
  scale.invert = (p) => domain[0] + ((p - range[0]) / (range[1] - range[0])) * (domain[1] - domain[0]);
  scale.copy = () => linearScale(domain[0], domain[1]).range(range);
  return scale;
}

function niceTicks(lo, hi, count) {
  const span = hi - lo;
  if (!(span > 0) || !Number.isFinite(span)) return [lo];
  const step0 = span / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= count) || 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

/** A tick label: at most 4 significant digits, no trailing zeros. */
function tick(v) {
  return String(Number(v.toPrecision(4)));
}

function hexToRgba(hex, alpha = 1) {
  const h = hex.replace("#", "");
  const v = parseInt(h.length === 3 ? h.split("").map((c) => c + c).join("") : h, 16);
  return [((v >> 16) & 255) / 255, ((v >> 8) & 255) / 255, (v & 255) / 255, alpha];
}

/**
 * A point plot in `host` (an element; it gets a WebGL canvas, an overlay canvas, a legend
 * and a hover card).
 *
 * Callbacks: `onLasso(indices)` after a lasso or box selection, `onClick(index)` on a
 * point, `hoverText(index)` -> lines of the hover card, `thumbURL(index)` -> image URL or
 * null. Indices are positions in the arrays last given to `draw`.
 */
export class PointPlot {
  constructor(host, { onLasso, onClick, hoverText, thumbURL, name } = {}) {
    this.host = host;
    this.name = name || host.id;
    this.onLasso = onLasso || (() => {});
    this.onClick = onClick || (() => {});
    this.hoverText = hoverText || ((i) => [`#${i}`]);
    this.thumbURL = thumbURL || (() => null);
    this.n = 0;
    this.x = new Float32Array(0);
    this.y = new Float32Array(0);
    this.highlight = null;
    this.trails = [];
    this.diagonal = false;
    this.titles = { x: "", y: "" };
    this.domain = { x: [0, 1], y: [0, 1] };
    this.lassoing = false;
    this.frameMs = 0; // how long the last plain draw took
    host.classList.add("points");
    host.replaceChildren();
    this.canvas = el("canvas", { class: "points-gl" });
    this.overlay = el("canvas", { class: "points-overlay" });
    this.legend = el("div", { class: "points-legend" });
    this.card = el("div", { class: "points-hover", hidden: "" });
    this.notice = el("div", { class: "points-notice", hidden: "" });
    this.tools = el("div", { class: "points-tools" });
    for (const [mode, label, title] of [
      ["pan", "✥", "pan and zoom (scroll to zoom)"],
      ["lasso", "◌", "lasso: draw around samples to select them"],
      ["box", "▭", "box: drag a rectangle to select samples"],
    ]) {
      const button = el("button", { type: "button", "data-mode": mode, title, "aria-label": title }, label);
      button.addEventListener("click", () => this.setMode(mode));
      this.tools.append(button);
    }
    const reset = el("button", { type: "button", title: "reset the view", "aria-label": "reset the view" }, "⟲");
    reset.addEventListener("click", () => this.resetView());
    this.tools.append(reset);
    host.append(this.canvas, this.overlay, this.tools, this.legend, this.card, this.notice);
    this.xScale = linearScale(0, 1);
    this.yScale = linearScale(0, 1);
    this.renderer = "webgl";
    this.ready = this.init();
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(host);
  }

  size() {
    const rect = this.host.getBoundingClientRect();
    const width = Math.max(50, Math.floor(rect.width - MARGIN.left - MARGIN.right));
    const height = Math.max(50, Math.floor(rect.height - MARGIN.top - MARGIN.bottom));
    return { width, height, full: rect };
  }

  async init() {
    const { width, height } = this.size();
    Object.assign(this.canvas.style, { left: `${MARGIN.left}px`, top: `${MARGIN.top}px`, width: `${width}px`, height: `${height}px` });
    let sp = null;
    try {
      const probe = document.createElement("canvas").getContext("webgl");
      if (!probe) throw new Error("no WebGL context");
      // A renderer of the plot's own size: the library's default renders the whole
      // window into a float framebuffer and copies out the plot's part every frame,
      // which costs several times more (measured 2-3x per frame with software WebGL).
      this.renderer_ = createRenderer({ canvas: document.createElement("canvas") });
      this.renderer_.resize(width, height);
      sp = createScatterplot({
        renderer: this.renderer_,
        canvas: this.canvas,
        width,
        height,
        xScale: this.xScale,
        yScale: this.yScale,
        pointSize: 4,
        opacity: 0.8,
        backgroundColor: [0, 0, 0, 0],
        lassoColor: hexToRgba(cssVar("--accent") || "#4e9bd6"),
        pointColorActive: hexToRgba(cssVar("--accent") || "#4e9bd6"),
        pointOutlineWidth: 1,
        pointSizeSelected: 1,
        deselectOnDblClick: false,
        deselectOnEscape: false,
        lassoClearEvent: "lassoEnd",
        actionKeyMap: { lasso: "shift", rotate: null, merge: null, remove: null },
      });
    } catch (err) {
      this.renderer = "canvas";
      this.showNotice(`WebGL is not available here (${err.message}); drawing on a plain canvas, without pan and zoom.`);
      this.sp = null;
      this.bindCanvasFallback();
      this.setMode("lasso");
      return;
    }
    this.sp = sp;
    sp.subscribe("lassoStart", () => {
      this.lassoing = true;
    });
    sp.subscribe("lassoEnd", ({ coordinates }) => {
      this.lastLasso = Array.from(coordinates || []); // flat [x, y, ...] in [-1, 1] units
    });
    sp.subscribe("select", ({ points }) => {
      if (this.silent) return;
      const lasso = this.lassoing;
      this.lassoing = false;
      const chosen = Array.from(points);
      queueMicrotask(() => this.applyHighlight());
      if (this.staleIndex) {
        this.showNotice("The points are moving: select again when they have arrived (or pause the animation).");
        setTimeout(() => this.showNotice(""), 2500);
        return;
      }
      if (lasso) this.onLasso(chosen);
      else if (chosen.length === 1) this.onClick(chosen[0]);
    });
    sp.subscribe("pointOver", (i) => this.showHover(i));
    sp.subscribe("pointOut", () => this.hideHover());
    sp.subscribe("view", () => this.drawOverlay());
    this.setMode("pan");
  }

  /** Pan (default; shift-drag lassos), lasso or box. */
  setMode(mode) {
    this.mode = mode;
    for (const b of this.tools.querySelectorAll("[data-mode]")) b.classList.toggle("active", b.dataset.mode === mode);
    if (!this.sp) return;
    if (mode === "pan") this.sp.set({ mouseMode: "panZoom" });
    else this.sp.set({ mouseMode: "lasso", lassoType: mode === "box" ? "rectangle" : "freeform" });
  }

  resetView() {
    this.sp?.reset();
    this.drawOverlay();
  }

  showNotice(text) {
    this.notice.hidden = !text;
    this.notice.textContent = text || "";
  }

  resize() {
    const { width, height } = this.size();
    Object.assign(this.canvas.style, { width: `${width}px`, height: `${height}px` });
    if (this.sp) {
      this.renderer_.resize(width, height);
      this.renderer_.refresh();
      this.sp.set({ width, height });
    }
    this.drawOverlay();
    if (!this.sp) this.drawCanvasFallback();
  }

  /**
   * Draw points. `x`, `y`: typed arrays in data units (NaN: not drawn). `domain`: the data
   * range shown at the reset view, {x: [lo, hi], y: [lo, hi]}. `colour`: {kind:
   * "category", values (ints, -1 unknown), palette, names} or {kind: "continuous",
   * values, range: [lo, hi], title}. `transition`: milliseconds to move from the points
   * drawn before (same count) to these.
   */
  async draw({ x, y, domain, colour, titles, diagonal = false }, { transition = 0, keepIndex = false } = {}) {
    await this.ready;
    const n = x.length;
    if (n > MAX_POINTS) {
      this.showNotice(tooMany(n));
      throw new Error(tooMany(n));
    }
    try {
      await this.drawPoints({ x, y, domain, colour, titles, diagonal }, { transition, keepIndex });
    } catch (err) {
      if (!(err instanceof RangeError) && !/memory|allocat/i.test(String(err?.message))) throw err;
      const text = `${int(n)} points do not fit this browser's memory (${err.message}). ` +
        "Select fewer samples (the picker, a class, or a lasso on another view) to draw them here.";
      this.showNotice(text);
      throw new Error(text);
    }
  }

  async drawPoints({ x, y, domain, colour, titles, diagonal }, { transition, keepIndex }) {
    const n = x.length;
    const same = n === this.n && this.domainKey === JSON.stringify(domain);
    this.x = x;
    this.y = y;
    this.n = n;
    this.domain = domain;
    this.domainKey = JSON.stringify(domain);
    this.colour = colour;
    this.titles = titles || this.titles;
    this.diagonal = diagonal;
    const [x0, x1] = domain.x;
    const [y0, y1] = domain.y;
    const sx = 2 / (x1 - x0 || 1);
    const sy = 2 / (y1 - y0 || 1);
    const nx = new Float32Array(n);
    const ny = new Float32Array(n);
    const value = new Float32Array(n);
    let hidden = 0;
    const finite = [];
    for (let i = 0; i < n; i++) {
      const ok = Number.isFinite(x[i]) && Number.isFinite(y[i]);
      nx[i] = ok ? (x[i] - x0) * sx - 1 : 0;
      ny[i] = ok ? (y[i] - y0) * sy - 1 : 0;
      if (ok) finite.push(i);
      else hidden++;
    }
    const palette = this.encodeColour(colour, value);
    this.hiddenCount = hidden;
    this.renderLegend();
    if (!this.sp) {
      this.nx = nx;
      this.ny = ny;
      this.value = value;
      this.palette = palette;
      this.drawCanvasFallback();
      this.drawOverlay();
      return;
    }
    if (!same) {
      // One at a time: setting a scale re-derives both domains from the camera.
      this.xScale.domain([x0, x1]);
      this.sp.set({ xScale: this.xScale });
      this.yScale.domain([y0, y1]);
      this.sp.set({ yScale: this.yScale });
    }
    this.sp.set({
      pointSize: pointSize(n),
      pointColor: palette,
      colorBy: "valueA",
      opacity: n > 200000 ? 0.6 : 0.85,
    });
    const options = { zDataType: colour?.kind === "continuous" ? "continuous" : "categorical" };
    // While an animation plays, the previous frame's search index is reused (building one
    // for a million points takes about a second); `reindex()` builds the right one after.
    if (keepIndex && same && this.drawn) {
      options.spatialIndex = this.sp.get("spatialIndex");
      this.staleIndex = true;
    } else {
      this.staleIndex = false;
    }
    if (hidden) options.filter = finite;
    // A move costs several frames; where one frame is slow (a million points on a software
    // renderer) the points jump to their new places instead, one frame per step.
    if (transition && same && this.drawn && this.frameMs < SLOW_FRAME_MS) {
      options.transition = true;
      options.transitionDuration = transition;
      options.preventFilterReset = !hidden;
    }
    // The library takes one draw at a time: let a move in progress arrive first.
    if (this.pending) await this.pending.catch(() => {});
    this.silent = true;
    try {
      const drawn = this.sp.draw({ x: nx, y: ny, valueA: value }, options);
      this.pending = drawn;
      drawn.then(() => {
        if (this.pending === drawn) this.pending = null;
      }, () => {});
      if (options.transition) {
        // Moving points: done for the caller at the first frame of the move; the
        // highlight and overlay follow when the points arrive.
        const firstFrame = new Promise((resolve) => this.sp.subscribe("drawing", () => resolve(), 1));
        await Promise.race([drawn, firstFrame]);
        drawn.then(() => this.applyHighlight());
      } else {
        const began = performance.now();
        await drawn;
        this.frameMs = performance.now() - began;
      }
    } finally {
      this.silent = false;
    }
    this.drawn = true;
    if (!same) this.sp.reset();
    if (!options.transition) this.applyHighlight();
    this.drawOverlay();
  }

  /** Rebuild the search index of hover and lasso after frames drawn with `keepIndex`. */
  async reindex() {
    if (!this.sp || !this.staleIndex || !this.n) return;
    await this.draw({ x: this.x, y: this.y, domain: this.domain, colour: this.colour, titles: this.titles, diagonal: this.diagonal });
  }

  /** Fill `value` for the GPU and return the palette (hex colours). */
  encodeColour(colour, value) {
    if (!colour || colour.kind === "single") {
      value.fill(0);
      return [colour?.colour || cssVar("--accent") || "#4e9bd6"];
    }
    if (colour.kind === "category") {
      const palette = [...colour.palette, "#888888"];
      const unknown = palette.length - 1;
      for (let i = 0; i < value.length; i++) {
        const v = colour.values[i];
        value[i] = v >= 0 && v < unknown ? v : unknown;
      }
      return palette;
    }
    const [lo, hi] = colour.range;
    const span = hi - lo || 1;
    for (let i = 0; i < value.length; i++) {
      const v = (colour.values[i] - lo) / span;
      value[i] = Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0;
    }
    return RAMP;
  }

  renderLegend() {
    const c = this.colour;
    if (c && c === this.legendFor && this.hiddenCount === this.legendHidden) return;
    this.legendFor = c;
    this.legendHidden = this.hiddenCount;
    this.legend.replaceChildren();
    if (!c || c.kind === "single") return;
    if (c.kind === "category") {
      const present = new Set();
      for (let i = 0; i < c.values.length; i++) present.add(c.values[i] >= 0 && c.values[i] < c.palette.length ? c.values[i] : -1);
      for (const key of [...present].sort((a, b) => a - b)) {
        const colour = key >= 0 ? c.palette[key] : "#888888";
        const name = key >= 0 ? c.names?.[key] ?? String(key) : "unknown";
        this.legend.append(el("span", { class: "item" }, el("i", { style: `background:${colour}` }), name));
      }
    } else {
      const bar = el("span", { class: "ramp", style: `background:linear-gradient(90deg,${RAMP.join(",")})` });
      this.legend.append(
        el("span", { class: "item title" }, c.title || ""),
        el("span", { class: "item" }, fmt(c.range[0]), bar, fmt(c.range[1])),
      );
    }
    if (this.hiddenCount) this.legend.append(el("span", { class: "item muted" }, `${int(this.hiddenCount)} without a value, not drawn`));
  }

  /** Outline these indices (the dashboard's selection), or none with null. */
  setHighlight(indices) {
    this.highlight = indices && indices.length && indices.length < this.n ? indices : null;
    this.applyHighlight();
  }

  applyHighlight() {
    if (!this.sp || !this.drawn) {
      this.drawCanvasFallback();
      return;
    }
    this.silent = true;
    try {
      if (this.highlight) this.sp.select(Array.from(this.highlight), { preventEvent: true });
      else this.sp.deselect({ preventEvent: true });
    } finally {
      this.silent = false;
    }
  }

  /** Polylines in data units, drawn over the points: [{x: [...], y: [...]}]. */
  setTrails(trails) {
    this.trails = trails || [];
    this.drawOverlay();
  }

  /** Client (page) coordinates of a data position, for tests and overlays. */
  toClient(x, y) {
    const rect = this.canvas.getBoundingClientRect();
    if (!this.sp) {
      const [x0, x1] = this.domain.x;
      const [y0, y1] = this.domain.y;
      return [rect.left + ((x - x0) / (x1 - x0)) * rect.width, rect.top + (1 - (y - y0) / (y1 - y0)) * rect.height];
    }
    return [rect.left + this.xScale(x), rect.top + this.yScale(y)];
  }

  /** What is drawn, as plain data (the tests and the console read it). */
  snapshot() {
    const legend = [...this.legend.querySelectorAll(".item")].map((e) => e.textContent);
    return {
      renderer: this.renderer,
      n: this.n,
      x: Array.from(this.x),
      y: Array.from(this.y),
      colour: this.colour ? { kind: this.colour.kind, title: this.colour.title || "", values: Array.from(this.colour.values || []) } : null,
      legend,
      highlighted: this.highlight ? this.highlight.length : 0,
      trails: this.trails.length,
      domain: this.domain,
      lasso: this.lastLasso || null,
      pointSize: pointSize(this.n),
      glides: this.frameMs < SLOW_FRAME_MS,
      frameMs: this.frameMs,
      titles: { ...this.titles },
      view: this.view(),
    };
  }

  /** The data range in view now: {x: [lo, hi], y: [lo, hi]}. */
  view() {
    if (!this.sp) return this.domain;
    return { x: this.xScale.domain(), y: this.yScale.domain() };
  }

  // ---------------------------------------------------------------- overlay (axes, trails)
  drawOverlay() {
    const rect = this.host.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.floor(rect.width));
    const h = Math.max(1, Math.floor(rect.height));
    if (this.overlay.width !== w * ratio || this.overlay.height !== h * ratio) {
      this.overlay.width = w * ratio;
      this.overlay.height = h * ratio;
      this.overlay.style.width = `${w}px`;
      this.overlay.style.height = `${h}px`;
    }
    const ctx = this.overlay.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const { width, height } = this.size();
    const view = this.view();
    const px = (x) => MARGIN.left + ((x - view.x[0]) / (view.x[1] - view.x[0])) * width;
    const py = (y) => MARGIN.top + (1 - (y - view.y[0]) / (view.y[1] - view.y[0])) * height;
    const muted = cssVar("--muted") || "#999";
    const text = cssVar("--fg") || "#ddd";
    ctx.strokeStyle = muted;
    ctx.fillStyle = muted;
    ctx.lineWidth = 1;
    ctx.font = "11px system-ui, sans-serif";
    ctx.strokeRect(MARGIN.left + 0.5, MARGIN.top + 0.5, width, height);
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const v of niceTicks(view.x[0], view.x[1], Math.max(2, Math.floor(width / 80)))) {
      const p = px(v);
      ctx.beginPath();
      ctx.moveTo(p, MARGIN.top + height);
      ctx.lineTo(p, MARGIN.top + height + 4);
      ctx.stroke();
      ctx.fillText(tick(v), p, MARGIN.top + height + 6);
    }
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const v of niceTicks(view.y[0], view.y[1], Math.max(2, Math.floor(height / 50)))) {
      const p = py(v);
      ctx.beginPath();
      ctx.moveTo(MARGIN.left - 4, p);
      ctx.lineTo(MARGIN.left, p);
      ctx.stroke();
      ctx.fillText(tick(v), MARGIN.left - 6, p);
    }
    ctx.fillStyle = text;
    ctx.textAlign = "center";
    ctx.textBaseline = "bottom";
    ctx.fillText(this.titles.x || "", MARGIN.left + width / 2, h - 2);
    ctx.save();
    ctx.translate(12, MARGIN.top + height / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = "middle";
    ctx.fillText(this.titles.y || "", 0, 0);
    ctx.restore();
    ctx.save();
    ctx.beginPath();
    ctx.rect(MARGIN.left, MARGIN.top, width, height);
    ctx.clip();
    if (this.diagonal) {
      const lo = Math.min(view.x[0], view.y[0]);
      const hi = Math.max(view.x[1], view.y[1]);
      ctx.setLineDash([3, 3]);
      ctx.strokeStyle = muted;
      ctx.beginPath();
      ctx.moveTo(px(lo), py(lo));
      ctx.lineTo(px(hi), py(hi));
      ctx.stroke();
      ctx.setLineDash([]);
    }
    if (this.trails.length) {
      ctx.strokeStyle = cssVar("--accent") || "#4e9bd6";
      ctx.globalAlpha = 0.7;
      ctx.lineWidth = 1.2;
      for (const trail of this.trails) {
        ctx.beginPath();
        let started = false;
        for (let i = 0; i < trail.x.length; i++) {
          if (!Number.isFinite(trail.x[i]) || !Number.isFinite(trail.y[i])) {
            started = false;
            continue;
          }
          const [a, b] = [px(trail.x[i]), py(trail.y[i])];
          if (started) ctx.lineTo(a, b);
          else ctx.moveTo(a, b);
          started = true;
        }
        ctx.stroke();
        const last = trail.x.length - 1;
        if (last >= 0 && Number.isFinite(trail.x[last])) {
          ctx.beginPath();
          ctx.arc(px(trail.x[last]), py(trail.y[last]), 4.5, 0, 2 * Math.PI);
          ctx.stroke();
        }
      }
      ctx.globalAlpha = 1;
    }
    ctx.restore();
  }

  // ---------------------------------------------------------------- hover card
  showHover(i) {
    if (i === undefined || i === null || i < 0 || i >= this.n) return;
    this.hovered = i;
    const lines = this.hoverText(i);
    const src = this.thumbURL(i);
    const children = [];
    if (src) children.push(el("img", { src, width: "64", height: "64", alt: "" }));
    children.push(el("div", {}, ...lines.map((line) => el("div", {}, line))));
    this.card.replaceChildren(...children);
    const [cx, cy] = this.toClient(this.x[i], this.y[i]);
    const host = this.host.getBoundingClientRect();
    const left = Math.min(cx - host.left + 12, host.width - 190);
    const top = Math.max(0, cy - host.top - 12);
    Object.assign(this.card.style, { left: `${left}px`, top: `${top}px` });
    this.card.hidden = false;
    this.card.dataset.index = String(i);
  }

  hideHover() {
    this.hovered = null;
    this.card.hidden = true;
  }

  // ---------------------------------------------------------------- canvas fallback
  bindCanvasFallback() {
    let path = null;
    const local = (ev) => {
      const rect = this.canvas.getBoundingClientRect();
      return [ev.clientX - rect.left, ev.clientY - rect.top];
    };
    this.canvas.addEventListener("pointerdown", (ev) => {
      path = [local(ev)];
    });
    this.canvas.addEventListener("pointermove", (ev) => {
      if (path) {
        path.push(local(ev));
        return;
      }
      const i = this.nearest(...local(ev));
      if (i >= 0) this.showHover(i);
      else this.hideHover();
    });
    this.canvas.addEventListener("pointerup", (ev) => {
      const drawn = path || [];
      path = null;
      if (drawn.length < 4) {
        const i = this.nearest(...local(ev));
        if (i >= 0) this.onClick(i);
        return;
      }
      const box = this.mode === "box";
      const xs = drawn.map((p) => p[0]);
      const ys = drawn.map((p) => p[1]);
      const inside = [];
      for (let i = 0; i < this.n; i++) {
        const [a, b] = this.canvasPos(i);
        if (!Number.isFinite(a)) continue;
        const hit = box
          ? a >= Math.min(...xs) && a <= Math.max(...xs) && b >= Math.min(...ys) && b <= Math.max(...ys)
          : pointInPolygon(a, b, drawn);
        if (hit) inside.push(i);
      }
      this.onLasso(inside);
    });
  }

  canvasPos(i) {
    const { width, height } = this.size();
    return [((this.nx[i] + 1) / 2) * width, (1 - (this.ny[i] + 1) / 2) * height];
  }

  nearest(a, b) {
    let best = -1;
    let bestD = 36; // within 6 px
    for (let i = 0; i < this.n; i++) {
      if (!Number.isFinite(this.x[i]) || !Number.isFinite(this.y[i])) continue;
      const [p, q] = this.canvasPos(i);
      const d = (p - a) ** 2 + (q - b) ** 2;
      if (d < bestD) {
        bestD = d;
        best = i;
      }
    }
    return best;
  }

  drawCanvasFallback() {
    if (this.sp || !this.nx) return;
    const { width, height } = this.size();
    const ratio = window.devicePixelRatio || 1;
    this.canvas.width = width * ratio;
    this.canvas.height = height * ratio;
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const size = pointSize(this.n);
    const continuous = this.colour?.kind === "continuous";
    const marked = this.highlight ? new Set(this.highlight) : null;
    for (let i = 0; i < this.n; i++) {
      if (!Number.isFinite(this.x[i]) || !Number.isFinite(this.y[i])) continue;
      const [a, b] = this.canvasPos(i);
      const v = this.value[i];
      ctx.fillStyle = continuous ? this.palette[Math.round(v * (this.palette.length - 1))] : this.palette[v] || "#888";
      ctx.fillRect(a - size / 2, b - size / 2, size, size);
      if (marked?.has(i)) {
        ctx.strokeStyle = cssVar("--accent") || "#4e9bd6";
        ctx.strokeRect(a - size, b - size, 2 * size, 2 * size);
      }
    }
  }

  destroy() {
    this.resizeObserver.disconnect();
    this.sp?.destroy();
    this.renderer_?.destroy();
  }
}

function pointInPolygon(x, y, poly) {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i];
    const [xj, yj] = poly[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}
