// How the points are coloured: the value per point and the palette the GPU draws them
// with, and the legend (categories) or colour bar (a continuous column) that names them.

import { el, fmt, int, cssVar } from "../util.js";

/** A colour ramp (viridis, 32 steps) for continuous colours. */
export const RAMP = [
  "#440154", "#471365", "#482475", "#463480", "#414487", "#3b528b", "#355f8d", "#2f6c8e",
  "#2a788e", "#25848e", "#21918c", "#1e9c89", "#20a885", "#2ab07f", "#38b977", "#4ac16d",
  "#5ec962", "#75d054", "#8ed645", "#a8db34", "#c2df23", "#dde318", "#f1e51d", "#fde725",
];

const UNKNOWN = "#888888";

/**
 * Fill `value` (one float per point) for the GPU and return the palette (hex colours):
 * a category's index into it, or a continuous value scaled to [0, 1] along RAMP.
 */
export function encodeColour(colour, value) {
  if (!colour || colour.kind === "single") {
    value.fill(0);
    return [colour?.colour || cssVar("--accent") || "#4e9bd6"];
  }
  if (colour.kind === "category") {
    const palette = [...colour.palette, UNKNOWN];
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

/**
 * Fill the legend `node` for `colour`: one item per category present, or the column's
 * title and a colour bar with its range; then how many points have no value (`hidden`).
 */
export function fillLegend(node, colour, hidden) {
  node.replaceChildren();
  if (!colour || colour.kind === "single") return;
  if (colour.kind === "category") {
    const present = new Set();
    for (let i = 0; i < colour.values.length; i++) {
      present.add(colour.values[i] >= 0 && colour.values[i] < colour.palette.length ? colour.values[i] : -1);
    }
    for (const key of [...present].sort((a, b) => a - b)) {
      const swatch = key >= 0 ? colour.palette[key] : UNKNOWN;
      const name = key >= 0 ? colour.names?.[key] ?? String(key) : "unknown";
      node.append(el("span", { class: "item" }, el("i", { style: `background:${swatch}` }), name));
    }
  } else {
    const bar = el("span", { class: "ramp", style: `background:linear-gradient(90deg,${RAMP.join(",")})` });
    node.append(
      el("span", { class: "item title" }, colour.title || ""),
      el("span", { class: "item" }, fmt(colour.range[0]), bar, fmt(colour.range[1])),
    );
  }
  if (hidden) node.append(el("span", { class: "item muted" }, `${int(hidden)} without a value, not drawn`));
}
