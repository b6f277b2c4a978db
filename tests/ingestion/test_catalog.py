"""The catalog: what the file says, checked, and filled in from the source database."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from ingestion import catalog
from ingestion.catalog import Catalog, TableSpec
from ingestion.demo import simulator
from ingestion.demo.simulator import DEMO_SOURCES, DEMO_TABLES, DemoDatabases
from ingestion.errors import IngestionError
from ingestion.source_session import SessionLimits, source_engine

GO_LIVE = datetime(2026, 6, 1, 16, tzinfo=UTC)

MakeEngine = Callable[[sa.URL], sa.Engine]


@pytest.fixture(scope="module")
def demo(admin_url: sa.URL) -> Iterator[DemoDatabases]:
    """Freshly initialised demo databases, shared by this module's read-only tests."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    databases = DemoDatabases(
        admin_url=admin_url, names={source: f"{prefix}_{source}" for source in DEMO_SOURCES}
    )
    simulator.init(databases, scale=200, seed=4, go_live_at=GO_LIVE)
    yield databases
    simulator.drop(databases)


@pytest.fixture
def make_engine() -> Iterator[MakeEngine]:
    """Source engines (read-only sessions) that are disposed of after the test."""
    made: list[sa.Engine] = []

    def make(url: sa.URL) -> sa.Engine:
        made.append(source_engine(url, SessionLimits()))
        return made[-1]

    yield make
    for engine in made:
        engine.dispose()


@pytest.fixture
def no_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder without .env and without CATALOG_PATH, so the packaged catalog is used."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CATALOG_PATH", raising=False)
    return tmp_path


def _write(folder: Path, text: str) -> Path:
    path = folder / f"catalog-{uuid.uuid4().hex[:6]}.yml"
    path.write_text(text)
    return path


def _load(folder: Path, text: str) -> Catalog:
    return catalog.load_catalog(_write(folder, text))


def _execute(url: sa.URL, *statements: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def _by_name(specs: list[TableSpec]) -> dict[str, TableSpec]:
    return {spec.name: spec for spec in specs}


# --- the packaged catalog on the demo ----------------------------------------------------


def test_packaged_catalog_hashes_users_email_with_its_domain_and_drops_the_name(
    no_settings: Path, demo: DemoDatabases, make_engine: MakeEngine
) -> None:
    specs = catalog.resolve(catalog.load_catalog(), "accounts", make_engine(demo.url("accounts")))

    users = _by_name(specs)["users"]
    assert users.columns == (
        "id",
        "email",
        "display_name",
        "legacy_system",
        "is_internal",
        "created_at",
        "updated_at",
    )
    assert users.primary_key == ("id",)
    assert users.has_integer_key is True
    assert users.cursor == "updated_at"
    assert users.pii == {"email": "hash", "display_name": "drop"}
    assert users.email_domains == ("email",)
    assert users.domain_columns == {"email": "email_domain"}
    assert "display_name" not in users.replicated_columns
    assert users.dataset == "raw_accounts"
    assert users.lookback == timedelta(minutes=15)


def test_packaged_catalog_takes_every_demo_table_and_no_other(
    no_settings: Path, demo: DemoDatabases, make_engine: MakeEngine
) -> None:
    packaged = catalog.load_catalog()

    resolved = {
        source: sorted(
            spec.name for spec in catalog.resolve(packaged, source, make_engine(demo.url(source)))
        )
        for source in catalog.source_names(packaged)
    }

    assert resolved == {source: sorted(tables) for source, tables in DEMO_TABLES.items()}


def test_collection_items_without_updated_at_are_fully_reread(
    no_settings: Path, demo: DemoDatabases, make_engine: MakeEngine
) -> None:
    specs = catalog.resolve(
        catalog.load_catalog(), "collection", make_engine(demo.url("collection"))
    )

    items = _by_name(specs)["collection_items"]
    assert items.cursor is None
    assert items.primary_key == ("id",)
    assert items.detect_deletes is True


def test_catalog_path_setting_chooses_another_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, "lookback_minutes: 30\nsources: {shop: {}}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CATALOG_PATH", str(path))

    chosen = catalog.load_catalog()

    assert chosen.path == path
    assert catalog.source_names(chosen) == ("shop",)
    assert chosen.lookback == timedelta(minutes=30)


# --- choosing tables ------------------------------------------------------------------


def test_globs_and_excludes_choose_the_tables(
    tmp_path: Path, demo: DemoDatabases, make_engine: MakeEngine
) -> None:
    chosen = _load(
        tmp_path,
        "sources:\n"
        "  grading:\n"
        "    tables: ['submission*', service_levels]\n"
        "    exclude: ['*_events', submission_statuses]\n",
    )

    specs = catalog.resolve(chosen, "grading", make_engine(demo.url("grading")))

    assert [spec.name for spec in specs] == ["service_levels", "submissions"]


