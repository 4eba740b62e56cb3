// Dataset-cartography conventions on the data map (Swayamdipta et al. 2020): the three
// regions shaded and labelled from the thresholds the server states, marginal histograms
// of variability and confidence, and rings around the samples whose label is known to be
// flipped. Layers around a PointPlot (js/points.js), redrawn when its view pans or zooms.

import { el, svg, int, cssVar } from "../util.js";

export const REGION_NAMES = ["easy-to-learn", "ambiguous", "hard-to-learn"];
const REGION_COLOURS = { "easy-to-learn": "#59a14f", ambiguous: "#edc948", "hard-to-learn": "#e15759" };
export const HISTOGRAM_BINS = 30;

/**
 * The region of a sample (the server's rule, docs/measures.md): variability >=
 * variability_threshold → ambiguous; else confidence >= confidence_threshold →
 * easy-to-learn; else hard-to-learn. null when either value is undefined.
 */
export function regionOf(variability, confidence, rule) {
  if (!Number.isFinite(variability) || !Number.isFinite(confidence)) return null;
  if (variability >= rule.variability_threshold) return "ambiguous";
  return confidence >= rule.confidence_threshold ? "easy-to-learn" : "hard-to-learn";
}

/**
 * The regions as rectangles in data units, within `domain`: [{name, x: [lo, hi], y: [lo, hi]}].
 * Ambiguous spans every confidence right of the variability threshold.
 */
export function regionRects(rule, domain) {
  const v = rule.variability_threshold;
  const c = rule.confidence_threshold;
  const [x0, x1] = [Math.min(domain.x[0], v), Math.max(domain.x[1], v)];
  const [y0, y1] = [Math.min(domain.y[0], c), Math.max(domain.y[1], c)];
  return [
    { name: "easy-to-learn", x: [x0, v], y: [c, y1] },
    { name: "ambiguous", x: [v, x1], y: [y0, y1] },
    { name: "hard-to-learn", x: [x0, v], y: [y0, c] },
  ];
}

/**
 * Counts of `values` in `bins` equal bins over [lo, hi] (numpy's rule: each bin closed on
 * the left, the last closed on both sides), for the positions where `keep(i)` holds.
 */
export function histogram(values, lo, hi, bins, keep = () => true) {
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + ((hi - lo) * i) / bins);
  edges[bins] = hi;
  const counts = new Array(bins).fill(0);
  const width = (hi - lo) / bins;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(v >= lo && v <= hi) || !keep(i)) continue;
    let b = Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width)));
    while (b > 0 && v < edges[b]) b--;
    while (b < bins - 1 && v >= edges[b + 1]) b++;
    counts[b]++;
  }
  return { edges, counts };
}

export class CartographyLayers {
  /**
   * @param {PointPlot} plot  the data map's plot (its host gets the layers)
   * @param {HTMLElement} frame  the element around the host that holds the marginals
   */
  constructor(plot, frame) {
    this.plot = plot;
    this.host = plot.host;
    this.rule = null;
    this.x = null;
    this.y = null;
    this.flipped = null; // Uint8Array per drawn point, or null
    this.showFlipped = true;
    this.selected = null; // Uint8Array per drawn point, or null for all
    this.shade = svg("svg", { class: "dm-regions", "aria-hidden": "true" });
    this.rings = el("canvas", { class: "dm-flipped" });
    this.labels = el("div", { class: "dm-region-labels" });
    // Below the points (the WebGL canvas is transparent), rings and labels above them.
    this.host.insertBefore(this.shade, this.plot.canvas);
    this.plot.canvas.after(this.rings);
    this.host.append(this.labels);
    this.top = el("canvas", { class: "dm-marginal dm-marginal-x", "aria-label": "histogram of variability" });
    this.right = el("canvas", { class: "dm-marginal dm-marginal-y", "aria-label": "histogram of confidence" });
    frame.querySelector(".dm-top").append(this.top);
    frame.querySelector(".dm-right").append(this.right);
    this.marginals = null;
    new ResizeObserver(() => this.redraw()).observe(frame);
  }

