"""Thumbnails of a run's inputs: single PNGs and sprite sheets for the scatter and grids.

Inputs are stored as ``(N, ...)`` arrays (``docs/run-format.md``). Images are ``HxW`` (grey) or
``HxWxC`` (C = 1, 3 or 4; channel-first ``CxHxW`` is recognised too), flat vectors whose
length is a square (``784`` → 28×28) are shown as grey squares. ``uint8`` values are used
as they are; other dtypes are rescaled to 0..255 per image (each image's own min and max),
so float images in [0, 1], [-1, 1] or standardised all look right.

Tiny images (8×8 digits) are enlarged with nearest-neighbour resampling, which keeps their
pixels crisp; everything else is resized bilinearly.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from reprdynamics.server.arrays import ApiError

__all__ = [
    "MAX_SPRITE_IDS",
    "MAX_SPRITE_PIXELS",
    "as_images",
    "image_like",
    "sprite_png",
    "thumbnail",
    "thumbnail_png",
]

#: Most thumbnails in one sprite sheet.
MAX_SPRITE_IDS = 2500
#: Largest side of a sprite sheet in pixels.
MAX_SPRITE_PIXELS = 8192
_TINY = 16


def _image_shape(sample_shape: tuple[int, ...]) -> tuple[str, tuple[int, ...]] | None:
    """How one sample of this shape is shown: ("hw"|"hwc"|"chw"|"flat", image shape)."""
    if len(sample_shape) == 2 and min(sample_shape) >= 1:
        return "hw", sample_shape
    if len(sample_shape) == 3:
        h, w, c = sample_shape
        if c in (1, 3, 4):
            return "hwc", sample_shape
        c0, h0, w0 = sample_shape
        if c0 in (1, 3, 4):
            return "chw", (h0, w0, c0)
        return None
    if len(sample_shape) == 1:
        side = math.isqrt(sample_shape[0])
        if side >= 2 and side * side == sample_shape[0]:
            return "flat", (side, side)
    return None


def image_like(inputs_shape: tuple[int, ...] | None) -> bool:
    """Whether inputs of this ``(N, ...)`` shape can be shown as thumbnails."""
    return inputs_shape is not None and _image_shape(tuple(inputs_shape[1:])) is not None


def as_images(inputs: np.ndarray) -> np.ndarray:
    """``(n, ...)`` inputs as uint8 images ``(n, H, W)`` or ``(n, H, W, 3)``.

    Raises
    ------
    ApiError
        404 when the inputs are not images (the front-end then shows plain points).
    """
    arr = np.asarray(inputs)
    layout = _image_shape(tuple(arr.shape[1:]))
    if layout is None or arr.dtype.kind not in "biuf":
        raise ApiError(
            404,
            f"The run's inputs (shape {tuple(arr.shape)}, dtype {arr.dtype}) are not images, "
            "so there are no thumbnails; show samples by id instead.",
        )
    kind, shape = layout
    if kind == "chw":
        arr = np.moveaxis(arr, 1, -1)
    elif kind == "flat":
        arr = arr.reshape((arr.shape[0], *shape))
    if arr.ndim == 4:
        if arr.shape[-1] == 1:
            arr = arr[..., 0]
        elif arr.shape[-1] == 4:
            arr = arr[..., :3]  # thumbnails are opaque
    return _to_uint8(arr)


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    values = arr.astype(np.float64)
    values = np.where(np.isfinite(values), values, np.nan)
    axes = tuple(range(1, values.ndim))
    with np.errstate(all="ignore"):
        low = np.nanmin(values, axis=axes, keepdims=True) if values.size else values
        high = np.nanmax(values, axis=axes, keepdims=True) if values.size else values
        span = np.where(high > low, high - low, 1.0)
        scaled = (values - low) / span * 255.0
    scaled = np.nan_to_num(scaled, nan=0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def thumbnail(image: np.ndarray, size: int) -> Image.Image:
    """One uint8 image resized to ``size``×``size`` (aspect kept, padded with black)."""
    picture = Image.fromarray(np.ascontiguousarray(image))
    mode = picture.mode
    h, w = image.shape[:2]
    longest = max(h, w)
    scale = size / longest
    target = (max(1, round(w * scale)), max(1, round(h * scale)))
    resample = (
        Image.Resampling.NEAREST
        if longest <= _TINY and size >= longest
        else Image.Resampling.BILINEAR
    )
    resized = picture.resize(target, resample=resample)
    if target == (size, size):
        return resized
    canvas = Image.new(mode, (size, size))
    canvas.paste(resized, ((size - target[0]) // 2, (size - target[1]) // 2))
    return canvas


def _png(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    picture.save(out, format="PNG", optimize=False)
    return out.getvalue()


def thumbnail_png(image: np.ndarray, size: int) -> bytes:
    """PNG bytes of one thumbnail."""
    return _png(thumbnail(image, size))


def sprite_png(images: np.ndarray, size: int) -> tuple[bytes, int]:
    """A sprite sheet: thumbnails row-major in ``ceil(sqrt(n))`` columns; (PNG, columns)."""
    n = int(images.shape[0])
    columns = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / columns))
    mode = "L" if images.ndim == 3 else "RGB"
    sheet = Image.new(mode, (columns * size, rows * size))
    for i in range(n):
        r, c = divmod(i, columns)
        sheet.paste(thumbnail(images[i], size), (c * size, r * size))
    return _png(sheet), columns
