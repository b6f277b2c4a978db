"""How fast a sync replicates a production-shaped table (`make bench`).

Next to it, in the same run and between the same two databases, the physical reference:
`COPY … TO STDOUT` piped into `COPY … FROM STDIN`. Then 1% of the rows change and an
incremental sync runs. Prints rows/s, ratios and the sync's peak RSS at two table sizes
(flat memory means the peak does not grow with the table). Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from ingestion import local_server
from tests.servers import make_server

TABLE_SQL = """
create table orders (
    id bigint primary key,
    user_id bigint not null,
    status text not null,
    amount numeric(12, 2) not null,
    email text,
    attributes jsonb not null,
    is_test boolean not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
insert into orders
select
    g,
    (g * 7919) %% 100000,
    (array['new', 'paid', 'shipped', 'cancelled'])[1 + g %% 4],
    round(cast((g %% 100000) / 7.0 as numeric), 2),
    case
        when g %% 100 = 0 then null
        when g %% 97 = 0 then ''
        else 'user' || g || '@mail.example.com'
    end,
    jsonb_build_object(
        'channel', (array['web', 'app'])[1 + g %% 2],
        'items', g %% 9,
        'tags', jsonb_build_array('a', g %% 5)
    ),
    g %% 50 = 0,
    timestamptz '2026-01-01' + g * interval '1 second',
    timestamptz '2026-01-01' + g * interval '1 second'
from generate_series(1, cast(%(rows)s as bigint)) as g;
create index orders_updated_at on orders (updated_at);
analyze orders;
"""
CATALOG = "sources:\n  bench:\n    schema: public\n    tables: [orders]\n"


def _admin(server: local_server.LocalServer, database: str = "postgres") -> sa.Engine:
    return sa.create_engine(local_server.admin_url(server, database), isolation_level="AUTOCOMMIT")


def _prepare(server: local_server.LocalServer, rows: int, password: str) -> None:
    with _admin(server).connect() as connection:
        for database in ("bench_source", "bench_warehouse", "bench_copy"):
            connection.exec_driver_sql(f"drop database if exists {database} with (force)")
        connection.exec_driver_sql("drop role if exists bench")
        connection.connection.cursor().execute(
            "create role bench login superuser password %s", (password,)
        )
        for database in ("bench_source", "bench_warehouse", "bench_copy"):
            connection.exec_driver_sql(f"create database {database} owner bench")
    source = _admin(server, "bench_source")
    with source.connect() as connection:
        connection.connection.cursor().execute(TABLE_SQL, {"rows": rows})
    source.dispose()
    target = _admin(server, "bench_copy")
    with target.connect() as connection:
        connection.exec_driver_sql(
            "create table orders (id bigint, user_id bigint, status text, amount numeric(12, 2),"
            " email text, attributes jsonb, is_test boolean, created_at timestamptz,"
            " updated_at timestamptz)"
        )
    target.dispose()


def _copy_pipe(server: local_server.LocalServer) -> float:
    """COPY text out of the source, piped into COPY in of an unindexed table."""
    source = _admin(server, "bench_source").raw_connection()
    target = _admin(server, "bench_copy").raw_connection()
    reader, writer = os.pipe()
    started = time.perf_counter()

    def produce() -> None:
        with os.fdopen(writer, "wb") as out:
            source.cursor().copy_expert("copy orders to stdout", out)

    producer = threading.Thread(target=produce)
    producer.start()
    with os.fdopen(reader, "rb") as incoming:
        target.cursor().copy_expert("copy orders from stdin", incoming)
    producer.join()
    target.commit()
    elapsed = time.perf_counter() - started
    source.close()
    target.close()
    return elapsed


def _sync(environment: dict[str, str], *extra: str) -> tuple[float, int]:
    """One `ingestion sync` in its own process: wall seconds and peak RSS in MiB."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "ingestion", "sync", "--source", "bench", *extra],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, stderr = process.communicate()
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"sync failed: {stderr.strip().splitlines()[-1:]}")
    for line in stderr.splitlines():
        if " in " in line and (" loaded " in line or "reconciled" in line):
            print("   ", line)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    return elapsed, peak


def _environment(server: local_server.LocalServer, folder: Path, password: str) -> dict[str, str]:
    (folder / "catalog.yml").write_text(CATALOG)
    url = f"postgresql://bench:{password}@{local_server.HOST}:{server.port}/bench_source"
    return {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "CATALOG_PATH": str(folder / "catalog.yml"),
        "SOURCE_BENCH_URL": url,
        "WAREHOUSE_HOST": local_server.HOST,
        "WAREHOUSE_PORT": str(server.port),
        "WAREHOUSE_USER": "bench",
        "WAREHOUSE_DB": "bench_warehouse",
        "DBT_ENV_SECRET_WAREHOUSE_PASSWORD": password,
        "PII_HASH_SALT": secrets.token_urlsafe(16),
        "PIPELINES_DIR": str(folder / "dlt"),
    }


def _measure(server: local_server.LocalServer, folder: Path, rows: int) -> dict[str, float]:
    password = secrets.token_urlsafe(16)
    _prepare(server, rows, password)
    environment = _environment(server, folder, password)
    copy_seconds = _copy_pipe(server)
    full_seconds, full_peak = _sync(environment, "--full-refresh")
    with _admin(server, "bench_source").connect() as connection:
        connection.exec_driver_sql(
            "update orders set status = 'refunded', updated_at = now() where id %% 100 = 0"
        )
    incremental_seconds, _ = _sync(environment)
    return {
        "rows": rows,
        "copy": copy_seconds,
        "full": full_seconds,
        "incremental": incremental_seconds,
        "peak_mib": full_peak,
    }


def main() -> None:
    """Run the benchmark at two sizes and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ingestion-bench-"))
    server = make_server(folder)
    local_server.start(server)
    try:
        small = _measure(server, folder, args.rows // 4)
        large = _measure(server, folder, args.rows)
    finally:
        local_server.stop(server)
        shutil.rmtree(folder, ignore_errors=True)
    rows = large["rows"]
    print(f"sync of a {rows:,}-row table (bigint, text, numeric, jsonb, boolean, timestamptz)")
    print(f"  COPY text pipe:   {large['copy']:7.1f} s {rows / large['copy']:>10,.0f} rows/s")
    print(
        f"  full sync:        {large['full']:7.1f} s {rows / large['full']:>10,.0f} rows/s"
        f"  = {large['copy'] / large['full']:.2f} of the COPY pipe (target 0.30)"
    )
    print(
        f"  1% incremental:   {large['incremental']:7.1f} s"
        f"  = {large['incremental'] / large['full']:.2f} of the full sync (target < 0.10)"
    )
    print(
        f"  peak RSS:         {large['peak_mib']:,} MiB at {rows:,} rows,"
        f" {small['peak_mib']:,} MiB at {small['rows']:,} rows (target < 1024, flat)"
    )


if __name__ == "__main__":
    main()
