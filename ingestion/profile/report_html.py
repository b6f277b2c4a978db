"""The profile as one standalone HTML page: inline CSS and SVG, no script, no network."""

from __future__ import annotations

from html import escape

from ingestion.profile import charts, er_diagram, formatting
from ingestion.profile.records import Profile, TableProfile

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; padding: 0 1em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f3f5f8; }
code { background: #f3f5f8; padding: 0 3px; }
.finding { margin: .2em 0; }
.kind { font-weight: bold; color: #8a3b12; }
.meta { color: #555; }
section.table { border-top: 1px solid #ccc; margin-top: 1.5em; }
"""


def render(profile: Profile) -> str:
    """The whole report as an HTML document."""
    body = [
        "<h1>Source profile</h1>",
        f"<p class='meta'>{escape(_summary(profile))}</p>",
        "<h2>Findings</h2>",
    ]
    body += [
        f"<div class='finding'><span class='kind'>{escape(f.kind)}</span>"
        f" <code>{escape('.'.join(p for p in (f.source, f.table, f.column) if p))}</code>:"
        f" {escape(f.message)}</div>"
        for f in profile.findings
    ] or ["<p>None.</p>"]
    body += [
        "<h2>Entity-relationship diagram</h2>",
        "<p class='meta'>Solid arrows: declared foreign keys; dashed: inferred references;"
        " red: some ids match nothing. Hover an arrow for details.</p>",
        er_diagram.svg(profile),
        _relations(profile),
    ]
    for source in profile.sources:
        body.append(f"<h2>{escape(source)}</h2>")
        body += [_table(profile, t) for t in profile.tables if t.source == source]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<title>Source profile</title>"
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _summary(profile: Profile) -> str:
    longest = profile.longest_query
    slowest = f"; the slowest took {longest.seconds:.2f} s" if longest else ""
    return (
        f"Profiled {profile.generated_at}: {len(profile.tables)} tables of"
        f" {', '.join(profile.sources)}. Tables larger than about {profile.sample_rows:,} rows"
        f" are sampled. Every query ran read-only under a statement_timeout of"
        f" {profile.statement_timeout_seconds:g} s: {len(profile.queries)} queries{slowest}."
    )


def _relations(profile: Profile) -> str:
    rows = "".join(
        f"<tr><td>{escape(r.child)}</td><td>{escape(r.parent)}</td><td>{escape(r.kind)}</td>"
        f"<td>{'' if r.orphan_ids is None else f'{r.orphan_ids:,} of {r.checked_ids:,}'}"
        f"{' (sampled)' if r.sampled else ''}</td></tr>"
        for r in profile.relations
    )
    return (
        "<table><tr><th>from</th><th>to</th><th>how</th><th>ids matching nothing</th></tr>"
        f"{rows}</table>"
    )


def _table(profile: Profile, table: TableProfile) -> str:
    parts = [
        "<section class='table'>",
        f"<h3>{escape(table.qualified)}</h3>",
        f"<p>{escape(formatting.size(table))}</p>",
    ]
    if table.error:
        parts.append(f"<p>Error: {escape(table.error)}</p></section>")
        return "".join(parts)
    parts.append(
        f"<p>{escape(formatting.key(table))}."
        f" {'Has updated_at.' if table.has_updated_at else 'No updated_at column.'}</p>"
    )
    if table.main_timestamp and table.monthly:
        sampled = " (in the sample)" if table.sampled else ""
        parts.append(
            f"<p>Records per month of <code>{escape(table.main_timestamp)}</code>{sampled}:</p>"
        )
        parts.append(charts.monthly_svg(table.monthly, f"{table.qualified} per month"))
    parts.append(
        "<table><tr><th>column</th><th>type</th><th>logical type</th><th>null</th>"
        "<th>distinct</th><th>min</th><th>max</th><th>most frequent</th></tr>"
    )
    for column in table.columns:
        lookup = formatting.lookup_for(profile, table, column.name)
        cells = [
            f"<code>{escape(column.name)}</code>",
            escape(column.data_type),
            escape(column.logical_type),
            formatting.share(column.nulls, column.rows_read),
            "" if column.distinct is None else f"{column.distinct:,}",
            escape(formatting.value(column.minimum)),
            escape(formatting.value(column.maximum)),
            escape(formatting.top_values(column, lookup)),
        ]
        parts.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    parts.append("</table>")
    for column in table.columns:
        if column.json is None or not column.json.keys:
            continue
        parts.append(
            f"<p>JSON keys of <code>{escape(column.name)}</code>"
            f" ({column.json.objects:,} objects):</p><table><tr><th>key</th><th>value type</th>"
            "<th>rows</th><th>first seen</th><th>last seen</th></tr>"
        )
        parts += [
            f"<tr><td>{escape(k.key)}</td><td>{escape(k.value_type)}</td><td>{k.count:,}</td>"
            f"<td>{escape(k.first_seen or '')}</td><td>{escape(k.last_seen or '')}</td></tr>"
            for k in column.json.keys
        ]
        parts.append("</table>")
    parts.append("</section>")
    return "".join(parts)
