"""Demo sources and a warehouse of their own, the CLI run on them, and how they differ."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from ingestion import local_setup, settings, synclog
from ingestion.catalog import load_catalog
from ingestion.demo import simulator
from ingestion.demo.simulator import DEMO_SOURCES, DEMO_TABLES, DemoDatabases
from ingestion.local_server import LocalServer
from ingestion.pipeline import DELETED_AT
from tests.helpers import ALL_SETTINGS, REPOSITORY

GO_LIVE = datetime(2026, 6, 1, 16, tzinfo=UTC)
KEYS = {"submission_statuses": ("code",)}
# Both sides render values as text in the same time zone.
UTC_SESSION = {"options": "-c timezone=UTC"}


@dataclass(frozen=True)
class Demo:
    """Demo sources at go-live plus some hours, an empty warehouse, and the settings for both."""

    demo: DemoDatabases
    folder: Path
    variables: dict[str, str]

    @property
    def warehouse_url(self) -> sa.URL:
        """The loader's URL of this demo's warehouse."""
        return settings.warehouse().url().set(database=self.variables["WAREHOUSE_DB"])

    def cli(self, *arguments: str, **overrides: str) -> subprocess.Popen[str]:
        """Start `python -m ingestion` on this demo; `overrides` replace settings."""
        return subprocess.Popen(
            [sys.executable, "-m", "ingestion", *arguments],
            cwd=self.folder,
            env={**os.environ, **self.variables, **overrides, "PYTHONPATH": str(REPOSITORY)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *arguments: str, **overrides: str) -> tuple[int, str, str]:
        """Run `python -m ingestion` to its end: exit code, stdout, stderr."""
        process = self.cli(*arguments, **overrides)
        stdout, stderr = process.communicate(timeout=600)
        return process.returncode, stdout, stderr

    def secrets(self) -> dict[str, str]:
        """Every password and the salt, as the settings hold them."""
        found = {
            "warehouse password": settings.warehouse().password,
            "PII_HASH_SALT": settings.pii_hash_salt(),
        }
        for source in DEMO_SOURCES:
            found[f"{source} password"] = str(settings.source_url(source).password)
        return found


def _environment_free() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if name in ALL_SETTINGS or name.startswith("SOURCE_")
    }


@contextmanager
def demo_databases(
    server: LocalServer, admin_url: sa.URL, folder: Path, *, scale: int, hours: float = 12
) -> Iterator[Demo]:
    """A provisioned `.env` in `folder`, demo sources at `scale` and an empty warehouse.

    The process's working directory becomes `folder`, and settings from the environment
    are cleared, as for a user who runs the CLI there.
    """
    prefix = f"q{uuid.uuid4().hex[:8]}"
    demo = DemoDatabases(
        admin_url=admin_url, names={source: f"{prefix}_{source}" for source in DEMO_SOURCES}
    )
    saved, cwd = _environment_free(), Path.cwd()
    for name in saved:
        del os.environ[name]
    os.chdir(folder)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        local_setup.write_env(server, folder / ".env", source_port=server.port)
        local_setup.provision(server)
        simulator.init(demo, scale=scale, seed=9, go_live_at=GO_LIVE)
        simulator.advance(demo, hours=hours)
        with admin.connect() as connection:
            connection.exec_driver_sql(f'create database "{prefix}_warehouse" owner analytics')
        variables = {
            settings.source_url_setting(source): settings.source_url(source)
            .set(database=demo.names[source])
            .render_as_string(hide_password=False)
            for source in DEMO_SOURCES
        }
        variables |= {"WAREHOUSE_DB": f"{prefix}_warehouse", "PIPELINES_DIR": str(folder / "dlt")}
        os.environ.update(variables)
        yield Demo(demo=demo, folder=folder, variables=variables)
    finally:
        for name in (*ALL_SETTINGS, *(settings.source_url_setting(s) for s in DEMO_SOURCES)):
            os.environ.pop(name, None)
        os.environ.update(saved)
        os.chdir(cwd)
        simulator.drop(demo)
        with admin.connect() as connection:
            connection.exec_driver_sql(f'drop database if exists "{prefix}_warehouse" with (force)')
        admin.dispose()


def _hidden_columns() -> dict[str, set[str]]:
    """The columns the warehouse keeps only hashed or not at all, by table."""
    catalog = load_catalog()
    return {
        table: set(override.pii)
        for source in catalog.sources.values()
        for table, override in source.overrides.items()
    }


def _rows(
    engine: sa.Engine, schema: str | None, table: str, columns: list[str], live_only: bool
) -> dict[tuple, tuple]:
    relation = sa.table(table, *(sa.column(name) for name in columns), schema=schema)
    key = KEYS.get(table, ("id",))
    query = sa.select(
        *(relation.c[name] for name in key),
        *(sa.cast(relation.c[name], sa.Text) for name in columns),
    )
    if live_only:
        query = query.where(sa.column(DELETED_AT).is_(None))
    with engine.connect() as connection:
        return {tuple(row[: len(key)]): tuple(row[len(key) :]) for row in connection.execute(query)}


def differences(demo: Demo) -> list[str]:
    """Every way the warehouse's live rows differ from the sources, value by value.

    Columns kept hashed or dropped are left out; everything else is compared as text.
    """
    hidden = _hidden_columns()
    warehouse = sa.create_engine(demo.warehouse_url, connect_args=UTC_SESSION)
    found: list[str] = []
    try:
        for source, tables in DEMO_TABLES.items():
            engine = sa.create_engine(demo.demo.url(source), connect_args=UTC_SESSION)
            for table in tables:
                columns = [
                    column["name"]
                    for column in sa.inspect(engine).get_columns(table)
                    if column["name"] not in hidden.get(table, set())
                ]
                expected = _rows(engine, None, table, columns, live_only=False)
                actual = _rows(warehouse, f"raw_{source}", table, columns, live_only=True)
                missing = expected.keys() - actual.keys()
                extra = actual.keys() - expected.keys()
                changed = [k for k in expected.keys() & actual.keys() if expected[k] != actual[k]]
                found += [f"{source}.{table}: missing key {key}" for key in sorted(missing)]
                found += [f"{source}.{table}: extra key {key}" for key in sorted(extra)]
                found += [f"{source}.{table}: key {key} differs" for key in sorted(changed)]
            engine.dispose()
    finally:
        warehouse.dispose()
    return found


def duplicate_keys(demo: Demo) -> dict[str, int]:
    """Loaded tables whose key appears more than once, with how many extra rows."""
    warehouse = sa.create_engine(demo.warehouse_url)
    found = {}
    with warehouse.connect() as connection:
        for source, tables in DEMO_TABLES.items():
            for table in tables:
                if not sa.inspect(connection).has_table(table, schema=f"raw_{source}"):
                    continue
                key = KEYS.get(table, ("id",))[0]
                relation = sa.table(table, sa.column(key), schema=f"raw_{source}")
                extra = connection.execute(
                    sa.select(sa.func.count() - sa.func.count(relation.c[key].distinct()))
                ).scalar_one()
                if extra:
                    found[f"{source}.{table}"] = extra
    warehouse.dispose()
    return found


def sync_log(demo: Demo) -> list[synclog.TableSync]:
    """Every row of ingestion.table_syncs, oldest first."""
    warehouse = sa.create_engine(demo.warehouse_url)
    with warehouse.connect() as connection:
        rows = connection.execute(
            sa.select(synclog.table_syncs).order_by(synclog.table_syncs.c.started_at)
        )
        found = [synclog.TableSync(**row._mapping) for row in rows]
    warehouse.dispose()
    return found
