"""A run in object storage (a real S3 server on loopback) analysed on a 2-worker Dask cluster.

The workers open the run from the bucket themselves; the numbers equal those of the same
run recorded locally, and the neighbour stack lands in the bucket's cache, chunked per
snapshot.
"""

from __future__ import annotations

import numpy as np
import pytest

import reprdynamics as rd
from reprdynamics.analysis import api

N, C, T = 120, 4, 5


def _record(location, **kwargs):
    rng = np.random.default_rng(11)
    labels = rng.integers(0, C, N)
    with rd.Recorder(location, n_samples=N, labels=labels, **kwargs) as rec:
        for t in range(T):
            logits = np.eye(C)[labels] * t + rng.normal(size=(N, C))
            rec.store_batch(logits.astype(np.float32), ids=np.arange(N), epoch=t)
            rec.end_snapshot(metrics={"loss": 1.0 / (t + 1)})


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=None, host="127.0.0.1"
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def test_a_bucket_run_on_a_local_cluster_equals_the_local_run(s3_server, client, tmp_path):
    url = s3_server.url("run")
    _record(url, storage_options=s3_server.storage_options)
    _record(tmp_path / "local")
    remote = rd.open_run(url, mode="r+", storage_options=s3_server.storage_options)
    api._MEMO.clear()
    for kind in ("neighbour-transition", "neighbour-state"):
        got = rd.fingerprint(remote, kind, k=6, scheduler=client)
        expected = rd.fingerprint(tmp_path / "local", kind, k=6)
        np.testing.assert_array_equal(got.matrix, expected.matrix, err_msg=kind)
    table = rd.sample_dynamics(remote, neighbour_k=6, scheduler=client)
    local = rd.sample_dynamics(tmp_path / "local", neighbour_k=6)
    np.testing.assert_array_equal(table["neighbour_stability"], local["neighbour_stability"])
    # The workers wrote the stack into the bucket's cache, one chunk per snapshot.
    bucket, prefix = url.removeprefix("s3://").split("/", 1)
    keys = s3_server.list_keys(bucket, prefix + "/cache/")
    chunks = [key for key in keys if "/indices/c/" in key]
    assert len(chunks) == T, chunks
    api._MEMO.clear()
    again = api.neighbours(remote, k=6)
    assert again.params["cached"] is True and again.lazy
    # No credential reached the run.
    for key in s3_server.list_keys(bucket, prefix + "/"):
        assert s3_server.secret.encode() not in s3_server.read_object(bucket, key)
