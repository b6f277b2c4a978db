"""What to replicate and how: TableSpec records resolved from catalog.yml and the source.

`load_catalog` reads and checks the YAML file (the packaged `catalog.yml`, or the file
CATALOG_PATH names). `resolve` lists one source's tables through SQLAlchemy's inspector
and fills in what the file leaves out from the database itself: columns, primary keys
from constraints, `updated_at` as the cursor where it exists.
"""

from __future__ import annotations

import enum
import fnmatch
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, cast

import sqlalchemy as sa
import yaml
from sqlalchemy import Connection, Engine

from ingestion import settings
from ingestion.errors import IngestionError
from ingestion.source_session import failures_named

PiiAction = Literal["hash", "drop"]
PII_ACTIONS: tuple[PiiAction, ...] = ("hash", "drop")
PACKAGED_CATALOG = Path(__file__).with_name("catalog.yml")
DEFAULT_CURSOR = "updated_at"
DOMAIN_SUFFIX = "_domain"
# A source name becomes SOURCE_<NAME>_URL and the warehouse schema raw_<name>.
SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
GLOB_CHARACTERS = frozenset("*?[")
_PARTITIONS = sa.text(
    "select pg_class.relname from pg_catalog.pg_class"
    " inner join pg_catalog.pg_namespace on pg_namespace.oid = pg_class.relnamespace"
    " where pg_namespace.nspname = :schema and pg_class.relispartition"
)


@dataclass(frozen=True)
class TableSpec:
    """One source table, resolved against the source database.

    `cursor` None means the table is fully re-read and merged on `primary_key` each sync.
    `pii` maps a column to `hash` (salted SHA-256) or `drop` (never read into the
    warehouse). `email_domains` lists hashed columns whose text after the last "@" also
    lands, in clear, in a companion column named `<column>_domain` (see `domain_columns`),
    so that analytics can still tell test accounts (`@example.test`) apart.
    """

    source: str
    schema: str
    name: str
    columns: tuple[str, ...]
    primary_key: tuple[str, ...]
    cursor: str | None
    pii: Mapping[str, PiiAction] = field(default_factory=dict)
    detect_deletes: bool = True
    lookback: timedelta = timedelta(minutes=15)
    email_domains: tuple[str, ...] = ()
    # One integer column as the key: deletes and standby reads can work by key range.
    has_integer_key: bool = False
    # The key is the table's primary key constraint. A key set only in the catalog can
    # hold NULLs and duplicates, which the sync quarantines (see quarantine).
    key_enforced: bool = True

    @property
    def dataset(self) -> str:
        """The warehouse schema this table lands in."""
        return f"raw_{self.source}"

    @property
    def replicated_columns(self) -> tuple[str, ...]:
        """The source columns that reach the warehouse (dropped PII left out)."""
        return tuple(c for c in self.columns if self.pii.get(c) != "drop")

    @property
    def domain_columns(self) -> dict[str, str]:
        """Each column of `email_domains` and the companion column that keeps its domain."""
        return {column: f"{column}{DOMAIN_SUFFIX}" for column in self.email_domains}


class FromSource(enum.Enum):
    """Marks a setting the catalog leaves to the database (such as the cursor)."""

    FROM_SOURCE = "from the source"


FROM_SOURCE = FromSource.FROM_SOURCE


@dataclass(frozen=True)
class PiiRule:
    """How one PII column is protected; `keep_domain` only goes with `hash`."""

    action: PiiAction
    keep_domain: bool = False


@dataclass(frozen=True)
class TableOverride:
    """What catalog.yml says about one table; unset parts come from the database."""

    primary_key: tuple[str, ...] | None = None
    cursor: str | FromSource | None = FROM_SOURCE
    pii: Mapping[str, PiiRule] = field(default_factory=dict)
    detect_deletes: bool = True


@dataclass(frozen=True)
class SourceConfig:
    """One source database: its schema, which tables to take and per-table overrides."""

    name: str
    schema: str = "public"
    tables: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    overrides: Mapping[str, TableOverride] = field(default_factory=dict)


