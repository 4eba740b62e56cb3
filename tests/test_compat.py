"""The original tool's API: ReprD, ReprDataset and their numbers."""

from __future__ import annotations

import copy
import gc
import importlib.util
import json
import math
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from reprdynamics import errors, open_run
from reprdynamics.compat import (
    RUN_DIRNAME,
    ReprD,
    ReprDataset,
    compute_neighbours,
    dataset,
    distance_matrix,
    get_neighbours,
)
from reprdynamics.storage.legacy import import_legacy

SAMPLE_IDS = list(range(16))


@pytest.fixture(scope="module")
def sample_dir(legacy_sample: Path) -> Path:
    """The original tool's sample save directory (the ``legacy_sample`` of conftest)."""
    return legacy_sample


@pytest.fixture(scope="module")
def sample_neighbours(sample_dir) -> dict:
    return json.loads((sample_dir / "neighbours.json").read_text())


def seed_matrix(neighbours: dict, sample_ids, k: int) -> np.ndarray:
    """The original's value, from its definition: m_t broadcast over (n, 1), euclidean."""
    lists = [
        [snap[str(i)]["neighbours"][:k] for i in sample_ids] for snap in neighbours["neighbours"]
    ]
    m = [
        sum(len(set(a) & set(b)) / len(a) for a, b in zip(lists[t], lists[t + 1], strict=True))
        / len(sample_ids)
        for t in range(len(lists) - 1)
    ]
    n = len(sample_ids)
    return np.array(
        [[np.linalg.norm(np.full((n, 1), ma) - np.full((n, 1), mb)) for mb in m] for ma in m]
    )


def record(save_path, values, *, step_epochs=None, **kwargs) -> ReprD:
    """Record ``values[t]`` (an (N, D) array) as snapshot t, epochs 0..T-1, in two batches."""
    n = values[0].shape[0]
    reprd = ReprD(data_size=n, save_path=save_path, **kwargs)
    for epoch, snapshot in enumerate(values):
        half = n // 2
        reprd.store_batch(snapshot[:half], ids=np.arange(half), epoch=epoch)
        reprd.store_batch(snapshot[half:], ids=np.arange(half, n), epoch=epoch)
    return reprd


# ====================================================================== hand-checked
# Three snapshots, samples 0 and 1; lists hold self first. With k = 2:
#   t0: 0 -> {0,1}, 1 -> {1,0};  t1: 0 -> {0,2}, 1 -> {1,0};  t2: 0 -> {0,1}, 1 -> {1,2}
#   m_0 = (1/2 + 2/2) / 2 = 0.75,  m_1 = (1/2 + 1/2) / 2 = 0.5
#   D[0,1] = sqrt(2) * 0.25
HAND = {
    "knn_algorithm": "ball_tree",
    "max_neighbours": 3,
    "neighbours": [
        {"0": {"neighbours": [0, 1, 2]}, "1": {"neighbours": [1, 0, 2]}},
        {"0": {"neighbours": [0, 2, 1]}, "1": {"neighbours": [1, 0, 2]}},
        {"0": {"neighbours": [0, 1, 2]}, "1": {"neighbours": [1, 2, 0]}},
    ],
}
D01 = math.sqrt(2) * 0.25


def test_distance_matrix_by_hand():
    matrix = distance_matrix(HAND, [0, 1], num_neighbours=2, col_row_format=False)
    np.testing.assert_allclose(matrix, [[0.0, D01], [D01, 0.0]], rtol=1e-15)
    # k = 1 keeps only the sample itself: every overlap is 1, nothing changes.
    np.testing.assert_array_equal(distance_matrix(HAND, [0, 1], 1, col_row_format=False), 0)
    # One sample: n = 1, m = (1/2, 1/2) for sample 0 -> zero; sample 1: (1, 1/2) -> 0.5.
    np.testing.assert_allclose(distance_matrix(HAND, ["1"], 2, col_row_format=False)[0, 1], 0.5)


