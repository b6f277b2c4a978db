"""How fast `dataset create` exports a production-shaped table, and in how much memory.

The table is bench_sync's 2,000,000-row `orders` (bigint, text, numeric, jsonb, boolean,
timestamptz). Next to it, in the same run and on the same server, the physical
reference: `COPY (select …) TO STDOUT` in binary, thrown away. Each export runs as its
own `ingestion dataset create` process, whose peak RSS is read from the kernel; it is
measured at a quarter of the size too, to show that memory does not grow with the
result. Prints figures and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from ingestion import local_server
from tests.bench.bench_sync import TABLE_SQL
from tests.servers import make_server

QUERY = "select * from orders"
RSS_TARGET_MIB = 1024
CLI = (sys.executable, "-m", "ingestion", "dataset")


def _admin(server: local_server.LocalServer, database: str = "postgres") -> sa.Engine:
    return sa.create_engine(local_server.admin_url(server, database), isolation_level="AUTOCOMMIT")


def _prepare(server: local_server.LocalServer, rows: int, password: str) -> None:
    with _admin(server).connect() as connection:
        connection.exec_driver_sql("drop database if exists bench_datasets with (force)")
        connection.exec_driver_sql("drop role if exists bench")
        connection.connection.cursor().execute("create role bench login password %s", (password,))
        connection.exec_driver_sql("create database bench_datasets owner bench")
    engine = _admin(server, "bench_datasets")
    with engine.connect() as connection:
        connection.connection.cursor().execute(TABLE_SQL, {"rows": rows})
        connection.exec_driver_sql("alter table orders owner to bench")
    engine.dispose()


def _copy_out(server: local_server.LocalServer) -> float:
    """The floor: the server writes the same rows in its binary COPY format to nowhere."""
    connection = _admin(server, "bench_datasets").raw_connection()
    started = time.perf_counter()
    with Path(os.devnull).open("wb") as nowhere:
        connection.cursor().copy_expert(f"copy ({QUERY}) to stdout (format binary)", nowhere)
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def _create(environment: dict[str, str], folder: Path, version: str) -> tuple[float, int]:
    """One `ingestion dataset create` in its own process: wall seconds and peak RSS in MiB."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [*CLI, "create", "orders", "--version", version, "--query", QUERY],
        cwd=folder,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read() if process.stderr else ""
    if process.returncode != 0:
        raise SystemExit(f"dataset create failed: {stderr.strip().splitlines()[-1:]}")
    return elapsed, usage.ru_maxrss // 1024


def _verify(environment: dict[str, str], folder: Path, version: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [*CLI, "verify", f"orders@{version}"],
        cwd=folder,
        env=environment,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def _environment(server: local_server.LocalServer, folder: Path, password: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "WAREHOUSE_HOST": local_server.HOST,
        "WAREHOUSE_PORT": str(server.port),
        "WAREHOUSE_USER": "bench",
        "WAREHOUSE_DB": "bench_datasets",
        "DBT_ENV_SECRET_WAREHOUSE_PASSWORD": password,
        "DATASETS_URL": str(folder / "datasets"),
    }


def _measure(server: local_server.LocalServer, folder: Path, rows: int) -> dict[str, float]:
    password = secrets.token_urlsafe(16)
    _prepare(server, rows, password)
    environment = _environment(server, folder, password)
    copy_seconds = _copy_out(server)
    version = f"rows-{rows}"
    seconds, peak = _create(environment, folder, version)
    written = sum(
        path.stat().st_size for path in (folder / "datasets" / "orders" / version).iterdir()
    )
    return {
        "rows": rows,
        "copy": copy_seconds,
        "export": seconds,
        "peak_mib": peak,
        "mib": written / 2**20,
        "verify": _verify(environment, folder, version),
    }


def main() -> None:
    """Run the benchmark at two sizes and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ingestion-bench-"))
    server = make_server(folder / "server")
    local_server.start(server)
    try:
        small = _measure(server, folder, args.rows // 4)
        large = _measure(server, folder, args.rows)
    finally:
        local_server.stop(server)
        shutil.rmtree(folder, ignore_errors=True)
    rows = large["rows"]
    print(f"dataset create of a {rows:,}-row table (bigint, text, numeric, jsonb, boolean,")
    print("timestamptz), one process per export")
    print(f"  COPY binary out:  {large['copy']:7.1f} s {rows / large['copy']:>10,.0f} rows/s")
    print(
        f"  dataset create:   {large['export']:7.1f} s {rows / large['export']:>10,.0f} rows/s"
        f"  = {large['copy'] / large['export']:.2f} of COPY out, {large['mib']:,.0f} MiB of Parquet"
    )
    print(f"  dataset verify:   {large['verify']:7.1f} s")
    print(
        f"  peak RSS:         {large['peak_mib']:,} MiB at {rows:,} rows,"
        f" {small['peak_mib']:,} MiB at {small['rows']:,} rows"
        f" (target < {RSS_TARGET_MIB}, flat)"
    )


if __name__ == "__main__":
    main()
