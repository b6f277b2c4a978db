"""Merge a sources proposal into a sources file a person already edits.

The merge only adds: sources, tables and columns the file lacks, keys an entry lacks
(a description, a data_type), and on an existing column the tests of a kind it has
none of. It never changes or removes what is there, so descriptions, tests, configs
and comments a person wrote survive. To turn a proposed test off for good, keep it
with `config: {enabled: false}` rather than deleting it, or the next merge adds it back.
"""

from __future__ import annotations

from collections.abc import MutableMapping, MutableSequence
from pathlib import Path

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from ingestion.errors import IngestionError
from ingestion.profile.dbt_sources import dump, yaml_tool

TEST_KEYS = ("data_tests", "tests")


def merge(existing: CommentedMap, proposal: CommentedMap) -> list[str]:
    """Add what `proposal` has and `existing` lacks, in place; returns what was added."""
    added: list[str] = []
    sources = existing.setdefault("sources", CommentedSeq())
    for source in proposal.get("sources", []):
        target = _named(sources, source["name"])
        if target is None:
            sources.append(source)
            added.append(f"source {source['name']}")
            continue
        _missing_keys(target, source, ("tables",), f"source {source['name']}", added)
        tables = target.setdefault("tables", CommentedSeq())
        for table in source.get("tables", []):
            where = f"{source['name']}.{table['name']}"
            found = _named(tables, table["name"])
            if found is None:
                tables.append(table)
                added.append(f"table {where}")
                continue
            _missing_keys(found, table, ("columns", *TEST_KEYS), where, added)
            _missing_tests(found, table, where, added)
            columns = found.setdefault("columns", CommentedSeq())
            for column in table.get("columns", []):
                column_where = f"{where}.{column['name']}"
                present = _named(columns, column["name"])
                if present is None:
                    columns.append(column)
                    added.append(f"column {column_where}")
                    continue
                _missing_keys(present, column, TEST_KEYS, column_where, added)
                _missing_tests(present, column, column_where, added)
    return added


def merge_file(path: Path, proposal: CommentedMap) -> list[str]:
    """Merge `proposal` into the sources file at `path` (created if missing)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump(proposal))
        return [f"new file {path}"]
    try:
        existing = yaml_tool().load(path.read_text())
    except YAMLError as error:
        raise IngestionError(f"sources file {path} is not valid YAML: {error}") from None
    if existing is None:
        existing = CommentedMap()
    if not isinstance(existing, MutableMapping) or not isinstance(
        existing.get("sources", []), MutableSequence
    ):
        raise IngestionError(f"sources file {path}: expected a mapping with a `sources:` list")
    added = merge(existing, proposal)
    if added:
        path.write_text(dump(existing))
    return added


def generic_test_name(test: object) -> str:
    """The generic test a data_tests entry runs: `unique`, `accepted_values`, …"""
    if isinstance(test, str):
        return test
    if isinstance(test, MutableMapping):
        if "test_name" in test:
            return str(test["test_name"])
        return str(next(iter(test), ""))
    return str(test)


def _named(entries: MutableSequence, name: str) -> CommentedMap | None:
    return next(
        (e for e in entries if isinstance(e, MutableMapping) and e.get("name") == name), None
    )


def _missing_keys(
    target: MutableMapping, proposed: MutableMapping, skip: tuple[str, ...], where: str, added: list
) -> None:
    order = list(proposed)
    for index, (key, value) in enumerate(proposed.items()):
        if key in skip or key in target:
            continue
        # Right after the keys that come before it in the proposal, as a person expects.
        before = [k for k in order[:index] if k in target]
        position = list(target).index(before[-1]) + 1 if before else 0
        if isinstance(target, CommentedMap):
            target.insert(position, key, value)
        else:
            target[key] = value
        added.append(f"{key} of {where}")


def _missing_tests(
    target: MutableMapping, proposed: MutableMapping, where: str, added: list[str]
) -> None:
    wanted = proposed.get("data_tests") or []
    if not wanted:
        return
    key = next((k for k in TEST_KEYS if k in target), "data_tests")
    tests = target.setdefault(key, CommentedSeq())
    present = {generic_test_name(test) for test in tests}
    for test in wanted:
        if generic_test_name(test) not in present:
            tests.append(test)
            added.append(f"test {generic_test_name(test)} of {where}")
