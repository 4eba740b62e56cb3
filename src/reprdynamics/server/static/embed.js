// The notebook widget's page (static/widget.html, which js/widget.js shows in an iframe):
// the dashboard's own heat map, data map and projection (their cards taken from
// index.html, their classes from js/views/) over one store, with the selection kept in
// step with the widget's model through window.postMessage.
//
// Messages, all {source: "reprdynamics", type, ...}:
//   to the parent:   hello                        the page has loaded; asks for the selection
//                    ready {run, n}               the run is open
//                    selection {ids, all}         the user changed the selection (sorted Int32Array)
//                    height {height}              the page's height in CSS pixels
//                    error {message}              the run could not be opened
//   from the parent: select {ids}                 set the selection (ids, or null for all)
// Only messages from the parent window are heard; only the selected ids are ever sent.

import { encodeSelection } from "./js/api.js";
import { idSet } from "./js/util.js";
import * as session from "./js/session.js";
import { HeatmapView, fingerprintParams, prefetchFingerprint } from "./js/views/heatmap.js";
import { DataMapView } from "./js/views/datamap.js";
import { ProjectionView } from "./js/views/projection.js";

const SOURCE = "reprdynamics";
/** The dashboard's cards the widget shows, in index.html's markup. */
export const CARDS = ["heatmap", "cartography", "projection"];
/** How long the page waits for the parent's selection before opening the run without it. */
const PARENT_WAIT_MS = 3000;

const params = new URLSearchParams(location.search);
const store = session.createStore();
// Where messages to the parent may go: the origin the widget said it runs on.
const parentOrigin = /^https?:\/\/[^/]+$/.test(params.get("origin") || "") ? params.get("origin") : "*";
const embedded = window.parent !== window;
// The selection version set from the parent: its change is not echoed back.
let fromParent = -1;

function post(message) {
  if (embedded) window.parent.postMessage({ source: SOURCE, ...message }, parentOrigin);
}

function setSelection(ids, options) {
  session.setSelection(store, ids, options);
}

/** The ids the parent sent, as a sorted selection of this run (unknown ids dropped). */
function parentIds(ids, n) {
  const sorted = idSet(ids || []);
  let lo = 0;
  while (lo < sorted.length && sorted[lo] < 0) lo++;
  let hi = sorted.length;
  while (hi > lo && sorted[hi - 1] >= n) hi--;
  return sorted.subarray(lo, hi);
}

/** The dashboard's markup of `CARDS`, read from index.html (one copy of the cards). */
async function cards() {
  const response = await fetch("/static/index.html");
  if (!response.ok) throw new Error(`could not read /static/index.html (${response.status})`);
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  return CARDS.map((id) => {
    const card = page.getElementById(id);
    if (!card) throw new Error(`index.html has no card #${id}`);
    return document.importNode(card, true);
  });
}

function showError(prefix, err) {
  session.showAppError(prefix, err);
  post({ type: "error", message: `${prefix}${err.message || err}` });
}

function describePair(state) {
  const node = document.getElementById("pair");
  const epochs = state.info?.epochs || [];
  const name = (t) => (epochs[t] === null || epochs[t] === undefined ? `#${t}` : `epoch ${epochs[t]}`);
  node.textContent = state.info ? `a ${name(state.a)} → b ${name(state.b)}` : "";
}

function linkDashboard(state) {
  const link = document.getElementById("open-dashboard");
  const q = new URLSearchParams({ run: state.run || "" });
  const sel = state.selectionIsDefault ? "" : encodeSelection(state.selection);
  if (sel && sel.length <= 1500) q.set("sel", sel);
  link.href = `/#${q.toString()}`;
}

// The parent's selections that came before the run was open: the latest, and how many.
const early = { ids: undefined, count: 0, heard: null };