def test_distance_matrix_row_col_format_is_the_seeds_order():
    cells = distance_matrix(HAND, [0, 1], num_neighbours=2)
    assert [(c["row"], c["col"]) for c in cells] == [(1, 1), (1, 0), (0, 1), (0, 0)]
    np.testing.assert_allclose([c["distance"] for c in cells], [0, D01, D01, 0], rtol=1e-15)
    assert all(type(c["distance"]) is float for c in cells)


def test_distance_matrix_does_not_mutate_and_reads_paths(tmp_path):
    before = copy.deepcopy(HAND)
    distance_matrix(HAND, [0, 1], 2)
    assert before == HAND
    path = tmp_path / "neighbours.json"
    path.write_text(json.dumps(HAND))
    assert distance_matrix(str(path), [0, 1], 2) == distance_matrix(HAND, [0, 1], 2)
    assert distance_matrix(path, ["0", "1"], 2) == distance_matrix(HAND, [0, 1], 2)


def test_distance_matrix_callable_metric():
    def chebyshev(u, v):
        return float(np.max(np.abs(u - v)))

    matrix = distance_matrix(HAND, [0, 1], 2, distance_metric=chebyshev, col_row_format=False)
    np.testing.assert_allclose(matrix, [[0, 0.25], [0.25, 0]])


def test_distance_matrix_errors(tmp_path):
    with pytest.raises(errors.InvalidParameterError, match=r"'num_neighbours'.*at most 2"):
        distance_matrix(HAND, [0, 1], num_neighbours=3)
    with pytest.raises(errors.InvalidParameterError, match="'num_neighbours'"):
        distance_matrix(HAND, [0, 1], num_neighbours=0)
    with pytest.raises(errors.UnknownSampleError, match="Sample id 7 is not in snapshot 0"):
        distance_matrix(HAND, [0, 7], num_neighbours=2)
    with pytest.raises(errors.InvalidParameterError, match="'distance_metric'"):
        distance_matrix(HAND, [0, 1], 2, distance_metric="cosine")
    with pytest.raises(errors.NotEnoughSnapshotsError, match="at least 2"):
        distance_matrix({"neighbours": HAND["neighbours"][:1]}, [0, 1], 2)
    with pytest.raises(errors.InvalidParameterError, match="'neighbours' parameter"):
        distance_matrix({"no": []}, [0, 1], 2)
    with pytest.raises(FileNotFoundError, match="No neighbours file"):
        distance_matrix(tmp_path / "missing.json", [0, 1], 2)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(HAND)[:50])
    with pytest.raises(errors.CorruptRunError, match=r"broken\.json.*corrupt"):
        distance_matrix(broken, [0, 1], 2)


GET = {
    "neighbours": [
        {
            "5": {"neighbours": [0, 1], "distances": [0.0, 2.0], "representation": [0.0, 0.0]},
            "7": {
                "neighbours": [1, 0],
                "distances": [0.0, 2.5],
                "representation": [0.0, math.log(3)],
            },
        }
    ]
}


def test_get_neighbours_by_hand():
    (snap,) = get_neighbours(GET, [5, 7])
    assert snap["5"]["neighbours"] == [[7, 2.0]]
    assert snap["7"]["neighbours"] == [[5, 2.5]]
    # softmax(0, 0) = (1/2, 1/2) -> ln 2;  softmax(0, ln 3) = (1/4, 3/4).
    assert snap["5"]["confidence"] == pytest.approx(math.log(2), rel=1e-15)
    expected = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert snap["7"]["confidence"] == pytest.approx(expected, rel=1e-15)
    # Ids as strings (the original dashboard's form values), and a subset of them.
    assert get_neighbours(GET, ["5", "7"]) == [snap]
    assert get_neighbours(GET, ["7"]) == [{"7": snap["7"]}]
    assert GET["neighbours"][0]["5"]["neighbours"] == [0, 1]  # not mutated


def test_get_neighbours_errors():
    with pytest.raises(errors.UnknownSampleError, match="Sample id 6"):
        get_neighbours(GET, [6])
    bad = copy.deepcopy(GET)
    bad["neighbours"][0]["5"]["neighbours"] = [0, 4]
    with pytest.raises(errors.UnknownSampleError, match="position 4"):
        get_neighbours(bad, [5, 7])


