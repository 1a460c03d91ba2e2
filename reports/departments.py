"""R13 per work-order department (R12): volumes and times, per period of creation.

- created: orders made in the period (by business kind in ``kinds``);
- by channel in ``channels`` (R20: hotline, hall, web, letter);
- done, unresolved (R20: closed without a solution, a follow-up opened), cancelled,
  open (as of now);
- overdue: done after their due time, or still open past it;
- mean_close_h: creation to done, in hours, over the done orders.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from reports.intervals import Filter, period_of

# department, kind, status, created, closed, due, channel
Order = tuple[str, str, str, float, float | None, float, str]
CHANNELS = ("hotline", "hall", "web", "letter")


def department_report(orders: Iterable[Order], interval: str, zone: str, now: float,
                      where: Filter = Filter()) -> list[dict[str, object]]:
    tz = ZoneInfo(zone)
    rows: dict[tuple[datetime, str], dict[str, object]] = {}
    close_h: dict[tuple[datetime, str], list[float]] = {}
    for department, kind, status, created, closed, due, channel in orders:
        local = datetime.fromtimestamp(created, tz)
        if not where.takes(local):
            continue
        key = (period_of(local, interval), department)
        r = rows.setdefault(key, {"period": key[0].isoformat(), "department": department, "created": 0, "done": 0,
                                  "unresolved": 0, "cancelled": 0, "open": 0, "overdue": 0, "kinds": {},
                                  "channels": dict.fromkeys(CHANNELS, 0)})
        r["created"] = int(r["created"]) + 1  # type: ignore[call-overload]
        kinds = r["kinds"]
        assert isinstance(kinds, dict)
        kinds[kind] = kinds.get(kind, 0) + 1
        channels = r["channels"]
        assert isinstance(channels, dict)
        channels[channel] = channels.get(channel, 0) + 1
        bucket = status if status in ("done", "unresolved", "cancelled") else "open"
        r[bucket] = int(r[bucket]) + 1  # type: ignore[call-overload]
        finished = closed if bucket != "open" and closed is not None else None
        if (finished is not None and bucket == "done" and finished > due) or (finished is None and now > due
                                                                               and bucket == "open"):
            r["overdue"] = int(r["overdue"]) + 1  # type: ignore[call-overload]
        if bucket == "done" and closed is not None:
            close_h.setdefault(key, []).append((closed - created) / 3600)
    for key, r in rows.items():
        hours = close_h.get(key, [])
        r["mean_close_h"] = sum(hours) / len(hours) if hours else 0.0
    return [rows[k] for k in sorted(rows)]