  /** Data to draw around: positions, the region rule (or null), flipped and selected masks. */
  set({ x, y, rule, flipped, selected } = {}) {
    if (x !== undefined) this.x = x;
    if (y !== undefined) this.y = y;
    if (rule !== undefined) this.rule = rule;
    if (flipped !== undefined) this.flipped = flipped;
    if (selected !== undefined) this.selected = selected;
    this.redraw();
  }

  /** The plot area (the WebGL canvas) relative to the host, and a data → area mapping. */
  area() {
    const host = this.host.getBoundingClientRect();
    const rect = this.plot.canvas.getBoundingClientRect();
    const view = this.plot.view();
    const px = (v) => ((v - view.x[0]) / (view.x[1] - view.x[0])) * rect.width;
    const py = (v) => (1 - (v - view.y[0]) / (view.y[1] - view.y[0])) * rect.height;
    return { left: rect.left - host.left, top: rect.top - host.top, width: rect.width, height: rect.height, px, py, view };
  }

  redraw() {
    if (!this.x) return;
    const a = this.area();
    if (!(a.width > 0 && a.height > 0)) return;
    this.drawRegions(a);
    this.drawRings(a);
    this.drawMarginals(a);
  }

  drawRegions(a) {
    for (const node of [this.shade, this.rings]) {
      Object.assign(node.style, { left: `${a.left}px`, top: `${a.top}px`, width: `${a.width}px`, height: `${a.height}px` });
    }
    this.shade.setAttribute("viewBox", `0 0 ${a.width} ${a.height}`);
    this.shade.replaceChildren();
    this.labels.replaceChildren();
    if (!this.rule) return;
    const place = {
      "easy-to-learn": (r) => ({ left: r.x0 + 4, top: r.y0 + 4 }),
      ambiguous: (r) => ({ left: r.x1 - 4, top: r.y0 + 4, right: true }),
      "hard-to-learn": (r) => ({ left: r.x0 + 4, top: r.y1 - 20 }),
    };
    const d = this.plot.domain;
    const extent = {
      x: [Math.min(d.x[0], a.view.x[0]), Math.max(d.x[1], a.view.x[1])],
      y: [Math.min(d.y[0], a.view.y[0]), Math.max(d.y[1], a.view.y[1])],
    };
    for (const region of regionRects(this.rule, extent)) {
      const x0 = Math.max(0, a.px(region.x[0]));
      const x1 = Math.min(a.width, a.px(region.x[1]));
      const y0 = Math.max(0, a.py(region.y[1]));
      const y1 = Math.min(a.height, a.py(region.y[0]));
      if (!(x1 > x0 && y1 > y0)) continue;
      const colour = REGION_COLOURS[region.name];
      this.shade.append(svg("rect", {
        x: x0, y: y0, width: x1 - x0, height: y1 - y0, fill: colour, "fill-opacity": "0.11",
        "data-region": region.name, "data-x0": region.x[0], "data-x1": region.x[1], "data-y0": region.y[0], "data-y1": region.y[1],
      }));
      const at = place[region.name]({ x0, x1, y0, y1 });
      const label = el("span", { class: "dm-region-label", dataset: { region: region.name }, style: { color: colour } }, region.name);
      label.style.top = `${a.top + Math.max(0, at.top)}px`;
      if (at.right) label.style.right = `${this.host.clientWidth - (a.left + at.left)}px`;
      else label.style.left = `${a.left + at.left}px`;
      this.labels.append(label);
    }
    // The borders: dashed lines at the thresholds.
    const line = (x1, y1, x2, y2) => svg("line", { x1, y1, x2, y2, class: "dm-threshold", "stroke-dasharray": "4 3" });
    const v = a.px(this.rule.variability_threshold);
    const c = a.py(this.rule.confidence_threshold);
    if (v >= 0 && v <= a.width) this.shade.append(line(v, 0, v, a.height));
    if (c >= 0 && c <= a.height) this.shade.append(line(0, c, Math.min(a.width, Math.max(0, v)), c));
  }

