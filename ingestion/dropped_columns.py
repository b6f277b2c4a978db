"""Warehouse columns that the source dropped keep their values when dlt rewrites a row.

dlt merges a changed row (with MERGE, or by deleting and inserting it), and a table
without a cursor (or a full refresh) is copied anew: a column the source no longer has
would turn NULL in every row read again. So when a column is dropped, the values it holds
are copied once into ingestion.dropped_values (by primary key, as JSON), and a row
trigger on the raw table puts them back into every row inserted or updated later. New
keys get NULL. If
the source adds the column again, its kept values are forgotten and the trigger goes.
The warehouse side of this module assumes PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from psycopg2 import sql
from sqlalchemy.dialects.postgresql import JSONB

from ingestion.catalog import TableSpec
from ingestion.synclog import LOG_SCHEMA, lock_schema

log = logging.getLogger(__name__)

TRIGGER = "ingestion_dropped_values"
_metadata = sa.MetaData(schema=LOG_SCHEMA)
dropped_columns = sa.Table(
    "dropped_columns",
    _metadata,
    sa.Column("dataset", sa.Text, primary_key=True),
    sa.Column("table_name", sa.Text, primary_key=True),
    sa.Column("column_name", sa.Text, primary_key=True),
    comment="Raw columns the source dropped, whose values the warehouse keeps",
)
dropped_values = sa.Table(
    "dropped_values",
    _metadata,
    sa.Column("dataset", sa.Text, primary_key=True),
    sa.Column("table_name", sa.Text, primary_key=True),
    sa.Column("key", JSONB, primary_key=True),
    sa.Column("kept", JSONB, nullable=False),
    comment="The last values of dropped columns, by primary key, restored by a trigger",
)
# The trigger's arguments are the key's column names.
RESTORE_FUNCTION = sql.SQL("""
create or replace function {function}() returns trigger
language plpgsql
as $function$
declare
    row_key jsonb;
    kept_values jsonb;
begin
    select jsonb_object_agg(name, to_jsonb(new) -> name) into row_key
    from unnest(tg_argv) as name;
    select kept into kept_values from {values}
    where dataset = tg_table_schema and table_name = tg_table_name and key = row_key;
    if kept_values is not null then
        new := jsonb_populate_record(new, kept_values);
    end if;
    return new;
end
$function$
""")


def kept(connection: sa.Connection, spec: TableSpec) -> set[str]:
    """The columns of the table whose values are kept for the source dropped them."""
    if not sa.inspect(connection).has_table(dropped_columns.name, schema=LOG_SCHEMA):
        return set()
    return set(
        connection.execute(
            sa.select(dropped_columns.c.column_name).where(
                dropped_columns.c.dataset == spec.dataset,
                dropped_columns.c.table_name == spec.name,
            )
        ).scalars()
    )


def _object(names: Iterable[str]) -> sql.Composable:
    """jsonb_build_object('a', "a", 'b', "b") over the given columns."""
    return sql.SQL("jsonb_build_object({})").format(
        sql.SQL(", ").join(
            sql.SQL("{}, {}").format(sql.Literal(name), sql.Identifier(name)) for name in names
        )
    )


def keep(connection: sa.Connection, spec: TableSpec, columns: Iterable[str]) -> None:
    """Copy the values of newly dropped columns and have the trigger restore them."""
    columns = sorted(columns)
    if not columns:
        return
    lock_schema(connection)
    connection.execute(sa.schema.CreateSchema(LOG_SCHEMA, if_not_exists=True))
    _metadata.create_all(connection, checkfirst=True)
    cursor = connection.connection.cursor()
    values = sql.Identifier(LOG_SCHEMA, dropped_values.name)
    cursor.execute(
        sql.SQL(
            "insert into {values} (dataset, table_name, key, kept)"
            " select {dataset}, {name}, {key}, jsonb_strip_nulls({kept}) from {table}"
            " where num_nonnulls({columns}) > 0"
            " on conflict (dataset, table_name, key)"
            " do update set kept = {values}.kept || excluded.kept"
        ).format(
            values=values,
            dataset=sql.Literal(spec.dataset),
            name=sql.Literal(spec.name),
            key=_object(spec.primary_key),
            kept=_object(columns),
            table=sql.Identifier(spec.dataset, spec.name),
            columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        )
    )
    connection.execute(
        dropped_columns.insert(),
        [{"dataset": spec.dataset, "table_name": spec.name, "column_name": c} for c in columns],
    )
    function = sql.Identifier(LOG_SCHEMA, TRIGGER)
    cursor.execute(RESTORE_FUNCTION.format(function=function, values=values))
    _drop_trigger(cursor, spec)
    cursor.execute(
        sql.SQL(
            "create trigger {name} before insert or update on {table} for each row execute function"
            " {function}({key})"
        ).format(
            name=sql.Identifier(TRIGGER),
            table=sql.Identifier(spec.dataset, spec.name),
            function=function,
            key=sql.SQL(", ").join(map(sql.Literal, spec.primary_key)),
        )
    )
    log.info("%s.%s: keeping the values of %s", spec.dataset, spec.name, ", ".join(columns))


def forget(connection: sa.Connection, spec: TableSpec, columns: Iterable[str]) -> None:
    """Columns the source has again: their kept values go, and the trigger with the last."""
    columns = sorted(columns)
    if not columns:
        return
    where = (dropped_values.c.dataset == spec.dataset, dropped_values.c.table_name == spec.name)
    connection.execute(
        dropped_values.update()
        .where(*where)
        .values(kept=dropped_values.c.kept.op("-")(sa.literal(columns, sa.ARRAY(sa.Text))))
    )
    connection.execute(
        dropped_columns.delete().where(
            dropped_columns.c.dataset == spec.dataset,
            dropped_columns.c.table_name == spec.name,
            dropped_columns.c.column_name.in_(columns),
        )
    )
    if not kept(connection, spec):
        connection.execute(dropped_values.delete().where(*where))
        _drop_trigger(connection.connection.cursor(), spec)


def _drop_trigger(cursor: Any, spec: TableSpec) -> None:  # noqa: ANN401 - a DB-API cursor
    cursor.execute(
        sql.SQL("drop trigger if exists {} on {}").format(
            sql.Identifier(TRIGGER), sql.Identifier(spec.dataset, spec.name)
        )
    )
