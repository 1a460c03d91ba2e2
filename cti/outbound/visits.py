"""R11 outbound calls: return visits and campaigns.

Closing a repair or service order schedules a return visit (``return_visit_after_days``,
campaign ``return-visits``, configured in ``[return_visits]``); a campaign is a list of
customers imported from CSV (API or CLI) with its own queue, script, call window,
attempts and retry delay. This schedule hands each due entry to the core as an
``OutboundQueued`` call, agent first, in its call window (the site's time zone), never
to a number on the do-not-call list, and never more at once than agents of the queue
are free (progressive: no customer is ever dialled without an agent waiting; inbound
callers take the agents first).

An entry not reached in one pass is tried again ``retry_s`` later, up to
``max_attempts``; the outcome (handled, unreached, do-not-call) is kept on the entry.
Each entry is taken by one engine only (a conditional update in the store), and its
call id names the attempt, so a repeated hand-over changes nothing in the core.
"""

from __future__ import annotations

import asyncio
import collections
import csv
import io
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from datetime import time as dtime
from zoneinfo import ZoneInfo

from acd import campaigns as rules
from acd import commands as c
from acd import events as e
from acd.campaigns import HandOver
from acd.hours import BusinessHours
from acd.model import AgentState
from cti.background import repeat
from cti.configreader import Table
from cti.errors import ConfigError
from cti.masking import mask_number
from cti.runtime import Runtime
from cti.orders.store import WorkOrderStore

log = logging.getLogger("cti.visits")
audit = logging.getLogger("cti.audit")
PREFIX = "rv"


@dataclass(frozen=True, slots=True)
class Campaign:
    campaign_id: str
    queue: str
    window: BusinessHours
    max_attempts: int
    retry_s: float
    script: str = ""
    name: str = ""


