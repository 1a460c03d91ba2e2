"""R12 as data and pure functions.

Theory of operation
-------------------
An agent records a *disposition* for a call: its business kind and the fields the seeds
ask for (customer name, address, contact number, content, time of occurrence, urgency,
region, special requests). Which fields are required depends on the kind
(``Kind.required``). A kind that needs action (``Kind.action``) becomes a *work order*:
the first rule matching (kind, urgency, region) names the responsible department and
the time it has (``Rule.due_s``); an emergency kind is always urgency "emergency".

The order's status moves forward only, along

    new --dispatched (the department's system took it)--> dispatched
        --accepted--> accepted --on-site--> on-site --done--> done
    accepted | on-site --unresolved (a reason, a follow-up plan)--> unresolved
    any open status --cancelled--> cancelled

A department may skip steps (accepted -> done) but never go back; done, unresolved and
cancelled are final. The department's other steps (a visit time, a delay, help from
or a hand-over to another department) are R20's, in ``workorders.steps``. An open order past its due time is *overdue* (``overdue``); the service
alerts once per order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from types import MappingProxyType

STATUSES = ("new", "dispatched", "accepted", "on-site", "done", "unresolved", "cancelled")
FINAL = frozenset({"done", "unresolved", "cancelled"})
URGENCIES = ("emergency", "high", "normal", "low")
# What a disposition can hold, besides its kind (all text; limits keep rows small).
FIELDS: Mapping[str, int] = MappingProxyType({
    "customer_name": 100, "address": 300, "contact_number": 32, "account_id": 64, "content": 4000,
    "occurred_at": 64, "urgency": 16, "region": 64, "special_requests": 1000, "outcome": 32,
    "severity": 16, "claim": 16,  # R16: a complaint's scale, and the amount the customer claims
    "score": 1, "solved": 3, "comment": 1000,  # R17: a return visit's answers
    "read_back": 16, "corrections": 1000,  # R20: the key facts read back: confirmed, or what was corrected
})
READ_BACK = ("confirmed", "corrected")
# R16: a major or a group's complaint starts at the manager's level (so does a high claim).
SEVERITIES = ("ordinary", "major", "group")
# R11: how a return visit or campaign call ended, as the agent records it.
OUTCOMES = ("satisfied", "not-solved", "no-answer", "wrong-number", "do-not-call")
REACHED = ("satisfied", "not-solved")  # R17: the customer was reached and asked
VISIT_FIELDS = ("score", "solved", "comment")  # R17: only a return visit has them


class BadDisposition(ValueError):
    """A disposition that cannot be recorded as it is (the message says why; ``fields``:
    each field at fault and how, "required", "too-long" or "invalid", for the desk to
    say next to the field in its own language)."""

    def __init__(self, message: str, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = dict(fields or {})


class BadTransition(ValueError):
    """A status change the order's status machine does not allow."""


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    label: str = ""
    required: tuple[str, ...] = ()
    action: bool = False  # becomes a work order
    emergency: bool = False  # urgency "emergency", the safety script (R8)
    return_visit: bool = False  # closing the order schedules a return visit (R11)
    action_outcomes: tuple[str, ...] = ()  # outcomes that make it a work order after all

    def needs_order(self, fields: Mapping[str, str]) -> bool:
        return self.action or fields.get("outcome", "") in self.action_outcomes


@dataclass(frozen=True, slots=True)
class Department:
    name: str
    webhook_url: str


@dataclass(frozen=True, slots=True)
class Rule:
    """kind x urgency x region -> department and due time; "*" matches anything."""

    department: str
    due_s: float
    kind: str = "*"
    urgency: str = "*"
    region: str = "*"
    onsite_s: float | None = None  # R20: the crew on site within this (from the order's creation)

    def matches(self, kind: str, urgency: str, region: str) -> bool:
        return (self.kind in ("*", kind) and self.urgency in ("*", urgency)
                and self.region in ("*", region))


