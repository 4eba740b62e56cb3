"""The report's figures as plain data: one description per figure, drawn twice.

A figure is a small frozen dataclass holding the numbers it shows (taken unchanged from
the analysis results) and how to label them. :meth:`to_plotly` turns it into a Plotly
figure (``{"data", "layout"}``) for the HTML page, and :mod:`reprdynamics.report.png`
draws the same description with Pillow, so the page and the PNGs cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "DIVERGING",
    "INFERNO",
    "PALETTE",
    "REGION_COLOURS",
    "Figure",
    "Heatmap",
    "Lines",
    "Scatter",
    "ScatterGroup",
    "Series",
    "json_numbers",
]

#: Matplotlib's inferno at 11 stops (the dashboard's heat-map colours, js/util.js).
INFERNO: tuple[tuple[float, str], ...] = (
    (0.0, "#000004"),
    (0.1, "#160b39"),
    (0.2, "#420a68"),
    (0.3, "#6a176e"),
    (0.4, "#932667"),
    (0.5, "#bc3754"),
    (0.6, "#dd513a"),
    (0.7, "#f37819"),
    (0.8, "#fca50a"),
    (0.9, "#f6d746"),
    (1.0, "#fcffa4"),
)
#: Blue (negative) - white (0) - red (positive), for differences between runs.
DIVERGING: tuple[tuple[float, str], ...] = (
    (0.0, "#2166ac"),
    (0.25, "#92c5de"),
    (0.5, "#f7f7f7"),
    (0.75, "#f4a582"),
    (1.0, "#b2182b"),
)
#: Line and class colours (Tableau 10, as the dashboard's palette).
PALETTE: tuple[str, ...] = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
#: Colours of the data-map regions, by cartography code (-1 undefined).
REGION_COLOURS: dict[int, str] = {0: "#59a14f", 1: "#4e79a7", 2: "#e15759", -1: "#bab0ac"}

_FONT = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"


def json_numbers(values: Any) -> Any:
    """A float array as JSON-ready (nested) lists: NaN and infinities become ``None``."""
    arr = np.asarray(values, dtype=np.float64)
    out = arr.astype(object)
    out[~np.isfinite(arr)] = None
    return out.tolist()


def _colorscale(stops: Sequence[tuple[float, str]]) -> list[list[Any]]:
    return [[position, colour] for position, colour in stops]


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title, "font": {"size": 14}, "x": 0.02},
        "font": {"family": _FONT, "size": 12, "color": "#222"},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "margin": {"l": 64, "r": 24, "t": 40, "b": 56},
        **extra,
    }


def _ticks(labels: Sequence[str], most: int = 20) -> tuple[list[int], list[str]]:
    step = max(1, math.ceil(len(labels) / most))
    positions = list(range(0, len(labels), step))
    return positions, [labels[p] for p in positions]


@dataclass(frozen=True, eq=False)
class Heatmap:
    """A square matrix over labelled rows (a fingerprint, or a difference of two).

    ``boundaries`` are row positions ``b`` of phase changes, drawn between rows ``b`` and
    ``b + 1``. ``diverging`` centres the colours on 0 (``zmax`` = largest ``|z|``).
    """

    id: str
    title: str
    z: np.ndarray
    labels: list[str]
    colorbar: str = "D"
    zmin: float = 0.0
    zmax: float = 1.0
    diverging: bool = False
    boundaries: tuple[int, ...] = ()
    axis_title: str = "epoch"
    width: int = 640
    height: int = 560

    @property
    def stops(self) -> tuple[tuple[float, str], ...]:
        return DIVERGING if self.diverging else INFERNO

    def to_plotly(self) -> dict[str, Any]:
        n = len(self.labels)
        positions, text = _ticks(self.labels)
        axis = {
            "tickmode": "array",
            "tickvals": positions,
            "ticktext": text,
            "title": {"text": self.axis_title},
            "range": [-0.5, n - 0.5],
            "showgrid": False,
            "zeroline": False,
        }
        shapes = []
        for b in self.boundaries:
            for key in ("x", "y"):
                other = "y" if key == "x" else "x"
                shapes.append(
                    {
                        "type": "line",
                        f"{key}0": b + 0.5,
                        f"{key}1": b + 0.5,
                        f"{other}0": -0.5,
                        f"{other}1": n - 0.5,
                        "line": {"color": "#2ecc71", "width": 2, "dash": "dash"},
                    }
                )
        hover = [[f"{self.labels[j]} / {self.labels[i]}" for j in range(n)] for i in range(n)]
        return {
            "data": [
                {
                    "type": "heatmap",
                    "z": json_numbers(self.z),
                    "x": list(range(n)),
                    "y": list(range(n)),
                    "text": hover,
                    "hovertemplate": "%{text}<br>" + self.colorbar + " = %{z:.4f}<extra></extra>",
                    "zmin": self.zmin,
                    "zmax": self.zmax,
                    "colorscale": _colorscale(self.stops),
                    "colorbar": {"title": {"text": self.colorbar}},
                }
            ],
            "layout": _layout(
                self.title,
                xaxis={**axis, "constrain": "domain"},
                yaxis={**axis, "scaleanchor": "x", "autorange": False},
                shapes=shapes,
                width=self.width,
                height=self.height,
            ),
        }


@dataclass(frozen=True, eq=False)
class Series:
    """One line: ``y`` over the figure's ``x``."""

    name: str
    y: np.ndarray


