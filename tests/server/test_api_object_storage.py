"""The dashboard serving a run from object storage (``s3://``), against a real S3 server."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import reprdynamics as rd
from reprdynamics.analysis import api
from reprdynamics.errors import BucketNotFoundError, InvalidParameterError, RunNotFoundError
from reprdynamics.server.app import create_app
from reprdynamics.server.arrays import decode_compact
from reprdynamics.server.impl import Workspace

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note on httpx vs httpx2
    from starlette.testclient import TestClient

N, C, D, T = 30, 3, 4, 5


@pytest.fixture(autouse=True)
def no_aws_environment(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def record(location, **kwargs) -> None:
    rng = np.random.default_rng(0)
    y = np.arange(N) % C
    images = rng.integers(0, 256, size=(N, 8, 8), dtype=np.uint8)
    with rd.Recorder(location, n_samples=N, labels=y, inputs=images, **kwargs) as rec:
        for epoch in range(T):
            hidden = np.eye(C, D)[y] * epoch + rng.normal(size=(N, D))
            rec.store_batch(hidden[:, :C] * 2, ids=np.arange(N), epoch=epoch)
            rec.store_batch(hidden, ids=np.arange(N), epoch=epoch, layer="hidden")
            rec.end_snapshot(metrics={"accuracy": epoch / T})


@pytest.fixture(scope="module")
def s3_run(s3_server) -> str:
    url = s3_server.url("exp-s3")
    record(url, storage_options=s3_server.storage_options)
    return url


def get(client: TestClient, url: str) -> dict:
    for _ in range(400):
        response = client.get(url)
        if response.status_code == 200:
            return response.json()
        assert response.status_code == 202, (url, response.status_code, response.text)
    raise AssertionError(f"{url} did not finish")


def test_serve_a_run_url(s3_server, s3_run):
    app = create_app(s3_run, storage_options=s3_server.storage_options, job_grace=10.0)
    with TestClient(app) as client:
        listing = client.get("/api/runs")
        assert listing.status_code == 200
        body = listing.json()
        assert body["kind"] == "run" and body["root"] == s3_run
        assert [r["name"] for r in body["runs"]] == ["exp-s3"]
        assert body["runs"][0]["n_snapshots"] == T
        assert s3_server.secret not in listing.text and s3_server.key not in listing.text

        overview = client.get("/api/runs/exp-s3")
        assert overview.status_code == 200
        assert s3_server.secret not in overview.text

        data = get(client, "/api/runs/exp-s3/fingerprint?kind=neighbour-transition&k=3")
        run = rd.open_run(s3_run, storage_options=s3_server.storage_options)
        expected = api.fingerprint(run, "neighbour-transition", k=3)
        np.testing.assert_allclose(
            decode_compact(data["matrix"]), expected.matrix.astype(np.float32)
        )
        thumbs = client.get("/api/runs/exp-s3/thumbs.png?ids=0,1,2")
        assert thumbs.status_code == 200, thumbs.text
        assert thumbs.headers["content-type"] == "image/png"


def test_serve_a_run_url_with_credentials_from_the_environment(s3_server, s3_run, monkeypatch):
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    with TestClient(create_app(s3_run)) as client:
        body = client.get("/api/runs").json()
        assert body["runs"][0]["n_samples"] == N
        assert "error" not in body["runs"][0]


def test_a_store_failing_later_is_a_502_naming_the_run(s3_server, s3_run):
    app = create_app(s3_run, storage_options=s3_server.storage_options)
    with TestClient(app) as client:
        with s3_server.require_auth():  # the key is not known to the server now
            response = client.get("/api/runs/exp-s3")
        assert response.status_code == 502, response.text
        body = response.json()
        assert "refused access" in body["error"] and s3_run in body["error"]
        assert body["parameter"] == "run"
        assert s3_server.secret not in response.text
        listing = client.get("/api/runs")  # and afterwards it answers again
        assert listing.status_code == 200


def test_bad_urls_are_refused_at_start(s3_server):
    options = s3_server.storage_options
    with pytest.raises(BucketNotFoundError, match="rd-missing-bucket-1"):
        create_app("s3://rd-missing-bucket-1/run", storage_options=options)
    with pytest.raises(RunNotFoundError, match="nothing is stored there"):
        create_app(s3_server.url("nothing"), storage_options=options)
    with pytest.raises(InvalidParameterError, match="only used with a run's URL"):
        Workspace(None, storage_options=options)


def test_the_api_never_shows_storage_options(s3_server, s3_run):
    app = create_app(s3_run, storage_options=s3_server.storage_options)
    with TestClient(app) as client:
        for path in ("/api/runs", "/api/runs/exp-s3", "/api/runs/exp-s3/labels", "/openapi.json"):
            response = client.get(path)
            assert response.status_code == 200, (path, response.text)
            assert s3_server.secret not in response.text, path
            assert json.dumps(s3_server.secret) not in response.text
