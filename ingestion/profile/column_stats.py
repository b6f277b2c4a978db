"""One pass over a table's rows that computes every column's statistics at once.

The statement is a single `select count(*), <aggregates of every column> from rows`;
which aggregates a column gets depends on its type family (`structure.kind_of`).
`read_stats` turns the one result row back into a dictionary per column.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ingestion.profile.structure import ColumnInfo

QUANTILES = (0.01, 0.25, 0.5, 0.75, 0.99)
# Text that stands for "no value" in forms and legacy exports.
PLACEHOLDERS = (
    "unknown",
    "n/a",
    "na",
    "none",
    "null",
    "nil",
    "-",
    "--",
    "?",
    "tbd",
    "todo",
    "xxx",
    "placeholder",
    "undefined",
    "missing",
    "not available",
    "test",
)
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
DIGITS = r"^[+-]?[0-9]+([.][0-9]+)?$"
BLANK = r"^\s+$"
# Dates before this are dummies (1900-01-01, 0001-01-01, Excel's 1899-12-30 ...).
DUMMY_BEFORE = date(1901, 1, 1)
EPOCH = date(1970, 1, 1)
# Dates from this on are "never" or "open end" markers (2999-12-31, 9999-12-31 ...).
FAR_FUTURE = date(2100, 1, 1)
TEXT_KINDS = ("text", "enum")
NUMBER_KINDS = ("integer", "numeric")
TIME_KINDS = ("date", "timestamp", "timestamptz")


def stats_query(
    rows: sa.FromClause, columns: Sequence[ColumnInfo], main_timestamp: str | None
) -> sa.Select:
    """`select count(*), …` with every column's aggregates, labelled c<index>_<statistic>."""
    expressions: list[sa.ColumnElement[Any]] = [sa.func.count().label("rows")]
    main = _main(rows, columns, main_timestamp)
    for index, column in enumerate(columns):
        for statistic, expression in _aggregates(rows.c[column.name], column, main).items():
            expressions.append(expression.label(f"c{index}_{statistic}"))
    return sa.select(*expressions).select_from(rows)


def read_stats(row: sa.Row, columns: Sequence[ColumnInfo]) -> list[dict[str, Any]]:
    """The statistics of each column from the row `stats_query` returned, as plain values."""
    values = row._mapping
    stats: list[dict[str, Any]] = [{} for _ in columns]
    for label, value in values.items():
        if label == "rows":
            continue
        index, statistic = label[1:].split("_", 1)
        stats[int(index)][statistic] = plain(value)
    return stats


