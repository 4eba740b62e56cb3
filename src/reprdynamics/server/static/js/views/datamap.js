// View 7, beside the per-sample table: the cartography data map (variability × confidence,
// Swayamdipta et al. 2020) with its regions, marginal histograms and flipped labels; its
// box or lasso sets the selection.

import { View } from "../view.js";
import { PointPlot, mark } from "../points.js";
import { columnValues, colourFor, fillColourSelect } from "../columns.js";
import { thumbURL, hasThumbs } from "../thumbs.js";
import { whenVisible } from "../data.js";
import { el, fmt, int } from "../util.js";
import { CartographyLayers, REGION_NAMES, regionOf } from "./cartography.js";

export class DataMapView extends View {
  constructor(store, actions) {
    super("cartography", store, actions);
    this.visible = false;
    this.colourSelect = document.getElementById("dm-color");
    this.colourSelect.addEventListener("change", () => store.set({ pointColor: this.colourSelect.value }));
    const host = document.getElementById("datamap");
    // Marginal histograms above (variability) and to the right (confidence) of the map.
    const frame = el("div", { class: "dm-frame" }, el("div", { class: "dm-top" }), el("div", { class: "dm-corner" }));
    host.replaceWith(frame);
    frame.append(host, el("div", { class: "dm-right" }));
    this.summary = el("div", { class: "dm-summary", "aria-live": "polite" });
    this.lassoNote = el("span", { class: "note dm-lasso-note", "aria-live": "polite" });
    frame.after(this.summary);
    this.flippedToggle = el("input", { type: "checkbox", id: "dm-flipped", checked: true });
    this.flippedControl = el("label", { class: "check", hidden: true, title: "Ring the samples whose label the run records as flipped (its label_flipped extra)" },
      this.flippedToggle, " flipped labels ○");
    this.flippedToggle.addEventListener("change", () => {
      this.layers.showFlipped = this.flippedToggle.checked;
      this.layers.redraw();
    });
    this.card.querySelector("header .controls").append(this.flippedControl, this.lassoNote);
    this.plot = new PointPlot(host, {
      name: "datamap",
      onLasso: (indices) => this.select(indices),
      onClick: (i) => this.ids && this.actions.focus(this.ids[i]),
      hoverText: (i) => this.hoverText(i),
      thumbURL: (i) => (this.ids && hasThumbs(this.store.state.info) ? thumbURL(this.store.state.run, this.ids[i]) : null),
    });
    this.layers = new CartographyLayers(this.plot, frame);
    this.plot.ready.then(() => this.watchPlot());
    whenVisible(this.card, () => {
      this.visible = true;
      this.reload(this.store.state);
    });
    store.on(["info"], (s) => {
      this.colourSelect.value = fillColourSelect(this.colourSelect, s.info, s.pointColor);
      if (this.visible) this.reload(s);
    });
    store.on(["pointColor"], (s) => {
      if (this.colourSelect.value !== s.pointColor) this.colourSelect.value = fillColourSelect(this.colourSelect, s.info, s.pointColor);
      if (this.visible) this.reload(s);
    });
    store.on(["selection"], (s) => this.highlight(s));
  }

