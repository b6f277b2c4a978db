"""The demo production system: create its four databases at go-live, move its clock.

Everything that happens is a pure function of the seed, an entity's id and its creation
time, computed in set-based SQL (see `sql/`). Moving the clock from t0 to t1 applies
exactly the events in (t0, t1], so the databases do not depend on how the clock is
stepped. The only record besides the production tables is `simulator.state` in the
accounts database: seed, scale, go-live and clock.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import URL, Connection

from ingestion.demo import sessions
from ingestion.demo.clock import Window, as_utc, simulation_start
from ingestion.errors import IngestionError

log = logging.getLogger(__name__)

DEMO_SOURCES: tuple[str, ...] = ("accounts", "grading", "vault", "collection")
DEMO_TABLES: Mapping[str, tuple[str, ...]] = {
    "accounts": ("users", "unified_accounts"),
    "grading": (
        "service_levels",
        "submission_statuses",
        "submissions",
        "submission_status_events",
    ),
    "vault": ("vault_items",),
    "collection": ("collection_items",),
}
# What one step of the clock runs in each database, in this order. "analyze" runs only
# in init, whose step fills tables that have no statistics yet: without them the
# planner picks nested loops over hundreds of thousands of rows.
STEP_STATEMENTS: Mapping[str, tuple[str, ...]] = {
    "accounts": (
        "insert_users",
        "edit_users",
        "insert_unified_accounts",
        "analyze",
        "update_unified_accounts",
    ),
    "grading": ("insert_submissions", "analyze", "progress_submissions", "sync_event_sequence"),
    "vault": (
        "insert_vault_items",
        "analyze",
        "progress_vault_items",
        "delete_cancelled_vault_items",
    ),
    "collection": ("insert_collection_items", "analyze", "delete_removed_collection_items"),
}
MAX_SEED = 2**40


@dataclass(frozen=True)
class DemoDatabases:
    """Where the demo databases live: an admin role and a database name per source."""

    admin_url: URL
    names: Mapping[str, str]

    def __post_init__(self) -> None:
        """Each source needs a database of its own."""
        missing = [source for source in DEMO_SOURCES if not self.names.get(source)]
        if missing:
            raise IngestionError(f"no database name for the demo source(s) {', '.join(missing)}")
        chosen = [self.names[source] for source in DEMO_SOURCES]
        if len(set(chosen)) < len(chosen):
            raise IngestionError(f"the demo sources need four different databases, not {chosen}")

    def url(self, source: str) -> URL:
        """The admin role's URL for the database of `source`."""
        return self.admin_url.set(database=self.names[source])

    def urls(self) -> dict[str, URL]:
        """The admin role's URL for each source's database, accounts first."""
        return {source: self.url(source) for source in DEMO_SOURCES}


@dataclass(frozen=True)
class DemoState:
    """The simulator's settings and its clock (the simulated now), in UTC."""

    seed: int
    scale: int
    go_live_at: datetime
    clock: datetime


def init(databases: DemoDatabases, *, scale: int, seed: int, go_live_at: datetime) -> DemoState:
    """(Re)create the four databases and fill them up to the clock = go_live_at."""
    if scale < 1:
        raise IngestionError(f"the demo scale must be at least 1 user, not {scale}")
    if not 0 <= seed < MAX_SEED:
        raise IngestionError(f"the demo seed must be between 0 and {MAX_SEED - 1}, not {seed}")
    go_live = as_utc(go_live_at)
    window = Window(seed, scale, go_live, simulation_start(go_live), go_live)
    parameters = window.parameters()
    started = time.perf_counter()
    sessions.recreate_databases(databases.admin_url, [databases.names[s] for s in DEMO_SOURCES])
    log.info("demo: created the databases %s", ", ".join(databases.names[s] for s in DEMO_SOURCES))
    with sessions.connect_all(databases.urls()) as connections:
        for source, connection in connections.items():
            with sessions.failures_named(databases.names[source]):
                sessions.script(connection, source, "tables")
                _prepare(connection, parameters)
        with sessions.failures_named(databases.names["accounts"]):
            sessions.statement(connections["accounts"], "accounts", "initial_users", parameters)
        _run_step(databases, connections, parameters, analyze=True)
        for source, connection in connections.items():
            with sessions.failures_named(databases.names[source]):
                sessions.script(connection, source, "indexes")
                sessions.script(connection, source, "analyze")
        with sessions.failures_named(databases.names["accounts"]):
            sessions.script(connections["accounts"], "accounts", "state_table")
            sessions.statement(connections["accounts"], "accounts", "insert_state", parameters)
        counts = _row_counts(connections)
        _commit(databases, connections)
    log.info(
        "demo: filled up to go-live %s in %.1f s (%s)",
        go_live.isoformat(),
        time.perf_counter() - started,
        ", ".join(f"{table} {count:,}" for table, count in counts.items()),
    )
    return DemoState(seed=seed, scale=scale, go_live_at=go_live, clock=go_live)


