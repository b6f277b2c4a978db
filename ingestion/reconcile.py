"""Proof after a sync: the warehouse holds what the source holds, table by table.

Live rows are counted on both sides. Tables that are small or read whole also get a
checksum over every replicated column, each cast to text in UTC on both sides (hashed
PII columns are hashed on the source side the same way), so a value that changed type
or precision on the way shows up as a mismatch, not only a lost row.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from psycopg2 import sql
from sqlalchemy.dialects.postgresql import JSONB

from ingestion import chunked_read, quarantine
from ingestion.catalog import TableSpec
from ingestion.pipeline import DELETED_AT

CHECKSUM_MAX_ROWS = 200_000
# How the source side prints columns that dlt stores as jsonb.
PRINTED = {"array": "cast(to_jsonb({}) as text)", "json": "cast(cast({} as jsonb) as text)"}


def _json_like_columns(spec: TableSpec, source: sa.Engine) -> dict[str, str]:
    kinds = {}
    for column in sa.inspect(source).get_columns(spec.name, schema=spec.schema):
        if isinstance(column["type"], sa.ARRAY):
            kinds[column["name"]] = "array"
        elif isinstance(column["type"], sa.JSON) and not isinstance(column["type"], JSONB):
            kinds[column["name"]] = "json"
    return kinds


@dataclass(frozen=True)
class Reconciliation:
    """Live rows on both sides, and whether their checksums agree (None: not computed)."""

    source_rows: int
    warehouse_rows: int
    checksum_matches: bool | None

    @property
    def ok(self) -> bool:
        """Whether the warehouse equals the source as far as was checked."""
        return self.source_rows == self.warehouse_rows and self.checksum_matches is not False

    def describe(self) -> str:
        """One line for the sync log and the console."""
        if not self.ok:
            checksum = " and their checksums differ" if self.checksum_matches is False else ""
            return (
                f"mismatch: source {self.source_rows:,} live rows,"
                f" warehouse {self.warehouse_rows:,}{checksum}"
            )
        checked = "rows and checksum" if self.checksum_matches else "row count"
        return f"ok ({checked}, {self.source_rows:,} rows)"


def _row_text(spec: TableSpec, salt_hashed: bool, json_like: dict[str, str]) -> sql.Composable:
    """Each row as one text: every replicated column as PostgreSQL prints it, nulls marked.

    The output function keeps what a cast to text would lose (char(n) padding). Arrays
    arrive as JSON arrays and json as jsonb, so the source side prints them that way.
    """
    parts = []
    for column in spec.replicated_columns:
        printed = PRINTED.get(json_like.get(column, ""), "format('%%s', {})")
        value = sql.SQL(printed).format(sql.Identifier(column))
        if salt_hashed and spec.pii.get(column) == "hash":
            value = sql.SQL("encode(sha256(convert_to(%(salt)s || {}, 'UTF8')), 'hex')").format(
                value
            )
        parts.append(
            sql.SQL("case when {} is null then '<null>' else {} end").format(
                sql.Identifier(column), value
            )
        )
    return sql.SQL("concat_ws('|', {})").format(sql.SQL(", ").join(parts))


def _live(spec: TableSpec, source_side: bool, withheld: quarantine.Withheld) -> sql.Composable:
    """Rows that count: not quarantined, and in the warehouse not deleted."""
    if source_side:
        return sql.SQL(" where {}").format(withheld.excluding(spec))
    return sql.SQL(" where {} is null and {}").format(
        sql.Identifier(DELETED_AT), withheld.excluding(spec)
    )


def _checksum_query(
    spec: TableSpec,
    schema: str,
    *,
    source_side: bool,
    json_like: dict[str, str],
    withheld: quarantine.Withheld,
) -> sql.Composed:
    order = sql.SQL(", ").join(sql.Identifier(column) for column in spec.primary_key)
    live = _live(spec, source_side, withheld)
    return sql.SQL(
        "select count(*), md5(string_agg(md5({row}), '' order by {order})) from {table}{live}"
    ).format(
        row=_row_text(spec, salt_hashed=source_side, json_like=json_like if source_side else {}),
        order=order,
        table=sql.Identifier(schema, spec.name),
        live=live,
    )


def _count_query(
    schema: str, spec: TableSpec, *, source_side: bool, withheld: quarantine.Withheld
) -> sql.Composed:
    live = _live(spec, source_side, withheld)
    return sql.SQL("select count(*), null from {}{}").format(
        sql.Identifier(schema, spec.name), live
    )


def _measure(
    engine: sa.Engine, query: sql.Composed, salt: str, withheld: quarantine.Withheld
) -> tuple[int, str | None]:
    with engine.connect() as connection:
        cursor = connection.connection.cursor()
        cursor.execute("set local timezone = 'UTC'")
        cursor.execute(query, {"salt": salt, **withheld.parameters})
        count, checksum = cursor.fetchone()
        connection.rollback()
    return count, checksum


def _measure_source(
    spec: TableSpec,
    source: sa.Engine,
    query: sql.Composed,
    salt: str,
    withheld: quarantine.Withheld,
) -> tuple[int, str | None]:
    """`_measure` on the source, read again if a standby's replay cancels it."""
    where = f"source {spec.source}, table {spec.name}, reconciliation"
    measured, _ = chunked_read.read_with_retries(
        lambda: _measure(source, query, salt, withheld), where
    )
    return measured


def reconcile(
    spec: TableSpec,
    source: sa.Engine,
    warehouse: sa.Engine,
    salt: str,
    *,
    read_whole: bool,
    source_rows: int | None = None,
    warehouse_rows: int | None = None,
    withheld: quarantine.Withheld | None = None,
) -> Reconciliation:
    """Compare one table's live rows, and its checksum where it is cheap or read whole.

    Live rows already counted in this sync (by the delete check) are not counted again.
    Quarantined rows (`withheld`) are left out on both sides.
    """
    held = withheld or quarantine.Withheld(False, frozenset())
    if source_rows is None:
        source_rows, _ = _measure_source(
            spec,
            source,
            _count_query(spec.schema, spec, source_side=True, withheld=held),
            salt,
            held,
        )
    if not sa.inspect(warehouse).has_table(spec.name, schema=spec.dataset):
        # dlt creates a table with its first row, so an empty source has none yet.
        return Reconciliation(source_rows, 0, None if source_rows else True)
    if not (read_whole or source_rows <= CHECKSUM_MAX_ROWS):
        if warehouse_rows is None:
            warehouse_rows, _ = _measure(
                warehouse,
                _count_query(spec.dataset, spec, source_side=False, withheld=held),
                salt,
                held,
            )
        return Reconciliation(source_rows, warehouse_rows, None)
    json_like = _json_like_columns(spec, source)
    source_count, source_sum = _measure_source(
        spec,
        source,
        _checksum_query(spec, spec.schema, source_side=True, json_like=json_like, withheld=held),
        salt,
        held,
    )
    warehouse_count, warehouse_sum = _measure(
        warehouse,
        _checksum_query(spec, spec.dataset, source_side=False, json_like=json_like, withheld=held),
        salt,
        held,
    )
    return Reconciliation(source_count, warehouse_count, source_sum == warehouse_sum)
