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
 * GET (or POST, for long selections) a JSON endpoint; poll while it answers 202.
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
  const target = url(path, plain);
  const init = body
    ? { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } }
    : { method: "GET" };
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
      const progress = await response.json();
      onProgress?.(progress);
      await sleep(delay, signal);
      delay = Math.min(delay * 1.5, 1000);
      continue;
    }
    if (!response.ok) throw await errorOf(response);
    onProgress?.(null);
    return response.json();
  }
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
