// The hover card of a point view: the sample's thumbnail (image runs) and its lines of
// text, placed beside the point under the pointer and kept inside the plot.

import { el } from "../util.js";

const CARD_WIDTH = 190; // room kept on the right so the card stays inside the host

export class HoverCard {
  constructor() {
    this.node = el("div", { class: "points-hover", hidden: "" });
    this.index = null;
  }

  /**
   * Show point `index`'s `lines` (and the image at `src`, when given) next to the client
   * position `at` ([x, y]) inside the host whose client rectangle is `host`.
   */
  show(index, lines, src, at, host) {
    this.index = index;
    const children = [];
    if (src) children.push(el("img", { src, width: "64", height: "64", alt: "" }));
    children.push(el("div", {}, ...lines.map((line) => el("div", {}, line))));
    this.node.replaceChildren(...children);
    const left = Math.min(at[0] - host.left + 12, host.width - CARD_WIDTH);
    const top = Math.max(0, at[1] - host.top - 12);
    Object.assign(this.node.style, { left: `${left}px`, top: `${top}px` });
    this.node.hidden = false;
    this.node.dataset.index = String(index);
  }

  hide() {
    this.index = null;
    this.node.hidden = true;
  }
}
