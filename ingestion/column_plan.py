"""How each source column travels on the Arrow path: what to cast in SQL, what to declare.

connectorx reads most PostgreSQL types straight into Arrow, but not all of them
exactly: it parses JSON numbers as float64, truncates an unconstrained numeric, reads
enums, domains and types it does not know badly or not at all. Those columns are cast
in the source query (to text, or arrays to JSON text), and every column gets an explicit
dlt hint so that the warehouse DDL follows the source, not what Arrow happened to carry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from ingestion.catalog import TableSpec

Cast = Literal["text", "json_text", "array_json", "numeric"]

# Types connectorx 0.4.6 reads exactly into Arrow.
NATIVE = {
    "int2",
    "int4",
    "int8",
    "float4",
    "float8",
    "bool",
    "text",
    "varchar",
    "bpchar",
    "date",
    "timestamp",
    "timestamptz",
    "uuid",
    "bytea",
    "time",
}
INTEGER_BITS = {"int2": 16, "int4": 32, "int8": 64}
COLUMNS = sa.text(
    "select column_name, data_type, udt_name, character_maximum_length,"
    " numeric_precision, numeric_scale, datetime_precision, is_nullable, domain_name"
    " from information_schema.columns"
    " where table_schema = :schema and table_name = :table order by ordinal_position"
)
MAX_ARROW_DECIMAL_PRECISION = 38
# What a table's plan and reflection depend on, for PostgreSQL sources: the relation (a
# table dropped and created again is another one), its and its columns' privileges (which
# columns information_schema shows), and each column's name, type, type modifier (length,
# precision, scale) and nullability, its domain's included.
SHAPES = sa.text(
    "select c.relname, concat(c.oid, ' ', md5(concat(c.relacl, ' ', string_agg(concat_ws("
    "' ', a.attnum, quote_ident(a.attname), a.atttypid, a.atttypmod, a.attnotnull, a.attacl,"
    " t.typnotnull, t.typbasetype, t.typtypmod), ',' order by a.attnum))))"
    " from pg_catalog.pg_class as c"
    " inner join pg_catalog.pg_namespace as n on n.oid = c.relnamespace"
    " inner join pg_catalog.pg_attribute as a on a.attrelid = c.oid"
    " inner join pg_catalog.pg_type as t on t.oid = a.atttypid"
    " where n.nspname = :schema and c.relname = any(:tables)"
    " and a.attnum > 0 and not a.attisdropped"
    " group by c.oid, c.relname, c.relacl"
)


@dataclass(frozen=True)
class ColumnPlan:
    """One column: the cast applied in the source query (if any) and its dlt hint."""

    name: str
    cast: Cast | None
    hint: Mapping[str, Any]
    precision: int | None = None
    scale: int | None = None


def _plan(row: sa.Row, primary_key: tuple[str, ...]) -> ColumnPlan:
    name, data_type, udt, length, precision, scale, time_precision, nullable, domain = row
    hint: dict[str, Any] = {"name": name, "nullable": nullable == "YES"}
    cast: Cast | None = None
    if data_type == "ARRAY":
        cast, hint["data_type"] = "array_json", "json"
    elif udt in ("json", "jsonb"):
        cast, hint["data_type"] = "json_text", "json"
    elif udt == "numeric" and precision is not None and precision <= MAX_ARROW_DECIMAL_PRECISION:
        hint.update(data_type="decimal", precision=precision, scale=scale)
        cast = "numeric" if domain else None
    elif udt == "numeric":
        cast, hint["data_type"] = "text", "text"  # no exact Arrow type: exact text
    elif udt in INTEGER_BITS:
        hint.update(data_type="bigint", precision=INTEGER_BITS[udt])
    elif udt in ("float4", "float8"):
        hint["data_type"] = "double"
    elif udt == "bool":
        hint["data_type"] = "bool"
    elif udt in ("text", "varchar", "bpchar", "uuid"):
        hint["data_type"] = "text"
        if length:
            hint["precision"] = length
        cast = "text" if domain else None
    elif udt in ("timestamp", "timestamptz"):
        hint.update(data_type="timestamp", timezone=udt == "timestamptz")
        if time_precision is not None and time_precision != 6:
            hint["precision"] = time_precision
    elif udt in ("date", "time"):
        hint["data_type"] = udt
    elif udt == "bytea":
        hint["data_type"] = "binary"
    else:  # enums, tsvector, interval, inet, money, ranges, composites …
        cast, hint["data_type"] = "text", "text"
    if udt not in NATIVE and cast is None and hint["data_type"] != "decimal":
        cast = "text"
    if name in primary_key:
        hint["primary_key"] = True
    return ColumnPlan(name, cast, hint, precision, scale)


def plan_columns(engine: sa.Engine, spec: TableSpec) -> dict[str, ColumnPlan]:
    """Every replicated column of the table, in ordinal order."""
    with engine.connect() as connection:
        rows = connection.execute(COLUMNS, {"schema": spec.schema, "table": spec.name}).all()
    wanted = set(spec.replicated_columns) if spec.columns else None
    return {
        row[0]: _plan(row, spec.primary_key) for row in rows if wanted is None or row[0] in wanted
    }


def table_columns(
    engine: sa.Engine, schema: str, table: str, primary_key: tuple[str, ...] = ()
) -> dict[str, ColumnPlan]:
    """Every column of a PostgreSQL table as this module plans it, e.g. a warehouse table's."""
    with engine.connect() as connection:
        rows = connection.execute(COLUMNS, {"schema": schema, "table": table}).all()
    return {row[0]: _plan(row, primary_key) for row in rows}


