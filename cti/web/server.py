"""The engine's HTTP server: the aiohttp application, health, who is asking (R14:
``cti.web.auth``; every request but ``/health`` and the sign-in is authenticated here,
before any handler), and the one error middleware that maps every domain error to an
HTTP status.

Features add their own routes (``cti/<feature>/http.py``: a ``ROUTES`` table each, its
handlers declaring their routes); ``cti.app`` composes them. Handlers raise domain
errors and never build error responses themselves.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from aiohttp import web

from acd import AcdError, InvalidTransition, UnknownAgent
from acd.errors import TransferRefused
from cti.web.auth import Auth
from cti.web.accounts import Identity
from cti.store.sql import StoreUnavailable
from cti.errors import (
    BadRequest, Conflict, Forbidden, Missing, NotConfigured, NotRouting, Overloaded, TooLarge, TooMany,
    Unauthorized,
    UnsupportedMedia,
)
from cti.masking import mask_numbers
from cti.web import pages
from cti.web.i18n import display_name
from cti.health import ConnectionState
from cti.recording.services import BadHold
from cti.runtime import Runtime
from recording.archive import IntegrityError, NotFound, RecordingError
from workorders import BadDisposition, BadTransition

T = TypeVar("T")
log = logging.getLogger("cti.http")
audit = logging.getLogger("cti.audit")


class Part(Generic[T]):
    """A part of the engine that only some instances run (the leader's core and its
    features, a node's adapter and recorder): empty until the composition root starts
    it there. Handlers ``get()`` it: an empty part refuses with ``NotRouting`` (503)."""

    __slots__ = ("_value",)

    def __init__(self) -> None:
        self._value: T | None = None

    def start(self, value: T) -> None:
        self._value = value

    def stop(self) -> None:
        """Empty again: handlers refuse with 503 while the part's resources close."""
        self._value = None

    def get(self) -> T:
        if self._value is None:
            raise NotRouting()
        return self._value

    def peek(self) -> T | None:
        return self._value


@contextlib.asynccontextmanager
async def serving(app: web.Application, key: web.AppKey[Part[T]], value: T) -> AsyncIterator[T]:
    """``value`` serves ``app[key]``'s requests while the block runs (a feature's
    ``setup``: the last step of its start, the first of its stop)."""
    app[key].start(value)
    try:
        yield value
    finally:
        app[key].stop()


class Role:
    """This engine instance's role: standby until it leads (leader) or adapts a node (adapter)."""

    __slots__ = ("name",)

    def __init__(self) -> None:
        self.name = "standby"

    def become(self, name: str) -> None:
        self.name = name


ROLE = web.AppKey("role", Role)
CONNECTIONS = web.AppKey("connections", list[ConnectionState])  # what /health reports
RUNTIME = web.AppKey("runtime", Part[Runtime])
AUTH: web.AppKey[Auth] = web.AppKey("auth")
IDENTITY: web.RequestKey[Identity] = web.RequestKey("identity")  # who is asking
SESSION: web.RequestKey[str] = web.RequestKey("session")  # the session token it came with, if any
OPEN = frozenset({("GET", "/health"), ("GET", "/openapi.json"), ("POST", "/auth/login"),
        ("GET", "/agent"), ("GET", "/wallboard"), ("GET", "/reports"),
        ("GET", "/quality"), ("GET", "/knowledge")})  # the pages hold no data: they sign in first
OPEN_PREFIX = "/static/"
SESSION_COOKIE = "cti_session"
MAX_BODY = 1024 * 1024  # a request body's limit (413 too-large beyond it); routes that need more say so
OPENAPI = Path(__file__).with_name("static") / "openapi.json"  # the API, described (kept in the repository)

# Domain errors -> (HTTP status, error code): the only such table.
_STATUSES: tuple[tuple[type[Exception], int, str], ...] = tuple([
    (UnknownAgent, 404, "unknown-agent"),
    (Missing, 404, "not-found"),
    (Conflict, 409, "conflict"),
    (BadDisposition, 400, "bad-request"),
    (BadTransition, 409, "invalid-transition"),
    (StoreUnavailable, 503, "store-unavailable"),
    (InvalidTransition, 409, "invalid-transition"),
    (TransferRefused, 409, "transfer-refused"),
    (AcdError, 422, "refused"),
    (NotFound, 404, "not-found"),
    (IntegrityError, 409, "integrity"),
    (BadHold, 400, "bad-request"),
    (RecordingError, 400, "bad-request"),
    (BadRequest, 400, "bad-request"),
    (Unauthorized, 401, "unauthorized"),
    (Forbidden, 403, "forbidden"),
    (UnsupportedMedia, 415, "unsupported-media-type"),
    (NotConfigured, 404, "not-configured"),
    (NotRouting, 503, "not-routing"),
    (Overloaded, 503, "overloaded"),
    (TooLarge, 413, "too-large"),
    (TooMany, 429, "too-many"),
])


@dataclass(frozen=True, slots=True)
class Feature:
    """What a feature adds to the HTTP API: its routes, the keys of the parts it serves
    (empty until they run), and what else it sets up on the app (its pages)."""

    routes: web.RouteTableDef
    parts: tuple[web.AppKey[Part[Any]], ...] = ()
    setup: Callable[[web.Application], None] | None = None


def build_app(auth: Auth, features: Iterable[Feature], connections: Iterable[ConnectionState] = (),
              locale: str = "zh-CN") -> web.Application:
    """The HTTP API of one engine instance: its parts start empty (a standby's), each
    feature adds its routes and its parts' keys. ``locale``: the pages' language for a
    person who has chosen none (``[site] locale``)."""
    app = web.Application(middlewares=[_errors, _authenticate], client_max_size=MAX_BODY)
    app[AUTH] = auth
    app[ROLE] = Role()
    app[CONNECTIONS] = list(connections)
    app[RUNTIME] = Part()
    pages.setup(app, locale)
    app.router.add_get("/health", health)
    app.router.add_get("/openapi.json", openapi(OPENAPI.read_bytes()))  # read once, at start
    app.router.add_post("/auth/login", sign_in)
    app.router.add_post("/auth/logout", sign_out)
    app.router.add_get("/auth/me", who_am_i)
    for feature in features:
        for key in feature.parts:
            app[key] = Part()
        if feature.setup is not None:
            feature.setup(app)
        app.router.add_routes(feature.routes)
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
                response = error(status, code, message, getattr(exc, "fields", None))
                if status == 401 and "X-CTI-Page" not in request.headers:  # no browser prompt over a page
                    response.headers["WWW-Authenticate"] = 'Basic realm="cti", Bearer'
                return response
        raise


@web.middleware
async def _authenticate(request: web.Request, handler: Any) -> web.StreamResponse:
    """Who is asking, before any handler runs; state changes only as JSON (a cross-site
    form cannot send that without the browser asking first)."""
    auth = request.app[AUTH]
    if (request.method, request.path) not in OPEN and not (
            request.method in ("GET", "HEAD") and request.path.startswith(OPEN_PREFIX)) and not (
            request.path == "/metrics" and request.method == "GET" and auth.settings.metrics_open):
        header = request.headers.get("Authorization")
        cookie = request.cookies.get(SESSION_COOKIE)
        if header is None and cookie:  # a browser: the session cookie, and CSRF for changes
            found = auth.session(cookie)
            if found is not None and request.method not in ("GET", "HEAD") and not auth.csrf_ok(
                    cookie, request.headers.get("X-CSRF-Token", "")):
                raise Forbidden("a change from a browser session needs its X-CSRF-Token")
            if found is not None:
                request[SESSION] = cookie
        else:
            found = await auth.identify(header or "", client_address(request))
            bearer = (header or "").strip()
            if found is not None and bearer[:7].lower() == "bearer " and auth.session(bearer[7:].strip()) is not None:
                request[SESSION] = bearer[7:].strip()
        if found is None:
            raise Unauthorized("sign in: Authorization: Basic (agent id and PIN, or account and password) "
                               "or Bearer (a token)")
        request[IDENTITY] = found
    if request.method in ("POST", "PUT", "PATCH") and request.content_type != "application/json":
        raise UnsupportedMedia("send JSON (Content-Type: application/json)")
    if any("\x00" in v for v in (*request.match_info.values(), *request.query.keys(), *request.query.values())):
        raise BadRequest("an id or a query value holds a NUL character")  # (PostgreSQL's text refuses it)
    response: web.StreamResponse = await handler(request)
    return response


def answer(request: web.Request, data: Any, status: int = 200, *, whole: bool = False) -> web.Response:
    """R14: the one way a route answers with JSON that may hold customers' data
    (dispositions, orders, customer records, visits, campaigns, calls): every phone
    number in it is masked (``cti.masking.mask_numbers``) unless the identity may see
    numbers (reader, admin). ``whole``: the handler decided this identity may see
    these numbers (an agent its own call, a department its own orders)."""
    who: Identity | None = request.get(IDENTITY)
    if not whole and (who is None or not who.sees_numbers):
        data = mask_numbers(data)
    elif who is not None and who.sees_numbers and mask_numbers(data) != data:  # R14: number views are audited
        audit.info("%s (%s) shown full numbers: %s %s", who.name, who.role, request.method, request.path)
    return web.json_response(data, status=status)


def client_address(request: web.Request) -> str | None:
    """Where a request comes from, for throttling guesses (``Auth.address``)."""
    return request.app[AUTH].address(request.remote, request.headers.get("X-Forwarded-For"))


def error(status: int, code: str, message: str, fields: dict[str, str] | None = None) -> web.Response:
    """``fields``: each request field at fault and how ("required", "too-long", "invalid")."""
    body: dict[str, object] = {"error": code, "message": message}
    if fields:
        body["fields"] = fields
    return web.json_response(body, status=status)


def runtime(request: web.Request) -> Runtime:
    return request.app[RUNTIME].get()


def identity(request: web.Request) -> Identity:
    """Who is asking (set by the authentication middleware)."""
    found: Identity | None = request.get(IDENTITY)
    if found is None:
        raise Unauthorized("sign in first")
    return found


def need(request: web.Request, *roles: str, agent_id: str | None = None) -> Identity:
    """Refuse (403, audited) unless the caller has one of ``roles`` (admin always
    does), or is the agent ``agent_id`` itself."""
    who = identity(request)
    if who.role == "admin" or who.role in roles or (agent_id is not None and who.agent_id == agent_id):
        return who
    audit.warning("%s (%s) refused %s %s", who.name, who.role, request.method, request.path)
    allowed = " or ".join([*roles, "admin"] + ([f"agent {agent_id} itself"] if agent_id else []))
    raise Forbidden(f"{request.method} {request.path} needs the role {allowed}")


async def json_body(request: web.Request, max_bytes: int | None = None) -> dict[str, Any]:
    """The request's JSON object; a body beyond ``max_bytes`` (``MAX_BODY`` unless the
    route says more) is refused with ``TooLarge`` (413)."""
    if not request.can_read_body:
        return {}
    limit = MAX_BODY if max_bytes is None else max_bytes
    try:
        body = await request.clone(client_max_size=limit).json()
    except web.HTTPRequestEntityTooLarge:
        raise TooLarge(f"the body is larger than {limit} bytes") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise BadRequest("body is not JSON (or nested too deeply)") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    if _holds_nul(body):
        raise BadRequest("a text of the body holds a NUL character (\\u0000)")
    return body


def _holds_nul(data: Any) -> bool:
    """Whether a text anywhere in ``data`` (keys too) holds NUL: no store keeps it
    (PostgreSQL's text refuses it), so it is refused here, not half-written later."""
    todo = [data]
    while todo:
        item = todo.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            todo.extend(item.keys())
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return False


def openapi(document: bytes) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=document, content_type="application/json")
    return serve


