"""How each column of a query result travels from PostgreSQL into Arrow, exactly.

Types with an exact Arrow equivalent keep it: integers, floats, booleans, numeric(p, s) as
decimal, date, time, timestamp (naive) and timestamptz (UTC), bytea as binary, json and
jsonb as Arrow's JSON type. Every other type (numeric without a precision, interval,
arrays, enums, uuid, inet, …) travels as the text PostgreSQL prints for it, so no value
changes on the way; the manifest keeps each column's PostgreSQL type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from psycopg2 import extensions

from ingestion.errors import IngestionError

NUMERIC_OID = 1700
JSON_OIDS = (114, 3802)
BYTEA_OID = 17
# Types whose psycopg2 value pyarrow converts exactly, and the Arrow type they become.
NATIVE: dict[int, pa.DataType] = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    26: pa.int64(),
    700: pa.float32(),
    701: pa.float64(),
    25: pa.string(),
    1043: pa.string(),
    1042: pa.string(),
    19: pa.string(),
    18: pa.string(),
    1082: pa.date32(),
    1083: pa.time64("us"),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
}
TIME_TYPES = (pa.timestamp("us"), pa.timestamp("us", tz="UTC"), pa.date32())
MAX_DECIMAL128_PRECISION = 38
MAX_DECIMAL_PRECISION = 76
PG_TYPE_KEY = b"pg_type"


@dataclass(frozen=True)
class Column:
    """One result column: its name, its PostgreSQL type and the Arrow type it is stored as."""

    name: str
    pg_type: str
    arrow_type: str


@dataclass(frozen=True)
class ColumnPlan:
    """How one column's values are read and converted."""

    name: str
    oid: int
    pg_type: str
    arrow_type: pa.DataType
    # psycopg2 hands the value over as the text PostgreSQL printed (no Python parsing).
    as_text: bool

    def describe(self) -> Column:
        """The column as the manifest records it."""
        return Column(name=self.name, pg_type=self.pg_type, arrow_type=str(self.arrow_type))


def _numeric_type(precision: int | None, scale: int | None) -> pa.DataType:
    if precision is None or precision <= 0 or precision > MAX_DECIMAL_PRECISION:
        return pa.string()
    if precision <= MAX_DECIMAL128_PRECISION:
        return pa.decimal128(precision, scale or 0)
    return pa.decimal256(precision, scale or 0)


def _arrow_type(oid: int, precision: int | None, scale: int | None) -> pa.DataType:
    if oid == NUMERIC_OID:
        return _numeric_type(precision, scale)
    if oid in JSON_OIDS:
        return pa.json_(pa.string())
    if oid == BYTEA_OID:
        return pa.binary()
    return NATIVE.get(oid, pa.string())


def plan(description: Sequence[Any], pg_types: dict[int, str]) -> list[ColumnPlan]:
    """The plan of every column of a cursor's description; pg_types names each type oid."""
    names = [column.name for column in description]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise IngestionError(
            f"the result has more than one column named {duplicates[0]!r}: alias them apart"
        )
    plans = []
    for column in description:
        oid = column.type_code
        pg_type = pg_types.get(oid, str(oid))
        if oid == NUMERIC_OID and column.precision and column.precision > 0:
            pg_type = f"numeric({column.precision},{column.scale or 0})"
        arrow_type = _arrow_type(oid, column.precision, column.scale)
        plans.append(
            ColumnPlan(
                name=column.name,
                oid=oid,
                pg_type=pg_type,
                arrow_type=arrow_type,
                as_text=oid not in NATIVE and oid != BYTEA_OID,
            )
        )
    return plans


def _text(value: str | None, _cursor: object) -> str | None:
    return value


def read_as_text(connection: extensions.connection, plans: Sequence[ColumnPlan]) -> None:
    """Make psycopg2 return the printed text of every column that travels as text."""
    oids = tuple(sorted({column.oid for column in plans if column.as_text}))
    if oids:
        caster = extensions.new_type(oids, "INGESTION_DATASET_TEXT", _text)
        extensions.register_type(caster, connection)


def schema(plans: Sequence[ColumnPlan]) -> pa.Schema:
    """The Arrow schema of the dataset; each field keeps its PostgreSQL type as metadata."""
    return pa.schema(
        [
            pa.field(column.name, column.arrow_type, metadata={PG_TYPE_KEY: column.pg_type})
            for column in plans
        ]
    )


def _bytes(values: Sequence[Any]) -> list[bytes | None]:
    return [None if value is None else bytes(value) for value in values]


def _column_array(column: ColumnPlan, values: Sequence[Any]) -> pa.Array:
    kind = column.arrow_type
    if pa.types.is_decimal(kind):
        try:
            return pc.cast(pa.array(values, pa.string()), kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise IngestionError(
                f"column {column.name!r} ({column.pg_type}) holds a value Parquet's decimal"
                f" cannot store (NaN or infinity?): {str(error).splitlines()[0]}"
            ) from None
    if isinstance(kind, pa.JsonType):
        return pa.ExtensionArray.from_storage(kind, pa.array(values, pa.string()))
    if pa.types.is_binary(kind):
        return pa.array(_bytes(values), kind)
    return pa.array(values, kind)


def to_batch(
    rows: Sequence[tuple[Any, ...]], plans: Sequence[ColumnPlan], target: pa.Schema
) -> pa.RecordBatch:
    """Rows as psycopg2 returned them, as one Arrow record batch of the dataset's schema."""
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [[] for _ in plans]
    arrays = [_column_array(column, values) for column, values in zip(plans, columns, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=target)


def time_column(plans: Sequence[ColumnPlan], wanted: str | None) -> ColumnPlan | None:
    """The column whose range the manifest records: the one asked for, or the first timestamp."""
    if wanted is not None:
        for column in plans:
            if column.name == wanted:
                if column.arrow_type not in TIME_TYPES:
                    raise IngestionError(
                        f"--time-column {wanted!r} is {column.pg_type}, not a timestamp or date"
                    )
                return column
        raise IngestionError(f"--time-column {wanted!r} is not a column of the result")
    for kind in TIME_TYPES:
        for column in plans:
            if column.arrow_type == kind:
                return column
    return None


Extremes = tuple[Any, Any]


def merge_extremes(current: Extremes | None, array: pa.Array) -> Extremes | None:
    """The smallest and largest value seen so far, after one more batch of a column."""
    found = pc.min_max(array).as_py()
    low, high = found["min"], found["max"]
    if low is None:
        return current
    if current is None:
        return low, high
    return min(current[0], low), max(current[1], high)
