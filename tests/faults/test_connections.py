"""Lost connections: a source or the warehouse restarted mid-sync, a source out of slots.

The server that fails is a second embedded server of this module's own, so that it can
be restarted, or filled up to its max_connections, without touching the other side. A
sync is held at a chosen point by a lock that the test takes (the sync's query waits in
pg_stat_activity), and the restart then kills that query: the fault always lands.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest
import sqlalchemy as sa
from psycopg2 import extensions, sql

from ingestion import local_server, local_setup, settings, synclog
from ingestion.demo import simulator
from ingestion.demo.simulator import DEMO_SOURCES, DemoDatabases
from ingestion.errors import IngestionError
from ingestion.local_server import LocalServer
from tests.faults.harness import GO_LIVE, Demo, differences, duplicate_keys, sync_log
from tests.helpers import ALL_SETTINGS, run_cli
from tests.servers import make_server

SCALE = 500
# Few slots, so that the test can take every one of them.
MAX_CONNECTIONS = 30
RETRY_LINE = "lost its connection"
# Short first waits keep the tests quick. A restart may take a while on a busy machine:
# eight attempts wait about a minute in all; four give up within seconds.
RESTART_RETRIES = {"SYNC_RETRY_ATTEMPTS": "8", "SYNC_RETRY_BACKOFF_SECONDS": "0.5"}
FEW_RETRIES = {"SYNC_RETRY_ATTEMPTS": "4", "SYNC_RETRY_BACKOFF_SECONDS": "0.5"}
# The held lock must not time out the sync's wait for it before the restart.
PATIENT_SOURCE = {"SOURCE_LOCK_TIMEOUT_SECONDS": "120"}
WAIT_SECONDS = 120


@pytest.fixture(scope="module")
def spare() -> Iterator[LocalServer]:
    """A second server that the tests restart and fill; its folder is short for the socket."""
    folder = Path(tempfile.mkdtemp(prefix="ingestion-conn-"))
    instance = make_server(folder)
    local_server.start(instance)
    try:
        with _admin(instance) as connection:
            connection.cursor().execute(f"alter system set max_connections = {MAX_CONNECTIONS}")
        _restart(instance)
        yield instance
    finally:
        local_server.stop(instance)
        shutil.rmtree(folder, ignore_errors=True)


def _restart(server: LocalServer) -> None:
    """Restart the server; a fast shutdown ends every session ("administrator command")."""
    local_server.run_binary(
        server,
        [
            *("pg_ctl", "-D", str(server.data_dir), "-l", str(server.log_file)),
            *("-m", "fast", "-w", "-t", "60", "restart"),
        ],
    )


@contextmanager
def _admin(server: LocalServer, database: str = "postgres") -> Iterator[extensions.connection]:
    """The server's superuser over its socket, in autocommit."""
    connection = psycopg2.connect(
        host=str(server.socket_dir),
        port=server.port,
        user=local_server.SUPERUSER,
        dbname=database,
    )
    connection.autocommit = True
    try:
        yield connection
    finally:
        connection.close()


@contextmanager
def _split_demo(sources_on: LocalServer, warehouse_on: LocalServer, folder: Path) -> Iterator[Demo]:
    """The demo sources on one server, an empty warehouse on the other, a `.env` in `folder`.

    As for a user who runs the CLI there: the working directory is `folder` and settings
    from the environment are cleared.
    """
    prefix = f"c{uuid.uuid4().hex[:8]}"
    demo = DemoDatabases(
        admin_url=local_server.admin_url(sources_on),
        names={source: f"{prefix}_{source}" for source in DEMO_SOURCES},
    )
    names = [*ALL_SETTINGS, *(settings.source_url_setting(source) for source in DEMO_SOURCES)]
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    cwd = Path.cwd()
    os.chdir(folder)
    warehouse_db = f"{prefix}_warehouse"
    try:
        local_setup.write_env(warehouse_on, folder / ".env", source_port=sources_on.port)
        local_setup.provision(warehouse_on)
        local_setup.provision(sources_on)
        simulator.init(demo, scale=SCALE, seed=9, go_live_at=GO_LIVE)
        simulator.advance(demo, hours=12)
        with _admin(warehouse_on) as connection:
            connection.cursor().execute(
                sql.SQL("create database {} owner {}").format(
                    sql.Identifier(warehouse_db), sql.Identifier(local_setup.WAREHOUSE_USER)
                )
            )
        variables = {
            settings.source_url_setting(source): settings.source_url(source)
            .set(database=demo.names[source])
            .render_as_string(hide_password=False)
            for source in DEMO_SOURCES
        }
        variables |= {"WAREHOUSE_DB": warehouse_db, "PIPELINES_DIR": str(folder / "dlt")}
        os.environ.update(variables)
        yield Demo(demo=demo, folder=folder, variables=variables)
    finally:
        for name in names:
            os.environ.pop(name, None)
        os.environ.update(saved)
        os.chdir(cwd)
        simulator.drop(demo)
        with _admin(warehouse_on) as connection:
            connection.cursor().execute(
                sql.SQL("drop database if exists {} with (force)").format(
                    sql.Identifier(warehouse_db)
                )
            )


