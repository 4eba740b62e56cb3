// The fingerprint kinds of the open run, as its overview states them: `fingerprint_specs`
// is a list of {name, label, rows ("transition" or "snapshot"), uses_k, uses_layer,
// options, summary}, in display order, holding only the kinds that apply to the run. The
// server's registry of kinds (analysis/kinds.py) is the one source; this front end keeps
// no table of its own.

/** The kinds `info` (a run overview) offers, in display order. */
export function fingerprintKinds(info) {
  return info?.fingerprint_specs || [];
}

/** The overview's entry of kind `name`, or null for a kind the run does not offer. */
export function kindSpec(info, name) {
  return fingerprintKinds(info).find((k) => k.name === name) || null;
}

/** The names of the kinds `info` offers, in display order. */
export function kindNames(info) {
  return fingerprintKinds(info).map((k) => k.name);
}

/** What the dashboard calls kind `name` (its name where the overview has no label). */
export function kindLabel(info, name) {
  return kindSpec(info, name)?.label || name;
}

/** Whether kind `name` takes k, the number of neighbours (and so the neighbour search). */
export function usesK(info, name) {
  return Boolean(kindSpec(info, name)?.uses_k);
}

/** Whether kind `name` reads a layer's representations. */
export function usesLayer(info, name) {
  return Boolean(kindSpec(info, name)?.uses_layer);
}