def test_compute_neighbours_function_by_hand():
    # Points on a line: 0, 1, 3, 7 -> neighbours of position 2 (x = 3): itself, 1, 0, 3.
    rows = np.array([[0.0], [1.0], [3.0], [7.0]])
    result = compute_neighbours([rows, rows[::-1]], [10, 11, 12, 13], max_neighbours=4)
    entry = result["neighbours"][0]["12"]
    assert entry["neighbours"] == [2, 1, 0, 3]
    assert entry["distances"] == [0.0, 2.0, 3.0, 4.0]
    assert entry["representation"] == [3.0]
    assert result["neighbours"][1]["10"]["representation"] == [7.0]
    assert result["knn_algorithm"] == "ball_tree" and result["max_neighbours"] == 4
    single = compute_neighbours([rows], [0, 1, 2, 3], max_neighbours=1)
    assert single["neighbours"][0]["3"] == {
        "distances": [0.0],
        "neighbours": [3],
        "representation": [7.0],
    }


# ====================================================================== the legacy sample
def test_legacy_json_reproduces_neighbours_json_exactly(sample_dir, sample_neighbours):
    for load_path in (sample_dir, sample_dir / "snapshots.json"):
        reprd = ReprD(load_path=load_path)
        assert reprd.data_size == 16 and reprd.run is None
        assert reprd.snapshots[0].dtype == np.float64
        result = reprd.compute_neighbours(
            max_neighbours=15, knn_algo="ball_tree", sample_ids=SAMPLE_IDS
        )
        assert result == sample_neighbours


def test_imported_run_matches_neighbours_json(sample_dir, sample_neighbours, tmp_path):
    import_legacy(sample_dir, tmp_path / "run")
    reprd = ReprD(load_path=tmp_path / "run")
    assert reprd.run is not None and reprd.step_size == 1
    result = reprd.compute_neighbours(15, "ball_tree", SAMPLE_IDS)
    assert result["knn_algorithm"] == "ball_tree" and result["max_neighbours"] == 15
    for ours, theirs in zip(result["neighbours"], sample_neighbours["neighbours"], strict=True):
        assert ours.keys() == theirs.keys()
        for key in theirs:
            assert ours[key]["neighbours"] == theirs[key]["neighbours"]
            np.testing.assert_allclose(
                ours[key]["distances"], theirs[key]["distances"], rtol=1e-6, atol=1e-9
            )
            np.testing.assert_allclose(
                ours[key]["representation"], theirs[key]["representation"], rtol=1e-6
            )


@pytest.mark.parametrize("algo", ["auto", "ball_tree", "kd_tree", "brute"])
def test_every_algorithm_matches_a_per_sample_query(sample_dir, algo):
    """The original queried one sample at a time with KNeighborsClassifier; we batch."""
    from sklearn.neighbors import KNeighborsClassifier

    ids = [3, 1, 4, 15, 9, 2, 6]
    snapshots = json.loads((sample_dir / "snapshots.json").read_text())
    result = ReprD(load_path=sample_dir).compute_neighbours(5, algo, ids)
    for t, snapshot in enumerate(snapshots):
        rows = np.asarray(snapshot)[ids]
        knn = KNeighborsClassifier(n_neighbors=5, algorithm=algo).fit(rows, np.zeros(len(ids)))
        for sample, row in zip(ids, rows, strict=True):
            dist, pos = knn.kneighbors(row.reshape(1, -1), 5, True)
            entry = result["neighbours"][t][str(sample)]
            assert entry["neighbours"] == pos[0].tolist()
            # BLAS may round a batched query's distances differently from a single row's.
            np.testing.assert_allclose(entry["distances"], dist[0], rtol=1e-12, atol=1e-15)


