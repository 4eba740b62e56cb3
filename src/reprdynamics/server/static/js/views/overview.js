// View 1: the run's facts and its metrics per snapshot, with a and b marked.

import { getJSON, runPath } from "../api.js";
import { View } from "../view.js";
import { el, int, fmt, baseLayout, PLOT_CONFIG, cssVar } from "../util.js";

const PROBABILITY_LIKE = /acc|precision|recall|f1|auc/i;

/** How often the open run is re-read (ms): new snapshots appear within this. */
export const POLL_MS = 3000;
/** A run whose last snapshot is this recent (s) is shown as being recorded. */
const LIVE_RECENT_S = 300;

export class OverviewView extends View {
  constructor(store, actions) {
    super("overview", store, actions);
    this.facts = document.getElementById("facts");
    this.plot = document.getElementById("metrics-plot");
    store.on(["info", "theme", "primed"], (s) => this.render(s));
    // a and b only move the markers (a cheap relayout, so the scatter redraws first).
    store.on(["a", "b"], (s) => this.plot.layout && Plotly.relayout(this.plot, { shapes: this.marks(s) }));
    document.getElementById("overview-refresh").addEventListener("click", () => this.refresh());
    // A run being recorded grows: re-read its overview every few seconds (while the page
    // is shown), so new snapshots appear by themselves.
    this.badge = document.getElementById("live-badge");
    this.timer = setInterval(() => document.hidden || this.refresh(true), POLL_MS);
    store.on(["info"], (s) => this.showLive(s));
  }

  /** "recording — snapshot t" while the run grows (or wrote a snapshot lately). */
  showLive(s) {
    const info = s.info;
    const times = (info?.wall_times || []).filter(Number.isFinite);
    const last = times.length ? times[times.length - 1] : null;
    const ago = last === null ? Infinity : Date.now() / 1000 - last;
    const grew = this.grownRun === s.run;
    if (!info || (!grew && !(ago < LIVE_RECENT_S))) {
      this.badge.hidden = true;
      this.badge.classList.remove("live");
      return;
    }
    const t = info.n_snapshots - 1;
    const epoch = info.epochs?.[t];
    const when = Number.isFinite(ago) ? `, ${ago < 90 ? `${Math.max(0, Math.round(ago))} s` : `${Math.round(ago / 60)} min`} ago` : "";
    const recording = ago < LIVE_RECENT_S;
    this.badge.hidden = false;
    this.badge.classList.toggle("live", recording);
    this.badge.textContent = `${recording ? "recording" : "recorded"} — snapshot ${t}${epoch === null || epoch === undefined ? "" : ` (epoch ${epoch})`}${when}`;
    this.badge.dataset.snapshots = String(info.n_snapshots);
  }

  async refresh(quiet = false) {
    const s = this.store.state;
    if (!s.run) return;
    const work = (signal) => getJSON(runPath(s.run), {}, { signal });
    const apply = (info) => {
      const now = this.store.state;
      if (now.run !== s.run) return; // another run opened meanwhile
      if (info.n_snapshots !== now.info?.n_snapshots || info.n_complete !== now.info?.n_complete) {
        // Following the newest snapshot: b moves on with the run.
        const last = (i) => (i?.complete || []).lastIndexOf(true);
        const patch = { info };
        if (now.b === last(now.info) && last(info) > now.b) patch.b = last(info);
        this.grownRun = s.run;
        this.store.set(patch);
      } else {
        this.showLive({ ...now, info: { ...now.info, wall_times: info.wall_times } });
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
