"""What the database says about a source's tables: columns, keys, constraints, size.

Reflection only (SQLAlchemy's inspector and pg_class), no table is read: it is cheap
enough to describe every source of the catalog, so that relations can be inferred to
tables that are not profiled in this run.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql

from ingestion.catalog import SourceConfig
from ingestion.errors import IngestionError

# Names of a table's main timestamp (when a record came to be), in order of preference.
MAIN_TIMESTAMP_NAMES = (
    "created_at",
    "inserted_at",
    "added_at",
    "changed_at",
    "occurred_at",
    "recorded_at",
)
NOT_MAIN_TIMESTAMPS = ("updated_at", "deleted_at", "modified_at")
UPDATED_AT = "updated_at"
# The planner's estimate from the last ANALYZE, or the live rows the statistics system
# counted since if more (a table analyzed while empty may have grown since). Read from
# the catalog only: pg_relation_size would wait behind a DDL lock on any table of the
# schema. NULL when unknown (never analyzed); such a table is counted before profiling.
_ESTIMATES = sa.text(
    "select pg_class.relname as name,"
    " case"
    "   when pg_class.relkind = 'p' then (select cast(sum(child.reltuples) as bigint)"
    "     from pg_catalog.pg_inherits"
    "     inner join pg_catalog.pg_class as child on child.oid = pg_inherits.inhrelid"
    "     where pg_inherits.inhparent = pg_class.oid and child.reltuples >= 0)"
    "   when pg_class.reltuples < 0 then null"
    "   when pg_class.relpages = 0 and pg_stat_get_live_tuples(pg_class.oid) = 0 then null"
    "   else cast(greatest(pg_class.reltuples, pg_stat_get_live_tuples(pg_class.oid))"
    "     as bigint)"
    " end as estimated_rows"
    " from pg_catalog.pg_class"
    " inner join pg_catalog.pg_namespace on pg_namespace.oid = pg_class.relnamespace"
    " where pg_namespace.nspname = :schema and pg_class.relkind in ('r', 'p')"
)
_PARTITIONS = sa.text(
    "select pg_class.relname from pg_catalog.pg_class"
    " inner join pg_catalog.pg_namespace on pg_namespace.oid = pg_class.relnamespace"
    " where pg_namespace.nspname = :schema and pg_class.relispartition"
)
# `status = ANY (ARRAY['a'::text, 'b'::text])`, as PostgreSQL prints `status in ('a', 'b')`.
_ANY_ARRAY = re.compile(
    r"""^\(*\s*"?(?P<column>\w+)"?(?:::[\w ]+)?\s*=\s*ANY\s*\(\s*\(?ARRAY\[(?P<values>.*)\]"""
    r"""\)?(?:::[\w ]+\[\])?\s*\)\s*\)*$""",
    re.IGNORECASE | re.DOTALL,
)
_ARRAY_ITEM = re.compile(
    r"""\s*(?:'(?P<text>(?:[^']|'')*)'|(?P<number>-?\d+(?:\.\d+)?))(?:::[\w ]+)?"""
)


@dataclass(frozen=True)
class ColumnInfo:
    """One column as the database declares it."""

    name: str
    type: sa.types.TypeEngine
    data_type: str
    kind: str
    nullable: bool


@dataclass(frozen=True)
class ForeignKey:
    """A declared foreign key constraint."""

    columns: tuple[str, ...]
    parent_table: str
    parent_columns: tuple[str, ...]


@dataclass(frozen=True)
class TableInfo:
    """One table of a source as the database declares it, and its estimated size."""

    source: str
    schema: str
    name: str
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[str, ...]
    unique_sets: tuple[tuple[str, ...], ...]
    foreign_keys: tuple[ForeignKey, ...]
    accepted_values: dict[str, tuple[str, ...]]
    estimated_rows: int | None

    def column(self, name: str) -> ColumnInfo | None:
        """Column `name`, if the table has it."""
        return next((column for column in self.columns if column.name == name), None)

    def sa_table(self) -> sa.Table:
        """A SQLAlchemy table of these columns, to build queries with."""
        return sa.Table(
            self.name,
            sa.MetaData(),
            *(sa.Column(column.name, column.type) for column in self.columns),
            schema=self.schema,
        )

    @property
    def main_timestamp(self) -> str | None:
        """The column that says when a record came to be, judged by name and type."""
        stamps = [c.name for c in self.columns if c.kind in ("date", "timestamp", "timestamptz")]
        for name in MAIN_TIMESTAMP_NAMES:
            if name in stamps:
                return name
        others = [name for name in stamps if not name.endswith(NOT_MAIN_TIMESTAMPS)]
        if others:
            return others[0]
        return UPDATED_AT if UPDATED_AT in stamps else None


