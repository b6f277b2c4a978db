"""Rows the warehouse cannot take as they are: withheld from the load, kept with a reason.

Some source rows would be lost, corrupted or stop the whole load on the way in:
- a key set only in the catalog (no constraint enforces it) that is NULL, or that several
  rows share: a merge would keep one of them and drop the others, and the warehouse's
  unique key index could not be built;
- a timestamp or date that is `infinity` or `-infinity`: connectorx reads them as the
  years 262142 and -262143, which either fail the load or land as that wrong year;
- a `json` value that jsonb cannot hold (a \\u0000 escape, an unpaired surrogate), which
  fails the load.

Such rows are left out of the load, and each becomes a row of `ingestion.quarantine`
with its key, the reason and the row as the source holds it (as JSON, PII columns hashed
or dropped as in the raw table), written before the load commits; the rest of the table
loads. The reconciliation leaves out the withheld keys on both sides, and the sync log
says how many rows are quarantined. A withheld key's earlier version, if one was loaded,
stays in the warehouse as it was.

The entries of a table are replaced on every sync: key problems are looked for in the
whole table each time (one grouped read of the key columns, only for keys no constraint
enforces); a row withheld for its values stays quarantined until a sync reads it again
(its cursor moved, or the table is read whole) or it leaves the source. When a key
problem is resolved, the row that remains may carry an old cursor: the table is read
whole once, so that it loads.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from psycopg2 import sql
from sqlalchemy.dialects.postgresql import JSONB

from ingestion import chunked_read, pii
from ingestion.catalog import TableSpec
from ingestion.errors import IngestionError
from ingestion.synclog import LOG_SCHEMA, lock_schema

log = logging.getLogger(__name__)

# More withheld rows than this in one table means the catalog's key is wrong.
MAX_ROWS = 10_000
# What connectorx reads for PostgreSQL's infinities: chrono's limits, as Arrow values.
TIMESTAMP_LIMITS = (-210_866_803_200_000_000, 8_210_266_876_799_999_999)  # microseconds
DATE_LIMITS = (-2_440_588, 95_026_236)  # days; below: 4714-11-24 BC, PostgreSQL's first
# An escape jsonb refuses; the text is parsed to be sure (an escaped backslash matches too).
SUSPECT_JSON = r"\\u0000|\\u[dD][89a-fA-F]"
# A cursor further ahead of the sync's clock would hide every later change: dlt reads
# from the highest cursor seen on. A day leaves room for clocks and zones that differ.
FUTURE_CURSOR = timedelta(days=1)
# Why a row is withheld: the first two are problems of its key, the others of its values.
KINDS = ("null_key", "shared_key", "infinity", "json", "future_cursor")

Key = tuple[object, ...]

_metadata = sa.MetaData(schema=LOG_SCHEMA)
quarantine_table = sa.Table(
    "quarantine",
    _metadata,
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("table_name", sa.Text, nullable=False),
    sa.Column("key", JSONB, nullable=False, comment="the key's values, in key order"),
    sa.Column("kind", sa.Text, nullable=False, comment=", ".join(KINDS)),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("row", sa.JSON, nullable=True, comment="the source row, PII as in the raw table"),
    sa.Column("noticed_at", sa.DateTime(timezone=True), nullable=False),
    comment="Source rows withheld from the raw tables, and why; replaced by every sync",
)


@dataclass(frozen=True)
class Entry:
    """One withheld row: its key, why, and the row as JSON text (None: left the source)."""

    key: Key
    kind: str
    reason: str
    row: str | None
    noticed_at: datetime | None = None

    @property
    def for_key(self) -> bool:
        """Whether the row is withheld for its key rather than its values."""
        return self.kind in KINDS[:2]


@dataclass(frozen=True)
class Withheld:
    """The rows a table withholds: any with a NULL key column, and these keys."""

    null_key: bool
    keys: frozenset[Key]

    def __bool__(self) -> bool:
        return self.null_key or bool(self.keys)

    def excluding(self, spec: TableSpec) -> sql.Composable:
        """A condition that leaves the withheld rows out, with `parameters` bound."""
        columns = [sql.Identifier(column) for column in spec.primary_key]
        parts = []
        if self.null_key:
            parts += [sql.SQL("{} is not null").format(column) for column in columns]
        if self.keys:
            parts.append(
                sql.SQL("({}) not in {}").format(
                    sql.SQL(", ").join(columns), sql.Placeholder("withheld")
                )
            )
        return sql.SQL(" and ").join(parts) if parts else sql.SQL("true")

    @property
    def parameters(self) -> dict[str, tuple[Key, ...]]:
        """The query parameters of `excluding`."""
        return {"withheld": tuple(sorted(self.keys, key=repr))}


def withheld(recorded: Sequence[Entry]) -> Withheld:
    """The rows of these entries, as the reconciliation leaves them out on both sides."""
    return Withheld(
        any(None in entry.key for entry in recorded),
        frozenset(entry.key for entry in recorded if None not in entry.key),
    )


def _plain(value: object) -> object:
    """A key value as JSON keeps it: numbers and text as they are, anything else as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def _key(values: Iterable[object]) -> Key:
    return tuple(_plain(value) for value in values)


