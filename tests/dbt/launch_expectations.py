"""fct_launch_daily computed straight from the four demo source databases, with our own SQL.

Each source database is queried on its own (they cannot be joined); the excluded users
read from `accounts` are passed to the other databases as a bound array. Vault items keep
no status history, so `vault_items_stored` comes from the vault statuses recorded after
each sync: an item counts on the UTC day of its `updated_at` in the first recording that
shows it 'stored' (the snapshot's timestamp strategy sees exactly that).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

COLUMNS = (
    "metric_date",
    "new_signups",
    "legacy_conversions",
    "cumulative_legacy_conversions",
    "legacy_conversion_rate",
    "submissions_created",
    "cards_submitted",
    "vault_items_requested",
    "vault_items_stored",
    "collection_active_users",
)
# The mart's contract: the SQL type of every column.
COLUMN_TYPES = {
    "metric_date": "date",
    **{name: "bigint" for name in COLUMNS[1:] if name != "legacy_conversion_rate"},
    "legacy_conversion_rate": "numeric",
}

EXCLUDED_USERS = """
    select id
    from users
    where is_internal or lower(email) like '%%@example.test'
"""
NEW_SIGNUPS = """
    select cast(created_at at time zone 'UTC' as date), count(*)
    from users
    where
        legacy_system is null
        and not (id = any(%(excluded)s))
    group by 1
"""
LEGACY_CONVERSIONS = """
    select cast(accounts.activated_at at time zone 'UTC' as date), count(distinct users.id)
    from users
    inner join unified_accounts as accounts on accounts.user_id = users.id
    where
        users.legacy_system is not null
        and accounts.activated_at is not null
        and not (users.id = any(%(excluded)s))
    group by 1
"""
CONVERSION_RATES = """
    with

    legacy_users as (
        select
            users.id,
            min(accounts.activated_at) as activated_at
        from users
        left join unified_accounts as accounts on accounts.user_id = users.id
        where
            users.legacy_system is not null
            and not (users.id = any(%(excluded)s))
        group by 1
    ),

    days as (
        select day from unnest(cast(%(days)s as date[])) as day
    )

    select
        days.day,
        count(legacy_users.id) filter (
            where legacy_users.activated_at
                < cast(days.day + 1 as timestamp) at time zone 'UTC'
        ),
        round(
            cast(
                count(legacy_users.id) filter (
                    where legacy_users.activated_at
                        < cast(days.day + 1 as timestamp) at time zone 'UTC'
                ) as numeric
            ) / nullif(count(legacy_users.id), 0),
            6
        )
    from days
    cross join legacy_users
    group by 1
"""
SUBMISSIONS = """
    select cast(created_at at time zone 'UTC' as date), count(*), sum(card_count)
    from submissions
    where
        deleted_at is null
        and not (user_id = any(%(excluded)s))
    group by 1
"""
VAULT_REQUESTS = """
    select cast(created_at at time zone 'UTC' as date), count(*)
    from vault_items
    where not (user_id = any(%(excluded)s))
    group by 1
"""
COLLECTION_ACTIVE_USERS = """
    select cast(added_at at time zone 'UTC' as date), count(distinct user_id)
    from collection_items
    where not (user_id = any(%(excluded)s))
    group by 1
"""
VAULT_ITEMS = """
    select id, user_id, status, updated_at
    from vault_items
    order by id
"""


@dataclass(frozen=True)
class VaultItemState:
    """One vault item as the source showed it at one recording."""

    item_id: int
    user_id: int
    status: str
    updated_at: datetime


def _rows(
    engine: sa.Engine, query: str, parameters: Mapping[str, object] | None = None
) -> list[tuple]:
    with engine.connect() as connection:
        cursor = connection.connection.cursor()
        cursor.execute("set timezone = 'UTC'")
        cursor.execute(query, dict(parameters or {}))
        return cursor.fetchall()


def record_vault_items(vault: sa.Engine) -> tuple[VaultItemState, ...]:
    """Every vault item's id, owner, status and updated_at as the source shows them now."""
    return tuple(VaultItemState(*row) for row in _rows(vault, VAULT_ITEMS))


def first_seen_stored(
    recordings: Sequence[Iterable[VaultItemState]],
) -> dict[int, VaultItemState]:
    """Per item, its state in the first recording that shows it 'stored'."""
    stored: dict[int, VaultItemState] = {}
    for recording in recordings:
        for state in recording:
            if state.status == "stored" and state.item_id not in stored:
                stored[state.item_id] = state
    return stored


def _utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def expected_launch_daily(
    sources: Mapping[str, sa.Engine],
    go_live_at: datetime,
    recordings: Sequence[Iterable[VaultItemState]],
) -> list[tuple]:
    """The rows fct_launch_daily must hold, in COLUMNS order, one per UTC day."""
    accounts = sources["accounts"]
    excluded = [row[0] for row in _rows(accounts, EXCLUDED_USERS)]
    bound = {"excluded": excluded}
    signups = dict(_rows(accounts, NEW_SIGNUPS, bound))
    conversions = dict(_rows(accounts, LEGACY_CONVERSIONS, bound))
    submissions = {
        day: (count, cards) for day, count, cards in _rows(sources["grading"], SUBMISSIONS, bound)
    }
    requests = dict(_rows(sources["vault"], VAULT_REQUESTS, bound))
    collectors = dict(_rows(sources["collection"], COLLECTION_ACTIVE_USERS, bound))
    excluded_set = set(excluded)
    stored = Counter(
        _utc_day(state.updated_at)
        for state in first_seen_stored(recordings).values()
        if state.user_id not in excluded_set
    )
    first = _utc_day(go_live_at)
    event_days = [*signups, *conversions, *submissions, *requests, *collectors, *stored]
    last = max([first, *event_days])
    days = [first + timedelta(days=offset) for offset in range((last - first).days + 1)]
    rates = {
        day: (cumulative, rate)
        for day, cumulative, rate in _rows(accounts, CONVERSION_RATES, {**bound, "days": days})
    }
    return [
        (
            day,
            signups.get(day, 0),
            conversions.get(day, 0),
            *rates.get(day, (0, None)),
            *submissions.get(day, (0, 0)),
            requests.get(day, 0),
            stored.get(day, 0),
            collectors.get(day, 0),
        )
        for day in days
    ]


def differences(expected: Sequence[tuple], actual: Sequence[tuple]) -> list[str]:
    """One readable line per day or cell where the mart differs from the expectation."""
    wanted = {row[0]: row for row in expected}
    found = {row[0]: row for row in actual}
    lines = [
        f"{day}: missing from the mart, expected {wanted[day]}"
        for day in wanted.keys() - found.keys()
    ]
    lines += [f"{day}: not expected, mart has {found[day]}" for day in found.keys() - wanted.keys()]
    repeated = Counter(row[0] for row in actual)
    lines += [f"{day}: {count} rows in the mart" for day, count in repeated.items() if count > 1]
    for day in sorted(wanted.keys() & found.keys()):
        for name, want, got in zip(COLUMNS, wanted[day], found[day], strict=True):
            if want != got:
                lines.append(f"{day} {name}: expected {want!r}, mart has {got!r}")
    return sorted(lines)
