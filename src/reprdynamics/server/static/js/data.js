// Shared, lazily fetched run data: the per-sample table (heavy: the server may answer 202
// for a while) is fetched once per run and shared by the picker, the table and the data map.

import { getJSON, runPath, decodeCompact } from "./api.js";

let current = null; // {key, promise, listeners}

/** Runs up to this size get the neighbour-stability column at once (it costs a neighbour
 * search per snapshot); larger ones when the user asks for it in the table. */
export const NEIGHBOUR_COLUMN_MAX = 20000;

/**
 * The per-sample table of `run`: {columns: [..], data: {col: typed array}, n}.
 * `onProgress` receives the 202 progress of the computation (null when done).
 */
export function sampleTable(run, info, onProgress, { neighbours = false } = {}) {
  // Neighbour stability needs a neighbour search of every snapshot: for big runs the
  // table comes without it first, and the table view offers to add it.
  const k = neighbours || (info?.n_samples ?? 0) <= NEIGHBOUR_COLUMN_MAX ? 10 : 0;
  // Keyed by the run's snapshot count too: a run being recorded gets a fresh table.
  const key = `${run}|${info?.n_snapshots}|${info?.n_complete}|${k}`;
  if (!current || current.key !== key) {
    const listeners = new Set();
    const entry = { key, listeners, promise: null };
    entry.promise = getJSON(runPath(run, "/samples"), { k }, {
      onProgress: (p) => listeners.forEach((fn) => fn(p)),
    }).then((res) => {
      const data = {};
      let n = 0;
      for (const col of res.columns) {
        data[col] = decodeCompact(res.data[col]);
        n = Math.max(n, data[col].length);
      }
      if (!data.id) data.id = Int32Array.from({ length: n }, (_, i) => i);
      const columns = res.columns.includes("id") ? res.columns : ["id", ...res.columns];
      return { columns, data, n, k };
    });
    entry.promise.catch(() => {
      if (current === entry) current = null; // let the next call try again
    });
    current = entry;
  }
  if (onProgress) current.listeners.add(onProgress);
  return current.promise;
}

/** Call `fn` once, the first time `element` scrolls into view. */
export function whenVisible(element, fn) {
  if (!("IntersectionObserver" in window)) {
    fn();
    return;
  }
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) {
      observer.disconnect();
      fn();
    }
  }, { rootMargin: "200px" });
  observer.observe(element);
}
