"""A sync killed in each of dlt's phases loses nothing, and the run log says it died.

tests/ingestion/test_sync_failures.py kills syncs after fixed delays; here the kill waits
until dlt's working folder shows the chosen phase under way for the largest source, and
the folder left behind proves where the process died.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ingestion import synclog
from ingestion.demo import simulator
from ingestion.local_server import LocalServer
from tests.faults.harness import Demo, demo_databases, differences, duplicate_keys, sync_log

SOURCE = "grading"
# Small files make each phase handle many of them, so each lasts long enough to be seen.
SMALL_FILES = {"DATA_WRITER__FILE_MAX_ITEMS": "200"}
# Syncs started until one is killed in the phase. The committing window lasts a few
# milliseconds: on a busy CI runner four syncs once all missed it.
ATTEMPTS = 12


@pytest.fixture
def demo(server: LocalServer, admin_url: sa.URL, tmp_path: Path) -> Iterator[Demo]:
    with demo_databases(server, admin_url, tmp_path, scale=3_000) as made:
        yield made


def _packages(folder: Path, phase: str) -> list[Path]:
    """The load packages of the source's pipeline that are in `phase` right now.

    extract: dlt writes into normalize/<random>/<load id>, then moves it to
    normalize/extracted. normalize: it builds load/new/<load id>. committing: it has
    moved that to load/normalized and is deleting the extracted copy ("do not kill this
    process", dlt logs). load: jobs of load/normalized/<load id> have started.
    """
    root = folder / "dlt" / f"ingestion_{SOURCE}"
    try:
        if phase == "extract":
            return [
                package
                for holder in (root / "normalize").iterdir()
                if holder.is_dir() and holder.name != "extracted"
                for package in holder.iterdir()
            ]
        if phase == "normalize":
            return list((root / "load" / "new").iterdir())
        normalized = list((root / "load" / "normalized").iterdir())
        if phase == "committing":
            extracted = {package.name for package in (root / "normalize" / "extracted").iterdir()}
            return [package for package in normalized if package.name in extracted]
        return [
            package
            for package in normalized
            if any((package / "started_jobs").iterdir())
            or any((package / "completed_jobs").iterdir())
        ]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _kill_during(demo: Demo, phase: str) -> bool:
    """Start a sync and SIGKILL it once `phase` is under way; whether it died in it."""
    process = demo.cli("sync", **SMALL_FILES)
    try:
        while process.poll() is None and not _packages(demo.folder, phase):
            time.sleep(0.002)
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
    return process.returncode == -signal.SIGKILL and bool(_packages(demo.folder, phase))


@pytest.mark.parametrize("phase", ["extract", "normalize", "committing", "load"])
def test_sync_killed_in_a_phase_is_repaired_and_logged_by_the_next(demo: Demo, phase: str) -> None:
    code, _, stderr = demo.run("sync")
    assert code == 0, stderr[-2000:]
    for _ in range(ATTEMPTS):
        simulator.advance(demo.demo, hours=4)
        if _kill_during(demo, phase):
            break
    else:
        pytest.fail(f"no sync of {ATTEMPTS} was caught during {phase}")

    code, _, stderr = demo.run("sync")

    assert code == 0, stderr[-2000:]
    assert differences(demo) == []
    assert duplicate_keys(demo) == {}
    by_table: dict[str, list[str]] = {}
    for row in sync_log(demo):
        if row.source == SOURCE:
            by_table.setdefault(row.table_name, []).append(row.status)
    for table, statuses in by_table.items():
        assert statuses[0] == "ok", table
        assert statuses[-1] == "ok", table
        assert synclog.INTERRUPTED in statuses, table
        assert synclog.RUNNING not in statuses, table
