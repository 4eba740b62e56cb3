"""Import of the original tool's save directories (``snapshots.json`` + ``data/``)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from reprdynamics import errors, open_run
from reprdynamics.storage import legacy
from reprdynamics.storage.legacy import (
    import_legacy,
    is_legacy_dir,
    legacy_cache_path,
    open_legacy_cached,
    read_legacy_snapshots,
)


@pytest.fixture(scope="module")
def sample_dir(legacy_sample: Path) -> Path:
    """The original tool's sample save directory (the ``legacy_sample`` of conftest)."""
    return legacy_sample


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRDYNAMICS_CACHE_DIR", str(tmp_path / "cache"))


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size)
        for p in sorted(root.rglob("*"))
    }


def write_legacy(directory: Path, snapshots, *, data=None, labels=None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "snapshots.json").write_text(json.dumps(snapshots))
    if data is not None or labels is not None:
        (directory / "data").mkdir(exist_ok=True)
    if data is not None:
        np.save(directory / "data" / "data.npy", data)
    if labels is not None:
        np.save(directory / "data" / "labels.npy", labels)
    return directory


SMALL = [[[0.5, 1.0], [2.0, -1.0], [0.0, 0.25]], [[1.5, 0.0], [0.1, 0.2], [3.0, 3.0]]]


