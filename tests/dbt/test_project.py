"""The dbt project on a synced demo: a clean build, BI access, and a described model."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from ingestion import settings
from ingestion.local_server import LocalServer
from tests.dbt.launch import BuiltLaunch, built_launch


@pytest.fixture(scope="module")
def launch(
    server: LocalServer, admin_url: sa.URL, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BuiltLaunch]:
    folder = tmp_path_factory.mktemp("dbt-project")
    with built_launch(server, admin_url, folder, scale=400, steps=[8, 16, 24]) as built:
        yield built


def test_build_on_the_demo_has_no_warning(launch: BuiltLaunch) -> None:
    results = json.loads((launch.target / "run_results.json").read_text())
    statuses = {result["unique_id"]: result["status"] for result in results["results"]}

    assert statuses, "dbt build ran nothing"
    assert set(statuses.values()) <= {"success", "pass", "no-op"}, statuses
    assert launch.warnings() == []


def _as_bi_role(launch: BuiltLaunch, query: str) -> object:
    with launch.admin.connect() as connection:
        connection.exec_driver_sql(f'set role "{settings.bi_role()}"')
        return connection.exec_driver_sql(query).scalar()


def test_bi_role_reads_marts(launch: BuiltLaunch) -> None:
    assert _as_bi_role(launch, "select count(*) from marts.fct_launch_daily") == 3


@pytest.mark.parametrize(
    "relation",
    ["raw_accounts.users", "staging.stg_accounts__users", "snapshots.snap_vault__vault_items"],
)
def test_bi_role_cannot_read_outside_marts(launch: BuiltLaunch, relation: str) -> None:
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        _as_bi_role(launch, f"select count(*) from {relation}")  # noqa: S608 - a fixed name


def _undescribed(launch: BuiltLaunch) -> list[str]:
    manifest = json.loads((launch.target / "manifest.json").read_text())
    catalog = json.loads((launch.target / "catalog.json").read_text())
    described = {**manifest["nodes"], **manifest["sources"]}
    missing = []
    for unique_id, entry in {**catalog["nodes"], **catalog["sources"]}.items():
        node = described[unique_id]
        if not node["description"].strip():
            missing.append(unique_id)
        documented = {name: column["description"] for name, column in node["columns"].items()}
        for column in entry["columns"]:
            if not documented.get(column, "").strip():
                missing.append(f"{unique_id}.{column}")
    return missing


def test_every_model_snapshot_source_and_column_is_described(launch: BuiltLaunch) -> None:
    assert launch.dbt("docs", "generate", "--static") == 0
    assert (launch.target / "static_index.html").stat().st_size > 0

    assert _undescribed(launch) == []


def test_docs_site_is_one_file_with_the_marts(launch: BuiltLaunch) -> None:
    site = launch.target / "static_index.html"
    if not site.exists():
        assert launch.dbt("docs", "generate", "--static") == 0
    page = site.read_text()

    assert "fct_launch_daily" in page
    assert "dim_users" in page


def test_sources_are_fresh_right_after_a_sync(launch: BuiltLaunch) -> None:
    assert launch.dbt("source", "freshness") == 0

    sources = json.loads((launch.target / "sources.json").read_text())["results"]
    assert {result["status"] for result in sources} == {"pass"}
    assert len(sources) == 12
