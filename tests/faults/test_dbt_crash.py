"""A `dbt build` killed midway: BI sees every mart whole, and the next build repairs it.

The kill comes at a chosen point: the test holds a lock that one model's write waits
for (a BI session reading a table mart, which dbt swaps with the new one by renaming;
a SHARE lock on an incremental model, which dbt deletes from and inserts into), waits
until dbt waits for it, and kills dbt with SIGKILL. Every model is built in one
transaction, so what the build left half done is rolled back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from psycopg2 import sql
from psycopg2.extensions import cursor as pg_cursor

from ingestion import dbt_runner, settings, sync
from ingestion.demo import simulator
from ingestion.local_server import LocalServer
from tests.dbt.launch import BuiltLaunch, built_launch
from tests.helpers import REPOSITORY

MARTS = (
    "dim_users",
    "fct_launch_daily",
    "fct_launch_hourly",
    "fct_status_history",
    "fct_time_in_status",
)
# The incremental models, each with the key it keeps unique.
INCREMENTAL = {
    ("marts", "dim_users"): ("user_id",),
    ("intermediate", "int_submissions_status_history"): ("submission_id", "valid_from"),
}
WAIT_SECONDS = 300
WAITING = sa.text(
    "select count(*) from pg_catalog.pg_locks where not granted and relation = to_regclass(:t)"
)
DBT_SESSIONS = sa.text(
    "select count(*) from pg_catalog.pg_stat_activity"
    " where datname = current_database() and application_name = 'dbt'"
)
# What dbt's table materialization leaves between its steps: a model's new version
# (__dbt_tmp, made in the model's transaction) and its old one (__dbt_backup, dropped
# after the transaction commits).
LEFTOVERS = sa.text(
    "select nspname, relname from pg_catalog.pg_class join pg_catalog.pg_namespace"
    " on pg_namespace.oid = relnamespace"
    " where nspname in ('marts', 'intermediate') and relkind in ('r', 'p', 'v', 'm')"
    " and relname like '%dbt%' order by 1, 2"
)
BACKUP = "__dbt_backup"
RUNS = sa.text(
    "select command, status, finished_at is not null from ingestion.dbt_runs order by started_at"
)

Rows = list[tuple[str, ...]]


@pytest.fixture(scope="module")
def launch(
    server: LocalServer, admin_url: sa.URL, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BuiltLaunch]:
    folder = tmp_path_factory.mktemp("dbt-crash")
    with built_launch(server, admin_url, folder, scale=300, steps=[]) as built:
        yield built


def _rows(cursor: pg_cursor, schema: str, table: str) -> Rows:
    """Every row as text, sorted, without `_built_at` (when, not what): a relation's content."""
    cursor.execute(sql.SQL("select * from {}").format(sql.Identifier(schema, table)))
    kept = [i for i, column in enumerate(cursor.description) if column.name != "_built_at"]
    return sorted(tuple(str(row[i]) for i in kept) for row in cursor.fetchall())


@contextmanager
def _bi_session(launch: BuiltLaunch) -> Iterator[pg_cursor]:
    """A transaction of the BI role, as dashboards read the marts."""
    with launch.admin.connect() as connection:
        raw = connection.connection
        cursor = raw.cursor()
        cursor.execute(sql.SQL("set local role {}").format(sql.Identifier(settings.bi_role())))
        try:
            yield cursor
        finally:
            raw.rollback()


def _marts_as_bi(launch: BuiltLaunch) -> dict[str, Rows]:
    """Every mart as the BI role reads it now."""
    with _bi_session(launch) as cursor:
        return {mart: _rows(cursor, "marts", mart) for mart in MARTS}