@dataclass(frozen=True)
class PlannedTable:
    """A table's column plans, and the MetaData in which dlt keeps the table it reflected."""

    spec: TableSpec
    shape: str | None
    plans: Mapping[str, ColumnPlan]
    metadata: sa.MetaData


class PlanCache:
    """Column plans and reflections kept across a worker's syncs while tables keep their shape.

    Planning a table takes a query and reflecting it several (with dlt's resource set-up,
    a tenth of a small sync). Each sync asks the source once, for all its tables, for
    each table's shape (see SHAPES); a table whose shape or TableSpec changed since it was
    planned is planned and reflected again, so a new column or a changed type is read
    with the sync that first sees it. Sources other than PostgreSQL are planned each time.
    """

    def __init__(self) -> None:
        self._kept: dict[tuple[str, str, str], PlannedTable] = {}

    def planned(self, engine: sa.Engine, specs: Sequence[TableSpec]) -> dict[str, PlannedTable]:
        """Each table's plans, from the cache where its shape and spec are unchanged."""
        current = _shapes(engine, specs)
        found = {}
        for spec in specs:
            key = (engine.url.render_as_string(hide_password=True), spec.schema, spec.name)
            kept = self._kept.get(key)
            shape = current.get((spec.schema, spec.name))
            if kept is None or shape is None or kept.shape != shape or kept.spec != spec:
                metadata = sa.MetaData(schema=spec.schema)
                kept = PlannedTable(spec, shape, plan_columns(engine, spec), metadata)
                self._kept[key] = kept
            found[spec.name] = kept
        return found


def _shapes(engine: sa.Engine, specs: Sequence[TableSpec]) -> dict[tuple[str, str], str]:
    """Each table's shape, read before its plan (a change in between replans it next time)."""
    if engine.dialect.name != "postgresql" or not specs:
        return {}
    found = {}
    with engine.connect() as connection:
        for schema in sorted({spec.schema for spec in specs}):
            tables = [spec.name for spec in specs if spec.schema == schema]
            rows = connection.execute(SHAPES, {"schema": schema, "tables": tables})
            found.update(((schema, name), shape) for name, shape in rows)
    return found


def cast_query(plans: Mapping[str, ColumnPlan]) -> Any:  # noqa: ANN401 - dlt's callback type
    """A dlt query adapter that applies the plan's casts to the selected columns."""

    def adapt(query: sa.Select, *_: object, **__: object) -> sa.Select:
        columns = []
        for column in query.selected_columns:
            plan = plans.get(column.name)
            if plan is None or plan.cast is None:
                columns.append(column)
            elif plan.cast == "array_json":
                columns.append(sa.cast(sa.func.to_jsonb(column), sa.Text).label(column.name))
            elif plan.cast == "numeric":
                numeric = sa.Numeric(plan.precision, plan.scale)
                columns.append(sa.cast(column, numeric).label(column.name))
            else:
                columns.append(sa.cast(column, sa.Text).label(column.name))
        return query.with_only_columns(*columns)

    return adapt


def conform_batches(plans: Mapping[str, ColumnPlan]) -> Any:  # noqa: ANN401 - dlt map type
    """A dlt map that shapes each Arrow batch for PostgreSQL's COPY BINARY through ADBC.

    JSON text becomes jsonb's wire format (a version byte 1, then the text), which
    jsonb_recv accepts, so JSON lands as jsonb with no second pass. connectorx's stream
    widens smallint and integer to int64: they are narrowed back, raising on overflow.
    """
    prefix = pa.scalar(b"\x01", pa.binary())
    nothing = pa.scalar(b"", pa.binary())
    json_columns = [name for name, plan in plans.items() if plan.hint["data_type"] == "json"]
    narrow = {
        name: {16: pa.int16(), 32: pa.int32()}[plan.hint["precision"]]
        for name, plan in plans.items()
        if plan.hint["data_type"] == "bigint" and plan.hint.get("precision") in (16, 32)
    }

    def conform(table: Any) -> Any:  # noqa: ANN401 - Arrow tables, or rows on other paths
        if not isinstance(table, pa.Table):
            return table
        for name in json_columns:
            index = table.schema.get_field_index(name)
            column = table.column(index) if index >= 0 else None
            if column is None or not pa.types.is_string(column.type):
                continue
            wired = pc.binary_join_element_wise(prefix, column.cast(pa.binary()), nothing)
            field = pa.field(name, pa.binary(), table.schema.field(index).nullable)
            table = table.set_column(index, field, wired)
        for name, arrow_type in narrow.items():
            index = table.schema.get_field_index(name)
            if index >= 0 and table.schema.field(index).type != arrow_type:
                field = pa.field(name, arrow_type, table.schema.field(index).nullable)
                table = table.set_column(index, field, table.column(index).cast(arrow_type))
        return table

    return conform
