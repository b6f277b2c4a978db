"""Sessions on a production source that cannot hurt it, and what its replica can bear.

Every session is read-only and bounded by timeouts from its first statement on, because
the limits travel in libpq's startup packet (`options`), not in SET statements a pool
could lose. Before a sync, `preflight` tells whether the source is a standby and how long
one read may run there before replay cancels it; `is_recovery_conflict` recognises that
cancellation so the caller can retry the chunk.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import URL, Engine

from ingestion import settings
from ingestion.errors import IngestionError

log = logging.getLogger(__name__)

APPLICATION_NAME = "ingestion"
LIBPQ_DRIVERS = ("psycopg2", "psycopg")
# One read may use this share of max_standby_streaming_delay: replay's grace period
# counts from when the WAL arrived, not from when the read began, so leave headroom.
STANDBY_DELAY_SHARE = 0.5
MIN_CHUNK_SECONDS = 1.0
LAG_WARNING_SECONDS = 300.0
# PostgreSQL raises "canceling statement due to conflict with recovery" with SQLSTATE
# 40001 (serialization_failure; snapshot, lock, buffer pin and tablespace conflicts) or
# 40P01 (deadlock_detected; a buffer deadlock with the startup process). A session
# idle in a transaction is instead terminated ("terminating connection due to conflict
# with recovery", also 40001). A dropped database (57P04) is not worth a retry.
RECOVERY_CONFLICT_SQLSTATES = frozenset({"40001", "40P01"})
RECOVERY_CONFLICT_MESSAGE = "due to conflict with recovery"
_CONNECTION_PREFIX = re.compile(r"^connection to server .*? failed: ")
_SEVERITY_PREFIX = re.compile(r"^(FATAL|ERROR):\s+")
_PREFLIGHT = sa.text(
    "select pg_is_in_recovery() as is_standby,"
    " case when not pg_is_in_recovery() then null"
    "   when pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() then 0.0"
    "   else extract(epoch from now() - pg_last_xact_replay_timestamp()) end as lag_seconds,"
    " current_setting('hot_standby_feedback') = 'on' as hot_standby_feedback,"
    " (select cast(setting as integer) from pg_settings"
    "   where name = 'max_standby_streaming_delay') as max_standby_streaming_delay_ms"
)


@dataclass(frozen=True)
class SessionLimits:
    """The limits every source session runs under, in seconds.

    statement: 15 minutes. Reads are chunked, so a healthy chunk takes seconds; the
    limit only stops a runaway (a bad plan, a missing index) before it holds a snapshot
    for hours, which on a primary or a standby with hot_standby_feedback keeps VACUUM
    from cleaning the whole database. It still leaves room for a full read of a large
    table without a usable key on a busy replica.
    lock: 5 seconds. Reads only take ACCESS SHARE locks, which wait only for DDL; better
    to fail that table than to queue behind a migration while holding other locks.
    idle_in_transaction: 60 seconds. A crashed or stuck sync must not keep a transaction
    (and its snapshot) open on production.
    connect: 10 seconds, so an unreachable host fails fast instead of after minutes.
    """

    statement_timeout_seconds: float = settings.DEFAULT_SOURCE_STATEMENT_TIMEOUT_SECONDS
    lock_timeout_seconds: float = settings.DEFAULT_SOURCE_LOCK_TIMEOUT_SECONDS
    idle_in_transaction_timeout_seconds: float = (
        settings.DEFAULT_SOURCE_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS
    )
    connect_timeout_seconds: int = settings.DEFAULT_SOURCE_CONNECT_TIMEOUT_SECONDS
    application_name: str = APPLICATION_NAME

    @classmethod
    def from_settings(cls) -> SessionLimits:
        """The limits that the SOURCE_*_TIMEOUT_SECONDS settings ask for."""
        return cls(
            statement_timeout_seconds=settings.source_statement_timeout_seconds(),
            lock_timeout_seconds=settings.source_lock_timeout_seconds(),
            idle_in_transaction_timeout_seconds=(
                settings.source_idle_in_transaction_timeout_seconds()
            ),
            connect_timeout_seconds=settings.source_connect_timeout_seconds(),
        )

    def server_options(self) -> str:
        """The libpq `options` value: the settings the server applies at session start."""
        values = {
            "default_transaction_read_only": "on",
            "statement_timeout": _milliseconds(self.statement_timeout_seconds),
            "lock_timeout": _milliseconds(self.lock_timeout_seconds),
            "idle_in_transaction_session_timeout": _milliseconds(
                self.idle_in_transaction_timeout_seconds
            ),
            # Timestamps rendered as text (COPY, casts) come out in UTC.
            "timezone": "UTC",
        }
        return " ".join(f"-c {name}={value}" for name, value in values.items())

    def connect_parameters(self, url: URL) -> dict[str, str]:
        """libpq parameters for `url`: its own `options` first, so that ours win."""
        own = url.query.get("options")
        own_options = own if isinstance(own, str) else " ".join(own or ())
        return {
            "options": " ".join(part for part in (own_options, self.server_options()) if part),
            "application_name": self.application_name,
            "connect_timeout": str(self.connect_timeout_seconds),
        }


@dataclass(frozen=True)
class ReplicaReport:
    """What a source is: a primary or a standby, how far behind, and what replay allows."""

    is_standby: bool
    lag_seconds: float | None
    hot_standby_feedback: bool
    max_standby_streaming_delay_ms: int | None

    def summary(self) -> str:
        """One line for a person: primary or standby, lag, feedback and replay delay."""
        if not self.is_standby:
            return "primary (not a standby): replay cannot cancel reads"
        lag = "unknown" if self.lag_seconds is None else f"{self.lag_seconds:.1f} s"
        feedback = "on" if self.hot_standby_feedback else "off"
        return (
            f"standby: replication lag {lag}, hot_standby_feedback {feedback},"
            f" max_standby_streaming_delay {_delay_text(self.max_standby_streaming_delay_ms)}"
        )

    def warnings(self) -> tuple[str, ...]:
        """What the person running the sync should know about reading from this source."""
        if not self.is_standby:
            return ()
        found: list[str] = []
        budget = chunk_seconds_budget(self)
        if budget is not None:
            found.append(
                "standby with hot_standby_feedback off: replay cancels reads that run longer"
                f" than max_standby_streaming_delay"
                f" ({_delay_text(self.max_standby_streaming_delay_ms)});"
                f" tables with one integer key are read in ranges of about {budget:.0f} s and"
                " retried when cancelled"
            )
        elif not self.hot_standby_feedback:
            found.append(
                "standby with max_standby_streaming_delay -1: replay waits for our reads,"
                " so long reads delay replication"
            )
        if self.lag_seconds is None:
            found.append("standby has replayed no transaction yet: its data may be stale")
        elif self.lag_seconds > LAG_WARNING_SECONDS:
            found.append(
                f"replication lag is {self.lag_seconds:.0f} s: this sync sees the primary"
                " as it was that long ago"
            )
        return tuple(found)


def source_engine(url: URL, limits: SessionLimits) -> Engine:
    """An engine whose every session is read-only and bounded by `limits`."""
    if url.get_backend_name() != "postgresql":
        log.warning(
            "source database %s is not PostgreSQL: read-only sessions and timeouts are"
            " not enforced, use a read-only role",
            url.database,
        )
        return sa.create_engine(url)
    if url.get_driver_name() not in LIBPQ_DRIVERS:
        raise IngestionError(
            f"source database {url.database}: driver {url.get_driver_name()} cannot carry"
            f" the session limits; use postgresql+psycopg2"
        )
    return sa.create_engine(
        url.difference_update_query(["options", "application_name", "connect_timeout"]),
        connect_args=limits.connect_parameters(url),
        pool_pre_ping=True,
    )


def libpq_url(url: URL, limits: SessionLimits) -> str:
    """A postgresql:// connection string with the same limits, for tools such as connectorx.

    It holds the password: pass it on, never log it.
    """
    query = {
        name: value if isinstance(value, str) else value[-1]
        for name, value in url.query.items()
        if value
    }
    query.update(limits.connect_parameters(url))
    userinfo = ""
    if url.username:
        userinfo = quote(url.username, safe="")
        if url.password is not None:
            userinfo += ":" + quote(str(url.password), safe="")
        userinfo += "@"
    host = url.host or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{url.port}" if url.port else ""
    # libpq decodes %XX but not "+", so spaces must be %20 (quote, not quote_plus).
    parameters = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query.items())
    return f"postgresql://{userinfo}{host}{port}/{quote(url.database or '', safe='')}?{parameters}"


def connect_check(source: str, engine: Engine) -> None:
    """Connect once; failing is an IngestionError naming the source and its database."""
    url = engine.url
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("select 1"))
    except sa.exc.DBAPIError as error:
        raise IngestionError(
            f"source {source}: cannot connect to database {url.database} on {_host(url)}"
            f" as {url.username or 'the default user'}"
            f" (check {settings.source_url_setting(source)}): {_reason(error, url)}"
        ) from error


@contextmanager
def failures_named(source: str, engine: Engine, table: str | None = None) -> Iterator[None]:
    """Turn a database error inside the block into a one-line IngestionError naming the source.

    Errors of the driver itself (from a raw DB-API cursor) are turned too. The original
    error stays the cause, so `is_recovery_conflict` still recognises it.
    """
    try:
        yield
    except (sa.exc.DBAPIError, *_driver_errors(engine)) as error:
        where = f"source {source}" + (f", table {table}" if table else "")
        url = engine.url
        raise IngestionError(
            f"{where}: {_reason(error, url)} (database {url.database} on {_host(url)})"
        ) from error


def preflight(engine: Engine) -> ReplicaReport:
    """Whether the source is a standby, its lag and what replay will do to long reads."""
    if engine.dialect.name != "postgresql":
        return ReplicaReport(
            is_standby=False,
            lag_seconds=None,
            hot_standby_feedback=False,
            max_standby_streaming_delay_ms=None,
        )
    with engine.connect() as connection:
        row = connection.execute(_PREFLIGHT).one()
    return ReplicaReport(
        is_standby=bool(row.is_standby),
        lag_seconds=None if row.lag_seconds is None else float(row.lag_seconds),
        hot_standby_feedback=bool(row.hot_standby_feedback),
        max_standby_streaming_delay_ms=row.max_standby_streaming_delay_ms,
    )


def chunk_seconds_budget(report: ReplicaReport) -> float | None:
    """How long one read may run on this source; None: no replay will cancel it.

    Only a standby without hot_standby_feedback cancels reads for row versions VACUUM
    removed on the primary; with feedback on, or a delay of -1 (wait forever), or on a
    primary, reads are not cut short (lock conflicts from DDL aside).
    """
    delay_ms = report.max_standby_streaming_delay_ms
    if not report.is_standby or report.hot_standby_feedback or delay_ms is None or delay_ms < 0:
        return None
    return max(MIN_CHUNK_SECONDS, STANDBY_DELAY_SHARE * delay_ms / 1000)


def is_recovery_conflict(error: BaseException) -> bool:
    """Whether `error` (or what caused it) is a read cancelled by a standby's replay."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        candidate = current.orig if isinstance(current, sa.exc.DBAPIError) else current
        if RECOVERY_CONFLICT_MESSAGE in str(candidate):
            sqlstate = getattr(candidate, "pgcode", None)
            # Without a SQLSTATE (connectorx and other tools give text) the message decides.
            if sqlstate is None or sqlstate in RECOVERY_CONFLICT_SQLSTATES:
                return True
        current = current.__cause__ or current.__context__
    return False


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _delay_text(delay_ms: int | None) -> str:
    if delay_ms is None:
        return "unknown"
    if delay_ms < 0:
        return "-1 (wait forever)"
    return f"{delay_ms / 1000:g} s"


def _host(url: URL) -> str:
    """Where the database lives: host (or socket folder) and port, never the password."""
    socket, port = url.query.get("host"), url.query.get("port")
    host = url.host or (socket if isinstance(socket, str) else "the default host")
    return f"{host}:{url.port or (port if isinstance(port, str) else 5432)}"


def _driver_errors(engine: Engine) -> tuple[type[Exception], ...]:
    """The DB-API driver's base error class, which raw cursors raise unwrapped."""
    error = getattr(engine.dialect.loaded_dbapi, "Error", None)
    return (error,) if isinstance(error, type) and issubclass(error, Exception) else ()


def _reason(error: Exception, url: URL) -> str:
    """The first line of the driver's message, without libpq's prefixes or the password."""
    cause = error.orig if isinstance(error, sa.exc.DBAPIError) else error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    reason = lines[0] if lines else type(cause).__name__
    reason = _SEVERITY_PREFIX.sub("", _CONNECTION_PREFIX.sub("", reason))
    password = url.password
    if password:
        reason = reason.replace(str(password), "***")
    return reason
