"""Reading a table from a standby in key ranges that replay does not cancel.

On a standby with hot_standby_feedback off, replay cancels any query that holds back
WAL longer than max_standby_streaming_delay ("canceling statement due to conflict with
recovery"). One query over a large table would be cancelled again and again, so a table
is read in key ranges sized to a time budget (half the delay), each its own short
query; a cancelled range is retried with backoff and the read resumes where it stopped.
Ranges grow while they run well under the budget and shrink when one runs long or is
cancelled.

A table keyed by one integer column is cut at key values (`id between 1 and 50000`).
Any other key (text, composite) is paged through its index instead: a page ends at the
key that lies a page's number of keys further on (`order by k1, k2 offset n limit 1`,
an index-only walk), and the page's rows are those between the two row values
(`(k1, k2) > (…) and (k1, k2) <= (…)`), so no query reads more than one page.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime
from datetime import time as time_of_day
from decimal import Decimal
from typing import Any, TypeVar

import connectorx
import dlt
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ingestion import column_plan, source_session
from ingestion.catalog import TableSpec
from ingestion.errors import IngestionError

log = logging.getLogger(__name__)
T = TypeVar("T")

FIRST_RANGE_KEYS = 50_000
MIN_RANGE_KEYS = 100
MAX_ATTEMPTS = 6
FIRST_BACKOFF_SECONDS = 0.5
PROGRESS_SECONDS = 10.0


class _Progress:
    """A line in the log every PROGRESS_SECONDS while a table is read in ranges."""

    def __init__(self, spec: TableSpec, unit: str) -> None:
        self._where = f"source {spec.source}, table {spec.name}"
        self._unit = unit
        self._rows = self._parts = 0
        self._next = time.monotonic() + PROGRESS_SECONDS

    def add(self, rows: int) -> None:
        self._rows += rows
        self._parts += 1
        if time.monotonic() >= self._next:
            self._next = time.monotonic() + PROGRESS_SECONDS
            log.info(
                "%s: %s rows read so far, in %s %s",
                self._where,
                f"{self._rows:,}",
                self._parts,
                self._unit,
            )


def _bounds(spec: TableSpec, engine: sa.Engine) -> tuple[int, int] | None:
    key = sa.table(spec.name, sa.column(spec.primary_key[0]), schema=spec.schema).c[
        spec.primary_key[0]
    ]
    with engine.connect() as connection:
        low, high = connection.execute(sa.select(sa.func.min(key), sa.func.max(key))).one()
    return None if low is None else (int(low), int(high))


def _range_query(
    spec: TableSpec,
    plans: Mapping[str, column_plan.ColumnPlan],
    low: int,
    high: int,
    since: object | None,
) -> str:
    table = sa.table(spec.name, *(sa.column(name) for name in plans), schema=spec.schema)
    key = table.c[spec.primary_key[0]]
    query = sa.select(*table.columns).where(key.between(low, high))
    if since is not None and spec.cursor is not None:
        query = query.where(table.c[spec.cursor] >= _literal(since))
    return _compiled(column_plan.cast_query(plans)(query))


def _literal_type(value: object) -> sa.types.TypeEngine | None:
    """How to write `value` into a query as a literal; None: not a key type we can write."""
    if isinstance(value, datetime):
        return sa.DateTime(timezone=value.tzinfo is not None)
    kinds: tuple[tuple[type, sa.types.TypeEngine], ...] = (
        (bool, sa.Boolean()),
        (int, sa.BigInteger()),
        (Decimal, sa.Numeric()),
        (date, sa.Date()),
        (time_of_day, sa.Time()),
        (uuid.UUID, sa.Uuid()),
        (str, sa.Text()),
    )
    return next((kind for python, kind in kinds if isinstance(value, python)), None)


def _literal(value: object) -> sa.BindParameter[Any]:
    kind = _literal_type(value)
    if kind is None:
        raise TypeError(f"cannot write a {type(value).__name__} key into a query")
    return sa.literal(value, kind)


def _compiled(query: sa.Select) -> str:
    return str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def read_with_retries(
    read: Callable[[], T], where: str, *, sleep: Callable[[float], None] = time.sleep
) -> tuple[T, int]:
    """Run one read; retry it with backoff while replay cancels it. Also its retries."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return read(), attempt - 1
        except Exception as error:  # connectorx raises plain RuntimeErrors
            if not source_session.is_recovery_conflict(error) or attempt == MAX_ATTEMPTS:
                raise
            wait = FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1)
            log.warning("%s: cancelled by replay, retrying in %.1f s", where, wait)
            sleep(wait)
    raise IngestionError(f"{where}: still cancelled by replay after {MAX_ATTEMPTS} attempts")


