"""A bounded fuzz of the HTTP API with schemathesis, against a real server (``reprdynamics
serve`` in a subprocess) on a copy of the bundled sample run and a small recorded run:
every request generated from the OpenAPI description must get an answer the description
allows, and never a 5xx. Each operation gets ``FUZZ_EXAMPLES`` requests (environment
variable; 15 by default, a few minutes in all).
"""

from __future__ import annotations

import importlib.resources
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import reprdynamics as rd
from processes import free_port, stop

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
RUNS = ("sample", "small")
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)


def _small_run(path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 64
    labels = np.arange(n) % 4
    images = rng.integers(0, 255, (n, 8, 8), dtype=np.uint8)
    with rd.Recorder(path, n_samples=n, labels=labels, inputs=images) as rec:
        for epoch in range(5):
            logits = np.eye(4)[labels] * epoch + rng.normal(size=(n, 4))
            rec.store_batch(logits, ids=np.arange(n), epoch=epoch)
            rec.store_batch(rng.normal(size=(n, 6)), ids=np.arange(n), layer="hidden")
            rec.end_snapshot(metrics={"loss": 1 / (epoch + 1)})
    rec.run.write_extra("label_flipped", np.arange(n) % 7 == 0)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(
        Path(str(importlib.resources.files("reprdynamics") / "sample_run")), root / "sample"
    )
    _small_run(root / "small")
    port = free_port()
    # The log goes to a file: a pipe nobody reads fills up and blocks the server.
    log_path = root / "server.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from reprdynamics.cli import main; main()",
            "serve",
            str(root),
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/api/runs", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited: {log_path.read_text()}") from None
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("the server did not start in 30 s")
    yield url
    stop(proc, timeout=20)
    log.close()
    output = log_path.read_text()
    # No traceback was logged for any request (errors are answered, not raised).
    assert "Traceback" not in output, output[-4000:]


@pytest.fixture(scope="module")
def api_schema(server):
    return schemathesis.openapi.from_url(f"{server}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_error_and_answers_as_described(case):
    # Most requests name a run that exists, so they reach the endpoint's own checks; the
    # rest keep the generated name and must get a 404.
    params = case.path_parameters or {}
    if "run" in params and len(str(params["run"])) % 4 != 3:
        params["run"] = RUNS[len(str(params["run"])) % 2]
    response = case.call(timeout=60)
    if response.status_code == 202:  # a computation started: poll it to its answer
        for _ in range(600):
            time.sleep(0.05)
            response = case.call(timeout=60)
            if response.status_code != 202:
                break
    case.validate_response(response, checks=CHECKS)
