"""The embedded server's streaming standby: a real read replica, its preflight and conflicts."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import connectorx
import psycopg2.errors
import pyarrow as pa
import pytest
import sqlalchemy as sa
from psycopg2 import sql

from ingestion import (
    chunked_read,
    column_plan,
    local_server,
    local_standby,
    source_session,
    sync,
)
from ingestion.catalog import TableSpec
from ingestion.errors import IngestionError
from ingestion.local_server import LocalServer
from tests.helpers import run_cli
from tests.servers import make_server

REPLAY_TIMEOUT_SECONDS = 30.0
CONFLICT_DELAY_MS = 1000
# Far longer than CONFLICT_DELAY_MS, so an uncancelled read shows the provocation failed.
LONG_READ_SECONDS = 8
CONFLICT_ATTEMPTS = 3
READER_APPLICATION = "standby-conflict-test"


@pytest.fixture(scope="module")
def primary() -> Iterator[LocalServer]:
    """A primary of this module's own, so no other test sees its standby or slot."""
    folder = Path(tempfile.mkdtemp(prefix="ingestion-primary-"))
    instance = make_server(folder)
    local_server.start(instance)
    yield instance
    local_server.stop(instance)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def standby(primary: LocalServer) -> Iterator[LocalServer]:
    """The standby's description; each test starts it with the settings it needs."""
    folder = Path(tempfile.mkdtemp(prefix="ingestion-standby-"))
    instance = make_server(folder)
    yield instance
    local_standby.stop_standby(primary, instance)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def reader_url(primary: LocalServer) -> sa.URL:
    """A read-only login role made on the primary, as a source URL of the standby's port."""
    name, password = "replica_reader", secrets.token_urlsafe(16)
    _execute(
        primary,
        sql.SQL("create role {} login password {}; grant pg_read_all_data to {}").format(
            sql.Identifier(name), sql.Literal(password), sql.Identifier(name)
        ),
    )
    return sa.URL.create(
        "postgresql+psycopg2",
        username=name,
        password=password,
        host=local_server.HOST,
        database="postgres",
    )


def _execute(server: LocalServer, statement: sql.Composable | str) -> None:
    engine = sa.create_engine(local_server.admin_url(server), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.connection.cursor().execute(statement)
    engine.dispose()


def _scalar(server: LocalServer, query: sql.Composable | str, *parameters: object) -> object:
    engine = sa.create_engine(local_server.admin_url(server))
    with engine.connect() as connection:
        cursor = connection.connection.cursor()
        cursor.execute(query, parameters)
        (value,) = cursor.fetchone()
    engine.dispose()
    return value


def _new_table(primary: LocalServer, rows: int, *, composite: bool = False) -> str:
    """A table of `rows` ids on the primary; autovacuum off, so only the test prunes it.

    `composite`: keyed by (region text, id) instead of id alone.
    """
    name = f"t_{uuid.uuid4().hex[:12]}"
    shape, values = "id int primary key", "g"
    if composite:
        shape = "region text not null, id int not null, primary key (region, id)"
        values = "(array['north', 'it''s', 'a :b'])[1 + g % 3], g"
    _execute(
        primary,
        sql.SQL(
            "create table {table} ({shape}) with (autovacuum_enabled = off);"
            " insert into {table} select {values} from generate_series(1, {rows}) as g"
        ).format(
            table=sql.Identifier(name),
            shape=sql.SQL(shape),
            values=sql.SQL(values),
            rows=sql.Literal(rows),
        ),
    )
    return name


def test_start_standby_twice_keeps_the_running_standby(
    primary: LocalServer, standby: LocalServer
) -> None:
    first = local_standby.start_standby(primary, standby)
    second = local_standby.start_standby(primary, standby)

    assert first.running and second.running
    assert second.pid == first.pid
    assert second.port == standby.port
    assert _scalar(standby, "select pg_is_in_recovery()") is True


def test_table_created_on_the_primary_appears_on_the_standby(
    primary: LocalServer, standby: LocalServer
) -> None:
    local_standby.start_standby(primary, standby)
    table = _new_table(primary, rows=250)

    local_standby.wait_for_replay(primary, standby, REPLAY_TIMEOUT_SECONDS)

    count = sql.SQL("select count(*) from {}").format(sql.Identifier(table))
    assert _scalar(standby, count) == 250


def test_write_on_the_standby_fails_read_only(primary: LocalServer, standby: LocalServer) -> None:
    local_standby.start_standby(primary, standby)

    with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction) as raised:
        _execute(standby, "create table written_on_standby (id int)")

    assert "cannot execute CREATE TABLE in a read-only transaction" in str(raised.value)


