"""Hard deletes without CDC: compare primary keys, and mark what the source lost.

The source's keys are streamed into a temporary table of the warehouse session; rows of
the warehouse table whose key is no longer in the source get `_ingestion_deleted_at`, the
time the sync noticed. Nothing is removed, so history stays and staging decides. The
warehouse side uses PostgreSQL's COPY and temporary tables.

First the whole table's key fingerprints are compared (see fingerprints: one read of the
source's keys, one row of the warehouse's running sums). Equal, nothing was deleted, and
the live rows both sides counted on the way serve the reconciliation too. Otherwise a
table keyed by one integer column is compared by key ranges: each side gives the count
and the sum of its keys per range, and only the ranges that differ are compared key by
key; other tables stream every source key. A row marked deleted whose key is back in the
source is live again: the merge updates such a row in place and leaves its mark, which
the key comparison then clears.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from psycopg2 import sql

from ingestion import chunked_read, fingerprints
from ingestion.catalog import TableSpec
from ingestion.pipeline import DELETED_AT

log = logging.getLogger(__name__)

KEY_BATCH = 100_000
TARGET_RANGES = 1000
MIN_RANGE_WIDTH = 1000
MAX_RANGES = 50

Range = tuple[int, int]


@dataclass(frozen=True)
class DeleteCheck:
    """What one table's delete check found, and the live rows it counted on the way.

    The counts are None unless the check proved both sides hold the same live keys.
    """

    deletes_found: int
    source_rows: int | None = None
    warehouse_rows: int | None = None


def _source_keys(
    spec: TableSpec, engine: sa.Engine, ranges: Sequence[Range] | None
) -> Iterator[Sequence[tuple[object, ...]]]:
    """The source table's primary keys in batches, read with a server-side cursor."""
    table = sa.table(spec.name, *(sa.column(c) for c in spec.primary_key), schema=spec.schema)
    query = sa.select(*table.columns)
    if ranges is not None:
        key = table.c[spec.primary_key[0]]
        query = query.where(sa.or_(*(key.between(low, high - 1) for low, high in ranges)))
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
    inspector = sa.inspect(warehouse)
    if not inspector.has_table(spec.name, schema=spec.dataset):
        return False  # dlt creates a table with its first row
    columns = inspector.get_columns(spec.name, schema=spec.dataset)
    if any(column["name"] == DELETED_AT for column in columns):
        # ALTER TABLE takes an exclusive lock even when the column exists: it would queue
        # behind every reader of the table, and every later reader behind it.
        return True
    with warehouse.begin() as connection:
        # dlt does not know this column; its merges insert NULL into it for live rows.
        connection.connection.cursor().execute(
            sql.SQL("alter table {} add column if not exists {} timestamptz").format(
                sql.Identifier(spec.dataset, spec.name), sql.Identifier(DELETED_AT)
            )
        )
    return True


def _fingerprints(
    engine: sa.Engine,
    schema: str,
    spec: TableSpec,
    width: int,
    *,
    live_only: bool,
    signed: bool,
) -> dict[int, tuple[int, int]]:
    """Per key range (key // width): how many keys, and their sum."""
    table = sa.table(
        spec.name, sa.column(spec.primary_key[0]), sa.column(DELETED_AT), schema=schema
    )
    key = table.c[spec.primary_key[0]]
    # Integer division truncates towards zero: negative keys need a (slower) floor.
    divided = sa.func.floor(sa.cast(key, sa.Numeric) / width) if signed else key // width
    bucket = divided.label("bucket")
    # A NULL key (of a key the source does not enforce) never reaches the warehouse.
    query = sa.select(bucket, sa.func.count(), sa.func.sum(key)).where(key.is_not(None))
    query = query.group_by(bucket)
    if live_only:
        query = query.where(table.c[DELETED_AT].is_(None))
    with engine.connect() as connection:
        return {int(b): (count, int(total)) for b, count, total in connection.execute(query)}


