"""R16 complaints closed with the customer, without I/O.

A complaint is owned by the agent who took it (首問負責) and handled at a level: the
owner first, then, each time the customer is not satisfied or the feedback is late,
one level up (``levels``: owner, supervisor, manager by default). Its path:

    received -> investigating -> result-given -> accepted            (closed with the customer)
                      ^                       \\-> not-satisfied ->+
                      +---------- reopened one level up <---------+

The result is due within ``feedback_days`` working days (workorders.calendar) of
reaching a level; past it, the complaint goes one level up with a new due time and an
alert. A major or group complaint, or a claim of ``high_claim`` or more, starts at the
manager's level. Only the manager's level or above (``close_from``) may close a
complaint the customer has not accepted, and only with a reason. Every step is in the
history with who and when.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from workorders.calendar import Calendar
from workorders.model import BadTransition

OPEN = ("received", "investigating", "result-given", "not-satisfied")
STATUSES = (*OPEN, "accepted", "closed")
_NEXT: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "received": ("investigating",),
    "investigating": ("result-given",),
    "result-given": ("accepted", "not-satisfied"),
    "not-satisfied": ("investigating",),  # reopened, one level up
})


@dataclass(frozen=True, slots=True)
class ComplaintRules:
    levels: tuple[str, ...] = ("owner", "supervisor", "manager")
    feedback_days: int = 3  # working days to give the customer the result, at each level
    high_claim: float = 10_000.0  # a claim of this much or more starts at the manager's level (002: ¥10,000)
    close_from: str = "manager"  # the lowest level that may close without the customer's acceptance

    def level_of(self, name: str) -> int:
        return self.levels.index(name)


@dataclass(frozen=True, slots=True)
class Complaint:
    order_id: str
    owner: str  # the agent who took it
    level: int  # index into ComplaintRules.levels
    status: str
    received_at: float
    feedback_due: float
    history: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


CHANNELS = ("phone", "sms", "visit", "letter", "email")  # how the result reached the customer


def _step(c: Complaint, at: float, who: str, status: str, note: str, channel: str | None = None,
          **changes: Any) -> Complaint:
    entry = {"at": at, "who": who, "status": status, "note": note, **({"channel": channel} if channel else {})}
    return replace(c, status=status, history=(*c.history, entry), **changes)


def open_complaint(order_id: str, owner: str, at: float, who: str, rules: ComplaintRules, calendar: Calendar,
                   major: bool = False, claim: float = 0.0) -> Complaint:
    """A complaint received: owned by ``owner``; at the manager's level at once when it
    is major (or a group's) or its claim reaches ``high_claim``."""
    level = rules.level_of("manager") if (major or claim >= rules.high_claim) and "manager" in rules.levels else 0
    why = "major or group complaint" if major else (f"claim of {claim:g}" if claim >= rules.high_claim else "")
    c = Complaint(order_id, owner, level, "received", at, calendar.due(at, rules.feedback_days))
    return _step(c, at, who, "received", f"at level {rules.levels[level]}" + (f" ({why})" if why else ""))


def advance(c: Complaint, status: str, at: float, who: str, rules: ComplaintRules, calendar: Calendar,
            note: str = "", by_level: str | None = None, channel: str | None = None) -> Complaint:
    """One step on the path; ``closed`` needs ``by_level`` at ``close_from`` or above
    and a reason. Not-satisfied reopens the complaint one level up with a new due time.
    ``result-given`` says how the result reached the customer (``channel``: a feedback
    call, or a note of another channel) and what it was (``note``)."""
    if not c.is_open:
        raise BadTransition(f"complaint {c.order_id} is {c.status}: it is over")
    if status == "closed":
        if by_level is None or by_level not in rules.levels or (
                rules.level_of(by_level) < rules.level_of(rules.close_from)):
            raise BadTransition(f"only the {rules.close_from}'s level or above closes a complaint "
                                "the customer has not accepted")
        if not note.strip():
            raise BadTransition("closing a complaint the customer has not accepted needs a reason")
        return _step(c, at, who, "closed", note)
    if status not in _NEXT[c.status]:
        raise BadTransition(f"complaint {c.order_id}: {c.status} -> {status} is not a step "
                            f"(next: {', '.join(_NEXT[c.status])} or closed)")
    if status == "result-given":
        if channel not in CHANNELS:
            raise BadTransition(f"the result reaches the customer by one of {', '.join(CHANNELS)}")
        if not note.strip():
            raise BadTransition("the result given to the customer is written down (note)")
        return _step(c, at, who, status, note, channel)
    if c.status == "not-satisfied":  # reopened: one level up, the feedback due again
        up = min(c.level + 1, len(rules.levels) - 1)
        return _step(c, at, who, status, note or f"reopened at level {rules.levels[up]}", level=up,
                     feedback_due=calendar.due(at, rules.feedback_days))
    return _step(c, at, who, status, note)


def overdue(c: Complaint, now: float) -> bool:
    """The customer has not had the result by its due time (once given, the customer
    answers; not satisfied, the reopening sets the due time again)."""
    return c.status in ("received", "investigating") and now > c.feedback_due


def escalate_overdue(c: Complaint, now: float, rules: ComplaintRules, calendar: Calendar) -> Complaint:
    """Feedback late: one level up (the top level keeps it), a new due time, noted."""
    up = min(c.level + 1, len(rules.levels) - 1)
    entry = {"at": now, "who": "engine", "status": c.status,
             "note": f"feedback overdue: escalated to level {rules.levels[up]}"}
    return replace(c, level=up, feedback_due=calendar.due(now, rules.feedback_days), history=(*c.history, entry))
