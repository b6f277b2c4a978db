"""Any production schema replicates exactly, not only the demo's column types."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from psycopg2 import sql

from ingestion import settings, sync

SOURCE_SCHEMA = """
create type mood as enum ('happy', 'sad', 'it''s complicated');
create domain usd as numeric(12, 2) check (value >= 0);
create table every_type (
    id bigint primary key,
    amount numeric(12, 2),
    big numeric(30, 10),
    price usd,
    note text,
    code char(5),
    tags text[],
    scores integer[],
    feeling mood,
    payload jsonb,
    document json,
    raw bytea,
    happened_at timestamptz,
    local_at timestamp,
    day date,
    flag boolean,
    ratio double precision,
    small smallint,
    words tsvector,
    updated_at timestamptz not null
);
insert into every_type values
    (1, 12.5, 1234567890.0123456789, 3.10, '', 'ab', '{a,"b c",""}', '{1,2,null}',
     'it''s complicated', '{"grade": 9.5, "keys": ["set", "set_name"], "n": null}',
     '{"b": 1,  "a": [1, 2]}', '\\x00ff10', '2026-03-08 09:59:59.123456+00',
     '2026-03-08 02:30:00', '2026-03-08', true, 0.1, -32768, 'a fat cat',
     '2026-06-01 10:00+00'),
    (2, null, null, null, null, null, null, null, null, null, null, null, null, null,
     null, null, null, null, null, '2026-06-01 10:00+00'),
    (3, -0.01, -0.0000000001, 0, E'tab\\there\\nnew line \\\\ back ünï', 'abcde', '{}',
     '{}', 'sad', '[]', 'null', '\\x00', '1900-01-01 00:00+00', '1900-01-01 00:00',
     '0001-01-01', false, -1e300, 32767, '', '2026-06-01 10:00+00');
update every_type set document = '[]' where id = 3;
create table empty_bytes (id bigint primary key, raw bytea);
insert into empty_bytes values (1, ''), (2, '\\x00');
create table events (
    id bigint,
    happened_at timestamptz,
    kind text,
    primary key (id, happened_at)
) partition by range (happened_at);
create table events_2026_05 partition of events
    for values from ('2026-05-01') to ('2026-06-01');
create table events_2026_06 partition of events
    for values from ('2026-06-01') to ('2026-07-01');
insert into events values (1, '2026-05-31 23:59+00', 'may'), (2, '2026-06-01 00:00+00', 'june');
create table sparse (id bigint primary key, updated_at timestamptz not null default now());
insert into sparse (id) select g from generate_series(-20000, 20000, 7) as g;
insert into sparse (id) values (1000000000000), (-1000000000000);
create table no_key (label text, amount numeric(8, 3));
insert into no_key values ('one', 1.5), ('two', 2.25);
"""

CATALOG = """
sources:
  shapes:
    schema: public
    overrides:
      no_key:
        primary_key: [label]
"""


@pytest.fixture
def shapes(
    provisioned: Path, admin_url: sa.URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[sa.Engine, sa.Engine]]:
    """A source database with every column type, and a warehouse of its own."""
    prefix = f"x{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'create database "{prefix}_shapes"')
        connection.exec_driver_sql(f'create database "{prefix}_warehouse" owner analytics')
    source = sa.create_engine(admin_url.set(database=f"{prefix}_shapes"))
    with source.begin() as connection:
        connection.connection.cursor().execute(SOURCE_SCHEMA)
    (tmp_path / "catalog.yml").write_text(CATALOG)
    reader = settings.source_url("accounts").set(database=f"{prefix}_shapes")
    monkeypatch.setenv("SOURCE_SHAPES_URL", reader.render_as_string(hide_password=False))
    monkeypatch.setenv("CATALOG_PATH", str(tmp_path / "catalog.yml"))
    monkeypatch.setenv("WAREHOUSE_DB", f"{prefix}_warehouse")
    monkeypatch.setenv("PIPELINES_DIR", str(tmp_path / "dlt"))
    warehouse = sa.create_engine(settings.warehouse().url())
    yield source, warehouse
    source.dispose()
    warehouse.dispose()
    with admin.connect() as connection:
        for database in (f"{prefix}_shapes", f"{prefix}_warehouse"):
            connection.exec_driver_sql(f'drop database "{database}" with (force)')
    admin.dispose()


def _as_text(engine: sa.Engine, schema: str, table: str, columns: list[str]) -> list[tuple]:
    """Each value as PostgreSQL prints it (its output function), in UTC.

    Arrays arrive as JSON arrays and json as jsonb (its keys sorted, spaces normalised).
    """
    types = dict(
        _fetch(
            engine,
            sql.SQL(
                "select column_name, data_type from information_schema.columns"
                " where table_schema = {} and table_name = {}"
            ).format(sql.Literal(schema), sql.Literal(table)),
        )
    )
    printed = {"ARRAY": "cast(to_jsonb({}) as text)", "json": "cast(cast({} as jsonb) as text)"}
    shown = [
        sql.SQL(printed.get(types[c], "format('%s', {})")).format(sql.Identifier(c))
        for c in columns
    ]
    query = sql.SQL("select {} from {} order by 1, 2").format(
        sql.SQL(", ").join(
            sql.SQL("case when {} is null then null else {} end").format(sql.Identifier(c), s)
            for c, s in zip(columns, shown, strict=True)
        ),
        sql.Identifier(schema, table),
    )
    return _fetch(engine, query)


def _fetch(engine: sa.Engine, query: sql.Composable) -> list[tuple]:
    with engine.connect() as connection:
        cursor = connection.connection.cursor()
        cursor.execute("set timezone = 'UTC'")
        cursor.execute(query)
        return cursor.fetchall()


@pytest.mark.parametrize(
    "table",
    [
        "every_type",
        "events",
        "no_key",
        "empty_bytes",
    ],
)
def test_every_column_type_arrives_with_its_exact_value(
    shapes: tuple[sa.Engine, sa.Engine], table: str
) -> None:
    source, warehouse = shapes

    rows = sync.run(sync.SyncRequest(sources=("shapes",), tables=(table,)))

    assert [(row.table_name, row.status) for row in rows] == [(table, "ok")]
    columns = [c["name"] for c in sa.inspect(source).get_columns(table, schema="public")]
    assert _as_text(warehouse, "raw_shapes", table, columns) == _as_text(
        source, "public", table, columns
    )


def test_numeric_and_time_columns_keep_their_types(shapes: tuple[sa.Engine, sa.Engine]) -> None:
    _, warehouse = shapes

    sync.run(sync.SyncRequest(sources=("shapes",), tables=("every_type",)))

    types = dict(
        _fetch(
            warehouse,
            sql.SQL(
                "select column_name, format_type(atttypid, atttypmod) from pg_attribute"
                " join information_schema.columns on column_name = attname"
                " where attrelid = 'raw_shapes.every_type'::regclass"
                " and table_schema = 'raw_shapes' and table_name = 'every_type'"
            ),
        )
    )
    assert types["amount"] == "numeric(12,2)"
    assert types["big"] == "numeric(30,10)"
    assert types["price"] == "numeric(12,2)"
    assert types["happened_at"] == "timestamp with time zone"
    assert types["local_at"] == "timestamp without time zone"
    assert types["payload"] == "jsonb"
    assert types["raw"] == "bytea"


def test_hard_deletes_are_found_in_every_key_range(shapes: tuple[sa.Engine, sa.Engine]) -> None:
    """Negative, dense and far-apart keys: each range's fingerprint must see its deletes."""
    source, warehouse = shapes
    sync.run(sync.SyncRequest(sources=("shapes",), tables=("sparse",)))
    gone = {-1000000000000, -19993, -1, 6, 19991, 1000000000000}
    with source.begin() as connection:
        connection.execute(
            sa.text("delete from sparse where id = any(:ids)"), {"ids": sorted(gone)}
        )

    (row,) = sync.run(sync.SyncRequest(sources=("shapes",), tables=("sparse",)))

    marked = _fetch(
        warehouse,
        sql.SQL("select id from raw_shapes.sparse where _ingestion_deleted_at is not null"),
    )
    assert {found for (found,) in marked} == gone
    assert (row.deletes_found, row.status) == (len(gone), "ok")


