"""One sync: every chosen source, loaded, checked for deletes, reconciled, logged."""

from __future__ import annotations

import fnmatch
import functools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import dlt
import psycopg2
import sqlalchemy as sa
from dlt.pipeline.exceptions import PipelineStepFailed

from ingestion import catalog as catalog_module
from ingestion import (
    chunked_read,
    column_plan,
    deletes,
    fingerprints,
    pipeline,
    quarantine,
    reconcile,
    retry,
    schema_drift,
    settings,
    source_session,
    synclog,
)
from ingestion.catalog import Catalog, TableSpec
from ingestion.errors import IngestionError, SyncRefusedError
from ingestion.source_session import SessionLimits

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncRequest:
    """What the user asked to sync."""

    sources: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    full_refresh: bool = False


@dataclass(frozen=True)
class SyncOutcome:
    """One sync of a worker: its table rows, or the one-line error that stopped it."""

    number: int
    started_at: datetime
    seconds: float
    rows: tuple[synclog.TableSync, ...]
    error: str | None = None


class Warm:
    """What one process keeps across its syncs (`ingestion sync --every`): connection pools,
    dlt pipelines and column plans (each costs tens of milliseconds to make)."""

    def __init__(self) -> None:
        self._pools: dict[str, sa.Engine] = {}
        self.pipelines: dict[str, dlt.Pipeline] = {}
        self.plans = column_plan.PlanCache()

    def warehouse(self, target: settings.WarehouseSettings) -> sa.Engine:
        """The warehouse's pool."""
        url = target.url()
        return self._pool(url.render_as_string(hide_password=False), lambda: sa.create_engine(url))

    def source(self, url: sa.URL, limits: SessionLimits) -> sa.Engine:
        """A source's pool of read-only, bounded sessions."""
        key = f"{url.render_as_string(hide_password=False)} {limits}"
        return self._pool(key, lambda: source_session.source_engine(url, limits))

    def _pool(self, key: str, make: Callable[[], sa.Engine]) -> sa.Engine:
        if key not in self._pools:
            self._pools[key] = make()
        return self._pools[key]

    def dispose(self) -> None:
        """Close every pooled connection."""
        for engine in self._pools.values():
            engine.dispose()
        self._pools.clear()
        self.pipelines.clear()
        self.plans = column_plan.PlanCache()


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
            raise SyncRefusedError(f"source {source}: another sync of it is running; try later")
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


def _source_fingerprint(
    spec: TableSpec, engine: sa.Engine, bound: int | None
) -> fingerprints.SourceFingerprint:
    """The source's key fingerprint, read again if a standby's replay cancels the read."""
    where = f"source {spec.source}, table {spec.name}, key fingerprint"
    with source_session.failures_named(spec.source, engine, spec.name):
        found, _ = chunked_read.read_with_retries(
            lambda: fingerprints.source_fingerprint(spec, engine, bound), where
        )
    return found


def _start_fingerprints(
    specs: Sequence[TableSpec],
    engine: sa.Engine,
    warehouse: sa.Engine,
    background: ThreadPoolExecutor,
) -> dict[str, Future[fingerprints.SourceFingerprint]]:
    """Read the source's key fingerprints in the background while dlt reads and loads.

    Each is bounded by the warehouse's highest key before the load: see fingerprints.
    """
    return {
        spec.name: background.submit(
            _source_fingerprint, spec, engine, fingerprints.highest_key(spec, warehouse)
        )
        for spec in specs
        if spec.detect_deletes
    }


