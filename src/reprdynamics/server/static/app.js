// ReprDynamics dashboard: wires the views to one shared state.
//
// State every view reads: the run and its overview, ONE selection (sorted Int32Array of
// sample ids), ONE pair of snapshots (a, b), the fingerprint settings, the focused sample
// of the local view. Views subscribe to what they depend on (see js/state.js).

import { encodeSelection } from "./js/api.js";
import { readHash, writeHash } from "./js/state.js";
import { el, int, debounce } from "./js/util.js";
import * as session from "./js/session.js";
import { OverviewView } from "./js/views/overview.js";
import { PickerView } from "./js/views/picker.js";
import { HeatmapView, fingerprintParams, prefetchFingerprint } from "./js/views/heatmap.js";
import { ScatterView } from "./js/views/scatter.js";
import { LocalView } from "./js/views/local.js";
import { TransitionsView } from "./js/views/transitions.js";
import { RQAView } from "./js/views/rqa.js";
import { TableView } from "./js/views/table.js";
import { DataMapView } from "./js/views/datamap.js";
import { ProjectionView } from "./js/views/projection.js";
import { CompareView } from "./js/views/compare.js";
import { installExportButton } from "./js/export.js";
import { download } from "./js/views/export.js";

const store = session.createStore();

// --------------------------------------------------------------------- selection
export const defaultSelection = session.defaultSelection;

function describeSelection(state) {
  session.describeSelection(document.getElementById("selection-summary"), state);
}

// --------------------------------------------------------------------- find, export
/**
 * What the find box means: a sample id ("42", "#42"), a class ("class 7", "label cat", or
 * a class name that is not a number: "cat"), or nothing.
 */
export function parseFind(text, info, classNames) {
  const t = text.trim();
  if (!t) return null;
  const id = /^#?(\d+)$/.exec(t);
  if (id) return +id[1] < info.n_samples ? { id: +id[1] } : null;
  const named = /^(?:class|label)\s*[:=]?\s*(.+)$/i.exec(t);
  const name = (named ? named[1] : t).trim().toLowerCase();
  const c = classNames.findIndex((n) => String(n).toLowerCase() === name);
  return c >= 0 ? { cls: c } : null;
}

function bindSelectionTools(views) {
  const ids = () => Array.from(store.get("selection"));
  const base = () => `${String(store.get("run") || "run").replace(/[^A-Za-z0-9._-]/g, "_")}-selection`;
  document.getElementById("sel-copy").addEventListener("click", async (e) => {
    const text = ids().join(",");
    try {
      await navigator.clipboard.writeText(text);
      e.target.textContent = "copied";
    } catch {
      download(`${base()}.txt`, text, "text/plain"); // no clipboard (insecure context)
    }
    setTimeout(() => (e.target.textContent = "copy ids"), 1200);
  });
  document.getElementById("sel-csv").addEventListener("click", () => {
    const labels = store.get("labels");
    const names = store.get("classNames");
    const rows = ids().map((id) => {
      const l = labels ? labels[id] : -1;
      return `${id},${l >= 0 ? l : ""},${l >= 0 ? JSON.stringify(String(names[l] ?? l)) : ""}`;
    });
    download(`${base()}.csv`, `id,label,class_name\n${rows.join("\n")}\n`, "text/csv");
  });
  document.getElementById("sel-json").addEventListener("click", () => {
    const body = { run: store.get("run"), n_samples: store.get("info")?.n_samples, ids: ids() };
    download(`${base()}.json`, JSON.stringify(body), "application/json");
  });
  const box = document.getElementById("find-sample");
  document.getElementById("find-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const s = store.state;
    if (!s.info) return;
    const found = parseFind(box.value, s.info, s.classNames);
    box.classList.toggle("miss", !found);
    box.title = found ? "" : `No sample id in [0, ${s.info.n_samples - 1}] or class named "${box.value}"`;
    if (!found) return;
    if (found.id !== undefined) {
      store.set({ focus: found.id });
      document.getElementById("local").scrollIntoView({ behavior: "smooth", block: "nearest" });
    } else {
      views.picker.selectClass(found.cls);
    }
  });
}

// --------------------------------------------------------------------- runs
const fetchRun = session.fetchRun;

function initialState(run, hash = {}) {
  return session.initialState(store, run, hash);
}

function openRun(state) {
  session.openRun(store, state);
}

const showAppError = session.showAppError;

