"""A dbt sources YAML proposal per source, in the shape the warehouse holds it.

The tables are those of `raw_<source>` as the ingestion loads them: PII columns the
catalog drops are left out, hashed ones are text, kept email domains get their
`<column>_domain` column and every table has `_ingestion_deleted_at`. Tests follow the
profile: `unique` + `not_null` on keys, `not_null` where the database forbids nulls,
`accepted_values` from CHECK constraints (or, as warnings, from the values seen),
`relationships` for references (declared ones fail, inferred ones warn). Descriptions
are left empty for a person to write; comments carry what the profile saw.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from ingestion.pipeline import DELETED_AT
from ingestion.profile import formatting
from ingestion.profile.records import ColumnProfile, Profile, Relation, TableProfile

LOADER = "dlt"
LOADS_TABLE = "_dlt_loads"
# Observed values become accepted_values (as warnings) only for this few of them.
OBSERVED_VALUES_MAX = 20
COMMENT_WIDTH = 72
PLACEHOLDER = ""
FRESHNESS = {"warn_after": (6, "hour"), "error_after": (24, "hour")}
NUMBER_KINDS = ("integer", "numeric")


def yaml_tool() -> YAML:
    """The round-trip YAML reader and writer, indented as the style guide asks."""
    tool = YAML()
    tool.indent(mapping=2, sequence=4, offset=2)
    tool.width = 80
    tool.preserve_quotes = True
    return tool


def dump(document: CommentedMap) -> str:
    """A YAML document as text."""
    stream = io.StringIO()
    yaml_tool().dump(document, stream)
    # ruamel leaves a space where it folds a long plain scalar; YAML folding drops it anyway.
    return "".join(line.rstrip() + "\n" for line in stream.getvalue().splitlines())


def file_name(source: str) -> str:
    """The sources file of a source, as the style guide names it."""
    return f"_{source}__sources.yml"


def proposal(profile: Profile, source: str) -> CommentedMap:
    """The sources document proposed for one source."""
    tables = CommentedSeq([_loads_table()])
    for table in profile.tables:
        if table.source == source:
            tables.append(_table(profile, table))
            tables.yaml_set_comment_before_after_key(
                len(tables) - 1, before=_table_comment(table), indent=6
            )
    entry = CommentedMap()
    entry["name"] = source
    entry["description"] = PLACEHOLDER
    entry["schema"] = f"raw_{source}"
    entry["loader"] = LOADER
    entry["tables"] = tables
    document = CommentedMap()
    document["sources"] = CommentedSeq([entry])
    document.yaml_set_start_comment(
        f"Proposed by `ingestion profile` on {profile.generated_at}.\n"
        "Write the descriptions; comments say what the profile saw.\n"
        "Merging a later proposal adds to this file and keeps what you wrote."
    )
    return document


def _loads_table() -> CommentedMap:
    table = CommentedMap()
    table["name"] = LOADS_TABLE
    table["description"] = "One row per completed sync of this source."
    freshness = CommentedMap()
    for name, (count, period) in FRESHNESS.items():
        after = CommentedMap([("count", count), ("period", period)])
        after.fa.set_flow_style()
        freshness[name] = after
    table["config"] = CommentedMap([("loaded_at_field", "inserted_at"), ("freshness", freshness)])
    return table


def _table(profile: Profile, table: TableProfile) -> CommentedMap:
    entry = CommentedMap()
    entry["name"] = table.name
    entry["description"] = PLACEHOLDER
    key_test = _key_test(table)
    if key_test is not None:
        entry["data_tests"] = CommentedSeq([key_test])
    columns = CommentedSeq()
    for column in table.columns:
        if column.name in table.pii_dropped:
            continue
        columns.append(_column(profile, table, column))
        columns.yaml_set_comment_before_after_key(
            len(columns) - 1, before=_column_comment(table, column), indent=10
        )
        if column.name in table.pii_domains:
            columns.append(_domain_column(column.name))
    columns.append(_deleted_column())
    entry["columns"] = columns
    return entry


def _key_test(table: TableProfile) -> CommentedMap | None:
    """Our generic `unique_combination_of_columns` for a key of several columns."""
    names = table.primary_key or table.unique_key
    if not names or len(names) == 1:
        return None
    test = _test("unique_combination_of_columns", combination_of_columns=_flow(list(names)))
    if not table.primary_key:
        test["unique_combination_of_columns"]["config"] = CommentedMap(severity="warn")
    return test


def _column(profile: Profile, table: TableProfile, column: ColumnProfile) -> CommentedMap:
    entry = CommentedMap()
    entry["name"] = column.name
    hashed = column.name in table.pii_hashed
    entry["description"] = (
        "Salted SHA-256 of the production value (PII)." if hashed else PLACEHOLDER
    )
    entry["data_type"] = "text" if hashed else column.data_type
    tests = _tests(profile, table, column)
    if tests:
        entry["data_tests"] = tests
    return entry


def _tests(profile: Profile, table: TableProfile, column: ColumnProfile) -> CommentedSeq:
    tests: list[object] = []
    is_key = table.primary_key == (column.name,)
    if is_key or column.name in table.unique_columns:
        tests.append("unique")
    if is_key or not column.nullable:
        tests.append("not_null")
    values = _accepted_values(profile, table, column)
    if values is not None:
        tests.append(values)
    for relation in profile.relations:
        if (relation.child_source, relation.child_table, relation.child_columns) == (
            table.source,
            table.name,
            (column.name,),
        ):
            tests.append(_relationship(relation))
    return CommentedSeq(tests)


def _accepted_values(
    profile: Profile, table: TableProfile, column: ColumnProfile
) -> CommentedMap | None:
    declared = table.accepted_values.get(column.name)
    quote = column.kind not in NUMBER_KINDS
    if declared:
        return _test("accepted_values", values=_flow(_typed(declared, quote)), quote=quote)
    referenced = any(
        (r.child_source, r.child_table, r.child_columns)
        == (table.source, table.name, (column.name,))
        for r in profile.relations
    )
    seen = [item.value for item in column.top_values if item.value is not None]
    if (
        referenced
        or column.redacted
        or column.logical_type != "categorical"
        or column.kind not in ("text", "enum")
        or len(seen) != column.distinct
        or len(seen) > OBSERVED_VALUES_MAX
    ):
        return None
    test = _test("accepted_values", values=_flow(sorted(seen)), quote=True)
    test["accepted_values"]["config"] = CommentedMap(severity="warn")
    return test


def _relationship(relation: Relation) -> CommentedMap:
    test = _test(
        "relationships",
        to=f"source('{relation.parent_source}', '{relation.parent_table}')",
        field=relation.parent_columns[0],
    )
    if relation.kind != "declared":
        test["relationships"]["config"] = CommentedMap(severity="warn")
    return test


def _test(name: str, **arguments: object) -> CommentedMap:
    body = CommentedMap()
    body["arguments"] = CommentedMap(arguments)
    return CommentedMap([(name, body)])


def _flow(values: list) -> CommentedSeq:
    sequence = CommentedSeq(values)
    sequence.fa.set_flow_style()
    return sequence


def _typed(values: Sequence[str], quote: bool) -> list:
    if quote:
        return list(values)
    return [int(value) if value.lstrip("-").isdigit() else float(value) for value in values]


def _domain_column(column: str) -> CommentedMap:
    entry = CommentedMap()
    entry["name"] = f"{column}_domain"
    entry["description"] = f"The part of {column} after its last @, in clear."
    entry["data_type"] = "text"
    return entry


def _deleted_column() -> CommentedMap:
    entry = CommentedMap()
    entry["name"] = DELETED_AT
    entry["description"] = "When a sync found the row deleted in production."
    entry["data_type"] = "timestamp with time zone"
    return entry


def _table_comment(table: TableProfile) -> str:
    parts = [formatting.size(table), formatting.key(table)]
    if table.main_timestamp and table.monthly:
        parts.append(
            f"{table.main_timestamp} from {table.monthly[0].value} to {table.monthly[-1].value}"
        )
    return _wrap("; ".join(parts))


def _column_comment(table: TableProfile, column: ColumnProfile) -> str:
    parts = [column.logical_type, f"{formatting.share(column.nulls, column.rows_read)} null"]
    if column.distinct is not None:
        parts.append(f"{column.distinct:,} distinct")
    if column.name in table.pii_hashed:
        parts.append("PII, hashed")
    return _wrap(f"{column.name}: " + ", ".join(parts))


def _wrap(text: str) -> str:
    """Text as comment lines no wider than COMMENT_WIDTH."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > COMMENT_WIDTH:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line])
