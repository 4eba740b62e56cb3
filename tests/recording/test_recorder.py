"""The recorder: inputs it accepts, when snapshots are written, errors, schedule, resume."""

from __future__ import annotations

import itertools
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reprdynamics import Recorder, open_run, snapshot_step_size
from reprdynamics.errors import (
    InvalidParameterError,
    RecordingError,
    RunExistsError,
    RunNotFoundError,
)
from reprdynamics.recording import IncompleteSnapshotWarning

N, D = 10, 3


def epoch_values(epoch: int, n: int = N, d: int = D) -> np.ndarray:
    return np.random.default_rng(epoch).standard_normal((n, d)).astype(np.float32)


def batches_of(ids, size: int):
    ids = list(ids)
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def committed(path) -> int:
    """How many snapshots a reader opening the run from disk now sees."""
    return open_run(path).n_snapshots


@pytest.fixture
def path(tmp_path) -> Path:
    return tmp_path / "run"


class ArrayOnly:
    def __init__(self, values):
        self._values = np.asarray(values)

    def __array__(self, dtype=None, copy=None):
        return self._values if dtype is None else self._values.astype(dtype)


class DLPackOnly:
    def __init__(self, values):
        self._values = np.ascontiguousarray(values)

    def __dlpack__(self, **kwargs):
        return self._values.__dlpack__(**kwargs)


def _torch():
    return pytest.importorskip("torch")


def torch_cpu(values):
    return _torch().tensor(values, requires_grad=True) * 1.0  # a non-leaf that needs grad


def torch_cuda(values):
    torch = _torch()
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return torch.tensor(values, device="cuda", requires_grad=True) * 1.0


REPRESENTATIONS = {
    "numpy": np.asarray,
    "list": lambda v: v.tolist(),
    "__array__": ArrayOnly,
    "__dlpack__": DLPackOnly,
    "torch-cpu": torch_cpu,
    "torch-cuda": torch_cuda,
}

IDS = {
    "list": list,
    "numpy": np.array,
    "range": lambda ids: range(ids[0], ids[-1] + 1),
    "torch": lambda ids: _torch().tensor(ids),
    "__array__": ArrayOnly,
}


# ---------------------------------------------------------------------- inputs
@pytest.mark.parametrize("ids_kind", sorted(IDS))
@pytest.mark.parametrize("kind", sorted(REPRESENTATIONS))
def test_store_batch_accepts_tensors_arrays_and_ids(path, kind, ids_kind):
    convert, make_ids = REPRESENTATIONS[kind], IDS[ids_kind]
    values = epoch_values(0)
    with Recorder(path, n_samples=N) as rec:
        for batch in batches_of(range(N), 4):  # contiguous batches, so ranges fit
            assert rec.store_batch(convert(values[batch]), ids=make_ids(batch), epoch=0)
    run = open_run(path)
    assert run.n_snapshots == 1
    assert run.complete[0]
    np.testing.assert_array_equal(run.read("logits", 0), values)
    np.testing.assert_array_equal(run.predictions(0), values.argmax(axis=1))


def test_labels_and_inputs_from_tensors(path):
    torch = _torch()
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, -1])
    images = torch.randint(0, 255, (N, 8, 8), dtype=torch.uint8)
    with Recorder(path, n_samples=N, labels=labels, inputs=images) as rec:
        rec.store_batch(epoch_values(0), ids=range(N), epoch=0)
    run = open_run(path)
    np.testing.assert_array_equal(run.labels, labels.numpy())
    np.testing.assert_array_equal(run.inputs(), images.numpy())


def test_shapes_are_normalised(path):
    with Recorder(path, n_samples=4, kind="features", output_layer="features") as rec:
        rec.store_batch(np.arange(4.0), ids=range(4), epoch=0, layer="features")
        rec.store_batch(np.ones((4, 2, 3)), ids=range(4), epoch=0, layer="maps")
    run = open_run(path)
    assert run.layer_dim("features") == 1
    np.testing.assert_array_equal(run.read("features", 0)[:, 0], np.arange(4.0))
    assert run.layer_dim("maps") == 6
    np.testing.assert_array_equal(run.predictions(0), [-1] * 4)  # features: no predictions


