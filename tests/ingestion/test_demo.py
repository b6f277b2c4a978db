"""The demo production system: deterministic, stepping-independent, and full of traps."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from psycopg2 import sql
from sqlalchemy.pool import NullPool

from ingestion.demo import simulator
from ingestion.demo.simulator import DEMO_SOURCES, DEMO_TABLES, DemoDatabases
from ingestion.errors import IngestionError
from tests.servers import free_port

GO_LIVE = datetime(2026, 6, 1, 16, tzinfo=UTC)
SCALE = 2000

MakeDatabases = Callable[[], DemoDatabases]


@pytest.fixture
def make_databases(admin_url: sa.URL) -> Iterator[MakeDatabases]:
    """Makes DemoDatabases with fresh prefixed names; drops them after the test."""
    made: list[DemoDatabases] = []

    def make() -> DemoDatabases:
        prefix = f"t{uuid.uuid4().hex[:10]}"
        databases = DemoDatabases(
            admin_url=admin_url, names={source: f"{prefix}_{source}" for source in DEMO_SOURCES}
        )
        made.append(databases)
        return databases

    yield make
    for databases in made:
        simulator.drop(databases)


@pytest.fixture(scope="module")
def launched(admin_url: sa.URL) -> Iterator[DemoDatabases]:
    """A demo four days after go-live, shared by the read-only tests of this module."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    databases = DemoDatabases(
        admin_url=admin_url, names={source: f"{prefix}_{source}" for source in DEMO_SOURCES}
    )
    simulator.init(databases, scale=5000, seed=11, go_live_at=GO_LIVE)
    simulator.advance(databases, hours=96)
    yield databases
    simulator.drop(databases)


def _rows(
    databases: DemoDatabases,
    source: str,
    statement: str | sql.Composable,
    parameters: Sequence[Any] | Mapping[str, Any] | None = None,
) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(
        databases.url(source), poolclass=NullPool, connect_args={"options": "-c timezone=UTC"}
    )
    try:
        with engine.connect() as connection:
            cursor = connection.connection.cursor()
            cursor.execute(statement, parameters)
            return cursor.fetchall()
    finally:
        engine.dispose()


def _value(databases: DemoDatabases, source: str, statement: str | sql.Composable) -> object:
    return _rows(databases, source, statement)[0][0]


def _checksums(databases: DemoDatabases) -> dict[str, object]:
    """Per table an md5 of all its rows; per database where its sequences stand."""
    result: dict[str, object] = {}
    for source, tables in DEMO_TABLES.items():
        for table in tables:
            statement = sql.SQL(
                "select md5(string_agg(cast(t as text), '|' order by cast(t as text))) from {} as t"
            ).format(sql.Identifier(table))
            result[f"{source}.{table}"] = _value(databases, source, statement)
        result[f"{source} sequences"] = _rows(
            databases,
            source,
            "select sequencename, last_value from pg_sequences"
            " where schemaname = 'public' order by 1",
        )
    return result


def _ids(databases: DemoDatabases, source: str, table: str) -> set[int]:
    statement = sql.SQL("select id from {}").format(sql.Identifier(table))
    return {row[0] for row in _rows(databases, source, statement)}


def test_same_seed_gives_identical_databases_and_another_seed_different_ones(
    make_databases: MakeDatabases,
) -> None:
    first, again, other = make_databases(), make_databases(), make_databases()
    for databases, seed in ((first, 7), (again, 7), (other, 8)):
        simulator.init(databases, scale=SCALE, seed=seed, go_live_at=GO_LIVE)
        simulator.advance(databases, hours=30)

    assert _checksums(first) == _checksums(again)
    first_sums, other_sums = _checksums(first), _checksums(other)
    changed = {table for table in first_sums if first_sums[table] != other_sums[table]}
    unchanged = {"grading.service_levels", "grading.submission_statuses"}
    assert changed == set(first_sums) - unchanged


def test_stepping_the_clock_does_not_change_the_databases(make_databases: MakeDatabases) -> None:
    at_once, hourly, uneven = make_databases(), make_databases(), make_databases()
    for databases in (at_once, hourly, uneven):
        simulator.init(databases, scale=SCALE, seed=3, go_live_at=GO_LIVE)

    simulator.advance(at_once, hours=48)
    for _ in range(48):
        simulator.advance(hourly, hours=1)
    for hours in (0.25, 1.5, 7.125, 15.0):
        simulator.advance(uneven, hours=hours)
    simulator.advance(uneven, to=GO_LIVE + timedelta(hours=48))

    expected = _checksums(at_once)
    assert _checksums(hourly) == expected
    assert _checksums(uneven) == expected
    assert simulator.read_state(hourly).clock == GO_LIVE + timedelta(hours=48)


