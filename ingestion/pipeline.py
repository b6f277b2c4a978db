"""Builds dlt resources from TableSpecs and runs one sync of one source database.

The path: connectorx streams each table into Arrow batches (its query casts what it would
read inexactly, see column_plan), dlt writes them to Parquet without a normalize pass,
and the postgres destination loads Parquet through ADBC (COPY BINARY). The warehouse
side of this module assumes PostgreSQL: the jsonb type mapping and the key index.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Collection, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
import sqlalchemy as sa
from dlt.common.pipeline import LoadInfo
from dlt.common.runtime.collector import LogCollector
from dlt.sources.sql_database import sql_table
from psycopg2 import sql

from ingestion import chunked_read, column_plan, pii, schema_drift
from ingestion.catalog import TableSpec
from ingestion.destination import ExactPostgresTypeMapper, warehouse_postgres
from ingestion.settings import WarehouseSettings

log = logging.getLogger(__name__)

DELETED_AT = "_ingestion_deleted_at"
# dlt settings that are the same everywhere, set through its documented config keys.
DLT_CONFIG = {
    # Rotate files so one load job (ADBC reads a whole file into memory) stays small.
    "DATA_WRITER__FILE_MAX_ITEMS": "250000",
    # Merge copies rows through <dataset>_staging: do not keep them there afterwards.
    "LOAD__TRUNCATE_STAGING_DATASET": "true",
    "LOAD__DELETE_COMPLETED_JOBS": "true",
    # No usage reports to dlt's servers: production data's shape stays in-house.
    "RUNTIME__DLTHUB_TELEMETRY": "false",
}
# A merge deletes the staged keys from the table through its key index. At PostgreSQL's
# default random_page_cost (4, for spinning disks) the planner scans the whole table
# instead once a few thousand rows changed: 0.9 s instead of 0.1 s for 20,000 of 2
# million rows. 1.1 is the usual value for SSDs and cached data; a large merge still
# gets its hash join.
# No space: the ADBC loader passes it on in a URL.
LOADER_OPTIONS = "-crandom_page_cost=1.1"


@dataclass(frozen=True)
class SyncOptions:
    """How one sync runs: where it loads, where dlt keeps its state, what it redoes."""

    warehouse: WarehouseSettings
    pipelines_dir: Path
    pii_salt: str = field(repr=False)
    full_refresh: bool = False
    chunk_size: int = 100_000
    load_workers: int = 2


@dataclass(frozen=True)
class LoadedTable:
    """What dlt extracted and loaded for one table in one sync."""

    table: str
    load_id: str
    rows: int
    # The whole source's extract, normalize and load: dlt runs its tables together.
    seconds: float
    # Copied whole (its first load, or a full refresh) rather than merged.
    replaced: bool = False


def pipeline_name(source: str) -> str:
    """The dlt pipeline of one source database."""
    return f"ingestion_{source}"


def make_pipeline(source: str, dataset: str, options: SyncOptions) -> dlt.Pipeline:
    """The dlt pipeline that loads one source into its `raw_<source>` dataset."""
    for key, value in DLT_CONFIG.items():
        os.environ.setdefault(key, value)
    warehouse = options.warehouse
    destination = warehouse_postgres(
        credentials={
            "database": warehouse.database,
            "username": warehouse.user,
            "password": warehouse.password,
            "host": warehouse.host,
            "port": warehouse.port,
            "query": {"options": LOADER_OPTIONS},
        },
        type_mapper=ExactPostgresTypeMapper,
    )
    return dlt.pipeline(
        pipeline_name=pipeline_name(source),
        destination=destination,
        dataset_name=dataset,
        pipelines_dir=str(options.pipelines_dir),
        # Progress every 10 s on long work, through our log rather than stdout.
        progress=LogCollector(log_period=10, logger=log, dump_system_stats=False),
    )


def _has_rows(item: Any) -> bool:  # noqa: ANN401 - any dlt item
    # connectorx's stream ends with an empty batch; an empty Parquet file fails in ADBC.
    return getattr(item, "num_rows", 1) > 0


# Changed rows are merged on the key by one MERGE (PostgreSQL 15 and later), which updates
# each row in place: on a page with room that is a HOT update, with no new index entry.
# Delete-then-insert instead writes every changed row again on another page (wherever the
# free space map points) and touches the key index twice: for 20,000 of 2 million rows,
# about 29,000 pages read or dirtied instead of 800, and twice the time. It serves older
# servers.
UPSERT = {"disposition": "merge", "strategy": "upsert"}
# A table with a primary key holds no duplicate keys: no dedup pass in staging.
DELETE_INSERT = {"disposition": "merge", "strategy": "delete-insert", "deduplicated": True}
MERGE_SINCE_SERVER = (15,)


def _whole_table(
    spec: TableSpec,
    engine: sa.Engine,
    connection_string: str,
    planned: column_plan.PlannedTable,
    incremental: Any,  # noqa: ANN401 - dlt's Incremental, or None
    options: SyncOptions,
) -> dlt.sources.DltResource:
    """One streamed connectorx query over the table (on a primary, or feedback on)."""
    excluded = [column for column, action in spec.pii.items() if action == "drop"]
    return sql_table(
        credentials=engine,
        table=spec.name,
        # dlt reflects the table into it once; a kept plan reuses that reflection.
        metadata=planned.metadata,
        incremental=incremental,
        chunk_size=options.chunk_size,
        backend="connectorx",
        backend_kwargs={
            "conn": connection_string,
            "return_type": "arrow_stream",
            "batch_size": options.chunk_size,
        },
        # Types come from the column plan; dlt's own reflection would widen them.
        reflection_level="minimal",
        query_adapter_callback=column_plan.cast_query(planned.plans),
        excluded_columns=excluded or None,
    )


def table_resource(
    spec: TableSpec,
    engine: sa.Engine,
    connection_string: str,
    options: SyncOptions,
    *,
    first_load: bool,
    budget_seconds: float | None = None,
    drift: schema_drift.TableDrift | None = None,
    screen: Callable[[Any], Any] | None = None,
    read_whole: bool = False,
    upsert: bool = True,
    planned: column_plan.PlannedTable | None = None,
) -> dlt.sources.DltResource:
    """One source table as a dlt resource: merged on its key, incremental on its cursor.

    `upsert` merges with MERGE, else by deleting and inserting the changed rows.
    `planned` holds the table's column plans if known (see column_plan.PlanCache).

    With a time budget (a standby whose replay cancels long reads), the table is read in
    key ranges that each fit the budget (see chunked_read). `drift` says how the source's
    columns changed since the warehouse table was made (see schema_drift). `screen` takes
    out the rows to quarantine; `read_whole` reads every row this time, cursor or not.
    """
    drift = drift or schema_drift.TableDrift()
    if planned is None:
        planned = column_plan.PlanCache().planned(engine, [spec])[spec.name]
    plans = planned.plans
    incremental = None
    if spec.cursor is not None and not drift.reread and not read_whole:
        incremental = dlt.sources.incremental(
            spec.cursor,
            lag=spec.lookback.total_seconds() or None,
            # Merge removes duplicates; per-row hashes in the state would only grow.
            primary_key=(),
        )
    if budget_seconds is not None and spec.has_integer_key:
        resource = chunked_read.ranges_resource(
            spec, engine, connection_string, plans, budget_seconds, incremental
        )
    elif budget_seconds is not None and chunked_read.can_page(spec, plans):
        resource = chunked_read.keyset_resource(
            spec, engine, connection_string, plans, budget_seconds, incremental
        )
    else:
        if budget_seconds is not None:
            log.warning(
                "source %s, table %s: its configured key has columns that allow NULL, so it"
                " is read in one query, which the standby's replay may cancel",
                spec.source,
                spec.name,
            )
        resource = _whole_table(spec, engine, connection_string, planned, incremental, options)
    hints = {plan.name: dict(plan.hint) for plan in plans.values()}
    hints.update({hint["name"]: dict(hint) for hint in drift.hints})
    merge = UPSERT if upsert else DELETE_INSERT
    resource.apply_hints(
        write_disposition="replace" if first_load else merge,
        primary_key=list(spec.primary_key),
        columns=list(hints.values()),
    )
    resource.add_filter(_has_rows)
    if screen is not None:
        resource.add_map(screen)
        resource.add_filter(_has_rows)  # a batch may have lost every row
    resource.add_map(column_plan.conform_batches(plans))
    transform = pii.transformer(spec, options.pii_salt)
    if transform is not None:
        resource.add_map(transform)
    return resource


def supports_merge(warehouse: sa.Engine) -> bool:
    """Whether the warehouse runs MERGE (PostgreSQL 15 and later)."""
    with warehouse.connect() as connection:
        version = connection.dialect.server_version_info or ()
    return connection.dialect.name == "postgresql" and version >= MERGE_SINCE_SERVER


def _existing(specs: Sequence[TableSpec], warehouse: sa.Engine) -> set[str]:
    inspector = sa.inspect(warehouse)
    return {spec.name for spec in specs if inspector.has_table(spec.name, schema=spec.dataset)}


def index_keys(spec: TableSpec, warehouse: sa.Engine) -> None:
    """A unique index on the key, so each merge's delete probes it instead of scanning."""
    name = f"{spec.name}__key"[:63]
    with warehouse.begin() as connection:
        cursor = connection.connection.cursor()
        # Asked first: CREATE INDEX IF NOT EXISTS locks the table even when the index
        # exists, and waits for autovacuum to give way.
        cursor.execute(
            "select to_regclass(%s), to_regclass(%s)",
            (
                sql.Identifier(spec.dataset, spec.name).as_string(cursor),
                sql.Identifier(spec.dataset, name).as_string(cursor),
            ),
        )
        table, index = cursor.fetchone()
        if table is None or index is not None:
            return
        cursor.execute(
            sql.SQL("create unique index if not exists {} on {} ({})").format(
                sql.Identifier(name),
                sql.Identifier(spec.dataset, spec.name),
                sql.SQL(", ").join(sql.Identifier(column) for column in spec.primary_key),
            )
        )