def test_several_layers(path):
    with Recorder(path, n_samples=N) as rec:
        for epoch in range(2):
            for batch in batches_of(range(N), 3):
                rec.store_batch(epoch_values(epoch)[batch], ids=batch, epoch=epoch)
                rec.store_batch(
                    epoch_values(epoch + 10, d=7)[batch], ids=batch, epoch=epoch, layer="hidden"
                )
    run = open_run(path)
    assert run.layers == ["logits", "hidden"]
    for epoch in range(2):
        np.testing.assert_array_equal(run.read("logits", epoch), epoch_values(epoch))
        np.testing.assert_array_equal(run.read("hidden", epoch), epoch_values(epoch + 10, d=7))
        np.testing.assert_array_equal(run.predictions(epoch), epoch_values(epoch).argmax(axis=1))
    assert run.layer_kind("hidden") == "features"


def test_empty_batch_is_harmless(path):
    with Recorder(path, n_samples=N) as rec:
        assert rec.store_batch(np.zeros((0, D)), ids=[], epoch=0)
        rec.store_batch(epoch_values(0), ids=range(N), epoch=0)
    np.testing.assert_array_equal(open_run(path).read(), epoch_values(0))


def test_integer_valued_float_ids_are_accepted(path):
    with Recorder(path, n_samples=N) as rec:
        rec.store_batch(epoch_values(0), ids=np.arange(N, dtype=float), epoch=0)
    assert open_run(path).complete[0]


# ---------------------------------------------------------------------- when snapshots end
def test_snapshot_is_written_once_when_the_epoch_changes(path):
    rec = Recorder(path, n_samples=N, background=False)
    for epoch in range(3):
        for i, batch in enumerate(batches_of(range(N), 3)):
            rec.store_batch(epoch_values(epoch)[batch], ids=batch, epoch=epoch)
            # the first batch of a new epoch has just committed the previous epoch
            assert committed(path) == epoch, (epoch, i)
            assert rec.n_snapshots == epoch
    rec.close()
    run = open_run(path)
    assert run.n_snapshots == 3
    assert run.epochs == [0, 1, 2]
    for epoch in range(3):
        np.testing.assert_array_equal(run.read("logits", epoch), epoch_values(epoch))


def test_end_snapshot_writes_with_metrics(path):
    rec = Recorder(path, n_samples=N, background=False)
    for epoch in range(2):
        for batch in batches_of(range(N), 4):
            rec.store_batch(epoch_values(epoch)[batch], ids=batch, epoch=epoch, step=epoch * 3)
            assert committed(path) == epoch
        assert rec.end_snapshot(metrics={"loss": 1.0 - epoch, "accuracy": np.float64(0.5)})
        assert committed(path) == epoch + 1
    assert not rec.end_snapshot()  # nothing pending
    rec.close()
    run = open_run(path)
    assert run.n_snapshots == 2
    np.testing.assert_array_equal(run.metric("loss"), [1.0, 0.0])
    np.testing.assert_array_equal(run.metric("accuracy"), [0.5, 0.5])
    assert [s.step for s in run.snapshots] == [0, 3]


def test_close_and_with_block_write_the_last_snapshot(path, tmp_path):
    rec = Recorder(path, n_samples=N)
    rec.store_batch(epoch_values(0), ids=range(N), epoch=0)
    assert committed(path) == 0
    rec.close()
    assert committed(path) == 1
    with pytest.raises(RecordingError, match="closed"):
        rec.store_batch(epoch_values(1), ids=range(N), epoch=1)
    rec.close()  # idempotent
    assert committed(path) == 1

    other = tmp_path / "other"
    with Recorder(other, n_samples=N) as rec:
        rec.store_batch(epoch_values(0), ids=range(N), epoch=0)
        assert committed(other) == 0
    assert committed(other) == 1


