"""`sync --full-refresh` starts tables over without breaking what reads them."""

from __future__ import annotations

from ingestion import sync
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