def test_submitted_at_is_naive_los_angeles_time_of_the_submit_event(
    launched: DemoDatabases,
) -> None:
    column_type = _value(
        launched,
        "grading",
        "select data_type from information_schema.columns"
        " where table_name = 'submissions' and column_name = 'submitted_at'",
    )
    offsets = _rows(
        launched,
        "grading",
        "select events.changed_at at time zone 'America/Los_Angeles'"
        "   = submissions.submitted_at,"
        " events.changed_at - (submissions.submitted_at at time zone 'UTC'), count(*)"
        " from submissions"
        " inner join submission_status_events as events"
        "   on events.submission_id = submissions.id and events.to_status = 20"
        " group by 1, 2",
    )

    assert column_type == "timestamp without time zone"
    # every submitted_at equals its event's LA wall clock, on both sides of the DST change
    assert {(matches, offset) for matches, offset, _ in offsets} == {
        (True, timedelta(hours=8)),
        (True, timedelta(hours=7)),
    }


def test_statuses_are_codes_decoded_by_a_lookup_table(launched: DemoDatabases) -> None:
    lookup = _rows(
        launched, "grading", "select code, name, is_terminal from submission_statuses order by 1"
    )
    used = _rows(launched, "grading", "select distinct status_code from submissions order by 1")
    vault_statuses = _rows(launched, "vault", "select distinct status from vault_items order by 1")

    assert lookup == [
        (10, "draft", False),
        (20, "submitted", False),
        (30, "received", False),
        (40, "grading", False),
        (50, "graded", False),
        (60, "shipped", True),
        (90, "cancelled", True),
    ]
    assert [row[0] for row in used] == [10, 20, 30, 40, 50, 60, 90]
    # the vault spells its statuses out instead
    assert {row[0] for row in vault_statuses} <= {
        "requested",
        "in_transit",
        "received",
        "stored",
        "withdrawn",
    }


def test_vault_card_keys_drift(launched: DemoDatabases) -> None:
    shapes = dict(
        _rows(
            launched,
            "vault",
            "select shape, count(*) from ("
            " select case"
            "   when card ? 'set' and jsonb_typeof(card -> 'grade') = 'number' then 'early'"
            "   when card ? 'set_name' and jsonb_typeof(card -> 'grade') = 'number'"
            "     then 'renamed'"
            "   when card ? 'set_name' and jsonb_typeof(card -> 'grade') = 'string'"
            "     then 'grade as text'"
            "   when card ? 'set_name' and not card ? 'grade' then 'no grade'"
            "   else 'other' end as shape"
            " from vault_items) as shapes group by 1",
        )
    )

    assert set(shapes) == {"early", "renamed", "grade as text", "no grade"}


def test_abandoned_drafts_are_soft_deleted(launched: DemoDatabases) -> None:
    deleted = _rows(
        launched,
        "grading",
        "select status_code, count(*), bool_and(updated_at = deleted_at)"
        " from submissions where deleted_at is not null group by 1",
    )

    assert len(deleted) == 1
    status_code, count, updated_when_deleted = deleted[0]
    assert (status_code, updated_when_deleted) == (10, True)
    assert count > 0


def test_migrated_users_carry_dummy_creation_dates(launched: DemoDatabases) -> None:
    dummies = _rows(
        launched,
        "accounts",
        "select users.legacy_system is not null, unified_accounts.migrated, count(*)"
        " from users inner join unified_accounts on unified_accounts.user_id = users.id"
        " where users.created_at = '1900-01-01 00:00:00+00' group by 1, 2",
    )

    assert [(legacy, migrated) for legacy, migrated, _ in dummies] == [(True, True)]
    assert dummies[0][2] > 0


def test_internal_and_test_accounts_exist(launched: DemoDatabases) -> None:
    kinds = dict(
        _rows(
            launched,
            "accounts",
            "select case"
            "   when is_internal then 'internal ' || split_part(email, '@', 2)"
            "   when email like '%@example.test' then 'test'"
            "   else 'customer' end, count(*)"
            " from users group by 1",
        )
    )

    assert set(kinds) == {"internal slabhouse.example.com", "test", "customer"}


def test_customers_without_a_legacy_system_signed_up_after_go_live(
    launched: DemoDatabases,
) -> None:
    """DESIGN: legacy_system null means signed up after launch (staff and QA aside)."""
    early = _value(
        launched,
        "accounts",
        sql.SQL(
            "select count(*) from users where legacy_system is null and not is_internal"
            " and email not like '%%@example.test' and created_at < {}"
        ).format(sql.Literal(GO_LIVE)),
    )
    later = _value(launched, "accounts", "select count(*) from users where legacy_system is null")

    assert early == 0
    assert later > 0


