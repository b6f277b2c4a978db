"""Stream one query's result out of the warehouse into Parquet files, in one snapshot.

The warehouse session is REPEATABLE READ and READ ONLY: the lineage queries and the
export see the same snapshot, and the query cannot write. Rows come through a
server-side cursor batch by batch and each batch becomes one Parquet row group, so
memory holds one batch whatever the size of the result. Each file is hashed while it is
written.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO

import psycopg2
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg2 import extensions, sql

from ingestion.datasets import columns
from ingestion.datasets.store import Draft
from ingestion.errors import IngestionError
from ingestion.settings import WarehouseSettings

log = logging.getLogger(__name__)

BATCH_ROWS = 50_000
ROWS_PER_FILE = 1_000_000
COMPRESSION = "zstd"
CURSOR_NAME = "ingestion_dataset_export"


@dataclass(frozen=True)
class ExportedFile:
    """One Parquet file of a dataset version."""

    name: str
    rows: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class TimeRange:
    """The smallest and largest value of the dataset's main timestamp column."""

    column: str
    min: str | None
    max: str | None


@dataclass(frozen=True)
class Exported:
    """What an export wrote."""

    files: tuple[ExportedFile, ...]
    rows: int
    columns: tuple[columns.Column, ...]
    time_range: TimeRange | None


@contextmanager
def snapshot(warehouse: WarehouseSettings) -> Iterator[extensions.connection]:
    """A warehouse session in one REPEATABLE READ, READ ONLY transaction, in UTC."""
    try:
        connection = psycopg2.connect(
            host=warehouse.host,
            port=warehouse.port,
            user=warehouse.user,
            password=warehouse.password,
            dbname=warehouse.database,
            application_name="ingestion-dataset",
            options="-c timezone=UTC",
        )
    except psycopg2.OperationalError as error:
        first = (str(error).strip().splitlines() or ["no reason given"])[0]
        raise IngestionError(
            f"cannot reach the warehouse {warehouse.database} at {warehouse.host}:"
            f"{warehouse.port}: {first}"
        ) from None
    try:
        connection.set_session(
            isolation_level=extensions.ISOLATION_LEVEL_REPEATABLE_READ, readonly=True
        )
        yield connection
    finally:
        # Nothing was written: ending the transaction is all that is left to do.
        connection.rollback()
        connection.close()


class _HashingSink(io.RawIOBase):
    """A write-only file that hashes and counts what passes through to the target."""

    def __init__(self, target: IO[bytes]) -> None:
        super().__init__()
        self._target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(data)
        self.digest.update(view)
        self._target.write(view)
        self.size += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self.size


def _describe(connection: extensions.connection, query: sql.Composable) -> list[columns.ColumnPlan]:
    """The result's columns, from planning the query without running it."""
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("select * from (\n{}\n) as described limit 0").format(query))
        description = cursor.description
        oids = sorted({column.type_code for column in description})
        cursor.execute(
            "select oid, format_type(oid, null) from pg_catalog.pg_type where oid = any(%s)",
            (oids,),
        )
        pg_types = {oid: name for oid, name in cursor.fetchall()}
    return columns.plan(description, pg_types)


def _printed(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


def _write_files(
    draft: Draft, target: pa.Schema, batches: Iterator[pa.RecordBatch], rows_per_file: int
) -> tuple[ExportedFile, ...]:
    """Batches into Parquet files of about rows_per_file rows; an empty result gets one file."""
    files: list[ExportedFile] = []
    pending = next(batches, None)
    while True:
        name = draft.filename(len(files))
        rows = 0
        with draft.create(name) as handle:
            sink = _HashingSink(handle)
            with pq.ParquetWriter(sink, target, compression=COMPRESSION) as writer:
                while pending is not None and rows < rows_per_file:
                    writer.write_batch(pending)
                    rows += pending.num_rows
                    pending = next(batches, None)
        files.append(
            ExportedFile(name=name, rows=rows, bytes=sink.size, sha256=sink.digest.hexdigest())
        )
        log.info("wrote %s: %s rows, %s bytes", name, f"{rows:,}", f"{sink.size:,}")
        if pending is None:
            return tuple(files)


def failed(error: psycopg2.Error, what: str) -> IngestionError:
    """A database error as one line saying what failed."""
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return IngestionError(f"{what} failed: {first}")


def export(
    connection: extensions.connection,
    query: sql.Composable,
    draft: Draft,
    *,
    time_column: str | None = None,
    batch_rows: int = BATCH_ROWS,
    rows_per_file: int = ROWS_PER_FILE,
) -> Exported:
    """Write the query's result into the draft's Parquet files; returns what was written."""
    try:
        plans = _describe(connection, query)
    except psycopg2.Error as error:
        raise failed(error, "the dataset's query") from None
    columns.read_as_text(connection, plans)
    target = columns.schema(plans)
    main = columns.time_column(plans, time_column)
    position = plans.index(main) if main is not None else None
    extremes: columns.Extremes | None = None

    def batches() -> Iterator[pa.RecordBatch]:
        nonlocal extremes
        with connection.cursor(name=CURSOR_NAME) as cursor:
            cursor.execute(query)
            while rows := cursor.fetchmany(batch_rows):
                batch = columns.to_batch(rows, plans, target)
                if position is not None:
                    extremes = columns.merge_extremes(extremes, batch.column(position))
                yield batch

    try:
        files = _write_files(draft, target, batches(), rows_per_file)
    except psycopg2.Error as error:
        raise failed(error, "the dataset's query") from None
    time_range = None
    if main is not None:
        low, high = extremes if extremes is not None else (None, None)
        time_range = TimeRange(column=main.name, min=_printed(low), max=_printed(high))
    return Exported(
        files=files,
        rows=sum(file.rows for file in files),
        columns=tuple(column.describe() for column in plans),
        time_range=time_range,
    )
