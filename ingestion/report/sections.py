"""The report's sections of charts, each chart with its title, unit and definition."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from html import escape

from ingestion.report import formatting, headline, svg, tables
from ingestion.report.dbt_docs import ReportDocs
from ingestion.report.freshness import TableFreshness
from ingestion.report.looks import (
    DEFAULT_ENTITY_COLORS,
    ENTITY_COLORS,
    ENTITY_LABELS,
    HOURLY,
    LOOKS,
)
from ingestion.report.marts import LaunchData, MetricRow

SMALL_HEIGHT = 230
HOUR_TICK_EVERY = 12


def all_sections(data: LaunchData, docs: ReportDocs) -> list[str]:
    """Every section between the header and the sync log, in reading order."""
    found = [headline.section(data, docs)]
    if data.daily:
        found += [_conversions(data, docs), _first_hours(data, docs), _flows(data, docs)]
    found += [
        _time_in_status(data, docs),
        tables.all_days(data),
        _definitions(docs),
    ]
    return found


def sync_section(found: Sequence[TableFreshness], data: LaunchData) -> str:
    """Where the numbers come from: each table's last sync, load id and freshness."""
    return tables.syncs(found, data)


def _figure(title: str, definition: str, chart: str, name: str, after: str = "") -> str:
    explained = f"<p class='definition'>{formatting.markdown(definition)}</p>" if definition else ""
    return (
        f"<figure data-figure='{escape(name)}'><h3>{escape(title)}</h3>"
        f"{explained}{chart}{after}</figure>"
    )


def _day_label(row: MetricRow, data: LaunchData) -> str:
    label = formatting.short_day(row.period)
    partial = row is data.daily[-1] and headline.is_partial(row, data.data_through)
    return f"{label}\n(so far)" if partial else label


def _daily_data(data: LaunchData, name: str) -> list[svg.Datum]:
    return [
        svg.Datum(
            label=_day_label(row, data),
            value=float(row.values[name] or 0),
            text=_shown(name, row.values[name]),
            marker=formatting.marker(name, date=row.period.isoformat()),
        )
        for row in data.daily
    ]


def _shown(name: str, value: int | Decimal | None) -> str:
    if name == headline.RATE:
        return formatting.percent(value)
    return formatting.count(value or 0)


def _daily_columns(data: LaunchData, docs: ReportDocs, name: str) -> str:
    look = LOOKS[name]
    chart = svg.column_chart(
        _daily_data(data, name),
        title=f"{look.label} per day",
        x_title="UTC day",
        y_title=f"{look.unit} per day",
        color=look.color,
        width=svg.SMALL,
    )
    return _figure(
        f"{look.label} per day", docs.metric_definitions.get(name, ""), chart, f"daily_{name}"
    )


def _conversions(data: LaunchData, docs: ReportDocs) -> str:
    cumulative = LOOKS["cumulative_legacy_conversions"]
    rate = LOOKS[headline.RATE]
    figures = [
        _daily_columns(data, docs, "legacy_conversions"),
        _figure(
            "Legacy users converted so far",
            docs.metric_definitions.get("cumulative_legacy_conversions", ""),
            svg.line_chart(
                _daily_data(data, "cumulative_legacy_conversions"),
                title="Legacy users converted so far, by the end of each day",
                x_title="UTC day (at its end)",
                y_title=cumulative.unit,
                color=cumulative.color,
                width=svg.SMALL,
            ),
            "cumulative_legacy_conversions",
        ),
        _figure(
            "Conversion rate",
            docs.metric_definitions.get(headline.RATE, ""),
            svg.line_chart(
                _daily_data(data, headline.RATE),
                title="Conversion rate by the end of each day",
                x_title="UTC day (at its end)",
                y_title=rate.unit,
                color=rate.color,
                y_max=1.0,
                whole=False,
                tick_label=lambda tick: f"{tick * 100:.0f}%",
                width=svg.SMALL,
            ),
            "legacy_conversion_rate",
        ),
    ]
    return (
        "<section id='conversions'><h2>Legacy conversions</h2>"
        "<p class='lead'>Legacy users of grading and coins who signed into their unified"
        " account, per day and in total.</p>"
        f"<div class='grid three'>{''.join(figures)}</div></section>"
    )


def _hour_label(index: int, hour: datetime) -> str:
    if index % HOUR_TICK_EVERY:
        return ""
    return f"{formatting.short_day(hour)}\n{hour:%H:%M}"


def _first_hours(data: LaunchData, docs: ReportDocs) -> str:
    if not data.hourly:
        return ""
    hours = [row.period.astimezone(UTC) for row in data.hourly]
    figures = []
    for name in HOURLY:
        look = LOOKS[name]
        points = [
            svg.Datum(
                label=_hour_label(index, hour),
                value=float(row.values[name] or 0),
                text=formatting.count(row.values[name] or 0),
                marker=formatting.marker(name, hour=tables.hour_key(hour)),
            )
            for index, (hour, row) in enumerate(zip(hours, data.hourly, strict=True))
        ]
        chart = svg.column_chart(
            points,
            title=f"{look.label} per hour",
            x_title="UTC hour",
            y_title=f"{look.unit} per hour",
            color=look.color,
            value_labels=False,
            width=svg.SMALL,
            height=SMALL_HEIGHT,
        )
        figures.append(
            _figure(look.label, docs.metric_definitions.get(name, ""), chart, f"hourly_{name}")
        )
    span = f"{len(hours)} hour{'s' if len(hours) != 1 else ''}"
    start = formatting.moment(hours[0])
    return (
        "<section id='first-hours'><h2>The first hours</h2>"
        f"<p class='lead'>Activity per UTC hour over the first {span} from the go-live hour,"
        f" {escape(start)}. Hover a bar for its value.</p>"
        f"<div class='grid three'>{''.join(figures)}</div>"
        f"{tables.hourly(data)}</section>"
    )


