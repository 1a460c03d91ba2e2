"""R13 figures (Prometheus ``/metrics``, ``/wallboard.json``) and the R9 supervisor
controls (``/plan``): supervisors and admins (``/metrics`` open only with ``[auth]
metrics_open``); changes are audited with who made them; callers' numbers in the plan's
callback list are masked except for readers and admins (R14)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from cti.errors import BadRequest, Missing, NotConfigured
from cti.supervision.prometheus import prometheus_text

from cti.web.accounts import Identity
from cti.masking import mask_number
from cti.health import ConnectionState, Faults
from cti.notify import Notifier
from cti.reports.http import HISTORY
from cti.runtime import Runtime
from cti.supervision.services import Supervision
from cti.supervision.settings import SupervisionConfig
from cti.web.server import AUTH, CONNECTIONS, Feature, Part, answer, json_body, need, serving

audit = logging.getLogger("cti.audit")


ROUTES = web.RouteTableDef()  # each handler declares its route; filled at import, read-only after
SUPERVISION = web.AppKey("supervision", Part[Supervision])
FEATURE = Feature(ROUTES, (SUPERVISION,))


@ROUTES.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """R13 for machines: Prometheus text format."""
    if not request.app[AUTH].settings.metrics_open:
        need(request, "supervisor")
    body = prometheus_text(request.app[SUPERVISION].get().figures())
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


@ROUTES.get("/wallboard.json")
async def wallboard(request: web.Request) -> web.Response:
    """R13 for people: the same figures as JSON."""
    who = need(request, "supervisor")
    figures = request.app[SUPERVISION].get().figures()
    figures["plan"] = plan_for(who, figures["plan"])
    figures["satisfaction"] = satisfaction_today(request.app)
    return web.json_response(figures)


def satisfaction_today(app: web.Application) -> dict[str, Any]:
    """R17: today's surveys after calls per queue (offered, responses, response rate,
    CSAT, mean score), from the record; {} where it does not run."""
    history = app[HISTORY].peek()
    return {} if history is None else history.satisfaction_today()


@ROUTES.get("/plan")
async def get_plan(request: web.Request) -> web.Response:
    who = need(request, "supervisor")
    return answer(request, plan_for(who, request.app[SUPERVISION].get().figures()["plan"]))


def plan_for(who: Identity, plan: dict[str, Any] | None) -> dict[str, Any] | None:
    """R14: the callback requests' numbers, masked unless the caller may see them."""
    if plan is None or who.sees_numbers:
        return plan
    return {**plan, "callbacks": [{**k, "caller": mask_number(str(k.get("caller", "")))}
                                  for k in plan.get("callbacks", [])]}


@ROUTES.post("/plan/{action}")
async def plan_action(request: web.Request) -> web.Response:
    """R9 supervisor controls: confirm, level {"level": "II" | null},
    incident {"cause", "scope", "started_at"}."""
    who = need(request, "supervisor").name
    supervision = request.app[SUPERVISION].get()
    action = request.match_info["action"]
    plan = supervision.plan
    if plan is None:
        raise NotConfigured("no [plan] is configured")
    body = await json_body(request)
    now = time.time()
    if action == "confirm":
        supervision.apply(plan.confirm(who, now), who)
    elif action == "level":
        level, reason = body.get("level"), body.get("reason", "")
        if (level is not None and not isinstance(level, str)) or not isinstance(reason, str) or len(reason) > 200:
            raise BadRequest("'level' is III, II, I or null; 'reason' text (max 200)")
        if reason:
            audit.warning("R9 plan level %s asked by %s: %s", level or "none", who, reason)
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
        plan.attach_incident(cause, scope, float(started))
        audit.warning("R9 incident attached by %s: %s / %s", who, cause, scope)
    else:
        raise Missing(f"no plan action {action!r}")
    return answer(request, plan_for(need(request, "supervisor"), supervision.figures()["plan"]))


@dataclass(frozen=True, slots=True)
class SupervisionDeps:
    config: SupervisionConfig
    runtime: Runtime
    notifier: Notifier
    faults: Faults
    recording_coverage: Callable[[], Any] | None = None  # the recorder's, on a node with one
    maintenance_errors: Callable[[], Any] | None = None
    workorders_overdue: Callable[[], Any] | None = None
    workorders_late_on_site: Callable[[], Any] | None = None  # R20: alerts for crews not on site in time
    campaigns: Callable[[], Any] | None = None
    complaints_escalated: Callable[[], Any] | None = None


@contextlib.asynccontextmanager
async def setup(app: web.Application, deps: SupervisionDeps) -> AsyncIterator[Supervision]:
    """R7-R9 while this engine leads: live figures and plans follow the core and are served."""
    supervision = Supervision(deps.config, deps.runtime, app[CONNECTIONS], deps.notifier, deps.recording_coverage,
                              deps.maintenance_errors, deps.faults, workorders_overdue=deps.workorders_overdue,
                              workorders_late_on_site=deps.workorders_late_on_site, campaigns=deps.campaigns, complaints_escalated=deps.complaints_escalated)
    deps.runtime.follow(supervision.book.observe, supervision.observe)
    async with serving(app, SUPERVISION, supervision):
        yield supervision
