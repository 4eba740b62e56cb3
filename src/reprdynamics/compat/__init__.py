"""The original ReprDynamics API (``ReprD``, ``ReprDataset``) on top of recording and storage.

Code written for the original tool keeps working with one changed import::

    from reprdynamics import ReprD, ReprDataset

and returns the original's numbers (neighbour lists, distances, the heat map's values).
What changed underneath, and why, is told where it lives:

* **Storage and flushing** (:mod:`~reprdynamics.compat.recording`). ``ReprD(save_path=DIR)``
  records into a run at ``DIR/run`` (:data:`RUN_DIRNAME`) instead of rewriting
  ``DIR/snapshots.json`` after every batch. A snapshot is written when the epoch moves to
  the next snapshot; the last one by the first analysis (``compute_neighbours``,
  ``.snapshots``), when the ``ReprD`` is garbage-collected, and at interpreter exit
  (before the thread pools zarr writes through shut down: :mod:`~reprdynamics.compat._exit`).
  ``close()`` and ``with ReprD(...) as reprd:`` do it explicitly. Without ``save_path`` the
  run lives in a temporary directory removed with the ``ReprD``.
* **Loading** (:mod:`~reprdynamics.compat.loading`). ``ReprD(load_path=...)`` opens a run, a
  directory holding one, a legacy ``snapshots.json`` or a legacy save directory; legacy JSON
  stays float64 in memory, so ``compute_neighbours`` reproduces ``neighbours.json`` exactly.
* **ReprDataset and torch** (:mod:`~reprdynamics.compat.dataset`). ``ReprDataset``
  subclasses ``torch.utils.data.Dataset`` when torch is installed, and is built on first
  access of ``reprdynamics.compat.ReprDataset`` (this module's ``__getattr__``): ``from
  reprdynamics import ReprD`` never imports torch; ``from reprdynamics import ReprDataset``
  imports ``torch.utils.data`` only if torch is installed.

The analyses are also module-level functions that take plain data
(:mod:`~reprdynamics.compat.neighbours`): :func:`compute_neighbours`,
:func:`distance_matrix` and :func:`get_neighbours`.
"""

from __future__ import annotations

from typing import Any

from reprdynamics.compat.loading import RUN_DIRNAME
from reprdynamics.compat.neighbours import (
    KNN_ALGORITHMS,
    compute_neighbours,
    distance_matrix,
    get_neighbours,
)
from reprdynamics.compat.reprd import ReprD

__all__ = [
    "KNN_ALGORITHMS",
    "RUN_DIRNAME",
    "ReprD",
    "ReprDataset",
    "compute_neighbours",
    "distance_matrix",
    "get_neighbours",
]

ReprDataset: type  # built on first access by the module __getattr__ below


def __getattr__(name: str) -> Any:
    if name == "ReprDataset":
        from reprdynamics.compat.dataset import _build_repr_dataset

        cls = _build_repr_dataset()
        globals()["ReprDataset"] = cls  # built once; pickle finds the same class again
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