@dataclass(frozen=True)
class Catalog:
    """The whole catalog file, checked for shape but not yet against any database."""

    path: Path
    lookback: timedelta
    max_connections: int
    sources: Mapping[str, SourceConfig]


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and check a catalog file: `path`, else CATALOG_PATH, else the packaged one."""
    chosen = path or settings.catalog_path() or PACKAGED_CATALOG
    try:
        text = chosen.read_text()
    except OSError as error:
        raise IngestionError(f"catalog {chosen} cannot be read: {error.strerror}") from None
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as error:
        line = error.problem_mark.line + 1 if error.problem_mark else "?"
        raise IngestionError(
            f"catalog {chosen}: invalid YAML at line {line}: {error.problem}"
        ) from None
    except yaml.YAMLError as error:
        raise IngestionError(f"catalog {chosen}: invalid YAML: {error}") from None
    return _catalog(_Place(chosen, ""), document)


def source_names(catalog: Catalog) -> tuple[str, ...]:
    """The names of the catalog's sources, in the file's order."""
    return tuple(catalog.sources)


def resolve(
    catalog: Catalog, source: str, engine: Engine, tables: Sequence[str] | None = None
) -> list[TableSpec]:
    """The TableSpecs of `source` (only those matching `tables`, names or globs, if given)."""
    config = _source_config(catalog, source)
    with failures_named(source, engine), engine.connect() as connection:
        inspector = sa.inspect(connection)
        selected = _selected_in(catalog, config, connection)
        columns = inspector.get_multi_columns(schema=config.schema, filter_names=selected)
        keys = inspector.get_multi_pk_constraint(schema=config.schema, filter_names=selected)
    names = {table: tuple(c["name"] for c in columns[(config.schema, table)]) for table in selected}
    integers = {
        table: {
            c["name"] for c in columns[(config.schema, table)] if isinstance(c["type"], sa.Integer)
        }
        for table in selected
    }
    for table, override in config.overrides.items():
        _check_columns(catalog, config, table, override, names[table])
    chosen = selected if tables is None else _filtered(source, selected, tables)
    return [
        _spec(
            catalog,
            config,
            table,
            names[table],
            tuple(keys[(config.schema, table)]["constrained_columns"]),
            integers[table],
        )
        for table in chosen
    ]


def selected_tables(catalog: Catalog, source: str, engine: Engine) -> list[str]:
    """The names of the tables the catalog takes from `source`, sorted."""
    config = _source_config(catalog, source)
    with failures_named(source, engine), engine.connect() as connection:
        return _selected_in(catalog, config, connection)


def source_tables(catalog: Catalog, source: str, engine: Engine) -> list[str]:
    """Every table of the source's schema, selected or not (partitions left out), sorted."""
    config = _source_config(catalog, source)
    with failures_named(source, engine), engine.connect() as connection:
        partitions = _partitions(connection, config.schema)
        names = sa.inspect(connection).get_table_names(schema=config.schema)
    return sorted(set(names) - partitions)


def _source_config(catalog: Catalog, source: str) -> SourceConfig:
    if source not in catalog.sources:
        known = ", ".join(catalog.sources)
        raise IngestionError(f"source {source} is not in catalog {catalog.path} (known: {known})")
    return catalog.sources[source]


def _selected_in(catalog: Catalog, config: SourceConfig, connection: Connection) -> list[str]:
    inspector = sa.inspect(connection)
    if not inspector.has_schema(config.schema):
        raise IngestionError(
            f"source {config.name}: schema {config.schema} (sources.{config.name}.schema in"
            f" catalog {catalog.path}) does not exist"
        )
    partitions = _partitions(connection, config.schema)
    existing = sorted(set(inspector.get_table_names(schema=config.schema)) - partitions)
    return _selected(catalog, config, existing, partitions)


# --- reading the file -------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a key given twice in one mapping."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, Hashable):
            continue  # construct_mapping below reports it
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass(frozen=True)
class _Place:
    """Where in the catalog file a value sits, for error messages."""

    path: Path
    key: str

    def child(self, name: object) -> _Place:
        return _Place(self.path, f"{self.key}.{name}" if self.key else str(name))

    def error(self, problem: str) -> IngestionError:
        where = f"{self.key}: " if self.key else ""
        return IngestionError(f"catalog {self.path}: {where}{problem}")


def _mapping(place: _Place, value: object, allowed: Sequence[str] | None) -> dict[str, object]:
    if not isinstance(value, dict):
        raise place.error(f"expected a mapping, not {_kind(value)}")
    for key in value:
        if not isinstance(key, str):
            raise place.error(f"key {key!r} must be text (quote it)")
        if allowed is not None and key not in allowed:
            raise place.child(key).error(f"unknown key (expected one of {', '.join(allowed)})")
    return cast(dict[str, object], value)


