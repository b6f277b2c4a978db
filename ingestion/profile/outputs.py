"""Write a profile's outputs into a folder, and merge its sources proposals into dbt."""

from __future__ import annotations

from pathlib import Path

from ingestion.errors import IngestionError
from ingestion.profile import (
    dbt_sources,
    er_diagram,
    merge,
    report_html,
    report_json,
    report_markdown,
)
from ingestion.profile.records import Profile

REPORT_MARKDOWN = "report.md"
REPORT_HTML = "report.html"
PROFILE_JSON = "profile.json"
ER_DOCS = "er_diagram.md"
SOURCES_FOLDER = "sources"


def write(profile: Profile, folder: Path) -> list[Path]:
    """The reports, the JSON, the ER docs block and a sources file per source."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        written = {
            folder / REPORT_MARKDOWN: report_markdown.render(profile),
            folder / REPORT_HTML: report_html.render(profile),
            folder / PROFILE_JSON: report_json.to_json(profile),
            folder / ER_DOCS: er_diagram.docs_block(profile),
        }
        for source in profile.sources:
            path = folder / SOURCES_FOLDER / source / dbt_sources.file_name(source)
            written[path] = dbt_sources.dump(dbt_sources.proposal(profile, source))
        for path, text in written.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    except OSError as error:
        raise IngestionError(f"cannot write the profile into {folder}: {error.strerror}") from None
    return list(written)


def merge_into(profile: Profile, folder: Path) -> dict[Path, list[str]]:
    """Merge each source's proposal into `folder`/<source>/_<source>__sources.yml."""
    changes = {}
    for source in profile.sources:
        path = folder / source / dbt_sources.file_name(source)
        changes[path] = merge.merge_file(path, dbt_sources.proposal(profile, source))
    return changes
