"""Which columns identify a row: the smallest column set unique in the data, and the
count of numeric outliers (both need a second look at the rows, after the first pass).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

# Column sets of up to this many columns are tried, from the most varied columns.
MAX_KEY_COLUMNS = 3
CANDIDATES = {2: 8, 3: 6}


def unique_single(rows_read: int, stats: Mapping[str, Mapping[str, Any]]) -> tuple[str, ...] | None:
    """A column whose values are all present and all different, if any (most varied first)."""
    for name, column in stats.items():
        if rows_read and column["non_null"] == rows_read and column["distinct"] == rows_read:
            return (name,)
    return None


def candidate_sets(
    rows_read: int, stats: Mapping[str, Mapping[str, Any]], size: int
) -> list[tuple[str, ...]]:
    """Sets of `size` never-null columns, drawn from the most varied ones."""
    usable = [
        name
        for name, column in stats.items()
        if column["non_null"] == rows_read and column["distinct"] is not None
    ]
    usable.sort(key=lambda name: -stats[name]["distinct"])
    return list(itertools.combinations(usable[: CANDIDATES[size]], size))


def distinct_sets_query(rows: sa.FromClause, sets: Sequence[tuple[str, ...]]) -> sa.Select:
    """count(distinct (a, b, …)) of each column set, labelled s<index>."""
    return sa.select(
        *(
            sa.func.count(sa.distinct(sa.tuple_(*(rows.c[name] for name in names)))).label(
                f"s{index}"
            )
            for index, names in enumerate(sets)
        )
    ).select_from(rows)


def outliers_query(rows: sa.FromClause, fences: Mapping[str, tuple[float, float]]) -> sa.Select:
    """Per column, how many values lie outside its (low, high) fences."""
    return sa.select(
        *(
            sa.func.count().filter(sa.or_(rows.c[name] < low, rows.c[name] > high)).label(name)
            for name, (low, high) in fences.items()
        )
    ).select_from(rows)


def fences(quantiles: Sequence[float] | None, factor: float = 3.0) -> tuple[float, float] | None:
    """Tukey's far-out fences from the quartiles: q1 - 3·IQR and q3 + 3·IQR."""
    if not quantiles or quantiles[1] is None or quantiles[3] is None:
        return None
    low, high = quantiles[1], quantiles[3]
    spread = high - low
    if spread <= 0:
        return None
    return (low - factor * spread, high + factor * spread)


def first_unique(
    rows_read: int, sets: Sequence[tuple[str, ...]], counts: Sequence[int]
) -> tuple[str, ...] | None:
    """The first column set whose distinct count equals the rows read."""
    return next(
        (names for names, count in zip(sets, counts, strict=True) if count == rows_read), None
    )