def test_hard_deletes_of_text_and_composite_keys_are_found(
    shapes: tuple[sa.Engine, sa.Engine],
) -> None:
    """A text key and a (bigint, timestamptz) key of a partitioned table."""
    source, warehouse = shapes
    sync.run(sync.SyncRequest(sources=("shapes",), tables=("events", "no_key")))
    with source.begin() as connection:
        connection.execute(sa.text("delete from events where kind = 'june'"))
        connection.execute(sa.text("delete from no_key where label = 'one'"))

    rows = sync.run(sync.SyncRequest(sources=("shapes",), tables=("events", "no_key")))

    assert {(row.table_name, row.deletes_found, row.status) for row in rows} == {
        ("events", 1, "ok"),
        ("no_key", 1, "ok"),
    }
    marked = _fetch(
        warehouse,
        sql.SQL(
            "select kind from raw_shapes.events where _ingestion_deleted_at is not null"
            " union all"
            " select label from raw_shapes.no_key where _ingestion_deleted_at is not null"
        ),
    )
    assert sorted(marked) == [("june",), ("one",)]


def test_a_delete_hidden_by_an_insert_of_another_key_is_found(
    shapes: tuple[sa.Engine, sa.Engine],
) -> None:
    """As many keys come as go, inside the warehouse's key range: the count alone agrees."""
    source, warehouse = shapes
    sync.run(sync.SyncRequest(sources=("shapes",), tables=("sparse",)))
    with source.begin() as connection:
        connection.execute(sa.text("delete from sparse where id = 6"))
        connection.execute(sa.text("insert into sparse (id) values (5)"))

    (row,) = sync.run(sync.SyncRequest(sources=("shapes",), tables=("sparse",)))

    found = _fetch(
        warehouse,
        sql.SQL(
            "select id, _ingestion_deleted_at is not null from raw_shapes.sparse"
            " where id in (5, 6) order by id"
        ),
    )
    assert found == [(5, False), (6, True)]
    assert (row.deletes_found, row.status) == (1, "ok")


def test_unchanged_keys_are_proven_by_fingerprints_not_compared_one_by_one(
    shapes: tuple[sa.Engine, sa.Engine], caplog: pytest.LogCaptureFixture
) -> None:
    """Integer, text and (bigint, timestamptz) keys; new keys above the warehouse's too."""
    source, _ = shapes
    tables = ("sparse", "events", "no_key")
    sync.run(sync.SyncRequest(sources=("shapes",), tables=tables))
    with source.begin() as connection:
        connection.execute(sa.text("insert into sparse (id) values (2000000000000)"))
        connection.execute(sa.text("update sparse set updated_at = now() where id = 6"))
    caplog.set_level("INFO", logger="ingestion.deletes")

    rows = sync.run(sync.SyncRequest(sources=("shapes",), tables=tables))

    assert {(row.table_name, row.deletes_found, row.status) for row in rows} == {
        (table, 0, "ok") for table in tables
    }
    assert sorted(
        record.getMessage() for record in caplog.records if record.name == "ingestion.deletes"
    ) == [f"shapes.{table}: key fingerprints equal, no deletes" for table in sorted(tables)]
