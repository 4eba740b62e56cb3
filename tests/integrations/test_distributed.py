"""Distributed data-parallel recording with torch: gloo processes on the CPU, and a
Lightning ``ddp_spawn`` fit with the callback."""

from __future__ import annotations

import numpy as np
import pytest

from processes import free_port

torch = pytest.importorskip("torch")
nn = torch.nn

import reprdynamics as rd  # noqa: E402
from reprdynamics.integrations.torch import (  # noqa: E402
    LayerRecorder,
    distributed_options,
    real_rows,
)

N, EPOCHS, BATCH = 41, 3, 8  # N odd: the DistributedSampler pads one rank's last batch


def make_data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(N, 6, generator=g), torch.randint(0, 3, (N,), generator=g)


def make_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))


def evolve(model, epoch):
    """The same deterministic change of the weights on every rank (stands in for training)."""
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.0 + 0.1 * epoch).add_(0.01)


def record(path, ranks, world):
    """Record the batches the samplers of ``ranks`` deal out: all of them in one process
    (the reference), or one rank's under torch.distributed (the same outputs, bit for bit,
    since every batch is the same)."""
    x, _ = make_data()
    model = make_model()
    dataset = torch.utils.data.TensorDataset(x, torch.arange(N))
    samplers = [
        torch.utils.data.distributed.DistributedSampler(
            dataset, num_replicas=world, rank=rank, shuffle=True, seed=3
        )
        for rank in ranks
    ]
    rec = rd.Recorder(path, n_samples=N, **distributed_options())
    with LayerRecorder(model, rec, layers={"hidden": "1"}) as hooks:
        for epoch in range(EPOCHS):
            evolve(model, epoch)
            for sampler in samplers:
                sampler.set_epoch(epoch)
                real, seen = real_rows(sampler, N), 0
                loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, sampler=sampler)
                for xb, ids in loader:
                    left = real - seen if real is not None else len(ids)
                    seen += len(ids)
                    keep = max(left, 0) if left < len(ids) else None
                    with hooks.batch(ids, epoch=epoch, keep=keep), torch.no_grad():
                        model(xb)
            hooks.end_snapshot(metrics={"epoch": float(epoch)})
    rec.close()


def _worker(rank, world, path, port):
    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        assert distributed_options()["world_size"] == world
        record(path, [rank], world)
    finally:
        torch.distributed.destroy_process_group()


def test_real_rows_of_a_padding_sampler():
    dataset = list(range(N))
    samplers = [
        torch.utils.data.distributed.DistributedSampler(dataset, num_replicas=2, rank=r)
        for r in (0, 1)
    ]
    assert [real_rows(s, N) for s in samplers] == [21, 20]
    exact = torch.utils.data.distributed.DistributedSampler(list(range(40)), 2, 0)
    assert real_rows(exact, 40) is None and real_rows(None, N) is None
    assert distributed_options() == {}  # no process group: one process


def test_two_gloo_processes_record_what_one_process_records(tmp_path):
    torch.multiprocessing.spawn(
        _worker, args=(2, str(tmp_path / "ddp"), free_port()), nprocs=2, join=True
    )
    record(tmp_path / "one", [0, 1], 2)
    ddp, one = rd.open_run(tmp_path / "ddp"), rd.open_run(tmp_path / "one")
    assert ddp.n_snapshots == one.n_snapshots == EPOCHS
    assert ddp.complete.all() and one.complete.all()
    assert ddp.attrs["recording"]["world_size"] == 2
    for t in range(EPOCHS):
        for layer in ("logits", "hidden"):
            np.testing.assert_array_equal(ddp.read(layer, t), one.read(layer, t))
        np.testing.assert_array_equal(ddp.predictions(t), one.predictions(t))


# ---------------------------------------------------------------------------- Lightning
pytest.importorskip("lightning.pytorch")
from lightning_models import NetModule, quiet_trainer  # noqa: E402


class Module(NetModule):
    def __init__(self) -> None:
        super().__init__(make_model())

    def training_step(self, batch, batch_idx):
        x, y, _ = batch
        return nn.functional.cross_entropy(self(x), y)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_lightning_ddp_spawn_records_every_sample_once(tmp_path):
    from reprdynamics.integrations.lightning import ReprDynamicsCallback

    x, y = make_data()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y, torch.arange(N)), batch_size=BATCH, shuffle=True
    )
    callback = ReprDynamicsCallback(
        tmp_path / "run",
        layers={"logits": "net", "hidden": "net.1"},
        record_output=False,
        labels=y,
    )
    trainer = quiet_trainer(callback, strategy="ddp_spawn", devices=2, max_epochs=2)
    trainer.fit(Module(), loader)
    run = rd.open_run(tmp_path / "run")
    assert run.n_snapshots == 2 and run.epochs == [0, 1]
    assert run.complete.all()  # both ranks' ids, the sampler's repeated one left out
    assert run.attrs["recording"]["open"] is False
    assert run.attrs["recording"]["world_size"] == 2
    assert sorted(run.layers) == ["hidden", "logits"]
    for t in range(2):
        logits = run.read("logits", t)
        assert np.isfinite(logits).all() and logits.shape == (N, 3)
        np.testing.assert_array_equal(run.predictions(t), logits.argmax(axis=1))
    assert not (tmp_path / "run" / "parts" / "1").exists()
