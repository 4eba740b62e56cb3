"""The run comparison in a real browser (issue #12, item 6).

Two runs over the same 60 samples, the second forgetting some samples at its last snapshot
that the first learns: the view's fingerprints, their difference B − A, the RQA deltas and
the per-sample comparison table are compared with /api/compare and /api/compare/samples of
the same server, and its rows set the dashboard's one selection.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browsing import Browse, Server, decode, make_synthetic_run

import reprdynamics as rd

N, SNAPSHOTS, CLASSES = 60, 6, 3
FORGOTTEN_IN_B = np.arange(0, N, 7)  # learned early by both, forgotten by B at its end


def _make_run(path: Path, *, n: int, seed: int, forget: np.ndarray | None = None) -> None:
    make_synthetic_run(path, n=n, snapshots=SNAPSHOTS, classes=CLASSES, seed=seed, forget=forget)
    run = rd.open_run(path, mode="r+")
    run.write_extra("label_flipped", (np.arange(n) % 11 == 0).astype(np.uint8))


@pytest.fixture(scope="module")
def pair_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("pair")
    # B forgets at its end samples that A learns (A is the open run, the first listed).
    _make_run(root / "one", n=N, seed=11, forget=None)
    _make_run(root / "two", n=N, seed=12, forget=FORGOTTEN_IN_B)
    _make_run(root / "three", n=N - 10, seed=13)
    server = Server(root)
    yield server
    server.stop()


def _compare(browse: Browse, server: Server, a: str = "one", b: str = "two") -> Any:
    page = browse.open(server, f"#run={a}")
    page.locator("#compare").scroll_into_view_if_needed()
    page.select_option("#compare-run", b)
    page.wait_for_function("() => document.querySelector('#compare-table tbody tr') !== null")
    browse.idle()
    return page


def _api_samples(server: Server, a: str = "one", b: str = "two") -> dict[str, np.ndarray]:
    res = server.get("/api/compare/samples", a=a, b=b, k=10)
    assert res["a"] == a and res["b"] == b and res["n"] == N
    return {c: decode(res["data"][c]) for c in res["columns"]}


def test_only_runs_with_the_same_samples_are_offered(browse: Browse, pair_server: Server) -> None:
    page = browse.open(pair_server, "#run=one")
    options = page.locator("#compare-run option").evaluate_all("os => os.map(o => o.value)")
    assert options == ["", "two"]
    page.select_option("#run-select", "three")
    page.wait_for_function("() => window.__rd.state.run === 'three'")
    browse.idle()
    assert page.locator("#compare-run").is_disabled()
    assert "50 samples" in page.locator("#compare-body").inner_text()


def test_fingerprints_difference_and_rqa_deltas(browse: Browse, pair_server: Server) -> None:
    page = _compare(browse, pair_server)
    both = pair_server.get("/api/compare", a="one", b="two", kind="neighbour-transition", k=10)
    fa = decode(both["a"]["fingerprint"]["matrix"])
    fb = decode(both["b"]["fingerprint"]["matrix"])
    traces = [browse.plot(f"#compare-plot-{i}", "gd.data[0]") for i in (0, 1)]
    for trace, matrix in zip(traces, (fa, fb), strict=True):
        np.testing.assert_allclose(trace["z"], matrix, rtol=1e-6, atol=1e-7)
    # One colour scale for the two fingerprints.
    assert traces[0]["zmin"] == traces[1]["zmin"] == 0
    assert traces[0]["zmax"] == traces[1]["zmax"] == pytest.approx(max(fa.max(), fb.max()))
    # B − A on a diverging scale centred on 0.
    diff = browse.plot("#compare-diff", "gd.data[0]")
    np.testing.assert_allclose(diff["z"], fb - fa, rtol=1e-6, atol=1e-6)
    assert np.abs(fb - fa).max() > 0
    assert diff["zmid"] == 0
    assert diff["zmax"] == pytest.approx(np.abs(fb - fa).max(), rel=1e-6)
    assert diff["zmin"] == -diff["zmax"]
    colours = [c for _, c in diff["colorscale"]]
    assert colours[0] != colours[-1] and colours[len(colours) // 2] == "#f7f7f7"
    # RQA: A, B and B − A per measure.
    rows = page.locator("#compare table.rqa-delta tbody tr").evaluate_all(
        "rs => rs.map(r => [r.dataset.measure, +r.querySelector('td.delta').dataset.value])"
    )
    assert {m for m, _ in rows} >= {"rr", "det", "lam", "epsilon"}
    for measure, delta in rows:
        ra, rb = both["a"]["rqa"][measure], both["b"]["rqa"][measure]
        assert delta == pytest.approx(rb - ra, rel=1e-9, abs=1e-12), measure
    browse.shot("compare_maps", selector="#compare")


def test_per_sample_table_equals_the_api(browse: Browse, pair_server: Server) -> None:
    page = _compare(browse, pair_server)
    data = _api_samples(pair_server)
    for column in ("learned_a", "forgotten_b", "aum_change", "neighbour_stability_change"):
        assert column in data
    np.testing.assert_allclose(data["aum_change"], data["aum_b"] - data["aum_a"], rtol=1e-5)
    # First page: ids in order, and the headers name every API column.
    heads = page.locator("#compare-table thead tr:first-child th.sortable").evaluate_all(
        "ths => ths.map(th => th.dataset.column)"
    )
    assert [c for c in heads if c != "outcome"] == list(data)
    assert [
        int(i)
        for i in page.locator("#compare-table tbody tr").evaluate_all(
            "rs => rs.map(r => r.dataset.id)"
        )
    ] == data["id"][:50].tolist()
    titles = page.locator("#compare-table thead th.sortable").evaluate_all(
        "ths => Object.fromEntries(ths.map(th => [th.dataset.column, th.title]))"
    )
    assert "Pleiss et al. 2020" in titles["aum_change"]
    # Sorted by the AUM change (descending, twice clicked): the API's order.
    page.locator('#compare-table th[data-column="aum_change"]').click()
    page.locator('#compare-table th[data-column="aum_change"]').click()
    order = np.argsort(-data["aum_change"], kind="stable")
    shown = page.locator("#compare-table tbody tr").evaluate_all("rs => rs.map(r => +r.dataset.id)")
    assert shown == data["id"][order][:50].tolist()
    # The CSV holds every shown row and the API's columns, values as the API sends them.
    with page.expect_download() as info:
        page.locator("#cmp-csv").click()
    rows = list(csv.reader(io.StringIO(Path(info.value.path()).read_text())))
    assert rows[0] == list(data)
    cells = rows[1:]
    assert [int(r[0]) for r in cells] == data["id"][order].tolist()
    for j, column in enumerate(rows[0]):
        got = np.array([float(r[j]) if r[j] else np.nan for r in cells])
        if data[column].dtype.kind == "f":
            got = got.astype(data[column].dtype)
        np.testing.assert_array_equal(got, data[column][order], err_msg=column)


def test_learned_in_a_forgotten_in_b_selects_for_every_view(
    browse: Browse, pair_server: Server
) -> None:
    page = _compare(browse, pair_server)
    data = _api_samples(pair_server)
    expected = np.flatnonzero(data["learned_a"].astype(bool) & data["forgotten_b"].astype(bool))
    # The runs were made so: B forgets at its end what it had learned.
    forced = set(FORGOTTEN_IN_B.tolist()) & set(np.flatnonzero(data["learned_a"]).tolist())
    assert len(forced) >= FORGOTTEN_IN_B.size // 2 and forced <= set(expected.tolist())
    page.select_option("#cmp-preset", "learned-a-forgotten-b")
    shown = page.locator("#compare-table tbody tr").evaluate_all("rs => rs.map(r => +r.dataset.id)")
    assert shown == expected.tolist()
    outcomes = page.locator("#compare-table tbody td:nth-child(4)").all_inner_texts()
    assert set(outcomes) == {"learned → forgotten"}
    # "Select shown" sets the dashboard's one selection: the other views follow it.
    page.locator("#cmp-select").click()
    browse.idle()
    assert browse.state("Array.from(s.selection)") == expected.tolist()
    assert page.locator("#selection-summary").get_attribute("data-count") == str(expected.size)
    assert page.locator("#compare-table tbody tr.sel").count() == expected.size
    page.locator("#cartography").scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('#cartography').dataset.state === 'ready'")
    browse.idle()
    assert page.evaluate("() => window.__rd.points('datamap').highlighted") == expected.size
    # Ticking rows builds a selection from the default one; a click opens the sample.
    page.locator("#compare").scroll_into_view_if_needed()
    page.select_option("#cmp-preset", "all")
    page.evaluate("() => window.__rd.views.picker && document.querySelector('#pick-all').click()")
    browse.idle()
    assert browse.state("s.selection.length") == N
    page.locator('#compare-table tbody tr[data-id="5"] input[type=checkbox]').check()
    browse.idle()
    assert browse.state("Array.from(s.selection)") == [5]
    page.locator('#compare-table tbody tr[data-id="9"] input[type=checkbox]').check()
    browse.idle()
    assert browse.state("Array.from(s.selection)") == [5, 9]
    page.locator('#compare-table tbody tr[data-id="5"] input[type=checkbox]').uncheck()
    browse.idle()
    assert browse.state("Array.from(s.selection)") == [9]
    page.locator('#compare-table tbody tr[data-id="12"] td:nth-child(2)').click()
    browse.idle()
    assert browse.state("s.focus") == 12
    browse.shot("compare_samples", selector="#compare")
