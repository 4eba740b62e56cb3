"""The report in a real browser (Playwright driving Debian's Chromium), issue #12.

Reports written by ``reprdynamics report`` (the bundled sample, a small demo run, a root of
two runs) are opened from disk with every request routed: any request but the file itself
fails the test, and so does any console error. What the page draws (the Plotly figures'
data, read from the page) is compared with the analysis API. The dashboard's "Export
report" button (static/js/export.js) downloads the same file as the endpoint.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browsing import Browse, Server, make_synthetic_run
from click.testing import CliRunner

import reprdynamics as rd
from reprdynamics.analysis.api import phase_changes_of
from reprdynamics.cli import main

KINDS = ["neighbour-transition", "neighbour-state", "class-transition", "disagreement", "cka"]


def write_report(target: Path | None, out: Path) -> Path:
    args = ["report", "--out", str(out)] + ([str(target)] if target is not None else [])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return out


class ReportPage:
    """A report opened from disk; every request other than the file itself is refused."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.page.set_default_timeout(120_000)
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.url = path.resolve().as_uri()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

        def route(r: Any) -> None:
            self.requests.append(r.request.url)
            if r.request.url == self.url:
                r.continue_()
            else:
                r.abort()

        self.page.route("**/*", route)
        self.page.goto(self.url)
        self.page.wait_for_selector("html[data-ready]")

    def figure(self, figure_id: str) -> Any:
        return self.page.evaluate(
            "(id) => { const gd = document.getElementById('fig-' + id);"
            " return gd.data.map(t => ({z: t.z, x: t.x, y: t.y, ids: t.customdata})); }",
            figure_id,
        )

    def data(self, element: str) -> Any:
        return json.loads(self.page.locator(f"#{element}").text_content())

    def check(self) -> None:
        assert not self.errors, f"console errors: {self.errors}"
        assert self.requests == [self.url], f"requests besides the file: {self.requests}"

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def open_report(chromium: Any) -> Iterator[Any]:
    pages: list[ReportPage] = []

    def opener(path: Path) -> ReportPage:
        pages.append(ReportPage(chromium, path))
        return pages[-1]

    yield opener
    try:
        for page in pages:
            page.check()
    finally:
        for page in pages:
            page.close()


def check_run(page: ReportPage, run_path: Path, prefix: str = "") -> None:
    """The page's figures of one run equal the analysis API's numbers."""
    report = page.data("rd-report")
    name = run_path.name if prefix else None
    (section,) = [r for r in report["runs"] if name is None or r["name"] == name]
    ready = int(page.page.evaluate("document.documentElement.dataset.ready"))
    assert ready == len(page.data("rd-figures"))
    kinds = list(section["fingerprints"])
    assert kinds == KINDS
    for kind in kinds:
        fp = rd.fingerprint(run_path, kind)
        (trace,) = page.figure(f"{prefix}fingerprint-{kind}")
        np.testing.assert_allclose(np.array(trace["z"], dtype=float), fp.matrix, rtol=0, atol=0)
        entry = section["fingerprints"][kind]
        assert entry["labels"] == fp.labels
        expected_rqa = rd.rqa(fp).to_dict()
        for key in ("rr", "det", "l_mean", "l_max", "entr", "lam", "tt", "v_max", "epsilon"):
            assert entry["rqa"][key] == pytest.approx(expected_rqa[key], nan_ok=True), key
        assert entry["phase_changes"] == json.loads(json.dumps(phase_changes_of(fp)))
        shown = page.page.locator(f'section[data-run="{section["name"]}"]')
        assert entry["reading"] in shown.locator(f'p.reading[data-kind="{kind}"]').inner_text()
    # The RQA table in the page shows the same numbers, rounded.
    cells = page.page.locator(
        f'section[data-run="{section["name"]}"] table[data-table="rqa"] tbody tr'
    ).first.locator("td")
    assert cells.nth(0).inner_text() == KINDS[0]
    assert cells.nth(2).inner_text() == f"{section['fingerprints'][KINDS[0]]['rqa']['det']:.3f}"
    # The data map: each sample at (variability, confidence), grouped by region.
    table = rd.sample_dynamics(run_path)
    points = page.figure(f"{prefix}datamap")
    ids = np.concatenate([np.asarray(t["ids"], dtype=int) for t in points])
    assert np.array_equal(np.sort(ids), table.ids)
    for trace in points:
        chosen = np.asarray(trace["ids"], dtype=int)
        np.testing.assert_allclose(trace["x"], table["variability"][chosen], rtol=1e-12)
        np.testing.assert_allclose(trace["y"], table["confidence"][chosen], rtol=1e-12)
    # The metric curves.
    run = rd.open_run(run_path)
    curves = page.figure(f"{prefix}metrics")
    for trace, metric in zip(curves, run.metric_names, strict=True):
        np.testing.assert_allclose(trace["y"], run.metric(metric), rtol=1e-12)
    # The sample lists, with their thumbnails as images.
    suspected = [row["id"] for row in section["samples"]["suspected_mislabeled"]]
    assert suspected == table.suspected_mislabeled(10).tolist()


