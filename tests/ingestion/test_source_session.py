"""Source sessions cannot write, cannot run away, say who they are, and fail in one line."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg2
import pytest
import sqlalchemy as sa
from psycopg2 import errors, sql

from ingestion import local_server
from ingestion.errors import IngestionError
from ingestion.local_server import LocalServer
from ingestion.source_session import (
    ReplicaReport,
    SessionLimits,
    chunk_seconds_budget,
    connect_check,
    failures_named,
    is_recovery_conflict,
    libpq_url,
    preflight,
    source_engine,
)
from tests.servers import free_port

# Characters that a URL must escape, to prove the password survives the round trip.
PASSWORD = "p@ss w/rd:%+?#"
LIMITS = SessionLimits(
    statement_timeout_seconds=123,
    lock_timeout_seconds=4,
    idle_in_transaction_timeout_seconds=45,
    application_name="ingestion-test",
)
SETTINGS_QUERY = (
    "select name, setting from pg_settings where name in ('default_transaction_read_only',"
    " 'statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout',"
    " 'application_name', 'TimeZone') order by name"
)
EXPECTED_SETTINGS = [
    ("TimeZone", "UTC"),
    ("application_name", "ingestion-test"),
    ("default_transaction_read_only", "on"),
    ("idle_in_transaction_session_timeout", "45000"),
    ("lock_timeout", "4000"),
    ("statement_timeout", "123000"),
]

MakeEngine = Callable[..., sa.Engine]


@pytest.fixture
def make_engine() -> Iterator[MakeEngine]:
    """Source engines that are disposed of after the test."""
    made: list[sa.Engine] = []

    def make(url: sa.URL, limits: SessionLimits = LIMITS) -> sa.Engine:
        made.append(source_engine(url, limits))
        return made[-1]

    yield make
    for engine in made:
        engine.dispose()


@pytest.fixture
def database_url(admin_url: sa.URL, fresh_database: str) -> sa.URL:
    """The superuser's URL for a fresh database holding one table, `orders`."""
    url = admin_url.set(database=fresh_database)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql("create table orders (id bigint primary key, note text)")
    engine.dispose()
    return url


@pytest.fixture
def reader(admin_url: sa.URL, server: LocalServer, database_url: sa.URL) -> Iterator[sa.URL]:
    """A login role with a password, reached over TCP on 127.0.0.1 like a real replica."""
    role = f"reader_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        cursor = connection.connection.cursor()
        cursor.execute(
            sql.SQL("create role {} login password %s").format(sql.Identifier(role)), (PASSWORD,)
        )
    yield sa.URL.create(
        "postgresql+psycopg2",
        username=role,
        password=PASSWORD,
        host=local_server.HOST,
        port=server.port,
        database=database_url.database,
    )
    with admin.connect() as connection:
        cursor = connection.connection.cursor()
        cursor.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))
    admin.dispose()


def test_write_through_a_source_session_fails_even_as_superuser(
    database_url: sa.URL, make_engine: MakeEngine
) -> None:
    engine = make_engine(database_url)

    with pytest.raises(sa.exc.DBAPIError) as raised, engine.begin() as connection:
        connection.execute(sa.text("insert into orders (id, note) values (1, 'written')"))

    assert isinstance(raised.value.orig, errors.ReadOnlySqlTransaction)
    with engine.connect() as connection:
        assert connection.execute(sa.text("select count(*) from orders")).scalar() == 0


def test_statement_timeout_cancels_a_long_read_and_names_the_source(
    database_url: sa.URL, make_engine: MakeEngine
) -> None:
    engine = make_engine(database_url, SessionLimits(statement_timeout_seconds=1))
    started = time.perf_counter()

    with (
        pytest.raises(IngestionError) as raised,
        failures_named("accounts", engine, table="orders"),
        engine.connect() as connection,
    ):
        connection.execute(sa.text("select pg_sleep(10)"))

    assert time.perf_counter() - started < 5
    message = str(raised.value)
    assert message.startswith(
        "source accounts, table orders: canceling statement due to statement timeout"
    )
    assert f"database {database_url.database}" in message
    assert "\n" not in message


def test_driver_errors_from_a_raw_cursor_are_named_too(
    database_url: sa.URL, make_engine: MakeEngine
) -> None:
    engine = make_engine(database_url)

    with (
        pytest.raises(IngestionError) as raised,
        failures_named("vault", engine, table="orders"),
        engine.connect() as connection,
    ):
        connection.connection.cursor().execute("delete from orders")

    assert str(raised.value).startswith(
        "source vault, table orders: cannot execute DELETE in a read-only transaction"
    )


def test_session_limits_hold_from_the_first_statement(
    database_url: sa.URL, make_engine: MakeEngine
) -> None:
    with make_engine(database_url).connect() as connection:
        shown = [tuple(row) for row in connection.exec_driver_sql(SETTINGS_QUERY)]

    assert shown == EXPECTED_SETTINGS


def test_application_name_shows_in_pg_stat_activity(
    admin_url: sa.URL, database_url: sa.URL, make_engine: MakeEngine
) -> None:
    admin = sa.create_engine(admin_url)
    try:
        with make_engine(database_url).connect() as source, admin.connect() as connection:
            source.execute(sa.text("select 1"))
            names = connection.execute(
                sa.text("select application_name from pg_stat_activity where datname = :name"),
                {"name": database_url.database},
            ).scalars()
            assert list(names) == ["ingestion-test"]
    finally:
        admin.dispose()


def test_libpq_url_carries_the_password_and_the_same_limits(reader: sa.URL) -> None:
    connection = psycopg2.connect(libpq_url(reader, LIMITS))
    try:
        cursor = connection.cursor()
        cursor.execute(SETTINGS_QUERY)
        shown = cursor.fetchall()
    finally:
        connection.close()

    assert shown == EXPECTED_SETTINGS


