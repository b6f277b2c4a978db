"""The sources proposal of `ingestion profile` parses with dbt, and its tests pass or warn
as they should on a warehouse synced from the demo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from psycopg2 import sql

from ingestion import settings, sync
from ingestion.demo import simulator
from ingestion.demo.simulator import DEMO_SOURCES, DemoDatabases
from ingestion.profile import dbt_sources
from tests.helpers import REPOSITORY, run_cli

GO_LIVE = datetime(2026, 6, 1, 16, tzinfo=UTC)
PROJECT = """\
name: profile_check
version: "1.0.0"
config-version: 2
profile: launch_analytics
flags:
  send_anonymous_usage_stats: false
"""


@pytest.fixture
def synced(
    provisioned: Path, admin_url: sa.URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """A demo 30 hours after go-live, synced into a warehouse; yields the settings used."""
    prefix = f"d{uuid.uuid4().hex[:8]}"
    demo = DemoDatabases(
        admin_url=admin_url, names={source: f"{prefix}_{source}" for source in DEMO_SOURCES}
    )
    simulator.init(demo, scale=1000, seed=8, go_live_at=GO_LIVE)
    simulator.advance(demo, hours=30)
    environment = {}
    for source in DEMO_SOURCES:
        url = settings.source_url(source).set(database=demo.names[source])
        environment[settings.source_url_setting(source)] = url.render_as_string(hide_password=False)
    environment["WAREHOUSE_DB"] = f"{prefix}_warehouse"
    environment["PIPELINES_DIR"] = str(tmp_path / "dlt")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.connection.cursor().execute(
            sql.SQL("create database {} owner analytics").format(
                sql.Identifier(environment["WAREHOUSE_DB"])
            )
        )
    list(sync.run(sync.SyncRequest(full_refresh=True)))
    yield environment
    simulator.drop(demo)
    with admin.connect() as connection:
        connection.connection.cursor().execute(
            sql.SQL("drop database {} with (force)").format(
                sql.Identifier(environment["WAREHOUSE_DB"])
            )
        )
    admin.dispose()


def _dbt(project: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        **settings.dbt_environment(),
        "DBT_PROFILES_DIR": str(project),
    }
    return subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), *arguments],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _orphan_submissions() -> int:
    warehouse = sa.create_engine(settings.warehouse().url())
    try:
        with warehouse.connect() as connection:
            return connection.execute(
                sa.text(
                    "select count(*) from raw_grading.submissions as submissions"
                    " where not exists (select 1 from raw_accounts.users as users"
                    " where users.id = submissions.user_id)"
                )
            ).scalar_one()
    finally:
        warehouse.dispose()


def test_proposed_sources_parse_and_their_tests_pass_or_warn_on_the_demo(
    synced: dict[str, str], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    staging = project / "models" / "staging"
    staging.mkdir(parents=True)
    (project / "dbt_project.yml").write_text(PROJECT)
    shutil.copyfile(REPOSITORY / "profiles.example.yml", project / "profiles.yml")

    profiled = run_cli(
        "profile", "--output", str(tmp_path / "out"), "--merge-into", str(staging),
        cwd=tmp_path, **synced,
    )  # fmt: skip

    assert profiled.returncode == 0, profiled.stderr[-2000:]
    for source in DEMO_SOURCES:
        proposed = tmp_path / "out" / "sources" / source / dbt_sources.file_name(source)
        merged = staging / source / dbt_sources.file_name(source)
        assert merged.read_text() == proposed.read_text()
        assert max(len(line) for line in merged.read_text().splitlines()) <= 80, source
    parsed = _dbt(project, "parse")
    assert parsed.returncode == 0, parsed.stdout[-3000:]
    assert "deprecat" not in parsed.stdout.lower(), parsed.stdout[-3000:]
    tested = _dbt(project, "test")
    assert tested.returncode == 0, tested.stdout[-3000:]
    results = json.loads((project / "target" / "run_results.json").read_text())["results"]
    statuses = {result["unique_id"]: result["status"] for result in results}
    assert len(statuses) > 40
    warned = {unique_id for unique_id, status in statuses.items() if status == "warn"}
    assert set(statuses.values()) == {"pass", "warn"}
    [orphans] = warned
    assert "relationships_grading_submissions_user_id" in orphans
    failures = next(r["failures"] for r in results if r["unique_id"] == orphans)
    assert failures == _orphan_submissions() > 0
