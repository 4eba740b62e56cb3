"""The run store: format, reading, writing, versioning and the derived-result cache.

The behaviour every store location must share lives in :class:`RunStoreContract` (the
pattern of zarr-python's ``StoreTests``); each ``Test*`` subclass supplies one kind of
location through the ``location`` fixture: a local directory, a ``file://`` URL, fsspec's
in-memory filesystem (``memory://``) and a real S3 server (``s3://``, moto on loopback), the
last two through Zarr's ``FsspecStore``.
"""

from __future__ import annotations

import json
import shutil
import types
import uuid
from pathlib import Path

import numpy as np
import pytest
import zarr

import reprdynamics as rd
from reprdynamics.errors import (
    CorruptRunError,
    InvalidParameterError,
    LayerNotFoundError,
    ReprDynamicsError,
    RunExistsError,
    RunNotFoundError,
    UnknownSampleError,
    UnsupportedFormatVersionError,
)
from reprdynamics.storage import FORMAT_NAME, FORMAT_VERSION, create_run, is_run, open_run

N, C, H = 12, 3, 5  # samples, classes (logit dimensions), hidden-layer dimensions


def snapshot_values(t: int, n: int = N) -> dict[str, np.ndarray]:
    """Deterministic layers of snapshot ``t`` (float32, so they round-trip exactly)."""
    rng = np.random.default_rng(100 + t)
    return {
        "logits": rng.standard_normal((n, C)).astype(np.float32),
        "hidden": rng.standard_normal((n, H)).astype(np.float32),
    }


def raw_group(location: str, mode: str) -> zarr.Group:
    """The run's Zarr group opened with zarr alone (zarr cannot create at a file:// URL)."""
    return zarr.open_group(location.removeprefix("file://"), mode=mode)


def write_snapshots(run, n_snapshots: int) -> list[dict[str, np.ndarray]]:
    written = []
    for t in range(n_snapshots):
        layers = snapshot_values(t, run.n_samples)
        run.append_snapshot(layers, epoch=2 * t, step=100 * t, metrics={"loss": 1.0 / (t + 1)})
        written.append(layers)
    return written


