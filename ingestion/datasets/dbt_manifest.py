"""What the dbt project says about a model: its relation, key, upstream sources, version.

Reads dbt's own artifact, `dbt_project/target/manifest.json`, and runs `dbt parse` to
write it when it is missing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingestion import dbt_runner
from ingestion.errors import IngestionError

log = logging.getLogger(__name__)

MANIFEST_PATH = Path(dbt_runner.PROJECT_FOLDER) / "target" / "manifest.json"
RELATION_TYPES = ("model", "snapshot", "seed")
UNIQUE_TESTS = ("unique", "unique_combination_of_columns")


@dataclass(frozen=True)
class Relation:
    """A table or view in the warehouse."""

    schema: str
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class DbtProject:
    """A parsed dbt project: its manifest, the manifest's hash, and the git commit."""

    manifest: dict[str, Any]
    manifest_sha256: str
    git_commit: str | None
    git_dirty: bool | None


def _git(folder: Path, *arguments: str) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    # Fixed arguments, no shell.
    done = subprocess.run(  # noqa: S603
        [git, "-C", str(folder), *arguments], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else None


def load(root: Path, parse_if_missing: bool = True) -> DbtProject | None:
    """The dbt project under root; None if it has no manifest and parse_if_missing is off."""
    path = root / MANIFEST_PATH
    if not path.is_file():
        if not parse_if_missing:
            return None
        log.info("no %s: running dbt parse", MANIFEST_PATH)
        code = dbt_runner.run("dbt", ["parse", "--quiet"], root)
        if code != 0 or not path.is_file():
            raise IngestionError(
                f"dbt parse failed (exit {code}) and wrote no {MANIFEST_PATH}:"
                " run `ingestion dbt parse` to see why"
            )
    raw = path.read_bytes()
    try:
        manifest = json.loads(raw)
    except json.JSONDecodeError:
        raise IngestionError(f"{MANIFEST_PATH} is not JSON: run `ingestion dbt parse`") from None
    project = root / dbt_runner.PROJECT_FOLDER
    commit = _git(project, "rev-parse", "HEAD")
    status = _git(project, "status", "--porcelain", "--", ".") if commit else None
    return DbtProject(
        manifest=manifest,
        manifest_sha256=hashlib.sha256(raw).hexdigest(),
        git_commit=commit,
        git_dirty=None if status is None else bool(status),
    )


def model_id(project: DbtProject, model: str) -> str:
    """The unique id of a model given by name (or by its unique id)."""
    nodes = project.manifest.get("nodes", {})
    if model in nodes and nodes[model].get("resource_type") == "model":
        return model
    found = sorted(
        unique_id
        for unique_id, node in nodes.items()
        if node.get("resource_type") == "model" and node.get("name") == model
    )
    if not found:
        raise IngestionError(
            f"dbt model {model!r} is not in {MANIFEST_PATH}: check the name, or run"
            " `ingestion dbt parse` if it is new"
        )
    if len(found) > 1:
        raise IngestionError(f"dbt model {model!r} is ambiguous: use one of {', '.join(found)}")
    if nodes[found[0]].get("config", {}).get("materialized") == "ephemeral":
        raise IngestionError(f"dbt model {model!r} is ephemeral: it has no relation to export")
    return found[0]


def relation(project: DbtProject, unique_id: str) -> Relation:
    """The warehouse relation a model, snapshot, seed or source is built as."""
    node = project.manifest.get("nodes", {}).get(unique_id) or project.manifest.get(
        "sources", {}
    ).get(unique_id)
    if node is None:
        raise IngestionError(f"{unique_id} is not in {MANIFEST_PATH}")
    name = node.get("identifier") if node.get("resource_type") == "source" else node.get("alias")
    return Relation(schema=node["schema"], name=name or node["name"])


def _relation_ids(project: DbtProject) -> dict[Relation, str]:
    found = {}
    for unique_id, node in project.manifest.get("nodes", {}).items():
        if node.get("resource_type") in RELATION_TYPES:
            found[relation(project, unique_id)] = unique_id
    return found


def upstream(project: DbtProject, relations: Iterable[Relation]) -> list[Relation]:
    """Every relation behind the given ones: dbt nodes they are built from, up to sources."""
    by_relation = _relation_ids(project)
    parents = project.manifest.get("parent_map", {})
    seen: set[str] = set()
    pending = [by_relation[rel] for rel in relations if rel in by_relation]
    while pending:
        unique_id = pending.pop()
        if unique_id in seen:
            continue
        seen.add(unique_id)
        pending.extend(parents.get(unique_id, ()))
    behind = [
        relation(project, unique_id)
        for unique_id in seen
        if unique_id.split(".", 1)[0] in (*RELATION_TYPES, "source")
    ]
    return sorted(set(behind), key=str)


def _column_constraint_keys(node: dict[str, Any]) -> list[tuple[str, ...]]:
    keys = [
        tuple(constraint.get("columns") or ())
        for constraint in node.get("constraints", ())
        if constraint.get("type") == "primary_key"
    ]
    for name, column in node.get("columns", {}).items():
        for constraint in column.get("constraints", ()):
            if constraint.get("type") == "primary_key":
                keys.append((name,))
    return [key for key in keys if key]


def _test_keys(project: DbtProject, unique_id: str) -> list[tuple[str, ...]]:
    keys = []
    nodes = project.manifest.get("nodes", {})
    for child in sorted(project.manifest.get("child_map", {}).get(unique_id, ())):
        test = nodes.get(child, {})
        metadata = test.get("test_metadata") or {}
        if test.get("resource_type") != "test" or metadata.get("name") not in UNIQUE_TESTS:
            continue
        if test.get("attached_node", unique_id) != unique_id:
            continue
        arguments = {
            **metadata.get("kwargs", {}),
            **metadata.get("kwargs", {}).get("arguments", {}),
        }
        if metadata["name"] == "unique" and arguments.get("column_name"):
            keys.append((arguments["column_name"],))
        elif arguments.get("combination_of_columns"):
            keys.append(tuple(arguments["combination_of_columns"]))
    return keys


def primary_key(project: DbtProject, unique_id: str) -> tuple[str, ...]:
    """The model's key: its primary key constraint, else its unique test; () if neither."""
    node = project.manifest.get("nodes", {}).get(unique_id, {})
    keys = _column_constraint_keys(node) or _test_keys(project, unique_id)
    return keys[0] if keys else ()
