"""Syncs in a loop while the demo writes at a steady rate; afterwards, zero differences.

`make soak` runs it for 10 minutes: `python -m tests.faults.soak --seconds 600`. The
writer moves the simulated clock a few minutes at a time (inserts, updates, soft deletes
of submissions, hard deletes of vault and collection items), and now and then holds a
transaction open across syncs before it commits (a row whose cursor value is older than
what the syncs have already seen). After the writes stop, one last sync; then every live
row of the warehouse must equal its source row, and no sync may have reported a failed
reconciliation: nothing was wrong, only written while the syncs ran.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from ingestion import local_server, sync
from ingestion.demo import simulator
from ingestion.demo.simulator import DEMO_SOURCES
from ingestion.errors import IngestionError
from tests.faults.harness import Demo, demo_databases, differences, duplicate_keys
from tests.servers import make_server

# Simulated minutes per write: well inside the catalog's 15-minute lookback even when a
# late transaction stays open for a few writes.
STEP_HOURS = 2 / 60
LATE_EVERY = 5
LATE_HOLD_SECONDS = 3.0
ROW_CHANGES = sa.text(
    "select coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) from pg_stat_user_tables"
    " where schemaname = 'public'"
)
# How a sync says that the warehouse and the source differ (sync.run).
RECONCILIATION_FAILED = "reconciliation failed for "
LATE_UPDATE = sa.text(
    "update users set updated_at = (select clock from simulator.state)"
    " where id in (select id from users order by id limit 3)"
)


@dataclass(frozen=True)
class SoakResult:
    """What a soak did and found."""

    seconds: float
    rows_written: int
    writes: int
    late_commits: int
    syncs: int
    failed_syncs: int
    # The distinct messages of the failed syncs.
    failures: tuple[str, ...]
    # Syncs that reported a failed reconciliation: all false, as no fault is injected.
    false_mismatches: int
    max_lag_seconds: float
    differences: list[str]
    duplicate_keys: dict[str, int]


def _row_changes(demo: Demo) -> int:
    total = 0
    for source in DEMO_SOURCES:
        engine = sa.create_engine(demo.demo.url(source))
        with engine.connect() as connection:
            total += int(connection.execute(ROW_CHANGES).scalar_one())
        engine.dispose()
    return total


class Writer(threading.Thread):
    """Moves the demo's clock step by step until told to stop; holds some commits back."""

    def __init__(self, demo: Demo, pause_seconds: float) -> None:
        super().__init__(daemon=True)
        self.demo = demo
        self.pause_seconds = pause_seconds
        self.stop = threading.Event()
        self.commits: list[float] = []
        self.late_commits = 0
        self.error: BaseException | None = None

    def _late(self) -> None:
        engine = sa.create_engine(self.demo.demo.url("accounts"))
        with engine.connect() as connection:
            connection.execute(LATE_UPDATE)
            time.sleep(LATE_HOLD_SECONDS)
            connection.commit()
        engine.dispose()
        self.commits.append(time.monotonic())
        self.late_commits += 1

    def run(self) -> None:
        """Write until stopped."""
        late: list[threading.Thread] = []
        try:
            while not self.stop.is_set():
                simulator.advance(self.demo.demo, hours=STEP_HOURS)
                self.commits.append(time.monotonic())
                if len(self.commits) % LATE_EVERY == 0:
                    late.append(threading.Thread(target=self._late))
                    late[-1].start()
                self.stop.wait(self.pause_seconds)
        except BaseException as error:
            self.error = error
        for thread in late:
            thread.join()


def _max_lag(commits: list[float], syncs: list[tuple[float, float]]) -> float:
    """Longest time from a commit to the end of the first sync that started after it."""
    lags = []
    for committed in commits:
        ends = [end for start, end in syncs if start >= committed]
        if ends:
            lags.append(min(ends) - committed)
    return max(lags, default=0.0)


def soak(demo: Demo, *, seconds: float, max_syncs: int, pause_seconds: float = 1.0) -> SoakResult:
    """Write and sync together for `seconds` (or `max_syncs` syncs), then compare."""
    assert sync.run(sync.SyncRequest(full_refresh=True))
    before = _row_changes(demo)
    began = time.monotonic()
    writer = Writer(demo, pause_seconds)
    writer.start()
    engines = sync.Warm()
    syncs: list[tuple[float, float]] = []
    failed: list[str] = []
    try:
        while time.monotonic() - began < seconds and len(syncs) < max_syncs:
            started = time.monotonic()
            try:
                sync.run(sync.SyncRequest(), engines)
            except IngestionError as error:
                failed.append(str(error))
            syncs.append((started, time.monotonic()))
    finally:
        writer.stop.set()
        writer.join()
        engines.dispose()
    if writer.error is not None:
        raise writer.error
    started = time.monotonic()
    sync.run(sync.SyncRequest())
    syncs.append((started, time.monotonic()))
    return SoakResult(
        seconds=time.monotonic() - began,
        rows_written=_row_changes(demo) - before,
        writes=len(writer.commits),
        late_commits=writer.late_commits,
        syncs=len(syncs),
        failed_syncs=len(failed),
        failures=tuple(sorted(set(failed))),
        false_mismatches=sum(1 for message in failed if message.startswith(RECONCILIATION_FAILED)),
        max_lag_seconds=_max_lag(writer.commits, syncs),
        differences=differences(demo),
        duplicate_keys=duplicate_keys(demo),
    )


def describe(result: SoakResult) -> str:
    """The soak's figures, one per line."""
    return "\n".join(
        [
            f"soak: {timedelta(seconds=round(result.seconds))} of writes and syncs",
            f"rows written (inserted, updated, deleted): {result.rows_written:,}",
            f"write transactions: {result.writes} ({result.late_commits} committed late)",
            f"syncs: {result.syncs} ({result.failed_syncs} failed)",
            *(f"  failed: {message}" for message in result.failures),
            f"false reconciliation failures: {result.false_mismatches}",
            f"max lag (commit to the end of the next sync): {result.max_lag_seconds:.1f} s",
            f"differences after the last sync: {len(result.differences)}",
            f"duplicate keys: {sum(result.duplicate_keys.values())}",
            *result.differences[:20],
        ]
    )


def main() -> int:
    """Run a soak on a server of its own; exit 1 on any difference or false failure."""
    parser = argparse.ArgumentParser(prog="soak")
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--max-syncs", type=int, default=2_000)
    parser.add_argument("--scale", type=int, default=2_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ingestion-soak-"))
    server = make_server(folder / "pg")
    local_server.start(server)
    try:
        work = folder / "work"
        work.mkdir()
        admin_url = local_server.admin_url(server)
        with demo_databases(server, admin_url, work, scale=args.scale) as demo:
            result = soak(demo, seconds=args.seconds, max_syncs=args.max_syncs)
        print(describe(result))  # noqa: T201 - the soak's report
    finally:
        local_server.stop(server)
        shutil.rmtree(folder, ignore_errors=True)
    return 1 if result.differences or result.duplicate_keys or result.false_mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
