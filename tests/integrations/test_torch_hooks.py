"""Torch integration: forward-hook recording (training pass) and the probe pass."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import reprdynamics as rd  # noqa: E402
from reprdynamics.errors import LayerNotFoundError, RecordingError  # noqa: E402
from reprdynamics.integrations.torch import (  # noqa: E402
    LayerRecorder,
    model_device,
    record_probe_pass,
    split_batch,
)

N = 24


class SmallCNN(nn.Module):
    def __init__(self, *, dropout: float = 0.0, inplace: bool = False) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(4, 6, 3, padding=1),
            nn.BatchNorm2d(6),
            nn.ReLU(),
        )
        self.fc1 = nn.Linear(6 * 8 * 8, 16)
        self.act = nn.ReLU(inplace=inplace)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(16, 5)

    def forward(self, x):
        h = self.features(x).flatten(1)
        return self.fc2(self.drop(self.act(self.fc1(h))))


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, 1, 8, 8, generator=g)
    y = torch.randint(0, 5, (N,), generator=g)
    return x, y, torch.arange(N)


def _loader(x, y, ids, batch_size=8, shuffle=False):
    ds = torch.utils.data.TensorDataset(x, y, ids)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=shuffle)


def _no_hooks(model) -> bool:
    return all(not m._forward_hooks for m in model.modules())


def test_records_named_modules_with_pooling_and_matches_manual_forward(tmp_path, data):
    torch.manual_seed(0)
    net = SmallCNN().eval()
    x, y, ids = data
    rec = rd.Recorder(tmp_path / "run", n_samples=N, labels=y.numpy())
    layers = {"conv": "features.2", "conv_max": "features.4", "penultimate": "fc1"}
    pool = {"conv": "avg", "conv_max": "max", "penultimate": "avg"}
    with LayerRecorder(net, rec, layers=layers, pool=pool) as hooks:
        assert not _no_hooks(net)
        for epoch in range(2):
            for xb, _, ib in _loader(x, y, ids, shuffle=True):
                with hooks.batch(ib, epoch=epoch):
                    net(xb)
            assert hooks.end_snapshot(metrics={"loss": 1.0 / (epoch + 1)})
    assert _no_hooks(net)
    rec.close()

    run = rd.open_run(tmp_path / "run")
    assert run.n_snapshots == 2
    assert sorted(run.layers) == ["conv", "conv_max", "logits", "penultimate"]
    assert run.layers[0] == "logits"
    assert run.layer_dim("conv") == 6 and run.layer_dim("penultimate") == 16
    assert run.layer_dim("logits") == 5
    assert run.complete.all()
    with torch.no_grad():
        conv = net.features[:3](x)
        conv_max = net.features(x).amax(dim=(2, 3))
        pen = net.fc1(net.features(x).flatten(1))
        logits = net(x)
    np.testing.assert_allclose(run.read("conv", 1), conv.mean(dim=(2, 3)).numpy(), atol=1e-6)
    np.testing.assert_allclose(run.read("conv_max", 1), conv_max.numpy(), atol=1e-6)
    np.testing.assert_allclose(run.read("penultimate", 1), pen.numpy(), atol=1e-5)
    np.testing.assert_allclose(run.read("logits", 1), logits.numpy(), atol=1e-5)
    np.testing.assert_array_equal(run.predictions(1), logits.argmax(1).numpy())
    assert run.metric("loss").tolist() == [1.0, 0.5]


def test_flatten_keeps_every_value(tmp_path, data):
    net = SmallCNN().eval()
    x, _, ids = data
    rec = rd.Recorder(tmp_path / "run", n_samples=N)
    with LayerRecorder(net, rec, layers=["features.2"], pool="flatten") as hooks:
        with hooks.batch(ids, epoch=0):
            net(x)
        hooks.end_snapshot()
    rec.close()
    run = rd.open_run(tmp_path / "run")
    assert run.layers == ["logits", "features.2"]
    with torch.no_grad():
        expected = net.features[:3](x).flatten(1).numpy()
    np.testing.assert_allclose(run.read("features.2", 0), expected, atol=1e-6)


def test_training_step_with_inplace_relu_records_pre_activation(tmp_path, data):
    torch.manual_seed(1)
    net = SmallCNN(inplace=True)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x, y, ids = data
    rec = rd.Recorder(tmp_path / "run", n_samples=N, labels=y.numpy())
    with LayerRecorder(net, rec, layers={"penultimate": "fc1"}) as hooks:
        for epoch in range(2):
            for xb, yb, ib in _loader(x, y, ids):
                with hooks.batch(ib, epoch=epoch):
                    out = net(xb)
                loss = nn.functional.cross_entropy(out, yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
            hooks.end_snapshot(metrics={"loss": loss})
    rec.close()
    run = rd.open_run(tmp_path / "run")
    # fc1's output is changed in place by ReLU after the hook ran; the run keeps the
    # values seen by the hook, negatives included.
    assert (run.read("penultimate", 0) < 0).any()
    assert run.n_snapshots == 2


def test_outputs_are_handed_over_in_groups(tmp_path, data, monkeypatch):
    import reprdynamics.integrations.torch as integration

    monkeypatch.setattr(integration, "GROUP_ROWS", 10)
    net = SmallCNN().eval()
    x, y, ids = data
    rec = rd.Recorder(tmp_path / "run", n_samples=N)
    buffer = np.zeros(7, dtype=np.int64)  # one ids buffer, reused for every batch
    with LayerRecorder(net, rec, layers={"penultimate": "fc1"}) as hooks:
        for epoch in range(2):
            order = np.random.default_rng(epoch).permutation(N)
            for start in range(0, N, 7):
                part = order[start : start + 7]
                buffer[: len(part)] = part
                with hooks.batch(buffer[: len(part)], epoch=epoch):
                    net(x[part])
            hooks.end_snapshot()
    rec.close()
    run = rd.open_run(tmp_path / "run")
    with torch.no_grad():
        pen = net.fc1(net.features(x).flatten(1)).numpy()
    for t in (0, 1):
        np.testing.assert_allclose(run.read("penultimate", t), pen, atol=1e-5)
    assert run.complete.all()


def test_recorder_end_snapshot_and_close_hand_over_pending_outputs(tmp_path, data):
    net = SmallCNN().eval()
    x = data[0]
    rec = rd.Recorder(tmp_path / "run", n_samples=N)
    hooks = LayerRecorder(net, rec, layers={"penultimate": "fc1"}).attach()
    for epoch in range(2):
        with hooks.batch(range(N), epoch=epoch):
            net(x)
        # Ended on the recorder itself, not through the hooks: pending outputs go first,
        # and the metrics land on this epoch's snapshot.
        assert rec.end_snapshot(metrics={"loss": float(epoch)})
    with hooks.batch(range(N), epoch=2):
        net(x)
    rec.close()
    hooks.remove()
    assert "end_snapshot" not in vars(rec) and "close" not in vars(rec)  # guards removed
    run = rd.open_run(tmp_path / "run")
    assert run.epochs == [0, 1, 2] and run.metric("loss")[:2].tolist() == [0.0, 1.0]
    assert run.complete.all()


def test_schedule_skips_epochs_without_work(tmp_path, data):
    net = SmallCNN().eval()
    x, _, ids = data
    rec = rd.Recorder(tmp_path / "run", n_samples=N, every_n_epochs=2)
    with LayerRecorder(net, rec) as hooks:
        for epoch in range(4):
            with hooks.batch(ids, epoch=epoch):
                net(x)
            hooks.end_snapshot()
    rec.close()
    assert rd.open_run(tmp_path / "run").epochs == [0, 2]


def test_hooks_removed_after_exception(tmp_path, data):
    net = SmallCNN()
    rec = rd.Recorder(tmp_path / "run", n_samples=N)
    with pytest.raises(RuntimeError, match="boom"), LayerRecorder(net, rec, layers=["fc1"]):
        raise RuntimeError("boom")
    assert _no_hooks(net) and "end_snapshot" not in vars(rec)
    hooks = LayerRecorder(net, rec, layers=["fc1"]).attach()
    hooks.attach()  # idempotent
    assert len(net.fc1._forward_hooks) == 1
    hooks.remove()
    assert _no_hooks(net)


def test_unknown_layer_lists_available_modules(tmp_path):
    rec = rd.Recorder(tmp_path / "run", n_samples=N)
    with pytest.raises(LayerNotFoundError) as info:
        LayerRecorder(SmallCNN(), rec, layers={"penultimate": "fc3"})
    message = str(info.value)
    assert "'fc3'" in message
    for name in ("features.0", "fc1", "fc2", "drop"):
        assert repr(name) in message
    assert "Did you mean" in message
    assert isinstance(info.value, KeyError)


def test_forward_without_ids_is_an_error(tmp_path, data):
    net = SmallCNN()
    x, _, _ = data
    rec = rd.Recorder(tmp_path / "run", n_samples=N)
    with LayerRecorder(net, rec) as hooks:
        with pytest.raises(RecordingError, match="without ids"):
            net(x)
        with pytest.raises(RecordingError, match="without ids"):
            hooks.set_batch(None)
        with hooks.paused():
            net(x)  # not recorded, no error
    quiet = LayerRecorder(net, rec, require_ids=False)
    with quiet:
        net(x)
    assert rec.end_snapshot() is False  # nothing was recorded


def test_split_batch_needs_ids():
    x = torch.zeros(2, 3)
    assert split_batch({"X": x, "y": 0, "index": [0, 1]})[1] == [0, 1]
    assert split_batch((x, 0, [4, 5]))[1] == [4, 5]
    with pytest.raises(RecordingError, match="without ids"):
        split_batch((x, torch.zeros(2)))
    with pytest.raises(RecordingError, match=r"without ids.*'index'"):
        split_batch({"X": x, "y": 0})


def test_module_called_twice_and_stale_ids_are_errors(tmp_path, data):
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            return self.lin(self.lin(x))

    rec = rd.Recorder(tmp_path / "run", n_samples=N)
    net = Twice()
    with LayerRecorder(net, rec, layers=["lin"]) as hooks:
        with pytest.raises(RecordingError, match="second output"), hooks.batch(range(3), epoch=0):
            net(torch.zeros(3, 4))
    rec2 = rd.Recorder(tmp_path / "run2", n_samples=N)
    net2 = SmallCNN()
    with LayerRecorder(net2, rec2) as hooks:
        hooks.set_batch(range(N), epoch=0)
        net2(data[0])
        with pytest.raises(RecordingError, match="second output"):
            net2(data[0])


def test_bad_batches(tmp_path, data):
    net = SmallCNN()
    x = data[0]
    rec = rd.Recorder(tmp_path / "run", n_samples=N)
    with LayerRecorder(net, rec) as hooks:
        with pytest.raises(RecordingError, match="batch of 3 ids"), hooks.batch([0, 1, 2]):
            net(x)
        with pytest.raises(RecordingError, match=r"1 batch id\(s\) are outside \[0, 24\)"):
            hooks.set_batch([0, 1, N])
        # An id tensor is checked by the recorder when the outputs are handed over.
        with hooks.batch(torch.tensor([0, 1, N]), epoch=0):
            net(x[:3])
        with pytest.raises(RecordingError, match=r"outside \[0, 24\)"):
            hooks.flush()


def test_mixed_devices_are_an_error(tmp_path, data):
    net = SmallCNN()
    x = data[0]
    rec = rd.Recorder(tmp_path / "run", n_samples=N)
    with LayerRecorder(net, rec) as hooks:
        with pytest.raises(RecordingError, match="Mixed devices"):
            with hooks.batch(torch.arange(N, device="meta"), epoch=0):
                net(x)
    meta_net = SmallCNN().to("meta")
    with pytest.raises(RecordingError, match=r"Mixed devices.*meta"):
        model_device(meta_net, "cpu")
    split = SmallCNN()
    split.fc2.to("meta")
    with pytest.raises(RecordingError, match="pass device="):
        model_device(split)
    assert model_device(split, "cpu") == torch.device("cpu")


def test_layer_never_called_is_an_error(tmp_path, data):
    class Wrapper(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = SmallCNN()

    wrapper = Wrapper()
    rec = rd.Recorder(tmp_path / "run", n_samples=N)
    with LayerRecorder(wrapper, rec, layers={"penultimate": "net.fc1"}) as hooks:
        with hooks.batch(range(N), epoch=0):
            wrapper.net(data[0])  # the wrapper's own forward (the output layer) never runs
        with pytest.raises(RecordingError, match=r"'logits'.*never called"):
            hooks.end_snapshot()


def test_probe_pass_equals_manual_eval_forward_and_restores_modes(tmp_path, data):
    torch.manual_seed(2)
    net = SmallCNN(dropout=0.5)
    net.train()
    net.features[3].eval()  # a frozen BatchNorm stays frozen
    x, y, ids = data
    rec = rd.Recorder(tmp_path / "run", n_samples=N, labels=y.numpy())
    result = record_probe_pass(
        net,
        _loader(x, y, ids, batch_size=5),
        rec,
        layers={"penultimate": "fc1"},
        epoch=3,
        metrics={"accuracy": 0.5},
    )
    assert net.training and not net.features[3].training and net.drop.training
    assert result.snapshot == 0 and result.n_batches == 5 and result.n_samples == N
    assert result.seconds > 0 and not result.skipped
    rec.close()
    run = rd.open_run(tmp_path / "run")
    net.eval()
    with torch.no_grad():
        logits = net(x).numpy()
        pen = net.fc1(net.features(x).flatten(1)).numpy()
    np.testing.assert_allclose(run.read("logits", 0), logits, atol=1e-5)
    np.testing.assert_allclose(run.read("penultimate", 0), pen, atol=1e-5)
    assert run.epochs == [3] and run.metric("accuracy").tolist() == [0.5]


def test_probe_pass_with_dict_batches_and_schedule(tmp_path, data):
    x, y, ids = data
    batches = [
        {"X": x[i : i + 10], "y": y[i : i + 10], "index": ids[i : i + 10]} for i in (0, 10, 20)
    ]
    net = SmallCNN()
    rec = rd.Recorder(tmp_path / "run", n_samples=N, every_n_epochs=2)
    results = [record_probe_pass(net, batches, rec, epoch=e) for e in range(3)]
    assert [r.skipped for r in results] == [False, True, False]
    assert [r.snapshot for r in results] == [0, None, 1]
    rec.close()
    assert rd.open_run(tmp_path / "run").epochs == [0, 2]


def test_probe_loader_must_cover_the_run(tmp_path, data):
    x, y, ids = data
    net = SmallCNN()
    small = _loader(x[:20], y[:20], ids[:20])
    rec = rd.Recorder(tmp_path / "run", n_samples=N)
    with pytest.raises(RecordingError, match=r"holds 20 items.*4 missing"):
        record_probe_pass(net, small, rec, epoch=0)
    # Without a dataset length the pass runs, then reports the missing ids.
    record_probe_pass(net, list(_loader(x, y, ids)), rec, epoch=0)
    partial = list(_loader(x, y, ids))[:2]
    with pytest.raises(RecordingError, match=r"8 of 24 are missing \(e.g. ids \[16, 17"):
        record_probe_pass(net, partial, rec, epoch=1)
    run = rd.open_run(tmp_path / "run")
    assert run.n_snapshots == 1  # the partial snapshot was dropped
    with pytest.raises(RecordingError, match="without ids"):
        record_probe_pass(net, [(x, y)], rd.Recorder(tmp_path / "r2", n_samples=N), epoch=0)


def test_integrations_package_imports_no_framework():
    code = (
        "import sys, reprdynamics.integrations as i; "
        "assert not {'torch', 'keras', 'lightning'} & set(sys.modules), sorted(sys.modules); "
        "assert 'LayerRecorder' in dir(i)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    from reprdynamics.integrations import LayerRecorder as lazy

    assert lazy is LayerRecorder


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_async_copies_equal_values(tmp_path, data):
    net = SmallCNN().cuda().eval()
    x, y, ids = data
    rec = rd.Recorder(tmp_path / "run", n_samples=N)
    with LayerRecorder(net, rec, layers={"conv": "features.2", "penultimate": "fc1"}) as hooks:
        for epoch in range(2):
            for xb, _, ib in _loader(x, y, ids, batch_size=7):
                # ids on the GPU too: copied asynchronously like the outputs
                ib = ib.cuda() if epoch else ib
                with hooks.batch(ib, epoch=epoch):
                    net(xb.cuda(non_blocking=True))
            hooks.end_snapshot()
    rec.close()
    run = rd.open_run(tmp_path / "run")
    with torch.no_grad():
        logits = net(x.cuda()).cpu().numpy()
        conv = net.features[:3](x.cuda()).mean(dim=(2, 3)).cpu().numpy()
    for t in (0, 1):
        np.testing.assert_allclose(run.read("logits", t), logits, atol=1e-4)
        np.testing.assert_allclose(run.read("conv", t), conv, atol=1e-4)
    rec2 = rd.Recorder(tmp_path / "probe", n_samples=N)
    record_probe_pass(net, _loader(x, y, ids), rec2, layers=["fc1"], epoch=0)
    rec2.close()
    np.testing.assert_allclose(rd.open_run(tmp_path / "probe").read("logits", 0), logits, atol=1e-4)
