"""The headline: the latest day's numbers, their change against the day before, their meaning."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from html import escape

from ingestion.report import formatting
from ingestion.report.dbt_docs import ReportDocs
from ingestion.report.looks import HEADLINE, LOOKS
from ingestion.report.marts import LaunchData, MetricRow

RATE = "legacy_conversion_rate"
# A second number under a headline one: (headline metric, the other metric, its wording).
EXTRAS = {
    RATE: ("cumulative_legacy_conversions", "legacy users converted so far"),
    "submissions_created": ("cards_submitted", "cards in them"),
}


def section(data: LaunchData, docs: ReportDocs) -> str:
    """The headline section: one card per headline metric of the latest day."""
    if not data.daily:
        return (
            "<section id='headline'><h2>Latest day</h2>"
            "<p class='lead'>No launch data yet: the marts have no day from go-live on.</p>"
            "</section>"
        )
    latest = data.daily[-1]
    previous = data.daily[-2] if len(data.daily) > 1 else None
    partial = is_partial(latest, data.data_through)
    cards = "".join(_card(name, latest, previous, docs, partial) for name in HEADLINE)
    return (
        "<section id='headline'>"
        f"<h2>Latest day: {escape(f'{latest.period:%A}')}, {escape(formatting.day(latest.period))}"
        "</h2>"
        f"<p class='lead'>{_lead(latest, previous, data.data_through if partial else None)}</p>"
        f"<div class='cards'>{cards}</div></section>"
    )


def is_partial(row: MetricRow, data_through: datetime | None) -> bool:
    """Whether the day is the one the data stops in: it holds only the hours until then."""
    return data_through is not None and data_through.date() == row.period


def _lead(latest: MetricRow, previous: MetricRow | None, stops_at: datetime | None) -> str:
    if previous is None:
        return "The first day of the launch: there is no day before to compare it with."
    before = escape(formatting.day(previous.period))
    if stops_at is None:
        return f"The whole UTC day, compared with {before}."
    return (
        f"The day so far: the data reaches {stops_at:%H:%M} UTC. Changes compare these hours"
        f" with all of {before}, so they run low until the day is over; they are shown in grey."
    )


def _card(
    name: str, latest: MetricRow, previous: MetricRow | None, docs: ReportDocs, partial: bool
) -> str:
    look = LOOKS[name]
    value = latest.values[name]
    day = latest.period.isoformat()
    shown = formatting.percent(value) if name == RATE else formatting.count(value)
    extra = ""
    if name in EXTRAS:
        other, wording = EXTRAS[name]
        extra = (
            f"<div class='extra'>{formatting.number(latest.values[other], other, date=day)}"
            f" {escape(wording)}</div>"
        )
    return (
        f"<article class='card' style='--accent: {look.color}' data-card='{escape(name)}'>"
        f"<div class='label'>{escape(look.label)}</div>"
        f"<div class='value'{formatting.marker(name, date=day)}>{escape(shown)}</div>"
        f"{_change(name, latest, previous, partial)}{extra}"
        f"<p class='definition'>{formatting.markdown(docs.metric_definitions.get(name, ''))}</p>"
        "</article>"
    )


def _change(name: str, latest: MetricRow, previous: MetricRow | None, partial: bool) -> str:
    if previous is None:
        return "<div class='change flat'>first day</div>"
    current, before = latest.values[name], previous.values[name]
    keys = {"date": latest.period.isoformat(), "versus": previous.period.isoformat()}
    versus = f"<span class='versus'> vs {escape(formatting.short_day(previous.period))}</span>"
    if name == RATE:
        points = formatting.points_change(current, before)
        if points is None:
            return "<div class='change flat'>no rate to compare</div>"
        shown = f"<span{formatting.marker(name, measure='change_points', **keys)}>{points}</span>"
        return f"<div class='change {_direction(current - before, partial)}'>{shown}{versus}</div>"
    difference = formatting.count_change(current, before)
    shown = f"<span{formatting.marker(name, measure='change', **keys)}>{difference}</span>"
    relative = formatting.relative_change(current, before)
    if relative is not None:
        marked = formatting.marker(name, measure="change_percent", **keys)
        shown += f" (<span{marked}>{relative}</span>)"
    return f"<div class='change {_direction(current - before, partial)}'>{shown}{versus}</div>"


def _direction(difference: int | Decimal, partial: bool) -> str:
    """Green up, red down; grey while a partial day is compared with a whole one."""
    if partial:
        return "partial"
    if difference > 0:
        return "up"
    return "down" if difference < 0 else "flat"
