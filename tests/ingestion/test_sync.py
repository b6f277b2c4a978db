"""`ingestion sync` against the demo databases: the warehouse holds what the source holds."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from psycopg2 import sql

from ingestion import settings, sync
from ingestion.demo import simulator
from ingestion.demo.simulator import DEMO_SOURCES, DemoDatabases
from ingestion.errors import IngestionError
from tests.helpers import REPOSITORY

GO_LIVE = datetime(2026, 6, 1, 16, tzinfo=UTC)
DELETED_AT = "_ingestion_deleted_at"


@dataclass(frozen=True)
class Launch:
    """Demo databases, a warehouse of their own, and the settings that point at them."""

    demo: DemoDatabases
    warehouse: sa.Engine
    salt: str

    def source(self, name: str) -> sa.Engine:
        """The superuser on one demo database (the tests write through it)."""
        return sa.create_engine(self.demo.url(name), isolation_level="AUTOCOMMIT")


@pytest.fixture
def launch(
    provisioned: Path, admin_url: sa.URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Launch]:
    prefix = f"s{uuid.uuid4().hex[:8]}"
    demo = DemoDatabases(
        admin_url=admin_url, names={source: f"{prefix}_{source}" for source in DEMO_SOURCES}
    )
    simulator.init(demo, scale=1000, seed=5, go_live_at=GO_LIVE)
    for source in DEMO_SOURCES:
        url = settings.source_url(source).set(database=demo.names[source])
        monkeypatch.setenv(
            settings.source_url_setting(source), url.render_as_string(hide_password=False)
        )
    warehouse_db = f"{prefix}_warehouse"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'create database "{warehouse_db}" owner analytics')
    monkeypatch.setenv("WAREHOUSE_DB", warehouse_db)
    monkeypatch.setenv("PIPELINES_DIR", str(tmp_path / "dlt"))
    warehouse = sa.create_engine(settings.warehouse().url())
    yield Launch(demo=demo, warehouse=warehouse, salt=settings.pii_hash_salt())
    warehouse.dispose()
    simulator.drop(demo)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'drop database "{warehouse_db}" with (force)')
    admin.dispose()


def _rows(engine: sa.Engine, query: sql.Composable) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        cursor = connection.connection.cursor()
        cursor.execute("set timezone = 'UTC'")
        cursor.execute(query)
        return cursor.fetchall()


def _columns(engine: sa.Engine, schema: str, table: str) -> list[str]:
    return [column["name"] for column in sa.inspect(engine).get_columns(table, schema=schema)]


def _expected(launch: Launch, source: str, table: str) -> tuple[list[str], list[tuple]]:
    """The source's rows as the warehouse must hold them: PII hashed or dropped."""
    engine = launch.source(source)
    columns = [c for c in _columns(engine, "public", table) if c != "display_name"]
    query = sql.SQL("select {} from {} order by 1").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier("public", table)
    )
    rows = _rows(engine, query)
    engine.dispose()
    if table == "users":
        position = columns.index("email")
        salted = launch.salt.encode()
        rows = [
            (
                *row[:position],
                hashlib.sha256(salted + row[position].encode()).hexdigest(),
                *row[position + 1 :],
            )
            for row in rows
        ]
    return columns, rows


def _live(launch: Launch, source: str, table: str, columns: list[str]) -> list[tuple]:
    query = sql.SQL("select {} from {} where {} is null order by 1").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.Identifier(f"raw_{source}", table),
        sql.Identifier(DELETED_AT),
    )
    return _rows(launch.warehouse, query)


def _assert_warehouse_equals_source(launch: Launch) -> None:
    for source, tables in simulator.DEMO_TABLES.items():
        for table in tables:
            columns, expected = _expected(launch, source, table)
            assert _live(launch, source, table, columns) == expected, f"{source}.{table}"


def test_sync_copies_every_live_row_with_equal_values(launch: Launch) -> None:
    simulator.advance(launch.demo, hours=30)

    rows = sync.run(sync.SyncRequest())

    assert {row.status for row in rows} == {"ok"}
    _assert_warehouse_equals_source(launch)


HARD_DELETED = {"vault": "vault_items", "collection": "collection_items"}


def _ids(engine: sa.Engine, table: str) -> set[object]:
    return {
        row[0] for row in _rows(engine, sql.SQL("select id from {}").format(sql.Identifier(table)))
    }


