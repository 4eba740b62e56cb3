// What each per-sample column means, for the headers' hover text of the per-sample table
// and the run comparison. The definitions are those of docs/measures.md; keep them in step.

const TONEVA = "Toneva et al. 2019, An Empirical Study of Example Forgetting during Deep Neural Network Learning (ICLR)";
const PLEISS = "Pleiss et al. 2020, Identifying Mislabeled Data using the Area Under the Margin Ranking (NeurIPS)";
const SWAYAMDIPTA = "Swayamdipta et al. 2020, Dataset Cartography: Mapping and Diagnosing Datasets with Training Dynamics (EMNLP)";
// Each definition starts with the words of docs/measures.md (the tests check that).
const ENTROPY = "H_t(i) = -Σ_c p log p (natural log), the original tool's \"confidence\" axis; in nats, of the softmax probabilities";

/** The entries of a comparison column in run A and in run B (`${column}_a`, `${column}_b`). */
function inEachRun(column, definition, source) {
  return Object.fromEntries(["A", "B"].map((run) => [`${column}_${run.toLowerCase()}`, { definition: definition(run), source }]));
}

/** column -> {definition, source?}; `context` fills in the run's k and layer. */
const DEFINITIONS = {
  id: { definition: "Sample id: the sample's row in the run, 0..N−1." },
  label: { definition: "The recorded (gold) label; −1 = unknown." },
  prediction: { definition: "ŷ at the last complete snapshot (argmax; ties → smallest class index)." },
  entropy_first: { definition: `${ENTROPY}, at the first complete snapshot.` },
  entropy_last: { definition: `${ENTROPY}, at the last complete snapshot.` },
  entropy_mean: { definition: `${ENTROPY}, mean over the complete snapshots.` },
  confidence: { definition: "mean_t p_t(gold) (Swayamdipta et al. 2020): the mean probability of the label over the snapshots.", source: SWAYAMDIPTA },
  variability: { definition: "population std_t p_t(gold): how much the probability of the label moves over the snapshots.", source: SWAYAMDIPTA },
  correctness: { definition: "fraction of snapshots with ŷ = gold.", source: SWAYAMDIPTA },
  forgetting_events: { definition: "correct → incorrect transitions between consecutive snapshots (Toneva et al. 2019).", source: TONEVA },
  never_learned: { definition: "never correct at any snapshot (Toneva et al. count these apart, as forgotten infinitely often).", source: TONEVA },
  aum: { definition: "mean_t (z_gold − max_{c≠gold} z_c) on logits (Pleiss et al. 2020); low = probably mislabeled. The area under the margin.", source: PLEISS },
  neighbour_stability: {
    definition: (c) => `mean_t o_t(i), o_t(i) = |N_k(i,t) ∩ N_k(i,t+1)| / k: the share of the sample's k nearest neighbours `
      + `kept from one snapshot to the next (the run's kNN overlap; exact euclidean neighbours${c.k ? `, k = ${c.k}` : ""}`
      + `${c.layer ? `, layer ${c.layer}` : ""}). See docs/measures.md.`,
  },
  first_learned: { definition: "first snapshot after which the sample stays correct (-1: not correct at the end)." },
  label_flipped: { definition: "Extra stored with the run: 1 where the recorded label was flipped on purpose (label noise), 0 where it was kept." },
  clean_labels: { definition: "Extra stored with the run: the label before any flip." },
  n: { definition: "Number of the shown samples in the group." },
  // The run comparison (A = this run, B = the other one).
  ...inEachRun("learned", (run) => `1 where run ${run} predicts the label correctly at its last complete snapshot.`),
  ...inEachRun("forgotten", (run) => `1 where run ${run} predicted the label correctly at some snapshot but not at its last.`, TONEVA),
  ...inEachRun("aum", (run) => `AUM in run ${run}: mean_t (z_gold − max_{c≠gold} z_c).`, PLEISS),
  aum_change: { definition: "AUM in B − AUM in A: negative where B finds the sample harder (or its label more suspect).", source: PLEISS },
  ...inEachRun("forgetting_events", (run) => `Forgetting events in run ${run} (correct → incorrect between consecutive snapshots).`, TONEVA),
  ...inEachRun("neighbour_stability", (run) => `Neighbour stability in run ${run}: mean_t |N_k(i,t) ∩ N_k(i,t+1)| / k.`),
  neighbour_stability_change: { definition: "Neighbour stability in B − in A: negative where B's neighbourhood of the sample moves more." },
  outcome: { definition: "How the two runs end on the sample: learned (correct at the last snapshot), forgotten (correct once, not at the last) or never learned, in A → in B." },
};

/**
 * The hover text of a column header: its definition and source paper, or null for a
 * column without one. A group-by table's means say so.
 */
export function describeColumn(column, context = {}) {
  const entry = DEFINITIONS[column];
  if (!entry) return null;
  const definition = typeof entry.definition === "function" ? entry.definition(context) : entry.definition;
  const lines = [column, context.mean ? `Mean over the group of: ${definition}` : definition];
  if (entry.source) lines.push(`Source: ${entry.source}`);
  return lines.join("\n");
}

export const SOURCES = { TONEVA, PLEISS, SWAYAMDIPTA };
