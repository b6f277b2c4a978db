"""A warehouse built by the dbt project from demo databases synced as `make demo` does."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from ingestion import dbt_runner, local_setup, settings, sync
from ingestion.demo import simulator
from ingestion.demo.simulator import DEMO_SOURCES, DemoDatabases
from ingestion.local_server import LocalServer
from tests.helpers import ALL_SETTINGS, REPOSITORY

GO_LIVE = datetime(2026, 6, 1, 16, tzinfo=UTC)


@dataclass(frozen=True)
class BuiltLaunch:
    """Demo sources, their warehouse after syncs and dbt, and where dbt wrote."""

    demo: DemoDatabases
    warehouse: sa.Engine
    admin: sa.Engine
    folder: Path

    @property
    def target(self) -> Path:
        """dbt's target folder for this warehouse."""
        return self.folder / "target"

    def dbt(self, *arguments: str) -> int:
        """Run dbt on this warehouse; returns its exit code."""
        return dbt_runner.run(
            "dbt",
            [
                *arguments,
                "--target-path",
                str(self.target),
                "--log-path",
                str(self.folder / "logs"),
                "--log-format-file",
                "json",
            ],
            REPOSITORY,
        )

    def warnings(self) -> list[str]:
        """Every warning dbt logged so far, as its message."""
        log = self.folder / "logs" / "dbt.log"
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        return [line["info"]["msg"] for line in lines if line["info"]["level"] == "warn"]

    def step(self, hours: float) -> None:
        """One step of the simulated launch: advance, sync, snapshot."""
        simulator.advance(self.demo, hours=hours)
        sync.run(sync.SyncRequest())
        assert self.dbt("snapshot") == 0


@contextmanager
def built_launch(
    server: LocalServer,
    admin_url: sa.URL,
    folder: Path,
    *,
    scale: int,
    steps: Sequence[float],
    build: bool = True,
) -> Iterator[BuiltLaunch]:
    """Demo databases at `scale`, synced and snapshotted after each step, then `dbt build`."""
    prefix = f"d{uuid.uuid4().hex[:8]}"
    demo = DemoDatabases(
        admin_url=admin_url, names={source: f"{prefix}_{source}" for source in DEMO_SOURCES}
    )
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        for name in ALL_SETTINGS + [settings.source_url_setting(s) for s in DEMO_SOURCES]:
            patch.delenv(name, raising=False)
        local_setup.write_env(server, folder / ".env", source_port=server.port)
        local_setup.provision(server)
        simulator.init(demo, scale=scale, seed=3, go_live_at=GO_LIVE)
        for source in DEMO_SOURCES:
            url = settings.source_url(source).set(database=demo.names[source])
            patch.setenv(
                settings.source_url_setting(source), url.render_as_string(hide_password=False)
            )
        with admin.connect() as connection:
            connection.exec_driver_sql(f'create database "{prefix}_warehouse" owner analytics')
        patch.setenv("WAREHOUSE_DB", f"{prefix}_warehouse")
        patch.setenv("PIPELINES_DIR", str(folder / "dlt"))
        warehouse = sa.create_engine(settings.warehouse().url())
        superuser = sa.create_engine(admin_url.set(database=f"{prefix}_warehouse"))
        launch = BuiltLaunch(demo=demo, warehouse=warehouse, admin=superuser, folder=folder)
        sync.run(sync.SyncRequest(full_refresh=True))
        assert launch.dbt("snapshot") == 0
        for hours in steps:
            launch.step(hours)
        if build:
            assert launch.dbt("build") == 0
        try:
            yield launch
        finally:
            warehouse.dispose()
            superuser.dispose()
            simulator.drop(demo)
            with admin.connect() as connection:
                connection.exec_driver_sql(f'drop database "{prefix}_warehouse" with (force)')
            admin.dispose()