async def sign_in(request: web.Request) -> web.Response:
    """``{"name", "secret"}`` (an agent id and PIN, or an account and password) -> a
    session token for ``Authorization: Bearer``."""
    body = await json_body(request)
    name, secret = body.get("name"), body.get("secret")
    if not isinstance(name, str) or not isinstance(secret, str) or not name or len(name) > 200 or len(secret) > 1000:
        raise BadRequest("sign in with a name and a secret (strings)")
    auth = request.app[AUTH]
    who = await auth.verify(name, secret, client_address(request))
    if who is None:
        raise Unauthorized("wrong name or secret (or too many failures: wait a minute)")
    audit.info("%s (%s) signed in from %s", who.name, who.role, request.remote)
    token = auth.open_session(who)
    response = web.json_response({"token": token, "csrf_token": auth.csrf_token(token), "name": who.name,
                                  "role": who.role, "expires_in_s": auth.settings.session_ttl_s})
    response.set_cookie(SESSION_COOKIE, token, max_age=int(auth.settings.session_ttl_s), path="/",
                        httponly=True, samesite="Strict", secure=auth.settings.cookie_secure)
    return response


async def sign_out(request: web.Request) -> web.Response:
    who = identity(request)
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        request.app[AUTH].close_session(header[7:].strip())
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        request.app[AUTH].close_session(cookie)
    audit.info("%s signed out", who.name)
    response = web.json_response({"signed_out": who.name})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def who_am_i(request: web.Request) -> web.Response:
    who = identity(request)
    return web.json_response({"name": who.name, "role": who.role, "agent_id": who.agent_id,
                              "display_name": display_name(who.name, who.agent_id)})


