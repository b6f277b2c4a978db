"""Merging a sources proposal into a file a person edits adds, and never overwrites."""

from __future__ import annotations

from pathlib import Path

import yaml

from ingestion.profile import dbt_sources, merge

PERSON = """\
# Our grading database. Ask #grading-team before changing the tests.
sources:
  - name: grading
    description: The grading service's production database.
    schema: raw_grading
    loader: dlt
    tables:
      - name: submissions
        description: One row per grading submission.
        columns:
          - name: id
            description: The submission's number, as customers see it.
            data_tests:
              - unique
          - name: status_code
            description: '{{ doc("submission_status") }}'
            data_tests:
              - accepted_values:
                  arguments:
                    values: [10, 20, 30]
                    quote: false
                  config:
                    severity: warn  # codes 40+ are still being rolled out
          - name: user_id
            description: The customer.
            data_tests:
              - relationships:
                  arguments:
                    to: source('accounts', 'users')
                    field: id
                  config:
                    enabled: false
"""

PROPOSAL = """\
sources:
  - name: grading
    description: ''
    schema: raw_grading
    loader: dlt
    tables:
      - name: _dlt_loads
        description: One row per completed sync of this source.
      - name: submissions
        description: ''
        columns:
          - name: id
            description: ''
            data_type: bigint
            data_tests:
              - unique
              - not_null
          - name: status_code
            description: ''
            data_type: smallint
            data_tests:
              - not_null
              - accepted_values:
                  arguments:
                    values: [10, 20, 30, 40, 50, 60, 90]
                    quote: false
          - name: user_id
            description: ''
            data_type: bigint
            data_tests:
              - relationships:
                  arguments:
                    to: source('accounts', 'users')
                    field: id
                  config:
                    severity: warn
          - name: card_count
            description: ''
            data_type: integer
            data_tests:
              - not_null
"""


def _merged(tmp_path: Path) -> tuple[Path, list[str]]:
    path = tmp_path / "_grading__sources.yml"
    path.write_text(PERSON)
    proposal = dbt_sources.yaml_tool().load(PROPOSAL)
    return path, merge.merge_file(path, proposal)


def _columns(document: dict) -> dict[str, dict]:
    tables = {table["name"]: table for table in document["sources"][0]["tables"]}
    return {column["name"]: column for column in tables["submissions"]["columns"]}


def test_merge_keeps_what_a_person_wrote(tmp_path: Path) -> None:
    path, _ = _merged(tmp_path)

    text = path.read_text()
    document = yaml.safe_load(text)
    columns = _columns(document)
    assert document["sources"][0]["description"] == "The grading service's production database."
    assert columns["id"]["description"] == "The submission's number, as customers see it."
    assert columns["status_code"]["description"] == '{{ doc("submission_status") }}'
    accepted = columns["status_code"]["data_tests"][0]["accepted_values"]
    assert accepted["arguments"]["values"] == [10, 20, 30]
    assert accepted["config"] == {"severity": "warn"}
    [relationship] = columns["user_id"]["data_tests"]
    assert relationship["relationships"]["config"] == {"enabled": False}
    assert "# Our grading database. Ask #grading-team" in text
    assert "# codes 40+ are still being rolled out" in text


def test_merge_adds_what_is_missing(tmp_path: Path) -> None:
    path, added = _merged(tmp_path)

    columns = _columns(yaml.safe_load(path.read_text()))
    assert columns["id"]["data_tests"] == ["unique", "not_null"]
    assert columns["id"]["data_type"] == "bigint"
    assert columns["status_code"]["data_tests"][1] == "not_null"
    assert columns["card_count"]["data_tests"] == ["not_null"]
    tables = [t["name"] for t in yaml.safe_load(path.read_text())["sources"][0]["tables"]]
    assert tables == ["submissions", "_dlt_loads"]
    assert "column grading.submissions.card_count" in added
    assert "test not_null of grading.submissions.id" in added


def test_merging_the_same_proposal_again_changes_nothing(tmp_path: Path) -> None:
    path, _ = _merged(tmp_path)
    first = path.read_text()

    again = merge.merge_file(path, dbt_sources.yaml_tool().load(PROPOSAL))

    assert again == []
    assert path.read_text() == first


def test_merge_into_a_missing_file_writes_the_proposal(tmp_path: Path) -> None:
    path = tmp_path / "grading" / "_grading__sources.yml"

    added = merge.merge_file(path, dbt_sources.yaml_tool().load(PROPOSAL))

    assert added == [f"new file {path}"]
    assert yaml.safe_load(path.read_text()) == yaml.safe_load(PROPOSAL)
