"""Which tables the report calls stale: the dbt thresholds against the last successful sync."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingestion.report import freshness
from ingestion.report.dbt_docs import Threshold
from ingestion.report.marts import TableState

NOW = datetime(2026, 6, 2, 12, tzinfo=UTC)
DBT_DEFAULT = Threshold(warn_after=timedelta(hours=6), error_after=timedelta(hours=24))


def _synced(table: str, hours_ago: float | None, last_status: str = "ok") -> TableState:
    finished = NOW - timedelta(hours=hours_ago if hours_ago is not None else 1)
    ok_at = None if hours_ago is None else finished
    return TableState(
        source="vault",
        table_name=table,
        last_status=last_status,
        last_finished_at=finished,
        last_detail="",
        ok_finished_at=ok_at,
        ok_load_id="1" if ok_at else None,
        ok_rows_written=1 if ok_at else None,
    )


@pytest.mark.parametrize(
    ("hours_ago", "state"),
    [(5.9, freshness.FRESH), (6.5, freshness.WARN), (24.5, freshness.ERROR)],
)
def test_a_table_is_as_stale_as_its_last_successful_sync(hours_ago: float, state: str) -> None:
    found = freshness.evaluate(
        [_synced("vault_items", hours_ago)], {("vault", "vault_items"): DBT_DEFAULT}, NOW
    )

    assert [(table.name, table.state) for table in found] == [("vault.vault_items", state)]


def test_a_table_whose_syncs_all_failed_is_past_its_error_threshold() -> None:
    found = freshness.evaluate(
        [_synced("vault_items", None, last_status="failed")],
        {("vault", "vault_items"): DBT_DEFAULT},
        NOW,
    )

    assert [table.name for table in freshness.stale(found)] == ["vault.vault_items"]
    assert found[0].state == freshness.ERROR


def test_a_table_dbt_expects_but_no_sync_logged_is_stale() -> None:
    found = freshness.evaluate([], {("vault", "vault_items"): DBT_DEFAULT}, NOW)

    assert [(table.name, table.state, table.age) for table in found] == [
        ("vault.vault_items", freshness.ERROR, None)
    ]


def test_a_synced_table_without_thresholds_is_shown_but_never_stale() -> None:
    found = freshness.evaluate([_synced("archive", 500)], {}, NOW)

    assert [(table.name, table.state) for table in found] == [
        ("vault.archive", freshness.UNCHECKED)
    ]
    assert freshness.stale(found) == []
