"""The demo: train a small CNN on scikit-learn's digits and record how it learns.

scikit-learn bundles the 1,797 8×8 digit images of the UCI "Optical Recognition of
Handwritten Digits" set, so the demo needs no download and runs offline on a CPU in a few
seconds. With ``label_noise`` a fraction of the training labels is flipped, which makes the
recorded run show what the dashboard is for: the mislabelled samples are learned late (or
never), are forgotten more often and sit among neighbours of another class.

This module is a *face*, like :mod:`reprdynamics.cli`: torch is imported inside functions
only, never when the module is imported. :func:`build_model` and :func:`train_epoch` are
shared with ``benchmarks/bench_recorder.py`` so the benchmark measures the demo's own step.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reprdynamics.errors import require
from reprdynamics.validation import Integer, OrNone, Real, check, validate_params

__all__ = [
    "DigitsData",
    "EpochResult",
    "build_model",
    "flip_labels",
    "load_digits_data",
    "run_demo",
    "train_epoch",
]

N_CLASSES = 10
DATASET_NAME = "scikit-learn digits (1,797 8x8 grey images, 10 classes)"

BatchHook = Callable[[Any, Any, Any], None]  # (ids, logits, penultimate) of one batch


@dataclass(frozen=True)
class DigitsData:
    """The digits as NumPy arrays: what the run stores and what the network trains on."""

    images: np.ndarray  # (N, 8, 8) uint8, 0..255, for thumbnails
    features: np.ndarray  # (N, 1, 8, 8) float32 in [0, 1], the network's input
    labels: np.ndarray  # (N,) int64, the true classes

    @property
    def n_samples(self) -> int:
        return int(self.labels.shape[0])


@dataclass
class EpochResult:
    """What one training epoch measured (on the labels it trained with)."""

    loss: float
    accuracy: float
    clean_accuracy: float | None = None
    step_times: list[float] = field(default_factory=list)  # wall seconds per step
    step_cpu_times: list[float] = field(default_factory=list)  # process CPU seconds per step


def load_digits_data() -> DigitsData:
    """All 1,797 digits from :func:`sklearn.datasets.load_digits` (bundled, offline).

    Pixel values are 0..16 in the source; images are scaled to 0..255 uint8 for
    thumbnails and to [0, 1] float32 for training.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    raw = np.asarray(digits.images, dtype=np.float64)  # (N, 8, 8), 0..16
    images = np.clip(np.rint(raw * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    features = (raw / 16.0).astype(np.float32)[:, None, :, :]
    labels = np.asarray(digits.target, dtype=np.int64)
    return DigitsData(images=images, features=features, labels=labels)


def flip_labels(
    labels: np.ndarray, fraction: float, *, n_classes: int = N_CLASSES, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Flip ``round(fraction * N)`` labels, each to a different class chosen at random.

    Returns ``(noisy_labels, flipped)`` where ``flipped`` is the ``(N,)`` bool mask of the
    samples whose label changed. Deterministic for a given ``seed``.

    >>> noisy, flipped = flip_labels(np.arange(10) % 10, 0.3, seed=0)
    >>> int(flipped.sum()), bool(np.all((noisy != np.arange(10)) == flipped))
    (3, True)
    """
    fraction = check(fraction, Real(low=0, high=1, noun="a float"), "label_noise", "flip_labels")
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    n = labels.shape[0]
    chosen = rng.choice(n, size=round(fraction * n), replace=False)
    noisy = labels.copy()
    # An offset in 1..C-1 guarantees the new class differs from the old one.
    noisy[chosen] = (labels[chosen] + rng.integers(1, n_classes, size=chosen.size)) % n_classes
    flipped = np.zeros(n, dtype=bool)
    flipped[chosen] = True
    return noisy, flipped


def build_model(*, hidden_dim: int = 32, n_classes: int = N_CLASSES, seed: int | None = 0):
    """The demo CNN as ``torch.nn.Sequential(features, head)``.

    ``model[0]`` maps ``(B, 1, 8, 8)`` images to the penultimate representation
    ``(B, hidden_dim)`` (after its ReLU); ``model[1]`` maps that to ``(B, n_classes)``
    logits. Two 3×3 convolutions with 2×2 max-pooling, then one hidden dense layer.
    """
    torch = require("torch", "torch", "The demo")
    if seed is None:
        return _make_layers(torch.nn, hidden_dim, n_classes)
    # Seed the initialisation without disturbing the caller's global RNG state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _make_layers(torch.nn, hidden_dim, n_classes)


def _make_layers(nn: Any, hidden_dim: int, n_classes: int):
    features = nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 16 × 4 × 4
        nn.Conv2d(16, 32, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 32 × 2 × 2
        nn.Flatten(),
        nn.Linear(32 * 2 * 2, hidden_dim),
        nn.ReLU(),
    )
    head = nn.Linear(hidden_dim, n_classes)
    return nn.Sequential(features, head)


def train_epoch(
    model: Any,
    optimizer: Any,
    inputs: Any,
    targets: Any,
    *,
    batch_size: int = 64,
    generator: Any = None,
    on_batch: BatchHook | None = None,
    clean_targets: Any = None,
    time_steps: bool = False,
) -> EpochResult:
    """One pass over shuffled mini-batches; the whole dataset is one tensor in memory.

    Parameters
    ----------
    model
        A model from :func:`build_model` (``model[0]`` gives the penultimate layer).
    inputs, targets
        ``(N, 1, 8, 8)`` float tensor and ``(N,)`` int64 tensor of training labels.
    generator
        A ``torch.Generator`` for the per-epoch permutation (deterministic shuffling).
    on_batch
        Called after each optimisation step with ``(ids, logits, penultimate)`` of the
        batch, as computed in the training pass (tensors that still require grad).
    clean_targets
        True labels, when ``targets`` are noisy: also measure accuracy against them.
    time_steps
        Record the wall time and the process CPU time of every step (forward, backward,
        update and ``on_batch``). CPU time is the steadier measure on a busy machine.
    """
    torch = require("torch", "torch", "The demo")
    functional = torch.nn.functional
    model.train()
    n = int(inputs.shape[0])
    order = torch.randperm(n, generator=generator)
    total_loss = 0.0
    correct = 0
    clean_correct = 0
    step_times: list[float] = []
    step_cpu_times: list[float] = []
    features, head = model[0], model[1]
    for start in range(0, n, batch_size):
        if time_steps:
            began, began_cpu = time.perf_counter(), time.process_time()
        ids = order[start : start + batch_size]
        x = inputs[ids]
        y = targets[ids]
        penultimate = features(x)
        logits = head(penultimate)
        loss = functional.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if on_batch is not None:
            on_batch(ids, logits, penultimate)
        with torch.no_grad():
            predicted = logits.argmax(dim=1)
            total_loss += float(loss) * int(ids.shape[0])
            correct += int((predicted == y).sum())
            if clean_targets is not None:
                clean_correct += int((predicted == clean_targets[ids]).sum())
        if time_steps:
            step_times.append(time.perf_counter() - began)
            step_cpu_times.append(time.process_time() - began_cpu)
    return EpochResult(
        loss=total_loss / n,
        accuracy=correct / n,
        clean_accuracy=clean_correct / n if clean_targets is not None else None,
        step_times=step_times,
        step_cpu_times=step_cpu_times,
    )


@validate_params(
    epochs=Integer(low=1),
    label_noise=Real(low=0, high=1, noun="a float", closed="left"),
    hidden_dim=Integer(low=1),
    batch_size=Integer(low=1),
    lr=Real(low=0, noun="a float", closed="neither"),
    num_threads=OrNone(Integer(low=1)),
)
def run_demo(
    out: str | os.PathLike[str],
    *,
    epochs: int = 15,
    label_noise: float = 0.0,
    seed: int = 0,
    hidden_dim: int = 32,
    batch_size: int = 64,
    lr: float = 0.01,
    dtype: str = "float32",
    num_threads: int | None = None,
    overwrite: bool = False,
    progress: Callable[[str], Any] | None = print,
) -> Path:
    """Train the demo CNN on the digits and record every epoch into a run at ``out``.

    Each epoch is one snapshot holding, from the training pass, the logits (layer
    ``"logits"``, kind ``"logits"``) and the penultimate layer (``"penultimate"``, size
    ``hidden_dim``) of every sample, with metrics ``loss`` and ``accuracy`` (on the labels
    trained with) and, with label noise, ``clean_accuracy`` (on the true labels).

    Parameters
    ----------
    out
        Directory of the new run.
    epochs
        Number of epochs, hence snapshots.
    label_noise
        Fraction of training labels flipped to another class. The run's ``labels`` are the
        labels trained with; ``extras/label_flipped`` and ``extras/clean_labels`` hold the
        mask and the true labels.
    seed
        Seeds the label noise, the weight initialisation and the shuffling.
    hidden_dim
        Width of the penultimate layer.
    lr
        Adam learning rate.
    dtype
        Storage dtype of the representations (``"float16"`` halves the run's size).
    num_threads
        Torch intra-op threads while training (default 1: the network is so small that
        more threads only add synchronisation; on a busy 2-core machine two threads made
        an epoch ~30× slower). The previous setting is restored.
    overwrite
        Replace an existing run at ``out``.
    progress
        Called with one line of text per epoch; ``None`` for silence.

    Returns
    -------
    pathlib.Path
        The run's directory; open it with :func:`reprdynamics.open_run`.

    Examples
    --------
    >>> import tempfile, reprdynamics as rd
    >>> from reprdynamics.demo import run_demo
    >>> path = run_demo(tempfile.mkdtemp() + "/digits", epochs=2, progress=None)
    >>> rd.open_run(path).n_snapshots
    2
    """
    torch = require("torch", "torch", "The demo")
    from reprdynamics.recording import Recorder

    data = load_digits_data()
    labels = data.labels
    flipped = None
    if label_noise > 0:
        labels, flipped = flip_labels(data.labels, float(label_noise), seed=seed)

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(num_threads or 1)
    try:
        model = build_model(hidden_dim=hidden_dim, seed=seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        generator = torch.Generator().manual_seed(seed)
        inputs = torch.from_numpy(data.features)
        targets = torch.from_numpy(labels)
        clean = torch.from_numpy(data.labels) if flipped is not None else None
        metadata = {
            "dataset": DATASET_NAME,
            "model": (
                f"CNN conv3x3(16)-pool-conv3x3(32)-pool-dense({hidden_dim})-dense(10), "
                "ReLU, cross-entropy"
            ),
            "optimizer": "Adam",
            "epochs": int(epochs),
            "lr": float(lr),
            "batch_size": int(batch_size),
            "label_noise": float(label_noise),
            "seed": int(seed),
            "recorded": "training pass (outputs before each step's update takes effect)",
        }
        recorder = Recorder(
            out,
            n_samples=data.n_samples,
            labels=labels,
            inputs=data.images,
            class_names=[str(c) for c in range(N_CLASSES)],
            kind="logits",
            output_layer="logits",
            dtype=dtype,
            metadata=metadata,
            overwrite=overwrite,
        )
        if flipped is not None:
            recorder.run.write_extra("label_flipped", flipped)
            recorder.run.write_extra("clean_labels", data.labels.astype(np.int32))
        began = time.perf_counter()
        with recorder:
            for epoch in range(epochs):

                def record(ids: Any, logits: Any, penultimate: Any, epoch: int = epoch) -> None:
                    recorder.store_batch(logits, ids, epoch, layer="logits")
                    recorder.store_batch(penultimate, ids, epoch, layer="penultimate")

                result = train_epoch(
                    model,
                    optimizer,
                    inputs,
                    targets,
                    batch_size=batch_size,
                    generator=generator,
                    on_batch=record,
                    clean_targets=clean,
                )
                metrics = {"loss": result.loss, "accuracy": result.accuracy}
                if result.clean_accuracy is not None:
                    metrics["clean_accuracy"] = result.clean_accuracy
                recorder.end_snapshot(metrics=metrics)
                if progress is not None:
                    line = (
                        f"epoch {epoch + 1:>3}/{epochs}  loss {result.loss:.4f}  "
                        f"accuracy {result.accuracy:.3f}"
                    )
                    if result.clean_accuracy is not None:
                        line += f"  clean accuracy {result.clean_accuracy:.3f}"
                    progress(line)
        if progress is not None:
            progress(
                f"Recorded {epochs} snapshots of {data.n_samples} samples in "
                f"{time.perf_counter() - began:.1f} s into {os.fspath(out)}"
            )
    finally:
        torch.set_num_threads(previous_threads)
    return Path(os.fspath(out))
