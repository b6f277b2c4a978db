"""Incremental models after another step of the launch equal a rebuild from scratch."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

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


# fct_time_in_status as percentile_cont computes it, straight from fct_status_history.
TIME_IN_STATUS = """
select
    entity_type,
    status,
    count(distinct entity_id),
    round(cast(percentile_cont(0.5) within group (order by hours_in_status) as numeric), 2),
    round(cast(percentile_cont(0.9) within group (order by hours_in_status) as numeric), 2)
from marts.fct_status_history
where is_ended_by_change
group by 1, 2
"""


@dataclass(frozen=True)
class Runs:
    """Each incremental model after an incremental run and after a full rebuild; and
    fct_time_in_status after the incremental run with what percentile_cont says."""

    models: dict[str, tuple[Rows, Rows]]
    time_in_status: tuple[Rows, Rows]


@pytest.fixture(scope="module")
def runs(
    server: LocalServer, admin_url: sa.URL, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Runs]:
    folder = tmp_path_factory.mktemp("dbt-incremental")
    with built_launch(server, admin_url, folder, scale=300, steps=[8, 16]) as launch:
        launch.step(24)
        assert launch.dbt("build") == 0
        incremental = {relation: _rows(launch, relation) for relation in INCREMENTAL}
        with launch.warehouse.connect() as connection:
            expected = sorted(map(tuple, connection.exec_driver_sql(TIME_IN_STATUS)), key=repr)
        time_in_status = _rows(launch, "marts.fct_time_in_status")
        names = [relation.split(".")[1] for relation in INCREMENTAL]
        assert launch.dbt("run", "--full-refresh", "--select", *names) == 0
        rebuilt = {relation: _rows(launch, relation) for relation in INCREMENTAL}
        yield Runs(
            {relation: (incremental[relation], rebuilt[relation]) for relation in INCREMENTAL},
            (time_in_status, expected),
        )


@pytest.mark.parametrize("relation", INCREMENTAL)
def test_incremental_run_equals_a_full_rebuild(runs: Runs, relation: str) -> None:
    incremental, rebuilt = runs.models[relation]
    assert len(incremental) > 0
    assert incremental == rebuilt


def test_time_in_status_read_from_indexes_equals_percentile_cont(runs: Runs) -> None:
    built, expected = runs.time_in_status
    assert len(expected) >= 5
    assert built == expected
