"""The dashboard in a real browser (Playwright driving Debian's Chromium).

Two servers run in background threads: one over the bundled sample run (what
``reprdynamics serve`` shows with no argument) and one over a root holding two small
synthetic runs without images (run picker, plain points, compare). Every test checks, at
teardown, that the page logged no console error, raised no exception, and sent no request
anywhere but its own server (fixtures in conftest.py, helpers in browsing.py). What the
views draw is compared with the JSON API of the same server. Screenshots go to
``/tmp/rd_*.png``.
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browsing import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Browse,
    Server,
    assert_heatmap_shows,
    decode,
    drag,
    heatmap_cell,
    selection_param,
)

import reprdynamics as rd


# ---------------------------------------------------------------------------- sample run
def test_sample_overview_and_default_views(browse: Browse, sample_server: Server) -> None:
    page = browse.open(sample_server)
    info = sample_server.get("/api/runs/sample_run")
    assert browse.state("s.run") == "sample_run"
    assert page.locator('#facts dd[data-fact="snapshots"]').inner_text() == str(info["n_snapshots"])
    assert page.locator('#facts dd[data-fact="samples"]').inner_text() == "1,797"
    # Metrics per snapshot: one line per recorded metric, values as the API gives them.
    traces = browse.plot("#metrics-plot", "gd.data.map(t => [t.name, t.y])")
    assert {name for name, _ in traces} == set(info["metrics"])
    for name, ys in traces:
        np.testing.assert_allclose(ys, info["metrics"][name], rtol=1e-6)
    # Default: every sample selected (a small run), pair = first and last snapshot.
    assert browse.state("s.selection.length") == info["n_samples"]
    assert browse.state("[s.a, s.b]") == [0, info["n_snapshots"] - 1]
    assert "1,797 of 1,797" in page.locator("#selection-summary").inner_text()
    # The default fingerprint equals the API's.
    fp = sample_server.get("/api/runs/sample_run/fingerprint")
    z = np.array(browse.plot("#fingerprint", "gd.data[0].z"), dtype=float)
    np.testing.assert_allclose(z, decode(fp["matrix"]), rtol=1e-6, atol=1e-7)
    # The picker shows the first page of thumbnails (sprite crops as CSS backgrounds).
    assert page.locator("#thumb-grid .thumb").count() == 200
    assert "blob:" in page.locator("#thumb-grid .thumb").first.evaluate(
        "n => n.style.backgroundImage"
    )
    for card in ("overview", "picker", "heatmap", "scatter-card", "transitions", "rqa"):
        assert page.locator(f"#{card}").get_attribute("data-state") == "ready", card
    browse.shot("sample_top")


def test_select_class_click_heatmap_scatter_agrees(browse: Browse, sample_server: Server) -> None:
    page = browse.open(sample_server)
    labels = decode(sample_server.get("/api/runs/sample_run/labels")["labels"])
    page.select_option("#pick-class", "3")
    browse.idle()
    expected = np.flatnonzero(labels == 3)
    assert browse.state("Array.from(s.selection)") == expected.tolist()
    assert page.locator("#selection-summary").get_attribute("data-count") == str(expected.size)

    # A real mouse click on heat-map cell (column i, row j).
    fp = sample_server.get(
        "/api/runs/sample_run/fingerprint", samples=selection_param(expected.tolist(), 1797)
    )
    assert_heatmap_shows(browse, fp)
    i, j = 3, 12
    x, y = heatmap_cell(page, i, j)
    page.mouse.move(x, y)
    # Hovering shows the cell's value.
    page.wait_for_selector("#fingerprint .hoverlayer .hovertext")
    hover = page.locator("#fingerprint .hoverlayer .hovertext").text_content()
    assert f"D = {decode(fp['matrix'])[j, i]:.4f}" in hover
    page.mouse.click(x, y)
    browse.idle()
    a, b = fp["snapshots"][i], fp["snapshots"][j]
    assert browse.state("[s.a, s.b]") == [a, b]
    assert page.locator("#snap-a").input_value() == str(a)

    # The scatter holds exactly the selected samples, placed by entropy at a and b.
    ids = browse.plot("#scatter", "gd.data[0].customdata")
    assert ids == expected.tolist()
    sel = selection_param(expected.tolist(), 1797)
    at_a = sample_server.get(
        "/api/runs/sample_run/measure", name="entropy", snapshot=a, samples=sel
    )
    at_b = sample_server.get(
        "/api/runs/sample_run/measure", name="entropy", snapshot=b, samples=sel
    )
    assert decode(at_a["ids"]).tolist() == ids
    np.testing.assert_allclose(
        browse.plot("#scatter", "gd.data[0].x"), decode(at_a["values"]), rtol=1e-6
    )
    np.testing.assert_allclose(
        browse.plot("#scatter", "gd.data[0].y"), decode(at_b["values"]), rtol=1e-6
    )
    # Few enough points: each is drawn with its thumbnail.
    assert browse.plot("#scatter", "gd.layout.images.length") == expected.size
    assert browse.plot("#scatter", "gd.layout.images[0].source").startswith("data:image/png")
    # Zooming keeps the thumbnails' size on screen: half the range, half the data size.
    before = browse.plot("#scatter", "gd.layout.images[0].sizex")
    page.evaluate(
        """() => { const gd = document.querySelector('#scatter'); const r = gd.layout.xaxis.range;
            return Plotly.relayout(gd, {'xaxis.range': [r[0], (r[0] + r[1]) / 2]}); }"""
    )
    assert browse.plot("#scatter", "gd.layout.images[0].sizex") == pytest.approx(
        before / 2, rel=1e-3
    )
    # A real click on an isolated point opens that sample in the local view.
    page.evaluate("() => Plotly.relayout('scatter', {'xaxis.autorange': true})")
    x, y, sample = page.evaluate(
        """() => {
            const gd = document.querySelector('#scatter'), fl = gd._fullLayout;
            const box = gd.getBoundingClientRect(), t = gd.data[0];
            const px = t.x.map((v, i) => [box.left + fl.xaxis._offset + fl.xaxis.l2p(v),
                                          box.top + fl.yaxis._offset + fl.yaxis.l2p(t.y[i])]);
            let best = 0, far = -1;
            px.forEach((p, i) => {
                const d = Math.min(...px.map((q, k) => k === i ? Infinity
                    : Math.hypot(p[0] - q[0], p[1] - q[1])));
                if (d > far) { far = d; best = i; }
            });
            return [...px[best], t.customdata[best]];
        }"""
    )
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    browse.idle()
    assert browse.state("s.focus") == sample
    assert page.locator("#local-panels").get_attribute("data-id") == str(sample)
    # The highlighted cell follows the pick.
    shape = browse.plot("#fingerprint", "gd.layout.shapes.find(s => s.type === 'rect')")
    assert (shape["x0"] + 0.5, shape["y0"] + 0.5) == (i, j)
    page.locator("#scatter-card").scroll_into_view_if_needed()
    browse.shot("scatter_class3", selector="#scatter-card")
    browse.shot("heatmap_class3", selector="#heatmap")

    # Colour by correctness, then another measure through the hook's pickCell.
    page.select_option("#sc-color", "correct")
    page.select_option("#sc-measure", "margin")
    page.evaluate("() => window.__rd.pickCell(1, 5)")
    browse.idle()
    a, b = fp["snapshots"][1], fp["snapshots"][5]
    margin = sample_server.get(
        "/api/runs/sample_run/measure", name="margin", snapshot=b, samples=sel
    )
    np.testing.assert_allclose(
        browse.plot("#scatter", "gd.data[0].y"), decode(margin["values"]), rtol=1e-6
    )
    correct_a = decode(
        sample_server.get("/api/runs/sample_run/measure", name="correct", snapshot=a, samples=sel)[
            "values"
        ]
    )
    correct_b = decode(
        sample_server.get("/api/runs/sample_run/measure", name="correct", snapshot=b, samples=sel)[
            "values"
        ]
    )
    colours = browse.plot("#scatter", "gd.data[0].marker.color")
    forgotten = [
        c for c, ca, cb in zip(colours, correct_a, correct_b, strict=True) if ca == 1 and cb == 0
    ]
    learned = [
        c for c, ca, cb in zip(colours, correct_a, correct_b, strict=True) if ca == 0 and cb == 1
    ]
    assert len(set(forgotten)) <= 1 and len(set(learned)) <= 1
    if forgotten and learned:
        assert forgotten[0] != learned[0]


def test_local_view_matches_api(browse: Browse, sample_server: Server) -> None:
    page = browse.open(sample_server)
    page.evaluate("() => window.__rd.setPair(2, 15)")
    browse.idle()
    # Open a sample the way a user does: double-click its thumbnail in the picker.
    page.locator('#thumb-grid .thumb[data-id="7"]').dblclick()
    browse.idle()
    assert browse.state("s.focus") == 7
    local = sample_server.get("/api/runs/sample_run/local", id=7, a=2, b=15, k=10)
    for side in ("a", "b"):
        nodes = page.locator(f'#local-panels svg[data-side="{side}"] g.nb')
        shown = nodes.evaluate_all(
            "ns => ns.map(n => [+n.dataset.id, +n.dataset.distance, n.dataset.changed === '1'])"
        )
        expected = [(nb["id"], nb["distance"], nb["changed"]) for nb in local[side]["neighbours"]]
        assert [s[0] for s in shown] == [e[0] for e in expected]
        np.testing.assert_allclose([s[1] for s in shown], [e[1] for e in expected], rtol=1e-6)
        assert [s[2] for s in shown] == [e[2] for e in expected]
        # Radius grows with distance: the nearest neighbour is closest to the centre.
        radii = nodes.evaluate_all(
            """ns => ns.map(n => {
                const m = /translate\\(([-\\d.]+),([-\\d.]+)\\)/.exec(n.getAttribute('transform'));
                return Math.hypot(+m[1] - 210, +m[2] - 180); })"""
        )
        assert radii == sorted(radii)
    assert page.locator("#local-title").inner_text().startswith("#7")
    assert page.locator("#local-panels svg image").count() == 2 * (1 + 10)
    page.locator("#local").scroll_into_view_if_needed()
    browse.shot("local", selector="#local")
    # Clicking a neighbour opens it.
    first = local["b"]["neighbours"][0]["id"]
    page.locator(f'#local-panels svg[data-side="b"] g.nb[data-id="{first}"]').click()
    browse.idle()
    assert browse.state("s.focus") == first


def test_switch_fingerprint_kind(browse: Browse, sample_server: Server) -> None:
    page = browse.open(sample_server)
    page.evaluate("() => window.__rd.select(Array.from({length: 300}, (_, i) => i * 5))")
    browse.idle()
    sel = ",".join(str(i * 5) for i in range(300))
    kinds = browse.state("s.info.fingerprint_kinds")
    assert "neighbour-transition" in kinds and "class-transition" in kinds

    def heatmap_shows(**params: Any) -> dict[str, Any]:
        """Once the page is idle, the heat map draws the selection's fingerprint of ``params``."""
        browse.idle()
        fp = sample_server.get("/api/runs/sample_run/fingerprint", samples=sel, **params)
        assert_heatmap_shows(browse, fp, rtol=1e-5, atol=1e-6)
        return fp

    for kind in kinds:
        page.select_option("#fp-kind", kind)
        browse.idle()
        params: dict[str, Any] = {"kind": kind, "samples": sel}
        if kind.startswith("neighbour"):
            params["k"] = 10
        fp = sample_server.get("/api/runs/sample_run/fingerprint", **params)
        z = np.array(browse.plot("#fingerprint", "gd.data[0].z"), dtype=float)
        np.testing.assert_allclose(z, decode(fp["matrix"]), rtol=1e-5, atol=1e-6, err_msg=kind)
        assert (
            browse.plot("#fingerprint", "gd.layout.xaxis.ticktext[1]")
            == fp["labels"][browse.plot("#fingerprint", "gd.layout.xaxis.tickvals[1]")]
        )
        # The RQA table is that of the same fingerprint.
        rqa = sample_server.get("/api/runs/sample_run/rqa", **params)
        shown = page.locator('#rqa-table tr[data-measure="rr"] td').inner_text()
        assert float(shown) == pytest.approx(rqa["rqa"]["rr"], rel=1e-3, abs=1e-4)
        if kind == "class-transition":
            browse.shot("heatmap_class_transition", selector="#heatmap")
    # A layer and k change reach the request too.
    page.select_option("#fp-kind", "neighbour-state")
    page.select_option("#fp-layer", "penultimate")
    page.fill("#fp-k", "5")
    page.dispatch_event("#fp-k", "change")
    heatmap_shows(kind="neighbour-state", k=5, layer="penultimate")
    assert "kind=neighbour-state" in page.url and "layer=penultimate" in page.url
    # Approximate neighbours: the request says so and the view shows the measured recall.
    page.select_option("#fp-kind", "neighbour-transition")
    page.select_option("#fp-neighbours", "approximate")
    fp = heatmap_shows(
        kind="neighbour-transition", k=5, layer="penultimate", neighbours="approximate"
    )
    note = page.locator("#heatmap .status").inner_text()
    assert f"recall {fp['params']['recall']:.3f}" in note


