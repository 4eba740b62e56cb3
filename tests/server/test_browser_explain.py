"""A dashboard that explains itself (issue #12, items 2, 3 and 7), in a real browser.

What each view says is checked against the JSON API of the same server: the colour range
of the heat map against the off-diagonal cells of /fingerprint, the local view's two
scopes against /local with and without ``samples``, the picker's rank order against the
per-sample table, the projection's title against /projection. The docs the cards link are
the packaged copy of docs/measures.md, rendered by this server (the ``browse`` fixture
fails a test on any request elsewhere and any console error).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browsing import Browse, Server, decode, heatmap_cell, selection_param

RUN = "/api/runs/sample_run"
PACKAGED_MEASURES = (
    Path(__file__).resolve().parents[2]
    / "src"
    / "reprdynamics"
    / "server"
    / "static"
    / "docs"
    / "measures.md"
)


def _off_diagonal(matrix: np.ndarray) -> np.ndarray:
    return matrix[~np.eye(matrix.shape[0], dtype=bool)]


def _luminance(hex_colour: str) -> float:
    """WCAG 2 relative luminance of #rrggbb."""
    h = hex_colour.lstrip("#")
    channels = [int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _hover_cell(browse: Browse, i: int, j: int) -> str:
    """Move the mouse over heat-map cell (column i, row j); the hover label's text."""
    page = browse.page
    x, y = heatmap_cell(page, i, j)
    page.mouse.move(x - 3, y - 3)
    page.mouse.move(x, y)
    page.wait_for_selector("#fingerprint .hoverlayer .hovertext")
    return page.locator("#fingerprint .hoverlayer .hovertext").text_content() or ""


# ------------------------------------------------------------------ item 2: definitions
#: Words each kind's colour bar and hover must carry, from docs/measures.md.
KIND_WORDS = {
    "neighbour-transition": (
        "RMS",
        "RMS difference of per-sample neighbour overlap between transitions a and b; "
        "0 = same change",
    ),
    "neighbour-state": ("Jaccard", "Jaccard overlap of each sample's k nearest neighbours"),
    "class-transition": ("class moves", "class moves"),
    "disagreement": ("predicted differently", "predicted class differs between snapshots a"),
    "cka": ("CKA", "1 − linear CKA"),
}


def test_each_kind_says_what_d_is(browse: Browse, sample_server: Server) -> None:
    page = browse.open(sample_server)
    kinds = browse.state("s.info.fingerprint_kinds")
    assert set(kinds) == set(KIND_WORDS)
    for kind in kinds:
        page.select_option("#fp-kind", kind)
        browse.idle()
        params = {"kind": kind, "k": 10} if kind.startswith("neighbour") else {"kind": kind}
        fp = sample_server.get(f"{RUN}/fingerprint", **params)
        matrix = decode(fp["matrix"])
        title_word, hover_words = KIND_WORDS[kind]
        title = browse.plot("#fingerprint", "gd.data[0].colorbar.title.text")
        assert title.startswith("D") and title_word in title, (kind, title)
        # A real hover over an off-diagonal cell: the value of the API and the definition.
        i, j = 1, matrix.shape[0] - 2
        hover = _hover_cell(browse, i, j)
        assert f"D = {matrix[j, i]:.4f}" in hover, (kind, hover)
        assert hover_words.replace(" ", "") in hover.replace(" ", ""), (kind, hover)
        # The caption says it in full and links the kind's row of the packaged docs.
        caption = page.locator("#fp-definition")
        assert hover_words in caption.inner_text()
        link = caption.locator("a").get_attribute("href")
        assert link == f"/static/docs/index.html#fingerprints-{kind}"
        # The legend names every phase change the API reports; each is drawn as a halo
        # and a dashed line, across and down, at the boundary between its two rows.
        legend = page.locator('#fp-legend [data-mark="phase"]').inner_text()
        changes = fp["phase_changes"]
        for change in changes:
            assert " and ".join(change["between"]) in legend
        phase = browse.plot(
            "#fingerprint", "gd.layout.shapes.filter(s => s.name === 'phase').map(s => s.x0)"
        )
        assert len(phase) == 4 * len(changes)
        expected = sorted(fp["snapshots"].index(c["snapshots"][1]) - 0.5 for c in changes)
        assert sorted(set(x for x in phase if x > -0.5)) == sorted(set(expected))
        if not changes:
            assert "none" in legend
    assert "pair" in page.locator("#fp-legend").inner_html()
    assert page.locator('#fp-legend [data-mark="mirror"]').inner_text()


def test_colour_range_fits_the_data_and_switches_to_fixed(
    browse: Browse, sample_server: Server
) -> None:
    page = browse.open(sample_server)
    for kind in browse.state("s.info.fingerprint_kinds"):
        page.select_option("#fp-kind", kind)
        browse.idle()
        params = {"kind": kind, "k": 10} if kind.startswith("neighbour") else {"kind": kind}
        off = _off_diagonal(decode(sample_server.get(f"{RUN}/fingerprint", **params)["matrix"]))
        # Default: the off-diagonal min and max of the API's matrix.
        assert page.locator("#fp-range").input_value() == "data"
        zmin, zmax = browse.plot("#fingerprint", "[gd.data[0].zmin, gd.data[0].zmax]")
        assert zmin == pytest.approx(float(off.min()), rel=1e-6), kind
        assert zmax == pytest.approx(float(off.max()), rel=1e-6), kind
        assert browse.plot("#fingerprint", "gd.data[0].colorbar") is not None
    # The last kind: quantiles (NumPy's linear interpolation), then the fixed range 0-1.
    page.select_option("#fp-range", "quantile")
    browse.idle()
    lo, hi = np.quantile(off.astype(np.float64), [0.02, 0.98])
    zmin, zmax = browse.plot("#fingerprint", "[gd.data[0].zmin, gd.data[0].zmax]")
    assert (zmin, zmax) == (pytest.approx(lo, rel=1e-6), pytest.approx(hi, rel=1e-6))
    assert "2–98 %" in page.locator('#fp-legend [data-mark="range"]').inner_text()
    # The hash is written debounced: wait for it, then check it.
    page.wait_for_function("() => location.hash.includes('range=quantile')")
    assert "range=quantile" in page.url
    page.select_option("#fp-range", "fixed")
    browse.idle()
    assert browse.plot("#fingerprint", "[gd.data[0].zmin, gd.data[0].zmax]") == [0, 1]
    # The hash is written debounced: wait for it, then check it.
    page.wait_for_function("() => location.hash.includes('range=fixed')")
    assert "range=fixed" in page.url
    assert page.locator('#fp-range option[value="fixed"]').inner_text() == "fixed (0–1)"
    # The hash restores it on a reload, with the kind.
    page.reload()
    page.wait_for_function("() => window.__rd && window.__rd.state.fp !== null")
    browse.idle()
    assert page.locator("#fp-range").input_value() == "fixed"
    assert browse.plot("#fingerprint", "[gd.data[0].zmin, gd.data[0].zmax]") == [0, 1]


def test_marks_stand_out_in_both_themes(browse: Browse, sample_server: Server) -> None:
    page = browse.open(sample_server)
    page.evaluate("() => window.__rd.setPair(3, 9)")
    browse.idle()
    assert browse.state("s.fp.phase_changes.length") > 0
    scale = browse.plot("#fingerprint", "gd.data[0].colorscale.map(c => c[1])")
    for theme in ("dark", "light"):
        if browse.state("s.theme") != theme:
            page.locator("#theme-toggle").click()
            browse.idle()
        assert page.evaluate("() => document.documentElement.dataset.theme") == theme
        shapes = browse.plot("#fingerprint", "gd.layout.shapes")
        phase = [s for s in shapes if s.get("name") == "phase"]
        halos = {s["line"]["color"] for s in phase if "dash" not in s["line"]}
        lines = {s["line"]["color"] for s in phase if s["line"].get("dash") == "dash"}
        assert len(halos) == 1 and len(lines) == 1, shapes
        halo, line = halos.pop(), lines.pop()
        # The dashed line on its halo is legible, and on every colour of the scale one of
        # the two stands out (the old single light-cyan line vanished on pale yellow).
        assert _contrast(line, halo) >= 7, (theme, line, halo)
        for colour in scale:
            assert max(_contrast(line, colour), _contrast(halo, colour)) >= 3, (theme, colour)
        # The picked cell is drawn the same way, and the legend shows these colours.
        pair = [s for s in shapes if s.get("name") == "pair"]
        assert pair and pair[0]["line"]["color"] == line
        assert (pair[0]["x0"] + 0.5, pair[0]["y0"] + 0.5) == (
            browse.state("s.fp.snapshots.indexOf(s.a)"),
            browse.state("s.fp.snapshots.indexOf(s.b)"),
        )
        strokes = page.locator('#fp-legend [data-mark="phase"] svg line').evaluate_all(
            "ns => ns.map(n => n.getAttribute('stroke'))"
        )
        assert strokes == [halo, line]
        browse.shot(f"explain_heatmap_{theme}", selector="#heatmap")


def test_scatter_axes_name_each_measure_with_its_unit(
    browse: Browse, sample_server: Server
) -> None:
    page = browse.open(sample_server)
    units = {"entropy": "nats", "loss": "nats", "confidence": "probability", "margin": "logit"}
    for measure, unit in units.items():
        page.select_option("#sc-measure", measure)
        browse.idle()
        titles = page.evaluate("() => window.__rd.points('scatter').titles")
        for axis, side in (("x", "a"), ("y", "b")):
            assert unit in titles[axis] and f"at {side}" in titles[axis], (measure, titles)
        # The hover card gives the values with the unit too (the API's values).
        at_a = decode(
            sample_server.get(f"{RUN}/measure", name=measure, snapshot=browse.state("s.a"))[
                "values"
            ]
        )
        lines = page.evaluate("() => window.__rd.views.scatter.hoverText(7)")
        assert lines[1].startswith(f"{measure} at a: ")
        assert float(re.sub(r"[^\d.eE+-]", "", lines[1].split(": ")[1].split(" ")[0])) == (
            pytest.approx(float(at_a[7]), rel=1e-3, abs=1e-4)
        )
        if units[measure] == "nats":
            assert lines[1].endswith("nats")


def test_local_view_says_where_it_searched_and_can_search_all(
    browse: Browse, sample_server: Server
) -> None:
    page = browse.open(sample_server)
    ids = [i * 5 for i in range(300)]
    page.evaluate(f"() => window.__rd.select({ids})")
    page.evaluate("() => window.__rd.setPair(2, 15)")
    browse.idle()
    page.evaluate("() => window.__rd.focus(10)")
    browse.idle()
    sel = selection_param(ids, 1797)

    def shown(side: str) -> list[int]:
        return page.locator(f'#local-panels svg[data-side="{side}"] g.nb').evaluate_all(
            "ns => ns.map(n => +n.dataset.id)"
        )

    scope = page.locator("#local-scope")
    assert "nearest among the 300 selected samples" in scope.inner_text()
    within = sample_server.get(f"{RUN}/local", id=10, a=2, b=15, k=10, samples=sel)
    for side in ("a", "b"):
        assert shown(side) == [nb["id"] for nb in within[side]["neighbours"]]
        assert set(shown(side)) <= set(ids)
    toggle = page.locator("#local-all")
    assert not toggle.is_checked() and toggle.is_enabled()
    toggle.check()
    browse.idle()
    assert "nearest among all 1,797 samples" in scope.inner_text()
    everywhere = sample_server.get(f"{RUN}/local", id=10, a=2, b=15, k=10)
    for side in ("a", "b"):
        assert shown(side) == [nb["id"] for nb in everywhere[side]["neighbours"]]
    assert not set(shown("a")) | set(shown("b")) <= set(ids)  # the search left the selection
    assert "nb=all" in page.url
    # With every sample selected the toggle is on and fixed.
    page.evaluate("() => window.__rd.select(Array.from({length: 1797}, (_, i) => i))")
    toggle.uncheck() if toggle.is_enabled() else None
    browse.idle()
    assert toggle.is_checked() and toggle.is_disabled()


def test_projection_title_names_the_layer_and_the_fit(
    browse: Browse, sample_server: Server
) -> None:
    page = browse.open(sample_server)
    for layer in ("logits", "penultimate"):
        page.select_option("#fp-layer", layer)
        page.locator("#projection").scroll_into_view_if_needed()
        page.wait_for_function(
            f"() => document.querySelector('#proj-caption').dataset.layer === {layer!r}"
        )
        browse.idle()
        proj = sample_server.get(f"{RUN}/projection", layer=layer)
        n, t = decode(proj["ids"]).size, len(proj["snapshots"])
        caption = page.locator("#proj-caption").inner_text()
        assert f"PCA of layer {layer}" in caption and "fitted on all snapshots" in caption
        assert f"all {n:,} samples × {t} complete snapshots ({n * t:,} rows" in caption
        assert ("20,000 of those rows" in caption) == (n * t > 20_000)
        titles = page.evaluate("() => window.__rd.points('projection').titles")
        for axis, ratio in zip(("x", "y"), proj["explained_variance_ratio"], strict=True):
            assert layer in titles[axis]
            assert f"({100 * ratio:.1f} % of variance)" in titles[axis]


def test_cards_link_their_section_of_the_packaged_docs(
    browse: Browse, sample_server: Server
) -> None:
    page = browse.open(sample_server)
    cards = page.locator("main.grid > section.card").evaluate_all(
        "cs => cs.map(c => [c.id, c.querySelector('header h2 a.doc-link')?.getAttribute('href')])"
    )
    assert all(href for _, href in cards), cards
    links = {href for _, href in cards}
    links.add(page.locator("#fp-definition a").get_attribute("href"))
    headings = [
        line[3:].strip()
        for line in PACKAGED_MEASURES.read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    ]
    for href in sorted(links):
        assert href.startswith("/static/docs/index.html#"), href
        anchor = href.split("#", 1)[1]
        page.goto(f"{sample_server.origin}{href}")
        page.wait_for_function("() => document.querySelector('#doc').dataset.state === 'ready'")
        # The anchor exists and is the one marked as the reader's target.
        assert page.locator(f'[id="{anchor}"]').count() == 1, href
        assert page.locator(".target").count() == 1
    # The page shows every section of the copy, and its tables keep their formulas whole.
    shown = page.locator("#doc h2").evaluate_all(
        "ns => ns.map(n => n.textContent.replace(/#$/, '').trim())"
    )
    assert [re.sub(r"`", "", h) for h in headings] == shown
    row = page.locator("#fingerprints-neighbour-transition td").all_inner_texts()
    assert row[0] == "neighbour-transition"
    assert "|N_k(i,t) ∩ N_k(i,t+1)| / k" in row[1]
    browse.shot("explain_docs")


# ------------------------------------------------------------------ item 7
def test_top_k_by_a_measure_is_shown_in_rank_order(browse: Browse, sample_server: Server) -> None:
    page = browse.open(sample_server)
    table = sample_server.get(f"{RUN}/samples")
    ids = decode(table["data"]["id"])
    aum = decode(table["data"]["aum"]).astype(np.float64)
    finite = np.isfinite(aum)
    for order in ("asc", "desc"):
        page.fill("#pick-k", "50")
        page.select_option("#pick-order", order)
        page.select_option("#pick-measure", "aum")
        page.locator("#pick-top").click()
        browse.idle()
        key = aum if order == "asc" else -aum
        ranked = ids[finite][np.lexsort((ids[finite], key[finite]))][:50].tolist()
        assert browse.state("Array.from(s.selection)") == sorted(ranked)
        grid = page.locator("#thumb-grid .thumb").evaluate_all(
            "ns => ns.map(n => [+n.dataset.id, +n.dataset.rank])"
        )
        assert [g[0] for g in grid] == ranked  # the measure's order, not the ids'
        assert [g[1] for g in grid] == list(range(1, 51))
        assert page.locator("#grid-order").is_visible()
        word = "lowest" if order == "asc" else "highest"
        assert f"{word} AUM first" in page.locator("#grid-order").inner_text()
    # Clicking a thumbnail of the pick deselects it and keeps the order on screen.
    third = page.locator('#thumb-grid .thumb[data-rank="3"]')
    third.click()
    browse.idle()
    assert browse.state("s.selection.length") == 49
    assert third.get_attribute("aria-checked") == "false"
    grid = page.locator("#thumb-grid .thumb").evaluate_all("ns => ns.map(n => +n.dataset.id)")
    assert grid == ranked

    def in_id_order() -> list[int]:
        return page.locator("#thumb-grid .thumb").evaluate_all(
            "ns => ns.map(n => n.dataset.rank ? -1 : +n.dataset.id)"
        )

    # The caption's button, or another selection, brings the grid back to id order.
    page.locator("#grid-id-order").click()
    browse.idle()
    assert in_id_order() == list(range(200))
    assert not page.locator("#grid-order").is_visible()
    page.locator("#pick-top").click()
    browse.idle()
    assert page.locator("#grid-order").is_visible()
    page.select_option("#pick-class", "2")
    browse.idle()
    assert in_id_order() == list(range(200))
    assert not page.locator("#grid-order").is_visible()


def test_stacked_thumbnails_are_spread_deterministically(
    browse: Browse, sample_server: Server
) -> None:
    page = browse.open(sample_server)
    last = browse.state("s.info.n_snapshots") - 1
    entropy = decode(sample_server.get(f"{RUN}/measure", name="entropy", snapshot=last)["values"])
    order = np.argsort(entropy, kind="stable")
    # The 30 most certain samples crowd one spot at (a, b) = (last, last); 8 uncertain
    # ones stretch the axes.
    chosen = sorted(order[:30].tolist() + order[-8:].tolist())
    page.evaluate(f"() => window.__rd.select({chosen})")
    page.evaluate(f"() => window.__rd.setPair({last}, {last})")
    browse.idle()
    page.locator("#scatter-card").scroll_into_view_if_needed()
    page.wait_for_function(
        f"() => document.querySelector('#scatter').layout?.images?.length === {len(chosen)}"
    )
    browse.idle()

    def drawn() -> dict[str, Any]:
        return page.evaluate(
            """() => { const gd = document.querySelector('#scatter');
                return { x: gd.data[0].x, y: gd.data[0].y, ids: gd.data[0].customdata,
                         fx: gd.data[1].x, fy: gd.data[1].y,
                         images: gd.layout.images.map(i => [i.x, i.y, i.sizex, i.sizey]),
                         leaders: gd.layout.shapes.filter(s => s.name === 'leader')
                             .map(s => [s.x0, s.y0, s.x1, s.y1]) }; }"""
        )

    d = drawn()
    assert d["ids"] == chosen
    # The data keep their exact values (the API's): only the thumbnails move.
    np.testing.assert_allclose(d["x"], entropy[chosen], rtol=1e-6)
    np.testing.assert_allclose(d["y"], entropy[chosen], rtol=1e-6)
    images = np.asarray(d["images"], dtype=float)
    sx, sy = images[0, 2], images[0, 3]
    true = np.c_[np.asarray(d["x"]) / sx, np.asarray(d["y"]) / sy]
    shown = np.c_[images[:, 0] / sx, images[:, 1] / sy]
    np.testing.assert_allclose(np.c_[d["fx"], d["fy"]], images[:, :2], rtol=1e-9)

    def worst_overlap(p: np.ndarray) -> float:
        gaps = np.abs(p[:, None, :] - p[None, :, :]).max(axis=2)
        gaps[np.diag_indices(len(p))] = np.inf
        return float(gaps.min())

    assert worst_overlap(true) < 0.35, "the setup must stack thumbnails"
    assert worst_overlap(shown) >= 0.99  # no thumbnail covers another one
    moved = np.flatnonzero(np.abs(shown - true).max(axis=1) > 1e-9)
    assert len(d["leaders"]) == moved.size > 0
    # A spread thumbnail stays close to its spot (a few thumbnails at most).
    assert np.abs(shown - true).max() <= np.sqrt(len(chosen)) * 1.08
    assert int(page.locator("#scatter-card").get_attribute("data-spread")) == moved.size
    # Deterministic: drawn again (the theme switch redraws), the same places.
    page.locator("#theme-toggle").click()
    browse.idle()
    page.wait_for_function(
        f"() => document.querySelector('#scatter').layout?.images?.length === {len(chosen)}"
    )
    assert drawn()["images"] == d["images"]
    browse.shot("explain_spread", selector="#scatter-card")


def test_lazy_cards_show_a_placeholder_until_they_load(
    browse: Browse, sample_server: Server
) -> None:
    page = browse.open(sample_server)
    card = page.locator("#projection")
    placeholder = card.locator(".placeholder")
    assert placeholder.count() == 1
    assert "Loads when scrolled into view" in placeholder.inner_text()
    box = placeholder.bounding_box()
    assert box is not None and box["height"] >= 150  # it holds the card's place
    assert card.get_attribute("data-state") == "idle"
    assert not any("/projection.bin" in url for url in browse.requests)
    card.scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('#projection').dataset.state === 'ready'")
    browse.idle()
    assert placeholder.count() == 0
    assert any("/projection.bin" in url for url in browse.requests)
    assert page.evaluate("() => window.__rd.points('projection').n") == browse.state(
        "s.info.n_samples"
    )
