// The point views' selection tools: the tool bar (pan and zoom, lasso, box, reset), the
// mouse mode each tool sets in regl-scatterplot, and which points a lasso or box drawn
// on the plain canvas holds.

import { el } from "../util.js";

const TOOLS = [
  ["pan", "✥", "pan and zoom (scroll to zoom)"],
  ["lasso", "◌", "lasso: draw around samples to select them"],
  ["box", "▭", "box: drag a rectangle to select samples"],
];

/** The tool bar: `onMode(mode)` when a tool is picked, `onReset()` for ⟲. */
export function toolBar(onMode, onReset) {
  const tools = el("div", { class: "points-tools" });
  for (const [mode, label, title] of TOOLS) {
    const button = el("button", { type: "button", "data-mode": mode, title, "aria-label": title }, label);
    button.addEventListener("click", () => onMode(mode));
    tools.append(button);
  }
  const reset = el("button", { type: "button", title: "reset the view", "aria-label": "reset the view" }, "⟲");
  reset.addEventListener("click", () => onReset());
  tools.append(reset);
  return tools;
}

/** Show `mode` as the active tool of `tools`. */
export function markMode(tools, mode) {
  for (const b of tools.querySelectorAll("[data-mode]")) b.classList.toggle("active", b.dataset.mode === mode);
}

/** The regl-scatterplot settings of a tool: pan and zoom, or a freeform or rectangle lasso. */
export function mouseMode(mode) {
  if (mode === "pan") return { mouseMode: "panZoom" };
  return { mouseMode: "lasso", lassoType: mode === "box" ? "rectangle" : "freeform" };
}

/**
 * Indices of the points inside `path` ([[x, y], ...], canvas px): inside its bounding box
 * when `box`, else inside the polygon. `position(i)` gives point i's [x, y] (NaN: skipped).
 */
export function pointsInside(path, box, n, position) {
  const xs = path.map((p) => p[0]);
  const ys = path.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const inside = [];
  for (let i = 0; i < n; i++) {
    const [a, b] = position(i);
    if (!Number.isFinite(a)) continue;
    const hit = box ? a >= x0 && a <= x1 && b >= y0 && b <= y1 : pointInPolygon(a, b, path);
    if (hit) inside.push(i);
  }
  return inside;
}

/** Even-odd rule: does a ray from (x, y) cross the polygon's edges an odd number of times? */
function pointInPolygon(x, y, poly) {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i];
    const [xj, yj] = poly[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}
