"""`ingestion profile` on the demo databases finds every trap the simulator lays."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from ingestion.catalog import PACKAGED_CATALOG, load_catalog
from ingestion.demo import simulator
from ingestion.demo.simulator import DEMO_SOURCES, DemoDatabases
from ingestion.profile import outputs, profiler, report_markdown
from ingestion.profile.records import Finding, Profile
from ingestion.source_session import SessionLimits

GO_LIVE = datetime(2026, 6, 1, 16, tzinfo=UTC)
SCALE = 1500
# Past the day after go-live, when the vault's card JSON changes its keys.
HOURS = 36
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


@dataclass(frozen=True)
class Profiled:
    """A demo, its profile and the folder the outputs went to."""

    demo: DemoDatabases
    profile: Profile
    folder: Path

    def value(self, source: str, query: str) -> Any:  # noqa: ANN401 - any SQL value
        """One value from the demo database of `source`, read as the superuser."""
        return self.rows(source, query)[0][0]

    def rows(self, source: str, query: str) -> list[tuple[Any, ...]]:
        """Rows from the demo database of `source`, read as the superuser."""
        engine = sa.create_engine(self.demo.url(source), poolclass=NullPool)
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(sa.text(query))]
        finally:
            engine.dispose()

    def findings(self, kind: str, table: str | None = None) -> list[Finding]:
        """The findings of one kind (of one table, if given)."""
        return [f for f in self.profile.findings if f.kind == kind and table in (None, f.table)]


def run_profile(demo: DemoDatabases, sample_rows: int, timeout: float = 30.0) -> Profile:
    """Profile every demo source with the packaged catalog."""
    return profiler.run(
        profiler.ProfileRequest(
            catalog=load_catalog(PACKAGED_CATALOG),
            urls=demo.urls(),
            limits=SessionLimits(statement_timeout_seconds=timeout),
            sample_rows=sample_rows,
        )
    )


@pytest.fixture(scope="module")
def demo(admin_url: sa.URL) -> Iterator[DemoDatabases]:
    prefix = f"p{uuid.uuid4().hex[:10]}"
    databases = DemoDatabases(
        admin_url=admin_url, names={source: f"{prefix}_{source}" for source in DEMO_SOURCES}
    )
    simulator.init(databases, scale=SCALE, seed=3, go_live_at=GO_LIVE)
    simulator.advance(databases, hours=HOURS)
    yield databases
    simulator.drop(databases)


@pytest.fixture(scope="module")
def profiled(demo: DemoDatabases, tmp_path_factory: pytest.TempPathFactory) -> Profiled:
    profile = run_profile(demo, sample_rows=100_000)
    folder = tmp_path_factory.mktemp("profile")
    outputs.write(profile, folder)
    return Profiled(demo=demo, profile=profile, folder=folder)


def test_profile_reads_small_tables_whole_with_exact_counts(profiled: Profiled) -> None:
    for table in profiled.profile.tables:
        expected = profiled.value(table.source, f"select count(*) from {table.name}")  # noqa: S608
        assert (table.rows, table.sample_percent, table.error) == (expected, None, None)
        assert table.key_is_unique is True, table.qualified


def test_profile_finds_the_dummy_created_at_of_migrated_users(profiled: Profiled) -> None:
    dummies = profiled.value(
        "accounts", "select count(*) from users where created_at < '1901-01-01'"
    )
    [finding] = profiled.findings("dummy_date")
    assert (finding.table, finding.column, finding.count) == ("users", "created_at", dummies)
    assert dummies > 0
    assert "1900-01-01" in finding.message


def test_profile_finds_example_test_accounts_as_an_email_pattern(profiled: Profiled) -> None:
    tests = profiled.value(
        "accounts", "select count(*) from users where email like '%@example.test'"
    )
    [finding] = profiled.findings("test_email_domain")
    assert (finding.table, finding.column, finding.count) == ("users", "email", tests)
    assert "@example.test" in finding.message
    email = profiled.profile.table("accounts", "users").column("email")
    assert (email.logical_type, email.redacted, email.minimum, email.top_values) == (
        "email",
        True,
        None,
        (),
    )


def test_profile_reports_show_no_email_address(profiled: Profiled) -> None:
    for name in (outputs.REPORT_MARKDOWN, outputs.REPORT_HTML, outputs.PROFILE_JSON):
        text = (profiled.folder / name).read_text()
        assert not EMAIL.findall(text), name


def test_profile_decodes_the_status_codes_with_their_lookup_table(profiled: Profiled) -> None:
    codes = dict(profiled.rows("grading", "select code, name from submission_statuses"))
    used = {
        str(code)
        for (code,) in profiled.rows("grading", "select distinct status_code from submissions")
    }
    status = profiled.profile.table("grading", "submissions").column("status_code")
    assert status.logical_type == "categorical code"
    assert {item.value for item in status.top_values} == used
    coded = {(f.table, f.column): f for f in profiled.findings("coded_categorical")}
    finding = coded[("submissions", "status_code")]
    assert "grading.submission_statuses (code -> name; declared)" in finding.message
    for code in used:
        assert f"{code} {codes[int(code)]}" in finding.message
    # The changelog's codes have no foreign key: their lookup is found from the values.
    for column in ("from_status", "to_status"):
        assert "inferred from the values" in coded[("submission_status_events", column)].message


def test_profile_finds_the_drifting_json_keys_of_vault_cards(profiled: Profiled) -> None:
    [renamed] = profiled.findings("json_key_renamed", "vault_items")
    assert "'set' looks renamed to 'set_name'" in renamed.message
    [drift] = profiled.findings("json_key_drift", "vault_items")
    assert "'grade'" in drift.message and "'set_name'" in drift.message
    card = profiled.profile.table("vault", "vault_items").column("card")
    grades = {key.value_type: key.count for key in card.json.keys if key.key == "grade"}
    expected = dict(
        profiled.rows(
            "vault",
            "select jsonb_typeof(card -> 'grade'), count(*) from vault_items"
            " where card ? 'grade' group by 1",
        )
    )
    assert grades == expected
    assert set(grades) == {"number", "string"}
    [mixed] = profiled.findings("json_mixed_types", "vault_items")
    assert "'grade'" in mixed.message


def test_profile_finds_the_naive_local_timestamp(profiled: Profiled) -> None:
    naive = profiled.findings("naive_timestamp")
    assert [(f.table, f.column) for f in naive] == [("submissions", "submitted_at")]
    assert "behind UTC" in naive[0].message


def test_profile_counts_user_ids_that_match_no_user_across_databases(profiled: Profiled) -> None:
    users = {user_id for (user_id,) in profiled.rows("accounts", "select id from users")}
    referenced = {
        user_id
        for (user_id,) in profiled.rows("grading", "select distinct user_id from submissions")
    }
    orphans = referenced - users
    assert orphans, "the demo should have submissions of unknown users"
    relation = next(
        r
        for r in profiled.profile.relations
        if (r.child_table, r.child_columns) == ("submissions", ("user_id",))
    )
    assert (relation.parent_source, relation.parent_table, relation.parent_columns) == (
        "accounts",
        "users",
        ("id",),
    )
    assert (relation.checked_ids, relation.orphan_ids, relation.sampled) == (
        len(referenced),
        len(orphans),
        False,
    )
    [finding] = profiled.findings("orphan_ids")
    assert (finding.table, finding.column, finding.count) == (
        "submissions",
        "user_id",
        len(orphans),
    )


def test_profile_names_the_tables_without_updated_at(profiled: Profiled) -> None:
    tables = {f.table for f in profiled.findings("no_updated_at")}
    assert tables == {
        "collection_items",
        "service_levels",
        "submission_statuses",
        "submission_status_events",
    }
    [collection] = profiled.findings("no_updated_at", "collection_items")
    assert "re-read whole" in collection.message


def test_profile_writes_reports_json_and_an_er_docs_block(profiled: Profiled) -> None:
    html = (profiled.folder / outputs.REPORT_HTML).read_text()
    assert html.count("<svg") >= 2  # the ER diagram and monthly charts
    assert "<script" not in html
    assert not re.search(r"""(src|href)=["']?https?:""", html)
    markdown = (profiled.folder / outputs.REPORT_MARKDOWN).read_text()
    for finding in profiled.profile.findings:
        assert finding.message in markdown
    document = json.loads((profiled.folder / outputs.PROFILE_JSON).read_text())
    assert {t["name"] for t in document["tables"]} == {
        t for tables in simulator.DEMO_TABLES.values() for t in tables
    }
    assert document["longest_query"]["seconds"] <= document["statement_timeout_seconds"]
    docs = (profiled.folder / outputs.ER_DOCS).read_text()
    assert docs.startswith("{% docs sources_er_diagram %}")
    assert docs.rstrip().endswith("{% enddocs %}")
    assert "grading.submissions.user_id" in docs and "accounts.users (id)" in docs


def test_profile_samples_large_tables_and_says_so(demo: DemoDatabases) -> None:
    profile = run_profile(demo, sample_rows=300)
    users = profile.table("accounts", "users")
    assert users.sampled and users.rows is None
    assert 0 < users.rows_read < SCALE
    assert users.estimated_rows >= SCALE
    relation = next(r for r in profile.relations if r.child_table == "unified_accounts")
    assert relation.sampled and 0 < relation.checked_ids < SCALE
    statuses = profile.table("grading", "submission_statuses")
    assert not statuses.sampled and statuses.rows == 7
    assert "TABLESAMPLE SYSTEM sample of" in report_markdown.render(profile)
