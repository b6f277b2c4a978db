"""Reading a table from a standby in key ranges that replay does not cancel.

On a standby with hot_standby_feedback off, replay cancels any query that holds back
WAL longer than max_standby_streaming_delay ("canceling statement due to conflict with
recovery"). One query over a large table would be cancelled again and again, so a table
keyed by one integer column is read in key ranges sized to a time budget (half the
delay), each its own short query; a cancelled range is retried with backoff and the
read resumes where it stopped. Ranges grow while they run well under the budget and
shrink when one runs long or is cancelled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
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
        query = query.where(table.c[spec.cursor] >= sa.literal(since, _literal_type(since)))
    query = column_plan.cast_query(plans)(query)
    dialect = postgresql.dialect()
    return str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def _literal_type(value: object) -> sa.types.TypeEngine:
    if hasattr(value, "tzinfo"):
        return sa.DateTime(timezone=value.tzinfo is not None)  # type: ignore[attr-defined]
    return sa.Integer() if isinstance(value, int) else sa.Text()


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
