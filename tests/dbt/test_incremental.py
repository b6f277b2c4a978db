"""Incremental models after another step of the launch equal a rebuild from scratch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from ingestion.local_server import LocalServer
from tests.dbt.launch import BuiltLaunch, built_launch

# In the order dbt builds them, so that one full-refresh run rebuilds each from
# rebuilt parents.
INCREMENTAL = [
    "staging.stg_accounts__users",
    "staging.stg_accounts__unified_accounts",
    "staging.stg_grading__submissions",
    "staging.stg_grading__submission_status_events",
    "intermediate.int_submissions_status_history",
    "intermediate.int_launch_events",
    "marts.dim_users",
    "marts.fct_status_history",
]
Rows = list[tuple[object, ...]]


def _rows(launch: BuiltLaunch, relation: str) -> Rows:
    """Every row but its `_built_at` stamp, which says when, not what."""
    schema, table = relation.split(".")
    with launch.warehouse.connect() as connection:
        columns = [
            row[0]
            for row in connection.execute(
                sa.text(
                    "select column_name from information_schema.columns"
                    " where table_schema = :schema and table_name = :table"
                    " and column_name != '_built_at' order by ordinal_position"
                ),
                {"schema": schema, "table": table},
            )
        ]
        query = sa.select(*(sa.column(name) for name in columns)).select_from(
            sa.table(table, schema=schema)
        )
        return sorted((tuple(row) for row in connection.execute(query)), key=repr)


@pytest.fixture(scope="module")
def both(
    server: LocalServer, admin_url: sa.URL, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, tuple[Rows, Rows]]]:
    """Each incremental model after an incremental run, and after a full rebuild."""
    folder = tmp_path_factory.mktemp("dbt-incremental")
    with built_launch(server, admin_url, folder, scale=300, steps=[8, 16]) as launch:
        launch.step(24)
        assert launch.dbt("build") == 0
        incremental = {relation: _rows(launch, relation) for relation in INCREMENTAL}
        names = [relation.split(".")[1] for relation in INCREMENTAL]
        assert launch.dbt("run", "--full-refresh", "--select", *names) == 0
        yield {
            relation: (incremental[relation], _rows(launch, relation)) for relation in INCREMENTAL
        }


@pytest.mark.parametrize("relation", INCREMENTAL)
def test_incremental_run_equals_a_full_rebuild(
    both: dict[str, tuple[Rows, Rows]], relation: str
) -> None:
    incremental, rebuilt = both[relation]
    assert len(incremental) > 0
    assert incremental == rebuilt