@dataclass(frozen=True, slots=True)
class Rules:
    kinds: Mapping[str, Kind]
    rules: tuple[Rule, ...] = ()

    def route(self, kind: str, urgency: str, region: str) -> Rule | None:
        return next((r for r in self.rules if r.matches(kind, urgency, region)), None)

    def unrouted(self) -> list[tuple[str, str]]:
        """(kind, urgency) pairs of action kinds that no rule covers for every region:
        a configuration that leaves an order without a department is refused."""
        return [(k.name, u) for k in self.kinds.values() if k.action or k.action_outcomes for u in URGENCIES
                if not any(r.region == "*" and r.matches(k.name, u, "*") for r in self.rules)]


DEFAULT_KINDS: tuple[Kind, ...] = (
    Kind("consultation", "咨詢 Consultation", ("content",)),
    Kind("service-request", "業務辦理 Service request",
         ("customer_name", "address", "contact_number", "content", "region"), action=True, return_visit=True),
    Kind("fault-report", "故障報修 Fault report",
         ("customer_name", "address", "contact_number", "content", "occurred_at", "urgency", "region"),
         action=True, return_visit=True),
    # R16: a complaint's order closed is followed by a return visit (the customer asked again)
    Kind("complaint", "投訴 Complaint", ("customer_name", "contact_number", "content"), action=True,
         return_visit=True),
    Kind("suggestion", "建議 Suggestion", ("content",)),
    # One click (R8), but never without the incident's location (R20; 001 §1.4 詳細詢問事故地點)
    Kind("emergency", "緊急搶修 Emergency", ("address",), action=True, emergency=True),
    # R11: a return visit's or campaign's outcome; "not solved" opens a new work order.
    Kind("return-visit", "回訪 Return visit", ("outcome",), action_outcomes=("not-solved",)),
)


@dataclass(slots=True)
class WorkOrder:
    order_id: str
    call_id: str
    kind: str
    department: str
    status: str
    created_at: float
    due_at: float
    agent_id: str = ""
    caller: str = ""
    reported_at: float = 0.0  # when the customer reported it (the call's arrival)
    fields: dict[str, str] = field(default_factory=dict)
    updated_at: float = 0.0
    closed_at: float | None = None
    overdue_alerted: bool = False
    return_visit_at: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    # R20: where it came from, the visit agreed, the on-site deadline and arrival, the
    # departments helping (they see it; ``department`` is responsible), what it follows up
    channel: str = "hotline"
    visit_at: float | None = None
    onsite_due_at: float | None = None
    arrived_at: float | None = None
    onsite_alerted: bool = False
    helpers: list[str] = field(default_factory=list)
    follow_up_of: str = ""

    @property
    def urgency(self) -> str:
        return self.fields.get("urgency", "normal")

    @property
    def region(self) -> str:
        return self.fields.get("region", "")


