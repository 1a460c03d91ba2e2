"""R20: what a department does with an order, as data and pure functions.

Theory of operation
-------------------
The department responsible for an order (its own token) takes *steps*:

    accept      it takes the order on                      new | dispatched -> accepted
    visit       a visit time agreed with the customer      (status kept) before the crew is there
    arrive      the crew is on site                        new | dispatched | accepted -> on-site
    delay       a reason and a new due time                (status kept) the order's owner tells the customer
    help        another department is asked to help        (status kept) both see it, one is responsible
    hand-over   another department becomes responsible     -> new (dispatched to it again)
    done        the work is done                           any open status -> done
    unresolved  closed without a solution: a reason and    accepted | on-site -> unresolved
                a follow-up plan (which opens a new order)
    cancel      withdrawn (a supervisor, or the department) any open status -> cancelled

``TRANSITIONS`` is the whole table: a (status, step) pair that is not in it is refused
(``BadTransition``); done, unresolved and cancelled are final. ``take`` checks a step's
parameters and applies it to the order, answering what else must happen (a task for the
owner, a follow-up order, a dispatch to another department); the service does the I/O.

The on-site deadline (``Rule.onsite_s``, per kind x urgency x region) is kept on the
order (``onsite_due_at``); an open order whose crew has not arrived by then is *late on
site* (``late_on_site``), alerted once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

from workorders.model import BadTransition, WorkOrder

OPEN = ("new", "dispatched", "accepted", "on-site")
STEPS = ("accept", "visit", "arrive", "delay", "help", "hand-over", "done", "unresolved", "cancel")
CHANNELS = ("hotline", "hall", "web", "letter")  # where an order comes from
MAX_AHEAD_S = 366 * 86400.0  # a visit or a new due time at most a year ahead
TEXT_MAX = 500

TRANSITIONS: Mapping[tuple[str, str], str] = MappingProxyType({
    **{(s, "accept"): "accepted" for s in ("new", "dispatched")},
    **{(s, "visit"): s for s in ("new", "dispatched", "accepted")},
    **{(s, "arrive"): "on-site" for s in ("new", "dispatched", "accepted")},
    **{(s, "delay"): s for s in OPEN},
    **{(s, "help"): s for s in OPEN},
    **{(s, "hand-over"): "new" for s in OPEN},
    **{(s, "done"): "done" for s in OPEN},
    **{(s, "unresolved"): "unresolved" for s in ("accepted", "on-site")},
    **{(s, "cancel"): "cancelled" for s in OPEN},
})
# The status reports of R12 (``POST /workorders/{id}/progress``) as steps.
PROGRESS = MappingProxyType({"accepted": "accept", "on-site": "arrive", "done": "done", "cancelled": "cancel"})


class BadStep(ValueError):
    """A step whose parameters are wrong (400): the message says which and why."""


@dataclass(frozen=True, slots=True)
class Effects:
    """What a step asks of the service besides saving the order."""

    tell_customer: str = ""  # delay: the owner's task, what to tell the customer
    follow_up: str = ""  # unresolved: the plan, the content of the order that follows it
    dispatch_to: str = ""  # hand-over: the department the order is sent to again
    helper: str = ""  # help: the department asked, told of the order (it does not become responsible)
    closed: bool = False


def next_step(status: str, step: str) -> str:
    """The status after ``step`` from ``status``, or ``BadTransition``."""
    if step not in STEPS:
        raise BadTransition(f"unknown step {step!r}: one of {list(STEPS)}")
    after = TRANSITIONS.get((status, step))
    if after is None:
        allowed = [s for (st, s) in TRANSITIONS if st == status]
        raise BadTransition(f"an order {status} cannot take the step {step!r}"
                            + (f" (it can: {', '.join(allowed)})" if allowed else ": it does not change any more"))
    return after


def _text(params: Mapping[str, Any], name: str, required: bool) -> str:
    value = params.get(name, "")
    if not isinstance(value, str) or "\x00" in value or len(value) > TEXT_MAX:
        raise BadStep(f"{name} is text of at most {TEXT_MAX} characters")
    value = value.strip()
    if required and not value:
        raise BadStep(f"this step needs {name}")
    return value


def _time(params: Mapping[str, Any], name: str, now: float) -> float:
    value = params.get(name)
    if isinstance(value, bool) or value is None:
        raise BadStep(f"this step needs {name} (ISO 8601 with its offset, or epoch seconds)")
    try:
        at = float(value) if isinstance(value, (int, float)) else datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        raise BadStep(f"{name} is an ISO 8601 time with its offset, or epoch seconds") from None
    if isinstance(value, str) and datetime.fromisoformat(value).tzinfo is None:
        raise BadStep(f"{name} needs its UTC offset (such as +08:00)")
    if not now < at <= now + MAX_AHEAD_S:
        raise BadStep(f"{name} is in the future, within a year")
    return at


def _department(params: Mapping[str, Any], order: WorkOrder, known: Iterable[str]) -> str:
    name = _text(params, "department", True)
    if name not in set(known):
        raise BadStep(f"department is one of {sorted(known)}")
    if name == order.department:
        raise BadStep(f"{name} is already responsible for this order")
    return name


def take(order: WorkOrder, step: str, params: Mapping[str, Any], now: float, who: str,
         departments: Iterable[str]) -> Effects:
    """Apply ``step`` to ``order`` (its status, times, departments and history) at ``now``;
    ``BadTransition`` if the order's status refuses it, ``BadStep`` if its parameters are
    wrong (the order is then unchanged)."""
    after = next_step(order.status, step)
    note = _text(params, "note", False)
    effects = Effects(closed=after in ("done", "unresolved", "cancelled"))
    said = note
    if step == "visit":
        order.visit_at = _time(params, "visit_at", now)
        said = f"visit agreed for {_iso(order.visit_at)}" + (f": {note}" if note else "")
    elif step == "arrive":
        order.arrived_at = now
    elif step == "delay":
        reason = _text(params, "reason", True)
        due = _time(params, "due_at", now)
        said = f"delayed ({reason}): due {_iso(due)} instead of {_iso(order.due_at)}" + (f"; {note}" if note else "")
        order.due_at, order.overdue_alerted = due, False
        effects = Effects(tell_customer=f"{reason}; new due time {_iso(due)}")
    elif step == "help":
        helper = _department(params, order, departments)
        if helper in order.helpers:
            raise BadStep(f"{helper} already helps with this order")
        order.helpers = [*order.helpers, helper]
        said = f"{helper} asked to help" + (f": {note}" if note else "")
        effects = Effects(helper=helper)
    elif step == "hand-over":
        to = _department(params, order, departments)
        reason = _text(params, "reason", True)
        said = f"handed over from {order.department} to {to} ({reason})" + (f"; {note}" if note else "")
        order.helpers = [d for d in order.helpers if d != to] + [order.department]  # it still sees the order
        order.department = to
        effects = Effects(dispatch_to=to)
    elif step == "unresolved":
        reason = _text(params, "reason", True)
        plan = _text(params, "follow_up", True)
        said = f"closed unresolved ({reason}); follow-up: {plan}" + (f"; {note}" if note else "")
        effects = Effects(follow_up=plan, closed=True)
    order.status = after
    order.updated_at = now
    if effects.closed:
        order.closed_at = now
    order.history.append({"at": now, "status": after, "step": step, "who": who, "note": said[:1000]})
    return effects


def late_on_site(orders: Iterable[WorkOrder], now: float) -> list[WorkOrder]:
    """Open orders whose crew was due on site by now and has not arrived, not alerted yet."""
    return sorted((o for o in orders if o.status in OPEN and o.onsite_due_at is not None
                   and o.onsite_due_at <= now and o.arrived_at is None and not o.onsite_alerted),
                  key=lambda o: o.onsite_due_at or 0.0)


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="minutes")
