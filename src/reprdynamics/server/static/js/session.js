// What every page showing a run's views shares: the store's initial state, opening a run
// (its overview and labels, the state it starts from, the heat map's head start), the one
// selection, and Plotly. The dashboard (app.js) and the notebook widget's page (embed.js)
// both build on it, so the widget shows the dashboard's own views.

import { getJSON, runPath, decodeCompact } from "./api.js";
import { Store } from "./state.js";
import { activity } from "./view.js";
import { el, int, idSet } from "./util.js";
import { kindNames } from "./kinds.js";

// False while a run opens (`primed`): the heat map draws first, the other views after it
// (or after PRIME_WAIT_MS, if the fingerprint takes longer).
const PRIME_WAIT_MS = 1500;

/** A store holding the state every view reads, before any run is open. */
export function createStore() {
  return new Store({
    runs: [],
    run: null,
    info: null,
    labels: null, // Int32Array (N,), -1 unknown
    classNames: [],
    selection: new Int32Array(0),
    selectionVersion: 0,
    selectionIsDefault: true,
    kind: "neighbour-transition",
    k: 10,
    layer: null,
    neighbours: "exact",
    fpRange: "data", // the heat map's colour range: "data" (off-diagonal min–max), "quantile", "fixed"
    localAll: false, // the local view searches neighbours among all samples, not the selection
    a: 0,
    b: 0,
    focus: null,
    measure: "entropy",
    color: "label",
    pointColor: "label", // colour of the data map and the projection (js/columns.js)
    fp: null,
    table: null,
    theme: "dark",
    primed: false,
  });
}

/** The default selection: every sample, at any N (the point views draw them all). */
export function defaultSelection(n) {
  return Int32Array.from({ length: n }, (_, i) => i);
}

/** Set `store`'s selection to the sorted unique `ids`. */
export function setSelection(store, ids, { isDefault = false } = {}) {
  const selection = idSet(ids);
  store.set({
    selection,
    selectionVersion: store.get("selectionVersion") + 1,
    selectionIsDefault: isDefault,
  });
}

/** "12 of 1,797 samples selected" in `node` (its data-count: the number selected). */
export function describeSelection(node, state) {
  const info = state.info;
  if (!info) {
    node.textContent = "";
    return;
  }
  const n = state.selection.length;
  const N = info.n_samples;
  let text = `${int(n)} of ${int(N)} samples selected`;
  if (n === N) {
    text += " (all)";
  }
  node.textContent = text;
  node.title = text; // the bar may cut it short
  node.dataset.count = String(n);
}

/** The runs the server lists, less those it could not read. */
export async function listRuns() {
  return (await getJSON("/api/runs")).runs.filter((r) => !r.error);
}

/** Fetch a run's overview and labels: {name, info, labels} or throws. */
export async function fetchRun(name) {
  const [info, res] = await Promise.all([
    getJSON(runPath(name)),
    getJSON(runPath(name, "/labels")),
  ]);
  const labels = info.has_labels && res.has_labels !== false ? decodeCompact(res.labels) : null;
  return { name, info, labels };
}

/** Sample ids from "0-99,150" (the hash's sel=), or null when it is not that, or empty. */
export function parseSelectionText(text, n) {
  const ids = [];
  for (const part of text.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return null;
    const lo = +m[1];
    const hi = m[2] === undefined ? lo : +m[2];
    if (hi < lo || hi >= n) return null;
    for (let i = lo; i <= hi; i++) ids.push(i);
  }
  return ids.length ? Int32Array.from(ids) : null;
}

/**
 * The state a freshly opened run starts from: `hash` (the URL hash's strings) can override
 * most of it, `selection` (sorted ids) the selection; the rest keeps what `store` holds.
 */