def test_distance_matrix_on_the_sample(sample_dir, sample_neighbours, tmp_path):
    snapshot_neighbours = copy.deepcopy(sample_neighbours)
    reprd = ReprD(load_path=sample_dir)
    matrix = reprd.distance_matrix(sample_neighbours, SAMPLE_IDS, 10, col_row_format=False)
    assert matrix.shape == (19, 19)
    np.testing.assert_allclose(matrix, seed_matrix(sample_neighbours, SAMPLE_IDS, 10), rtol=1e-12)
    np.testing.assert_array_equal(matrix, matrix.T)
    np.testing.assert_array_equal(np.diag(matrix), 0)
    # The documented closed form, and rank one: every row is |m_a - m|.
    cells = reprd.distance_matrix(sample_neighbours, SAMPLE_IDS, 10)
    assert len(cells) == 19 * 19
    assert (cells[0]["row"], cells[0]["col"]) == (18, 18)
    assert (cells[-1]["row"], cells[-1]["col"]) == (0, 0)
    for cell in cells:
        assert cell["distance"] == matrix[cell["row"], cell["col"]]
    # A subset of the ids, as the original dashboard passed them (strings).
    subset = ["0", "3", "5"]
    np.testing.assert_allclose(
        reprd.distance_matrix(sample_neighbours, subset, 10, col_row_format=False),
        seed_matrix(sample_neighbours, subset, 10),
        rtol=1e-12,
    )
    assert sample_neighbours == snapshot_neighbours


def test_get_neighbours_on_the_sample(sample_dir, sample_neighbours):
    from scipy.special import softmax
    from scipy.stats import entropy

    result = ReprD(load_path=sample_dir).get_neighbours(sample_neighbours, SAMPLE_IDS)
    assert len(result) == 20
    for ours, theirs in zip(result, sample_neighbours["neighbours"], strict=True):
        for key, entry in theirs.items():
            pairs = ours[key]["neighbours"]
            assert [p[0] for p in pairs] == entry["neighbours"][1:]
            assert [p[1] for p in pairs] == entry["distances"][1:]
            expected = float(entropy(softmax(np.asarray(entry["representation"]))))
            assert ours[key]["confidence"] == pytest.approx(expected, rel=1e-12)


# ====================================================================== ReprDataset
def test_repr_dataset_items_and_labels():
    images = np.arange(4 * 2 * 2, dtype=np.uint8).reshape(4, 2, 2)
    for labels in ([0, 1, 1, 0], np.array([0, 1, 1, 0])):
        ds = ReprDataset(images, labels)
        assert len(ds) == 4
        item = ds[2]
        assert set(item) == {"X", "y", "index"}
        np.testing.assert_array_equal(item["X"], images[2])
        assert item["y"] == 1 and item["index"] == 2
    unlabelled = ReprDataset(images)
    assert unlabelled[1]["y"] == -1
    doubled = ReprDataset(images, transform=lambda x: x * 2)
    np.testing.assert_array_equal(doubled[1]["X"], images[1] * 2)
    with pytest.raises(errors.InvalidParameterError, match="'data_y'"):
        ReprDataset(images, [0, 1])


def test_repr_dataset_save_creates_directories(tmp_path):
    images = np.zeros((3, 2, 2, 3), dtype=np.uint8)
    ReprDataset(images, np.array([2, 0, 1])).save(tmp_path / "new" / "dir")
    data = tmp_path / "new" / "dir" / "data"
    np.testing.assert_array_equal(np.load(data / "data.npy"), images)
    np.testing.assert_array_equal(np.load(data / "labels.npy"), [2, 0, 1])
    ReprDataset([np.ones(2), np.zeros(2)]).save(tmp_path / "plain")
    assert np.load(tmp_path / "plain" / "data" / "data.npy").shape == (2, 2)
    assert not (tmp_path / "plain" / "data" / "labels.npy").exists()


