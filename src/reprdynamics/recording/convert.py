"""Turn whatever a training loop hands us into NumPy arrays, without importing a framework.

Torch tensors are recognised by duck typing (``detach`` / ``cpu``), so this module works
whether or not torch is installed, and never imports it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import import_module
from typing import Any

import numpy as np

__all__ = ["device_stager", "register_device_stager", "to_ids", "to_numpy"]

# (accepts(value) -> bool, make() -> stager): who copies accelerator tensors off the device
# without waiting for it. The torch integration registers itself when imported; nothing
# here imports a framework.
_STAGERS: list[tuple[Callable[[Any], bool], Callable[[], Any]]] = []


def register_device_stager(accepts: Callable[[Any], bool], make: Callable[[], Any]) -> None:
    """Let ``make()`` build the stager for values ``accepts`` (e.g. CUDA tensors).

    A stager has ``stage(tensor, ids, layer, batch, step)``, which starts a copy to host
    memory without synchronising the device, ``pending_rows`` and ``ready(wait)``, which
    yields ``(values, ids, layer, batch, step)`` of the copies that have completed (all of
    them, waiting, when ``wait``), in the order they were staged; and ``discard()``.
    """
    entry = (accepts, make)
    if entry not in _STAGERS:
        _STAGERS.insert(0, entry)


def device_stager(value: Any) -> Callable[[], Any] | None:
    """The stager factory for ``value``, or None when it is copied the ordinary way."""
    if not _STAGERS and "torch" in sys.modules and getattr(value, "is_cuda", False):
        # A CUDA tensor, torch is loaded: our torch integration registers its stager.
        import_module("reprdynamics.integrations.torch")
    for accepts, make in _STAGERS:
        if accepts(value):
            return make
    return None


def to_numpy(value: Any) -> np.ndarray:
    """A NumPy view or copy of a tensor or array from any framework.

    * torch: detached (works for tensors that require grad), copied to the host if on an
      accelerator, bfloat16 widened to float32 (NumPy has no bfloat16);
    * objects with ``__array__`` (NumPy, JAX, TensorFlow eager, CuPy via ``.get``);
    * objects with ``__dlpack__`` as a last resort.
    """
    if isinstance(value, np.ndarray):
        return value
    detach = getattr(value, "detach", None)
    if callable(detach) and hasattr(value, "cpu"):
        tensor = detach()
        if str(getattr(tensor, "dtype", "")) == "torch.bfloat16":
            tensor = tensor.float()
        return tensor.cpu().numpy()
    get = getattr(value, "get", None)  # CuPy arrays copy to the host with .get()
    if callable(get) and hasattr(value, "__cuda_array_interface__"):
        return np.asarray(get())
    if hasattr(value, "__array__") or isinstance(value, list | tuple | int | float):
        return np.asarray(value)
    if hasattr(value, "__dlpack__"):
        return np.from_dlpack(value)
    return np.asarray(value)


def to_ids(ids: Any) -> np.ndarray:
    """Sample ids as a 1-D int64 array (from a tensor, list, range or array)."""
    if isinstance(ids, range):
        return np.arange(ids.start, ids.stop, ids.step, dtype=np.int64)
    arr = np.asarray(to_numpy(ids))
    if arr.size == 0:
        # np.asarray([]) is float64, which NumPy refuses as an index.
        return np.zeros(0, dtype=np.int64)
    return arr.reshape(-1) if arr.ndim != 1 else arr
