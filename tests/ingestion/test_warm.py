"""A worker's syncs (`sync --every`) reuse what they planned, and still see every change."""

from __future__ import annotations

import sqlalchemy as sa
from psycopg2 import sql

from ingestion import sync
from tests.ingestion.test_types import _fetch, shapes  # noqa: F401 - the fixture

SHAPES = sync.SyncRequest(sources=("shapes",), tables=("every_type",))


def test_worker_reads_a_column_whose_type_changed_between_two_syncs(
    shapes: tuple[sa.Engine, sa.Engine],  # noqa: F811
) -> None:
    """A text column becomes a tsvector, which connectorx reads only when cast to text."""
    source, warehouse = shapes
    warm = sync.Warm()
    sync.run(SHAPES, warm)
    with source.begin() as connection:
        connection.execute(
            sa.text(
                "alter table every_type alter column note type tsvector"
                " using to_tsvector('simple', note)"
            )
        )
        connection.execute(sa.text("update every_type set updated_at = now()"))

    (row,) = sync.run(SHAPES, warm)
    warm.dispose()

    query = sql.SQL("select id, cast(note as text) from {} order by id")
    expected = _fetch(source, query.format(sql.Identifier("public", "every_type")))
    assert _fetch(warehouse, query.format(sql.Identifier("raw_shapes", "every_type"))) == expected
    assert "'tab':1" in expected[2][1]
    assert row.status == "ok"


def test_worker_loads_a_column_added_between_two_syncs(
    shapes: tuple[sa.Engine, sa.Engine],  # noqa: F811
) -> None:
    source, warehouse = shapes
    warm = sync.Warm()
    sync.run(SHAPES, warm)
    with source.begin() as connection:
        connection.execute(sa.text("alter table every_type add column grade smallint"))
        connection.execute(sa.text("update every_type set grade = id * 2, updated_at = now()"))

    sync.run(SHAPES, warm)
    warm.dispose()

    grades = _fetch(warehouse, sql.SQL("select id, grade from raw_shapes.every_type order by id"))
    assert grades == [(1, 2), (2, 4), (3, 6)]