def test_updates_soft_and_hard_deletes_reach_the_warehouse(launch: Launch) -> None:
    simulator.advance(launch.demo, hours=20)
    sync.run(sync.SyncRequest())
    before = {s: _ids(launch.source(s), table) for s, table in HARD_DELETED.items()}

    simulator.advance(launch.demo, hours=40)
    rows = sync.run(sync.SyncRequest())

    deletes = {(row.source, row.table_name): row.deletes_found for row in rows}
    gone_anywhere = 0
    for source, table in HARD_DELETED.items():
        gone = before[source] - _ids(launch.source(source), table)
        marked = _rows(
            launch.warehouse,
            sql.SQL("select id from {} where {} is not null").format(
                sql.Identifier(f"raw_{source}", table), sql.Identifier(DELETED_AT)
            ),
        )
        assert {row[0] for row in marked} == gone, table
        assert deletes[(source, table)] == len(gone)
        gone_anywhere += len(gone)
    assert gone_anywhere, "the simulator hard-deleted nothing in 40 hours"
    soft = _rows(
        launch.warehouse,
        sql.SQL("select count(*) from raw_grading.submissions where deleted_at is not null"),
    )
    assert soft[0][0] > 0
    _assert_warehouse_equals_source(launch)


def test_warehouse_key_fingerprints_stay_exact_through_merges_deletes_and_refreshes(
    launch: Launch,
) -> None:
    """The triggers' running sums equal a count of the live keys after every kind of change."""
    simulator.advance(launch.demo, hours=10)
    sync.run(sync.SyncRequest(sources=("vault", "collection")))
    simulator.advance(launch.demo, hours=30)
    sync.run(sync.SyncRequest(sources=("vault",), full_refresh=True))
    sync.run(sync.SyncRequest(sources=("vault", "collection")))
    simulator.advance(launch.demo, hours=30)

    rows = sync.run(sync.SyncRequest(sources=("vault", "collection")))

    assert sum(row.deletes_found for row in rows) > 0
    for row in rows:
        table = sql.Identifier(f"raw_{row.source}", row.table_name)
        counted = _rows(
            launch.warehouse,
            sql.SQL(
                "select count(*), coalesce(sum(id), 0), coalesce(sum(hashint8(id)), 0)"
                " from {} where {} is null"
            ).format(table, sql.Identifier(DELETED_AT)),
        )
        kept = _rows(
            launch.warehouse,
            sql.SQL(
                "select live_rows, key_sum, key_hash_sum from ingestion.live_keys"
                " where dataset = {} and table_name = {}"
            ).format(sql.Literal(f"raw_{row.source}"), sql.Literal(row.table_name)),
        )
        assert kept == counted, row.table_name


def test_row_committed_late_is_picked_up_by_the_next_sync(launch: Launch) -> None:
    """A long transaction stamps updated_at before a sync but commits after it."""
    simulator.advance(launch.demo, hours=4)
    sync.run(sync.SyncRequest(sources=("accounts",)))
    accounts = launch.source("accounts")
    late = sa.create_engine(launch.demo.url("accounts")).connect()
    late_tx = late.begin()
    late.exec_driver_sql(
        "update users set legacy_system = 'coins', updated_at = clock_timestamp() where id = 1"
    )
    with accounts.connect() as other:
        other.exec_driver_sql(
            "update users set updated_at = clock_timestamp() + interval '1 second' where id = 2"
        )
    sync.run(sync.SyncRequest(sources=("accounts",)))
    late_tx.commit()
    late.close()
    late.engine.dispose()

    sync.run(sync.SyncRequest(sources=("accounts",)))

    value = _rows(
        launch.warehouse, sql.SQL("select legacy_system from raw_accounts.users where id = 1")
    )
    assert value == [("coins",)]


def test_new_source_column_appears_after_the_next_sync(launch: Launch) -> None:
    sync.run(sync.SyncRequest(sources=("vault",)))
    with launch.source("vault").connect() as connection:
        connection.exec_driver_sql("alter table vault_items add column insured boolean")
    simulator.advance(launch.demo, hours=6)

    sync.run(sync.SyncRequest(sources=("vault",)))

    assert "insured" in _columns(launch.warehouse, "raw_vault", "vault_items")


def test_pii_never_reaches_the_warehouse_in_clear(launch: Launch) -> None:
    simulator.advance(launch.demo, hours=10)
    sync.run(sync.SyncRequest(sources=("accounts",)))

    engine = launch.source("accounts")
    emails = {row[0] for row in _rows(engine, sql.SQL("select email from users"))}
    names = {row[0] for row in _rows(engine, sql.SQL("select display_name from users"))}
    for schema in ("raw_accounts", "raw_accounts_staging"):
        if "users" not in sa.inspect(launch.warehouse).get_table_names(schema=schema):
            continue
        assert "display_name" not in _columns(launch.warehouse, schema, "users")
        stored = _rows(
            launch.warehouse,
            sql.SQL("select email, email_domain from {}").format(sql.Identifier(schema, "users")),
        )
        assert not {row[0] for row in stored} & emails
        assert not {row[0] for row in stored} & names
        assert "example.test" in {row[1] for row in stored}


