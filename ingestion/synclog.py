"""The warehouse's record of every sync: one row per table per sync, failures included."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime

import sqlalchemy as sa

LOG_SCHEMA = "ingestion"
LOG_TABLE = "table_syncs"

_metadata = sa.MetaData(schema=LOG_SCHEMA)
table_syncs = sa.Table(
    LOG_TABLE,
    _metadata,
    sa.Column("load_id", sa.Text, nullable=False, comment="dlt load id; empty if none"),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("table_name", sa.Text, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("rows_read", sa.BigInteger, nullable=False),
    sa.Column("rows_written", sa.BigInteger, nullable=False),
    sa.Column("deletes_found", sa.BigInteger, nullable=False),
    sa.Column("duration_seconds", sa.Float, nullable=False),
    sa.Column(
        "status",
        sa.Text,
        nullable=False,
        comment="ok, mismatch, failed; running while a sync runs, interrupted if it died",
    ),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column(
        "source_lag_seconds",
        sa.Float,
        nullable=True,
        comment="the source standby's replication lag at the sync; null on a primary",
    ),
)
# Added after the table's first version: logs made before it lack the column.
ADDED_COLUMN = sa.text(
    "alter table ingestion.table_syncs add column if not exists source_lag_seconds float"
)
HAS_ADDED_COLUMN = sa.text(
    "select exists (select from pg_catalog.pg_attribute"
    " where attrelid = to_regclass('ingestion.table_syncs')"
    " and attname = 'source_lag_seconds' and not attisdropped)"
)


@dataclass(frozen=True)
class TableSync:
    """One table's part of one sync."""

    load_id: str
    source: str
    table_name: str
    started_at: datetime
    finished_at: datetime
    rows_read: int
    rows_written: int
    deletes_found: int
    duration_seconds: float
    status: str
    detail: str
    source_lag_seconds: float | None = field(default=None)


RUNNING = "running"
INTERRUPTED = "interrupted"
INTERRUPTED_DETAIL = (
    "the sync stopped before it finished (its process was killed or lost the warehouse);"
    " noticed by the next sync"
)


@dataclass(frozen=True)
class TableStatus:
    """A table's last sync, and when its last successful one started (None: never)."""

    last: TableSync
    last_ok_started_at: datetime | None


def _add_missing_columns(connection: sa.Connection) -> None:
    if not connection.execute(HAS_ADDED_COLUMN).scalar_one():
        connection.execute(ADDED_COLUMN)


def lock_schema(connection: sa.Connection) -> None:
    """Serialise changes to the log schema until the transaction ends.

    Two first syncs at once would both run CREATE … IF NOT EXISTS, and one of them fails
    on the catalog's unique index.
    """
    connection.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(LOG_SCHEMA))))


def _prepare(connection: sa.Connection) -> None:
    lock_schema(connection)
    connection.execute(sa.schema.CreateSchema(LOG_SCHEMA, if_not_exists=True))
    _metadata.create_all(connection, checkfirst=True)
    _add_missing_columns(connection)


def begin(warehouse: sa.Engine, source: str, tables: Sequence[str], started_at: datetime) -> None:
    """Log a sync of `source` as running; what an earlier one left running, it never finished.

    A killed process cannot log its own end. Call this while holding the source's sync lock,
    so that the only running rows of the source are those of syncs that died.
    """
    with warehouse.begin() as connection:
        _prepare(connection)
        connection.execute(
            table_syncs.update()
            .where(table_syncs.c.source == source, table_syncs.c.status == RUNNING)
            .values(status=INTERRUPTED, detail=INTERRUPTED_DETAIL)
        )
        running = [
            TableSync("", source, table, started_at, started_at, 0, 0, 0, 0.0, RUNNING, "")
            for table in tables
        ]
        if running:
            connection.execute(table_syncs.insert(), [asdict(row) for row in running])


def record(warehouse: sa.Engine, rows: Sequence[TableSync]) -> None:
    """Log how a sync ended, in place of its running rows; creates the log on first use."""
    if not rows:
        return
    with warehouse.begin() as connection:
        _prepare(connection)
        for source, started_at in {(row.source, row.started_at) for row in rows}:
            connection.execute(
                table_syncs.delete().where(
                    table_syncs.c.source == source,
                    table_syncs.c.started_at == started_at,
                    table_syncs.c.status == RUNNING,
                )
            )
        connection.execute(table_syncs.insert(), [asdict(row) for row in rows])


def latest(warehouse: sa.Engine) -> list[TableStatus]:
    """The last sync of every table, by source and table."""
    with warehouse.begin() as connection:
        if not sa.inspect(connection).has_table(LOG_TABLE, schema=LOG_SCHEMA):
            return []
        _add_missing_columns(connection)
        ranked = sa.select(
            table_syncs,
            sa.func.row_number()
            .over(
                partition_by=(table_syncs.c.source, table_syncs.c.table_name),
                order_by=table_syncs.c.finished_at.desc(),
            )
            .label("rank"),
            sa.func.max(table_syncs.c.started_at)
            .filter(table_syncs.c.status == "ok")
            .over(partition_by=(table_syncs.c.source, table_syncs.c.table_name))
            .label("last_ok_started_at"),
        ).subquery()
        query = (
            sa.select(
                *(ranked.c[column.name] for column in table_syncs.columns),
                ranked.c.last_ok_started_at,
            )
            .where(ranked.c.rank == 1)
            .order_by(ranked.c.source, ranked.c.table_name)
        )
        found = []
        for row in connection.execute(query):
            values = dict(row._mapping)
            last_ok = values.pop("last_ok_started_at")
            found.append(TableStatus(TableSync(**values), last_ok))
        return found
