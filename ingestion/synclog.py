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
    sa.Column("status", sa.Text, nullable=False, comment="ok, mismatch or failed"),
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


@dataclass(frozen=True)
class TableStatus:
    """A table's last sync, and when its last successful one started (None: never)."""

    last: TableSync
    last_ok_started_at: datetime | None


def _add_missing_columns(connection: sa.Connection) -> None:
    if not connection.execute(HAS_ADDED_COLUMN).scalar_one():
        connection.execute(ADDED_COLUMN)


def record(warehouse: sa.Engine, rows: Sequence[TableSync]) -> None:
    """Append rows to the sync log, creating it on first use."""
    if not rows:
        return
    with warehouse.begin() as connection:
        connection.execute(sa.schema.CreateSchema(LOG_SCHEMA, if_not_exists=True))
        _metadata.create_all(connection, checkfirst=True)
        _add_missing_columns(connection)
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
