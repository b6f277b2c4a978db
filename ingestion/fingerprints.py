"""Each side's live primary keys summed up in three numbers, to tell cheaply if they differ.

A fingerprint is the number of live keys, the sum of the keys (for a table keyed by one
integer column; 0 otherwise) and the sum of a hash of each key. Sets of keys with equal
fingerprints are taken as equal: two sets that differ but agree in all three need keys
removed and added whose counts, sums and hash sums all cancel out.

The source's fingerprint costs one read of its keys. The warehouse's is kept by statement
triggers on each raw table, in the transaction of every change to it (dlt's merges,
deletes being marked), so reading it costs one row; `warehouse_fingerprint` installs the
triggers and counts once when they are missing (a new table, a full refresh, a changed
key). Both sides use PostgreSQL's hash functions and, for the warehouse, plpgsql.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from psycopg2 import sql

from ingestion.catalog import TableSpec
from ingestion.pipeline import DELETED_AT
from ingestion.synclog import LOG_SCHEMA, lock_schema

log = logging.getLogger(__name__)

TRIGGER_PREFIX = "ingestion_live_keys"
FUNCTION = "track_live_keys"
# Key columns print the same on both sides whatever the sessions' settings.
PRINTING = {
    "timezone": "UTC",
    "datestyle": "ISO, MDY",
    "intervalstyle": "postgres",
    "extra_float_digits": "1",
    "bytea_output": "hex",
}
# The source's key read runs in the background while dlt loads, so it need not be fast:
# one process, not a parallel plan whose workers would triple the sync's share of the
# source's CPU (and compete with the load for a small warehouse host's cores).
SERIAL_READ = sql.SQL("set local max_parallel_workers_per_gather = 0")
PRINT_SETTINGS = sql.SQL("; ").join(
    sql.SQL("set local {} = {}").format(sql.Identifier(name), sql.Literal(value))
    for name, value in PRINTING.items()
)

_metadata = sa.MetaData(schema=LOG_SCHEMA)
live_keys = sa.Table(
    "live_keys",
    _metadata,
    sa.Column("dataset", sa.Text, primary_key=True),
    sa.Column("table_name", sa.Text, primary_key=True),
    sa.Column("key_expression", sa.Text, nullable=False, comment="what the triggers sum"),
    sa.Column("live_rows", sa.BigInteger, nullable=False),
    sa.Column("key_sum", sa.Numeric, nullable=False),
    sa.Column("key_hash_sum", sa.Numeric, nullable=False),
    comment="Live keys of each raw table in three numbers, kept by its triggers",
)

# Transition tables are visible to EXECUTE. The expressions come from trigger arguments
# that `_install` composes from quoted identifiers, the same ones the source side sums.
TRACK_FUNCTION = sql.SQL("""
create or replace function {function}() returns trigger
language plpgsql
{settings}
as $function$
declare
    summed text := 'select count(*), coalesce(sum(' || tg_argv[1] || '), 0),'
        || ' coalesce(sum(' || tg_argv[2] || '), 0) from ';
    live text := ' where ' || quote_ident(tg_argv[0]) || ' is null';
    n_added bigint := 0;
    sum_added numeric := 0;
    hash_added numeric := 0;
    n_removed bigint := 0;
    sum_removed numeric := 0;
    hash_removed numeric := 0;
begin
    if tg_op = 'TRUNCATE' then
        update {summary} set live_rows = 0, key_sum = 0, key_hash_sum = 0
        where dataset = tg_table_schema and table_name = tg_table_name;
        return null;
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        execute summed || 'new_rows' || live into n_added, sum_added, hash_added;
    end if;
    if tg_op in ('UPDATE', 'DELETE') then
        execute summed || 'old_rows' || live into n_removed, sum_removed, hash_removed;
    end if;
    update {summary}
    set live_rows = live_rows + n_added - n_removed,
        key_sum = key_sum + sum_added - sum_removed,
        key_hash_sum = key_hash_sum + hash_added - hash_removed
    where dataset = tg_table_schema and table_name = tg_table_name;
    return null;
end
$function$
""")
TRIGGERS = {
    "insert": sql.SQL("after insert on {table} referencing new table as new_rows"),
    "update": sql.SQL(
        "after update on {table} referencing old table as old_rows new table as new_rows"
    ),
    "delete": sql.SQL("after delete on {table} referencing old table as old_rows"),
    "truncate": sql.SQL("after truncate on {table}"),
}


@dataclass(frozen=True)
class Fingerprint:
    """Live keys in three numbers: how many, their sum, the sum of their hashes."""

    rows: int
    key_sum: int
    hash_sum: int

    def minus(self, other: Fingerprint) -> Fingerprint:
        """The fingerprint of these keys without `other`'s (a subset of them)."""
        return Fingerprint(
            self.rows - other.rows, self.key_sum - other.key_sum, self.hash_sum - other.hash_sum
        )


