// A view's frame: its card, a status line (progress of a 202 computation, or an error),
// and a loader that drops stale answers when the state moved on meanwhile.

import { el } from "./util.js";

/** In-flight loads of every view (the test hook waits for 0). */
export const activity = { pending: 0, listeners: new Set() };

function changed() {
  for (const fn of activity.listeners) fn(activity.pending);
}

export class View {
  /**
   * @param {string} id  the card element's id in index.html
   * @param {import("./state.js").Store} store  the page's state, which the view reads
   * @param {object} actions  what the view may do to it (session.viewActions)
   */
  constructor(id, store, actions) {
    this.store = store;
    this.actions = actions;
    this.card = document.getElementById(id);
    this.name = id;
    this.status = this.card.querySelector(".status") || this.card.appendChild(el("div", { class: "status" }));
    this.body = this.card.querySelector(".body");
    this.generation = 0;
    this.controller = null;
    this.card.dataset.state = "idle";
    this.renders = 0;
    // A card that loads when scrolled into view (data-lazy in index.html) holds a
    // placeholder of its size until its first answer, note or error.
    this.placeholder = null;
    if (this.card.hasAttribute("data-lazy") && this.body) {
      this.placeholder = el("div", { class: "placeholder", role: "status" },
        el("span", { class: "spinner" }), el("span", { class: "text" }, "Loads when scrolled into view."));
      this.body.classList.add("has-placeholder");
      this.body.append(this.placeholder);
    }
  }

  /** The view has shown something (an answer, a note or an error): drop the placeholder. */
  settle() {
    if (!this.placeholder) return;
    this.placeholder.remove();
    this.placeholder = null;
    this.body.classList.remove("has-placeholder");
    this.card.classList.add("settled");
  }

  /**
   * Run `work(signal, onProgress)`; its result goes to `render` unless a newer load
   * started meanwhile. Errors are shown in the card, never in an alert.
   */
  async load(work, render) {
    const generation = ++this.generation;
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    this.card.dataset.state = "loading";
    this.showProgress(null);
    activity.pending++;
    changed();
    try {
      const result = await work(controller.signal, (p) => {
        if (generation === this.generation) this.showProgress(p);
      });
      if (generation !== this.generation) return;
      this.clearStatus();
      await render(result);
      this.settle();
      this.renders++;
      this.card.dataset.state = "ready";
      this.card.dataset.renders = String(this.renders);
    } catch (err) {
      if (err?.name === "AbortError" || generation !== this.generation) return;
      this.showError(err);
    } finally {
      activity.pending--;
      changed();
    }
  }

  /** Forget any load in flight (the view has nothing to show now). */
  cancel() {
    this.generation++;
    this.controller?.abort();
    this.controller = null;
    this.clearStatus();
    this.card.dataset.state = "idle";
  }

  showProgress(progress) {
    if (this.placeholder) {
      this.placeholder.classList.add("loading");
      this.placeholder.querySelector(".text").textContent = "Loading…";
    }
    this.status.className = "status busy";
    this.status.replaceChildren();
    if (!progress) {
      this.status.append(el("span", { class: "spinner" }), "loading…");
      return;
    }
    const frac = progress.total ? progress.done / progress.total : 0;
    const bar = el("progress", { max: "1", value: String(frac) });
    const text = progress.total
      ? `${progress.what || "computing"} (${progress.done}/${progress.total})`
      : progress.what || "computing…";
    this.status.append(el("span", { class: "spinner" }), bar, el("span", {}, text));
  }

  showError(err) {
    this.settle();
    this.card.dataset.state = "error";
    this.status.className = "status error";
    this.status.replaceChildren(
      el("strong", {}, err?.status ? `Error ${err.status}: ` : "Error: "),
      el("span", { class: "message" }, err?.message || String(err)),
    );
  }

  showNote(text) {
    this.settle();
    this.status.className = "status note";
    this.status.replaceChildren(text);
  }

  clearStatus() {
    this.status.className = "status";
    this.status.replaceChildren();
  }
}
