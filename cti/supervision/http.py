"""R13 figures (Prometheus ``/metrics``, ``/wallboard.json``) and the R9 supervisor
controls (``/plan``; changes need the admin token and are audited)."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from cti.errors import BadRequest, NotConfigured, NotRouting
from cti.supervision.prometheus import prometheus_text
from cti.supervision.services import Supervision
from cti.web import ADMIN_TOKEN, INSTANCE, json_body, require_token

audit = logging.getLogger("cti.audit")


def routes(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/wallboard.json", wallboard)
    app.router.add_get("/plan", get_plan)
    app.router.add_post("/plan/{action}", plan_action)


def _supervision(request: web.Request) -> Supervision:
    supervision = request.app[INSTANCE].supervision
    if supervision is None:
        raise NotRouting()
    return supervision


async def metrics(request: web.Request) -> web.Response:
    """R13 for machines: Prometheus text format."""
    body = prometheus_text(_supervision(request).figures())
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


async def wallboard(request: web.Request) -> web.Response:
    """R13 for people: the same figures as JSON."""
    return web.json_response(_supervision(request).figures())


async def get_plan(request: web.Request) -> web.Response:
    return web.json_response(_supervision(request).figures()["plan"])


async def plan_action(request: web.Request) -> web.Response:
    """R9 supervisor controls (admin token): confirm, level {"level": "II" | null},
    incident {"cause", "scope", "started_at"}."""
    supervision = _supervision(request)
    action = request.match_info["action"]
    require_token(request, request.app[ADMIN_TOKEN], f"plan {action}")
    who = request.headers.get("X-CTI-User", "supervisor")
    plan = supervision.plan
    if plan is None:
        raise NotConfigured("no [plan] is configured")
    body = await json_body(request)
    now = time.time()
    if action == "confirm":
        supervision.apply(plan.confirm(who, now), who)
    elif action == "level":
        level = body.get("level")
        if level is not None and not isinstance(level, str):
            raise BadRequest("'level' is III, II, I or null")
        try:
            supervision.apply(plan.set_level(level, who, now), who)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
    elif action == "incident":
        cause, scope = body.get("cause"), body.get("scope", "")
        started = body.get("started_at", now)
        if not isinstance(cause, str) or not cause or not isinstance(scope, str) \
                or isinstance(started, bool) or not isinstance(started, (int, float)):
            raise BadRequest("an incident needs a cause, a scope and started_at (epoch s)")
        plan.incident.cause, plan.incident.scope, plan.incident.started_at = cause, scope, float(started)
        audit.warning("R9 incident attached by %s: %s / %s", who, cause, scope)
    else:
        raise web.HTTPNotFound(text=f"no plan action {action!r}")
    return web.json_response(supervision.figures()["plan"])
