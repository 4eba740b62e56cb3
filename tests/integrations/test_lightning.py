"""Lightning callback: a real ``Trainer.fit`` on the CPU, in both recording modes."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")
nn = torch.nn

from lightning_models import NetModule, quiet_trainer  # noqa: E402

import reprdynamics as rd  # noqa: E402
from reprdynamics.errors import LayerNotFoundError, RecordingError  # noqa: E402
from reprdynamics.integrations.lightning import ReprDynamicsCallback  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*isinstance\\(treespec, LeafSpec\\).*"),
    pytest.mark.filterwarnings("ignore:.*no `val_dataloader`.*"),
    pytest.mark.filterwarnings("ignore:.*does not have many workers.*"),
    pytest.mark.filterwarnings("ignore:.*log_every_n_steps.*"),
]

N = 40


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc1 = nn.Linear(4 * 8 * 8, 12)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(12, 3)

    def forward(self, x):
        h = torch.relu(self.conv(x)).flatten(1)
        return self.fc2(self.drop(torch.relu(self.fc1(h))))


class Module(NetModule):
    def __init__(self) -> None:
        super().__init__(Net())

    def _batch(self, batch):
        if isinstance(batch, dict):
            return batch["X"], batch["y"]
        return batch[0], batch[1]

    def training_step(self, batch, batch_idx):
        x, y = self._batch(batch)
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = self._batch(batch)
        self.log("val_acc", (self(x).argmax(1) == y).float().mean())


class DictDataset(torch.utils.data.Dataset):
    """Items like ReprDataset's: {"X", "y", "index"}."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"X": self.x[i], "y": self.y[i], "index": i}


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(N, 1, 8, 8, generator=g), torch.randint(0, 3, (N,), generator=g)


def _trainer(cb, epochs=2):
    return quiet_trainer(cb, max_epochs=epochs, devices=1, num_sanity_val_steps=0)


def _fit(trainer, module, *loaders):
    trainer.fit(module, *loaders)


def test_training_pass_mode(tmp_path, data):
    x, y = data
    torch.manual_seed(0)
    train = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y, torch.arange(N)), batch_size=16, shuffle=True
    )
    val = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    cb = ReprDynamicsCallback(
        tmp_path / "run", layers={"penultimate": "net.fc1", "conv": "net.conv"}, labels=y
    )
    module = Module()
    _fit(_trainer(cb), module, train, val)
    run = rd.open_run(tmp_path / "run")
    assert run.n_snapshots == 2 and run.epochs == [0, 1]
    assert run.layers[0] == "logits" and sorted(run.layers) == ["conv", "logits", "penultimate"]
    assert run.layer_dim("conv") == 4 and run.layer_dim("penultimate") == 12
    assert run.complete.all()
    assert set(run.metric_names) >= {"train_loss", "val_acc"}
    assert run.metadata["recording_mode"] == "training"
    assert cb.mode == "training" and cb.seconds_ > 0
    assert all(not m._forward_hooks for m in module.modules())  # hooks removed


def test_probe_mode_matches_final_model_and_schedule(tmp_path, data):
    x, y = data
    torch.manual_seed(1)
    ds = DictDataset(x, y)
    train = torch.utils.data.DataLoader(ds, batch_size=16, shuffle=True)
    probe = torch.utils.data.DataLoader(ds, batch_size=32)
    cb = ReprDynamicsCallback(
        tmp_path / "run",
        layers=["net.fc1"],
        probe=probe,
        every_n_epochs=2,
        labels=y,
        inputs=(x[:, 0] * 40 + 128).clamp(0, 255).to(torch.uint8),
        recorder_options={"metadata": {"lr": 0.05}},
    )
    module = Module()
    _fit(_trainer(cb, epochs=3), module, train)
    run = rd.open_run(tmp_path / "run")
    assert run.epochs == [0, 2] and run.layers == ["logits", "net.fc1"]
    assert run.has_inputs and run.metadata["recording_mode"] == "probe"
    assert run.metadata["lr"] == 0.05
    assert len(cb.probe_passes_) == 2 and all(p.seconds > 0 for p in cb.probe_passes_)
    module.eval()
    with torch.no_grad():
        logits = module(x).numpy()
    np.testing.assert_allclose(run.read("logits", -1), logits, atol=1e-5)
    assert "train_loss" in run.metric_names


def test_unknown_layer_and_batches_without_ids(tmp_path, data):
    x, y = data
    train_ids = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y, torch.arange(N)), batch_size=20
    )
    cb = ReprDynamicsCallback(tmp_path / "a", layers=["net.fc9"])
    with pytest.raises(LayerNotFoundError, match=r"'net.fc1'"):
        _fit(_trainer(cb, epochs=1), Module(), train_ids)
    no_ids = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=20)
    cb = ReprDynamicsCallback(tmp_path / "b", n_samples=N)
    with pytest.raises(RecordingError, match="without ids"):
        _fit(_trainer(cb, epochs=1), Module(), no_ids)
    assert rd.open_run(tmp_path / "b").n_snapshots == 0