def call_id_for(entry_id: str, attempt: int) -> str:
    """``rv<attempt>.<entry>_`` without hyphens (agents' legs are named with them). The
    final ``_`` keeps one id from being the beginning of another (``….1`` and ``….10``):
    Asterisk refused to create a channel whose id began another's with 409 "Channel
    with given unique ID already exists"."""
    return f"{PREFIX}{attempt}.{entry_id.replace('-', '')}_"


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
        self.wake = asyncio.Event()  # a round is due now (``observe``)
        self._ended: collections.deque[c.CallEnded] = collections.deque(maxlen=10_000)
        self._reasons: dict[str, str] = {}  # call id -> why its last attempt failed (machine, busy ...)
        self.queued = 0
        self.errors = 0
        self._reloaded = 0.0  # (monotonic) when the campaigns were last read from the store
        self.campaigns: dict[str, Campaign] = {}
        self.progress: dict[str, dict[str, object]] = {}  # campaign -> entries by status (as of the last reload)

    def blocked(self, number: str) -> bool:
        """R11: checked when the visit is queued and again at dial time."""
        return number in self.numbers_blocked

    def observe(self, cmd: c.Command) -> None:
        """Driven by the core's notices: an agent ready (room for a customer) or an
        outbound call ended (its outcome, and its agent's room) starts a round at once;
        the poll only brings the entries that fall due with time."""
        if isinstance(cmd, c.CallEnded) and cmd.call_id.startswith(PREFIX):
            self._ended.append(cmd)
            self.wake.set()
        elif isinstance(cmd, c.AgentStateChanged) and cmd.state == AgentState.READY.value:
            self.wake.set()
        elif isinstance(cmd, c.CallbackAttempt) and cmd.call_id.startswith(PREFIX) and cmd.outcome != "answered":
            if len(self._reasons) < 10_000:
                self._reasons[cmd.call_id] = cmd.outcome

    def in_window(self, at: float, window: BusinessHours | None = None) -> bool:
        window = window if window is not None else self.settings.window
        return window.is_open(datetime.fromtimestamp(at, self.zone).replace(tzinfo=None))

    async def start(self) -> None:
        self.numbers_blocked = await self.store.do_not_call()
        await self.reload()
        await self.reconcile()

    async def reconcile(self) -> None:
        """After a restart: entries handed to a core that no longer has their call.
        The record of calls says how they ended; one with no record (the engine died
        between the core and the record) is tried again (the core never dialled it
        twice: it is not there)."""
        known = {k.call_id for k in self.runtime.engine.calls()}
        now = self.clock()
        for entry in await self.store.queued_entries():
            if entry["call_id"] in known:
                continue
            ended = await self.store.contact(entry["call_id"])
            if ended is not None:
                await self._outcome(c.CallEnded(entry["call_id"], str(ended["outcome"]), ended["agent_id"], 0.0, 0.0,
                                                float(ended["ended_at"] or now)), now)
            else:
                log.warning("outbound %s: no record of its call after a restart; scheduled again", entry["call_id"])
                await self.store.visit_outcome(entry["call_id"], "scheduled", "lost", now, now)

    async def reload(self) -> None:
        """The campaigns in the store (after a change, and at start)."""
        self.campaigns = {}
        rows = await self.store.campaigns()
        self.progress = {row["campaign_id"]: {"name": row["name"], "status": row["status"], **row["progress"]}
                         for row in rows[-50:]}  # the newest fifty, for the wallboard and /metrics
        if self.settings.queue:  # return visits from closed orders: the builtin list, shown first
            counts: dict[str, object] = {"name": "回訪 return visits", "status": "active"}
            counts.update(await self.store.entry_counts("return-visits"))
            self.progress = {"return-visits": counts, **self.progress}
        for row in rows:
            if row["status"] == "active":
                self.campaigns[row["campaign_id"]] = Campaign(
                    row["campaign_id"], row["queue"], _window(row["hours"]), int(row["max_attempts"]),
                    float(row["retry_s"]), row["script"] or "", row["name"])

    def active(self) -> list[Campaign]:
        builtin = [Campaign("return-visits", self.settings.queue, self.settings.window, self.settings.max_attempts,
                            self.settings.retry_s, name="return visits")] if self.settings.queue else []
        return builtin + list(self.campaigns.values())

    async def set_blocked(self, number: str, on: bool, who: str, reason: str = "") -> None:
        await self.store.set_do_not_call(number, on, who, reason, self.clock())
        (self.numbers_blocked.add if on else self.numbers_blocked.discard)(number)
        audit.info("do-not-call %s %s by %s%s", "added" if on else "removed", mask_number(number), who,
                   f" ({reason})" if reason else "")

    async def step(self) -> int:
        """Record what ended; hand due entries to the core. Returns how many were queued."""
        now = self.clock()
        while self._ended:
            await self._outcome(self._ended[0], now)
            self._ended.popleft()
        budgets: dict[str, int] = {}
        queued = 0
        for campaign in self.active():
            if not self.in_window(now, campaign.window):
                continue
            if campaign.queue not in budgets:  # R11 pacing: the core's ready agents, less its waiting calls
                budgets[campaign.queue] = self.runtime.engine.outbound_capacity(campaign.queue)
            if budgets[campaign.queue] > 0:
                n = await self._hand_over(campaign, budgets[campaign.queue], now)
                budgets[campaign.queue] -= n
                queued += n
        self.queued += queued
        return queued

    async def _hand_over(self, campaign: Campaign, budget: int, now: float) -> int:
        queued = 0
        for entry in await self.store.due_visits(campaign.campaign_id, now, budget + 50):
            # R20: the contact number the agent recorded first, then the one the customer called from
            number, refused = rules.number_to_dial((_contact(entry), str(entry["caller"] or "")), self.blocked)
            action, outcome = (HandOver.CLOSE, refused) if refused else rules.hand_over(number, False, queued, budget)
            if action is HandOver.LATER:
                continue
            attempt = int(entry["attempts"]) + 1
            call_id = call_id_for(entry["entry_id"], attempt)
            if not await self.store.visit_queued(entry["entry_id"], call_id, attempt, now):
                continue  # another engine took it
            if action is HandOver.CLOSE:
                await self.store.visit_outcome(call_id, "closed", outcome, None, now)
                continue
            kind = rules.kind(campaign.campaign_id)
            self.runtime.apply(e.OutboundQueued(call_id, campaign.queue, number, now, kind))
            log.info("%s %s queued for %s (attempt %d)", kind, call_id, mask_number(number), attempt)
            queued += 1
        return queued

    async def _outcome(self, ended: c.CallEnded, now: float) -> None:
        reason = self._reasons.pop(ended.call_id, ended.outcome)  # no-answer, busy, machine ... when unreached
        entry = await self.store.entry_by_call(ended.call_id)
        if entry is None:
            return
        campaign = next((k for k in self.active() if k.campaign_id == entry["campaign_id"]), None)
        after = rules.after_call(ended.outcome, reason, int(entry["attempts"]),
                                 campaign.max_attempts if campaign else None,
                                 campaign.retry_s if campaign else 0.0, now)
        await self.store.visit_outcome(ended.call_id, after.status, after.outcome, after.due_at, now)

    async def run(self) -> None:
        await repeat(self._round, self.settings.poll_s, self._failed, self.wake)

    async def _round(self) -> None:
        if time.monotonic() - self._reloaded > 10.0:  # campaigns added by the CLI, or another engine
            self._reloaded = time.monotonic()
            await self.reload()
        await self.step()

    def _failed(self, exc: Exception) -> None:
        self.errors += 1
        log.error("return visits step failed (tried again): %s", exc)