def advance(
    databases: DemoDatabases, *, hours: float | None = None, to: datetime | None = None
) -> DemoState:
    """Move the clock forward by `hours` or to `to` and apply every event in between."""
    if (hours is None) == (to is None):
        raise IngestionError("advance the demo clock either by hours or to a time")
    if hours is not None and not (math.isfinite(hours) and hours > 0):
        raise IngestionError(f"the demo clock moves forward only: hours must be > 0, not {hours}")
    started = time.perf_counter()
    with sessions.connect_all(databases.urls()) as connections:
        state = _read_state(databases, connections["accounts"], lock=True)
        end = state.clock + timedelta(hours=hours) if hours is not None else as_utc(to)
        if end <= state.clock:
            raise IngestionError(
                f"cannot move the demo clock to {end.isoformat()}:"
                f" it is not after the clock {state.clock.isoformat()}"
            )
        window = Window(state.seed, state.scale, state.go_live_at, state.clock, end)
        parameters = window.parameters()
        for source, connection in connections.items():
            with sessions.failures_named(databases.names[source]):
                _prepare(connection, parameters)
        _run_step(databases, connections, parameters, analyze=False)
        with sessions.failures_named(databases.names["accounts"]):
            sessions.statement(connections["accounts"], "accounts", "set_clock", parameters)
        _commit(databases, connections)
    log.info(
        "demo: moved the clock from %s to %s in %.1f s",
        state.clock.isoformat(),
        end.isoformat(),
        time.perf_counter() - started,
    )
    return DemoState(seed=state.seed, scale=state.scale, go_live_at=state.go_live_at, clock=end)


def read_state(databases: DemoDatabases) -> DemoState:
    """The simulator's seed, scale, go-live and clock."""
    with sessions.connect(databases.url("accounts")) as connection:
        return _read_state(databases, connection, lock=False)


def drop(databases: DemoDatabases) -> None:
    """Drop the four demo databases where they exist."""
    sessions.drop_databases(databases.admin_url, [databases.names[s] for s in DEMO_SOURCES])


def _read_state(databases: DemoDatabases, connection: Connection, *, lock: bool) -> DemoState:
    try:
        row = sessions.statement(
            connection, "accounts", "lock_state" if lock else "read_state", {}
        ).one_or_none()
    except sa.exc.ProgrammingError as error:
        if getattr(error.orig, "pgcode", None) == sessions.UNDEFINED_TABLE:
            raise IngestionError(sessions.NOT_INITIALISED) from None
        raise IngestionError(
            f"demo database {databases.names['accounts']}: cannot read simulator.state"
        ) from error
    if row is None:
        raise IngestionError(sessions.NOT_INITIALISED)
    return DemoState(
        seed=row.seed, scale=row.scale, go_live_at=as_utc(row.go_live_at), clock=as_utc(row.clock)
    )


def _prepare(connection: Connection, parameters: Mapping[str, object]) -> None:
    """Create this session's helper functions and its table of arrival slots."""
    for name in ("random", "names", "lifecycles"):
        sessions.script(connection, "session", name)
    sessions.statement(connection, "session", "slots", parameters)
    sessions.script(connection, "session", "slot_functions")


def _run_step(
    databases: DemoDatabases,
    connections: Mapping[str, Connection],
    parameters: Mapping[str, object],
    *,
    analyze: bool,
) -> None:
    for source, connection in connections.items():
        started = time.perf_counter()
        with sessions.failures_named(databases.names[source]):
            for name in STEP_STATEMENTS[source]:
                if analyze or name != "analyze":
                    sessions.statement(connection, source, name, parameters)
        log.debug(
            "demo: %s moved to %s in %.1f s",
            source,
            parameters["t1"],
            time.perf_counter() - started,
        )


def _commit(databases: DemoDatabases, connections: Mapping[str, Connection]) -> None:
    """Commit the accounts database, which holds the clock, last."""
    for source in sorted(connections, key=lambda source: source == "accounts"):
        with sessions.failures_named(databases.names[source]):
            connections[source].commit()


def _row_counts(connections: Mapping[str, Connection]) -> dict[str, int]:
    return {
        table: connections[source]
        .execute(sa.select(sa.func.count()).select_from(sa.table(table)))
        .scalar_one()
        for source, tables in DEMO_TABLES.items()
        for table in tables
    }