def analyze_copies(specs: Sequence[TableSpec], warehouse: sa.Engine) -> None:
    """Planner statistics for tables just copied whole, before the next query needs them.

    Autovacuum gathers them a minute or more later. Until then the planner guesses a third
    of the rows for any key range and scans the whole table where the key index answers
    at once (the delete check's sum of the keys above the old highest one, the merges).
    """
    with warehouse.begin() as connection:
        cursor = connection.connection.cursor()
        for spec in specs:
            cursor.execute(sql.SQL("analyze {}").format(sql.Identifier(spec.dataset, spec.name)))


def _create_empty_tables(
    specs: Sequence[TableSpec], engine: sa.Engine, warehouse: sa.Engine
) -> None:
    """A source table without rows still gets its warehouse table, with the source's types.

    dlt creates a table with its first row; a table that is empty at launch would
    otherwise be missing downstream (dbt sources, snapshots) until it has one. The
    columns are those the Arrow path loads (dlt adds no columns of its own there), so
    dlt's first load into the table later finds it as it would have made it.
    """
    missing = [spec for spec in specs if spec.name not in _existing(specs, warehouse)]
    mapper = ExactPostgresTypeMapper(warehouse_postgres().capabilities())
    for spec in missing:
        plans = column_plan.plan_columns(engine, spec)
        columns = [
            (name, mapper.to_destination_type(dict(plan.hint), {"name": spec.name}), plan)
            for name, plan in plans.items()
            if spec.pii.get(name) != "drop"
        ]
        definitions = [
            sql.SQL("{} {}{}").format(
                sql.Identifier(name),
                sql.SQL(data_type),
                sql.SQL("" if plan.hint.get("nullable", True) else " not null"),
            )
            for name, data_type, plan in columns
        ]
        definitions += [
            sql.SQL("{} text").format(sql.Identifier(domain))
            for domain in spec.domain_columns.values()
        ]
        with warehouse.begin() as connection:
            connection.connection.cursor().execute(
                sql.SQL("create table {} ({})").format(
                    sql.Identifier(spec.dataset, spec.name), sql.SQL(", ").join(definitions)
                )
            )


