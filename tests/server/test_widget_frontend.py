"""The notebook widget's front end (static/js/widget.js) in a real browser, without Jupyter.

A page on another origin (as a notebook is) loads the widget's ESM the way anywidget does
(from a blob URL) and calls its ``render({model, el})`` with a small model that keeps
anywidget's contract (get, set, on, off, save_changes) and records what it saved. The
widget's iframe shows the dashboard's views from a real server over a synthetic run.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from browsing import Browse, Server, decode, drag, make_synthetic_run, wait_idle

from processes import free_port
from reprdynamics.server.routes import STATIC_DIR

N = 60

# The model: anywidget's contract, plus what the test needs (what was saved; a change
# "from the kernel", as a comm message would make it).
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>notebook</title><link rel="icon" href="data:,"></head>
<body style="margin:0">
<div class="cell" style="width:1200px; padding:20px"><div id="host"></div></div>
<script type="module">
const ESM = %(esm)s;
const ids = (view) => {
  const out = [];
  for (let i = 0; i < view.byteLength / 4; i++) out.push(view.getInt32(4 * i, true));
  return out;
};
const bytes = (list) => {
  const v = new DataView(new ArrayBuffer(4 * list.length));
  list.forEach((x, i) => v.setInt32(4 * i, x, true));
  return v;
};
class Model {
  constructor(state) { this.state = { ...state }; this.listeners = new Map(); this.saved = []; }
  get(name) { return this.state[name]; }
  set(name, value) {
    this.state[name] = value;
    for (const fn of [...(this.listeners.get(`change:${name}`) || [])]) fn(this, value);
  }
  on(event, fn) {
    if (!this.listeners.has(event)) this.listeners.set(event, []);
    this.listeners.get(event).push(fn);
  }
  off(event, fn) {
    this.listeners.set(event, (this.listeners.get(event) || []).filter((f) => f !== fn));
  }
  save_changes() { this.saved.push(ids(this.state._selection)); }
}
const model = new Model(%(state)s);
// "#url=...": the widget was told another server address (one the browser cannot reach).
model.state.url = new URLSearchParams(location.hash.slice(1)).get("url") || model.state.url;
// "#sel=7,8,9": the kernel had set the selection before the widget was shown.
const first = new URLSearchParams(location.hash.slice(1)).get("sel");
model.state._selection = bytes(first ? first.split(",").map(Number) : model.state._selection);
window.model = model;
window.savedSelections = () => model.saved;
window.modelSelection = () => ids(model.get("_selection"));
window.kernelSets = (list) => model.set("_selection", bytes(list));
const url = URL.createObjectURL(new Blob([ESM], { type: "text/javascript" }));
const widget = (await import(url)).default;
window.cleanup = widget.render({ model, el: document.getElementById("host") });
</script></body></html>
"""


class NotebookPage:
    """A page on its own origin (another port), as a notebook is to the dashboard server."""

    def __init__(self, html: str) -> None:
        body = html.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def widget_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    run = make_synthetic_run(
        tmp_path_factory.mktemp("widget") / "wrun", n=N, snapshots=6, classes=3, seed=5
    )
    server = Server(run)
    yield server
    server.stop()


@pytest.fixture
def notebook(chromium: Any, widget_server: Server) -> Iterator[tuple[Browse, NotebookPage]]:
    state = {
        "url": widget_server.origin,
        "run_name": "wrun",
        "n_samples": N,
        "height": None,
        "theme": "light",
        "_selection": list(range(N)),
    }
    esm = (STATIC_DIR / "js" / "widget.js").read_text()
    page = NotebookPage(PAGE % {"esm": json.dumps(esm), "state": json.dumps(state)})
    session = Browse(chromium)
    yield session, page
    try:
        errors = [e for e in session.errors if not any(a in e for a in session.allowed_errors)]
        assert not errors, f"console errors: {errors}"
        allowed = (widget_server.origin + "/", page.origin + "/", "blob:", "data:")
        foreign = [u for u in session.requests if not u.startswith(allowed)]
        assert not foreign, f"requests left the two local servers: {foreign}"
    finally:
        session.context.close()
        page.stop()


def _frame(session: Browse, page: NotebookPage, hash_: str = "") -> Any:
    """Open the notebook page; the widget's frame once its run is open and drawn."""
    session.page.goto(page.origin + "/" + hash_)
    session.page.wait_for_function("() => document.getElementById('host').dataset.ready === 'true'")
    frame = next(f for f in session.page.frames if "/static/widget.html" in f.url)
    frame.wait_for_function("() => window.__rd && window.__rd.state.fp !== null")
    wait_idle(frame)
    return frame