async def health(request: web.Request) -> web.Response:
    """200 when this instance leads and every connection is up; 503 otherwise (a standby
    is healthy as a standby, but must not receive traffic). Open to anyone: the status,
    the role and each connection up or down. The connections' details (reconnects, the
    last error's text) only to a supervisor, reader or admin who says who it is."""
    role = request.app[ROLE].name
    conns = request.app[CONNECTIONS]
    if role == "standby":
        # A standby has not connected to Asterisk's app: only Redis matters to it.
        ok = all(s.connected for s in conns if s.name == "redis")
        status = "standby" if ok else "degraded"
    else:
        ok = all(s.connected for s in conns)
        status = "ok" if ok else "degraded"
    who = await _optional_identity(request)
    detailed = who is not None and who.role in ("supervisor", "reader", "admin")
    body = {"status": status, "role": role,
            **{s.name: s.as_dict() if detailed else {"connected": s.connected} for s in conns}}
    return web.json_response(body, status=200 if status == "ok" else 503)


async def _optional_identity(request: web.Request) -> Identity | None:
    """Who is asking on an open route, if it says (never refused for not saying)."""
    auth = request.app[AUTH]
    header = request.headers.get("Authorization")
    if header:
        return await auth.identify(header)
    cookie = request.cookies.get(SESSION_COOKIE)
    return auth.session(cookie) if cookie else None