def test_table_filter_takes_names_and_globs(
    no_settings: Path, demo: DemoDatabases, make_engine: MakeEngine
) -> None:
    specs = catalog.resolve(
        catalog.load_catalog(),
        "grading",
        make_engine(demo.url("grading")),
        tables=["service_levels", "submission_status_*"],
    )

    assert [spec.name for spec in specs] == ["service_levels", "submission_status_events"]
    assert specs[1].cursor == "changed_at"


def test_partitioned_table_arrives_once_as_its_parent(
    tmp_path: Path, admin_url: sa.URL, fresh_database: str, make_engine: MakeEngine
) -> None:
    url = admin_url.set(database=fresh_database)
    _execute(
        url,
        "create table events (id bigint, happened_at timestamptz, kind text,"
        " primary key (id, happened_at)) partition by range (happened_at)",
        "create table events_2025 partition of events"
        " for values from ('2025-01-01') to ('2026-01-01')",
        "create table events_2026 partition of events"
        " for values from ('2026-01-01') to ('2027-01-01')",
        "create table notes (id bigint primary key, body text)",
    )
    chosen = _load(tmp_path, "sources: {shop: {}}\n")

    specs = catalog.resolve(chosen, "shop", make_engine(url))

    assert [spec.name for spec in specs] == ["events", "notes"]
    assert specs[0].primary_key == ("id", "happened_at")
    assert specs[0].columns == ("id", "happened_at", "kind")
    assert specs[0].cursor is None


def test_configured_primary_key_stands_in_for_a_missing_constraint(
    tmp_path: Path, admin_url: sa.URL, fresh_database: str, make_engine: MakeEngine
) -> None:
    url = admin_url.set(database=fresh_database)
    _execute(url, "create table audit_log (entry_id bigint, message text, updated_at timestamptz)")
    chosen = _load(
        tmp_path,
        "sources:\n  shop:\n    overrides:\n      audit_log: {primary_key: [entry_id]}\n",
    )

    (spec,) = catalog.resolve(chosen, "shop", make_engine(url))

    assert spec.primary_key == ("entry_id",)
    assert spec.cursor == "updated_at"


def test_overrides_set_cursor_and_delete_detection(
    tmp_path: Path, demo: DemoDatabases, make_engine: MakeEngine
) -> None:
    chosen = _load(
        tmp_path,
        "sources:\n"
        "  vault:\n"
        "    overrides:\n"
        "      vault_items: {cursor: null, detect_deletes: false}\n",
    )

    (spec,) = catalog.resolve(chosen, "vault", make_engine(demo.url("vault")))

    assert spec.cursor is None
    assert spec.detect_deletes is False


def test_lookback_from_the_catalog_reaches_every_table(
    tmp_path: Path, demo: DemoDatabases, make_engine: MakeEngine
) -> None:
    chosen = _load(tmp_path, "lookback_minutes: 45\nsources:\n  grading:\n")

    specs = catalog.resolve(chosen, "grading", make_engine(demo.url("grading")))

    assert {spec.lookback for spec in specs} == {timedelta(minutes=45)}


# --- errors against the database, one line naming the source and table or column ------


def test_unknown_source_lists_the_known_ones(
    no_settings: Path, demo: DemoDatabases, make_engine: MakeEngine
) -> None:
    with pytest.raises(IngestionError) as raised:
        catalog.resolve(catalog.load_catalog(), "billing", make_engine(demo.url("accounts")))

    assert str(raised.value).startswith("source billing is not in catalog ")
    assert "(known: accounts, grading, vault, collection)" in str(raised.value)


def test_override_for_a_missing_table_is_named(
    tmp_path: Path, demo: DemoDatabases, make_engine: MakeEngine
) -> None:
    chosen = _load(tmp_path, "sources:\n  vault:\n    overrides:\n      vault_itemz: {}\n")

    with pytest.raises(IngestionError) as raised:
        catalog.resolve(chosen, "vault", make_engine(demo.url("vault")))

    message = str(raised.value)
    assert message.startswith("source vault, table vault_itemz ")
    assert message.endswith("does not exist in schema public")


def test_override_for_an_excluded_table_is_named(
    tmp_path: Path, demo: DemoDatabases, make_engine: MakeEngine
) -> None:
    chosen = _load(
        tmp_path,
        "sources:\n"
        "  grading:\n"
        "    exclude: [submission_status_events]\n"
        "    overrides:\n"
        "      submission_status_events: {cursor: changed_at}\n",
    )

    with pytest.raises(IngestionError) as raised:
        catalog.resolve(chosen, "grading", make_engine(demo.url("grading")))

    message = str(raised.value)
    assert message.startswith("source grading, table submission_status_events: ")
    assert "leave out" in message


