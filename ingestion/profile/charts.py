"""Small self-contained SVG charts (no script, no fonts to fetch) and text sparklines."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from ingestion.profile.records import ValueCount

WIDTH = 640
HEIGHT = 140
AXIS = 18
SPARKS = "▁▂▃▄▅▆▇█"


def monthly_svg(months: Sequence[ValueCount], title: str) -> str:
    """A bar chart of records per month; months without records are left out."""
    if not months:
        return ""
    top = max(item.count for item in months) or 1
    step = (WIDTH - 2) / len(months)
    bar = max(step - 1, 1)
    plot = HEIGHT - AXIS - 14
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}"'
        f' viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="10" font-size="10" fill="#555">max {top:,} per month</text>',
    ]
    for index, item in enumerate(months):
        height = max(plot * item.count / top, 1)
        x = 1 + index * step
        y = 14 + plot - height
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}"'
            f' fill="#4a78b0"><title>{escape(str(item.value))}: {item.count:,}</title></rect>'
        )
    labels = {0: months[0], len(months) - 1: months[-1]}
    if len(months) > 4:
        labels[len(months) // 2] = months[len(months) // 2]
    for index, item in labels.items():
        anchor = "start" if index == 0 else "end" if index == len(months) - 1 else "middle"
        x = 1 + index * step + (bar if anchor == "end" else bar / 2 if anchor == "middle" else 0)
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - 4}" font-size="10" text-anchor="{anchor}"'
            f' fill="#555">{escape(str(item.value))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def sparkline(months: Sequence[ValueCount]) -> str:
    """Records per month as one line of block characters."""
    if not months:
        return ""
    top = max(item.count for item in months) or 1
    return "".join(
        SPARKS[min(len(SPARKS) - 1, item.count * len(SPARKS) // (top + 1))] for item in months
    )
