"""Run.to_xarray: a lazy, labelled view of a run; the Zarr dimension names that let
``xarray.open_zarr`` read a run the same way without this package; runs of earlier
releases (no dimension names, format version 1) still viewed."""

from __future__ import annotations

import importlib.resources
import json
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import zarr
import zarr.storage

from reprdynamics.errors import CorruptRunError, DependencyMissingError
from reprdynamics.storage import create_run, open_run
from reprdynamics.storage.run import dimension_names

xr = pytest.importorskip("xarray")

N, C, H, T = 12, 3, 5, 5
LABELS = np.array([0, 1, 2, -1, 0, 1, 2, 0, -1, 1, 2, 0])


def layer_values(t: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(t)
    return {
        "logits": rng.standard_normal((N, C)).astype(np.float32),
        "hidden": rng.standard_normal((N, H)).astype(np.float32),
    }


def make_run(path: Path, snapshots: int = T) -> Path:
    """A run with spare capacity (8 rows for 5 snapshots), an incomplete snapshot (2), a
    snapshot without a step (3), a metric one snapshot lacks, inputs and two extras."""
    run = create_run(
        path,
        n_samples=N,
        labels=LABELS,
        class_names=["cat", "dog", "eel"],
        inputs=np.arange(N * 4 * 4, dtype=np.uint8).reshape(N, 4, 4),
        metadata={"dataset": "toy", "lr": 0.1},
    )
    for t in range(snapshots):
        recorded = np.ones(N, dtype=bool)
        values = layer_values(t)
        if t == 2:
            recorded[[1, 5]] = False
            for v in values.values():
                v[~recorded] = np.nan
        metrics = {"loss": 1.0 / (t + 1)} | ({} if t == 1 else {"accuracy": t / 10})
        run.append_snapshot(
            values,
            epoch=t,
            step=None if t == 3 else 10 * t,
            metrics=metrics,
            recorded=recorded,
            wall_time=1000.0 + t,
        )
    run.write_extra("label_flipped", np.arange(N) % 5 == 0)
    run.write_extra("pairs", np.arange(N * 2, dtype=np.int64).reshape(N, 2))
    return path


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    return make_run(tmp_path / "run")


def assert_view_equals_run(ds, run) -> None:
    """Every variable of ``ds`` holds what ``run`` reads."""
    assert ds.sizes["snapshot"] == run.n_snapshots and ds.sizes["sample"] == run.n_samples
    for layer in run.layers:
        assert ds[layer].dims == ("snapshot", "sample", f"{layer}_dim")
        for t in range(run.n_snapshots):
            np.testing.assert_array_equal(ds[layer].isel(snapshot=t).values, run.read(layer, t))
    predictions = ds["predictions"].values
    for t in range(run.n_snapshots):
        np.testing.assert_array_equal(predictions[t], run.predictions(t))
    if run.has_labels:
        np.testing.assert_array_equal(ds["labels"].values, run.labels)
    if run.has_inputs:
        np.testing.assert_array_equal(ds["inputs"].values, run.inputs())
    for name in run.extras:
        np.testing.assert_array_equal(ds[name].values, run.extra(name))
    for name in run.metric_names:
        np.testing.assert_array_equal(ds[name].values, run.metric(name))


# --------------------------------------------------------------------------- the view
def test_values_equal_what_the_run_reads(run_dir: Path) -> None:
    run = open_run(run_dir)
    ds = run.to_xarray()
    assert list(ds.data_vars) == [
        "logits",
        "hidden",
        "predictions",
        "inputs",
        "label_flipped",
        "pairs",
        "loss",
        "accuracy",
    ]
    assert_view_equals_run(ds, run)
    # Samples a snapshot did not record are NaN, as Run.read gives them.
    assert np.isnan(ds["logits"].sel(snapshot=2, sample=[1, 5]).values).all()
    assert (ds["predictions"].sel(snapshot=2, sample=[1, 5]).values == -1).all()


def test_dimensions_and_coordinates(run_dir: Path) -> None:
    ds = open_run(run_dir).to_xarray()
    assert dict(ds.sizes) == {
        "snapshot": T,
        "sample": N,
        "logits_dim": C,
        "hidden_dim": H,
        "inputs_dim_1": 4,
        "inputs_dim_2": 4,
        "pairs_dim_1": 2,
    }
    assert ds["predictions"].dims == ("snapshot", "sample")
    assert ds["inputs"].dims == ("sample", "inputs_dim_1", "inputs_dim_2")
    assert ds["label_flipped"].dims == ("sample",)
    assert ds["loss"].dims == ("snapshot",)
    assert set(ds.indexes) == {"snapshot", "sample"}
    np.testing.assert_array_equal(ds["snapshot"], np.arange(T))
    np.testing.assert_array_equal(ds["sample"], np.arange(N))
    assert ds["epoch"].dtype == np.int64 and ds["epoch"].values.tolist() == list(range(T))
    # One snapshot without a step: float, NaN there.
    np.testing.assert_array_equal(ds["step"].values, [0.0, 10.0, 20.0, np.nan, 40.0])
    np.testing.assert_array_equal(ds["wall_time"].values, 1000.0 + np.arange(T))
    assert ds["complete"].values.tolist() == [True, True, False, True, True]
    assert ds["labels"].values.tolist() == LABELS.tolist()
    names = np.array(["cat", "dog", "eel", ""])[np.where(LABELS >= 0, LABELS, 3)]
    assert ds["class_name"].values.tolist() == names.tolist()
    # Coordinates travel with every variable: a class's samples by label.
    dogs = ds["logits"].where(ds["labels"] == 1, drop=True)
    assert dogs.sizes["sample"] == 3 and dogs["sample"].values.tolist() == [1, 5, 9]
    assert ds["logits"].attrs == {"kind": "logits"} and ds["hidden"].attrs == {"kind": "features"}


def test_metrics_are_nan_where_a_snapshot_lacks_them(run_dir: Path) -> None:
    ds = open_run(run_dir).to_xarray()
    np.testing.assert_array_equal(ds["accuracy"].values, [0.0, np.nan, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(ds["loss"].values, 1.0 / np.arange(1, T + 1))
    assert ds["accuracy"].dtype == np.float64


def test_attributes_are_the_runs_and_json_serialisable(run_dir: Path) -> None:
    run = open_run(run_dir)
    ds = run.to_xarray()
    assert ds.attrs["kind"] == "logits"
    assert ds.attrs["output_layer"] == "logits"
    assert ds.attrs["class_names"] == ["cat", "dog", "eel"]
    assert ds.attrs["n_samples"] == N
    assert ds.attrs["metadata"] == {"dataset": "toy", "lr": 0.1}
    assert ds.attrs["format_version"] == run.attrs["format_version"]
    json.dumps(ds.attrs)


def test_only_committed_snapshots_not_the_spare_rows(run_dir: Path) -> None:
    stored = zarr.open_group(str(run_dir), mode="r")
    assert stored["representations/logits"].shape[0] > T  # capacity beyond T
    ds = open_run(run_dir).to_xarray()
    assert ds["logits"].shape == (T, N, C) and ds["predictions"].shape == (T, N)
    assert ds["logits"][-1].values.tolist() == open_run(run_dir).read("logits", T - 1).tolist()


def test_a_run_without_snapshots_labels_or_inputs(tmp_path: Path) -> None:
    empty = create_run(tmp_path / "empty", n_samples=4, kind="features").to_xarray()
    assert empty.sizes["snapshot"] == 0 and list(empty.data_vars) == ["predictions"]
    assert "labels" not in empty.coords and empty.attrs["class_names"] == []
    run = create_run(tmp_path / "features", n_samples=4, kind="features")
    run.append_snapshot({"logits": np.ones((4, 2))}, epoch=0)
    ds = run.to_xarray()
    assert "labels" not in ds.coords and "class_name" not in ds.coords
    np.testing.assert_array_equal(ds["predictions"].values, -np.ones((1, 4)))


def test_names_taken_by_coordinates_get_a_prefix(tmp_path: Path) -> None:
    run = create_run(tmp_path / "run", n_samples=4)
    run.append_snapshot(
        {"logits": np.zeros((4, 2)), "epoch": np.zeros((4, 3))},
        epoch=0,
        metrics={"predictions": 1.0, "logits": 2.0},
    )
    run.write_extra("labels", np.arange(4))
    ds = run.to_xarray()
    assert ds["layer_epoch"].dims == ("snapshot", "sample", "epoch_dim")
    assert ds["extra_labels"].values.tolist() == [0, 1, 2, 3]
    assert ds["metric_predictions"].values.tolist() == [1.0]
    assert ds["metric_logits"].values.tolist() == [2.0]
    assert ds["logits"].dims == ("snapshot", "sample", "logits_dim")


def test_indexing_like_numpy(run_dir: Path) -> None:
    run = open_run(run_dir)
    ds = run.to_xarray()
    whole = np.stack([run.read("hidden", t) for t in range(T)])
    np.testing.assert_array_equal(
        ds["hidden"][::-1, [7, 2, 2], -1].values, whole[::-1][:, [7, 2, 2], -1]
    )
    np.testing.assert_array_equal(ds["hidden"][-2, 3:9:2].values, whole[-2, 3:9:2])
    np.testing.assert_array_equal(ds["hidden"][1:1].values, whole[1:1])
    picked = ds["hidden"].isel(
        snapshot=xr.DataArray([0, 4], dims="x"), sample=xr.DataArray([1, 2], dims="x")
    )
    np.testing.assert_array_equal(picked.values, whole[[0, 4], [1, 2]])
    np.testing.assert_array_equal(ds["pairs"][[3, 0], 1].values, run.extra("pairs")[[3, 0], 1])
    frame = ds["predictions"].to_dataframe()
    assert frame.loc[(2, 4), "predictions"] == run.predictions(2)[4]


def test_a_pickled_view_reopens_the_run(run_dir: Path) -> None:
    ds = open_run(run_dir).to_xarray()
    copy = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(copy["hidden"].values, ds["hidden"].values)


def test_dask_chunks_when_dask_is_installed(run_dir: Path) -> None:
    pytest.importorskip("dask")
    ds = open_run(run_dir).to_xarray()
    chunked = ds.chunk({"snapshot": 1})
    assert chunked["logits"].chunks[0] == (1,) * T
    np.testing.assert_allclose(
        chunked["logits"].mean("sample").compute().values, ds["logits"].mean("sample").values
    )


# --------------------------------------------------------------------------- laziness
class _CountingStore(zarr.storage.LocalStore):
    """A local store that notes every key read."""

    reads: list[str]

    async def get(self, key, prototype, byte_range=None):  # type: ignore[no-untyped-def]
        self.reads.append(key)
        return await super().get(key, prototype, byte_range)


@pytest.fixture()
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    keys: list[str] = []
    monkeypatch.setattr(_CountingStore, "reads", keys, raising=False)
    real = zarr.open_group

    def open_counted(store, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(store, str) and "://" not in store:
            store = _CountingStore(store, read_only=kwargs.get("mode") == "r")
        return real(store, *args, **kwargs)

    monkeypatch.setattr(zarr, "open_group", open_counted)
    return keys


def test_building_the_view_reads_no_recorded_chunk(run_dir: Path, reads: list[str]) -> None:
    run = open_run(run_dir)
    assert isinstance(run._group.store, _CountingStore)
    ds = run.to_xarray()
    repr(ds)
    chunks = [k for k in reads if "/c/" in k and not k.startswith("labels/")]
    assert chunks == [], chunks  # the labels (a coordinate) are all it reads
    for name in ("logits", "hidden", "predictions", "inputs", "pairs"):
        data = ds[name].variable._data
        assert not isinstance(data, np.ndarray) and type(data).__name__ == "LazilyIndexedArray"
        assert not ds[name].variable._in_memory
    reads.clear()
    np.testing.assert_array_equal(ds["logits"].isel(snapshot=3).values, run.read("logits", 3))
    layer_chunks = {k for k in reads if k.startswith("representations/logits/c/")}
    assert layer_chunks and all(k.startswith("representations/logits/c/3/") for k in layer_chunks)
    assert not [k for k in reads if k.startswith("representations/hidden/c/")]


def test_no_dask_is_needed() -> None:
    """The view and its reads work where Dask cannot be imported."""
    script = textwrap.dedent(
        """
        import sys, tempfile
        sys.modules["dask"] = None  # no Dask in this process
        from pathlib import Path
        sys.path.insert(0, sys.argv[1])
        from test_xarray_view import make_run
        from reprdynamics.storage import open_run
        run = open_run(make_run(Path(tempfile.mkdtemp()) / "run"))
        ds = run.to_xarray()
        assert (ds["logits"][4].values == run.read("logits", 4)).all()
        assert ds["hidden"].mean().values.dtype.kind == "f"
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_a_damaged_chunk_is_named_not_read_as_nan(run_dir: Path) -> None:
    ds = open_run(run_dir).to_xarray()
    for chunk in (run_dir / "representations" / "logits" / "c" / "1").rglob("*"):
        if chunk.is_file():
            chunk.unlink()
    with pytest.raises(CorruptRunError, match=r"Snapshot 1 .*representations/logits"):
        ds["logits"].isel(snapshot=1).values  # noqa: B018
    with pytest.raises(CorruptRunError):
        ds["logits"].values  # noqa: B018
    np.testing.assert_array_equal(ds["logits"][0].values, open_run(run_dir).read("logits", 0))


def test_without_xarray_one_install_hint(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = open_run(run_dir)
    monkeypatch.setitem(sys.modules, "xarray", None)  # import xarray now fails
    with pytest.raises(DependencyMissingError) as info:
        run.to_xarray()
    assert isinstance(info.value, ImportError)
    assert str(info.value) == (
        "Run.to_xarray needs the optional dependency 'xarray', which is not installed. "
        "Install it with: pip install 'reprdynamics[xarray]'"
    )


# --------------------------------------------------------------------------- the format
def stored_dimension_names(run_dir: Path) -> dict[str, tuple[str, ...] | None]:
    group = zarr.open_group(str(run_dir), mode="r")
    out = {}
    for path in ("predictions", "labels", "inputs"):
        if path in group:
            out[path] = group[path].metadata.dimension_names
    for sub in ("representations", "extras"):
        for name, arr in group[sub].arrays():
            out[f"{sub}/{name}"] = arr.metadata.dimension_names
    return out


def test_every_recorded_array_carries_its_dimension_names(run_dir: Path) -> None:
    assert stored_dimension_names(run_dir) == {
        "predictions": ("snapshot", "sample"),
        "labels": ("sample",),
        "inputs": ("sample", "inputs_dim_1", "inputs_dim_2"),
        "representations/logits": ("snapshot", "sample", "logits_dim"),
        "representations/hidden": ("snapshot", "sample", "hidden_dim"),
        "extras/label_flipped": ("sample",),
        "extras/pairs": ("sample", "pairs_dim_1"),
    }
    ds = open_run(run_dir).to_xarray()
    for path, dims in stored_dimension_names(run_dir).items():
        assert dims == dimension_names(path, len(dims))
        name = path.rsplit("/", 1)[-1]
        assert ds[name].dims == dims


def test_growing_the_arrays_keeps_the_names(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path / "run", snapshots=8)
    run = open_run(run_dir, mode="r+")
    run.append_snapshot(layer_values(8), epoch=8)  # beyond the capacity of 8: resized
    stored = zarr.open_group(str(run_dir), mode="r")
    assert stored["predictions"].shape[0] == 16
    names = stored_dimension_names(run_dir)
    assert names["predictions"] == ("snapshot", "sample")
    assert names["representations/hidden"] == ("snapshot", "sample", "hidden_dim")
    assert open_run(run_dir).to_xarray().sizes["snapshot"] == 9


_PLAIN_READER = """
import importlib.util, json, sys, sysconfig
# This interpreter runs with -I -S and adds the installed packages by hand; reprdynamics may
# be among them (a plain install) or on a .pth path (an editable one), so a finder in front
# of every other refuses it: nothing below can lean on this package.
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "reprdynamics":
            raise ModuleNotFoundError(f"refused: {name}")
        return None
sys.meta_path.insert(0, Refuse())
paths = sysconfig.get_paths()
sys.path += [paths["purelib"], paths["platlib"]]
try:
    import reprdynamics
except ModuleNotFoundError:
    pass
else:
    raise AssertionError("reprdynamics is importable")
import numpy as np
import xarray as xr
run, out = sys.argv[1], sys.argv[2]
arrays, dims = {}, {}
for group in ("representations", None, "extras"):
    ds = xr.open_zarr(run, group=group, consolidated=False, chunks=None)
    for name, variable in ds.data_vars.items():
        arrays[name] = variable.values
        dims[name] = list(variable.dims)
    if group is None:
        attrs = {k: ds.attrs[k] for k in ("kind", "output_layer", "class_names", "n_samples")}
np.savez(out, **arrays)
print(json.dumps({"dims": dims, "attrs": attrs}))
"""


def test_xarray_open_zarr_reads_a_run_without_this_package(run_dir: Path, tmp_path: Path) -> None:
    """``xarray.open_zarr`` on a run's groups, in an interpreter where ``reprdynamics``
    cannot be imported, gives the view's dimensions and, in the first T rows, its values."""
    out = tmp_path / "plain.npz"
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _PLAIN_READER, str(run_dir), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    plain = dict(np.load(out))
    run = open_run(run_dir)
    ds = run.to_xarray()
    assert set(plain) == {
        "logits",
        "hidden",
        "predictions",
        "labels",
        "inputs",
        "label_flipped",
        "pairs",
    }
    for name, values in plain.items():
        assert report["dims"][name] == list(ds[name].dims), name
        if "snapshot" in ds[name].dims:
            assert values.shape[0] > T  # the reader sees the capacity: T is the entries'
            values = values[:T]
        np.testing.assert_array_equal(values, ds[name].values, err_msg=name)
    assert report["attrs"] == {
        key: ds.attrs[key] for key in ("kind", "output_layer", "class_names", "n_samples")
    }


# --------------------------------------------------------------------------- old runs
def test_a_version_1_run_is_viewed(tmp_path: Path) -> None:
    """The bundled sample run is format version 1, written before dimension names."""
    source = Path(str(importlib.resources.files("reprdynamics") / "sample_run"))
    target = tmp_path / "v1"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("cache"))
    assert json.loads((target / "zarr.json").read_text())["attributes"]["format_version"] == 1
    assert zarr.open_group(str(target), mode="r")["predictions"].metadata.dimension_names is None
    run = open_run(target)
    ds = run.to_xarray()
    assert ds["logits"].dims == ("snapshot", "sample", "logits_dim")
    assert ds["penultimate"].dims == ("snapshot", "sample", "penultimate_dim")
    assert ds.attrs["format_version"] == 1
    assert "complete" not in ds.data_vars and ds["complete"].values.all()
    np.testing.assert_allclose(ds["clean_accuracy"].values, run.metric("clean_accuracy"))
    assert_view_equals_run(ds, run)


def test_a_run_without_dimension_names_is_viewed(run_dir: Path) -> None:
    """Version 2 runs of earlier releases: the same arrays without ``dimension_names``."""
    for meta in run_dir.rglob("zarr.json"):
        doc = json.loads(meta.read_text())
        if doc.get("node_type") == "array":
            doc.pop("dimension_names", None)
            meta.write_text(json.dumps(doc))
    assert set(stored_dimension_names(run_dir).values()) == {None}
    run = open_run(run_dir)
    ds = run.to_xarray()
    assert ds["hidden"].dims == ("snapshot", "sample", "hidden_dim")
    assert ds["pairs"].dims == ("sample", "pairs_dim_1")
    assert_view_equals_run(ds, run)