def _key_text(spec: TableSpec, key: Key) -> str:
    shown = ", ".join("NULL" if value is None else str(value) for value in key)
    return f"key ({', '.join(spec.primary_key)}) = ({shown})"


def _reason(spec: TableSpec, key: Key, kind: str, text: str) -> str:
    return f"{_key_text(spec, key)}{' ' if kind == 'null_key' else ': '}{text}"


def _fetch(
    engine: sa.Engine, query: sql.Composable, parameters: Mapping[str, object] | None = None
) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        cursor = connection.connection.cursor()
        cursor.execute("set local timezone = 'UTC'")
        cursor.execute(query, parameters or {})
        rows = cursor.fetchall()
        connection.rollback()
    return rows


def _too_many(spec: TableSpec, rows: int) -> IngestionError:
    return IngestionError(
        f"source {spec.source}, table {spec.name}: more than {MAX_ROWS:,} rows would be"
        f" quarantined ({rows:,} found); is its primary_key ({', '.join(spec.primary_key)})"
        " in the catalog right?"
    )


def _protected(spec: TableSpec, row: str, salt: str) -> str:
    """The row's JSON with PII as the raw table holds it: hashed, its domain kept, or dropped."""
    values = json.loads(row)
    replicated = set(spec.replicated_columns)
    values = {name: value for name, value in values.items() if name in replicated}
    for column in spec.email_domains:
        values[pii.domain_column(column)] = pii.email_domain(values.get(column))
    for column, action in spec.pii.items():
        if action == "hash" and column in values:
            values[column] = pii.hash_value(values[column], salt)
    return json.dumps(values)


def _source_rows(
    spec: TableSpec, engine: sa.Engine, keys: Sequence[Key], salt: str
) -> dict[Key, list[str]]:
    """The source rows with these keys (a key with a NULL: every row with a NULL key)."""
    conditions = [
        sql.SQL("{} is null").format(sql.Identifier(column))
        for column in spec.primary_key
        if any(None in key for key in keys)
    ]
    complete = Withheld(False, frozenset(key for key in keys if None not in key))
    if complete:
        conditions.append(sql.SQL("not ({})").format(complete.excluding(spec)))
    if not conditions:
        return {}
    query = sql.SQL(
        "select {}, cast(row_to_json(t) as text) from {} as t where {} limit {}"
    ).format(
        sql.SQL(", ").join(sql.Identifier("t", column) for column in spec.primary_key),
        sql.Identifier(spec.schema, spec.name),
        sql.SQL(" or ").join(conditions),
        sql.Literal(MAX_ROWS + 1),
    )
    rows = _fetch(engine, query, complete.parameters)
    if len(rows) > MAX_ROWS:
        raise _too_many(spec, len(rows))
    found: dict[Key, list[str]] = {}
    for row in rows:
        found.setdefault(_key(row[:-1]), []).append(_protected(spec, row[-1], salt))
    return found


def _key_problems(spec: TableSpec, engine: sa.Engine) -> dict[Key, int]:
    """Keys with a NULL column or shared by several rows, and how many rows have each."""
    columns = sql.SQL(", ").join(sql.Identifier(column) for column in spec.primary_key)
    nulls = sql.SQL(" or ").join(
        sql.SQL("{} is null").format(sql.Identifier(column)) for column in spec.primary_key
    )
    query = sql.SQL(
        "select {columns}, count(*) from {table} group by {columns}"
        " having count(*) > 1 or {nulls} limit {limit}"
    ).format(
        columns=columns,
        table=sql.Identifier(spec.schema, spec.name),
        nulls=nulls,
        limit=sql.Literal(MAX_ROWS + 1),
    )
    found = {_key(row[:-1]): row[-1] for row in _fetch(engine, query)}
    if len(found) > MAX_ROWS:
        raise _too_many(spec, len(found))
    return found


