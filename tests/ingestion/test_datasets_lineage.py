"""Datasets of synced demo data: the loads behind them, dbt models, and diffs over time."""

from __future__ import annotations

import hashlib
import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from psycopg2 import sql

from ingestion import datasets, dbt_runner, settings, sync
from ingestion.datasets import create, diff, store
from ingestion.datasets.create import CreateRequest
from ingestion.datasets.refs import DatasetRef
from ingestion.demo import simulator
from ingestion.demo.simulator import DEMO_SOURCES, DemoDatabases
from tests.helpers import REPOSITORY

GO_LIVE = datetime(2026, 6, 1, 16, tzinfo=UTC)
MODEL_COLUMNS = (
    "user_id",
    "submission_id",
    "status",
    "card",
    "declared_value_usd",
    "created_at",
    "updated_at",
)
DBT_PROJECT = {
    "dbt_project.yml": """
name: dataset_test
version: "1.0.0"
config-version: 2
profile: launch_analytics
model-paths: ["models"]
flags:
  send_anonymous_usage_stats: false
models:
  dataset_test:
    +materialized: table
""",
    "models/_models.yml": """
sources:
  - name: vault
    schema: raw_vault
    tables:
      - name: vault_items
models:
  - name: vault_items_current
    columns:
      - name: vault_item_id
        data_tests: [unique, not_null]
  - name: vault_item_statuses
    config:
      materialized: view
""",
    "models/vault_items_current.sql": """
select
    id as vault_item_id,
    user_id,
    submission_id,
    status,
    card,
    declared_value_usd,
    created_at,
    updated_at
from {{ source('vault', 'vault_items') }}
where _ingestion_deleted_at is null
""",
    "models/vault_item_statuses.sql": """
select vault_item_id, status from {{ ref('vault_items_current') }}
""",
}


@dataclass(frozen=True)
class Launch:
    """The demo databases, a warehouse synced from them, and a dbt project over it."""

    demo: DemoDatabases
    warehouse: sa.Engine
    root: Path

    def sync_and_build(self) -> None:
        """Sync the vault source and build the dbt models on what arrived."""
        rows = sync.run(sync.SyncRequest(sources=("vault",)))
        assert {row.status for row in rows} == {"ok"}
        assert dbt_runner.run("dbt", ["run", "--quiet"], self.root) == 0

    def create(self, name: str, version: str, **request: str) -> None:
        """`dataset create` into the run's store."""
        create.create(
            CreateRequest(name=name, version=version, **request),
            store.open_store(settings.datasets_url()),
            settings.warehouse(),
            self.root,
        )

    def source_vault_items(self) -> dict[int, tuple[object, ...]]:
        """The live vault items as production holds them, by id."""
        engine = sa.create_engine(self.demo.url("vault"))
        query = sql.SQL("select id, {} from vault_items").format(
            sql.SQL(", ").join(map(sql.Identifier, MODEL_COLUMNS))
        )
        with engine.connect() as connection:
            cursor = connection.connection.cursor()
            cursor.execute(query)
            rows = cursor.fetchall()
        engine.dispose()
        return {row[0]: tuple(row[1:]) for row in rows}

    def warehouse_rows(self, query: str) -> list[tuple[object, ...]]:
        """Rows of a query on the warehouse."""
        with self.warehouse.connect() as connection:
            return [tuple(row) for row in connection.exec_driver_sql(query).all()]


def _git(folder: Path, *arguments: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.test", *arguments],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def launch(
    provisioned: Path, admin_url: sa.URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Launch]:
    prefix = f"l{uuid.uuid4().hex[:8]}"
    demo = DemoDatabases(
        admin_url=admin_url, names={source: f"{prefix}_{source}" for source in DEMO_SOURCES}
    )
    simulator.init(demo, scale=1000, seed=7, go_live_at=GO_LIVE)
    for source in DEMO_SOURCES:
        url = settings.source_url(source).set(database=demo.names[source])
        monkeypatch.setenv(
            settings.source_url_setting(source), url.render_as_string(hide_password=False)
        )
    database = f"{prefix}_warehouse"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'create database "{database}" owner analytics')
    monkeypatch.setenv("WAREHOUSE_DB", database)
    monkeypatch.setenv("PIPELINES_DIR", str(tmp_path / "dlt"))
    monkeypatch.setenv("DATASETS_URL", str(tmp_path / "datasets"))
    monkeypatch.delenv("DBT_PROFILES_DIR", raising=False)
    (tmp_path / "profiles.example.yml").write_text(
        (REPOSITORY / "profiles.example.yml").read_text()
    )
    for name, text in DBT_PROJECT.items():
        path = tmp_path / "dbt_project" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip())
    ignored = (REPOSITORY / ".gitignore").read_text()
    (tmp_path / ".gitignore").write_text(f"{ignored}\ndlt/\ndatasets/\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "the dbt project")
    warehouse = sa.create_engine(settings.warehouse().url())
    yield Launch(demo=demo, warehouse=warehouse, root=tmp_path)
    warehouse.dispose()
    simulator.drop(demo)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'drop database "{database}" with (force)')
    admin.dispose()


