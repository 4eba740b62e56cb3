// Per-sample columns for the point views: what a point can be coloured by, fetched as
// binary columns of the per-sample table (column.bin), one request per column, shared by
// every view and cached per run state.

import { getBinary, runPath, selectionParam } from "./api.js";
import { classColour, finiteRange } from "./util.js";

/** Colour choices of the point views; `needs` says what the run must have. */
export const COLOUR_COLUMNS = [
  { key: "label", name: "label", kind: "category", needs: "labels" },
  { key: "correctness", name: "correctness", kind: "continuous", range: [0, 1], needs: "labels" },
  { key: "aum", name: "AUM", kind: "continuous", needs: "labels" },
  { key: "forgetting_events", name: "forgetting events", kind: "continuous", needs: "labels" },
  { key: "never_learned", name: "never learned", kind: "category", names: ["learned", "never learned"], needs: "labels" },
  { key: "neighbour_stability", name: "neighbour stability (k = 10)", kind: "continuous", range: [0, 1], k: 10 },
  { key: "label_flipped", name: "flipped label", kind: "category", names: ["kept", "flipped"], needs: "label_flipped" },
];

/** The colour choices this run can answer. */
export function colourChoices(info) {
  return COLOUR_COLUMNS.filter((c) => {
    if (c.needs === "labels") return Boolean(info?.has_labels);
    if (c.needs === "label_flipped") return (info?.extras || []).includes("label_flipped");
    return true;
  });
}

/** Fill a <select> with the run's colour choices, keeping `value` when it is one. */
export function fillColourSelect(select, info, value) {
  const choices = colourChoices(info);
  select.replaceChildren(...choices.map((c) => new Option(c.name, c.key)));
  select.value = choices.some((c) => c.key === value) ? value : choices[0]?.key || "";
  return select.value;
}

const cache = new Map(); // key -> Promise<Float32Array>
const CACHE_COLUMNS = 24;

function stateKey(s) {
  return `${s.run}|${s.info?.n_snapshots}|${s.info?.n_complete}`;
}

/**
 * One column of the per-sample table for `ids` (sorted; null or all = every sample) as a
 * Float32Array in the order of `ids`.
 */
export async function columnValues(s, column, ids, { k = 0, signal, onProgress } = {}) {
  const samples = await selectionParam(s.run, ids, s.info.n_samples);
  const key = `${stateKey(s)}|${column}|${k}|${samples ?? "all"}`;
  let hit = cache.get(key);
  if (!hit) {
    const params = { column, k };
    if (samples) params.samples = samples;
    hit = getBinary(runPath(s.run, "/column.bin"), params, { signal, onProgress }).then((r) => r.array);
    hit.catch(() => cache.delete(key));
    cache.set(key, hit);
    while (cache.size > CACHE_COLUMNS) cache.delete(cache.keys().next().value);
  }
  return hit;
}

function range(values) {
  const [lo, hi] = finiteRange([values]);
  return [lo, hi > lo ? hi : lo + 1];
}

/**
 * The colour spec of `PointPlot.draw` for colour choice `key` and samples `ids` (sorted
 * Int32Array): class colours from the labels, or a column of the table.
 */
export async function colourFor(s, key, ids, options = {}) {
  const choice = COLOUR_COLUMNS.find((c) => c.key === key) || COLOUR_COLUMNS[0];
  const nClasses = s.info.n_classes || s.classNames.length || 0;
  if (choice.key === "label") {
    const values = new Int32Array(ids.length);
    for (let i = 0; i < ids.length; i++) values[i] = s.labels ? s.labels[ids[i]] : -1;
    const palette = Array.from({ length: Math.max(nClasses, 1) }, (_, c) => classColour(c));
    return { kind: "category", values, palette, names: s.classNames, title: "label" };
  }
  const all = ids.length === s.info.n_samples;
  const values = await columnValues(s, choice.key, all ? null : ids, { k: choice.k || 0, ...options });
  if (choice.kind === "category") {
    const ints = Int32Array.from(values, (v) => (Number.isFinite(v) ? Math.round(v) : -1));
    return { kind: "category", values: ints, palette: ["#59a14f", "#e15759"], names: choice.names, title: choice.name };
  }
  return { kind: "continuous", values, range: choice.range || range(values), title: choice.name };
}
