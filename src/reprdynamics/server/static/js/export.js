// "Export report": the self-contained HTML report of the current run and selection,
// written by the server (GET /api/runs/{run}/report.html?samples=, a computed endpoint
// answering 202 with progress while it works) and downloaded as a file.
//
// Install it once the store exists: installExportButton(store). The button goes into the
// top bar; its label shows the progress while the report is computed, and a message
// beside it says what went wrong, if anything (never an alert, never the console).

import { getFile, runPath, selectionParam } from "./api.js";

/** The file name of a Content-Disposition header, or the fallback. */
export function attachmentName(header, fallback) {
  const match = /filename="([^"]+)"/.exec(header || "");
  return match ? match[1] : fallback;
}

/**
 * Fetch the report of `run` for the sorted ids `ids` (all samples when they are all, or
 * when `ids` is null), polling while the server computes. Resolves to {blob, filename}.
 * @param {{onProgress?: function}} options  called with the 202 bodies ({done, total, what})
 */
export async function fetchReport(run, ids, nSamples, { onProgress } = {}) {
  const samples = ids ? await selectionParam(run, ids, nSamples) : null;
  const { blob, headers } = await getFile(runPath(run, "/report.html"), { samples }, { onProgress });
  const fallback = `${String(run).replace(/[^A-Za-z0-9._-]/g, "_")}-report.html`;
  return { blob, filename: attachmentName(headers.get("Content-Disposition"), fallback) };
}

/** Save a blob as a download named `filename`. */
function download(blob, filename) {
  const href = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = href;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
}

function progressText(progress) {
  if (!progress) return "Exporting…";
  if (progress.total) return `Exporting… ${progress.done}/${progress.total}`;
  return "Exporting…";
}

/**
 * Add the "Export report" button to the top bar. It downloads the report of
 * store.state.run for the current selection (store.state.selection; the whole run when
 * every sample is selected). Returns the button.
 */
export function installExportButton(store) {
  const bar = document.querySelector("header.topbar") || document.querySelector("header");
  const existing = document.getElementById("export-report");
  if (existing) return existing;
  const button = document.createElement("button");
  button.type = "button";
  button.id = "export-report";
  button.className = "ghost";
  button.textContent = "Export report";
  button.title =
    "Download a self-contained HTML report of this run and the selected samples " +
    "(fingerprints, RQA, data map, notable samples)";
  const status = document.createElement("span");
  status.id = "export-status";
  status.className = "note";
  status.setAttribute("aria-live", "polite");
  const before = document.getElementById("theme-toggle");
  if (before && before.parentNode === bar) {
    bar.insertBefore(button, before);
    bar.insertBefore(status, before);
  } else {
    bar.append(button, status);
  }

  button.addEventListener("click", async () => {
    const state = store.state;
    const run = state.run;
    if (!run || !state.info) return;
    const nSamples = state.info.n_samples;
    const selection = state.selection;
    const ids = !selection || selection.length === nSamples ? null : Array.from(selection);
    button.disabled = true;
    button.dataset.state = "busy";
    button.textContent = progressText(null);
    status.textContent = "";
    status.classList.remove("error");
    try {
      const { blob, filename } = await fetchReport(run, ids, nSamples, {
        onProgress: (p) => {
          button.textContent = progressText(p);
          status.textContent = p?.what || "";
        },
      });
      download(blob, filename);
      button.dataset.state = "done";
      status.textContent = `saved ${filename}`;
    } catch (err) {
      button.dataset.state = "error";
      status.classList.add("error");
      status.textContent = `Export failed: ${err.message}`;
    } finally {
      button.disabled = false;
      button.textContent = "Export report";
    }
  });
  return button;
}
