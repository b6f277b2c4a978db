"""The profile as JSON, for tools: every record field, plus the run's slowest query."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from ingestion.profile.records import Profile


def to_dict(profile: Profile) -> dict[str, Any]:
    """The profile as plain dictionaries and lists."""
    document = dataclasses.asdict(profile)
    longest = profile.longest_query
    document["longest_query"] = dataclasses.asdict(longest) if longest else None
    return document


def to_json(profile: Profile) -> str:
    """The profile as indented JSON text."""
    return json.dumps(to_dict(profile), indent=2, ensure_ascii=False, default=str) + "\n"
