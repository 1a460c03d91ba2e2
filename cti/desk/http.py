"""The agent desk: its page (``/agent``), its data (``GET /desk/{agent_id}``), the
drafts of its dispositions (``PUT``/``DELETE /desk/{agent_id}/drafts/{call_id}``) and the
live stream the pages listen to (``GET /events``). The page reads everything through
this authenticated API, so an integration can do what it does.

R14: an agent sees the full number of its own call; a supervisor watching an agent's
desk sees it masked; readers and admins see numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from cti.calls.http import TRUNK
from cti.customers.http import screen_pop
from cti.desk.live import Live
from cti.desk.settings import DeskSettings
from cti.errors import BadRequest, Forbidden, Overloaded
from cti.web.pages import page
from cti.runtime import Runtime
from cti.web.accounts import Identity
from cti.web.server import AUTH, SESSION, Feature, Part, answer, identity, json_body, need, runtime, serving
from cti.orders.http import WORKORDERS
from cti.outbound.http import VISITS
from workorders import FIELDS, URGENCIES


ROUTES = web.RouteTableDef()
DESK = web.AppKey("desk", DeskSettings)
LIVE = web.AppKey("live", Part[Live])
SESSION_CHECK_S = 1.0  # a stream opened with a session looks whether it still holds this often


def _defaults(app: web.Application) -> None:
    app[DESK] = DeskSettings()  # (the composition root puts the configured ones)


ROUTES.get("/agent")(page("agent.html"))


def settings(request: web.Request) -> DeskSettings:
    return request.app[DESK]


# ------------------------------------------------------------------ the desk


@ROUTES.put("/desk/{agent_id}/drafts/{call_id}")
async def keep_draft(request: web.Request) -> web.Response:
    """R12: ``{"kind", "fields": {...}}``, what the agent has typed of a call's
    disposition, kept until it is recorded (its own desk only)."""
    agent_id, call_id = request.match_info["agent_id"], request.match_info["call_id"]
    who = need(request, agent_id=agent_id)
    if who.agent_id != agent_id:
        raise Forbidden("a draft is kept by the agent who types it")
    body = await json_body(request)
    kind, fields = body.get("kind", ""), body.get("fields", {})
    if not isinstance(kind, str) or not isinstance(fields, dict):
        raise BadRequest("a draft is {'kind': text, 'fields': {...}}")
    await request.app[WORKORDERS].get().keep_draft(agent_id, call_id, kind, fields)
    return web.json_response({"call_id": call_id, "kept": True})


@ROUTES.delete("/desk/{agent_id}/drafts/{call_id}")
async def drop_draft(request: web.Request) -> web.Response:
    agent_id, call_id = request.match_info["agent_id"], request.match_info["call_id"]
    who = need(request, agent_id=agent_id)
    if who.agent_id != agent_id:
        raise Forbidden("a draft is dropped by the agent who typed it")
    await request.app[WORKORDERS].get().drop_draft(agent_id, call_id)
    return web.json_response({"call_id": call_id, "kept": False})


@ROUTES.get("/desk/{agent_id}")
async def desk(request: web.Request) -> web.Response:
    """What the agent's page shows: state, the call (screen pop), the caller's recent
    contacts and open orders (R10), the disposition form's choices, pause codes."""
    agent_id = request.match_info["agent_id"]
    who = need(request, "supervisor", agent_id=agent_id)
    rt = runtime(request)
    view = rt.engine.agent(agent_id)
    now = rt.clock()
    full = who.sees_numbers or who.agent_id == agent_id
    call: dict[str, Any] | None = None
    live = next((k for k in rt.engine.calls()
                 if k.agent_id == agent_id or agent_id in k.offered_to or k.consult == agent_id), None)
    wo = request.app[WORKORDERS].peek()
    if live is not None:
        call = {"call_id": live.call_id, "caller": live.caller, "queue": live.queue, "kind": live.kind,
                "emergency": live.emergency, "arrived_at": live.arrived_at, "answered_at": live.answered_at,
                "state": "offered" if live.agent_id != agent_id else "connected", "on_hold": live.on_hold,
                "hold_since": live.hold_since, "waited_s": (live.answered_at or now) - live.arrived_at,
                "callback": live.callback, "attempts": live.attempts, "dialing": live.state == "dialing",
                "consult": live.consult, "consult_answered": live.consult_answered}
        if live.consult == agent_id:  # consulted by the call's agent (an attended transfer)
            call["state"] = "consulted" if live.consult_answered else "offered"
    elif view.last_call_id and wo is not None:
        ended = await wo.ended_call(view.last_call_id)
        if ended is not None:
            call = {"call_id": ended["call_id"], "caller": ended["caller"], "queue": ended["queue"],
                    "kind": ended["kind"], "emergency": bool(ended["emergency"]), "arrived_at": ended["arrived_at"],
                    "state": "ended", "ended_at": ended["ended_at"], "waited_s": ended["waited_s"],
                    "talked_s": ended["talked_s"]}
    visits = request.app[VISITS].peek()
    if call is not None and live is not None and live.callback and live.call_id.startswith("rv") and visits:
        entry = await visits.store.entry_by_call(live.call_id)  # R11: whom the agent calls, and what to say
        if entry is not None:
            campaign = next((k for k in visits.active() if k.campaign_id == entry["campaign_id"]), None)
            call["customer_name"] = entry["name"] or ""
            call["campaign"] = campaign.name if campaign else entry["campaign_id"]
            call["script"] = campaign.script if campaign else ""
            call["order_id"] = entry["order_id"]
    history: dict[str, Any] = {"contacts": [], "open_orders": []}
    disposition = None
    if call is not None and wo is not None:
        history = await wo.caller_context(call["caller"], now)
        history["contacts"] = [k for k in history["contacts"] if k["call_id"] != call["call_id"]]
        disposition = await wo.disposition(call["call_id"], agent_id)
    # R12: the agent's unrecorded dispositions (its own desk only: what it typed)
    drafts = await wo.drafts(agent_id) if wo is not None and who.agent_id == agent_id else []
    desk_settings = settings(request)
    kinds = wo.settings.rules.kinds if wo is not None else {}
    queue_modes = {q.name: q.wrap_up_ends for q in rt.engine.queue_configs()}
    # R14: the whole answer (the call, the caller's history, the stored disposition
    # and its contact_number) masked unless this identity may see the numbers.
    return answer(request, {
        "now": now, "agent": dataclasses.asdict(view), "call": call, "history": history,
        "disposition": disposition, "drafts": drafts,
        "customer": await screen_pop(request, who, agent_id, call),  # R19: the caller's record (audited unless own)
        "form": {"kinds": [{"name": k.name, "label": k.label, "required": list(k.required), "action": k.action,
                            "emergency": k.emergency} for k in kinds.values()],
                 "fields": list(FIELDS), "urgencies": list(URGENCIES),
                 "work_orders": bool(wo is not None and wo.settings.enabled)},
        "pause_codes": list(desk_settings.pause_codes),
        "safety_script": desk_settings.safety_script if call is not None and call["emergency"] else None,
        "wrap_up_ends": queue_modes,
        # Where a call may be transferred now: ready agents, queues (a number: the trunk's rules).
        "transfer_to": {"agents": sorted(a.agent_id for a in rt.engine.agents()
                                         if a.state == "ready" and a.agent_id != agent_id),
                        "queues": sorted(queue_modes), "external": request.app[TRUNK].peek() is not None},
    }, whole=full)


