"""What a person modelling the sources should know, read off the profile (no database).

Each finding has a `kind` that tools and tests can rely on:
not_profiled, no_primary_key, duplicate_key, no_updated_at, naive_timestamp, dummy_date,
future_date, empty_string, placeholder_text, test_email_domain, numeric_outliers,
json_key_drift, json_key_renamed, json_mixed_types, coded_categorical, orphan_ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ingestion.profile import inference
from ingestion.profile.records import (
    ColumnProfile,
    Finding,
    JsonShape,
    Lookup,
    Relation,
    TableProfile,
)

# Top-level domains reserved for tests and documentation (RFC 2606, RFC 6761).
TEST_TOP_LEVEL_DOMAINS = ("test", "example", "invalid", "localhost")


def findings(
    tables: Iterable[TableProfile], relations: Sequence[Relation], lookups: Sequence[Lookup]
) -> list[Finding]:
    """Every finding of the profile, table by table, then the references."""
    found: list[Finding] = []
    for table in tables:
        found += _table_findings(table)
        for column in table.columns:
            found += _column_findings(table, column)
        found += _coded(table, relations, lookups)
    found += _orphans(relations)
    return found


def is_test_domain(domain: str | None) -> bool:
    """Whether an email domain lies under a top-level domain reserved for tests."""
    return bool(domain) and domain.rsplit(".", 1)[-1] in TEST_TOP_LEVEL_DOMAINS


def _of(table: TableProfile) -> str:
    return "in a sample of" if table.sampled else "of"


def _share(count: int, total: int) -> str:
    return f"{count:,} {'' if not total else f'({100 * count / total:.1f}%) '}"


def _table_findings(table: TableProfile) -> list[Finding]:
    def finding(kind: str, message: str, count: int | None = None) -> Finding:
        return Finding(kind, table.source, table.name, None, message, count)

    if table.error:
        return [finding("not_profiled", f"not profiled: {table.error}")]
    found = []
    if not table.primary_key:
        key = ", ".join(table.unique_key) if table.unique_key else None
        found.append(
            finding(
                "no_primary_key",
                "no primary key declared; "
                + (
                    f"({key}) is the smallest column set unique {_of(table)} the rows read"
                    if key
                    else "no set of up to 3 columns is unique in the rows read"
                ),
            )
        )
    elif table.key_is_unique is False:
        found.append(finding("duplicate_key", f"primary key {table.primary_key} repeats"))
    if not table.has_updated_at:
        how = (
            f"the catalog reads it by {table.cursor}"
            if table.cursor
            else "it is re-read whole and merged each sync, and changes are seen only by"
            " comparing snapshots"
        )
        found.append(finding("no_updated_at", f"no updated_at column: {how}"))
    return found


def _column_findings(table: TableProfile, column: ColumnProfile) -> list[Finding]:
    found: list[Finding] = []
    rows = column.rows_read

    def add(kind: str, message: str, count: int | None = None) -> None:
        found.append(Finding(kind, table.source, table.name, column.name, message, count))

    if column.kind == "timestamp":
        hint = ""
        if column.earlier_than_main and column.lowest_hours_from_main is not None:
            hint = (
                f"; {_share(column.earlier_than_main, column.non_null)}values are earlier than"
                f" {table.main_timestamp} (UTC), by up to {-column.lowest_hours_from_main:.1f} h:"
                " a local wall-clock time behind UTC"
            )
        add("naive_timestamp", f"timestamp without time zone: its time zone is unknown{hint}")
    dummies = column.dummy_dates + column.epoch_dates + column.far_future_dates
    if dummies:
        earliest = f" (earliest {column.minimum})" if column.dummy_dates else ""
        add(
            "dummy_date",
            f"{_share(dummies, rows)}dummy dates {_of(table)} {rows:,} rows: "
            f"{column.dummy_dates:,} before 1901{earliest}, {column.epoch_dates:,} at 1970-01-01,"
            f" {column.far_future_dates:,} from 2100 on",
            dummies,
        )
    if column.future_dates:
        add(
            "future_date",
            f"{_share(column.future_dates, rows)}dates in the future",
            column.future_dates,
        )
    empties = column.empty_strings + column.blank_strings
    if empties:
        add(
            "empty_string",
            f"{column.empty_strings:,} empty and {column.blank_strings:,} blank strings",
            empties,
        )
    if column.placeholders:
        add(
            "placeholder_text",
            f"{_share(column.placeholders, rows)}placeholder values such as 'Unknown' or 'N/A'",
            column.placeholders,
        )
    tests = [item for item in column.email_domains if is_test_domain(item.value)]
    if tests:
        count = sum(item.count for item in tests)
        domains = ", ".join(f"@{item.value} ({item.count:,})" for item in tests)
        add(
            "test_email_domain",
            f"{_share(count, column.non_null)}email addresses at test domains: {domains}",
            count,
        )
    if column.outliers:
        add(
            "numeric_outliers",
            f"{_share(column.outliers, column.non_null)}values beyond 3 interquartile ranges"
            f" (p25 {column.quantiles.get('p25')}, p75 {column.quantiles.get('p75')},"
            f" max {column.maximum})",
            column.outliers,
        )
    if column.json is not None:
        found += _json_findings(table, column, column.json)
    return found


def _json_findings(table: TableProfile, column: ColumnProfile, shape: JsonShape) -> list[Finding]:
    found = []
    objects = shape.objects
    by_key: dict[str, list] = {}
    for key in shape.keys:
        by_key.setdefault(key.key, []).append(key)

    def add(kind: str, message: str, count: int | None = None) -> None:
        found.append(Finding(kind, table.source, table.name, column.name, message, count))

    partial = {
        name: sum(item.count for item in items)
        for name, items in by_key.items()
        if sum(item.count for item in items) < objects
    }
    if partial:
        described = ", ".join(
            f"'{name}' in {count:,} of {objects:,}" for name, count in sorted(partial.items())
        )
        add("json_key_drift", f"keys missing from some objects: {described}", len(partial))
    for old, new in _renames(by_key, partial):
        add(
            "json_key_renamed",
            f"'{old}' last seen {_last(by_key[old])}, '{new}' first seen {_first(by_key[new])}:"
            f" '{old}' looks renamed to '{new}'",
        )
    for name, items in sorted(by_key.items()):
        types = [item for item in items if item.value_type != "null"]
        if len(types) > 1:
            described = ", ".join(f"{item.value_type} in {item.count:,}" for item in types)
            add(
                "json_mixed_types",
                f"'{name}' holds values of several types: {described}",
                len(types),
            )
    return found


def _first(items: Sequence) -> str | None:
    return min((item.first_seen for item in items if item.first_seen), default=None)


def _last(items: Sequence) -> str | None:
    return max((item.last_seen for item in items if item.last_seen), default=None)


def _renames(by_key: dict[str, list], partial: dict[str, int]) -> list[tuple[str, str]]:
    """Pairs of partial keys where one stops being seen when the other starts."""
    pairs = []
    for old in sorted(partial):
        for new in sorted(partial):
            last, first = _last(by_key[old]), _first(by_key[new])
            if old != new and last and first and last <= first and _first(by_key[old]) < first:
                pairs.append((old, new))
    return pairs


def _coded(
    table: TableProfile, relations: Sequence[Relation], lookups: Sequence[Lookup]
) -> list[Finding]:
    found = []
    for relation in relations:
        if (relation.child_source, relation.child_table) != (table.source, table.name):
            continue
        column = table.column(relation.child_columns[0])
        lookup = next(
            (
                item
                for item in lookups
                if (item.source, item.table) == (relation.parent_source, relation.parent_table)
            ),
            None,
        )
        if column is None or lookup is None or not inference.is_categorical(column_stats(column)):
            continue
        decoded = ", ".join(
            f"{item.value} {lookup.labels.get(item.value, '?')}"
            for item in column.top_values[:10]
            if item.value is not None
        )
        found.append(
            Finding(
                "coded_categorical",
                table.source,
                table.name,
                column.name,
                f"{column.distinct} codes decoded by {lookup.source}.{lookup.table}"
                f" ({lookup.key} -> {lookup.label_column}; {relation.kind}): {decoded}",
                column.distinct,
            )
        )
    return found


def column_stats(column: ColumnProfile) -> dict[str, int | None]:
    """The counts `inference.is_categorical` judges a column by."""
    return {"distinct": column.distinct, "non_null": column.non_null}


def _orphans(relations: Sequence[Relation]) -> list[Finding]:
    found = []
    for relation in relations:
        if not relation.orphan_ids:
            continue
        sampled = " (sampled)" if relation.sampled else ""
        examples = ", ".join(relation.orphan_examples)
        found.append(
            Finding(
                "orphan_ids",
                relation.child_source,
                relation.child_table,
                relation.child_columns[0],
                f"{relation.orphan_ids:,} of {relation.checked_ids:,} distinct ids"
                f" ({relation.orphan_rows:,} rows){sampled} match no {relation.parent}"
                f" ({relation.kind}); e.g. {examples}",
                relation.orphan_ids,
            )
        )
    return found