@dataclass(frozen=True, eq=False)
class Lines:
    """Curves over a shared x axis (metrics per snapshot, a band sweep)."""

    id: str
    title: str
    x: list[float]
    series: tuple[Series, ...]
    xlabel: str
    ylabel: str = ""
    x_text: list[str] | None = None  # tick labels, when x are positions
    width: int = 720
    height: int = 400

    def to_plotly(self) -> dict[str, Any]:
        data = [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": s.name,
                "x": list(self.x),
                "y": json_numbers(s.y),
                "line": {"color": PALETTE[i % len(PALETTE)], "width": 2},
                "marker": {"size": 5},
            }
            for i, s in enumerate(self.series)
        ]
        xaxis: dict[str, Any] = {"title": {"text": self.xlabel}, "gridcolor": "#e5e5e5"}
        if self.x_text is not None:
            positions, text = _ticks(self.x_text)
            xaxis.update(tickmode="array", tickvals=[self.x[p] for p in positions], ticktext=text)
        return {
            "data": data,
            "layout": _layout(
                self.title,
                xaxis=xaxis,
                yaxis={"title": {"text": self.ylabel}, "gridcolor": "#e5e5e5"},
                legend={"orientation": "h", "y": -0.2},
                width=self.width,
                height=self.height,
            ),
        }


@dataclass(frozen=True, eq=False)
class ScatterGroup:
    """Points of one colour (a region of the data map, a class)."""

    name: str
    colour: str
    ids: np.ndarray
    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True, eq=False)
class Scatter:
    """Points in groups, with optional dashed guide lines (the data map's thresholds)."""

    id: str
    title: str
    groups: tuple[ScatterGroup, ...]
    xlabel: str
    ylabel: str
    x_range: tuple[float, float] | None = None
    y_range: tuple[float, float] | None = None
    vlines: tuple[float, ...] = ()
    hlines: tuple[float, ...] = ()
    diagonal: bool = False
    width: int = 600
    height: int = 560
    extra: dict[str, Any] = field(default_factory=dict)

    def to_plotly(self) -> dict[str, Any]:
        data = [
            {
                "type": "scatter",
                "mode": "markers",
                "name": f"{g.name} ({g.ids.size})",
                "x": json_numbers(g.x),
                "y": json_numbers(g.y),
                "customdata": [int(i) for i in g.ids],
                "hovertemplate": "sample %{customdata}<br>"
                + self.xlabel
                + " %{x:.3f}<br>"
                + self.ylabel
                + " %{y:.3f}<extra></extra>",
                "marker": {"color": g.colour, "size": 5, "opacity": 0.75},
            }
            for g in self.groups
        ]
        shapes: list[dict[str, Any]] = []
        guide = {"color": "#666", "width": 1, "dash": "dash"}
        for v in self.vlines:
            shapes.append(
                {
                    "type": "line",
                    "xref": "x",
                    "yref": "paper",
                    "x0": v,
                    "x1": v,
                    "y0": 0,
                    "y1": 1,
                    "line": guide,
                }
            )
        for h in self.hlines:
            shapes.append(
                {
                    "type": "line",
                    "xref": "paper",
                    "yref": "y",
                    "x0": 0,
                    "x1": 1,
                    "y0": h,
                    "y1": h,
                    "line": guide,
                }
            )
        if self.diagonal and self.x_range is not None:
            lo, hi = self.x_range
            shapes.append({"type": "line", "x0": lo, "x1": hi, "y0": lo, "y1": hi, "line": guide})
        xaxis: dict[str, Any] = {"title": {"text": self.xlabel}, "gridcolor": "#e5e5e5"}
        yaxis: dict[str, Any] = {"title": {"text": self.ylabel}, "gridcolor": "#e5e5e5"}
        if self.x_range is not None:
            xaxis["range"] = list(self.x_range)
        if self.y_range is not None:
            yaxis["range"] = list(self.y_range)
        return {
            "data": data,
            "layout": _layout(
                self.title,
                xaxis=xaxis,
                yaxis=yaxis,
                shapes=shapes,
                legend={"orientation": "h", "y": -0.18},
                width=self.width,
                height=self.height,
            ),
        }


Figure = Heatmap | Lines | Scatter
