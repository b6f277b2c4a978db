"""`ingestion dataset` on queries: exact round trips, immutable versions, tamper detection."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

from ingestion import datasets, settings
from ingestion.datasets import create, store, verify
from ingestion.datasets.create import CreateRequest
from ingestion.datasets.refs import DatasetRef
from ingestion.errors import IngestionError
from tests.helpers import run_cli

TYPES_SQL = """
create type shop.mood as enum ('happy', 'sad');
create table shop.orders (
    id bigint primary key,
    small smallint,
    quantity integer,
    amount numeric(12, 2),
    huge numeric(50, 5),
    ratio numeric,
    score double precision,
    weight real,
    is_paid boolean,
    note text,
    code char(4),
    label varchar(10),
    placed_at timestamptz,
    local_at timestamp,
    placed_on date,
    opens_at time,
    attributes jsonb,
    payload json,
    blob bytea,
    token uuid,
    tags text[],
    wait interval,
    mood shop.mood
);
insert into shop.orders values
    (1, -32768, 2147483647, -12345.67, 123456789012345678901234567890123456789012345.12345,
     0.333333333333333333333333333333, 1.5e300, 0.25, true, '', 'ab', 'x',
     '2026-06-01 16:00:00.123456+00', '2026-06-01 09:00:00.5', '2026-06-01', '23:59:59.999999',
     '{"b": [1, 2.50, null], "a": {"é": "ü"}}', '{"b": 1,  "a": 2}', '\\x00ff',
     '6b9f0d2e-3f43-4b5e-9a5c-0f5d3c1e2a11', '{a,"b c",NULL}', '1 mon 2 days 03:04:05', 'happy'),
    (2, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
     null, null, null, null, null, null, null, null),
    (3, 7, -1, 0.10, 0, 100, -0.0, -1.5, false, 'line
break', 'abcd', 'ten chars!', '1900-01-01 00:00:00+00', '1900-01-01 00:00:00',
     '1900-01-01', '00:00:00', '[]', 'null', '\\x', '00000000-0000-0000-0000-000000000000',
     '{}', '-00:00:01', 'sad');
"""

FIRST_ROW = {
    "id": 1,
    "small": -32768,
    "quantity": 2147483647,
    "amount": Decimal("-12345.67"),
    "huge": Decimal("123456789012345678901234567890123456789012345.12345"),
    "ratio": "0.333333333333333333333333333333",
    "score": 1.5e300,
    "weight": 0.25,
    "is_paid": True,
    "note": "",
    "code": "ab  ",
    "label": "x",
    "placed_at": datetime(2026, 6, 1, 16, 0, 0, 123456, tzinfo=UTC),
    "local_at": datetime(2026, 6, 1, 9, 0, 0, 500000),
    "placed_on": date(2026, 6, 1),
    "opens_at": time(23, 59, 59, 999999),
    "blob": b"\x00\xff",
    "token": "6b9f0d2e-3f43-4b5e-9a5c-0f5d3c1e2a11",
    "tags": '{a,"b c",NULL}',
    "wait": "1 mon 2 days 03:04:05",
    "mood": "happy",
}
ARROW_TYPES = {
    "id": pa.int64(),
    "small": pa.int16(),
    "quantity": pa.int32(),
    "amount": pa.decimal128(12, 2),
    "huge": pa.decimal256(50, 5),
    "ratio": pa.string(),
    "score": pa.float64(),
    "weight": pa.float32(),
    "is_paid": pa.bool_(),
    "code": pa.string(),
    "placed_at": pa.timestamp("us", tz="UTC"),
    "local_at": pa.timestamp("us"),
    "placed_on": pa.date32(),
    "opens_at": pa.time64("us"),
    "attributes": pa.json_(pa.string()),
    "payload": pa.json_(pa.string()),
    "blob": pa.binary(),
}


@dataclass(frozen=True)
class Warehouse:
    """A warehouse database of its own, the dataset store, and the folder the CLI runs in."""

    engine: sa.Engine
    database: str
    datasets_url: str
    folder: Path

    def run(self, statements: str) -> None:
        """Run SQL as the warehouse's owner."""
        with self.engine.begin() as connection:
            connection.connection.cursor().execute(statements)

    def create(self, name: str, query: str, version: str | None = None, **options: int) -> None:
        """`dataset create` from a query through the Python entry point."""
        request = CreateRequest(name=name, query=query, version=version, key=("id",))
        create.create(
            request,
            store.open_store(self.datasets_url),
            settings.warehouse(),
            self.folder,
            **options,
        )

    def cli(self, *arguments: str) -> tuple[int, str, str]:
        """`ingestion dataset …` as a user runs it; returns exit code, stdout and stderr."""
        done = run_cli(
            "dataset",
            *arguments,
            cwd=self.folder,
            WAREHOUSE_DB=self.database,
            DATASETS_URL=self.datasets_url,
        )
        return done.returncode, done.stdout, done.stderr


