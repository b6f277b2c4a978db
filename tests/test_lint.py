"""The code and SQL style gates, as CI runs them: ruff and sqlfluff with the dbt templater."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from decouple import RepositoryEnv

from tests.helpers import REPOSITORY, run_cli

RUFF = Path(sys.executable).with_name("ruff")


def test_ruff_finds_nothing_to_fix_or_reformat() -> None:
    for arguments in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run(
            [str(RUFF), *arguments], cwd=REPOSITORY, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout[-3000:]


def test_sqlfluff_with_the_dbt_templater_finds_nothing(provisioned: Path) -> None:
    environment = dict(RepositoryEnv(str(provisioned)).data)

    result = run_cli("sqlfluff", "lint", "dbt_project", cwd=REPOSITORY, **environment)

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "All Finished" in result.stdout