def _window(hours: dict[str, list[str]] | None) -> BusinessHours:
    """A campaign's call window as stored: {"mon": ["09:00-20:00"], ...}; none: always."""
    if not hours:
        return BusinessHours()
    return BusinessHours({day: tuple((dtime.fromisoformat(a), dtime.fromisoformat(b))
                                     for a, b in (span.split("-") for span in spans))
                          for day, spans in hours.items()})


def campaign_from_csv(name: str, queue: str, csv_text: str, now: float, script: str = "",
                      hours: dict[str, list[str]] | None = None, max_attempts: int = 3,
                      retry_s: float = 4 * 3600.0) -> tuple[dict[str, object], list[tuple[str, str]], list[int]]:
    """A new campaign from a CSV list (``number[,name]`` per line; a header line
    ``number,...`` is skipped). Returns the campaign, its entries, and the lines
    refused (not a phone number). Raises ``ValueError`` for a bad setting."""
    if not name or len(name) > 100 or not queue:
        raise ValueError("a campaign needs a name (max 100) and a queue")
    if not 1 <= max_attempts <= 20 or retry_s < 1:
        raise ValueError("max_attempts is 1..20, retry at least 1 s")
    try:
        _window(hours)
    except (ValueError, TypeError, AttributeError):
        raise ValueError('hours are {"mon": ["09:00-20:00"], ...}') from None
    if hours and set(hours) - {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}:
        raise ValueError("hours name days mon..sun")
    entries: list[tuple[str, str]] = []
    refused: list[int] = []
    seen: set[str] = set()
    for line_no, row in enumerate(csv.reader(io.StringIO(csv_text)), start=1):
        if not row or not "".join(row).strip():
            continue
        number = "".join(ch for ch in row[0] if ch.isdigit() or ch == "+")
        if line_no == 1 and not number:
            continue  # a header
        if not 5 <= len(number) <= 20:
            refused.append(line_no)
            continue
        if number not in seen:  # a customer once per campaign
            seen.add(number)
            entries.append((number, (row[1].strip() if len(row) > 1 else "")[:100]))
    if len(entries) > 100_000:
        raise ValueError("at most 100,000 customers per campaign")
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    campaign = {"campaign_id": "C" + "".join(secrets.choice(letters) for _ in range(7)), "name": name,
                "queue": queue, "script": script[:4000], "hours": hours or {}, "max_attempts": max_attempts,
                "retry_s": retry_s, "created_at": now}
    return campaign, entries, refused


def _contact(entry: Mapping[str, Any]) -> str:
    """The contact number recorded on a return visit's order ("" for a campaign's entry)."""
    try:
        fields = json.loads(entry.get("order_fields") or "{}")
    except (TypeError, ValueError):
        return ""
    return str(fields.get("contact_number") or "") if isinstance(fields, dict) else ""
