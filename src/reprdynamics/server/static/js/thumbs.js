// Thumbnails from the server's sprite sheets: one PNG per batch of ids, cropped in the
// browser (CSS background for grids, canvas crops as data: URLs for Plotly images).

import { encodeSelection, getBlob, runPath } from "./api.js";

const crops = new Map(); // `${run}|${size}|${id}` -> data URL
const MAX_SPRITE = 2500; // the server's limit of ids per sheet

/** Fetch the sprite of sorted unique `ids`: {url (blob:), columns, size, ids}. */
export async function sprite(run, ids, size, signal) {
  const { blob, headers } = await getBlob(
    runPath(run, "/thumbs.png"),
    { ids: encodeSelection(ids), size },
    { signal },
  );
  const columns = Number(headers.get("X-Grid-Columns")) || Math.ceil(Math.sqrt(ids.length));
  return { url: URL.createObjectURL(blob), blob, columns, size, ids };
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("could not decode a thumbnail sprite"));
    img.src = src;
  });
}

/** Data URLs of each id's thumbnail (cached): Map id -> "data:image/png;base64,…". */
export async function cropURLs(run, ids, size, signal) {
  const key = (id) => `${run}|${size}|${id}`;
  const missing = Array.from(ids).filter((id) => !crops.has(key(id)));
  missing.sort((x, y) => x - y);
  for (let start = 0; start < missing.length; start += MAX_SPRITE) {
    const batch = missing.slice(start, start + MAX_SPRITE);
    const sheet = await sprite(run, batch, size, signal);
    try {
      const img = await loadImage(sheet.url);
      const canvas = document.createElement("canvas");
      canvas.width = size;
      canvas.height = size;
      const ctx = canvas.getContext("2d");
      batch.forEach((id, i) => {
        const r = Math.floor(i / sheet.columns);
        const c = i % sheet.columns;
        ctx.clearRect(0, 0, size, size);
        ctx.drawImage(img, c * size, r * size, size, size, 0, 0, size, size);
        crops.set(key(id), canvas.toDataURL("image/png"));
      });
    } finally {
      URL.revokeObjectURL(sheet.url);
    }
  }
  const out = new Map();
  for (const id of ids) out.set(id, crops.get(key(id)));
  return out;
}

/** URL of one thumbnail PNG (served by the app). */
export function thumbURL(run, id, size = 64) {
  return `${runPath(run, `/thumb/${id}.png`)}?size=${size}`;
}

/** Whether the run's inputs can be shown as thumbnails (mirrors the server's rule). */
export function hasThumbs(info) {
  if (typeof info?.has_thumbnails === "boolean") return info.has_thumbnails;
  if (!info?.has_inputs || !Array.isArray(info.input_shape)) return false;
  const shape = info.input_shape.slice(1);
  if (shape.length === 2) return shape[0] >= 1 && shape[1] >= 1;
  if (shape.length === 3) return [1, 3, 4].includes(shape[2]) || [1, 3, 4].includes(shape[0]);
  if (shape.length === 1) {
    const side = Math.round(Math.sqrt(shape[0]));
    return side >= 2 && side * side === shape[0];
  }
  return false;
}
