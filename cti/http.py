"""The engine's HTTP server: health and the agent API.

Domain errors are mapped to HTTP statuses here and only here.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from aiohttp import web

from acd import AcdError, InvalidTransition, UnknownAgent
from acd import events as e
from cti.ari import ConnectionState
from cti.runtime import Runtime

RUNTIME = web.AppKey("runtime", Runtime)
CONNECTIONS = web.AppKey("connections", list[ConnectionState])


def build_app(runtime: Runtime, connections: list[ConnectionState]) -> web.Application:
    app = web.Application(middlewares=[_errors])
    app[RUNTIME] = runtime
    app[CONNECTIONS] = connections
    app.router.add_get("/health", health)
    app.router.add_get("/agents", list_agents)
    app.router.add_get("/agents/{agent_id}", get_agent)
    app.router.add_post("/agents/{agent_id}/{action}", agent_action)
    app.router.add_get("/calls", list_calls)
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


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


async def health(request: web.Request) -> web.Response:
    conns = request.app[CONNECTIONS]
    ok = all(s.connected for s in conns)
    body = {"status": "ok" if ok else "degraded", **{s.name: s.as_dict() for s in conns}}
    return web.json_response(body, status=200 if ok else 503)


async def list_agents(request: web.Request) -> web.Response:
    agents = request.app[RUNTIME].engine.agents()
    return web.json_response([dataclasses.asdict(a) for a in agents])


async def get_agent(request: web.Request) -> web.Response:
    view = request.app[RUNTIME].engine.agent(request.match_info["agent_id"])
    return web.json_response(dataclasses.asdict(view))


async def list_calls(request: web.Request) -> web.Response:
    engine = request.app[RUNTIME].engine
    return web.json_response([
        {
            **dataclasses.asdict(k),
            "position": engine.position(k.call_id),
            "expected_wait_s": engine.expected_wait_s(k.call_id),
        }
        for k in engine.calls()
    ])


async def agent_action(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
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
