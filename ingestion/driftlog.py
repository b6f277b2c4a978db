"""The warehouse's record of schema changes the syncs found: ingestion.schema_changes.

dbt declares it as a source and warns while a change is not acknowledged, so a drifted
source shows up in `dbt build` until someone has looked at it
(`ingestion schema-changes --acknowledge`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from ingestion.synclog import LOG_SCHEMA, lock_schema

LOG_TABLE = "schema_changes"
# What a sync can find, per column or per table (column_name null).
COLUMN_ADDED = "column added"
COLUMN_DROPPED = "column dropped"
COLUMN_LEFT_OUT = "column left out"
COLUMN_WIDENED = "column widened"
COLUMN_NULLABLE = "column nullable"
COLUMN_TYPE_CHANGED = "column type changed"
TABLE_ADDED = "table added"
TABLE_MISSING = "table missing"

_metadata = sa.MetaData(schema=LOG_SCHEMA)
schema_changes = sa.Table(
    LOG_TABLE,
    _metadata,
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("table_name", sa.Text, nullable=False),
    sa.Column("column_name", sa.Text, nullable=True, comment="null for a whole table"),
    sa.Column("change", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
    comment="Schema changes of the sources found by the syncs, one row each",
)


@dataclass(frozen=True)
class SchemaChange:
    """One change of a source table's shape, as a sync found it."""

    source: str
    table_name: str
    column_name: str | None
    change: str
    detail: str
    detected_at: datetime
    acknowledged_at: datetime | None = None

    def describe(self) -> str:
        """One line naming the source, table and column."""
        column = f", column {self.column_name}" if self.column_name else ""
        return (
            f"source {self.source}, table {self.table_name}{column}: {self.change}: {self.detail}"
        )


def prepare(warehouse: sa.Engine) -> None:
    """Create the log if it is missing."""
    with warehouse.begin() as connection:
        if sa.inspect(connection).has_table(LOG_TABLE, schema=LOG_SCHEMA):
            return
        lock_schema(connection)
        connection.execute(sa.schema.CreateSchema(LOG_SCHEMA, if_not_exists=True))
        _metadata.create_all(connection, checkfirst=True)


def record(warehouse: sa.Engine, changes: Sequence[SchemaChange]) -> list[SchemaChange]:
    """Log the changes not already logged as the latest of their column or table; those."""
    if not changes:
        return []
    prepare(warehouse)
    added = []
    with warehouse.begin() as connection:
        for change in changes:
            latest = connection.execute(
                sa.select(schema_changes.c.change, schema_changes.c.detail)
                .where(
                    schema_changes.c.source == change.source,
                    schema_changes.c.table_name == change.table_name,
                    schema_changes.c.column_name.is_not_distinct_from(change.column_name),
                )
                .order_by(schema_changes.c.detected_at.desc())
                .limit(1)
            ).first()
            if latest is not None and tuple(latest) == (change.change, change.detail):
                continue
            connection.execute(schema_changes.insert(), asdict(change))
            added.append(change)
    return added


def unacknowledged(warehouse: sa.Engine) -> list[SchemaChange]:
    """The changes no one has acknowledged yet, oldest first."""
    with warehouse.connect() as connection:
        if not sa.inspect(connection).has_table(LOG_TABLE, schema=LOG_SCHEMA):
            return []
        rows = connection.execute(
            sa.select(schema_changes)
            .where(schema_changes.c.acknowledged_at.is_(None))
            .order_by(schema_changes.c.detected_at)
        )
        return [SchemaChange(**row._mapping) for row in rows]


def acknowledge(warehouse: sa.Engine, through: datetime) -> int:
    """Mark the unacknowledged changes detected up to `through` as seen now; how many."""
    with warehouse.begin() as connection:
        if not sa.inspect(connection).has_table(LOG_TABLE, schema=LOG_SCHEMA):
            return 0
        done = connection.execute(
            schema_changes.update()
            .where(
                schema_changes.c.acknowledged_at.is_(None),
                schema_changes.c.detected_at <= through,
            )
            .values(acknowledged_at=datetime.now(UTC))
        )
        return done.rowcount