def test_sample_report_in_the_browser(open_report: Any, tmp_path: Path) -> None:
    path = write_report(None, tmp_path / "sample.html")
    page = open_report(path)
    check_run(page, rd.sample_run_path())
    images = page.page.locator('table[data-samples="suspected_mislabeled"] img')
    assert images.count() == 10
    assert page.page.evaluate(
        "() => [...document.images].every(i => i.complete && i.naturalWidth === 48)"
    )
    precision = page.data("rd-report")["runs"][0]["precision"]
    assert precision["n_flipped"] == 180
    shown = page.page.locator('table[data-table="precision"] tbody tr')
    assert shown.count() == len(precision["rows"])
    page.page.screenshot(path="/tmp/rd_report_sample.png")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    from reprdynamics.demo import run_demo

    out = tmp_path_factory.mktemp("demo") / "digits"
    return run_demo(out, epochs=4, label_noise=0.1, seed=1, progress=None)


def test_demo_run_report_in_the_browser(open_report: Any, demo_run: Path, tmp_path: Path) -> None:
    page = open_report(write_report(demo_run, tmp_path / "demo.html"))
    check_run(page, demo_run)
    assert page.page.locator('table[data-table="precision"]').count() == 1


def test_root_report_in_the_browser(open_report: Any, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    make_synthetic_run(root / "alpha", n=60, snapshots=6, classes=3, seed=1)
    make_synthetic_run(root / "beta", n=60, snapshots=6, classes=3, seed=2)
    page = open_report(write_report(root, tmp_path / "root.html"))
    check_run(page, root / "alpha", prefix="alpha-")
    check_run(page, root / "beta", prefix="beta-")
    rows = page.page.locator('table[data-table="comparison"] tbody tr')
    assert [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())] == [
        "alpha",
        "beta",
    ]
    for kind in KINDS:
        (trace,) = page.figure(f"alpha-vs-beta-difference-{kind}")
        expected = rd.fingerprint(root / "alpha", kind).matrix
        expected = expected - rd.fingerprint(root / "beta", kind).matrix
        np.testing.assert_allclose(np.array(trace["z"], dtype=float), expected, atol=1e-12)


# ---------------------------------------------------------------------------- the button
def fetch_report(server: Server, run: str, samples: str | None) -> tuple[bytes, dict[str, str]]:
    query = urllib.parse.urlencode({"samples": samples} if samples else {})
    url = f"{server.origin}/api/runs/{run}/report.html" + (f"?{query}" if query else "")
    for _ in range(600):
        with urllib.request.urlopen(url, timeout=120) as response:
            if response.status == 200:
                return response.read(), {k.lower(): v for k, v in response.headers.items()}
        time.sleep(0.2)
    raise TimeoutError(url)


def test_export_button_downloads_the_endpoints_report(
    browse: Browse, sample_server: Server, tmp_path: Path
) -> None:
    page = browse.open(sample_server)
    labels = rd.open_run(rd.sample_run_path()).labels
    ids = np.flatnonzero(labels == 3)
    page.evaluate("(ids) => window.__rd.select(ids)", ids.tolist())
    browse.idle()
    # app.js installs it in the top bar, once.
    assert page.locator("#export-report").count() == 1
    button = page.locator("header #export-report")
    assert button.inner_text() == "Export report"
    with page.expect_download(timeout=120_000) as info:
        button.click()
    download = info.value
    assert download.suggested_filename == "sample_run-report.html"
    saved = tmp_path / "download.html"
    download.save_as(saved)
    samples = ",".join(str(i) for i in ids)  # the server parses ranges or single ids alike
    body, headers = fetch_report(sample_server, "sample_run", samples)
    assert saved.read_bytes() == body
    assert headers["content-disposition"] == 'attachment; filename="sample_run-report.html"'
    assert headers["content-type"].startswith("text/html")
    assert page.locator("#export-status").inner_text() == "saved sample_run-report.html"
    assert button.is_enabled()
    # The downloaded report is of the selection: its fingerprint is the selection's.
    text = body.decode()
    figures = json.loads(text.split('id="rd-figures">', 1)[1].split("</script>", 1)[0])
    fp = rd.fingerprint(rd.sample_run_path(), "neighbour-transition", samples=ids)
    z = np.array(figures["fingerprint-neighbour-transition"]["data"][0]["z"], dtype=float)
    np.testing.assert_array_equal(z, fp.matrix)
    report = json.loads(text.split('id="rd-report">', 1)[1].split("</script>", 1)[0])
    assert report["runs"][0]["facts"]["n_selected"] == ids.size


def test_export_button_shows_the_servers_error(browse: Browse, sample_server: Server) -> None:
    page = browse.open(sample_server)
    page.evaluate("() => window.__rd.select([7])")
    browse.idle()
    browse.allowed_errors.append("400")  # the browser logs the failed request itself
    page.locator("#export-report").click()
    page.wait_for_function(
        "() => document.getElementById('export-report').dataset.state === 'error'"
    )
    status = page.locator("#export-status").inner_text()
    assert status.startswith("Export failed: ") and "at least 2 samples" in status
