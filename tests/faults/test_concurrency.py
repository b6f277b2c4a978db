"""Two syncs of a source at once: the second stops with a clear message. Syncs during writes.

`make soak` runs the long version of the soak (tests/faults/soak.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ingestion.local_server import LocalServer
from tests.faults.harness import Demo, demo_databases, duplicate_keys
from tests.faults.soak import describe, soak

# Many small files: the sync that holds the lock holds it long enough.
SMALL_FILES = {"DATA_WRITER__FILE_MAX_ITEMS": "50"}


@pytest.fixture
def demo(server: LocalServer, admin_url: sa.URL, tmp_path: Path) -> Iterator[Demo]:
    with demo_databases(server, admin_url, tmp_path, scale=3_000) as made:
        yield made


def test_two_syncs_of_a_source_started_at_once_one_stops_with_a_clear_message(
    demo: Demo,
) -> None:
    both = [demo.cli("sync", "--source", "grading", **SMALL_FILES) for _ in range(2)]
    codes, errors = [], []
    for process in both:
        _, stderr = process.communicate(timeout=600)
        codes.append(process.returncode)
        errors.append(stderr)

    assert sorted(codes) == [0, 1], errors
    refused = errors[codes.index(1)].strip().splitlines()
    assert refused[-1] == "ingestion: source grading: another sync of it is running; try later"
    assert duplicate_keys(demo) == {}


def test_syncs_during_steady_writes_end_equal_to_the_sources(demo: Demo) -> None:
    result = soak(demo, seconds=20, max_syncs=20, pause_seconds=0.5)

    assert result.syncs >= 2, describe(result)
    assert result.late_commits >= 1, describe(result)
    assert result.rows_written > 0
    assert result.differences == [], describe(result)
    assert result.duplicate_keys == {}
    assert result.false_mismatches == 0, describe(result)