def test_repr_dataset_without_torch(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    cls = dataset._build_repr_dataset()
    assert cls.__mro__[1:] == (dataset._ReprDatasetMixin, object)
    assert cls(np.zeros((2, 1)), [1, 0])[1]["y"] == 0


def test_repr_dataset_pickles():
    ds = ReprDataset(np.arange(3), [0, 1, 0])
    again = pickle.loads(pickle.dumps(ds))
    assert type(again) is ReprDataset and again[2]["y"] == 0


def test_importing_reprd_does_not_import_torch():
    code = (
        "import sys; from reprdynamics import ReprD; import reprdynamics.compat; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_repr_dataset_with_dataloader():
    torch = pytest.importorskip("torch")
    ds = ReprDataset(np.random.default_rng(0).random((10, 3), dtype=np.float32), np.arange(10) % 2)
    assert isinstance(ds, torch.utils.data.Dataset)
    batches = list(torch.utils.data.DataLoader(ds, batch_size=4))
    assert len(batches) == 3
    first = batches[0]
    assert set(first) == {"X", "y", "index"}
    assert first["X"].shape == (4, 3) and first["X"].dtype == torch.float32
    assert first["y"].tolist() == [0, 1, 0, 1]
    assert first["index"].tolist() == [0, 1, 2, 3]
    unlabelled = next(iter(torch.utils.data.DataLoader(ReprDataset([1.0, 2.0]), batch_size=2)))
    assert unlabelled["y"].tolist() == [-1, -1]


# ====================================================================== ReprD recording
def test_step_size_and_snapshot_index(tmp_path):
    reprd = ReprD(data_size=4, num_epochs=6, num_snapshots=3, save_path=tmp_path)
    assert reprd.step_size == 2
    more_snapshots_than_epochs = ReprD(4, num_epochs=3, num_snapshots=10, save_path=tmp_path / "b")
    assert more_snapshots_than_epochs.step_size == 1
    for epoch in range(6):  # every epoch stored: epochs 2k and 2k+1 share snapshot k
        reprd.store_batch(np.full((4, 2), float(epoch)), ids=[0, 1, 2, 3], epoch=epoch)
    reprd.close()
    run = open_run(tmp_path / RUN_DIRNAME)
    assert run.n_snapshots == 3
    assert run.epochs == [0, 2, 4]
    for t in range(3):  # the later epoch's batch overwrote, as the original's did
        np.testing.assert_array_equal(run.read(snapshot=t), np.full((4, 2), 2.0 * t + 1))


def test_snapshots_written_when_the_epoch_moves_and_flushed_by_analysis(tmp_path):
    values = [np.random.default_rng(t).normal(size=(6, 3)) for t in range(3)]
    reprd = record(tmp_path, values, num_epochs=3, num_snapshots=3)
    run = open_run(tmp_path / RUN_DIRNAME)
    assert run.n_snapshots == 2  # the last is still being assembled
    result = reprd.compute_neighbours(max_neighbours=3, knn_algo="brute", sample_ids=range(6))
    assert len(result["neighbours"]) == 3
    assert open_run(tmp_path / RUN_DIRNAME).n_snapshots == 3
    for t, snapshot in enumerate(reprd.snapshots):
        np.testing.assert_allclose(snapshot, values[t], rtol=1e-6)
    with pytest.raises(errors.RecordingError, match="already written"):
        reprd.store_batch(values[2], ids=range(6), epoch=2)
    reprd.store_batch(values[0], ids=range(6), epoch=3)  # a later epoch is fine
    with pytest.raises(errors.RecordingError, match="backwards"):
        reprd.store_batch(values[0], ids=range(6), epoch=1)
    reprd.close()
    assert open_run(tmp_path / RUN_DIRNAME).n_snapshots == 4
    with pytest.raises(errors.RecordingError, match="closed"):
        reprd.store_batch(values[0], ids=range(6), epoch=4)


def test_context_manager_and_garbage_collection_flush(tmp_path):
    values = [np.eye(4), 2 * np.eye(4)]
    with record(tmp_path / "a", values):
        pass
    assert open_run(tmp_path / "a" / RUN_DIRNAME).n_snapshots == 2
    reprd = record(tmp_path / "b", values)
    del reprd
    gc.collect()
    assert open_run(tmp_path / "b" / RUN_DIRNAME).n_snapshots == 2


# How the recording script ends: the last snapshot is on disk whichever way it does.
EXIT_ENDINGS = {
    "falls off the end": ("", 0),
    "calls sys.exit": ("sys.exit(3)", 3),
    "raises": ("raise RuntimeError('training failed')", 1),
    "leaves a thread running": (
        "import threading, time; threading.Thread(target=time.sleep, args=(0.5,)).start()",
        0,
    ),
}


@pytest.mark.parametrize("ending", sorted(EXIT_ENDINGS))
def test_flush_at_interpreter_exit(tmp_path, ending):
    """The seed's API has no close(): the last snapshot is written when the script ends.

    Writing needs zarr's thread pool, which refuses work once the interpreter's exit begins;
    ``atexit`` and ``weakref.finalize`` hooks run after that and would lose the snapshot.
    """
    last_line, returncode = EXIT_ENDINGS[ending]
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        from reprdynamics import ReprD
        reprd = ReprD(data_size=6, num_epochs=3, num_snapshots=3, save_path=sys.argv[1])
        for epoch in range(3):
            reprd.store_batch(np.full((6, 2), float(epoch)), ids=range(6), epoch=epoch)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script + last_line, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == returncode, proc.stderr[-3000:]
    assert "could not write" not in proc.stderr, proc.stderr[-3000:]
    run = open_run(tmp_path / RUN_DIRNAME)
    assert run.n_snapshots == 3 and run.complete.all()
    np.testing.assert_array_equal(run.read(snapshot=2), np.full((6, 2), 2.0))


def test_saved_dataset_goes_into_the_run(tmp_path):
    images = np.random.default_rng(0).integers(0, 255, size=(4, 3, 3), dtype=np.uint8)
    ReprDataset(images, [1, 0, 1, 2]).save(tmp_path)
    reprd = record(tmp_path, [np.eye(4)])
    reprd.close()
    run = open_run(tmp_path / RUN_DIRNAME)
    np.testing.assert_array_equal(run.labels, [1, 0, 1, 2])
    np.testing.assert_array_equal(run.inputs(), images)
    assert run.metadata["recorded_by"] == "reprdynamics.compat.ReprD"


def test_rerun_replaces_our_run_but_never_other_files(tmp_path):
    record(tmp_path, [np.eye(4), np.eye(4)]).close()
    record(tmp_path, [np.eye(4)]).close()
    assert open_run(tmp_path / RUN_DIRNAME).n_snapshots == 1
    with pytest.raises(errors.RunExistsError):
        ReprD(data_size=4, save_path=tmp_path, overwrite=False)
    other = tmp_path / "other"
    (other / RUN_DIRNAME).mkdir(parents=True)
    (other / RUN_DIRNAME / "notes.txt").write_text("keep me")
    with pytest.raises(errors.RunExistsError):
        ReprD(data_size=4, save_path=other)
    assert (other / RUN_DIRNAME / "notes.txt").read_text() == "keep me"


def test_recording_without_save_path_uses_a_temporary_run():
    reprd = record(None, [np.eye(3), np.eye(3)[::-1]])
    assert reprd.run_path is not None and reprd.run_path.name == RUN_DIRNAME
    assert reprd.n_snapshots == 2
    assert reprd.compute_neighbours(2, "ball_tree", [0, 1, 2])["max_neighbours"] == 2
    reprd.close()


def test_recording_parameter_errors(tmp_path):
    with pytest.raises(errors.InvalidParameterError, match="'data_size'"):
        ReprD(save_path=tmp_path)
    with pytest.raises(errors.InvalidParameterError, match="go together"):
        ReprD(data_size=4, num_epochs=3, save_path=tmp_path)
    reprd = ReprD(data_size=4, save_path=tmp_path / "x")
    with pytest.raises(errors.InvalidParameterError, match="'epoch'"):
        reprd.store_batch(np.eye(4), ids=range(4), epoch=-1)
    with pytest.raises(errors.RecordingError):
        reprd.store_batch(np.eye(4), ids=range(1, 5), epoch=0)


def test_tensor_epoch_and_float_epoch_are_accepted(tmp_path):
    reprd = ReprD(data_size=2, num_epochs=4, num_snapshots=2, save_path=tmp_path)
    reprd.store_batch(np.eye(2), ids=np.array([0, 1]), epoch=np.int64(0))
    reprd.store_batch(np.eye(2), ids=[0, 1], epoch=2.0)
    assert reprd.n_snapshots == 2
    assert reprd.run.epochs == [0, 2]


# ====================================================================== ReprD loading
def test_load_paths(tmp_path, sample_dir):
    record(tmp_path / "save", [np.eye(4), 2 * np.eye(4)]).close()
    for load_path in (
        tmp_path / "save",
        tmp_path / "save" / RUN_DIRNAME,
        tmp_path / "save" / "snapshots.json",  # the original dashboard's call
    ):
        reprd = ReprD(load_path=load_path)
        assert reprd.data_size == 4 and reprd.n_snapshots == 2
        assert reprd.run_path == tmp_path / "save" / RUN_DIRNAME
        np.testing.assert_array_equal(reprd.snapshots[1], 2 * np.eye(4))
        with pytest.raises(errors.RecordingError, match="load_path"):
            reprd.store_batch(np.eye(4), ids=range(4), epoch=0)
    loaded = ReprD(load_path=sample_dir / "snapshots.json")
    assert loaded.n_snapshots == 20 and loaded.run_path is None
    with pytest.raises(errors.RunNotFoundError, match="Nothing to load"):
        ReprD(load_path=tmp_path / "missing")
    with pytest.raises(errors.InvalidParameterError, match="'data_size'"):
        ReprD(data_size=5, load_path=tmp_path / "save")


def test_step_size_is_inferred_when_loading(tmp_path):
    reprd = ReprD(data_size=2, num_epochs=9, num_snapshots=3, save_path=tmp_path)
    for epoch in (0, 3, 6):
        reprd.store_batch(np.eye(2), ids=[0, 1], epoch=epoch)
    reprd.close()
    assert ReprD(load_path=tmp_path).step_size == 3
    assert ReprD(load_path=tmp_path, num_epochs=10, num_snapshots=5).step_size == 2


def test_in_memory_snapshots_and_npy(tmp_path):
    stack = np.stack([np.eye(3), np.eye(3)[[1, 2, 0]]])
    np.save(tmp_path / "snaps.npy", stack)
    reprd = ReprD(data_size=3, save_path=tmp_path)
    reprd.load_snapshots(tmp_path / "snaps.npy")
    assert reprd.n_snapshots == 2 and reprd.run is None
    result = reprd.compute_neighbours(1, "kd_tree", [0, 1, 2])
    assert result["neighbours"][1]["2"]["representation"] == [1.0, 0.0, 0.0]
    assert reprd.hamming_distance([[0, 1], [1, 2]], [[0, 2], [1, 2]]) == 0.75


# ====================================================================== compute_neighbours
def test_compute_neighbours_validation_and_save(tmp_path):
    reprd = record(tmp_path, [np.arange(12.0).reshape(6, 2), np.ones((6, 2))])
    with pytest.raises(errors.InvalidParameterError, match=r"'max_neighbours'.*\[1, 3\]"):
        reprd.compute_neighbours(4, "ball_tree", [0, 1, 2])
    with pytest.raises(errors.InvalidParameterError, match="'max_neighbours'"):
        reprd.compute_neighbours(0, "ball_tree", [0, 1, 2])
    with pytest.raises(errors.InvalidParameterError, match="'knn_algo'"):
        reprd.compute_neighbours(2, "annoy", [0, 1, 2])
    with pytest.raises(errors.UnknownSampleError, match=r"outside \[0, 6\)"):
        reprd.compute_neighbours(2, "ball_tree", [0, 6])
    with pytest.raises(errors.InvalidParameterError, match="distinct"):
        reprd.compute_neighbours(2, "ball_tree", [0, 0, 1])
    target = tmp_path / "out" / "neighbours.json"
    result = reprd.compute_neighbours(3, "ball_tree", np.array([5, 0, 2]), save_path=target)
    assert json.loads(target.read_text()) == result
    assert list(result["neighbours"][0]) == ["5", "0", "2"]
    assert result["neighbours"][0]["5"]["neighbours"] == [0, 2, 1]  # positions, self first
    assert len(reprd.compute_neighbours(2)["neighbours"][0]) == 6  # default: every sample


def test_compute_neighbours_refuses_unrecorded_samples(tmp_path):
    reprd = ReprD(data_size=4, save_path=tmp_path)
    with pytest.raises(errors.NotEnoughSnapshotsError):
        reprd.compute_neighbours(1, "ball_tree", [0])
    with pytest.warns(UserWarning, match="never recorded"):
        reprd.store_batch(np.eye(4)[:2], ids=[0, 1], epoch=0)
        reprd.flush()
    assert reprd.compute_neighbours(2, "ball_tree", [0, 1])["max_neighbours"] == 2
    with pytest.raises(errors.InvalidParameterError, match=r"sample ids \['3'\]"):
        reprd.compute_neighbours(2, "ball_tree", [0, 3])


# ====================================================================== the seed's README
def test_seed_readme_workflow(tmp_path):
    """The original README's four steps, unchanged but for the import and valid numbers."""
    torch = pytest.importorskip("torch")
    from sklearn.datasets import load_digits

    from reprdynamics import ReprD, ReprDataset

    digits = load_digits()
    data_x, data_y = digits.images[:64], digits.target[:64]
    save_dir = str(tmp_path / "save_dir")
    num_epochs, num_snapshots = 10, 5

    def transform(x):
        return torch.as_tensor(x, dtype=torch.float32).reshape(-1) / 16.0

    torch.manual_seed(0)
    net = torch.nn.Linear(64, 10)
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)

    # 1. Wrap dataset with ReprDataset and save dataset for future analysis
    dataset = ReprDataset(data_x, data_y, transform=transform)
    dataset.save(save_dir)
    testloader = torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=True)

    # 2. Initialize ReprD
    reprd = ReprD(
        data_size=len(dataset),
        num_epochs=num_epochs,
        num_snapshots=num_snapshots,
        save_path=save_dir,
    )

    # 3. Store Snapshots during training
    for epoch in range(num_epochs):
        for _i, data in enumerate(testloader):
            inputs, labels = data["X"], data["y"]
            ids = data["index"]
            optimizer.zero_grad()
            outputs = net(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()

            # store snapshot #
            if not epoch % reprd.step_size:
                reprd.store_batch(representation=outputs, ids=ids, epoch=epoch)

    # 4. compute neighbours and associated distance matrix
    sample_ids = list(range(1, 17))
    neighbours = reprd.compute_neighbours(
        max_neighbours=15,
        sample_ids=sample_ids,
        knn_algo="ball_tree",
        save_path=os.path.join(save_dir, "neighbours.json"),
    )
    mat = reprd.distance_matrix(
        neighbours=os.path.join(save_dir, "neighbours.json"),
        sample_ids=sample_ids,
        num_neighbours=10,
        distance_metric="euclidean",
    )

    run = open_run(os.path.join(save_dir, RUN_DIRNAME))
    assert run.n_snapshots == num_snapshots
    assert run.epochs == [0, 2, 4, 6, 8]
    assert run.complete.all()
    assert run.read(snapshot=0).shape == (64, 10)
    np.testing.assert_array_equal(run.labels, data_y)
    np.testing.assert_array_equal(run.inputs(), data_x)
    assert len(neighbours["neighbours"]) == num_snapshots
    assert len(mat) == (num_snapshots - 1) ** 2
    matrix = np.zeros((num_snapshots - 1, num_snapshots - 1))
    for cell in mat:
        matrix[cell["row"], cell["col"]] = cell["distance"]
    np.testing.assert_array_equal(matrix, matrix.T)
    np.testing.assert_array_equal(np.diag(matrix), 0)
    assert (matrix >= 0).all() and (matrix <= math.sqrt(len(sample_ids))).all()
    np.testing.assert_allclose(matrix, seed_matrix(neighbours, sample_ids, 10), rtol=1e-12)
    # The stored outputs are what the network produced in the snapshot's epoch.
    reprd.close()
    again = ReprD(load_path=save_dir)
    assert again.compute_neighbours(15, "ball_tree", sample_ids) == neighbours
