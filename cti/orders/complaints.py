"""R16 complaints in the engine: a complaint's disposition opens one (owned by the
agent who took it), written in the same transaction as its work order; each step is
taken by whoever may act at the complaint's level (the owner or a supervisor at the
owner's level; the accounts configured for each level above) and written only if the
complaint did not change meanwhile; late feedback goes one level up with an alert; the
call's recordings are under a legal hold (R5) while it is open. Holds that could not be
placed or released are tried again by the orders' maintenance loop. The rules
themselves are pure (``workorders.complaints``, ``workorders.calendar``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from types import MappingProxyType
from typing import Any

from cti.errors import Conflict, Forbidden
from cti.store.sql import Database, Sql, bounded
from cti.web.accounts import Identity
from workorders.calendar import Calendar
from workorders.model import BadTransition
from workorders.complaints import OPEN, Complaint, ComplaintRules, advance, escalate_overdue, open_complaint, overdue

log = logging.getLogger("cti.workorders")
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS complaints (order_id TEXT PRIMARY KEY, call_id TEXT NOT NULL, "
    "owner TEXT NOT NULL, level INTEGER NOT NULL, status TEXT NOT NULL, received_at DOUBLE PRECISION NOT NULL, "
    "feedback_due DOUBLE PRECISION NOT NULL, history TEXT NOT NULL, steps INTEGER NOT NULL, "
    "closed_at DOUBLE PRECISION, hold_id TEXT)",
    "CREATE INDEX IF NOT EXISTS complaints_open ON complaints (status, feedback_due)",
)
MAX_OPEN = 10_000  # open complaints read at once (the list, the overdue check)
# (call id, the customer's number or "", reason) -> the legal hold's id (None: no recorder)
Hold = Callable[[str, str, str], Awaitable[str | None]]
# R16 feedback: (call id, the customer's number, the agent) -> None when queued, else why not
Dial = Callable[[str, str, str], str | None]
Release = Callable[[str], Awaitable[bool]]  # hold id -> released (False: no recorder here)
Live = Callable[[str], bool]  # R16: a call id -> whether the core still has that call (queued, ringing, talking)
MAX_STEPS = 200  # a complaint's history at most (steps, escalations, feedback calls): the row stays bounded
_OPEN_SQL = "complaints.status IN (" + ", ".join(f"'{s}'" for s in OPEN) + ")"
_SELECT = ("SELECT complaints.*, work_orders.caller AS caller FROM complaints "
           "LEFT JOIN work_orders ON work_orders.order_id = complaints.order_id")


@dataclass(frozen=True, slots=True)
class ComplaintSettings:
    rules: ComplaintRules = field(default_factory=ComplaintRules)
    calendar: Calendar = field(default_factory=Calendar)
    # the accounts that act at each level above the owner's ([complaints.accounts])
    accounts: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class Kept:
    call_id: str
    complaint: Complaint
    hold_id: str | None
    caller: str = ""  # the customer's number (from the work order)


class ComplaintStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def insert(sql: Sql, call_id: str, c: Complaint) -> None:
        """In the transaction that records the complaint's work order."""
        sql.run("INSERT INTO complaints (order_id, call_id, owner, level, status, received_at, feedback_due, "
                "history, steps) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (c.order_id, call_id, c.owner, c.level, c.status, c.received_at, c.feedback_due,
                 json.dumps(c.history, ensure_ascii=False), len(c.history)))

    async def update(self, c: Complaint, steps_before: int) -> bool:
        """Write ``c`` if the complaint still has ``steps_before`` steps (nobody else
        changed it meanwhile)."""
        closed_at = c.history[-1]["at"] if not c.is_open else None
        return bool(await self.db.do(lambda sql: sql.run(
            "UPDATE complaints SET level = ?, status = ?, feedback_due = ?, history = ?, steps = ?, closed_at = ? "
            "WHERE order_id = ? AND steps = ?",
            (c.level, c.status, c.feedback_due, json.dumps(c.history, ensure_ascii=False), len(c.history),
             closed_at, c.order_id, steps_before))))

    async def set_hold(self, order_id: str, hold_id: str | None) -> None:
        await self.db.do(lambda sql: sql.run("UPDATE complaints SET hold_id = ? WHERE order_id = ?",
                                             (hold_id, order_id)))

    async def get(self, order_id: str) -> Kept | None:
        rows = await self.db.do(lambda sql: sql.rows(f"{_SELECT} WHERE complaints.order_id = ?", (order_id,)))
        return _kept(rows[0]) if rows else None

    async def open_ones(self, owner: str | None = None) -> list[Kept]:
        where = _OPEN_SQL + (" AND complaints.owner = ?" if owner else "")
        rows = await self.db.do(lambda sql: sql.rows(
            f"{_SELECT} WHERE {where} ORDER BY feedback_due LIMIT ?",
            (*([owner] if owner else []), MAX_OPEN + 1)))
        return [_kept(r) for r in bounded(rows, MAX_OPEN, "open complaints")]

    async def holds_to_place(self) -> list[Kept]:
        rows = await self.db.do(lambda sql: sql.rows(
            f"{_SELECT} WHERE {_OPEN_SQL} AND complaints.hold_id IS NULL LIMIT 500"))
        return [_kept(r) for r in rows]

    async def holds_to_release(self, closed_before: float) -> list[Kept]:
        rows = await self.db.do(lambda sql: sql.rows(
            f"{_SELECT} WHERE NOT {_OPEN_SQL} AND complaints.hold_id IS NOT NULL AND complaints.closed_at < ? LIMIT 500",
            (closed_before,)))
        return [_kept(r) for r in rows]

    async def purge(self, before: float) -> int:
        """R5: complaints closed (and their holds released) before ``before``."""
        return int(await self.db.do(lambda sql: sql.run(
            "DELETE FROM complaints WHERE closed_at < ? AND hold_id IS NULL", (before,))))


