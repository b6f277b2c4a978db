"""Profiling tables the demo does not have: no primary key, placeholders, odd dates, and a
table whose queries run past the statement timeout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from ingestion.catalog import load_catalog
from ingestion.profile import profiler
from ingestion.profile.records import Profile
from ingestion.source_session import SessionLimits
from tests.helpers import run_cli

TABLES = """
create table readings (
    sensor_code text not null,
    reading_day date not null,
    is_valid integer not null,
    note text,
    recorded_at timestamptz,
    amount numeric(10, 2)
);
insert into readings
select
    sensor,
    date '2026-03-01' + day,
    (day % 2),
    case day
        when 0 then ''
        when 1 then '   '
        when 2 then 'N/A'
        when 3 then 'Unknown'
        else 'checked by ' || sensor
    end,
    case
        when sensor = 'a' and day = 0 then timestamptz '1970-01-01 00:00:00+00'
        when sensor = 'a' and day = 1 then timestamptz '2999-12-31 00:00:00+00'
        when sensor = 'a' and day = 2 then now() + interval '30 days'
        when sensor = 'b' then null
        else timestamptz '2026-03-01 12:00:00+00' + day * interval '1 day'
    end,
    case when sensor = 'c' and day = 9 then 100000 else 10 + day % 3 end
from unnest(array['a', 'b', 'c']) as sensor
cross join generate_series(0, 9) as day;
create table locked (id integer primary key, label text not null);
insert into locked select g, 'row ' || g from generate_series(1, 100) as g;
analyze;
"""
CATALOG = "sources:\n  odd:\n    schema: public\n"


@pytest.fixture
def odd(admin_url: sa.URL, fresh_database: str, tmp_path: Path) -> Iterator[sa.URL]:
    """A database with the odd tables, and a catalog file naming it as source `odd`."""
    url = admin_url.set(database=fresh_database)
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        connection.connection.cursor().execute(TABLES)
    engine.dispose()
    (tmp_path / "catalog.yml").write_text(CATALOG)
    yield url


def _profile(url: sa.URL, catalog: Path, timeout: float = 30.0) -> Profile:
    return profiler.run(
        profiler.ProfileRequest(
            catalog=load_catalog(catalog),
            urls={"odd": url},
            limits=SessionLimits(statement_timeout_seconds=timeout),
            sample_rows=100_000,
        )
    )


class _Lock:
    """Holds an ACCESS EXCLUSIVE lock on a table in another session, as DDL would."""

    def __init__(self, url: sa.URL, table: str) -> None:
        self.engine = sa.create_engine(url, poolclass=NullPool)
        self.connection = self.engine.connect()
        self.connection.exec_driver_sql(f"lock table {table} in access exclusive mode")

    def release(self) -> None:
        self.connection.rollback()
        self.connection.close()
        self.engine.dispose()


def _kinds(profile: Profile, column: str) -> set[str]:
    return {f.kind for f in profile.findings if f.column == column}


def test_profile_finds_the_smallest_unique_columns_of_a_table_without_key(
    odd: sa.URL, tmp_path: Path
) -> None:
    profile = _profile(odd, tmp_path / "catalog.yml")

    readings = profile.table("odd", "readings")
    assert readings.primary_key == ()
    assert set(readings.unique_key) == {"sensor_code", "reading_day"}
    [finding] = [f for f in profile.findings if f.kind == "no_primary_key"]
    assert "reading_day" in finding.message and "sensor_code" in finding.message


def test_profile_flags_placeholders_odd_dates_outliers_and_integer_booleans(
    odd: sa.URL, tmp_path: Path
) -> None:
    profile = _profile(odd, tmp_path / "catalog.yml")

    readings = profile.table("odd", "readings")
    assert readings.column("is_valid").logical_type == "boolean stored as integer"
    assert readings.column("sensor_code").logical_type == "categorical"
    note = readings.column("note")
    assert (note.empty_strings, note.blank_strings, note.placeholders) == (3, 3, 6)
    assert _kinds(profile, "note") == {"empty_string", "placeholder_text"}
    recorded = readings.column("recorded_at")
    assert (recorded.epoch_dates, recorded.far_future_dates, recorded.future_dates) == (1, 1, 1)
    assert _kinds(profile, "recorded_at") == {"dummy_date", "future_date"}
    assert readings.column("amount").outliers == 1
    assert "numeric_outliers" in _kinds(profile, "amount")


def test_a_table_past_the_statement_timeout_is_reported_and_the_rest_profiled(
    odd: sa.URL, tmp_path: Path
) -> None:
    lock = _Lock(odd, "locked")
    try:
        profile = _profile(odd, tmp_path / "catalog.yml", timeout=0.5)
    finally:
        lock.release()

    locked = profile.table("odd", "locked")
    assert "canceling statement due to statement timeout" in locked.error
    assert "table locked" in locked.error
    assert [f.table for f in profile.findings if f.kind == "not_profiled"] == ["locked"]
    assert profile.table("odd", "readings").error is None
    assert [column.name for column in locked.columns] == ["id", "label"]


def test_cli_profile_exits_non_zero_naming_the_table_it_could_not_profile(
    odd: sa.URL, tmp_path: Path
) -> None:
    lock = _Lock(odd, "locked")
    try:
        result = run_cli(
            "profile",
            "--output",
            str(tmp_path / "out"),
            cwd=tmp_path,
            CATALOG_PATH=str(tmp_path / "catalog.yml"),
            SOURCE_ODD_URL=odd.render_as_string(hide_password=False),
            PROFILE_STATEMENT_TIMEOUT_SECONDS="0.5",
        )
    finally:
        lock.release()

    assert result.returncode == 1, result.stderr
    assert "ingestion: not profiled: odd.locked" in result.stderr
    assert (tmp_path / "out" / "report.html").is_file()
    assert "no_primary_key odd.readings" in result.stdout


def test_cli_profile_table_needs_one_source(tmp_path: Path) -> None:
    result = run_cli("profile", "--table", "readings", cwd=tmp_path)

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "ingestion: --table needs exactly one --source: name the database it is in"
    )
