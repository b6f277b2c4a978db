"""Trying a sync again when a connection is lost: a server restarting, or too many clients.

A source's sync is the unit that is tried again. dlt keeps what it extracted but did not
load in its working folder and loads it first the next time, merges are keyed, and the
sync log never records `ok` for an attempt that failed: a second attempt is the re-run
that repairs a killed sync. Only connection faults are retried (the SQLSTATEs below, or
libpq's and connectorx's messages for failures that carry none, such as a refused
connection); a wrong password, a missing table or bad data fail at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from ingestion import settings
from ingestion.errors import IngestionError

log = logging.getLogger(__name__)
T = TypeVar("T")

# A wait never grows past this, however many attempts the settings allow.
MAX_BACKOFF_SECONDS = 60.0
# connection_exception (class 08), too_many_connections (53300: "sorry, too many clients
# already", and a role's or database's CONNECTION LIMIT), admin_shutdown (57P01),
# crash_shutdown (57P02) and cannot_connect_now (57P03: starting up or shutting down).
LOST_CONNECTION_SQLSTATES = frozenset({"53300", "57P01", "57P02", "57P03"})
LOST_CONNECTION_CLASS = "08"
# The same faults as libpq, the server and connectorx word them where no SQLSTATE
# travels (libpq reports a failed connection attempt as text; connectorx gives text).
# The server's texts assume lc_messages in English, PostgreSQL's default.
LOST_CONNECTION_MESSAGES = (
    "too many clients already",
    "too many connections for",
    "remaining connection slots are reserved",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "terminating connection due to administrator command",
    "terminating connection because of crash of another server process",
    "server closed the connection unexpectedly",
    "connection refused",
    "connection reset by peer",
    "broken pipe",
    "no connection to the server",
    "connection already closed",
    # connectorx (rust-postgres) on a connection that the server ended mid-read.
    "connection closed",
    "could not receive data from server",
    "could not send data to server",
    "ssl connection has been closed unexpectedly",
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often a sync that lost a connection is tried, and how long it waits between."""

    attempts: int = settings.DEFAULT_SYNC_RETRY_ATTEMPTS
    backoff_seconds: float = settings.DEFAULT_SYNC_RETRY_BACKOFF_SECONDS

    @classmethod
    def from_settings(cls) -> RetryPolicy:
        """The policy that SYNC_RETRY_ATTEMPTS and SYNC_RETRY_BACKOFF_SECONDS ask for."""
        return cls(settings.sync_retry_attempts(), settings.sync_retry_backoff_seconds())

    def wait_seconds(self, failed_attempts: int) -> float:
        """The wait after that many failed attempts: doubled each time, at most a minute."""
        return min(MAX_BACKOFF_SECONDS, self.backoff_seconds * 2 ** (failed_attempts - 1))


def is_lost_connection(error: BaseException) -> bool:
    """Whether `error` (or what caused it) is a connection lost or refused for now."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        sqlstate = getattr(current, "pgcode", None)
        if isinstance(sqlstate, str) and (
            sqlstate in LOST_CONNECTION_SQLSTATES or sqlstate.startswith(LOST_CONNECTION_CLASS)
        ):
            return True
        text = str(current).lower()
        if any(message in text for message in LOST_CONNECTION_MESSAGES):
            return True
        # dlt's PipelineStepFailed keeps the step's error in `exception`.
        inner = getattr(current, "exception", None)
        current = (
            inner
            if isinstance(inner, BaseException) and id(inner) not in seen
            else current.__cause__ or current.__context__
        )
    return False


def first_line(error: BaseException, secrets: Sequence[str] = ()) -> str:
    """The first line of an error's message, with every secret in `secrets` masked."""
    lines = str(error).strip().splitlines()
    line = lines[0] if lines else type(error).__name__
    for secret in secrets:
        if secret:
            line = line.replace(secret, "***")
    return line


def retried(
    action: Callable[[], T],
    where: str,
    policy: RetryPolicy,
    *,
    secrets: Sequence[str] = (),
    on_retry: Callable[[], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `action`; while it loses a connection, wait and run it again, up to the policy.

    `on_retry` runs before each wait (to drop pooled connections to a restarted server).
    Giving up is an IngestionError with the last failure's first line and the count.
    """
    began = time.monotonic()

    def before_sleep(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s: attempt %s of %s lost its connection (%s); trying again in %.1f s",
            where,
            state.attempt_number,
            policy.attempts,
            _described(error, where, secrets),
            state.upcoming_sleep,
        )
        if on_retry is not None:
            on_retry()

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=lambda state: policy.wait_seconds(state.attempt_number),
        retry=tenacity.retry_if_exception(is_lost_connection),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )
    try:
        return retrying(action)
    except Exception as error:
        if not is_lost_connection(error):
            raise
        raise IngestionError(
            f"{_described(error, where, secrets)}; gave up after {policy.attempts}"
            f" attempt{'s' if policy.attempts > 1 else ''} in {time.monotonic() - began:.0f} s"
            " (SYNC_RETRY_ATTEMPTS)"
        ) from error


def _described(error: BaseException | None, where: str, secrets: Sequence[str]) -> str:
    """Our own errors already name where they happened; others get `where` in front."""
    if error is None:
        return where
    line = first_line(error, secrets)
    return line if isinstance(error, IngestionError) else f"{where}: {line}"