def test_second_sync_of_a_source_at_once_is_refused(launch: Launch) -> None:
    with launch.warehouse.connect() as holder:
        key = sa.func.hashtextextended("ingestion sync grading", 0)
        holder.execute(sa.select(sa.func.pg_advisory_lock(key)))
        with pytest.raises(IngestionError, match="source grading: another sync of it is running"):
            sync.run(sync.SyncRequest(sources=("grading",)))
        holder.execute(sa.select(sa.func.pg_advisory_unlock(key)))


def test_table_without_source_is_matched_in_every_source(launch: Launch) -> None:
    simulator.advance(launch.demo, hours=4)

    rows = sync.run(sync.SyncRequest(tables=("vault_items", "collection_*")))

    assert [(row.source, row.table_name, row.status) for row in rows] == [
        ("vault", "vault_items", "ok"),
        ("collection", "collection_items", "ok"),
    ]


def test_table_matching_no_source_is_named_with_the_sources_searched(launch: Launch) -> None:
    with pytest.raises(IngestionError) as raised:
        sync.run(sync.SyncRequest(tables=("vault_items", "invoices*")))

    assert str(raised.value) == (
        "no replicated table matches invoices* in sources accounts, grading, vault, collection"
    )


def test_worker_syncs_again_with_what_changed_meanwhile(launch: Launch) -> None:
    outcomes: list[sync.SyncOutcome] = []
    waits: list[float] = []

    def meanwhile(seconds: float) -> None:
        waits.append(seconds)
        simulator.advance(launch.demo, hours=40)

    simulator.advance(launch.demo, hours=20)
    sync.run_every(sync.SyncRequest(), 600, outcomes.append, syncs=2, sleep=meanwhile)

    assert [(outcome.number, outcome.error) for outcome in outcomes] == [(1, None), (2, None)]
    assert len(waits) == 1 and 0 < waits[0] < 600
    assert sum(row.deletes_found for row in outcomes[1].rows) > 0
    _assert_warehouse_equals_source(launch)


def test_worker_reports_a_failed_sync_and_runs_the_next(launch: Launch) -> None:
    holder = launch.warehouse.connect()
    key = sa.func.hashtextextended("ingestion sync vault", 0)
    holder.execute(sa.select(sa.func.pg_advisory_lock(key)))
    outcomes: list[sync.SyncOutcome] = []

    def release(_: float) -> None:
        holder.execute(sa.select(sa.func.pg_advisory_unlock(key)))

    sync.run_every(sync.SyncRequest(sources=("vault",)), 1, outcomes.append, syncs=2, sleep=release)
    holder.close()

    assert outcomes[0].error == "source vault: another sync of it is running; try later"
    assert outcomes[0].rows == ()
    assert [(row.table_name, row.status) for row in outcomes[1].rows] == [("vault_items", "ok")]


def test_worker_process_syncs_until_terminated(launch: Launch) -> None:
    worker = subprocess.Popen(
        [sys.executable, "-m", "ingestion", "sync", "--source", "vault", "--every", "0.2"],
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None
    finished: list[str] = []
    for line in worker.stdout:
        if line.startswith("sync "):
            finished.append(line.split(" in ")[0])
        if len(finished) == 2:
            break
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=60)

    assert finished == ["sync 1 finished", "sync 2 finished"]
    assert worker.returncode == 130
    assert stderr.strip().splitlines()[-1] == "ingestion: interrupted"


def _cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    """The command in a process of its own, with the launch's settings."""
    return subprocess.run(
        [sys.executable, "-m", "ingestion", *arguments],
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_status_shows_each_table_s_last_sync_and_how_old_its_data_is(launch: Launch) -> None:
    before = _cli("status")
    sync.run(sync.SyncRequest(sources=("vault", "collection")))

    after = _cli("status")

    assert (before.returncode, before.stdout) == (3, "no sync has run yet: run `ingestion sync`\n")
    assert after.returncode == 0, after.stderr
    lines = after.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "collection.collection_items",
        "vault.vault_items",
    ]
    for line in lines:
        assert ": ok " in line and "ok (rows and checksum," in line
        assert line.endswith(" s ago"), line


def test_a_row_the_warehouse_lost_fails_the_sync_and_shows_in_status(launch: Launch) -> None:
    simulator.advance(launch.demo, hours=10)
    sync.run(sync.SyncRequest(sources=("vault",)))
    with launch.warehouse.begin() as connection:
        connection.exec_driver_sql(
            "delete from raw_vault.vault_items"
            " where id = (select min(id) from raw_vault.vault_items)"
        )

    result = _cli("sync", "--source", "vault")
    status = _cli("status")

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "ingestion: reconciliation failed for vault.vault_items: see `ingestion status`"
    )
    assert status.returncode == 1
    (line,) = status.stdout.splitlines()
    assert line.startswith("vault.vault_items: mismatch ")
    assert " live rows, warehouse " in line and " and their checksums differ" in line
