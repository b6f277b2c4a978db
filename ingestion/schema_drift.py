"""Schema drift between syncs: the warehouse follows the source where it safely can.

Per table already in the warehouse (`follow_columns`), before dlt loads it:
- a column added at the source is added (nullable) and the table is re-read whole this
  once, so rows that existed before get its values too;
- a column dropped at the source stays in the warehouse with its history; it no longer
  refuses NULLs, and rows loaded from then on have NULL in it;
- a column widened at the source (a longer varchar, a larger integer, more digits or a
  larger scale of a numeric, a finer timestamp) is widened in the warehouse, with the
  views that read the table dropped and recreated as they were in the same transaction;
- a column that now allows NULLs does so in the warehouse too;
- a narrower column is loaded into the wider warehouse column, which holds its values;
- any other type change (another type, a time zone, a numeric scale or timestamp
  precision that shrank and rounded the source's values) stops the sync, naming the
  column.
Per source (`check_tables`): a table new at the source that the catalog matches is
loaded like any other; a replicated table gone from the source is reported and its
warehouse copy kept; tables that no `tables` or `exclude` pattern names are logged.
Every change is logged in ingestion.schema_changes (see driftlog).
"""

from __future__ import annotations

import fnmatch
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from psycopg2 import sql

from ingestion import catalog as catalog_module
from ingestion import column_plan, driftlog, dropped_columns
from ingestion.catalog import Catalog, TableSpec
from ingestion.destination import ExactPostgresTypeMapper, warehouse_postgres
from ingestion.driftlog import SchemaChange
from ingestion.errors import IngestionError

log = logging.getLogger(__name__)

# pipeline.DELETED_AT, which cannot be imported here: pipeline imports this module.
DELETED_AT = "_ingestion_deleted_at"
# Views that read a raw table, and views that read those, deepest last.
DEPENDENT_VIEWS = """
with recursive dependents (oid, depth) as (
    select rewrite.ev_class, 1
    from pg_catalog.pg_depend as dependency
    inner join pg_catalog.pg_rewrite as rewrite on rewrite.oid = dependency.objid
    where dependency.classid = 'pg_catalog.pg_rewrite'::regclass
        and dependency.refclassid = 'pg_catalog.pg_class'::regclass
        and dependency.refobjid = %(table)s::regclass
        and rewrite.ev_class <> dependency.refobjid
    union
    select rewrite.ev_class, dependents.depth + 1
    from dependents
    inner join pg_catalog.pg_depend as dependency on dependency.refobjid = dependents.oid
    inner join pg_catalog.pg_rewrite as rewrite on rewrite.oid = dependency.objid
    where dependency.classid = 'pg_catalog.pg_rewrite'::regclass
        and dependency.refclassid = 'pg_catalog.pg_class'::regclass
        and rewrite.ev_class <> dependents.oid
)
select
    view.oid,
    namespace.nspname,
    view.relname,
    view.relkind,
    pg_catalog.pg_get_viewdef(view.oid),
    coalesce(view.reloptions, '{}'),
    pg_catalog.pg_get_userbyid(view.relowner),
    pg_catalog.obj_description(view.oid, 'pg_class')
from dependents
inner join pg_catalog.pg_class as view on view.oid = dependents.oid
inner join pg_catalog.pg_namespace as namespace on namespace.oid = view.relnamespace
group by 1, 2, 3, 4, 5, 6, 7, 8
order by max(dependents.depth), 2, 3
"""
VIEW_GRANTS = """
select
    case when grants.grantee = 0 then null else pg_catalog.pg_get_userbyid(grants.grantee) end,
    grants.privilege_type,
    grants.is_grantable
from pg_catalog.pg_class as view, pg_catalog.aclexplode(view.relacl) as grants
where view.oid = %(view)s and grants.grantee <> view.relowner
"""
COLUMN_COMMENTS = """
select attname, pg_catalog.col_description(attrelid, attnum)
from pg_catalog.pg_attribute
where attrelid = %(view)s and attnum > 0 and not attisdropped
    and pg_catalog.col_description(attrelid, attnum) is not null
order by attnum
"""


@dataclass(frozen=True)
class TableDrift:
    """How one sync loads a table whose source changed shape since the last sync.

    `hints` are dlt column hints that replace the plan's: columns new to the warehouse
    and columns the source dropped, all nullable. `reread` reads the whole table once
    instead of by cursor, to fill a new column in rows that existed before.
    """

    hints: tuple[Mapping[str, Any], ...] = ()
    reread: bool = False


