"""`sync --full-refresh` starts tables over without breaking what reads them."""

from __future__ import annotations

import shutil
from pathlib import Path

from ingestion import sync
from ingestion.demo import simulator
from tests.ingestion.test_sync import Launch, launch  # noqa: F401 - the fixture


def test_full_refresh_keeps_views_that_read_raw_tables(launch: Launch) -> None:  # noqa: F811
    sync.run(sync.SyncRequest())
    with launch.warehouse.begin() as connection:
        connection.exec_driver_sql(
            "create view public.users_seen as select id from raw_accounts.users"
        )
        connection.exec_driver_sql("delete from raw_accounts.users where mod(id, 2) = 0")
    with launch.source("accounts").connect() as connection:
        expected = connection.exec_driver_sql("select count(*) from users").scalar()

    sync.run(sync.SyncRequest(sources=("accounts",), full_refresh=True))

    with launch.warehouse.connect() as connection:
        seen = connection.exec_driver_sql("select count(*) from public.users_seen").scalar()
    assert seen == expected


def test_full_refresh_of_a_table_emptied_at_the_source_empties_it(launch: Launch) -> None:  # noqa: F811
    sync.run(sync.SyncRequest())
    with launch.source("grading").connect() as connection:
        connection.exec_driver_sql("delete from submission_status_events")

    sync.run(sync.SyncRequest(sources=("grading",), full_refresh=True))

    with launch.warehouse.connect() as connection:
        left = connection.exec_driver_sql(
            "select count(*) from raw_grading.submission_status_events"
        )
        assert left.scalar() == 0


def test_full_refresh_after_a_source_lost_every_row_empties_its_table(
    launch: Launch,  # noqa: F811
    tmp_path: Path,
) -> None:
    simulator.advance(launch.demo, hours=24)
    sync.run(sync.SyncRequest(sources=("vault",)))
    with launch.source("vault").connect() as connection:
        connection.exec_driver_sql("delete from vault_items")
    # As on another machine, or after `make clean`: dlt's folder is gone.
    shutil.rmtree(tmp_path / "dlt")

    sync.run(sync.SyncRequest(sources=("vault",), full_refresh=True))

    with launch.warehouse.connect() as connection:
        left = connection.exec_driver_sql("select count(*) from raw_vault.vault_items")
        assert left.scalar() == 0
