"""How stale each source table is, against the freshness thresholds of the dbt project.

A table's age is measured as dbt's source freshness measures it: from the end of its last
successful sync in ingestion.table_syncs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingestion.report.dbt_docs import Threshold
from ingestion.report.marts import TableState

FRESH = "fresh"
WARN = "warn"
ERROR = "error"
UNCHECKED = "unchecked"


@dataclass(frozen=True)
class TableFreshness:
    """One source table's age against its thresholds."""

    source: str
    table_name: str
    synced_at: datetime | None
    age: timedelta | None
    threshold: Threshold | None
    state: str

    @property
    def name(self) -> str:
        """source.table, as the sync log names it."""
        return f"{self.source}.{self.table_name}"


def evaluate(
    tables: Iterable[TableState],
    thresholds: Mapping[tuple[str, str], Threshold],
    now: datetime,
) -> list[TableFreshness]:
    """Every synced or threshold-bearing table, with its state: fresh, warn, error, unchecked."""
    synced = {(table.source, table.table_name): table.ok_finished_at for table in tables}
    found = []
    for key in sorted(set(synced) | set(thresholds)):
        synced_at = synced.get(key)
        age = now - synced_at if synced_at else None
        threshold = thresholds.get(key)
        found.append(
            TableFreshness(
                source=key[0],
                table_name=key[1],
                synced_at=synced_at,
                age=age,
                threshold=threshold,
                state=_state(age, threshold),
            )
        )
    return found


def _state(age: timedelta | None, threshold: Threshold | None) -> str:
    if threshold is None:
        return UNCHECKED
    if age is None:
        return ERROR
    if threshold.error_after is not None and age > threshold.error_after:
        return ERROR
    if threshold.warn_after is not None and age > threshold.warn_after:
        return WARN
    return FRESH


def stale(found: Iterable[TableFreshness]) -> list[TableFreshness]:
    """The tables past a threshold, the worst first."""
    late = [table for table in found if table.state in (WARN, ERROR)]
    return sorted(late, key=lambda table: (table.state != ERROR, table.name))
