// One store for the state every view shares: the run, ONE selection and ONE pair (a, b).
//
// Views subscribe to the keys they depend on; `set` notifies each subscriber once per
// change with the set of keys that changed. A few keys are mirrored in the URL hash so a
// reload restores the view.

export class Store {
  constructor(initial) {
    this.state = { ...initial };
    this.listeners = [];
    this.queued = new Set();
    this.scheduled = false;
  }

  get(key) {
    return this.state[key];
  }

  /** Merge `patch` into the state; subscribers run in a microtask, once per batch. */
  set(patch) {
    for (const [key, value] of Object.entries(patch)) {
      if (this.state[key] === value) continue;
      this.state[key] = value;
      this.queued.add(key);
    }
    if (this.queued.size && !this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  flush() {
    this.scheduled = false;
    const changed = this.queued;
    this.queued = new Set();
    for (const { keys, fn } of this.listeners) {
      if (keys.some((k) => changed.has(k))) {
        try {
          fn(this.state, changed);
        } catch (err) {
          console.error(err);
        }
      }
    }
  }

  /** Call `fn(state, changedKeys)` whenever one of `keys` changes. */
  on(keys, fn) {
    this.listeners.push({ keys, fn });
  }
}

// range: the heat map's colour range (data, quantile, fixed); nb: "all" when the local view
// searches neighbours among all samples instead of the selection.
const HASH_KEYS = ["run", "a", "b", "kind", "k", "layer", "range", "measure", "color", "focus", "nb", "sel"];

/** Parse the URL hash (#run=x&a=1&b=5&kind=...) into plain strings. */
export function readHash() {
  const out = {};
  const text = location.hash.replace(/^#/, "");
  if (!text) return out;
  for (const [key, value] of new URLSearchParams(text)) {
    if (HASH_KEYS.includes(key)) out[key] = value;
  }
  return out;
}

/** Write the hash without adding a history entry per click. */
export function writeHash(values) {
  const q = new URLSearchParams();
  for (const key of HASH_KEYS) {
    const value = values[key];
    if (value !== undefined && value !== null && value !== "") q.set(key, String(value));
  }
  const text = `#${q.toString()}`;
  if (text !== location.hash) history.replaceState(null, "", text);
}
