"""The agent desk and the supervisor wallboard: two pages (``/agent``, ``/wallboard``:
HTML, Jinja2 templates, no data in them), their static script and style, the desk's
data (``GET /desk/{agent_id}``), the wallboard's (``GET /wallboard/live``) and the
live stream (``GET /events``). The pages read everything through this authenticated
API, so an integration can do what they do.

R14: an agent sees the full number of its own call; a supervisor watching an agent's
desk sees it masked; readers and admins see numbers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from cti.auth import Identity
from cti.desk.settings import DeskSettings
from cti.errors import Missing, NotRouting, Overloaded
from cti.masking import mask_number
from cti.supervision.http import plan_for
from cti.web import INSTANCE, Instance, identity, need, running, runtime
from workorders import FIELDS, URGENCIES

STATIC = Path(__file__).resolve().parents[1] / "static"
ASSETS = ("page.js", "desk.js", "wallboard.js", "reports.js", "style.css")


def routes(app: web.Application) -> None:
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(str(Path(__file__).with_name("templates"))),
                         autoescape=True)
    # Read once here, not per request: the assets and their content hashes (pages link
    # ``/static/x?v=hash``, cached for a year).
    assets = {name: (STATIC / name).read_bytes() for name in ASSETS}
    versions = {name: hashlib.sha256(body).hexdigest()[:12] for name, body in assets.items()}

    def page(template: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            return await _page(request, template, versions)
        return handler

    async def static(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in assets:
            raise Missing(f"no asset {name}")
        types = {".js": "text/javascript", ".css": "text/css"}
        response = web.Response(body=assets[name], content_type=types[Path(name).suffix], charset="utf-8")
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response

    app.router.add_get("/agent", page("agent.html"))
    app.router.add_get("/wallboard", page("wallboard.html"))
    app.router.add_get("/reports", page("reports.html"))
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/events", events)
    app.router.add_get("/desk/{agent_id}", desk)
    app.router.add_get("/wallboard/live", wallboard_live)


async def _page(request: web.Request, template: str, versions: dict[str, str]) -> web.Response:
    response = aiohttp_jinja2.render_template(template, request, {"v": versions})
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def settings(request: web.Request) -> DeskSettings:
    return request.app[INSTANCE].desk or DeskSettings()


# ------------------------------------------------------------------ the desk


async def desk(request: web.Request) -> web.Response:
    """What the agent's page shows: state, the call (screen pop), the caller's recent
    contacts and open orders (R10), the disposition form's choices, pause codes."""
    agent_id = request.match_info["agent_id"]
    who = need(request, "supervisor", agent_id=agent_id)
    instance = request.app[INSTANCE]
    rt = runtime(request)
    view = rt.engine.agent(agent_id)
    now = rt.clock()
    full = who.sees_numbers or who.agent_id == agent_id
    call: dict[str, Any] | None = None
    live = next((k for k in rt.engine.calls()
                 if k.agent_id == agent_id or agent_id in k.offered_to or k.consult == agent_id), None)
    wo = instance.workorders
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
    visits = instance.visits
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
        if not full:
            call["caller"] = mask_number(call["caller"])
            history = _masked(history)
    desk_settings = settings(request)
    kinds = wo.settings.rules.kinds if wo is not None else {}
    queue_modes = {q.name: q.wrap_up_ends for q in rt.engine.queue_configs()}
    return web.json_response({
        "now": now, "agent": dataclasses.asdict(view), "call": call, "history": history,
        "disposition": disposition,
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
                        "queues": sorted(queue_modes), "external": instance.trunk is not None},
    })


def _masked(history: dict[str, Any]) -> dict[str, Any]:
    return {
        "contacts": [{**k, "caller": mask_number(str(k["caller"]))} for k in history["contacts"]],
        "open_orders": [{**o, "caller": mask_number(str(o["caller"])),
                         "fields": {**o["fields"], **({"contact_number": mask_number(o["fields"]["contact_number"])}
                                                      if "contact_number" in o["fields"] else {})}}
                        for o in history["open_orders"]],
    }


# ------------------------------------------------------------------ the wallboard


def wallboard_figures(instance: Instance, who: Identity) -> dict[str, Any]:
    """Everything the wallboard shows, as ``who`` may see it."""
    supervision = instance.supervision
    if supervision is None or instance.runtime is None:
        raise NotRouting()
    figures = supervision.figures()
    figures["plan"] = plan_for(who, figures["plan"])
    now = figures["at"]
    calls = {k.call_id: k for k in instance.runtime.engine.calls()}
    today = instance.history.answered_today if instance.history is not None else None
    agents = []
    for a in instance.runtime.engine.agents():
        current = calls.get(a.call_id or "")
        agents.append({**dataclasses.asdict(a), "in_state_s": now - a.since if a.since else None,
                       "calls": a.calls if today is None else today.get(a.agent_id, 0),  # R13: today, from the record
                       "call_s": now - current.answered_at if current and current.answered_at else None,
                       "on_hold_s": now - current.hold_since if current and current.hold_since else None})
    hold_max = {q.name: q.hold_max_s for q in instance.runtime.engine.queue_configs()}
    figures["agent_list"] = agents
    adapter = instance.adapter  # who listens to which call (R14: the supervisors may know)
    figures["listening"] = {} if adapter is None else {
        k: {"mode": v.mode, "by": v.who, "answered": v.answered} for k, v in adapter.listening.sessions.items()}
    figures["hold_max_s"] = hold_max
    figures["waiting_calls"] = [
        {"call_id": k.call_id, "queue": k.queue, "waited_s": now - k.arrived_at, "emergency": k.emergency,
         "kind": k.kind, "priority": k.priority, "callback": k.callback, "attempts": k.attempts}
        for k in calls.values() if k.state in ("waiting", "retry")]
    figures["trend"] = list(supervision.trend)
    wo = instance.workorders
    figures["work_orders"] = None if wo is None else {
        "overdue": wo.overdue, "alerts": list(wo.alerts)[-20:], "created": wo.created}
    live = instance.live
    figures["alerts"] = [] if live is None else list(live.recent_alerts)[-30:]
    return figures


async def wallboard_live(request: web.Request) -> web.Response:
    who = need(request, "supervisor")
    return web.json_response(wallboard_figures(request.app[INSTANCE], who))


# ------------------------------------------------------------------ the live stream


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``agent`` (something about the agent changed: read the desk
    again), ``figures`` (the wallboard's figures), ``alert``."""
    who = identity(request)
    live = running(request, lambda parts: parts.live)
    stream = live.open(who)
    if stream is None:
        raise Overloaded("too many live streams")
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
            message = await stream.queue.get()
            if message is None:
                break
            async with asyncio.timeout(10.0):  # a client that stopped reading is dropped
                await response.write(message.encode())
    except (ConnectionResetError, TimeoutError):
        pass
    finally:
        live.close(stream)
    return response
