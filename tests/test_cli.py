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


def _analyse_json(args, cwd=None):
    """`reprdynamics analyse ... --json` in a real subprocess, parsed."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "reprdynamics.cli", "analyse", *args, "--json", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    report.pop("run")
    return report


def test_analyse_prints_the_same_numbers_with_workers_and_on_a_dask_cluster(tmp_path):
    _record(tmp_path / "plain", n=150, snapshots=5)
    _record(tmp_path / "workers", n=150, snapshots=5)
    _record(tmp_path / "dask", n=150, snapshots=5)
    plain = _analyse_json([str(tmp_path / "plain"), "--k", "5"])
    workers = _analyse_json([str(tmp_path / "workers"), "--k", "5", "--workers", "2"])
    assert workers == plain
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, dashboard_address=None, host="127.0.0.1"
    ) as cluster:
        dask = _analyse_json(
            [str(tmp_path / "dask"), "--k", "5", "--scheduler", cluster.scheduler_address]
        )
    assert dask == plain


def test_analyse_scheduler_errors_are_one_line(tmp_path, runner):
    import socket

    _record(tmp_path / "r")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = runner.invoke(
        main, ["analyse", str(tmp_path / "r"), "--scheduler", f"tcp://127.0.0.1:{port}"]
    )
    assert result.exit_code != 0 and "Cannot reach the Dask scheduler" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(
        main, ["analyse", str(tmp_path / "r"), "--scheduler", "tcp://x:1", "--workers", "2"]
    )
    assert result.exit_code != 0 and "not both" in result.output
