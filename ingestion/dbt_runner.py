"""Run dbt (and sqlfluff's dbt templater) with the settings in their environment.

dbt below 1.12 does not read `.env`, so the settings reach it through this module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from ingestion import settings
from ingestion.errors import IngestionError

PROJECT_FOLDER = "dbt_project"
EXAMPLE_PROFILES = "profiles.example.yml"
GENERATED_PROFILES_FOLDER = Path(".local") / "dbt"


def profiles_dir(root: Path) -> Path:
    """DBT_PROFILES_DIR if set, the user's own ./profiles.yml, else the example's copy."""
    chosen = os.environ.get("DBT_PROFILES_DIR")
    if chosen:
        return Path(chosen)
    if (root / "profiles.yml").is_file():
        return root
    target = root / GENERATED_PROFILES_FOLDER
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(root / EXAMPLE_PROFILES, target / "profiles.yml")
    return target


def run(tool: str, arguments: Sequence[str], root: Path) -> int:
    """Run dbt or sqlfluff with the settings in its environment; returns its exit code."""
    wanted = settings.dbt_environment()
    project = root / PROJECT_FOLDER
    if not (project / "dbt_project.yml").is_file():
        raise IngestionError(
            f"no {PROJECT_FOLDER}/dbt_project.yml in {root}: run from the repository root"
        )
    environment = {
        **os.environ,
        **wanted,
        "DBT_PROFILES_DIR": str(profiles_dir(root).absolute()),
    }
    executable = Path(sys.executable).with_name(tool)
    folder = project if tool == "dbt" else root
    # The arguments are the user's own, passed on without a shell.
    return subprocess.call([str(executable), *arguments], cwd=folder, env=environment)  # noqa: S603