# ---------------------------------------------------------------------- the real sample
def test_import_sample_equals_json(sample_dir, tmp_path):
    raw = np.asarray(json.loads((sample_dir / "snapshots.json").read_text()))
    run = import_legacy(sample_dir, tmp_path / "run")
    assert run.n_snapshots == raw.shape[0] == 20
    assert run.n_samples == 16
    assert run.epochs == list(range(20))
    assert run.kind == "logits"
    assert run.complete.all()
    for t in range(run.n_snapshots):
        np.testing.assert_allclose(run.read(snapshot=t), raw[t], rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(run.predictions(t), raw[t].argmax(axis=1))
    images = np.load(sample_dir / "data" / "data.npy")
    np.testing.assert_array_equal(run.inputs(), images)
    assert run.inputs().dtype == np.uint8
    np.testing.assert_array_equal(run.labels, np.load(sample_dir / "data" / "labels.npy"))
    assert run.metadata["imported_from"] == str((sample_dir / "snapshots.json").resolve())


def test_import_accepts_the_json_file_itself(sample_dir, tmp_path):
    run = import_legacy(sample_dir / "snapshots.json", tmp_path / "run")
    assert run.n_snapshots == 20
    assert run.has_inputs and run.has_labels  # data/ found beside the file
    reopened = open_run(tmp_path / "run")
    assert reopened.n_snapshots == 20


def test_import_never_writes_into_the_old_dir(sample_dir, tmp_path):
    copy = tmp_path / "old"
    shutil.copytree(sample_dir, copy)
    before = tree_state(copy)
    import_legacy(copy, tmp_path / "new")
    open_legacy_cached(copy)
    assert tree_state(copy) == before


def test_is_legacy_dir(sample_dir, tmp_path):
    assert is_legacy_dir(sample_dir)
    assert not is_legacy_dir(tmp_path)
    assert not is_legacy_dir(tmp_path / "missing")
    run = import_legacy(sample_dir, tmp_path / "run")
    assert not is_legacy_dir(run.location)


# ---------------------------------------------------------------------- small cases
def test_small_import_values_epochs_and_optional_data(tmp_path):
    old = write_legacy(tmp_path / "old", SMALL)
    run = import_legacy(old, tmp_path / "run", epochs=[0, 5])
    assert run.epochs == [0, 5]
    assert not run.has_labels and not run.has_inputs
    np.testing.assert_array_equal(run.read(snapshot=1), np.asarray(SMALL[1], dtype=np.float32))
    np.testing.assert_array_equal(run.predictions(0), [1, 0, 1])


def test_float64_reader_keeps_exact_values(tmp_path):
    old = write_legacy(tmp_path / "old", [[[0.1, 1 / 3]], [[2.0, 1e-300]]])
    snaps = read_legacy_snapshots(old)
    assert snaps[0].dtype == np.float64
    assert snaps[0][0, 1] == 1 / 3 and snaps[1][0, 1] == 1e-300


def test_labels_given_as_float_integers_are_accepted(tmp_path):
    old = write_legacy(tmp_path / "old", SMALL, labels=np.array([1.0, 0.0, 2.0]))
    run = import_legacy(old, tmp_path / "run")
    np.testing.assert_array_equal(run.labels, [1, 0, 2])


@pytest.mark.parametrize("epochs", [[0], [0, 1, 2], [3, 1], ["a", "b"], [0.5, 1]])
def test_bad_epochs(tmp_path, epochs):
    old = write_legacy(tmp_path / "old", SMALL)
    with pytest.raises(errors.InvalidParameterError, match="'epochs' parameter"):
        import_legacy(old, tmp_path / "run", epochs=epochs)
    assert not (tmp_path / "run").exists()


def test_existing_run_needs_overwrite(tmp_path):
    old = write_legacy(tmp_path / "old", SMALL)
    import_legacy(old, tmp_path / "run")
    with pytest.raises(errors.RunExistsError):
        import_legacy(old, tmp_path / "run")
    assert import_legacy(old, tmp_path / "run", overwrite=True, epochs=[1, 2]).epochs == [1, 2]


def test_refuses_to_write_over_the_old_dir(tmp_path):
    old = write_legacy(tmp_path / "old", SMALL)
    for target in (old, tmp_path):
        with pytest.raises(errors.InvalidParameterError, match="outside the legacy directory"):
            import_legacy(old, target, overwrite=True)
    assert (old / "snapshots.json").is_file()


# ---------------------------------------------------------------------- errors
def test_missing_dir(tmp_path):
    with pytest.raises(errors.RunNotFoundError, match="No legacy"):
        import_legacy(tmp_path / "nope", tmp_path / "run")
    with pytest.raises(FileNotFoundError, match=r"holds no 'snapshots\.json'"):
        import_legacy(tmp_path, tmp_path / "run")


def test_truncated_json_names_the_file(sample_dir, tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    text = (sample_dir / "snapshots.json").read_text()
    (old / "snapshots.json").write_text(text[: len(text) // 2])
    with pytest.raises(errors.CorruptRunError, match=r"snapshots\.json.*is corrupt") as info:
        import_legacy(old, tmp_path / "run")
    assert "truncated" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert not (tmp_path / "run").exists()


def test_ragged_snapshot_is_named(tmp_path):
    bad = [SMALL[0], [[1.0, 2.0], [3.0], [4.0, 5.0]]]
    old = write_legacy(tmp_path / "old", bad)
    with pytest.raises(errors.CorruptRunError, match=r"Snapshot 1 .* ragged: row 1 has 1 values"):
        import_legacy(old, tmp_path / "run")


def test_snapshots_of_different_shapes(tmp_path):
    old = write_legacy(tmp_path / "old", [SMALL[0], SMALL[1][:2]])
    with pytest.raises(errors.CorruptRunError, match=r"Snapshot 1 .* shape \(2, 2\)"):
        import_legacy(old, tmp_path / "run")


@pytest.mark.parametrize(
    ("snapshots", "message"),
    [
        ({"a": 1}, "non-empty list of snapshots"),
        ([], "non-empty list of snapshots"),
        ([[1.0, 2.0]], r"Snapshot 0 .* row 0 is a float"),
        ([[[1.0, None]]], r"Snapshot 0 .* holds None"),
        ([[]], r"Snapshot 0 .* non-empty list"),
    ],
)
def test_malformed_snapshots(tmp_path, snapshots, message):
    old = write_legacy(tmp_path / "old", snapshots)
    with pytest.raises(errors.CorruptRunError, match=message):
        import_legacy(old, tmp_path / "run")


def test_nan_is_refused(tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    (old / "snapshots.json").write_text("[[[1.0, 2.0]], [[NaN, 1.0]]]")
    with pytest.raises(errors.CorruptRunError, match=r"Snapshot 1 .* NaN"):
        import_legacy(old, tmp_path / "run")


def test_labels_length_mismatch(tmp_path):
    old = write_legacy(tmp_path / "old", SMALL, labels=np.array([0, 1]))
    with pytest.raises(errors.CorruptRunError, match=r"labels\.npy.* 2 labels .* 3 samples"):
        import_legacy(old, tmp_path / "run")
    run = import_legacy(old, tmp_path / "run", include_data=False)
    assert not run.has_labels


def test_images_count_mismatch(tmp_path):
    old = write_legacy(tmp_path / "old", SMALL, data=np.zeros((4, 2, 2, 3), np.uint8))
    with pytest.raises(errors.CorruptRunError, match=r"data\.npy.* 4 inputs .* 3 samples"):
        import_legacy(old, tmp_path / "run")


def test_object_arrays_are_not_unpickled(tmp_path):
    old = write_legacy(tmp_path / "old", SMALL)
    (old / "data").mkdir()
    np.save(old / "data" / "labels.npy", np.array([0, None, 1], dtype=object), allow_pickle=True)
    with pytest.raises(errors.CorruptRunError, match="include_data=False"):
        import_legacy(old, tmp_path / "run")


# ---------------------------------------------------------------------- cache
def test_cache_path_is_deterministic_and_follows_the_source(tmp_path):
    old = write_legacy(tmp_path / "old", SMALL)
    first = legacy_cache_path(old)
    assert first == legacy_cache_path(old / "snapshots.json")
    assert first.parent == tmp_path / "cache" / "legacy"
    assert first.name.startswith("old-")
    stat = (old / "snapshots.json").stat()
    os.utime(old / "snapshots.json", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert legacy_cache_path(old) != first


def test_cached_import_is_reused(tmp_path, monkeypatch):
    old = write_legacy(tmp_path / "old", SMALL, labels=np.array([0, 1, 1]))
    calls = []
    real_import = legacy.import_legacy

    def counting_import(*args, **kwargs):
        calls.append(args)
        return real_import(*args, **kwargs)

    monkeypatch.setattr(legacy, "import_legacy", counting_import)
    run = open_legacy_cached(old)
    assert len(calls) == 1
    assert Path(run.location) == legacy_cache_path(old)
    assert not run.writable
    meta = Path(run.location) / "zarr.json"
    stamp = meta.stat().st_mtime_ns
    again = open_legacy_cached(old)
    assert len(calls) == 1
    assert meta.stat().st_mtime_ns == stamp
    assert again.n_snapshots == 2
    assert open_legacy_cached(old, mode="r+").writable
    assert len(calls) == 1
    np.testing.assert_array_equal(again.labels, [0, 1, 1])
    # No staging directories are left behind.
    assert list(legacy_cache_path(old).parent.iterdir()) == [Path(run.location)]


def test_failed_cached_import_leaves_nothing(tmp_path):
    old = write_legacy(tmp_path / "old", [SMALL[0], [[1.0]]])
    with pytest.raises(errors.CorruptRunError):
        open_legacy_cached(old)
    assert list((tmp_path / "cache" / "legacy").iterdir()) == []


def test_cache_root_defaults_to_user_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("REPRDYNAMICS_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    old = write_legacy(tmp_path / "old", SMALL)
    assert legacy_cache_path(old).parent == tmp_path / "xdg" / "reprdynamics" / "legacy"


def test_import_refuses_a_target_inside_the_legacy_directory(tmp_path):
    old = tmp_path / "old"
    (old / "data").mkdir(parents=True)
    (old / "snapshots.json").write_text("[[[0.0, 1.0], [1.0, 0.0]], [[0.5, 0.5], [1.0, 0.0]]]")
    np.save(old / "data" / "labels.npy", np.array([0, 1]))
    before = sorted(p.name for p in (old / "data").iterdir())
    with pytest.raises(errors.InvalidParameterError, match="outside the legacy directory"):
        legacy.import_legacy(old, old / "data", overwrite=True)
    assert sorted(p.name for p in (old / "data").iterdir()) == before


def test_two_legacy_dirs_of_the_same_name_get_their_own_cached_runs(tmp_path):
    # The dashboard names a legacy run after its directory; the cache keeps them apart.
    first = write_legacy(tmp_path / "a" / "save", [[[1.0, 2.0]], [[3.0, 4.0]]])
    second = write_legacy(tmp_path / "b" / "save", [[[5.0, 6.0]]])
    run_a, run_b = open_legacy_cached(first), open_legacy_cached(second)
    assert run_a.location != run_b.location
    assert Path(run_a.location).parent == Path(run_b.location).parent
    assert (run_a.n_snapshots, run_b.n_snapshots) == (2, 1)
    np.testing.assert_array_equal(run_a.read("logits", 1), [[3.0, 4.0]])
    np.testing.assert_array_equal(run_b.read("logits", 0), [[5.0, 6.0]])
