"""The simulator's SQL, one statement (or one DDL script) per file under `sql/`."""

from __future__ import annotations

from importlib.resources import files


def read(folder: str, name: str) -> str:
    """The text of `sql/<folder>/<name>.sql`."""
    return files(__package__).joinpath("sql", folder, f"{name}.sql").read_text(encoding="utf-8")
