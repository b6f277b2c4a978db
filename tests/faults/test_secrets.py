"""After a demo run and failed runs, no secret is anywhere and no PII is in clear.

That BI_ROLE reads the marts and nothing else is tested in tests/dbt/test_project.py.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
import sqlalchemy as sa
from psycopg2 import errors

from ingestion import settings
from ingestion.demo.simulator import DEMO_SOURCES
from ingestion.local_server import LocalServer
from ingestion.source_session import SessionLimits, libpq_url, source_engine
from tests.dbt.launch import BuiltLaunch, built_launch
from tests.helpers import REPOSITORY

EMAIL = "[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+"
TEXT_TYPES = ("text", "character varying", "character", "json", "jsonb")
WRONG_PASSWORD = "Wr0ng-pa55word-typed"
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


@dataclass(frozen=True)
class Run:
    """A demo built end to end, the secrets it used, and what every command printed."""

    launch: BuiltLaunch
    secrets: dict[str, str]
    outputs: dict[str, str]


def _cli(folder: Path, *arguments: str, **overrides: str) -> tuple[int, str]:
    if arguments[0] == "dbt":
        # dbt runs from the repository: the settings of `folder` go in the environment.
        warehouse = settings.warehouse()
        overrides = {
            "WAREHOUSE_HOST": warehouse.host,
            "WAREHOUSE_PORT": str(warehouse.port),
            "WAREHOUSE_USER": warehouse.user,
            "GO_LIVE_AT": settings.go_live_at().isoformat(),
            "PII_HASH_SALT": settings.pii_hash_salt(),
            "BI_ROLE": settings.bi_role(),
            **overrides,
        }
        folder = REPOSITORY
    done = subprocess.run(
        [sys.executable, "-m", "ingestion", *arguments],
        cwd=folder,
        env={**os.environ, **overrides, "PYTHONPATH": str(REPOSITORY)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def _secrets() -> dict[str, str]:
    found = {
        "warehouse password": settings.warehouse().password,
        "PII_HASH_SALT": settings.pii_hash_salt(),
        "mistyped password": WRONG_PASSWORD,
    }
    for source in DEMO_SOURCES:
        found[f"{source} password"] = str(settings.source_url(source).password)
    return found


@pytest.fixture(scope="module")
def run(
    server: LocalServer, admin_url: sa.URL, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    folder = tmp_path_factory.mktemp("secrets")
    handler = logging.FileHandler(folder / "in-process.log")
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        with built_launch(server, admin_url, folder, scale=200, steps=[8]) as launch:
            root.setLevel(previous)
            assert launch.dbt("docs", "generate", "--static") == 0
            vault = settings.source_url("vault")
            malformed = vault.render_as_string(hide_password=False).replace(
                f":{vault.port}/", ":no-port/"
            )
            outputs = {}
            for name, arguments, overrides, expected in [
                ("sync", ["sync"], {}, 0),
                ("status", ["status"], {}, 0),
                ("profile", ["profile", "--output", str(folder / "profile")], {}, 0),
                (
                    "sync, wrong warehouse password",
                    ["sync"],
                    {"DBT_ENV_SECRET_WAREHOUSE_PASSWORD": WRONG_PASSWORD},
                    1,
                ),
                (
                    "sync, wrong source password",
                    ["sync", "--source", "vault"],
                    {
                        "SOURCE_VAULT_URL": vault.set(password=WRONG_PASSWORD).render_as_string(
                            hide_password=False
                        )
                    },
                    1,
                ),
                ("sync, malformed source URL", ["sync"], {"SOURCE_VAULT_URL": malformed}, 1),
                (
                    "dbt build, wrong warehouse password",
                    [
                        "dbt",
                        "build",
                        "--target-path",
                        str(folder / "target-failed"),
                        "--log-path",
                        str(folder / "logs-failed"),
                    ],
                    {"DBT_ENV_SECRET_WAREHOUSE_PASSWORD": WRONG_PASSWORD},
                    None,
                ),
            ]:
                code, output = _cli(folder, *arguments, **overrides)
                assert (expected is None and code != 0) or code == expected, (name, output[-3000:])
                outputs[name] = output
            yield Run(launch=launch, secrets=_secrets(), outputs=outputs)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.close()


def _files(run: Run) -> list[Path]:
    """Every file the run wrote (but the .env that holds the secrets), and the docs."""
    written = [
        path
        for path in run.launch.folder.rglob("*")
        if path.is_file() and path.name != ".env" and ".local" not in path.parts
    ]
    project = REPOSITORY / "dbt_project"
    shipped = [REPOSITORY / "README.md", *project.rglob("*.md"), *project.rglob("*.yml")]
    for generated in ("target", "logs"):
        shipped += list((project / generated).rglob("*"))
    # dbt names folders of compiled YAML resources after the file (`_snapshots.yml/`).
    return written + [path for path in shipped if path.is_file()]


def test_the_failed_runs_failed_for_the_password_and_said_so(run: Run) -> None:
    assert "password authentication failed" in run.outputs["sync, wrong warehouse password"]
    assert "ingestion: source vault: cannot connect" in run.outputs["sync, wrong source password"]
    assert "SOURCE_VAULT_URL is malformed" in run.outputs["sync, malformed source URL"]
    assert "password authentication failed" in run.outputs["dbt build, wrong warehouse password"]


def test_no_secret_in_any_output_of_the_commands(run: Run) -> None:
    leaks = [
        f"{secret} in the output of {command}"
        for command, output in run.outputs.items()
        for secret, value in run.secrets.items()
        if value in output
    ]

    assert leaks == []


def test_no_secret_in_any_log_artifact_report_or_docs_file(run: Run) -> None:
    files = _files(run)
    leaks = []
    for path in files:
        content = path.read_bytes()
        leaks += [
            f"{secret} in {path}"
            for secret, value in run.secrets.items()
            if value.encode() in content
        ]

    assert len(files) > 50, "the run wrote almost nothing: nothing was scanned"
    assert {"in-process.log", "dbt.log", "manifest.json", "report.html"} <= {p.name for p in files}
    assert leaks == []


def _text_columns(connection: sa.Connection) -> list[tuple[str, str, str, str]]:
    """Every column of every relation outside the system schemas, with its type."""
    return [
        tuple(row)
        for row in connection.exec_driver_sql(
            "select table_schema, table_name, column_name, data_type"
            " from information_schema.columns where table_schema <> all(%(system)s)",
            {"system": list(SYSTEM_SCHEMAS)},
        )
    ]


def _found(
    connection: sa.Connection, schema: str, table: str, column: str, condition: sa.ColumnElement
) -> int:
    relation = sa.table(table, sa.column(column), schema=schema)
    value = sa.cast(relation.c[column], sa.Text)
    return connection.execute(
        sa.select(sa.func.count()).select_from(relation).where(condition(value))
    ).scalar_one()


def test_no_secret_stored_anywhere_in_the_warehouse(run: Run) -> None:
    secrets = list(run.secrets.values())
    leaks = []
    with run.launch.admin.connect() as connection:
        for schema, table, column, data_type in _text_columns(connection):
            if data_type not in TEXT_TYPES:
                continue
            hits = _found(
                connection,
                schema,
                table,
                column,
                lambda value: sa.or_(*(sa.func.strpos(value, s) > 0 for s in secrets)),
            )
            if hits:
                leaks.append(f"{schema}.{table}.{column}")

    assert leaks == []


def _clear_pii(run: Run) -> tuple[list[str], list[str]]:
    engine = sa.create_engine(run.launch.demo.url("accounts"))
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("select email, display_name from users").all()
    engine.dispose()
    return [row.email for row in rows], [row.display_name for row in rows if row.display_name]


def test_hashed_and_dropped_pii_is_nowhere_in_clear_in_the_warehouse(run: Run) -> None:
    emails, names = _clear_pii(run)
    clear = set(emails) | set(names)
    found, scanned = [], 0
    with run.launch.admin.connect() as connection:
        for schema, table, column, data_type in _text_columns(connection):
            scanned += 1
            hits = _found(connection, schema, table, column, lambda value: value.in_(clear))
            if data_type in TEXT_TYPES and not hits:
                # An address inside a longer text counts too.
                hits = _found(
                    connection,
                    schema,
                    table,
                    column,
                    lambda value: sa.func.substring(value, EMAIL).in_(emails),
                )
            if hits:
                found.append(f"{schema}.{table}.{column}: {hits} rows")

    assert len(emails) > 100
    assert scanned > 100
    assert found == []


def test_source_sessions_of_the_sync_cannot_write_even_when_they_try(run: Run) -> None:
    url = settings.source_url("accounts")
    limits = SessionLimits.from_settings()
    engine = source_engine(url, limits)
    with pytest.raises(sa.exc.DBAPIError) as plain, engine.begin() as connection:
        connection.exec_driver_sql("update users set display_name = 'x' where id = 1")
    with pytest.raises(sa.exc.DBAPIError) as insisting, engine.begin() as connection:
        connection.exec_driver_sql("set transaction read write")
        connection.exec_driver_sql("update users set display_name = 'x' where id = 1")
    engine.dispose()
    arrow_reader = psycopg2.connect(libpq_url(url, limits))
    try:
        with pytest.raises(errors.ReadOnlySqlTransaction):
            arrow_reader.cursor().execute("delete from users where id = 1")
    finally:
        arrow_reader.close()

    assert isinstance(plain.value.orig, errors.ReadOnlySqlTransaction)
    assert isinstance(insisting.value.orig, errors.InsufficientPrivilege)