def test_preflight_reports_the_standby_and_its_replay_settings(
    primary: LocalServer, standby: LocalServer, reader_url: sa.URL
) -> None:
    """Through the primary's reader role on the standby's port, as a SOURCE_*_URL would."""
    local_standby.start_standby(
        primary, standby, max_standby_streaming_delay_ms=4500, hot_standby_feedback=True
    )
    engine = source_session.source_engine(
        reader_url.set(port=standby.port), source_session.SessionLimits()
    )

    report = source_session.preflight(engine)
    engine.dispose()

    assert report.is_standby is True
    assert report.hot_standby_feedback is True
    assert report.max_standby_streaming_delay_ms == 4500
    assert isinstance(report.lag_seconds, float)
    assert report.lag_seconds >= 0


def test_recovery_conflict_cancels_a_long_standby_read_and_is_recognised(
    primary: LocalServer, standby: LocalServer, reader_url: sa.URL
) -> None:
    """VACUUM on the primary removes rows a standby snapshot still sees: replay cancels it."""
    table, engine = _cancelling_standby(primary, standby, reader_url)

    error = None
    for attempt in range(CONFLICT_ATTEMPTS):
        error = _provoke_conflict(primary, standby, engine, table, attempt)
        if error is not None:
            break
    engine.dispose()

    assert error is not None, f"no read was cancelled in {CONFLICT_ATTEMPTS} attempts"
    assert "canceling statement due to conflict with recovery" in str(error)
    assert source_session.is_recovery_conflict(error) is True


def _cancelling_standby(
    primary: LocalServer, standby: LocalServer, reader_url: sa.URL, *, composite: bool = False
) -> tuple[str, sa.Engine]:
    """A standby whose replay cancels reads after CONFLICT_DELAY_MS, a table replayed on it,
    and a reader engine on it."""
    local_standby.start_standby(
        primary,
        standby,
        max_standby_streaming_delay_ms=CONFLICT_DELAY_MS,
        hot_standby_feedback=False,
    )
    table = _new_table(primary, rows=10_000, composite=composite)
    local_standby.wait_for_replay(primary, standby, REPLAY_TIMEOUT_SECONDS)
    engine = source_session.source_engine(
        reader_url.set(port=standby.port),
        source_session.SessionLimits(application_name=READER_APPLICATION),
    )
    return table, engine


