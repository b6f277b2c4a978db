"""fct_launch_daily after the demo's syncs equals the metrics computed from the sources."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from psycopg2 import sql

from ingestion import dbt_runner, settings, sync
from ingestion.demo import simulator
from ingestion.demo.simulator import DEMO_SOURCES, DemoDatabases
from tests.dbt.launch_expectations import (
    COLUMN_TYPES,
    COLUMNS,
    VaultItemState,
    differences,
    expected_launch_daily,
    first_seen_stored,
    record_vault_items,
)
from tests.helpers import REPOSITORY

SCALE = 1500
# With this seed, the long last step holds a vault item stored and withdrawn again between
# two recordings (never seen stored, so never counted) and one seen stored, then withdrawn.
SEED = 12
# The demo's steps (8 h, 16 h, 24 h), then four more days in one step, so that stored
# items show up on several days.
STEP_HOURS = (8, 16, 24, 96)


@dataclass(frozen=True)
class Launch:
    """Demo databases, a warehouse of their own, and where dbt writes its output."""

    demo: DemoDatabases
    warehouse: sa.Engine
    dbt_folder: Path

    def sources(self) -> dict[str, sa.Engine]:
        """The superuser on each demo database, to read what production holds."""
        return {source: sa.create_engine(self.demo.url(source)) for source in DEMO_SOURCES}

    def dbt(self, *arguments: str) -> int:
        """Run dbt on the repository's project, writing its target and logs under tmp."""
        return dbt_runner.run(
            "dbt",
            [
                *arguments,
                "--target-path",
                str(self.dbt_folder / "target"),
                "--log-path",
                str(self.dbt_folder / "logs"),
            ],
            REPOSITORY,
        )


def _execute(engine: sa.Engine, statement: sql.Composable) -> None:
    with engine.connect() as connection:
        connection.connection.cursor().execute(statement)


@pytest.fixture
def launch(
    provisioned: Path, admin_url: sa.URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Launch]:
    prefix = f"m{uuid.uuid4().hex[:8]}"
    demo = DemoDatabases(
        admin_url=admin_url, names={source: f"{prefix}_{source}" for source in DEMO_SOURCES}
    )
    simulator.init(demo, scale=SCALE, seed=SEED, go_live_at=settings.go_live_at())
    for source in DEMO_SOURCES:
        url = settings.source_url(source).set(database=demo.names[source])
        monkeypatch.setenv(
            settings.source_url_setting(source), url.render_as_string(hide_password=False)
        )
    warehouse_db = f"{prefix}_warehouse"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    _execute(
        admin,
        sql.SQL("create database {} owner analytics").format(sql.Identifier(warehouse_db)),
    )
    monkeypatch.setenv("WAREHOUSE_DB", warehouse_db)
    monkeypatch.setenv("PIPELINES_DIR", str(tmp_path / "dlt"))
    profiles = tmp_path / "dbt" / "profiles"
    profiles.mkdir(parents=True)
    shutil.copyfile(REPOSITORY / dbt_runner.EXAMPLE_PROFILES, profiles / "profiles.yml")
    monkeypatch.setenv("DBT_PROFILES_DIR", str(profiles))
    warehouse = sa.create_engine(settings.warehouse().url())
    yield Launch(demo=demo, warehouse=warehouse, dbt_folder=tmp_path / "dbt")
    warehouse.dispose()
    simulator.drop(demo)
    _execute(
        admin,
        sql.SQL("drop database {} with (force)").format(sql.Identifier(warehouse_db)),
    )
    admin.dispose()


def _sync_snapshot_and_record(
    launch: Launch, vault: sa.Engine, *, full_refresh: bool = False
) -> tuple[VaultItemState, ...]:
    rows = sync.run(sync.SyncRequest(full_refresh=full_refresh))
    assert {row.status for row in rows} == {"ok"}
    assert launch.dbt("snapshot") == 0, "dbt snapshot failed"
    return record_vault_items(vault)


def _mart_types(launch: Launch) -> dict[str, str]:
    with launch.warehouse.connect() as connection:
        cursor = connection.connection.cursor()
        cursor.execute(
            "select column_name, data_type from information_schema.columns"
            " where table_schema = 'marts' and table_name = 'fct_launch_daily'"
            " order by ordinal_position"
        )
        return dict(cursor.fetchall())


def _mart_rows(launch: Launch) -> list[tuple]:
    with launch.warehouse.connect() as connection:
        cursor = connection.connection.cursor()
        cursor.execute(
            sql.SQL("select {} from marts.fct_launch_daily order by 1").format(
                sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
            )
        )
        return cursor.fetchall()


def test_fct_launch_daily_equals_the_metrics_computed_from_the_sources(launch: Launch) -> None:
    sources = launch.sources()
    recordings = [_sync_snapshot_and_record(launch, sources["vault"], full_refresh=True)]
    for hours in STEP_HOURS:
        simulator.advance(launch.demo, hours=hours)
        recordings.append(_sync_snapshot_and_record(launch, sources["vault"]))

    built = launch.dbt("build")

    expected = expected_launch_daily(sources, settings.go_live_at(), recordings)
    for engine in sources.values():
        engine.dispose()
    for position, name in enumerate(COLUMNS[1:], start=1):
        busy_days = sum(1 for row in expected if row[position])
        assert busy_days >= 2, f"the demo is too small: {name} is non-zero on {busy_days} day(s)"
    seen_stored = first_seen_stored(recordings)
    withdrawn = {state.item_id for state in recordings[-1] if state.status == "withdrawn"}
    assert withdrawn - seen_stored.keys(), "no item went from stored to withdrawn unseen"
    assert withdrawn & seen_stored.keys(), "no item was seen stored, then withdrawn"
    assert _mart_types(launch) == COLUMN_TYPES
    found = differences(expected, _mart_rows(launch))
    assert not found, "fct_launch_daily differs from the sources:\n" + "\n".join(found)
    assert built == 0, "dbt build failed"
