// The JSON API client: compact arrays, selections, 202 polling, errors with a message.
//
// Every request stays on the serving origin (relative URLs only). Endpoints that may
// compute answer 202 with {job, done, total, what}; `getJSON` polls until the result
// is there and reports progress through `onProgress`.

export class ApiError extends Error {
  constructor(message, status, parameter) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.parameter = parameter;
  }
}

const TYPED = { float32: Float32Array, int32: Int32Array, uint8: Uint8Array };

/** Decode a compact array {dtype, shape, data: base64} into a typed array (flat, C order). */
export function decodeCompact(obj) {
  if (!obj || typeof obj.data !== "string") return obj;
  const Typed = TYPED[obj.dtype];
  if (!Typed) throw new ApiError(`Unknown compact dtype ${obj.dtype}`, 0);
  const bin = atob(obj.data);
  const n = bin.length;
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = bin.charCodeAt(i);
  const out = new Typed(bytes.buffer, 0, n / Typed.BYTES_PER_ELEMENT);
  out.shape = obj.shape;
  return out;
}

/** Rows of a flat (M, M) typed matrix as plain arrays (for Plotly's z). */
export function toRows(flat, shape) {
  const [m, n] = shape;
  const rows = new Array(m);
  for (let i = 0; i < m; i++) rows[i] = Array.from(flat.subarray(i * n, (i + 1) * n));
  return rows;
}

/** Encode sorted unique ids as the API's selection string: "0-99,150,200-209". */
export function encodeSelection(ids) {
  const parts = [];
  let i = 0;
  const n = ids.length;
  while (i < n) {
    let j = i;
    while (j + 1 < n && ids[j + 1] === ids[j] + 1) j++;
    parts.push(j > i ? `${ids[i]}-${ids[j]}` : `${ids[i]}`);
    i = j + 1;
  }
  return parts.join(",");
}

// Query strings longer than this go as a POST body (servers limit header sizes).
const MAX_QUERY = 6000;

function buildQuery(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value === undefined || value === null || value === "") continue;
    q.set(key, String(value));
  }
  return q.toString();
}

export function url(path, params) {
  const q = buildQuery(params);
  return q ? `${path}?${q}` : path;
}

export function runPath(run, rest = "") {
  const name = run.split("/").map(encodeURIComponent).join("/");
  return `/api/runs/${name}${rest}`;
}

const sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new DOMException("aborted", "AbortError"));
    });
  });

async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  let parameter;
  try {
    const body = await response.json();
    if (body && body.error) {
      message = body.error;
      parameter = body.parameter;
    }
  } catch {
    /* not JSON: keep the status line */
  }
  return new ApiError(message, response.status, parameter);
}

/**
 * How long to wait before asking again when the server's job queue is full (503 with
 * Retry-After, in seconds), in ms; null for any other answer.
 */
function busyWait(response) {
  if (response.status !== 503) return null;
  const seconds = Number(response.headers.get("Retry-After"));
  return Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 30) * 1000 : null;
}

/**
 * Ask `target` until it answers for good: poll while it answers 202 (reporting each
 * progress body), wait as told while it answers 503 with Retry-After (its job queue is
 * full). Returns the final response when it is ok, else throws its ApiError.
 */
async function untilAnswered(target, init, signal, onProgress) {
  let delay = 150;
  for (;;) {
    let response;
    try {
      response = await fetch(target, { ...init, signal });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(`The server did not answer (${err.message}). Is it still running?`, 0);
    }
    if (response.status === 202) {
      onProgress?.(await response.json());
      await sleep(delay, signal);
      delay = Math.min(delay * 1.5, 1000);
      continue;
    }
    const busy = busyWait(response);
    if (busy !== null) {
      onProgress?.({ what: "the server is busy; waiting for a free worker" });
      await sleep(busy, signal);
      continue;
    }
    if (!response.ok) throw await errorOf(response);
    onProgress?.(null);
    return response;
  }
}

/**
 * GET (or POST, for long selections) a JSON endpoint; poll while it answers 202, and wait
 * as told while it answers 503 with Retry-After (its job queue is full).
 * @param {string} path  e.g. runPath(run, "/fingerprint")
 * @param {object} params  query parameters; `samples` may be an array of ids
 * @param {{signal?: AbortSignal, onProgress?: function}} options
 */
