"""What the analyses of a run share: opening it, checking the selection, layer, k and
snapshots asked for, the tokens results are cached under, one computation at a time."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from reprdynamics.errors import (
    NotEnoughSnapshotsError,
    UnknownSampleError,
    invalid_parameter,
    parse_int,
)
from reprdynamics.storage.run import Run, open_run

# One computation per (run, state, parameters) at a time: a second caller (e.g. two
# dashboard views asking at once) waits and then takes the first one's result.
_COMPUTE_LOCKS: dict[tuple[str, str, str], threading.Lock] = {}
_COMPUTE_LOCKS_GUARD = threading.Lock()


def compute_lock(key: tuple[str, str, str]) -> threading.Lock:
    with _COMPUTE_LOCKS_GUARD:
        return _COMPUTE_LOCKS.setdefault(key, threading.Lock())


# --------------------------------------------------------------------------- parsing
def as_run(run: Run | str | os.PathLike[str]) -> Run:
    if isinstance(run, Run):
        return run
    location = os.fspath(run)
    writable = os.access(location, os.W_OK) if "://" not in location else False
    return open_run(location, mode="r+" if writable else "r")


def cache_target(run: Run) -> Run | None:
    """A writable handle on the run for caching, or None.

    None for read-only locations and for the sample run bundled inside the package, which
    must never grow with derived results.
    """
    if run.metadata.get("bundled_sample"):
        return None
    if run.writable:
        return run
    remote = "://" in run.location
    if run.location.startswith("memory://") or (
        not remote and not os.access(run.location, os.W_OK)
    ):
        return None
    try:
        # Object storage: try; a bucket without write permission fails at the first write,
        # and the result is then merely not cached.
        return open_run(
            run.location, mode="r+", storage_options=getattr(run, "storage_options", None)
        )
    except (OSError, ValueError):
        return None


def backend_token(backend: Any) -> str:
    """A cache key for a neighbour backend: its name, or its class and settings."""
    if isinstance(backend, str):
        return backend
    settings = {
        key: value
        for key, value in sorted(vars(backend).items())
        if not key.startswith("_")
        and not key.endswith("_")
        and isinstance(value, bool | int | float | str | type(None))
    }
    return f"{type(backend).__name__}({json.dumps(settings, sort_keys=True)})"


def parse_samples(run: Run, samples: Any, owner: str) -> np.ndarray:
    if samples is None:
        return np.arange(run.n_samples, dtype=np.int64)
    if isinstance(samples, slice):
        return np.arange(run.n_samples, dtype=np.int64)[samples]
    ids = np.asarray(samples)
    if ids.dtype == bool:
        if ids.shape != (run.n_samples,):
            raise invalid_parameter(
                "samples", owner, f"a boolean mask of length {run.n_samples}", ids.shape
            )
        ids = np.flatnonzero(ids)
    ids = run.check_ids(
        ids.reshape(-1) if ids.ndim != 1 else ids, owner=f"the selection of {owner}"
    )
    if ids.size == 0:
        raise UnknownSampleError(f"The 'samples' selection of {owner} is empty.")
    if np.unique(ids).size != ids.size:
        raise invalid_parameter("samples", owner, "unique sample ids", "duplicates")
    return ids


def parse_layer(run: Run, layer: str | None, owner: str) -> str:
    name = layer or run.output_layer
    run.layer_dim(name)  # raises LayerNotFoundError listing the available layers
    return name


def parse_k(k: Any, n: int, owner: str) -> int:
    return parse_int(k, "k", owner, low=1, high=n - 1)


def complete_snapshots(
    run: Run, owner: str, minimum: int = 2, *, called: str | None = None
) -> np.ndarray:
    """The run's complete snapshots, or :class:`NotEnoughSnapshotsError` when there are
    fewer than ``minimum``. The message names the run by its location, or as ``called``
    (the dashboard's name of it)."""
    snaps = run.complete_snapshots
    if snaps.size < minimum:
        where = f"the run {called!r}" if called is not None else f"the run at {run.location!r}"
        raise NotEnoughSnapshotsError(
            f"{owner} needs at least {minimum} complete snapshot{'s' if minimum > 1 else ''}; "
            f"{where} has {snaps.size} (of {run.n_snapshots} written)."
        )
    return snaps


def selection_token(ids: np.ndarray, n: int) -> str:
    if ids.size == n and np.array_equal(ids, np.arange(n)):
        return "all"
    return hashlib.sha256(np.ascontiguousarray(ids, dtype=np.int64).tobytes()).hexdigest()[:20]


def epoch_label(epoch: Any, t: int) -> str:
    return str(epoch) if epoch is not None else f"#{t}"


def list_runs(root: str | os.PathLike[str]) -> list[Path]:
    """Runs directly in ``root`` (or ``root`` itself when it is a run), sorted by name."""
    from reprdynamics.storage.run import is_run

    base = Path(root)
    if is_run(base):
        return [base]
    if not base.is_dir():
        raise FileNotFoundError(f"{str(base)!r} is neither a run nor a directory of runs.")
    return sorted(p for p in base.iterdir() if p.is_dir() and is_run(p))
