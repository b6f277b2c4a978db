"""The command as a user runs it: exit codes and one-line messages."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_cli


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = run_cli("--help", cwd=tmp_path)

    assert result.returncode == 0
    for command in ["local", "demo", "dbt"]:
        assert command in result.stdout


def test_missing_setting_stops_with_one_line_naming_it(tmp_path: Path) -> None:
    result = run_cli("dbt", "debug", cwd=tmp_path)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "ingestion: setting WAREHOUSE_HOST is missing: "
        "set it in the environment or in .env (see .env.example)"
    ]


def test_malformed_source_url_is_named_without_its_password(tmp_path: Path) -> None:
    result = run_cli(
        "demo", "status", cwd=tmp_path, SOURCE_ACCOUNTS_URL="postgresql://u:topsecret@h:xx/db"
    )

    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("ingestion: setting SOURCE_ACCOUNTS_URL is malformed")
    assert "topsecret" not in result.stderr + result.stdout


def test_unknown_local_action_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("local", "explode", cwd=tmp_path)

    assert result.returncode == 2
    assert "invalid choice: 'explode'" in result.stderr


def test_sync_help_explains_every_option(tmp_path: Path) -> None:
    result = run_cli("sync", "--help", cwd=tmp_path)

    assert result.returncode == 0
    for option in ["--source", "--table", "--full-refresh", "--every SECONDS"]:
        assert option in result.stdout


def test_sync_every_needs_a_positive_number_of_seconds(tmp_path: Path) -> None:
    result = run_cli("sync", "--every", "0", cwd=tmp_path)

    assert result.returncode == 2
    assert "argument --every: expected more than 0 seconds, not 0" in result.stderr
