"""The supervisors' wallboard: its page (``/wallboard``) and its data
(``GET /wallboard/live``: the R13 figures and the R9 plan, agents, waiting calls, who
listens to which call, work orders' alerts), what the live stream (``/events``) sends
the wallboard too. Callers' numbers in the plan are masked except for readers and
admins (R14)."""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from cti.masking import mask_number
from cti.web.accounts import Identity
from cti.calls.http import ADAPTER
from cti.desk.http import LIVE
from cti.reports.http import HISTORY
from cti.web.pages import page
from cti.supervision.http import SUPERVISION, plan_for, satisfaction_today
from cti.web.server import RUNTIME, Feature, need
from cti.orders.http import WORKORDERS

ROUTES = web.RouteTableDef()
ROUTES.get("/wallboard")(page("wallboard.html"))


def wallboard_figures(app: web.Application, who: Identity) -> dict[str, Any]:
    """Everything the wallboard shows, as ``who`` may see it."""
    supervision, rt = app[SUPERVISION].get(), app[RUNTIME].get()
    figures = supervision.figures()
    figures["plan"] = plan_for(who, figures["plan"])
    now = figures["at"]
    calls = {k.call_id: k for k in rt.engine.calls()}
    history = app[HISTORY].peek()
    today = history.answered_today if history is not None else None
    agents = []
    for a in rt.engine.agents():
        current = calls.get(a.call_id or "")
        agents.append({**dataclasses.asdict(a), "in_state_s": now - a.since if a.since else None,
                       "calls": a.calls if today is None else today.get(a.agent_id, 0),  # R13: today, from the record
                       "call_s": now - current.answered_at if current and current.answered_at else None,
                       "on_hold_s": now - current.hold_since if current and current.hold_since else None})
    hold_max = {q.name: q.hold_max_s for q in rt.engine.queue_configs()}
    figures["agent_list"] = agents
    adapter = app[ADAPTER].peek()  # who listens to which call (R14: the supervisors may know)
    figures["listening"] = {} if adapter is None else {
        k: {"mode": v.mode, "by": v.who, "answered": v.answered} for k, v in adapter.listening.sessions.items()}
    figures["hold_max_s"] = hold_max
    figures["waiting_calls"] = [
        {"call_id": k.call_id, "caller": k.caller if who.sees_numbers else mask_number(k.caller),  # R14
         "queue": k.queue, "waited_s": now - k.arrived_at, "emergency": k.emergency,
         "kind": k.kind, "priority": k.priority, "callback": k.callback, "attempts": k.attempts}
        for k in calls.values() if k.state in ("waiting", "retry")]
    figures["trend"] = list(supervision.trend)
    figures["satisfaction"] = satisfaction_today(app)  # R17
    wo = app[WORKORDERS].peek()
    figures["work_orders"] = None if wo is None else {
        "overdue": wo.overdue, "alerts": list(wo.alerts)[-20:], "created": wo.created}
    live = app[LIVE].peek()
    figures["alerts"] = [] if live is None else list(live.recent_alerts)[-30:]
    return figures


@ROUTES.get("/wallboard/live")
async def wallboard_live(request: web.Request) -> web.Response:
    who = need(request, "supervisor")
    return web.json_response(wallboard_figures(request.app, who))

FEATURE = Feature(ROUTES)
