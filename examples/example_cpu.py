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


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    model.train(was_training)
    return acc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", default="runs/digits-cpu", help="run directory to create")
    parser.add_argument("--mode", choices=["probe", "train"], default="probe")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--k", type=int, default=10, help="neighbours for the fingerprint")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="train on at most N digits")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x_train, y_train, x_test, y_test, thumbnails = load_data(297, args.seed, args.limit)
    n = len(x_train)
    ids = torch.arange(n)
    train_loader = DataLoader(
        TensorDataset(x_train, y_train, ids), batch_size=args.batch_size, shuffle=True
    )
    # The probe set is the training set again, in a fixed order and without shuffling.
    probe_loader = DataLoader(TensorDataset(x_train, y_train, ids), batch_size=512)

    model = DigitsCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    recorder = rd.Recorder(
        args.out,
        n_samples=n,
        labels=y_train.numpy(),
        inputs=thumbnails,
        class_names=[str(d) for d in range(10)],
        overwrite=args.overwrite,
        metadata={"example": "example_cpu.py", "mode": args.mode, "lr": args.lr},
    )
    # In training-pass mode the hooks record the outputs of the forward passes below.
    if args.mode == "train":
        recording = LayerRecorder(model, recorder, layers=["penultimate"])
    else:
        recording = contextlib.nullcontext()
    started = time.perf_counter()
    probe_seconds = []
    with recorder, recording as hooks:
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
            if hooks:
                hooks.end_snapshot(metrics)
            else:
                probe = record_probe_pass(
                    model,
                    probe_loader,
                    recorder,
                    layers=["penultimate"],
                    epoch=epoch,
                    metrics=metrics,
                )
                probe_seconds.append(probe.seconds)
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
