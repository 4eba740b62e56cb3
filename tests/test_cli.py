"""The command line, driven in-process with click's runner."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import reprdynamics as rd
from reprdynamics.cli import main


def _record(path, *, n=60, snapshots=4, seed=0, metadata=None):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    with rd.Recorder(path, n_samples=n, labels=labels, metadata=metadata) as rec:
        for t in range(snapshots):
            rec.store_batch(
                np.eye(3)[labels] * t + rng.normal(size=(n, 3)), ids=np.arange(n), epoch=t
            )
            rec.end_snapshot(metrics={"loss": 1.0 / (t + 1), "accuracy": t / snapshots})
    return labels


@pytest.fixture
def runner():
    return CliRunner()


def test_info_describes_a_run(tmp_path, runner):
    _record(tmp_path / "r")
    result = runner.invoke(main, ["info", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "T = 4 (4 complete)" in result.output
    assert "N = 60" in result.output
    assert "logits: D = 3" in result.output
    assert "Metric     loss: first 1, last 0.25" in result.output
    facts = json.loads(runner.invoke(main, ["info", str(tmp_path / "r"), "--json"]).output)
    assert facts["n_snapshots"] == 4
    assert facts["epochs"] == [0, 1, 2, 3]
    assert facts["labels"]["n_known"] == 60


def test_info_without_argument_describes_the_bundled_sample(runner):
    result = runner.invoke(main, ["info", "--json"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    assert facts["location"] == str(rd.sample_run_path())
    assert facts["n_complete"] == facts["n_snapshots"] >= 2


def test_missing_run_is_one_clear_line(tmp_path, runner):
    result = runner.invoke(main, ["info", str(tmp_path / "nothing")])
    assert result.exit_code == 1
    assert "No ReprDynamics run at" in result.output
    assert "Traceback" not in result.output


def test_analyse_one_run_reports_rqa_phases_and_samples(tmp_path, runner):
    _record(tmp_path / "r", snapshots=6)
    result = runner.invoke(main, ["analyse", str(tmp_path / "r"), "--k", "5", "--top", "3"])
    assert result.exit_code == 0, result.output
    for text in (
        "Recurrence quantification",
        "neighbour-transition",
        "class-transition",
        "Phase changes",
        "Suspected mislabeled",
        "changed most",
    ):
        assert text in result.output
    report = json.loads(
        runner.invoke(
            main,
            ["analyse", str(tmp_path / "r"), "--k", "5", "--json", "--kind", "cka", "--top", "3"],
        ).output
    )
    assert list(report["fingerprints"]) == ["cka"]
    rqa = report["fingerprints"]["cka"]["rqa"]
    assert 0.0 <= rqa["rr"] <= 1.0
    assert len(report["samples"]["suspected_mislabeled"]) == 3
    matrix = np.array(report["fingerprints"]["cka"]["matrix"])
    np.testing.assert_allclose(matrix, matrix.T)


def test_analyse_a_root_compares_runs(tmp_path, runner):
    _record(tmp_path / "runs" / "lr0.1", seed=1, metadata={"lr": 0.1})
    _record(tmp_path / "runs" / "lr0.01", seed=2, metadata={"lr": 0.01})
    result = runner.invoke(
        main, ["analyse", str(tmp_path / "runs"), "--k", "5", "--kind", "class-transition"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[0] == "run" and "lr" in lines[0]
    assert lines[1].startswith("lr0.01") and lines[2].startswith("lr0.1")
    report = json.loads(
        runner.invoke(
            main,
            ["analyse", str(tmp_path / "runs"), "--k", "5", "--json", "--kind", "disagreement"],
        ).output
    )
    assert len(report["runs"]) == 2


def test_analyse_refuses_a_too_large_k(tmp_path, runner):
    _record(tmp_path / "r", n=8)
    result = runner.invoke(main, ["analyse", str(tmp_path / "r"), "--k", "8"])
    assert result.exit_code == 1
    assert "'k' parameter" in result.output


def test_import_legacy_command(legacy_sample, tmp_path, runner):
    result = runner.invoke(main, ["import-legacy", str(legacy_sample), str(tmp_path / "new")])
    assert result.exit_code == 0, result.output
    assert "Imported 20 snapshots of 16 samples" in result.output
    assert rd.open_run(tmp_path / "new").n_snapshots == 20
