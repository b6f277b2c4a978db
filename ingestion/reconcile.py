"""Proof after a sync: the warehouse holds what the source holds, table by table.

Live rows are counted on both sides. Tables that are small or read whole also get a
checksum over every replicated column, each cast to text in UTC on both sides (hashed
PII columns are hashed on the source side the same way), so a value that changed type
or precision on the way shows up as a mismatch, not only a lost row.

The source is measured after the sync read it, so rows written in between differ
without anything being wrong. A table that mismatches is measured once more, row by
row in one snapshot of the source, leaving out the rows that changed while the sync
ran (see `Recheck`); only what differs in the rest is a mismatch.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from psycopg2 import sql
from sqlalchemy.dialects.postgresql import JSONB

from ingestion import chunked_read, quarantine
from ingestion.catalog import TableSpec
from ingestion.pipeline import DELETED_AT

log = logging.getLogger(__name__)

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
class Recheck:
    """A mismatching table measured again without the rows that changed while the sync ran.

    Changed while it ran (in flight): rows whose cursor lies within the lookback of the
    highest cursor the warehouse holds, which the next sync reads again, and in a table
    without a cursor, rows keyed above the warehouse's highest key (inserted after the
    read). Live warehouse rows whose key the source no longer has are expected where the
    delete check runs: it marked what the source had lost when it read the keys, and the
    next sync marks what was deleted after. `rows_only`: counts, not row by row.
    """

    compared: int
    in_flight: int
    missing: int
    differing: int
    extra: int
    extra_expected: bool
    rows_only: bool = False

    @property
    def ok(self) -> bool:
        """Whether the rows that did not change while the sync ran are equal."""
        return not (self.missing or self.differing or (self.extra and not self.extra_expected))

    def describe(self) -> str:
        """What the second look found, for the end of the log line."""
        if self.ok:
            checked = "row count" if self.rows_only else "rows and checksum"
            return (
                f"{checked}, {self.compared:,} rows; {self.in_flight:,} changed during the"
                " sync, left to the next"
            )
        return (
            f"{self.missing:,} missing, {self.differing:,} differing, {self.extra:,} extra"
            f" besides {self.in_flight:,} changed during the sync"
        )


@dataclass(frozen=True)
class Reconciliation:
    """Live rows on both sides, and whether their checksums agree (None: not computed)."""

    source_rows: int
    warehouse_rows: int
    checksum_matches: bool | None
    # A second look at a table that mismatched; None when it matched at once.
    recheck: Recheck | None = None

    @property
    def ok(self) -> bool:
        """Whether the warehouse equals the source as far as was checked."""
        if self.recheck is not None:
            return self.recheck.ok
        return self.source_rows == self.warehouse_rows and self.checksum_matches is not False

    def describe(self) -> str:
        """One line for the sync log and the console."""
        if self.recheck is not None and self.recheck.ok:
            return f"ok ({self.recheck.describe()})"
        if not self.ok:
            checksum = " and their checksums differ" if self.checksum_matches is False else ""
            again = "" if self.recheck is None else f"; {self.recheck.describe()}"
            return (
                f"mismatch: source {self.source_rows:,} live rows,"
                f" warehouse {self.warehouse_rows:,}{checksum}{again}"
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


def _highest(warehouse: sa.Engine, spec: TableSpec, column: str) -> object:
    """The highest value of a column among every row the warehouse loaded (None: none)."""
    table = sa.table(spec.name, sa.column(column), schema=spec.dataset)
    with warehouse.connect() as connection:
        return connection.execute(sa.select(sa.func.max(table.c[column]))).scalar()


def _in_flight(spec: TableSpec, warehouse: sa.Engine) -> tuple[sql.Composable, object]:
    """Which source rows may have changed after the sync read them, as a condition on
    `%(after)s`, and its value."""
    if spec.cursor is not None:
        column = spec.cursor
        highest = _highest(warehouse, spec, column)
        # dlt's lag: a duration on a time cursor, seconds on a numeric one.
        if isinstance(highest, datetime | date):
            highest = highest - spec.lookback
        elif isinstance(highest, int | float | Decimal):
            highest = highest - type(highest)(spec.lookback.total_seconds())
    elif spec.has_integer_key:
        column = spec.primary_key[0]
        highest = _highest(warehouse, spec, column)
    else:
        return sql.SQL("false"), None
    if highest is None:
        return sql.SQL("false"), None
    return sql.SQL("{} > %(after)s").format(sql.Identifier(column)), highest


def _hashes_query(
    spec: TableSpec,
    schema: str,
    in_flight: sql.Composable,
    *,
    source_side: bool,
    json_like: dict[str, str],
) -> sql.Composed:
    keys = sql.SQL(", ").join(
        sql.SQL("format('%%s', {})").format(sql.Identifier(column)) for column in spec.primary_key
    )
    live = (
        sql.SQL("")
        if source_side
        else sql.SQL(" where {} is null").format(sql.Identifier(DELETED_AT))
    )
    return sql.SQL(
        "select {keys}, coalesce({in_flight}, false), md5({row}) from {table}{live}"
    ).format(
        keys=keys,
        in_flight=in_flight,
        row=_row_text(spec, salt_hashed=source_side, json_like=json_like if source_side else {}),
        table=sql.Identifier(schema, spec.name),
        live=live,
    )


def _row_hashes(
    engine: sa.Engine, spec: TableSpec, query: sql.Composed, parameters: dict[str, object]
) -> dict[tuple[str, ...], tuple[bool, str]]:
    """By key (as text): whether the row is in flight, and the md5 of its text."""
    width = len(spec.primary_key)
    with engine.connect() as connection:
        cursor = connection.connection.cursor()
        cursor.execute("set local timezone = 'UTC'")
        cursor.execute(query, parameters)
        found = {tuple(row[:width]): (row[width], row[width + 1]) for row in cursor}
        connection.rollback()
    return found


def _recheck_rows(spec: TableSpec, source: sa.Engine, warehouse: sa.Engine, salt: str) -> Recheck:
    """Compare the rows not in flight one by one; each side is read in one query."""
    in_flight, after = _in_flight(spec, warehouse)
    parameters = {"salt": salt, "after": after}
    query = _hashes_query(
        spec, spec.schema, in_flight, source_side=True, json_like=_json_like_columns(spec, source)
    )
    here, _ = chunked_read.read_with_retries(
        lambda: _row_hashes(source, spec, query, parameters),
        f"source {spec.source}, table {spec.name}, reconciliation",
    )
    there = _row_hashes(
        warehouse,
        spec,
        _hashes_query(spec, spec.dataset, sql.SQL("false"), source_side=False, json_like={}),
        parameters,
    )
    settled = {key: digest for key, (moved, digest) in here.items() if not moved}
    return Recheck(
        compared=len(settled),
        in_flight=len(here) - len(settled),
        missing=sum(1 for key in settled if key not in there),
        differing=sum(
            1 for key, digest in settled.items() if key in there and there[key][1] != digest
        ),
        extra=sum(1 for key in there if key not in here),
        extra_expected=spec.detect_deletes,
    )


def _counts_up_to(
    engine: sa.Engine, schema: str, spec: TableSpec, highest: int, *, source_side: bool
) -> tuple[int, int]:
    """Live rows keyed up to `highest`, and above it."""
    key = sql.Identifier(spec.primary_key[0])
    live = (
        sql.SQL("")
        if source_side
        else sql.SQL(" where {} is null").format(sql.Identifier(DELETED_AT))
    )
    query = sql.SQL(
        "select count(*) filter (where {key} <= %(highest)s),"
        " count(*) filter (where {key} > %(highest)s) from {table}{live}"
    ).format(key=key, table=sql.Identifier(schema, spec.name), live=live)
    with engine.connect() as connection:
        cursor = connection.connection.cursor()
        cursor.execute(query, {"highest": highest})
        up_to, above = cursor.fetchone()
        connection.rollback()
    return up_to, above


def _recheck_counts(spec: TableSpec, source: sa.Engine, warehouse: sa.Engine) -> Recheck | None:
    """Compare the counts of live rows keyed up to the warehouse's highest key.

    Rows keyed above it were inserted after the read. None: no integer key to bound by.
    """
    highest = _highest(warehouse, spec, spec.primary_key[0]) if spec.has_integer_key else None
    if highest is None:
        return None
    (here, above), _ = chunked_read.read_with_retries(
        lambda: _counts_up_to(source, spec.schema, spec, highest, source_side=True),
        f"source {spec.source}, table {spec.name}, reconciliation",
    )
    there, _ = _counts_up_to(warehouse, spec.dataset, spec, highest, source_side=False)
    return Recheck(
        compared=here,
        in_flight=above,
        missing=max(0, here - there),
        differing=0,
        extra=max(0, there - here),
        extra_expected=spec.detect_deletes,
        rows_only=True,
    )


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
    A mismatch is looked at once more without the rows that changed while the sync ran.
    Quarantined rows (`withheld`) are left out on both sides; a table that withholds
    rows is not looked at again (the second look does not know them).
    """
    held = withheld or quarantine.Withheld(False, frozenset())
    found = _first_look(
        spec, source, warehouse, salt, read_whole, source_rows, warehouse_rows, held
    )
    if found.ok or held or not sa.inspect(warehouse).has_table(spec.name, schema=spec.dataset):
        return found
    if found.source_rows <= CHECKSUM_MAX_ROWS:
        again: Recheck | None = _recheck_rows(spec, source, warehouse, salt)
    else:
        again = _recheck_counts(spec, source, warehouse)
    if again is not None:
        log.info("%s.%s: measured again: %s", spec.source, spec.name, again.describe())
    return dataclasses.replace(found, recheck=again)


def _first_look(
    spec: TableSpec,
    source: sa.Engine,
    warehouse: sa.Engine,
    salt: str,
    read_whole: bool,
    source_rows: int | None,
    warehouse_rows: int | None,
    held: quarantine.Withheld,
) -> Reconciliation:
    """Counts, and checksums where cheap, of the whole table on both sides."""
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
