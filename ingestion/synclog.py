"""The warehouse's record of every sync: one row per table per sync, failures included."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
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


def record(warehouse: sa.Engine, rows: Sequence[TableSync]) -> None:
    """Append rows to the sync log, creating it on first use."""
    if not rows:
        return
    with warehouse.begin() as connection:
        connection.execute(sa.schema.CreateSchema(LOG_SCHEMA, if_not_exists=True))
        _metadata.create_all(connection, checkfirst=True)
        connection.execute(table_syncs.insert(), [asdict(row) for row in rows])


def latest(warehouse: sa.Engine) -> list[TableSync]:
    """The last sync of every table, newest first."""
    with warehouse.connect() as connection:
        if not sa.inspect(connection).has_table(LOG_TABLE, schema=LOG_SCHEMA):
            return []
        ranked = sa.select(
            table_syncs,
            sa.func.row_number()
            .over(
                partition_by=(table_syncs.c.source, table_syncs.c.table_name),
                order_by=table_syncs.c.finished_at.desc(),
            )
            .label("rank"),
        ).subquery()
        query = (
            sa.select(*(ranked.c[column.name] for column in table_syncs.columns))
            .where(ranked.c.rank == 1)
            .order_by(ranked.c.source, ranked.c.table_name)
        )
        return [TableSync(**row._mapping) for row in connection.execute(query)]