@dataclass(frozen=True)
class _View:
    """A view that reads a raw table, as it is to be recreated."""

    oid: int
    schema: str
    name: str
    kind: str
    definition: str
    options: tuple[str, ...]
    owner: str
    comment: str | None
    grants: tuple[tuple[str | None, str, bool], ...] = ()
    column_comments: tuple[tuple[str, str], ...] = ()


def _mapper() -> ExactPostgresTypeMapper:
    return ExactPostgresTypeMapper(warehouse_postgres().capabilities())


def type_name(hint: Mapping[str, Any], table: str) -> str:
    """The warehouse type of a column hint, as the DDL writes it (varchar(20), integer …)."""
    return _mapper().to_destination_type(dict(hint), {"name": table})


def _size(hint: Mapping[str, Any]) -> float:
    """What a widening grows: a text's length, an integer's bits, a timestamp's digits."""
    kind = hint["data_type"]
    if kind == "text":
        return hint.get("precision") or math.inf
    if kind == "bigint":
        return hint.get("precision") or 64
    if kind == "timestamp":
        return hint.get("precision") or 6
    return 0


def _widened(stored: Mapping[str, Any], source: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The hint the warehouse column must take to hold both kinds of values exactly.

    `stored` itself when it already does, None when no type can (a change of kind,
    of time zone, or a shrinking scale or time precision that rounded the source).
    """
    kind = stored["data_type"]
    if kind != source["data_type"] or stored.get("timezone") != source.get("timezone"):
        return None
    if kind == "decimal":
        scale, digits = stored["scale"], stored["precision"] - stored["scale"]
        new_scale, new_digits = source["scale"], source["precision"] - source["scale"]
        if new_scale < scale:
            return None
        if (new_scale, new_digits) == (scale, digits) or (
            new_scale == scale and new_digits < digits
        ):
            return stored
        return {**source, "precision": max(digits, new_digits) + new_scale, "scale": new_scale}
    if kind == "timestamp" and _size(source) < _size(stored):
        return None
    return source if _size(source) > _size(stored) else stored


def _ours(spec: TableSpec, column: str) -> bool:
    """Columns the ingestion adds itself, which the source never has."""
    return (
        column == DELETED_AT or column.startswith("_dlt") or column in spec.domain_columns.values()
    )


@dataclass(frozen=True)
class _Plan:
    """What one table needs: changes to report, statements to run, hints for dlt."""

    changes: tuple[SchemaChange, ...]
    retypes: tuple[tuple[str, str], ...]
    nullables: tuple[str, ...]
    dropped: tuple[str, ...]
    drift: TableDrift
    stop: str | None


def _compare(
    spec: TableSpec,
    source: Mapping[str, column_plan.ColumnPlan],
    stored: Mapping[str, column_plan.ColumnPlan],
    kept: set[str],
    now: datetime,
    *,
    incremental: bool,
) -> _Plan:
    """Compare the source's columns with the warehouse table's (`kept`: dropped before)."""

    def change(column: str, kind: str, detail: str) -> SchemaChange:
        return SchemaChange(spec.source, spec.name, column, kind, detail, now)

    changes, retypes, nullables, dropped, hints = [], [], [], [], []
    stop = None
    fill = "rows that existed are re-read to fill it" if incremental else "filled"
    for name, plan in source.items():
        if name not in stored or name in kept:
            hints.append({**plan.hint, "nullable": True})
            again = " again" if name in kept else ""
            detail = f"{type_name(plan.hint, spec.name)}{again}; {fill}"
            changes.append(change(name, driftlog.COLUMN_ADDED, detail))
        if name not in stored:
            continue
        old, new = stored[name].hint, plan.hint
        wanted = _widened(old, new)
        if wanted is not old:
            before, after = type_name(old, spec.name), type_name(new, spec.name)
        if wanted is None:
            stop = (
                f"source {spec.source}, table {spec.name}, column {name}: the source changed its"
                f" type from {before} to {after} and the warehouse cannot follow safely; alter"
                f" or rename {spec.dataset}.{spec.name}.{name}, then sync again"
            )
            changes.append(change(name, driftlog.COLUMN_TYPE_CHANGED, f"{before} to {after}"))
        elif wanted is not old:
            retypes.append((name, type_name(wanted, spec.name)))
            widened = type_name(wanted, spec.name)
            note = "" if widened == after else f" (the source's is {after})"
            changes.append(change(name, driftlog.COLUMN_WIDENED, f"{before} to {widened}{note}"))
        if new["nullable"] and not old["nullable"]:
            nullables.append(name)
            changes.append(change(name, driftlog.COLUMN_NULLABLE, "the source now allows nulls"))
    for name, plan in stored.items():
        if name in source or _ours(spec, name):
            continue
        hints.append({**plan.hint, "nullable": True})
        if not plan.hint["nullable"]:
            nullables.append(name)
        if name in spec.columns:
            detail = (
                "the catalog no longer replicates it; rows read from now on hold null in it,"
                " the others keep their values"
            )
            changes.append(change(name, driftlog.COLUMN_LEFT_OUT, detail))
        else:
            dropped.append(name)
            detail = "kept in the warehouse with its last values; new rows hold null in it"
            changes.append(change(name, driftlog.COLUMN_DROPPED, detail))
    added = any(c.change == driftlog.COLUMN_ADDED for c in changes)
    return _Plan(
        tuple(changes),
        tuple(retypes),
        tuple(nullables),
        tuple(dropped),
        TableDrift(tuple(hints), reread=added and incremental),
        stop,
    )


def follow_columns(
    spec: TableSpec, engine: sa.Engine, warehouse: sa.Engine, *, incremental: bool
) -> TableDrift:
    """Bring an existing warehouse table in line with its source's columns; what dlt needs.

    `incremental`: the sync would read the table by cursor, so a new column needs one
    whole read. Raises IngestionError naming the column when its type cannot follow.
    """
    source = column_plan.plan_columns(engine, spec)
    stored = column_plan.table_columns(warehouse, spec.dataset, spec.name, spec.primary_key)
    with warehouse.connect() as connection:
        kept = dropped_columns.kept(connection, spec)
    plan = _compare(
        spec,
        source,
        stored,
        kept,
        datetime.now(UTC),
        incremental=incremental and spec.cursor is not None,
    )
    for change in driftlog.record(warehouse, plan.changes):
        log.warning("%s", change.describe())
    if plan.stop is not None:
        raise IngestionError(plan.stop)
    keep, forget = set(plan.dropped) - kept, kept & set(source)
    if plan.retypes or plan.nullables or keep or forget:
        with warehouse.begin() as connection:
            cursor = connection.connection.cursor()
            views = _drop_views(cursor, spec) if plan.retypes else []
            for dataset in (spec.dataset, f"{spec.dataset}_staging"):
                _alter(cursor, dataset, spec.name, plan.retypes, plan.nullables)
            for view in views:
                _create_view(cursor, view)
            dropped_columns.keep(connection, spec, keep)
            dropped_columns.forget(connection, spec, forget)
    return plan.drift


def _alter(
    cursor: Any,  # noqa: ANN401 - a DB-API cursor
    dataset: str,
    table: str,
    retypes: Sequence[tuple[str, str]],
    nullables: Sequence[str],
) -> None:
    """Widen and relax the columns of one table, where the table and column exist."""
    cursor.execute(
        "select attname from pg_catalog.pg_attribute where attrelid = to_regclass(%s)"
        " and attnum > 0 and not attisdropped",
        (sql.Identifier(dataset, table).as_string(cursor),),
    )
    present = {row[0] for row in cursor.fetchall()}
    clauses = [
        sql.SQL("alter column {} type {}").format(sql.Identifier(column), sql.SQL(data_type))
        for column, data_type in retypes
        if column in present
    ]
    clauses += [
        sql.SQL("alter column {} drop not null").format(sql.Identifier(column))
        for column in nullables
        if column in present
    ]
    if clauses:
        cursor.execute(
            sql.SQL("alter table {} {}").format(
                sql.Identifier(dataset, table), sql.SQL(", ").join(clauses)
            )
        )


def _drop_views(cursor: Any, spec: TableSpec) -> list[_View]:  # noqa: ANN401 - DB-API cursor
    """Drop the views that read the table (PostgreSQL retypes no column a view reads)."""
    cursor.execute(
        DEPENDENT_VIEWS, {"table": sql.Identifier(spec.dataset, spec.name).as_string(cursor)}
    )
    views = [_View(row[0], *row[1:5], tuple(row[5]), *row[6:]) for row in cursor.fetchall()]
    views = [
        replace(
            view,
            grants=_view_grants(cursor, view.oid),
            column_comments=_column_comments(cursor, view.oid),
        )
        for view in views
    ]
    for view in views:
        if view.kind != "v":
            raise IngestionError(
                f"source {spec.source}, table {spec.name}: {view.schema}.{view.name} reads"
                f" {spec.dataset}.{spec.name} and is not a plain view, so a column cannot be"
                " widened; drop it, sync, and create it again"
            )
    if views:
        cursor.execute(
            sql.SQL("drop view {}").format(
                sql.SQL(", ").join(sql.Identifier(view.schema, view.name) for view in views)
            )
        )
        log.info(
            "%s.%s: recreating the views that read it: %s",
            spec.dataset,
            spec.name,
            ", ".join(f"{view.schema}.{view.name}" for view in views),
        )
    return views


def _create_view(cursor: Any, view: _View) -> None:  # noqa: ANN401 - a DB-API cursor
    """Create a dropped view again with its owner, grants and comments."""
    name = sql.Identifier(view.schema, view.name)
    options = sql.SQL("")
    if view.options:
        options = sql.SQL(" with ({})").format(
            sql.SQL(", ").join(sql.SQL(option) for option in view.options)
        )
    # The definition is PostgreSQL's own text of a view that existed a moment ago.
    cursor.execute(
        sql.SQL("create view {}{} as {}").format(name, options, sql.SQL(view.definition))
    )
    cursor.execute("select current_user")
    if cursor.fetchone()[0] != view.owner:
        cursor.execute(
            sql.SQL("alter view {} owner to {}").format(name, sql.Identifier(view.owner))
        )
    for grantee, privilege, grantable in view.grants:
        cursor.execute(
            sql.SQL("grant {} on {} to {}{}").format(
                sql.SQL(privilege),
                name,
                sql.SQL("public") if grantee is None else sql.Identifier(grantee),
                sql.SQL(" with grant option" if grantable else ""),
            )
        )
    if view.comment is not None:
        cursor.execute(sql.SQL("comment on view {} is {}").format(name, sql.Literal(view.comment)))
    for column, comment in view.column_comments:
        cursor.execute(
            sql.SQL("comment on column {} is {}").format(
                sql.Identifier(view.schema, view.name, column), sql.Literal(comment)
            )
        )


def _view_grants(cursor: Any, oid: int) -> tuple[tuple[str | None, str, bool], ...]:  # noqa: ANN401
    cursor.execute(VIEW_GRANTS, {"view": oid})
    return tuple(cursor.fetchall())


def _column_comments(cursor: Any, oid: int) -> tuple[tuple[str, str], ...]:  # noqa: ANN401
    cursor.execute(COLUMN_COMMENTS, {"view": oid})
    return tuple(cursor.fetchall())


def check_tables(
    catalog: Catalog,
    source: str,
    specs: Sequence[TableSpec],
    engine: sa.Engine,
    warehouse: sa.Engine,
    *,
    every_table: bool,
) -> None:
    """Report tables new to the warehouse, gone from the source, or named by no pattern.

    `every_table`: `specs` are all the tables the catalog selects (no --table filter),
    so a warehouse table missing from them has left the source or the catalog.
    """
    driftlog.prepare(warehouse)
    dataset = f"raw_{source}"
    stored = {
        name
        for name in sa.inspect(warehouse).get_table_names(schema=dataset)
        if not name.startswith("_dlt")
    }
    now = datetime.now(UTC)
    changes = [
        SchemaChange(source, spec.name, None, driftlog.TABLE_ADDED, "replicated from now on", now)
        for spec in specs
        if stored and spec.name not in stored
    ]
    if every_table:
        config = catalog.sources[source]
        existing = catalog_module.source_tables(catalog, source, engine)
        for table in sorted(stored - {spec.name for spec in specs}):
            if table in existing:
                log.info(
                    "source %s, table %s: the catalog leaves it out; %s.%s keeps its rows",
                    source,
                    table,
                    dataset,
                    table,
                )
                continue
            detail = f"gone from schema {config.schema}; {dataset}.{table} keeps its rows"
            changes.append(SchemaChange(source, table, None, driftlog.TABLE_MISSING, detail, now))
        unnamed = [
            table
            for table in existing
            if not any(fnmatch.fnmatchcase(table, p) for p in (*config.tables, *config.exclude))
        ]
        if unnamed:
            log.info(
                "source %s: not replicated (no catalog pattern names them): %s",
                source,
                ", ".join(unnamed),
            )
    for change in driftlog.record(warehouse, changes):
        log.warning("%s", change.describe())