def test_some_submissions_point_at_no_user(launched: DemoDatabases) -> None:
    users = _ids(launched, "accounts", "users")
    submission_users = [
        row[0] for row in _rows(launched, "grading", "select user_id from submissions")
    ]

    unknown = [user_id for user_id in submission_users if user_id not in users]
    assert 0 < len(unknown) < 0.02 * len(submission_users)


def test_collection_items_have_no_updated_at_and_link_to_existing_vault_items(
    launched: DemoDatabases,
) -> None:
    columns = _rows(
        launched,
        "collection",
        "select column_name from information_schema.columns"
        " where table_name = 'collection_items' order by ordinal_position",
    )
    linked = _rows(
        launched, "collection", "select vault_item_id from collection_items where source = 'vault'"
    )

    assert [row[0] for row in columns] == [
        "id",
        "user_id",
        "source",
        "vault_item_id",
        "title",
        "added_at",
    ]
    assert linked
    assert {row[0] for row in linked} <= _ids(launched, "vault", "vault_items")


def test_only_the_production_tables_and_the_clock_are_stored(launched: DemoDatabases) -> None:
    for source, tables in DEMO_TABLES.items():
        stored = _rows(
            launched,
            source,
            "select table_schema, table_name from information_schema.tables"
            " where table_schema not in ('pg_catalog', 'information_schema') order by 1, 2",
        )
        functions = _value(
            launched,
            source,
            "select count(*) from pg_proc"
            " inner join pg_namespace on pg_namespace.oid = pg_proc.pronamespace"
            " where nspname not in ('pg_catalog', 'information_schema')",
        )
        extra = [("simulator", "state")] if source == "accounts" else []
        assert stored == sorted([("public", table) for table in tables] + extra)
        assert functions == 0


def test_advance_moves_statuses_and_deletes_rows(make_databases: MakeDatabases) -> None:
    databases = make_databases()
    simulator.init(databases, scale=5000, seed=5, go_live_at=GO_LIVE)
    simulator.advance(databases, hours=6)
    submissions_query = "select id, status_code, updated_at, deleted_at from submissions"
    before = {row[0]: row[1:] for row in _rows(databases, "grading", submissions_query)}
    events_before = _value(databases, "grading", "select count(*) from submission_status_events")
    vault_before = _ids(databases, "vault", "vault_items")
    collection_before = _ids(databases, "collection", "collection_items")

    state = simulator.advance(databases, hours=24)

    after = {row[0]: row[1:] for row in _rows(databases, "grading", submissions_query)}
    moved = [
        submission_id
        for submission_id, (status, updated_at, _) in before.items()
        if after[submission_id][0] != status and after[submission_id][1] > updated_at
    ]
    soft_deleted = [
        submission_id
        for submission_id, (_, _, deleted_at) in before.items()
        if deleted_at is None and after[submission_id][2] is not None
    ]
    events_after = _value(databases, "grading", "select count(*) from submission_status_events")
    assert state.clock == GO_LIVE + timedelta(hours=30)
    assert moved
    assert soft_deleted
    assert events_after > events_before
    assert vault_before - _ids(databases, "vault", "vault_items")
    assert collection_before - _ids(databases, "collection", "collection_items")


def test_advance_refuses_to_move_the_clock_back(make_databases: MakeDatabases) -> None:
    databases = make_databases()
    simulator.init(databases, scale=200, seed=1, go_live_at=GO_LIVE)

    with pytest.raises(IngestionError, match="2026-06-01T16:00:00\\+00:00") as raised:
        simulator.advance(databases, to=GO_LIVE - timedelta(hours=1))

    assert "clock" in str(raised.value)
    assert simulator.read_state(databases).clock == GO_LIVE


def test_advance_before_init_says_to_run_init(make_databases: MakeDatabases) -> None:
    databases = make_databases()

    with pytest.raises(IngestionError, match="not initialised: run `ingestion demo init`"):
        simulator.advance(databases, hours=1)


def test_unreachable_server_is_named_without_the_password() -> None:
    secret = "not-a-real-secret"
    admin_url = sa.URL.create(
        "postgresql+psycopg2",
        username="demo_admin",
        password=secret,
        host="127.0.0.1",
        port=free_port(),
        database="postgres",
    )
    databases = DemoDatabases(
        admin_url=admin_url, names={source: f"nowhere_{source}" for source in DEMO_SOURCES}
    )

    with pytest.raises(IngestionError) as raised:
        simulator.read_state(databases)

    message = str(raised.value)
    assert "nowhere_accounts" in message
    assert secret not in message
    assert "\n" not in message
