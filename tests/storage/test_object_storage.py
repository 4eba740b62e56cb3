"""Runs in object storage (``s3://``), against a real S3 server on loopback (moto).

Everything goes through Zarr's own fsspec store layer and s3fs, as it would against AWS:
recording, resuming, reading, the derived-result cache, and the errors a person meets
(missing bucket, bad or missing credentials, unreachable endpoint, no run at the URL). The
``s3_server`` fixture is in ``tests/conftest.py``.
"""

from __future__ import annotations

import json
import socket
import time
import traceback
import warnings

import numpy as np
import pytest
import zarr

import reprdynamics as rd
from reprdynamics.errors import (
    BucketNotFoundError,
    InvalidParameterError,
    RecordingError,
    ReprDynamicsError,
    RunExistsError,
    RunNotFoundError,
    StorageAccessError,
    StorageError,
    StorageUnreachableError,
)
from reprdynamics.storage import create_run, is_run, open_run
from reprdynamics.storage.remote import redact, storage_error, zarr_storage_options

N, C, H, T = 24, 3, 5, 4
_AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_PROFILE",
)


@pytest.fixture(autouse=True)
def no_aws_environment(monkeypatch, tmp_path):
    """Nothing of the developer's AWS setup leaks in: only what a test gives is used."""
    for name in _AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def dataset(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(N) % C
    return {
        "labels": labels,
        "inputs": rng.integers(0, 256, (N, 6, 6), dtype=np.uint8),
        "logits": (rng.standard_normal((T, N, C)) + 2 * np.eye(C)[labels]).astype(np.float32),
        "hidden": rng.standard_normal((T, N, H)).astype(np.float32),
    }


def record(location, data, epochs=range(T), **kwargs) -> None:
    """Record ``data``'s snapshots for ``epochs`` in two batches each, with metrics."""
    resume = kwargs.get("resume", False)
    with rd.Recorder(
        location,
        n_samples=N,
        labels=None if resume else data["labels"],
        inputs=None if resume else data["inputs"],
        class_names=None if resume else ["a", "b", "c"],
        metadata=None if resume else {"lr": 0.1},
        **kwargs,
    ) as rec:
        for epoch in epochs:
            for ids in (np.arange(0, N, 2), np.arange(1, N, 2)):
                rec.store_batch(data["logits"][epoch][ids], ids=ids, epoch=epoch)
                rec.store_batch(data["hidden"][epoch][ids], ids=ids, epoch=epoch, layer="hidden")
            rec.end_snapshot(metrics={"loss": 1.0 / (epoch + 1), "accuracy": epoch / T})


def assert_same_run(remote: rd.Run, local: rd.Run) -> None:
    """Everything a reader sees is equal, bit for bit (wall times and creation aside)."""
    assert remote.n_snapshots == local.n_snapshots
    assert remote.n_samples == local.n_samples
    assert remote.layers == local.layers
    assert remote.kind == local.kind
    assert remote.class_names == local.class_names
    assert remote.metadata == local.metadata
    assert remote.epochs == local.epochs
    for name in local.metric_names:
        np.testing.assert_array_equal(remote.metric(name), local.metric(name))
    np.testing.assert_array_equal(remote.complete, local.complete)
    for layer in local.layers:
        assert remote.layer_dtype(layer) == local.layer_dtype(layer)
        for t in range(local.n_snapshots):
            got, want = remote.read(layer, t), local.read(layer, t)
            assert got.dtype == want.dtype
            assert got.tobytes() == want.tobytes()
        np.testing.assert_array_equal(
            remote.read(layer, 1, ids=[5, 0, 3]), local.read(layer, 1, ids=[5, 0, 3])
        )
    for t in range(local.n_snapshots):
        np.testing.assert_array_equal(remote.predictions(t), local.predictions(t))
    np.testing.assert_array_equal(remote.labels, local.labels)
    assert remote.inputs().dtype == local.inputs().dtype == np.uint8
    np.testing.assert_array_equal(remote.inputs(), local.inputs())
    np.testing.assert_array_equal(remote.inputs([7, 2]), local.inputs([7, 2]))
    assert remote.extras == local.extras
    for name in local.extras:
        np.testing.assert_array_equal(remote.extra(name), local.extra(name))


def everything_said(exc: BaseException) -> str:
    """The message and the whole traceback, causes included."""
    return "".join(traceback.format_exception(exc))


# ---------------------------------------------------------------------- recording
def test_recording_on_s3_equals_a_local_recording(s3_server, tmp_path):
    data = dataset()
    url = s3_server.url("experiments/run")
    record(url, data, storage_options=s3_server.storage_options)
    record(tmp_path / "run", data)
    for run in (open_run(url, mode="r+", storage_options=s3_server.storage_options),):
        run.write_extra("flipped", np.arange(N) % 5 == 0)
    open_run(tmp_path / "run", mode="r+").write_extra("flipped", np.arange(N) % 5 == 0)

    remote = open_run(url, storage_options=s3_server.storage_options)
    local = open_run(tmp_path / "run")
    assert remote.location == url
    assert remote.name == "run"
    assert not remote.writable
    assert remote.n_snapshots == T and remote.layers == ["logits", "hidden"]
    assert_same_run(remote, local)
    assert is_run(url, storage_options=s3_server.storage_options)


def test_background_writes_to_s3(s3_server):
    data = dataset(1)
    url = s3_server.url()
    record(url, data, storage_options=s3_server.storage_options, background=True)
    run = open_run(url, storage_options=s3_server.storage_options)
    assert run.n_snapshots == T
    np.testing.assert_array_equal(run.read("hidden", T - 1), data["hidden"][T - 1])


def test_resume_appends_to_a_run_on_s3(s3_server, tmp_path):
    data = dataset(2)
    url = s3_server.url()
    options = s3_server.storage_options
    record(url, data, epochs=range(2), storage_options=options)
    assert open_run(url, storage_options=options).n_snapshots == 2
    record(url, data, epochs=range(2, T), storage_options=options, resume=True)
    record(tmp_path / "run", data)
    remote = open_run(url, storage_options=options)
    assert remote.epochs == list(range(T))
    assert_same_run(remote, open_run(tmp_path / "run"))


def test_resume_refuses_epochs_already_recorded(s3_server):
    data = dataset(3)
    url = s3_server.url()
    record(url, data, epochs=range(2), storage_options=s3_server.storage_options)
    with pytest.raises(RecordingError, match="already holds epoch 1"):
        record(url, data, epochs=[1], storage_options=s3_server.storage_options, resume=True)


def test_credentials_from_the_environment(s3_server, monkeypatch):
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    data = dataset(4)
    url = s3_server.url()
    record(url, data)  # no storage options: s3fs reads the environment
    run = open_run(url)
    assert run.storage_options is None
    assert run.n_snapshots == T
    np.testing.assert_array_equal(run.read("logits", 2), data["logits"][2])
    assert is_run(url)


def test_credentials_are_never_written_into_the_run(s3_server):
    url = s3_server.url("run")
    bucket = url.split("/")[2]
    options = s3_server.storage_options
    record(url, dataset(5), storage_options=options)
    run = open_run(url, mode="r+", storage_options=options)
    run.update_metadata(note="more")
    assert run.cache_put("thing", {"k": 1}, {"x": np.arange(3)})
    keys = s3_server.list_keys(bucket)
    assert "run/zarr.json" in keys and len(keys) > 10
    meta = json.loads(s3_server.read_object(bucket, "run/zarr.json"))
    assert meta["attributes"]["format"] == "reprdynamics"
    for key in keys:
        blob = s3_server.read_object(bucket, key)
        assert s3_server.secret.encode() not in blob, key
        assert s3_server.key.encode() not in blob, key
        assert s3_server.endpoint_url.encode() not in blob, key


# ---------------------------------------------------------------------- the Run object
def test_storage_options_are_kept_on_the_run_not_in_it(s3_server, tmp_path):
    options = s3_server.storage_options
    url = s3_server.url()
    created = create_run(url, n_samples=N, storage_options=options)
    assert created.storage_options == options
    run = open_run(url, storage_options=options)
    assert run.storage_options == options
    got = run.storage_options
    got["secret"] = "changed"
    assert run.storage_options == options  # a copy
    assert "secret" not in json.dumps(run.attrs)
    assert s3_server.secret not in repr(run)
    assert create_run(tmp_path / "local", n_samples=N).storage_options is None


def test_refresh_keeps_the_storage_options(s3_server):
    """No credentials in the environment: refresh works only with the run's own options."""
    data = dataset(6)
    url = s3_server.url()
    options = s3_server.storage_options
    writer = create_run(url, n_samples=N, labels=data["labels"], storage_options=options)
    writer.append_snapshot({"logits": data["logits"][0]}, epoch=0)
    reader = open_run(url, storage_options=options)
    assert reader.n_snapshots == 1
    writer.append_snapshot({"logits": data["logits"][1]}, epoch=1)
    writer.write_extra("late", np.ones(N, dtype=bool))
    assert reader.n_snapshots == 1  # a consistent view until refreshed
    assert reader.refresh() is reader
    assert reader.n_snapshots == 2
    assert reader.extras == ["late"]  # listings are not served from a stale cache
    assert reader.storage_options == options
    np.testing.assert_array_equal(reader.read("logits", 1), data["logits"][1])


def test_a_reader_opened_before_the_first_snapshot_sees_the_layers(s3_server):
    """s3fs caches directory listings by default; a run written elsewhere must not be
    hidden behind a stale one."""
    url = s3_server.url()
    options = s3_server.storage_options
    writer = create_run(url, n_samples=N, storage_options=options)
    reader = open_run(url, storage_options=options)
    assert reader.layers == []
    writer.append_snapshot({"logits": dataset()["logits"][0]}, epoch=0)
    again = open_run(url, storage_options=options)
    assert again.layers == ["logits"]
    assert reader.refresh().layers == ["logits"]


def test_cache_on_s3(s3_server):
    url = s3_server.url()
    options = s3_server.storage_options
    record(url, dataset(7), storage_options=options)
    params = {"k": 5, "layer": "hidden"}
    arrays = {"matrix": np.eye(3), "order": np.arange(4, dtype=np.int32)}
    reader = open_run(url, storage_options=options)
    assert reader.cache_get("fingerprint", params) is None
    assert reader.cache_put("fingerprint", params, arrays) is False  # read-only: nothing
    writer = open_run(url, mode="r+", storage_options=options)
    assert writer.cache_put("fingerprint", params, arrays) is True
    for run in (writer, open_run(url, storage_options=options)):
        got = run.cache_get("fingerprint", params)
        assert got is not None and set(got) == {"matrix", "order"}
        np.testing.assert_array_equal(got["matrix"], arrays["matrix"])
        assert got["order"].dtype == np.int32
        assert run.cache_get("fingerprint", {**params, "k": 6}) is None
    writer.append_snapshot(
        {"logits": dataset()["logits"][0], "hidden": dataset()["hidden"][0]}, epoch=T
    )
    assert writer.cache_get("fingerprint", params) is None  # a new snapshot invalidates


def test_analysis_reads_a_run_on_s3(s3_server, tmp_path):
    data = dataset(8)
    url = s3_server.url()
    record(url, data, storage_options=s3_server.storage_options)
    record(tmp_path / "run", data)
    remote = open_run(url, storage_options=s3_server.storage_options)
    local = open_run(tmp_path / "run")
    for kind in ("neighbour-transition", "class-transition", "cka"):
        got = rd.fingerprint(remote, kind, k=3, layer="hidden")
        want = rd.fingerprint(local, kind, k=3, layer="hidden")
        np.testing.assert_array_equal(got.matrix, want.matrix)


# ---------------------------------------------------------------------- errors
def test_missing_bucket(s3_server):
    url = "s3://rd-no-such-bucket-0/run"
    options = s3_server.storage_options
    with pytest.raises(BucketNotFoundError) as info:
        open_run(url, storage_options=options)
    message = str(info.value)
    assert "'rd-no-such-bucket-0'" in message and url in message and "does not exist" in message
    assert isinstance(info.value, RunNotFoundError | FileNotFoundError | StorageError)
    assert s3_server.secret not in everything_said(info.value)
    assert not is_run(url, storage_options=options)
    with pytest.raises(BucketNotFoundError, match="rd-no-such-bucket-0"):
        create_run(url, n_samples=N, storage_options=options)
    with pytest.raises(BucketNotFoundError, match="Create it first"):
        rd.Recorder(url, n_samples=N, storage_options=options)


def test_nothing_at_the_url(s3_server):
    url = s3_server.url("nothing/here")
    with pytest.raises(RunNotFoundError, match="nothing is stored there") as info:
        open_run(url, storage_options=s3_server.storage_options)
    assert url in str(info.value)
    assert not isinstance(info.value, BucketNotFoundError)
    assert not is_run(url, storage_options=s3_server.storage_options)
    with pytest.raises(RunNotFoundError):
        rd.Recorder(url, resume=True, storage_options=s3_server.storage_options)


def test_a_zarr_group_that_is_not_a_run(s3_server):
    url = s3_server.url("other")
    options = s3_server.storage_options
    group = zarr.open_group(url, mode="w", storage_options=options)
    group.attrs["made_by"] = "someone else"
    group.create_array("x", shape=(3,), dtype="int32")
    with pytest.raises(RunNotFoundError, match="not a ReprDynamics run") as info:
        open_run(url, storage_options=options)
    assert url in str(info.value)
    assert not is_run(url, storage_options=options)
    with pytest.raises(RunExistsError, match="Data already exists"):
        create_run(url, n_samples=N, storage_options=options)
    with pytest.raises(RunExistsError, match="nothing was deleted"):
        create_run(url, n_samples=N, overwrite=True, storage_options=options)
    assert zarr.open_group(url, mode="r", storage_options=options).attrs["made_by"]


def test_existing_run_is_kept_unless_overwritten(s3_server):
    url = s3_server.url()
    options = s3_server.storage_options
    record(url, dataset(), storage_options=options)
    with pytest.raises(RunExistsError, match="overwrite=True"):
        create_run(url, n_samples=N, storage_options=options)
    assert open_run(url, storage_options=options).n_snapshots == T
    replaced = create_run(url, n_samples=N + 1, overwrite=True, storage_options=options)
    assert replaced.n_snapshots == 0
    assert open_run(url, storage_options=options).n_samples == N + 1


@pytest.mark.parametrize("which", ["unknown key", "wrong secret"])
def test_invalid_credentials(s3_server, which):
    url = s3_server.url()
    create_run(url, n_samples=N, storage_options=s3_server.storage_options)
    bad_secret = "not-the-secret-f00d"
    options = {
        "key": "AKIANOSUCHKEY0000000" if which == "unknown key" else s3_server.iam_key,
        "secret": bad_secret,
        "client_kwargs": {"endpoint_url": s3_server.endpoint_url, "region_name": "us-east-1"},
    }
    with s3_server.require_auth():
        with pytest.raises(StorageAccessError) as info:
            open_run(url, storage_options=options)
        with pytest.raises(StorageAccessError):
            is_run(url, storage_options=options)  # not a False that hides the cause
    error = info.value
    assert isinstance(error, PermissionError) and isinstance(error, ReprDynamicsError)
    assert url in str(error) and "refused access" in str(error)
    said = everything_said(error)
    assert bad_secret not in said
    assert s3_server.iam_secret not in said
    assert s3_server.secret not in said


def test_missing_credentials(s3_server):
    url = s3_server.url()
    options = {
        "client_kwargs": {"endpoint_url": s3_server.endpoint_url, "region_name": "us-east-1"},
        "skip_instance_cache": True,
    }
    with pytest.raises(StorageAccessError, match="No credentials") as info:
        open_run(url, storage_options=options)
    assert url in str(info.value)
    assert "AWS_ACCESS_KEY_ID" in str(info.value)
    with pytest.raises(StorageAccessError, match="No credentials"):
        create_run(url, n_samples=N, storage_options=options)


def test_unreachable_endpoint_fails_fast(s3_server):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens there
    options = {
        "key": s3_server.key,
        "secret": s3_server.secret,
        "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
    }
    started = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # un-awaited coroutines of the failed requests
        with pytest.raises(StorageUnreachableError) as info:
            open_run("s3://some-bucket/run", storage_options=options)
        with pytest.raises(StorageUnreachableError):
            create_run("s3://some-bucket/run", n_samples=N, storage_options=options)
    elapsed = time.monotonic() - started
    assert elapsed < 45, f"failing took {elapsed:.0f}s"
    error = info.value
    assert isinstance(error, ConnectionError) and isinstance(error, StorageError)
    assert endpoint in str(error) and "s3://some-bucket/run" in str(error)
    assert s3_server.secret not in everything_said(error)


def test_storage_options_are_validated(s3_server, tmp_path):
    with pytest.raises(InvalidParameterError, match="only used with URLs"):
        open_run(tmp_path / "run", storage_options={"anon": True})
    with pytest.raises(InvalidParameterError, match="only used with URLs"):
        rd.Recorder(tmp_path / "run", n_samples=N, storage_options={"anon": True})
    with pytest.raises(InvalidParameterError, match="mapping"):
        open_run(s3_server.url(), storage_options=["key"])  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="JSON"):
        open_run(s3_server.url(), storage_options="{not json")  # type: ignore[arg-type]
    url = s3_server.url()
    create_run(url, n_samples=N, storage_options=json.dumps(s3_server.storage_options))
    assert open_run(url, storage_options=s3_server.storage_options).n_samples == N


