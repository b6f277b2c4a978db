"""How the reports write numbers, values and table sizes (shared by Markdown and HTML)."""

from __future__ import annotations

from ingestion.profile.records import ColumnProfile, Lookup, Profile, TableProfile

MAX_VALUE_LENGTH = 40
TOP_SHOWN = 8


def value(item: object) -> str:
    """A value shortened for a table cell."""
    if item is None:
        return ""
    text = f"{item:,.4g}" if isinstance(item, float) else str(item)
    return text if len(text) <= MAX_VALUE_LENGTH else text[: MAX_VALUE_LENGTH - 1] + "…"


def share(count: int, total: int) -> str:
    """A count as a percentage of `total`."""
    return f"{100 * count / total:.1f}%" if total else "-"


def size(table: TableProfile) -> str:
    """How many rows the table has and how many the profile read."""
    if table.error:
        return "not profiled"
    if not table.sampled:
        return f"{table.rows:,} rows (all read)"
    return (
        f"≈{table.estimated_rows:,} rows (planner estimate); profiled on a TABLESAMPLE SYSTEM"
        f" sample of {table.sample_percent:g}%: {table.rows_read:,} rows"
    )


def key(table: TableProfile) -> str:
    """The table's key and whether it holds in the rows read."""
    if table.primary_key:
        names = ", ".join(table.primary_key)
        if table.key_is_unique is None:
            return f"primary key ({names}), declared"
        holds = "unique" if table.key_is_unique else "NOT unique"
        return f"primary key ({names}), declared; {holds} in the rows read"
    if table.unique_key:
        return f"no primary key; ({', '.join(table.unique_key)}) is unique in the rows read"
    return "no primary key, and no unique set of up to 3 columns"


def lookup_for(profile: Profile, table: TableProfile, column: str) -> Lookup | None:
    """The lookup table that decodes `column`, if a reference leads to one."""
    for relation in profile.relations:
        if (relation.child_source, relation.child_table, relation.child_columns) != (
            table.source,
            table.name,
            (column,),
        ):
            continue
        for lookup in profile.lookups:
            if (lookup.source, lookup.table) == (relation.parent_source, relation.parent_table):
                return lookup
    return None


def top_values(column: ColumnProfile, lookup: Lookup | None) -> str:
    """The most frequent values (or email domains) with their shares, decoded if coded."""
    items = column.email_domains if column.redacted else column.top_values
    if column.redacted and not items:
        return "(redacted)"
    shown = []
    for item in items[:TOP_SHOWN]:
        text = "null" if item.value is None else value(item.value)
        if column.redacted:
            text = f"@{text}"
        if lookup is not None and item.value in lookup.labels:
            text += f" {lookup.labels[item.value]}"
        shown.append(f"{text} ({share(item.count, column.rows_read)})")
    more = len(items) - TOP_SHOWN
    return ", ".join(shown) + (f", … {more} more" if more > 0 else "")
