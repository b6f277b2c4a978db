"""Tests of incremental models read the rows written since they last passed, and no fewer."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from ingestion.local_server import LocalServer
from tests.dbt.launch import BuiltLaunch, built_launch

MODEL = "stg_accounts__users"
CHECK = "accepted_values_stg_accounts__users_legacy_system"


@pytest.fixture(scope="module")
def launch(
    server: LocalServer, admin_url: sa.URL, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BuiltLaunch]:
    folder = tmp_path_factory.mktemp("dbt-tested-rows")
    with built_launch(server, admin_url, folder, scale=200, steps=[8]) as built:
        yield built


def _failed(launch: BuiltLaunch) -> list[str]:
    results = json.loads((launch.target / "run_results.json").read_text())["results"]
    return [result["unique_id"] for result in results if result["status"] == "fail"]


def _execute(launch: BuiltLaunch, statement: str, **values: object) -> None:
    with launch.admin.begin() as connection:
        connection.execute(sa.text(statement), values)


def test_a_scoped_test_skips_rows_it_passed_and_test_all_rows_reads_them(
    launch: BuiltLaunch,
) -> None:
    # A row changed behind dbt's back, without a new `_built_at`: a scoped test
    # has checked it already, so only `test_all_rows` reads it again.
    _execute(
        launch,
        "update staging.stg_accounts__users set legacy_system = 'bogus'"
        " where user_id = (select min(user_id) from staging.stg_accounts__users)",
    )
    try:
        assert launch.dbt("test", "--select", MODEL) == 0
        assert launch.dbt("test", "--select", MODEL, "--vars", "{test_all_rows: true}") != 0
        assert any(CHECK in unique_id for unique_id in _failed(launch))
    finally:
        assert launch.dbt("run", "--full-refresh", "--select", MODEL) == 0


def test_a_failing_row_fails_every_build_until_it_is_fixed(launch: BuiltLaunch) -> None:
    latest = "(select max(updated_at) from raw_accounts.users)"
    culprit = "(select min(id) from raw_accounts.users where legacy_system is not null)"
    # A bad value arrives with the latest change; another row arrives two hours
    # later, so the next run's lookback no longer rewrites the bad one.
    _execute(
        launch,
        f"update raw_accounts.users set legacy_system = 'bogus', updated_at = {latest}"  # noqa: S608
        f" where id = {culprit}",
    )
    _execute(
        launch,
        f"update raw_accounts.users set updated_at = {latest} + interval '2 hours'"  # noqa: S608
        " where id = (select max(id) from raw_accounts.users)",
    )
    assert launch.dbt("build", "--select", MODEL) != 0
    assert any(CHECK in unique_id for unique_id in _failed(launch))

    assert launch.dbt("build", "--select", MODEL) != 0, "the failure was forgotten"
    assert any(CHECK in unique_id for unique_id in _failed(launch))

    _execute(
        launch,
        f"update raw_accounts.users set legacy_system = 'grading',"  # noqa: S608
        f" updated_at = {latest} + interval '1 hour' where legacy_system = 'bogus'",
    )
    assert launch.dbt("build", "--select", MODEL) == 0
