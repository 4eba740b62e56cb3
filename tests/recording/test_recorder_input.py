"""Bad input to the recorder (issue #11): every refusal is a RecordingError or an
InvalidParameterError naming what was wrong, never a raw NumPy or torch error, and an empty
batch fixes nothing."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from reprdynamics import Recorder, open_run
from reprdynamics.errors import InvalidParameterError, RecordingError

N, D = 10, 3


def epoch_values(epoch: int, n: int = N, d: int = D) -> np.ndarray:
    return np.random.default_rng(epoch).standard_normal((n, d)).astype(np.float32)


@pytest.fixture()
def path(tmp_path):
    return tmp_path / "run"


# ------------------------------------------------------- float64 beyond the float32 range
@pytest.mark.parametrize(("big", "stored"), [(1e39, "inf"), (-1e300, "-inf")])
@pytest.mark.parametrize("background", [False, True])
def test_float64_beyond_float32_is_refused_naming_batch_sample_and_value(
    path, big, stored, background
):
    """Finite as float64, inf once cast to float32: refused at the snapshot's end, without a
    NumPy overflow warning on the way, like any other non-finite value."""
    rec = Recorder(path, n_samples=N, background=background)
    rec.store_batch(epoch_values(0), ids=range(N), epoch=0)
    rows = epoch_values(1).astype(np.float64)
    rec.store_batch(rows[:8], ids=range(8), epoch=1)  # batch 0 of snapshot 1
    bad = rows[8:].copy()
    bad[1, 2] = big  # sample 9, column 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        rec.store_batch(bad, ids=[8, 9], epoch=1)  # batch 1
    with pytest.raises(
        RecordingError,
        match=rf"batch 1 of snapshot 1, epoch 1 .*Sample 9 holds {stored} in column 2 "
        r"\(a value beyond the float32 range, \|x\| > 3.40282e\+38, is stored as inf\)"
        r".*snapshot 1 is not written",
    ):
        rec.end_snapshot()
        rec.flush()
    rec.store_batch(epoch_values(2), ids=range(N), epoch=2)
    rec.close()
    run = open_run(path)
    assert run.epochs == [0, 2]  # the snapshot before is kept, recording went on
    np.testing.assert_array_equal(run.read("logits", 1), epoch_values(2))


def test_float64_within_float32_range_is_stored(path):
    values = np.full((N, D), 3e38)
    with Recorder(path, n_samples=N) as rec:
        rec.store_batch(values, ids=range(N), epoch=0)
    np.testing.assert_array_equal(open_run(path).read("logits", 0), values.astype(np.float32))


# ------------------------------------------------------------------ epoch and step
BAD_NUMBERS = [float("nan"), float("inf"), "abc", "3", 2.7, np.float64(2.5), True, [2]]
BAD_IDS = ["nan", "inf", "abc", "str-3", "2.7", "np-2.5", "True", "list"]


@pytest.mark.parametrize("epoch", BAD_NUMBERS, ids=BAD_IDS)
def test_store_batch_refuses_an_epoch_that_is_no_whole_number(path, epoch):
    with Recorder(path, n_samples=N, background=False) as rec:
        with pytest.raises(
            InvalidParameterError,
            match=r"The 'epoch' parameter of Recorder.store_batch must be a whole number",
        ):
            rec.store_batch(epoch_values(0), ids=range(N), epoch=epoch)
        assert rec.store_batch(epoch_values(0), ids=range(N), epoch=3)  # nothing was stored
    assert open_run(path).epochs == [3]


@pytest.mark.parametrize(
    "epoch",
    [2, 2.0, np.int64(2), np.int32(2), np.float32(2.0), np.array(2)],
    ids=["int", "float", "int64", "int32", "float32", "0-d array"],
)
def test_store_batch_accepts_whole_epochs(path, epoch):
    with Recorder(path, n_samples=N) as rec:
        assert rec.should_record(epoch)
        rec.store_batch(epoch_values(0), ids=range(N), epoch=epoch, step=np.int64(7))
    run = open_run(path)
    assert run.epochs == [2] and type(run.epochs[0]) is int
    assert run.snapshots[0].step == 7


def test_torch_scalar_epochs_are_accepted(path):
    torch = pytest.importorskip("torch")
    with Recorder(path, n_samples=N) as rec:
        rec.store_batch(epoch_values(0), ids=range(N), epoch=torch.tensor(1))
        rec.store_batch(epoch_values(1), ids=range(N), epoch=torch.tensor(2.0))
        with pytest.raises(InvalidParameterError, match="'epoch'"):
            rec.store_batch(epoch_values(1), ids=range(N), epoch=torch.tensor(2.5))
    assert open_run(path).epochs == [1, 2]


def test_steps_and_the_other_epoch_arguments_are_refused_alike(path):
    with Recorder(path, n_samples=N, background=False) as rec:
        with pytest.raises(
            InvalidParameterError, match=r"'step' parameter of Recorder.store_batch"
        ):
            rec.store_batch(epoch_values(0), ids=range(N), epoch=0, step=1.5)
        rec.store_batch(epoch_values(0), ids=range(N), epoch=0)
        with pytest.raises(InvalidParameterError, match=r"'epoch' parameter of .*end_snapshot"):
            rec.end_snapshot(epoch=0.5)
        with pytest.raises(InvalidParameterError, match=r"'step' parameter of .*end_snapshot"):
            rec.end_snapshot(step="abc")
        with pytest.raises(InvalidParameterError, match=r"'epoch' parameter of .*should_record"):
            rec.should_record(float("nan"))
        assert rec.end_snapshot(epoch=0.0, step=4.0)  # the refusals ended nothing
    run = open_run(path)
    assert run.epochs == [0] and run.snapshots[0].step == 4


# ------------------------------------------------------------- arrays that are none
def test_a_ragged_representation_is_refused_naming_the_argument(path):
    with Recorder(path, n_samples=N, background=False) as rec:
        rec.store_batch(epoch_values(0)[:2], ids=[0, 1], epoch=0)
        with pytest.raises(
            RecordingError,
            match=r"The 'representation' argument at batch 1 of snapshot 0, epoch 0 cannot be "
            r"read as an array: ValueError: .*rectangular list",
        ):
            rec.store_batch([[1.0, 2.0, 3.0], [4.0]], ids=[2, 3], epoch=0)
        rec.store_batch(epoch_values(0)[2:], ids=range(2, N), epoch=0)  # batch 1 again
    np.testing.assert_array_equal(open_run(path).read("logits", 0), epoch_values(0))


def test_ragged_ids_are_refused_naming_the_argument(path):
    with Recorder(path, n_samples=N, background=False) as rec:
        with pytest.raises(
            RecordingError, match=r"The 'ids' argument at batch 0 of snapshot 0, epoch 0"
        ):
            rec.store_batch(np.ones((2, D)), ids=[[0, 1], [2]], epoch=0)


def test_ragged_labels_are_refused_naming_the_argument(path):
    with pytest.raises(RecordingError, match=r"The 'labels' argument of Recorder"):
        Recorder(path, n_samples=3, labels=[0, [1, 2], 1])


def test_a_meta_device_tensor_is_refused_naming_the_argument(path):
    torch = pytest.importorskip("torch")
    with Recorder(path, n_samples=N, background=False) as rec:
        with pytest.raises(
            RecordingError,
            match=r"The 'representation' argument at batch 0 of snapshot 0, epoch 0 .*"
            r"NotImplementedError: .*meta",
        ):
            rec.store_batch(torch.empty(3, 2, device="meta"), ids=[0, 1, 2], epoch=0)


# ------------------------------------------------------------------ empty batches
@pytest.mark.parametrize(
    "empty",
    [np.zeros(0), [], np.zeros((0, 5)), np.zeros((0, 1), dtype=np.float32)],
    ids=["(0,)", "[]", "(0, 5)", "(0, 1)"],
)
def test_an_empty_first_batch_fixes_no_dimension(path, empty):
    with Recorder(path, n_samples=N) as rec:
        assert rec.store_batch(empty, ids=[], epoch=0)
        rec.store_batch(epoch_values(0), ids=range(N), epoch=0)
        rec.store_batch(empty, ids=np.zeros(0, dtype=np.int64), epoch=0)  # and none later
    run = open_run(path)
    assert run.layer_dim("logits") == D
    np.testing.assert_array_equal(run.read("logits", 0), epoch_values(0))


def test_an_epoch_of_empty_batches_writes_nothing(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no IncompleteSnapshotWarning for an empty epoch
        with Recorder(path, n_samples=N) as rec:
            rec.store_batch(np.zeros(0), ids=[], epoch=0)
            assert not rec.end_snapshot()
            rec.store_batch(np.zeros((0, 7)), ids=[], epoch=1)
            rec.store_batch(epoch_values(2), ids=range(N), epoch=2)
    run = open_run(path)
    assert run.epochs == [2]  # not tagged with the epoch of the empty batches
    assert run.complete.all()


def test_an_empty_staged_batch_fixes_no_dimension(path, monkeypatch):
    """Accelerator tensors take the stager's path; CPU tensors are routed through it here."""
    torch = pytest.importorskip("torch")
    from reprdynamics.integrations.torch import DeviceStager
    from reprdynamics.recording import convert

    monkeypatch.setattr(convert, "_STAGERS", [])
    convert.register_device_stager(lambda x: isinstance(x, torch.Tensor), DeviceStager)
    with Recorder(path, n_samples=N) as rec:
        rec.store_batch(torch.empty(0), ids=[], epoch=0)
        rec.store_batch(torch.from_numpy(epoch_values(0)), ids=range(N), epoch=0)
    np.testing.assert_array_equal(open_run(path).read("logits", 0), epoch_values(0))