def _start_build(launch: BuiltLaunch) -> subprocess.Popen[bytes]:
    """`dbt build` as `ingestion dbt build` runs it, in a process the test can kill."""
    environment = {
        **os.environ,
        **settings.dbt_environment(),
        "DBT_PROFILES_DIR": str(dbt_runner.profiles_dir(REPOSITORY).absolute()),
    }
    folder = launch.folder / "killed"
    return subprocess.Popen(
        [
            str(Path(sys.executable).with_name("dbt")),
            "build",
            "--target-path",
            str(folder / "target"),
            "--log-path",
            str(folder / "logs"),
        ],
        cwd=REPOSITORY / dbt_runner.PROJECT_FOLDER,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait(launch: BuiltLaunch, query: sa.TextClause, until: bool, **parameters: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    with launch.admin.connect() as connection:
        while bool(connection.execute(query, parameters).scalar_one()) != until:
            assert time.monotonic() < deadline, f"still waiting for {query} to be {until}"
            connection.rollback()
            time.sleep(0.05)


def _kill_while_waiting(
    launch: BuiltLaunch, relation: str, meanwhile: Callable[[], dict[str, Rows]]
) -> dict[str, Rows]:
    """Start `dbt build`; once it waits for a lock on `relation`, read the marts with
    `meanwhile` and SIGKILL it. Returns what `meanwhile` read."""
    process = _start_build(launch)
    try:
        _wait(launch, WAITING, True, t=relation)
        during = meanwhile()
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    return during


def _state(launch: BuiltLaunch) -> dict[str, Rows]:
    """Every mart and intermediate incremental model, as the warehouse's user reads them."""
    with launch.warehouse.connect() as connection:
        cursor = connection.connection.cursor()
        found = {f"marts.{mart}": _rows(cursor, "marts", mart) for mart in MARTS}
        for schema, table in INCREMENTAL:
            found[f"{schema}.{table}"] = _rows(cursor, schema, table)
    return found


def _duplicate_keys(launch: BuiltLaunch) -> dict[str, int]:
    """Extra rows per key in each incremental model."""
    found = {}
    with launch.warehouse.connect() as connection:
        cursor = connection.connection.cursor()
        for (schema, table), key in INCREMENTAL.items():
            cursor.execute(
                sql.SQL("select count(*) - count(distinct ({})) from {}").format(
                    sql.SQL(", ").join(map(sql.Identifier, key)), sql.Identifier(schema, table)
                )
            )
            found[f"{schema}.{table}"] = cursor.fetchone()[0]
    return found


def _killed_build(launch: BuiltLaunch, schema: str, model: str) -> dict[str, Rows]:
    """A build killed while it waits to write `model`; the marts BI read meanwhile."""
    relation = f"{schema}.{model}"
    if (schema, model) in INCREMENTAL:
        # dbt's delete or merge waits for the SHARE lock; readers do not.
        with launch.admin.connect() as connection:
            holder = connection.connection
            holder.cursor().execute(
                sql.SQL("lock table {} in share mode").format(sql.Identifier(schema, model))
            )
            during = _kill_while_waiting(launch, relation, lambda: _marts_as_bi(launch))
            holder.rollback()
        return during
    # A dashboard that reads the mart in a transaction: dbt's swap waits until it ends.
    with _bi_session(launch) as dashboard:
        _rows(dashboard, schema, model)
        return _kill_while_waiting(
            launch, relation, lambda: {mart: _rows(dashboard, "marts", mart) for mart in MARTS}
        )


@pytest.mark.parametrize(
    ("schema", "model"),
    [
        # A table: built as __dbt_tmp, swapped in by renames.
        ("marts", "fct_launch_daily"),
        # Incremental, delete+insert: two statements (dim_users merges in one).
        ("intermediate", "int_submissions_status_history"),
    ],
)
def test_build_killed_while_writing_a_model_leaves_bi_whole_and_the_next_repairs(
    launch: BuiltLaunch, schema: str, model: str
) -> None:
    simulator.advance(launch.demo, hours=8)
    sync.run(sync.SyncRequest())
    before = _marts_as_bi(launch)
    model_before = _state(launch)[f"{schema}.{model}"]

    during = _killed_build(launch, schema, model)
    _wait(launch, DBT_SESSIONS, False)
    killed = _marts_as_bi(launch)
    model_killed = _state(launch)[f"{schema}.{model}"]
    with launch.warehouse.connect() as connection:
        leftovers = connection.execute(LEFTOVERS).all()
        runs = connection.execute(RUNS).all()
    with _bi_session(launch) as cursor:
        # A model killed after its commit and before the drop keeps its old version.
        backups = {
            table: _rows(cursor, schema, table)
            for schema, table in leftovers
            if schema == "marts" and table.endswith(BACKUP)
        }
    assert launch.dbt("build") == 0
    repaired = _state(launch)
    # Tables are rebuilt whole by every build: what a clean build could do otherwise
    # is the incremental models' and what reads them.
    assert launch.dbt("run", "--full-refresh", "--select", *(f"{t}+" for _, t in INCREMENTAL)) == 0
    rebuilt = _state(launch)
    with launch.warehouse.connect() as connection:
        runs_after = connection.execute(RUNS).all()
        leftovers_after = connection.execute(LEFTOVERS).all()

    assert model_killed == model_before
    assert [table for _, table in leftovers if not table.endswith(BACKUP)] == []
    for backup, rows in backups.items():
        assert rows == before[backup.removesuffix(BACKUP)], backup
    assert leftovers_after == []
    assert runs[-1] == ("build", "running", False)
    assert runs_after[-3:] == [
        ("build", "interrupted", False),
        ("build", "success", True),
        ("run", "success", True),
    ]
    if schema == "marts":
        assert killed[model] == before[model]
    for mart in MARTS:
        assert during[mart] in (before[mart], repaired[f"marts.{mart}"]), mart
        assert killed[mart] in (before[mart], repaired[f"marts.{mart}"]), mart
    assert repaired == rebuilt
    assert set(_duplicate_keys(launch).values()) == {0}
