"""Dataset names and versions: what is allowed, `NAME@VERSION`, and versions from the date."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

from ingestion.errors import IngestionError

# Names and versions become folder names on every fsspec store: keep them plain.
_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True)
class DatasetRef:
    """One version of one dataset."""

    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"


def check_name(name: str) -> str:
    """The name itself if it is a valid dataset name, else a one-line error."""
    if not _PART.fullmatch(name):
        raise IngestionError(
            f"dataset name {name!r} is not allowed: use letters, digits, '_', '-' and '.'"
        )
    return name


def check_version(version: str) -> str:
    """The version itself if it is a valid version, else a one-line error."""
    if not _PART.fullmatch(version):
        raise IngestionError(
            f"dataset version {version!r} is not allowed: use letters, digits, '_', '-' and '.'"
        )
    return version


def parse(text: str) -> DatasetRef:
    """`NAME@VERSION` as a DatasetRef."""
    name, at, version = text.partition("@")
    if not at or not version:
        raise IngestionError(
            f"{text!r} names no version: write NAME@VERSION, e.g. users@2026-06-01"
        )
    return DatasetRef(check_name(name), check_version(version))


def next_date_version(today: date, taken: Collection[str]) -> str:
    """Today's date as a version (`2026-06-01`), then `2026-06-01.2`, … if taken."""
    base = today.isoformat()
    if base not in taken:
        return base
    counter = 2
    while f"{base}.{counter}" in taken:
        counter += 1
    return f"{base}.{counter}"