def test_widget_shows_the_three_views_and_syncs_the_selection(
    notebook: tuple[Browse, NotebookPage], widget_server: Server
) -> None:
    session, page = notebook
    frame = _frame(session, page)
    top = session.page
    assert frame.url.startswith(widget_server.origin + "/static/widget.html?")
    # The three views are the dashboard's cards, drawn.
    assert frame.evaluate(
        "() => [...document.querySelectorAll('main > .card')].map((c) => c.id)"
    ) == [
        "heatmap",
        "cartography",
        "projection",
    ]
    cells = frame.evaluate("() => document.getElementById('fingerprint').data[0].z.length")
    assert cells == 5  # a transition fingerprint of 6 snapshots
    for card in ("cartography", "projection"):
        frame.locator(f"#{card}").scroll_into_view_if_needed()
        frame.wait_for_function(
            f"() => document.getElementById('{card}').dataset.state === 'ready'"
        )
    wait_idle(frame)
    for name in ("datamap", "projection"):
        drawn = frame.evaluate(f"() => window.__rd.points('{name}')")
        assert drawn["n"] == N and len(drawn["x"]) == N and drawn["highlighted"] == 0
    # The iframe grew to fit the views (height None).
    height = top.evaluate(
        "() => document.querySelector('#host iframe').getBoundingClientRect().height"
    )
    content = frame.evaluate("() => document.documentElement.scrollHeight")
    assert abs(height - content) <= 2 and height > 700
    session.shot("widget", full_page=True)
    summary = frame.locator("#selection-summary")
    assert summary.text_content() == f"{N} of {N} samples selected (all)"
    assert top.evaluate("() => window.savedSelections()") == []  # nothing to save yet

    # A box in the data map selects samples: the model gets exactly the frame's selection.
    table = widget_server.get("/api/runs/wrun/samples", k=0)
    conf = decode(table["data"]["confidence"])
    var = decode(table["data"]["variability"])
    frame.locator("#cartography").scroll_into_view_if_needed()
    frame.locator('#datamap [data-mode="box"]').click()
    lo_x, hi_x = float(np.quantile(var, 0.2)), float(np.quantile(var, 0.8))
    lo_y, hi_y = float(np.quantile(conf, 0.2)), float(np.quantile(conf, 0.8))
    offset = top.evaluate(
        "() => { const f = document.querySelector('#host iframe');"
        " const r = f.getBoundingClientRect();"
        " return [r.left + f.clientLeft, r.top + f.clientTop]; }"
    )
    corner = "([x, y]) => window.__rd.views.datamap.plot.toClient(x, y)"
    (x0, y0), (x1, y1) = frame.evaluate(corner, [lo_x, hi_y]), frame.evaluate(corner, [hi_x, lo_y])
    points = [(x0, y0), ((x0 + x1) / 2, (y0 + y1) / 2), (x1, y1)]
    drag(top, [(x + offset[0], y + offset[1]) for x, y in points])
    top.wait_for_function("() => window.savedSelections().length === 1", timeout=15000)
    wait_idle(frame)
    saved = top.evaluate("() => window.savedSelections()[0]")
    in_frame = frame.evaluate("() => Array.from(window.__rd.state.selection)")
    assert saved == in_frame == sorted(saved) and 0 < len(saved) < N
    expected = np.flatnonzero((var >= lo_x) & (var <= hi_x) & (conf >= lo_y) & (conf <= hi_y))
    # The box's edges are pixels: a sample right on the border may go either way.
    assert len(set(saved) ^ set(expected.tolist())) <= 2
    assert top.evaluate("() => window.modelSelection()") == saved
    assert summary.text_content() == f"{len(saved)} of {N} samples selected"

    # The kernel sets the selection: the views follow, and nothing is echoed back.
    chosen = [1, 2, 3, 10, 59]
    top.evaluate(f"() => window.kernelSets({chosen})")
    frame.wait_for_function(f"() => window.__rd.state.selection.length === {len(chosen)}")
    wait_idle(frame)
    assert frame.evaluate("() => Array.from(window.__rd.state.selection)") == chosen
    assert summary.text_content() == f"5 of {N} samples selected"
    assert frame.evaluate("() => window.__rd.points('datamap').highlighted") == len(chosen)
    assert frame.evaluate("() => window.__rd.points('projection').highlighted") == len(chosen)
    assert len(top.evaluate("() => window.savedSelections()")) == 1
    link = frame.evaluate("() => document.getElementById('open-dashboard').getAttribute('href')")
    assert link == "/#run=wrun&sel=1-3%2C10%2C59"

    # "all" in the frame: the model gets every id again.
    frame.locator("#select-all").click()
    top.wait_for_function("() => window.savedSelections().length === 2")
    assert top.evaluate("() => window.savedSelections()[1]") == list(range(N))
    # The views' own controls keep working in the widget: a heat-map cell picks the pair.
    frame.evaluate("() => window.__rd.pickCell(1, 3)")
    frame.wait_for_function("() => window.__rd.state.a === 1 && window.__rd.state.b === 3")
    assert frame.locator("#pair").text_content() == "a epoch 1 → b epoch 3"
    # render's cleanup stops listening to the model.
    top.evaluate("() => window.cleanup()")
    top.evaluate("() => window.kernelSets([4, 5])")
    frame.wait_for_timeout(300)
    assert frame.evaluate("() => window.__rd.state.selection.length") == N


def test_a_selection_set_before_the_frame_loads_is_its_first(
    notebook: tuple[Browse, NotebookPage],
) -> None:
    session, page = notebook
    frame = _frame(session, page, "#sel=7,8,9,70")
    # The frame opens the run with it (ids the run lacks dropped): no fingerprint of all.
    assert frame.evaluate("() => Array.from(window.__rd.state.selection)") == [7, 8, 9]
    assert frame.evaluate("() => window.__rd.state.fp.request.samples.length") == 3
    assert frame.locator("#selection-summary").text_content() == f"3 of {N} samples selected"
    assert session.page.evaluate("() => window.savedSelections()") == []
    fingerprints = [u for u in session.requests if "/fingerprint" in u]
    assert fingerprints and all("samples=7-9" in u for u in fingerprints)


def test_a_server_the_browser_cannot_reach_is_explained(
    notebook: tuple[Browse, NotebookPage],
) -> None:
    session, page = notebook
    closed = f"http://127.0.0.1:{free_port()}"  # a port nothing listens on
    session.allowed_errors.append("ERR_CONNECTION_REFUSED")
    session.page.goto(f"{page.origin}/#url={closed}")
    hint = session.page.locator("#host .reprdynamics-unreachable")
    hint.wait_for(timeout=20000)
    text = hint.text_content()
    assert closed in text and "ssh -L PORT:127.0.0.1:PORT" in text
    assert session.page.evaluate("() => window.savedSelections()") == []
    session.requests[:] = [u for u in session.requests if not u.startswith(closed)]