def _json_columns(spec: TableSpec, engine: sa.Engine) -> frozenset[str]:
    """The replicated `json` (not jsonb) columns: only they can hold what jsonb refuses."""
    columns = sa.inspect(engine).get_columns(spec.name, schema=spec.schema)
    replicated = set(spec.replicated_columns)
    return frozenset(
        column["name"]
        for column in columns
        if column["name"] in replicated
        and isinstance(column["type"], sa.JSON)
        and not isinstance(column["type"], JSONB)
    )


def _previous(spec: TableSpec, warehouse: sa.Engine) -> list[Entry]:
    """The table's entries as the last sync left them."""
    with warehouse.connect() as connection:
        if not sa.inspect(connection).has_table(quarantine_table.name, schema=LOG_SCHEMA):
            return []
        rows = connection.execute(
            sa.select(
                quarantine_table.c.key,
                quarantine_table.c.kind,
                quarantine_table.c.reason,
                sa.cast(quarantine_table.c.row, sa.Text),
                quarantine_table.c.noticed_at,
            ).where(
                quarantine_table.c.source == spec.source,
                quarantine_table.c.table_name == spec.name,
            )
        ).all()
    return [Entry(tuple(key), *rest) for key, *rest in rows]


def _same(recorded: str | None, current: str) -> bool:
    """Whether a quarantined row's recorded JSON equals the source row's now."""
    return recorded is not None and json.loads(recorded) == json.loads(current)


def _json_refused(text: str) -> bool:
    """Whether jsonb refuses this JSON text: a NUL character or an unpaired surrogate."""
    stack: list[object] = [json.loads(text)]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str):
            if "\x00" in value:
                return True
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False


def _where(mask: pa.ChunkedArray | pa.Array) -> list[int]:
    """The positions where a boolean column is true; nothing read row by row if none."""
    if not pc.any(mask).as_py():
        return []
    return pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist()


def _out_of_range(column: pa.ChunkedArray) -> dict[int, str]:
    """The positions of a timestamp or date column that hold 'infinity' or '-infinity'."""
    if pa.types.is_timestamp(column.type):
        low, high = TIMESTAMP_LIMITS
        numbers = column.cast(pa.timestamp("us", column.type.tz)).cast(pa.int64())
    else:
        low, high = DATE_LIMITS
        numbers = column.cast(pa.int32())
    extremes = pc.min_max(numbers).as_py()
    if extremes["min"] is None or (extremes["min"] >= low and extremes["max"] < high):
        return {}
    below = pc.less(numbers, low)
    beyond = _where(pc.or_(below, pc.greater_equal(numbers, high)))
    return {index: "-infinity" if below[index].as_py() else "infinity" for index in beyond}


def _refused_json(column: pa.ChunkedArray) -> list[int]:
    """The positions of a JSON text column whose value jsonb refuses."""
    suspects = _where(pc.match_substring_regex(column, SUSPECT_JSON))
    return [index for index in suspects if _json_refused(column[index].as_py())]


def _future(column: pa.ChunkedArray, horizon: datetime) -> dict[int, str]:
    """The positions of the cursor column whose value lies beyond `horizon`, and the value."""
    if pa.types.is_timestamp(column.type):
        limit = pa.scalar(horizon.replace(tzinfo=None), pa.timestamp("us"))
        plain = column.cast(pa.timestamp(column.type.unit))  # its UTC value, no zone
    elif pa.types.is_date32(column.type):
        limit, plain = pa.scalar(horizon.date(), pa.date32()), column
    else:
        return {}
    ahead = _where(pc.greater(plain, limit.cast(plain.type)))
    return {index: str(pc.cast(plain[index], pa.string())) for index in ahead}


