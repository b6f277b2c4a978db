"""Writes that land between a sync's read and its reconciliation are no mismatch; a lost
row still is.

The sync is held where it has read a source and loads it: the test holds a SHARE lock
on the warehouse table, which dlt's merge waits for. Meanwhile the test writes to the
source, then lets the load go on, so the reconciliation sees a source that moved on.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa
from psycopg2 import sql

from ingestion import synclog
from ingestion.local_server import LocalServer
from tests.faults.harness import Demo, demo_databases, differences, sync_log

WAIT_SECONDS = 120
# A change the next incremental read picks up, so that the load has rows to merge.
TOUCH_VAULT = (
    "update vault_items set updated_at = (select max(updated_at) from vault_items)"
    " + interval '1 minute' where id = (select max(id) from vault_items)",
)
# Written while the sync loads: an update and an insert (cursor past what it read), and
# a hard delete of a row it holds.
VAULT_WRITES = (
    "update vault_items set declared_value_usd = declared_value_usd + 1,"
    " updated_at = (select max(updated_at) from vault_items) + interval '1 minute'"
    " where id = (select max(id) from vault_items)",
    "insert into vault_items (id, user_id, submission_id, status, card, declared_value_usd,"
    " created_at, updated_at) select id + 1, user_id, submission_id, status, card,"
    " declared_value_usd, created_at, updated_at + interval '1 minute' from vault_items"
    " where id = (select max(id) from vault_items)",
    "delete from vault_items where id = (select id from vault_items order by id offset 1 limit 1)",
)
# collection_items has no cursor: an insert (a key past what it read) and a hard delete.
COLLECTION_WRITES = (
    "insert into collection_items (id, user_id, source, vault_item_id, title, added_at)"
    " select id + 1, user_id, source, vault_item_id, title, added_at from collection_items"
    " where id = (select max(id) from collection_items)",
    "delete from collection_items"
    " where id = (select id from collection_items order by id offset 1 limit 1)",
)
RAW_TABLES = {
    "vault": ("raw_vault", "vault_items"),
    "collection": ("raw_collection", "collection_items"),
}
WAITING = sa.text("select count(*) from pg_locks where not granted and relation = to_regclass(:t)")


@pytest.fixture
def demo(server: LocalServer, admin_url: sa.URL, tmp_path: Path) -> Iterator[Demo]:
    with demo_databases(server, admin_url, tmp_path, scale=1_000) as made:
        yield made


def _write(demo: Demo, source: str, statements: Sequence[str]) -> None:
    engine = sa.create_engine(demo.demo.url(source))
    with engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
    engine.dispose()


def _wait_for_the_load(warehouse: sa.Engine, table: str, process: subprocess.Popen[str]) -> None:
    """Until the sync waits for the lock on `table` (it has read the source)."""
    deadline = time.monotonic() + WAIT_SECONDS
    with warehouse.connect() as connection:
        while not connection.execute(WAITING, {"t": table}).scalar_one():
            if process.poll() is not None:
                pytest.fail(f"the sync ended before loading {table}: {process.stderr.read()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the sync never waited to load {table}")
            connection.rollback()
            time.sleep(0.05)


def _sync_with_writes_during_loads(demo: Demo, writes: dict[str, Sequence[str]]) -> tuple[int, str]:
    """Sync the sources of `writes`; each source's statements run while its load waits."""
    superuser = demo.demo.admin_url.set(database=demo.variables["WAREHOUSE_DB"])
    warehouse = sa.create_engine(superuser)
    holders = {source: warehouse.connect() for source in writes}
    tables = {source: ".".join(RAW_TABLES[source]) for source in writes}
    try:
        for source, holder in holders.items():
            locked = sql.SQL("lock table {} in share mode").format(
                sql.Identifier(*RAW_TABLES[source])
            )
            holder.connection.cursor().execute(locked)
        arguments = [argument for source in writes for argument in ("--source", source)]
        process = demo.cli("sync", *arguments)
        for source, statements in writes.items():
            _wait_for_the_load(warehouse, tables[source], process)
            _write(demo, source, statements)
            holders[source].connection.rollback()  # the lock goes with the transaction
        _, stderr = process.communicate(timeout=600)
    finally:
        for holder in holders.values():
            holder.close()
        warehouse.dispose()
    return process.returncode, stderr


def _last_sync(demo: Demo, table: str) -> synclog.TableSync:
    """The sync log's last row for `table`."""
    return [row for row in sync_log(demo) if row.table_name == table][-1]


def test_writes_between_the_read_and_the_reconciliation_are_no_mismatch(demo: Demo) -> None:
    code, _, stderr = demo.run("sync")
    assert code == 0, stderr[-2000:]
    _write(demo, "vault", TOUCH_VAULT)

    code, stderr = _sync_with_writes_during_loads(
        demo,
        {"vault": VAULT_WRITES, "collection": COLLECTION_WRITES},
    )

    assert code == 0, stderr[-2000:]
    for table in ("vault_items", "collection_items"):
        last = _last_sync(demo, table)
        assert last.status == "ok", last.detail
        assert last.detail.startswith("ok (rows and checksum, "), last.detail
        assert "changed during the sync, left to the next" in last.detail
    code, _, stderr = demo.run("sync")
    assert code == 0, stderr[-2000:]
    assert differences(demo) == []


def test_a_row_the_warehouse_lost_fails_the_sync_despite_writes_during_it(demo: Demo) -> None:
    code, _, stderr = demo.run("sync", "--source", "vault")
    assert code == 0, stderr[-2000:]
    _write(demo, "vault", TOUCH_VAULT)
    warehouse = sa.create_engine(demo.warehouse_url)
    with warehouse.begin() as connection:
        connection.exec_driver_sql(
            "delete from raw_vault.vault_items"
            " where id = (select min(id) from raw_vault.vault_items)"
        )
    warehouse.dispose()

    code, stderr = _sync_with_writes_during_loads(demo, {"vault": VAULT_WRITES})

    assert code == 1
    assert stderr.strip().splitlines()[-1] == (
        "ingestion: reconciliation failed for vault.vault_items: see `ingestion status`"
    )
    last = _last_sync(demo, "vault_items")
    assert last.status == "mismatch"
    assert "; 1 missing, 0 differing, " in last.detail, last.detail
