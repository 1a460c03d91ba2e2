"""R20 over HTTP: orders from every channel and the department's steps.

- ``POST /workorders`` ``{"channel": hall | web | letter, "kind", "fields", "agent_id"?}``:
  an order no call made (a walk-in at the service hall, typed by the agent at its desk;
  the website's or the mail room's system with an ``intake`` token; a supervisor). The
  same object, rules and reports as a call's order (``channel`` tells them apart).
- ``POST /workorders/{id}/steps`` ``{"step", ...}``: the department responsible (its own
  token) or a supervisor: accept, visit (``visit_at``), arrive, delay (``reason``,
  ``due_at``), help and hand-over (``department``, a hand-over's ``reason``), done,
  unresolved (``reason``, ``follow_up``), cancel; every step may carry a ``note``.
- ``GET /tasks``: the signed-in agent's open tasks (a supervisor: everyone's, or one
  agent's with ``?agent_id=``); ``POST /tasks/{id}/call``: the customer called from the
  agent's phone; ``POST /tasks/{id}/done`` ``{"outcome"}``.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from acd import UnknownAgent
from cti.errors import BadRequest, Conflict, Missing
from cti.orders.http import TASKS, WORKORDERS, department_of, shown
from cti.orders.tasks import Tasks
from cti.web.server import Feature, answer, json_body, need, runtime
from workorders import BadTransition
from workorders.steps import STEPS, BadStep

audit = logging.getLogger("cti.audit")
ROUTES = web.RouteTableDef()  # each handler declares its route; filled at import, read-only after
FEATURE = Feature(ROUTES)
STEP_KEYS = frozenset({"step", "note", "visit_at", "due_at", "reason", "department", "follow_up"})


@ROUTES.post("/workorders")
async def create(request: web.Request) -> web.Response:
    body = await json_body(request)
    unknown = sorted(set(body) - {"channel", "kind", "fields", "agent_id"})
    if unknown:
        raise BadRequest(f"unknown keys {unknown}: an order is channel, kind, fields (and agent_id)")
    channel, kind, fields, agent_id = body.get("channel"), body.get("kind"), body.get("fields", {}), body.get("agent_id")
    if not isinstance(channel, str) or not isinstance(kind, str) or not isinstance(fields, dict) or not (
            agent_id is None or isinstance(agent_id, str)):
        raise BadRequest("an order is {'channel': text, 'kind': text, 'fields': {...}, 'agent_id': text}")
    who = need(request, "supervisor", "intake", "agent")
    if who.role == "agent":  # a walk-in at the agent's own desk
        if not who.agent_id or agent_id not in (None, who.agent_id):
            raise BadRequest("an agent records the orders of its own desk")
        agent_id = who.agent_id
    elif who.role == "intake" and (agent_id or channel == "hall"):
        raise BadRequest("an intake system records web and letter orders, for no agent")
    elif agent_id:  # a supervisor's order for an agent (its owner): one of this engine's
        try:
            runtime(request).engine.agent(agent_id)
        except UnknownAgent:
            raise BadRequest(f"agent_id: no agent {agent_id[:32]!r}") from None
    order = await request.app[WORKORDERS].get().create(channel, kind, fields, who.name, agent_id or "")
    return answer(request, shown(order, who), status=201, whole=True)  # shown(): the order's own masking


@ROUTES.post("/workorders/{order_id}/steps")
async def step(request: web.Request) -> web.Response:
    who = need(request, "supervisor", "department")
    body = await json_body(request)
    unknown = sorted(set(body) - STEP_KEYS)
    if unknown:
        raise BadRequest(f"unknown keys {unknown}: a step has {sorted(STEP_KEYS)}")
    name = body.get("step")
    if name not in STEPS:
        raise BadRequest(f"step is one of {list(STEPS)}")
    order_id = request.match_info["order_id"]
    try:
        order = await request.app[WORKORDERS].get().step(order_id, str(name), body, who.name, department_of(who))
    except KeyError:
        raise Missing(f"no work order {order_id}") from None
    except BadStep as exc:
        raise BadRequest(str(exc)) from None
    except BadTransition as exc:
        raise Conflict(str(exc)) from None
    return answer(request, shown(order, who), whole=True)  # shown(): per order


def _tasks(request: web.Request) -> Tasks:
    return request.app[TASKS].get()


@ROUTES.get("/tasks")
async def tasks(request: web.Request) -> web.Response:
    who = need(request, "supervisor", "agent")
    if who.role == "agent":
        if not who.agent_id:
            return answer(request, [])
        found = await _tasks(request).mine(who.agent_id)
        return answer(request, found, whole=True)  # its own orders' customers
    found = await _tasks(request).mine(request.query.get("agent_id") or None)
    return answer(request, found)


@ROUTES.post("/tasks/{task_id}/call")
async def call(request: web.Request) -> web.Response:
    who = need(request, "agent")
    if not who.agent_id:
        raise BadRequest("a task's call rings an agent's phone first: sign in as an agent")
    try:
        call_id = await _tasks(request).call(request.match_info["task_id"], who.agent_id)
    except KeyError:
        raise Missing(f"no task {request.match_info['task_id']}") from None
    except BadTransition as exc:
        raise Conflict(str(exc)) from None
    return answer(request, {"call_id": call_id}, status=202)


@ROUTES.post("/tasks/{task_id}/done")
async def done(request: web.Request) -> web.Response:
    who = need(request, "supervisor", "agent")
    if who.role == "agent" and not who.agent_id:  # not a supervisor: no agent, no task of its own
        raise BadRequest("a task is recorded done by its agent: sign in as an agent")
    body = await json_body(request)
    outcome: Any = body.get("outcome", "")
    if set(body) - {"outcome"} or not isinstance(outcome, str) or len(outcome) > 1000:
        raise BadRequest("a task done is {'outcome': text (max 1000)}")
    try:
        await _tasks(request).done(request.match_info["task_id"], who.agent_id if who.role == "agent" else None,
                                   who.name, outcome)
    except KeyError:
        raise Missing(f"no task {request.match_info['task_id']}") from None
    return answer(request, {"task_id": request.match_info["task_id"], "done": True})
