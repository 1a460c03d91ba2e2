"""R12 over HTTP: an agent records the disposition of its call
(``POST /calls/{call_id}/disposition``); supervisors and readers search work orders;
a department's system (its own token, role ``department``) reads its orders and reports
progress (``POST /workorders/{id}/progress``). Callers' numbers are masked except for
the roles allowed them (R14): readers and admins, the agent of the call, and the
department the order is for (it calls the customer)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from acd import events as e
from cti.web.accounts import Identity
from cti.errors import BadRequest, Conflict, Missing
from cti.masking import mask_number, mask_numbers
from cti.notify import Notifier
from cti.orders.settings import WorkOrderSettings
from cti.orders.store import WorkOrderStore
from cti.runtime import Runtime
from cti.store.sql import Database
from cti.web.server import Feature, Part, answer, identity, json_body, need, runtime, serving
from cti.orders.complaints import ComplaintStore, Complaints, Hold, Release
from cti.orders.complaints import public as complaint_doc
from cti.orders.service import MONTH_S, Recorded, WorkOrders, public
from cti.orders.store import Search
from cti.orders.tasks import Tasks, TaskStore
from workorders import STATUSES, BadTransition, WorkOrder
from workorders.steps import CHANNELS

audit = logging.getLogger("cti.audit")


ROUTES = web.RouteTableDef()  # each handler declares its route; filled at import, read-only after
WORKORDERS = web.AppKey("workorders", Part[WorkOrders])
TASKS = web.AppKey("tasks", Part[Tasks])  # R20: the owners' tasks (served by cti.orders.tracking_http)
FEATURE = Feature(ROUTES, (WORKORDERS, TASKS))


def department_of(who: Identity) -> str | None:
    return who.name.removeprefix("token:") if who.role == "department" else None


def shown(order: WorkOrder, who: Identity) -> dict[str, Any]:
    """An order as ``who`` may see it (R14: phone numbers)."""
    doc = public(order)
    if who.sees_numbers or who.agent_id == order.agent_id or department_of(who) in (order.department, *order.helpers):
        return doc
    masked: dict[str, Any] = mask_numbers(doc)  # the boundary's masking (cti.web.server.answer)
    return masked


def _epoch(value: str | None, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise BadRequest(f"{name} is an ISO 8601 date or epoch seconds") from None


@ROUTES.get("/workorders")
async def search(request: web.Request) -> web.Response:
    """Filters: caller, kind, status, channel, department, since, until (ISO 8601 or epoch s),
    overdue=1, limit (<= 500), offset. A department sees its own orders only."""
    who = need(request, "supervisor", "reader", "department")
    q = request.query
    status = q.get("status")
    if status is not None and status not in STATUSES:
        raise BadRequest(f"status is one of {list(STATUSES)}")
    try:
        limit, offset = int(q.get("limit", "50")), int(q.get("offset", "0"))
    except ValueError:
        raise BadRequest("limit and offset are integers") from None
    if not 1 <= limit <= 500 or not 0 <= offset <= 1_000_000:
        raise BadRequest("limit is 1..500, offset 0..1000000")
    channel = q.get("channel") or None
    if channel is not None and channel not in CHANNELS:
        raise BadRequest(f"channel is one of {list(CHANNELS)}")
    wo = request.app[WORKORDERS].get()
    caller = q.get("caller") or None
    if caller is not None and not who.sees_numbers:
        raise BadRequest("searching by a caller's number needs the reader role (R14)")
    found = await wo.search(Search(
        caller=caller, kind=q.get("kind") or None, status=status, channel=channel,
        department=department_of(who) or q.get("department") or None,
        since=_epoch(q.get("since"), "since"), until=_epoch(q.get("until"), "until"),
        overdue_at=wo.clock() if q.get("overdue") in ("1", "true") else None, limit=limit, offset=offset))
    if caller is not None:
        audit.info("work orders of caller %s searched by %s", mask_number(caller), who.name)
    return answer(request, [shown(o, who) for o in found], whole=True)  # shown(): per order


@ROUTES.get("/workorders/{order_id}")
async def get_order(request: web.Request) -> web.Response:
    who = identity(request)
    order = await request.app[WORKORDERS].get().get(request.match_info["order_id"])
    if order is None or (department_of(who) not in (None, order.department, *order.helpers)):
        raise Missing(f"no work order {request.match_info['order_id']}")
    need(request, "supervisor", "reader", "department", agent_id=order.agent_id or None)
    return answer(request, shown(order, who), whole=True)  # shown(): per order


@ROUTES.post("/workorders/{order_id}/progress")
async def progress(request: web.Request) -> web.Response:
    """``{"status": accepted | on-site | done | cancelled, "note"}``: the department's
    system (its own orders) or a supervisor."""
    who = need(request, "supervisor", "department")
    body = await json_body(request)
    status, note = body.get("status"), body.get("note", "")
    if not isinstance(status, str) or not isinstance(note, str) or len(note) > 500:
        raise BadRequest("progress is {'status': text, 'note': text (max 500)}")
    if status in ("new", "dispatched"):
        raise BadRequest("a department reports accepted, on-site, done or cancelled")
    try:
        order = await request.app[WORKORDERS].get().progress(request.match_info["order_id"], status, note, who.name,
                                                department=department_of(who))
    except KeyError:
        raise Missing(f"no work order {request.match_info['order_id']}") from None
    return answer(request, shown(order, who), whole=True)  # shown(): per order


# ------------------------------------------------------------------ R16 complaints


def _complaints(request: web.Request) -> Complaints:
    found = request.app[WORKORDERS].get().complaints
    if found is None:
        raise Missing("complaints are not kept on this engine")
    return found


@ROUTES.get("/complaints")
async def open_complaints(request: web.Request) -> web.Response:
    """R16: the open complaints, the soonest due first; an agent sees the ones it owns."""
    who = need(request, "supervisor", "reader", "agent")
    book = _complaints(request)
    owner = who.agent_id if who.role == "agent" else None
    if who.role == "agent" and not owner:
        return answer(request, [])  # an agent's identity without an agent id owns nothing
    levels = book.settings.rules.levels
    return answer(request, [{**complaint_doc(k.complaint, levels), "call_id": k.call_id}
                            for k in await book.store.open_ones(owner)])


@ROUTES.get("/complaints/{order_id}")
async def get_complaint(request: web.Request) -> web.Response:
    who = need(request, "supervisor", "reader", "agent")
    book = _complaints(request)
    found = await book.store.get(request.match_info["order_id"])
    if found is None or (who.role == "agent" and found.complaint.owner != who.agent_id):
        raise Missing(f"no complaint {request.match_info['order_id']}")
    return answer(request, {**complaint_doc(found.complaint, book.settings.rules.levels), "call_id": found.call_id})


@ROUTES.post("/complaints/{order_id}/feedback-call")
async def complaint_feedback_call(request: web.Request) -> web.Response:
    """R16: call the customer back with the result, from the caller's own phone (an
    agent acting at the complaint's level): offered to that agent first, then the
    customer is dialled (R2), recorded and held with the complaint. Answers the call's
    id; the result and the customer's answer are then recorded as steps."""
    who = need(request, "supervisor", "agent")
    book = _complaints(request)
    try:
        call_id = await book.feedback_call(request.match_info["order_id"], who)
    except KeyError:
        raise Missing(f"no complaint {request.match_info['order_id']}") from None
    except BadTransition as exc:
        raise Conflict(str(exc)) from None
    audit.info("R16 complaint %s: feedback call %s placed by %s", request.match_info["order_id"], call_id, who.name)
    return answer(request, {"call_id": call_id}, status=202)


