// What the dashboard's numbers mean: the definition of D for each fingerprint kind, the
// units of the per-sample measures, links into the packaged copy of docs/measures.md, and
// the colour range of a heat map. The wording follows docs/measures.md; keep them in step.

/** The packaged docs page (static/docs/index.html renders static/docs/measures.md). */
export const DOCS_PAGE = "/static/docs/index.html";

/** A link to a heading (or a table row) of docs/measures.md, served by this server. */
export function docURL(anchor = "") {
  return anchor ? `${DOCS_PAGE}#${anchor}` : DOCS_PAGE;
}

/**
 * Per fingerprint kind: `title` (the colour bar's, short), `definition` (the hover's and
 * the caption's: what D is, in words, with its range), `formula` (as in
 * docs/measures.md), `range` (the fixed colour range, for the bounded kinds), `anchor`
 * (its row of the fingerprint table in the docs page).
 */
export const FINGERPRINTS = {
  "neighbour-transition": {
    title: "D: RMS Δ neighbour overlap (share of k)",
    definition:
      "RMS difference of per-sample neighbour overlap between transitions a and b; 0 = same change. " +
      "Overlap o_t(i) = share of its k nearest neighbours sample i keeps from snapshot t to t+1 (0–1), " +
      "so D runs from 0 to 1.",
    formula: "D[a,b] = sqrt(mean_i (o_a(i) − o_b(i))²), o_t(i) = |N_k(i,t) ∩ N_k(i,t+1)| / k",
    range: [0, 1],
    anchor: "fingerprints-neighbour-transition",
  },
  "neighbour-state": {
    title: "D: 1 − mean Jaccard of k neighbours",
    definition:
      "1 − mean over samples of the Jaccard overlap of each sample's k nearest neighbours at snapshots a and b; " +
      "0 = same neighbours, 1 = none shared.",
    formula: "D[a,b] = 1 − mean_i J(N_k(i,a), N_k(i,b))",
    range: [0, 1],
    anchor: "fingerprints-neighbour-state",
  },
  "class-transition": {
    title: "D: share of class moves not shared",
    definition:
      "Difference of the class moves (c → c′, c ≠ c′, counted over samples) of transitions a and b, as a share " +
      "of all their moves; 0 = the same moves, 1 = no move in common (0 when neither has a move).",
    formula: "D[a,b] = Σ_{c≠c′} |Δ_a − Δ_b| / Σ_{c≠c′} (Δ_a + Δ_b), Δ_t[c,c′] = #{i: ŷ_t(i)=c, ŷ_{t+1}(i)=c′}",
    range: [0, 1],
    anchor: "fingerprints-class-transition",
  },
  disagreement: {
    title: "D: share of samples predicted differently",
    definition:
      "Fraction of the selected samples whose predicted class differs between snapshots a and b; " +
      "0 = same predictions, 1 = every prediction differs.",
    formula: "D[a,b] = #{i ∈ S: ŷ_a(i) ≠ ŷ_b(i)} / n",
    range: [0, 1],
    anchor: "fingerprints-disagreement",
  },
  cka: {
    title: "D: 1 − linear CKA",
    definition:
      "1 − linear CKA (centred columns) of the layer's representations at snapshots a and b; " +
      "0 = the same up to rotation and uniform scaling, 1 = no linear similarity.",
    formula: "D[a,b] = 1 − ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F), X, Y centred",
    range: [0, 1],
    anchor: "fingerprints-cka",
  },
};

/** The entry of a kind; one this front end has no text for is told by its overview
 * entry `spec` (its label and one-line summary, from the server's registry of kinds). */
export function fingerprintDefinition(kind, params = {}, spec = null) {
  const known = FINGERPRINTS[kind];
  if (!known) {
    const label = spec?.label || kind;
    const definition = spec?.summary ? `${spec.summary}.` : `Fingerprint '${kind}'.`;
    return { title: `D (${label})`, definition, formula: "", range: null, anchor: "fingerprints" };
  }
  if (kind === "cka" && params.debiased) {
    // Song et al.'s unbiased HSIC is not bounded by [0, 1]: D may leave it slightly.
    return {
      ...known,
      title: "D: 1 − debiased linear CKA",
      definition:
        "1 − debiased linear CKA (Song et al.'s unbiased HSIC) of the layer's representations at snapshots a and b; " +
        "0 = the same up to rotation and uniform scaling. The debiased estimate can leave [0, 1] a little.",
      range: null,
    };
  }
  return known;
}

