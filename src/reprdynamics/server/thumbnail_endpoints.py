"""The thumbnail endpoints: one sample's image, or a sprite of many."""

from __future__ import annotations

from typing import Any

import numpy as np

from reprdynamics.server.arrays import (
    ApiError,
    Params,
    bad_parameter,
    parse_ordered_ids,
)
from reprdynamics.server.thumbnails import (
    MAX_SPRITE_IDS,
    MAX_SPRITE_PIXELS,
    as_images,
    sprite_png,
    thumbnail_png,
)
from reprdynamics.server.workspace import Workspace


# --------------------------------------------------------------------------- thumbnails
def _no_inputs(name: str) -> ApiError:
    return ApiError(
        404,
        f"The run {name!r} records no inputs, so there are no thumbnails; show samples by id "
        "instead.",
    )


def thumbs_impl(ws: Workspace, name: str, params: Params) -> tuple[bytes, int]:
    """``GET /api/runs/{run}/thumbs.png``: (PNG sprite sheet, number of columns)."""
    run = ws.open(name)
    raw = params.raw("ids")
    if raw is None or raw == "" or (isinstance(raw, str) and raw.strip().lower() == "all"):
        if run.n_samples > MAX_SPRITE_IDS:
            raise bad_parameter(
                "ids", f"given (at most {MAX_SPRITE_IDS} ids) for a run of {run.n_samples}", raw
            )
        ids = np.arange(run.n_samples)
    else:
        ids = _ordered_ids(raw, run.n_samples)
    if ids.size > MAX_SPRITE_IDS:
        raise bad_parameter("ids", f"at most {MAX_SPRITE_IDS} ids", f"{ids.size} ids")
    columns = max(1, int(np.ceil(np.sqrt(ids.size))))
    size = params.integer("size", 32, low=4, high=256)
    assert size is not None
    if columns * size > MAX_SPRITE_PIXELS:
        raise bad_parameter(
            "size", f"at most {MAX_SPRITE_PIXELS // columns} for {ids.size} ids", size
        )
    if not run.has_inputs:
        raise _no_inputs(name)
    unique, inverse = np.unique(ids, return_inverse=True)
    images = as_images(run.inputs(unique))[inverse]
    return sprite_png(images, size)


def _ordered_ids(raw: Any, n_samples: int) -> np.ndarray:
    """Ids in the order given (a sprite's cells follow it), duplicates kept, counted while
    parsing: 10,000 ranges of every sample are refused before 18 million ids are built."""
    return parse_ordered_ids(raw, n_samples, "ids", limit=MAX_SPRITE_IDS)


def thumb_impl(ws: Workspace, name: str, sample_id: str, params: Params) -> bytes:
    """``GET /api/runs/{run}/thumb/{id}.png``: one thumbnail."""
    run = ws.open(name)
    try:
        if not sample_id.isdigit() or not sample_id.isascii():
            raise ValueError(sample_id)
        index = int(sample_id)
    except ValueError:
        raise bad_parameter("id", "a sample id (a non-negative int)", sample_id) from None
    if index >= run.n_samples:
        raise bad_parameter("id", f"a sample id in [0, {run.n_samples - 1}]", index, status=404)
    size = params.integer("size", 64, low=4, high=512)
    assert size is not None
    if not run.has_inputs:
        raise _no_inputs(name)
    image = as_images(run.inputs([index]))[0]
    return thumbnail_png(image, size)
