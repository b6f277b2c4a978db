"""How fast the demo production system is generated (`make bench`).

Times `demo init` at a million users and one simulated hour after it, next to a
reference measured on the same server in the same run: a plain set-based insert of as
many rows as init wrote. Prints figures and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from ingestion import local_server
from ingestion.demo import simulator
from tests.servers import make_server

INIT_TARGET_SECONDS = 180
TABLES = {
    "accounts": ["users", "unified_accounts"],
    "grading": ["service_levels", "submission_statuses", "submissions", "submission_status_events"],
    "vault": ["vault_items"],
    "collection": ["collection_items"],
}


def _row_counts(databases: simulator.DemoDatabases) -> dict[str, int]:
    counts = {}
    for source, tables in TABLES.items():
        engine = sa.create_engine(databases.admin_url.set(database=databases.names[source]))
        with engine.connect() as connection:
            for table in tables:
                query = sa.select(sa.func.count()).select_from(sa.table(table))
                counts[f"{source}.{table}"] = connection.execute(query).scalar_one()
        engine.dispose()
    return counts


def _reference_seconds(admin_url: sa.URL, rows: int) -> float:
    """A plain INSERT … SELECT of `rows` rows with a primary key, on the same server."""
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text("drop table if exists bench_reference"))
        started = time.perf_counter()
        connection.execute(
            sa.text(
                "create table bench_reference as select g as id, md5(g::text) as label,"
                " now() - g * interval '1 second' as created_at"
                " from generate_series(1, :rows) as g"
            ),
            {"rows": rows},
        )
        connection.execute(sa.text("alter table bench_reference add primary key (id)"))
        elapsed = time.perf_counter() - started
        connection.execute(sa.text("drop table bench_reference"))
    engine.dispose()
    return elapsed


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, default=1_000_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
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
        init_seconds = time.perf_counter() - started
        counts = _row_counts(databases)
        rows = sum(counts.values())
        started = time.perf_counter()
        simulator.advance(databases, hours=1)
        advance_seconds = time.perf_counter() - started
        reference = _reference_seconds(local_server.admin_url(server), rows)
    finally:
        local_server.stop(server)
        shutil.rmtree(folder, ignore_errors=True)

    print(f"demo init --scale {args.scale:,}")
    for table, count in counts.items():
        print(f"  {table:<42} {count:>12,} rows")
    print(f"  {'total':<42} {rows:>12,} rows")
    verdict = "within" if init_seconds < INIT_TARGET_SECONDS else "OVER"
    print(
        f"init:      {init_seconds:8.1f} s  {rows / init_seconds:>10,.0f} rows/s"
        f"  ({verdict} the {INIT_TARGET_SECONDS} s target)"
    )
    print(
        f"reference: {reference:8.1f} s  {rows / reference:>10,.0f} rows/s"
        "  (plain INSERT … SELECT of as many rows, with a primary key)"
    )
    print(f"ratio:     init takes {init_seconds / reference:.1f}x the reference")
    print(f"advance 1 h after go-live: {advance_seconds:.1f} s")


if __name__ == "__main__":
    main()
