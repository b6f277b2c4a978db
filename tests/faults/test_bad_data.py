"""Bad data in a source: flagged or quarantined with a reason, never lost, the rest flows.

A small source of its own holds one table per kind of bad data; every sync reads all
of them, so each test also shows that the other tables' rows keep flowing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from ingestion import quarantine, settings, sync
from ingestion.errors import IngestionError
from ingestion.local_server import LocalServer
from tests.dbt.launch import BuiltLaunch, built_launch

SOURCE_SCHEMA = r"""
create table readings (
    code integer,
    email text,
    value numeric(8, 2),
    updated_at timestamptz not null
);
insert into readings values
    (1, 'one@example.com', 1.5, '2026-01-01 10:00+00'),
    (2, 'two@example.com', 2.5, '2026-01-01 10:00+00'),
    (2, 'two.b@example.com', 2.75, '2026-01-01 10:00+00'),
    (null, 'none@example.com', 0, '2026-01-01 10:00+00'),
    (3, 'three@example.com', 3.5, '2026-01-02 10:00+00');
create table spans (
    id bigint primary key,
    starts_at timestamptz,
    local_at timestamp,
    day date,
    updated_at timestamptz not null
);
insert into spans values
    (1, '2026-06-01 10:00+00', '2026-06-01 10:00', '2026-06-01', '2026-01-01 10:00+00'),
    (2, '0001-01-01 00:00+00', '0001-01-01 00:00', '0001-01-01', '2026-01-01 10:00+00'),
    (3, '9999-12-31 23:59:59.999999+00', '9999-12-31 23:59:59.999999', '9999-12-31',
     '2026-01-01 10:00+00'),
    (4, '4713-01-01 00:00+00 BC', '4713-01-01 00:00 BC', '4713-01-01 BC',
     '2026-01-01 10:00+00'),
    (5, 'infinity', '2026-06-01 10:00', '2026-06-01', '2026-01-01 10:00+00'),
    (6, '2026-06-01 10:00+00', '-infinity', 'infinity', '2026-01-01 10:00+00');
create table documents (id bigint primary key, body json, updated_at timestamptz not null);
insert into documents values
    (1, '{"grade": 9.5}', '2026-01-01 10:00+00'),
    (2, '{"note": "a \u0000 inside"}', '2026-01-01 10:00+00'),
    (3, '["\ud800"]', '2026-01-01 10:00+00'),
    (4, '{"path": "C:\\u0000"}', '2026-01-01 10:00+00');
create table items (id bigint primary key, label text, updated_at timestamptz not null);
insert into items values
    (1, 'first', '2026-05-30 10:00+00'),
    (2, 'second', '2026-06-01 10:00+00');
"""

CATALOG = """
sources:
  bad:
    overrides:
      readings:
        # No constraint: the catalog names the key, which the source does not enforce.
        primary_key: [code]
        pii:
          email: hash
"""


@dataclass(frozen=True)
class BadSource:
    """A source database full of bad data, a warehouse of its own, both as superuser."""

    source: sa.Engine
    warehouse: sa.Engine

    def write(self, statement: str, *parameters: object) -> None:
        """Change the source."""
        with self.source.begin() as connection:
            connection.connection.cursor().execute(statement, parameters)

    def rows(self, query: str, *parameters: object) -> list[tuple]:
        """Rows of the warehouse, values printed in UTC."""
        return _rows(self.warehouse, query, *parameters)

    def quarantined(self, table: str) -> list[tuple]:
        """The table's quarantine: key, kind, reason and the row as JSON text, by key."""
        return self.rows(
            "select key::text, kind, reason, row::text from ingestion.quarantine"
            " where source = 'bad' and table_name = %s order by 1, 4",
            table,
        )


def _rows(engine: sa.Engine, query: str, *parameters: object) -> list[tuple]:
    with engine.connect() as connection:
        cursor = connection.connection.cursor()
        cursor.execute("set timezone = 'UTC'")
        cursor.execute(query, parameters or None)
        return cursor.fetchall()


