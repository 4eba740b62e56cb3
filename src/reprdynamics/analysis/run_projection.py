"""A run's snapshots projected to 2-D with one PCA fitted over all of them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from reprdynamics.analysis.projection import fit_projection
from reprdynamics.analysis.reads import LazySnapshots
from reprdynamics.analysis.run_inputs import (
    as_run,
    cache_target,
    complete_snapshots,
    parse_layer,
    parse_samples,
    selection_token,
)
from reprdynamics.errors import (
    InvalidParameterError,
)
from reprdynamics.storage.run import Run


# --------------------------------------------------------------------------- projection
@dataclass(frozen=True, eq=False)
class ProjectionOverTime:
    """2-D positions of the selection at every complete snapshot, one PCA for all."""

    ids: np.ndarray
    snapshots: np.ndarray
    coords: np.ndarray  # (T, n, 2) float32
    explained_variance_ratio: np.ndarray
    layer: str


def projection(
    run: Run | str | os.PathLike[str],
    *,
    layer: str | None = None,
    samples: Any = None,
    max_fit_rows: int = 20_000,
    seed: int = 0,
    use_cache: bool = True,
) -> ProjectionOverTime:
    """One 2-D PCA fitted on all complete snapshots (subsampled) and applied to each."""
    owner = "projection"
    run = as_run(run)
    layer = parse_layer(run, layer, owner)
    ids = parse_samples(run, samples, owner)
    snaps = complete_snapshots(run, owner, minimum=1)
    if run.layer_dim(layer) < 2:
        raise InvalidParameterError(f"Layer {layer!r} has one dimension; nothing to project.")
    params = {
        "layer": layer,
        "samples": selection_token(ids, run.n_samples),
        "max_fit_rows": max_fit_rows,
        "seed": seed,
    }
    if use_cache:
        cached = run.cache_get("projection", params)
        if cached is not None:
            return ProjectionOverTime(
                ids, cached["snapshots"], cached["coords"], cached["ratio"], layer
            )
    subset = None if params["samples"] == "all" else ids
    lazy = LazySnapshots(run, layer, snaps, subset, None)
    fitted = fit_projection(lazy, 2, max_fit_rows=max_fit_rows, seed=seed)
    coords = np.empty((snaps.size, ids.size, 2), dtype=np.float32)
    for pos in range(snaps.size):
        coords[pos] = fitted.transform(lazy[pos])
    ratio = np.asarray(fitted.explained_variance_ratio_, dtype=np.float64)
    if use_cache:
        target = cache_target(run)
        if target is not None:
            target.cache_put(
                "projection", params, {"snapshots": snaps, "coords": coords, "ratio": ratio}
            )
    return ProjectionOverTime(ids, snaps, coords, ratio, layer)
