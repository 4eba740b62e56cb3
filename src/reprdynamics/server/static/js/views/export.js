// Downloads of what a table shows: a CSV written in the browser from the shown rows and
// columns (in the shown order), and files the server writes (Parquet), fetched with the
// 202 polling of the computed endpoints.

import { getFile } from "../api.js";

/**
 * A number as CSV text: the shortest decimal that reads back as the same float32 for
 * float32 columns (9 significant digits always do), integers as they are, NaN empty.
 */
export function csvNumber(value, float32 = false) {
  if (value === null || value === undefined || Number.isNaN(value)) return "";
  if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
  if (Number.isInteger(value)) return String(value);
  if (!float32) return String(value);
  for (let digits = 6; digits < 9; digits++) {
    const text = value.toPrecision(digits);
    if (Math.fround(Number(text)) === value) return String(Number(text));
  }
  return String(Number(value.toPrecision(9)));
}

function csvField(text) {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * CSV text of `rows` (indices into the columns' arrays, in the order given) and `columns`
 * (names, in order) of `data` ({name: typed array}).
 */
export function toCSV(columns, data, rows) {
  const float32 = columns.map((c) => data[c] instanceof Float32Array);
  const lines = [columns.map(csvField).join(",")];
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    const cells = new Array(columns.length);
    for (let j = 0; j < columns.length; j++) cells[j] = csvNumber(data[columns[j]][r], float32[j]);
    lines.push(cells.join(","));
  }
  return `${lines.join("\n")}\n`;
}

/** A file name made of `parts` (run names may hold slashes). */
export function fileName(...parts) {
  return parts.map((p) => String(p || "run").replace(/[^A-Za-z0-9._-]+/g, "_")).join("-");
}

/** Save `content` (text or Blob) as a file called `name`. */
export function download(name, content, type = "text/csv") {
  const blob = content instanceof Blob ? content : new Blob([content], { type });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  setTimeout(() => {
    URL.revokeObjectURL(link.href);
    link.remove();
  }, 1000);
}

/**
 * GET a file the server computes (it may answer 202 with progress first, or 503 with
 * Retry-After while its queue is full); resolves to the Blob.
 */
export async function fetchFile(path, params, { onProgress } = {}) {
  return (await getFile(path, params, { onProgress })).blob;
}