def _provoke_conflict(
    primary: LocalServer, standby: LocalServer, engine: sa.Engine, table: str, attempt: int
) -> sa.exc.DBAPIError | None:
    """Hold a snapshot on the standby while the primary deletes and vacuums rows it sees."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        read = pool.submit(_long_read, engine, table)
        _wait_for_sleeping_reader(standby)
        _execute(
            primary,
            sql.SQL("delete from {} where id % {} = {}").format(
                sql.Identifier(table), sql.Literal(CONFLICT_ATTEMPTS + 1), sql.Literal(attempt)
            ),
        )
        _execute(primary, sql.SQL("vacuum (truncate false) {}").format(sql.Identifier(table)))
        try:
            read.result(timeout=LONG_READ_SECONDS + REPLAY_TIMEOUT_SECONDS)
        except sa.exc.DBAPIError as error:
            return error
    return None


def _long_read(engine: sa.Engine, table: str) -> None:
    """Read the table in a REPEATABLE READ transaction, then keep its snapshot a while."""
    repeatable = engine.execution_options(isolation_level="REPEATABLE READ")
    with repeatable.connect() as connection:
        count = sql.SQL("select count(*) from {}").format(sql.Identifier(table))
        connection.connection.cursor().execute(count)
        connection.execute(sa.text("select pg_sleep(:seconds)"), {"seconds": LONG_READ_SECONDS})


def _wait_for_sleeping_reader(standby: LocalServer) -> None:
    deadline = time.monotonic() + REPLAY_TIMEOUT_SECONDS
    query = (
        "select count(*) from pg_stat_activity"
        " where application_name = %s and wait_event = 'PgSleep'"
    )
    while _scalar(standby, query, READER_APPLICATION) != 1:
        assert time.monotonic() < deadline, "the standby read never started"
        time.sleep(0.02)


def test_stop_standby_keeps_the_primary_and_drops_the_slot(
    primary: LocalServer, standby: LocalServer
) -> None:
    local_standby.start_standby(primary, standby)
    slots = "select count(*) from pg_replication_slots where slot_name = %s"
    slot = local_standby.slot_name(standby)
    assert _scalar(primary, slots, slot) == 1

    assert local_standby.stop_standby(primary, standby) is True

    assert local_server.status(standby).running is False
    assert local_server.status(primary).running is True
    assert _scalar(primary, slots, slot) == 0
    assert local_standby.stop_standby(primary, standby) is False


def test_taken_standby_port_is_reported_with_its_setting(
    primary: LocalServer, tmp_path: Path
) -> None:
    other = make_server(tmp_path / "standby")
    with socket.socket() as squatter:
        squatter.bind((local_server.HOST, other.port))
        squatter.listen()
        with pytest.raises(IngestionError) as raised:
            local_standby.start_standby(primary, other)

    assert str(raised.value) == (
        f"port {other.port} on {local_server.HOST} is taken by another program:"
        " set LOCAL_PG_STANDBY_PORT to a free port"
    )


def test_standby_copy_of_another_version_is_refused(primary: LocalServer, tmp_path: Path) -> None:
    other = make_server(tmp_path / "standby")
    other.data_dir.mkdir(parents=True)
    (other.data_dir / "standby.signal").touch()
    (other.data_dir / "PG_VERSION").write_text("9\n")

    with pytest.raises(IngestionError, match="belongs to PostgreSQL 9 but the primary runs"):
        local_standby.start_standby(primary, other)
    assert (other.data_dir / "PG_VERSION").read_text() == "9\n"


def test_standby_start_without_a_running_primary_is_one_line(tmp_path: Path) -> None:
    result = run_cli(
        "local",
        "standby-start",
        cwd=tmp_path,
        LOCAL_PG_DIR=str(tmp_path / "primary"),
        LOCAL_PG_STANDBY_DIR=str(tmp_path / "standby"),
    )

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"ingestion: the primary in {tmp_path / 'primary'} is not running:"
        " run `ingestion local start` first"
    ]


def _sync_from_standby(
    primary: LocalServer,
    standby: LocalServer,
    reader_url: sa.URL,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    table: str,
    table_sql: sql.Composable,
) -> None:
    """Settings for a sync of `table` of source `shop` on a standby whose replay cancels
    long reads, into a warehouse of its own on the primary; `table_sql` makes the table."""
    local_standby.start_standby(
        primary,
        standby,
        max_standby_streaming_delay_ms=CONFLICT_DELAY_MS,
        hot_standby_feedback=False,
    )
    warehouse_db, password = f"w_{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(16)
    _execute(primary, table_sql)
    _execute(
        primary,
        sql.SQL("create role {} login password {}").format(
            sql.Identifier(warehouse_db), sql.Literal(password)
        ),
    )
    _execute(
        primary,
        sql.SQL("create database {} owner {}").format(
            sql.Identifier(warehouse_db), sql.Identifier(warehouse_db)
        ),
    )
    local_standby.wait_for_replay(primary, standby, REPLAY_TIMEOUT_SECONDS)
    (tmp_path / "catalog.yml").write_text(f"sources:\n  shop:\n    tables: [{table}]\n")
    source = reader_url.set(port=standby.port).render_as_string(hide_password=False)
    for name, value in {
        "SOURCE_SHOP_URL": source,
        "CATALOG_PATH": str(tmp_path / "catalog.yml"),
        "WAREHOUSE_HOST": local_server.HOST,
        "WAREHOUSE_PORT": str(primary.port),
        "WAREHOUSE_USER": warehouse_db,
        "WAREHOUSE_DB": warehouse_db,
        "DBT_ENV_SECRET_WAREHOUSE_PASSWORD": password,
        "PII_HASH_SALT": "salt",
        "PIPELINES_DIR": str(tmp_path / "dlt"),
    }.items():
        monkeypatch.setenv(name, value)


def _digests(primary: LocalServer, table: str, columns: list[str]) -> tuple[object, object]:
    """The table's rows in one digest: on the primary, and in the warehouse's raw_shop."""
    digest = sql.SQL(
        "select md5(string_agg(concat_ws('|', {columns}), ',' order by {columns})) from {table}"
    )
    listed = sql.SQL(", ").join(map(sql.Identifier, columns))
    expected = _scalar(primary, digest.format(columns=listed, table=sql.Identifier(table)))
    warehouse = sa.create_engine(local_server.admin_url(primary, os.environ["WAREHOUSE_DB"]))
    with warehouse.connect() as connection:
        cursor = connection.connection.cursor()
        cursor.execute(digest.format(columns=listed, table=sql.Identifier("raw_shop", table)))
        (loaded,) = cursor.fetchone()
    warehouse.dispose()
    return loaded, expected


def test_sync_from_the_standby_reads_key_ranges_and_is_exact(
    primary: LocalServer,
    standby: LocalServer,
    reader_url: sa.URL,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A standby whose replay cancels long reads: the sync reads short key ranges."""
    _sync_from_standby(
        primary,
        standby,
        reader_url,
        tmp_path,
        monkeypatch,
        "shop_items",
        sql.SQL(
            "create table shop_items (id bigint primary key, label text, price numeric(8, 2),"
            " updated_at timestamptz not null);"
            " insert into shop_items select g, 'item ' || g, g / 100.0,"
            " timestamptz '2026-06-01' + g * interval '1 second'"
            " from generate_series(1, 120000) as g"
        ),
    )
    caplog.set_level("INFO")

    (row,) = sync.run(sync.SyncRequest())

    assert (row.table_name, row.status, row.rows_written) == ("shop_items", "ok", 120_000)
    assert "standby: replication lag" in caplog.text
    assert "read in" in caplog.text and "key ranges" in caplog.text
    loaded, expected = _digests(primary, "shop_items", ["id", "label", "price", "updated_at"])
    assert loaded == expected