def test_snapshots_without_epochs_end_explicitly(path):
    rec = Recorder(path, n_samples=N)
    rec.store_batch(epoch_values(0), ids=range(N))
    rec.store_batch(epoch_values(1), ids=range(N))  # no epoch: same snapshot, overwritten
    assert committed(path) == 0
    rec.end_snapshot(epoch=7, step=70)
    rec.close()
    run = open_run(path)
    assert run.epochs == [7]
    assert run.snapshots[0].step == 70
    np.testing.assert_array_equal(run.read(), epoch_values(1))


def test_exception_in_with_block_drops_the_half_snapshot(path):
    with pytest.raises(ZeroDivisionError):
        with Recorder(path, n_samples=N) as rec:
            for epoch in range(3):
                for batch in batches_of(range(N), 4):
                    if epoch == 2 and batch[0] == 8:
                        raise ZeroDivisionError  # training crashes mid-epoch
                    rec.store_batch(epoch_values(epoch)[batch], ids=batch, epoch=epoch)
    run = open_run(path)
    assert run.n_snapshots == 2
    assert run.complete.all()
    for epoch in range(2):
        np.testing.assert_array_equal(run.read("logits", epoch), epoch_values(epoch))
    with pytest.raises(RecordingError, match="closed"):
        rec.store_batch(epoch_values(3), ids=range(N), epoch=3)


def test_abort_drops_the_pending_snapshot(path):
    rec = Recorder(path, n_samples=N)
    rec.store_batch(epoch_values(0), ids=range(N), epoch=0)
    rec.abort()
    assert committed(path) == 0


# ---------------------------------------------------------------------- bad batches
def good_batches(rec, epoch=0, n_batches=3):
    for batch in list(batches_of(range(N), 3))[:n_batches]:
        rec.store_batch(epoch_values(epoch)[batch], ids=batch, epoch=epoch)


@pytest.mark.parametrize(
    ("representation", "ids", "problem"),
    [
        (np.ones((2, D)), [9, 10], r"1 id\(s\) at batch 3 of snapshot 0, epoch 0 are outside"),
        (np.ones((3, D)), [8, 9], "batch 3 of snapshot 0.* has 3 rows but 2 ids"),
        (np.ones((2, D + 1)), [8, 9], "batch 3 of snapshot 0.* has 4 dimensions.* had 3"),
        (np.ones((2, D)), [8.5, 9], "ids at batch 3 .* must be integers"),
        (np.ones((2, D), dtype=complex), [8, 9], "batch 3 .*expected numbers"),
        (np.float64(1.0), [8], "batch 3 .*scalar"),
    ],
    ids=["too-high", "length", "dimension", "float-ids", "complex", "0d"],
)
def test_bad_batch_names_the_batch_and_the_problem(path, representation, ids, problem):
    rec = Recorder(path, n_samples=N)
    good_batches(rec)
    with pytest.raises(RecordingError, match=problem) as info:
        rec.store_batch(representation, ids=ids, epoch=0)
    assert isinstance(info.value, ValueError)
    # the bad batch is not stored; the snapshot can still be finished
    rec.store_batch(epoch_values(0)[[9]], ids=[9], epoch=0)
    rec.close()
    run = open_run(path)
    assert run.complete[0]
    np.testing.assert_array_equal(run.read(), epoch_values(0))


def test_epoch_going_backwards_is_refused(path):
    rec = Recorder(path, n_samples=N)
    good_batches(rec, epoch=0, n_batches=4)
    good_batches(rec, epoch=1, n_batches=2)
    with pytest.raises(RecordingError, match=r"batch 2 of snapshot 1, epoch 1.*got epoch 0 after"):
        rec.store_batch(epoch_values(0), ids=range(N), epoch=0)
    with pytest.warns(IncompleteSnapshotWarning):
        rec.end_snapshot()
    # also after the snapshot was written
    with pytest.raises(RecordingError, match="got epoch 0 after epoch 1"):
        rec.store_batch(epoch_values(0), ids=range(N), epoch=0)


