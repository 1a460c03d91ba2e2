"""R11 return visits: closing a repair or service order schedules a call back to the
customer (``return_visit_after_days``); this schedule hands each due visit to the core
as an ``OutboundQueued`` call, agent first, in the call window of the site's time zone,
never to a number on the do-not-call list, and never more at once than agents of the
queue are free (progressive: no customer is ever dialled without an agent waiting).

A visit not reached in one pass is tried again ``retry_h`` later, up to
``max_attempts``; the outcome (handled, unreached, do-not-call) is kept on the visit.
Each visit is taken by one engine only (a conditional update in the store), and its
call id names the attempt, so a repeated hand-over changes nothing in the core.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from acd import commands as c
from acd import events as e
from acd.hours import BusinessHours
from cti.configreader import Table
from cti.errors import ConfigError
from cti.masking import mask_number
from cti.runtime import Runtime
from cti.workorders.store import WorkOrderStore

log = logging.getLogger("cti.visits")
audit = logging.getLogger("cti.audit")
PREFIX = "rv-"


@dataclass(frozen=True, slots=True)
class VisitSettings:
    queue: str = ""  # "" = return visits are scheduled, not dialled
    window: BusinessHours = field(default_factory=BusinessHours)
    max_attempts: int = 3
    retry_s: float = 4 * 3600.0
    poll_s: float = 2.0
    timezone: str = "UTC"  # the site's: the window is local time


def parse_visits(t: Table, queues: Iterable[str], zone: str = "UTC") -> VisitSettings:
    if not t.data:
        t.check_unknown()
        return VisitSettings()
    names = list(queues)
    queue = t.text("queue")
    if queue not in names:
        raise ConfigError(f"{t.path}.queue", f"one of the queues {names}", queue)
    weekly = t.weekly_spans()
    settings = VisitSettings(queue, BusinessHours(weekly or None), t.integer("max_attempts", 3, 1, 20),
                             t.number("retry_h", 4.0, 0.0003) * 3600.0, t.number("poll_s", 2.0, 0.1), zone)
    t.check_unknown()
    return settings


class ReturnVisits:
    def __init__(self, settings: VisitSettings, store: WorkOrderStore, runtime: Runtime,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.store = store
        self.runtime = runtime
        self.zone = ZoneInfo(settings.timezone)
        self.clock = clock
        self.numbers_blocked: set[str] = set()  # the do-not-call list, as of the last change
        self._ended: collections.deque[c.CallEnded] = collections.deque(maxlen=10_000)
        self.queued = 0
        self.errors = 0

    def blocked(self, number: str) -> bool:
        """R11: checked when the visit is queued and again at dial time."""
        return number in self.numbers_blocked

    def observe(self, cmd: c.Command) -> None:
        if isinstance(cmd, c.CallEnded) and cmd.call_id.startswith(PREFIX):
            self._ended.append(cmd)

    def in_window(self, at: float) -> bool:
        return self.settings.window.is_open(datetime.fromtimestamp(at, self.zone).replace(tzinfo=None))

    def free_agents(self) -> int:
        """Agents of the queue ready now, less the calls already waiting for them
        (inbound callers first; visits already handed over)."""
        q = self.settings.queue
        ready = sum(1 for a in self.runtime.engine.agents() if a.state == "ready" and q in a.queues)
        waiting = sum(1 for k in self.runtime.engine.calls() if k.queue == q and k.state in ("waiting", "offered"))
        return max(0, ready - waiting)

    async def start(self) -> None:
        self.numbers_blocked = await self.store.do_not_call()

    async def set_blocked(self, number: str, on: bool, who: str, reason: str = "") -> None:
        await self.store.set_do_not_call(number, on, who, reason, self.clock())
        (self.numbers_blocked.add if on else self.numbers_blocked.discard)(number)
        audit.info("do-not-call %s %s by %s%s", "added" if on else "removed", mask_number(number), who,
                   f" ({reason})" if reason else "")

    async def step(self) -> int:
        """Record what ended; hand due visits to the core. Returns how many were queued."""
        now = self.clock()
        while self._ended:
            ended = self._ended[0]
            await self._outcome(ended, now)
            self._ended.popleft()
        if not self.settings.queue or not self.in_window(now):
            return 0
        budget = self.free_agents()
        if budget == 0:
            return 0
        queued = 0
        for visit in await self.store.due_visits(now, budget + 50):  # numbers blocked take no agent
            if queued >= budget:
                break
            number = str(visit["caller"] or "")
            attempt = int(visit["attempts"]) + 1
            call_id = f"{PREFIX}{visit['order_id']}-{attempt}"
            if not await self.store.visit_queued(visit["order_id"], call_id, attempt, now):
                continue  # another engine took it
            if not number or self.blocked(number):
                await self.store.visit_outcome(call_id, "closed", "do-not-call" if number else "no-number", None, now)
                continue
            self.runtime.apply(e.OutboundQueued(call_id, self.settings.queue, number, now))
            log.info("return visit %s queued for %s (attempt %d)", call_id, mask_number(number), attempt)
            queued += 1
        self.queued += queued
        return queued

    async def _outcome(self, ended: c.CallEnded, now: float) -> None:
        attempt = int(ended.call_id.rsplit("-", 1)[-1]) if ended.call_id.rsplit("-", 1)[-1].isdigit() else 1
        if ended.outcome == "handled":
            await self.store.visit_outcome(ended.call_id, "done", "handled", None, now)
        elif attempt < self.settings.max_attempts:
            await self.store.visit_outcome(ended.call_id, "scheduled", ended.outcome, now + self.settings.retry_s, now)
        else:
            await self.store.visit_outcome(ended.call_id, "closed", "unreached", None, now)

    async def run(self) -> None:
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.errors += 1
                log.error("return visits step failed (tried again): %s", exc)
            await asyncio.sleep(self.settings.poll_s)
