"""Hard deletes without CDC: compare primary keys, and mark what the source lost.

The source's keys are streamed into a temporary table of the warehouse session; rows of
the warehouse table whose key is no longer in the source get `_ingestion_deleted_at`, the
time the sync noticed. Nothing is removed, so history stays and staging decides. The
warehouse side uses PostgreSQL's COPY and temporary tables.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Sequence
from datetime import datetime

import sqlalchemy as sa
from psycopg2 import sql

from ingestion.catalog import TableSpec
from ingestion.pipeline import DELETED_AT

log = logging.getLogger(__name__)

KEY_BATCH = 100_000


def _source_keys(spec: TableSpec, engine: sa.Engine) -> Iterator[Sequence[tuple[object, ...]]]:
    """The source table's primary keys in batches, read with a server-side cursor."""
    table = sa.table(spec.name, *(sa.column(c) for c in spec.primary_key), schema=spec.schema)
    query = sa.select(*table.columns)
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True, max_row_buffer=KEY_BATCH)
        yield from result.execute(query).partitions(KEY_BATCH)


def _as_copy_text(rows: Sequence[tuple[object, ...]]) -> io.StringIO:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(_copy_value(value) for value in row) + "\n")
    buffer.seek(0)
    return buffer


def _copy_value(value: object) -> str:
    if value is None:
        return "\\N"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def ensure_deleted_column(spec: TableSpec, warehouse: sa.Engine) -> bool:
    """Add the deletion marker to a loaded table; False while the table does not exist."""
    if not sa.inspect(warehouse).has_table(spec.name, schema=spec.dataset):
        return False  # dlt creates a table with its first row
    with warehouse.begin() as connection:
        # dlt does not know this column; its merges insert NULL into it for live rows.
        connection.connection.cursor().execute(
            sql.SQL("alter table {} add column if not exists {} timestamptz").format(
                sql.Identifier(spec.dataset, spec.name), sql.Identifier(DELETED_AT)
            )
        )
    return True


def mark_hard_deletes(
    spec: TableSpec, source: sa.Engine, warehouse: sa.Engine, noticed_at: datetime
) -> int:
    """Mark warehouse rows whose key left the source; returns how many were marked."""
    if not ensure_deleted_column(spec, warehouse):
        return 0
    target = sql.Identifier(spec.dataset, spec.name)
    keys = [sql.Identifier(column) for column in spec.primary_key]
    key_list = sql.SQL(", ").join(keys)
    with warehouse.begin() as connection:
        cursor = connection.connection.cursor()
        cursor.execute(
            sql.SQL(
                "create temporary table source_keys on commit drop as"
                " select {} from {} with no data"
            ).format(key_list, target)
        )
        for batch in _source_keys(spec, source):
            cursor.copy_expert(
                sql.SQL("copy source_keys ({}) from stdin").format(key_list),
                _as_copy_text(batch),
            )
        cursor.execute("analyze source_keys")
        matches = sql.SQL(" and ").join(
            sql.SQL("source_keys.{0} = {1}.{0}").format(key, sql.Identifier(spec.name))
            for key in keys
        )
        cursor.execute(
            sql.SQL(
                "update {target} set {deleted} = %s"
                " where {deleted} is null"
                " and not exists (select from source_keys where {matches})"
            ).format(target=target, deleted=sql.Identifier(DELETED_AT), matches=matches),
            (noticed_at,),
        )
        marked = cursor.rowcount
    if marked:
        log.info("%s.%s: %s rows deleted in the source", spec.source, spec.name, marked)
    return marked
