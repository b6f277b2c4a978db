"""`dataset diff`: rows added, removed and changed between two versions, by key.

Both versions are read into memory (the key and the columns they share): diff is for
datasets that fit on the machine, the export itself is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.datasets import read
from ingestion.datasets.manifest import Manifest
from ingestion.datasets.refs import DatasetRef
from ingestion.datasets.store import Store
from ingestion.errors import IngestionError

OLD_MARK = "__in_old"
NEW_MARK = "__in_new"


@dataclass(frozen=True)
class SchemaChange:
    """A column added, removed or retyped; None on the side that lacks it."""

    column: str
    old_type: str | None
    new_type: str | None


@dataclass(frozen=True)
class Diff:
    """How the newer version differs from the older, row by row and in its schema."""

    old: DatasetRef
    new: DatasetRef
    key: tuple[str, ...]
    schema_changes: tuple[SchemaChange, ...]
    # Key columns of the rows only in new, only in old, and in both with other values.
    added: pa.Table
    removed: pa.Table
    changed: pa.Table
    # Compared column -> how many rows changed in it.
    changed_columns: dict[str, int]

    @property
    def is_empty(self) -> bool:
        """Whether the versions hold the same rows and schema."""
        return not (
            self.schema_changes
            or self.added.num_rows
            or self.removed.num_rows
            or self.changed.num_rows
        )


def _schema_changes(old: Manifest, new: Manifest) -> list[SchemaChange]:
    before = {column.name: column.pg_type for column in old.columns}
    after = {column.name: column.pg_type for column in new.columns}
    return [
        SchemaChange(column=name, old_type=before.get(name), new_type=after.get(name))
        for name in [*before, *(name for name in after if name not in before)]
        if before.get(name) != after.get(name)
    ]


def _key(old: Manifest, new: Manifest, key: Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(key) or new.key or old.key
    if not chosen:
        raise IngestionError(
            f"no key to compare {old.ref} and {new.ref} by: give --key (their manifests name none)"
        )
    for manifest in (old, new):
        names = {column.name for column in manifest.columns}
        missing = [column for column in chosen if column not in names]
        if missing:
            raise IngestionError(f"key column {missing[0]!r} is not a column of {manifest.ref}")
    return chosen


def _plain(table: pa.Table) -> pa.Table:
    """Extension columns (JSON) as their storage, which joins and comparisons understand."""
    columns = []
    for column in table.columns:
        if isinstance(column.type, pa.BaseExtensionType):
            column = pa.chunked_array(
                [chunk.storage for chunk in column.chunks], column.type.storage_type
            )
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def _check_unique(table: pa.Table, key: tuple[str, ...], ref: DatasetRef) -> None:
    if table.group_by(list(key)).aggregate([]).num_rows != table.num_rows:
        raise IngestionError(f"key ({', '.join(key)}) is not unique in {ref}: give another --key")


def _differs(old: pa.ChunkedArray, new: pa.ChunkedArray) -> pa.ChunkedArray:
    unequal = pc.fill_null(pc.not_equal(old, new), False)
    one_null = pc.xor(pc.is_null(old), pc.is_null(new))
    differs = pc.or_(unequal, one_null)
    if pa.types.is_floating(old.type):
        both_nan = pc.fill_null(pc.and_(pc.is_nan(old), pc.is_nan(new)), False)
        differs = pc.and_(differs, pc.invert(both_nan))
    return differs


def _side(
    table: pa.Table, key: tuple[str, ...], compared: list[str], suffix: str, mark: str
) -> pa.Table:
    names = [*key, *(f"{name}{suffix}" for name in compared)]
    selected = table.select([*key, *compared]).rename_columns(names)
    return selected.append_column(mark, pa.array([True] * table.num_rows, pa.bool_()))


def diff(target: Store, old_ref: DatasetRef, new_ref: DatasetRef, key: Sequence[str] = ()) -> Diff:
    """Compare two versions by key: rows added, removed and changed, and schema changes."""
    old_manifest = read.manifest(target, old_ref)
    new_manifest = read.manifest(target, new_ref)
    chosen = _key(old_manifest, new_manifest, key)
    changes = _schema_changes(old_manifest, new_manifest)
    retyped = {change.column for change in changes}
    compared = [
        column.name
        for column in new_manifest.columns
        if column.name not in chosen
        and column.name not in retyped
        and any(other.name == column.name for other in old_manifest.columns)
    ]
    _, old = read.table(target, old_ref, [*chosen, *compared])
    _, new = read.table(target, new_ref, [*chosen, *compared])
    old, new = _plain(old), _plain(new)
    _check_unique(old, chosen, old_ref)
    _check_unique(new, chosen, new_ref)
    joined = _side(old, chosen, compared, "__old", OLD_MARK).join(
        _side(new, chosen, compared, "__new", NEW_MARK), keys=list(chosen), join_type="full outer"
    )
    in_old = pc.fill_null(joined[OLD_MARK], False)
    in_new = pc.fill_null(joined[NEW_MARK], False)
    both = joined.filter(pc.and_(in_old, in_new))
    changed_mask = pa.chunked_array([pa.array([False] * both.num_rows, pa.bool_())])
    changed_columns = {}
    for name in compared:
        differs = _differs(both[f"{name}__old"], both[f"{name}__new"])
        count = pc.sum(differs).as_py() or 0
        if count:
            changed_columns[name] = count
        changed_mask = pc.or_(changed_mask, differs)
    order = [(column, "ascending") for column in chosen]

    def keys(table: pa.Table) -> pa.Table:
        return table.select(list(chosen)).sort_by(order)

    return Diff(
        old=old_ref,
        new=new_ref,
        key=chosen,
        schema_changes=tuple(changes),
        added=keys(joined.filter(pc.invert(in_old))),
        removed=keys(joined.filter(pc.invert(in_new))),
        changed=keys(both.filter(changed_mask)),
        changed_columns=changed_columns,
    )