@pytest.fixture
def warehouse(
    provisioned: Path, admin_url: sa.URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Warehouse]:
    database = f"d{uuid.uuid4().hex[:8]}_warehouse"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'create database "{database}" owner analytics')
    monkeypatch.setenv("WAREHOUSE_DB", database)
    datasets_url = str(tmp_path / "datasets")
    monkeypatch.setenv("DATASETS_URL", datasets_url)
    engine = sa.create_engine(settings.warehouse().url())
    built = Warehouse(engine=engine, database=database, datasets_url=datasets_url, folder=tmp_path)
    built.run("create schema shop")
    yield built
    engine.dispose()
    with admin.connect() as connection:
        connection.exec_driver_sql(f'drop database "{database}" with (force)')
    admin.dispose()


def test_create_verify_load_round_trips_values_and_types(warehouse: Warehouse) -> None:
    warehouse.run(TYPES_SQL)

    warehouse.create("orders", "select * from shop.orders order by id;", version="v1")
    intact = verify.verify(store.open_store(warehouse.datasets_url), DatasetRef("orders", "v1"))
    loaded = datasets.load("orders", "v1")

    assert intact.row_count == 3
    assert {name: loaded.schema.field(name).type for name in ARROW_TYPES} == ARROW_TYPES
    first, empty, third = loaded.to_pylist()
    assert {name: first[name] for name in FIRST_ROW} == FIRST_ROW
    assert json.loads(first["attributes"]) == {"a": {"é": "ü"}, "b": [1, 2.50, None]}
    assert first["payload"] == '{"b": 1,  "a": 2}'  # json keeps its text as written
    assert empty == {name: (2 if name == "id" else None) for name in loaded.column_names}
    assert (third["amount"], third["huge"], third["ratio"]) == (Decimal("0.10"), 0, "100")
    assert (third["note"], third["blob"], third["tags"]) == ("line\nbreak", b"", "{}")
    assert (third["attributes"], third["payload"], third["wait"]) == ("[]", "null", "-00:00:01")
    assert third["placed_at"] == datetime(1900, 1, 1, tzinfo=UTC)
    types = {column.name: column.pg_type for column in intact.columns}
    assert (types["amount"], types["placed_at"], types["mood"]) == (
        "numeric(12,2)",
        "timestamp with time zone",
        "shop.mood",
    )


def test_pandas_keeps_integers_booleans_and_missing_values(warehouse: Warehouse) -> None:
    warehouse.run(TYPES_SQL)
    warehouse.create(
        "orders",
        "select id, quantity, is_paid, amount, placed_at from shop.orders order by id -- a comment",
    )

    frame = datasets.load("orders", datasets.versions("orders")[0], as_="pandas")

    assert [str(dtype) for dtype in frame.dtypes] == [
        "Int64",
        "Int32",
        "boolean",
        "object",
        "datetime64[us, UTC]",
    ]
    assert frame["quantity"].isna().tolist() == [False, True, False]
    assert frame["amount"].tolist()[0] == Decimal("-12345.67")


