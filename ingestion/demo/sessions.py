"""Connections to the demo databases and running the simulator's SQL files on them."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager

import psycopg2
import sqlalchemy as sa
from psycopg2 import sql
from sqlalchemy import URL, Connection
from sqlalchemy.pool import NullPool

from ingestion.demo import queries
from ingestion.errors import IngestionError

log = logging.getLogger(__name__)

NOT_INITIALISED = "demo databases are not initialised: run `ingestion demo init`"
UNDEFINED_TABLE = "42P01"


def _first_line(error: Exception) -> str:
    cause = error.orig if isinstance(error, sa.exc.DBAPIError) else error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def _connection_failure(url: URL, error: sa.exc.DBAPIError) -> IngestionError:
    if f'database "{url.database}" does not exist' in str(error.orig):
        return IngestionError(NOT_INITIALISED)
    where = url.render_as_string(hide_password=True)
    return IngestionError(
        f"cannot connect to the demo database {url.database} ({where}): {_first_line(error)}"
    )


@contextmanager
def connect(url: URL, *, autocommit: bool = False) -> Iterator[Connection]:
    """A UTC session on `url`; failing to connect is an IngestionError naming the database."""
    engine = sa.create_engine(
        url,
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT" if autocommit else "READ COMMITTED",
        # UTC for timestamps as text; set-based steps sort millions of rows in memory;
        # compiling those plans with JIT takes longer than running them.
        connect_args={"options": "-c timezone=UTC -c work_mem=128MB -c jit=off"},
    )
    try:
        try:
            connection = engine.connect()
        except sa.exc.DBAPIError as error:
            raise _connection_failure(url, error) from error
        with connection:
            yield connection
    finally:
        engine.dispose()


@contextmanager
def connect_all(urls: Mapping[str, URL]) -> Iterator[dict[str, Connection]]:
    """One open transaction per database; whatever is not committed is rolled back."""
    with ExitStack() as stack:
        yield {source: stack.enter_context(connect(url)) for source, url in urls.items()}


@contextmanager
def failures_named(database: str) -> Iterator[None]:
    """Turn a database error into a one-line IngestionError that names the database."""
    try:
        yield
    except sa.exc.DBAPIError as error:
        raise IngestionError(f"demo database {database}: {_first_line(error)}") from error


def script(connection: Connection, folder: str, name: str) -> None:
    """Run `sql/<folder>/<name>.sql`, a script without parameters."""
    started = time.perf_counter()
    connection.exec_driver_sql(queries.read(folder, name))
    log.debug("%s/%s: %.2f s", folder, name, time.perf_counter() - started)


def statement(
    connection: Connection, folder: str, name: str, parameters: Mapping[str, object]
) -> sa.CursorResult:
    """Run `sql/<folder>/<name>.sql`, one statement, with bind parameters."""
    started = time.perf_counter()
    result = connection.execute(sa.text(queries.read(folder, name)), dict(parameters))
    log.debug(
        "%s/%s: %s rows, %.2f s", folder, name, result.rowcount, time.perf_counter() - started
    )
    return result


def _on_each_database(admin_url: URL, names: list[str], templates: list[str]) -> None:
    """Run the statements `templates` ({} is the quoted database name) for each name."""
    with connect(admin_url, autocommit=True) as connection:
        cursor = connection.connection.cursor()
        for name in names:
            for template in templates:
                try:
                    cursor.execute(sql.SQL(template).format(sql.Identifier(name)))
                except psycopg2.Error as error:
                    raise IngestionError(f"demo database {name}: {_first_line(error)}") from error


def recreate_databases(admin_url: URL, names: list[str]) -> None:
    """Drop the databases `names` if they exist and create them empty."""
    _on_each_database(
        admin_url, names, ["drop database if exists {} with (force)", "create database {}"]
    )


def drop_databases(admin_url: URL, names: list[str]) -> None:
    """Drop the databases `names` where they exist."""
    _on_each_database(admin_url, names, ["drop database if exists {} with (force)"])