def test_layers_must_be_the_same_in_every_snapshot(path):
    rec = Recorder(path, n_samples=N, background=False)
    rec.store_batch(epoch_values(0), ids=range(N), epoch=0)
    rec.store_batch(epoch_values(0), ids=range(N), epoch=0, layer="hidden")
    rec.store_batch(epoch_values(1), ids=range(N), epoch=1)
    with pytest.raises(RecordingError, match=r"no batches for layer\(s\) \['hidden'\]"):
        rec.end_snapshot()
    rec.store_batch(epoch_values(1), ids=range(N), epoch=1, layer="hidden")
    rec.end_snapshot()
    with pytest.raises(RecordingError, match="'extra' appears at batch 0 of snapshot 2"):
        rec.store_batch(epoch_values(2), ids=range(N), epoch=2, layer="extra")
    assert committed(path) == 2


def test_missing_ids_give_an_incomplete_snapshot_and_a_warning(path):
    rec = Recorder(path, n_samples=N)
    rec.store_batch(epoch_values(0)[:7], ids=range(7), epoch=0)
    with pytest.warns(IncompleteSnapshotWarning, match="3 of 10 samples never recorded"):
        rec.end_snapshot()
    rec.store_batch(epoch_values(1), ids=range(N), epoch=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec.close()
    run = open_run(path)
    np.testing.assert_array_equal(run.complete, [False, True])
    got = run.read("logits", 0)
    np.testing.assert_array_equal(got[:7], epoch_values(0)[:7])
    assert np.isnan(got[7:]).all()
    np.testing.assert_array_equal(run.predictions(0)[7:], [-1, -1, -1])
    np.testing.assert_array_equal(run.predictions(0)[:7], epoch_values(0)[:7].argmax(axis=1))
    assert [t for t, _ in run.iter_snapshots()] == [1]


def test_duplicate_ids_last_write_wins(path):
    with Recorder(path, n_samples=N) as rec:
        rec.store_batch(np.zeros((N, D)), ids=range(N), epoch=0)
        rec.store_batch(np.full((2, D), 5.0), ids=[3, 4], epoch=0)
        rec.store_batch(np.array([[1.0] * D, [2.0] * D]), ids=[6, 6], epoch=0)  # same batch
    got = open_run(path).read()
    np.testing.assert_array_equal(got[[3, 4]], np.full((2, D), 5.0))
    np.testing.assert_array_equal(got[6], [2.0] * D)
    np.testing.assert_array_equal(got[[0, 1, 2, 5, 7, 8, 9]], 0.0)


# ---------------------------------------------------------------------- schedule
@pytest.mark.parametrize(
    ("epochs", "snapshots", "step"), [(100, 20, 5), (10, 3, 3), (3, 10, 1), (7, 7, 1), (1, 1, 1)]
)
def test_snapshot_step_size(epochs, snapshots, step):
    assert snapshot_step_size(epochs, snapshots) == step


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, None])
def test_snapshot_step_size_refuses_bad_values(bad):
    with pytest.raises(InvalidParameterError, match="num_snapshots"):
        snapshot_step_size(10, bad)


def test_schedule_records_every_step_size_epochs(path):
    rec = Recorder(path, n_samples=N, num_epochs=10, num_snapshots=3)
    assert rec.step_size == 3
    assert [e for e in range(10) if rec.should_record(e)] == [0, 3, 6, 9]
    for epoch in range(10):
        for batch in batches_of(range(N), 5):
            stored = rec.store_batch(epoch_values(epoch)[batch], ids=batch, epoch=epoch)
            assert stored == rec.should_record(epoch)
    rec.close()
    run = open_run(path)
    assert run.epochs == [0, 3, 6, 9]
    for t, epoch in enumerate(run.epochs):
        np.testing.assert_array_equal(run.read("logits", t), epoch_values(epoch))


