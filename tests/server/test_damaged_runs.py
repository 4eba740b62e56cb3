"""One damaged run among good ones: the listing and ``analyse ROOT`` name it and go on."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

import reprdynamics as rd
from noise_runs import noise_run
from reprdynamics.cli import main
from reprdynamics.errors import CorruptRunError

pytest.importorskip("starlette")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note on httpx vs httpx2
    from starlette.testclient import TestClient

from reprdynamics.server.app import create_app

N = 30


def truncate_array_metadata(run: Path) -> None:
    meta = run / "predictions" / "zarr.json"
    meta.write_text(meta.read_text()[:40])


def bad_n_samples(run: Path) -> None:
    meta = run / "zarr.json"
    doc = json.loads(meta.read_text())
    doc["attributes"]["n_samples"] = "abc"
    meta.write_text(json.dumps(doc))


DAMAGES = {"truncated-array-json": truncate_array_metadata, "n_samples-abc": bad_n_samples}


@pytest.fixture(params=list(DAMAGES))
def root(request, tmp_path: Path) -> Path:
    noise_run(tmp_path / "good", N, snapshots=4)
    DAMAGES[request.param](noise_run(tmp_path / "bad", N, snapshots=4))
    return tmp_path


def test_the_damaged_run_is_corrupt_and_named(root: Path) -> None:
    with pytest.raises(CorruptRunError, match="bad"):
        rd.open_run(root / "bad")


def test_listing_shows_the_good_runs_and_marks_the_damaged_one(root: Path) -> None:
    """Regression: the listing answered 500 for every run."""
    response = TestClient(create_app(root)).get("/api/runs")
    assert response.status_code == 200, response.text
    runs = {r["name"]: r for r in response.json()["runs"]}
    assert runs["good"]["n_snapshots"] == 4
    assert "damaged" in runs["bad"]["error"] or "invalid" in runs["bad"]["error"]
    assert "Traceback" not in response.text


def test_analyse_root_reports_the_damaged_run_and_goes_on(root: Path) -> None:
    """Regression: `analyse ROOT` stopped at the damaged run without naming it."""
    result = CliRunner().invoke(main, ["analyse", str(root), "--json"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "Skipping the run 'bad'" in result.output
    assert "1 of 2 runs could not be analysed: bad" in result.output
    report = json.loads(result.output[result.output.index("{") : result.output.rindex("}") + 1])
    assert [Path(r["run"]).name for r in report["runs"]] == ["good"]
    assert [Path(d["run"]).name for d in report["damaged"]] == ["bad"]
