"""The Python API for notebooks and training code: load a dataset version by name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import pyarrow as pa

from ingestion import settings
from ingestion.datasets import read, store, verify
from ingestion.datasets.manifest import Manifest
from ingestion.datasets.refs import DatasetRef, check_name, check_version
from ingestion.errors import IngestionError

# Integers and booleans keep their type next to missing values (numpy would make floats).
_NULLABLE_PANDAS = {
    pa.int8(): "Int8",
    pa.int16(): "Int16",
    pa.int32(): "Int32",
    pa.int64(): "Int64",
    pa.bool_(): "boolean",
}


def _store(url: str | None) -> store.Store:
    return store.open_store(url if url is not None else settings.datasets_url())


def _ref(name: str, version: str) -> DatasetRef:
    return DatasetRef(check_name(name), check_version(version))


def manifest(name: str, version: str, *, url: str | None = None) -> Manifest:
    """The manifest of one version (url: the store; default DATASETS_URL)."""
    return read.manifest(_store(url), _ref(name, version))


def versions(name: str, *, url: str | None = None) -> list[str]:
    """The published versions of a dataset, sorted."""
    return store.versions(_store(url), check_name(name))


def load(
    name: str,
    version: str,
    *,
    as_: Literal["arrow", "pandas"] = "arrow",
    columns: Sequence[str] | None = None,
    check: bool = False,
    url: str | None = None,
) -> Any:  # noqa: ANN401 - a pyarrow.Table or a pandas.DataFrame, as asked
    """One version's rows as an Arrow table or a pandas DataFrame (check: verify it first)."""
    target = _store(url)
    ref = _ref(name, version)
    if check:
        verify.verify(target, ref)
    _, rows = read.table(target, ref, columns)
    if as_ == "arrow":
        return rows
    if as_ != "pandas":
        raise IngestionError(f"as_={as_!r} is not a format: use 'arrow' or 'pandas'")
    try:
        import pandas as pd
    except ImportError:
        raise IngestionError("as_='pandas' needs pandas: pip install 'ingestion[pandas]'") from None
    mapping = {arrow: pd.api.types.pandas_dtype(name) for arrow, name in _NULLABLE_PANDAS.items()}
    return rows.to_pandas(types_mapper=mapping.get)
