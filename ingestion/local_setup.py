"""Point a fresh checkout at the embedded server: a `.env`, the warehouse and its roles.

`write_env` writes a `.env` only where none exists. `provision` then makes the roles and
the warehouse database that the settings describe exist on the local server (with the
passwords the settings hold), so it also repairs a server folder that was deleted while
`.env` was kept. Settings that point at another server are left alone.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import sqlalchemy as sa
from psycopg2 import extensions, sql
from sqlalchemy import URL

from ingestion import settings
from ingestion.demo.simulator import DEMO_SOURCES
from ingestion.local_server import HOST, LocalServer, admin_url

log = logging.getLogger(__name__)

WAREHOUSE_USER = "analytics"
WAREHOUSE_DB = "warehouse"
SOURCE_READER = "replica_reader"
LOCAL_HOSTS = {HOST, "localhost"}


def write_env(server: LocalServer, path: Path, source_port: int) -> bool:
    """Write a `.env` for the local server unless one exists; returns whether it wrote.

    The sources are read on `source_port`: the demo's standby, a real read replica.
    """
    if path.exists():
        log.info("keeping the existing %s", path)
        return False
    reader_password = secrets.token_urlsafe(24)
    lines = [
        "# Written by `ingestion local setup` for the embedded PostgreSQL server.",
        "# Every setting is explained in .env.example. Never commit this file.",
        f"LOCAL_PG_PORT={server.port}",
        f"WAREHOUSE_HOST={HOST}",
        f"WAREHOUSE_PORT={server.port}",
        f"WAREHOUSE_USER={WAREHOUSE_USER}",
        f"WAREHOUSE_DB={WAREHOUSE_DB}",
        f"DBT_ENV_SECRET_WAREHOUSE_PASSWORD={secrets.token_urlsafe(24)}",
        *(
            f"{settings.source_url_setting(source)}="
            + _reader_url(source_port, source, reader_password).render_as_string(
                hide_password=False
            )
            for source in DEMO_SOURCES
        ),
        f"GO_LIVE_AT={settings.DEFAULT_GO_LIVE_AT}",
        f"PII_HASH_SALT={secrets.token_urlsafe(32)}",
        f"BI_ROLE={settings.DEFAULT_BI_ROLE}",
    ]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    log.info("wrote %s for the local server on port %s", path, server.port)
    return True


def provision(server: LocalServer, standby_port: int | None = None) -> None:
    """Create the roles and the warehouse that the settings name on the local server.

    Roles of sources read on the standby are created on the server, which it copies.
    """
    warehouse = settings.warehouse()
    engine = sa.create_engine(admin_url(server), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            cursor = connection.connection.cursor()
            if _is_local(server, warehouse.host, warehouse.port):
                _ensure_role(cursor, warehouse.user, warehouse.password)
                _ensure_database(cursor, warehouse.database, warehouse.user)
                _ensure_role(cursor, settings.bi_role(), None)
            readers = {settings.source_url(source) for source in DEMO_SOURCES}
            for username, password in {
                (url.username, url.password)
                for url in readers
                if url.username
                and (
                    _is_local(server, url.host, url.port)
                    or (url.host in LOCAL_HOSTS and url.port == standby_port)
                )
            }:
                _ensure_role(cursor, username, password)
                _grant_read_only(cursor, username)
    finally:
        engine.dispose()


def _reader_url(port: int, source: str, password: str) -> URL:
    return URL.create(
        "postgresql",
        username=SOURCE_READER,
        password=password,
        host=HOST,
        port=port,
        database=source,
    )


def _is_local(server: LocalServer, host: str | None, port: int | None) -> bool:
    return host in LOCAL_HOSTS and (port or 5432) == server.port


def _ensure_role(cursor: extensions.cursor, name: str, password: str | None) -> None:
    cursor.execute("select 1 from pg_roles where rolname = %s", (name,))
    verb = "alter" if cursor.fetchone() else "create"
    if password is None:
        if verb == "create":
            cursor.execute(sql.SQL("create role {} nologin").format(sql.Identifier(name)))
        return
    statement = sql.SQL("{} role {} login password %s").format(sql.SQL(verb), sql.Identifier(name))
    cursor.execute(statement, (password,))
    log.info("%s role %s", "updated" if verb == "alter" else "created", name)


def _ensure_database(cursor: extensions.cursor, name: str, owner: str) -> None:
    cursor.execute("select 1 from pg_database where datname = %s", (name,))
    if cursor.fetchone():
        return
    cursor.execute(
        sql.SQL("create database {} owner {}").format(sql.Identifier(name), sql.Identifier(owner))
    )
    log.info("created database %s", name)


def _grant_read_only(cursor: extensions.cursor, role: str) -> None:
    """The source role reads everything and, by default, writes nothing."""
    cursor.execute(sql.SQL("grant pg_read_all_data to {}").format(sql.Identifier(role)))
    cursor.execute(
        sql.SQL("alter role {} set default_transaction_read_only = on").format(sql.Identifier(role))
    )
