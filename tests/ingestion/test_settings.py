"""Settings come from the environment or .env, and a bad one is named in one line."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingestion import settings
from ingestion.errors import IngestionError
from tests.helpers import ALL_SETTINGS, REPOSITORY, WAREHOUSE


@pytest.fixture(autouse=True)
def empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test runs in a folder without .env and with none of the settings set."""
    monkeypatch.chdir(tmp_path)
    for name in ALL_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_environment_wins_over_env_file(
    empty_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [f"{name}={value}" for name, value in WAREHOUSE.items()]
    (empty_folder / ".env").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("WAREHOUSE_HOST", "from-environment")

    warehouse = settings.warehouse()

    assert warehouse.host == "from-environment"
    assert warehouse.port == 6543
    assert warehouse.password == "pa55-word"


def test_env_file_is_found_from_a_subfolder(
    empty_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (empty_folder / ".env").write_text("BI_ROLE=dashboards\n")
    (empty_folder / "dbt_project").mkdir()
    monkeypatch.chdir(empty_folder / "dbt_project")

    assert settings.bi_role() == "dashboards"


def test_missing_setting_is_named() -> None:
    with pytest.raises(IngestionError, match=r"^setting WAREHOUSE_HOST is missing"):
        settings.warehouse()


def test_malformed_port_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in WAREHOUSE.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WAREHOUSE_PORT", "54x")

    with pytest.raises(IngestionError, match=r"^setting WAREHOUSE_PORT is malformed"):
        settings.warehouse()


def test_go_live_needs_a_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.go_live_at() == datetime(2026, 6, 1, 16, tzinfo=UTC)
    monkeypatch.setenv("GO_LIVE_AT", "2026-06-01 16:00")

    with pytest.raises(IngestionError, match=r"GO_LIVE_AT is malformed.*time zone"):
        settings.go_live_at()


@pytest.mark.parametrize(
    "value",
    [
        "postgresql://reader:hunter2@replica:port/accounts",
        "not a url hunter2",
        "postgresql://reader:hunter2@replica",
    ],
)
def test_bad_source_url_never_shows_its_password(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_ACCOUNTS_URL", value)

    with pytest.raises(IngestionError) as raised:
        settings.source_url("accounts")

    assert str(raised.value).startswith("setting SOURCE_ACCOUNTS_URL is malformed")
    assert "hunter2" not in str(raised.value)


def test_password_is_hidden_when_settings_are_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in WAREHOUSE.items():
        monkeypatch.setenv(name, value)

    warehouse = settings.warehouse()

    assert "pa55-word" not in repr(warehouse)
    assert "pa55-word" not in str(warehouse.url())
    assert warehouse.url().password == "pa55-word"


def test_plain_postgresql_url_uses_the_installed_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_VAULT_URL", "postgresql://reader:pw@replica:5433/vault")

    url = settings.source_url("vault")

    assert url.drivername == "postgresql+psycopg2"
    assert (url.host, url.port, url.database) == ("replica", 5433, "vault")


def test_every_setting_read_is_documented_in_env_example() -> None:
    source = (REPOSITORY / "ingestion" / "settings.py").read_text()
    read = set(re.findall(r'_read\(\s*"([A-Z_]+)"', source))

    assert read, "found no setting in settings.py"
    assert read - {"SOURCE_X_URL"} <= set(ALL_SETTINGS)
