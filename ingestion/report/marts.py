"""Read the launch marts and the sync log in one read-only REPEATABLE READ transaction.

One snapshot: the numbers, the time the report says it read them and the loads it names
all come from the same moment of the warehouse.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa

from ingestion import synclog
from ingestion.errors import IngestionError
from ingestion.report.dbt_docs import (
    DAILY_MODEL,
    HOURLY_MODEL,
    STATUS_HISTORY_MODEL,
    TIME_IN_STATUS_MODEL,
    Relation,
    ReportDocs,
)
from ingestion.settings import WarehouseSettings

METRICS = (
    "new_signups",
    "legacy_conversions",
    "cumulative_legacy_conversions",
    "legacy_conversion_rate",
    "submissions_created",
    "cards_submitted",
    "vault_items_requested",
    "vault_items_stored",
    "collection_active_users",
)


@dataclass(frozen=True)
class MetricRow:
    """One day or hour of the launch metrics."""

    period: date | datetime
    values: Mapping[str, int | Decimal | None]


@dataclass(frozen=True)
class StatusTime:
    """How long entities of one type stayed in one status (fct_time_in_status)."""

    entity_type: str
    status: str
    entities: int
    median_hours: Decimal
    p90_hours: Decimal


@dataclass(frozen=True)
class StatusCount:
    """How many entities of one type are in one status now, and where it sits in the lifecycle."""

    entity_type: str
    status: str
    entities: int
    position: float


@dataclass(frozen=True)
class TableState:
    """A table's last sync, and its last successful one (None if it never had one)."""

    source: str
    table_name: str
    last_status: str
    last_finished_at: datetime
    last_detail: str
    ok_finished_at: datetime | None
    ok_load_id: str | None
    ok_rows_written: int | None


@dataclass(frozen=True)
class LaunchData:
    """Everything the report shows, read in one snapshot at `read_at`."""

    read_at: datetime
    daily: tuple[MetricRow, ...]
    hourly: tuple[MetricRow, ...]
    time_in_status: tuple[StatusTime, ...]
    current_statuses: tuple[StatusCount, ...]
    data_through: datetime | None
    tables: tuple[TableState, ...]


@contextmanager
def snapshot(warehouse: WarehouseSettings) -> Iterator[sa.Connection]:
    """A warehouse session in one REPEATABLE READ, READ ONLY transaction, in UTC (PostgreSQL)."""
    engine = sa.create_engine(
        warehouse.url(),
        connect_args={"options": "-c timezone=UTC", "application_name": "ingestion-report"},
        poolclass=sa.NullPool,
    )
    try:
        with engine.connect() as connection:
            connection = connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            with connection.begin():
                yield connection
    except sa.exc.OperationalError as error:
        first = (str(error.orig).strip().splitlines() or ["no reason given"])[0]
        raise IngestionError(
            f"cannot reach the warehouse {warehouse.database} at {warehouse.host}:"
            f"{warehouse.port}: {first}"
        ) from None
    finally:
        engine.dispose()


def read(warehouse: WarehouseSettings, docs: ReportDocs) -> LaunchData:
    """Read the marts the report shows and the sync log, all in one snapshot."""
    with snapshot(warehouse) as connection:
        _require(connection, docs.relations.values())
        return LaunchData(
            read_at=connection.execute(sa.select(sa.func.now())).scalar_one(),
            daily=_metric_rows(connection, docs.relations[DAILY_MODEL], "metric_date"),
            hourly=_metric_rows(connection, docs.relations[HOURLY_MODEL], "metric_hour"),
            time_in_status=_time_in_status(connection, docs.relations[TIME_IN_STATUS_MODEL]),
            current_statuses=_current_statuses(connection, docs.relations[STATUS_HISTORY_MODEL]),
            data_through=_data_through(connection, docs.relations[STATUS_HISTORY_MODEL]),
            tables=_tables(connection),
        )


