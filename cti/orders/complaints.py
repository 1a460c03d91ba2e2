"""R16 complaints in the engine: a complaint's disposition opens one (owned by the
agent who took it), kept in the store beside its work order; each step is taken by
whoever may act at the complaint's level (the owner or a supervisor at the owner's
level; the accounts configured for each level above); late feedback goes one level up
with an alert; the call's recordings are under a legal hold (R5) while it is open.
The rules themselves are pure (``workorders.complaints``, ``workorders.calendar``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any

from cti.errors import Forbidden
from cti.store.sql import Database, Sql
from cti.web.auth import Identity
from workorders.calendar import Calendar
from workorders.complaints import Complaint, ComplaintRules, advance, escalate_overdue, open_complaint, overdue

log = logging.getLogger("cti.workorders")
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS complaints (order_id TEXT PRIMARY KEY, call_id TEXT NOT NULL, "
    "owner TEXT NOT NULL, level INTEGER NOT NULL, status TEXT NOT NULL, received_at DOUBLE PRECISION NOT NULL, "
    "feedback_due DOUBLE PRECISION NOT NULL, history TEXT NOT NULL, hold_id TEXT)",
    "CREATE INDEX IF NOT EXISTS complaints_open ON complaints (status, feedback_due)",
)
Hold = Callable[[str, str], Awaitable[str | None]]  # (call id, reason) -> the legal hold's id
Release = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ComplaintSettings:
    rules: ComplaintRules = field(default_factory=ComplaintRules)
    calendar: Calendar = field(default_factory=Calendar)
    # the accounts that act at each level above the owner's ([complaints.accounts])
    accounts: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))


class ComplaintStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(self, call_id: str, c: Complaint, hold_id: str | None) -> None:
        def run(sql: Sql) -> None:
            sql.run("INSERT INTO complaints (order_id, call_id, owner, level, status, received_at, feedback_due, "
                    "history, hold_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_id) DO UPDATE SET "
                    "level = excluded.level, status = excluded.status, feedback_due = excluded.feedback_due, "
                    "history = excluded.history, hold_id = COALESCE(excluded.hold_id, complaints.hold_id)",
                    (c.order_id, call_id, c.owner, c.level, c.status, c.received_at, c.feedback_due,
                     json.dumps(c.history, ensure_ascii=False), hold_id))
        await self.db.do(run)

    async def get(self, order_id: str) -> tuple[str, Complaint, str | None] | None:
        rows = await self.db.do(lambda sql: sql.rows("SELECT * FROM complaints WHERE order_id = ?", (order_id,)))
        return _row(rows[0]) if rows else None

    async def open_ones(self, owner: str | None = None) -> list[tuple[str, Complaint, str | None]]:
        open_states = ("received", "investigating", "result-given", "not-satisfied")
        where = "status IN (?, ?, ?, ?)" + (" AND owner = ?" if owner else "")
        rows = await self.db.do(lambda sql: sql.rows(
            f"SELECT * FROM complaints WHERE {where} ORDER BY feedback_due", (*open_states, *([owner] if owner else []))))
        return [_row(r) for r in rows]


def _row(r: Mapping[str, Any]) -> tuple[str, Complaint, str | None]:
    return (str(r["call_id"]), Complaint(r["order_id"], r["owner"], int(r["level"]), r["status"],
                                         float(r["received_at"]), float(r["feedback_due"]),
                                         tuple(json.loads(r["history"]))), r["hold_id"])


class Complaints:
    def __init__(self, settings: ComplaintSettings, store: ComplaintStore, clock: Callable[[], float],
                 hold: Hold | None = None, release: Release | None = None,
                 alert: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.settings, self.store, self.clock = settings, store, clock
        self._hold, self._release, self._alert = hold, release, alert
        self.escalated = 0  # complaints sent up a level for late feedback, since start

    async def open(self, order_id: str, call_id: str, owner: str, who: str) -> Complaint:
        s = self.settings
        c = open_complaint(order_id, owner, self.clock(), who, s.rules, s.calendar)
        hold_id = None
        if self._hold is not None:  # R5: the call's recordings kept while the complaint is open
            hold_id = await self._hold(call_id, f"complaint {order_id} open (R16)")
        await self.store.save(call_id, c, hold_id)
        log.info("R16 complaint %s opened, owned by agent %s, feedback due %s", order_id, owner, c.feedback_due)
        return c

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
        found = await self.store.get(order_id)
        if found is None:
            raise KeyError(order_id)
        call_id, c, hold_id = found
        rules, level = self.settings.rules, self.level_of(who, c)
        if level is None or rules.level_of(level) < c.level:
            raise Forbidden(f"complaint {order_id} is at the {rules.levels[c.level]}'s level")
        done = advance(c, status, self.clock(), who.name, rules, self.settings.calendar, note, by_level=level,
                       channel=channel)
        await self.store.save(call_id, done, None)
        if not done.is_open and hold_id and self._release is not None:
            await self._release(hold_id)  # R5: normal retention from the close
        return done

    async def check_overdue(self, now: float) -> list[Complaint]:
        """Late feedback: each such complaint one level up, with an alert."""
        up = []
        for call_id, c, _ in await self.store.open_ones():
            if overdue(c, now):
                later = escalate_overdue(c, now, self.settings.rules, self.settings.calendar)
                await self.store.save(call_id, later, None)
                self.escalated += 1
                alert = {"type": "ComplaintOverdue", "order_id": c.order_id, "owner": c.owner,
                         "level": self.settings.rules.levels[later.level], "due": c.feedback_due, "at": now}
                log.warning("R16 ALERT: complaint %s: feedback overdue, escalated to %s", c.order_id, alert["level"])
                if self._alert is not None:
                    self._alert(alert)
                up.append(later)
        return up


def public(c: Complaint, levels: tuple[str, ...]) -> dict[str, Any]:
    return {**asdict(c), "level": levels[c.level], "open": c.is_open, "history": list(c.history)}
