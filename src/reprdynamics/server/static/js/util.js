// Small DOM and formatting helpers shared by the views.

/** Create an element: el("div", {class: "x", onclick: f}, child, "text"). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      node.className = value;
    } else if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else if (key === "style" && typeof value === "object") {
      for (const [name, v] of Object.entries(value)) {
        if (name.startsWith("--")) node.style.setProperty(name, v);
        else node.style[name] = v;
      }
    } else if (value === true) {
      node.setAttribute(key, "");
    } else {
      node.setAttribute(key, value);
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A number for humans: 3 significant digits, integers as they are. */
export function fmt(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e5)) return value.toExponential(2);
  return value.toFixed(Math.max(0, digits - Math.max(0, Math.floor(Math.log10(abs || 1)) + 1) + 1));
}

export const int = (n) => Number(n).toLocaleString("en-US");

// Tableau-like categorical palette (readable on dark and light backgrounds).
const PALETTE = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
  "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
];

export function classColour(label) {
  if (label === undefined || label === null || label < 0) return "#888888";
  return PALETTE[label % PALETTE.length];
}

/** Colours of the correctness transition a → b. */
export const CORRECTNESS = {
  "1,1": { name: "correct at a and b", colour: "#59a14f" },
  "0,1": { name: "learned (wrong → correct)", colour: "#4e9bd6" },
  "1,0": { name: "forgotten (correct → wrong)", colour: "#e15759" },
  "0,0": { name: "wrong at a and b", colour: "#9a9a9a" },
};

/** Matplotlib's inferno (Plotly.js has no built-in inferno). */
export const INFERNO = [
  [0.0, "#000004"], [0.1, "#160b39"], [0.2, "#420a68"], [0.3, "#6a176e"], [0.4, "#932667"],
  [0.5, "#bc3754"], [0.6, "#dd513a"], [0.7, "#f37819"], [0.8, "#fca50a"], [0.9, "#f6d746"],
  [1.0, "#fcffa4"],
];

/** Read a CSS custom property of the document (theme colours for Plotly). */
export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** Plotly layout defaults that follow the page theme. */
export function baseLayout(extra = {}) {
  const fg = cssVar("--fg") || "#222";
  const grid = cssVar("--grid") || "#ddd";
  const layout = {
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12, color: fg },
    margin: { l: 56, r: 16, t: 16, b: 48 },
    hoverlabel: { font: { family: "ui-monospace, SFMono-Regular, Menlo, monospace", size: 12 } },
    ...extra,
  };
  for (const axis of Object.keys(layout).filter((k) => /^[xy]axis\d*$/.test(k))) {
    layout[axis] = { gridcolor: grid, zerolinecolor: grid, linecolor: grid, ...layout[axis] };
  }
  return layout;
}

export const PLOT_CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["sendDataToCloud"] };

/** Sorted unique Int32Array of ids. */
export function idSet(ids) {
  const arr = Int32Array.from(ids);
  arr.sort();
  let w = 0;
  for (let r = 0; r < arr.length; r++) if (r === 0 || arr[r] !== arr[r - 1]) arr[w++] = arr[r];
  return arr.slice(0, w);
}

/** Binary search: position of `id` in the sorted `ids`, or -1. */
export function indexOfSorted(ids, id) {
  let lo = 0;
  let hi = ids.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (ids[mid] === id) return mid;
    if (ids[mid] < id) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** [min, max] of the finite values of the given arrays, or `empty` when there are none. */
export function finiteRange(arrays, empty = [0, 1]) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const arr of arrays) {
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i];
      if (!Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return Number.isFinite(lo) ? [lo, hi] : empty.slice();
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/**
 * The page `page` of `total` rows, `size` a page, moved inside the pages there are:
 * {page, pages, start, end} (rows start..end-1; at least one page, even when empty).
 */
export function pageRange(total, page, size) {
  const pages = Math.max(1, Math.ceil(total / size));
  const clamped = Math.min(Math.max(0, page), pages - 1);
  const start = clamped * size;
  return { page: clamped, pages, start, end: Math.min(total, start + size) };
}