@dataclass
class Screen:
    """A dlt map over one table's Arrow batches that takes out the rows to withhold.

    It keeps the key, kind and reason of each row it takes out that was not known before
    the read, and which keys withheld earlier for their values it read again.
    """

    spec: TableSpec
    held: Withheld
    earlier: frozenset[Key]
    json_columns: frozenset[str]
    warehouse: sa.Engine | None = None
    noticed_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    horizon: datetime = field(default_factory=lambda: datetime.now(UTC) + FUTURE_CURSOR)
    found: dict[Key, tuple[str, str]] = field(default_factory=dict)
    seen: set[Key] = field(default_factory=set)

    def __call__(self, item: Any) -> Any:  # noqa: ANN401 - Arrow tables, or rows on other paths
        """The batch without its withheld rows."""
        if isinstance(item, pa.RecordBatch):
            item = pa.Table.from_batches([item])
        if not isinstance(item, pa.Table) or not item.num_rows:
            return item
        table: pa.Table = item
        problems = self._value_problems(table)
        keys = self._keys(table) if self._needs_keys(table) else None
        known = set()
        for index, key in enumerate(keys or ()):
            if key in self.earlier:
                self.seen.add(key)
            if None in key and not self.held.null_key:
                problems[index] = ("null_key", ["is NULL"])  # written since `prepare`
            elif None in key or key in self.held.keys:
                known.add(index)
        if not problems and not known:
            return table
        chosen = sorted(problems)
        found = [keys[index] for index in chosen] if keys else self._keys(table.take(chosen))
        new = {}
        for index, key in zip(chosen, found, strict=True):
            kind, texts = problems[index]
            new[key] = (kind, "; ".join(texts))
        self._keep(new)
        self.found.update(new)
        withheld = known | set(chosen)
        return table.filter(pa.array([index not in withheld for index in range(table.num_rows)]))

    def _keep(self, new: Mapping[Key, tuple[str, str]]) -> None:
        """Write the rows withheld from this batch at once, without the row itself.

        dlt keeps the cursor of what it read before `record` runs: a sync that dies in
        between must still leave a trace, which the next sync completes.
        """
        if self.warehouse is None or not new:
            return
        with self.warehouse.begin() as connection:
            connection.execute(
                quarantine_table.insert(),
                [
                    {
                        "source": self.spec.source,
                        "table_name": self.spec.name,
                        "key": list(key),
                        "kind": kind,
                        "reason": _reason(self.spec, key, kind, text),
                        "row": None,
                        "noticed_at": self.noticed_at,
                    }
                    for key, (kind, text) in new.items()
                ],
            )

    def _value_problems(self, table: pa.Table) -> dict[int, tuple[str, list[str]]]:
        """By row: the kind of the first problem found in its values, and every problem."""
        problems: dict[int, tuple[str, list[str]]] = {}
        for name in table.column_names:
            for index, kind, text in self._column_problems(name, table.column(name)):
                problems.setdefault(index, (kind, []))[1].append(text)
        return problems

    def _column_problems(self, name: str, column: pa.ChunkedArray) -> list[tuple[int, str, str]]:
        """Position, kind and text of each value of one column the warehouse cannot take."""
        if name in self.json_columns:
            refused = f"{name} holds JSON that jsonb refuses (\\u0000 or a lone surrogate)"
            return [(index, "json", refused) for index in _refused_json(column)]
        if not (pa.types.is_timestamp(column.type) or pa.types.is_date32(column.type)):
            return []
        infinite = _out_of_range(column)
        marks = [(index, "infinity", f"{name} is {value}") for index, value in infinite.items()]
        if name == self.spec.cursor:
            ahead = _future(column, self.horizon)
            marks += [
                (
                    index,
                    "future_cursor",
                    f"{name} is {value}, in the future: it would hide later changes",
                )
                for index, value in ahead.items()
                if index not in infinite
            ]
        return marks

    def _needs_keys(self, table: pa.Table) -> bool:
        if self.held.keys or self.earlier:
            return True
        if self.spec.key_enforced:
            return False
        return any(table.column(name).null_count for name in self.spec.primary_key)

    def _keys(self, table: pa.Table) -> list[Key]:
        columns = [table.column(name).to_pylist() for name in self.spec.primary_key]
        return [_key(values) for values in zip(*columns, strict=True)]


@dataclass(frozen=True)
class Prepared:
    """One table's quarantine before it is read: its screen and the entries known already."""

    spec: TableSpec
    screen: Screen
    known: tuple[Entry, ...]
    carried: tuple[Entry, ...]
    # A key problem was resolved: the table is read whole once, for the row that remains.
    read_whole: bool


