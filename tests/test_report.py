"""`reprdynamics report`: the self-contained HTML report and its PNGs (issue #12).

What the report shows is compared with the analysis API it reads (fingerprint, rqa,
sample_dynamics, the NNTF band sweep, cartography regions, compare_samples); the page in a
real browser is checked in tests/server/test_browser_report.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import reprdynamics as rd
from reprdynamics.analysis.cartography import cartography_regions, region_counts
from reprdynamics.analysis.comparison import compare_samples
from reprdynamics.analysis.recurrence import nntf_band_sweep
from reprdynamics.cli import main
from reprdynamics.report import build_report
from reprdynamics.report.figures import Heatmap, Lines, Scatter, json_numbers
from reprdynamics.report.png import colour_table, nice_ticks, render
from reprdynamics.report.readings import fingerprint_reading, mislabel_reading

KINDS = ["neighbour-transition", "neighbour-state", "class-transition", "disagreement", "cka"]


def record(
    path: Path,
    *,
    n: int = 48,
    snapshots: int = 5,
    classes: int = 3,
    seed: int = 0,
    flips: int = 0,
    images: bool = True,
    metadata: dict | None = None,
) -> Path:
    """Logits that learn their (partly flipped) labels, a hidden layer, 8x8 images."""
    rng = np.random.default_rng(seed)
    clean = np.arange(n) % classes
    labels = clean.copy()
    flipped = np.zeros(n, dtype=bool)
    flipped[rng.choice(n, flips, replace=False)] = True
    labels[flipped] = (labels[flipped] + 1) % classes
    inputs = rng.integers(0, 256, size=(n, 8, 8), dtype=np.uint8) if images else None
    with rd.Recorder(path, n_samples=n, labels=labels, inputs=inputs, metadata=metadata) as rec:
        if flips:
            rec.run.write_extra("label_flipped", flipped)
        for epoch in range(snapshots):
            progress = (epoch + 1) / snapshots
            logits = 3 * progress * np.eye(classes)[clean] + rng.normal(size=(n, classes))
            hidden = np.eye(classes)[clean] @ rng.normal(size=(classes, 6)) * progress
            rec.store_batch(logits, ids=np.arange(n), epoch=epoch)
            rec.store_batch(
                hidden + rng.normal(size=(n, 6)), ids=np.arange(n), epoch=epoch, layer="hidden"
            )
            rec.end_snapshot(metrics={"loss": 1.5 / (1 + epoch), "accuracy": progress})
    return path


@pytest.fixture(scope="module")
def sample_report():
    return build_report(None)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    base = tmp_path_factory.mktemp("root")
    record(base / "alpha", seed=1, flips=6, metadata={"lr": 0.1})
    record(base / "beta", seed=2, flips=6, metadata={"lr": 0.01})
    return base


@pytest.fixture
def runner():
    return CliRunner()


# ------------------------------------------------------------------------------ readings
def test_reading_names_the_largest_entry_and_the_phase_changes():
    m = np.array([[0.0, 0.1, 0.7], [0.1, 0.0, 0.3], [0.7, 0.3, 0.0]])
    changes = [
        {"between": ["0→1", "1→2"], "score": 0.2},
        {"between": ["1→2", "2→3"], "score": 0.5},
    ]
    text = fingerprint_reading("neighbour-transition", m, ["0→1", "1→2", "2→3"], True, changes)
    assert text.startswith("Neighbourhoods changed most differently between epochs 0→1 and 2→3")
    assert "(D = 0.700)" in text
    # The strongest phase change first.
    assert text.index("1→2 and 2→3 (score 0.500)") < text.index("0→1 and 1→2 (score 0.200)")
    zero = fingerprint_reading("cka", np.zeros((3, 3)), ["0", "1", "2"], False, [])
    assert zero.startswith("The fingerprint is zero")
    assert "no phase change stands out" in zero


def test_mislabel_reading_counts_hits_at_the_number_of_flips():
    rows = [{"k": 5, "hits": 3, "precision": 0.6}, {"k": 10, "hits": 4, "precision": 0.4}]
    assert mislabel_reading(5, 50, rows) == (
        "Of the 5 known flipped labels, 3 are among the 5 most suspected samples "
        "(precision 0.60; chance 0.10)."
    )


# ------------------------------------------------------------------------------ figures
def test_figures_become_plotly_json_without_nan():
    z = np.array([[0.0, np.nan], [0.5, 0.0]])
    fig = Heatmap(id="h", title="t", z=z, labels=["a", "b"], boundaries=(0,)).to_plotly()
    assert fig["data"][0]["z"] == [[0.0, None], [0.5, 0.0]]
    json.dumps(fig, allow_nan=False)
    assert len(fig["layout"]["shapes"]) == 2  # one phase change: a line on each axis
    assert fig["layout"]["shapes"][0]["x0"] == 0.5
    assert json_numbers([1.0, np.inf, -np.inf]) == [1.0, None, None]


def test_nice_ticks_and_colour_table():
    assert nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(-0.03, 0.03, 6)[0] >= -0.03
    table = colour_table([(0.0, "#000000"), (1.0, "#ffffff")], 3)
    assert table.tolist() == [[0, 0, 0], [128, 128, 128], [255, 255, 255]]


def test_png_renders_each_figure_kind_at_its_size():
    heat = Heatmap(id="h", title="t", z=np.eye(4)[::-1], labels=list("abcd"), width=300, height=260)
    lines = Lines(id="l", title="t", x=[0, 1, 2], series=(), xlabel="x", width=320, height=200)
    scatter = Scatter(id="s", title="t", groups=(), xlabel="x", ylabel="y", width=250, height=240)
    for figure in (heat, lines, scatter):
        image = render(figure)
        assert image.size == (figure.width, figure.height)
        assert image.mode == "RGB"
    # The heat map's cells carry the colours of their values: row 0 is drawn at the bottom.
    # Plot area: left 70, top 40, side min(300 - 70 - 24 - 90, 260 - 40 - 62) = 116, so
    # cells of 29 px; z[0] = [0, 0, 0, 1] is the bottom row.
    pixels = np.asarray(render(heat))
    yellow, black = [252, 255, 164], [0, 0, 4]
    assert pixels[142, 172].tolist() == yellow  # z[0, 3] = 1
    assert pixels[142, 84].tolist() == black  # z[0, 0] = 0
    assert pixels[54, 84].tolist() == yellow  # z[3, 0] = 1
    assert pixels[54, 172].tolist() == black  # z[3, 3] = 0


# ------------------------------------------------------------------------------ sample run
def test_sample_report_holds_every_fingerprint_with_the_apis_numbers(sample_report):
    (run_report,) = sample_report.runs
    assert [fp.kind for fp in run_report.fingerprints] == KINDS
    run = rd.open_run(rd.sample_run_path())
    for result in run_report.fingerprints:
        fp = rd.fingerprint(run, result.kind)
        np.testing.assert_array_equal(result.figure.z, fp.matrix)
        assert result.figure.labels == fp.labels
        assert result.rqa == rd.rqa(fp).to_dict()
        sweep = nntf_band_sweep(np.clip(fp.matrix, 0, 1)).to_dict()
        assert result.nntf["best_laminarity"] == sweep["best_laminarity"]
        assert result.phase_changes == rd.analysis.api.phase_changes_of(fp)
        assert result.reading and result.reading.endswith(".")
        # The reading names the largest entry of the matrix.
        a, b = np.unravel_index(np.argmax(np.triu(fp.matrix, 1)), fp.matrix.shape)
        assert f"{fp.labels[a]} and {fp.labels[b]}" in result.reading


def test_sample_report_samples_and_precision_follow_sample_dynamics(sample_report):
    (run_report,) = sample_report.runs
    table = rd.sample_dynamics(rd.sample_run_path())
    changed = [row["id"] for row in run_report.samples["most_changed"]]
    assert changed == table.most_changed(10).tolist()
    suspected = run_report.samples["suspected_mislabeled"]
    assert [row["id"] for row in suspected] == table.suspected_mislabeled(10).tolist()
    for row in suspected:
        assert row["aum"] == pytest.approx(float(table["aum"][row["id"]]))
        assert row["label"] == int(table["label"][row["id"]])
    # Thumbnails of every listed sample, as PNG data URIs.
    assert set(run_report.thumbnails) == set(changed) | {row["id"] for row in suspected}
    assert all(uri.startswith("data:image/png;base64,") for uri in run_report.thumbnails.values())
    # The precision of the ranking at k = number of flips, as `analyse` reports it.
    flipped = table.extras["label_flipped"].astype(bool)
    precision = run_report.precision
    assert precision["n_flipped"] == int(flipped.sum()) == 180
    ks = [row["k"] for row in precision["rows"]]
    assert 180 in ks and ks == sorted(ks) and len(ks) >= 4
    for row in precision["rows"]:
        expected = flipped[table.suspected_mislabeled(row["k"])].mean()
        assert row["precision"] == pytest.approx(expected)
    assert precision["at_flips"] == pytest.approx(flipped[table.suspected_mislabeled(180)].mean())
    # The data map's regions are the analysis layer's.
    expected_counts = region_counts(cartography_regions(table["confidence"], table["variability"]))
    assert {k: v for k, v in run_report.regions.items() if k in expected_counts} == expected_counts


def test_sample_report_html_is_self_contained(sample_report):
    text = sample_report.to_html()
    assert text == sample_report.to_html()  # deterministic: the download equals the file
    # Nothing the browser would fetch: every src/href is a data: URI or an anchor.
    for match in re.finditer(r"<(?:script|link|img|iframe|source)\b[^>]*>", text[:200_000]):
        for ref in re.findall(r'(?:src|href)="([^"]*)"', match.group(0)):
            assert ref.startswith(("data:", "#")), ref
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    # Plotly itself is inlined.
    assert text.count("<script") >= 4 and "Plotly" in text
    data = json.loads(re.search(r'id="rd-report">(.*?)</script>', text, re.S).group(1))
    assert data["runs"][0]["precision"]["n_flipped"] == 180
    figures = json.loads(re.search(r'id="rd-figures">(.*?)</script>', text, re.S).group(1))
    assert set(figures) == {f.id for f in sample_report.figures}


# ------------------------------------------------------------------------------ the CLI
def test_cli_report_of_the_sample_writes_html_and_pngs(tmp_path, runner):
    out, pngs = tmp_path / "r.html", tmp_path / "png"
    result = runner.invoke(main, ["report", "--out", str(out), "--png", str(pngs)])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # not a terminal: no progress bar
    assert f"Wrote {out}" in result.stdout
    report = build_report(None)
    assert out.read_text(encoding="utf-8") == report.to_html()
    names = sorted(p.name for p in pngs.iterdir())
    assert names == sorted(f"{f.id}.png" for f in report.figures)
    sizes = {f.id: (f.width, f.height) for f in report.figures}
    for path in pngs.iterdir():
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert image.size == sizes[path.stem]
            assert np.unique(np.asarray(image).reshape(-1, 3), axis=0).shape[0] > 10  # drawn
    assert sizes["fingerprint-neighbour-transition"] == (640, 560)
    assert sizes["metrics"] == (720, 400)
    assert sizes["datamap"] == (600, 560)


def test_cli_progress_bar_only_when_asked_or_on_a_terminal(tmp_path, runner):
    record(tmp_path / "run", snapshots=3)
    result = runner.invoke(
        main, ["report", str(tmp_path / "run"), "--out", str(tmp_path / "r.html"), "--progress"]
    )
    assert result.exit_code == 0, result.output
    assert "[" in result.stderr and "#" in result.stderr and "run: " in result.stderr


def test_cli_report_of_a_root_compares_the_runs(root, tmp_path, runner):
    out = tmp_path / "root.html"
    result = runner.invoke(
        main, ["report", str(root), "--out", str(out), "--png", str(tmp_path / "png")]
    )
    assert result.exit_code == 0, result.output
    report = build_report(root)
    assert [r.name for r in report.runs] == ["alpha", "beta"]
    rows = report.comparison.rows
    assert [row["run"] for row in rows] == ["alpha", "beta"]
    assert [row["metadata"]["lr"] for row in rows] == [0.1, 0.01]
    for row, r in zip(rows, report.runs, strict=True):
        table = rd.sample_dynamics(root / r.name)
        assert row["never_learned"] == int(table["never_learned"].sum())
        for kind in KINDS:
            fp = rd.fingerprint(root / r.name, kind)
            assert row["fingerprints"][kind]["entr"] == rd.rqa(fp).entr
    (pair,) = report.comparison.pairs
    assert (pair.a, pair.b) == ("alpha", "beta")
    differences = [f for f in pair.figures if isinstance(f, Heatmap)]
    assert [f.id for f in differences] == [f"alpha-vs-beta-difference-{k}" for k in KINDS]
    for figure, kind in zip(differences, KINDS, strict=True):
        expected = (
            rd.fingerprint(root / "alpha", kind).matrix - rd.fingerprint(root / "beta", kind).matrix
        )
        np.testing.assert_allclose(figure.z, expected, atol=1e-12)
        assert figure.diverging and figure.zmin == -figure.zmax
    compared = compare_samples(
        rd.sample_dynamics(root / "alpha"), rd.sample_dynamics(root / "beta")
    )
    assert pair.summary["learned_only_a"] == int(
        (compared["learned_a"] & ~compared["learned_b"]).sum()
    )
    # Figure ids (and PNG names) carry the run's name.
    pngs = {p.stem for p in (tmp_path / "png").iterdir()}
    assert {"alpha-fingerprint-cka", "beta-datamap", "alpha-vs-beta-aum"} <= pngs
    text = out.read_text(encoding="utf-8")
    assert 'data-table="comparison"' in text and text.count('<section class="run"') == 2


def test_report_of_a_selection_uses_the_selection(root):
    ids = np.arange(0, 48, 2)
    report = build_report(root / "alpha", samples=ids)
    (r,) = report.runs
    assert r.facts["n_selected"] == ids.size
    fp = rd.fingerprint(root / "alpha", "neighbour-state", samples=ids)
    np.testing.assert_array_equal(r.fingerprint("neighbour-state").figure.z, fp.matrix)
    assert set(row["id"] for row in r.samples["most_changed"]) <= set(ids.tolist())


def test_runs_without_images_or_labels(tmp_path):
    record(tmp_path / "plain", images=False)
    (r,) = build_report(tmp_path / "plain").runs
    assert r.thumbnails == {} and r.precision is None
    assert 'data-samples="most_changed"' in build_report(tmp_path / "plain").to_html()
    path = tmp_path / "features"
    rng = np.random.default_rng(0)
    with rd.Recorder(path, n_samples=30, kind="features") as rec:
        for epoch in range(3):
            rec.store_batch(rng.normal(size=(30, 4)), ids=np.arange(30), epoch=epoch)
            rec.end_snapshot()
    (f,) = build_report(path).runs
    assert [fp.kind for fp in f.fingerprints] == ["neighbour-transition", "neighbour-state", "cka"]
    assert "suspected_mislabeled" not in f.samples and not any(
        fig.id.endswith("datamap") for fig in f.figures
    )
    assert f.notes  # says why those are missing


def test_demo_run_report(tmp_path, runner):
    pytest.importorskip("torch")
    from reprdynamics.demo import run_demo

    path = run_demo(tmp_path / "demo", epochs=3, label_noise=0.2, seed=3, progress=None)
    out = tmp_path / "demo.html"
    result = runner.invoke(main, ["report", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    (r,) = build_report(path).runs
    flipped = rd.open_run(path).extra("label_flipped").astype(bool)
    assert r.precision["n_flipped"] == int(flipped.sum()) > 0
    assert "Precision of the mislabel ranking" in out.read_text(encoding="utf-8")


# ------------------------------------------------------------------------------ errors
def _one_line_error(result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def test_cli_errors_are_one_line(tmp_path, runner):
    out = str(tmp_path / "r.html")
    line = _one_line_error(runner.invoke(main, ["report", str(tmp_path / "none"), "--out", out]), 1)
    assert "No run or directory of runs" in line
    (tmp_path / "empty").mkdir()
    line = _one_line_error(
        runner.invoke(main, ["report", str(tmp_path / "empty"), "--out", out]), 1
    )
    assert "No ReprDynamics runs" in line
    # Unwritable --out (checked before any work): a missing directory, a directory, a file
    # as the directory.
    line = _one_line_error(
        runner.invoke(main, ["report", "--out", str(tmp_path / "no" / "r.html")]), 2
    )
    assert "does not exist" in line
    line = _one_line_error(runner.invoke(main, ["report", "--out", str(tmp_path)]), 2)
    assert "is a directory" in line
    (tmp_path / "file").write_text("x")
    line = _one_line_error(
        runner.invoke(main, ["report", "--png", str(tmp_path / "file"), "--out", out]), 2
    )
    assert "not a directory" in line
    assert not Path(out).exists()


def test_cli_error_for_too_few_snapshots_and_a_corrupt_run(tmp_path, runner):
    out = str(tmp_path / "r.html")
    record(tmp_path / "short", snapshots=1)
    line = _one_line_error(
        runner.invoke(main, ["report", str(tmp_path / "short"), "--out", out]), 1
    )
    assert "at least 2 complete snapshots" in line and "has 1" in line
    record(tmp_path / "broken", snapshots=3)
    meta = tmp_path / "broken" / "zarr.json"
    meta.write_text(meta.read_text()[:40])
    line = _one_line_error(
        runner.invoke(main, ["report", str(tmp_path / "broken"), "--out", out]), 1
    )
    assert "corrupt" in line
    assert not Path(out).exists()


def test_cli_root_with_a_short_run_reports_the_others_and_names_it(root, tmp_path, runner):
    base = tmp_path / "mixed"
    base.mkdir()
    record(base / "good", snapshots=3)
    record(base / "short", snapshots=1)
    out = tmp_path / "mixed.html"
    result = runner.invoke(main, ["report", str(base), "--out", str(out)])
    assert result.exit_code == 1
    assert "Skipping the run 'short'" in result.stderr
    assert "Traceback" not in result.output
    assert out.exists() and 'data-run="good"' in out.read_text(encoding="utf-8")
    assert "1 run(s) could not be reported: short" in result.output


def test_cli_error_in_a_real_process_is_one_line_on_stderr(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "reprdynamics.cli",
            "report",
            str(tmp_path / "none"),
            "--out",
            str(tmp_path / "r.html"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().count("\n") == 0 and done.stderr.startswith("Error: ")
