"""Which ingestion loads a dataset's rows came from, read in the export's own snapshot.

The relations a query reads come from its plan (views are expanded there down to their
tables), and dbt models built as tables are followed up to their sources through the
dbt manifest. For each table that ingestion loads:

- row level, where the table has dlt's `_dlt_load_id` column (dlt adds it to Arrow
  loads with `NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID=true`): the distinct load
  ids of the rows it holds in the snapshot, with how many rows each;
- table level otherwise: every load that `ingestion.table_syncs` says wrote rows into it
  or marked deletes in it, with the rows it wrote (a superset of the loads whose rows are
  still there).

Load times come from the dataset's `_dlt_loads`, sync times from `ingestion.table_syncs`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg2
from psycopg2 import extensions, sql

from ingestion.datasets.dbt_manifest import Relation
from ingestion.datasets.export import failed
from ingestion.synclog import LOG_SCHEMA, LOG_TABLE

LOAD_ID_COLUMN = "_dlt_load_id"
LOADS_TABLE = "_dlt_loads"


@dataclass(frozen=True)
class Load:
    """One ingestion load behind a dataset: rows of one table that it wrote."""

    relation: str
    load_id: str
    # "row": `rows` of the table carry this load id in the snapshot; "table": the sync
    # log says this load wrote `rows` rows into the table.
    granularity: str
    rows: int
    # When dlt finished the load (_dlt_loads.inserted_at) and when the sync that made it
    # finished (ingestion.table_syncs.finished_at); None where the warehouse has no record.
    loaded_at: str | None
    synced_at: str | None


def _walk(plan: Any) -> Iterator[Relation]:  # noqa: ANN401 - a JSON value
    if isinstance(plan, dict):
        if "Relation Name" in plan and "Schema" in plan:
            yield Relation(schema=plan["Schema"], name=plan["Relation Name"])
        for value in plan.values():
            yield from _walk(value)
    elif isinstance(plan, list):
        for value in plan:
            yield from _walk(value)


def relations_read(connection: extensions.connection, query: sql.Composable) -> list[Relation]:
    """The tables (and materialized views) the query reads, from its plan."""
    with connection.cursor() as cursor:
        try:
            cursor.execute(sql.SQL("explain (verbose, format json) {}").format(query))
        except psycopg2.Error as error:
            raise failed(error, "planning the dataset's query") from None
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return sorted(set(_walk(plan)), key=str)


def _has_column(cursor: extensions.cursor, relation: Relation, column: str) -> bool:
    cursor.execute(
        "select exists (select from pg_catalog.pg_attribute"
        " where attrelid = to_regclass(format('%%I.%%I', %s, %s))"
        " and attname = %s and attnum > 0 and not attisdropped)",
        (relation.schema, relation.name, column),
    )
    return bool(cursor.fetchone()[0])


def _exists(cursor: extensions.cursor, schema: str, name: str) -> bool:
    cursor.execute("select to_regclass(format('%%I.%%I', %s, %s)) is not null", (schema, name))
    return bool(cursor.fetchone()[0])


def _printed(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _load_times(cursor: extensions.cursor, schema: str, load_ids: list[str]) -> dict[str, str]:
    if not _exists(cursor, schema, LOADS_TABLE):
        return {}
    cursor.execute(
        sql.SQL(
            "select load_id, max(inserted_at) from {} where load_id = any(%s) group by 1"
        ).format(sql.Identifier(schema, LOADS_TABLE)),
        (load_ids,),
    )
    return {load_id: _printed(moment) for load_id, moment in cursor.fetchall()}


def _sync_times(cursor: extensions.cursor, table: str, load_ids: list[str]) -> dict[str, str]:
    if not _exists(cursor, LOG_SCHEMA, LOG_TABLE):
        return {}
    cursor.execute(
        sql.SQL(
            "select load_id, max(finished_at) from {}"
            " where table_name = %s and load_id = any(%s) group by 1"
        ).format(sql.Identifier(LOG_SCHEMA, LOG_TABLE)),
        (table, load_ids),
    )
    return {load_id: _printed(moment) for load_id, moment in cursor.fetchall()}


def _row_level(cursor: extensions.cursor, relation: Relation) -> list[Load]:
    cursor.execute(
        sql.SQL("select {0}, count(*) from {1} where {0} is not null group by 1 order by 1").format(
            sql.Identifier(LOAD_ID_COLUMN), sql.Identifier(relation.schema, relation.name)
        )
    )
    counts = dict(cursor.fetchall())
    loaded = _load_times(cursor, relation.schema, list(counts))
    synced = _sync_times(cursor, relation.name, list(counts))
    return [
        Load(
            relation=str(relation),
            load_id=load_id,
            granularity="row",
            rows=rows,
            loaded_at=loaded.get(load_id),
            synced_at=synced.get(load_id),
        )
        for load_id, rows in counts.items()
    ]


def _table_level(cursor: extensions.cursor, relation: Relation) -> list[Load]:
    if not (
        _exists(cursor, LOG_SCHEMA, LOG_TABLE) and _exists(cursor, relation.schema, LOADS_TABLE)
    ):
        return []
    # A load id is unique to its dlt pipeline, whose loads are listed in the relation's
    # own schema: that ties the sync log's table name to this schema.
    cursor.execute(
        sql.SQL(
            "select syncs.load_id, max(syncs.rows_written), max(loads.inserted_at),"
            " max(syncs.finished_at)"
            " from {syncs} as syncs inner join {loads} as loads"
            " on loads.load_id = syncs.load_id"
            " where syncs.table_name = %s and syncs.status <> 'failed'"
            " and (syncs.rows_written > 0 or syncs.deletes_found > 0)"
            " group by 1 order by 1"
        ).format(
            syncs=sql.Identifier(LOG_SCHEMA, LOG_TABLE),
            loads=sql.Identifier(relation.schema, LOADS_TABLE),
        ),
        (relation.name,),
    )
    return [
        Load(
            relation=str(relation),
            load_id=load_id,
            granularity="table",
            rows=rows,
            loaded_at=_printed(loaded_at),
            synced_at=_printed(synced_at),
        )
        for load_id, rows, loaded_at, synced_at in cursor.fetchall()
    ]


def loads_behind(connection: extensions.connection, relations: Iterable[Relation]) -> list[Load]:
    """Every ingestion load behind the given relations, with its row count and times."""
    loads = []
    with connection.cursor() as cursor:
        for relation in sorted(set(relations), key=str):
            if _has_column(cursor, relation, LOAD_ID_COLUMN):
                loads.extend(_row_level(cursor, relation))
            else:
                loads.extend(_table_level(cursor, relation))
    return loads
