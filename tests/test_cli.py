"""The command line, driven in-process with click's runner."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import reprdynamics as rd
from processes import free_port
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


def _run_cli(args, *, legacy=False, timeout=120, cwd=None):
    """The command line (``ReprDynamics`` if ``legacy``) in a real subprocess."""
    import subprocess
    import sys

    entry = (
        ["-c", "from reprdynamics.cli import legacy_main; legacy_main()"]
        if legacy
        else ["-m", "reprdynamics.cli"]
    )
    return subprocess.run(
        [sys.executable, *entry, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd
    )


def _analyse_json(args, cwd=None):
    """`reprdynamics analyse ... --json` in a real subprocess, parsed."""
    proc = _run_cli(["analyse", *args, "--json", "--no-progress"], timeout=300, cwd=cwd)
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
    _record(tmp_path / "r")
    port = free_port()
    result = runner.invoke(
        main, ["analyse", str(tmp_path / "r"), "--scheduler", f"tcp://127.0.0.1:{port}"]
    )
    assert result.exit_code != 0 and "Cannot reach the Dask scheduler" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(
        main, ["analyse", str(tmp_path / "r"), "--scheduler", "tcp://x:1", "--workers", "2"]
    )
    assert result.exit_code != 0 and "not both" in result.output


# ------------------------------------------------------------------- issue #11, item 15
def _listening_socket():
    """A socket listening on a free loopback port, as another server would hold it."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock, sock.getsockname()[1]


@pytest.mark.parametrize("legacy", [False, True], ids=["serve", "ReprDynamics"])
def test_serving_on_a_port_in_use_names_a_free_port(legacy):
    import re

    sock, port = _listening_socket()
    with sock:
        args = ["--port", str(port)] if legacy else ["serve", "--port", str(port)]
        proc = _run_cli(args, legacy=legacy)
    assert proc.returncode == 2, proc.stderr
    assert f"port {port} is in use" in proc.stderr
    suggested = re.search(r"try --port (\d+)", proc.stderr)
    assert suggested and int(suggested.group(1)) > port
    assert "Errno" not in proc.stderr and "Traceback" not in proc.stderr


def test_demo_checks_its_port_before_training(tmp_path, runner):
    sock, port = _listening_socket()
    with sock:
        result = runner.invoke(
            main, ["demo", "--out", str(tmp_path / "run"), "--epochs", "1", "--port", str(port)]
        )
    assert result.exit_code == 2, result.output
    assert f"port {port} is in use" in result.output
    assert not (tmp_path / "run").exists()