def ranges_resource(
    spec: TableSpec,
    engine: sa.Engine,
    connection_string: str,
    plans: Mapping[str, column_plan.ColumnPlan],
    budget_seconds: float,
    incremental: Any,  # noqa: ANN401 - dlt's Incremental, or None
) -> dlt.sources.DltResource:
    """The table as Arrow tables, one per key range, each read within the budget."""

    def rows(cursor: Any = incremental) -> Iterator[pa.Table]:  # noqa: ANN401 - dlt injects it
        since = cursor.get_current_range()[0] if cursor is not None else None
        bounds = _bounds(spec, engine)
        if bounds is None:
            return
        low, high = bounds
        width = FIRST_RANGE_KEYS
        retried = ranges = 0
        progress = _Progress(spec, "key ranges")
        while low <= high:
            top = min(high, low + width - 1)
            where = f"source {spec.source}, table {spec.name}, keys {low}-{top}"
            query = _range_query(spec, plans, low, top, since)
            began = time.perf_counter()
            table, retries = read_with_retries(
                lambda query=query: connectorx.read_sql(
                    connection_string, query, return_type="arrow"
                ),
                where,
            )
            retried += retries
            ranges += 1
            elapsed = time.perf_counter() - began
            progress.add(table.num_rows)
            if table.num_rows:
                yield table
            low = top + 1
            if retries or elapsed > budget_seconds / 2:
                width = max(MIN_RANGE_KEYS, width // 2)
            elif elapsed < budget_seconds / 8:
                width *= 2
        log.info(
            "source %s, table %s: read in %s key ranges, %s of them retried after replay"
            " cancelled them",
            spec.source,
            spec.name,
            ranges,
            retried,
        )

    return dlt.resource(rows, name=spec.name)


Key = tuple[object, ...]


def _page_end(spec: TableSpec, engine: sa.Engine, after: Key | None, keys: int) -> Key | None:
    """The key `keys` keys after `after` (from the start if None); None: fewer remain."""
    table = sa.table(spec.name, *(sa.column(c) for c in spec.primary_key), schema=spec.schema)
    columns = [table.c[c] for c in spec.primary_key]
    query = sa.select(*columns).order_by(*columns).offset(keys - 1).limit(1)
    if after is not None:
        query = query.where(sa.tuple_(*columns) > sa.tuple_(*map(_literal, after)))
    with engine.connect() as connection:
        row = connection.execute(query).first()
    return None if row is None else tuple(row)


def _page_query(
    spec: TableSpec,
    plans: Mapping[str, column_plan.ColumnPlan],
    after: Key | None,
    last: Key | None,
    since: object | None,
) -> str:
    """The rows whose keys lie after `after` and up to `last` (None: no bound)."""
    table = sa.table(spec.name, *(sa.column(name) for name in plans), schema=spec.schema)
    key = sa.tuple_(*(table.c[c] for c in spec.primary_key))
    query = sa.select(*table.columns)
    if after is not None:
        query = query.where(key > sa.tuple_(*map(_literal, after)))
    if last is not None:
        query = query.where(key <= sa.tuple_(*map(_literal, last)))
    if since is not None and spec.cursor is not None:
        query = query.where(table.c[spec.cursor] >= _literal(since))
    return _compiled(column_plan.cast_query(plans)(query))


def can_page(spec: TableSpec, plans: Mapping[str, column_plan.ColumnPlan]) -> bool:
    """Whether every key column is NOT NULL: row-value comparisons skip NULLs."""
    return all(
        column in plans and not plans[column].hint["nullable"] for column in spec.primary_key
    )


def keyset_pages(
    spec: TableSpec,
    engine: sa.Engine,
    plans: Mapping[str, column_plan.ColumnPlan],
    budget_seconds: float,
    since: object | None,
    read: Callable[[str], pa.Table],
    *,
    first_page_keys: int = FIRST_RANGE_KEYS,
) -> Iterator[pa.Table]:
    """The table's rows as Arrow tables, a page of keys each, every query within the budget.

    `read` runs one page's query (connectorx in a sync). A read that replay cancels is
    retried, and so is the walk to the page's end.
    """
    after: Key | None = None
    keys = first_page_keys
    pages = retried = 0
    progress = _Progress(spec, "key pages")
    while True:
        where = f"source {spec.source}, table {spec.name}, key page {pages + 1}"
        began = time.perf_counter()
        last, walk_retries = read_with_retries(
            lambda after=after, keys=keys: _page_end(spec, engine, after, keys), where
        )
        query = _page_query(spec, plans, after, last, since)
        table, read_retries = read_with_retries(lambda query=query: read(query), where)
        elapsed = time.perf_counter() - began
        pages += 1
        retried += walk_retries + read_retries
        progress.add(table.num_rows)
        if table.num_rows:
            yield table
        if last is None:
            break
        after = last
        if walk_retries or read_retries or elapsed > budget_seconds / 2:
            keys = max(MIN_RANGE_KEYS, keys // 2)
        elif elapsed < budget_seconds / 8:
            keys *= 2
    log.info(
        "source %s, table %s: read in %s key pages, %s reads retried after replay cancelled them",
        spec.source,
        spec.name,
        pages,
        retried,
    )


def keyset_resource(
    spec: TableSpec,
    engine: sa.Engine,
    connection_string: str,
    plans: Mapping[str, column_plan.ColumnPlan],
    budget_seconds: float,
    incremental: Any,  # noqa: ANN401 - dlt's Incremental, or None
) -> dlt.sources.DltResource:
    """The table as Arrow tables, one per page of its primary key, each read within the budget."""

    def rows(cursor: Any = incremental) -> Iterator[pa.Table]:  # noqa: ANN401 - dlt injects it
        since = cursor.get_current_range()[0] if cursor is not None else None
        yield from keyset_pages(
            spec,
            engine,
            plans,
            budget_seconds,
            since,
            lambda query: connectorx.read_sql(connection_string, query, return_type="arrow"),
        )

    return dlt.resource(rows, name=spec.name)
