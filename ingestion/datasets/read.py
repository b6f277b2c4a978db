"""Reading published versions back: their manifests and their rows."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from ingestion.datasets import store
from ingestion.datasets.manifest import Manifest, from_json
from ingestion.datasets.refs import DatasetRef
from ingestion.datasets.store import Store
from ingestion.errors import IngestionError


def manifest(target: Store, ref: DatasetRef) -> Manifest:
    """The manifest of a published version."""
    if not store.exists(target, ref):
        known = store.versions(target, ref.name)
        hint = f"its versions: {', '.join(known)}" if known else "no version of it exists"
        raise IngestionError(f"dataset {ref} does not exist in {target.url} ({hint})")
    where = f"{store.MANIFEST} of {ref}"
    return from_json(store.read_bytes(target, ref, store.MANIFEST), where)


def table(
    target: Store, ref: DatasetRef, columns: Sequence[str] | None = None
) -> tuple[Manifest, pa.Table]:
    """The version's manifest and all its rows as one Arrow table, in the exported order."""
    described = manifest(target, ref)
    parts = []
    for file in described.files:
        with store.open_file(target, ref, file.name) as handle:
            parts.append(pq.read_table(handle, columns=list(columns) if columns else None))
    return described, pa.concat_tables(parts)