def _source_rows(
    specs: Sequence[TableSpec],
    loaded: Sequence[pipeline.LoadedTable],
    engine: sa.Engine,
    warehouse: sa.Engine,
    options: pipeline.SyncOptions,
    started_at: datetime,
    pending: dict[str, Future[fingerprints.SourceFingerprint]],
    lag_seconds: float | None,
    quarantined: dict[str, list[quarantine.Entry]],
) -> list[synclog.TableSync]:
    rows = []
    for spec, table in zip(specs, loaded, strict=True):
        entries = quarantined.get(spec.name, [])
        withheld = quarantine.withheld(entries)
        began = time.perf_counter()
        noticed = datetime.now(UTC)
        found = deletes.DeleteCheck(0)
        if not spec.detect_deletes:
            deletes.ensure_deleted_column(spec, warehouse)
        else:
            source_keys = (
                pending[spec.name].result()
                if spec.name in pending
                else _source_fingerprint(spec, engine, None)
            )
            if table.replaced:
                # A full copy has just read every live row: nothing can be missing.
                found = deletes.count_fresh_copy(spec, warehouse, source_keys)
            else:
                found = deletes.check_deletes(spec, engine, warehouse, noticed, source_keys)
        checked = time.perf_counter()
        check = reconcile.reconcile(
            spec,
            engine,
            warehouse,
            options.pii_salt,
            read_whole=spec.cursor is None,
            # The delete check counted withheld rows too.
            source_rows=None if withheld else found.source_rows,
            warehouse_rows=None if withheld else found.warehouse_rows,
            withheld=withheld,
        )
        detail = check.describe()
        if entries:
            detail += f"; {len(entries):,} rows quarantined (ingestion.quarantine)"
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
                deletes_found=found.deletes_found,
                duration_seconds=table.seconds + time.perf_counter() - began,
                status="ok" if check.ok else "mismatch",
                detail=detail,
                source_lag_seconds=lag_seconds,
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
    warm: Warm,
) -> list[synclog.TableSync]:
    """Sync one source database; every table gets a row in the sync log."""
    started_at = datetime.now(UTC)
    url = settings.source_url(source)
    engine = warm.source(url, limits)
    warehouse = warm.warehouse(options.warehouse)
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
        with _exclusive(warehouse, source), ThreadPoolExecutor(max_workers=1) as background:
            synclog.begin(warehouse, source, [spec.name for spec in specs], started_at)
            schema_drift.check_tables(
                catalog, source, specs, engine, warehouse, every_table=not request.tables
            )
            connection_string = source_session.libpq_url(url, limits)
            # The fingerprints' reads take one of the source connections: with only one,
            # they wait until dlt has read the source.
            early = catalog.max_connections > 1
            pending = _start_fingerprints(specs, engine, warehouse, background) if early else {}
            quarantine.create_table(warehouse)
            prepared = {
                spec.name: quarantine.prepare(spec, engine, warehouse, options.pii_salt)
                for spec in specs
            }
            recorded: dict[str, list[quarantine.Entry]] = {}

            def extracted() -> None:
                # Before the load commits: a withheld row is never lost with no trace.
                recorded.update(
                    (name, quarantine.entries(table, engine, options.pii_salt))
                    for name, table in prepared.items()
                )
                quarantine.record(warehouse, source, recorded, started_at)
                if not early:
                    pending.update(_start_fingerprints(specs, engine, warehouse, background))

            loaded = pipeline.load(
                source,
                specs,
                engine,
                connection_string,
                options,
                warehouse,
                workers=catalog.max_connections - 1 if early else 1,
                budget_seconds=source_session.chunk_seconds_budget(report),
                on_extracted=extracted,
                pipelines=warm.pipelines,
                screens={name: table.screen for name, table in prepared.items()},
                read_whole={name for name, table in prepared.items() if table.read_whole},
                plan_cache=warm.plans,
            )
            rows = _source_rows(
                specs,
                loaded,
                engine,
                warehouse,
                options,
                started_at,
                pending,
                report.lag_seconds,
                recorded,
            )
    except SyncRefusedError:
        raise  # the running sync logs its tables; failed rows now would say otherwise
    except IngestionError as error:
        _record_failure(warehouse, _failed_rows(source, specs, started_at, str(error)))
        raise
    except (PipelineStepFailed, sa.exc.SQLAlchemyError, psycopg2.Error) as error:
        message = _scrubbed(f"source {source}: {_first_line(error)}", secrets)
        _record_failure(warehouse, _failed_rows(source, specs, started_at, message))
        raise IngestionError(message) from None
    synclog.record(warehouse, rows)
    return rows


