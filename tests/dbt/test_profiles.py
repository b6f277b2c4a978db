"""dbt reaches the warehouse through profiles.example.yml and never writes the password."""

from __future__ import annotations

from pathlib import Path

from decouple import RepositoryEnv

from tests.helpers import REPOSITORY, run_cli


def test_dbt_debug_connects_and_keeps_the_password_out_of_its_files(provisioned: Path) -> None:
    environment = dict(RepositoryEnv(str(provisioned)).data)
    password = environment["DBT_ENV_SECRET_WAREHOUSE_PASSWORD"]

    result = run_cli("dbt", "debug", cwd=REPOSITORY, **environment)

    assert result.returncode == 0, result.stdout[-2000:]
    assert "All checks passed" in result.stdout
    written = [REPOSITORY / "dbt_project" / "logs", REPOSITORY / "dbt_project" / "target"]
    files = [path for folder in written if folder.exists() for path in folder.rglob("*")]
    assert files, "dbt wrote no logs to check"
    for path in files:
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path
    assert password not in result.stdout + result.stderr
