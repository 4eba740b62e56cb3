"""The per-sample table and the data map in a real browser (issue #12, items 2, 4 and 5).

What the views show is compared with the JSON API of the same server and with
docs/measures.md: the table's CSV and Parquet hold its shown rows and columns, its groups'
means are those of /samples, its headers carry the documented definitions; the data map's
regions follow the overview's thresholds, its marginals count /samples, its rings mark the
run's flipped labels, and a lasso that catches nothing changes nothing.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browsing import Browse, Server, decode, drag

DOCS = Path(__file__).resolve().parents[2] / "docs" / "measures.md"
RUN = "/api/runs/sample_run"


def _open_card(browse: Browse, server: Server, card: str) -> Any:
    page = browse.open(server)
    page.locator(f"#{card}").scroll_into_view_if_needed()
    page.wait_for_function(f"() => document.querySelector('#{card}').dataset.state === 'ready'")
    browse.idle()
    return page


def _samples(server: Server, **params: Any) -> tuple[list[str], dict[str, np.ndarray]]:
    table = server.get(f"{RUN}/samples", **params)
    return table["columns"], {c: decode(v) for c, v in table["data"].items()}


def _shown_columns(page: Any, table: str = "#sample-table") -> list[str]:
    return page.locator(f"{table} thead tr:first-child th").evaluate_all(
        "ths => ths.map(th => th.dataset.column).filter(c => c && c !== 'thumb')"
    )


def _shown_ids(page: Any, table: str = "#sample-table") -> list[int]:
    return page.locator(f"{table} tbody tr").evaluate_all("rs => rs.map(r => +r.dataset.id)")


def _download(page: Any, selector: str) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.locator(selector).click()
    download = info.value
    return download.suggested_filename, Path(download.path()).read_bytes()


def _read_csv(body: bytes) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(body.decode())))
    return rows[0], rows[1:]


def _as_column(cells: list[str], like: np.ndarray) -> np.ndarray:
    values = np.array([float(c) if c != "" else np.nan for c in cells])
    return values.astype(like.dtype) if like.dtype.kind == "f" else values


# ---------------------------------------------------------------------------- the table
def test_headers_carry_the_documented_definitions(browse: Browse, sample_server: Server) -> None:
    page = _open_card(browse, sample_server, "table")
    titles = page.locator("#sample-table thead tr:first-child th.sortable").evaluate_all(
        "ths => Object.fromEntries(ths.map(th => [th.dataset.column, th.title]))"
    )
    # Every row of the per-sample table in docs/measures.md: its definition, as written.
    documented = {}
    section = DOCS.read_text().split("## Per-sample dynamics")[1].split("\n## ")[0]
    for line in section.splitlines():
        m = re.match(r"\| (`[^|]+`) \| (.+) \|$", line)
        if not m or m.group(1) == "`column`":
            continue
        for name in re.findall(r"`([a-z_]+)`", m.group(1)):
            documented[name] = m.group(2).replace("`", "").strip()
    assert {"aum", "forgetting_events", "confidence", "neighbour_stability"} <= set(documented)
    for column, definition in documented.items():
        assert column in titles, column
        assert definition.lower() in titles[column].lower(), (column, titles[column])
    sources = {
        "forgetting_events": "Toneva et al. 2019",
        "aum": "Pleiss et al. 2020",
        "confidence": "Swayamdipta et al. 2020",
        "variability": "Swayamdipta et al. 2020",
        "correctness": "Swayamdipta et al. 2020",
    }
    for column, source in sources.items():
        assert f"Source: {source}" in titles[column], column
    for column in ("entropy_first", "entropy_last", "entropy_mean"):
        assert "nats" in titles[column]
    stability = titles["neighbour_stability"]
    assert "kNN overlap" in stability and "k = 10" in stability
    assert "flipped" in titles["label_flipped"]


def test_frozen_id_and_label_and_thumbnails(browse: Browse, sample_server: Server) -> None:
    page = _open_card(browse, sample_server, "table")
    info = sample_server.get(RUN)
    assert info["has_thumbnails"] is True
    # One thumbnail per row, of that row's sample, from the thumb endpoint.
    # (loaded lazily: those in the visible part of the table first)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#sample-table td.thumb img')].slice(0, 8)"
        ".every(i => i.complete && i.naturalWidth > 0)",
        timeout=20000,
    )
    rows = page.locator("#sample-table tbody tr").evaluate_all(
        "rs => rs.map(r => [+r.dataset.id, r.querySelector('td.thumb img').getAttribute('src'),"
        " r.querySelector('td.thumb img').naturalWidth])"
    )
    assert len(rows) == 50
    for sample, src, _ in rows:
        assert src == f"{RUN}/thumb/{sample}.png?size=32"
    assert [width for *_, width in rows[:8]] == [32] * 8
    # Scrolled sideways, the id, thumbnail and label columns stay where they were.
    page.evaluate("() => { document.querySelector('#table .table-wrap').style.width = '640px'; }")
    wrap = page.locator("#table .table-wrap")
    assert wrap.evaluate("w => w.scrollWidth > w.clientWidth + 300")

    def lefts() -> dict[str, float]:
        return page.evaluate(
            """() => { const tr = document.querySelector('#sample-table tbody tr');
                const th = [...document.querySelectorAll('#sample-table thead tr:first-child th')];
                const left = (node) => node.getBoundingClientRect().left;
                const out = {};
                th.forEach((h, i) => { out[h.dataset.column] = left(tr.children[i]); });
                out.header_label = left(th.find(h => h.dataset.column === 'label'));
                out.wrap = left(document.querySelector('#table .table-wrap'));
                return out; }"""
        )

    before = lefts()
    wrap.evaluate("w => { w.scrollLeft = 300; }")
    page.wait_for_timeout(50)
    after = lefts()
    assert wrap.evaluate("w => w.scrollLeft") == 300
    for frozen in ("id", "thumb", "label", "header_label"):
        assert after[frozen] == pytest.approx(before[frozen], abs=1), frozen
    assert after["id"] == pytest.approx(after["wrap"], abs=1)
    assert after["thumb"] > after["id"] and after["label"] > after["thumb"]
    for moving in ("entropy_mean", "aum"):
        assert after[moving] == pytest.approx(before[moving] - 300, abs=1), moving
    browse.shot("table_scrolled", selector="#table")


def test_csv_holds_the_shown_rows_and_columns(browse: Browse, sample_server: Server) -> None:
    page = _open_card(browse, sample_server, "table")
    columns, data = _samples(sample_server, k=10)
    assert {"label_flipped", "clean_labels"} <= set(columns)
    # Filter (label 3 or 5, AUM below 2), sort by AUM descending, and keep only a selection.
    page.fill('#sample-table input[data-column="label"]', "3..5")
    page.fill('#sample-table input[data-column="aum"]', "<2")
    page.locator('#sample-table th.sortable[data-column="aum"]').click()
    page.locator('#sample-table th.sortable[data-column="aum"]').click()
    chosen = np.flatnonzero(data["id"] % 3 != 0)
    page.evaluate("ids => window.__rd.select(ids)", chosen.tolist())
    page.locator("#table-selected-only").check()
    browse.idle()
    keep = (data["label"] >= 3) & (data["label"] <= 5) & (data["aum"] < 2)
    keep &= np.isin(data["id"], chosen)
    rows = np.flatnonzero(keep)
    order = rows[np.argsort(-data["aum"][rows], kind="stable")]
    assert order.size > 50  # more than one page: the CSV holds every page
    shown = _shown_ids(page)
    assert shown == data["id"][order][:50].tolist()
    assert page.locator("#table-select").inner_text() == f"Select filtered ({order.size})"

    name, body = _download(page, "#table-csv")
    assert name.endswith(".csv")
    head, cells = _read_csv(body)
    assert head == _shown_columns(page) == columns
    assert [int(r[0]) for r in cells] == data["id"][order].tolist()
    # Exactly the values the table holds (float32 written with the digits that read back
    # the same float32), which are those of /samples.
    held = page.evaluate(
        "() => Object.fromEntries(Object.entries(window.__rd.views.table.table.data)"
        ".map(([c, v]) => [c, Array.from(v)]))"
    )
    for j, column in enumerate(head):
        got = _as_column([r[j] for r in cells], data[column])
        shown_values = np.asarray(held[column], dtype=data[column].dtype)[order]
        np.testing.assert_array_equal(got, shown_values, err_msg=column)
        np.testing.assert_allclose(got, data[column][order], rtol=2e-7, err_msg=column)
    # The link itself stays the server's CSV of the whole run.
    assert page.locator("#table-csv").get_attribute("href") == f"{RUN}/samples.csv"


def test_parquet_of_the_shown_rows_only_when_the_server_offers_it(
    browse: Browse, sample_server: Server
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    info = sample_server.get(RUN)
    assert "parquet" in info["exports"]
    page = _open_card(browse, sample_server, "table")
    columns, data = _samples(sample_server, k=10)
    assert page.locator("#table-parquet").is_visible()
    page.fill('#sample-table input[data-column="forgetting_events"]', ">=1")
    page.locator('#sample-table th.sortable[data-column="confidence"]').click()
    browse.idle()
    rows = np.flatnonzero(data["forgetting_events"] >= 1)
    assert 0 < rows.size < len(data["id"])
    name, body = _download(page, "#table-parquet")
    assert name.endswith(".parquet")
    table = pq.read_table(io.BytesIO(body))
    assert table.column_names == _shown_columns(page) == columns
    # The server writes the shown rows in id order (float64 where /samples sends float32),
    # cut out of the whole table (rows=), so every column equals the shown table's,
    # neighbour stability among all samples included.
    for column in columns:
        got = table.column(column).to_numpy()
        want = data[column][rows]
        if data[column].dtype.kind == "f":
            np.testing.assert_allclose(got, want, rtol=2e-7, err_msg=column)
        else:
            np.testing.assert_array_equal(got, want, err_msg=column)

    # Where the overview offers only CSV, there is no Parquet button.
    def csv_only(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        body["exports"] = ["csv"]
        route.fulfill(response=response, json=body)

    page.route(re.compile(r".*/api/runs/sample_run$"), csv_only)
    page.reload()
    page.wait_for_function("() => window.__rd && window.__rd.state.info")
    page.locator("#table").scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('#table').dataset.state === 'ready'")
    browse.idle()
    assert page.locator("#table-parquet").is_hidden()
    assert page.locator("#table-csv").is_visible()


def test_group_by_label_shows_the_means_of_each_measure(
    browse: Browse, sample_server: Server
) -> None:
    page = _open_card(browse, sample_server, "table")
    columns, data = _samples(sample_server, k=10)
    page.fill('#sample-table input[data-column="correctness"]', "<0.9")
    page.locator("#table-group").check()
    browse.idle()
    # "<0.9" compares as float32, as the column is stored: a sample shown as 0.9 is left out.
    keep = data["correctness"] < np.float32(0.9)
    assert (data["correctness"] == np.float32(0.9)).any()
    labels = np.unique(data["label"][keep])
    shown = page.locator("#sample-table tbody tr").evaluate_all(
        "rs => rs.map(r => +r.dataset.label)"
    )
    assert shown == labels.tolist()
    _, body = _download(page, "#table-csv")
    head, cells = _read_csv(body)
    means = [c for c in columns if c not in ("id", "label", "prediction", "clean_labels")]
    assert head == ["label", "n", *means] == _shown_columns(page)
    got = {
        c: np.array([float(r[j]) if r[j] else np.nan for r in cells]) for j, c in enumerate(head)
    }
    np.testing.assert_array_equal(got["label"], labels)
    for g, label in enumerate(labels):
        rows = keep & (data["label"] == label)
        assert got["n"][g] == rows.sum()
        for column in means:
            values = data[column][rows].astype(np.float64)
            if column == "first_learned":
                values = values[values >= 0]  # -1: not correct at the end
            expected = np.nanmean(values) if np.isfinite(values).any() else np.nan
            np.testing.assert_allclose(got[column][g], expected, rtol=1e-9, err_msg=column)
    titles = page.locator("#sample-table thead tr:first-child th").evaluate_all(
        "ths => Object.fromEntries(ths.map(th => [th.dataset.column, th.title]))"
    )
    assert titles["aum"].splitlines()[1].startswith("Mean over the group of:")
    assert page.locator('#sample-table th[data-column="aum"]').inner_text().startswith("mean aum")
    assert page.locator("#table-parquet").is_disabled()
    # A group's row selects its shown samples.
    label = int(labels[1])
    page.locator(f'#sample-table tbody tr[data-label="{label}"]').click()
    browse.idle()
    expected_ids = data["id"][keep & (data["label"] == label)].tolist()
    assert browse.state("Array.from(s.selection)") == expected_ids
    # Back to samples: the filter stays, one row per sample.
    page.locator("#table-group").uncheck()
    browse.idle()
    assert page.locator("#table-select").inner_text() == f"Select filtered ({int(keep.sum())})"


# ---------------------------------------------------------------------------- data map
def _datamap(browse: Browse, server: Server) -> Any:
    page = _open_card(browse, server, "cartography")
    page.wait_for_function("() => window.__rd.views.datamap.layers.marginals !== null")
    return page


def _region(var: np.ndarray, conf: np.ndarray, rule: dict[str, float]) -> np.ndarray:
    return np.where(
        var >= rule["variability_threshold"],
        "ambiguous",
        np.where(conf >= rule["confidence_threshold"], "easy-to-learn", "hard-to-learn"),
    )


def test_datamap_regions_follow_the_overview(browse: Browse, sample_server: Server) -> None:
    page = _datamap(browse, sample_server)
    rule = sample_server.get(RUN)["cartography"]
    assert rule["regions"] == ["easy-to-learn", "ambiguous", "hard-to-learn"]
    v, c = rule["variability_threshold"], rule["confidence_threshold"]
    rects = page.locator("#datamap svg.dm-regions rect").evaluate_all(
        "rs => rs.map(r => ({region: r.dataset.region, x0: +r.dataset.x0, x1: +r.dataset.x1,"
        " y0: +r.dataset.y0, y1: +r.dataset.y1, box: r.getBoundingClientRect().toJSON()}))"
    )
    by = {r["region"]: r for r in rects}
    assert set(by) == set(rule["regions"])
    assert by["easy-to-learn"]["x1"] == v and by["easy-to-learn"]["y0"] == c
    assert by["hard-to-learn"]["x1"] == v and by["hard-to-learn"]["y1"] == c
    assert by["ambiguous"]["x0"] == v
    # On screen, the borders lie where the plot draws those values.
    to_client = "([x, y]) => window.__rd.views.datamap.plot.toClient(x, y)"
    px_v, px_c = page.evaluate(to_client, [v, c])
    assert by["ambiguous"]["box"]["left"] == pytest.approx(px_v, abs=1)
    assert by["easy-to-learn"]["box"]["right"] == pytest.approx(px_v, abs=1)
    assert by["easy-to-learn"]["box"]["bottom"] == pytest.approx(px_c, abs=1)
    assert by["hard-to-learn"]["box"]["top"] == pytest.approx(px_c, abs=1)
    labels = page.locator("#datamap .dm-region-label").all_inner_texts()
    assert sorted(labels) == sorted(rule["regions"])
    # The summary counts each region by the same rule, over /samples.
    _, data = _samples(sample_server, k=0)
    region = _region(data["variability"], data["confidence"], rule)
    flipped = data["label_flipped"].astype(bool)
    for name in rule["regions"]:
        button = page.locator(f'#cartography .dm-region[data-region="{name}"]')
        assert int(button.get_attribute("data-n")) == (region == name).sum()
        assert int(button.get_attribute("data-flipped")) == (flipped & (region == name)).sum()
    # Most flipped labels are hard to learn, as the paper finds.
    assert (flipped & (region == "hard-to-learn")).sum() > flipped.sum() / 2
    page.locator('#cartography .dm-region[data-region="hard-to-learn"]').click()
    browse.idle()
    hard = np.flatnonzero(region == "hard-to-learn").tolist()
    assert browse.state("Array.from(s.selection)") == hard
    browse.shot("datamap_regions", selector="#cartography")


def test_datamap_marginals_count_the_samples(browse: Browse, sample_server: Server) -> None:
    page = _datamap(browse, sample_server)
    _, data = _samples(sample_server, k=0)
    var = data["variability"].astype(np.float64)
    conf = data["confidence"].astype(np.float64)

    def check(selected: np.ndarray | None) -> None:
        m = page.evaluate("() => window.__rd.views.datamap.layers.marginals")
        view = m["view"]
        in_x = (var >= view["x"][0]) & (var <= view["x"][1])
        in_y = (conf >= view["y"][0]) & (conf <= view["y"][1])
        for axis, values, other in (("x", var, in_y), ("y", conf, in_x)):
            edges = np.array(m[axis]["edges"])
            assert edges[0] == view[axis][0] and edges[-1] == view[axis][1]
            assert len(edges) == 31
            counts, _ = np.histogram(values[other], bins=edges)
            assert m[axis]["counts"] == counts.tolist(), axis
            if selected is None:
                assert "selected" not in m[axis]
            else:
                counts, _ = np.histogram(values[other & selected], bins=edges)
                assert m[axis]["selected"] == counts.tolist(), axis

    check(None)
    assert sum(page.evaluate("() => window.__rd.views.datamap.layers.marginals.x.counts")) == 1797
    page.evaluate("() => window.__rd.selectClass(4)")
    browse.idle()
    check(data["label"] == 4)
    # Zoomed in, the marginals count what is in view.
    page.locator("#datamap canvas.points-gl").hover()
    page.mouse.wheel(0, -400)
    page.wait_for_function(
        "() => { const m = window.__rd.views.datamap.layers.marginals;"
        " return m.x.counts.reduce((a, b) => a + b, 0) < 1797; }"
    )
    page.wait_for_timeout(200)
    check(data["label"] == 4)


def test_datamap_rings_the_flipped_labels(browse: Browse, sample_server: Server) -> None:
    page = _datamap(browse, sample_server)
    _, data = _samples(sample_server, k=0)
    flipped = data["label_flipped"].astype(bool)
    assert flipped.any()
    assert page.locator("#dm-flipped").is_checked()
    rings = page.locator("#datamap canvas.dm-flipped")
    ok = np.isfinite(data["variability"]) & np.isfinite(data["confidence"])
    assert int(rings.get_attribute("data-flipped")) == int((flipped & ok).sum())
    shown = page.evaluate("() => Array.from(window.__rd.views.datamap.flipped)")
    assert np.flatnonzero(shown).tolist() == np.flatnonzero(flipped).tolist()
    page.locator("#dm-flipped").uncheck()
    assert rings.get_attribute("data-flipped") == "0"
    assert rings.is_hidden()
    page.locator("#dm-flipped").check()
    assert int(rings.get_attribute("data-flipped")) == int((flipped & ok).sum())
    # The hover card says so.
    i = int(np.flatnonzero(flipped)[0])
    assert "label flipped" in page.evaluate("i => window.__rd.views.datamap.hoverText(i)", i)


def _empty_box(var: np.ndarray, conf: np.ndarray, domain: dict[str, list[float]]) -> list[float]:
    """A box of the map's domain holding no sample, with room around it."""
    (x0, x1), (y0, y1) = domain["x"], domain["y"]
    n = 8
    for i in range(n):
        for j in range(n):
            a, b = x0 + (x1 - x0) * i / n, x0 + (x1 - x0) * (i + 1) / n
            c, d = y0 + (y1 - y0) * j / n, y0 + (y1 - y0) * (j + 1) / n
            pad_x, pad_y = (b - a) * 0.3, (d - c) * 0.3
            inside = (var > a - pad_x) & (var < b + pad_x) & (conf > c - pad_y) & (conf < d + pad_y)
            if not inside.any():
                return [a + pad_x / 2, d - pad_y / 2, b - pad_x / 2, c + pad_y / 2]
    raise AssertionError("no empty part of the data map")


