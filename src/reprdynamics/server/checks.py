"""The checks every endpoint shares: complete snapshots, layers, k, snapshot indices."""

from __future__ import annotations

import numpy as np

from reprdynamics.analysis.run_inputs import complete_snapshots
from reprdynamics.errors import NotEnoughSnapshotsError
from reprdynamics.server.arrays import (
    ApiError,
    Params,
    bad_parameter,
)
from reprdynamics.server.workspace import DEFAULT_K, MAX_K
from reprdynamics.storage.run import Run


def check_complete(run: Run, minimum: int, what: str) -> np.ndarray:
    """The analyses' own check, naming the run as the dashboard does; a failure is the API's
    422 (an :class:`ApiError`, which the two-run endpoints relabel with the run's side)."""
    try:
        return complete_snapshots(run, what, minimum, called=run.name)
    except NotEnoughSnapshotsError as exc:
        raise ApiError(422, str(exc)) from None


def layer_param(run: Run, params: Params, name: str = "layer") -> str:
    layer = params.text(name) or run.output_layer
    if layer not in run.layers:
        raise bad_parameter(name, f"a layer of the run, one of {run.layers}", layer)
    return layer


def selection_size(run: Run, ids: np.ndarray | None) -> int:
    return run.n_samples if ids is None else int(ids.size)


def k_param(params: Params, n: int, *, allow_zero: bool = False) -> int:
    """Neighbours per sample for a selection of n samples: an int in [1, n - 1]."""
    if n < 2:
        raise bad_parameter("samples", "a selection of at least 2 samples", f"{n} sample(s)")
    value = params.integer(
        "k", min(DEFAULT_K, n - 1), low=0 if allow_zero else 1, high=min(n - 1, MAX_K)
    )
    assert value is not None
    return value


def snapshot_param(run: Run, params: Params, name: str, default: int) -> int:
    if run.n_snapshots == 0:
        raise ApiError(422, f"The run {run.name!r} has no snapshots yet.", parameter=name)
    value = params.integer(name, default, low=0, high=run.n_snapshots - 1)
    assert value is not None
    return value


def complete_snapshot_param(run: Run, params: Params, name: str, default: int) -> int:
    t = snapshot_param(run, params, name, default)
    if not run.complete[t]:
        complete = run.complete_snapshots.tolist()
        raise bad_parameter(name, f"a complete snapshot, one of {complete}", t)
    return t