def test_a_skipped_epoch_ends_the_pending_snapshot(path):
    rec = Recorder(path, n_samples=N, background=False, every_n_epochs=2)
    rec.store_batch(epoch_values(0), ids=range(N), epoch=0)
    assert committed(path) == 0
    assert not rec.store_batch(epoch_values(1), ids=range(N), epoch=1)
    assert committed(path) == 1  # on disk before epoch 1's work
    rec.close()
    np.testing.assert_array_equal(open_run(path).read("logits", 0), epoch_values(0))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_epochs": 10},
        {"num_snapshots": 3},
        {"every_n_epochs": 2, "num_epochs": 10, "num_snapshots": 5},
        {"every_n_epochs": 0},
        {"num_epochs": 0, "num_snapshots": 1},
        {"kind": "scores"},
        {"dtype": "int8"},
    ],
)
def test_recorder_validates_parameters(path, kwargs):
    with pytest.raises(InvalidParameterError):
        Recorder(path, n_samples=N, **kwargs)


def test_n_samples_is_required_for_a_new_run(path):
    with pytest.raises(InvalidParameterError, match="n_samples"):
        Recorder(path)


# ---------------------------------------------------------------------- metrics
def test_metrics_after_an_explicit_end_attach_to_the_last_snapshot(path):
    rec = Recorder(path, n_samples=N)
    rec.store_batch(epoch_values(0), ids=range(N), epoch=0)
    rec.end_snapshot()  # e.g. a callback ends the snapshot first
    assert not rec.end_snapshot(metrics={"val_accuracy": 0.75})
    rec.close()
    np.testing.assert_array_equal(open_run(path).metric("val_accuracy"), [0.75])


def test_metrics_after_an_implicit_epoch_change_end_attach_to_the_last_snapshot(path):
    rec = Recorder(path, n_samples=N, background=False, every_n_epochs=2)
    rec.store_batch(epoch_values(0), ids=range(N), epoch=0)
    rec.store_batch(epoch_values(1), ids=range(N), epoch=1)  # skipped epoch: ends snapshot 0
    assert committed(path) == 1
    rec.end_snapshot(metrics={"loss": 0.5}, epoch=0)  # epoch 0's metrics, reported late
    np.testing.assert_array_equal(open_run(path).metric("loss"), [0.5])


def test_metrics_of_a_skipped_epoch_do_not_overwrite_an_earlier_snapshot(path):
    rec = Recorder(path, n_samples=N, every_n_epochs=2)
    for epoch in range(4):
        rec.store_batch(epoch_values(epoch), ids=range(N), epoch=epoch)
        rec.end_snapshot(metrics={"loss": float(epoch)})
    rec.close()
    run = open_run(path)
    assert run.epochs == [0, 2]
    np.testing.assert_array_equal(run.metric("loss"), [0.0, 2.0])


# ---------------------------------------------------------------------- resume, dtype
def test_resume_appends_to_an_existing_run(path):
    with Recorder(path, n_samples=N, labels=np.arange(N) % D) as rec:
        for epoch in range(2):
            rec.store_batch(epoch_values(epoch), ids=range(N), epoch=epoch)
    with pytest.raises(RunExistsError):
        Recorder(path, n_samples=N)
    with Recorder(path, resume=True) as rec:
        assert rec.n_snapshots == 2
        with pytest.raises(RecordingError, match="got epoch 0 after epoch 1"):
            rec.store_batch(epoch_values(0), ids=range(N), epoch=0)
        for epoch in range(2, 4):
            rec.store_batch(epoch_values(epoch), ids=range(N), epoch=epoch)
    run = open_run(path)
    assert run.epochs == [0, 1, 2, 3]
    np.testing.assert_array_equal(run.labels, np.arange(N) % D)
    for epoch in range(4):
        np.testing.assert_array_equal(run.read("logits", epoch), epoch_values(epoch))


def test_resume_checks_the_run(path, tmp_path):
    with pytest.raises(RunNotFoundError):
        Recorder(tmp_path / "absent", resume=True)
    Recorder(path, n_samples=N).close()
    with pytest.raises(InvalidParameterError, match="n_samples"):
        Recorder(path, n_samples=N + 1, resume=True)


def test_overwrite_replaces_the_run(path):
    with Recorder(path, n_samples=N) as rec:
        rec.store_batch(epoch_values(0), ids=range(N), epoch=0)
    with Recorder(path, n_samples=4, overwrite=True) as rec:
        rec.store_batch(epoch_values(5, n=4), ids=range(4), epoch=0)
    run = open_run(path)
    assert run.n_samples == 4 and run.n_snapshots == 1