def test_manifest_says_where_the_rows_came_from(warehouse: Warehouse) -> None:
    warehouse.run(TYPES_SQL)
    query = "select id, amount, placed_at from shop.orders where id <> 2 order by id"

    warehouse.create("orders", query, version="v1")
    shown = datasets.manifest("orders", "v1")

    assert shown.query == query
    assert shown.relations_read == ("shop.orders",)
    assert shown.loads == ()  # no ingestion load: shop.orders was not loaded by dlt
    assert (shown.row_count, shown.key, shown.dbt) == (2, ("id",), None)
    assert shown.time_range is not None
    assert (shown.time_range.column, shown.time_range.min, shown.time_range.max) == (
        "placed_at",
        "1900-01-01T00:00:00+00:00",
        "2026-06-01T16:00:00.123456+00:00",
    )
    assert [(column.name, column.arrow_type) for column in shown.columns] == [
        ("id", "int64"),
        ("amount", "decimal128(12, 2)"),
        ("placed_at", "timestamp[us, tz=UTC]"),
    ]
    assert shown.created_by
    assert shown.warehouse.database == warehouse.database


def test_same_version_twice_fails_and_leaves_the_first_intact(warehouse: Warehouse) -> None:
    warehouse.run("create table shop.items as select g as id from generate_series(1, 5) as g")
    code, _, _ = warehouse.cli("create", "items", "--version", "v1", "--query", "table shop.items")
    assert code == 0
    warehouse.run("insert into shop.items values (6)")

    code, _, stderr = warehouse.cli(
        "create", "items", "--version", "v1", "--query", "table shop.items"
    )

    assert code == 1
    assert stderr.strip().splitlines() == [
        f"ingestion: dataset items@v1 already exists at {warehouse.datasets_url}/items/v1:"
        " versions are immutable, choose another --version"
    ]
    assert datasets.load("items", "v1")["id"].to_pylist() == [1, 2, 3, 4, 5]
    assert warehouse.cli("verify", "items@v1")[0] == 0
    assert sorted(path.name for path in (Path(warehouse.datasets_url) / "items").iterdir()) == [
        "v1"
    ]


def test_a_version_raced_to_publication_is_refused(warehouse: Warehouse) -> None:
    """Two creates of one version: the one that publishes second fails, the first stays."""
    warehouse.run("create table shop.items as select g as id from generate_series(1, 3) as g")
    target = store.open_store(warehouse.datasets_url)
    ref = DatasetRef("items", "v1")

    with (
        pytest.raises(IngestionError, match="items@v1 already exists"),
        store.draft(target, ref) as late,
    ):
        with late.create(late.filename(0)) as handle:
            handle.write(b"not the first one's")
        warehouse.create("items", "table shop.items", version="v1")
        store.publish(late, b"{}")

    assert datasets.load("items", "v1")["id"].to_pylist() == [1, 2, 3]
    assert store.versions(target, "items") == ["v1"]
    assert len(list((Path(warehouse.datasets_url) / "items").iterdir())) == 1


def test_versions_from_the_date_are_never_reused(warehouse: Warehouse) -> None:
    warehouse.run("create table shop.items as select 1 as id")
    today = datetime.now(UTC).date().isoformat()

    for _ in range(3):
        warehouse.create("items", "table shop.items")

    assert datasets.versions("items") == [today, f"{today}.2", f"{today}.3"]