@dataclass(frozen=True)
class SourceFingerprint:
    """The source's live rows, and the fingerprint of those with keys up to `bound`."""

    live_rows: int
    bounded: Fingerprint
    bound: int | None


def key_expressions(spec: TableSpec) -> tuple[sql.Composable, sql.Composable]:
    """What both sides sum for a key: the key itself (one integer column) and its hash."""
    if spec.has_integer_key:
        key = sql.Identifier(spec.primary_key[0])
        return key, sql.SQL("hashint8({})").format(key)
    printed = sql.SQL(", ").join(
        sql.SQL("format('%s', {})").format(sql.Identifier(column)) for column in spec.primary_key
    )
    return sql.SQL("0"), sql.SQL("hashtextextended(concat_ws(chr(31), {}), 0)").format(printed)


def _fetch_one(engine: sa.Engine, query: sql.Composable) -> tuple[int | Decimal, ...]:
    with engine.connect() as connection:
        cursor = connection.connection.cursor()
        cursor.execute(PRINT_SETTINGS)
        cursor.execute(query)
        row = cursor.fetchone()
        connection.rollback()
    return tuple(row)


def _fingerprint(row: Sequence[int | Decimal]) -> Fingerprint:
    rows, key_sum, hash_sum = row
    return Fingerprint(int(rows), int(key_sum), int(hash_sum))


def _summed(spec: TableSpec, table: sql.Composable, above: int | None) -> sql.Composed:
    summed, hashed = key_expressions(spec)
    within = sql.SQL("")
    if above is not None:
        within = sql.SQL(" where {} > {}").format(
            sql.Identifier(spec.primary_key[0]), sql.Literal(above)
        )
    return (
        sql.SQL(
            "select count(*), coalesce(sum({summed}), 0), coalesce(sum({hashed}), 0) from {table}"
        ).format(summed=summed, hashed=hashed, table=table)
        + within
    )


def source_fingerprint(spec: TableSpec, engine: sa.Engine, bound: int | None) -> SourceFingerprint:
    """Count the source's live rows; fingerprint those with keys up to `bound` (None: all).

    The bound is the warehouse's highest key before this sync's load: keys above it are
    new, and leaving them out keeps a table that grows while it is read from looking
    changed on every sync (their deletion is seen by the next sync). Both figures come
    from one snapshot: the whole table's, less that of the keys above the bound (an
    index range scan).
    """
    table = sql.Identifier(spec.schema, spec.name)
    bound = bound if spec.has_integer_key else None
    queries = [_summed(spec, table, None)]
    if bound is not None:
        queries.append(_summed(spec, table, bound))
    with engine.connect() as connection:
        repeatable = connection.execution_options(isolation_level="REPEATABLE READ")
        cursor = repeatable.connection.cursor()
        cursor.execute(PRINT_SETTINGS)
        cursor.execute(SERIAL_READ)
        found = []
        for query in queries:
            cursor.execute(query)
            found.append(_fingerprint(cursor.fetchone()))
        repeatable.rollback()
    everything = found[0]
    bounded = everything if bound is None else everything.minus(found[1])
    return SourceFingerprint(everything.rows, bounded, bound)


def highest_key(spec: TableSpec, warehouse: sa.Engine) -> int | None:
    """The warehouse's highest key, live or not (None: no integer key, or no row yet)."""
    if not spec.has_integer_key:
        return None
    with warehouse.connect() as connection:
        if not sa.inspect(connection).has_table(spec.name, schema=spec.dataset):
            return None
        table = sa.table(spec.name, sa.column(spec.primary_key[0]), schema=spec.dataset)
        value = connection.execute(sa.select(sa.func.max(table.c[spec.primary_key[0]]))).scalar()
    return None if value is None else int(value)


def warehouse_above(spec: TableSpec, warehouse: sa.Engine, bound: int) -> Fingerprint:
    """The fingerprint of the warehouse's live keys above `bound` (an index range scan)."""
    query = _summed(spec, sql.Identifier(spec.dataset, spec.name), bound) + sql.SQL(
        " and {} is null"
    ).format(sql.Identifier(DELETED_AT))
    return _fingerprint(_fetch_one(warehouse, query))


