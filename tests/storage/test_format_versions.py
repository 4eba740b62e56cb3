"""Format version 2: one entry per snapshot as the commit point, pre-sized arrays, version 1
runs still read and upgraded in place, consolidation, and the parts of multi-process
snapshots."""

from __future__ import annotations

import importlib.resources
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr

from reprdynamics.errors import CorruptRunError
from reprdynamics.storage import FORMAT_VERSION, create_run, open_run

N, C = 40, 4


def values(t: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(t)
    return {"logits": rng.standard_normal((N, C)).astype(np.float32)}


def metadata_files(run_dir: Path) -> dict[str, int]:
    """Every ``zarr.json`` outside the snapshot entries, with its modification time."""
    return {
        str(p.relative_to(run_dir)): p.stat().st_mtime_ns
        for p in run_dir.rglob("zarr.json")
        if p.relative_to(run_dir).parts[0] != "snapshots"
    }


@pytest.fixture()
def v1_run(tmp_path) -> Path:
    """A copy of the bundled sample run, which is format version 1."""
    source = Path(str(importlib.resources.files("reprdynamics") / "sample_run"))
    target = tmp_path / "v1"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("cache"))
    assert json.loads((target / "zarr.json").read_text())["attributes"]["format_version"] == 1
    return target


def test_an_append_writes_no_metadata_but_its_entry(tmp_path):
    """No resize and no growing list per snapshot: within the arrays' capacity, appending
    rewrites no metadata file at all; the only new object besides chunks is the entry."""
    run = create_run(tmp_path / "run", n_samples=N, expected_snapshots=6)
    run.append_snapshot(values(0), epoch=0)
    before = metadata_files(tmp_path / "run")
    for t in range(1, 6):
        run.append_snapshot(values(t), epoch=t, metrics={"loss": 1.0 / t})
    assert metadata_files(tmp_path / "run") == before
    entries = sorted(p.name for p in (tmp_path / "run" / "snapshots").iterdir() if p.is_dir())
    assert sorted(entries, key=int) == [str(t) for t in range(6)]
    reopened = open_run(tmp_path / "run")
    assert reopened.n_snapshots == 6
    assert reopened.epochs == list(range(6))
    np.testing.assert_allclose(reopened.metric("loss")[1:], [1.0 / t for t in range(1, 6)])
    np.testing.assert_array_equal(reopened.read("logits", 4), values(4)["logits"])


def test_arrays_grow_by_doubling(tmp_path):
    run = create_run(tmp_path / "run", n_samples=N)
    shapes = []
    for t in range(20):
        run.append_snapshot(values(t), epoch=t)
        shapes.append(zarr.open_group(str(tmp_path / "run"))["predictions"].shape[0])
    assert len(set(shapes)) <= 3  # 8, 16, 32: log T resizes, not T
    assert all(s >= t + 1 for t, s in enumerate(shapes))
    reopened = open_run(tmp_path / "run")
    assert reopened.n_snapshots == 20
    np.testing.assert_array_equal(reopened.read("logits", 19), values(19)["logits"])


def test_a_missing_entry_ends_the_run_there(tmp_path):
    """T counts entries 0, 1, ... present: rows of an append killed before its entry was
    written are not a snapshot."""
    run = create_run(tmp_path / "run", n_samples=N)
    for t in range(3):
        run.append_snapshot(values(t), epoch=t)
    shutil.rmtree(tmp_path / "run" / "snapshots" / "2")
    reopened = open_run(tmp_path / "run", mode="r+")
    assert reopened.n_snapshots == 2
    reopened.append_snapshot(values(9), epoch=9)
    final = open_run(tmp_path / "run")
    assert final.epochs == [0, 1, 9]
    np.testing.assert_array_equal(final.read("logits", 2), values(9)["logits"])


def test_consolidation_and_entries_beyond_it(tmp_path):
    run = create_run(tmp_path / "run", n_samples=N)
    for t in range(3):
        run.append_snapshot(values(t), epoch=t)
    run.consolidate()
    attrs = json.loads((tmp_path / "run" / "zarr.json").read_text())["attributes"]
    assert [e["epoch"] for e in attrs["consolidated"]] == [0, 1, 2]
    run.append_snapshot(values(3), epoch=3)  # not consolidated: read from its entry
    reopened = open_run(tmp_path / "run", mode="r+")
    assert reopened.epochs == [0, 1, 2, 3]
    reopened.set_metrics(1, {"val": 0.5})  # inside the consolidated range: both updated
    reopened.set_metrics(3, {"val": 0.25})
    final = open_run(tmp_path / "run")
    np.testing.assert_allclose(final.metric("val"), [np.nan, 0.5, np.nan, 0.25])
    entry = zarr.open_group(str(tmp_path / "run"))["snapshots/1"].attrs["metrics"]
    assert entry == {"val": 0.5}


