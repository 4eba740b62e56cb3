// The plain-canvas point layer, where WebGL is missing: it draws the points with the
// selection outlined, finds the point under the pointer, and turns pointer gestures into
// a hover, a click, or a lasso or box selection. It cannot pan or zoom.

import { cssVar } from "../util.js";
import { pointsInside } from "./tools.js";

const HIT_RADIUS_SQ = 36; // a point within 6 px of the pointer is under it

export class CanvasPoints {
  /**
   * Draw on `plot.canvas` the points `plot` holds (its positions in [-1, 1] `nx`, `ny`,
   * colour `value` and `palette`), and call back `plot.showHover`, `plot.hideHover`,
   * `plot.onClick` and `plot.onLasso` as `PointPlot` with WebGL would.
   */
  constructor(plot) {
    this.plot = plot;
    this.bind();
  }

  bind() {
    const plot = this.plot;
    const canvas = plot.canvas;
    let path = null;
    const local = (ev) => {
      const rect = canvas.getBoundingClientRect();
      return [ev.clientX - rect.left, ev.clientY - rect.top];
    };
    canvas.addEventListener("pointerdown", (ev) => {
      path = [local(ev)];
    });
    canvas.addEventListener("pointermove", (ev) => {
      if (path) {
        path.push(local(ev));
        return;
      }
      const i = this.nearest(...local(ev));
      if (i >= 0) plot.showHover(i);
      else plot.hideHover();
    });
    canvas.addEventListener("pointerup", (ev) => {
      const drawn = path || [];
      path = null;
      if (drawn.length < 4) {
        const i = this.nearest(...local(ev));
        if (i >= 0) plot.onClick(i);
        return;
      }
      plot.onLasso(pointsInside(drawn, plot.mode === "box", plot.n, (i) => this.position(i)));
    });
  }

  /** Point i's place on the canvas, in CSS px. */
  position(i) {
    const { width, height } = this.plot.size();
    return [((this.plot.nx[i] + 1) / 2) * width, (1 - (this.plot.ny[i] + 1) / 2) * height];
  }

  /** The drawn point nearest to canvas position (a, b) within 6 px, or -1. */
  nearest(a, b) {
    const { x, y, n } = this.plot;
    let best = -1;
    let bestD = HIT_RADIUS_SQ;
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(x[i]) || !Number.isFinite(y[i])) continue;
      const [p, q] = this.position(i);
      const d = (p - a) ** 2 + (q - b) ** 2;
      if (d < bestD) {
        bestD = d;
        best = i;
      }
    }
    return best;
  }

  /** Draw every finite point as a square of `size` px, the highlighted ones outlined. */
  draw(size) {
    const plot = this.plot;
    if (!plot.nx) return;
    const { width, height } = plot.size();
    const ratio = window.devicePixelRatio || 1;
    plot.canvas.width = width * ratio;
    plot.canvas.height = height * ratio;
    const ctx = plot.canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const { x, y, n, value, palette } = plot;
    const continuous = plot.colour?.kind === "continuous";
    const marked = plot.highlight ? new Set(plot.highlight) : null;
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(x[i]) || !Number.isFinite(y[i])) continue;
      const [a, b] = this.position(i);
      const v = value[i];
      ctx.fillStyle = continuous ? palette[Math.round(v * (palette.length - 1))] : palette[v] || "#888";
      ctx.fillRect(a - size / 2, b - size / 2, size, size);
      if (marked?.has(i)) {
        ctx.strokeStyle = cssVar("--accent") || "#4e9bd6";
        ctx.strokeRect(a - size, b - size, 2 * size, 2 * size);
      }
    }
  }
}
