"""Train the digits CNN on a CUDA GPU while recording, without stalling the training step.

Same network, data and recording helpers as ``example_cpu.py``, but the model and batches
live on the GPU.
By default (``--mode train``) forward hooks record the penultimate layer and the logits of
every training forward pass: each output is copied to pinned host memory asynchronously
and handed to the recorder later, in groups of batches, so the step never waits for the
copy.
``--mode probe`` records a probe pass (eval mode, no grad) after each epoch instead.

``--device auto`` (the default) uses CUDA when present and says so when it falls back to
the CPU; ``--device cuda`` refuses to run without CUDA.

    python examples/example_gpu.py --epochs 30 --out runs/digits-gpu
    reprdynamics serve runs/digits-gpu
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from example_cpu import (
    DigitsCNN,
    accuracy,
    analyse,
    digits_loaders,
    digits_parser,
    digits_recorder,
    end_snapshot,
    layer_hooks,
    load_data,
)


def pick_device(choice: str) -> torch.device:
    """CUDA when asked for or available; a clear message when falling back to the CPU."""
    if choice == "cpu":
        print("Using the CPU (--device cpu).")
        return torch.device("cpu")
    if torch.cuda.is_available():
        device = torch.device("cuda")
        print(f"Using CUDA device {torch.cuda.get_device_name(device)}.")
        return device
    if choice == "cuda":
        sys.exit("error: --device cuda was given, but CUDA is not available on this machine.")
    print(
        "CUDA is not available: falling back to the CPU. The example runs the same there "
        "(outputs are copied synchronously instead of asynchronously), only slower."
    )
    return torch.device("cpu")


def main(argv: list[str] | None = None) -> None:
    parser = digits_parser(
        __doc__, epochs=30, out="runs/digits-gpu", mode="train", batch_size=128, lr=0.05
    )
    parser.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    args = parser.parse_args(argv)

    device = pick_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x_train, y_train, x_test, y_test, thumbnails = load_data(297, args.seed, args.limit)
    # Ids stay on the CPU; inputs are pinned so their copy to the GPU is asynchronous too.
    cuda = device.type == "cuda"
    train_loader, probe_loader = digits_loaders(
        x_train, y_train, args.batch_size, 1024, pin_memory=cuda
    )
    x_train_dev, y_train_dev = x_train.to(device), y_train.to(device)
    x_test_dev, y_test_dev = x_test.to(device), y_test.to(device)

    model = DigitsCNN().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    metadata = {"example": "example_gpu.py", "mode": args.mode, "device": str(device)}
    recorder = digits_recorder(
        args.out, y_train, thumbnails, overwrite=args.overwrite, metadata=metadata
    )
    started = time.perf_counter()
    with recorder, layer_hooks(args.mode, model, recorder) as hooks:
        for epoch in range(args.epochs):
            epoch_started = time.perf_counter()
            model.train()
            losses = []
            for xb, yb, ib in train_loader:
                xb = xb.to(device, non_blocking=True)
                yb = yb.to(device, non_blocking=True)
                with hooks.batch(ib, epoch=epoch) if hooks else contextlib.nullcontext():
                    out = model(xb)
                loss = nn.functional.cross_entropy(out, yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.detach())  # no .item() per step: it would sync the GPU
            with hooks.paused() if hooks else contextlib.nullcontext():
                metrics = {
                    "loss": torch.stack(losses).mean().item(),
                    "accuracy": accuracy(model, x_train_dev, y_train_dev),
                    "test_accuracy": accuracy(model, x_test_dev, y_test_dev),
                }
            seconds = end_snapshot(hooks, model, probe_loader, recorder, epoch, metrics)
            extra = "" if seconds is None else f"  probe pass {seconds * 1000:.0f} ms"
            print(
                f"epoch {epoch:3d}  loss {metrics['loss']:.4f}  "
                f"test acc {metrics['test_accuracy']:.3f}  "
                f"{time.perf_counter() - epoch_started:.2f} s{extra}"
            )
    print(
        f"\nTrained {args.epochs} epochs on {device} in {time.perf_counter() - started:.1f} s; "
        f"{recorder.time_in_recorder:.2f} s of it inside the recorder."
    )
    analyse(args.out, k=args.k)


if __name__ == "__main__":
    main()
