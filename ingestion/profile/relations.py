"""Referential integrity: declared foreign keys, and references inferred within and across
source databases, with the count of ids that match nothing.

A reference across databases cannot be joined in SQL, so the child's distinct ids (from
its sample, at most MAX_CHECKED_IDS) are looked up on the parent side: the parent's
keys are fetched whole when the parent is the smaller side, else the ids are probed in
batches of BATCH_IDS against the parent's key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql

from ingestion.profile import inference, sampling
from ingestion.profile.records import Lookup, Relation, TableProfile, ValueCount
from ingestion.profile.session import QueryLog
from ingestion.profile.structure import TableInfo

MAX_CHECKED_IDS = 100_000
BATCH_IDS = 10_000
# A parent table up to this size is read whole when it is the smaller side.
PARENT_FETCH_MAX = 100_000
# A lookup table (codes and their names) is small and has no timestamp column.
LOOKUP_MAX_ROWS = 1_000
# Share of a column's distinct codes that must be keys of a lookup to infer the link.
LOOKUP_MATCH_SHARE = 0.8
LABEL_NAMES = ("name", "label", "title", "description", "code")
EXAMPLES = 5
SAME_KIND = {"integer": "integer", "text": "text", "enum": "text", "uuid": "uuid"}


def declared(infos: Iterable[TableInfo]) -> list[Relation]:
    """Every declared foreign key of these tables."""
    return [
        Relation(
            child_source=info.source,
            child_table=info.name,
            child_columns=foreign.columns,
            parent_source=info.source,
            parent_table=foreign.parent_table,
            parent_columns=foreign.parent_columns,
            kind="declared",
        )
        for info in infos
        for foreign in info.foreign_keys
    ]


def plurals(word: str) -> list[str]:
    """The table names an entity may go by: user -> user, users; category -> categories."""
    forms = [word, f"{word}s", f"{word}es"]
    if word.endswith("y"):
        forms.append(f"{word[:-1]}ies")
    return forms


def inferred_by_name(
    children: Iterable[TableInfo], everything: Sequence[TableInfo], sources: Sequence[str]
) -> list[Relation]:
    """`<entity>_id` columns without a foreign key, to the `<entities>` table's key.

    The parent is looked for in the child's own source first, then in the others in
    catalog order; its primary key must be one column of the same type family.
    """
    found = []
    for child in children:
        covered = {column for foreign in child.foreign_keys for column in foreign.columns}
        for column in child.columns:
            name = column.name
            if not name.endswith("_id") or name in covered or child.primary_key == (name,):
                continue
            parent = _parent_by_name(child, name, column.kind, everything, sources)
            if parent is not None:
                found.append(
                    Relation(
                        child_source=child.source,
                        child_table=child.name,
                        child_columns=(name,),
                        parent_source=parent.source,
                        parent_table=parent.name,
                        parent_columns=parent.primary_key,
                        kind="inferred from the name",
                    )
                )
    return found


def _parent_by_name(
    child: TableInfo,
    column: str,
    kind: str,
    everything: Sequence[TableInfo],
    sources: Sequence[str],
) -> TableInfo | None:
    words = column[: -len("_id")].split("_")
    order = [child.source] + [source for source in sources if source != child.source]
    for start in range(len(words)):
        forms = plurals("_".join(words[start:]))
        for source in order:
            for table in everything:
                if table.source != source or table.name not in forms or len(table.primary_key) != 1:
                    continue
                key = table.column(table.primary_key[0])
                if key is not None and SAME_KIND.get(key.kind, key.kind) == SAME_KIND.get(
                    kind, kind
                ):
                    return table
    return None


def check_orphans(
    relation: Relation,
    child: TableInfo,
    child_profile: TableProfile,
    parent: TableInfo,
    parent_rows: int | None,
    connections: Mapping[str, Connection],
    queries: QueryLog,
) -> Relation:
    """Count the child's distinct ids (from its sample) that are no key of the parent."""
    column = relation.child_columns[0]
    rows = sampling.rows_of(child.sa_table(), child_profile.sample_percent)
    ids_query = (
        sa.select(rows.c[column], sa.func.count().label("n"))
        .where(rows.c[column].is_not(None))
        .group_by(rows.c[column])
        .limit(MAX_CHECKED_IDS)
    )
    where = (child.source, child.name)
    ids = {
        row[0]: row.n
        for row in queries.rows(connections[child.source], where, f"ids of {column}", ids_query)
    }
    parent_table = parent.sa_table()
    key = parent_table.c[relation.parent_columns[0]]
    parent_where = (parent.source, parent.name)
    parent_connection = connections[parent.source]
    if parent_rows is not None and parent_rows <= min(PARENT_FETCH_MAX, len(ids)):
        keys_query = sa.select(key)
        known = {
            row[0] for row in queries.rows(parent_connection, parent_where, "keys", keys_query)
        }
        matched = {value for value in ids if value in known}
    else:
        matched = set()
        values = list(ids)
        for start in range(0, len(values), BATCH_IDS):
            batch = values[start : start + BATCH_IDS]
            probe = sa.select(key).where(
                key == sa.any_(sa.literal(batch, postgresql.ARRAY(key.type)))
            )
            label = f"probe {column} ids"
            matched |= {
                row[0] for row in queries.rows(parent_connection, parent_where, label, probe)
            }
    orphans = sorted((value for value in ids if value not in matched), key=str)
    return replace(
        relation,
        checked_ids=len(ids),
        orphan_ids=len(orphans),
        orphan_rows=sum(ids[value] for value in orphans),
        sampled=child_profile.sampled or len(ids) >= MAX_CHECKED_IDS,
        orphan_examples=tuple(str(value) for value in orphans[:EXAMPLES]),
    )