def _damage(path, how):
    meta = path / "zarr.json"
    text = meta.read_text()
    if how == "truncated":
        meta.write_text(text[: len(text) // 2])
    elif how == "empty":
        meta.write_text("")
    elif how == "not-an-object":
        meta.write_text("[]")
    else:  # the format attribute lost
        document = json.loads(text)
        del document["attributes"]["format"]
        meta.write_text(json.dumps(document))


@pytest.fixture
def no_server(monkeypatch):
    """Replace the server by a recorder of its calls: a command that serves fails the test."""
    import reprdynamics.server.app as app

    calls = []
    monkeypatch.setattr(app, "serve", lambda target, **options: calls.append(target))
    return calls


@pytest.mark.parametrize("how", ["truncated", "empty", "not-an-object", "no-format"])
def test_a_run_with_a_damaged_zarr_json_is_reported_corrupt(tmp_path, runner, no_server, how):
    _record(tmp_path / "r")
    _damage(tmp_path / "r", how)
    result = runner.invoke(main, ["analyse", str(tmp_path / "r")])
    assert result.exit_code == 1, result.output
    assert "is corrupt" in result.output and "zarr.json" in result.output
    assert "No ReprDynamics runs" not in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(main, ["serve", str(tmp_path / "r"), "--port", str(free_port())])
    assert result.exit_code == 1, result.output
    assert "is corrupt" in result.output
    assert no_server == []  # not served as an empty directory of runs


def test_a_directory_with_an_unrelated_zarr_group_is_still_a_root(tmp_path, runner):
    root = tmp_path / "root"
    root.mkdir()
    (root / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group", "attributes": {}}')
    result = runner.invoke(main, ["analyse", str(root)])
    assert result.exit_code == 1
    assert "No ReprDynamics runs" in result.output


def test_legacy_help_describes_every_option(capsys):
    import re

    from reprdynamics.cli import legacy_main

    with pytest.raises(SystemExit) as exit_info:
        legacy_main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--save_dir SAVE_DIR", "--port PORT", "--host HOST"):
        # Help text follows the option (on its line or the next), not the next option.
        assert re.search(re.escape(option) + r"\s+(?!-)\S", out), out
    assert "default: 5000" in out and "default: 127.0.0.1" in out


def test_legacy_save_dir_is_served_under_the_directorys_name(
    legacy_sample, tmp_path, monkeypatch, no_server, capsys
):
    from reprdynamics.cli import legacy_main
    from reprdynamics.server.impl import Workspace

    monkeypatch.setenv("REPRDYNAMICS_CACHE_DIR", str(tmp_path / "cache"))
    legacy_main(["--save_dir", str(legacy_sample), "--port", str(free_port())])
    assert "imported it into" in capsys.readouterr().out
    (target,) = no_server
    workspace = Workspace(target)
    assert workspace.kind == "legacy"
    assert list(workspace.runs()) == [legacy_sample.name]


# --------------------------------------------------------------------------- damage, cache
def test_info_names_the_damaged_snapshots_and_exits_1(tmp_path, runner):
    _record(tmp_path / "r")
    assert "Damaged    none" in runner.invoke(main, ["info", str(tmp_path / "r")]).output
    (tmp_path / "r" / "representations" / "logits" / "c" / "2" / "0" / "0").unlink()
    result = runner.invoke(main, ["info", str(tmp_path / "r")])
    assert result.exit_code == 1, result.output
    assert "Damaged    snapshots 2 (the others read as recorded)" in result.output
    assert "representations/logits: 1 of 1 chunks missing" in result.output
    facts = json.loads(runner.invoke(main, ["info", str(tmp_path / "r"), "--json"]).output)
    assert facts["damaged_snapshots"] == [2]


def test_info_verify_decodes_every_chunk(tmp_path, runner):
    _record(tmp_path / "r")
    (tmp_path / "r" / "representations" / "logits" / "c" / "1" / "0" / "0").write_bytes(b"xx")
    assert runner.invoke(main, ["info", str(tmp_path / "r")]).exit_code == 0  # all listed
    result = runner.invoke(main, ["info", "--verify", str(tmp_path / "r")])
    assert result.exit_code == 1, result.output
    assert "snapshot 1, representations/logits" in result.output
    assert "Traceback" not in result.output


def test_cache_info_and_clear(tmp_path, runner):
    _record(tmp_path / "r")
    assert runner.invoke(main, ["analyse", str(tmp_path / "r")]).exit_code == 0
    facts = json.loads(runner.invoke(main, ["cache", "info", str(tmp_path / "r"), "--json"]).output)
    names = [e["name"] for e in facts["entries"]]
    assert "neighbours" in names and "fingerprint" in names
    assert facts["nbytes"] == sum(e["nbytes"] for e in facts["entries"]) > 0
    assert facts["limit"] >= 64 * 2**20
    text = runner.invoke(main, ["cache", "info", str(tmp_path / "r")]).output
    assert f"{len(names)} entries" in text and "current" in text
    result = runner.invoke(main, ["cache", "clear", str(tmp_path / "r"), "--name", "neighbours"])
    assert result.exit_code == 0 and f"Removed {names.count('neighbours')} cache entries" in (
        result.output
    )
    left = json.loads(runner.invoke(main, ["cache", "info", str(tmp_path / "r"), "--json"]).output)
    assert {e["name"] for e in left["entries"]} == {"fingerprint"}
    assert runner.invoke(main, ["cache", "clear", str(tmp_path / "r")]).exit_code == 0
    empty = json.loads(runner.invoke(main, ["cache", "info", str(tmp_path / "r"), "--json"]).output)
    assert empty["entries"] == [] and empty["nbytes"] == 0


def test_serve_refuses_a_bad_cache_limit(tmp_path, runner):
    _record(tmp_path / "r")
    result = runner.invoke(main, ["serve", str(tmp_path / "r"), "--cache-limit", "lots"])
    assert result.exit_code == 2
    assert "--cache-limit" in result.output and "4x" in result.output
