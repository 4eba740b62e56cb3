"""What the Lightning tests share: a module around a torch net, and a quiet CPU trainer.

Import it after ``pytest.importorskip("lightning")``: it imports Lightning itself.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch


class NetModule(pl.LightningModule):
    """``net`` (recorded as ``net.<layer>``) trained by SGD at lr 0.05; a test adds the steps."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.05)


def quiet_trainer(callback: pl.Callback, **options: Any) -> pl.Trainer:
    """A CPU trainer with ``callback`` and no logger, checkpoints, progress bar or summary."""
    return pl.Trainer(
        accelerator="cpu",
        callbacks=[callback],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **options,
    )