# ------------------------------------------------------------------ the live stream


@ROUTES.get("/events")
async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``agent`` (something about the agent changed: read the desk
    again), ``figures`` (the wallboard's figures), ``alert``."""
    who = identity(request)
    live = request.app[LIVE].get()
    stream = live.open(who)
    if stream is None:
        raise Overloaded("too many live streams")
    auth, session = request.app[AUTH], request.get(SESSION)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    try:
        await response.prepare(request)
        first = "retry: 2000\n\n" + (f"event: agent\ndata: {{\"agent_id\": \"{who.agent_id}\"}}\n\n"
                                     if who.agent_id else "event: hello\ndata: {}\n\n")
        await response.write(first.encode())
        if stream.supervises:
            live.changed()
        while True:
            try:
                async with asyncio.timeout(SESSION_CHECK_S):
                    message: str | None = await stream.queue.get()
            except TimeoutError:
                message = ""
            if message is None or (session is not None and auth.session(session) is None):
                break  # the engine stops, or the stream's session ended (signed out, expired)
            if message:
                async with asyncio.timeout(10.0):  # a client that stopped reading is dropped
                    await response.write(message.encode())
    except (ConnectionResetError, TimeoutError):
        pass
    finally:
        live.close(stream)
    return response


FEATURE = Feature(ROUTES, (LIVE,), _defaults)


@dataclass(frozen=True, slots=True)
class LiveDeps:
    figures: Callable[[Identity], dict[str, Any]]  # the wallboard's figures as one identity may see them
    agent_of: Callable[[str], str | None]  # a call's agent, the core's
    runtime: Runtime
    streams_per_identity: int = 5  # [desk] streams_per_identity


@contextlib.asynccontextmanager
async def setup(app: web.Application, deps: LiveDeps) -> AsyncIterator[Live]:
    """The live streams while this engine leads: they follow the core's notices; at the
    end every open stream is closed (the pages reconnect to the next leader)."""
    live = Live(deps.figures, agent_of=deps.agent_of, per_identity=deps.streams_per_identity)
    deps.runtime.follow(live.observe)
    try:
        async with serving(app, LIVE, live):
            yield live
    finally:
        live.close_all()
