"""The records a profile is made of; plain values only, so that they serialise to JSON."""

from __future__ import annotations

from dataclasses import dataclass, field

# A statistic's value as it leaves the database: numbers, or text for dates and the rest.
Scalar = int | float | str | bool | None


@dataclass(frozen=True)
class ValueCount:
    """One value of a column (as text) and how many rows hold it."""

    value: str | None
    count: int


@dataclass(frozen=True)
class JsonKey:
    """One top-level key of a JSON column with one type of value, and when it was seen."""

    key: str
    value_type: str
    count: int
    first_seen: str | None = None
    last_seen: str | None = None


@dataclass(frozen=True)
class JsonShape:
    """What a JSON column holds: objects, arrays or scalars, and the keys of its objects."""

    objects: int
    arrays: int
    scalars: int
    empty_objects: int
    keys: tuple[JsonKey, ...] = ()


@dataclass(frozen=True)
class ColumnProfile:
    """One column: its types, how full and how varied it is, and its suspicious values.

    Counts are of the rows read (the sample, if the table was sampled). `redacted`
    columns (PII in the catalog, or email addresses) show no values, only patterns.
    """

    name: str
    data_type: str
    kind: str
    nullable: bool
    logical_type: str
    rows_read: int
    non_null: int
    distinct: int | None
    minimum: Scalar = None
    maximum: Scalar = None
    mean: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    min_length: int | None = None
    max_length: int | None = None
    empty_strings: int = 0
    blank_strings: int = 0
    placeholders: int = 0
    emails: int = 0
    digits_only: int = 0
    true_count: int | None = None
    dummy_dates: int = 0
    epoch_dates: int = 0
    far_future_dates: int = 0
    future_dates: int = 0
    outliers: int | None = None
    # A naive timestamp next to the table's main timestamp (UTC): how often it is
    # earlier and the lowest difference in hours, a hint of a local clock behind UTC.
    earlier_than_main: int | None = None
    lowest_hours_from_main: float | None = None
    top_values: tuple[ValueCount, ...] = ()
    email_domains: tuple[ValueCount, ...] = ()
    json: JsonShape | None = None
    redacted: bool = False

    @property
    def nulls(self) -> int:
        """Rows read that hold no value."""
        return self.rows_read - self.non_null


@dataclass(frozen=True)
class TableProfile:
    """One table: size, key, columns, main timestamp and its records per month.

    `rows` is exact when the whole table was read (`sample_percent` None); a sampled
    table has the planner's `estimated_rows` and `rows_read` from a TABLESAMPLE.
    """

    source: str
    schema: str
    name: str
    estimated_rows: int | None
    rows: int | None
    rows_read: int
    sample_percent: float | None
    primary_key: tuple[str, ...]
    key_is_unique: bool | None
    unique_key: tuple[str, ...] | None
    columns: tuple[ColumnProfile, ...]
    main_timestamp: str | None
    monthly: tuple[ValueCount, ...]
    has_updated_at: bool
    cursor: str | None
    accepted_values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unique_columns: tuple[str, ...] = ()
    pii_hashed: tuple[str, ...] = ()
    pii_dropped: tuple[str, ...] = ()
    pii_domains: tuple[str, ...] = ()
    error: str | None = None

    @property
    def qualified(self) -> str:
        """source.table, as the reports name it."""
        return f"{self.source}.{self.name}"

    @property
    def sampled(self) -> bool:
        """Whether the statistics come from a sample rather than the whole table."""
        return self.sample_percent is not None

    def column(self, name: str) -> ColumnProfile | None:
        """The profile of column `name`, if it was profiled."""
        return next((column for column in self.columns if column.name == name), None)


@dataclass(frozen=True)
class Relation:
    """A reference from child columns to a parent key: declared, or inferred.

    `kind` is "declared" (a foreign key constraint, enforced by the database),
    "inferred from the name" (`<entity>_id` to the `<entities>` table) or
    "inferred from the values" (codes that all are keys of a small lookup table).
    For inferred relations, `checked_ids` distinct child values were looked up in
    the parent and `orphan_ids` of them (held by `orphan_rows` rows) match nothing.
    """

    child_source: str
    child_table: str
    child_columns: tuple[str, ...]
    parent_source: str
    parent_table: str
    parent_columns: tuple[str, ...]
    kind: str
    checked_ids: int | None = None
    orphan_ids: int | None = None
    orphan_rows: int | None = None
    sampled: bool = False
    orphan_examples: tuple[str, ...] = ()

    @property
    def is_cross_source(self) -> bool:
        """Whether the relation joins two source databases (nothing can enforce it)."""
        return self.child_source != self.parent_source

    @property
    def child(self) -> str:
        """source.table.column of the child side."""
        return f"{self.child_source}.{self.child_table}.{', '.join(self.child_columns)}"

    @property
    def parent(self) -> str:
        """source.table.column of the parent side."""
        return f"{self.parent_source}.{self.parent_table}.{', '.join(self.parent_columns)}"


@dataclass(frozen=True)
class Lookup:
    """A small table that decodes codes: its key and a label for each key value."""

    source: str
    table: str
    key: str
    label_column: str | None
    labels: dict[str, str]


@dataclass(frozen=True)
class Finding:
    """Something a person modelling the source should know, with where it is."""

    kind: str
    source: str
    table: str
    column: str | None
    message: str
    count: int | None = None


@dataclass(frozen=True)
class QueryTiming:
    """How long one profiling query ran on a source."""

    source: str
    table: str
    label: str
    seconds: float


@dataclass(frozen=True)
class Profile:
    """Everything one `ingestion profile` run learned."""

    generated_at: str
    sources: tuple[str, ...]
    tables: tuple[TableProfile, ...]
    relations: tuple[Relation, ...]
    lookups: tuple[Lookup, ...]
    findings: tuple[Finding, ...]
    queries: tuple[QueryTiming, ...]
    statement_timeout_seconds: float
    sample_rows: int

    def table(self, source: str, name: str) -> TableProfile | None:
        """The profile of table `name` of `source`, if it was profiled."""
        return next((t for t in self.tables if t.source == source and t.name == name), None)

    @property
    def longest_query(self) -> QueryTiming | None:
        """The slowest query of the run."""
        return max(self.queries, key=lambda timing: timing.seconds, default=None)
