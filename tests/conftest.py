"""One throwaway PostgreSQL server for the whole test run, started by the tests."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from psycopg2 import sql

from ingestion import local_server, local_setup, settings
from ingestion.demo.simulator import DEMO_SOURCES
from ingestion.local_server import LocalServer
from tests.helpers import ALL_SETTINGS
from tests.servers import make_server


@pytest.fixture(scope="session")
def server() -> Iterator[LocalServer]:
    """The run's server; its folder is short so that its Unix socket path fits."""
    folder = Path(tempfile.mkdtemp(prefix="ingestion-test-"))
    instance = make_server(folder)
    local_server.start(instance)
    yield instance
    local_server.stop(instance)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def admin_url(server: LocalServer) -> sa.URL:
    """The superuser of the run's server, database `postgres`."""
    return local_server.admin_url(server)


@pytest.fixture
def fresh_database(admin_url: sa.URL) -> Iterator[str]:
    """A new empty database for one test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.connection.cursor().execute(
            sql.SQL("create database {}").format(sql.Identifier(name))
        )
    yield name
    with engine.connect() as connection:
        connection.connection.cursor().execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )
    engine.dispose()


@pytest.fixture
def provisioned(server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder whose fresh .env points at the run's server, provisioned."""
    monkeypatch.chdir(tmp_path)
    for name in ALL_SETTINGS + [settings.source_url_setting(s) for s in DEMO_SOURCES]:
        monkeypatch.delenv(name, raising=False)
    assert local_setup.write_env(server, tmp_path / ".env", source_port=server.port) is True
    local_setup.provision(server)
    return tmp_path / ".env"