async function loadRun(name, hash = {}) {
  document.getElementById("app-error").hidden = true;
  try {
    openRun(initialState(await fetchRun(name), hash));
  } catch (err) {
    showAppError("Could not open the run: ", err);
  }
}

const loadPlotly = session.loadPlotly;

function fillSnapshotSelects(state) {
  const info = state.info;
  for (const id of ["snap-a", "snap-b"]) {
    const select = document.getElementById(id);
    select.replaceChildren(
      ...(info?.epochs || []).map((epoch, t) =>
        el("option", { value: String(t), disabled: info.complete ? !info.complete[t] : false },
          epoch === null || epoch === undefined ? `#${t}` : `epoch ${epoch}`),
      ),
    );
  }
}

// --------------------------------------------------------------------- bootstrap
async function main() {
  const theme = localStorage.getItem("rd-theme") || "dark";
  document.documentElement.dataset.theme = theme;
  store.set({ theme });
  document.getElementById("theme-toggle").addEventListener("click", () => {
    const next = store.get("theme") === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    localStorage.setItem("rd-theme", next);
    store.set({ theme: next });
  });

  const actions = session.viewActions(store, { loadRun });

  const views = {
    overview: new OverviewView(store, actions),
    picker: new PickerView(store, actions),
    heatmap: new HeatmapView(store, actions),
    scatter: new ScatterView(store, actions),
    local: new LocalView(store, actions),
    transitions: new TransitionsView(store, actions),
    rqa: new RQAView(store, actions),
    table: new TableView(store, actions),
    datamap: new DataMapView(store, actions),
    projection: new ProjectionView(store, actions),
    compare: new CompareView(store, actions),
  };

  store.on(["info"], fillSnapshotSelects);
  store.on(["info", "a", "b"], (s) => {
    document.getElementById("snap-a").value = String(s.a);
    document.getElementById("snap-b").value = String(s.b);
  });
  for (const [id, key] of [["snap-a", "a"], ["snap-b", "b"]]) {
    document.getElementById(id).addEventListener("change", (e) => store.set({ [key]: +e.target.value }));
  }
  store.on(["info", "selection"], describeSelection);
  bindSelectionTools(views);
  installExportButton(store);

  const syncHash = debounce((s) => {
    const sel = s.selectionIsDefault ? "" : encodeSelection(s.selection);
    writeHash({
      run: s.run, a: s.a, b: s.b, kind: s.kind, k: s.k, layer: s.layer, range: s.fpRange,
      measure: s.measure, color: s.color, focus: s.focus ?? "", nb: s.localAll ? "all" : "",
      sel: sel.length && sel.length <= 1500 ? sel : "",
    });
  }, 100);
  store.on(["run", "a", "b", "kind", "k", "layer", "fpRange", "measure", "color", "focus", "localAll", "selection"], syncHash);

  // Test and console hook: the state and the actions a user can take.
  window.__rd = session.testHook(store, views, {
    selectClass: (c) => views.picker.selectClass(c),
    setKind: (kind) => store.set({ kind }),
    setPair: (a, b) => store.set({ a, b }),
    focus: (id) => store.set({ focus: id }),
    setProjection: (t) => views.projection.show(t, { move: false }),
    points: (name) => ({ scatter: views.scatter.points, datamap: views.datamap.plot, projection: views.projection.plot })[name]?.snapshot(),
  });

  const hash = readHash();
  const runs = await session.listRuns().catch((err) => showAppError("Could not list runs: ", err));
  if (!runs) return;
  store.set({ runs });
  const select = document.getElementById("run-select");
  select.replaceChildren(
    ...runs.map((r) =>
      el("option", { value: r.name }, `${r.name}  (T=${r.n_snapshots}, N=${int(r.n_samples)})`),
    ),
  );
  select.disabled = runs.length < 2;
  select.addEventListener("change", () => loadRun(select.value));
  if (!runs.length) {
    showAppError("", new Error("No runs under the served directory."));
    return;
  }
  const name = runs.some((r) => r.name === hash.run) ? hash.run : runs[0].name;
  select.value = name;
  // Overview, labels and the first fingerprint are asked for before Plotly is run (it
  // holds the page for a second or more while it is parsed), so the server computes the
  // fingerprint meanwhile.
  try {
    const first = initialState(await fetchRun(name), hash);
    if (first.selection.length >= 2) prefetchFingerprint(name, fingerprintParams(first));
    await loadPlotly();
    openRun(first);
  } catch (err) {
    showAppError("Could not open the run: ", err);
  }
}

main();