def test_manifest_names_the_loads_the_exported_rows_came_from(
    launch: Launch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Row level: the raw tables carry dlt's load id on every row."""
    monkeypatch.setenv("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
    simulator.advance(launch.demo, hours=6)  # the vault opens at go-live: empty until then
    launch.sync_and_build()
    simulator.advance(launch.demo, hours=30)
    launch.sync_and_build()

    launch.create("items", "v1", query="select id, status, _dlt_load_id from raw_vault.vault_items")
    launch.create("current", "v1", model="vault_items_current")
    launch.create("statuses", "v1", model="vault_item_statuses")

    exported = set(datasets.load("items", "v1")["_dlt_load_id"].to_pylist())
    items = datasets.manifest("items", "v1")
    assert len(exported) >= 2, "both syncs should have written rows"
    assert {load.load_id for load in items.loads} == exported
    assert {(load.relation, load.granularity) for load in items.loads} == {
        ("raw_vault.vault_items", "row")
    }
    assert sum(load.rows for load in items.loads) == items.row_count
    synced = dict(
        launch.warehouse_rows(
            "select load_id, max(finished_at) from ingestion.table_syncs"
            " where table_name = 'vault_items' group by 1"
        )
    )
    assert {load.load_id: load.synced_at for load in items.loads} == {
        load_id: synced[load_id].isoformat() for load_id in exported
    }
    assert all(load.loaded_at for load in items.loads)
    for name in ("current", "statuses"):
        from_model = datasets.manifest(name, "v1")
        assert from_model.loads == items.loads, name
        assert "raw_vault.vault_items" in from_model.relations_read
    statuses = datasets.manifest("statuses", "v1")
    assert statuses.relations_read == ("analytics.vault_items_current", "raw_vault.vault_items")
    assert statuses.dbt is not None
    assert statuses.dbt.model == "model.dataset_test.vault_item_statuses"
    assert statuses.dbt.relation == "analytics.vault_item_statuses"
    assert statuses.dbt.git_commit == _git(launch.root, "rev-parse", "HEAD")
    assert statuses.dbt.git_dirty is False
    manifest_file = launch.root / "dbt_project" / "target" / "manifest.json"
    assert statuses.dbt.manifest_sha256 == hashlib.sha256(manifest_file.read_bytes()).hexdigest()
    assert datasets.manifest("current", "v1").key == ("vault_item_id",)


def _model_rows_round_trip(launch: Launch, name: str, version: str) -> None:
    """The dataset holds the model's rows with equal values (card: jsonb as JSON text)."""
    loaded = datasets.load(name, version).to_pylist()
    exported = sorted(
        (
            *(row[column] for column in ("vault_item_id", *MODEL_COLUMNS[:3])),
            json.loads(row["card"]),
            *(row[column] for column in MODEL_COLUMNS[4:]),
        )
        for row in loaded
    )
    with launch.warehouse.connect() as connection:
        cursor = connection.connection.cursor()
        cursor.execute("set timezone = 'UTC'")
        cursor.execute("select * from analytics.vault_items_current order by 1")
        expected = [tuple(row) for row in cursor.fetchall()]
    assert exported == expected
    assert [field.name for field in datasets.load(name, version).schema] == [
        "vault_item_id",
        *MODEL_COLUMNS,
    ]


def test_diff_after_advance_and_sync_reports_what_changed_in_the_source(launch: Launch) -> None:
    simulator.advance(launch.demo, hours=12)
    launch.sync_and_build()
    launch.create("current", "before", model="vault_items_current")
    before = launch.source_vault_items()
    simulator.advance(launch.demo, hours=36)
    launch.sync_and_build()
    launch.create("current", "after", model="vault_items_current")
    after = launch.source_vault_items()
    _model_rows_round_trip(launch, "current", "after")

    found = diff.diff(
        store.open_store(settings.datasets_url()),
        DatasetRef("current", "before"),
        DatasetRef("current", "after"),
    )

    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(key for key in set(before) & set(after) if before[key] != after[key])
    assert added and removed and changed, "the demo's day should add, delete and update items"
    assert found.key == ("vault_item_id",)
    assert found.schema_changes == ()
    assert found.added["vault_item_id"].to_pylist() == added
    assert found.removed["vault_item_id"].to_pylist() == removed
    assert found.changed["vault_item_id"].to_pylist() == changed
    statuses_changed = sum(1 for key in changed if before[key][2] != after[key][2])
    assert found.changed_columns["status"] == statuses_changed


def test_without_row_load_ids_the_manifest_names_the_loads_that_wrote_the_table(
    launch: Launch,
) -> None:
    """Table level: raw tables without `_dlt_load_id` fall back to the sync log."""
    simulator.advance(launch.demo, hours=6)
    launch.sync_and_build()
    simulator.advance(launch.demo, hours=6)
    launch.sync_and_build()

    launch.create("current", "v1", model="vault_items_current")

    syncs = launch.warehouse_rows(
        "select load_id, rows_written, finished_at from ingestion.table_syncs"
        " where table_name = 'vault_items' order by load_id"
    )
    assert len(syncs) == 2
    loads = datasets.manifest("current", "v1").loads
    assert [(load.load_id, load.rows, load.synced_at) for load in loads] == [
        (load_id, rows, finished_at.isoformat()) for load_id, rows, finished_at in syncs
    ]
    assert {(load.relation, load.granularity) for load in loads} == {
        ("raw_vault.vault_items", "table")
    }