def _expression_text(spec: TableSpec, connection: sa.Connection) -> tuple[str, str, str]:
    summed, hashed = key_expressions(spec)
    raw = connection.connection.dbapi_connection
    return DELETED_AT, summed.as_string(raw), hashed.as_string(raw)


def warehouse_fingerprint(spec: TableSpec, warehouse: sa.Engine) -> Fingerprint:
    """The warehouse table's live keys, from its triggers' running sums (installed if missing)."""
    with warehouse.begin() as connection:
        expected = "\x1f".join(_expression_text(spec, connection))
        table = sql.Identifier(spec.dataset, spec.name).as_string(
            connection.connection.dbapi_connection
        )
        triggers = connection.execute(
            sa.text(
                "select count(*) from pg_catalog.pg_trigger"
                " where tgrelid = to_regclass(:table) and tgname like :prefix"
            ),
            {"table": table, "prefix": f"{TRIGGER_PREFIX}_%"},
        ).scalar_one()
        row = None
        if sa.inspect(connection).has_table(live_keys.name, schema=LOG_SCHEMA):
            row = connection.execute(
                sa.select(
                    live_keys.c.key_expression,
                    live_keys.c.live_rows,
                    live_keys.c.key_sum,
                    live_keys.c.key_hash_sum,
                ).where(live_keys.c.dataset == spec.dataset, live_keys.c.table_name == spec.name)
            ).first()
        if row is not None and triggers == len(TRIGGERS) and row[0] == expected:
            return _fingerprint(row[1:])
    return _install(spec, warehouse)


def _install(spec: TableSpec, warehouse: sa.Engine) -> Fingerprint:
    """Put the triggers on the table and count its live keys once, in one transaction."""
    summary = sql.Identifier(LOG_SCHEMA, live_keys.name)
    function = sql.Identifier(LOG_SCHEMA, FUNCTION)
    table = sql.Identifier(spec.dataset, spec.name)
    with warehouse.begin() as connection:
        # One installer at a time: concurrent CREATE OR REPLACE of one function can fail.
        lock_schema(connection)
        connection.execute(sa.schema.CreateSchema(LOG_SCHEMA, if_not_exists=True))
        _metadata.create_all(connection, checkfirst=True)
        marker, summed, hashed = _expression_text(spec, connection)
        cursor = connection.connection.cursor()
        settings = sql.SQL(" ").join(
            sql.SQL("set {} = {}").format(sql.Identifier(name), sql.Literal(value))
            for name, value in PRINTING.items()
        )
        cursor.execute(TRACK_FUNCTION.format(function=function, summary=summary, settings=settings))
        for event, clause in TRIGGERS.items():
            name = sql.Identifier(f"{TRIGGER_PREFIX}_{event}")
            cursor.execute(sql.SQL("drop trigger if exists {} on {}").format(name, table))
            cursor.execute(
                sql.SQL(
                    "create trigger {name} {clause} for each statement"
                    " execute function {function}({marker}, {summed}, {hashed})"
                ).format(
                    name=name,
                    clause=clause.format(table=table),
                    function=function,
                    marker=sql.Literal(marker),
                    summed=sql.Literal(summed),
                    hashed=sql.Literal(hashed),
                )
            )
        cursor.execute(PRINT_SETTINGS)
        cursor.execute(
            sql.SQL(
                "insert into {summary}"
                " (dataset, table_name, key_expression, live_rows, key_sum, key_hash_sum)"
                " select {dataset}, {name}, {expression}, count(*), coalesce(sum({summed}), 0),"
                " coalesce(sum({hashed}), 0) from {table} where {marker} is null"
                " on conflict (dataset, table_name) do update set"
                " key_expression = excluded.key_expression, live_rows = excluded.live_rows,"
                " key_sum = excluded.key_sum, key_hash_sum = excluded.key_hash_sum"
                " returning live_rows, key_sum, key_hash_sum"
            ).format(
                summary=summary,
                dataset=sql.Literal(spec.dataset),
                name=sql.Literal(spec.name),
                expression=sql.Literal("\x1f".join((marker, summed, hashed))),
                summed=sql.SQL(summed),
                hashed=sql.SQL(hashed),
                table=table,
                marker=sql.Identifier(marker),
            )
        )
        counted = _fingerprint(cursor.fetchone())
    log.info("%s.%s: key fingerprint triggers installed", spec.source, spec.name)
    return counted
