"""Turn whatever a training loop hands us into NumPy arrays, without importing a framework.

Torch tensors are recognised by duck typing (``detach`` / ``cpu``), so this module works
whether or not torch is installed, and never imports it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["to_ids", "to_numpy"]


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
