"""Run profiling queries on a source: read-only, bounded, timed, retried after replay.

Each statement is its own transaction (autocommit), so that no snapshot stays open on
the replica between two queries; `statement_timeout` of the session bounds each one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Executable

from ingestion.profile.records import QueryTiming
from ingestion.source_session import is_recovery_conflict

log = logging.getLogger(__name__)

RECOVERY_RETRIES = 2


@dataclass
class QueryLog:
    """Every query a profile ran, with how long it took; the run's one mutable record."""

    timings: list[QueryTiming] = field(default_factory=list)

    def rows(
        self,
        connection: Connection,
        where: tuple[str, str],
        label: str,
        statement: Executable,
        parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    ) -> list[sa.Row]:
        """Run `statement` on `connection` and return its rows; `where` is (source, table)."""
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                rows = connection.execute(statement, parameters).all()
            except sa.exc.DBAPIError as error:
                if attempt < RECOVERY_RETRIES and is_recovery_conflict(error):
                    attempt += 1
                    log.warning("%s.%s: %s cancelled by replay, retrying", *where, label)
                    continue
                raise
            finally:
                elapsed = time.perf_counter() - started
                self.timings.append(QueryTiming(where[0], where[1], label, round(elapsed, 4)))
            return rows
