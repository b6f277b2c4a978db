"""Write the launch report: read the dbt docs and the marts, render, write one HTML file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ingestion import settings
from ingestion.report import dbt_docs, freshness, marts, page

DEFAULT_OUTPUT = Path(".local") / "report" / "launch_report.html"
DEFAULT_MANIFEST = Path("dbt_project") / "target" / "manifest.json"


@dataclass(frozen=True)
class Written:
    """What `write` produced: the file, the latest day it shows, the stale tables."""

    path: Path
    latest_day: date | None
    stale_tables: tuple[str, ...]


def write(output: Path = DEFAULT_OUTPUT, manifest: Path = DEFAULT_MANIFEST) -> Written:
    """Write the report of the warehouse's marts to `output`; returns what it wrote."""
    docs = dbt_docs.load(manifest)
    data = marts.read(settings.warehouse(), docs)
    context = page.PageContext(
        go_live_at=settings.go_live_at(), warehouse=settings.warehouse().database
    )
    html = page.render(data, docs, context)
    output.parent.mkdir(parents=True, exist_ok=True)
    draft = output.with_name(f".{output.name}.tmp")
    draft.write_text(html, encoding="utf-8")
    draft.replace(output)
    stale = freshness.stale(freshness.evaluate(data.tables, docs.thresholds, data.read_at))
    return Written(
        path=output.absolute(),
        latest_day=data.daily[-1].period if data.daily else None,
        stale_tables=tuple(table.name for table in stale),
    )
