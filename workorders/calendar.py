"""R16 the site's working days: complaints promise feedback within so many working days
(the seeds' 規定工作日), not calendar hours. A day is a working day by the weekly rule
(Monday to Friday by default), unless it is a listed holiday; a listed make-up day (調休:
a weekend day worked) is one. Days are the site's own (its time zone). Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Calendar:
    timezone: str = "UTC"
    workdays: frozenset[int] = frozenset(range(5))  # date.weekday(): Monday 0 .. Sunday 6
    holidays: frozenset[date] = field(default_factory=frozenset)
    make_up_days: frozenset[date] = field(default_factory=frozenset)  # worked although by rule they are not

    def is_working_day(self, day: date) -> bool:
        if day in self.make_up_days:
            return True
        return day.weekday() in self.workdays and day not in self.holidays

    def local_day(self, at: float) -> date:
        return datetime.fromtimestamp(at, ZoneInfo(self.timezone)).date()

    def due(self, start: float, working_days: int) -> float:
        """The end of the ``working_days``-th working day after the day of ``start``
        (local midnight that closes it): "within 3 working days" of a complaint received
        on a Friday (or a Saturday) ends at midnight after the next Wednesday, a holiday
        in between counting for nothing. 0 working days: the end of ``start``'s day."""
        if working_days < 0:
            raise ValueError("working days cannot be negative")
        day, left = self.local_day(start), working_days
        guard = 0
        while left:
            day += timedelta(days=1)
            left -= self.is_working_day(day)
            guard += 1
            if guard > 3660:  # ten years without enough working days: a calendar without any
                raise ValueError("the calendar has no working days")
        end = datetime.combine(day + timedelta(days=1), time(0), ZoneInfo(self.timezone))
        return end.timestamp()

    def working_days_between(self, start: float, end: float) -> int:
        """Working days after ``start``'s day up to and including ``end``'s day."""
        first, last = self.local_day(start), self.local_day(end)
        count, day = 0, first
        while day < last:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return count


def parse_weekdays(names: list[str]) -> frozenset[int]:
    """``["mon", "tue", ...]`` -> weekday numbers; an unknown name raises ValueError."""
    out = set()
    for name in names:
        if name not in WEEKDAYS:
            raise ValueError(name)
        out.add(WEEKDAYS.index(name))
    return frozenset(out)