def test_editing_one_byte_makes_verify_fail_naming_the_file(warehouse: Warehouse) -> None:
    warehouse.run("create table shop.items as select g as id from generate_series(1, 1000) as g")
    warehouse.create(
        "items", "select id from shop.items order by id", "v1", batch_rows=100, rows_per_file=300
    )
    shown = datasets.manifest("items", "v1")
    assert [file.rows for file in shown.files] == [300, 300, 300, 100]
    assert datasets.load("items", "v1")["id"].to_pylist() == list(range(1, 1001))
    tampered = Path(warehouse.datasets_url) / "items" / "v1" / shown.files[2].name
    content = bytearray(tampered.read_bytes())
    content[len(content) // 2] ^= 0x01
    tampered.write_bytes(bytes(content))

    code, _, stderr = warehouse.cli("verify", "items@v1")

    assert code == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        f"ingestion: dataset items@v1 failed verification: file {shown.files[2].name} was changed"
    )
    for untouched in (shown.files[0], shown.files[1], shown.files[3]):
        assert untouched.name not in lines[0]


def test_the_query_cannot_write_to_the_warehouse(warehouse: Warehouse) -> None:
    warehouse.run("create table shop.items as select 1 as id")

    code, _, stderr = warehouse.cli(
        "create", "items", "--query", "select id, nextval('shop.counter') from shop.items"
    )
    warehouse.run("create sequence shop.counter")
    code_after, _, stderr_after = warehouse.cli(
        "create", "items", "--query", "select id, nextval('shop.counter') from shop.items"
    )

    assert code == 1
    assert 'relation "shop.counter" does not exist' in stderr
    assert code_after == 1
    assert "read-only transaction" in stderr_after
    assert datasets.versions("items") == []


def test_an_object_store_gets_the_manifest_last_and_refuses_a_taken_version(
    warehouse: Warehouse,
) -> None:
    warehouse.run("create table shop.items as select g as id from generate_series(1, 4) as g")
    url = f"memory://datasets-{uuid.uuid4().hex[:8]}"
    target = store.open_store(url)
    request = CreateRequest(name="items", query="table shop.items", version="v1")

    create.create(request, target, settings.warehouse(), warehouse.folder)
    with pytest.raises(IngestionError, match="items@v1 already exists"):
        create.create(request, target, settings.warehouse(), warehouse.folder)

    assert verify.problems(target, DatasetRef("items", "v1"))[1] == []
    assert datasets.load("items", "v1", url=url, check=True)["id"].to_pylist() == [1, 2, 3, 4]
    assert len(target.fs.ls(target.folder(DatasetRef("items", "v1")))) == 2


def test_cli_lists_shows_and_diffs_versions(warehouse: Warehouse) -> None:
    warehouse.run(
        "create table shop.items as"
        " select g as id, 'item ' || g as title, g * 1.5 as price from generate_series(1, 5) as g"
    )
    assert (
        warehouse.cli("create", "items", "--version", "v1", "--query", "table shop.items")[0] == 0
    )
    warehouse.run(
        "delete from shop.items where id = 1; update shop.items set title = 'new' where id = 3;"
        " insert into shop.items values (9, 'nine', 2.5);"
        " alter table shop.items add column is_sold boolean"
    )
    query = "select * from shop.items order by id"
    assert warehouse.cli("create", "items", "--version", "v2", "--query", query)[0] == 0

    listed = warehouse.cli("list")
    shown = warehouse.cli("show", "items@v2")
    compared = warehouse.cli("diff", "items@v1", "items@v2", "--key", "id")
    missing = warehouse.cli("show", "items@v3")

    assert listed[0] == 0
    assert [line.split()[0] for line in listed[1].splitlines()] == ["items@v1", "items@v2"]
    assert shown[0] == 0
    assert json.loads(shown[1])["query"] == query
    assert compared[0] == 0
    assert compared[1].splitlines() == [
        "items@v1 -> items@v2 (key id)",
        "  column added:   is_sold boolean",
        "  rows added: 1: 9",
        "  rows removed: 1: 1",
        "  rows changed: 1: 3",
        "  changed columns: title 1",
    ]
    assert missing[0] == 1
    assert missing[2].strip() == (
        f"ingestion: dataset items@v3 does not exist in {warehouse.datasets_url}"
        " (its versions: v1, v2)"
    )