class RunStoreContract:
    """What every run location must do. Subclasses provide the ``location`` fixture."""

    @pytest.fixture
    def location(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    # ------------------------------------------------------------------ create / open
    def test_create_then_open_empty_run(self, location):
        run = create_run(location, n_samples=N, class_names=["a", "b", "c"])
        assert run.writable
        assert run.n_snapshots == 0
        assert run.layers == []
        assert is_run(location)
        reopened = open_run(location)
        assert not reopened.writable
        assert reopened.n_samples == N
        assert reopened.n_snapshots == 0
        assert reopened.kind == "logits"
        assert reopened.class_names == ["a", "b", "c"]
        assert reopened.attrs["format"] == FORMAT_NAME
        assert reopened.attrs["format_version"] == FORMAT_VERSION
        assert reopened.complete.shape == (0,)

    def test_nothing_at_location_is_run_not_found(self, location):
        assert not is_run(location)
        with pytest.raises(RunNotFoundError) as info:
            open_run(location)
        assert isinstance(info.value, FileNotFoundError)
        assert isinstance(info.value, ReprDynamicsError)

    def test_group_without_format_attribute_is_not_a_run(self, location):
        raw_group(location, "w").attrs["something"] = "else"
        assert not is_run(location)
        with pytest.raises(RunNotFoundError, match="not a ReprDynamics run"):
            open_run(location)

    def test_newer_format_version_is_refused(self, location):
        create_run(location, n_samples=N)
        raw_group(location, "r+").attrs["format_version"] = FORMAT_VERSION + 1
        expected = f"format_version {FORMAT_VERSION + 1}"
        with pytest.raises(UnsupportedFormatVersionError, match=expected) as info:
            open_run(location)
        assert isinstance(info.value, ValueError)

    @pytest.mark.parametrize("array", ["predictions"])
    def test_missing_array_is_corrupt(self, location, array):
        write_snapshots(create_run(location, n_samples=N), 1)
        del raw_group(location, "r+")[array]
        with pytest.raises(CorruptRunError, match=array):
            open_run(location)

    def test_missing_layer_array_is_corrupt(self, location):
        write_snapshots(create_run(location, n_samples=N), 2)
        group = raw_group(location, "r+")
        del group["representations"]["logits"]
        del group["representations"]["hidden"]
        with pytest.raises(CorruptRunError, match="no layer"):
            open_run(location)

    def test_create_over_existing_run_is_refused_and_data_untouched(self, location):
        run = create_run(location, n_samples=N, labels=np.arange(N) % C)
        written = write_snapshots(run, 2)
        with pytest.raises(RunExistsError, match="overwrite=True") as info:
            create_run(location, n_samples=N + 1)
        assert isinstance(info.value, FileExistsError)
        again = open_run(location)
        assert again.n_samples == N
        assert again.n_snapshots == 2
        np.testing.assert_array_equal(again.labels, np.arange(N) % C)
        for t in range(2):
            np.testing.assert_array_equal(again.read("logits", t), written[t]["logits"])

    def test_overwrite_replaces_the_run(self, location):
        write_snapshots(create_run(location, n_samples=N), 2)
        run = create_run(location, n_samples=N + 1, kind="features", overwrite=True)
        assert run.n_snapshots == 0
        reopened = open_run(location)
        assert reopened.n_samples == N + 1
        assert reopened.kind == "features"
        assert reopened.layers == []

    # ------------------------------------------------------------------ snapshots
    def test_append_and_read_several_layers(self, location):
        run = create_run(location, n_samples=N)
        written = write_snapshots(run, 3)
        for current in (run, open_run(location)):
            assert current.n_snapshots == 3
            assert current.layers == ["logits", "hidden"]  # output layer first
            assert current.layer_dim("logits") == C
            assert current.layer_dim("hidden") == H
            assert current.layer_kind("logits") == "logits"
            assert current.layer_kind("hidden") == "features"
            assert current.layer_dtype("hidden") == np.float32
            for t, layers in enumerate(written):
                for name, values in layers.items():
                    got = current.read(name, t)
                    assert got.shape == (N, values.shape[1])
                    np.testing.assert_array_equal(got, values)
            # default layer is the output layer, default snapshot the last one
            np.testing.assert_array_equal(current.read(), written[-1]["logits"])
            np.testing.assert_array_equal(current.read("hidden", -2), written[1]["hidden"])

    def test_read_given_ids(self, location):
        run = create_run(location, n_samples=N)
        written = write_snapshots(run, 2)
        ids = [7, 0, 11, 3, 3]
        run = open_run(location)
        np.testing.assert_array_equal(run.read("hidden", 1, ids=ids), written[1]["hidden"][ids])
        np.testing.assert_array_equal(
            run.read("logits", 0, ids=np.array(ids)), written[0]["logits"][ids]
        )
        np.testing.assert_array_equal(
            run.predictions(0, ids=ids), written[0]["logits"].argmax(axis=1)[ids]
        )
        assert run.read("hidden", 1, ids=[]).shape == (0, H)

    def test_read_refuses_bad_arguments(self, location):
        run = create_run(location, n_samples=N)
        with pytest.raises(InvalidParameterError, match="no snapshots"):
            run.read()
        write_snapshots(run, 2)
        with pytest.raises(InvalidParameterError, match="snapshot"):
            run.read("logits", 2)
        with pytest.raises(InvalidParameterError, match="snapshot"):
            run.read("logits", -3)
        with pytest.raises(InvalidParameterError):
            run.read("logits", 1.0)  # type: ignore[arg-type]
        with pytest.raises(LayerNotFoundError, match="hidden") as info:
            run.read("missing", 0)
        assert isinstance(info.value, KeyError)
        with pytest.raises(UnknownSampleError, match=r"outside \[0, 12\)") as sample_info:
            run.read("logits", 0, ids=[0, N])
        assert isinstance(sample_info.value, IndexError)
        with pytest.raises(UnknownSampleError):
            run.read("logits", 0, ids=[-1])
        with pytest.raises(UnknownSampleError, match="integers"):
            run.read("logits", 0, ids=[0.5])

    def test_iter_snapshots_is_lazy(self, location, monkeypatch):
        run = create_run(location, n_samples=N)
        written = write_snapshots(run, 4)
        run = open_run(location)
        calls: list[int] = []
        original = run.read

        def counting_read(self, layer=None, snapshot=-1, ids=None):
            calls.append(snapshot)
            return original(layer, snapshot, ids)

        monkeypatch.setattr(run, "read", types.MethodType(counting_read, run))
        stream = run.iter_snapshots("hidden")
        assert isinstance(stream, types.GeneratorType)
        assert calls == []  # creating the iterator reads nothing
        t, first = next(stream)
        assert t == 0 and calls == [0]
        np.testing.assert_array_equal(first, written[0]["hidden"])
        rest = list(stream)
        assert [t for t, _ in rest] == [1, 2, 3]
        assert calls == [0, 1, 2, 3]
        for t, values in rest:
            np.testing.assert_array_equal(values, written[t]["hidden"])

        ids = [5, 1]
        subset = list(run.iter_snapshots("logits", ids=ids))
        assert len(subset) == 4
        for t, values in subset:
            np.testing.assert_array_equal(values, written[t]["logits"][ids])

    def test_iter_snapshots_skips_incomplete_unless_asked(self, location):
        run = create_run(location, n_samples=N)
        recorded = np.ones(N, dtype=bool)
        recorded[[2, 9]] = False
        for t in range(3):
            layers = {"logits": snapshot_values(t)["logits"]}
            if t == 1:
                layers["logits"][~recorded] = np.nan
            run.append_snapshot(layers, recorded=recorded if t == 1 else None)
        assert [t for t, _ in run.iter_snapshots()] == [0, 2]
        assert [t for t, _ in run.iter_snapshots(complete_only=False)] == [0, 1, 2]

    def test_layers_must_stay_the_same(self, location):
        run = create_run(location, n_samples=N)
        write_snapshots(run, 1)
        with pytest.raises(InvalidParameterError, match="same layers"):
            run.append_snapshot({"logits": snapshot_values(1)["logits"]})
        bad = snapshot_values(1)
        bad["hidden"] = bad["hidden"][:, :2]
        with pytest.raises(InvalidParameterError, match="dimensions"):
            run.append_snapshot(bad)
        with pytest.raises(InvalidParameterError, match="shape"):
            run.append_snapshot({"logits": np.zeros((N - 1, C)), "hidden": np.zeros((N - 1, H))})
        with pytest.raises(InvalidParameterError):
            run.append_snapshot({})
        assert open_run(location).n_snapshots == 1

    def test_float16_storage(self, location):
        run = create_run(location, n_samples=N)
        values = snapshot_values(0)
        run.append_snapshot(values, dtype="float16")
        run.append_snapshot(snapshot_values(1))  # later snapshots keep the layer's dtype
        reopened = open_run(location)
        assert reopened.layer_dtype("logits") == np.float16
        got = reopened.read("hidden", 0)
        assert got.dtype == np.float16
        np.testing.assert_array_equal(got, values["hidden"].astype(np.float16))

    # ------------------------------------------------------------------ per-sample data
    def test_labels_and_inputs(self, location):
        labels = np.array([0, 1, 2, -1] * (N // 4))
        inputs = np.random.default_rng(0).integers(0, 256, (N, 4, 4, 3), dtype=np.uint8)
        create_run(location, n_samples=N, labels=labels, inputs=inputs)
        run = open_run(location)
        assert run.has_labels and run.has_inputs
        np.testing.assert_array_equal(run.labels, labels)
        assert run.class_names == ["0", "1", "2"]  # derived from the labels
        assert run.n_classes == 3
        assert run.inputs_shape == (N, 4, 4, 3)
        np.testing.assert_array_equal(run.inputs(), inputs)
        np.testing.assert_array_equal(run.inputs([3, 1]), inputs[[3, 1]])
        assert run.inputs().dtype == np.uint8

    def test_run_without_labels_or_inputs(self, location):
        create_run(location, n_samples=N)
        run = open_run(location)
        assert not run.has_labels and not run.has_inputs
        assert run.labels is None
        assert run.inputs() is None
        assert run.inputs_shape is None

    def test_snapshot_info_and_metrics(self, location):
        run = create_run(location, n_samples=N)
        values = snapshot_values(0)
        run.append_snapshot(values, epoch=0, step=10, metrics={"loss": np.float32(2.5)})
        run.append_snapshot(values, epoch=3, step=40, metrics={"accuracy": 0.5, "loss": None})
        run.append_snapshot(values, epoch=5, metrics={"loss": float("nan"), "accuracy": 0.75})
        run.set_metrics(0, {"val_loss": 3})
        run = open_run(location)
        assert run.epochs == [0, 3, 5]
        assert [s.step for s in run.snapshots] == [10, 40, None]
        assert [s.index for s in run.snapshots] == [0, 1, 2]
        assert all(isinstance(s.wall_time, float) for s in run.snapshots)
        np.testing.assert_array_equal(run.metric("loss"), [2.5, np.nan, np.nan])
        np.testing.assert_array_equal(run.metric("accuracy"), [np.nan, 0.5, 0.75])
        np.testing.assert_array_equal(run.metric("val_loss"), [3.0, np.nan, np.nan])
        np.testing.assert_array_equal(run.metric("never"), [np.nan] * 3)
        assert set(run.metric_names) == {"loss", "accuracy", "val_loss"}
        with pytest.raises(InvalidParameterError, match="Metric values"):
            open_run(location, mode="r+").set_metrics(0, {"bad": [1, 2]})

    def test_complete_flags_and_predictions(self, location):
        run = create_run(location, n_samples=N)
        logits = snapshot_values(0)["logits"]
        run.append_snapshot({"logits": logits})
        recorded = np.ones(N, dtype=bool)
        recorded[[1, 4]] = False
        partial = logits.copy()
        partial[~recorded] = np.nan
        run.append_snapshot({"logits": partial}, recorded=recorded)
        run = open_run(location)
        np.testing.assert_array_equal(run.complete, [True, False])
        np.testing.assert_array_equal(run.complete_snapshots, [0])
        expected = logits.argmax(axis=1)
        np.testing.assert_array_equal(run.predictions(0), expected)
        assert run.predictions(0).dtype == np.int64
        expected[[1, 4]] = -1
        np.testing.assert_array_equal(run.predictions(1), expected)
        assert np.isnan(run.read("logits", 1)[[1, 4]]).all()
        assert np.isfinite(run.read("logits", 1)[recorded]).all()

    def test_features_kind_has_no_predictions(self, location):
        run = create_run(location, n_samples=N, kind="features", output_layer="features")
        run.append_snapshot({"features": snapshot_values(0)["hidden"]})
        np.testing.assert_array_equal(open_run(location).predictions(0), np.full(N, -1))

    def test_extras_and_metadata(self, location):
        run = create_run(location, n_samples=N, metadata={"lr": 0.1})
        run.write_extra("noisy", np.arange(N) % 2 == 0)
        with pytest.raises(RunExistsError):
            run.write_extra("noisy", np.zeros(N, dtype=bool))
        run.write_extra("noisy", np.ones(N, dtype=bool), overwrite=True)
        run.update_metadata(momentum=0.9)
        run = open_run(location)
        assert run.extras == ["noisy"]
        np.testing.assert_array_equal(run.extra("noisy"), np.ones(N, dtype=bool))
        with pytest.raises(KeyError, match="noisy"):
            run.extra("other")
        assert run.metadata == {"lr": 0.1, "momentum": 0.9}

    # ------------------------------------------------------------------ access modes
    def test_read_only_run_refuses_writes(self, location):
        write_snapshots(create_run(location, n_samples=N), 1)
        run = open_run(location)
        with pytest.raises(PermissionError, match="read-only"):
            run.append_snapshot(snapshot_values(1))
        with pytest.raises(PermissionError):
            run.set_metrics(0, {"loss": 1.0})
        with pytest.raises(PermissionError):
            run.write_extra("x", np.zeros(N))
        with pytest.raises(PermissionError):
            run.update_metadata(a=1)
        assert run.cache_put("thing", {"k": 1}, {"x": np.arange(3)}) is False
        assert open_run(location).n_snapshots == 1

    def test_append_after_reopening_read_write(self, location):
        write_snapshots(create_run(location, n_samples=N), 2)
        run = open_run(location, mode="r+")
        run.append_snapshot(snapshot_values(2), epoch=4)
        again = open_run(location)
        assert again.n_snapshots == 3
        np.testing.assert_array_equal(again.read("hidden", 2), snapshot_values(2)["hidden"])

    def test_refresh_sees_snapshots_appended_elsewhere(self, location):
        writer = create_run(location, n_samples=N)
        write_snapshots(writer, 1)
        reader = open_run(location)
        writer.append_snapshot(snapshot_values(1), epoch=1)
        assert reader.n_snapshots == 1  # a consistent view until refreshed
        assert reader.refresh().n_snapshots == 2
        np.testing.assert_array_equal(reader.read("logits", 1), snapshot_values(1)["logits"])

    def test_open_mode_is_validated(self, location):
        create_run(location, n_samples=N)
        with pytest.raises(InvalidParameterError, match="'mode'"):
            open_run(location, mode="w")

    # ------------------------------------------------------------------ cache
    def test_cache_round_trip_and_invalidation(self, location):
        run = create_run(location, n_samples=N)
        write_snapshots(run, 2)
        params = {"k": 5, "layer": "logits", "ids": [1, 2]}
        arrays = {"matrix": np.eye(2), "order": np.arange(4, dtype=np.int32)}
        assert run.cache_get("fingerprint", params) is None
        assert run.cache_put("fingerprint", params, arrays) is True

        for current in (run, open_run(location)):
            got = current.cache_get("fingerprint", params)
            assert got is not None and set(got) == {"matrix", "order"}
            np.testing.assert_array_equal(got["matrix"], arrays["matrix"])
            np.testing.assert_array_equal(got["order"], arrays["order"])
            assert got["order"].dtype == np.int32
            assert current.cache_get("fingerprint", {**params, "k": 6}) is None
            assert current.cache_get("other", params) is None

        # putting again under the same parameters replaces the entry
        run.cache_put("fingerprint", params, {"matrix": np.zeros((3, 3))})
        assert set(run.cache_get("fingerprint", params)) == {"matrix"}

        # a new snapshot changes the state: the entry no longer answers
        token = run.state_token()
        run.append_snapshot(snapshot_values(2))
        assert run.state_token() != token
        assert run.cache_get("fingerprint", params) is None
        assert open_run(location).cache_get("fingerprint", params) is None

    def test_metrics_do_not_invalidate_the_cache(self, location):
        run = create_run(location, n_samples=N)
        write_snapshots(run, 1)
        run.cache_put("x", {}, {"a": np.ones(2)})
        run.set_metrics(0, {"val": 1.0})
        assert run.cache_get("x", {}) is not None


class TestLocalDirectory(RunStoreContract):
    @pytest.fixture
    def location(self, tmp_path) -> str:
        return str(tmp_path / "run")


class TestFileURL(RunStoreContract):
    @pytest.fixture
    def location(self, tmp_path) -> str:
        return (tmp_path / "run").as_uri()

    def test_url_and_path_name_the_same_run(self, location):
        write_snapshots(create_run(location, n_samples=N), 1)
        path = location[len("file://") :]
        assert (Path(path) / "zarr.json").is_file()
        assert open_run(path).n_snapshots == 1


class TestMemoryURL(RunStoreContract):
    """fsspec's in-memory filesystem, reached through Zarr's FsspecStore like ``s3://``."""

    @pytest.fixture
    def location(self):
        fsspec = pytest.importorskip("fsspec", reason="memory:// needs fsspec")
        path = f"memory://reprdynamics-tests/{uuid.uuid4().hex}/run"
        yield path
        fs = fsspec.filesystem("memory")
        root = path[len("memory://") :].rsplit("/", 1)[0]
        if fs.exists(root):
            fs.rm(root, recursive=True)

    def test_storage_options_are_passed_on(self, location):
        write_snapshots(create_run(location, n_samples=N, storage_options={}), 1)
        assert open_run(location, storage_options={"skip_instance_cache": False}).n_snapshots == 1


class TestS3URL(RunStoreContract):
    """A real S3 server on loopback (``s3_server`` in ``tests/conftest.py``), through s3fs.

    The contract's calls pass no storage options: credentials and endpoint come from the
    environment, as they would on a cluster.
    """

    @pytest.fixture
    def location(self, s3_server, monkeypatch):
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_REGION"):
            monkeypatch.delenv(name, raising=False)
        for name, value in s3_server.env.items():
            monkeypatch.setenv(name, value)
        return s3_server.url("run")

    def test_storage_options_instead_of_the_environment(self, location, s3_server, monkeypatch):
        for name in s3_server.env:
            monkeypatch.delenv(name)
        options = s3_server.storage_options
        write_snapshots(create_run(location, n_samples=N, storage_options=options), 2)
        run = open_run(location, storage_options=options)
        assert run.n_snapshots == 2
        assert run.storage_options == options
        assert is_run(location, storage_options=options)


# ---------------------------------------------------------------------- local files only
@pytest.fixture
def run_dir(tmp_path) -> Path:
    return tmp_path / "run"


def edit_attributes(run_dir: Path, **changes) -> None:
    """Edit the group's zarr.json as a user with a text editor (or another tool) would."""
    meta_path = run_dir / "zarr.json"
    meta = json.loads(meta_path.read_text())
    for key, value in changes.items():
        if value is None:
            meta["attributes"].pop(key, None)
        else:
            meta["attributes"][key] = value
    meta_path.write_text(json.dumps(meta))


def test_format_version_edited_in_zarr_json_is_refused(run_dir):
    write_snapshots(create_run(run_dir, n_samples=N), 1)
    edit_attributes(run_dir, format_version=FORMAT_VERSION + 1)
    with pytest.raises(UnsupportedFormatVersionError, match=f"up to {FORMAT_VERSION}"):
        open_run(run_dir)
    edit_attributes(run_dir, format_version=0)
    with pytest.raises(UnsupportedFormatVersionError):
        open_run(run_dir)


@pytest.mark.parametrize("version", ["1", 1.0, True, None])
def test_invalid_format_version_is_corrupt(run_dir, version):
    create_run(run_dir, n_samples=N)
    meta_path = run_dir / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["attributes"]["format_version"] = version
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CorruptRunError, match="format_version"):
        open_run(run_dir)


def test_missing_format_attribute_is_not_a_run(run_dir):
    create_run(run_dir, n_samples=N)
    edit_attributes(run_dir, format=None)
    assert not is_run(run_dir)
    with pytest.raises(RunNotFoundError):
        open_run(run_dir)


@pytest.mark.parametrize("key", ["n_samples", "consolidated", "kind"])
def test_missing_required_attribute_is_corrupt(run_dir, key):
    create_run(run_dir, n_samples=N)
    edit_attributes(run_dir, **{key: None})
    with pytest.raises(CorruptRunError, match=key):
        open_run(run_dir)


def test_unreadable_metadata_is_corrupt(run_dir):
    create_run(run_dir, n_samples=N)
    (run_dir / "zarr.json").write_text("{ not json")
    assert not is_run(run_dir)
    with pytest.raises(CorruptRunError, match="cannot be read"):
        open_run(run_dir)


@pytest.mark.parametrize("array", ["predictions", "representations"])
def test_deleted_array_directory_is_corrupt(run_dir, array):
    write_snapshots(create_run(run_dir, n_samples=N), 2)
    shutil.rmtree(run_dir / array)
    with pytest.raises(CorruptRunError):
        open_run(run_dir)


def test_array_shorter_than_snapshot_list_is_corrupt(run_dir):
    write_snapshots(create_run(run_dir, n_samples=N), 2)
    capacity = zarr.open_group(str(run_dir), mode="r")["predictions"].shape[0]
    edit_attributes(
        run_dir,
        consolidated=[
            {"index": t, "epoch": t, "step": None, "wall_time": None, "metrics": {}}
            for t in range(capacity + 1)
        ],
    )
    with pytest.raises(CorruptRunError, match=f"lists {capacity + 1} snapshots"):
        open_run(run_dir)


def test_missing_path_and_empty_directory_are_not_runs(tmp_path):
    for where in (tmp_path / "absent", tmp_path):
        with pytest.raises(RunNotFoundError, match="No ReprDynamics run"):
            open_run(where)
        assert not is_run(where)


def test_legacy_save_directory_gets_an_import_hint(tmp_path):
    legacy = tmp_path / "old"
    legacy.mkdir()
    (legacy / "snapshots.json").write_text(json.dumps([[[0.1, 0.2]], [[0.3, 0.4]]]))
    with pytest.raises(RunNotFoundError, match="import-legacy") as info:
        open_run(legacy)
    assert "original ReprDynamics" in str(info.value)


def test_non_empty_directory_is_not_overwritten(tmp_path):
    target = tmp_path / "precious"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(RunExistsError, match="not empty and holds no ReprDynamics run"):
        create_run(target, n_samples=N)
    assert (target / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]


def test_create_in_existing_empty_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    create_run(tmp_path / "empty", n_samples=N)
    assert is_run(tmp_path / "empty")


def test_readers_need_only_zarr(run_dir):
    """The format is plain Zarr v3: readable without this library."""
    labels = np.arange(N) % C
    written = write_snapshots(create_run(run_dir, n_samples=N, labels=labels), 2)
    group = zarr.open_group(str(run_dir), mode="r")
    assert group.attrs["format"] == "reprdynamics"
    entries = [group[f"snapshots/{t}"].attrs for t in range(2)]
    assert [e["epoch"] for e in entries] == [0, 2]
    assert [e["complete"] for e in entries] == [True, True]
    assert "2" not in group["snapshots"]  # T is the number of entries
    logits = group["representations/logits"]
    assert logits.shape[0] >= 2 and logits.shape[1:] == (N, C) and logits.dtype == np.float32
    np.testing.assert_array_equal(logits[1], written[1]["logits"])
    assert group["predictions"].dtype == np.int32
    np.testing.assert_array_equal(group["predictions"][0], written[0]["logits"].argmax(axis=1))
    np.testing.assert_array_equal(group["labels"][:], labels)


def test_uncommitted_rows_are_ignored_and_overwritten(run_dir):
    """A killed append leaves rows past the committed snapshots; readers and the next append
    must not be fooled by them."""
    run = create_run(run_dir, n_samples=N)
    write_snapshots(run, 1)
    group = zarr.open_group(str(run_dir), mode="r+")
    for name, dim in (("logits", C), ("hidden", H)):
        arr = group["representations"][name]
        arr[1] = np.full((N, dim), 99.0)
    group["predictions"][1] = np.full(N, 7)

    reopened = open_run(run_dir, mode="r+")
    assert reopened.n_snapshots == 1
    assert [t for t, _ in reopened.iter_snapshots()] == [0]
    values = snapshot_values(1)
    recorded = np.ones(N, dtype=bool)
    recorded[0] = False
    values["logits"][0] = np.nan
    values["hidden"][0] = np.nan
    reopened.append_snapshot(values, recorded=recorded)
    final = open_run(run_dir)
    assert final.n_snapshots == 2
    np.testing.assert_array_equal(final.read("hidden", 1), values["hidden"])
    assert final.predictions(1)[0] == -1
    assert not final.complete[1]


def test_layers_left_by_a_killed_first_append_are_replaced(run_dir):
    run = create_run(run_dir, n_samples=N)
    group = zarr.open_group(str(run_dir), mode="r+")
    group["representations"].create_array("ghost", shape=(1, N, 2), dtype="float64")
    group["representations"].create_array("logits", shape=(1, N, 7), dtype="float16")
    reopened = open_run(run_dir, mode="r+")
    assert reopened.layers == []
    reopened.append_snapshot({"logits": snapshot_values(0)["logits"]})
    reopened.append_snapshot({"logits": snapshot_values(1)["logits"]})
    final = open_run(run_dir)
    assert final.layers == ["logits"]
    assert final.layer_dtype("logits") == np.float32
    np.testing.assert_array_equal(final.read("logits", 1), snapshot_values(1)["logits"])
    del run


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": True}, "n_samples"),
        ({"n_samples": 2.0}, "n_samples"),
        ({"n_samples": N, "kind": "scores"}, "kind"),
        ({"n_samples": N, "labels": np.zeros(N - 1, dtype=int)}, "labels"),
        ({"n_samples": N, "labels": np.full(N, 0.5)}, "labels"),
        ({"n_samples": N, "labels": np.full(N, -2)}, "labels"),
        ({"n_samples": N, "inputs": np.zeros((N - 1, 2))}, "inputs"),
        ({"n_samples": N, "inputs": np.array(["a"] * N)}, "inputs"),
        ({"n_samples": N, "storage_options": {"anon": True}}, "storage_options"),
    ],
)
def test_create_run_validates_parameters(run_dir, kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        create_run(run_dir, **kwargs)
    assert not is_run(run_dir)


def test_float_labels_that_are_whole_numbers_are_accepted(run_dir):
    create_run(run_dir, n_samples=4, labels=[0.0, 1.0, -1.0, 2.0])
    np.testing.assert_array_equal(open_run(run_dir).labels, [0, 1, -1, 2])


def test_repr_and_name(run_dir):
    run = create_run(run_dir, n_samples=N)
    write_snapshots(run, 1)
    assert run.name == "run"
    assert "T=1" in repr(run) and "logits[3]" in repr(run)


def test_overwrite_never_deletes_a_directory_that_is_not_a_run(tmp_path):
    target = tmp_path / "checkpoints"
    target.mkdir()
    (target / "model.ckpt").write_text("weights")
    with pytest.raises(RunExistsError, match="refusing"):
        create_run(target, n_samples=3, overwrite=True)
    with pytest.raises(RunExistsError, match="refusing"):
        rd.Recorder(target, n_samples=3, overwrite=True)
    assert (target / "model.ckpt").read_text() == "weights"