def test_float16_storage(path):
    values = epoch_values(0) * 100
    with Recorder(path, n_samples=N, dtype="float16") as rec:
        rec.store_batch(values, ids=range(N), epoch=0)
    run = open_run(path)
    assert run.layer_dtype("logits") == np.float16
    np.testing.assert_array_equal(run.read(), values.astype(np.float16))
    # a resumed recorder keeps the run's dtype
    with Recorder(path, resume=True) as rec:
        assert rec.dtype == np.float16
        rec.store_batch(values, ids=range(N), epoch=1)
    assert open_run(path).read("logits", 1).dtype == np.float16


@pytest.mark.parametrize("background", [False, True])
def test_float16_overflow_is_refused(path, background):
    rec = Recorder(path, n_samples=N, dtype="float16", background=background)
    rec.store_batch(epoch_values(0), ids=range(N), epoch=0)
    rec.store_batch(np.full((1, D), 1e5), ids=[4], epoch=0)
    with pytest.raises(RecordingError, match=r"batch 1 of snapshot 0, epoch 0 .*float16 range"):
        rec.close()
    assert committed(path) == 0


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (np.array([[0.0, np.nan, 1.0], [1, 1, 1]]), r"NaN or inf in 1 row\(s\) \(sample ids \[8\]"),
        (np.array([[0.0, np.inf, 1.0], [1, 1, -np.inf]]), r"NaN or inf in 2 row\(s\) .*\[8, 9\]"),
    ],
    ids=["nan", "inf"],
)
@pytest.mark.parametrize("background", [False, True])
def test_non_finite_values_are_refused_per_snapshot_naming_the_batch(
    path, bad, problem, background
):
    """Checked once per snapshot; the error names the batch (and epoch) that brought them,
    that snapshot is not written, earlier ones are kept and recording can go on."""
    rec = Recorder(path, n_samples=N, background=background)
    rec.store_batch(epoch_values(0), ids=range(N), epoch=0)
    good_batches(rec, epoch=1)
    rec.store_batch(bad, ids=[8, 9], epoch=1)  # batch 3 of snapshot 1
    with pytest.raises(RecordingError, match="batch 3 of snapshot 1, epoch 1 .*" + problem):
        rec.end_snapshot()
        rec.flush()
    rec.store_batch(epoch_values(2), ids=range(N), epoch=2)
    rec.close()
    run = open_run(path)
    assert run.epochs == [0, 2]
    np.testing.assert_array_equal(run.read("logits", 1), epoch_values(2))


@pytest.mark.parametrize("background", [False, True])
def test_negative_ids_refuse_the_snapshot_naming_the_batch(path, background):
    """NumPy wraps negative ids around; rather than a check per batch, the snapshot's end
    finds the rows they marked and refuses the snapshot (their values overwrote others)."""
    rec = Recorder(path, n_samples=N, background=background)
    rec.store_batch(epoch_values(0), ids=range(N), epoch=0)
    good_batches(rec, epoch=1)
    rec.store_batch(np.ones((2, D)), ids=[-1, -N], epoch=1)
    rec.store_batch(epoch_values(1)[[9]], ids=[9], epoch=1)  # batch 4: every id seen
    with pytest.raises(
        RecordingError, match=rf"2 id\(s\) at batch 3 of snapshot 1, epoch 1 .*\[-{N}, -1\]"
    ):
        rec.end_snapshot()
        rec.flush()
    with pytest.raises(RecordingError, match="outside"):  # beyond -N: refused at once
        rec.store_batch(np.ones((1, D)), ids=[-N - 1], epoch=2)
    rec.close()
    run = open_run(path)
    assert run.epochs == [0]
    np.testing.assert_array_equal(run.read(), epoch_values(0))


def test_a_later_finite_write_of_the_same_id_replaces_a_non_finite_one(path):
    with Recorder(path, n_samples=N) as rec:
        rec.store_batch(np.full((1, D), np.nan), ids=[3], epoch=0)
        rec.store_batch(epoch_values(0), ids=range(N), epoch=0)
    np.testing.assert_array_equal(open_run(path).read(), epoch_values(0))