def _require(connection: sa.Connection, relations: Iterable[Relation]) -> None:
    inspector = sa.inspect(connection)
    for relation in relations:
        if not inspector.has_table(relation.name, schema=relation.schema):
            raise IngestionError(f"mart {relation} is missing: run `make build` first")
    if not inspector.has_table(synclog.LOG_TABLE, schema=synclog.LOG_SCHEMA):
        raise IngestionError(
            f"{synclog.LOG_SCHEMA}.{synclog.LOG_TABLE} is missing: no sync has run yet"
        )


def _table(relation: Relation, *columns: str) -> sa.TableClause:
    return sa.table(relation.name, *(sa.column(name) for name in columns), schema=relation.schema)


def _metric_rows(
    connection: sa.Connection, relation: Relation, period: str
) -> tuple[MetricRow, ...]:
    table = _table(relation, period, *METRICS)
    query = sa.select(table).order_by(table.c[period])
    return tuple(
        MetricRow(period=row[period], values={name: row[name] for name in METRICS})
        for row in connection.execute(query).mappings()
    )


def _time_in_status(connection: sa.Connection, relation: Relation) -> tuple[StatusTime, ...]:
    fields = ("entity_type", "status", "entities", "median_hours", "p90_hours")
    table = _table(relation, *fields)
    query = sa.select(table).order_by(table.c.entity_type, table.c.status)
    return tuple(StatusTime(**row) for row in connection.execute(query).mappings())


def _current_statuses(connection: sa.Connection, relation: Relation) -> tuple[StatusCount, ...]:
    """Entities per current status; a status's position is its mean rank in the histories."""
    table = _table(relation, "entity_type", "entity_id", "status", "valid_from", "is_current")
    ranked = sa.select(
        table.c.entity_type,
        table.c.status,
        table.c.is_current,
        sa.func.row_number()
        .over(partition_by=(table.c.entity_type, table.c.entity_id), order_by=table.c.valid_from)
        .label("rank"),
    ).subquery()
    query = (
        sa.select(
            ranked.c.entity_type,
            ranked.c.status,
            sa.func.sum(sa.case((ranked.c.is_current, 1), else_=0)).label("entities"),
            sa.func.avg(ranked.c.rank).label("position"),
        )
        .group_by(ranked.c.entity_type, ranked.c.status)
        .order_by(ranked.c.entity_type, ranked.c.status)
    )
    return tuple(
        StatusCount(
            entity_type=row.entity_type,
            status=row.status,
            entities=int(row.entities),
            position=float(row.position),
        )
        for row in connection.execute(query)
    )


def _data_through(connection: sa.Connection, relation: Relation) -> datetime | None:
    """The latest status change the marts have seen: how far the data reaches."""
    table = _table(relation, "valid_from")
    return connection.execute(sa.select(sa.func.max(table.c.valid_from))).scalar_one()


def _tables(connection: sa.Connection) -> tuple[TableState, ...]:
    log = synclog.table_syncs
    ok = log.c.status == "ok"
    per_table = (log.c.source, log.c.table_name)
    ranked = sa.select(
        log,
        sa.func.row_number()
        .over(partition_by=per_table, order_by=log.c.finished_at.desc())
        .label("last_rank"),
        sa.func.row_number()
        .over(partition_by=(*per_table, ok), order_by=log.c.finished_at.desc())
        .label("rank_in_status"),
    ).subquery()
    last = {}
    last_ok = {}
    query = sa.select(ranked).where((ranked.c.last_rank == 1) | (ranked.c.rank_in_status == 1))
    for row in connection.execute(query):
        key = (row.source, row.table_name)
        if row.last_rank == 1:
            last[key] = row
        if row.status == "ok" and row.rank_in_status == 1:
            last_ok[key] = row
    return tuple(_state(row, last_ok.get(key)) for key, row in sorted(last.items()))


def _state(last: sa.Row, ok: sa.Row | None) -> TableState:
    return TableState(
        source=last.source,
        table_name=last.table_name,
        last_status=last.status,
        last_finished_at=last.finished_at,
        last_detail=last.detail,
        ok_finished_at=ok.finished_at if ok else None,
        ok_load_id=ok.load_id if ok else None,
        ok_rows_written=ok.rows_written if ok else None,
    )