#: Play the projection from its first snapshot to the end; the snapshots shown, sorted.
PLAY_THROUGH = """async () => {
    const card = document.querySelector('#projection');
    const seen = new Set();
    const obs = new MutationObserver(() => seen.add(card.dataset.t));
    obs.observe(card, { attributes: true, attributeFilter: ['data-t'] });
    await window.__rd.setProjection(0);
    document.querySelector('#proj-play').click();
    const last = String(window.__rd.views.projection.meta.snapshots.length - 1);
    while (card.dataset.t !== last || window.__rd.views.projection.playing) {
        await new Promise(r => setTimeout(r, 50));
    }
    obs.disconnect();
    return [...seen].map(Number).sort((a, b) => a - b);
}"""


def _projection_at(server: Server, t: int) -> tuple[np.ndarray, np.ndarray]:
    """The projection's coordinates at snapshot t from projection.bin, and its float32 form."""
    from reprdynamics.server.binary import dequantise

    with urllib.request.urlopen(
        f"{server.origin}/api/runs/sample_run/projection.bin?snapshot={t}"
    ) as response:
        headers = response.headers
        codes = np.frombuffer(response.read(), dtype="<u2").reshape(-1, 2)
    scale = [float(v) for v in headers["X-Scale"].split(",")]
    offset = [float(v) for v in headers["X-Offset"].split(",")]
    return dequantise(codes, scale, offset), np.asarray(scale)


