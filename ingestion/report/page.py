"""The launch report as one HTML document: header, banner, sections, footer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from ingestion.report import formatting, freshness, sections
from ingestion.report.dbt_docs import ReportDocs
from ingestion.report.marts import LaunchData
from ingestion.report.style import CSS

TITLE = "Launch report"
FACT_HINTS = {
    "Data through": "The latest status change the marts hold: how far the data reaches.",
    "Last synced": "The end of the latest successful sync of any source table.",
    "Report made": "When the report read the warehouse; table ages are measured from it.",
}


@dataclass(frozen=True)
class PageContext:
    """What the page says about itself: the go-live and the warehouse it read."""

    go_live_at: datetime
    warehouse: str


def render(data: LaunchData, docs: ReportDocs, context: PageContext) -> str:
    """The whole report as a standalone HTML document."""
    found = freshness.evaluate(data.tables, docs.thresholds, data.read_at)
    body = [
        _header(data, context),
        _banner(freshness.stale(found), data),
        *sections.all_sections(data, docs),
        sections.sync_section(found, data),
        _footer(data, docs, context),
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<meta name='description' content='{escape(docs.purpose)}'>"
        f"<title>{TITLE}</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + "\n</body></html>\n"
    )


def _header(data: LaunchData, context: PageContext) -> str:
    synced = [table.ok_finished_at for table in data.tables if table.ok_finished_at]
    facts = [
        ("Go-live", formatting.moment(context.go_live_at)),
        (
            "Data through",
            formatting.moment(data.data_through) if data.data_through else "no events yet",
        ),
        ("Last synced", formatting.moment(max(synced)) if synced else "never"),
        ("Report made", formatting.moment(data.read_at)),
    ]
    listed = "".join(
        f"<div title='{escape(FACT_HINTS.get(name, ''))}'><dt>{escape(name)}</dt>"
        f"<dd{_mark_fact(name)}>{escape(value)}</dd></div>"
        for name, value in facts
    )
    return (
        "<header class='top'>"
        f"<h1>{TITLE}</h1>"
        "<p class='subtitle'>The unified account, the vault and My Collection from go-live"
        " day on. Days and hours are UTC.</p>"
        f"<dl class='facts'>{listed}</dl></header>"
    )


def _mark_fact(name: str) -> str:
    return f" data-fact='{escape(name.lower().replace(' ', '_'))}'"


def _banner(stale: list[freshness.TableFreshness], data: LaunchData) -> str:
    if not stale:
        return ""
    worst = stale[0].state
    items = "".join(f"<li{_mark_table(table)}>{_stale_line(table)}</li>" for table in stale)
    return (
        f"<div class='banner {worst}' role='alert' id='staleness'"
        f" data-staleness='{worst}'>"
        f"<strong>Some data is stale: {len(stale)} source"
        f" table{'s are' if len(stale) > 1 else ' is'} past the freshness threshold.</strong>"
        "Numbers that depend on them may be missing recent activity."
        f" Checked against the report time, {escape(formatting.moment(data.read_at))}."
        f"<ul>{items}</ul></div>"
    )


def _mark_table(table: freshness.TableFreshness) -> str:
    return f" data-source='{escape(table.source)}' data-table='{escape(table.table_name)}'"


def _stale_line(table: freshness.TableFreshness) -> str:
    threshold = table.threshold
    limit = threshold.error_after if table.state == freshness.ERROR else threshold.warn_after
    kind = "error" if table.state == freshness.ERROR else "warning"
    when = (
        f"last synced {formatting.age(table.age)} ago"
        if table.age is not None
        else "never synced successfully"
    )
    after = f" ({kind} after {formatting.duration(limit)})" if limit else ""
    return f"<code>{escape(table.name)}</code>: {escape(when)}{escape(after)}"


def _footer(data: LaunchData, docs: ReportDocs, context: PageContext) -> str:
    return (
        "<footer>"
        f"<p>Made by <code>ingestion report</code> from the marts of the warehouse"
        f" <code>{escape(context.warehouse)}</code>, read in one read-only snapshot at"
        f" {escape(formatting.moment(data.read_at))}. Metric definitions and freshness"
        f" thresholds come from the dbt project (dbt {escape(docs.dbt_version)}), where they"
        " are written once; its docs site documents every model and column.</p></footer>"
    )
