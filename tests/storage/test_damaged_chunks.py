"""Damaged chunks: a lost, garbage or truncated chunk is a CorruptRunError naming the array
and the snapshot, never fill values read as data nor a codec's traceback; ``verify`` lists
the damaged snapshots and the others stay readable."""

from __future__ import annotations

import importlib.resources
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import reprdynamics.storage.layout as layout
from reprdynamics.errors import CorruptRunError
from reprdynamics.storage import create_run, open_run

N, C, T = 40, 4, 3


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    """Chunks of 160 bytes: a snapshot row of the (N, C) logits, and the inputs, span 4 chunks."""
    monkeypatch.setattr(layout, "_CHUNK_BYTES", 160)


def logits(t: int) -> np.ndarray:
    return np.random.default_rng(t).standard_normal((N, C)).astype(np.float32)


@pytest.fixture()
def run_dir(tmp_path) -> Path:
    path = tmp_path / "run"
    run = create_run(
        path,
        n_samples=N,
        labels=np.arange(N) % C,
        inputs=(np.arange(N * 16) % 256).astype(np.uint8).reshape(N, 4, 4),
    )
    for t in range(T):
        run.append_snapshot({"logits": logits(t)}, epoch=t)
    # A fourth snapshot recording only the first ten samples: its other chunks hold no data.
    recorded = np.arange(N) < 10
    run.append_snapshot(
        {"logits": np.where(recorded[:, None], logits(T), np.nan)}, epoch=T, recorded=recorded
    )
    return path


def chunk(run_dir: Path, array: str, *coords: int) -> Path:
    return run_dir / array / "c" / Path(*map(str, coords))


def test_every_chunk_of_a_row_is_stored_even_one_of_fill_values(run_dir):
    # Snapshot 3 recorded samples 0-9 only: the chunks of the others hold NaN, yet exist.
    assert all(chunk(run_dir, "representations/logits", T, j, 0).is_file() for j in range(4))
    assert json.loads((run_dir / "labels" / "zarr.json").read_text())["fill_value"] == -1


def test_a_lost_chunk_of_a_complete_snapshot_is_corrupt_and_named(run_dir):
    chunk(run_dir, "representations/logits", 1, 2, 0).unlink()
    run = open_run(run_dir)
    assert run.complete[1]
    with pytest.raises(
        CorruptRunError,
        match=r"Snapshot 1 of the array 'representations/logits'.*"
        r"1 chunk\(s\) are missing.*c/1/2/0",
    ):
        run.read("logits", 1)
    with pytest.raises(CorruptRunError, match="Snapshot 1"):
        run.read("logits", 1, ids=[0])  # any read of the damaged row, not only a whole one
    # The other snapshots stay readable, with the values recorded.
    np.testing.assert_array_equal(run.read("logits", 0), logits(0))
    np.testing.assert_array_equal(run.read("logits", 2), logits(2))
    damage = [d.to_dict() for d in run.verify()]
    assert damage == [
        {"snapshot": 1, "array": "representations/logits", "problem": "1 of 4 chunks missing"}
    ]


def test_an_incomplete_snapshot_still_reads_nan_where_nothing_was_recorded(run_dir):
    run = open_run(run_dir)
    assert not run.complete[T]
    values = run.read("logits", T)
    np.testing.assert_array_equal(values[:10], logits(T)[:10])
    assert np.isnan(values[10:]).all()
    assert run.verify() == []


def test_a_lost_predictions_chunk_is_not_read_as_not_recorded(run_dir):
    chunk(run_dir, "predictions", 0, 0).unlink()
    run = open_run(run_dir)
    with pytest.raises(CorruptRunError, match="Snapshot 0 of the array 'predictions'"):
        run.predictions(0)
    assert [(d.snapshot, d.array) for d in run.verify()] == [(0, "predictions")]


def test_features_runs_store_their_predictions_rows_too(tmp_path):
    run = create_run(tmp_path / "f", n_samples=N, kind="features")
    run.append_snapshot({"logits": logits(0)})
    assert (tmp_path / "f" / "predictions" / "c" / "0" / "0").is_file()
    np.testing.assert_array_equal(open_run(tmp_path / "f").predictions(0), -1)


def test_a_lost_labels_chunk_is_corrupt_not_label_zero(run_dir):
    chunk(run_dir, "labels", 0).unlink()
    run = open_run(run_dir)
    with pytest.raises(CorruptRunError, match=r"'labels'.*missing"):
        run.labels  # noqa: B018
    assert [(d.snapshot, d.array) for d in run.verify()] == [(None, "labels")]


def test_a_lost_labels_chunk_of_an_older_run_is_corrupt(tmp_path):
    """Runs of earlier releases have labels whose fill value is 0."""
    source = Path(str(importlib.resources.files("reprdynamics") / "sample_run"))
    target = tmp_path / "sample"
    shutil.copytree(source, target)
    assert json.loads((target / "labels" / "zarr.json").read_text())["fill_value"] == 0
    (target / "labels" / "c" / "0").unlink()
    with pytest.raises(CorruptRunError, match="'labels'"):
        open_run(target).labels  # noqa: B018


def test_a_lost_inputs_chunk_is_corrupt(run_dir):
    chunk(run_dir, "inputs", 1, 0, 0).unlink()
    with pytest.raises(CorruptRunError, match=r"'inputs'.*missing"):
        open_run(run_dir).inputs([0])


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_an_undecodable_chunk_is_corrupt_and_named(run_dir, damage):
    path = chunk(run_dir, "representations/logits", 2, 1, 0)
    blob = path.read_bytes()
    path.write_bytes(
        {"garbage": b"not zstd at all" * 3, "truncated": blob[: len(blob) // 2], "empty": b""}[
            damage
        ]
    )
    run = open_run(run_dir)
    with pytest.raises(
        CorruptRunError,
        match=r"Snapshot 2 of the array 'representations/logits'"
        r".*cannot be read: a chunk is damaged",
    ):
        run.read("logits", 2)
    np.testing.assert_array_equal(run.read("logits", 1), logits(1))
    assert run.verify() == []  # every chunk is there: only decoding finds it
    found = run.verify(decode=True)
    assert [(d.snapshot, d.array) for d in found] == [(2, "representations/logits")]


def test_an_undecodable_labels_chunk_is_corrupt(run_dir):
    chunk(run_dir, "labels", 0).write_bytes(b"\x00" * 7)
    with pytest.raises(CorruptRunError, match=r"'labels'.*cannot be read"):
        open_run(run_dir).labels  # noqa: B018


@pytest.mark.parametrize("array", ["labels", "inputs"])
def test_truncated_array_metadata_is_corrupt_and_names_the_file(run_dir, array):
    meta = run_dir / array / "zarr.json"
    meta.write_text(meta.read_text()[:30])
    run = open_run(run_dir)
    reader = {"labels": lambda: run.labels, "inputs": lambda: run.inputs([0])}[array]
    with pytest.raises(CorruptRunError, match=f"{array}/zarr.json"):
        reader()


def test_analyse_names_the_damage_instead_of_printing_nonsense(run_dir):
    chunk(run_dir, "labels", 0).unlink()
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from reprdynamics.cli import main; main()",
            "analyse",
            str(run_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "labels" in proc.stderr and "missing" in proc.stderr