# ---------------------------------------------------------------------- the helpers
def test_fail_fast_defaults_leave_the_users_choices_alone(monkeypatch):
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    given = {"key": "k", "config_kwargs": {"read_timeout": 3}}
    options = zarr_storage_options("s3://b/run", given)
    retries = {"mode": "standard", "total_max_attempts": 3}
    assert options["config_kwargs"] == {"read_timeout": 3, "retries": retries}
    assert options["use_listings_cache"] is False
    assert given == {"key": "k", "config_kwargs": {"read_timeout": 3}}  # not changed
    mine = {"config_kwargs": {"retries": {"max_attempts": 10}}, "use_listings_cache": True}
    assert zarr_storage_options("s3://b/run", mine) == mine
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "8")
    assert "config_kwargs" not in zarr_storage_options("s3://b/run", {})
    assert zarr_storage_options("memory://x/run", {"a": 1}) == {"a": 1}


def test_redact_masks_every_credential(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret-value")
    options = {"key": "AKIA1234", "client_kwargs": {"aws_session_token": "tok-abcdef"}}
    text = "AKIA1234 / tok-abcdef / env-secret-value / us-east-1"
    assert redact(text, options) == "*** / *** / *** / us-east-1"


def test_storage_error_ignores_what_is_not_a_store_failure():
    assert storage_error(ValueError("plain")) is None
    assert storage_error(KeyError("x")) is None
    ours = StorageAccessError("ours")
    assert storage_error(ours) is ours


def test_a_missing_s3fs_gives_one_install_hint(monkeypatch):
    import sys

    from reprdynamics.errors import DependencyMissingError

    monkeypatch.setitem(sys.modules, "s3fs", None)  # import s3fs now raises ImportError
    with pytest.raises(DependencyMissingError, match=r"pip install 'reprdynamics\[s3\]'") as info:
        open_run("s3://bucket/run")
    assert isinstance(info.value, ImportError)
    with pytest.raises(DependencyMissingError, match=r"reprdynamics\[s3\]"):
        rd.Recorder("s3://bucket/run", n_samples=3)
