"""Train a tiny Vision Transformer on scikit-learn's digits with the Hugging Face Trainer and
record it with ReprDynamics' Trainer callback.

The model is built from a config and randomly initialised (nothing is downloaded); the
digits (8x8 greyscale, bundled with scikit-learn) are split into a training set, whose
examples the run follows, and a held-out set the Trainer evaluates every epoch. The
callback records every training example's logits and the [CLS] token of the last layer, in
the training pass (``--mode train``, the default) or in a probe pass over the training set
in eval mode (``--mode probe``).

    pip install "reprdynamics[transformers]" datasets
    python examples/example_transformers.py --epochs 15 --out runs/digits-vit
    reprdynamics serve runs/digits-vit
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from transformers import Trainer, TrainingArguments, ViTConfig, ViTForImageClassification

from reprdynamics.integrations.transformers import ReprDynamicsCallback

sys.path.insert(0, str(Path(__file__).resolve().parent))
from example_cpu import analyse, digits_parser  # the torch example's options and analysis


class Digits(torch.utils.data.Dataset):
    """Dict examples, as the Trainer's collators expect: pixel values and a label."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.pixels = torch.from_numpy(images[:, None])
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {"pixel_values": self.pixels[i], "labels": int(self.labels[i])}


def tiny_vit() -> ViTForImageClassification:
    config = ViTConfig(
        image_size=8,
        patch_size=2,
        num_channels=1,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=10,
        id2label={i: str(i) for i in range(10)},
        label2id={str(i): i for i in range(10)},
    )
    return ViTForImageClassification(config)


def accuracy(prediction) -> dict[str, float]:
    return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}


def main(argv: list[str] | None = None) -> None:
    parser = digits_parser(
        __doc__, epochs=15, out="runs/digits-vit", mode="train", batch_size=64, lr=2e-3
    )
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    order = np.random.default_rng(args.seed).permutation(len(images))
    test, train = order[:297], order[297:][: args.limit]
    train_set = Digits(images[train], digits.target[train])
    test_set = Digits(images[test], digits.target[test])

    callback = ReprDynamicsCallback(
        args.out,
        layers={"penultimate": "vit.layernorm"},  # the last layer's tokens, normalised
        pool="cls",  # ... of which the [CLS] token, what the classifier reads
        probe=train_set if args.mode == "probe" else None,
        inputs=np.round(images[train] * 255).astype(np.uint8),  # thumbnails
        overwrite=args.overwrite,
        recorder_options={"metadata": {"example": "example_transformers.py", "lr": args.lr}},
    )
    trainer = Trainer(
        model=tiny_vit(),
        args=TrainingArguments(
            output_dir=str(Path(args.out).with_name(Path(args.out).name + "-trainer")),
            num_train_epochs=args.epochs,
            per_device_train_batch_size=args.batch_size,
            per_device_eval_batch_size=512,
            learning_rate=args.lr,
            logging_strategy="epoch",
            eval_strategy="epoch",
            save_strategy="no",
            report_to=[],
            use_cpu=True,
            seed=args.seed,
            disable_tqdm=True,
        ),
        train_dataset=train_set,
        eval_dataset=test_set,
        compute_metrics=accuracy,
        callbacks=[callback],
    )
    started = time.perf_counter()
    trainer.train()
    elapsed = time.perf_counter() - started
    print(
        f"\nTrained {args.epochs} epochs in {elapsed:.1f} s; {callback.seconds_:.2f} s of it "
        f"in the callback ({callback.recorder_.time_in_recorder:.2f} s in the recorder)."
    )
    analyse(args.out, k=args.k)


if __name__ == "__main__":
    main()