def test_sync_from_the_standby_pages_through_a_composite_text_key_and_is_exact(
    primary: LocalServer,
    standby: LocalServer,
    reader_url: sa.URL,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No single integer key: pages of the (text, int) key, quotes and colons included."""
    _sync_from_standby(
        primary,
        standby,
        reader_url,
        tmp_path,
        monkeypatch,
        "shop_stock",
        sql.SQL(
            "create table shop_stock (depot text, sku int, quantity int,"
            " updated_at timestamptz not null, primary key (depot, sku));"
            " insert into shop_stock select (array['north', 'it''s', 'a :b', 'süd'])[1 + g % 4],"
            " g, g % 7, timestamptz '2026-06-01' + g * interval '1 second'"
            " from generate_series(1, 70000) as g"
        ),
    )
    caplog.set_level("INFO")

    (row,) = sync.run(sync.SyncRequest())

    assert (row.table_name, row.status, row.rows_written) == ("shop_stock", "ok", 70_000)
    assert "shop_stock: read in 2 key pages, 0 reads retried" in caplog.text
    loaded, expected = _digests(primary, "shop_stock", ["depot", "sku", "quantity", "updated_at"])
    assert loaded == expected


def test_a_range_read_cancelled_by_replay_is_retried(
    primary: LocalServer, standby: LocalServer, reader_url: sa.URL
) -> None:
    """A real recovery conflict cancels the first attempt; the retry returns the range."""
    table, engine = _cancelling_standby(primary, standby, reader_url)
    attempts: list[int] = []

    def read() -> pa.Table:
        attempts.append(len(attempts) + 1)
        if len(attempts) == 1:
            for attempt in range(CONFLICT_ATTEMPTS):
                error = _provoke_conflict(primary, standby, engine, table, attempt)
                if error is not None:
                    raise error
            pytest.fail(f"no read was cancelled in {CONFLICT_ATTEMPTS} attempts")
        with engine.connect() as connection:
            count = connection.execute(sa.select(sa.func.count()).select_from(sa.table(table)))
            return pa.table({"rows": [count.scalar_one()]})

    waits: list[float] = []
    result, retries = chunked_read.read_with_retries(read, "test range", sleep=waits.append)
    engine.dispose()

    # Replay may cancel a retry too on a busy machine; each one backs off further.
    assert retries >= 1
    assert attempts == list(range(1, retries + 2))
    assert len(waits) == retries
    assert waits[0] == chunked_read.FIRST_BACKOFF_SECONDS
    assert waits == sorted(waits)
    assert result.column("rows").to_pylist() == [
        _scalar(primary, sql.SQL("select count(*) from {}").format(sql.Identifier(table)))
    ]


def test_a_key_page_cancelled_by_replay_is_read_again_to_an_exact_result(
    primary: LocalServer,
    standby: LocalServer,
    reader_url: sa.URL,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A real recovery conflict cancels the first page's read; the pages still add up to
    the table as it is after the rows the primary vacuumed away."""
    table, engine = _cancelling_standby(primary, standby, reader_url, composite=True)
    spec = TableSpec(
        source="standby",
        schema="public",
        name=table,
        columns=("region", "id"),
        primary_key=("region", "id"),
        cursor=None,
    )
    plans = column_plan.plan_columns(engine, spec)
    connection_string = source_session.libpq_url(
        reader_url.set(port=standby.port), source_session.SessionLimits()
    )
    reads: list[str] = []

    def read(query: str) -> pa.Table:
        reads.append(query)
        if len(reads) == 1:
            for attempt in range(CONFLICT_ATTEMPTS):
                error = _provoke_conflict(primary, standby, engine, table, attempt)
                if error is not None:
                    raise error
            pytest.fail(f"no read was cancelled in {CONFLICT_ATTEMPTS} attempts")
        return connectorx.read_sql(connection_string, query, return_type="arrow")

    caplog.set_level("INFO", logger="ingestion.chunked_read")
    pages = list(
        chunked_read.keyset_pages(spec, engine, plans, 60.0, None, read, first_page_keys=3000)
    )
    engine.dispose()

    assert reads[0] == reads[1]
    assert len(pages) > 2
    found = sorted(
        zip(*(pa.concat_tables(pages).column(c).to_pylist() for c in ("region", "id")), strict=True)
    )
    rows = sa.create_engine(local_server.admin_url(primary))
    with rows.connect() as connection:
        expected = [
            tuple(row)
            for row in connection.execute(
                sa.select(sa.column("region"), sa.column("id")).select_from(sa.table(table))
            )
        ]
    rows.dispose()
    assert found == sorted(expected)
    assert len(expected) < 10_000
    assert f"{table}: read in {len(pages)} key pages, 1 reads retried" in caplog.text
