"""R5: recordings are kept 6 calendar months after the call ends, unless a legal hold
covers them. Months are counted in the site's time zone (a call that ended on 1 March
at 03:00 in Beijing is kept until 1 September 03:00 Beijing time, not until a UTC date
three days earlier). Pure: time and zone come in as arguments."""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months later (31 Aug + 6 = 28/29 Feb)."""
    total = moment.month - 1 + months
    year, month = moment.year + total // 12, total % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


@dataclass(frozen=True, slots=True)
class LegalHold:
    """Keeps recordings past retention while a dispute or complaint is open. Covers a
    call, every call of a caller, or calls that ended in [start, end)."""

    hold_id: str
    reason: str
    created_by: str
    created_at: datetime
    call_id: str | None = None
    caller: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    released_at: datetime | None = None

    def covers(self, call_id: str, caller: str, ended_at: datetime) -> bool:
        if self.released_at is not None:
            return False
        if self.call_id is not None:
            return self.call_id == call_id
        if self.caller is not None:
            return self.caller == caller
        if self.start is not None and self.end is not None:
            return self.start <= ended_at < self.end
        return False


@dataclass(frozen=True, slots=True)
class Kept:
    call_id: str
    caller: str
    ended_at: datetime


def due_for_deletion(
    recordings: Iterable[Kept], holds: Iterable[LegalHold], now: datetime, months: int = 6,
    zone: tzinfo = timezone.utc,
) -> list[Kept]:
    """What the purge deletes at ``now``: past retention and under no active hold.
    Never early: a recording is due only once ``now`` >= end + ``months``, the months
    counted on the calendar of ``zone`` (the site's time zone)."""
    active = [h for h in holds if h.released_at is None]
    return [
        r
        for r in recordings
        if now >= add_months(r.ended_at.astimezone(zone), months)
        and not any(h.covers(r.call_id, r.caller, r.ended_at) for h in active)
    ]
