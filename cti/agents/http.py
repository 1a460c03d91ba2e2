"""The agent API and the live call list: agents log in, get ready, pause with a
reason, log out and end wrap-up; the core decides what each request means.

R14: an agent acts on itself only; supervisors and admins on any agent; the call list
is for supervisors (numbers masked), readers and admins (full numbers); ``/state`` for
admins, audited."""

from __future__ import annotations

import dataclasses
import logging

from aiohttp import web

from acd import InvalidTransition
from acd import events as e
from cti.errors import BadRequest, Missing
from cti.desk.http import DESK
from cti.web.server import Feature, answer, json_body, need, runtime

audit = logging.getLogger("cti.audit")


ROUTES = web.RouteTableDef()  # each handler declares its route; filled at import, read-only after
FEATURE = Feature(ROUTES)


@ROUTES.get("/agents")
async def list_agents(request: web.Request) -> web.Response:
    need(request, "supervisor")
    return web.json_response([dataclasses.asdict(a) for a in runtime(request).engine.agents()])


@ROUTES.get("/agents/{agent_id}")
async def get_agent(request: web.Request) -> web.Response:
    need(request, "supervisor", agent_id=request.match_info["agent_id"])
    view = runtime(request).engine.agent(request.match_info["agent_id"])
    return web.json_response(dataclasses.asdict(view))


@ROUTES.get("/state")
async def state(request: web.Request) -> web.Response:
    """The core's whole state (the snapshot a restarted router would rebuild), for
    operators and recovery checks. It holds callers' numbers (R14): only with the
    admin token, and every access is audited."""
    who = need(request)
    audit.info("state read by %s from %s", who.name, request.remote)
    return answer(request, runtime(request).engine.snapshot())


@ROUTES.post("/agents/{agent_id}/{action}")
async def agent_action(request: web.Request) -> web.Response:
    agent_id = request.match_info["agent_id"]
    who = need(request, "supervisor", agent_id=agent_id)
    rt = runtime(request)
    action = request.match_info["action"]
    now = rt.clock()
    body = await json_body(request)
    event: e.Event
    if action == "login":
        ready = body.get("ready", True)
        if not isinstance(ready, bool):
            raise BadRequest("'ready' must be true or false")
        event = e.AgentLoggedIn(agent_id, now, ready)
    elif action == "logout":
        event = e.AgentLoggedOut(agent_id, now)
    elif action == "ready":
        event = e.AgentReady(agent_id, now)
    elif action == "end-wrap-up":
        if rt.engine.agent(agent_id).state != "wrap-up":
            raise InvalidTransition(agent_id, rt.engine.agent(agent_id).state, "end wrap-up")
        event = e.AgentReady(agent_id, now)
    elif action == "pause":
        reason = body.get("reason")
        codes = request.app[DESK].pause_codes
        if not isinstance(reason, str) or reason.strip() not in codes:
            raise BadRequest(f"'reason' is one of the pause codes {list(codes)}")
        event = e.AgentPaused(agent_id, reason.strip(), now)
    else:
        raise Missing(f"no agent action {action!r}")
    rt.apply(event)
    audit.info("agent %s: %s by %s", agent_id, action, who.name)
    return web.json_response(dataclasses.asdict(rt.engine.agent(agent_id)))