  /**
   * Follow the WebGL plot: redraw the layers when its view moves, and notice a lasso or box
   * that caught nothing (the library then only deselects, or says nothing at all).
   */
  watchPlot() {
    const sp = this.plot.sp;
    if (!sp) return;
    let frame = 0;
    sp.subscribe("view", () => {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        this.layers.redraw();
      });
    });
    sp.subscribe("lassoStart", () => {
      this.lasso = { caught: false, deselected: false };
    });
    sp.subscribe("deselect", () => {
      if (this.lasso) this.lasso.deselected = true;
    });
    sp.subscribe("lassoEnd", () => {
      const lasso = this.lasso;
      this.lasso = null;
      // Without a select event the lasso caught nothing, or exactly the points already
      // outlined (then nothing changes either way).
      if (!lasso || lasso.caught || !(lasso.deselected || !this.plot.highlight)) return;
      this.plot.lassoing = false;
      this.plot.applyHighlight();
      this.sayCaught(0);
    });
  }

  select(indices) {
    if (this.lasso) this.lasso.caught = indices.length > 0;
    if (!this.ids) return;
    this.sayCaught(indices.length);
    if (!indices.length) {
      this.plot.applyHighlight();
      return;
    }
    this.actions.setSelection(indices.map((i) => this.ids[i]));
  }

  /** "0 selected": what the last lasso or box caught (nothing caught changes nothing). */
  sayCaught(n) {
    const kept = this.store.state.selection.length;
    this.lassoNote.textContent = n ? `${int(n)} selected` : `0 selected — the selection is unchanged (${int(kept)} samples)`;
    this.lassoNote.dataset.count = String(n);
    clearTimeout(this.noteTimer);
    this.noteTimer = setTimeout(() => {
      this.lassoNote.textContent = "";
    }, 6000);
  }

  hoverText(i) {
    const s = this.store.state;
    const id = this.ids[i];
    const label = s.labels ? s.labels[id] : -1;
    const lines = [`#${id} · ${label >= 0 ? s.classNames[label] ?? label : "?"}`,
      `variability ${fmt(this.x[i])}`, `confidence ${fmt(this.y[i])}`];
    const rule = s.info?.cartography;
    const region = rule ? regionOf(this.x[i], this.y[i], rule) : null;
    if (region) lines.push(region);
    if (this.flipped?.[i]) lines.push("label flipped");
    if (this.colour?.kind === "continuous") lines.push(`${this.colour.title} ${fmt(this.colour.values[i])}`);
    return lines;
  }

  reload(s) {
    if (!s.info) return;
    if (!s.labels) {
      this.showNote("The data map needs labels.");
      return;
    }
    const colourKey = this.colourSelect.value || "label";
    const hasFlipped = (s.info.extras || []).includes("label_flipped");
    this.flippedControl.hidden = !hasFlipped;
    this.load(
      async (signal, onProgress) => {
        const n = s.info.n_samples;
        const ids = Int32Array.from({ length: n }, (_, i) => i);
        const [x, y, colour, flipped] = await Promise.all([
          columnValues(s, "variability", null, { signal, onProgress }),
          columnValues(s, "confidence", null, { signal }),
          colourFor(s, colourKey, ids, { signal }),
          hasFlipped ? columnValues(s, "label_flipped", null, { signal }) : null,
        ]);
        return { ids, x, y, colour, flipped };
      },
      async ({ ids, x, y, colour, flipped }) => {
        this.ids = ids;
        this.x = x;
        this.y = y;
        this.colour = colour;
        this.flipped = flipped ? Uint8Array.from(flipped, (v) => (v > 0 ? 1 : 0)) : null;
        this.rule = s.info.cartography || null;
        let hi = 0;
        for (let i = 0; i < x.length; i++) if (Number.isFinite(x[i]) && x[i] > hi) hi = x[i];
        if (this.rule) hi = Math.max(hi, this.rule.variability_threshold * 1.1);
        await this.plot.draw({
          x, y, colour,
          domain: { x: [0, (hi || 0.5) * 1.04], y: [-0.02, 1.02] },
          titles: { x: "variability", y: "confidence" },
        });
        this.regions = this.rule ? Array.from(ids, (_, i) => regionOf(x[i], y[i], this.rule)) : null;
        this.layers.set({ x, y, rule: this.rule, flipped: this.flipped });
        this.highlight(this.store.state);
        mark("datamapDrawn");
      },
    );
  }

  highlight(s) {
    if (!this.ids) return;
    // Sample ids are the positions here (every sample is drawn, in id order).
    const partial = s.selection.length < this.ids.length;
    this.plot.setHighlight(partial ? s.selection : null);
    let selected = null;
    if (partial) {
      selected = new Uint8Array(this.ids.length);
      for (const id of s.selection) selected[id] = 1;
    }
    this.layers.set({ selected });
    this.renderSummary(selected);
  }

  /** Per region: how many samples, how many of them flipped and selected; a button selects them. */
  renderSummary(selected) {
    if (!this.rule) {
      this.summary.replaceChildren(el("span", { class: "note" }, "The server states no cartography regions for this run."));
      return;
    }
    const stats = Object.fromEntries(REGION_NAMES.map((r) => [r, { n: 0, flipped: 0, selected: 0 }]));
    for (let i = 0; i < this.ids.length; i++) {
      const r = this.regions[i];
      if (!r) continue;
      stats[r].n++;
      if (this.flipped?.[i]) stats[r].flipped++;
      if (selected?.[i]) stats[r].selected++;
    }
    const { variability_threshold: v, confidence_threshold: c } = this.rule;
    const rules = {
      "easy-to-learn": `variability < ${v}, confidence ≥ ${c}`,
      ambiguous: `variability ≥ ${v}`,
      "hard-to-learn": `variability < ${v}, confidence < ${c}`,
    };
    this.summary.replaceChildren(...REGION_NAMES.map((name) => {
      const st = stats[name];
      const parts = [`${int(st.n)}`];
      if (this.flipped) parts.push(`${int(st.flipped)} flipped (${st.n ? ((100 * st.flipped) / st.n).toFixed(1) : "0"} %)`);
      if (selected) parts.push(`${int(st.selected)} selected`);
      return el("button", {
        type: "button", class: "ghost dm-region", dataset: { region: name, n: String(st.n), flipped: String(st.flipped), selected: String(st.selected) },
        title: `${name}: ${rules[name]} (Swayamdipta et al. 2020). Click to select its ${int(st.n)} samples.`,
        onclick: () => this.actions.setSelection(this.ids.filter((_, i) => this.regions[i] === name)),
      }, el("span", { class: `dm-swatch dm-${name}` }), el("strong", {}, name), ` ${parts.join(" · ")}`);
    }));
  }
}