def _flows(data: LaunchData, docs: ReportDocs) -> str:
    requested, stored = LOOKS["vault_items_requested"], LOOKS["vault_items_stored"]
    vault = svg.grouped_column_chart(
        [_day_label(row, data) for row in data.daily],
        [
            svg.Series(
                requested.label, requested.color, tuple(_daily_data(data, "vault_items_requested"))
            ),
            svg.Series(stored.label, stored.color, tuple(_daily_data(data, "vault_items_stored"))),
        ],
        title="Vault items requested and stored per day",
        x_title="UTC day",
        y_title="items per day",
    )
    definition = (
        f"Requested: {docs.metric_definitions.get('vault_items_requested', '')}"
        f" Stored: {docs.metric_definitions.get('vault_items_stored', '')}"
    )
    submissions = [
        _daily_columns(data, docs, "submissions_created"),
        _daily_columns(data, docs, "cards_submitted"),
        _current(data, "submission", svg.SMALL),
    ]
    vault_items = [
        _figure("Vault items requested and stored per day", definition, vault, "vault_flows"),
        _current(data, "vault_item", svg.WIDTH),
    ]
    return (
        "<section id='flows'><h2>Submissions and the vault</h2>"
        "<p class='lead'>What comes in each day, and where submissions and vault items are"
        " now.</p>"
        f"<div class='grid three'>{''.join(submissions)}</div>"
        f"<div class='grid two' style='margin-top:14px'>{''.join(vault_items)}</div></section>"
    )


def _current(data: LaunchData, entity_type: str, width: int) -> str:
    """Entities of one type per current status, in lifecycle order; empty without any."""
    rows = sorted(
        (row for row in data.current_statuses if row.entity_type == entity_type and row.entities),
        key=lambda row: (row.position, row.status),
    )
    if not rows:
        return ""
    label = ENTITY_LABELS.get(entity_type, entity_type)
    points = [
        svg.Datum(
            label=_status_label(row.status),
            value=float(row.entities),
            text=formatting.count(row.entities),
            marker=formatting.marker(
                "current_entities", entity_type=entity_type, status=row.status
            ),
        )
        for row in rows
    ]
    chart = svg.bar_list(
        points,
        title=f"{label} by current status",
        x_title=f"{label.lower()} now in the status",
        color=ENTITY_COLORS.get(entity_type, DEFAULT_ENTITY_COLORS)[0],
        width=width,
    )
    return _figure(
        f"{label} by current status",
        "Each one's present status in the status history; statuses in lifecycle order (the"
        " mean step at which histories reach them).",
        chart,
        f"current_{entity_type}",
    )


def _status_label(status: str) -> str:
    return status.replace("_", " ")


def _time_in_status(data: LaunchData, docs: ReportDocs) -> str:
    order = {(row.entity_type, row.status): row.position for row in data.current_statuses}
    definitions = docs.time_in_status_definitions
    definition = (
        f"Median: {definitions.get('median_hours', '')}"
        f" 90th percentile: {definitions.get('p90_hours', '')}"
    )
    figures = []
    for entity_type in sorted({row.entity_type for row in data.time_in_status}):
        rows = sorted(
            (row for row in data.time_in_status if row.entity_type == entity_type),
            key=lambda row: (order.get((row.entity_type, row.status), 0.0), row.status),
        )
        keys = {"entity_type": entity_type}
        ranges = [
            svg.Range(
                label=_status_label(row.status),
                middle=_hours(row.median_hours, "median_hours", status=row.status, **keys),
                high=_hours(row.p90_hours, "p90_hours", status=row.status, **keys),
            )
            for row in rows
        ]
        label = ENTITY_LABELS.get(entity_type, entity_type)
        chart = svg.range_chart(
            ranges,
            title=f"Hours {label.lower()} stay in each status",
            x_title="hours in the status",
            colors=ENTITY_COLORS.get(entity_type, DEFAULT_ENTITY_COLORS),
        )
        figures.append(
            _figure(
                label,
                definition,
                chart,
                f"time_in_status_{entity_type}",
                tables.time_in_status(rows),
            )
        )
    lead = (
        "How long submissions and vault items stay in each status before they move on."
        " Only stays that ended with a change of status count: a status an item is still in,"
        " or left by a deletion, is not counted."
    )
    empty = "" if figures else "<p>No ended stays yet.</p>"
    return (
        "<section id='time-in-status'><h2>Time in each status</h2>"
        f"<p class='lead'>{lead}</p>{empty}"
        f"<div class='grid two'>{''.join(figures)}</div></section>"
    )


def _hours(value: Decimal, metric: str, **keys: str) -> svg.Datum:
    return svg.Datum(
        label="",
        value=float(value),
        text=formatting.hours(value),
        marker=formatting.marker(metric, **keys),
    )


def _definitions(docs: ReportDocs) -> str:
    listed = "".join(
        f"<dt>{escape(LOOKS[name].label)}</dt><dd>{formatting.markdown(text)}</dd>"
        for name, text in docs.metric_definitions.items()
        if name in LOOKS
    )
    return (
        "<section id='definitions'><h2>What the numbers mean</h2>"
        f"<p class='lead'>{formatting.markdown(docs.contract)}</p>"
        f"<dl class='definitions'>{listed}</dl></section>"
    )