def test_probabilities_kind(path):
    probs = np.array([[0.2, 0.8], [0.9, 0.1]])
    with Recorder(path, n_samples=2, kind="probabilities") as rec:
        rec.store_batch(probs, ids=[0, 1], epoch=0)
    run = open_run(path)
    assert run.kind == "probabilities"
    np.testing.assert_array_equal(run.predictions(0), [1, 0])


def test_time_in_recorder_is_counted_once(path):
    n, d = 50_000, 32
    values = np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)
    rec = Recorder(path, n_samples=n)
    started = time.perf_counter()
    for epoch in range(3):  # each epoch change writes a snapshot inside store_batch
        rec.store_batch(values, ids=range(n), epoch=epoch)
    rec.close()
    elapsed = time.perf_counter() - started
    assert 0 < rec.time_in_recorder <= elapsed


def test_repr(path):
    rec = Recorder(path, n_samples=N)
    rec.store_batch(epoch_values(0)[:2], ids=[0, 1], epoch=0)
    assert "0 snapshots, 1 pending batches" in repr(rec)


# ---------------------------------------------------------------------- property
@st.composite
def batch_plans(draw):
    """A snapshot's ids in random order, cut into random batches, plus rewrites of some ids."""
    n = draw(st.integers(1, 25))
    d = draw(st.integers(1, 4))
    order = draw(st.permutations(range(n)))
    cuts = sorted(draw(st.sets(st.integers(1, max(n - 1, 1)), max_size=n)) - {n})
    bounds = [0, *cuts, n]
    plan = [list(order[a:b]) for a, b in itertools.pairwise(bounds) if b > a]
    rewrites = draw(st.lists(st.lists(st.integers(0, n - 1), min_size=1, max_size=4), max_size=3))
    positions = [draw(st.integers(0, len(plan))) for _ in rewrites]
    seed = draw(st.integers(0, 2**16))
    return n, d, plan, list(zip(positions, rewrites, strict=True)), seed


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch_plans())
def test_any_batch_order_gives_the_snapshot_written_whole(plan):
    n, d, batches, rewrites, seed = plan
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((n, d)).astype(np.float32)
    noise = rng.standard_normal((64, d)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        with Recorder(Path(tmp) / "batched", n_samples=n) as rec:
            used = 0
            for i in range(len(batches) + 1):
                for position, ids in rewrites:  # stale values, overwritten later
                    if position == i:
                        rec.store_batch(noise[used : used + len(ids)], ids=ids, epoch=0)
                        used += len(ids)
                if i < len(batches):
                    rec.store_batch(values[batches[i]], ids=np.array(batches[i]), epoch=0)
            # the final word on every id rewritten after its batch
            late = sorted({i for p, ids in rewrites if p > 0 for i in ids})
            if late:
                rec.store_batch(values[late], ids=late, epoch=0)
        with Recorder(Path(tmp) / "whole", n_samples=n) as rec:
            rec.store_batch(values, ids=range(n), epoch=0)
        batched, whole = open_run(Path(tmp) / "batched"), open_run(Path(tmp) / "whole")
        np.testing.assert_array_equal(batched.read(), whole.read())
        np.testing.assert_array_equal(batched.read(), values)
        np.testing.assert_array_equal(batched.predictions(0), whole.predictions(0))
        assert batched.complete[0] and whole.complete[0]


def test_incomplete_snapshot_warning_points_at_the_callers_line(path):
    rec = Recorder(path, n_samples=N)
    rec.store_batch(epoch_values(0)[:3], ids=range(3), epoch=0)
    with pytest.warns(IncompleteSnapshotWarning) as implicit:
        rec.store_batch(epoch_values(1), ids=range(N), epoch=1)  # ends epoch 0 implicitly
    rec.store_batch(epoch_values(2)[:3], ids=range(3), epoch=2)
    with pytest.warns(IncompleteSnapshotWarning) as explicit:
        rec.end_snapshot()
    assert implicit[0].filename == explicit[0].filename == __file__
