"""`ingestion local setup`: a .env for the embedded server and the roles it names."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from psycopg2 import errors

from ingestion import local_setup, settings
from ingestion.demo.simulator import DEMO_SOURCES
from ingestion.local_server import LocalServer


def test_env_file_names_every_setting_and_is_kept(provisioned: Path, server: LocalServer) -> None:
    written = provisioned.read_text()

    assert local_setup.write_env(server, provisioned, source_port=server.port) is False
    assert provisioned.read_text() == written
    assert provisioned.stat().st_mode & 0o077 == 0
    for name in ["DBT_ENV_SECRET_WAREHOUSE_PASSWORD", "PII_HASH_SALT", "GO_LIVE_AT", "BI_ROLE"]:
        assert f"\n{name}=" in written
    assert settings.warehouse().port == server.port
    assert {settings.source_url(s).database for s in DEMO_SOURCES} == set(DEMO_SOURCES)


def test_warehouse_role_owns_the_warehouse(provisioned: Path) -> None:
    engine = sa.create_engine(settings.warehouse().url())
    with engine.begin() as connection:
        connection.execute(sa.text("create schema if not exists raw_probe"))
        owner = connection.execute(
            sa.text("select pg_get_userbyid(datdba) from pg_database where datname = :db"),
            {"db": settings.warehouse().database},
        ).scalar_one()
    engine.dispose()
    assert owner == settings.warehouse().user


def test_source_role_reads_but_cannot_write(provisioned: Path, fresh_database: str) -> None:
    url = settings.source_url("accounts").set(database=fresh_database)
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(sa.text("select count(*) from pg_class")).scalar_one() > 0
        with pytest.raises(sa.exc.InternalError) as raised:
            connection.execute(sa.text("create table written (id int)"))
    engine.dispose()
    assert isinstance(raised.value.orig, errors.ReadOnlySqlTransaction)


def test_provision_restores_passwords_kept_in_env(
    provisioned: Path, server: LocalServer, admin_url: sa.URL
) -> None:
    """A server folder deleted while .env was kept: setup gives the roles their passwords back."""
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text("alter role analytics password 'something-else'"))
    engine.dispose()
    warehouse = sa.create_engine(settings.warehouse().url())
    with pytest.raises(sa.exc.OperationalError, match="password authentication failed"):
        warehouse.connect()

    local_setup.provision(server)

    with warehouse.connect() as connection:
        assert connection.execute(sa.text("select current_user")).scalar_one() == "analytics"
    warehouse.dispose()