def prepare(spec: TableSpec, engine: sa.Engine, warehouse: sa.Engine, salt: str) -> Prepared:
    """Find the table's key problems and what earlier syncs withheld, before it is read."""
    earlier = _previous(spec, warehouse)
    problems: dict[Key, int] = {}
    if not spec.key_enforced:
        where = f"source {spec.source}, table {spec.name}, key check"
        problems, _ = chunked_read.read_with_retries(lambda: _key_problems(spec, engine), where)
    shared = {key: rows for key, rows in problems.items() if None not in key}
    noticed = {(entry.key, entry.reason): entry.noticed_at for entry in earlier}
    known = []
    for key, rows in _source_rows(spec, engine, list(problems), salt).items():
        kind, problem = (
            ("null_key", "is NULL")
            if None in key
            else ("shared_key", f"is shared by {shared.get(key, len(rows))} rows")
        )
        reason = f"{_key_text(spec, key)} {problem}"
        known += [Entry(key, kind, reason, row, noticed.get((key, reason))) for row in rows]
    for_values = [entry for entry in earlier if not entry.for_key]
    now = _source_rows(spec, engine, [entry.key for entry in for_values], salt)
    carried = tuple(entry for entry in for_values if entry.key in now)
    # A row that changed may no longer be bad, and its cursor may have moved back.
    changed = {entry.key for entry in carried if not _same(entry.row, now[entry.key][0])}
    resolved = {entry.key for entry in earlier if entry.for_key} - set(problems)
    if (resolved or changed) and spec.cursor is not None:
        log.info(
            "source %s, table %s: %s quarantined row(s) changed or no longer share a key;"
            " it is read whole",
            spec.source,
            spec.name,
            len(resolved | changed),
        )
    screen = Screen(
        spec,
        Withheld(any(None in key for key in problems), frozenset(shared)),
        frozenset(entry.key for entry in carried),
        _json_columns(spec, engine),
        warehouse,
    )
    read_whole = bool(resolved or changed) and spec.cursor is not None
    return Prepared(spec, screen, tuple(known), carried, read_whole)


def entries(prepared: Prepared, engine: sa.Engine, salt: str) -> list[Entry]:
    """The table's entries after its read: rows withheld before it and during it.

    A row withheld earlier for its values stays unless this sync read its key again.
    """
    screen = prepared.screen
    rows = _source_rows(prepared.spec, engine, list(screen.found), salt)
    noticed = {entry.key: entry.noticed_at for entry in prepared.carried}
    made = [
        Entry(key, kind, _reason(prepared.spec, key, kind, text), row, noticed.get(key))
        for key, (kind, text) in screen.found.items()
        for row in rows.get(key, [None])
    ]
    kept = [
        entry
        for entry in prepared.carried
        if entry.key not in screen.seen and entry.key not in screen.found
    ]
    return [*prepared.known, *kept, *made]


def create_table(warehouse: sa.Engine) -> None:
    """Create `ingestion.quarantine` if it is missing (dbt reads it even when empty)."""
    with warehouse.begin() as connection:
        lock_schema(connection)
        connection.execute(sa.schema.CreateSchema(LOG_SCHEMA, if_not_exists=True))
        _metadata.create_all(connection, checkfirst=True)


def record(
    warehouse: sa.Engine,
    source: str,
    recorded: Mapping[str, Sequence[Entry]],
    noticed_at: datetime,
) -> None:
    """Replace the quarantine entries of these tables of `source`."""
    if not recorded:
        return
    with warehouse.begin() as connection:
        connection.execute(
            quarantine_table.delete().where(
                quarantine_table.c.source == source,
                quarantine_table.c.table_name.in_(list(recorded)),
            )
        )
        rows = [
            {
                "source": source,
                "table_name": table,
                "key": list(entry.key),
                "kind": entry.kind,
                "reason": entry.reason,
                "row": None if entry.row is None else json.loads(entry.row),
                "noticed_at": entry.noticed_at or noticed_at,
            }
            for table, found in recorded.items()
            for entry in found
        ]
        if rows:
            connection.execute(quarantine_table.insert(), rows)
    for table, found in recorded.items():
        if found:
            log.warning(
                "source %s, table %s: %s row(s) quarantined in %s.%s",
                source,
                table,
                len(found),
                LOG_SCHEMA,
                quarantine_table.name,
            )