@pytest.fixture
def sources_on_spare(server: LocalServer, spare: LocalServer, tmp_path: Path) -> Iterator[Demo]:
    with _split_demo(spare, server, tmp_path) as made:
        yield made


@pytest.fixture
def warehouse_on_spare(server: LocalServer, spare: LocalServer, tmp_path: Path) -> Iterator[Demo]:
    with _split_demo(server, spare, tmp_path) as made:
        yield made


@contextmanager
def _locked(server: LocalServer, database: str, table: str, mode: str) -> Iterator[None]:
    """Hold a lock on `table` until the block ends (or the server restarts)."""
    with _admin(server, database) as connection:
        connection.autocommit = False
        connection.cursor().execute(
            sql.SQL("lock table {} in {} mode").format(
                sql.Identifier(*table.split(".")), sql.SQL(mode)
            )
        )
        yield


def _wait_for_lock_wait(server: LocalServer, database: str) -> None:
    """Return once a session of `database` waits for a lock (the sync, held where we want)."""
    deadline = time.monotonic() + WAIT_SECONDS
    with _admin(server) as connection:
        cursor = connection.cursor()
        while time.monotonic() < deadline:
            cursor.execute(
                "select count(*) from pg_stat_activity"
                " where datname = %s and wait_event_type = 'Lock'",
                (database,),
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)
    pytest.fail(f"no session of {database} waited for the lock")


def _count(url: sa.URL, table: str, schema: str | None) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            relation = sa.table(table, schema=schema)
            return connection.execute(sa.select(sa.func.count()).select_from(relation)).scalar_one()
    finally:
        engine.dispose()


def _counts(demo: Demo, source: str, table: str) -> tuple[int, int]:
    """Rows of `table` in the source and in the warehouse (deleted ones included)."""
    return (
        _count(demo.demo.url(source), table, None),
        _count(demo.warehouse_url, table, f"raw_{source}"),
    )


def _wait_until_loaded(demo: Demo, source: str, table: str) -> None:
    """Return once the warehouse holds as many rows of `table` as the source."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        expected, loaded = _counts(demo, source, table)
        if loaded == expected:
            return
        time.sleep(0.05)
    pytest.fail(f"{source}.{table} was not loaded")


@contextmanager
def _every_slot_taken(server: LocalServer) -> Iterator[list[extensions.connection]]:
    """Take all of the server's connections, so the next client hears "too many clients"."""
    held: list[extensions.connection] = []
    try:
        while True:
            try:
                held.append(
                    psycopg2.connect(
                        host=str(server.socket_dir),
                        port=server.port,
                        user=local_server.SUPERUSER,
                        dbname="postgres",
                    )
                )
            except psycopg2.OperationalError as error:
                assert "too many clients already" in str(error)
                break
        yield held
    finally:
        for connection in held:
            connection.close()


def _assert_failed_then_ok(demo: Demo, source: str) -> None:
    """Each table of `source`: a sync, one that lost a connection, then one that recovered.

    The attempt that lost a connection is logged as failed, or as interrupted (by the
    next attempt) when the warehouse was down as it failed; never as ok.
    """
    by_table: dict[str, list[str]] = {}
    for row in sync_log(demo):
        if row.source == source:
            by_table.setdefault(row.table_name, []).append(row.status)
    assert by_table
    for table, statuses in by_table.items():
        assert statuses[0] == "ok", table
        assert statuses[-1] == "ok", table
        assert statuses[1:-1], table
        assert set(statuses[1:-1]) <= {"failed", synclog.INTERRUPTED}, table