  drawRings(a) {
    const ratio = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(a.width));
    const h = Math.max(1, Math.round(a.height));
    if (this.rings.width !== w * ratio || this.rings.height !== h * ratio) {
      this.rings.width = w * ratio;
      this.rings.height = h * ratio;
    }
    const ctx = this.rings.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    let drawn = 0;
    if (this.flipped && this.showFlipped) {
      ctx.strokeStyle = cssVar("--fg") || "#fff";
      ctx.lineWidth = 1.2;
      const radius = Math.max(3, Math.min(6, 4 + 600 / Math.sqrt(Math.max(this.x.length, 1)) / 20));
      ctx.beginPath();
      for (let i = 0; i < this.x.length; i++) {
        if (!this.flipped[i]) continue;
        const px = a.px(this.x[i]);
        const py = a.py(this.y[i]);
        if (!Number.isFinite(px) || !Number.isFinite(py)) continue;
        drawn++;
        if (px < -radius || px > w + radius || py < -radius || py > h + radius) continue;
        ctx.moveTo(px + radius, py);
        ctx.arc(px, py, radius, 0, 2 * Math.PI);
      }
      ctx.stroke();
    }
    this.rings.dataset.flipped = String(drawn);
    this.rings.hidden = !drawn;
  }

  /** Histograms of the samples in view: all of them (muted) and the selected ones (accent). */
  drawMarginals(a) {
    const { view } = a;
    const inX = (i) => this.x[i] >= view.x[0] && this.x[i] <= view.x[1];
    const inY = (i) => this.y[i] >= view.y[0] && this.y[i] <= view.y[1];
    const sel = this.selected;
    const hx = histogram(this.x, view.x[0], view.x[1], HISTOGRAM_BINS, inY);
    const hy = histogram(this.y, view.y[0], view.y[1], HISTOGRAM_BINS, inX);
    if (sel) {
      hx.selected = histogram(this.x, view.x[0], view.x[1], HISTOGRAM_BINS, (i) => sel[i] && inY(i)).counts;
      hy.selected = histogram(this.y, view.y[0], view.y[1], HISTOGRAM_BINS, (i) => sel[i] && inX(i)).counts;
    }
    this.marginals = { x: hx, y: hy, view: { x: [...view.x], y: [...view.y] } };
    this.paintHistogram(this.top, hx, a, "x");
    this.paintHistogram(this.right, hy, a, "y");
  }

  paintHistogram(canvas, hist, a, axis) {
    const box = canvas.parentElement.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(box.width));
    const h = Math.max(1, Math.round(box.height));
    canvas.width = w * ratio;
    canvas.height = h * ratio;
    Object.assign(canvas.style, { width: `${w}px`, height: `${h}px` });
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const max = Math.max(1, ...hist.counts);
    const bins = hist.counts.length;
    const muted = cssVar("--muted") || "#999";
    const accent = cssVar("--accent") || "#4e9bd6";
    const paint = (counts, colour, alpha) => {
      ctx.fillStyle = colour;
      ctx.globalAlpha = alpha;
      for (let b = 0; b < bins; b++) {
        const size = (counts[b] / max) * (axis === "x" ? h - 2 : w - 2);
        if (!size) continue;
        if (axis === "x") {
          const x0 = a.left + (a.width * b) / bins;
          ctx.fillRect(x0 + 0.5, h - size, a.width / bins - 1, size);
        } else {
          const y1 = a.top + a.height - (a.height * b) / bins;
          ctx.fillRect(0, y1 - a.height / bins + 0.5, size, a.height / bins - 1);
        }
      }
    };
    paint(hist.counts, muted, 0.55);
    if (hist.selected) paint(hist.selected, accent, 0.9);
    ctx.globalAlpha = 1;
    canvas.dataset.max = String(max);
    canvas.title = `${axis === "x" ? "variability" : "confidence"}: ${int(hist.counts.reduce((s, c) => s + c, 0))} samples in view, `
      + `${bins} bins (tallest ${int(max)})`;
  }
}