def _kept(r: Mapping[str, Any]) -> Kept:
    return Kept(str(r["call_id"]), Complaint(r["order_id"], r["owner"], int(r["level"]), r["status"],
                                             float(r["received_at"]), float(r["feedback_due"]),
                                             tuple(json.loads(r["history"]))), r["hold_id"], str(r["caller"] or ""))


class Complaints:
    def __init__(self, settings: ComplaintSettings, store: ComplaintStore, clock: Callable[[], float],
                 hold: Hold | None = None, release: Release | None = None,
                 alert: Callable[[dict[str, Any]], None] | None = None, dial: Dial | None = None,
                 keep_s: float = 0.0, live: Live | None = None) -> None:
        self.settings, self.store, self.clock = settings, store, clock
        # R5: how long a closed complaint's hold stays (the normal retention, counted from the close)
        self.keep_s = keep_s
        self._hold, self._release, self._alert, self._dial = hold, release, alert, dial
        self._live = live
        self.escalated = 0  # complaints sent up a level for late feedback, since start
        self.errors = 0  # maintenance steps that failed (logged, tried again)

    def opened(self, order_id: str, owner: str, who: str, fields: Mapping[str, str]) -> Complaint:
        """The complaint a complaint's work order opens (written with the order): at the
        manager's level at once when the disposition says it is major or a group's, or
        claims ``high_claim`` or more."""
        s = self.settings
        return open_complaint(order_id, owner, self.clock(), who, s.rules, s.calendar,
                              major=fields.get("severity") in ("major", "group"),
                              claim=float(fields.get("claim") or 0))

    async def hold(self, order_id: str, call_id: str, caller: str) -> None:
        """R5: the customer's recordings (the complaint's call, the feedback calls) kept
        while the complaint is open; a failure is logged and tried again by ``maintain``."""
        if self._hold is None:
            return
        try:
            hold_id = await self._hold(call_id, caller, f"complaint {order_id} open (R16)")
        except Exception as exc:
            self.errors += 1
            log.error("R5: complaint %s: its recordings could not be held (tried again): %s", order_id, exc)
            return
        if hold_id is not None:
            await self.store.set_hold(order_id, hold_id)

    def level_of(self, who: Identity, c: Complaint) -> str | None:
        """The highest level ``who`` acts at for ``c`` (None: none)."""
        rules = self.settings.rules
        held = [name for name in rules.levels if name != "owner" and (
            who.role == "admin" or who.name.removeprefix("account:") in self.settings.accounts.get(name, ()))]
        if held:
            return held[-1]
        if who.agent_id == c.owner or who.role == "supervisor":
            return "owner"
        return None

    async def step(self, order_id: str, status: str, note: str, who: Identity, channel: str | None = None) -> Complaint:
        kept = await self.store.get(order_id)
        if kept is None:
            raise KeyError(order_id)
        c = kept.complaint
        rules, level = self.settings.rules, self.level_of(who, c)
        if level is None or rules.level_of(level) < c.level:
            raise Forbidden(f"complaint {order_id} is at the {rules.levels[c.level]}'s level")
        if len(c.history) >= MAX_STEPS and status != "closed":
            raise BadTransition(f"complaint {order_id} has {MAX_STEPS} steps already: close it (with a reason)")
        if status == "closed" and rules.level_of(level) < rules.level_of(rules.close_from):
            raise Forbidden(f"only the {rules.close_from}'s level or above closes a complaint the customer "
                            "has not accepted")
        done = advance(c, status, self.clock(), who.name, rules, self.settings.calendar, note, by_level=level,
                       channel=channel)
        if not await self.store.update(done, len(c.history)):
            raise Conflict(f"complaint {order_id} changed meanwhile: read it again")
        if not done.is_open and kept.hold_id and self.keep_s <= 0:
            await self._released(order_id, kept.hold_id)  # (else ``maintain``, once closed for keep_s)
        return done

    async def feedback_call(self, order_id: str, who: Identity) -> str:
        """R16: the result given by phone: a call to the customer from the phone of
        ``who`` (an agent acting at the complaint's level), agent first (R2), recorded
        and under the complaint's hold like its first call (the hold is the customer's).
        Noted in the history; the result and the customer's answer are then the usual
        steps."""
        kept = await self.store.get(order_id)
        if kept is None:
            raise KeyError(order_id)
        c = kept.complaint
        level = self.level_of(who, c)
        if level is None or self.settings.rules.level_of(level) < c.level:
            raise Forbidden(f"complaint {order_id} is at the {self.settings.rules.levels[c.level]}'s level")
        if not c.is_open:
            raise BadTransition(f"complaint {order_id} is {c.status}: it is over")
        if not who.agent_id or self._dial is None:
            raise BadTransition("a feedback call rings an agent's phone first: sign in as an agent "
                                "(or record the result given by another channel)")
        if not kept.caller:
            raise BadTransition(f"complaint {order_id}: the customer's number is not known")
        if len(c.history) >= MAX_STEPS:
            raise BadTransition(f"complaint {order_id} has {MAX_STEPS} steps already")
        earlier = [str(h["call_id"]) for h in c.history if h.get("call_id")]
        if earlier and self._live is not None and self._live(earlier[-1]):
            raise BadTransition(f"complaint {order_id}: the feedback call {earlier[-1]} is still under way")
        call_id = f"fb{len(c.history)}.{order_id.replace('-', '')}_"  # (no dash: agents' legs use them)
        entry = {"at": self.clock(), "who": who.name, "status": c.status, "note": "feedback call",
                 "call_id": call_id}
        if not await self.store.update(replace(c, history=(*c.history, entry)), len(c.history)):
            raise Conflict(f"complaint {order_id} changed meanwhile: read it again")
        refused = self._dial(call_id, kept.caller, who.agent_id)
        if refused is not None:  # no call placed: the history does not say one was
            await self.store.update(c, len(c.history) + 1)
            raise BadTransition(refused)
        return call_id

    async def _released(self, order_id: str, hold_id: str) -> None:
        if self._release is None:
            return
        try:
            if await self._release(hold_id):
                await self.store.set_hold(order_id, None)
                log.info("R5: complaint %s: hold %s released (the normal retention from the close)",
                         order_id, hold_id)
            else:
                log.warning("R5: complaint %s closed: hold %s not released here (no recorder; tried again)",
                            order_id, hold_id)
        except Exception as exc:
            self.errors += 1
            log.error("R5: complaint %s closed: hold %s not released (tried again): %s", order_id, hold_id, exc)

    async def check_overdue(self, now: float) -> list[Complaint]:
        """Late feedback: each such complaint one level up, with an alert (skipped when
        a step changed it meanwhile: it is looked at again next time)."""
        up = []
        for kept in await self.store.open_ones():
            c = kept.complaint
            if overdue(c, now):
                later = escalate_overdue(c, now, self.settings.rules, self.settings.calendar)
                if not await self.store.update(later, len(c.history)):
                    continue
                self.escalated += 1
                alert = {"type": "ComplaintOverdue", "order_id": c.order_id, "owner": c.owner,
                         "level": self.settings.rules.levels[later.level], "due": c.feedback_due, "at": now}
                log.warning("R16 ALERT: complaint %s: feedback overdue, escalated to %s", c.order_id, alert["level"])
                if self._alert is not None:
                    self._alert(alert)
                up.append(later)
        return up

    async def maintain(self, now: float) -> None:
        """Late feedback escalated; holds not yet placed, placed; the holds of complaints
        closed ``keep_s`` ago released (R5: the normal retention runs from the close:
        the recordings go at the next purge after that), or tried again."""
        await self.check_overdue(now)
        for kept in await self.store.holds_to_place():
            await self.hold(kept.complaint.order_id, kept.call_id, kept.caller)
        for kept in await self.store.holds_to_release(now - self.keep_s):
            if kept.hold_id:
                await self._released(kept.complaint.order_id, kept.hold_id)


def public(c: Complaint, levels: tuple[str, ...]) -> dict[str, Any]:
    return {**asdict(c), "level": levels[c.level], "open": c.is_open, "history": list(c.history)}
