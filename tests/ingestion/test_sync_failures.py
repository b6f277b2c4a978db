"""A sync that cannot run says so in one line, and one that dies loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from ingestion import settings
from ingestion.demo import simulator
from ingestion.demo.simulator import DEMO_SOURCES, DemoDatabases
from tests.helpers import REPOSITORY

GO_LIVE = datetime(2026, 6, 1, 16, tzinfo=UTC)


@pytest.fixture
def environment(
    provisioned: Path, admin_url: sa.URL, tmp_path: Path
) -> Iterator[tuple[dict[str, str], DemoDatabases]]:
    """Settings for a CLI run against demo databases and a warehouse of their own."""
    prefix = f"f{uuid.uuid4().hex[:8]}"
    demo = DemoDatabases(
        admin_url=admin_url, names={source: f"{prefix}_{source}" for source in DEMO_SOURCES}
    )
    simulator.init(demo, scale=20_000, seed=9, go_live_at=GO_LIVE)
    simulator.advance(demo, hours=12)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'create database "{prefix}_warehouse" owner analytics')
    variables = {
        settings.source_url_setting(source): settings.source_url(source)
        .set(database=demo.names[source])
        .render_as_string(hide_password=False)
        for source in DEMO_SOURCES
    }
    variables |= {"WAREHOUSE_DB": f"{prefix}_warehouse", "PIPELINES_DIR": str(tmp_path / "dlt")}
    yield variables, demo
    simulator.drop(demo)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'drop database "{prefix}_warehouse" with (force)')
    admin.dispose()


def _cli(*arguments: str, cwd: Path, variables: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ingestion", *arguments],
        cwd=cwd,
        env={**os.environ, **variables, "PYTHONPATH": str(REPOSITORY)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=300)
    return process.returncode, stdout, stderr


def test_wrong_source_password_is_one_line_naming_the_source(
    provisioned: Path, environment: tuple[dict[str, str], DemoDatabases]
) -> None:
    variables, _ = environment
    url = sa.make_url(variables["SOURCE_VAULT_URL"])
    variables = {
        **variables,
        "SOURCE_VAULT_URL": url.set(password="wrong-pass-123").render_as_string(
            hide_password=False
        ),
    }

    code, _, stderr = _finish(
        _cli("sync", "--source", "vault", cwd=provisioned.parent, variables=variables)
    )

    lines = [line for line in stderr.splitlines() if line.startswith("ingestion:")]
    assert code == 1
    assert len(lines) == 1
    assert lines[0].startswith("ingestion: source vault: cannot connect")
    assert "wrong-pass-123" not in stderr
    assert "Traceback" not in stderr


def test_cursor_with_nulls_is_named(
    provisioned: Path, environment: tuple[dict[str, str], DemoDatabases]
) -> None:
    variables, demo = environment
    engine = sa.create_engine(demo.url("grading"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql("alter table submissions alter updated_at drop not null")
        connection.exec_driver_sql("update submissions set updated_at = null where id = 7")
    engine.dispose()

    code, _, stderr = _finish(
        _cli("sync", "--source", "grading", cwd=provisioned.parent, variables=variables)
    )

    assert code == 1
    assert (
        "ingestion: source grading, table submissions: cursor column updated_at has NULLs" in stderr
    )


def _duplicates_and_counts(variables: dict[str, str], demo: DemoDatabases) -> dict[str, tuple]:
    warehouse = sa.create_engine(settings.warehouse().url().set(database=variables["WAREHOUSE_DB"]))
    found = {}
    for source, tables in simulator.DEMO_TABLES.items():
        source_engine = sa.create_engine(demo.url(source))
        for table in tables:
            key = "code" if table == "submission_statuses" else "id"
            with warehouse.connect() as connection:
                duplicates, live = connection.exec_driver_sql(
                    f"select count(*) - count(distinct {key}),"  # noqa: S608 - fixed names
                    f" count(*) filter (where _ingestion_deleted_at is null)"
                    f" from raw_{source}.{table}"
                ).one()
            with source_engine.connect() as connection:
                expected = connection.exec_driver_sql(f"select count(*) from {table}").scalar()  # noqa: S608
            found[f"{source}.{table}"] = (duplicates, live, expected)
        source_engine.dispose()
    warehouse.dispose()
    return found


@pytest.mark.parametrize("delay", [1.5, 3.0, 5.0])
def test_sync_killed_midway_is_repaired_by_the_next(
    provisioned: Path, environment: tuple[dict[str, str], DemoDatabases], delay: float
) -> None:
    variables, demo = environment
    first = _cli("sync", cwd=provisioned.parent, variables=variables)
    time.sleep(delay)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)

    code, _, stderr = _finish(_cli("sync", cwd=provisioned.parent, variables=variables))

    assert code == 0, stderr[-2000:]
    for table, (duplicates, live, expected) in _duplicates_and_counts(variables, demo).items():
        assert duplicates == 0, table
        assert live == expected, table


def test_wrong_warehouse_password_is_one_line_naming_the_warehouse(
    provisioned: Path, environment: tuple[dict[str, str], DemoDatabases]
) -> None:
    variables, _ = environment
    variables = {**variables, "DBT_ENV_SECRET_WAREHOUSE_PASSWORD": "not-the-password-42"}

    code, _, stderr = _finish(_cli("sync", cwd=provisioned.parent, variables=variables))

    lines = [line for line in stderr.splitlines() if line.startswith("ingestion:")]
    assert code == 1
    assert len(lines) == 1
    assert lines[0].startswith("ingestion: warehouse: cannot connect to database")
    assert "password authentication failed" in lines[0]
    assert "not-the-password-42" not in stderr
    assert "Traceback" not in stderr