def test_damaged_entry_is_corrupt_and_named(tmp_path):
    run = create_run(tmp_path / "run", n_samples=N)
    run.append_snapshot(values(0), epoch=0)
    run.append_snapshot(values(1), epoch=1)
    (tmp_path / "run" / "snapshots" / "1" / "zarr.json").write_text("{ truncated")
    with pytest.raises(CorruptRunError, match="snapshot 1"):
        open_run(tmp_path / "run")


def test_version_1_is_read_and_upgraded_by_the_first_write(v1_run):
    old = open_run(v1_run)
    epochs, complete, logits = old.epochs, old.complete, old.read("logits", 7)
    assert old.attrs["format_version"] == 1 and old.n_snapshots == 20
    run = open_run(v1_run, mode="r+")
    run.append_snapshot({name: run.read(name, 0) for name in run.layers}, epoch=epochs[-1] + 1)
    attrs = json.loads((v1_run / "zarr.json").read_text())["attributes"]
    assert attrs["format_version"] == FORMAT_VERSION and "snapshots" not in attrs
    assert not (v1_run / "complete").exists()
    upgraded = open_run(v1_run)
    assert upgraded.epochs == [*epochs, epochs[-1] + 1]
    np.testing.assert_array_equal(upgraded.complete, [*complete, True])
    np.testing.assert_array_equal(upgraded.read("logits", 7), logits)


def test_an_upgrade_killed_before_its_switch_leaves_a_version_1_run(v1_run):
    """Entries written, attributes not yet switched: the run is still read as version 1."""
    reference = open_run(v1_run)
    group = zarr.open_group(str(v1_run), mode="r+")
    group.require_group("snapshots").create_group("0", attributes={"index": 0, "epoch": 99})
    again = open_run(v1_run)
    assert again.attrs["format_version"] == 1
    assert again.epochs == reference.epochs
    run = open_run(v1_run, mode="r+")
    run.set_metrics(0, {"val": 1.0})  # the upgrade runs again, from the list
    final = open_run(v1_run)
    assert final.epochs == reference.epochs and final.metric("val")[0] == 1.0


def test_parts_are_whole_or_absent(tmp_path):
    run = create_run(tmp_path / "run", n_samples=N)
    assert run.read_part(0, 1) is None
    ids = np.arange(1, N, 2)
    rows = values(0)["logits"][ids]
    run.write_part(0, 1, ids, {"logits": rows}, {"epoch": 0, "rank": 1})
    got = run.read_part(0, 1)
    assert got is not None
    got_ids, layers, facts = got
    np.testing.assert_array_equal(got_ids, ids)
    np.testing.assert_array_equal(layers["logits"], rows)
    assert facts["epoch"] == 0 and facts["done"] is True
    # A part whose facts were never written (a kill mid-part) reads as absent.
    zarr.open_group(str(tmp_path / "run" / "parts" / "0" / "1"), mode="r+").attrs.put({})
    assert run.read_part(0, 1) is None
    run.drop_parts(0)
    assert not (tmp_path / "run" / "parts" / "0").exists()


def _edit(path: Path, **changes) -> None:
    doc = json.loads(path.read_text())
    doc["attributes"].update(changes)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"class_names": 5}, "'class_names'"),
        ({"class_names": ["a", 2]}, "'class_names'"),
        ({"metadata": "x"}, "'metadata'"),
        ({"kind": "logit"}, "'kind'"),
    ],
    ids=["class_names-int", "class_names-mixed", "metadata-str", "kind"],
)
def test_bad_run_attributes_are_corrupt_and_named(tmp_path, changes, named):
    """Regression (#11): such attributes raised AttributeError/TypeError, or read wrongly."""
    run = create_run(tmp_path / "run", n_samples=N)
    run.append_snapshot(values(0), epoch=0)
    _edit(tmp_path / "run" / "zarr.json", **changes)
    with pytest.raises(CorruptRunError, match=named):
        open_run(tmp_path / "run")


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"metrics": [1, 2]}, "'metrics'"),
        ({"epoch": "3"}, "'epoch'"),
        ({"wall_time": "x"}, "'wall_time'"),
    ],
    ids=["metrics-list", "epoch-str", "wall_time-str"],
)
def test_bad_entries_are_corrupt_and_named(tmp_path, changes, named):
    run = create_run(tmp_path / "run", n_samples=N)
    run.append_snapshot(values(0), epoch=0)
    run.append_snapshot(values(1), epoch=1)
    _edit(tmp_path / "run" / "snapshots" / "1" / "zarr.json", **changes)
    with pytest.raises(CorruptRunError, match=rf"snapshot 1 .*{named}"):
        open_run(tmp_path / "run")


def test_a_version_1_list_of_non_entries_is_corrupt_not_empty(v1_run):
    """Regression (#11): `snapshots: [1, 2, 3]` must not read as a run without snapshots."""
    _edit(v1_run / "zarr.json", snapshots=[1, 2, 3])
    with pytest.raises(CorruptRunError, match="snapshot 0"):
        open_run(v1_run)