export async function getJSON(path, params = {}, { signal, onProgress } = {}) {
  const plain = { ...params };
  let body = null;
  if (Array.isArray(plain.samples) || ArrayBuffer.isView(plain.samples)) {
    const text = encodeSelection(plain.samples);
    if (text.length > MAX_QUERY) {
      body = { samples: text };
      delete plain.samples;
    } else {
      plain.samples = text;
    }
  }
  const init = body
    ? { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } }
    : { method: "GET" };
  const response = await untilAnswered(url(path, plain), init, signal, onProgress);
  return response.json();
}

/**
 * GET a file the server computes (a download: the report, a Parquet table); poll while it
 * answers 202 and wait while it answers 503 with Retry-After. Returns {blob, headers}.
 * @param {{signal?: AbortSignal, onProgress?: function}} options
 */
export async function getFile(path, params = {}, { signal, onProgress } = {}) {
  const response = await untilAnswered(url(path, params), {}, signal, onProgress);
  return { blob: await response.blob(), headers: response.headers };
}

/** Fetch a binary resource (sprites); returns {blob, headers}. */
export async function getBlob(path, params = {}, { signal } = {}) {
  let response;
  try {
    response = await fetch(url(path, params), { signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(`The server did not answer (${err.message}).`, 0);
  }
  if (!response.ok) throw await errorOf(response);
  return { blob: await response.blob(), headers: response.headers };
}

// ------------------------------------------------------------------ binary point data
const registered = new Map(); // `${run}|${n}|${text length}|${hash}` -> Promise<token>

function fnv1a(ids) {
  let h = 0x811c9dc5;
  for (let i = 0; i < ids.length; i++) {
    h ^= ids[i];
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16);
}

/** The bitmask of sorted ids in [0, n): ceil(n/8) bytes, bit i = bit i%8 of byte i//8. */
export function bitmask(ids, n) {
  const out = new Uint8Array((n + 7) >> 3);
  for (let i = 0; i < ids.length; i++) out[ids[i] >> 3] |= 1 << (ids[i] & 7);
  return out;
}

/**
 * The `samples` parameter for a selection: ranges when short, else the token of the
 * selection's bitmask, registered once (POST /selection) and reused by every GET, so
 * the answers stay cacheable. `null` for the whole run.
 */
export async function selectionParam(run, ids, nSamples) {
  if (!ids || ids.length === nSamples) return null;
  const text = encodeSelection(ids);
  if (text.length <= MAX_QUERY) return text;
  const key = `${run}|${nSamples}|${ids.length}|${fnv1a(ids)}`;
  let token = registered.get(key);
  if (!token) {
    token = fetch(runPath(run, "/selection"), {
      method: "POST",
      body: bitmask(ids, nSamples),
      headers: { "Content-Type": "application/octet-stream" },
    }).then(async (response) => {
      if (!response.ok) throw await errorOf(response);
      return (await response.json()).token;
    });
    token.catch(() => registered.delete(key));
    registered.set(key, token);
    while (registered.size > 32) registered.delete(registered.keys().next().value);
  }
  return token;
}

/** Forget registered selections (after the server said it lost one). */
export function forgetSelections() {
  registered.clear();
}

const BINARY = { float32: Float32Array, uint16: Uint16Array, int32: Int32Array, uint8: Uint8Array };

/**
 * GET a typed-array endpoint (`measure.bin`, `projection.bin`, `column.bin`); poll while it
 * answers 202 (and wait while it answers 503 with Retry-After). Returns {array, headers, bytes}. The browser's HTTP cache revalidates with
 * the ETag, so a repeated request costs a 304 and no body.
 */
export async function getBinary(path, params = {}, { signal, onProgress } = {}) {
  let response;
  try {
    response = await untilAnswered(url(path, params), {}, signal, onProgress);
  } catch (err) {
    // The server lost a registered selection: register it again on the next request.
    if (err.status === 404 && err.parameter === "samples") forgetSelections();
    throw err;
  }
  const buffer = await response.arrayBuffer();
  const Typed = BINARY[response.headers.get("X-Dtype")];
  if (!Typed) throw new ApiError(`Unknown binary dtype ${response.headers.get("X-Dtype")}`, 0);
  const array = new Typed(buffer);
  array.shape = (response.headers.get("X-Shape") || String(array.length)).split(",").map(Number);
  return { array, headers: response.headers, bytes: buffer.byteLength };
}

/** Numbers of a comma-separated header ("0.1,0.2"). */
export function headerNumbers(headers, name) {
  const text = headers.get(name);
  return text ? text.split(",").map(Number) : [];
}
