"""Incremental models after another step of the launch equal a rebuild from scratch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from ingestion.local_server import LocalServer
from tests.dbt.launch import BuiltLaunch, built_launch

INCREMENTAL = ["intermediate.int_submissions_status_history", "marts.dim_users"]


@pytest.fixture(scope="module")
def launch(
    server: LocalServer, admin_url: sa.URL, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BuiltLaunch]:
    folder = tmp_path_factory.mktemp("dbt-incremental")
    with built_launch(server, admin_url, folder, scale=300, steps=[8, 16]) as built:
        yield built


def _rows(launch: BuiltLaunch, relation: str) -> list[tuple[object, ...]]:
    with launch.warehouse.connect() as connection:
        # A fixed name from INCREMENTAL, not input.
        query = f"select * from {relation} order by 1, 2, 3"  # noqa: S608
        return [tuple(row) for row in connection.exec_driver_sql(query)]


@pytest.mark.parametrize("relation", INCREMENTAL)
def test_incremental_run_equals_a_full_rebuild(launch: BuiltLaunch, relation: str) -> None:
    launch.step(24)
    assert launch.dbt("build") == 0
    incremental = _rows(launch, relation)

    assert launch.dbt("run", "--full-refresh", "--select", relation.split(".")[1]) == 0

    rebuilt = _rows(launch, relation)
    assert len(incremental) > 0
    assert incremental == rebuilt