@ROUTES.post("/complaints/{order_id}/steps")
async def complaint_step(request: web.Request) -> web.Response:
    """R16 ``{"status": investigating | result-given | accepted | not-satisfied | closed,
    "note", "channel"}`` (a result given says how: phone, sms, visit, letter, email, and
    what, in the note): by whoever acts at the complaint's level (the owner or a supervisor at
    the owner's; the accounts of [complaints.accounts] above); closing without the
    customer's acceptance from the ``close_from`` level, with a reason."""
    who = need(request, "supervisor", "agent")
    body = await json_body(request)
    status, note, channel = body.get("status"), body.get("note", ""), body.get("channel")
    if not isinstance(status, str) or not isinstance(note, str) or len(note) > 2000 or not (
            channel is None or isinstance(channel, str)):
        raise BadRequest("a step is {'status': text, 'note': text (max 2000), 'channel': text}")
    book = _complaints(request)
    try:
        c = await book.step(request.match_info["order_id"], status, note, who, channel)
    except KeyError:
        raise Missing(f"no complaint {request.match_info['order_id']}") from None
    except BadTransition as exc:
        raise Conflict(str(exc)) from None
    audit.info("R16 complaint %s: %s by %s", c.order_id, status, who.name)
    return answer(request, complaint_doc(c, book.settings.rules.levels))


@dataclass(frozen=True, slots=True)
class OrdersDeps:
    settings: WorkOrderSettings
    db: Database
    notifier: Notifier
    runtime: Runtime
    listeners: tuple[Callable[[str, dict[str, Any]], None], ...] = ()  # told of each order's change
    hold: Hold | None = None  # R5: (call id, caller, reason) -> a legal hold on the customer's recordings
    release: Release | None = None
    recorded: tuple[Callable[[Recorded], Awaitable[None]], ...] = ()  # R19: told of each disposition stored


@contextlib.asynccontextmanager
async def setup(app: web.Application, deps: OrdersDeps) -> AsyncIterator[WorkOrders]:
    """R12 while this engine leads: work orders follow the core's calls and are served;
    R16 complaints with them."""
    def alert(doc: dict[str, Any]) -> None:  # R16: late feedback to the live pages (the wallboard's alerts)
        for tell in deps.listeners:
            tell("complaint-overdue", doc)
    def dial(call_id: str, number: str, agent_id: str) -> str | None:
        """R16: the feedback call, queued in the core for this agent only (agent first)."""
        try:
            queues = deps.runtime.engine.agent(agent_id).queues
        except KeyError:
            return f"{agent_id} is not an agent of this engine"
        if not queues:
            return f"agent {agent_id} is in no queue"
        deps.runtime.apply(e.OutboundQueued(call_id, queues[0], number, deps.runtime.clock(), "complaint-feedback",
                                            agent_id=agent_id))
        return None
    book = Complaints(deps.settings.complaints, ComplaintStore(deps.db), deps.runtime.clock, deps.hold,
                      deps.release, alert, dial, keep_s=deps.settings.retention_months * MONTH_S,
                      live=lambda call_id: any(k.call_id == call_id for k in deps.runtime.engine.calls()))
    orders = WorkOrders(deps.settings, WorkOrderStore(deps.db), deps.notifier, listeners=deps.listeners,
                        complaints=book, recorded=deps.recorded)
    tasks = Tasks(TaskStore(deps.db), orders.store.get, orders.store.do_not_call, dial, deps.runtime.clock)
    deps.runtime.follow(orders.observe)
    await orders.start()
    async with serving(app, WORKORDERS, orders), serving(app, TASKS, tasks):
        yield orders
