"""Shared fixtures: the original tool's sample save directory, and a real S3 server."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from processes import free_port, stop

REPO_ROOT = Path(__file__).resolve().parents[1]
LEGACY_SAMPLE = REPO_ROOT.parent / "shared" / "legacy_sample"


@pytest.fixture(scope="session")
def legacy_sample() -> Path:
    """``../shared/legacy_sample``: skipped where absent, but a failure in CI."""
    if not (LEGACY_SAMPLE / "snapshots.json").is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs the legacy sample at {LEGACY_SAMPLE}, and it is missing.")
        pytest.skip(f"the original tool's sample is not at {LEGACY_SAMPLE} (a clone elsewhere)")
    return LEGACY_SAMPLE


# ---------------------------------------------------------------------- an S3 server
@dataclass(frozen=True)
class S3Server:
    """A real S3-compatible server (moto's standalone server) on loopback.

    Attributes
    ----------
    endpoint_url : str
        ``http://127.0.0.1:PORT``.
    key, secret, region : str
        Credentials and region every client of the tests uses (moto accepts any credentials
        until :meth:`require_auth` is entered; the secret is random per session, so a test
        can check it is never written anywhere).
    """

    endpoint_url: str
    key: str
    secret: str
    region: str
    iam_key: str
    iam_secret: str

    @property
    def storage_options(self) -> dict[str, Any]:
        """Fresh ``storage_options`` for s3fs: credentials, endpoint and region."""
        return {
            "key": self.key,
            "secret": self.secret,
            "client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": self.region},
        }

    @property
    def env(self) -> dict[str, str]:
        """The environment variables that point s3fs/botocore at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
        }

    def _client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
            region_name=self.region,
        )

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh, unique one by default) and return its name."""
        name = name or f"rd-test-{uuid.uuid4().hex[:16]}"
        self._client().create_bucket(Bucket=name)
        return name

    def url(self, path: str = "run", *, bucket: str | None = None) -> str:
        """``s3://BUCKET/path`` in a fresh bucket (or in ``bucket``)."""
        return f"s3://{bucket or self.create_bucket()}/{path}"

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = (
            self._client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    def read_object(self, bucket: str, key: str) -> bytes:
        return self._client().get_object(Bucket=bucket, Key=key)["Body"].read()

    @contextlib.contextmanager
    def require_auth(self) -> Iterator[None]:
        """Within the block the server checks credentials and signatures.

        Only ``iam_key``/``iam_secret`` are valid then. (moto's signature check mishandles
        listings with a ``/`` in the prefix, so the tests keep it off otherwise.)
        """
        self._set_auth(b"0")
        try:
            yield
        finally:
            self._set_auth(b"inf")

    def _set_auth(self, count: bytes) -> None:
        request = urllib.request.Request(
            f"{self.endpoint_url}/moto-api/reset-auth",
            data=count,
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


def _need(module: str, what: str) -> None:
    if importlib.util.find_spec(module) is None:
        message = f"{what} need {module!r} (pip install 'reprdynamics[test]')"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the object-storage tests: {message}.")
        pytest.skip(message)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 server in a subprocess on 127.0.0.1, for the whole test session.

    Use it from any test: ``def test_x(s3_server): url = s3_server.url("run")`` gives
    ``s3://<fresh bucket>/run``; pass ``storage_options=s3_server.storage_options`` (or set
    ``s3_server.env`` in the environment). Skipped where moto, boto3 or s3fs is missing,
    but a failure when ``CI=true``.
    """
    for module in ("moto", "boto3", "s3fs"):
        _need(module, "the object-storage tests")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("moto") / "moto_server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"moto_server did not start on {endpoint}:\n{log_path.read_text()[-2000:]}"
                )
            time.sleep(0.1)
        server = _with_iam_user(
            S3Server(
                endpoint_url=endpoint,
                key="AKIAREPRDYNAMICSTEST",
                secret=f"rd-test-secret-{uuid.uuid4().hex}",
                region="us-east-1",
                iam_key="",
                iam_secret="",
            )
        )
        yield server
    finally:
        stop(process, timeout=10)


def _with_iam_user(server: S3Server) -> S3Server:
    """The server with an IAM user allowed everything: its key is valid under auth."""
    import dataclasses
    import json

    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=server.endpoint_url,
        aws_access_key_id=server.key,
        aws_secret_access_key=server.secret,
        region_name=server.region,
    )
    iam.create_user(UserName="reprdynamics-tests")
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    iam.put_user_policy(
        UserName="reprdynamics-tests", PolicyName="all", PolicyDocument=json.dumps(policy)
    )
    access = iam.create_access_key(UserName="reprdynamics-tests")["AccessKey"]
    return dataclasses.replace(
        server, iam_key=access["AccessKeyId"], iam_secret=access["SecretAccessKey"]
    )