def kind_of(column_type: sa.types.TypeEngine) -> str:
    """The family of a column's type, which decides the statistics computed for it."""
    families: tuple[tuple[type, str], ...] = (
        (sa.Boolean, "boolean"),
        (sa.Integer, "integer"),
        (sa.Numeric, "numeric"),
        (sa.Date, "date"),
        (sa.JSON, "json"),
        (sa.Uuid, "uuid"),
        (sa.Enum, "enum"),
        (sa.String, "text"),
    )
    if isinstance(column_type, sa.DateTime):
        return "timestamptz" if column_type.timezone else "timestamp"
    return next((kind for family, kind in families if isinstance(column_type, family)), "other")


def table_names(
    connection: Connection, config: SourceConfig, patterns: Sequence[str] = ()
) -> list[str]:
    """The catalog's tables of one source, narrowed to `patterns` (names or globs) if given."""
    inspector = sa.inspect(connection)
    if not inspector.has_schema(config.schema):
        raise IngestionError(f"source {config.name}: schema {config.schema} does not exist")
    partitions = set(connection.execute(_PARTITIONS, {"schema": config.schema}).scalars())
    existing = sorted(set(inspector.get_table_names(schema=config.schema)) - partitions)
    chosen = [
        table
        for table in existing
        if any(fnmatch.fnmatchcase(table, pattern) for pattern in config.tables)
        and not any(fnmatch.fnmatchcase(table, pattern) for pattern in config.exclude)
    ]
    for pattern in patterns:
        if not fnmatch.filter(chosen, pattern):
            raise IngestionError(
                f"source {config.name}: no table matches {pattern} (tables: {', '.join(chosen)})"
            )
    if patterns:
        chosen = [t for t in chosen if any(fnmatch.fnmatchcase(t, p) for p in patterns)]
    return chosen


def describe(
    connection: Connection, source: str, schema: str, tables: list[str]
) -> list[TableInfo]:
    """Columns, keys, constraints and estimated size of `tables` in one query per kind."""
    if not tables:
        return []
    inspector = sa.inspect(connection)
    columns = inspector.get_multi_columns(schema=schema, filter_names=tables)
    keys = inspector.get_multi_pk_constraint(schema=schema, filter_names=tables)
    foreign = inspector.get_multi_foreign_keys(schema=schema, filter_names=tables)
    uniques = inspector.get_multi_unique_constraints(schema=schema, filter_names=tables)
    indexes = inspector.get_multi_indexes(schema=schema, filter_names=tables)
    checks = inspector.get_multi_check_constraints(schema=schema, filter_names=tables)
    estimates = {
        row.name: row.estimated_rows for row in connection.execute(_ESTIMATES, {"schema": schema})
    }
    described = []
    for table in tables:
        key = (schema, table)
        infos = tuple(_column(connection, column) for column in columns[key])
        unique_sets = [tuple(u["column_names"]) for u in uniques.get(key, [])]
        unique_sets += [
            tuple(i["column_names"])
            for i in indexes.get(key, [])
            if i.get("unique") and None not in i["column_names"]
        ]
        described.append(
            TableInfo(
                source=source,
                schema=schema,
                name=table,
                columns=infos,
                primary_key=tuple(keys[key]["constrained_columns"] or ()),
                unique_sets=tuple(dict.fromkeys(unique_sets)),
                foreign_keys=tuple(
                    ForeignKey(
                        columns=tuple(fk["constrained_columns"]),
                        parent_table=fk["referred_table"],
                        parent_columns=tuple(fk["referred_columns"]),
                    )
                    for fk in foreign.get(key, [])
                    if fk["referred_schema"] in (None, schema)
                ),
                accepted_values=_check_values(checks.get(key, []), {c.name for c in infos}),
                estimated_rows=estimates.get(table),
            )
        )
    return described


def _column(connection: Connection, column: dict) -> ColumnInfo:
    column_type = column["type"]
    try:
        data_type = column_type.compile(dialect=connection.dialect).lower()
    except sa.exc.CompileError:
        data_type = str(column_type).lower()
    if isinstance(column_type, postgresql.DOMAIN):
        data_type = column_type.name
        column_type = column_type.data_type
    return ColumnInfo(
        name=column["name"],
        type=column_type,
        data_type=data_type,
        kind=kind_of(column_type),
        nullable=bool(column["nullable"]),
    )


def _check_values(checks: list[dict], columns: set[str]) -> dict[str, tuple[str, ...]]:
    """Columns whose CHECK constraint lists the values they may hold."""
    found: dict[str, tuple[str, ...]] = {}
    for check in checks:
        match = _ANY_ARRAY.match(check.get("sqltext", "").strip())
        if not match or match["column"] not in columns:
            continue
        values = []
        for item in _ARRAY_ITEM.finditer(match["values"]):
            text, number = item["text"], item["number"]
            values.append(text.replace("''", "'") if text is not None else number)
        if values:
            found[match["column"]] = tuple(values)
    return found