def test_a_box_that_catches_nothing_changes_nothing(browse: Browse, sample_server: Server) -> None:
    page = _datamap(browse, sample_server)
    _, data = _samples(sample_server, k=0)
    var, conf = data["variability"], data["confidence"]
    domain = page.evaluate("() => window.__rd.points('datamap').domain")
    x0, y0, x1, y1 = _empty_box(var, conf, domain)
    to_client = "([x, y]) => window.__rd.views.datamap.plot.toClient(x, y)"
    corners = [tuple(page.evaluate(to_client, p)) for p in ([x0, y0], [x1, y1])]
    note = page.locator("#cartography .dm-lasso-note")
    page.locator('#datamap [data-mode="box"]').click()
    for selection in (None, np.flatnonzero(data["label"] == 2)):
        if selection is not None:
            page.evaluate("ids => window.__rd.select(ids)", selection.tolist())
            browse.idle()
        before = browse.state("Array.from(s.selection)")
        version = browse.state("s.selectionVersion")
        highlighted = page.evaluate("() => window.__rd.points('datamap').highlighted")
        (ax, ay), (bx, by) = corners
        drag(page, [(ax, ay), ((ax + bx) / 2, (ay + by) / 2), (bx, by)])
        page.wait_for_function(
            "() => document.querySelector('#cartography .dm-lasso-note').dataset.count === '0'"
        )
        browse.idle()
        assert note.inner_text().startswith("0 selected")
        assert browse.state("Array.from(s.selection)") == before
        assert browse.state("s.selectionVersion") == version
        assert page.evaluate("() => window.__rd.points('datamap').highlighted") == highlighted
        assert page.evaluate(
            "() => window.__rd.views.datamap.plot.sp.get('selectedPoints').length"
        ) == (0 if selection is None else selection.size)
        page.evaluate(
            "() => { const n = document.querySelector('#cartography .dm-lasso-note');"
            " n.dataset.count = ''; }"
        )
    # A box that catches samples still selects them (the tool is not stuck).
    a, b = page.evaluate(to_client, [0.0, 0.3]), page.evaluate(to_client, [0.2, -0.01])
    drag(page, [tuple(a), ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2), tuple(b)])
    page.wait_for_function("() => window.__rd.state.selection.length !== " + str(selection.size))
    browse.idle()
    caught = browse.state("Array.from(s.selection)")
    expected = np.flatnonzero((conf <= 0.3) & (var <= 0.2)).tolist()
    assert caught and len(set(caught) ^ set(expected)) <= max(3, len(expected) // 50)
    assert note.inner_text() == f"{len(caught)} selected"
