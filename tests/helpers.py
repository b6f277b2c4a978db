"""What several test modules share: the settings' names and running the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

WAREHOUSE = {
    "WAREHOUSE_HOST": "db.internal",
    "WAREHOUSE_PORT": "6543",
    "WAREHOUSE_USER": "loader",
    "WAREHOUSE_DB": "analytics",
    "DBT_ENV_SECRET_WAREHOUSE_PASSWORD": "pa55-word",
}
REPOSITORY = Path(__file__).resolve().parents[1]
# Every setting, as .env.example documents them; tests clear them to start clean.
ALL_SETTINGS = [
    line.split("=", 1)[0]
    for line in (REPOSITORY / ".env.example").read_text().splitlines()
    if line and not line.startswith("#") and "=" in line
]


def run_cli(*arguments: str, cwd: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m ingestion` in `cwd` with none of the settings but `environment`."""
    clean = {key: value for key, value in os.environ.items() if key not in ALL_SETTINGS}
    clean = {k: v for k, v in clean.items() if not k.startswith("SOURCE_")}
    return subprocess.run(
        [sys.executable, "-m", "ingestion", *arguments],
        cwd=cwd,
        env={**clean, **environment, "PYTHONPATH": str(REPOSITORY)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
