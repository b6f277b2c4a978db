"""The report's tables: every day, every hour, time in status, and the sync log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

from ingestion.report import formatting
from ingestion.report.freshness import TableFreshness
from ingestion.report.headline import is_partial
from ingestion.report.looks import LOOKS
from ingestion.report.marts import METRICS, LaunchData, MetricRow, StatusTime, TableState

RATE = "legacy_conversion_rate"


def hour_key(hour: datetime) -> str:
    """The marker of an hour: 2026-06-01T16:00Z."""
    return f"{hour.astimezone(UTC):%Y-%m-%dT%H:%M}Z"


def _cell(name: str, value: object, **keys: str) -> str:
    shown = formatting.percent(value) if name == RATE else formatting.count(value or 0)
    return f"<td class='num'{formatting.marker(name, **keys)}>{escape(shown)}</td>"


def _header(first: str) -> str:
    columns = "".join(f"<th class='num'>{escape(LOOKS[name].label)}</th>" for name in METRICS)
    return f"<thead><tr><th>{escape(first)}</th>{columns}</tr></thead>"


def _metric_table(
    rows: Sequence[MetricRow], first: str, key: str, data_through: datetime | None = None
) -> str:
    body = []
    for row in rows:
        if key == "hour":
            label = formatting.moment(row.period.astimezone(UTC))
            keys = {"hour": hour_key(row.period)}
        else:
            label = formatting.day(row.period)
            keys = {"date": row.period.isoformat()}
            if row is rows[-1] and is_partial(row, data_through):
                label += " (so far)"
        cells = "".join(_cell(name, row.values[name], **keys) for name in METRICS)
        body.append(f"<tr><th scope='row'>{escape(label)}</th>{cells}</tr>")
    return f"<table data-table='{key}'>{_header(first)}<tbody>{''.join(body)}</tbody></table>"


def all_days(data: LaunchData) -> str:
    """Every day of the launch with every metric."""
    if not data.daily:
        return ""
    return (
        "<section id='all-days'><h2>Every day</h2>"
        "<p class='lead'>All launch metrics per UTC day; definitions below.</p>"
        f"{_metric_table(data.daily, 'UTC day', 'date', data.data_through)}</section>"
    )


def hourly(data: LaunchData) -> str:
    """The first hours' numbers, folded away under the charts."""
    if not data.hourly:
        return ""
    return (
        "<details id='hourly-numbers'><summary>The numbers per hour</summary>"
        f"{_metric_table(data.hourly, 'UTC hour', 'hour')}</details>"
    )


def time_in_status(rows: Sequence[StatusTime]) -> str:
    """Stays counted, median and 90th percentile per status."""
    body = []
    for row in rows:
        keys = {"entity_type": row.entity_type, "status": row.status}
        body.append(
            f"<tr><th scope='row'>{escape(row.status.replace('_', ' '))}</th>"
            f"<td class='num'>{formatting.number(row.entities, 'entities', **keys)}</td>"
            f"<td class='num'{formatting.marker('median_hours', **keys)}>"
            f"{escape(formatting.hours(row.median_hours, formatting.TWO_DECIMALS))}</td>"
            f"<td class='num'{formatting.marker('p90_hours', **keys)}>"
            f"{escape(formatting.hours(row.p90_hours, formatting.TWO_DECIMALS))}</td></tr>"
        )
    return (
        "<table data-table='time_in_status'><thead><tr><th>Status</th>"
        "<th class='num'>Items counted</th><th class='num'>Median</th>"
        "<th class='num'>90th percentile</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def syncs(found: Sequence[TableFreshness], data: LaunchData) -> str:
    """Each table's last successful sync, its load id, age and freshness."""
    states = {(table.source, table.table_name): table for table in data.tables}
    rows = [_sync_row(table, states.get((table.source, table.table_name))) for table in found]
    loads = sorted({table.ok_load_id for table in data.tables if table.ok_load_id})
    listed = ", ".join(
        f"<code data-load-id='{escape(load)}'>{escape(load)}</code>" for load in loads
    )
    return (
        "<section id='syncs'><h2>Where the numbers come from</h2>"
        "<p class='lead'>The marts are built by dbt from the tables the ingestion syncs. Each"
        " table's last successful sync, as <code>ingestion.table_syncs</code> records it, is"
        " measured against the freshness thresholds of the dbt sources. If dbt ran after"
        f" them, the numbers reflect the loads {listed or 'of no sync yet'}.</p>"
        "<table data-table='syncs'><thead><tr><th>Source table</th>"
        "<th>Last successful sync</th><th class='num'>Age</th><th>Freshness</th>"
        "<th>Load id</th><th class='num'>Rows loaded</th><th>Last attempt</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _sync_row(table: TableFreshness, state: TableState | None) -> str:
    keys = f" data-source='{escape(table.source)}' data-table='{escape(table.table_name)}'"
    synced = formatting.moment(table.synced_at) if table.synced_at else "never"
    age = formatting.age(table.age) if table.age is not None else ""
    threshold = _threshold(table)
    load_id = (state.ok_load_id if state else None) or ""
    rows = state.ok_rows_written if state else None
    last = state.last_status if state else "none"
    detail = escape(state.last_detail if state else "")
    return (
        f"<tr{keys}><th scope='row'><code>{escape(table.name)}</code></th>"
        f"<td data-field='synced_at'>{escape(synced)}</td>"
        f"<td class='num' data-field='age'>{escape(age)}</td>"
        f"<td><span class='state {table.state}' data-field='freshness'>{table.state}</span>"
        f" <span class='muted'>{escape(threshold)}</span></td>"
        f"<td data-field='load_id'><code>{escape(load_id)}</code></td>"
        f"<td class='num' data-field='rows_written'>"
        f"{'' if rows is None else formatting.count(rows)}</td>"
        f"<td><span class='state {escape(last)}' title='{detail}'>{escape(last)}</span></td></tr>"
    )


def _threshold(table: TableFreshness) -> str:
    if table.threshold is None:
        return "no threshold in dbt"
    parts = []
    if table.threshold.warn_after:
        parts.append(f"warn after {formatting.duration(table.threshold.warn_after)}")
    if table.threshold.error_after:
        parts.append(f"error after {formatting.duration(table.threshold.error_after)}")
    return ", ".join(parts)