def lookups(
    profiles: Iterable[TableProfile],
    infos: Mapping[tuple[str, str], TableInfo],
    connections: Mapping[str, Connection],
    queries: QueryLog,
) -> list[Lookup]:
    """Small tables with a one-column key: each key value and its label (a name column)."""
    found = []
    for profile in profiles:
        info = infos[(profile.source, profile.name)]
        if (
            profile.rows is None
            or profile.rows > LOOKUP_MAX_ROWS
            or len(info.primary_key) != 1
            or profile.main_timestamp is not None
        ):
            continue  # a lookup is small, keyed by one column, and records no events
        key = info.primary_key[0]
        label = _label_column(info)
        table = info.sa_table()
        columns = [table.c[key]] + ([table.c[label]] if label else [])
        statement = sa.select(*columns).order_by(table.c[key]).limit(LOOKUP_MAX_ROWS)
        rows = queries.rows(connections[info.source], (info.source, info.name), "labels", statement)
        found.append(
            Lookup(
                source=info.source,
                table=info.name,
                key=key,
                label_column=label,
                labels={str(row[0]): (str(row[1]) if label else "") for row in rows},
            )
        )
    return found


def _label_column(info: TableInfo) -> str | None:
    texts = [
        c.name
        for c in info.columns
        if c.kind in ("text", "enum") and c.name not in info.primary_key
    ]
    for name in LABEL_NAMES:
        if name in texts:
            return name
    return texts[0] if texts else None


def inferred_by_values(
    profiles: Iterable[TableProfile], found_lookups: Sequence[Lookup], known: Sequence[Relation]
) -> list[Relation]:
    """Categorical codes whose values are keys of a small lookup table named like them."""
    related = {(r.child_source, r.child_table, r.child_columns) for r in known}
    inferred = []
    for profile in profiles:
        for column in profile.columns:
            if (
                (profile.source, profile.name, (column.name,)) in related
                or column.name in profile.primary_key
                or column.logical_type not in ("categorical code", "categorical")
                or _known_values(column.top_values) != column.distinct
            ):
                continue
            values = {item.value for item in column.top_values if item.value is not None}
            lookup = _matching_lookup(profile, column.name, values, found_lookups)
            if lookup is None:
                continue
            orphans = sorted(values - set(lookup.labels))
            counts = {item.value: item.count for item in column.top_values}
            inferred.append(
                Relation(
                    child_source=profile.source,
                    child_table=profile.name,
                    child_columns=(column.name,),
                    parent_source=lookup.source,
                    parent_table=lookup.table,
                    parent_columns=(lookup.key,),
                    kind="inferred from the values",
                    checked_ids=len(values),
                    orphan_ids=len(orphans),
                    orphan_rows=sum(counts[value] for value in orphans),
                    sampled=profile.sampled,
                    orphan_examples=tuple(orphans[:EXAMPLES]),
                )
            )
    return inferred


def _known_values(values: Sequence[ValueCount]) -> int:
    return sum(1 for item in values if item.value is not None)


def _matching_lookup(
    profile: TableProfile, column: str, values: set[Any], found_lookups: Sequence[Lookup]
) -> Lookup | None:
    words = inference.name_words(column) - {"id", "code"}
    for lookup in found_lookups:
        if lookup.source != profile.source or lookup.table == profile.name or not values:
            continue
        table_words = inference.name_words(lookup.table)
        if not any(set(plurals(word)) & table_words for word in words):
            continue
        if len(values & set(lookup.labels)) >= LOOKUP_MATCH_SHARE * len(values):
            return lookup
    return None
