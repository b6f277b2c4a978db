"""Simulated time: the simulation start, and the parameters of one step of the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

PRELAUNCH = timedelta(days=120)
SLOT = timedelta(hours=1)


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive moment is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def simulation_start(go_live_at: datetime) -> datetime:
    """When the simulated history begins: 120 days before go-live."""
    return go_live_at - PRELAUNCH


@dataclass(frozen=True)
class Window:
    """One step of the clock: everything in (start, end] happens."""

    seed: int
    scale: int
    go_live_at: datetime
    start: datetime
    end: datetime

    def parameters(self) -> dict[str, object]:
        """The bind parameters that every simulator statement may use."""
        sim_start = simulation_start(self.go_live_at)
        return {
            "seed": self.seed,
            "scale": self.scale,
            "go_live": self.go_live_at,
            "sim_start": sim_start,
            "sim_start_hour": (
                sim_start - sim_start.replace(hour=0, minute=0, second=0, microsecond=0)
            )
            / SLOT,
            "prelaunch_hours": PRELAUNCH / SLOT,
            "t0": self.start,
            "t1": self.end,
            "last_slot": (self.end - sim_start) // SLOT,
        }
