// The one point-view module: every scatter of samples (the entropy scatter a → b, the
// data map, the projection over time) draws through `PointPlot`.
//
// WebGL through regl-scatterplot (vendor/regl-scatterplot.js, built by
// scripts/build_regl_scatterplot.sh), so a million points pan, zoom, lasso and animate in
// the browser. Around it, each in its own module under points/: the axes, titles and
// trails (overlay.js), the colours and legend (colour.js), the pan, lasso and box tools
// (tools.js), the hover card with the sample's thumbnail (hover.js), and a plain canvas
// drawing with a notice where WebGL is unavailable (canvas.js).
// Positions are given in data units; the plot maps its fixed domain to WebGL's [-1, 1].

import createScatterplot, { createRenderer } from "../vendor/regl-scatterplot.js";
import { el, int, cssVar } from "./util.js";
import { MARGIN, linearScale, paintOverlay } from "./points/overlay.js";
import { encodeColour, fillLegend } from "./points/colour.js";
import { toolBar, markMode, mouseMode } from "./points/tools.js";
import { HoverCard } from "./points/hover.js";
import { CanvasPoints } from "./points/canvas.js";

/** Record when something was drawn, for the benchmark and the tests (window.__rd.marks). */
export function mark(name) {
  const marks = window.__rd?.marks;
  if (marks) marks[name] = performance.now();
}

/** Point size in CSS pixels for n points: large for a few, one pixel for millions. */
export function pointSize(n) {
  return Math.max(1, Math.min(7, Math.round((600 / Math.sqrt(Math.max(n, 1))) * 2) / 2));
}

/** The most points one view draws (its state texture holds 8192 x 8192 at most; the page
 * would need several GB well before that). */
export const MAX_POINTS = 20_000_000;
/** Plain draws slower than this (ms) make moves jump instead of glide. */
export const SLOW_FRAME_MS = 300;

function tooMany(n) {
  return `${int(n)} points are more than one view draws (${int(MAX_POINTS)}). Select fewer samples (the picker, a class, or a lasso) to draw them.`;
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
    this.hover = new HoverCard();
    this.notice = el("div", { class: "points-notice", hidden: "" });
    this.tools = toolBar((mode) => this.setMode(mode), () => this.resetView());
    host.append(this.canvas, this.overlay, this.tools, this.legend, this.hover.node, this.notice);
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
      this.fallback = new CanvasPoints(this);
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
    markMode(this.tools, mode);
    this.sp?.set(mouseMode(mode));
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
    const palette = encodeColour(colour, value);
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

  /** The legend of the colours drawn (redone only when they or the hidden count change). */
  renderLegend() {
    const c = this.colour;
    if (c && c === this.legendFor && this.hiddenCount === this.legendHidden) return;
    this.legendFor = c;
    this.legendHidden = this.hiddenCount;
    fillLegend(this.legend, c, this.hiddenCount);
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

  /** Axes, titles, the diagonal and trails, in the data range in view. */
  drawOverlay() {
    paintOverlay(this.overlay, {
      host: this.host.getBoundingClientRect(), area: this.size(), view: this.view(),
      titles: this.titles, diagonal: this.diagonal, trails: this.trails,
    });
  }

  /** The hover card of point i, beside it. */
  showHover(i) {
    if (i === undefined || i === null || i < 0 || i >= this.n) return;
    const at = this.toClient(this.x[i], this.y[i]);
    this.hover.show(i, this.hoverText(i), this.thumbURL(i), at, this.host.getBoundingClientRect());
  }

  hideHover() {
    this.hover.hide();
  }

  drawCanvasFallback() {
    if (!this.sp) this.fallback?.draw(pointSize(this.n));
  }

  destroy() {
    this.resizeObserver.disconnect();
    this.sp?.destroy();
    this.renderer_?.destroy();
  }
}