def _empty_tables_without_rows(specs: Sequence[TableSpec], warehouse: sa.Engine) -> None:
    """A full refresh of a source table that has no rows leaves its warehouse table empty.

    dlt truncates a table on refresh only when the extract yielded something for it.
    """
    with warehouse.begin() as connection:
        for spec in specs:
            connection.connection.cursor().execute(
                sql.SQL("truncate table {}").format(sql.Identifier(spec.dataset, spec.name))
            )


def _drop_staging(dataset: str, warehouse: sa.Engine) -> None:
    """dlt 1.31's refresh fails on a staging schema without its own _dlt_version table.

    The staging schema only holds transient copies of merged rows; dlt recreates it.
    """
    with warehouse.begin() as connection:
        connection.connection.cursor().execute(
            sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(f"{dataset}_staging"))
        )


def _finish_interrupted_commit(pipeline: dlt.Pipeline) -> None:
    """Delete extracted packages that dlt had already moved on to loading.

    Normalize moves a package into load/ and then deletes its extracted copy ("do not
    kill this process", dlt logs). A sync killed in between leaves a half-deleted copy
    that fails every later normalize; its rows are safe in the load package.
    """
    root = Path(pipeline.working_dir)
    moved = {
        package.name
        for stage in ("normalized", "loaded")
        for package in (root / "load" / stage).glob("*")
    }
    for package in (root / "normalize" / "extracted").glob("*"):
        if package.name in moved:
            log.warning(
                "%s: removing the extracted copy of package %s, already normalized",
                pipeline.pipeline_name,
                package.name,
            )
            shutil.rmtree(package)


