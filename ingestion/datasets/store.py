"""Where dataset versions live: one folder per version on any fsspec file system.

Layout under the store's root: `<name>/<version>/manifest.json` next to the version's
Parquet files. A version exists once its manifest does. On a local disk a version is
written into a staging folder beside it and renamed into place in one step; on object
stores (s3://, gs://, …), which cannot rename a folder, the files go straight into the
version's folder and the manifest is written last, as the commit marker.
"""

from __future__ import annotations

import logging
import posixpath
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import fsspec
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from ingestion.datasets.refs import DatasetRef
from ingestion.errors import IngestionError

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
STAGING_PREFIX = ".staging-"


@dataclass(frozen=True)
class Store:
    """A dataset store: a file system and the folder on it that holds the datasets."""

    fs: AbstractFileSystem
    root: str
    url: str

    @property
    def is_local(self) -> bool:
        """Whether the store is a folder on this machine (it can rename folders atomically)."""
        return isinstance(self.fs, LocalFileSystem)

    def folder(self, ref: DatasetRef) -> str:
        """The folder of one version."""
        return posixpath.join(self.root, ref.name, ref.version)

    def path(self, ref: DatasetRef, filename: str) -> str:
        """The path of one file of one version."""
        return posixpath.join(self.folder(ref), filename)

    def where(self, ref: DatasetRef) -> str:
        """The version's folder as a path (local) or URL, for messages."""
        folder = self.folder(ref)
        return folder if self.is_local else self.fs.unstrip_protocol(folder)


def open_store(url: str) -> Store:
    """The store at a folder path or fsspec URL (file://, s3://, gs://, memory://, …)."""
    if "://" not in url:
        url = str(Path(url).expanduser().absolute())
    try:
        fs, root = fsspec.core.url_to_fs(url)
    except ImportError as error:
        raise IngestionError(
            f"setting DATASETS_URL: {error} (pip install 'ingestion[cloud]' for s3:// and gs://)"
        ) from None
    except ValueError as error:
        raise IngestionError(f"setting DATASETS_URL is malformed: {error}") from None
    return Store(fs=fs, root=root.rstrip("/") or "/", url=url)


def exists(store: Store, ref: DatasetRef) -> bool:
    """Whether the version has been published (its manifest exists)."""
    return store.fs.exists(store.path(ref, MANIFEST))


def already_exists(store: Store, ref: DatasetRef) -> IngestionError:
    """The one-line error for a version that is already taken."""
    return IngestionError(
        f"dataset {ref} already exists at {store.where(ref)}: versions are immutable,"
        " choose another --version"
    )


def names(store: Store) -> list[str]:
    """The datasets that have at least one published version, sorted."""
    found = store.fs.glob(posixpath.join(store.root, "*", "*", MANIFEST))
    return sorted(
        {
            posixpath.basename(posixpath.dirname(posixpath.dirname(path)))
            for path in found
            if not posixpath.basename(posixpath.dirname(path)).startswith(STAGING_PREFIX)
        }
    )


def _natural(version: str) -> list[tuple[int, int | str]]:
    """Sort key that puts 2026-06-01.2 before 2026-06-01.10."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", version)]


def versions(store: Store, name: str) -> list[str]:
    """The published versions of one dataset, in natural order (…, v2, v10)."""
    found = store.fs.glob(posixpath.join(store.root, name, "*", MANIFEST))
    folders = (posixpath.basename(posixpath.dirname(path)) for path in found)
    return sorted(
        (folder for folder in folders if not folder.startswith(STAGING_PREFIX)), key=_natural
    )


def taken_versions(store: Store, name: str) -> set[str]:
    """Every version folder of a dataset, published or not: none of them may be reused."""
    folder = posixpath.join(store.root, name)
    if not store.fs.isdir(folder):
        return set()
    entries = store.fs.ls(folder, detail=False)
    return {
        base
        for base in (posixpath.basename(entry.rstrip("/")) for entry in entries)
        if not base.startswith(STAGING_PREFIX)
    }


def read_bytes(store: Store, ref: DatasetRef, filename: str) -> bytes:
    """The whole content of one file of a version."""
    return store.fs.cat_file(store.path(ref, filename))


@contextmanager
def open_file(store: Store, ref: DatasetRef, filename: str) -> Iterator[IO[bytes]]:
    """One file of a published version, open for reading."""
    with store.fs.open(store.path(ref, filename), "rb") as handle:
        yield handle


@dataclass(frozen=True)
class Draft:
    """A version being written: its files go to `folder` until it is published."""

    store: Store
    ref: DatasetRef
    folder: str
    # Files are named per attempt, so two attempts at one version never mix their files.
    attempt: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    written: list[str] = field(default_factory=list)

    def filename(self, number: int) -> str:
        """The name of the draft's n-th Parquet file."""
        return f"part-{self.attempt}-{number:05d}.parquet"

    @contextmanager
    def create(self, filename: str) -> Iterator[IO[bytes]]:
        """A new file of the draft, open for writing."""
        path = posixpath.join(self.folder, filename)
        self.written.append(path)
        with self.store.fs.open(path, "wb") as handle:
            yield handle


@contextmanager
def draft(store: Store, ref: DatasetRef) -> Iterator[Draft]:
    """A place to write a new version; what it wrote is removed unless it is published."""
    if exists(store, ref):
        raise already_exists(store, ref)
    if store.is_local:
        folder = posixpath.join(store.root, ref.name, f"{STAGING_PREFIX}{ref.version}")
        folder = f"{folder}-{uuid.uuid4().hex[:8]}"
    else:
        folder = store.folder(ref)
    store.fs.makedirs(folder, exist_ok=True)
    work = Draft(store=store, ref=ref, folder=folder)
    try:
        yield work
    except BaseException:
        _discard(work)
        raise


def _discard(work: Draft) -> None:
    fs = work.store.fs
    if work.store.is_local:
        if fs.exists(work.folder):
            fs.rm(work.folder, recursive=True)
        return
    # Never the folder: another attempt may have published into it.
    for path in work.written:
        if fs.exists(path):
            fs.rm(path)


def publish(work: Draft, manifest: bytes) -> None:
    """Write the manifest last and make the version visible, or fail if it is taken."""
    store, ref = work.store, work.ref
    if store.is_local:
        with work.create(MANIFEST) as handle:
            handle.write(manifest)
        try:
            # One rename: readers see the whole version or none of it. It fails when the
            # version's folder exists with files in it.
            Path(work.folder).rename(store.folder(ref))
        except OSError:
            raise already_exists(store, ref) from None
    else:
        path = store.path(ref, MANIFEST)
        try:
            # Exclusive create where the file system supports it.
            with store.fs.open(path, "xb") as handle:
                handle.write(manifest)
        except FileExistsError:
            raise already_exists(store, ref) from None
        except (ValueError, NotImplementedError):
            if exists(store, ref):
                raise already_exists(store, ref) from None
            with store.fs.open(path, "wb") as handle:
                handle.write(manifest)
    log.info("published %s at %s", ref, store.where(ref))