def _tables_by_source(
    catalog: Catalog,
    sources: Sequence[str],
    patterns: Sequence[str],
    limits: SessionLimits,
    warm: Warm,
) -> dict[str, tuple[str, ...]]:
    """The replicated tables that match any of `patterns`, by source; each must match one."""
    chosen: dict[str, tuple[str, ...]] = {}
    matched: set[str] = set()
    for source in sources:
        engine = warm.source(settings.source_url(source), limits)
        source_session.connect_check(source, engine)
        tables = catalog_module.selected_tables(catalog, source, engine)
        found = [t for t in tables if any(fnmatch.fnmatchcase(t, p) for p in patterns)]
        matched.update(p for p in patterns if fnmatch.filter(tables, p))
        if found:
            chosen[source] = tuple(found)
    for pattern in patterns:
        if pattern not in matched:
            raise IngestionError(
                f"no replicated table matches {pattern} in source"
                f"{'s' if len(sources) > 1 else ''} {', '.join(sources)}"
            )
    return chosen


def run(request: SyncRequest, warm: Warm | None = None) -> list[synclog.TableSync]:
    """Sync the requested sources one after the other; a mismatch is an error.

    `--table` patterns are matched in every requested source (all of them by default);
    sources with no matching table are left out. What `warm` holds is kept for the next
    call; without it the sync opens and closes its own connections.
    """
    catalog = catalog_module.load_catalog(settings.catalog_path())
    sources = request.sources or catalog_module.source_names(catalog)
    options = pipeline.SyncOptions(
        warehouse=settings.warehouse(),
        pipelines_dir=settings.pipelines_dir(),
        pii_salt=settings.pii_hash_salt(),
        full_refresh=request.full_refresh,
    )
    limits = SessionLimits.from_settings()
    kept = warm or Warm()
    rows: list[synclog.TableSync] = []
    policy = retry.RetryPolicy.from_settings()
    secrets = [options.warehouse.password, options.pii_salt]
    # Pooled connections to a server that restarted are dead: each attempt starts afresh.
    again = functools.partial(retry.retried, policy=policy, secrets=secrets, on_retry=kept.dispose)
    try:
        again(lambda: _check_warehouse(kept.warehouse(options.warehouse), options), "warehouse")
        tables = {source: request.tables for source in sources}
        if request.tables and len(sources) > 1:
            tables = again(
                lambda: _tables_by_source(catalog, sources, request.tables, limits, kept),
                "sources",
            )
        for source, names in tables.items():
            chosen = SyncRequest((source,), names, request.full_refresh)
            step = functools.partial(sync_source, catalog, source, chosen, options, limits, kept)
            password = settings.source_url(source).password
            rows.extend(again(step, f"source {source}", secrets=[*secrets, str(password or "")]))
    finally:
        if warm is None:
            kept.dispose()
    mismatched = [f"{row.source}.{row.table_name}" for row in rows if row.status == "mismatch"]
    if mismatched:
        raise IngestionError(
            f"reconciliation failed for {', '.join(mismatched)}: see `ingestion status`"
        )
    return rows


def run_every(
    request: SyncRequest,
    every_seconds: float,
    report: Callable[[SyncOutcome], None],
    *,
    syncs: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Sync again and again in this process, one sync starting every `every_seconds`.

    A sync that fails is reported and the next one runs on time; a sync that runs late
    is followed at once. Start-up, imports and connection pools are paid once. Runs until
    interrupted, or for `syncs` syncs.
    """
    warm = Warm()
    number = 0
    try:
        while syncs is None or number < syncs:
            number += 1
            started_at = datetime.now(UTC)
            began = time.perf_counter()
            try:
                rows, error = tuple(run(request, warm)), None
            except IngestionError as failure:
                rows, error = (), str(failure)
            seconds = time.perf_counter() - began
            report(SyncOutcome(number, started_at, seconds, rows, error))
            if syncs is None or number < syncs:
                sleep(max(0.0, every_seconds - seconds))
    finally:
        warm.dispose()
