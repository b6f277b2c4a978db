"""How fast `ingestion profile` reads a million-user demo (`make bench`).

Profiles the demo (a million users at go-live, then a day of the launch) with the
default sample size and statement timeout, next to a reference measured on the same
server in the same run: one `count(*)` of every table, the cost of reading each once.
Prints the total, the slowest query against the timeout, and the ratio; asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from ingestion import local_server, settings
from ingestion.catalog import PACKAGED_CATALOG, load_catalog
from ingestion.demo import simulator
from ingestion.profile import profiler
from ingestion.profile.records import Profile
from ingestion.source_session import SessionLimits
from tests.servers import make_server

TARGET_SECONDS = 60


def _reference_seconds(databases: simulator.DemoDatabases) -> float:
    """count(*) of every demo table, one after the other."""
    started = time.perf_counter()
    for source, tables in simulator.DEMO_TABLES.items():
        engine = sa.create_engine(databases.url(source))
        with engine.connect() as connection:
            for table in tables:
                connection.execute(sa.select(sa.func.count()).select_from(sa.table(table)))
        engine.dispose()
    return time.perf_counter() - started


def _print(profile: Profile, seconds: float, reference: float, timeout: float) -> None:
    by_table: dict[str, float] = defaultdict(float)
    for timing in profile.queries:
        by_table[f"{timing.source}.{timing.table}"] += timing.seconds
    for table in profile.tables:
        read = f"{table.rows_read:>9,} rows read"
        size = (
            f"{table.rows:>11,} rows"
            if table.rows is not None
            else f"≈{table.estimated_rows:>10,} rows"
        )
        sample = f"sample {table.sample_percent:g}%" if table.sampled else "whole"
        print(
            f"  {table.qualified:<36} {size}  {read}  {sample:<14}"
            f" {by_table[table.qualified]:6.2f} s{'  FAILED' if table.error else ''}"
        )
    longest = profile.longest_query
    verdict = "within" if seconds < TARGET_SECONDS else "OVER"
    print(f"profile:   {seconds:8.1f} s  ({verdict} the {TARGET_SECONDS} s target)")
    print(f"reference: {reference:8.1f} s  (count(*) of every table, each read once)")
    print(f"ratio:     the profile takes {seconds / reference:.1f}x the reference")
    if longest:
        print(
            f"queries:   {len(profile.queries)}; the slowest {longest.seconds:.2f} s"
            f" ({longest.source}.{longest.table}: {longest.label}),"
            f" {'under' if longest.seconds < timeout else 'OVER'} the statement_timeout"
            f" of {timeout:g} s"
        )
    kinds = ", ".join(sorted({finding.kind for finding in profile.findings}))
    print(f"findings:  {len(profile.findings)} ({kinds})")
    failed = [table.qualified for table in profile.tables if table.error]
    print(f"failed:    {', '.join(failed) if failed else 'none'}")


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, default=1_000_000)
    # Past the day after go-live, when the vault's card JSON changes its keys.
    parser.add_argument("--hours", type=float, default=30, help="launch hours to simulate")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    timeout = settings.DEFAULT_PROFILE_STATEMENT_TIMEOUT_SECONDS
    folder = Path(tempfile.mkdtemp(prefix="ingestion-bench-"))
    server = make_server(folder)
    local_server.start(server)
    try:
        databases = simulator.DemoDatabases(
            admin_url=local_server.admin_url(server),
            names={source: f"bench_{source}" for source in simulator.DEMO_SOURCES},
        )
        started = time.perf_counter()
        simulator.init(
            databases, scale=args.scale, seed=1, go_live_at=datetime(2026, 6, 1, 16, tzinfo=UTC)
        )
        simulator.advance(databases, hours=args.hours)
        prepared = time.perf_counter() - started
        request = profiler.ProfileRequest(
            catalog=load_catalog(PACKAGED_CATALOG),
            urls=databases.urls(),
            limits=SessionLimits(statement_timeout_seconds=timeout),
            sample_rows=settings.DEFAULT_PROFILE_SAMPLE_ROWS,
        )
        started = time.perf_counter()
        profile = profiler.run(request)
        seconds = time.perf_counter() - started
        reference = _reference_seconds(databases)
    finally:
        local_server.stop(server)
        shutil.rmtree(folder, ignore_errors=True)

    print(
        f"profile of the demo at --scale {args.scale:,} after {args.hours:g} launch hours"
        f" (made in {prepared:.0f} s), sample size {settings.DEFAULT_PROFILE_SAMPLE_ROWS:,}"
    )
    _print(profile, seconds, reference, timeout)


if __name__ == "__main__":
    main()
