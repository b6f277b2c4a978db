"""How the report writes numbers, and the data-* markers that say what each number is.

Every number on the page carries a marker (`data-metric`, and the day, hour or status it
belongs to), so that a test can read what a browser shows and compare it with the marts.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from html import escape

MINUS = "\u2212"
ONE_DECIMAL = Decimal("0.1")
TWO_DECIMALS = Decimal("0.01")
WHOLE = Decimal("1")


def marker(metric: str, **keys: str) -> str:
    """The data-* attributes of one number: its metric and what it is a value of."""
    attributes = {"metric": metric, **keys}
    return "".join(
        f' data-{name.replace("_", "-")}="{escape(value)}"' for name, value in attributes.items()
    )


def number(value: int, metric: str, **keys: str) -> str:
    """A count with thousands separators, in a marked span."""
    return f"<span{marker(metric, **keys)}>{count(value)}</span>"


def count(value: int) -> str:
    """1234 as 1,234."""
    return f"{value:,}"


def percent(rate: Decimal | None) -> str:
    """A rate (0.4973) as a percentage to one decimal (49.7%); n/a when unknown."""
    if rate is None:
        return "n/a"
    return f"{_round(rate * 100, ONE_DECIMAL)}%"


def hours(value: Decimal, step: Decimal = ONE_DECIMAL) -> str:
    """Hours to one decimal (or `step`), with the unit."""
    return f"{_round(value, step)} h"


def signed(value: Decimal | int, suffix: str = "") -> str:
    """A change with its sign and a true minus sign: +12, 0, or minus 3.5 pp."""
    if value == 0:
        return f"0{suffix}"
    sign = "+" if value > 0 else MINUS
    return f"{sign}{count(abs(value)) if isinstance(value, int) else abs(value)}{suffix}"


def count_change(current: int, previous: int) -> str:
    """The difference of two counts: +12."""
    return signed(current - previous)


def relative_change(current: int, previous: int) -> str | None:
    """The change in whole percent (+8%); None when the day before had none."""
    if previous == 0:
        return None
    return signed(_round(Decimal(current - previous) * 100 / previous, WHOLE), "%")


def points_change(current: Decimal | None, previous: Decimal | None) -> str | None:
    """The change of a rate in percentage points to one decimal (+3.1 pp)."""
    if current is None or previous is None:
        return None
    return signed(_round((current - previous) * 100, ONE_DECIMAL), " pp")


def day(value: date) -> str:
    """A day as Jun 3, 2026."""
    return f"{value:%b} {value.day}, {value.year}"


def short_day(value: date) -> str:
    """A day as Jun 3."""
    return f"{value:%b} {value.day}"


def moment(value: datetime) -> str:
    """A UTC time as 2026-06-03 15:59 UTC."""
    return f"{value:%Y-%m-%d %H:%M} UTC"


def age(value: timedelta) -> str:
    """An age as 35 min, 7.5 h or 3.2 days."""
    minutes = value.total_seconds() / 60
    if minutes < 90:
        return f"{max(minutes, 0):.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} days"


def duration(value: timedelta) -> str:
    """A threshold as 6 h or 2 days."""
    total_hours = value.total_seconds() / 3600
    if total_hours >= 48 and total_hours % 24 == 0:
        return f"{total_hours / 24:g} days"
    return f"{total_hours:g} h"


def _round(value: Decimal, step: Decimal) -> Decimal:
    return Decimal(value).quantize(step, rounding=ROUND_HALF_UP)


def markdown(text: str) -> str:
    """Escaped text with Markdown's `code` spans as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))