/** How the heat map's colours span D: the choices of the range control. */
export const RANGE_MODES = {
  data: "data: off-diagonal min–max",
  quantile: "data: 2–98 % quantiles",
  fixed: "fixed (0–1)",
};

/** The q-quantile of sorted values, interpolated linearly (NumPy's default). */
export function quantileSorted(sorted, q) {
  const n = sorted.length;
  if (!n) return NaN;
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

/**
 * The colour range of an (m, m) matrix given flat: {zmin, zmax, mode, text}. `data`: the
 * min and max of the off-diagonal cells (the diagonal is 0 by definition and would only
 * stretch the scale); `quantile`: their 2 % and 98 % quantiles (cells beyond are drawn in
 * the end colours); `fixed`: the kind's bounds, 0–1 (a kind without bounds: 0 to the
 * largest cell). When the off-diagonal cells are all equal, or there are none (a 1 × 1
 * matrix), the fixed range is used and `text` says so.
 */
export function colourRange(flat, m, mode, kind, params = {}) {
  const off = [];
  let max = -Infinity;
  for (let j = 0; j < m; j++) {
    for (let i = 0; i < m; i++) {
      const v = flat[j * m + i];
      if (!Number.isFinite(v)) continue;
      if (v > max) max = v;
      if (i !== j) off.push(v);
    }
  }
  const bounds = fingerprintDefinition(kind, params).range;
  const fixed = bounds ? { zmin: bounds[0], zmax: bounds[1], text: `fixed ${bounds[0]}–${bounds[1]}` }
    : { zmin: 0, zmax: Number.isFinite(max) && max > 0 ? max : 1, text: "fixed: 0 to the largest cell (no bounds)" };
  if (mode === "fixed") return { ...fixed, mode };
  off.sort((p, q) => p - q);
  let zmin;
  let zmax;
  let text;
  if (mode === "quantile") {
    zmin = quantileSorted(off, 0.02);
    zmax = quantileSorted(off, 0.98);
    text = "2–98 % quantiles of the off-diagonal cells (cells beyond get the end colours)";
  } else {
    zmin = off[0];
    zmax = off[off.length - 1];
    text = "min–max of the off-diagonal cells";
  }
  if (!(zmax > zmin)) {
    return { ...fixed, mode, text: `${fixed.text} (the off-diagonal cells do not span a range)` };
  }
  return { zmin, zmax, mode, text };
}

/**
 * The per-sample measures of the a/b scatter (/measure): axis title with the unit, and the
 * definition for the hover. `kind` is the run's ("logits" or "probabilities").
 */
export function measureDefinition(name, kind = "logits") {
  const onLogP = kind === "probabilities";
  const table = {
    entropy: {
      title: "entropy H (nats)",
      unit: "nats",
      definition: "H = −Σ_c p_c ln p_c of the softmax probabilities (natural log, nats); 0 = certain, ln C = uniform.",
    },
    confidence: {
      title: "p(label) (probability, 0–1)",
      unit: "",
      definition: "Probability of the recorded label, p(gold), at that snapshot.",
    },
    margin: {
      title: onLogP ? "margin log p(label) − max log p(other)" : "margin z(label) − max z(other) (logits)",
      unit: onLogP ? "nats" : "logit units",
      definition: onLogP
        ? "log p of the label minus the largest log p of another class; < 0 = misclassified."
        : "Logit of the label minus the largest logit of another class; < 0 = misclassified.",
    },
    loss: {
      title: "cross-entropy −ln p(label) (nats)",
      unit: "nats",
      definition: "Cross-entropy to the recorded label, −ln p(gold) (nats); 0 = certain and right.",
    },
    correct: { title: "correct (1 = yes, 0 = no)", unit: "", definition: "1 where the prediction equals the label." },
  };
  return table[name] || { title: name, unit: "", definition: name };
}