@pytest.fixture
def bad(
    provisioned: Path, admin_url: sa.URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BadSource]:
    prefix = f"b{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'create database "{prefix}_bad"')
        connection.exec_driver_sql(f'create database "{prefix}_warehouse" owner analytics')
    source = sa.create_engine(admin_url.set(database=f"{prefix}_bad"))
    with source.begin() as connection:
        connection.connection.cursor().execute(SOURCE_SCHEMA)
    (tmp_path / "catalog.yml").write_text(CATALOG)
    reader = settings.source_url("accounts").set(database=f"{prefix}_bad")
    monkeypatch.setenv("SOURCE_BAD_URL", reader.render_as_string(hide_password=False))
    monkeypatch.setenv("CATALOG_PATH", str(tmp_path / "catalog.yml"))
    monkeypatch.setenv("WAREHOUSE_DB", f"{prefix}_warehouse")
    monkeypatch.setenv("PIPELINES_DIR", str(tmp_path / "dlt"))
    warehouse = sa.create_engine(admin_url.set(database=f"{prefix}_warehouse"))
    yield BadSource(source, warehouse)
    source.dispose()
    warehouse.dispose()
    with admin.connect() as connection:
        for database in (f"{prefix}_bad", f"{prefix}_warehouse"):
            connection.exec_driver_sql(f'drop database "{database}" with (force)')
    admin.dispose()


def _statuses(rows: list) -> dict[str, str]:
    return {row.table_name: row.status for row in rows}


def test_null_and_duplicate_keys_are_quarantined_and_the_rest_loads(bad: BadSource) -> None:
    first = sync.run(sync.SyncRequest())
    second = sync.run(sync.SyncRequest())

    assert _statuses(second) == dict.fromkeys(["documents", "items", "readings", "spans"], "ok")
    (readings,) = [row for row in second if row.table_name == "readings"]
    assert readings.detail.endswith("; 3 rows quarantined (ingestion.quarantine)")
    assert bad.rows("select code, value from raw_bad.readings order by 1") == [
        (1, 1.5),
        (3, 3.5),
    ]
    quarantined = bad.quarantined("readings")
    assert [(key, kind, reason) for key, kind, reason, _ in quarantined] == [
        ("[2]", "shared_key", "key (code) = (2) is shared by 2 rows"),
        ("[2]", "shared_key", "key (code) = (2) is shared by 2 rows"),
        ("[null]", "null_key", "key (code) = (NULL) is NULL"),
    ]
    kept = " ".join(row for _, _, _, row in quarantined)
    assert '"value": 2.5' in kept and '"value": 2.75' in kept and '"value": 0' in kept
    assert "@example.com" not in kept  # hashed, as in the raw table
    assert first[0].started_at != second[0].started_at
    noticed = bad.rows("select distinct noticed_at from ingestion.quarantine")
    assert noticed == [(first[0].started_at,)]  # when first seen, kept by the next sync


def test_a_resolved_key_problem_loads_the_row_that_remains(bad: BadSource) -> None:
    sync.run(sync.SyncRequest())
    # Fixed in production without touching updated_at, long before the last sync.
    bad.write("delete from readings where email = 'two.b@example.com'")
    bad.write("update readings set code = 4 where code is null")

    rows = sync.run(sync.SyncRequest())

    assert _statuses(rows)["readings"] == "ok"
    assert bad.rows("select code, value from raw_bad.readings order by 1") == [
        (1, 1.5),
        (2, 2.5),
        (3, 3.5),
        (4, 0),
    ]
    assert bad.quarantined("readings") == []


def test_infinite_times_are_quarantined_and_extreme_ones_arrive_exactly(bad: BadSource) -> None:
    rows = sync.run(sync.SyncRequest())

    assert _statuses(rows)["spans"] == "ok"
    printed = "select id, format('%s|%s|%s', starts_at, local_at, day) from {} order by 1"
    assert bad.rows(printed.format("raw_bad.spans")) == _rows(
        bad.source, printed.format("spans where id <= 4")
    )
    assert [(key, kind, reason) for key, kind, reason, _ in bad.quarantined("spans")] == [
        ("[5]", "infinity", "key (id) = (5): starts_at is infinity"),
        ("[6]", "infinity", "key (id) = (6): local_at is -infinity; day is infinity"),
    ]
    assert '"starts_at":"infinity"' in bad.quarantined("spans")[0][3].replace(" ", "")


def test_a_quarantined_row_loads_once_production_fixes_it(bad: BadSource) -> None:
    sync.run(sync.SyncRequest())
    bad.write("update spans set starts_at = '2026-06-02 10:00+00', updated_at = now() where id = 5")

    sync.run(sync.SyncRequest())

    assert bad.rows("select id, starts_at from raw_bad.spans where id = 5") == [
        (5, bad.rows("select timestamptz '2026-06-02 10:00+00'")[0][0])
    ]
    assert [key for key, *_ in bad.quarantined("spans")] == ["[6]"]


