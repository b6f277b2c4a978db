"""How often values occur: the most frequent values of many columns in one pass, and
records per month of a timestamp.

`top_values_query` groups the rows by several expressions at once (GROUPING SETS) and
keeps the `limit` most frequent values of each, so that one scan serves every column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from ingestion.profile.column_stats import plain
from ingestion.profile.records import ValueCount


def email_domain(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The lowercased part of an email address after its last @."""
    return sa.func.lower(sa.func.substring(column, r"@([^@]*)$"))


def top_values_query(
    rows: sa.FromClause, expressions: Sequence[sa.ColumnElement[Any]], limit: int
) -> sa.Select:
    """Per expression its `limit` most frequent values: (set index, value, count) rows."""
    values = [expression.label(f"v{index}") for index, expression in enumerate(expressions)]
    flags = [
        sa.func.grouping(expression).label(f"g{index}")
        for index, expression in enumerate(expressions)
    ]
    grouped = (
        sa.select(*flags, *values, sa.func.count().label("n"))
        .select_from(rows)
        .group_by(sa.func.grouping_sets(*expressions))
        .subquery("grouped")
    )
    as_text = [sa.cast(grouped.c[f"v{index}"], sa.Text) for index in range(len(expressions))]
    ranked = sa.select(
        grouped,
        sa.func.row_number()
        .over(
            partition_by=[grouped.c[f"g{index}"] for index in range(len(expressions))],
            order_by=[grouped.c.n.desc(), sa.func.coalesce(*as_text, sa.literal(""))],
        )
        .label("rank"),
    ).subquery("ranked")
    return sa.select(ranked).where(ranked.c.rank <= limit)


def read_top_values(rows: Sequence[sa.Row], count: int) -> list[tuple[ValueCount, ...]]:
    """The rows of `top_values_query` as each expression's values, most frequent first."""
    found: list[list[ValueCount]] = [[] for _ in range(count)]
    for row in rows:
        mapping = row._mapping
        index = next(i for i in range(count) if mapping[f"g{i}"] == 0)
        value = plain(mapping[f"v{index}"])
        found[index].append(ValueCount(None if value is None else str(value), mapping["n"]))
    return [
        tuple(sorted(values, key=lambda item: (-item.count, item.value or ""))) for values in found
    ]


def monthly_query(rows: sa.FromClause, column: str) -> sa.Select:
    """Rows per calendar month (UTC) of `column`, oldest first; nulls left out."""
    month = sa.func.to_char(sa.func.date_trunc("month", rows.c[column]), "YYYY-MM").label("month")
    return (
        sa.select(month, sa.func.count().label("n"))
        .select_from(rows)
        .where(rows.c[column].is_not(None))
        .group_by(month)
        .order_by(month)
    )
