"""Where a model's inputs go: the model's one device, or the one named, and moving a batch there."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from reprdynamics.errors import RecordingError

__all__ = ["model_device", "to_device"]


def model_device(model: Any, device: Any = None, *, owner: str = "record_probe_pass") -> Any:
    """The device inputs must go to: ``device`` if given, else the one device of the model.

    Raises
    ------
    RecordingError
        Mixed devices: the model's parameters are on several devices and no ``device`` was
        given, or they are all on one device and ``device`` names another.
    """
    devices = {p.device for p in model.parameters()} | {b.device for b in model.buffers()}
    if device is not None:
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        if len(devices) == 1:
            (only,) = devices
            if only != device:
                raise RecordingError(
                    f"Mixed devices in {owner}: the model's parameters are on {only} but "
                    f"device={str(device)!r}. Move the model (model.to({str(device)!r})) or leave "
                    f"device=None to use the model's device."
                )
        return device
    if len(devices) > 1:
        raise RecordingError(
            f"Mixed devices in {owner}: the model's parameters are on "
            f"{sorted(map(str, devices))}; pass device=... to say where the inputs go."
        )
    return next(iter(devices)) if devices else torch.device("cpu")


def to_device(value: Any, device: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, Mapping):
        return {k: to_device(v, device) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(to_device(v, device) for v in value)
    return value
