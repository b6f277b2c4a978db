"""The profile as a Markdown report a person reads."""

from __future__ import annotations

from ingestion.profile import charts, er_diagram, formatting
from ingestion.profile.records import ColumnProfile, Profile, TableProfile


def render(profile: Profile) -> str:
    """The whole report: run summary, findings, references, then every table."""
    lines = [
        "# Source profile",
        "",
        *_summary(profile),
        "",
        "## Findings",
        "",
    ]
    lines += [
        f"- **{f.kind}** `{'.'.join(p for p in (f.source, f.table, f.column) if p)}`: {f.message}"
        for f in profile.findings
    ] or ["None."]
    lines += ["", "## References between tables", ""]
    lines += ["```text", *er_diagram.tree(profile), "```", ""]
    lines += er_diagram.relations_table(profile.relations)
    for source in profile.sources:
        lines += ["", f"## {source}"]
        for table in profile.tables:
            if table.source == source:
                lines += ["", *_table(profile, table)]
    return "\n".join(lines) + "\n"


def _summary(profile: Profile) -> list[str]:
    longest = profile.longest_query
    slowest = (
        f"; the slowest took {longest.seconds:.2f} s ({longest.source}.{longest.table},"
        f" {longest.label})"
        if longest
        else ""
    )
    return [
        f"Profiled {profile.generated_at}: {len(profile.tables)} tables of"
        f" {', '.join(profile.sources)}. Tables larger than about {profile.sample_rows:,} rows"
        " are profiled on a sample, as each table says. Every query ran read-only under a"
        f" statement_timeout of {profile.statement_timeout_seconds:g} s:"
        f" {len(profile.queries)} queries{slowest}.",
    ]


def _table(profile: Profile, table: TableProfile) -> list[str]:
    lines = [f"### {table.qualified}", "", f"- Size: {formatting.size(table)}"]
    if table.error:
        return [*lines, f"- Error: {table.error}"]
    lines.append(f"- Key: {formatting.key(table)}")
    if table.main_timestamp and table.monthly:
        first, last = table.monthly[0].value, table.monthly[-1].value
        lines.append(
            f"- Records per month of {table.main_timestamp} ({first} to {last},"
            f" {len(table.monthly)} months with records): `{charts.sparkline(table.monthly)}`"
        )
    lines.append(f"- Change tracking: {'updated_at' if table.has_updated_at else 'no updated_at'}")
    lines += [
        "",
        "| column | type | logical type | null | distinct | min | max | most frequent |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for column in table.columns:
        lines.append(_column_row(profile, table, column))
    for column in table.columns:
        if column.json is not None and column.json.keys:
            lines += ["", f"JSON keys of `{column.name}` ({column.json.objects:,} objects):", ""]
            lines += ["| key | value type | rows | first seen | last seen |"]
            lines += ["| --- | --- | --- | --- | --- |"]
            lines += [
                f"| {k.key} | {k.value_type} | {k.count:,} | {k.first_seen or ''}"
                f" | {k.last_seen or ''} |"
                for k in column.json.keys
            ]
    return lines


def _column_row(profile: Profile, table: TableProfile, column: ColumnProfile) -> str:
    lookup = formatting.lookup_for(profile, table, column.name)
    distinct = "" if column.distinct is None else f"{column.distinct:,}"
    cells = [
        f"`{column.name}`",
        column.data_type,
        column.logical_type,
        formatting.share(column.nulls, column.rows_read),
        distinct,
        formatting.value(column.minimum),
        formatting.value(column.maximum),
        formatting.top_values(column, lookup).replace("|", "\\|"),
    ]
    return "| " + " | ".join(cells) + " |"
