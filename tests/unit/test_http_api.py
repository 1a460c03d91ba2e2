"""The agent API over HTTP (in-process server, real engine): state changes, and a clear
error for every bad request, with nothing changed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from acd import AgentConfig, Engine, QueueConfig
from acd import events as e
from cti.app import FEATURES
from cti.web.auth import Auth
from cti.web.accounts import AuthSettings
from cti.health import ConnectionState
from cti.runtime import Runtime
from cti.web.server import ROLE, RUNTIME, build_app


ADMIN = "s3cret-token-for-tests"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"}


def auth(admin_token: str | None = ADMIN) -> Auth:
    return Auth(AuthSettings(), {}, {"admin": admin_token})


def leader_app(runtime: Runtime, who: Auth, connections: list[ConnectionState] | None = None) -> web.Application:
    app = build_app(who, FEATURES, connections or [])
    app[ROLE].become("leader")
    app[RUNTIME].start(runtime)
    return app


@pytest.fixture
async def client() -> AsyncIterator[tuple[TestClient, Runtime]]:
    clock = iter(range(1000, 100000))
    engine = Engine([QueueConfig("q", wrap_up_s=60, announce_agent_id=False)],
                    [AgentConfig("1001", "PJSIP/agent1001", ("q",))])
    runtime = Runtime(engine, lambda: float(next(clock)))
    ari, ami = ConnectionState("ari"), ConnectionState("ami")
    async with TestClient(TestServer(leader_app(runtime, auth(), [ari, ami])), headers=AS_ADMIN) as http:
        yield http, runtime


async def test_agent_life_cycle_and_wrap_up_end(client: tuple[TestClient, Runtime]) -> None:
    http, runtime = client
    assert (await (await http.post("/agents/1001/login")).json())["state"] == "ready"
    resp = await http.post("/agents/1001/pause", json={"reason": "training"})
    assert (await resp.json())["reason"] == "training"
    assert (await (await http.post("/agents/1001/ready")).json())["state"] == "ready"
    runtime.apply(e.CallArrived("k1", "q", "", runtime.clock()))
    runtime.apply(e.OfferAnswered("k1", "1001", runtime.clock()))
    runtime.apply(e.CallerHungUp("k1", runtime.clock()))
    calls = await (await http.get("/calls")).json()
    assert calls == []
    assert (await (await http.get("/agents/1001")).json())["state"] == "wrap-up"
    resp = await http.post("/agents/1001/end-wrap-up")
    assert resp.status == 200 and (await resp.json())["state"] == "ready"
    resp = await http.post("/agents/1001/end-wrap-up")
    assert resp.status == 409


async def test_bad_requests_get_clear_errors_and_change_nothing(client: tuple[TestClient, Runtime]) -> None:
    http, runtime = client
    assert (await http.post("/agents/9999/login")).status == 404
    assert (await http.post("/agents/1001/ready")).status == 409  # logged out
    assert (await http.post("/agents/1001/fly")).status == 404
    await http.post("/agents/1001/login")
    for body in (b"{not json", b"[1, 2]"):
        resp = await http.post("/agents/1001/pause", data=body, headers={"Content-Type": "application/json"})
        assert resp.status == 400
        assert (await resp.json())["error"] == "bad-request"
    resp = await http.post("/agents/1001/pause", json={"reason": ""})
    assert resp.status == 400
    resp = await http.post("/agents/1001/login", json={"ready": "yes"})
    assert resp.status == 400
    assert runtime.engine.agent("1001").state == "ready"


async def test_health_reports_each_connection(client: tuple[TestClient, Runtime]) -> None:
    http, _ = client
    resp = await http.get("/health")
    body = await resp.json()
    assert resp.status == 503 and body["status"] == "degraded" and body["role"] == "leader"
    assert body["ari"]["connected"] is False and body["ami"]["connected"] is False


async def test_R14_state_needs_the_admin_token_and_calls_mask_numbers() -> None:
    """R14: customer data only for authorized roles, every access audited."""
    engine = Engine([QueueConfig("q", announce_agent_id=False)], [])
    runtime = Runtime(engine, lambda: 5.0)
    runtime.apply(e.CallArrived("k1", "q", "13812345678", 1.0))
    supervisor = Auth(AuthSettings(), {}, {"admin": ADMIN, "supervisor": "supervisor-token-for-tests"})
    async with TestClient(TestServer(leader_app(runtime, supervisor))) as http:
        assert (await http.get("/state")).status == 401
        assert (await http.get("/state", headers={"Authorization": "Bearer wrong"})).status == 401
        as_supervisor = {"Authorization": "Bearer supervisor-token-for-tests"}
        assert (await http.get("/state", headers=as_supervisor)).status == 403
        resp = await http.get("/state", headers={"Authorization": f"Bearer {ADMIN}"})
        assert resp.status == 200 and "k1" in (await resp.json())["calls"]
        calls = await (await http.get("/calls", headers=as_supervisor)).json()
        assert calls[0]["caller"] == "138****5678"  # a supervisor sees it masked
        calls = await (await http.get("/calls", headers={"Authorization": f"Bearer {ADMIN}"})).json()
        assert calls[0]["caller"] == "13812345678"
    async with TestClient(TestServer(leader_app(runtime, auth(None)))) as http:  # no token configured
        assert (await http.get("/state", headers={"Authorization": "Bearer "})).status == 401


async def test_R14_a_browser_session_needs_its_csrf_token_to_change_anything() -> None:
    """Sign-in sets an HttpOnly, SameSite=Strict session cookie; with the cookie alone
    a page may read, but a change (a cross-site form, a forged fetch) is refused unless
    it carries the session's CSRF token; sign-out ends the session."""
    from argon2 import PasswordHasher

    from cti.web.accounts import Account

    engine = Engine([QueueConfig("q", announce_agent_id=False)], [AgentConfig("1001", "PJSIP/agent1001", ("q",))])
    runtime = Runtime(engine, lambda: 5.0)
    li = Account("li", "supervisor", PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw-li-long"))
    app = leader_app(runtime, Auth(AuthSettings(accounts=(li,), cookie_secure=False), {}, {}))
    async with TestClient(TestServer(app)) as http:
        resp = await http.post("/auth/login", json={"name": "li", "secret": "pw-li-long"})
        signed = await resp.json()
        cookie = resp.cookies["cti_session"]
        assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie.value == signed["token"]
        assert (await http.get("/agents")).status == 200  # the cookie alone reads
        resp = await http.post("/agents/1001/login", json={})
        assert resp.status == 403 and "CSRF" in (await resp.json())["message"]
        resp = await http.post("/agents/1001/login", json={}, headers={"X-CSRF-Token": "0" * 64})
        assert resp.status == 403
        resp = await http.post("/agents/1001/login", json={}, headers={"X-CSRF-Token": signed["csrf_token"]})
        assert resp.status == 200 and engine.agent("1001").state == "ready"
        resp = await http.post("/auth/logout", json={}, headers={"X-CSRF-Token": signed["csrf_token"]})
        assert resp.status == 200
        http.session.cookie_jar.update_cookies({"cti_session": signed["token"]})  # replayed after sign-out
        assert (await http.get("/agents")).status == 401


def test_R14_the_plans_callback_list_is_masked_for_supervisors() -> None:
    from cti.web.accounts import Identity
    from cti.supervision.http import plan_for

    plan = {"level": "III", "callbacks": [{"type": "callback-request", "caller": "13812345678", "queue": "q"}]}
    shown = plan_for(Identity("account:li", "supervisor"), plan)
    assert shown is not None and shown["callbacks"][0]["caller"] == "138****5678"
    full = plan_for(Identity("token:records", "reader"), plan)
    assert full is not None and full["callbacks"][0]["caller"] == "13812345678"
    assert plan["callbacks"][0]["caller"] == "13812345678"  # the figures themselves untouched


async def test_pause_takes_a_configured_pause_code_only(client: tuple[TestClient, Runtime]) -> None:
    http, runtime = client
    await http.post("/agents/1001/login")
    resp = await http.post("/agents/1001/pause", json={"reason": "gone fishing"})
    assert resp.status == 400 and "lunch" in (await resp.json())["message"]
    assert runtime.engine.agent("1001").state == "ready"
    resp = await http.post("/agents/1001/pause", json={"reason": "after-call-work"})
    assert (await resp.json())["reason"] == "after-call-work"


async def test_every_page_is_rendered_from_its_template(client: tuple[TestClient, Runtime]) -> None:
    """The pages are served by the app as installed (their templates found, their assets
    linked): a page whose template cannot be found answers 500 here."""
    http, _ = client
    for path, marker in (("/wallboard", "wallboard"), ("/agent", "desk"), ("/reports", "report")):
        resp = await http.get(path, headers={"Accept": "text/html"})
        body = await resp.text()
        assert resp.status == 200, (path, resp.status, body[:300])
        assert "<html" in body.lower() and marker in body.lower() and "/static/" in body, path
