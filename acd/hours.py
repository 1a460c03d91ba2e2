"""Business hours per queue (R6: the default is always open, 7 x 24). Pure: the
moment to judge comes in as a local datetime."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Weekly opening hours in local time, and closed dates. ``weekly`` maps a day
    ("mon".."sun") to (open, close) pairs; a day not listed is closed. ``None`` for
    ``weekly`` means always open."""

    weekly: dict[str, tuple[tuple[time, time], ...]] | None = None
    closed_dates: frozenset[date] = field(default_factory=frozenset)

    def is_open(self, moment: datetime) -> bool:
        if moment.date() in self.closed_dates:
            return False
        if self.weekly is None:
            return True
        now = moment.time()
        return any(start <= now < end for start, end in self.weekly.get(DAYS[moment.weekday()], ()))


ALWAYS = BusinessHours()
