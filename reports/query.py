"""What a report asks for, from the API's query string or the command line, checked
once with a clear message (``ValueError``), and rows as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from reports.intervals import INTERVALS, Filter

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BY = ("queue", "kind", "all")
MAX_DAYS = 400


@dataclass(frozen=True, slots=True)
class Query:
    since: float  # epoch, the first day's local midnight
    until: float  # epoch, the local midnight after the last day
    interval: str
    by: str
    where: Filter
    first: date
    last: date


def _clock(text: str, what: str) -> time:
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"{what}: HH:MM-HH:MM (local time of day), not {text!r}") from None


def parse_query(params: Mapping[str, str], zone: str, today: date) -> Query:
    """``from``, ``to`` (local dates, inclusive; default today), ``interval`` (15m, hour,
    day, week, month; default day), ``by`` (queue, kind, all), ``weekdays``
    (mon,tue,...), ``between`` (08:00-12:00, local)."""
    unknown = set(params) - {"from", "to", "interval", "by", "weekdays", "between", "format"}
    if unknown:
        raise ValueError(f"unknown parameter {sorted(unknown)[0]!r}")
    try:
        first = date.fromisoformat(params.get("from", today.isoformat()))
        last = date.fromisoformat(params.get("to", params.get("from", today.isoformat())))
    except ValueError:
        raise ValueError("from and to are dates (YYYY-MM-DD, the site's time zone)") from None
    if last < first or (last - first).days >= MAX_DAYS:
        raise ValueError(f"from .. to is 1 to {MAX_DAYS} days, from first to last")
    interval = params.get("interval", "day")
    if interval not in INTERVALS:
        raise ValueError(f"interval is one of {', '.join(INTERVALS)}")
    by = params.get("by", "queue")
    if by not in BY:
        raise ValueError(f"by is one of {', '.join(BY)}")
    weekdays = frozenset(range(7))
    if params.get("weekdays"):
        names = [d.strip().lower()[:3] for d in params["weekdays"].split(",")]
        if not names or any(d not in DAYS for d in names):
            raise ValueError(f"weekdays: a list of {','.join(DAYS)}")
        weekdays = frozenset(DAYS.index(d) for d in names)
    start, end = time(0, 0), None
    if params.get("between"):
        left, sep, right = params["between"].partition("-")
        if not sep:
            raise ValueError("between: HH:MM-HH:MM (local time of day)")
        start, end = _clock(left, "between"), _clock(right, "between")
        if end <= start:
            raise ValueError("between: the end comes after the start (the same day)")
    tz = ZoneInfo(zone)
    try:
        since = datetime.combine(first, time(0, 0), tz).timestamp()
        until = datetime.combine(last + timedelta(days=1), time(0, 0), tz).timestamp()
    except (OverflowError, ValueError, OSError):
        raise ValueError("from and to are dates between the years 1970 and 9998") from None
    return Query(since, until, interval, by, Filter(weekdays, start, end), first, last)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would read such a cell as a formula


def safe_cell(value: object) -> object:
    """A text cell a spreadsheet cannot take for a formula (``=cmd|...``): one starting
    with ``= + - @``, a tab or a carriage return gets a leading apostrophe. Numbers are
    written as they are (a negative figure stays a number)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(rows: list[dict[str, object]]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=[str(safe_cell(k)) for k in rows[0]], lineterminator="\r\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({str(safe_cell(k)): (f"{v:.3f}" if isinstance(v, float) else safe_cell(v))
                             for k, v in row.items()})
    return out.getvalue()
