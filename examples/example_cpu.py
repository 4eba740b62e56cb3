"""Train a small CNN on scikit-learn's digits images on the CPU, record a run, analyse it.

The digits (1,797 8x8 greyscale images, bundled with scikit-learn, so this runs offline)
are split into a training set, whose samples the run follows, and a held-out test set for
the accuracy metric. After every epoch a probe pass records the penultimate layer and the
logits of every training sample (``--mode probe``, the default); ``--mode train`` records
the outputs seen by the training forward passes instead (see docs/recording-modes.md).

    python examples/example_cpu.py --epochs 20 --out runs/digits-cpu
    reprdynamics serve runs/digits-cpu
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import reprdynamics as rd
from reprdynamics.integrations.torch import LayerRecorder, record_probe_pass


class DigitsCNN(nn.Module):
    """Two conv layers, a 64-unit penultimate layer and 10 logits."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.penultimate = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU())
        self.logits = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(self.penultimate(self.features(x)))


def load_data(n_test: int, seed: int, limit: int | None = None):
    """Digits as (N, 1, 8, 8) floats in [0, 1], a train/test split, and uint8 thumbnails."""
    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0
    order = np.random.default_rng(seed).permutation(len(images))
    test, train = order[:n_test], order[n_test:][:limit]
    x = torch.from_numpy(images[:, None])
    y = torch.from_numpy(digits.target.astype(np.int64))
    thumbnails = np.round(images[train] * 255).astype(np.uint8)
    return x[train], y[train], x[test], y[test], thumbnails


def digits_loaders(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, probe_batch_size: int, **options
) -> tuple[DataLoader, DataLoader]:
    """Shuffled training batches and the probe set, both yielding (inputs, labels, ids).

    The probe set is the training set again, in a fixed order and without shuffling.
    ``options`` go to both loaders (``pin_memory``).
    """
    dataset = TensorDataset(x, y, torch.arange(len(x)))
    train_loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, **options)
    return train_loader, DataLoader(dataset, batch_size=probe_batch_size, **options)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    model.train(was_training)
    return acc


def digits_parser(
    doc: str, *, epochs: int, out: str, mode: str, batch_size: int, lr: float
) -> argparse.ArgumentParser:
    """The options of the digits examples, with each example's own defaults.

    ``doc`` is the example's docstring; its first line describes the example in ``--help``.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--out", default=out, help="run directory to create")
    parser.add_argument("--mode", choices=["train", "probe"], default=mode)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--k", type=int, default=10, help="neighbours for the fingerprint")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="train on at most N digits")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run")
    return parser


def digits_recorder(
    out: str, labels: torch.Tensor, thumbnails: np.ndarray, *, overwrite: bool, metadata: dict
) -> rd.Recorder:
    """A recorder following every training digit, with its label and thumbnail."""
    return rd.Recorder(
        out,
        n_samples=len(labels),
        labels=labels.numpy(),
        inputs=thumbnails,
        class_names=[str(d) for d in range(10)],
        overwrite=overwrite,
        metadata=metadata,
    )


def layer_hooks(
    mode: str, model: nn.Module, recorder: rd.Recorder
) -> LayerRecorder | contextlib.nullcontext:
    """``--mode train``: hooks that record the outputs of the training forward passes.

    ``--mode probe`` needs no hooks (``None`` inside the ``with``): `end_snapshot` records a
    probe pass instead.
    """
    if mode == "train":
        return LayerRecorder(model, recorder, layers=["penultimate"])
    return contextlib.nullcontext()


def end_snapshot(
    hooks: LayerRecorder | None,
    model: nn.Module,
    probe_loader: DataLoader,
    recorder: rd.Recorder,
    epoch: int,
    metrics: dict[str, float],
) -> float | None:
    """End the epoch's snapshot: the hooks' outputs, or a probe pass (its seconds returned)."""
    if hooks:
        hooks.end_snapshot(metrics)
        return None
    probe = record_probe_pass(
        model, probe_loader, recorder, layers=["penultimate"], epoch=epoch, metrics=metrics
    )
    return probe.seconds


def main(argv: list[str] | None = None) -> None:
    parser = digits_parser(
        __doc__, epochs=20, out="runs/digits-cpu", mode="probe", batch_size=64, lr=0.05
    )
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x_train, y_train, x_test, y_test, thumbnails = load_data(297, args.seed, args.limit)
    train_loader, probe_loader = digits_loaders(x_train, y_train, args.batch_size, 512)

    model = DigitsCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    metadata = {"example": "example_cpu.py", "mode": args.mode, "lr": args.lr}
    recorder = digits_recorder(
        args.out, y_train, thumbnails, overwrite=args.overwrite, metadata=metadata
    )
    started = time.perf_counter()
    probe_seconds = []
    with recorder, layer_hooks(args.mode, model, recorder) as hooks:
        for epoch in range(args.epochs):
            model.train()
            total, seen = 0.0, 0
            for xb, yb, ib in train_loader:
                with hooks.batch(ib, epoch=epoch) if hooks else contextlib.nullcontext():
                    out = model(xb)
                loss = nn.functional.cross_entropy(out, yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(xb)
                seen += len(xb)
            # Evaluation passes are not part of the training pass: keep the hooks out of them.
            with hooks.paused() if hooks else contextlib.nullcontext():
                metrics = {
                    "loss": total / seen,
                    "accuracy": accuracy(model, x_train, y_train),
                    "test_accuracy": accuracy(model, x_test, y_test),
                }
            seconds = end_snapshot(hooks, model, probe_loader, recorder, epoch, metrics)
            if seconds is not None:
                probe_seconds.append(seconds)
            print(
                f"epoch {epoch:3d}  loss {metrics['loss']:.4f}  "
                f"train acc {metrics['accuracy']:.3f}  test acc {metrics['test_accuracy']:.3f}"
            )
    elapsed = time.perf_counter() - started
    print(
        f"\nTrained {args.epochs} epochs in {elapsed:.1f} s; "
        f"{recorder.time_in_recorder:.2f} s of it inside the recorder."
    )
    if probe_seconds:
        print(f"The probe pass cost {np.mean(probe_seconds) * 1000:.0f} ms per snapshot.")

    analyse(args.out, k=args.k)


def analyse(out: str, *, k: int) -> None:
    """Fingerprint, recurrence measures and per-sample dynamics of the run at ``out``."""
    run = rd.open_run(out)
    print(f"\n{run}")
    fp = rd.fingerprint(run, kind="neighbour-transition", k=k, layer="penultimate")
    print(f"Neighbour-transition fingerprint (k={k}) over {fp.labels}:")
    print(np.array2string(np.asarray(fp.matrix), precision=3, max_line_width=100))
    print("Recurrence quantification (threshold 0.1):")
    measures = rd.rqa(fp.matrix, threshold=0.1).to_dict()
    width = max(map(len, measures))
    for name, value in measures.items():
        print(f"  {name:>{width}}: {value}")
    csv_path = Path(f"{out.rstrip('/')}_samples.csv")
    rd.sample_dynamics(run).to_csv(csv_path)
    print(f"Per-sample dynamics (cartography, forgetting, AUM, ...) written to {csv_path}")
    print(f"\nExplore the run in your browser:\n  reprdynamics serve {out}")


if __name__ == "__main__":
    main()
