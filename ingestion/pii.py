"""PII columns: salted SHA-256 hashes instead of clear values, and kept email domains."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from ingestion.catalog import TableSpec

# dlt maps each row of a page on its own, and an Arrow page as a whole.
Item = dict[str, Any] | pa.Table | pa.RecordBatch


def hash_value(value: object, salt: str) -> str | None:
    """The salted SHA-256 of a value's text, as 64 hex digits; None stays None."""
    if value is None:
        return None
    return hashlib.sha256((salt + str(value)).encode("utf-8")).hexdigest()


def email_domain(value: object) -> str | None:
    """The lower-cased domain of an email address; None when there is none."""
    if value is None or "@" not in str(value):
        return None
    return str(value).rsplit("@", 1)[1].lower()


def domain_column(column: str) -> str:
    """The name of the column that keeps the domain of a hashed email column."""
    return f"{column}_domain"


def transformer(spec: TableSpec, salt: str) -> Callable[[Item], Item] | None:
    """A map for dlt items that hashes the spec's PII columns; None if it has none."""
    hashed = [column for column, action in spec.pii.items() if action == "hash"]
    if not hashed:
        return None
    domains = [column for column in spec.email_domains if column in hashed]

    def transform(item: Item) -> Item:
        if isinstance(item, pa.RecordBatch):
            item = pa.Table.from_batches([item])
        if isinstance(item, pa.Table):
            return _transform_arrow(item, hashed, domains, salt)
        return _transform_row(dict(item), hashed, domains, salt)

    return transform


def _transform_row(
    row: dict[str, Any], hashed: list[str], domains: list[str], salt: str
) -> dict[str, Any]:
    for column in domains:
        row[domain_column(column)] = email_domain(row.get(column))
    for column in hashed:
        row[column] = hash_value(row.get(column), salt)
    return row


def _transform_arrow(table: pa.Table, hashed: list[str], domains: list[str], salt: str) -> pa.Table:
    for column in domains:
        values = [email_domain(value) for value in table.column(column).to_pylist()]
        table = table.append_column(domain_column(column), pa.array(values, pa.string()))
    for column in hashed:
        values = [hash_value(value, salt) for value in table.column(column).to_pylist()]
        index = table.schema.get_field_index(column)
        table = table.set_column(index, column, pa.array(values, pa.string()))
    return table
