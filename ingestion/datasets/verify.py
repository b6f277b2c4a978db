"""`dataset verify`: recompute every file's checksum and compare it with the manifest."""

from __future__ import annotations

import hashlib

from ingestion.datasets import read, store
from ingestion.datasets.manifest import Manifest, checksum
from ingestion.datasets.refs import DatasetRef
from ingestion.datasets.store import Store
from ingestion.errors import IngestionError

CHUNK_BYTES = 1 << 20


def _sha256(target: Store, ref: DatasetRef, filename: str) -> str:
    digest = hashlib.sha256()
    with store.open_file(target, ref, filename) as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def problems(target: Store, ref: DatasetRef) -> tuple[Manifest, list[str]]:
    """The version's manifest and what does not match it; an empty list means intact."""
    described = read.manifest(target, ref)
    found = []
    for file in described.files:
        if not target.fs.exists(target.path(ref, file.name)):
            found.append(f"file {file.name} is missing")
        elif (actual := _sha256(target, ref, file.name)) != file.sha256:
            found.append(
                f"file {file.name} was changed"
                f" (sha256 {actual[:12]}…, manifest says {file.sha256[:12]}…)"
            )
    if checksum(described.files) != described.checksum:
        found.append("the manifest's list of files does not match its checksum")
    if sum(file.rows for file in described.files) != described.row_count:
        found.append("the manifest's row count does not match its files")
    return described, found


def verify(target: Store, ref: DatasetRef) -> Manifest:
    """The manifest if every file matches it; else an error naming what does not."""
    described, found = problems(target, ref)
    if found:
        raise IngestionError(f"dataset {ref} failed verification: {'; '.join(found)}")
    return described
