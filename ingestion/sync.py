"""One sync: every chosen source, loaded, checked for deletes, reconciled, logged."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from dlt.pipeline.exceptions import PipelineStepFailed

from ingestion import catalog as catalog_module
from ingestion import deletes, pipeline, reconcile, settings, source_session, synclog
from ingestion.catalog import Catalog, TableSpec
from ingestion.errors import IngestionError
from ingestion.source_session import SessionLimits

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncRequest:
    """What the user asked to sync."""

    sources: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    full_refresh: bool = False


def _first_line(error: BaseException) -> str:
    cause: BaseException = error
    while isinstance(cause, PipelineStepFailed) and cause.exception is not None:
        cause = cause.exception
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def _scrubbed(message: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    return message


@contextmanager
def _exclusive(warehouse: sa.Engine, source: str) -> Iterator[None]:
    """Only one sync of a source at a time, across processes and machines."""
    with warehouse.connect() as connection:
        key = sa.func.hashtextextended(f"ingestion sync {source}", 0)
        taken = connection.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar_one()
        if not taken:
            raise IngestionError(f"source {source}: another sync of it is running; try later")
        try:
            yield
        finally:
            connection.execute(sa.select(sa.func.pg_advisory_unlock(key)))
            connection.commit()


def _check_cursors(specs: Sequence[TableSpec], engine: sa.Engine) -> None:
    """A NULL cursor would be skipped by every incremental read: refuse it up front."""
    with engine.connect() as connection:
        for spec in specs:
            if spec.cursor is None:
                continue
            table = sa.table(spec.name, sa.column(spec.cursor), schema=spec.schema)
            query = sa.select(sa.literal(1)).where(table.c[spec.cursor].is_(None)).limit(1)
            if connection.execute(query).first() is not None:
                raise IngestionError(
                    f"source {spec.source}, table {spec.name}: cursor column {spec.cursor}"
                    " has NULLs; set another cursor (or none) for it in the catalog"
                )


def _source_rows(
    specs: Sequence[TableSpec],
    loaded: Sequence[pipeline.LoadedTable],
    engine: sa.Engine,
    warehouse: sa.Engine,
    options: pipeline.SyncOptions,
    started_at: datetime,
) -> list[synclog.TableSync]:
    rows = []
    for spec, table in zip(specs, loaded, strict=True):
        began = time.perf_counter()
        noticed = datetime.now(UTC)
        deletes.ensure_deleted_column(spec, warehouse)
        # A full refresh has just copied every live row: nothing can be missing.
        found = (
            deletes.mark_hard_deletes(spec, engine, warehouse, noticed)
            if spec.detect_deletes and not options.full_refresh
            else 0
        )
        checked = time.perf_counter()
        check = reconcile.reconcile(
            spec,
            engine,
            warehouse,
            options.pii_salt,
            read_whole=spec.cursor is None,
        )
        finished_at = datetime.now(UTC)
        log.info(
            "%s.%s: deletes checked in %.1f s, reconciled in %.1f s",
            spec.source,
            spec.name,
            checked - began,
            time.perf_counter() - checked,
        )
        rows.append(
            synclog.TableSync(
                load_id=table.load_id,
                source=spec.source,
                table_name=spec.name,
                started_at=started_at,
                finished_at=finished_at,
                rows_read=table.rows,
                rows_written=table.rows,
                deletes_found=found,
                duration_seconds=table.seconds + time.perf_counter() - began,
                status="ok" if check.ok else "mismatch",
                detail=check.describe(),
            )
        )
    return rows


def _failed_rows(
    source: str, specs: Sequence[TableSpec], started_at: datetime, detail: str
) -> list[synclog.TableSync]:
    finished_at = datetime.now(UTC)
    return [
        synclog.TableSync(
            load_id="",
            source=source,
            table_name=spec.name,
            started_at=started_at,
            finished_at=finished_at,
            rows_read=0,
            rows_written=0,
            deletes_found=0,
            duration_seconds=(finished_at - started_at).total_seconds(),
            status="failed",
            detail=detail,
        )
        for spec in specs
    ]


def _record_failure(warehouse: sa.Engine, rows: list[synclog.TableSync]) -> None:
    """Log a failed sync where the warehouse allows; never hide the failure itself."""
    try:
        synclog.record(warehouse, rows)
    except sa.exc.SQLAlchemyError as error:
        log.warning("could not record the failed sync: %s", _first_line(error))


def _check_warehouse(warehouse: sa.Engine, options: pipeline.SyncOptions) -> None:
    target = options.warehouse
    try:
        with warehouse.connect() as connection:
            connection.execute(sa.select(1))
    except sa.exc.DBAPIError as error:
        reason = _scrubbed(_first_line(error), [target.password])
        raise IngestionError(
            f"warehouse: cannot connect to database {target.database} on"
            f" {target.host}:{target.port} as {target.user}"
            f" (check the WAREHOUSE_* settings): {reason}"
        ) from None


def sync_source(
    catalog: Catalog,
    source: str,
    request: SyncRequest,
    options: pipeline.SyncOptions,
    limits: SessionLimits,
    warehouse: sa.Engine,
) -> list[synclog.TableSync]:
    """Sync one source database; every table gets a row in the sync log."""
    started_at = datetime.now(UTC)
    url = settings.source_url(source)
    engine = source_session.source_engine(url, limits)
    specs: list[TableSpec] = []
    secrets = [options.warehouse.password, options.pii_salt, url.password or ""]
    try:
        source_session.connect_check(source, engine)
        with source_session.failures_named(source, engine):
            report = source_session.preflight(engine)
            specs = catalog_module.resolve(catalog, source, engine, request.tables or None)
            _check_cursors(specs, engine)
        log.info("source %s: %s", source, report.summary())
        for warning in report.warnings():
            log.warning("source %s: %s", source, warning)
        with _exclusive(warehouse, source):
            connection_string = source_session.libpq_url(url, limits)
            loaded = pipeline.load(
                source,
                specs,
                engine,
                connection_string,
                options,
                warehouse,
                workers=catalog.max_connections,
                budget_seconds=source_session.chunk_seconds_budget(report),
            )
            rows = _source_rows(specs, loaded, engine, warehouse, options, started_at)
    except IngestionError as error:
        _record_failure(warehouse, _failed_rows(source, specs, started_at, str(error)))
        raise
    except (PipelineStepFailed, sa.exc.SQLAlchemyError) as error:
        message = _scrubbed(f"source {source}: {_first_line(error)}", secrets)
        _record_failure(warehouse, _failed_rows(source, specs, started_at, message))
        raise IngestionError(message) from None
    finally:
        engine.dispose()
    synclog.record(warehouse, rows)
    return rows


def run(request: SyncRequest) -> list[synclog.TableSync]:
    """Sync the requested sources one after the other; a mismatch is an error."""
    catalog = catalog_module.load_catalog(settings.catalog_path())
    sources = request.sources or catalog_module.source_names(catalog)
    options = pipeline.SyncOptions(
        warehouse=settings.warehouse(),
        pipelines_dir=settings.pipelines_dir(),
        pii_salt=settings.pii_hash_salt(),
        full_refresh=request.full_refresh,
    )
    limits = SessionLimits.from_settings()
    warehouse = sa.create_engine(options.warehouse.url())
    rows: list[synclog.TableSync] = []
    try:
        _check_warehouse(warehouse, options)
        for source in sources:
            rows.extend(sync_source(catalog, source, request, options, limits, warehouse))
    finally:
        warehouse.dispose()
    mismatched = [f"{row.source}.{row.table_name}" for row in rows if row.status == "mismatch"]
    if mismatched:
        raise IngestionError(
            f"reconciliation failed for {', '.join(mismatched)}: see `ingestion status`"
        )
    return rows
