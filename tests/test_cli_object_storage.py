"""``reprdynamics info | analyse | serve`` on a run's URL (``s3://``), against a real S3 server.

``info`` and ``analyse`` run in real subprocesses with credentials and endpoint from
environment variables only, as on a cluster; the error cases run in-process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import reprdynamics as rd
from reprdynamics.cli import main

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

SRC = Path(__file__).resolve().parents[1] / "src"
N, C, T = 40, 3, 5


@pytest.fixture(autouse=True)
def no_aws_environment(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def record(location, **kwargs) -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, C, N)
    with rd.Recorder(location, n_samples=N, labels=labels, metadata={"lr": 0.05}, **kwargs) as rec:
        for t in range(T):
            logits = np.eye(C)[labels] * t + rng.normal(size=(N, C))
            rec.store_batch(logits, ids=np.arange(N), epoch=t)
            rec.store_batch(rng.normal(size=(N, 6)) + t, ids=np.arange(N), epoch=t, layer="h")
            rec.end_snapshot(metrics={"loss": 1.0 / (t + 1), "accuracy": t / T})


def download(s3_server, url: str, target: Path) -> Path:
    """A plain local copy of every object under ``url``."""
    bucket, prefix = url.removeprefix("s3://").split("/", 1)
    for key in s3_server.list_keys(bucket, prefix + "/"):
        path = target / key[len(prefix) + 1 :]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(s3_server.read_object(bucket, key))
    return target


@pytest.fixture(scope="module")
def s3_run(s3_server) -> str:
    url = s3_server.url("cli-run")
    record(url, storage_options=s3_server.storage_options)
    return url


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``reprdynamics ARGS`` in a fresh interpreter, with only ``env`` for AWS."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    base["PYTHONPATH"] = os.pathsep.join([str(SRC), base.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run(
        [sys.executable, "-m", "reprdynamics.cli", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_info_and_analyse_of_a_url_equal_those_of_a_local_copy(s3_server, s3_run, tmp_path):
    env = {**s3_server.env, "AWS_EC2_METADATA_DISABLED": "true"}
    local = download(s3_server, s3_run, tmp_path / "copy")
    assert rd.open_run(local).n_snapshots == T

    remote_info = cli("info", s3_run, "--json", env=env)
    assert remote_info.returncode == 0, remote_info.stderr
    local_info = cli("info", str(local), "--json", env={})
    assert local_info.returncode == 0, local_info.stderr
    remote_facts, local_facts = json.loads(remote_info.stdout), json.loads(local_info.stdout)
    assert remote_facts.pop("location") == s3_run
    assert local_facts.pop("location") == str(local)
    assert remote_facts == local_facts
    assert remote_facts["n_snapshots"] == T

    args = ("--json", "--k", "4", "--top", "5", "--no-progress")
    remote = cli("analyse", s3_run, *args, env=env)
    assert remote.returncode == 0, remote.stderr
    copy = cli("analyse", str(local), *args, env={})
    assert copy.returncode == 0, copy.stderr
    remote_report, local_report = json.loads(remote.stdout), json.loads(copy.stdout)
    assert remote_report.pop("run") == s3_run
    assert local_report.pop("run") == str(local)
    assert remote_report == local_report
    assert set(remote_report["fingerprints"]) >= {"neighbour-transition", "class-transition"}
    # Two local worker processes that open the run from the bucket themselves.
    workers = cli("analyse", s3_run, *args, "--workers", "2", env=env)
    assert workers.returncode == 0, workers.stderr
    workers_report = json.loads(workers.stdout)
    assert workers_report.pop("run") == s3_run
    assert workers_report == local_report
    for output in (remote_info, remote, workers):
        assert s3_server.secret not in output.stdout + output.stderr
    assert "Traceback" not in remote.stderr


def test_storage_options_on_the_command_line(s3_server, s3_run):
    options = json.dumps(s3_server.storage_options)
    runner = CliRunner()
    result = runner.invoke(main, ["info", s3_run, "--storage-options", options])
    assert result.exit_code == 0, result.output
    assert f"Run        {s3_run}" in result.output
    assert f"T = {T} ({T} complete)" in result.output
    result = runner.invoke(
        main, ["analyse", s3_run, "--storage-options", options, "--k", "3", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "Recurrence quantification" in result.output


def test_serve_a_url(s3_server, s3_run, monkeypatch):
    import uvicorn

    served = {}

    def fake_run(app, **kwargs):
        served["app"], served["kwargs"] = app, kwargs

    monkeypatch.setattr(uvicorn, "run", fake_run)
    options = json.dumps(s3_server.storage_options)
    result = CliRunner().invoke(
        main, ["serve", s3_run, "--port", "5123", "--storage-options", options]
    )
    assert result.exit_code == 0, result.output
    assert served["kwargs"]["port"] == 5123
    assert s3_server.secret not in result.output
    with TestClient(served["app"], base_url="http://127.0.0.1:5123") as client:
        listing = client.get("/api/runs")
        assert listing.status_code == 200
        assert [r["name"] for r in listing.json()["runs"]] == ["cli-run"]
        for _ in range(400):
            response = client.get("/api/runs/cli-run/fingerprint?kind=class-transition")
            if response.status_code != 202:
                break
        assert response.status_code == 200, response.text
        assert response.json()["kind"] == "class-transition"


def one_line_error(result, *, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 if code == 1 else lines, result.output
    return result.output


def test_missing_bucket_is_one_line(s3_server):
    options = json.dumps(s3_server.storage_options)
    for command in ("info", "analyse", "serve"):
        result = CliRunner().invoke(
            main, [command, "s3://rd-missing-bucket-2/run", "--storage-options", options]
        )
        output = one_line_error(result)
        assert "'rd-missing-bucket-2'" in output and "does not exist" in output
        assert s3_server.secret not in output


def test_no_run_and_not_a_run_are_one_line(s3_server):
    import zarr

    options = s3_server.storage_options
    empty = s3_server.url("empty")
    output = one_line_error(
        CliRunner().invoke(main, ["analyse", empty, "--storage-options", json.dumps(options)])
    )
    assert "No ReprDynamics run at" in output and empty in output
    other = s3_server.url("other")
    zarr.open_group(other, mode="w", storage_options=options).attrs["x"] = 1
    output = one_line_error(
        CliRunner().invoke(main, ["info", other, "--storage-options", json.dumps(options)])
    )
    assert "not a ReprDynamics run" in output


def test_bad_credentials_are_one_line_without_the_secret(s3_server, s3_run):
    secret = "cli-wrong-secret-4242"
    options = {
        "key": s3_server.iam_key,
        "secret": secret,
        "client_kwargs": {"endpoint_url": s3_server.endpoint_url, "region_name": "us-east-1"},
    }
    with s3_server.require_auth():
        result = CliRunner().invoke(
            main, ["info", s3_run, "--storage-options", json.dumps(options)]
        )
    output = one_line_error(result)
    assert "refused access" in output and s3_run in output
    assert secret not in output and s3_server.iam_secret not in output


def test_missing_credentials_in_a_subprocess_are_one_line(s3_server, s3_run):
    env = {"AWS_ENDPOINT_URL": s3_server.endpoint_url, "AWS_DEFAULT_REGION": "us-east-1"}
    env.update(AWS_EC2_METADATA_DISABLED="true", AWS_SHARED_CREDENTIALS_FILE="/nonexistent")
    result = cli("info", s3_run, env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: No credentials") and "AWS_ACCESS_KEY_ID" in lines[0]


def test_unreachable_endpoint_is_one_line(s3_server):
    options = dict(s3_server.storage_options)
    options["client_kwargs"] = {"endpoint_url": "http://127.0.0.1:9", "region_name": "us-east-1"}
    result = CliRunner().invoke(
        main, ["info", "s3://some-bucket/run", "--storage-options", json.dumps(options)]
    )
    output = one_line_error(result)
    assert "Cannot reach the object store" in output and "http://127.0.0.1:9" in output
    assert s3_server.secret not in output


@pytest.mark.parametrize(
    ("value", "message"),
    [("{not json", "is not valid JSON"), ("[1, 2]", "must be a JSON object")],
)
def test_malformed_storage_options_are_usage_errors(s3_run, value, message):
    result = CliRunner().invoke(main, ["info", s3_run, "--storage-options", value])
    assert result.exit_code == 2, result.output
    assert message in result.output and "--storage-options" in result.output


def test_storage_options_need_a_url(tmp_path):
    record(tmp_path / "run")
    result = CliRunner().invoke(
        main, ["analyse", str(tmp_path / "run"), "--storage-options", '{"anon": true}']
    )
    assert result.exit_code == 2, result.output
    assert "only used with a run's URL" in result.output
