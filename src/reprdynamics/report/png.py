"""The report's figures drawn as PNGs with Pillow (no plotting library needed).

Each figure is drawn at its ``width`` × ``height`` (heat maps 640×560, curves 720×400,
scatters 600×560 by default): a heat map with its colour bar and phase-change lines,
curves with axes, ticks and a legend, a scatter with its guide lines and a legend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from reprdynamics.report.figures import PALETTE, Figure, Heatmap, Lines, Scatter

__all__ = ["colour_table", "nice_ticks", "render"]

_BG = (255, 255, 255)
_FG = (34, 34, 34)
_GRID = (229, 229, 229)
_AXIS = (120, 120, 120)
_NAN = (200, 200, 200)
_MARGIN = {"left": 70, "right": 24, "top": 40, "bottom": 62}


def _font(size: int = 12) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size only
        return ImageFont.load_default()


def _rgb(colour: str) -> tuple[int, int, int]:
    text = colour.lstrip("#")
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)


def colour_table(stops: Sequence[tuple[float, str]], n: int = 256) -> np.ndarray:
    """``(n, 3)`` uint8 colours interpolated linearly between the stops."""
    positions = np.array([p for p, _ in stops])
    colours = np.array([_rgb(c) for _, c in stops], dtype=np.float64)
    grid = np.linspace(0.0, 1.0, n)
    table = np.stack([np.interp(grid, positions, colours[:, c]) for c in range(3)], axis=1)
    return np.clip(np.rint(table), 0, 255).astype(np.uint8)


def nice_ticks(low: float, high: float, most: int = 6) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5 or 5 times a power of ten)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        return [low]
    raw = (high - low) / max(most - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _label(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.2e}"


# Characters Pillow's bundled font lacks, in plain text.
_PLAIN = str.maketrans({"→": "->", "−": "-", "–": "-", "ε": "eps", "Δ": "d", "×": "x"})


def _text(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    *,
    anchor: str = "la",
    size: int = 12,
    fill: tuple[int, int, int] = _FG,
) -> None:
    draw.text(xy, text.translate(_PLAIN), font=_font(size), fill=fill, anchor=anchor)


def _title(draw: ImageDraw.ImageDraw, figure: Figure) -> None:
    _text(draw, (12, 12), figure.title, size=14)


def _dashed(
    draw: ImageDraw.ImageDraw,
    a: tuple[float, float],
    b: tuple[float, float],
    colour: tuple[int, int, int],
    width: int = 1,
    dash: float = 6,
) -> None:
    length = math.hypot(b[0] - a[0], b[1] - a[1])
    if length == 0:
        return
    steps = int(length // dash)
    for i in range(0, steps + 1, 2):
        t0, t1 = i * dash / length, min((i + 1) * dash / length, 1.0)
        draw.line(
            [
                (a[0] + (b[0] - a[0]) * t0, a[1] + (b[1] - a[1]) * t0),
                (a[0] + (b[0] - a[0]) * t1, a[1] + (b[1] - a[1]) * t1),
            ],
            fill=colour,
            width=width,
        )


def _heatmap(figure: Heatmap) -> Image.Image:
    image = Image.new("RGB", (figure.width, figure.height), _BG)
    draw = ImageDraw.Draw(image)
    _title(draw, figure)
    n = len(figure.labels)
    bar_space = 90
    side = min(
        figure.width - _MARGIN["left"] - _MARGIN["right"] - bar_space,
        figure.height - _MARGIN["top"] - _MARGIN["bottom"],
    )
    x0, y0 = _MARGIN["left"], _MARGIN["top"]
    table = colour_table(figure.stops)
    z = np.asarray(figure.z, dtype=np.float64)
    span = figure.zmax - figure.zmin or 1.0
    scaled = np.clip((z - figure.zmin) / span, 0.0, 1.0)
    index = np.rint(np.nan_to_num(scaled) * (len(table) - 1)).astype(np.int64)
    cells = table[index]
    cells[~np.isfinite(z)] = _NAN
    # Row 0 at the bottom, as Plotly draws a heat map.
    cells = np.ascontiguousarray(cells[::-1])
    picture = Image.fromarray(cells, mode="RGB").resize((side, side), Image.Resampling.NEAREST)
    image.paste(picture, (x0, y0))
    draw.rectangle([x0, y0, x0 + side, y0 + side], outline=_AXIS)
    cell = side / max(n, 1)
    step = max(1, math.ceil(n / max(1, side // 28)))
    for p in range(0, n, step):
        cx = x0 + (p + 0.5) * cell
        cy = y0 + side - (p + 0.5) * cell
        draw.line([(cx, y0 + side), (cx, y0 + side + 4)], fill=_AXIS)
        draw.line([(x0 - 4, cy), (x0, cy)], fill=_AXIS)
        _text(draw, (cx, y0 + side + 6), figure.labels[p], anchor="ma", size=10)
        _text(draw, (x0 - 6, cy), figure.labels[p], anchor="rm", size=10)
    _text(draw, (x0 + side / 2, y0 + side + 24), figure.axis_title, anchor="ma")
    for b in figure.boundaries:
        at = (b + 1) * cell
        _dashed(draw, (x0 + at, y0), (x0 + at, y0 + side), (46, 204, 113), width=2)
        _dashed(draw, (x0, y0 + side - at), (x0 + side, y0 + side - at), (46, 204, 113), width=2)
    # Colour bar: zmin at the bottom, zmax at the top.
    bx, bw = x0 + side + 24, 16
    column = table[::-1][np.linspace(0, len(table) - 1, side).astype(np.int64)]
    bar = np.repeat(column[:, None, :], bw, axis=1)
    image.paste(Image.fromarray(np.ascontiguousarray(bar), mode="RGB"), (bx, y0))
    draw.rectangle([bx, y0, bx + bw, y0 + side], outline=_AXIS)
    for tick in nice_ticks(figure.zmin, figure.zmax, 6):
        ty = y0 + side - (tick - figure.zmin) / span * side
        draw.line([(bx + bw, ty), (bx + bw + 4, ty)], fill=_AXIS)
        _text(draw, (bx + bw + 6, ty), _label(tick), anchor="lm", size=10)
    _text(draw, (bx, y0 - 4), figure.colorbar, anchor="ld", size=11)
    return image


class _Axes:
    """Data → pixel mapping of a plot area."""

    def __init__(
        self,
        figure: Lines | Scatter,
        x_range: tuple[float, float],
        y_range: tuple[float, float],
        legend_rows: int,
    ) -> None:
        self.left = _MARGIN["left"]
        self.top = _MARGIN["top"]
        self.right = figure.width - _MARGIN["right"]
        self.bottom = figure.height - _MARGIN["bottom"] - 18 * legend_rows
        self.x_range, self.y_range = _padded(x_range), _padded(y_range)

    def px(self, x: float, y: float) -> tuple[float, float]:
        (x_lo, x_hi), (y_lo, y_hi) = self.x_range, self.y_range
        return (
            self.left + (x - x_lo) / (x_hi - x_lo) * (self.right - self.left),
            self.bottom - (y - y_lo) / (y_hi - y_lo) * (self.bottom - self.top),
        )

    def frame(
        self,
        image: Image.Image,
        xlabel: str,
        ylabel: str,
        x_ticks: list[tuple[float, str]] | None = None,
    ) -> None:
        draw = ImageDraw.Draw(image)
        ticks_x = x_ticks or [(t, _label(t)) for t in nice_ticks(*self.x_range)]
        for value, text in ticks_x:
            px, _ = self.px(value, self.y_range[0])
            if self.left - 0.5 <= px <= self.right + 0.5:
                draw.line([(px, self.top), (px, self.bottom)], fill=_GRID)
                _text(draw, (px, self.bottom + 6), text, anchor="ma", size=10)
        for value in nice_ticks(*self.y_range):
            _, py = self.px(self.x_range[0], value)
            if self.top - 0.5 <= py <= self.bottom + 0.5:
                draw.line([(self.left, py), (self.right, py)], fill=_GRID)
                _text(draw, (self.left - 6, py), _label(value), anchor="rm", size=10)
        draw.rectangle([self.left, self.top, self.right, self.bottom], outline=_AXIS)
        _text(draw, ((self.left + self.right) / 2, self.bottom + 22), xlabel, anchor="ma")
        if ylabel:
            label = Image.new("RGB", (max(1, len(ylabel) * 8 + 8), 16), _BG)
            _text(ImageDraw.Draw(label), (label.width / 2, 8), ylabel, anchor="mm")
            rotated = label.rotate(90, expand=True)
            y = int((self.top + self.bottom) / 2 - rotated.height / 2)
            image.paste(rotated, (4, max(self.top, y)))


def _padded(bounds: tuple[float, float]) -> tuple[float, float]:
    low, high = bounds
    if not (math.isfinite(low) and math.isfinite(high)):
        return 0.0, 1.0
    if high <= low:
        return low - 0.5, high + 0.5
    return low, high


def _finite_range(values: Sequence[np.ndarray]) -> tuple[float, float]:
    finite = [v[np.isfinite(v)] for v in values]
    finite = [v for v in finite if v.size]
    if not finite:
        return 0.0, 1.0
    low = min(float(v.min()) for v in finite)
    high = max(float(v.max()) for v in finite)
    pad = (high - low) * 0.05 or 0.5
    return low - pad, high + pad


def _legend(
    draw: ImageDraw.ImageDraw,
    figure: Lines | Scatter,
    entries: list[tuple[str, tuple[int, int, int]]],
) -> int:
    """Legend rows below the x axis; returns how many rows it takes (drawn when a draw)."""
    x, row = _MARGIN["left"], 0
    base = figure.height - 20 - 18 * (_legend_rows(figure, entries) - 1)
    for name, colour in entries:
        width = 28 + int(draw.textlength(name.translate(_PLAIN), font=_font(11)))
        if x + width > figure.width - 10 and x > _MARGIN["left"]:
            x, row = _MARGIN["left"], row + 1
        y = base + 18 * row
        draw.rectangle([x, y - 5, x + 14, y + 5], fill=colour)
        _text(draw, (x + 20, y), name, anchor="lm", size=11)
        x += width + 14
    return row + 1


def _legend_rows(figure: Lines | Scatter, entries: list[tuple[str, tuple[int, int, int]]]) -> int:
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    x, rows = _MARGIN["left"], 1
    for name, _ in entries:
        width = 28 + int(probe.textlength(name.translate(_PLAIN), font=_font(11)))
        if x + width > figure.width - 10 and x > _MARGIN["left"]:
            x, rows = _MARGIN["left"], rows + 1
        x += width + 14
    return rows


def _lines(figure: Lines) -> Image.Image:
    image = Image.new("RGB", (figure.width, figure.height), _BG)
    draw = ImageDraw.Draw(image)
    _title(draw, figure)
    entries = [(s.name, _rgb(PALETTE[i % len(PALETTE)])) for i, s in enumerate(figure.series)]
    x = np.asarray(figure.x, dtype=np.float64)
    axes = _Axes(
        figure,
        (float(x.min()), float(x.max())) if x.size else (0.0, 1.0),
        _finite_range([np.asarray(s.y, dtype=np.float64) for s in figure.series]),
        _legend_rows(figure, entries),
    )
    x_ticks = None
    if figure.x_text is not None:
        step = max(1, math.ceil(len(figure.x_text) / 12))
        x_ticks = [(figure.x[p], figure.x_text[p]) for p in range(0, len(figure.x_text), step)]
    axes.frame(image, figure.xlabel, figure.ylabel, x_ticks)
    for (_, colour), s in zip(entries, figure.series, strict=True):
        y = np.asarray(s.y, dtype=np.float64)
        segment: list[tuple[float, float]] = []
        for xi, yi in zip(x, y, strict=True):
            if not np.isfinite(yi):
                if len(segment) > 1:
                    draw.line(segment, fill=colour, width=2)
                segment = []
                continue
            point = axes.px(float(xi), float(yi))
            segment.append(point)
            draw.ellipse(
                [point[0] - 2.5, point[1] - 2.5, point[0] + 2.5, point[1] + 2.5], fill=colour
            )
        if len(segment) > 1:
            draw.line(segment, fill=colour, width=2)
    _legend(draw, figure, entries)
    return image


def _scatter(figure: Scatter) -> Image.Image:
    image = Image.new("RGB", (figure.width, figure.height), _BG)
    draw = ImageDraw.Draw(image)
    _title(draw, figure)
    entries = [(f"{g.name} ({g.ids.size})", _rgb(g.colour)) for g in figure.groups]
    xs = [np.asarray(g.x, dtype=np.float64) for g in figure.groups]
    ys = [np.asarray(g.y, dtype=np.float64) for g in figure.groups]
    axes = _Axes(
        figure,
        figure.x_range or _finite_range(xs),
        figure.y_range or _finite_range(ys),
        _legend_rows(figure, entries),
    )
    axes.frame(image, figure.xlabel, figure.ylabel)
    guide = (102, 102, 102)
    for v in figure.vlines:
        px, _ = axes.px(v, 0)
        _dashed(draw, (px, axes.top), (px, axes.bottom), guide)
    for h in figure.hlines:
        _, py = axes.px(0, h)
        _dashed(draw, (axes.left, py), (axes.right, py), guide)
    if figure.diagonal:
        lo = max(axes.x_range[0], axes.y_range[0])
        hi = min(axes.x_range[1], axes.y_range[1])
        if hi > lo:
            _dashed(draw, axes.px(lo, lo), axes.px(hi, hi), guide)
    for (_, colour), x, y in zip(entries, xs, ys, strict=True):
        for xi, yi in zip(x, y, strict=True):
            if not (np.isfinite(xi) and np.isfinite(yi)):
                continue
            px, py = axes.px(float(xi), float(yi))
            if axes.left <= px <= axes.right and axes.top <= py <= axes.bottom:
                draw.ellipse([px - 2.5, py - 2.5, px + 2.5, py + 2.5], fill=colour)
    _legend(draw, figure, entries)
    return image


def render(figure: Figure) -> Image.Image:
    """The figure as an RGB image of ``figure.width`` × ``figure.height`` pixels."""
    if isinstance(figure, Heatmap):
        return _heatmap(figure)
    if isinstance(figure, Lines):
        return _lines(figure)
    if isinstance(figure, Scatter):
        return _scatter(figure)
    raise TypeError(f"Cannot draw a {type(figure).__name__} as a PNG.")