def test_source_restarted_mid_sync_is_retried_to_an_exact_copy(
    sources_on_spare: Demo, spare: LocalServer
) -> None:
    demo = sources_on_spare
    code, _, stderr = demo.run("sync")
    assert code == 0, stderr[-2000:]
    simulator.advance(demo.demo, hours=4)
    database = demo.demo.names["collection"]

    with _locked(spare, database, "public.collection_items", "access exclusive"):
        process = demo.cli("sync", **RESTART_RETRIES, **PATIENT_SOURCE)
        _wait_for_lock_wait(spare, database)
        _restart(spare)
    _, stderr = process.communicate(timeout=WAIT_SECONDS)

    assert process.returncode == 0, stderr[-2000:]
    assert RETRY_LINE in stderr
    assert differences(demo) == []
    assert duplicate_keys(demo) == {}
    _assert_failed_then_ok(demo, "collection")


def test_warehouse_restarted_mid_load_is_retried_to_an_exact_copy(
    warehouse_on_spare: Demo, spare: LocalServer
) -> None:
    demo = warehouse_on_spare
    code, _, stderr = demo.run("sync")
    assert code == 0, stderr[-2000:]
    simulator.advance(demo.demo, hours=4)
    database = demo.variables["WAREHOUSE_DB"]
    expected, loaded = _counts(demo, "grading", "submission_status_events")
    assert expected > loaded

    # Writes to one table wait (reads do not): its merge waits while another table loads.
    with _locked(spare, database, "raw_grading.submissions", "exclusive"):
        process = demo.cli("sync", **RESTART_RETRIES)
        _wait_for_lock_wait(spare, database)
        _wait_until_loaded(demo, "grading", "submission_status_events")
        _restart(spare)
    _, stderr = process.communicate(timeout=WAIT_SECONDS)

    assert process.returncode == 0, stderr[-2000:]
    assert RETRY_LINE in stderr
    assert differences(demo) == []
    assert duplicate_keys(demo) == {}
    _assert_failed_then_ok(demo, "grading")


def test_source_out_of_connections_fails_after_bounded_retries(
    sources_on_spare: Demo, spare: LocalServer
) -> None:
    demo = sources_on_spare
    password = str(sa.make_url(demo.variables["SOURCE_VAULT_URL"]).password)

    with _every_slot_taken(spare):
        code, stdout, stderr = demo.run("sync", "--source", "vault", **FEW_RETRIES)

    errors = [line for line in stderr.splitlines() if line.startswith("ingestion:")]
    assert code == 1
    assert len(errors) == 1
    assert errors[0].startswith("ingestion: source vault: cannot connect to database")
    assert "too many clients already" in errors[0]
    assert "gave up after 4 attempts" in errors[0]
    assert sum(RETRY_LINE in line for line in stderr.splitlines()) == 3
    assert password not in stdout + stderr
    assert "Traceback" not in stderr


def test_source_out_of_connections_syncs_once_they_free_up(
    sources_on_spare: Demo, spare: LocalServer
) -> None:
    demo = sources_on_spare
    patient = {"SYNC_RETRY_ATTEMPTS": "5", "SYNC_RETRY_BACKOFF_SECONDS": "2"}

    with _every_slot_taken(spare):
        process = demo.cli("sync", "--source", "vault", **patient)
        seen = []
        for line in process.stderr or ():
            seen.append(line)
            if RETRY_LINE in line:
                break
    _, stderr = process.communicate(timeout=WAIT_SECONDS)

    assert process.returncode == 0, "".join(seen) + stderr[-2000:]
    assert RETRY_LINE in seen[-1]
    expected, loaded = _counts(demo, "vault", "vault_items")
    assert loaded == expected > 0


def test_wrong_source_password_is_not_retried(provisioned: Path) -> None:
    url = settings.source_url("vault").set(password="wrong-pass-123")
    wrong = {"SOURCE_VAULT_URL": url.render_as_string(hide_password=False)}

    result = run_cli("sync", "--source", "vault", cwd=provisioned.parent, **FEW_RETRIES, **wrong)
    code, stderr = result.returncode, result.stderr

    errors = [line for line in stderr.splitlines() if line.startswith("ingestion:")]
    assert code == 1
    assert len(errors) == 1
    assert "password authentication failed" in errors[0]
    assert "gave up" not in errors[0]
    assert RETRY_LINE not in stderr


@pytest.mark.parametrize("value", ["0", "21", "two"])
def test_retry_attempts_out_of_range_are_named(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SYNC_RETRY_ATTEMPTS", value)

    with pytest.raises(IngestionError, match=r"^setting SYNC_RETRY_ATTEMPTS is malformed"):
        settings.sync_retry_attempts()