def load(
    source: str,
    specs: Sequence[TableSpec],
    engine: sa.Engine,
    connection_string: str,
    options: SyncOptions,
    warehouse: sa.Engine,
    *,
    workers: int = 1,
    budget_seconds: float | None = None,
    on_extracted: Callable[[], None] | None = None,
    pipelines: MutableMapping[str, dlt.Pipeline] | None = None,
    screens: Mapping[str, Callable[[Any], Any]] | None = None,
    read_whole: Collection[str] = (),
    plan_cache: column_plan.PlanCache | None = None,
) -> list[LoadedTable]:
    """Extract (up to `workers` tables at once), normalize and load one source's tables.

    `on_extracted` runs once the source has been read, before anything is loaded.
    `pipelines` keeps the dlt pipeline, `plan_cache` the column plans, for the next sync
    of the same process. `screens` (by table) take out rows to quarantine; tables in
    `read_whole` are read whole.
    """
    if not specs:
        return []
    kept = {} if pipelines is None else pipelines
    key = f"{source} {options.warehouse.url()} {options.pipelines_dir}"
    if key not in kept:
        kept[key] = make_pipeline(source, specs[0].dataset, options)
    pipeline = kept[key]
    existing = _existing(specs, warehouse)
    drifts = {
        spec.name: schema_drift.follow_columns(
            spec, engine, warehouse, incremental=not options.full_refresh
        )
        for spec in specs
        if spec.name in existing
    }
    loaded = set() if options.full_refresh else existing
    if options.full_refresh:
        _drop_staging(specs[0].dataset, warehouse)
    upsert = supports_merge(warehouse)
    planned = (plan_cache if plan_cache is not None else column_plan.PlanCache()).planned(
        engine, specs
    )
    resources = [
        table_resource(
            spec,
            engine,
            connection_string,
            options,
            first_load=spec.name not in loaded,
            budget_seconds=budget_seconds,
            drift=drifts.get(spec.name),
            screen=(screens or {}).get(spec.name),
            read_whole=spec.name in read_whole,
            upsert=upsert,
            planned=planned[spec.name],
        ).parallelize()
        for spec in specs
    ]
    _finish_interrupted_commit(pipeline)
    started = time.perf_counter()
    pipeline.extract(
        resources,
        workers=max(1, workers),
        loader_file_format="parquet",
        # Truncate, not drop: dbt views downstream depend on the raw tables.
        refresh="drop_data" if options.full_refresh else None,
    )
    if on_extracted is not None:
        on_extracted()
    counts = dict(pipeline.normalize().row_counts)
    info: LoadInfo = pipeline.load(workers=options.load_workers)
    info.raise_on_failed_jobs()
    _create_empty_tables(specs, engine, warehouse)
    if options.full_refresh:
        _empty_tables_without_rows([spec for spec in specs if not counts.get(spec.name)], warehouse)
    for spec in specs:
        index_keys(spec, warehouse)
    analyze_copies(
        [spec for spec in specs if spec.name not in loaded and counts.get(spec.name)], warehouse
    )
    load_id = info.loads_ids[-1] if info.loads_ids else ""
    seconds = time.perf_counter() - started
    log.info("%s: loaded %s in %.1f s", source, counts, seconds)
    return [
        LoadedTable(spec.name, load_id, counts.get(spec.name, 0), seconds, spec.name not in loaded)
        for spec in specs
    ]