def plain(value: object) -> Any:  # noqa: ANN401 - a database value of any type
    """A database value as JSON-friendly Python: numbers stay numbers, the rest is text."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return [plain(item) for item in value]
    if value is None or isinstance(value, int | float | str | bool):
        return value
    return str(value)


def _main(
    rows: sa.FromClause, columns: Sequence[ColumnInfo], main_timestamp: str | None
) -> sa.ColumnElement[Any] | None:
    """The main timestamp as naive UTC, to compare naive timestamps with; None if unusable."""
    chosen = next((c for c in columns if c.name == main_timestamp), None)
    if chosen is None or chosen.kind != "timestamptz":
        return None
    return sa.func.timezone("UTC", rows.c[chosen.name])


def _aggregates(
    column: sa.ColumnElement[Any], info: ColumnInfo, main: sa.ColumnElement[Any] | None
) -> dict[str, sa.ColumnElement[Any]]:
    kind = info.kind
    aggregates: dict[str, sa.ColumnElement[Any]] = {"non_null": sa.func.count(column)}
    aggregates["distinct"] = sa.func.count(sa.distinct(_comparable(column, kind)))
    if kind in NUMBER_KINDS:
        aggregates.update(_numbers(column))
    elif kind in TEXT_KINDS or kind == "uuid":
        aggregates.update(_texts(sa.cast(column, sa.Text) if kind != "text" else column))
    elif kind == "boolean":
        aggregates["true_count"] = sa.func.count().filter(column.is_(True))
    elif kind in TIME_KINDS:
        aggregates.update(_times(column, kind))
        if kind == "timestamp" and main is not None:
            aggregates.update(_naive_against_main(column, main))
    elif kind == "json":
        aggregates.update(_json(sa.cast(column, postgresql.JSONB)))
    return aggregates


def _comparable(column: sa.ColumnElement[Any], kind: str) -> sa.ColumnElement[Any]:
    """The column in a type that has equality (json has none; unknown types go as text)."""
    if kind == "json":
        return sa.cast(column, postgresql.JSONB)
    if kind == "other":
        return sa.cast(column, sa.Text)
    return column


def _numbers(column: sa.ColumnElement[Any]) -> dict[str, sa.ColumnElement[Any]]:
    as_float = sa.cast(column, sa.Float)
    return {
        "minimum": sa.func.min(column),
        "maximum": sa.func.max(column),
        "mean": sa.func.avg(as_float),
        "quantiles": sa.func.percentile_cont(
            sa.literal(list(QUANTILES), postgresql.ARRAY(sa.Float))
        ).within_group(as_float),
    }


def _texts(column: sa.ColumnElement[Any]) -> dict[str, sa.ColumnElement[Any]]:
    trimmed = sa.func.lower(sa.func.btrim(column))
    return {
        "minimum": sa.func.min(sa.collate(column, "C")),
        "maximum": sa.func.max(sa.collate(column, "C")),
        "min_length": sa.func.min(sa.func.length(column)),
        "max_length": sa.func.max(sa.func.length(column)),
        "empty_strings": sa.func.count().filter(column == ""),
        "blank_strings": sa.func.count().filter(column.regexp_match(BLANK)),
        "placeholders": sa.func.count().filter(trimmed.in_(PLACEHOLDERS)),
        "emails": sa.func.count().filter(column.regexp_match(EMAIL)),
        "digits_only": sa.func.count().filter(column.regexp_match(DIGITS)),
    }


def _times(column: sa.ColumnElement[Any], kind: str) -> dict[str, sa.ColumnElement[Any]]:
    def bound(day: date) -> sa.ColumnElement[Any]:
        if kind == "date":
            return sa.literal(day, sa.Date)
        moment = datetime(
            day.year, day.month, day.day, tzinfo=UTC if kind == "timestamptz" else None
        )
        return sa.literal(moment, sa.DateTime(timezone=kind == "timestamptz"))

    return {
        "minimum": sa.func.min(column),
        "maximum": sa.func.max(column),
        "dummy_dates": sa.func.count().filter(column < bound(DUMMY_BEFORE)),
        "epoch_dates": sa.func.count().filter(column == bound(EPOCH)),
        "far_future_dates": sa.func.count().filter(column >= bound(FAR_FUTURE)),
        "future_dates": sa.func.count().filter(
            sa.and_(column > sa.func.now(), column < bound(FAR_FUTURE))
        ),
    }


def _naive_against_main(
    column: sa.ColumnElement[Any], main: sa.ColumnElement[Any]
) -> dict[str, sa.ColumnElement[Any]]:
    hours = sa.extract("epoch", column - main) / 3600
    return {
        "earlier_than_main": sa.func.count().filter(column < main),
        "lowest_hours_from_main": sa.func.min(hours),
    }


def _json(column: sa.ColumnElement[Any]) -> dict[str, sa.ColumnElement[Any]]:
    json_type = sa.func.jsonb_typeof(column)
    return {
        "objects": sa.func.count().filter(json_type == "object"),
        "arrays": sa.func.count().filter(json_type == "array"),
        "empty_objects": sa.func.count().filter(
            column == sa.cast(sa.literal("{}"), postgresql.JSONB)
        ),
    }