def test_override_naming_a_missing_column_is_named(
    tmp_path: Path, demo: DemoDatabases, make_engine: MakeEngine
) -> None:
    chosen = _load(
        tmp_path,
        "sources:\n  accounts:\n    overrides:\n      users: {pii: {e_mail: hash}}\n",
    )

    with pytest.raises(IngestionError) as raised:
        catalog.resolve(chosen, "accounts", make_engine(demo.url("accounts")))

    message = str(raised.value)
    assert message.startswith("source accounts, table users: column e_mail ")
    assert "sources.accounts.overrides.users.pii" in message
    assert message.endswith("does not exist")


def test_listed_table_that_does_not_exist_is_named(
    tmp_path: Path, demo: DemoDatabases, make_engine: MakeEngine
) -> None:
    chosen = _load(tmp_path, "sources:\n  vault:\n    tables: [vault_items, vault_audit]\n")

    with pytest.raises(IngestionError) as raised:
        catalog.resolve(chosen, "vault", make_engine(demo.url("vault")))

    assert str(raised.value).startswith("source vault, table vault_audit (sources.vault.tables ")


def test_table_filter_matching_no_table_is_named(
    no_settings: Path, demo: DemoDatabases, make_engine: MakeEngine
) -> None:
    with pytest.raises(IngestionError) as raised:
        catalog.resolve(
            catalog.load_catalog(), "vault", make_engine(demo.url("vault")), tables=["users"]
        )

    assert str(raised.value) == (
        "source vault: no replicated table matches users (replicated: vault_items)"
    )


def test_table_without_any_primary_key_is_named(
    tmp_path: Path, admin_url: sa.URL, fresh_database: str, make_engine: MakeEngine
) -> None:
    url = admin_url.set(database=fresh_database)
    _execute(url, "create table audit_log (entry_id bigint, message text)")
    chosen = _load(tmp_path, "sources: {shop: {}}\n")

    with pytest.raises(IngestionError) as raised:
        catalog.resolve(chosen, "shop", make_engine(url))

    message = str(raised.value)
    assert message.startswith("source shop, table audit_log: has no primary key; set ")
    assert "sources.shop.overrides.audit_log.primary_key" in message


def test_pii_on_the_primary_key_is_refused(
    tmp_path: Path, demo: DemoDatabases, make_engine: MakeEngine
) -> None:
    chosen = _load(
        tmp_path, "sources:\n  accounts:\n    overrides:\n      users: {pii: {id: hash}}\n"
    )

    with pytest.raises(IngestionError, match=r"^source accounts, table users: column id is the"):
        catalog.resolve(chosen, "accounts", make_engine(demo.url("accounts")))


# --- the file's shape -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sources: {shop: {tabels: ['*']}}\n", "sources.shop.tabels: unknown key"),
        ("sources: {shop: {tables: orders}}\n", "sources.shop.tables: expected a list, not str"),
        (
            "sources: {shop: {overrides: {orders: {pii: {email: mask}}}}}\n",
            "sources.shop.overrides.orders.pii.email: unknown PII action 'mask'",
        ),
        (
            "sources: {shop: {overrides: {orders: {pii: {email: {action: drop,"
            " keep_domain: true}}}}}}\n",
            "pii.email.keep_domain: only a hashed column can keep its domain",
        ),
        (
            "sources: {shop: {overrides: {orders: {detect_deletes: 'no'}}}}\n",
            "sources.shop.overrides.orders.detect_deletes: expected true or false",
        ),
        ("max_connections: 0\nsources: {shop: {}}\n", "max_connections: expected a whole number"),
        ("sources: {Shop-DB: {}}\n", "sources.Shop-DB: a source name is lowercase"),
        ("sources:\n  shop: {}\n  shop: {}\n", "invalid YAML at line 3: key 'shop' is given twice"),
        ("lookback_minutes: 5\n", "no `sources:` mapping"),
    ],
)
def test_malformed_catalog_file_is_named_with_its_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = _write(tmp_path, text)

    with pytest.raises(IngestionError) as raised:
        catalog.load_catalog(path)

    message = str(raised.value)
    assert message.startswith(f"catalog {path}: ")
    assert expected in message
    assert "\n" not in message


def test_missing_catalog_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yml"

    with pytest.raises(IngestionError, match=r"nowhere\.yml cannot be read"):
        catalog.load_catalog(path)


def test_a_text_or_composite_key_is_not_an_integer_key(
    tmp_path: Path, admin_url: sa.URL, fresh_database: str, make_engine: MakeEngine
) -> None:
    url = admin_url.set(database=fresh_database)
    _execute(
        url,
        "create table labels (label text primary key)",
        "create table pairs (a bigint, b bigint, primary key (a, b))",
    )

    specs = _by_name(
        catalog.resolve(_load(tmp_path, "sources:\n  shop: {}\n"), "shop", make_engine(url))
    )

    assert specs["labels"].has_integer_key is False
    assert specs["pairs"].has_integer_key is False