def test_connect_check_passes_for_a_reachable_source(
    reader: sa.URL, make_engine: MakeEngine
) -> None:
    connect_check("accounts", make_engine(reader))


def test_wrong_password_is_one_line_without_the_password(
    reader: sa.URL, make_engine: MakeEngine
) -> None:
    wrong = "wrong-Secret-42"
    engine = make_engine(reader.set(password=wrong))

    with pytest.raises(IngestionError) as raised:
        connect_check("accounts", engine)

    message = str(raised.value)
    assert message.startswith(f"source accounts: cannot connect to database {reader.database} ")
    assert "check SOURCE_ACCOUNTS_URL" in message
    assert f'password authentication failed for user "{reader.username}"' in message
    assert wrong not in message
    assert PASSWORD not in message
    assert "\n" not in message


def test_missing_database_is_named(reader: sa.URL, make_engine: MakeEngine) -> None:
    engine = make_engine(reader.set(database="no_such_db"))

    with pytest.raises(IngestionError) as raised:
        connect_check("vault", engine)

    message = str(raised.value)
    assert message.startswith("source vault: cannot connect to database no_such_db ")
    assert message.endswith('database "no_such_db" does not exist')
    assert PASSWORD not in message


def test_unreachable_host_is_named(reader: sa.URL, make_engine: MakeEngine) -> None:
    port = free_port()
    engine = make_engine(reader.set(port=port))

    with pytest.raises(IngestionError) as raised:
        connect_check("grading", engine)

    message = str(raised.value)
    assert message.startswith(
        f"source grading: cannot connect to database {reader.database} on 127.0.0.1:{port} "
    )
    assert "Connection refused" in message
    assert PASSWORD not in message
    assert "\n" not in message


def test_preflight_reports_a_primary(database_url: sa.URL, make_engine: MakeEngine) -> None:
    report = preflight(make_engine(database_url))

    assert report.is_standby is False
    assert report.lag_seconds is None
    assert report.max_standby_streaming_delay_ms == 30000
    assert report.summary().startswith("primary")
    assert report.warnings() == ()
    assert chunk_seconds_budget(report) is None


def test_standby_without_feedback_gets_a_chunk_budget_and_a_warning() -> None:
    report = ReplicaReport(
        is_standby=True,
        lag_seconds=0.0,
        hot_standby_feedback=False,
        max_standby_streaming_delay_ms=30000,
    )

    assert chunk_seconds_budget(report) == 15.0
    assert report.summary() == (
        "standby: replication lag 0.0 s, hot_standby_feedback off, max_standby_streaming_delay 30 s"
    )
    (warning,) = report.warnings()
    assert warning.startswith("standby with hot_standby_feedback off:")
    assert "ranges of about 15 s" in warning


@pytest.mark.parametrize(
    ("feedback", "delay_ms"), [(True, 30000), (False, -1)], ids=["feedback on", "wait forever"]
)
def test_standby_that_never_cancels_reads_needs_no_chunk_budget(
    feedback: bool, delay_ms: int
) -> None:
    report = ReplicaReport(
        is_standby=True,
        lag_seconds=2.0,
        hot_standby_feedback=feedback,
        max_standby_streaming_delay_ms=delay_ms,
    )

    assert chunk_seconds_budget(report) is None


def _raise(engine: sa.Engine, sqlstate: str, message: str) -> sa.exc.DBAPIError:
    statement = sql.SQL(
        "do $$ begin raise exception using errcode = {}, message = {}; end $$"
    ).format(sql.Literal(sqlstate), sql.Literal(message))
    with pytest.raises(sa.exc.DBAPIError) as raised, engine.connect() as connection:
        connection.exec_driver_sql(statement.as_string(connection.connection.cursor()))
    return raised.value


def test_recovery_conflict_is_recognised_from_its_sqlstate_and_message(
    database_url: sa.URL, make_engine: MakeEngine
) -> None:
    engine = make_engine(database_url)

    conflict = _raise(engine, "40001", "canceling statement due to conflict with recovery")
    serialization = _raise(engine, "40001", "could not serialize access due to concurrent update")
    dropped = _raise(engine, "57P04", "terminating connection due to conflict with recovery")

    assert isinstance(conflict.orig, errors.SerializationFailure)
    assert is_recovery_conflict(conflict)
    assert is_recovery_conflict(conflict.orig)
    assert not is_recovery_conflict(serialization)
    assert not is_recovery_conflict(dropped)


def test_recovery_conflict_is_recognised_behind_an_ingestion_error(
    database_url: sa.URL, make_engine: MakeEngine
) -> None:
    engine = make_engine(database_url)

    with pytest.raises(IngestionError) as raised, failures_named("vault", engine):
        raise _raise(engine, "40001", "canceling statement due to conflict with recovery")

    assert is_recovery_conflict(raised.value)


def test_limits_come_from_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOURCE_STATEMENT_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("SOURCE_LOCK_TIMEOUT_SECONDS", "1")
    monkeypatch.delenv("SOURCE_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS", raising=False)
    monkeypatch.delenv("SOURCE_CONNECT_TIMEOUT_SECONDS", raising=False)

    limits = SessionLimits.from_settings()

    assert limits == SessionLimits(statement_timeout_seconds=2.5, lock_timeout_seconds=1)


def test_a_timeout_of_zero_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOURCE_LOCK_TIMEOUT_SECONDS", "0")

    with pytest.raises(IngestionError, match=r"^setting SOURCE_LOCK_TIMEOUT_SECONDS is malformed"):
        SessionLimits.from_settings()
