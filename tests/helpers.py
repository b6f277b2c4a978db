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
ALL_SETTINGS = [
    *WAREHOUSE,
    "SOURCE_ACCOUNTS_URL",
    "GO_LIVE_AT",
    "PII_HASH_SALT",
    "BI_ROLE",
    "DEMO_ADMIN_URL",
    "LOCAL_PG_PORT",
    "LOCAL_PG_DIR",
    "LOCAL_PG_BIN",
    "DBT_TARGET",
    "WAREHOUSE_SSLMODE",
]


REPOSITORY = Path(__file__).resolve().parents[1]


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