/** Set the selection the parent sent (ids, or null for all); it is not echoed back. */
function applyParent(ids) {
  const info = store.get("info");
  const selection = ids ? parentIds(ids, info.n_samples) : session.defaultSelection(info.n_samples);
  const current = store.get("selection");
  if (selection.length === current.length && selection.every((v, i) => v === current[i])) return;
  setSelection(selection, { isDefault: selection.length === info.n_samples });
  fromParent = store.get("selectionVersion");
}

window.addEventListener("message", (event) => {
  const data = event.data;
  if (event.source !== window.parent || data?.source !== SOURCE || data.type !== "select") return;
  const ids = data.ids ?? null;
  if (store.get("info")) {
    applyParent(ids);
    return;
  }
  early.ids = ids;
  early.count++;
  early.heard?.();
});

/**
 * The selection the parent sends first: {ids (null: all; undefined: none came in time),
 * count (how many had come then)}.
 */
function firstSelection() {
  if (!embedded) return Promise.resolve({ ids: undefined, count: 0 });
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      early.heard = null;
      resolve({ ids: early.ids, count: early.count });
    };
    const timer = setTimeout(done, PARENT_WAIT_MS);
    early.heard = done;
    post({ type: "hello" });
  });
}

async function main() {
  const theme = ["light", "dark"].includes(params.get("theme")) ? params.get("theme") : "light";
  document.documentElement.dataset.theme = theme;
  store.set({ theme });
  const given = firstSelection();
  const grid = document.getElementById("widget-cards");
  try {
    grid.append(...(await cards()));
  } catch (err) {
    showError("Could not build the views: ", err);
    return;
  }

  const actions = session.viewActions(store);
  const views = {
    heatmap: new HeatmapView(store, actions),
    datamap: new DataMapView(store, actions),
    projection: new ProjectionView(store, actions),
  };

  const summary = document.getElementById("selection-summary");
  store.on(["info", "selection"], (s) => session.describeSelection(summary, s));
  store.on(["info", "a", "b"], describePair);
  store.on(["run", "selection"], linkDashboard);
  store.on(["selection"], (s) => {
    if (s.selectionVersion === fromParent || !s.info) return;
    post({ type: "selection", ids: s.selection, all: s.selection.length === s.info.n_samples });
  });
  document.getElementById("select-all").addEventListener("click", () => {
    const n = store.get("info")?.n_samples;
    if (n !== undefined) setSelection(session.defaultSelection(n), { isDefault: true });
  });
  if (embedded && "ResizeObserver" in window) {
    let last = 0;
    new ResizeObserver(() => {
      const height = Math.ceil(document.documentElement.scrollHeight);
      if (Math.abs(height - last) < 2) return;
      last = height;
      post({ type: "height", height });
    }).observe(document.body);
  }

  // Test and console hook, as in the dashboard (a subset: these three views).
  window.__rd = session.testHook(store, views, {
    embedded: true,
    points: (name) => ({ datamap: views.datamap.plot, projection: views.projection.plot })[name]?.snapshot(),
  });

  const runs = await session.listRuns().catch((err) => showError("Could not list runs: ", err));
  if (!runs) return;
  if (!runs.length) {
    showError("", new Error("No runs under the served directory."));
    return;
  }
  const wanted = params.get("run");
  const name = runs.some((r) => r.name === wanted) ? wanted : runs[0].name;
  store.set({ runs });
  try {
    const [run, { ids, count: heard }] = await Promise.all([session.fetchRun(name), given]);
    const selection = ids === undefined || ids === null ? null : parentIds(ids, run.info.n_samples);
    const first = session.initialState(store, run, {}, { selection });
    if (first.selection.length >= 2) prefetchFingerprint(name, fingerprintParams(first));
    await session.loadPlotly();
    session.openRun(store, first);
    fromParent = first.selectionVersion;
    if (early.count !== heard) applyParent(early.ids); // the parent changed it meanwhile
    post({ type: "ready", run: name, n: run.info.n_samples });
  } catch (err) {
    showError("Could not open the run: ", err);
  }
}

main();