def check_disposition(rules: Rules, kind_name: str, given: Mapping[str, Any]) -> dict[str, str]:
    """The disposition's fields, cleaned, or ``BadDisposition`` naming what is wrong."""
    kind = rules.kinds.get(kind_name)
    if kind is None:
        raise BadDisposition(f"unknown kind {kind_name!r}: one of {sorted(rules.kinds)}")
    unknown = sorted(set(given) - set(FIELDS))
    if unknown:
        raise BadDisposition(f"unknown fields {unknown}: the fields are {sorted(FIELDS)}")
    out: dict[str, str] = {}
    for name, value in given.items():
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise BadDisposition(f"{name} must be text", {name: "invalid"})
        value = value.strip()
        if len(value) > FIELDS[name]:
            raise BadDisposition(f"{name} is longer than {FIELDS[name]} characters", {name: "too-long"})
        if value:
            out[name] = value
    if kind.emergency:
        out["urgency"] = "emergency"
    urgency = out.setdefault("urgency", "normal")
    if urgency not in URGENCIES:
        raise BadDisposition(f"urgency must be one of {list(URGENCIES)}", {"urgency": "invalid"})
    if "severity" in out and out["severity"] not in SEVERITIES:
        raise BadDisposition(f"severity must be one of {list(SEVERITIES)}", {"severity": "invalid"})
    if "claim" in out and not re.fullmatch(r"\d{1,12}(\.\d{1,2})?", out["claim"]):
        raise BadDisposition("claim is an amount (digits, at most two decimals)", {"claim": "invalid"})
    if "outcome" in out and out["outcome"] not in OUTCOMES:
        raise BadDisposition(f"outcome must be one of {list(OUTCOMES)}", {"outcome": "invalid"})
    if (given_visit := [f for f in VISIT_FIELDS if f in out]) and kind.name != "return-visit":
        raise BadDisposition(f"{', '.join(given_visit)}: only a return visit has them",
                             {f: "invalid" for f in given_visit})
    if "score" in out and out["score"] not in ("1", "2", "3", "4", "5"):
        raise BadDisposition("score is 1 to 5", {"score": "invalid"})
    if "read_back" in out and out["read_back"] not in READ_BACK:
        raise BadDisposition(f"read_back is one of {list(READ_BACK)}", {"read_back": "invalid"})
    if out.get("read_back") == "corrected" and not out.get("corrections"):
        raise BadDisposition("a corrected read-back says what was corrected", {"corrections": "required"})
    if "corrections" in out and out.get("read_back") != "corrected":
        raise BadDisposition("corrections go with read_back \"corrected\"", {"corrections": "invalid"})
    if "solved" in out and out["solved"] not in ("yes", "no"):
        raise BadDisposition("solved is yes or no", {"solved": "invalid"})
    missing = [f for f in kind.required if f not in out]
    if missing:
        raise BadDisposition(f"a {kind.name} needs {', '.join(missing)}", {f: "required" for f in missing})
    return out


def open_order(rules: Rules, order_id: str, kind: str, fields: Mapping[str, str], now: float, who: str, *,
               call_id: str = "", agent_id: str = "", caller: str = "", reported_at: float | None = None,
               channel: str = "hotline", follow_up_of: str = "") -> WorkOrder:
    """A new order of ``kind`` (its fields checked): the first rule matching its kind,
    urgency and region names the department, the due time and the on-site deadline."""
    rule = rules.route(kind, fields.get("urgency", "normal"), fields.get("region", ""))
    if rule is None:  # every action kind is routed (checked at start)
        raise BadDisposition(f"no rule routes a {kind} order")
    note = f"due in {rule.due_s / 3600:g} h" + (f", on site within {rule.onsite_s / 3600:g} h" if rule.onsite_s else "")
    if channel != "hotline":
        note += f" ({channel})"
    if follow_up_of:
        note += f", following up {follow_up_of}"
    return WorkOrder(order_id, call_id, kind, rule.department, "new", now, now + rule.due_s, agent_id, caller,
                     now if reported_at is None else reported_at, dict(fields), now,
                     history=[{"at": now, "status": "new", "who": who, "note": note}], channel=channel,
                     onsite_due_at=None if rule.onsite_s is None else now + rule.onsite_s, follow_up_of=follow_up_of)


def is_open(order: WorkOrder) -> bool:
    return order.status not in FINAL


def overdue(orders: Iterable[WorkOrder], now: float) -> list[WorkOrder]:
    """Open orders past their due time that were not alerted yet, most overdue first."""
    return sorted((o for o in orders if is_open(o) and o.due_at <= now and not o.overdue_alerted),
                  key=lambda o: o.due_at)


def visit_answer(fields: Mapping[str, str]) -> tuple[int | None, bool | None] | None:
    """R17: a return visit's score and whether the problem was solved (the ``solved``
    field, else the outcome: satisfied, not-solved), or None when the customer was not
    reached (nothing was asked)."""
    if fields.get("outcome") not in REACHED:
        return None
    score = int(fields["score"]) if "score" in fields else None
    solved = fields["solved"] == "yes" if "solved" in fields else fields["outcome"] == "satisfied"
    return score, solved
