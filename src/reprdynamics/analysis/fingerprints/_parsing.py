"""Parsing of neighbour-id lists and prediction histories for the fingerprints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from reprdynamics.errors import invalid_parameter


def _as_int_array(x: Any, name: str, owner: str, ndim: int, what: str) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise invalid_parameter(name, owner, what, type(x).__name__) from exc
    if arr.ndim != ndim:
        raise invalid_parameter(name, owner, what, f"an array of shape {arr.shape}")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise invalid_parameter(name, owner, what, f"dtype {arr.dtype}")
    return arr


def _as_neighbour_lists(x: Any, name: str, owner: str) -> np.ndarray:
    """Parse one (n, k) neighbour-id array; returns it with rows sorted ascending."""
    what = "a 2-D int array (n_samples, k) of neighbour ids"
    arr = _as_int_array(x, name, owner, 2, what)
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise invalid_parameter(
            name, owner, what + " with n, k >= 1", f"an array of shape {arr.shape}"
        )
    if arr.min() < 0:
        raise invalid_parameter(name, owner, "non-negative neighbour ids", f"min {int(arr.min())}")
    srt = np.sort(arr, axis=1)
    if (srt[:, 1:] == srt[:, :-1]).any():
        row = int(np.flatnonzero((srt[:, 1:] == srt[:, :-1]).any(axis=1))[0])
        raise invalid_parameter(
            name, owner, "neighbour lists without repeated ids", f"a repeated id in row {row}"
        )
    return srt


def _as_neighbour_stack(neighbours: Any, owner: str, min_snapshots: int) -> list[np.ndarray]:
    """Parse (T, n, k) neighbour ids (array or sequence of (n, k)) into sorted rows."""
    if isinstance(neighbours, np.ndarray) and neighbours.ndim != 3:
        raise invalid_parameter(
            "neighbours", owner, "a (T, n, k) int array", f"an array of shape {neighbours.shape}"
        )
    if not isinstance(neighbours, np.ndarray | Sequence) and not hasattr(neighbours, "__getitem__"):
        raise invalid_parameter(
            "neighbours",
            owner,
            "a (T, n, k) int array or a sequence of (n, k) arrays",
            type(neighbours).__name__,
        )
    n_snap = len(neighbours)
    if n_snap < min_snapshots:
        raise invalid_parameter(
            "neighbours", owner, f"at least {min_snapshots} snapshots", f"{n_snap} snapshots"
        )
    out = []
    for t in range(n_snap):
        srt = _as_neighbour_lists(neighbours[t], f"neighbours[{t}]", owner)
        if out and srt.shape[0] != out[0].shape[0]:
            raise invalid_parameter(
                f"neighbours[{t}]",
                owner,
                f"{out[0].shape[0]} rows like neighbours[0]",
                f"{srt.shape[0]} rows",
            )
        # int32 halves the memory of the stack; ids of any realistic selection fit.
        out.append(srt.astype(np.int32) if srt.max() < 2**31 - 1 else srt)
    return out


class _NeighbourSequence:
    """(T, n, k) neighbour ids, parsed one snapshot at a time (for lazy stacks)."""

    def __init__(self, neighbours: Any, owner: str, min_snapshots: int) -> None:
        if isinstance(neighbours, np.ndarray) and neighbours.ndim != 3:
            raise invalid_parameter(
                "neighbours",
                owner,
                "a (T, n, k) int array",
                f"an array of shape {neighbours.shape}",
            )
        if not hasattr(neighbours, "__getitem__") or not hasattr(neighbours, "__len__"):
            raise invalid_parameter(
                "neighbours",
                owner,
                "a (T, n, k) int array or a sequence of (n, k) arrays",
                type(neighbours).__name__,
            )
        if len(neighbours) < min_snapshots:
            raise invalid_parameter(
                "neighbours",
                owner,
                f"at least {min_snapshots} snapshots",
                f"{len(neighbours)} snapshots",
            )
        self._source, self._owner = neighbours, owner
        self._rows: int | None = None

    def __len__(self) -> int:
        return len(self._source)

    def load(self, t: int) -> np.ndarray:
        srt = _as_neighbour_lists(self._source[t], f"neighbours[{t}]", self._owner)
        if self._rows is None:
            self._rows = srt.shape[0]
        elif srt.shape[0] != self._rows:
            raise invalid_parameter(
                f"neighbours[{t}]",
                self._owner,
                f"{self._rows} rows like neighbours[0]",
                f"{srt.shape[0]} rows",
            )
        # int32 halves the memory; ids of any realistic selection fit.
        return srt.astype(np.int32) if srt.max() < 2**31 - 1 else srt


def _check_same_rows(a: np.ndarray, b: np.ndarray, owner: str, same_k: bool) -> None:
    if a.shape[0] != b.shape[0] or (same_k and a.shape[1] != b.shape[1]):
        expected = f"shape {a.shape} like nk_a" if same_k else f"{a.shape[0]} rows like nk_a"
        raise invalid_parameter(
            "nk_b", owner, f"an array of {expected}", f"an array of shape {b.shape}"
        )


def _as_predictions(predictions: Any, owner: str, name: str = "predictions") -> np.ndarray:
    return _as_int_array(
        predictions, name, owner, 2, "a 2-D int array (n_snapshots, n_samples) of predicted classes"
    )
