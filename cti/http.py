"""The engine's HTTP server: health and the agent API.

Domain errors are mapped to HTTP statuses here and only here.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import logging
import time
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from aiohttp import web

from acd import AcdError, InvalidTransition, UnknownAgent
from acd import events as e
from cti.masking import mask_number
from cti.recorder import Recorder
from cti.runtime import Runtime
from cti.supervision import Supervision, prometheus_text
from recording.archive import IntegrityError, NotFound
from recording.retention import LegalHold

if TYPE_CHECKING:
    from cti.app import Node

NODE: web.AppKey[Node] = web.AppKey("node")
ADMIN_TOKEN: web.AppKey[str | None] = web.AppKey("admin_token")
audit = logging.getLogger("cti.audit")
log = logging.getLogger("cti.http")


def build_app(node: Node, admin_token: str | None = None) -> web.Application:
    app = web.Application(middlewares=[_errors])
    app[NODE] = node
    app[ADMIN_TOKEN] = admin_token
    app.router.add_get("/health", health)
    app.router.add_get("/agents", list_agents)
    app.router.add_get("/agents/{agent_id}", get_agent)
    app.router.add_post("/agents/{agent_id}/{action}", agent_action)
    app.router.add_get("/calls", list_calls)
    app.router.add_get("/state", state)
    app.router.add_get("/recordings", list_recordings)
    app.router.add_get("/recordings/audit", recordings_audit)
    app.router.add_get("/recordings/{call_id}", get_recording)
    app.router.add_post("/recordings/holds", add_hold)
    app.router.add_delete("/recordings/holds/{hold_id}", release_hold)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/wallboard.json", wallboard)
    app.router.add_get("/plan", get_plan)
    app.router.add_post("/plan/{action}", plan_action)
    return app


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except UnknownAgent as exc:
        return _error(404, "unknown-agent", str(exc))
    except InvalidTransition as exc:
        return _error(409, "invalid-transition", str(exc))
    except AcdError as exc:
        return _error(422, "refused", str(exc))
    except _Standby:
        return _error(503, "not-routing", "this node does not route calls (standby or adapter); ask the leader")


class _Standby(Exception):
    pass


def _runtime(request: web.Request) -> Runtime:
    runtime = request.app[NODE].runtime
    if runtime is None:
        raise _Standby()
    return runtime


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


async def health(request: web.Request) -> web.Response:
    """200 when this node leads and every connection is up; 503 otherwise (a standby
    is healthy as a standby, but must not receive traffic)."""
    node = request.app[NODE]
    conns = node.connections
    if node.role == "standby":
        # A standby has not connected to Asterisk's app: only Redis matters to it.
        ok = all(s.connected for s in conns if s.name == "redis")
        status = "standby" if ok else "degraded"
    else:
        ok = all(s.connected for s in conns)
        status = "ok" if ok else "degraded"
    body = {"status": status, "role": node.role, **{s.name: s.as_dict() for s in conns}}
    return web.json_response(body, status=200 if status == "ok" else 503)


async def list_agents(request: web.Request) -> web.Response:
    agents = _runtime(request).engine.agents()
    return web.json_response([dataclasses.asdict(a) for a in agents])


async def get_agent(request: web.Request) -> web.Response:
    view = _runtime(request).engine.agent(request.match_info["agent_id"])
    return web.json_response(dataclasses.asdict(view))


async def list_calls(request: web.Request) -> web.Response:
    engine = _runtime(request).engine
    return web.json_response([
        {
            **dataclasses.asdict(k),
            "caller": mask_number(k.caller),  # R14
            "position": engine.position(k.call_id),
            "expected_wait_s": engine.expected_wait_s(k.call_id),
        }
        for k in engine.calls()
    ])


async def state(request: web.Request) -> web.Response:
    """The core's whole state (the snapshot a restarted router would rebuild), for
    operators and recovery checks. It holds callers' numbers (R14): only with the
    admin token, and every access is audited."""
    token = request.app[ADMIN_TOKEN]
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token is None or not hmac.compare_digest(given, token):
        audit.warning("state refused to %s", request.remote)
        return _error(403, "forbidden", "the state needs the admin token (http.admin_token)")
    audit.info("state read by admin from %s", request.remote)
    return web.json_response(_runtime(request).engine.snapshot())


def _recorder(request: web.Request) -> tuple[Recorder, str]:
    """R14: recordings only for the role holding the reader token; returns who asks."""
    recorder = request.app[NODE].recorder
    if recorder is None:
        raise web.HTTPNotFound(text=json.dumps({"error": "not-recording", "message": "recording is not configured"}),
                               content_type="application/json")
    token = recorder.config.reader_token
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    who = f"{request.headers.get('X-CTI-User', 'unnamed')}@{request.remote}"
    if token is None or not hmac.compare_digest(given, token):
        recorder.archive.audit.record(who, "access-refused", path=request.path)
        raise web.HTTPForbidden(text=json.dumps({"error": "forbidden", "message": "the recordings reader token is needed"}),
                                content_type="application/json")
    return recorder, who


def _number(request: web.Request, name: str) -> float | None:
    value = request.query.get(name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise web.HTTPBadRequest(text=json.dumps({"error": "bad-request", "message": f"{name} must be epoch seconds"}),
                                 content_type="application/json") from None


async def list_recordings(request: web.Request) -> web.Response:
    recorder, who = _recorder(request)
    q = request.query
    found = recorder.archive.search(
        since=_number(request, "since"), until=_number(request, "until"), caller=q.get("caller"),
        agent_id=q.get("agent"), queue=q.get("queue"), kind=q.get("kind"),
    )
    recorder.archive.audit.record(who, "list", query=dict(q), results=len(found))
    return web.json_response([dataclasses.asdict(m) for m in found])


async def get_recording(request: web.Request) -> web.Response:
    recorder, who = _recorder(request)
    call_id = request.match_info["call_id"]
    try:
        data = recorder.archive.open_verified(call_id, who)
    except NotFound as exc:
        return _error(404, "not-found", str(exc))
    except IntegrityError as exc:
        log.error("R5 ALERT: %s", exc)
        return _error(409, "integrity", str(exc))
    return web.Response(body=data, content_type="audio/wav",
                        headers={"Content-Disposition": f'attachment; filename="{call_id}.wav"'})


async def recordings_audit(request: web.Request) -> web.Response:
    recorder, who = _recorder(request)
    report = recorder.run_audit()
    recorder.archive.audit.record(who, "audit", coverage=report.coverage)
    return web.json_response({
        "answered": report.answered, "ok": report.ok, "coverage": report.coverage,
        "findings": [dataclasses.asdict(f) for f in report.findings],
    })


async def add_hold(request: web.Request) -> web.Response:
    recorder, who = _recorder(request)
    body = await _json_body(request)
    reason = body.get("reason")
    scope = {k: body.get(k) for k in ("call_id", "caller", "start", "end") if body.get(k) is not None}
    if not isinstance(reason, str) or not reason.strip() or not scope:
        return _error(400, "bad-request", "a hold needs a reason and a call_id, caller, or start and end")
    try:
        start = datetime.fromisoformat(str(scope["start"])) if "start" in scope else None
        end = datetime.fromisoformat(str(scope["end"])) if "end" in scope else None
    except (TypeError, ValueError):
        return _error(400, "bad-request", "start and end are ISO 8601 dates")
    if (start is None) != (end is None):
        return _error(400, "bad-request", "a date range needs both start and end")
    hold = LegalHold(
        hold_id=f"hold-{uuid.uuid4().hex[:12]}", reason=reason.strip(), created_by=who,
        created_at=datetime.now(timezone.utc), call_id=scope.get("call_id"),
        caller=scope.get("caller"), start=start, end=end,
    )
    recorder.archive.add_hold(hold)
    return web.json_response({"hold_id": hold.hold_id}, status=201)


async def release_hold(request: web.Request) -> web.Response:
    recorder, who = _recorder(request)
    try:
        recorder.archive.release_hold(request.match_info["hold_id"], who, datetime.now(timezone.utc))
    except NotFound as exc:
        return _error(404, "not-found", str(exc))
    return web.json_response({"released": request.match_info["hold_id"]})


def _supervision(request: web.Request) -> Supervision:
    supervision = request.app[NODE].supervision
    if supervision is None:
        raise _Standby()
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
    token = request.app[ADMIN_TOKEN]
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    who = request.headers.get("X-CTI-User", "supervisor")
    if token is None or not hmac.compare_digest(given, token):
        audit.warning("plan %s refused to %s", request.match_info["action"], request.remote)
        return _error(403, "forbidden", "plan controls need the admin token")
    plan = supervision.plan
    if plan is None:
        return _error(404, "no-plan", "no [plan] is configured")
    body = await _json_body(request)
    now = time.time()
    action = request.match_info["action"]
    if action == "confirm":
        await supervision.apply(plan.confirm(who, now), who)
    elif action == "level":
        level = body.get("level")
        if level is not None and not isinstance(level, str):
            return _error(400, "bad-request", "'level' is III, II, I or null")
        try:
            await supervision.apply(plan.set_level(level, who, now), who)
        except ValueError as exc:
            return _error(400, "bad-request", str(exc))
    elif action == "incident":
        cause, scope = body.get("cause"), body.get("scope", "")
        started = body.get("started_at", now)
        if not isinstance(cause, str) or not cause or not isinstance(scope, str) \
                or isinstance(started, bool) or not isinstance(started, (int, float)):
            return _error(400, "bad-request", "an incident needs a cause, a scope and started_at (epoch s)")
        plan.incident.cause, plan.incident.scope, plan.incident.started_at = cause, scope, float(started)
        audit.warning("R9 incident attached by %s: %s / %s", who, cause, scope)
    else:
        return _error(404, "unknown-action", f"no plan action {action!r}")
    return web.json_response(supervision.figures()["plan"])


async def agent_action(request: web.Request) -> web.Response:
    runtime = _runtime(request)
    agent_id = request.match_info["agent_id"]
    action = request.match_info["action"]
    now = runtime.clock()
    body = await _json_body(request)
    event: e.Event
    if action == "login":
        ready = body.get("ready", True)
        if not isinstance(ready, bool):
            return _error(400, "bad-request", "'ready' must be true or false")
        event = e.AgentLoggedIn(agent_id, now, ready)
    elif action == "logout":
        event = e.AgentLoggedOut(agent_id, now)
    elif action == "ready":
        event = e.AgentReady(agent_id, now)
    elif action == "end-wrap-up":
        if runtime.engine.agent(agent_id).state != "wrap-up":
            return _error(409, "invalid-transition", f"agent {agent_id!r} is not in wrap-up")
        event = e.AgentReady(agent_id, now)
    elif action == "pause":
        reason = body.get("reason")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 64:
            return _error(400, "bad-request", "'reason' must be a non-empty string (max 64)")
        event = e.AgentPaused(agent_id, reason.strip(), now)
    else:
        return _error(404, "unknown-action", f"no agent action {action!r}")
    runtime.apply(event)
    return web.json_response(dataclasses.asdict(runtime.engine.agent(agent_id)))


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "bad-request", "message": "body is not JSON"}),
            content_type="application/json",
        ) from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "bad-request", "message": "body must be a JSON object"}),
            content_type="application/json",
        )
    return body
