"""The top-level keys of a JSON column: value types, how often, and when they were seen."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ingestion.profile.column_stats import plain
from ingestion.profile.records import JsonKey

# A column whose objects are maps keyed by data (ids, dates) has endless keys.
MAX_KEYS = 100


def keys_query(rows: sa.FromClause, column: str, main_timestamp: str | None) -> sa.Select:
    """(key, value type, rows, first and last main timestamp) of the column's objects."""
    document = sa.cast(rows.c[column], postgresql.JSONB)
    objects_only = sa.case(
        (sa.func.jsonb_typeof(document) == "object", document),
        else_=sa.cast(sa.literal("{}"), postgresql.JSONB),
    )
    entries = sa.func.jsonb_each(objects_only).table_valued("key", "value").lateral("entries")
    stamp: sa.ColumnElement[Any] = rows.c[main_timestamp] if main_timestamp else sa.null()
    value_type = sa.func.jsonb_typeof(entries.c.value).label("value_type")
    return (
        sa.select(
            entries.c.key,
            value_type,
            sa.func.count().label("n"),
            sa.func.min(stamp).label("first_seen"),
            sa.func.max(stamp).label("last_seen"),
        )
        .select_from(rows.join(entries, sa.true()))
        .group_by(entries.c.key, value_type)
        .order_by(sa.func.count().desc(), entries.c.key)
        .limit(MAX_KEYS)
    )


def read_keys(rows: list[sa.Row]) -> tuple[JsonKey, ...]:
    """The rows of `keys_query` as records, by key then by how often."""
    keys = [
        JsonKey(
            key=row.key,
            value_type=row.value_type,
            count=row.n,
            first_seen=plain(row.first_seen),
            last_seen=plain(row.last_seen),
        )
        for row in rows
    ]
    return tuple(sorted(keys, key=lambda item: (item.key, -item.count)))
