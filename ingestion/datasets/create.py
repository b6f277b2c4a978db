"""`dataset create`: export a dbt model or a query once, as an immutable versioned dataset."""

from __future__ import annotations

import getpass
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from psycopg2 import extensions, sql

from ingestion.datasets import dbt_manifest, export, lineage, refs, store
from ingestion.datasets.manifest import FORMAT, DbtOrigin, Manifest, Warehouse, checksum
from ingestion.datasets.refs import DatasetRef
from ingestion.datasets.store import Store
from ingestion.errors import IngestionError
from ingestion.settings import WarehouseSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CreateRequest:
    """What to export and under which name; exactly one of model and query is set."""

    name: str
    model: str | None = None
    query: str | None = None
    # None: today's date, made unique with a suffix.
    version: str | None = None
    # Columns that identify a row, for diff; empty: the dbt model's primary key, if any.
    key: tuple[str, ...] = ()
    time_column: str | None = None


@dataclass(frozen=True)
class _Source:
    query: sql.Composable
    dbt: dbt_manifest.DbtProject | None
    model_id: str | None
    key: tuple[str, ...]


def _clean_query(text: str) -> str:
    cleaned = text.strip().rstrip(";").strip()
    if not cleaned:
        raise IngestionError("--query is empty: give the SQL select to export")
    return cleaned


def _source(request: CreateRequest, root: Path) -> _Source:
    if (request.model is None) == (request.query is None):
        raise IngestionError("give exactly one of --model and --query")
    if request.model is not None:
        project = dbt_manifest.load(root)
        assert project is not None  # noqa: S101 - load parses when the manifest is missing
        unique_id = dbt_manifest.model_id(project, request.model)
        relation = dbt_manifest.relation(project, unique_id)
        query = sql.SQL("select * from {}").format(sql.Identifier(relation.schema, relation.name))
        key = request.key or dbt_manifest.primary_key(project, unique_id)
        return _Source(query=query, dbt=project, model_id=unique_id, key=key)
    # A query may read dbt models too: follow them to their sources if dbt was parsed.
    project = dbt_manifest.load(root, parse_if_missing=False)
    return _Source(
        query=sql.SQL(_clean_query(request.query or "")),
        dbt=project,
        model_id=None,
        key=request.key,
    )


def _version(target: Store, request: CreateRequest) -> DatasetRef:
    name = refs.check_name(request.name)
    if request.version is not None:
        ref = DatasetRef(name, refs.check_version(request.version))
        if store.exists(target, ref):
            raise store.already_exists(target, ref)
        return ref
    today = datetime.now(UTC).date()
    return DatasetRef(name, refs.next_date_version(today, store.taken_versions(target, name)))


def _warehouse(connection: extensions.connection, settings: WarehouseSettings) -> Warehouse:
    with connection.cursor() as cursor:
        cursor.execute(
            "select current_setting('server_version'), cast(pg_current_snapshot() as text)"
        )
        version, snapshot = cursor.fetchone()
    return Warehouse(
        host=settings.host,
        port=settings.port,
        database=settings.database,
        server_version=version,
        snapshot=snapshot,
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def _check_key(key: tuple[str, ...], names: list[str]) -> None:
    for column in key:
        if column not in names:
            raise IngestionError(f"key column {column!r} is not a column of the result")


def create(
    request: CreateRequest,
    target: Store,
    warehouse: WarehouseSettings,
    root: Path,
    *,
    batch_rows: int = export.BATCH_ROWS,
    rows_per_file: int = export.ROWS_PER_FILE,
) -> Manifest:
    """Export the request's rows in one snapshot and publish them as a new version."""
    ref = _version(target, request)
    source = _source(request, root)
    with store.draft(target, ref) as work, export.snapshot(warehouse) as connection:
        # The first statement fixes the snapshot that everything below reads.
        origin = _warehouse(connection, warehouse)
        read = lineage.relations_read(connection, source.query)
        behind = dbt_manifest.upstream(source.dbt, read) if source.dbt else []
        loads = lineage.loads_behind(connection, [*read, *behind])
        query_text = source.query.as_string(connection)
        exported = export.export(
            connection,
            source.query,
            work,
            time_column=request.time_column,
            batch_rows=batch_rows,
            rows_per_file=rows_per_file,
        )
        _check_key(source.key, [column.name for column in exported.columns])
        dbt = None
        if source.dbt is not None and source.model_id is not None:
            dbt = DbtOrigin(
                model=source.model_id,
                relation=str(dbt_manifest.relation(source.dbt, source.model_id)),
                git_commit=source.dbt.git_commit,
                git_dirty=source.dbt.git_dirty,
                manifest_sha256=source.dbt.manifest_sha256,
            )
        manifest = Manifest(
            format=FORMAT,
            name=ref.name,
            version=ref.version,
            created_at=datetime.now(UTC).isoformat(),
            created_by=_user(),
            query=query_text,
            dbt=dbt,
            warehouse=origin,
            relations_read=tuple(str(relation) for relation in sorted({*read, *behind}, key=str)),
            loads=tuple(loads),
            key=source.key,
            row_count=exported.rows,
            time_range=exported.time_range,
            columns=exported.columns,
            files=exported.files,
            checksum=checksum(exported.files),
        )
        store.publish(work, manifest.to_json())
    log.info("created %s: %s rows in %d files", ref, f"{exported.rows:,}", len(exported.files))
    return manifest
