"""``ReprDataset``: the original's map-style dataset of ``{"X", "y", "index"}`` items.

``ReprDataset`` subclasses ``torch.utils.data.Dataset`` when torch is installed, and is a
plain map-style dataset (``__getitem__``/``__len__``, which is all ``DataLoader`` needs) when
it is not. Because nothing outside ``integrations/`` may import a framework when it is
imported, the class is built on first access of ``reprdynamics.compat.ReprDataset`` (that
package's ``__getattr__`` calls :func:`_build_repr_dataset`).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from reprdynamics.compat._parse import PathLike
from reprdynamics.errors import invalid_parameter
from reprdynamics.recording import to_numpy


class _ReprDatasetMixin:
    """Wrap inputs and labels as a map-style dataset of ``{"X", "y", "index"}`` items.

    Parameters
    ----------
    data_x
        The inputs, indexable by sample id: a NumPy array (e.g. ``N×H×W×C`` uint8 images), a
        tensor, or a list.
    data_y
        Optional labels, one per input: a list, array or tensor. Without labels an item's
        ``"y"`` is ``-1`` (the run format's "unknown"), where the original returned ``None``,
        which ``DataLoader``'s default collate cannot batch.
    transform
        Optional callable applied to ``X`` of each item (e.g. a torchvision transform).

    Examples
    --------
    >>> import numpy as np
    >>> from reprdynamics import ReprDataset
    >>> ds = ReprDataset(np.zeros((4, 8, 8), dtype=np.uint8), [0, 1, 1, 0])
    >>> len(ds), ds[2]["y"], ds[2]["index"]
    (4, 1, 2)
    """

    def __init__(self, data_x: Any, data_y: Any = None, transform: Callable | None = None):
        if data_y is not None and len(data_y) != len(data_x):
            raise invalid_parameter(
                "data_y", "ReprDataset", f"{len(data_x)} labels, one per input", len(data_y)
            )
        self.data = data_x
        self.labels = data_y
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> dict[str, Any]:
        x = self.data[index]
        # `is not None`, not truthiness: the original's `if self.labels:` fails on arrays.
        y = self.labels[index] if self.labels is not None else -1
        if self.transform is not None:
            x = self.transform(x)
        return {"X": x, "y": y, "index": index}

    def save(self, fpath: PathLike) -> Path:
        """Write ``fpath/data/data.npy`` (and ``fpath/data/labels.npy`` if labelled).

        Directories are created as needed. Returns the ``data`` directory.
        """
        data_dir = Path(fpath) / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        np.save(data_dir / "data.npy", _stackable(self.data))
        if self.labels is not None:
            np.save(data_dir / "labels.npy", _stackable(self.labels))
        return data_dir

    def __repr__(self) -> str:
        labelled = "labelled" if self.labels is not None else "unlabelled"
        return f"<ReprDataset: {len(self)} samples, {labelled}>"


def _stackable(values: Any) -> np.ndarray:
    if isinstance(values, list | tuple):
        return np.asarray([to_numpy(v) for v in values])
    return np.asarray(to_numpy(values))


def _build_repr_dataset() -> type:
    """``ReprDataset``: a ``torch.utils.data.Dataset`` subclass if torch is installed."""
    bases: tuple[type, ...] = (_ReprDatasetMixin,)
    if importlib.util.find_spec("torch") is not None:
        try:
            torch_data = importlib.import_module("torch.utils.data")
        except ImportError:  # pragma: no cover - a broken torch install
            torch_data = None
        if torch_data is not None:
            bases = (_ReprDatasetMixin, torch_data.Dataset)
    namespace = {
        "__module__": "reprdynamics.compat",  # where pickle finds it
        "__qualname__": "ReprDataset",
        "__doc__": _ReprDatasetMixin.__doc__,
    }
    return type("ReprDataset", bases, namespace)