def _text(place: _Place, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise place.error(f"expected non-empty text, not {_kind(value)}")
    return value


def _texts(place: _Place, value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise place.error(f"expected a list, not {_kind(value)}")
    return tuple(_text(place.child(index), item) for index, item in enumerate(value))


def _flag(place: _Place, value: object) -> bool:
    if not isinstance(value, bool):
        raise place.error(f"expected true or false, not {_kind(value)}")
    return value


def _whole(place: _Place, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise place.error(f"expected a whole number of at least {minimum}, not {value!r}")
    return value


def _kind(value: object) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"


def _catalog(place: _Place, document: object) -> Catalog:
    top = _mapping(place, document, ("lookback_minutes", "max_connections", "sources"))
    if "sources" not in top:
        raise place.error("no `sources:` mapping")
    sources = _mapping(place.child("sources"), top["sources"], None)
    if not sources:
        raise place.child("sources").error("names no source")
    return Catalog(
        path=place.path,
        lookback=timedelta(
            minutes=_whole(place.child("lookback_minutes"), top.get("lookback_minutes", 15), 0)
        ),
        max_connections=_whole(place.child("max_connections"), top.get("max_connections", 4), 1),
        sources={
            name: _source(place.child("sources").child(name), name, value)
            for name, value in sources.items()
        },
    )


def _source(place: _Place, name: str, value: object) -> SourceConfig:
    if not SOURCE_NAME.match(name):
        raise place.error(
            "a source name is lowercase letters, digits and _, starting with a letter"
        )
    # A source or table given with no settings (`vault:`) takes every default.
    config = _mapping(
        place, {} if value is None else value, ("schema", "tables", "exclude", "overrides")
    )
    overrides = _mapping(place.child("overrides"), config.get("overrides", {}), None)
    return SourceConfig(
        name=name,
        schema=_text(place.child("schema"), config.get("schema", "public")),
        tables=_texts(place.child("tables"), config.get("tables", ["*"])),
        exclude=_texts(place.child("exclude"), config.get("exclude", [])),
        overrides={
            table: _override(place.child("overrides").child(table), value)
            for table, value in overrides.items()
        },
    )


def _override(place: _Place, value: object) -> TableOverride:
    override = _mapping(
        place, {} if value is None else value, ("primary_key", "cursor", "pii", "detect_deletes")
    )
    primary_key = None
    if "primary_key" in override:
        primary_key = _texts(place.child("primary_key"), override["primary_key"])
        if not primary_key:
            raise place.child("primary_key").error("names no column")
    cursor: str | FromSource | None = FROM_SOURCE
    if "cursor" in override:
        raw = override["cursor"]
        cursor = None if raw is None else _text(place.child("cursor"), raw)
    pii = _mapping(place.child("pii"), override.get("pii", {}), None)
    return TableOverride(
        primary_key=primary_key,
        cursor=cursor,
        pii={
            column: _pii_rule(place.child("pii").child(column), rule)
            for column, rule in pii.items()
        },
        detect_deletes=_flag(place.child("detect_deletes"), override.get("detect_deletes", True)),
    )


def _pii_rule(place: _Place, value: object) -> PiiRule:
    rule = (
        _mapping(place, value, ("action", "keep_domain"))
        if isinstance(value, dict)
        else {"action": value}
    )
    action = rule.get("action")
    if action not in PII_ACTIONS:
        raise place.error(f"unknown PII action {action!r} (expected hash or drop)")
    keep_domain = _flag(place.child("keep_domain"), rule.get("keep_domain", False))
    if keep_domain and action != "hash":
        raise place.child("keep_domain").error("only a hashed column can keep its domain")
    return PiiRule(action=cast(PiiAction, action), keep_domain=keep_domain)


# --- resolving against the database -----------------------------------------------------


def _partitions(connection: Connection, schema: str) -> set[str]:
    """PostgreSQL partitions in `schema`: their parent is replicated instead."""
    if connection.dialect.name != "postgresql":
        return set()
    return set(connection.execute(_PARTITIONS, {"schema": schema}).scalars())


def _selected(
    catalog: Catalog, config: SourceConfig, existing: list[str], partitions: set[str]
) -> list[str]:
    """The tables the catalog takes: any `tables` pattern, no `exclude` pattern."""
    for key, patterns in (("tables", config.tables), ("exclude", config.exclude)):
        for pattern in patterns:
            if GLOB_CHARACTERS.isdisjoint(pattern) and pattern not in existing:
                raise _missing(catalog, config, pattern, f"sources.{config.name}.{key}", partitions)
    selected = [
        table
        for table in existing
        if any(fnmatch.fnmatchcase(table, p) for p in config.tables)
        and not any(fnmatch.fnmatchcase(table, p) for p in config.exclude)
    ]
    for table in config.overrides:
        key = f"sources.{config.name}.overrides.{table}"
        if table not in existing:
            raise _missing(catalog, config, table, key, partitions)
        if table not in selected:
            raise IngestionError(
                f"source {config.name}, table {table}: {key} in catalog {catalog.path}"
                " is for a table that `tables`/`exclude` leave out"
            )
    if not selected:
        raise IngestionError(
            f"source {config.name}: catalog {catalog.path} selects no table"
            f" in schema {config.schema}"
        )
    return selected


def _missing(
    catalog: Catalog, config: SourceConfig, table: str, key: str, partitions: set[str]
) -> IngestionError:
    problem = (
        "is a partition; its partitioned parent is replicated instead"
        if table in partitions
        else f"does not exist in schema {config.schema}"
    )
    return IngestionError(
        f"source {config.name}, table {table} ({key} in catalog {catalog.path}) {problem}"
    )


def _check_columns(
    catalog: Catalog,
    config: SourceConfig,
    table: str,
    override: TableOverride,
    columns: tuple[str, ...],
) -> None:
    """Every column an override names exists in the table."""
    key = f"sources.{config.name}.overrides.{table}"
    named = [("primary_key", column) for column in override.primary_key or ()]
    if isinstance(override.cursor, str):
        named.append(("cursor", override.cursor))
    named += [("pii", column) for column in override.pii]
    for part, column in named:
        if column not in columns:
            raise IngestionError(
                f"source {config.name}, table {table}: column {column}"
                f" ({key}.{part} in catalog {catalog.path}) does not exist"
            )


def _filtered(source: str, selected: list[str], patterns: Sequence[str]) -> list[str]:
    """The selected tables that match any of `patterns` (from `ingestion sync --table`)."""
    for pattern in patterns:
        if not fnmatch.filter(selected, pattern):
            raise IngestionError(
                f"source {source}: no replicated table matches {pattern}"
                f" (replicated: {', '.join(selected)})"
            )
    return [table for table in selected if any(fnmatch.fnmatchcase(table, p) for p in patterns)]


def _spec(
    catalog: Catalog,
    config: SourceConfig,
    table: str,
    columns: tuple[str, ...],
    constraint_key: tuple[str, ...],
    integer_columns: set[str],
) -> TableSpec:
    override = config.overrides.get(table, TableOverride())
    primary_key = override.primary_key or constraint_key
    if not primary_key:
        raise IngestionError(
            f"source {config.name}, table {table}: has no primary key; set"
            f" sources.{config.name}.overrides.{table}.primary_key in catalog {catalog.path}"
        )
    cursor = override.cursor
    if cursor is FROM_SOURCE:
        cursor = DEFAULT_CURSOR if DEFAULT_CURSOR in columns else None
    for column in override.pii:
        if column in primary_key or column == cursor:
            raise IngestionError(
                f"source {config.name}, table {table}: column {column} is the primary key or"
                f" the cursor and cannot be PII (sources.{config.name}.overrides.{table}.pii"
                f" in catalog {catalog.path})"
            )
    return TableSpec(
        source=config.name,
        schema=config.schema,
        name=table,
        columns=columns,
        primary_key=primary_key,
        cursor=cursor,
        pii={column: rule.action for column, rule in override.pii.items()},
        detect_deletes=override.detect_deletes,
        lookback=catalog.lookback,
        email_domains=tuple(column for column, rule in override.pii.items() if rule.keep_domain),
        has_integer_key=len(primary_key) == 1 and primary_key[0] in integer_columns,
        key_enforced=bool(constraint_key) and set(primary_key) == set(constraint_key),
    )
