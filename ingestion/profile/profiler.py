"""One profiling run: describe every source, profile the chosen tables, relate them.

Every source of the catalog is described (reflection only, no table is read), so that
references from the chosen tables to any other source can be inferred and checked; a
source that cannot be reached is only left out of those references.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import URL, Connection

from ingestion.catalog import Catalog, SourceConfig
from ingestion.errors import IngestionError
from ingestion.profile import findings, relations, structure
from ingestion.profile.records import Profile, Relation, TableProfile
from ingestion.profile.session import QueryLog
from ingestion.profile.structure import TableInfo
from ingestion.profile.tables import TableRequest, failed_table, profile_table
from ingestion.source_session import SessionLimits, failures_named, source_engine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProfileRequest:
    """What to profile: the sources (all of the catalog's if empty) and table patterns."""

    catalog: Catalog
    urls: Mapping[str, URL]
    limits: SessionLimits
    sample_rows: int
    sources: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()


def run(request: ProfileRequest) -> Profile:
    """Profile the chosen tables and return everything learned."""
    chosen = _chosen_sources(request)
    queries = QueryLog()
    with ExitStack() as stack:
        connections = _connect(stack, request, chosen)
        infos: dict[tuple[str, str], TableInfo] = {}
        profiled: list[TableInfo] = []
        for source, connection in connections.items():
            config = request.catalog.sources[source]
            with failures_named(source, connection.engine):
                names = structure.table_names(
                    connection, config, request.tables if source in chosen else ()
                )
                described = structure.describe(connection, source, config.schema, names)
            infos.update({(info.source, info.name): info for info in described})
            if source in chosen:
                profiled += described
        profiles = [_profile(connections[info.source], queries, info, request) for info in profiled]
        by_table = {(p.source, p.name): p for p in profiles}
        found_relations = _relations(profiled, infos, by_table, connections, queries, request)
        good = [p for p in profiles if not p.error]
        found_lookups = relations.lookups(good, infos, connections, queries)
        found_relations += relations.inferred_by_values(good, found_lookups, found_relations)
    return Profile(
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        sources=tuple(s for s in request.catalog.sources if s in chosen),
        tables=tuple(profiles),
        relations=tuple(found_relations),
        lookups=tuple(found_lookups),
        findings=tuple(findings.findings(profiles, found_relations, found_lookups)),
        queries=tuple(queries.timings),
        statement_timeout_seconds=request.limits.statement_timeout_seconds,
        sample_rows=request.sample_rows,
    )


def _chosen_sources(request: ProfileRequest) -> tuple[str, ...]:
    known = tuple(request.catalog.sources)
    for source in request.sources:
        if source not in known:
            raise IngestionError(
                f"source {source} is not in catalog {request.catalog.path}"
                f" (known: {', '.join(known)})"
            )
    if request.tables and len(request.sources) != 1:
        raise IngestionError(
            "--table needs exactly one --source: name the database the table is in"
        )
    return request.sources or known


def _connect(
    stack: ExitStack, request: ProfileRequest, chosen: Sequence[str]
) -> dict[str, Connection]:
    """One autocommit connection per source; other sources only if they can be reached."""
    connections = {}
    for source in request.catalog.sources:
        engine = (
            source_engine(request.urls[source], request.limits) if source in request.urls else None
        )
        if engine is None:
            if source in chosen:
                raise IngestionError(f"source {source}: no URL to profile it with")
            continue
        if engine.dialect.name != "postgresql":
            if source in chosen:
                raise IngestionError(f"source {source}: profiling supports PostgreSQL sources only")
            continue
        stack.callback(engine.dispose)
        try:
            with failures_named(source, engine):
                connection = stack.enter_context(engine.connect())
        except IngestionError as error:
            if source in chosen:
                raise
            log.warning("%s; references to it are not inferred", error)
            continue
        connections[source] = connection.execution_options(isolation_level="AUTOCOMMIT")
    return connections


def _table_request(config: SourceConfig, table: str, sample_rows: int) -> TableRequest:
    override = config.overrides.get(table)
    if override is None:
        return TableRequest(sample_rows=sample_rows)
    rules = override.pii
    return TableRequest(
        sample_rows=sample_rows,
        pii_hashed=tuple(c for c, rule in rules.items() if rule.action == "hash"),
        pii_dropped=tuple(c for c, rule in rules.items() if rule.action == "drop"),
        pii_domains=tuple(c for c, rule in rules.items() if rule.keep_domain),
        cursor=override.cursor if isinstance(override.cursor, str) else None,
    )


def _profile(
    connection: Connection, queries: QueryLog, info: TableInfo, request: ProfileRequest
) -> TableProfile:
    config = request.catalog.sources[info.source]
    table_request = _table_request(config, info.name, request.sample_rows)
    log.info("profiling %s.%s", info.source, info.name)
    try:
        with failures_named(info.source, connection.engine, info.name):
            return profile_table(connection, queries, info, table_request)
    except IngestionError as error:
        log.error("%s", error)
        return failed_table(info, str(error), table_request)


def _relations(
    profiled: Sequence[TableInfo],
    infos: Mapping[tuple[str, str], TableInfo],
    profiles: Mapping[tuple[str, str], TableProfile],
    connections: Mapping[str, Connection],
    queries: QueryLog,
    request: ProfileRequest,
) -> list[Relation]:
    """Declared foreign keys, and `*_id` references checked for ids that match nothing."""
    found = relations.declared(profiled)
    everything = list(infos.values())
    for relation in relations.inferred_by_name(profiled, everything, tuple(connections)):
        child = infos[(relation.child_source, relation.child_table)]
        parent = infos[(relation.parent_source, relation.parent_table)]
        child_profile = profiles[(child.source, child.name)]
        if child_profile.error:
            found.append(relation)
            continue
        parent_profile = profiles.get((parent.source, parent.name))
        parent_rows = parent.estimated_rows
        if parent_profile is not None and parent_profile.rows is not None:
            parent_rows = parent_profile.rows
        try:
            with failures_named(child.source, connections[child.source].engine, child.name):
                found.append(
                    relations.check_orphans(
                        relation, child, child_profile, parent, parent_rows, connections, queries
                    )
                )
        except IngestionError as error:
            log.error("%s: ids of %s not checked", error, relation.child)
            found.append(relation)
    return found