def test_a_row_withheld_by_a_sync_that_died_is_quarantined_by_the_next(
    bad: BadSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync.run(sync.SyncRequest())
    bad.write(
        "update spans set starts_at = 'infinity', updated_at = '2026-01-01 11:00+00' where id = 1"
    )
    # dlt keeps the cursor of what it read: 2026-01-05, so the next read starts after id 1.
    bad.write("insert into spans values (7, now(), now(), now(), '2026-01-05 10:00+00')")

    def die(*_: object) -> None:
        raise KeyboardInterrupt  # the sync stops after reading, before recording

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(quarantine, "record", die)
        sync.run(sync.SyncRequest())
    rows = sync.run(sync.SyncRequest())

    assert _statuses(rows)["spans"] == "ok"
    first, *_ = bad.quarantined("spans")
    assert first[:3] == ("[1]", "infinity", "key (id) = (1): starts_at is infinity")


def test_json_that_jsonb_refuses_is_quarantined(bad: BadSource) -> None:
    rows = sync.run(sync.SyncRequest())

    assert _statuses(rows)["documents"] == "ok"
    # An escaped backslash before u0000 is no escape: that document loads.
    assert bad.rows("select id, body::text from raw_bad.documents order by 1") == [
        (1, '{"grade": 9.5}'),
        (4, '{"path": "C:\\\\u0000"}'),
    ]
    quarantined = bad.quarantined("documents")
    assert [(key, kind) for key, kind, *_ in quarantined] == [("[2]", "json"), ("[3]", "json")]
    assert all("body holds JSON that jsonb refuses" in reason for _, _, reason, _ in quarantined)
    assert "a \\u0000 inside" in quarantined[0][3]


def _move_cursor(bad: BadSource, back: str) -> None:
    """Item 1 changes, and its updated_at is set `back` from the newest one synced."""
    bad.write(
        "update items set label = 'changed',"
        " updated_at = (select max(updated_at) from items) - %s::interval where id = 1",
        back,
    )


def test_a_cursor_moved_back_within_the_lookback_is_read(bad: BadSource) -> None:
    sync.run(sync.SyncRequest())
    _move_cursor(bad, "5 minutes")

    rows = sync.run(sync.SyncRequest())

    assert _statuses(rows)["items"] == "ok"
    assert bad.rows("select label from raw_bad.items where id = 1") == [("changed",)]


def test_a_cursor_moved_back_past_the_lookback_fails_each_sync_until_read_whole(
    bad: BadSource,
) -> None:
    sync.run(sync.SyncRequest())
    _move_cursor(bad, "1 day")

    for _ in range(2):  # the next sync does not clear it: the row is still missed
        with pytest.raises(IngestionError, match=r"reconciliation failed for bad\.items"):
            sync.run(sync.SyncRequest())
        latest = bad.rows(
            "select table_name, status, detail from ingestion.table_syncs"
            " where started_at = (select max(started_at) from ingestion.table_syncs)"
            " order by 1"
        )
        assert [(table, status) for table, status, _ in latest] == [
            ("documents", "ok"),
            ("items", "mismatch"),
            ("readings", "ok"),
            ("spans", "ok"),
        ]
        # The second look, row by row, names the row the cursor hid.
        assert "and their checksums differ" in latest[1][2]
        assert "0 missing, 1 differing, 0 extra" in latest[1][2]
    sync.run(sync.SyncRequest(tables=("items",), full_refresh=True))

    assert bad.rows("select label from raw_bad.items where id = 1") == [("changed",)]


def test_a_cursor_in_the_future_is_quarantined_and_hides_no_later_change(bad: BadSource) -> None:
    bad.write("update items set label = 'typo', updated_at = '9999-06-01 10:00+00' where id = 2")
    sync.run(sync.SyncRequest())
    bad.write("update items set label = 'changed', updated_at = now() where id = 1")
    bad.write("insert into items values (3, 'third', now())")

    rows = sync.run(sync.SyncRequest())

    assert _statuses(rows)["items"] == "ok"
    assert bad.rows("select id, label from raw_bad.items order by 1") == [
        (1, "changed"),
        (3, "third"),
    ]
    ((key, kind, reason, _),) = bad.quarantined("items")
    assert (key, kind) == ("[2]", "future_cursor")
    assert reason.startswith("key (id) = (2): updated_at is 9999-06-01 10:00:00")
    # Production puts the date back where it was, behind everything synced since.
    bad.write("update items set label = 'fixed', updated_at = '2026-06-01 10:00+00' where id = 2")

    rows = sync.run(sync.SyncRequest())

    assert _statuses(rows)["items"] == "ok"
    assert bad.rows("select id, label from raw_bad.items order by 1") == [
        (1, "changed"),
        (2, "fixed"),
        (3, "third"),
    ]
    assert bad.quarantined("items") == []


# --- dbt: one build over a demo that production got wrong in every way at once ---------

BAD_DEMO = {
    "grading": [
        # A status production added without its lookup row (and without the constraint).
        "alter table submissions drop constraint submissions_status_code_fkey",
        "update submissions set status_code = 70,"
        " updated_at = (select max(updated_at) from submissions) + interval '1 second'"
        " where id = (select min(id) from submissions where deleted_at is null)",
        "insert into submission_status_events (submission_id, from_status, to_status, changed_at)"
        " select id, 10, 70, updated_at from submissions where status_code = 70",
    ],
    "vault": [
        # A card written as JSON text inside a JSON string, and one that is a list.
        "update vault_items set card = to_jsonb(card::text),"
        " updated_at = (select max(updated_at) from vault_items) + interval '1 second'"
        " where id = (select min(id) from vault_items)",
        "update vault_items set card = '[]',"
        " updated_at = (select max(updated_at) from vault_items) + interval '1 second'"
        " where id = (select min(id) + 1 from vault_items)",
        # A date the Arrow path cannot carry: the row is quarantined.
        "update vault_items set created_at = 'infinity',"
        " updated_at = (select max(updated_at) from vault_items) + interval '1 second'"
        " where id = (select min(id) + 2 from vault_items)",
    ],
}


@dataclass(frozen=True)
class BadLaunch:
    """The demo with BAD_DEMO written into its sources, synced, and `dbt build`'s outcome."""

    launch: BuiltLaunch
    exit_code: int

    def results(self) -> dict[str, tuple[str, int | None]]:
        """Each dbt node's status and failures, by its name."""
        results = json.loads((self.launch.target / "run_results.json").read_text())
        return {
            result["unique_id"].split(".")[2]: (result["status"], result["failures"])
            for result in results["results"]
        }

    def rows(self, query: str, *parameters: object) -> list[tuple]:
        """Rows of the warehouse."""
        return _rows(self.launch.warehouse, query, *parameters)


@pytest.fixture(scope="module")
def bad_launch(
    server: LocalServer, admin_url: sa.URL, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BadLaunch]:
    folder = tmp_path_factory.mktemp("bad-launch")
    with built_launch(server, admin_url, folder, scale=200, steps=[12], build=False) as launch:
        for source, statements in BAD_DEMO.items():
            engine = sa.create_engine(launch.demo.url(source))
            with engine.begin() as connection:
                for statement in statements:
                    connection.exec_driver_sql(statement)
            engine.dispose()
        sync.run(sync.SyncRequest())
        yield BadLaunch(launch, launch.dbt("build"))


def test_dbt_build_on_bad_data_builds_everything_and_warns_once_per_problem(
    bad_launch: BadLaunch,
) -> None:
    results = bad_launch.results()
    warned = {name: failures for name, (status, failures) in results.items() if status == "warn"}

    assert bad_launch.exit_code == 0
    assert {status for status, _ in results.values()} == {"success", "pass", "warn", "no-op"}
    assert warned == {
        "assert_no_rows_are_quarantined": 1,
        "source_json_object_vault_vault_items_card": 2,
        "source_relationships_grading_submissions_status_code__code__source_grading"
        "_submission_statuses_": 1,
        "source_relationships_grading_submission_status_events_to_status__code__source"
        "_grading_submission_statuses_": 1,
        "accepted_values_stg_grading__submissions_status__draft__submitted__received"
        "__grading__graded__shipped__cancelled": 1,
    }


def test_an_unknown_status_code_flows_decoded_as_unknown(bad_launch: BadLaunch) -> None:
    (submission,) = bad_launch.rows(
        "select submission_id, status from staging.stg_grading__submissions where status_code = 70"
    )

    assert submission[1] == "unknown"
    history = bad_launch.rows(
        "select status, is_current from marts.fct_status_history"
        " where entity_type = 'submission' and entity_id = %s order by valid_from",
        submission[0],
    )
    assert history[0] == ("draft", False)
    assert history[-1] == ("unknown", True)
    assert bad_launch.rows("select count(*) from staging.stg_grading__submissions") == _rows(
        sa.create_engine(bad_launch.launch.demo.url("grading")), "select count(*) from submissions"
    )  # every submission flowed


def test_a_card_that_is_no_json_object_flows_with_its_fields_null(bad_launch: BadLaunch) -> None:
    first = bad_launch.rows("select min(id) from raw_vault.vault_items")[0][0]

    cards = bad_launch.rows(
        "select vault_item_id, card_year, card_set, card_player, card_grade"
        " from staging.stg_vault__vault_items where vault_item_id in (%s, %s) order by 1",
        first,
        first + 1,
    )

    assert cards == [(first, None, None, None, None), (first + 1, None, None, None, None)]
    assert bad_launch.rows("select kind, key::text from ingestion.quarantine") == [
        ("infinity", f"[{first + 2}]")
    ]
