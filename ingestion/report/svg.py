"""Small inline SVG charts with labelled axes: no script, no fonts or files to fetch.

Each chart scales to its container (viewBox) and takes its fonts from the page. A value
drawn as a bar or a point carries the marker of the number it shows, and a value printed
on the chart is marked like every other number of the report.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 560
# A chart in a third of the page.
SMALL = 380
HEIGHT = 270
TICK_COUNT = 5
LABEL_GAP = 4
GRID = "#e3e7ec"
AXIS = "#9aa5b1"


@dataclass(frozen=True)
class Datum:
    """One value to draw: its category label, value, printed text and marker attributes."""

    label: str
    value: float
    text: str
    marker: str


@dataclass(frozen=True)
class Series:
    """Values of one kind, drawn in one colour, with a name for the legend."""

    name: str
    color: str
    data: tuple[Datum, ...]


@dataclass(frozen=True)
class Range:
    """A row of a range chart: a middle value (median) and a high one (90th percentile)."""

    label: str
    middle: Datum
    high: Datum


@dataclass(frozen=True)
class _Frame:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int

    @property
    def plot_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> float:
        return self.height - self.top - self.bottom

    def y(self, value: float, top: float) -> float:
        return self.top + self.plot_height * (1 - value / top)


def nice_ticks(maximum: float, count: int = TICK_COUNT, *, whole: bool = True) -> list[float]:
    """Round tick values from 0 to at least `maximum`, about `count`; whole numbers for counts."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(f * power for f in (1, 2, 2.5, 5, 10) if f * power >= raw)
    if whole:
        step = max(math.ceil(step), 1)
    ticks = [0.0]
    while ticks[-1] < maximum - 1e-9:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def plain(value: float) -> str:
    """A tick label: 1,500 or 2.5."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,g}"


def _open(frame: _Frame, title: str, kind: str) -> list[str]:
    return [
        f'<svg class="chart" data-chart="{escape(kind)}" xmlns="http://www.w3.org/2000/svg"'
        f' viewBox="0 0 {frame.width} {frame.height}" role="img"'
        f' aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]


def _y_axis(
    frame: _Frame, ticks: Sequence[float], label: Callable[[float], str], title: str
) -> list[str]:
    parts = []
    for tick in ticks:
        y = frame.y(tick, ticks[-1])
        parts.append(
            f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{y:.1f}"'
            f' y2="{y:.1f}" stroke="{GRID if tick else AXIS}" stroke-width="1"/>'
            f'<text class="tick" x="{frame.left - 6}" y="{y + 4:.1f}"'
            f' text-anchor="end">{escape(label(tick))}</text>'
        )
    middle = frame.top + frame.plot_height / 2
    parts.append(
        f'<text class="axis-title" transform="translate(13 {middle:.1f}) rotate(-90)"'
        f' text-anchor="middle">{escape(title)}</text>'
    )
    return parts


def _x_labels(frame: _Frame, centres: Sequence[float], labels: Sequence[str], title: str) -> str:
    parts = []
    base = frame.height - frame.bottom
    for x, label in zip(centres, labels, strict=True):
        if not label:
            continue
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 4}" stroke="{AXIS}"/>'
        )
        lines = label.split("\n")
        spans = "".join(
            f'<tspan x="{x:.1f}" dy="{0 if index == 0 else 13}">{escape(line)}</tspan>'
            for index, line in enumerate(lines)
        )
        parts.append(f'<text class="tick" y="{base + 16}" text-anchor="middle">{spans}</text>')
    parts.append(
        f'<text class="axis-title" x="{frame.left + frame.plot_width / 2:.1f}"'
        f' y="{frame.height - 4}" text-anchor="middle">{escape(title)}</text>'
    )
    return "".join(parts)


def column_chart(
    data: Sequence[Datum],
    *,
    title: str,
    x_title: str,
    y_title: str,
    color: str,
    value_labels: bool = True,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """Vertical bars, one per datum; labels that are empty strings leave no x tick."""
    return grouped_column_chart(
        [datum.label for datum in data],
        [Series(name=y_title, color=color, data=tuple(data))],
        title=title,
        x_title=x_title,
        y_title=y_title,
        value_labels=value_labels,
        width=width,
        height=height,
        legend=False,
    )


def grouped_column_chart(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    x_title: str,
    y_title: str,
    value_labels: bool = True,
    width: int = WIDTH,
    height: int = HEIGHT,
    legend: bool = True,
) -> str:
    """Bars side by side per category, one colour per series, with a legend."""
    frame = _Frame(width, height, left=58, right=12, top=30 if legend else 18, bottom=52)
    ticks = nice_ticks(max((d.value for s in series for d in s.data), default=0))
    slot = frame.plot_width / max(len(categories), 1)
    group = slot * (0.72 if len(categories) < 12 else 0.86)
    bar = group / len(series)
    parts = _open(frame, title, "columns")
    parts += _y_axis(frame, ticks, plain, y_title)
    for number, each in enumerate(series):
        for index, datum in enumerate(each.data):
            x = frame.left + slot * index + (slot - group) / 2 + bar * number
            y = frame.y(datum.value, ticks[-1])
            parts.append(
                f'<rect class="bar"{datum.marker} x="{x:.1f}" y="{y:.1f}"'
                f' width="{max(bar - 1, 1):.1f}" height="{frame.top + frame.plot_height - y:.1f}"'
                f' fill="{each.color}"><title>{escape(datum.label.replace(chr(10), " "))}:'
                f" {escape(datum.text)} {escape(each.name.lower())}</title></rect>"
            )
            if value_labels:
                parts.append(
                    f'<text class="value"{datum.marker} x="{x + bar / 2:.1f}"'
                    f' y="{y - LABEL_GAP:.1f}" text-anchor="middle">{escape(datum.text)}</text>'
                )
    centres = [frame.left + slot * (index + 0.5) for index in range(len(categories))]
    parts.append(_x_labels(frame, centres, categories, x_title))
    if legend:
        parts.append(_legend(frame, series))
    parts.append("</svg>")
    return "".join(parts)


def _legend(frame: _Frame, series: Sequence[Series]) -> str:
    parts = []
    x = float(frame.left)
    for each in series:
        parts.append(
            f'<rect x="{x:.1f}" y="6" width="11" height="11" rx="2" fill="{each.color}"/>'
            f'<text class="legend" x="{x + 16:.1f}" y="15">{escape(each.name)}</text>'
        )
        x += 30 + 7 * len(each.name)
    return "".join(parts)


def line_chart(
    data: Sequence[Datum],
    *,
    title: str,
    x_title: str,
    y_title: str,
    color: str,
    y_max: float | None = None,
    whole: bool = True,
    tick_label: Callable[[float], str] = plain,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """A line through the values with a light area below it and each value printed."""
    frame = _Frame(width, height, left=58, right=22, top=22, bottom=52)
    ticks = nice_ticks(y_max or max((d.value for d in data), default=0), whole=whole)
    slot = frame.plot_width / max(len(data), 1)
    points = [
        (frame.left + slot * (index + 0.5), frame.y(datum.value, ticks[-1]))
        for index, datum in enumerate(data)
    ]
    parts = _open(frame, title, "line")
    parts += _y_axis(frame, ticks, tick_label, y_title)
    if points:
        base = frame.top + frame.plot_height
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(
            f'<polygon points="{points[0][0]:.1f},{base} {path} {points[-1][0]:.1f},{base}"'
            f' fill="{color}" fill-opacity="0.12"/>'
            f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2.5"'
            ' stroke-linejoin="round"/>'
        )
    for (x, y), datum in zip(points, data, strict=True):
        parts.append(
            f'<circle class="point"{datum.marker} cx="{x:.1f}" cy="{y:.1f}" r="4"'
            f' fill="#fff" stroke="{color}" stroke-width="2.5"><title>'
            f"{escape(datum.label.replace(chr(10), ' '))}: {escape(datum.text)}</title></circle>"
            f'<text class="value"{datum.marker} x="{x:.1f}" y="{y - 10:.1f}"'
            f' text-anchor="middle">{escape(datum.text)}</text>'
        )
    parts.append(_x_labels(frame, [x for x, _ in points], [d.label for d in data], x_title))
    parts.append("</svg>")
    return "".join(parts)


def range_chart(
    rows: Sequence[Range],
    *,
    title: str,
    x_title: str,
    colors: tuple[str, str],
    width: int = WIDTH,
) -> str:
    """Horizontal bars per row: a light one to the high value, a dark one to the middle."""
    row_height = 30
    frame = _Frame(width, 36 + row_height * len(rows) + 40, left=96, right=150, top=30, bottom=40)
    ticks = nice_ticks(max((row.high.value for row in rows), default=0))
    scale = frame.plot_width / ticks[-1]
    parts = _open(frame, title, "ranges")
    parts += _x_axis(frame, ticks, scale, x_title)
    parts.append(
        _legend(
            frame,
            [Series("median", colors[0], ()), Series("90th percentile", colors[1], ())],
        )
    )
    for index, row in enumerate(rows):
        y = frame.top + 6 + index * row_height
        parts.append(
            f'<text class="category" x="{frame.left - 8}" y="{y + 13}"'
            f' text-anchor="end">{escape(row.label)}</text>'
            f'<rect{row.high.marker} x="{frame.left}" y="{y}" height="18"'
            f' width="{max(row.high.value * scale, 1):.1f}" fill="{colors[1]}"/>'
            f'<rect{row.middle.marker} x="{frame.left}" y="{y + 4}" height="10"'
            f' width="{max(row.middle.value * scale, 1):.1f}" fill="{colors[0]}"/>'
            f'<text class="value" x="{frame.left + row.high.value * scale + 6:.1f}"'
            f' y="{y + 13}"><tspan{row.middle.marker}>{escape(row.middle.text)}</tspan>'
            f'<tspan class="muted"> · p90 </tspan><tspan{row.high.marker}>'
            f"{escape(row.high.text)}</tspan></text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _x_axis(frame: _Frame, ticks: Sequence[float], scale: float, title: str) -> list[str]:
    base = frame.height - frame.bottom
    parts = []
    for tick in ticks:
        x = frame.left + tick * scale
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{frame.top}" y2="{base}"'
            f' stroke="{GRID if tick else AXIS}"/>'
            f'<text class="tick" x="{x:.1f}" y="{base + 15}" text-anchor="middle">'
            f"{escape(plain(tick))}</text>"
        )
    parts.append(
        f'<text class="axis-title" x="{frame.left + frame.plot_width / 2:.1f}"'
        f' y="{frame.height - 6}" text-anchor="middle">{escape(title)}</text>'
    )
    return parts


def bar_list(
    data: Sequence[Datum], *, title: str, x_title: str, color: str, width: int = WIDTH
) -> str:
    """Horizontal bars, one row per datum, with the value printed after each bar."""
    row_height = 26
    frame = _Frame(width, 12 + row_height * len(data) + 40, left=96, right=60, top=10, bottom=40)
    ticks = nice_ticks(max((datum.value for datum in data), default=0))
    scale = frame.plot_width / ticks[-1]
    parts = _open(frame, title, "bars")
    parts += _x_axis(frame, ticks, scale, x_title)
    for index, datum in enumerate(data):
        y = frame.top + 4 + index * row_height
        parts.append(
            f'<text class="category" x="{frame.left - 8}" y="{y + 13}"'
            f' text-anchor="end">{escape(datum.label)}</text>'
            f'<rect class="bar"{datum.marker} x="{frame.left}" y="{y}" height="18"'
            f' width="{max(datum.value * scale, 1):.1f}" fill="{color}"/>'
            f'<text class="value"{datum.marker} x="{frame.left + datum.value * scale + 6:.1f}"'
            f' y="{y + 13}">{escape(datum.text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
