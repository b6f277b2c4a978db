"""The manifest of a dataset version: what it holds and exactly where it came from.

It is JSON, written last. `checksum` is the SHA-256 of the lines `<sha256>  <file>`
(as `sha256sum` prints them) of every file, sorted by file name, so it changes when any
file's content or the list of files does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from ingestion.datasets.columns import Column
from ingestion.datasets.export import ExportedFile, TimeRange
from ingestion.datasets.lineage import Load
from ingestion.datasets.refs import DatasetRef
from ingestion.errors import IngestionError

FORMAT = 1


@dataclass(frozen=True)
class DbtOrigin:
    """The dbt model a dataset was exported from, and the project version that built it."""

    model: str
    relation: str
    git_commit: str | None
    # Whether dbt_project/ had uncommitted changes when the dataset was created.
    git_dirty: bool | None
    manifest_sha256: str


@dataclass(frozen=True)
class Warehouse:
    """The database the dataset was read from, and the snapshot it saw."""

    host: str
    port: int
    database: str
    server_version: str
    # pg_current_snapshot() inside the export's transaction.
    snapshot: str


@dataclass(frozen=True)
class Manifest:
    """Everything recorded about one dataset version."""

    format: int
    name: str
    version: str
    created_at: str
    created_by: str
    query: str
    dbt: DbtOrigin | None
    warehouse: Warehouse
    relations_read: tuple[str, ...]
    loads: tuple[Load, ...]
    key: tuple[str, ...]
    row_count: int
    time_range: TimeRange | None
    columns: tuple[Column, ...]
    files: tuple[ExportedFile, ...]
    checksum: str

    @property
    def ref(self) -> DatasetRef:
        """The version this manifest describes."""
        return DatasetRef(self.name, self.version)

    def to_json(self) -> bytes:
        """The manifest as indented JSON."""
        return (json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n").encode()


def checksum(files: Iterable[ExportedFile]) -> str:
    """The content checksum over all files of a version."""
    lines = "".join(f"{file.sha256}  {file.name}\n" for file in sorted(files, key=lambda f: f.name))
    return hashlib.sha256(lines.encode()).hexdigest()


def _many(kind: type, values: list[dict[str, Any]]) -> tuple[Any, ...]:
    return tuple(kind(**value) for value in values)


def from_json(raw: bytes, where: str) -> Manifest:
    """A manifest read back from its JSON; a broken one is an error naming where it is."""
    try:
        data = json.loads(raw)
        if data.get("format") != FORMAT:
            raise IngestionError(f"{where}: unknown manifest format {data.get('format')!r}")
        return Manifest(
            **{
                **data,
                "dbt": DbtOrigin(**data["dbt"]) if data["dbt"] else None,
                "warehouse": Warehouse(**data["warehouse"]),
                "relations_read": tuple(data["relations_read"]),
                "loads": _many(Load, data["loads"]),
                "key": tuple(data["key"]),
                "time_range": TimeRange(**data["time_range"]) if data["time_range"] else None,
                "columns": _many(Column, data["columns"]),
                "files": _many(ExportedFile, data["files"]),
            }
        )
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise IngestionError(f"{where} is not a readable manifest: {error}") from None