def test_projection_slider_and_play(browse: Browse, sample_server: Server) -> None:
    page = browse.open(sample_server)
    page.evaluate("() => window.__rd.select([1, 2, 3, 40, 41])")
    page.locator("#projection").scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('#projection').dataset.state === 'ready'")
    browse.idle()
    proj = sample_server.get("/api/runs/sample_run/projection")
    coords = decode(proj["coords"])
    page.locator("#proj-slider").fill("5")
    page.wait_for_function("() => document.querySelector('#projection').dataset.t === '5'")
    drawn = page.evaluate("() => window.__rd.points('projection')")
    # Every sample is drawn (WebGL), at its snapshot-5 place within the uint16 step.
    assert drawn["renderer"] == "webgl" and drawn["n"] == 1797
    at5, scale = _projection_at(sample_server, 5)
    np.testing.assert_allclose(drawn["x"], at5[:, 0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(drawn["x"], coords[5, :, 0], atol=scale[0])
    np.testing.assert_allclose(drawn["y"], coords[5, :, 1], atol=scale[1])
    assert drawn["highlighted"] == 5 and drawn["trails"] == 5
    # Colour by label: the legend names the classes present.
    assert drawn["colour"]["kind"] == "category"
    assert drawn["legend"][:3] == ["0", "1", "2"]
    browse.shot("projection", selector="#projection")
    # Colour by a table column (continuous, with a colour bar).
    page.select_option("#proj-color", "aum")
    page.wait_for_function("() => window.__rd.points('projection').colour.kind === 'continuous'")
    table = sample_server.get("/api/runs/sample_run/samples", k=0)
    np.testing.assert_allclose(
        page.evaluate("() => window.__rd.points('projection').colour.values"),
        decode(table["data"]["aum"]),
        rtol=1e-6,
    )
    # Play runs through every snapshot to the last, at 4x.
    page.select_option("#proj-speed", "4")
    seen = page.evaluate(PLAY_THROUGH)
    last = coords.shape[0] - 1
    assert seen == list(range(1, last + 1)) or seen == list(range(last + 1))
    at_last, _ = _projection_at(sample_server, last)
    page.wait_for_timeout(400)  # the last move ends
    np.testing.assert_allclose(
        page.evaluate("() => window.__rd.points('projection').x"), at_last[:, 0], atol=1e-6
    )
    assert page.locator("#proj-play").get_attribute("aria-label") == "play"


def test_table_sort_filter_select_and_csv(browse: Browse, sample_server: Server) -> None:
    page = browse.open(sample_server)
    page.locator("#table").scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('#table').dataset.state === 'ready'")
    browse.idle()
    table = sample_server.get("/api/runs/sample_run/samples")
    aum = decode(table["data"]["aum"])
    page.locator('#sample-table th.sortable[data-column="aum"]').click()
    first_ids = page.locator("#sample-table tbody tr").evaluate_all(
        "rs => rs.map(r => +r.dataset.id)"
    )
    assert first_ids == np.argsort(aum, kind="stable")[: len(first_ids)].tolist()
    # Filter: label 3 and negative AUM (suspected mislabeled among the threes).
    page.fill('#sample-table input[data-column="label"]', "3")
    page.fill('#sample-table input[data-column="aum"]', "<0")
    labels = decode(table["data"]["label"])
    expected = np.flatnonzero((labels == 3) & (aum < 0))
    shown = page.locator("#sample-table tbody tr").evaluate_all("rs => rs.map(r => +r.dataset.id)")
    by_aum = expected[np.argsort(aum[expected], kind="stable")]
    assert expected.size > 0
    assert shown == by_aum[:50].tolist()
    page.locator("#table-select").click()
    browse.idle()
    assert browse.state("Array.from(s.selection)") == expected.tolist()
    browse.shot("table", selector="#table")
    # The CSV link downloads the same table.
    href = page.locator("#table-csv").get_attribute("href")
    with urllib.request.urlopen(sample_server.origin + href) as response:
        assert response.status == 200
        head = response.read().decode().splitlines()[0]
    assert "aum" in head.split(",")
    # A table row opens the local view.
    page.locator(f'#sample-table tbody tr[data-id="{expected[0]}"]').click()
    browse.idle()
    assert browse.state("s.focus") == int(expected[0])


def test_datamap_box_and_lasso_select(browse: Browse, sample_server: Server) -> None:
    page = browse.open(sample_server)
    page.locator("#cartography").scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('#cartography').dataset.state === 'ready'")
    browse.idle()
    table = sample_server.get("/api/runs/sample_run/samples", k=0)
    conf = decode(table["data"]["confidence"])
    var = decode(table["data"]["variability"])
    drawn = page.evaluate("() => window.__rd.points('datamap')")
    assert drawn["renderer"] == "webgl" and drawn["n"] == 1797
    np.testing.assert_allclose(drawn["x"], var, rtol=1e-6)
    np.testing.assert_allclose(drawn["y"], conf, rtol=1e-6)
    corner = "([x, y]) => window.__rd.views.datamap.plot.toClient(x, y)"
    # A box over the low-confidence corner (suspected mislabeled samples).
    page.locator('#datamap [data-mode="box"]').click()
    (x0, y0), (x1, y1) = page.evaluate(corner, [0.0, 0.3]), page.evaluate(corner, [0.35, -0.01])
    drag(page, [(x0, y0), ((x0 + x1) / 2, (y0 + y1) / 2), (x1, y1)])
    page.wait_for_function("() => window.__rd.state.selection.length < 1797", timeout=15000)
    browse.idle()
    selected = browse.state("Array.from(s.selection)")
    expected = np.flatnonzero((conf <= 0.3) & (var <= 0.35)).tolist()
    # The box's edges are pixels: a sample right on the border may go either way.
    assert selected and len(set(selected) ^ set(expected)) <= max(3, len(expected) // 50)
    assert page.evaluate("() => window.__rd.points('datamap').highlighted") == len(selected)
    browse.shot("datamap", selector="#cartography")
    # A freeform lasso (a triangle) selects the samples inside it.
    page.locator('#datamap [data-mode="lasso"]').click()
    triangle = [(0.05, 0.95), (0.25, 0.95), (0.15, 0.6)]
    pixels = [tuple(page.evaluate(corner, list(v))) for v in triangle]
    drag(page, [*pixels, pixels[0]])
    page.wait_for_function(f"() => window.__rd.state.selection.length !== {len(selected)}")
    browse.idle()
    lassoed = set(browse.state("Array.from(s.selection)"))
    inside = {i for i in range(1797) if _in_triangle(var[i], conf[i], triangle)}
    assert lassoed and len(lassoed ^ inside) <= max(3, len(inside) // 50)


def _in_triangle(x: float, y: float, tri: list[tuple[float, float]]) -> bool:
    (ax, ay), (bx, by), (cx, cy) = tri
    d1 = (x - bx) * (ay - by) - (ax - bx) * (y - by)
    d2 = (x - cx) * (by - cy) - (bx - cx) * (y - cy)
    d3 = (x - ax) * (cy - ay) - (cx - ax) * (y - ay)
    negative = d1 < 0 or d2 < 0 or d3 < 0
    positive = d1 > 0 or d2 > 0 or d3 > 0
    return not (negative and positive)


def test_top_k_and_all_none(browse: Browse, sample_server: Server) -> None:
    page = browse.open(sample_server)
    table = sample_server.get("/api/runs/sample_run/samples")
    aum = decode(table["data"]["aum"])
    page.fill("#pick-k", "25")
    page.select_option("#pick-order", "asc")
    page.select_option("#pick-measure", "aum")
    page.locator("#pick-top").click()
    browse.idle()
    assert browse.state("Array.from(s.selection)") == sorted(
        np.argsort(aum, kind="stable")[:25].tolist()
    )
    assert browse.plot("#scatter", "gd.data[0].customdata.length") == 25
    browse.shot("picker_topk", selector="#picker")

    page.locator("#pick-none").click()
    browse.idle()
    assert browse.state("s.selection.length") == 0
    assert "Select at least two" in page.locator("#heatmap .status").inner_text()
    page.locator("#pick-all").click()
    browse.idle()
    assert browse.state("s.selection.length") == 1797
    # One by one: clicking a thumbnail toggles it.
    page.locator('#thumb-grid .thumb[data-id="0"]').click()
    browse.idle()
    assert browse.state("s.selection.length") == 1796
    assert page.locator('#thumb-grid .thumb[data-id="0"]').get_attribute("aria-checked") == "false"


def test_hash_restores_state(browse: Browse, sample_server: Server) -> None:
    page = browse.open(sample_server, "#kind=disagreement&a=3&b=9&measure=confidence&sel=0-99")
    assert browse.state("[s.kind, s.a, s.b, s.measure, s.selection.length]") == [
        "disagreement",
        3,
        9,
        "confidence",
        100,
    ]
    assert page.locator("#fp-kind").input_value() == "disagreement"
    page.evaluate("() => window.__rd.setPair(4, 11)")
    browse.idle()
    page.wait_for_function("() => location.hash.includes('a=4')")
    page.reload()
    page.wait_for_function("() => window.__rd && window.__rd.state.fp !== null")
    browse.idle()
    assert browse.state("[s.kind, s.a, s.b, s.selection.length]") == ["disagreement", 4, 11, 100]


def test_errors_and_progress_are_shown_in_the_view(browse: Browse, sample_server: Server) -> None:
    page = browse.page
    browse.origin = sample_server.origin
    browse.allowed_errors = ["status of 400", "status of 202"]
    answered = {"n": 0}

    def slow_then_real(route: Any) -> None:
        answered["n"] += 1
        if answered["n"] <= 3:
            route.fulfill(
                status=202,
                content_type="application/json",
                body=json.dumps(
                    {
                        "job": "x",
                        "done": answered["n"],
                        "total": 4,
                        "what": "neighbours of snapshot 1",
                    }
                ),
            )
        else:
            route.continue_()

    page.route("**/api/runs/sample_run/transitions*", slow_then_real)
    page.route(
        "**/api/runs/sample_run/rqa*",
        lambda route: route.fulfill(
            status=400,
            content_type="application/json",
            body=json.dumps(
                {"error": "The 'threshold' parameter must be >= 0. Got -1 instead.", "status": 400}
            ),
        ),
    )
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(sample_server.origin + "/")
    page.wait_for_selector("#transitions .status progress")
    assert "neighbours of snapshot 1" in page.locator("#transitions .status").inner_text()
    page.wait_for_function("() => document.querySelector('#transitions').dataset.state === 'ready'")
    page.wait_for_function("() => document.querySelector('#rqa').dataset.state === 'error'")
    assert "threshold" in page.locator("#rqa .status").inner_text()
    # The other views kept working.
    browse.idle()
    assert page.locator("#heatmap").get_attribute("data-state") == "ready"
    assert page.locator("#scatter-card").get_attribute("data-state") == "ready"
    assert not dialogs, f"the page opened dialogs (alert) instead of showing errors: {dialogs}"


def test_a_busy_server_is_waited_for_as_it_says(browse: Browse, sample_server: Server) -> None:
    """A 503 with Retry-After (the job queue is full) is retried after that many seconds,
    with a note in the view, not shown as an error."""
    page = browse.page
    browse.origin = sample_server.origin
    browse.allowed_errors = ["status of 503"]
    answered: list[float] = []

    def busy_then_real(route: Any) -> None:
        answered.append(time.monotonic())
        if len(answered) <= 2:
            route.fulfill(
                status=503,
                headers={"Retry-After": "1"},
                content_type="application/json",
                body=json.dumps({"error": "busy", "status": 503, "retry_after": 1}),
            )
        else:
            route.continue_()

    page.route("**/api/runs/sample_run/rqa*", busy_then_real)
    page.goto(sample_server.origin + "/")
    page.wait_for_function(
        "() => document.querySelector('#rqa .status')?.textContent.includes('server is busy')"
    )
    page.wait_for_function("() => document.querySelector('#rqa').dataset.state === 'ready'")
    assert len(answered) == 3
    gaps = [b - a for a, b in itertools.pairwise(answered)]
    assert all(gap >= 0.9 for gap in gaps), gaps  # it waited as told, not at once


def test_full_page_screenshots(browse: Browse, sample_server: Server) -> None:
    page = browse.open(sample_server, "#a=2&b=12")
    page.evaluate("() => window.__rd.focus(25)")
    for card in ("#table", "#cartography", "#projection"):
        page.locator(card).scroll_into_view_if_needed()
    browse.idle()
    page.wait_for_function(
        """() => ['table', 'cartography', 'projection', 'local']
            .every(id => document.getElementById(id).dataset.state === 'ready')"""
    )
    page.evaluate("() => window.scrollTo(0, 0)")
    browse.shot("sample_full_dark", full_page=True)
    page.locator("#theme-toggle").click()
    browse.idle()
    assert page.evaluate("() => document.documentElement.dataset.theme") == "light"
    browse.shot("sample_full_light", full_page=True)


# ---------------------------------------------------------------------------- root of runs
def test_root_run_picker_points_and_compare(browse: Browse, root_server: Server) -> None:
    page = browse.open(root_server)
    runs = root_server.get("/api/runs")["runs"]
    assert [
        o for o in page.locator("#run-select option").evaluate_all("os => os.map(o => o.value)")
    ] == [r["name"] for r in runs]
    # No images: the picker shows ids, the scatter shows points labelled by id.
    assert page.locator("#thumb-grid .thumb.plain").count() == 60
    assert page.locator("#thumb-grid .thumb").first.inner_text() == "0"
    assert browse.plot("#scatter", "gd.data[0].mode") == "markers+text"
    assert browse.plot("#scatter", "gd.layout.images.length") == 0
    measure = root_server.get("/api/runs/alpha/measure", name="entropy", snapshot=0)
    np.testing.assert_allclose(
        browse.plot("#scatter", "gd.data[0].x"), decode(measure["values"]), rtol=1e-6
    )
    # Local view without images: coloured dots with ids.
    page.evaluate("() => window.__rd.focus(4)")
    browse.idle()
    assert page.locator("#local-panels svg image").count() == 0
    assert page.locator('#local-panels svg[data-side="a"] g.nb').count() == 10
    # Switch runs with the picker.
    page.select_option("#run-select", "beta")
    page.wait_for_function(
        "() => { const s = window.__rd.state; return s.run === 'beta' && s.fp && s.fp.request; }"
    )
    browse.idle()
    fp = root_server.get("/api/runs/beta/fingerprint")
    assert_heatmap_shows(browse, fp)
    assert "run=beta" in page.url
    # Compare with the other run (same N).
    page.locator("#compare").scroll_into_view_if_needed()
    page.select_option("#compare-run", "alpha")
    browse.idle()
    both = root_server.get("/api/compare", a="beta", b="alpha", kind="neighbour-transition", k=10)
    for i, side in enumerate(("a", "b")):
        z = browse.plot(f"#compare-plot-{i}", "gd.data[0].z")
        np.testing.assert_allclose(
            z, decode(both[side]["fingerprint"]["matrix"]), rtol=1e-6, atol=1e-7
        )
    assert page.locator("#compare table.rqa").count() == 2
    browse.shot("root_compare", selector="#compare")
    page.evaluate("() => window.scrollTo(0, 0)")
    browse.shot("root_full", full_page=True)


def test_large_run_default_selection_and_long_selection(
    browse: Browse, root_server: Server
) -> None:
    page = browse.open(root_server, "#run=gamma")
    # Every sample is selected by default, at any N, and drawn as WebGL points.
    assert browse.state("s.selection.length") == 3000
    assert "(all)" in page.locator("#selection-summary").inner_text()
    fp = root_server.get("/api/runs/gamma/fingerprint", k=10)
    assert_heatmap_shows(browse, fp)
    assert page.locator("#scatter-card").get_attribute("data-renderer") == "webgl"
    assert page.evaluate("() => window.__rd.points('scatter').n") == 3000
    # A long scattered selection (every other sample): the fingerprint goes as a POST body,
    # the point views name it by the token of its bitmask, registered once.
    posts: list[str] = []
    gets: list[str] = []
    page.on("request", lambda r: (posts if r.method == "POST" else gets).append(r.url))
    ids = list(range(0, 3000, 2))
    page.evaluate("ids => window.__rd.select(ids)", ids)
    browse.idle()
    assert any("/fingerprint" in u for u in posts)
    assert sum("/selection" in u for u in posts) == 1
    assert any("/measure.bin" in u and "sel%3A" in u for u in gets)
    fp = root_server.post("/api/runs/gamma/fingerprint", {"samples": ids, "k": 10})
    assert_heatmap_shows(browse, fp)
    drawn = page.evaluate("() => window.__rd.points('scatter')")
    b = browse.state("s.b")
    measure = root_server.post(
        "/api/runs/gamma/measure", {"samples": ids, "name": "entropy", "snapshot": b}
    )
    assert drawn["n"] == 1500
    np.testing.assert_allclose(drawn["y"], decode(measure["values"]), rtol=1e-6)
    assert "1,500 of 3,000" in page.locator("#selection-summary").inner_text()


def test_live_run_gains_snapshots_by_itself(browse: Browse, root_server: Server) -> None:
    page = browse.open(root_server, "#run=live&focus=3")
    assert browse.state("s.fp.snapshots.length") == 2  # transitions 0→1, 1→2
    b_before = browse.state("s.b")
    run = rd.open_run(Path(root_server.get("/api/runs")["root"]) / "live", mode="r+")
    rng = np.random.default_rng(5)
    for epoch, transitions in ((3, 3), (4, 4)):
        appended = time.monotonic()
        run.append_snapshot(
            {"logits": rng.normal(size=(40, 2)), "hidden": rng.normal(size=(40, 6))}, epoch=epoch
        )
        # No click: the page notices the new snapshot by itself, within 5 s.
        page.wait_for_function(
            f"() => window.__rd.state.fp?.snapshots.length === {transitions}", timeout=15_000
        )
        assert time.monotonic() - appended < 5.0 + 2.0  # the poll, plus the fingerprint
        browse.idle()
        badge = page.locator("#live-badge")
        assert badge.is_visible()
        assert badge.inner_text().startswith(f"recording — snapshot {epoch} (epoch {epoch})")
    assert page.locator('#facts dd[data-fact="snapshots"]').inner_text() == "5"
    assert page.locator("#snap-b option").count() == 5
    # b followed the newest snapshot; the open sample stays open.
    assert b_before == 2 and browse.state("s.b") == 4
    assert browse.state("s.focus") == 3
    assert page.locator("#local-panels").get_attribute("data-id") == "3"
    # The scatter shows the new pair's measures.
    measure = root_server.get("/api/runs/live/measure", name="entropy", snapshot=4)
    np.testing.assert_allclose(
        page.evaluate("() => Array.from(window.__rd.views.scatter.last.yb.values)"),
        decode(measure["values"]),
        rtol=1e-6,
    )


def test_find_a_sample_and_export_the_selection(browse: Browse, sample_server: Server) -> None:
    page = browse.open(sample_server)
    # An id: the local view opens it.
    page.fill("#find-sample", "#42")
    page.press("#find-sample", "Enter")
    page.wait_for_function("() => window.__rd.state.focus === 42")
    browse.idle()
    assert page.locator("#local-panels").get_attribute("data-id") == "42"
    # A class name: its samples become the selection.
    page.fill("#find-sample", "class 7")
    page.press("#find-sample", "Enter")
    labels = decode(sample_server.get("/api/runs/sample_run/labels")["labels"])
    expected = np.flatnonzero(labels == 7).tolist()
    page.wait_for_function(f"() => window.__rd.state.selection.length === {len(expected)}")
    assert browse.state("Array.from(s.selection)") == expected
    # Nothing found: the box says so and nothing changes.
    page.fill("#find-sample", "no such thing")
    page.press("#find-sample", "Enter")
    assert "miss" in page.locator("#find-sample").get_attribute("class")
    assert browse.state("s.selection.length") == len(expected)
    # The selection's ids download as JSON and as CSV.
    with page.expect_download() as info:
        page.click("#sel-json")
    body = json.loads(Path(info.value.path()).read_text())
    assert body["ids"] == expected and body["run"] == "sample_run" and body["n_samples"] == 1797
    with page.expect_download() as info:
        page.click("#sel-csv")
    lines = Path(info.value.path()).read_text().splitlines()
    assert lines[0] == "id,label,class_name" and len(lines) == len(expected) + 1
    assert [int(line.split(",")[0]) for line in lines[1:]] == expected
    assert {line.split(",")[1] for line in lines[1:]} == {"7"}


def test_without_webgl_the_point_views_draw_on_a_canvas(
    chromium: Any, sample_server: Server
) -> None:
    """A browser that cannot create a WebGL context gets canvas drawings and a notice."""
    browser = chromium.browser_type.launch(
        executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, "--disable-webgl"]
    )
    try:
        session = Browse(browser)
        page = session.open(sample_server)
        assert page.evaluate("() => !document.createElement('canvas').getContext('webgl')")
        drawn = page.evaluate("() => window.__rd.points('scatter')")
        assert drawn["renderer"] == "canvas" and drawn["n"] == 1797
        notice = page.locator("#scatter-points .points-notice")
        assert notice.is_visible() and "WebGL is not available" in notice.inner_text()
        # The canvas draws: some of its pixels are not transparent.
        painted = page.evaluate(
            """() => { const c = document.querySelector('#scatter-points .points-gl');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"""
        )
        assert painted > 1000
        # A box drawn by mouse still selects the samples inside it.
        page.locator("#scatter-card").scroll_into_view_if_needed()
        ids = np.asarray(page.evaluate("() => Array.from(window.__rd.views.scatter.last.ids)"))
        page.locator('#scatter-points [data-mode="box"]').click()
        corner = "([x, y]) => window.__rd.views.scatter.points.toClient(x, y)"
        view = drawn["view"]
        mid_x = (view["x"][0] + view["x"][1]) / 2
        (x0, y0) = page.evaluate(corner, [view["x"][0], view["y"][1]])
        (x1, y1) = page.evaluate(corner, [mid_x, view["y"][0]])
        drag(page, [(x0 + 2, y0 + 2), ((x0 + x1) / 2, (y0 + y1) / 2), (x1, y1 - 2)])
        page.wait_for_function("() => window.__rd.state.selection.length < 1797")
        session.idle()
        xs = np.asarray(drawn["x"])
        selected = np.asarray(session.state("Array.from(s.selection)"))
        assert selected.size and set(selected) <= set(ids[xs <= mid_x + 1e-9 * abs(mid_x)])
        session.check()
        session.context.close()
    finally:
        browser.close()


# ---------------------------------------------------------------------------- 100,000 samples
BIG_N, BIG_T = 100_000, 6


@pytest.fixture(scope="session")
def big_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A 100,000-sample run (10 classes, 6 snapshots of logits that learn noisy labels)."""
    from reprdynamics.storage.run import create_run

    path = tmp_path_factory.mktemp("big") / "big"
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 10, size=BIG_N)
    run = create_run(path, n_samples=BIG_N, labels=labels)
    difficulty = rng.gamma(2.0, 1.0, size=BIG_N)
    onehot = np.eye(10, dtype=np.float32)[labels]
    for t in range(BIG_T):
        progress = (t + 1) / BIG_T
        logits = (4 * progress / difficulty)[:, None] * onehot + rng.normal(size=(BIG_N, 10))
        run.append_snapshot({"logits": logits.astype(np.float32)}, epoch=t)
    server = Server(path)
    yield server
    server.stop()


def _column(server: Server, column: str) -> np.ndarray:
    for _ in range(600):
        with urllib.request.urlopen(
            f"{server.origin}/api/runs/big/column.bin?column={column}&k=0", timeout=60
        ) as response:
            if response.status == 200:
                return np.frombuffer(response.read(), dtype="<f4")
        time.sleep(0.2)
    raise TimeoutError(column)


def _inside(px: np.ndarray, py: np.ndarray, polygon: list[float]) -> np.ndarray:
    """Non-zero winding rule: which points lie inside the polygon ([[x, y], ...])."""
    vertices = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    xs, ys = vertices[:, 0], vertices[:, 1]
    winding = np.zeros(px.shape, dtype=np.int64)
    for a in range(len(xs)):
        b = a - 1  # the edge from vertex b to vertex a (b wraps to the last vertex)
        x1, y1, x2, y2 = xs[a], ys[a], xs[b], ys[b]
        side = (x2 - x1) * (py - y1) - (px - x1) * (y2 - y1)
        winding += ((y1 <= py) & (y2 > py) & (side > 0)).astype(np.int64)
        winding -= ((y1 > py) & (y2 <= py) & (side < 0)).astype(np.int64)
    return winding != 0


def test_hundred_thousand_samples_lasso_colour_and_animation(
    browse: Browse, big_server: Server
) -> None:
    page = browse.open(big_server, "#run=big&kind=disagreement")
    assert browse.state("s.selection.length") == BIG_N
    page.locator("#cartography").scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('#cartography').dataset.state === 'ready'")
    browse.idle()
    var, conf = _column(big_server, "variability"), _column(big_server, "confidence")
    drawn = page.evaluate("() => window.__rd.points('datamap')")
    assert drawn["renderer"] == "webgl" and drawn["n"] == BIG_N
    np.testing.assert_array_equal(np.asarray(drawn["x"], dtype=np.float32), var)
    # A lasso by mouse over the middle of the map selects exactly the samples inside it.
    page.locator('#datamap [data-mode="lasso"]').click()
    lo, hi = float(np.quantile(var, 0.3)), float(np.quantile(var, 0.7))
    shape = [(lo, 0.2), (hi, 0.3), (hi, 0.8), ((lo + hi) / 2, 0.9), (lo, 0.7)]
    corner = "([x, y]) => window.__rd.views.datamap.plot.toClient(x, y)"
    drag(page, [tuple(page.evaluate(corner, list(v))) for v in [*shape, shape[0]]])
    page.wait_for_function(f"() => window.__rd.state.selection.length < {BIG_N}")
    browse.idle()
    drawn = page.evaluate("() => window.__rd.points('datamap')")
    (x0, x1), (y0, y1) = drawn["domain"]["x"], drawn["domain"]["y"]
    # The points' places in the plot's [-1, 1] units, as the page computes them.
    ndc_x = ((var.astype(np.float64) - x0) * (2 / (x1 - x0)) - 1).astype(np.float32)
    ndc_y = ((conf.astype(np.float64) - y0) * (2 / (y1 - y0)) - 1).astype(np.float32)
    inside = _inside(ndc_x.astype(np.float64), ndc_y.astype(np.float64), drawn["lasso"])
    selected = np.asarray(browse.state("Array.from(s.selection)"))
    assert selected.size > 1000
    np.testing.assert_array_equal(selected, np.flatnonzero(inside))
    assert drawn["highlighted"] == selected.size
    # Colour by a column: the data map now shows correctness from the table.
    page.select_option("#dm-color", "correctness")
    page.wait_for_function("() => window.__rd.points('datamap').colour?.kind === 'continuous'")
    np.testing.assert_array_equal(
        np.asarray(page.evaluate("() => window.__rd.points('datamap').colour.values"), np.float32),
        _column(big_server, "correctness"),
    )
    # The projection draws all 100,000 and plays through every snapshot.
    page.locator("#projection").scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('#projection').dataset.state === 'ready'")
    browse.idle()
    assert page.evaluate("() => window.__rd.points('projection').n") == BIG_N
    page.select_option("#proj-speed", "4")
    seen = page.evaluate(PLAY_THROUGH)
    assert set(range(1, BIG_T)) <= set(seen)
    # Trails for the first 200 of the lassoed samples, and the page says so.
    assert page.evaluate("() => window.__rd.points('projection').trails") == 200
    assert "first 200 of" in page.locator("#projection .status").inner_text()
    browse.shot("big_datamap", selector="#cartography")
