"""Merges and the delete check keep the warehouse equal to the source through every change."""

from __future__ import annotations

import sqlalchemy as sa
from psycopg2 import sql

from ingestion import sync
from tests.ingestion.test_types import _fetch, shapes  # noqa: F401 - the fixture


def test_a_key_deleted_and_inserted_again_is_live_after_the_next_sync(
    shapes: tuple[sa.Engine, sa.Engine],  # noqa: F811
) -> None:
    """The merge updates the returning row in place; the delete check clears its mark."""
    source, warehouse = shapes
    request = sync.SyncRequest(sources=("shapes",), tables=("sparse", "no_key"))
    sync.run(request)
    with source.begin() as connection:
        connection.execute(sa.text("delete from sparse where id = 6"))
        connection.execute(sa.text("delete from no_key where label = 'one'"))
    sync.run(request)
    with source.begin() as connection:
        connection.execute(sa.text("insert into sparse (id) values (6)"))
        connection.execute(sa.text("insert into no_key values ('one', 1.75)"))

    rows = sync.run(request)

    live = _fetch(
        warehouse,
        sql.SQL(
            "select id, _ingestion_deleted_at is null from raw_shapes.sparse where id = 6"
            " union all select amount, _ingestion_deleted_at is null"
            " from raw_shapes.no_key where label = 'one'"
        ),
    )
    assert sorted(live) == [(1.75, True), (6, True)]
    assert [row.status for row in rows] == ["ok", "ok"]
