"""What do the framework integrations cost? Torch hooks, the Lightning callback, probe passes.

Usage::

    python benchmarks/bench_integrations.py [--quick] [--json PATH]

All on the CPU with one torch thread, on the demo CNN (``reprdynamics.demo.build_model``)
and the 1,797 digits, batch 64, recording the penultimate layer and the logits:

a) Torch hooks, training pass: recorded steps (``with hooks.batch(ids, epoch=e):
   model(x)``) alternate with plain ones in ABBA order (plain, rec, rec, plain, rec, plain,
   plain, rec, ...), so changes of machine load and training state hit both alike, which
   epoch-level alternation did not achieve on a shared machine; the medians of per-step
   times (forward, backward, update) are compared. The hooks stay attached and ignore the
   plain steps (``require_ids=False``, no ids set), as the Lightning callback ignores
   validation passes. The end of each epoch (the snapshot write) is reported apart.
b) Lightning callback, training pass: the same ABBA over the steps of one ``Trainer.fit``,
   the callback given the ids of the recorded steps only; per-step time runs from the first
   callback's ``on_train_batch_start`` to its ``on_train_batch_end``, so it includes the
   recording callback's work for the batch.
c) Probe pass: the cost per snapshot of :func:`record_probe_pass` over all 1,797 samples
   (eval mode, no grad, batch 512, snapshot write included), next to a training epoch.

Targets: at most 3 % extra step time in training-pass mode (a and b); the probe pass is
reported, not judged. Process CPU time is the steadier clock when other processes share
the cores; wall time is what a user waits for. ``--quick`` is a smoke test (not judged).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import reprdynamics as rd

TARGET_STEP_OVERHEAD = 0.03
BATCH = 64


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms"


def _setup():
    import torch

    from reprdynamics.demo import build_model, load_digits_data

    torch.set_num_threads(1)
    data = load_digits_data()
    inputs = torch.from_numpy(data.features)
    targets = torch.from_numpy(data.labels)
    return torch, data, inputs, targets, build_model


def _records(step: int) -> bool:
    """ABBA over steps: plain, recorded, recorded, plain, then recorded, plain, plain, ..."""
    block, slot = divmod(step, 4)
    return (slot in (1, 2)) if block % 2 == 0 else (slot in (0, 3))


def _summary(steps: dict[tuple[str, bool], list[float]]) -> dict[str, float]:
    out: dict[str, float] = {"steps_each": len(steps["cpu", True])}
    for c in ("wall", "cpu"):
        plain = statistics.median(steps[c, False])
        recorded = statistics.median(steps[c, True])
        out[f"step_plain_{c}"] = plain
        out[f"step_recorded_{c}"] = recorded
        out[f"step_overhead_{c}"] = recorded / plain - 1
    return out


# ---------------------------------------------------------------------------- a) hooks
def bench_hooks(workdir: Path, *, epochs: int) -> dict[str, float]:
    from reprdynamics.integrations.torch import LayerRecorder

    torch, data, inputs, targets, build_model = _setup()
    model = build_model(hidden_dim=32, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(0)
    recorder = rd.Recorder(workdir / "hooks", n_samples=data.n_samples, labels=data.labels)
    # The demo model is Sequential(features, head): module "0" gives the penultimate layer,
    # the model's own output ("") the logits. With require_ids=False the hooks ignore the
    # plain steps (no ids set), as the Lightning callback ignores validation passes.
    hooks = LayerRecorder(model, recorder, layers={"penultimate": "0"}, require_ids=False)
    steps: dict[tuple[str, bool], list[float]] = {
        (c, r): [] for c in ("wall", "cpu") for r in (False, True)
    }
    ends: list[float] = []
    with hooks:
        for epoch in range(epochs + 1):  # epoch 0 warms up
            order = torch.randperm(data.n_samples, generator=generator)
            for step, start in enumerate(range(0, data.n_samples, BATCH)):
                record = _records(step)
                wall, cpu = time.perf_counter(), time.process_time()
                ids = order[start : start + BATCH]
                x, y = inputs[ids], targets[ids]
                if record:
                    with hooks.batch(ids, epoch=epoch):
                        out = model(x)
                else:
                    out = model(x)
                loss = torch.nn.functional.cross_entropy(out, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if epoch:
                    steps["wall", record].append(time.perf_counter() - wall)
                    steps["cpu", record].append(time.process_time() - cpu)
            cpu = time.process_time()
            hooks.end_snapshot(metrics={"loss": float(loss.detach())})
            if epoch:
                ends.append(time.process_time() - cpu)
    recorder.close()
    run = rd.open_run(workdir / "hooks")
    assert run.layers == ["logits", "penultimate"] and run.n_snapshots == epochs + 1, run
    return {**_summary(steps), "end_snapshot_cpu": statistics.median(ends)}


# ---------------------------------------------------------------------------- b) Lightning
def bench_lightning(workdir: Path, *, epochs: int) -> dict[str, float] | None:
    try:
        import lightning.pytorch as pl
    except ImportError:
        return None
    from reprdynamics.integrations.lightning import ReprDynamicsCallback

    torch, data, inputs, targets, build_model = _setup()

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = build_model(hidden_dim=32, seed=0)

        def forward(self, x):
            return self.model(x)

        def training_step(self, batch, batch_idx):
            x, y, _ = batch
            return torch.nn.functional.cross_entropy(self(x), y)

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=0.01)

    ends: list[float] = []

    class Alternating(ReprDynamicsCallback):
        """The real callback, told the ids only of the steps to record (ABBA); its hooks
        ignore the other steps' forward passes, as they ignore validation passes."""

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if _records(batch_idx):
                super().on_train_batch_start(trainer, pl_module, batch, batch_idx)

        def on_train_epoch_end(self, trainer, pl_module):
            began = time.process_time()
            super().on_train_epoch_end(trainer, pl_module)
            if trainer.current_epoch:
                ends.append(time.process_time() - began)

    class StepTimer(pl.Callback):
        """First in the callback list: a step includes the recorder's batch start."""

        def __init__(self) -> None:
            self.steps: dict[tuple[str, bool], list[float]] = {
                (c, r): [] for c in ("wall", "cpu") for r in (False, True)
            }

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self._t = (time.perf_counter(), time.process_time())

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.current_epoch:  # epoch 0 warms up
                record = _records(batch_idx)
                self.steps["wall", record].append(time.perf_counter() - self._t[0])
                self.steps["cpu", record].append(time.process_time() - self._t[1])

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no banner lines
    dataset = torch.utils.data.TensorDataset(inputs, targets, torch.arange(data.n_samples))
    timer = StepTimer()
    callback = Alternating(workdir / "lightning", layers={"penultimate": "model.0"})
    trainer = pl.Trainer(
        max_epochs=epochs + 1,
        accelerator="cpu",
        devices=1,
        callbacks=[timer, callback],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=BATCH, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    trainer.fit(Module(), loader)
    run = rd.open_run(workdir / "lightning")
    assert run.n_snapshots == epochs + 1, run
    return {**_summary(timer.steps), "end_snapshot_cpu": statistics.median(ends)}


# ---------------------------------------------------------------------------- c) probe pass
def bench_probe(workdir: Path, *, snapshots: int) -> dict[str, float]:
    from reprdynamics.integrations.torch import record_probe_pass

    torch, data, inputs, targets, build_model = _setup()
    model = build_model(hidden_dim=32, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    dataset = torch.utils.data.TensorDataset(inputs, targets, torch.arange(data.n_samples))
    train = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True)
    probe = torch.utils.data.DataLoader(dataset, batch_size=512)
    recorder = rd.Recorder(workdir / "probe", n_samples=data.n_samples, labels=data.labels)
    passes, epochs = [], []
    for epoch in range(snapshots + 1):
        began = time.perf_counter()
        model.train()
        for x, y, _ in train:
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        epochs.append(time.perf_counter() - began)
        result = record_probe_pass(model, probe, recorder, layers={"penultimate": "0"}, epoch=epoch)
        passes.append(result.seconds)
    recorder.close()
    assert rd.open_run(workdir / "probe").n_snapshots == snapshots + 1
    return {
        "n_samples": data.n_samples,
        "probe_pass": statistics.median(passes[1:]),  # the first pass creates the arrays
        "probe_pass_first": passes[0],
        "train_epoch": statistics.median(epochs[1:]),
    }


# ---------------------------------------------------------------------------- main
def _print_steps(figures: dict[str, float]) -> None:
    for c in ("cpu", "wall"):
        print(
            f"    {c:>4}: median step {_ms(figures[f'step_plain_{c}'])} plain, "
            f"{_ms(figures[f'step_recorded_{c}'])} recorded -> "
            f"{figures[f'step_overhead_{c}']:+.1%}"
        )
    print(f"    end of a recorded epoch (snapshot write, CPU)  {_ms(figures['end_snapshot_cpu'])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the framework integrations.")
    parser.add_argument("--quick", action="store_true", help="a smoke test, not judged")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    import torch

    print(
        f"ReprDynamics integrations benchmark — Python {platform.python_version()}, "
        f"torch {torch.__version__}, {platform.machine()}, CPU, 1 torch thread"
    )
    results: dict[str, object] = {}
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        epochs = 2 if args.quick else 12
        with warnings.catch_warnings():
            # Half the steps are recorded, so every snapshot is incomplete; that is expected.
            warnings.simplefilter("ignore")
            hooks = bench_hooks(work, epochs=epochs)
            lightning = bench_lightning(work, epochs=epochs)
        results["hooks"] = hooks
        results["lightning"] = lightning
        print(
            f"\n[a] Torch hooks, training pass ({hooks['steps_each']:.0f} steps recorded and as "
            f"many not, ABBA)"
        )
        _print_steps(hooks)
        if lightning is None:
            print("\n[b] Lightning callback: skipped (lightning is not installed)")
        else:
            print(
                f"\n[b] Lightning callback, training pass ({lightning['steps_each']:.0f} steps "
                f"recorded and as many not, ABBA, in one fit)"
            )
            _print_steps(lightning)

        probe = bench_probe(work, snapshots=2 if args.quick else 5)
        results["probe"] = probe
        print(f"\n[c] Probe pass over {probe['n_samples']:.0f} samples (batch 512)")
        print(
            f"    per snapshot {_ms(probe['probe_pass'])} (first, creating the arrays: "
            f"{_ms(probe['probe_pass_first'])}); a training epoch takes "
            f"{_ms(probe['train_epoch'])} -> {probe['probe_pass'] / probe['train_epoch']:.1%}"
        )

    print(f"\nTarget: training-pass step overhead <= {TARGET_STEP_OVERHEAD:.0%} (CPU time)")
    for name, figures in (("torch hooks", hooks), ("Lightning callback", lightning)):
        if figures is None:
            continue
        overhead = figures["step_overhead_cpu"]
        verdict = "ok" if overhead <= TARGET_STEP_OVERHEAD else "OVER"
        if args.quick:
            verdict = "not judged (--quick)"
        else:
            failed |= overhead > TARGET_STEP_OVERHEAD
        print(f"    {name:<20} {overhead:+.1%}  {verdict}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
