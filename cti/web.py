"""The engine's HTTP server: the aiohttp application, health, the token checks, and
the one error middleware that maps every domain error to an HTTP status.

Features add their own routes (``cti/<feature>/http.py``: a ``routes(app)`` function
each); ``cti.app`` composes them. Handlers raise domain errors and never build error
responses themselves.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from acd import AcdError, InvalidTransition, UnknownAgent
from cti.errors import BadRequest, Forbidden, NotConfigured, NotRouting
from cti.health import ConnectionState, Faults
from cti.recording.recorder import Recorder
from cti.recording.services import BadHold
from cti.runtime import Runtime
from cti.supervision.services import Supervision
from recording.archive import IntegrityError, NotFound, RecordingError

log = logging.getLogger("cti.http")
audit = logging.getLogger("cti.audit")


@dataclass
class Instance:
    """What the HTTP server shows: this engine instance's role (leader, standby,
    adapter), and its parts once they run. (A *node* is an Asterisk server.)"""

    role: str = "standby"
    runtime: Runtime | None = None
    connections: list[ConnectionState] = field(default_factory=list)
    recorder: Recorder | None = None
    supervision: Supervision | None = None
    faults: Faults = field(default_factory=Faults)


INSTANCE: web.AppKey[Instance] = web.AppKey("instance")
ADMIN_TOKEN: web.AppKey[str | None] = web.AppKey("admin_token")

# Domain errors -> (HTTP status, error code): the only such table.
_STATUSES: list[tuple[type[Exception], int, str]] = [
    (UnknownAgent, 404, "unknown-agent"),
    (InvalidTransition, 409, "invalid-transition"),
    (AcdError, 422, "refused"),
    (NotFound, 404, "not-found"),
    (IntegrityError, 409, "integrity"),
    (BadHold, 400, "bad-request"),
    (RecordingError, 400, "bad-request"),
    (BadRequest, 400, "bad-request"),
    (Forbidden, 403, "forbidden"),
    (NotConfigured, 404, "not-configured"),
    (NotRouting, 503, "not-routing"),
]


def build_app(instance: Instance, admin_token: str | None, features: Iterable[Callable[[web.Application], None]]) -> web.Application:
    app = web.Application(middlewares=[_errors])
    app[INSTANCE] = instance
    app[ADMIN_TOKEN] = admin_token
    app.router.add_get("/health", health)
    for add_routes in features:
        add_routes(app)
    return app


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except Exception as exc:
        for kind, status, code in _STATUSES:
            if isinstance(exc, kind):
                if isinstance(exc, IntegrityError):
                    log.error("R5 ALERT: %s", exc)
                message = str(exc) if not isinstance(exc, NotRouting) else (
                    "this engine instance does not route calls (standby or adapter); ask the leader")
                return error(status, code, message)
        raise


def error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


def runtime(request: web.Request) -> Runtime:
    found = request.app[INSTANCE].runtime
    if found is None:
        raise NotRouting()
    return found


def bearer(request: web.Request) -> str:
    return request.headers.get("Authorization", "").removeprefix("Bearer ").strip()


def require_token(request: web.Request, token: str | None, what: str) -> None:
    """Refuse (403, audited) unless the request bears ``token``."""
    if token is None or not hmac.compare_digest(bearer(request).encode(), token.encode()):
        audit.warning("%s refused to %s", what, request.remote)
        raise Forbidden(f"{what} needs its token")


async def json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


async def health(request: web.Request) -> web.Response:
    """200 when this instance leads and every connection is up; 503 otherwise (a standby
    is healthy as a standby, but must not receive traffic)."""
    instance = request.app[INSTANCE]
    conns = instance.connections
    if instance.role == "standby":
        # A standby has not connected to Asterisk's app: only Redis matters to it.
        ok = all(s.connected for s in conns if s.name == "redis")
        status = "standby" if ok else "degraded"
    else:
        ok = all(s.connected for s in conns)
        status = "ok" if ok else "degraded"
    body = {"status": status, "role": instance.role, **{s.name: s.as_dict() for s in conns}}
    return web.json_response(body, status=200 if status == "ok" else 503)
