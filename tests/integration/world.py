"""The engine's HTTP app as the leader composes it (every feature's routes and parts),
on a real store (SQLite or PostgreSQL) and the real core, without Asterisk: for tests
that walk the API as each role."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from acd import AgentConfig, Engine, QueueConfig
from acd import events as e
from cti.app import FEATURES
from cti.customers import http as customers_http
from cti.customers.service import Customers
from cti.customers.store import SCHEMA as CUSTOMERS_SCHEMA
from cti.desk import http as desk_http
from cti.health import ConnectionState, Faults
from cti.notify import Notifier
from cti.orders import http as orders_http
from cti.orders.service import WorkOrders
from cti.orders.complaints import Hold, Release
from cti.orders.settings import WorkOrderSettings
from cti.orders.store import SCHEMA
from cti.knowledge import http as knowledge_http
from cti.knowledge.store import SCHEMA as KNOWLEDGE_SCHEMA
from cti.outbound import http as outbound_http
from cti.outbound.visits import ReturnVisits, VisitSettings
from cti.quality import http as quality_http
from cti.quality.service import Play, Quality
from cti.quality.settings import QualitySettings
from cti.quality.store import SCHEMA as QUALITY_SCHEMA
from cti.reports import http as reports_http
from cti.reports import store as history_store
from cti.reports.service import History
from cti.runtime import Runtime
from cti.store.outbox import SqliteOutbox
from cti.store.sql import Database
from cti.supervision import http as supervision_http
from cti.supervision.settings import SupervisionConfig
from cti.web import sessions
from cti.web.auth import Auth
from cti.web.accounts import ApiToken, AuthSettings
from cti.web.server import RUNTIME, build_app, serving, ROLE
from tests.integration.test_workorders import settings as order_settings

# One token per role (and two agents: the call's and another).
TOKENS = {"admin": "t-admin", "reader": "t-reader", "supervisor": "t-supervisor", "department": "t-service",
          "department-own": "t-north-repair", "inspector": "t-inspector", "intake": "t-intake"}
AGENTS = ("1001", "1002")


@dataclass
class World:
    http: TestClient
    runtime: Runtime
    db: Database
    orders: WorkOrders
    visits: ReturnVisits
    history: History
    quality: Quality
    customers: Customers

    def as_role(self, role: str) -> dict[str, str]:
        if role.startswith("agent:"):
            return {"Authorization": "Basic " + _basic(role.removeprefix("agent:"), "123456")}
        return {"Authorization": f"Bearer {TOKENS[role]}"}


def _basic(name: str, secret: str) -> str:
    import base64
    return base64.b64encode(f"{name}:{secret}".encode()).decode()


def auth() -> Auth:
    from cti.web.accounts import hash_secret
    pin = hash_secret("123456")
    tokens = tuple(ApiToken(name, role, hashlib.sha256(TOKENS[key].encode()).hexdigest()) for key, name, role in (
        ("admin", "ops", "admin"), ("reader", "quality", "reader"), ("supervisor", "floor", "supervisor"),
        ("department", "service", "department"), ("department-own", "north-repair", "department"),
        ("inspector", "zhao", "inspector"), ("intake", "website", "intake")))
    return Auth(AuthSettings(tokens=tokens), {a: pin for a in AGENTS}, {})


@contextlib.asynccontextmanager
async def world(store_url: str, tmp: Path, db_options: dict[str, Any] | None = None,
                connections: list[ConnectionState] | None = None, orders: WorkOrderSettings | None = None,
                holds: tuple[Hold, Release] | None = None, quality: QualitySettings | None = None,
                play: Play | None = None) -> AsyncIterator[World]:
    """The leader's app on ``store_url``, with queue ``support`` and agents 1001, 1002
    (its outbox in ``tmp``; webhooks go nowhere); R18 with ``quality`` (the default
    form of ``tests/integration/test_quality.py`` when None) and ``play`` (recordings)."""
    db = Database(store_url, schema=SCHEMA + sessions.SCHEMA + history_store.SCHEMA + QUALITY_SCHEMA
                  + KNOWLEDGE_SCHEMA + CUSTOMERS_SCHEMA, **(db_options or {}))
    await db.open()
    engine = Engine([QueueConfig("support", wrap_up_s=60, announce_agent_id=False)],
                    [AgentConfig(a, f"PJSIP/agent{a}", ("support",)) for a in AGENTS])
    runtime = Runtime(engine, time.time)
    app = build_app(auth(), FEATURES, connections or [])
    app[ROLE].become("leader")
    try:
        async with contextlib.AsyncExitStack() as stack:
            session = await stack.enter_async_context(aiohttp.ClientSession())
            outbox = SqliteOutbox(tmp / "outbox.sqlite")
            stack.push_async_callback(outbox.aclose)
            notifier = Notifier(session, {}, outbox)
            live = await stack.enter_async_context(desk_http.setup(app, desk_http.LiveDeps(
                lambda who: {}, agent_of=lambda call_id: None, runtime=runtime)))
            hold, release = holds or (None, None)
            customers = await stack.enter_async_context(customers_http.setup(app, customers_http.CustomersDeps(
                db, 6, lambda *a: visits.set_blocked(*a))))  # R19 (visits: below)
            orders_part = await stack.enter_async_context(orders_http.setup(app, orders_http.OrdersDeps(
                orders or order_settings(), db, notifier, runtime, listeners=(live.order,), hold=hold,
                release=release, recorded=(customers.remember,))))
            history = await stack.enter_async_context(reports_http.setup(app, reports_http.ReportsDeps(
                db, 20.0, "UTC", 6, runtime)))
            visits = await stack.enter_async_context(outbound_http.setup(app, outbound_http.OutboundDeps(
                VisitSettings("support"), orders_part.store, runtime)))
            await stack.enter_async_context(supervision_http.setup(app, supervision_http.SupervisionDeps(
                SupervisionConfig(), runtime, notifier, Faults())))
            inspections = await stack.enter_async_context(quality_http.setup(app, quality_http.QualityDeps(
                quality or quality_settings(), db, "UTC", play)))
            await stack.enter_async_context(knowledge_http.setup(app, knowledge_http.KnowledgeDeps(
                db, orders_part.get)))  # R19
            await stack.enter_async_context(serving(app, RUNTIME, runtime))
            async with TestClient(TestServer(app)) as http:
                yield World(http, runtime, db, orders_part, visits, history, inspections, customers)
    finally:
        await db.aclose()


def answered_call(runtime: Runtime, call_id: str, caller: str, agent: str, hang_up: bool = True) -> None:
    """A call from ``caller`` answered by ``agent`` (and ended, unless ``hang_up`` is False)."""
    now = runtime.clock()
    if runtime.engine.agent(agent).state == "logged-out":
        runtime.apply(e.AgentLoggedIn(agent, now))
    runtime.apply(e.CallArrived(call_id, "support", caller, now))
    runtime.apply(e.OfferAnswered(call_id, agent, now))
    if hang_up:
        runtime.apply(e.CallerHungUp(call_id, now + 1))


def quality_settings() -> QualitySettings:
    """R18: a form of two sections, one critical item ("privacy"), every call sampled."""
    from reports.quality import Form, Item, SamplingRules, Section
    return QualitySettings(Form("service", (
        Section("opening", (Item("greeting", "Standard greeting", 10, 1.0),)),
        Section("handling", (Item("accuracy", "Correct answer", 20, 3.0),
                             Item("privacy", "No full number read out", 10, 1.0, critical=True))))),
        SamplingRules(share=1.0))
