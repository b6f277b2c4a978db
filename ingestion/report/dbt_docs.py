"""What the report takes from dbt's manifest, so that it is written once, in the dbt project.

The marts' relations, the metric definitions (the column descriptions of fct_launch_daily,
rendered from their docs blocks), the metric contract (docs block `launch_metrics`), the
report's exposure, and the sources' freshness thresholds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from ingestion.errors import IngestionError

DAILY_MODEL = "fct_launch_daily"
HOURLY_MODEL = "fct_launch_hourly"
STATUS_HISTORY_MODEL = "fct_status_history"
TIME_IN_STATUS_MODEL = "fct_time_in_status"
MODELS = (DAILY_MODEL, HOURLY_MODEL, STATUS_HISTORY_MODEL, TIME_IN_STATUS_MODEL)
CONTRACT_DOC = "launch_metrics"
EXPOSURE = "launch_report"
# dlt's bookkeeping tables: every sync writes them, and the tables they stand for are
# checked one by one through the sync log.
DLT_TABLE_PREFIX = "_dlt_"
PERIODS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


@dataclass(frozen=True)
class Relation:
    """A table in the warehouse."""

    schema: str
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Threshold:
    """A source table's freshness thresholds; None where dbt sets none."""

    warn_after: timedelta | None
    error_after: timedelta | None


@dataclass(frozen=True)
class ReportDocs:
    """Everything the report reads from the dbt project."""

    relations: dict[str, Relation]
    metric_definitions: dict[str, str]
    time_in_status_definitions: dict[str, str]
    contract: str
    purpose: str
    thresholds: dict[tuple[str, str], Threshold]
    dbt_version: str


def load(path: Path) -> ReportDocs:
    """Read the report's relations, definitions and thresholds from dbt's manifest.json."""
    if not path.is_file():
        raise IngestionError(
            f"no dbt manifest at {path}: run `make build` (or `ingestion dbt parse`) first"
        )
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise IngestionError(f"{path} is not dbt's manifest JSON: run `make build`") from None
    models = {name: _model(manifest, name, path) for name in MODELS}
    return ReportDocs(
        relations={
            name: Relation(schema=node["schema"], name=node.get("alias") or node["name"])
            for name, node in models.items()
        },
        metric_definitions=_column_descriptions(models[DAILY_MODEL]),
        time_in_status_definitions=_column_descriptions(models[TIME_IN_STATUS_MODEL]),
        contract=_doc_block(manifest, CONTRACT_DOC, path),
        purpose=_exposure_description(manifest),
        thresholds=_thresholds(manifest),
        dbt_version=str(manifest.get("metadata", {}).get("dbt_version", "")),
    )


def _model(manifest: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    found = [
        node
        for node in manifest.get("nodes", {}).values()
        if node.get("resource_type") == "model" and node.get("name") == name
    ]
    if len(found) != 1:
        raise IngestionError(f"dbt model {name} is not in {path}: run `make build`")
    return found[0]


def _column_descriptions(node: dict[str, Any]) -> dict[str, str]:
    return {
        name: " ".join(column.get("description", "").split())
        for name, column in node.get("columns", {}).items()
    }


def _doc_block(manifest: dict[str, Any], name: str, path: Path) -> str:
    for doc in manifest.get("docs", {}).values():
        if doc.get("name") == name:
            return " ".join(doc.get("block_contents", "").split())
    raise IngestionError(f"dbt docs block {name} is not in {path}: run `make build`")


def _exposure_description(manifest: dict[str, Any]) -> str:
    for exposure in manifest.get("exposures", {}).values():
        if exposure.get("name") == EXPOSURE:
            return " ".join(exposure.get("description", "").split())
    return ""


def _thresholds(manifest: dict[str, Any]) -> dict[tuple[str, str], Threshold]:
    found = {}
    for source in manifest.get("sources", {}).values():
        if source.get("name", "").startswith(DLT_TABLE_PREFIX):
            continue
        freshness = source.get("config", {}).get("freshness") or source.get("freshness") or {}
        threshold = Threshold(
            warn_after=_duration(freshness.get("warn_after")),
            error_after=_duration(freshness.get("error_after")),
        )
        if threshold.warn_after or threshold.error_after:
            found[(source["source_name"], source["name"])] = threshold
    return found


def _duration(rule: dict[str, Any] | None) -> timedelta | None:
    if not rule or not rule.get("count") or rule.get("period") not in PERIODS:
        return None
    return rule["count"] * PERIODS[rule["period"]]
