"""Builds dlt resources from TableSpecs and runs one sync of one source database."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import dlt
import sqlalchemy as sa
from dlt.common.pipeline import LoadInfo
from dlt.common.runtime.collector import LogCollector
from dlt.sources.sql_database import sql_table
from sqlalchemy.dialects import postgresql

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
        # Progress every 10 s on long work, through our log rather than stdout.
        progress=LogCollector(log_period=10, logger=log, dump_system_stats=False),
    )


NUMERIC_TYPMOD = re.compile(r"numeric\((\d+),(\d+)\)")
DOMAIN_BASES = sa.text(
    "select typname, format_type(typbasetype, typtypmod) from pg_type where typtype = 'd'"
)


def domain_numerics(engine: sa.Engine) -> dict[str, sa.Numeric]:
    """Numeric domains with their precision, which SQLAlchemy's reflection drops."""
    if engine.dialect.name != "postgresql":
        return {}
    with engine.connect() as connection:
        bases = connection.execute(DOMAIN_BASES).all()
    found = {name: NUMERIC_TYPMOD.fullmatch(base) for name, base in bases}
    return {
        name: sa.Numeric(int(match.group(1)), int(match.group(2)))
        for name, match in found.items()
        if match
    }


def adapt_type(
    sql_type: sa.types.TypeEngine, numerics: dict[str, sa.Numeric] | None = None
) -> sa.types.TypeEngine:
    """Types dlt cannot map on its own, given as the types they carry."""
    if isinstance(sql_type, postgresql.DOMAIN):
        return (numerics or {}).get(sql_type.name) or adapt_type(sql_type.data_type)
    if isinstance(sql_type, sa.Float):
        # SQLAlchemy 2.1's Float is no Numeric any more, which dlt 1.31 looks for.
        return sa.Numeric(asdecimal=False)
    if isinstance(sql_type, postgresql.TSVECTOR):
        return sa.Text()
    return sql_type


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
        type_adapter_callback=partial(adapt_type, numerics=domain_numerics(engine)),
        excluded_columns=excluded or None,
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        primary_key=list(spec.primary_key),
    )
    if BACKEND == "sqlalchemy":
        resource.add_map(_plain_bytes)
    transform = pii.transformer(spec, options.pii_salt)
    if transform is not None:
        resource.add_map(transform)
    return resource


def _plain_bytes(row: dict[str, Any]) -> dict[str, Any]:
    """psycopg2 reads bytea as memoryview, and dlt turns an empty one into a text variant."""
    return {k: v.tobytes() if isinstance(v, memoryview) else v for k, v in row.items()}


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
