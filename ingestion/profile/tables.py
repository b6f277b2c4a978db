"""Profile one table in a few set-based queries over its rows (or a sample of them).

1. column statistics: one pass computing every column's aggregates;
2. most frequent values: one pass grouping by every column that repeats (GROUPING SETS);
3. records per month of the main timestamp;
4. per JSON column, its keys and their value types;
5. only where needed: outlier counts, and a key search for a table without primary key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from ingestion.profile import column_stats, frequencies, inference, json_keys, keys, sampling
from ingestion.profile.records import ColumnProfile, JsonShape, TableProfile, ValueCount
from ingestion.profile.session import QueryLog
from ingestion.profile.structure import UPDATED_AT, ColumnInfo, TableInfo

# Most frequent values are looked for where values repeat: at most this share distinct.
REPEATED_SHARE = 0.5


@dataclass(frozen=True)
class TableRequest:
    """What the catalog says about a table that matters to its profile."""

    sample_rows: int
    pii_hashed: tuple[str, ...] = ()
    pii_dropped: tuple[str, ...] = ()
    pii_domains: tuple[str, ...] = ()
    cursor: str | None = None


def profile_table(
    connection: Connection, queries: QueryLog, info: TableInfo, request: TableRequest
) -> TableProfile:
    """Read one table (or a sample of it) and describe it."""
    where = (info.source, info.name)
    table = info.sa_table()
    exact: int | None = None
    estimated = info.estimated_rows
    if estimated is None:
        count = sa.select(sa.func.count()).select_from(table)
        exact = estimated = queries.rows(connection, where, "row count", count)[0][0]
    percent = sampling.sample_percent(estimated, request.sample_rows)
    rows = sampling.rows_of(table, percent)
    main = info.main_timestamp
    statement = column_stats.stats_query(rows, info.columns, main)
    first = queries.rows(connection, where, "column statistics", statement)[0]
    rows_read = first.rows
    stats = dict(
        zip(
            [c.name for c in info.columns],
            column_stats.read_stats(first, info.columns),
            strict=True,
        )
    )
    for column_stats_of in stats.values():
        column_stats_of["rows_read"] = rows_read
    redacted = {
        column.name
        for column in info.columns
        if column.name in request.pii_hashed + request.pii_dropped or _is_email(stats[column.name])
    }
    tops = _top_values(connection, queries, where, rows, info.columns, stats, redacted)
    monthly: tuple[ValueCount, ...] = ()
    if main:
        found = queries.rows(
            connection, where, "records per month", frequencies.monthly_query(rows, main)
        )
        monthly = tuple(ValueCount(row.month, row.n) for row in found)
    shapes = {
        column.name: _json_shape(
            connection, queries, where, rows, column.name, main, stats[column.name]
        )
        for column in info.columns
        if column.kind == "json" and stats[column.name]["non_null"]
    }
    types = {
        column.name: inference.logical_type(
            column.name,
            column.kind,
            stats[column.name],
            info.primary_key,
            [item.value for item in tops.get(column.name, {}).get("values", ())],
        )
        for column in info.columns
    }
    outliers = _outliers(connection, queries, where, rows, stats, types)
    key_is_unique, unique_key = _key(connection, queries, where, rows, info, stats, rows_read)
    columns = tuple(
        _column_profile(
            column,
            stats[column.name],
            types[column.name],
            tops.get(column.name, {}),
            shapes.get(column.name),
            outliers.get(column.name),
            column.name in redacted,
        )
        for column in info.columns
    )
    return TableProfile(
        source=info.source,
        schema=info.schema,
        name=info.name,
        estimated_rows=info.estimated_rows if exact is None else exact,
        rows=rows_read if percent is None else None,
        rows_read=rows_read,
        sample_percent=percent,
        primary_key=info.primary_key,
        key_is_unique=key_is_unique,
        unique_key=unique_key,
        columns=columns,
        main_timestamp=main,
        monthly=monthly,
        has_updated_at=info.column(UPDATED_AT) is not None,
        cursor=request.cursor,
        accepted_values=dict(info.accepted_values),
        unique_columns=tuple(names[0] for names in info.unique_sets if len(names) == 1),
        pii_hashed=request.pii_hashed,
        pii_dropped=request.pii_dropped,
        pii_domains=request.pii_domains,
    )


def failed_table(info: TableInfo, error: str, request: TableRequest) -> TableProfile:
    """A table whose profile could not be made, with the reason."""
    return TableProfile(
        source=info.source,
        schema=info.schema,
        name=info.name,
        estimated_rows=info.estimated_rows,
        rows=None,
        rows_read=0,
        sample_percent=None,
        primary_key=info.primary_key,
        key_is_unique=None,
        unique_key=None,
        columns=tuple(
            ColumnProfile(
                name=column.name,
                data_type=column.data_type,
                kind=column.kind,
                nullable=column.nullable,
                logical_type="not profiled",
                rows_read=0,
                non_null=0,
                distinct=None,
            )
            for column in info.columns
        ),
        main_timestamp=info.main_timestamp,
        monthly=(),
        has_updated_at=info.column(UPDATED_AT) is not None,
        cursor=request.cursor,
        accepted_values=dict(info.accepted_values),
        pii_hashed=request.pii_hashed,
        pii_dropped=request.pii_dropped,
        pii_domains=request.pii_domains,
        error=error,
    )


def _is_email(stats: Mapping[str, Any]) -> bool:
    non_null = stats.get("non_null", 0)
    return bool(non_null) and stats.get("emails", 0) >= inference.PATTERN_SHARE * non_null


def _top_values(
    connection: Connection,
    queries: QueryLog,
    where: tuple[str, str],
    rows: sa.FromClause,
    columns: tuple[ColumnInfo, ...],
    stats: Mapping[str, Mapping[str, Any]],
    redacted: set[str],
) -> dict[str, dict[str, tuple[ValueCount, ...]]]:
    """Most frequent values (or, for email columns, domains) of every column that repeats."""
    wanted: list[tuple[str, str, sa.ColumnElement[Any]]] = []
    for column in columns:
        column_stats_of = stats[column.name]
        if not column_stats_of["non_null"] or column.kind == "json":
            continue
        if column.name in redacted:
            if column_stats_of.get("emails"):
                wanted.append(
                    (column.name, "domains", frequencies.email_domain(rows.c[column.name]))
                )
            continue
        distinct, non_null = column_stats_of["distinct"], column_stats_of["non_null"]
        if distinct is None or (
            distinct > inference.TOP_VALUES and distinct > non_null * REPEATED_SHARE
        ):
            continue  # most values occur once: nothing is frequent, and grouping is costly
        wanted.append((column.name, "values", rows.c[column.name]))
    if not wanted:
        return {}
    statement = frequencies.top_values_query(
        rows, [expression for _, _, expression in wanted], inference.TOP_VALUES
    )
    found = frequencies.read_top_values(
        queries.rows(connection, where, "most frequent values", statement), len(wanted)
    )
    tops: dict[str, dict[str, tuple[ValueCount, ...]]] = {}
    for (name, what, _), values in zip(wanted, found, strict=True):
        tops.setdefault(name, {})[what] = values
    return tops


def _json_shape(
    connection: Connection,
    queries: QueryLog,
    where: tuple[str, str],
    rows: sa.FromClause,
    column: str,
    main: str | None,
    stats: Mapping[str, Any],
) -> JsonShape:
    statement = json_keys.keys_query(rows, column, main)
    found = queries.rows(connection, where, f"json keys of {column}", statement)
    objects, arrays = stats.get("objects", 0), stats.get("arrays", 0)
    return JsonShape(
        objects=objects,
        arrays=arrays,
        scalars=stats["non_null"] - objects - arrays,
        empty_objects=stats.get("empty_objects", 0),
        keys=json_keys.read_keys(found),
    )


def _outliers(
    connection: Connection,
    queries: QueryLog,
    where: tuple[str, str],
    rows: sa.FromClause,
    stats: Mapping[str, Mapping[str, Any]],
    types: Mapping[str, str],
) -> dict[str, int]:
    """Counts of values beyond the far-out fences, for measures whose extremes pass them."""
    fenced = {}
    for name, logical in types.items():
        if logical != "number":
            continue
        bounds = keys.fences(stats[name].get("quantiles"))
        low, high = stats[name].get("minimum"), stats[name].get("maximum")
        if bounds and low is not None and (low < bounds[0] or high > bounds[1]):
            fenced[name] = bounds
    if not fenced:
        return {}
    row = queries.rows(connection, where, "outliers", keys.outliers_query(rows, fenced))[0]
    return {name: row._mapping[name] for name in fenced}


def _key(
    connection: Connection,
    queries: QueryLog,
    where: tuple[str, str],
    rows: sa.FromClause,
    info: TableInfo,
    stats: Mapping[str, Mapping[str, Any]],
    rows_read: int,
) -> tuple[bool | None, tuple[str, ...] | None]:
    """Whether the primary key is unique in the rows read; else the smallest unique set."""
    if info.primary_key:
        if len(info.primary_key) == 1:
            column = stats[info.primary_key[0]]
            return column["distinct"] == rows_read == column["non_null"], info.primary_key
        return None, info.primary_key
    candidates = {
        column.name: stats[column.name] for column in info.columns if column.kind != "json"
    }
    single = keys.unique_single(rows_read, candidates)
    if single or not rows_read:
        return None, single
    for size in range(2, keys.MAX_KEY_COLUMNS + 1):
        sets = keys.candidate_sets(rows_read, candidates, size)
        if not sets:
            break
        row = queries.rows(
            connection, where, f"unique sets of {size}", keys.distinct_sets_query(rows, sets)
        )[0]
        found = keys.first_unique(rows_read, sets, list(row))
        if found:
            return None, found
    return None, None


def _column_profile(
    column: ColumnInfo,
    stats: Mapping[str, Any],
    logical: str,
    tops: Mapping[str, tuple[ValueCount, ...]],
    shape: JsonShape | None,
    outliers: int | None,
    redacted: bool,
) -> ColumnProfile:
    quantiles = stats.get("quantiles") or []
    return ColumnProfile(
        name=column.name,
        data_type=column.data_type,
        kind=column.kind,
        nullable=column.nullable,
        logical_type=logical,
        rows_read=stats["rows_read"],
        non_null=stats["non_null"],
        distinct=stats.get("distinct"),
        minimum=None if redacted else stats.get("minimum"),
        maximum=None if redacted else stats.get("maximum"),
        mean=stats.get("mean"),
        quantiles={
            f"p{round(q * 100):02d}": value
            for q, value in zip(column_stats.QUANTILES, quantiles, strict=False)
            if value is not None
        },
        min_length=stats.get("min_length"),
        max_length=stats.get("max_length"),
        empty_strings=stats.get("empty_strings", 0),
        blank_strings=stats.get("blank_strings", 0),
        placeholders=stats.get("placeholders", 0),
        emails=stats.get("emails", 0),
        digits_only=stats.get("digits_only", 0),
        true_count=stats.get("true_count"),
        dummy_dates=stats.get("dummy_dates", 0),
        epoch_dates=stats.get("epoch_dates", 0),
        far_future_dates=stats.get("far_future_dates", 0),
        future_dates=stats.get("future_dates", 0),
        outliers=outliers,
        earlier_than_main=stats.get("earlier_than_main"),
        lowest_hours_from_main=stats.get("lowest_hours_from_main"),
        top_values=tops.get("values", ()),
        email_domains=tops.get("domains", ()),
        json=shape,
        redacted=redacted,
    )
