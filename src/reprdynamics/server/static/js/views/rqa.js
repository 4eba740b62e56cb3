// View 6, beside the class transitions: the recurrence quantification (RQA) of the current
// fingerprint, and the NNTF band sweep when the server computes one.

import { getJSON, runPath } from "../api.js";
import { View } from "../view.js";
import { kindLabel } from "../kinds.js";
import { el, fmt } from "../util.js";

// Names and meanings of the recurrence measures (Marwan et al. 2007).
const RQA_ROWS = [
  ["rr", "recurrence rate", "fraction of recurrent pairs of snapshots"],
  ["det", "determinism", "recurrent points on diagonal lines (repeated sequences)"],
  ["l_mean", "mean diagonal line", "how long similar stretches last"],
  ["l_max", "longest diagonal line", ""],
  ["entr", "entropy of lines", "Shannon entropy of diagonal line lengths"],
  ["lam", "laminarity", "recurrent points on vertical lines (stable phases)"],
  ["tt", "trapping time", "mean vertical line length"],
  ["v_max", "longest vertical line", ""],
  ["epsilon", "threshold ε", "distance below which two snapshots recur"],
];

export class RQAView extends View {
  constructor(store, actions) {
    super("rqa", store, actions);
    this.tableNode = document.getElementById("rqa-table");
    this.threshold = document.getElementById("rqa-threshold");
    this.threshold.addEventListener("change", () => this.reload(this.store.state));
    // Asked once the fingerprint is there: the server then answers from its memo
    // instead of computing the same neighbours twice at once.
    store.on(["fp"], (s) => this.reload(s));
  }

  reload(s) {
    if (!s.info || !s.fp) {
      this.cancel();
      this.tableNode.replaceChildren();
      return;
    }
    const params = { ...s.fp.request };
    const eps = this.threshold.value.trim();
    if (eps !== "") params.threshold = eps;
    this.load(
      (signal, onProgress) => getJSON(runPath(s.run, "/rqa"), params, { signal, onProgress }),
      (res) => this.tableNode.replaceChildren(renderRQA(res, kindLabel(s.info, params.kind))),
    );
  }
}

/** A table of RQA measures (and the NNTF band sweep when present). */
export function renderRQA(res, caption) {
  const rqa = res.rqa || {};
  const known = new Set(RQA_ROWS.map(([k]) => k));
  const rows = RQA_ROWS.filter(([k]) => k in rqa).map(([k, name, hint]) =>
    el("tr", { dataset: { measure: k } }, el("th", { title: hint }, name), el("td", { class: "num" }, fmt(rqa[k], 4))));
  for (const [k, v] of Object.entries(rqa)) {
    if (!known.has(k) && (typeof v === "number" || typeof v === "string")) {
      rows.push(el("tr", { dataset: { measure: k } }, el("th", {}, k.replace(/_/g, " ")), el("td", { class: "num" }, fmt(v, 4))));
    }
  }
  const parts = [el("table", { class: "data compact rqa" }, el("caption", {}, caption), el("tbody", {}, rows))];
  const nntf = res.nntf;
  if (nntf && typeof nntf === "object") {
    const BAND_KEYS = new Set(["starts", "ends", "bands", "band"]);
    const bands = Array.isArray(nntf.starts)
      ? nntf.starts.map((lo, i) => (Array.isArray(nntf.ends) ? [lo, nntf.ends[i]] : lo))
      : nntf.bands || nntf.band;
    const series = Object.entries(nntf).filter(([k, v]) => Array.isArray(v) && !BAND_KEYS.has(k));
    if (Array.isArray(bands) && series.length) {
      parts.push(el("details", { class: "nntf" },
        el("summary", {}, "NNTF band sweep (as the NNTF code computes it)"),
        el("table", { class: "data compact" },
          el("thead", {}, el("tr", {}, el("th", {}, "band"), ...series.map(([k]) => el("th", {}, k.replace(/_/g, " "))))),
          el("tbody", {}, bands.map((band, i) =>
            el("tr", {}, el("td", {}, Array.isArray(band) ? band.map((v) => fmt(v, 2)).join("–") : fmt(band, 2)),
              ...series.map(([, v]) => el("td", { class: "num" }, fmt(v[i], 3)))))))));
    }
    {
      const scalars = Object.entries(nntf).filter(([, v]) => typeof v === "number");
      if (scalars.length) {
        parts.push(el("table", { class: "data compact" }, el("caption", {}, "NNTF band sweep: best bands"),
          el("tbody", {}, scalars.map(([k, v]) => el("tr", {}, el("th", {}, k.replace(/_/g, " ")), el("td", { class: "num" }, fmt(v, 4)))))));
      }
    }
  }
  return el("div", {}, ...parts);
}
