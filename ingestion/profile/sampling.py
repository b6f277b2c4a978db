"""Which rows a table's profile reads: all of them, or a TABLESAMPLE of about N rows.

SYSTEM sampling reads whole pages picked at random, so it costs about the share it
reads; REPEATABLE makes every query of one run see the same sample.
"""

from __future__ import annotations

import sqlalchemy as sa

# The same pages for every query of a run, and for every run of the same table.
SAMPLE_SEED = 1
# Below this share of the table, a sample is not worth the bias of whole pages.
MAX_SAMPLE_PERCENT = 50.0


def sample_percent(estimated_rows: int | None, sample_rows: int) -> float | None:
    """The TABLESAMPLE percentage for a table of `estimated_rows`; None: read it whole."""
    if estimated_rows is None or estimated_rows <= sample_rows:
        return None
    percent = 100.0 * sample_rows / estimated_rows
    return None if percent >= MAX_SAMPLE_PERCENT else round(percent, 4)


def rows_of(table: sa.Table, percent: float | None, name: str = "sampled") -> sa.FromClause:
    """The table itself, or its SYSTEM sample of `percent` with a fixed seed."""
    if percent is None:
        return table.alias(name)
    return sa.tablesample(
        table, sa.func.system(sa.literal(percent)), name=name, seed=sa.literal(SAMPLE_SEED)
    )
