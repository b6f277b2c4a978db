"""A source table without rows still lands in the warehouse, so dbt can read it."""

from __future__ import annotations

import sqlalchemy as sa

from ingestion import sync
from ingestion.demo import simulator
from tests.ingestion.test_sync import Launch, launch  # noqa: F401 - the fixture


def _columns(engine: sa.Engine, schema: str, table: str) -> dict[str, str]:
    query = sa.text(
        "select column_name, format_type(atttypid, atttypmod) from information_schema.columns"
        " join pg_attribute on attrelid = cast(:relation as regclass) and attname = column_name"
        " where table_schema = :schema and table_name = :table"
    )
    with engine.connect() as connection:
        rows = connection.execute(
            query, {"relation": f"{schema}.{table}", "schema": schema, "table": table}
        )
        return {name: data_type for name, data_type in rows}


def test_empty_source_table_gets_its_warehouse_table(launch: Launch) -> None:  # noqa: F811
    with launch.source("vault").connect() as connection:
        assert connection.exec_driver_sql("select count(*) from vault_items").scalar() == 0

    sync.run(sync.SyncRequest(full_refresh=True))

    columns = _columns(launch.warehouse, "raw_vault", "vault_items")
    assert columns["card"] == "jsonb"
    assert columns["declared_value_usd"] == "numeric(12,2)"
    assert columns["created_at"] == "timestamp with time zone"
    assert columns["_ingestion_deleted_at"] == "timestamp with time zone"
    with launch.warehouse.connect() as connection:
        rows = connection.exec_driver_sql("select count(*) from raw_vault.vault_items")
        assert rows.scalar() == 0


def test_rows_load_into_a_table_created_empty(launch: Launch) -> None:  # noqa: F811
    sync.run(sync.SyncRequest(full_refresh=True))
    simulator.advance(launch.demo, hours=24)

    sync.run(sync.SyncRequest())

    with launch.source("vault").connect() as connection:
        expected = connection.exec_driver_sql("select count(*) from vault_items").scalar()
    with launch.warehouse.connect() as connection:
        loaded = connection.exec_driver_sql("select count(*) from raw_vault.vault_items")
        assert loaded.scalar() == expected > 0
