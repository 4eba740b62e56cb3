// View 1: the run's facts and its metrics per snapshot, with a and b marked.

import { getJSON, runPath } from "../api.js";
import { View } from "../view.js";
import { el, int, fmt, baseLayout, PLOT_CONFIG, cssVar } from "../util.js";

const PROBABILITY_LIKE = /acc|precision|recall|f1|auc/i;

export class OverviewView extends View {
  constructor(store, actions) {
    super("overview");
    this.store = store;
    this.actions = actions;
    this.facts = document.getElementById("facts");
    this.plot = document.getElementById("metrics-plot");
    store.on(["info", "theme", "primed"], (s) => this.render(s));
    // a and b only move the markers (a cheap relayout, so the scatter redraws first).
    store.on(["a", "b"], (s) => this.plot.layout && Plotly.relayout(this.plot, { shapes: this.marks(s) }));
    document.getElementById("overview-refresh").addEventListener("click", () => this.refresh());
    // A run being recorded grows: re-read its overview now and then.
    this.timer = setInterval(() => this.refresh(true), 15000);
  }

  async refresh(quiet = false) {
    const s = this.store.state;
    if (!s.run) return;
    const work = (signal) => getJSON(runPath(s.run), {}, { signal });
    const apply = (info) => {
      if (info.n_snapshots !== s.info?.n_snapshots || info.n_complete !== s.info?.n_complete) {
        this.store.set({ info });
      }
    };
    if (quiet) {
      try {
        apply(await work());
      } catch {
        /* a quiet background check; the next user action shows errors */
      }
    } else {
      await this.load(work, apply);
    }
  }

  render(s) {
    const info = s.info;
    if (!info) return;
    const layers = Object.entries(info.layers || {}).map(([name, dim]) => `${name} (${dim})`);
    const classes = info.class_names || [];
    const rows = [
      ["run", info.name],
      ["snapshots", info.n_complete !== undefined && info.n_complete !== info.n_snapshots
        ? `${info.n_snapshots} (${info.n_complete} complete)` : String(info.n_snapshots)],
      ["samples", int(info.n_samples)],
      ["kind", info.kind],
      ["layers", layers.join(", ")],
      ["classes", classes.length ? `${classes.length}: ${classes.slice(0, 12).join(", ")}${classes.length > 12 ? ", …" : ""}` : "—"],
      ["inputs", info.has_inputs ? (info.input_shape || []).join(" × ") : "none"],
    ];
    for (const [key, value] of Object.entries(info.metadata || {})) {
      if (["dataset", "model", "optimizer", "lr", "label_noise", "batch_size"].includes(key)) {
        rows.push([key.replace(/_/g, " "), typeof value === "number" ? fmt(value) : String(value)]);
      }
    }
    this.facts.replaceChildren(
      ...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { dataset: { fact: k } }, v)]),
    );
    if (s.primed) this.renderMetrics(s);
    this.card.dataset.state = "ready";
  }

  /** Dotted vertical lines at snapshots a and b. */
  marks(s) {
    const epochs = s.info?.epochs || [];
    const fg = cssVar("--muted");
    const mark = (t, label) => {
      if (t === undefined || t >= epochs.length) return [];
      const x = epochs[t] === null || epochs[t] === undefined ? t : epochs[t];
      return [{
        type: "line", xref: "x", yref: "paper", x0: x, x1: x, y0: 0, y1: 1,
        line: { color: fg, width: 1, dash: "dot" }, label: { text: label, textposition: "end", font: { size: 11, color: fg } },
      }];
    };
    return [...mark(s.a, "a"), ...mark(s.b, "b")];
  }

  renderMetrics(s) {
    const info = s.info;
    const metrics = info.metrics || {};
    const names = Object.keys(metrics);
    if (!names.length) {
      Plotly.purge(this.plot);
      this.plot.replaceChildren(el("p", { class: "note" }, "No metrics were recorded."));
      return;
    }
    const epochs = info.epochs || [];
    const x = epochs.map((e, t) => (e === null || e === undefined ? t : e));
    const onRight = (name) => PROBABILITY_LIKE.test(name);
    const colours = ["#f28e2b", "#4e79a7", "#59a14f", "#e15759", "#b07aa1", "#76b7b2"];
    const traces = names.map((name, i) => ({
      type: "scatter",
      mode: "lines+markers",
      name,
      x,
      y: metrics[name],
      customdata: x.map((_, t) => t),
      yaxis: onRight(name) && names.some((n) => !onRight(n)) ? "y2" : "y",
      line: { color: colours[i % colours.length], width: 2 },
      marker: { size: 4 },
      hovertemplate: `${name} %{y:.4f}<br>epoch %{x}<extra></extra>`,
    }));
    const layout = baseLayout({
      margin: { l: 44, r: 44, t: 8, b: 36 },
      xaxis: { title: { text: "epoch" } },
      yaxis: { title: { text: "" }, automargin: true },
      yaxis2: { overlaying: "y", side: "right", range: [0, 1.02], tickmode: "linear", tick0: 0, dtick: 0.25, showgrid: false, automargin: true },
      legend: { orientation: "h", y: 1.12, x: 0 },
      shapes: this.marks(s),
      showlegend: true,
    });
    Plotly.react(this.plot, traces, layout, { ...PLOT_CONFIG, displayModeBar: false });
    if (!this.plot.dataset.bound) {
      this.plot.dataset.bound = "1";
      // Click a point: it becomes b (with Shift: a).
      this.plot.on("plotly_click", (ev) => {
        const t = ev.points?.[0]?.customdata;
        if (t === undefined) return;
        if (ev.event?.shiftKey) this.store.set({ a: t });
        else this.store.set({ b: t });
      });
    }
  }
}
