"""store_batch of accelerator tensors: copies staged off the device, taken at the snapshot's
end, never a device-wide sync.

The staging path runs on the CPU by registering the stager for CPU tensors too (the
copies then land at once); the CUDA tests run where a device exists.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from reprdynamics import Recorder, open_run  # noqa: E402
from reprdynamics.errors import RecordingError  # noqa: E402
from reprdynamics.integrations.torch import DeviceStager  # noqa: E402
from reprdynamics.recording import convert  # noqa: E402

N, D = 30, 4
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture()
def staged_cpu(monkeypatch):
    """Route CPU tensors through the stager (as CUDA tensors are); count what it staged."""
    counts = {"staged": 0}

    class Counting(DeviceStager):
        def stage(self, *args, **kwargs):
            counts["staged"] += 1
            return super().stage(*args, **kwargs)

    monkeypatch.setattr(convert, "_STAGERS", [])
    convert.register_device_stager(lambda x: isinstance(x, torch.Tensor), Counting)
    return counts


def outputs(epoch: int) -> np.ndarray:
    return np.random.default_rng(epoch).standard_normal((N, D)).astype(np.float32)


def record(path, as_tensor: bool, epochs=2, batch=7):
    with Recorder(path, n_samples=N) as rec:
        for epoch in range(epochs):
            order = np.random.default_rng(50 + epoch).permutation(N)
            values = outputs(epoch)
            for start in range(0, N, batch):
                ids = order[start : start + batch]
                rows = torch.from_numpy(values[ids]) if as_tensor else values[ids]
                hidden = torch.from_numpy(values[ids, :2]).reshape(-1, 1, 2)
                rec.store_batch(rows, ids=torch.from_numpy(ids) if as_tensor else ids, epoch=epoch)
                rec.store_batch(
                    hidden if as_tensor else values[ids, :2], ids=ids, epoch=epoch, layer="h"
                )


def test_staged_tensors_give_the_run_plain_arrays_give(tmp_path, staged_cpu):
    record(tmp_path / "staged", as_tensor=True)
    assert staged_cpu["staged"] == 2 * 2 * 5  # every tensor batch went through the stager
    record(tmp_path / "plain", as_tensor=False)
    staged, plain = open_run(tmp_path / "staged"), open_run(tmp_path / "plain")
    assert staged.complete.all() and staged.n_snapshots == 2
    for t in range(2):
        for layer in ("logits", "h"):
            np.testing.assert_array_equal(staged.read(layer, t), plain.read(layer, t))


def test_staged_batches_keep_their_number_in_errors(tmp_path, staged_cpu):
    rec = Recorder(tmp_path / "r", n_samples=N, background=False)
    rec.store_batch(np.ones((2, D)), ids=[0, 1], epoch=0)  # batch 0, a plain array
    rec.store_batch(torch.ones(2, D), ids=[2, 3], epoch=0)  # batch 1, staged
    rec.store_batch(torch.ones(2, D), ids=[4, N], epoch=0)  # batch 2: an id beyond N
    with pytest.raises(
        RecordingError, match=rf"1 id\(s\) at batch 2 of snapshot 0, epoch 0 .*\[{N}\]"
    ):
        rec.end_snapshot()
    # what needs no data is refused at once
    with pytest.raises(RecordingError, match=r"batch 3 of snapshot 0.* has 3 rows but 2 ids"):
        rec.store_batch(torch.ones(3, D), ids=[5, 6], epoch=0)
    with pytest.raises(RecordingError, match="has 5 dimensions, but earlier batches had 4"):
        rec.store_batch(torch.ones(2, D + 1), ids=[5, 6], epoch=0)
    rec.store_batch(torch.from_numpy(outputs(0)), ids=np.arange(N), epoch=0)
    rec.close()
    np.testing.assert_array_equal(open_run(tmp_path / "r").read(), outputs(0))


def test_bfloat16_and_the_memory_in_flight_bound(tmp_path, staged_cpu):
    rec = Recorder(tmp_path / "r", n_samples=N)
    values = torch.from_numpy(outputs(0)).to(torch.bfloat16)
    for start in range(0, N, 3):  # more rows than N in flight would trigger a drain
        rec.store_batch(values[start : start + 3], ids=np.arange(start, min(start + 3, N)), epoch=0)
        assert rec._stager.pending_rows <= N
    rec.store_batch(values, ids=np.arange(N), epoch=0)
    rec.close()
    np.testing.assert_array_equal(open_run(tmp_path / "r").read(), values.float().numpy())


def test_abort_discards_staged_copies(tmp_path, staged_cpu):
    rec = Recorder(tmp_path / "r", n_samples=N)
    rec.store_batch(torch.ones(N, D), ids=np.arange(N), epoch=0)
    rec.abort()
    assert rec._stager.pending_rows == 0
    assert open_run(tmp_path / "r").n_snapshots == 0


# ---------------------------------------------------------------------------- CUDA
@cuda
def test_cuda_store_batch_never_synchronises_the_device(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a, **k: calls.append("device"))
    rec = Recorder(tmp_path / "r", n_samples=N)
    values = torch.from_numpy(outputs(0)).cuda()
    real_sync = torch.cuda.Event.synchronize
    monkeypatch.setattr(torch.cuda.Event, "synchronize", lambda self: calls.append("event"))
    for start in range(0, N, 5):
        rec.store_batch(values[start : start + 5] * 2, ids=np.arange(start, start + 5), epoch=0)
    assert calls == []  # no wait of any kind while batches are stored
    monkeypatch.setattr(torch.cuda.Event, "synchronize", real_sync)
    rec.close()
    np.testing.assert_array_equal(open_run(tmp_path / "r").read(), outputs(0) * 2)


@cuda
def test_cuda_ids_on_the_device_are_staged_too(tmp_path):
    values = torch.from_numpy(outputs(1)).cuda()
    with Recorder(tmp_path / "r", n_samples=N) as rec:
        rec.store_batch(values, ids=torch.arange(N, device="cuda"), epoch=0)
    np.testing.assert_array_equal(open_run(tmp_path / "r").read(), outputs(1))
