"""15-minute buckets and the reports made of them (R13).

Every ended call adds to the bucket of its queue and business kind for the 15 minutes
its end fell in (``BUCKET_S``, aligned to the epoch: every time zone in use is a whole
number of quarter hours from UTC, so the buckets are local quarter hours too); what
happened on the way (ring-no-answer, hold overruns, overflows, callbacks requested)
and the agent's wrap-up after it add to the bucket where they happened. A report
merges buckets into periods of 15 minutes, an hour, a day, an ISO week or a month in
the site's time zone, optionally only some days of the week and a time of day, and
computes each period's figures with ``acd.metrics.rates``: the live windows'
definitions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from acd.metrics import Sums, rates
from reports.records import AgentSpan, CallRecord

BUCKET_S = 900.0
INTERVALS = ("15m", "hour", "day", "week", "month")


@dataclass(slots=True)
class QueueSums(Sums):
    """Sums plus what only the record knows (not the live windows)."""

    rona: int = 0
    hold_overruns: int = 0
    overflowed: int = 0  # calls that left this queue for another (R9)
    callbacks: int = 0  # callbacks requested while waiting here (R11)


Key = tuple[str, str, float]  # queue, kind, bucket start


def bucket_of(at: float) -> float:
    return at - at % BUCKET_S


class Buckets:
    """The buckets in memory (the store keeps the same sums in ``queue_buckets``)."""

    def __init__(self, sl_threshold_s: float = 20.0) -> None:
        self.sl_threshold_s = sl_threshold_s
        self.sums: dict[Key, QueueSums] = {}

    def _at(self, queue: str, kind: str, at: float) -> QueueSums:
        key = (queue, kind, bucket_of(at))
        found = self.sums.get(key)
        if found is None:
            found = self.sums[key] = QueueSums()
        return found

    def add_call(self, rec: CallRecord) -> None:
        self._at(rec.queue, rec.kind, rec.ended_at).merge(call_sums(rec, self.sl_threshold_s))
        for offer in rec.offers:
            if offer.result == "no-answer":
                self._at(rec.queue, rec.kind, offer.at + offer.rang_s).rona += 1
        for left in rec.overflowed_from:  # counted where it left, when the call ended
            self._at(left, rec.kind, rec.ended_at).overflowed += 1

    def add_span(self, span: AgentSpan) -> None:
        if span.state == "wrap-up" and span.queue:
            self._at(span.queue, "", span.ended_at).wrap_s += span.ended_at - span.started_at


def call_sums(rec: CallRecord, sl_threshold_s: float) -> QueueSums:
    """What one call adds to the bucket it ended in (RONA go where they happened)."""
    s = QueueSums()
    s.add(rec.outcome, rec.waited_s, rec.talked_s, rec.held_s, rec.emergency, sl_threshold_s)
    s.hold_overruns = rec.hold_overruns
    s.callbacks = int(rec.callback)
    return s


@dataclass(frozen=True, slots=True)
class Filter:
    """Which buckets a report takes: days of the week (0 = Monday) and a local time of
    day [start, end)."""

    weekdays: frozenset[int] = frozenset(range(7))
    start: time = time(0, 0)
    end: time | None = None  # None: to midnight

    def takes(self, local: datetime) -> bool:
        t = local.time()
        return local.weekday() in self.weekdays and t >= self.start and (self.end is None or t < self.end)


def period_of(local: datetime, interval: str) -> datetime:
    if interval == "15m":
        return local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)
    if interval == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "day":
        return day
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    raise ValueError(f"interval is one of {', '.join(INTERVALS)}")


def report(buckets: Iterable[tuple[str, str, float, QueueSums]], interval: str, zone: str,
           by: str = "queue", where: Filter = Filter()) -> list[dict[str, object]]:
    """Rows per period and queue (``by="queue"``), business kind (``"kind"``) or for
    all (``"all"``), oldest first, each with its sums and figures."""
    tz = ZoneInfo(zone)
    merged: dict[tuple[datetime, str], QueueSums] = {}
    periods: dict[float, datetime | None] = {}  # bucket start -> its period (None: filtered out)
    for queue, kind, start, sums in buckets:
        if start in periods:
            period = periods[start]
        else:
            local = datetime.fromtimestamp(start, tz)
            period = periods[start] = period_of(local, interval) if where.takes(local) else None
        if period is None:
            continue
        name = queue if by == "queue" else kind if by == "kind" else ""
        if by == "kind" and not kind and not sums.offered:  # wrap-up is counted per queue only
            continue
        key = (period, name)
        target = merged.get(key)
        if target is None:
            target = merged[key] = QueueSums()
        target.merge(sums)
    return [row(period, name, sums, by) for (period, name), sums in sorted(merged.items())]


def row(period: datetime, name: str, s: QueueSums, by: str) -> dict[str, object]:
    out: dict[str, object] = {"period": period.isoformat()}
    if by != "all":
        out[by] = name
    out.update(asdict(s))
    out.update(rates(s))
    return out