def _changed_ranges(spec: TableSpec, source: sa.Engine, warehouse: sa.Engine) -> list[Range] | None:
    """The key ranges whose keys differ between the source and the warehouse's live rows."""
    table = sa.table(spec.name, sa.column(spec.primary_key[0]), schema=spec.schema)
    key = table.c[spec.primary_key[0]]
    with source.connect() as connection:
        low, high = connection.execute(sa.select(sa.func.min(key), sa.func.max(key))).one()
    if low is None:
        return [(-(2**63), 2**63 - 1)]
    width = max(MIN_RANGE_WIDTH, (int(high) - int(low)) // TARGET_RANGES + 1)
    signed = int(low) < 0
    here, _ = chunked_read.read_with_retries(
        lambda: _fingerprints(source, spec.schema, spec, width, live_only=False, signed=signed),
        f"source {spec.source}, table {spec.name}, key ranges",
    )
    there = _fingerprints(warehouse, spec.dataset, spec, width, live_only=True, signed=signed)
    changed = sorted(b for b in here.keys() | there.keys() if here.get(b) != there.get(b))
    if len(changed) > MAX_RANGES:
        return None  # many ranges changed: one pass over every key is simpler
    return [(b * width, (b + 1) * width) for b in changed]


def check_deletes(
    spec: TableSpec,
    source: sa.Engine,
    warehouse: sa.Engine,
    noticed_at: datetime,
    source_keys: fingerprints.SourceFingerprint,
) -> DeleteCheck:
    """Mark warehouse rows whose key left the source, comparing fingerprints first.

    `source_keys` was taken after this sync read the source, while it loaded.
    """
    if not ensure_deleted_column(spec, warehouse):
        return DeleteCheck(0)
    everything = fingerprints.warehouse_fingerprint(spec, warehouse)
    here = everything
    if source_keys.bound is not None:
        here = here.minus(fingerprints.warehouse_above(spec, warehouse, source_keys.bound))
    if source_keys.bounded == here:
        log.info("%s.%s: key fingerprints equal, no deletes", spec.source, spec.name)
        return DeleteCheck(0, source_rows=source_keys.live_rows, warehouse_rows=everything.rows)
    return DeleteCheck(_mark_hard_deletes(spec, source, warehouse, noticed_at))


def count_fresh_copy(
    spec: TableSpec,
    warehouse: sa.Engine,
    source_keys: fingerprints.SourceFingerprint | None = None,
) -> DeleteCheck:
    """A table just copied whole lost no row; its count readies the next sync's check."""
    if not ensure_deleted_column(spec, warehouse):
        return DeleteCheck(0)
    return DeleteCheck(
        0,
        source_rows=None if source_keys is None else source_keys.live_rows,
        warehouse_rows=fingerprints.warehouse_fingerprint(spec, warehouse).rows,
    )


def _mark_hard_deletes(
    spec: TableSpec, source: sa.Engine, warehouse: sa.Engine, noticed_at: datetime
) -> int:
    """Compare keys range by range (or all of them); returns how many rows were marked.

    Rows marked before whose key the source holds again lose their mark.
    """
    ranges = _changed_ranges(spec, source, warehouse) if spec.has_integer_key else None
    if ranges == []:
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
        for batch in _source_keys(spec, source, ranges):
            cursor.copy_expert(
                sql.SQL("copy source_keys ({}) from stdin").format(key_list),
                _as_copy_text(batch),
            )
        cursor.execute("analyze source_keys")
        matches = sql.SQL(" and ").join(
            sql.SQL("source_keys.{0} = {1}.{0}").format(key, sql.Identifier(spec.name))
            for key in keys
        )
        within = sql.SQL("")
        if ranges is not None:
            within = sql.SQL(" and ({})").format(
                sql.SQL(" or ").join(
                    sql.SQL("{} between {} and {}").format(
                        keys[0], sql.Literal(low), sql.Literal(high - 1)
                    )
                    for low, high in ranges
                )
            )
        cursor.execute(
            sql.SQL(
                "update {target} set {deleted} = %s"
                " where {deleted} is null{within}"
                " and not exists (select from source_keys where {matches})"
            ).format(
                target=target,
                deleted=sql.Identifier(DELETED_AT),
                within=within,
                matches=matches,
            ),
            (noticed_at,),
        )
        marked = cursor.rowcount
        cursor.execute(
            sql.SQL(
                "update {target} set {deleted} = null"
                " where {deleted} is not null{within}"
                " and exists (select from source_keys where {matches})"
            ).format(
                target=target,
                deleted=sql.Identifier(DELETED_AT),
                within=within,
                matches=matches,
            )
        )
        returned = cursor.rowcount
    if marked:
        log.info("%s.%s: %s rows deleted in the source", spec.source, spec.name, marked)
    if returned:
        log.info("%s.%s: %s deleted rows back in the source", spec.source, spec.name, returned)
    return marked
