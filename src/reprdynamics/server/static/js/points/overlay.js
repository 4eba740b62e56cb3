// The overlay drawn over the points on a 2-D canvas: the frame, the axes with their ticks
// and titles, the dashed y = x diagonal and the trails. It is drawn in the data range in
// view, so it follows every pan and zoom of the WebGL layer.

import { cssVar } from "../util.js";

/** Room around the plot area for the axes and their titles, in CSS pixels. */
export const MARGIN = { left: 56, right: 10, top: 30, bottom: 42 };

/** A minimal linear scale with the D3 API regl-scatterplot keeps in sync with the view. */
export function linearScale(d0, d1) {
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

/**
 * Draw the overlay on `canvas`, which covers a host of `host` size ({width, height}, CSS
 * px). `area`: the plot area's {width, height} inside MARGIN; `view`: the data range in
 * view, {x: [lo, hi], y: [lo, hi]}; `titles`: {x, y}; `diagonal`: draw y = x; `trails`:
 * polylines in data units, [{x: [...], y: [...]}].
 */
export function paintOverlay(canvas, { host, area, view, titles, diagonal, trails }) {
  const ratio = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.floor(host.width));
  const h = Math.max(1, Math.floor(host.height));
  if (canvas.width !== w * ratio || canvas.height !== h * ratio) {
    canvas.width = w * ratio;
    canvas.height = h * ratio;
    canvas.style.width = `${w}px`;
    canvas.style.height = `${h}px`;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const { width, height } = area;
  const px = (x) => MARGIN.left + ((x - view.x[0]) / (view.x[1] - view.x[0])) * width;
  const py = (y) => MARGIN.top + (1 - (y - view.y[0]) / (view.y[1] - view.y[0])) * height;
  const muted = cssVar("--muted") || "#999";
  drawAxes(ctx, { w, h, width, height, view, titles, px, py, muted });
  ctx.save();
  ctx.beginPath();
  ctx.rect(MARGIN.left, MARGIN.top, width, height);
  ctx.clip();
  if (diagonal) {
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
  if (trails.length) drawTrails(ctx, trails, px, py);
  ctx.restore();
}

/** The frame, the ticks of both axes with their labels, and the axis titles. */
function drawAxes(ctx, { w, h, width, height, view, titles, px, py, muted }) {
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
  ctx.fillStyle = cssVar("--fg") || "#ddd";
  ctx.textAlign = "center";
  ctx.textBaseline = "bottom";
  ctx.fillText(titles.x || "", MARGIN.left + width / 2, h - 2);
  ctx.save();
  ctx.translate(12, MARGIN.top + height / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textBaseline = "middle";
  ctx.fillText(titles.y || "", 0, 0);
  ctx.restore();
}

/** Each trail as a line through its finite points, with a ring at its last one. */
function drawTrails(ctx, trails, px, py) {
  ctx.strokeStyle = cssVar("--accent") || "#4e9bd6";
  ctx.globalAlpha = 0.7;
  ctx.lineWidth = 1.2;
  for (const trail of trails) {
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
