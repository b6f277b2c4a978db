"""What a column means, guessed from its type, name and values (no database access)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

# A column with at most this many distinct values, each held on average by two rows or
# more, is a category rather than free text.
CATEGORICAL_MAX_DISTINCT = 50
# Most frequent values fetched per column: all of a category's values.
TOP_VALUES = CATEGORICAL_MAX_DISTINCT
# A pattern that holds for this share of a column's values describes the column.
PATTERN_SHARE = 0.9
LABEL_MAX_LENGTH = 64
BOOLEAN_TEXTS = frozenset({"y", "n", "yes", "no", "true", "false", "t", "f", "0", "1"})
BOOLEAN_NUMBERS = frozenset({"0", "1"})
CODE_WORDS = frozenset({"status", "state", "code", "type", "kind", "level", "category", "tier"})
IDENTIFIER = re.compile(r"(^|_)(id|uuid|key)$")


def is_identifier_name(name: str) -> bool:
    """`id`, `<entity>_id`, `<entity>_uuid` or `<entity>_key`."""
    return bool(IDENTIFIER.search(name))


def name_words(name: str) -> set[str]:
    """The words of a snake_case name."""
    return {word for word in name.lower().split("_") if word}


def is_categorical(stats: Mapping[str, Any]) -> bool:
    """Few distinct values, each repeated: a category."""
    distinct, non_null = stats.get("distinct"), stats.get("non_null", 0)
    return (
        distinct is not None
        and 0 < distinct <= CATEGORICAL_MAX_DISTINCT
        and non_null >= 2 * distinct
    )


def logical_type(
    name: str,
    kind: str,
    stats: Mapping[str, Any],
    primary_key: Sequence[str],
    values: Sequence[str | None] = (),
) -> str:
    """A guessed logical type: identifier, boolean, categorical, free text, email, …"""
    non_null = stats.get("non_null", 0)
    seen = {value.lower() for value in values if value is not None}
    complete = stats.get("distinct") is not None and len(seen) == stats.get("distinct")
    if kind == "json":
        return "json document"
    if kind == "boolean":
        return "boolean"
    if kind == "timestamptz":
        return "timestamp with time zone"
    if kind == "timestamp":
        return "timestamp without time zone (naive)"
    if kind == "date":
        return "date"
    if name in primary_key or is_identifier_name(name) or kind == "uuid":
        return "identifier"
    if kind == "integer" and complete and seen and seen <= BOOLEAN_NUMBERS and non_null:
        return "boolean stored as integer"
    if kind in ("text", "enum"):
        return _text_type(stats, seen, complete)
    if kind in ("integer", "numeric"):
        if is_categorical(stats) and name_words(name) & CODE_WORDS:
            return "categorical code"
        return "number"
    return kind


def _text_type(stats: Mapping[str, Any], seen: set[str], complete: bool) -> str:
    non_null = stats.get("non_null", 0)
    if not non_null:
        return "text (always null)"
    if complete and seen and seen <= BOOLEAN_TEXTS:
        return "boolean stored as text"
    if stats.get("emails", 0) >= PATTERN_SHARE * non_null:
        return "email"
    if is_categorical(stats):
        return "categorical"
    if stats.get("digits_only", 0) >= PATTERN_SHARE * non_null:
        return "number stored as text"
    if stats.get("distinct") == non_null and (stats.get("max_length") or 0) <= LABEL_MAX_LENGTH:
        return "label (unique short text)"
    return "free text"
