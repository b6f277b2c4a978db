"""A source that changes shape between syncs: the warehouse follows or the sync stops.

A tiny source of its own (two tables) keeps each test to a couple of small syncs.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from psycopg2 import sql

from ingestion import cli, dbt_runner, settings, sync, synclog
from ingestion.errors import IngestionError
from tests.helpers import REPOSITORY

SOURCE_SCHEMA = """
create table items (
    id integer primary key,
    code varchar(20) not null,
    amount numeric(10, 2),
    note text not null,
    updated_at timestamptz not null default now()
);
-- An hour apart, so that a sync by cursor re-reads only what changed.
insert into items (id, code, amount, note, updated_at)
    select g, 'c' || g, g / 4.0, 'note ' || g, now() - g * interval '1 hour'
    from generate_series(1, 20) as g;
create table orders (
    id bigint primary key,
    item_id integer not null,
    updated_at timestamptz not null default now()
);
insert into orders (id, item_id) select g, g from generate_series(1, 5) as g;
"""
# `items` by name; `orders` and anything starting with `re` by glob.
CATALOG = """
sources:
  shop:
    tables: [items, "orders*", "re*"]
"""


@dataclass(frozen=True)
class Shop:
    """The source (written as its superuser) and its warehouse, synced once."""

    source: sa.Engine
    warehouse: sa.Engine
    catalog: Path

    def change(self, statements: str) -> None:
        """Run DDL and writes on the source."""
        with self.source.connect() as connection:
            connection.connection.cursor().execute(statements)

    def rows(self, query: str, **parameters: str) -> list[tuple]:
        """The rows of a query on the warehouse."""
        with self.warehouse.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(query), parameters)]

    def changes(self) -> list[tuple]:
        """What ingestion.schema_changes holds: table, column, change."""
        return self.rows(
            "select table_name, column_name, change from ingestion.schema_changes"
            " order by detected_at, table_name, column_name"
        )


@pytest.fixture
def shop(
    provisioned: Path, admin_url: sa.URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Shop]:
    prefix = f"z{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'create database "{prefix}_shop"')
        connection.exec_driver_sql(f'create database "{prefix}_warehouse" owner analytics')
    source = sa.create_engine(
        admin_url.set(database=f"{prefix}_shop"), isolation_level="AUTOCOMMIT"
    )
    (tmp_path / "catalog.yml").write_text(CATALOG)
    reader = settings.source_url("accounts").set(database=f"{prefix}_shop")
    monkeypatch.setenv("SOURCE_SHOP_URL", reader.render_as_string(hide_password=False))
    monkeypatch.setenv("CATALOG_PATH", str(tmp_path / "catalog.yml"))
    monkeypatch.setenv("WAREHOUSE_DB", f"{prefix}_warehouse")
    monkeypatch.setenv("PIPELINES_DIR", str(tmp_path / "dlt"))
    warehouse = sa.create_engine(settings.warehouse().url())
    made = Shop(source, warehouse, tmp_path / "catalog.yml")
    made.change(SOURCE_SCHEMA)
    sync.run(sync.SyncRequest())
    yield made
    source.dispose()
    warehouse.dispose()
    with admin.connect() as connection:
        for database in (f"{prefix}_shop", f"{prefix}_warehouse"):
            connection.exec_driver_sql(f'drop database "{database}" with (force)')
    admin.dispose()


def test_added_column_is_filled_in_rows_that_existed(shop: Shop) -> None:
    shop.change("alter table items add column is_sold boolean not null default false")
    shop.change("update items set is_sold = true, updated_at = now() where id = 1")

    sync.run(sync.SyncRequest())

    assert shop.rows("select is_sold, count(*) from raw_shop.items group by 1 order by 1") == [
        (False, 19),
        (True, 1),
    ]
    assert shop.changes() == [("items", "is_sold", "column added")]


def test_dropped_column_keeps_its_values_and_new_rows_hold_null(shop: Shop) -> None:
    shop.change(
        "alter table items drop column note;"
        "update items set code = 'changed', updated_at = now() where id = 20;"
        "insert into items (id, code) values (21, 'new')"
    )

    sync.run(sync.SyncRequest())

    assert shop.rows("select id, note from raw_shop.items where id in (20, 21) order by id") == [
        (20, "note 20"),
        (21, None),
    ]
    assert shop.changes() == [("items", "note", "column dropped")]


def test_widened_columns_hold_values_only_the_new_types_can(shop: Shop) -> None:
    shop.change(
        "alter table items alter column code type varchar(200),"
        " alter column id type bigint, alter column amount type numeric(14, 2);"
        "insert into items (id, code, amount, note)"
        " values (3000000000, repeat('x', 150), 123456789012.34, 'wide')"
    )

    sync.run(sync.SyncRequest())

    assert shop.rows(
        "select length(code), cast(amount as text) from raw_shop.items where id = 3000000000"
    ) == [(150, "123456789012.34")]
    assert shop.rows(
        "select column_name, format_type(atttypid, atttypmod)"
        " from information_schema.columns"
        " inner join pg_attribute on attrelid = 'raw_shop.items'::regclass"
        " and attname = column_name"
        " where table_schema = 'raw_shop' and table_name = 'items'"
        " and column_name in ('id', 'code', 'amount') order by 1"
    ) == [("amount", "numeric(14,2)"), ("code", "character varying(200)"), ("id", "bigint")]
    assert sorted(shop.changes()) == [
        ("items", "amount", "column widened"),
        ("items", "code", "column widened"),
        ("items", "id", "column widened"),
    ]


def test_views_reading_a_widened_table_are_kept_with_comments_and_grants(shop: Shop) -> None:
    bi_role = settings.bi_role()
    with shop.warehouse.begin() as connection:
        cursor = connection.connection.cursor()
        cursor.execute(
            "create schema staging;"
            " create view staging.stg_items as select * from raw_shop.items;"
            " create view staging.codes as select code from staging.stg_items;"
            " comment on view staging.stg_items is 'Items.';"
            " comment on column staging.stg_items.code is 'The code.'"
        )
        cursor.execute(
            sql.SQL("grant select on staging.codes to {}").format(sql.Identifier(bi_role))
        )
    shop.change(
        "alter table items alter column code type varchar(200);"
        "update items set code = repeat('y', 100), updated_at = now() where id = 1"
    )

    sync.run(sync.SyncRequest())

    assert shop.rows(
        "select obj_description('staging.stg_items'::regclass),"
        " col_description('staging.stg_items'::regclass, 2),"
        " has_table_privilege(:role, 'staging.codes', 'select'),"
        " (select max(length(code)) from staging.codes)",
        role=bi_role,
    ) == [("Items.", "The code.", True, 100)]


def test_incompatible_type_change_stops_naming_the_column(shop: Shop) -> None:
    shop.change("alter table items alter column code type integer using id")

    with pytest.raises(IngestionError) as raised:
        sync.run(sync.SyncRequest())

    message = (
        "source shop, table items, column code: the source changed its type from varchar(20)"
        " to integer and the warehouse cannot follow safely; alter or rename"
        " raw_shop.items.code, then sync again"
    )
    assert str(raised.value) == message
    logged = [
        (t.last.table_name, t.last.status, t.last.detail) for t in synclog.latest(shop.warehouse)
    ]
    assert ("items", "failed", message) in logged
    assert shop.changes() == [("items", "code", "column type changed")]


def test_new_table_matching_the_catalog_is_replicated_and_reported(shop: Shop) -> None:
    shop.change("create table refunds (id bigint primary key); insert into refunds values (1)")

    sync.run(sync.SyncRequest())

    assert shop.rows("select id from raw_shop.refunds") == [(1,)]
    assert shop.changes() == [("refunds", None, "table added")]


def test_new_table_no_pattern_names_is_logged_and_not_replicated(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    shop.change("create table audit (id bigint primary key)")

    with caplog.at_level(logging.INFO, logger="ingestion.schema_drift"):
        rows = sync.run(sync.SyncRequest())

    assert {row.table_name for row in rows} == {"items", "orders"}
    assert "source shop: not replicated (no catalog pattern names them): audit" in caplog.messages


def test_renamed_table_matched_by_a_glob_is_reported_and_its_copy_kept(shop: Shop) -> None:
    shop.change("alter table orders rename to orders_v2")

    rows = sync.run(sync.SyncRequest())

    assert {row.table_name for row in rows} == {"items", "orders_v2"}
    assert shop.rows("select count(*) from raw_shop.orders") == [(5,)]
    assert shop.rows("select count(*) from raw_shop.orders_v2") == [(5,)]
    assert sorted(shop.changes()) == [
        ("orders", None, "table missing"),
        ("orders_v2", None, "table added"),
    ]


def test_renamed_table_named_in_the_catalog_stops_naming_it(shop: Shop) -> None:
    shop.change("alter table items rename to items_v2")

    with pytest.raises(IngestionError) as raised:
        sync.run(sync.SyncRequest())

    assert str(raised.value) == (
        f"source shop, table items (sources.shop.tables in catalog {shop.catalog})"
        " does not exist in schema public"
    )


def _dbt_warnings(folder: Path) -> list[str]:
    """Run the tests of the `ingestion` dbt source; the warnings dbt logged."""
    code = dbt_runner.run(
        "dbt",
        [
            "test",
            "--select",
            "source:ingestion",
            "--target-path",
            str(folder / "target"),
            "--log-path",
            str(folder / "logs"),
            "--log-format-file",
            "json",
        ],
        REPOSITORY,
    )
    assert code == 0
    lines = (folder / "logs" / "dbt.log").read_text().splitlines()
    logged = [json.loads(line)["info"] for line in lines if line]
    return [info["msg"] for info in logged if info["level"] == "warn"]


def test_dbt_warns_until_the_changes_are_acknowledged(
    shop: Shop, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shop.change("alter table items drop column note")
    sync.run(sync.SyncRequest())

    warned = _dbt_warnings(tmp_path)
    listed = cli.main(["schema-changes"])
    printed = capsys.readouterr().out
    acknowledged = cli.main(["schema-changes", "--acknowledge"])

    assert any("schema_changes_are_acknowledged" in message for message in warned), warned
    assert listed == 1
    assert "source shop, table items, column note: column dropped" in printed
    assert acknowledged == 0
    # What the dbt test checks: no change is left unacknowledged.
    assert shop.rows(
        "select count(*) from ingestion.schema_changes where acknowledged_at is null"
    ) == [(0,)]