export function initialState(store, { name, info, labels }, hash = {}, { selection: given = null } = {}) {
  const T = info.n_snapshots;
  const complete = (info.complete || []).map((c, t) => (c ? t : -1)).filter((t) => t >= 0);
  const first = complete.length ? complete[0] : 0;
  const last = complete.length ? complete[complete.length - 1] : Math.max(0, T - 1);
  const clamp = (v, d) => {
    const x = Number.parseInt(v, 10);
    return Number.isFinite(x) && x >= 0 && x < T ? x : d;
  };
  const offered = kindNames(info);
  const kinds = offered.length ? offered : ["neighbour-transition"];
  const kind = kinds.includes(hash.kind) ? hash.kind : kinds.includes(store.get("kind")) ? store.get("kind") : kinds[0];
  const layers = Object.keys(info.layers || {});
  const layer = layers.includes(hash.layer) ? hash.layer : info.output_layer || layers[0];
  let selection = defaultSelection(info.n_samples);
  let selectionIsDefault = true;
  const parsed = given ?? (hash.sel ? parseSelectionText(hash.sel, info.n_samples) : null);
  if (parsed && !(given && given.length === info.n_samples)) {
    selection = idSet(parsed);
    selectionIsDefault = false;
  }
  const focus = hash.focus !== undefined && hash.focus !== "" && Number.isInteger(+hash.focus) && +hash.focus >= 0 && +hash.focus < info.n_samples
    ? +hash.focus : null;
  return {
    run: name,
    info,
    labels,
    classNames: info.class_names || [],
    kind,
    k: hash.k && +hash.k >= 1 ? +hash.k : store.get("k"),
    layer,
    fpRange: ["data", "quantile", "fixed"].includes(hash.range) ? hash.range : store.get("fpRange"),
    localAll: hash.nb !== undefined ? hash.nb === "all" : store.get("localAll"),
    a: clamp(hash.a, first),
    b: clamp(hash.b, last),
    focus,
    measure: ["entropy", "confidence", "margin", "loss"].includes(hash.measure) ? hash.measure : store.get("measure"),
    color: ["label", "correct"].includes(hash.color) ? hash.color : store.get("color"),
    fp: null,
    table: null,
    selection,
    selectionIsDefault,
    selectionVersion: store.get("selectionVersion") + 1,
    primed: false,
  };
}

/** Open a run: the state, then the other views once the heat map had its head start. */
export function openRun(store, state) {
  store.set(state);
  const version = state.selectionVersion;
  setTimeout(() => {
    if (store.get("selectionVersion") === version) store.set({ primed: true });
  }, PRIME_WAIT_MS);
}

/** Run Plotly (already being downloaded: see the preload link in index.html). */
export function loadPlotly() {
  if (window.Plotly) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "/static/plotly.min.js";
    script.onload = () => resolve();
    script.onerror = () => reject(new Error("could not load /static/plotly.min.js"));
    document.head.append(script);
  });
}

/** The actions a page hands its views: the selection, the pair, the focus, and `extra`. */
export function viewActions(store, extra = {}) {
  return {
    setSelection: (ids, options) => setSelection(store, ids, options),
    pickPair(a, b) {
      store.set({ a, b });
    },
    focus(id) {
      store.set({ focus: id });
    },
    ...extra,
  };
}

/**
 * The test and console hook (`window.__rd`) of a page showing `views` over `store`: the
 * state and the actions a user can take; `extra` adds the page's own.
 */
export function testHook(store, views, extra = {}) {
  return {
    store,
    views,
    activity,
    get state() {
      return store.state;
    },
    idle: () => activity.pending === 0 && !store.scheduled,
    select: (ids) => setSelection(store, ids),
    pickCell: (i, j) => views.heatmap.pickCell(i, j),
    marks: {},
    ...extra,
  };
}

/** Show an error of the page (not of one view) in its #app-error banner. */
export function showAppError(prefix, err) {
  const node = document.getElementById("app-error");
  node.hidden = false;
  node.replaceChildren(el("strong", {}, prefix), err.message || String(err));
}
