"""Builds dlt resources from TableSpecs and runs one sync of one source database."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dlt
import sqlalchemy as sa
from dlt.common.pipeline import LoadInfo
from dlt.sources.sql_database import sql_table

from ingestion import pii
from ingestion.catalog import TableSpec
from ingestion.settings import WarehouseSettings

log = logging.getLogger(__name__)

DELETED_AT = "_ingestion_deleted_at"
BACKEND = "sqlalchemy"


@dataclass(frozen=True)
class SyncOptions:
    """How one sync runs: where it loads, where dlt keeps its state, what it redoes."""

    warehouse: WarehouseSettings
    pipelines_dir: Path
    pii_salt: str = field(repr=False)
    full_refresh: bool = False
    chunk_size: int = 50_000


@dataclass(frozen=True)
class LoadedTable:
    """What dlt extracted and loaded for one table in one sync."""

    table: str
    load_id: str
    rows: int
    # The whole source's extract, normalize and load: dlt runs its tables together.
    seconds: float


def pipeline_name(source: str) -> str:
    """The dlt pipeline of one source database."""
    return f"ingestion_{source}"


def make_pipeline(source: str, dataset: str, options: SyncOptions) -> dlt.Pipeline:
    """The dlt pipeline that loads one source into its `raw_<source>` dataset."""
    warehouse = options.warehouse
    destination = dlt.destinations.postgres(
        credentials={
            "database": warehouse.database,
            "username": warehouse.user,
            "password": warehouse.password,
            "host": warehouse.host,
            "port": warehouse.port,
        }
    )
    return dlt.pipeline(
        pipeline_name=pipeline_name(source),
        destination=destination,
        dataset_name=dataset,
        pipelines_dir=str(options.pipelines_dir),
        progress="log",
    )


def table_resource(
    spec: TableSpec, engine: sa.Engine, options: SyncOptions
) -> dlt.sources.DltResource:
    """One source table as a dlt resource: merged on its key, incremental on its cursor."""
    incremental = None
    if spec.cursor is not None:
        incremental = dlt.sources.incremental(
            spec.cursor,
            lag=spec.lookback.total_seconds(),
            # Merge removes duplicates; per-row hashes in the state would only grow.
            primary_key=(),
        )
    excluded = [column for column, action in spec.pii.items() if action == "drop"]
    resource = sql_table(
        credentials=engine,
        table=spec.name,
        schema=spec.schema,
        incremental=incremental,
        chunk_size=options.chunk_size,
        backend=BACKEND,
        reflection_level="full_with_precision",
        excluded_columns=excluded or None,
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        primary_key=list(spec.primary_key),
    )
    transform = pii.transformer(spec, options.pii_salt)
    if transform is not None:
        resource.add_map(transform)
    return resource


def load(
    source: str,
    specs: Sequence[TableSpec],
    engine: sa.Engine,
    options: SyncOptions,
    *,
    workers: int = 1,
) -> list[LoadedTable]:
    """Extract (up to `workers` tables at once), normalize and load one source's tables."""
    if not specs:
        return []
    pipeline = make_pipeline(source, specs[0].dataset, options)
    resources = [table_resource(spec, engine, options).parallelize() for spec in specs]
    started = time.perf_counter()
    pipeline.extract(
        resources,
        workers=max(1, workers),
        refresh="drop_resources" if options.full_refresh else None,
    )
    counts = dict(pipeline.normalize().row_counts)
    info: LoadInfo = pipeline.load()
    info.raise_on_failed_jobs()
    load_id = info.loads_ids[-1] if info.loads_ids else ""
    seconds = time.perf_counter() - started
    log.info("%s: loaded %s in %.1f s", source, counts, seconds)
    return [LoadedTable(spec.name, load_id, counts.get(spec.name, 0), seconds) for spec in specs]
